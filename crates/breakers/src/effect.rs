//! What tripped breakers change in the policy in effect: the policy the
//! agent compiles and applies while they are tripped (and the policy as
//! written again once none is). Pure, so the enforcer sees an ordinary
//! policy and every safety check of an apply still runs on it.

use std::net::SocketAddr;

use portreeve_policy::{BreakerAction, Limits, Policy};

/// A port whose new connections go to a backup pool while a breaker is
/// tripped: for the enforcer's DNAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// The breaker.
    pub breaker: String,
    /// The port.
    pub port: u16,
    /// The pool members still taking connections.
    pub pool: Vec<SocketAddr>,
}

/// `policy` with the actions of the breakers named in `tripped` in force:
/// their closed rules removed, their tightened rules' limits multiplied,
/// and the overflows to set up. Names that are not breakers of `policy`
/// are ignored (a breaker removed from the policy while tripped is no
/// longer in force).
pub fn with_tripped(policy: &Policy, tripped: &[&str]) -> (Policy, Vec<Overflow>) {
    let mut out = policy.clone();
    let mut overflows = Vec::new();
    for breaker in policy
        .breakers
        .iter()
        .filter(|b| tripped.contains(&b.name.as_str()))
    {
        match &breaker.action {
            BreakerAction::Close { rules } => out.rules.retain(|r| !rules.contains(&r.name)),
            BreakerAction::Tighten { rules, factor } => {
                for rule in out.rules.iter_mut().filter(|r| rules.contains(&r.name)) {
                    rule.limits = rule.limits.map(|l| tightened(l, *factor));
                }
            }
            BreakerAction::OverflowTo { port, pool } => overflows.push(Overflow {
                breaker: breaker.name.clone(),
                port: *port,
                pool: pool.clone(),
            }),
        }
    }
    (out, overflows)
}

/// `limits` multiplied by `factor`, each at least 1: a tightened limit
/// still lets something through, where 0 would close the port, which is
/// what `close` is for.
fn tightened(limits: Limits, factor: f64) -> Limits {
    let scale = |n: Option<u32>| n.map(|n| ((f64::from(n) * factor).floor() as u32).max(1));
    Limits {
        new_per_second: scale(limits.new_per_second),
        new_per_second_per_source: scale(limits.new_per_second_per_source),
        connections: scale(limits.connections),
        connections_per_source: scale(limits.connections_per_source),
        burst: scale(Some(limits.burst)).unwrap_or(limits.burst),
    }
}

#[cfg(test)]
mod tests {
    use portreeve_policy::parse_policy;

    use super::*;

    const POLICY: &str = r#"
[zones]
office = ["10.1.0.0/24"]

[[rule]]
name = "web"
port = 80
protocol = "tcp"
zones = ["office"]
limits = { new_per_second = 100, connections_per_source = 3 }

[[rule]]
name = "reports"
port = 8443
protocol = "tcp"
zones = ["office"]

[[breaker]]
name = "cpu"
when = { cpu_percent = 85, for = "1m" }
action = { close = ["reports"] }
recover = { below = 50, for = "1m" }

[[breaker]]
name = "busy"
when = { established_connections = 500, port = 80, for = "30s" }
action = { tighten = 0.25, rules = ["web"] }
recover = { below = 100, for = "1m" }

[[breaker]]
name = "flood"
when = { new_connections_per_second = 50, port = 80, for = "2s" }
action = { overflow_to = ["10.0.5.20:8080"] }
recover = { below = 10, for = "3s" }
"#;

    fn policy() -> Policy {
        parse_policy("p.toml", POLICY).unwrap()
    }

    #[test]
    fn nothing_tripped_is_the_policy_as_written() {
        let p = policy();
        assert_eq!(with_tripped(&p, &[]), (p.clone(), vec![]));
        assert_eq!(
            with_tripped(&p, &["gone"]),
            (p, vec![]),
            "unknown names change nothing"
        );
    }

    #[test]
    fn a_close_removes_its_rules_and_nothing_else() {
        let (p, overflows) = with_tripped(&policy(), &["cpu"]);
        let names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["web"]);
        assert!(overflows.is_empty());
        assert_eq!(
            p.breakers,
            policy().breakers,
            "the breakers themselves stay"
        );
    }

    #[test]
    fn a_tighten_scales_every_limit_and_keeps_each_at_least_one() {
        let (p, _) = with_tripped(&policy(), &["busy"]);
        let web = p.rules.iter().find(|r| r.name == "web").unwrap();
        let limits = web.limits.unwrap();
        assert_eq!(limits.new_per_second, Some(25));
        assert_eq!(
            limits.connections_per_source,
            Some(1),
            "3 x 0.25 floors to 0, kept at 1"
        );
        assert_eq!(limits.burst, 1, "the default burst of 5, scaled");
        assert_eq!(limits.connections, None, "an absent limit stays absent");
        let reports = p.rules.iter().find(|r| r.name == "reports").unwrap();
        assert_eq!(reports.limits, None);
    }

    #[test]
    fn an_overflow_is_handed_to_the_enforcer_and_several_breakers_combine() {
        let (p, overflows) = with_tripped(&policy(), &["flood", "cpu"]);
        assert_eq!(
            overflows,
            [Overflow {
                breaker: "flood".into(),
                port: 80,
                pool: vec!["10.0.5.20:8080".parse().unwrap()],
            }]
        );
        assert_eq!(p.rules.len(), 1);
    }
}

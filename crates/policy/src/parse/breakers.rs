//! `[[breaker]]` tables: port circuit breakers (docs/breakers.md).
//!
//! ```toml
//! [[breaker]]
//! name = "web-overload"
//! when = { new_connections_per_second = 50, port = 80, for = "2s" }
//! action = { overflow_to = ["10.0.5.20:8080"] }
//! recover = { below = 10, for = "3s" }
//! ```
//!
//! Everything a trip would do is checked here, where it is written, so a
//! breaker never fails at the moment it trips: the rules it closes or
//! tightens exist and are neither the management zone's SSH nor marked
//! `keep`, its backup pool's members are addresses a firewall can send
//! new connections to, on ports the policy does not ban, and it recovers
//! below the level it trips at.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use jiff::SignedDuration;
use portreeve_core::Proto;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::{Validator, Whole, parse_duration};
use crate::model::{BannedPorts, Breaker, BreakerAction, Enforcement, Measure, Rule};

/// The longest `for` of a condition or recovery: a day.
const MAX_HOLD: SignedDuration = SignedDuration::from_hours(24);

/// The cooldown after a recovery when none is written.
const DEFAULT_COOLDOWN: SignedDuration = SignedDuration::from_mins(5);

/// The trips an hour allowed when no cap is written.
const DEFAULT_MAX_TRIPS_PER_HOUR: u32 = 6;

/// The measures a condition can name, as written.
const MEASURES: [&str; 5] = [
    "cpu_percent",
    "memory_percent",
    "new_connections_per_second",
    "established_connections",
    "syn_backlog_overflows_per_second",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    name: Spanned<String>,
    when: Spanned<RawWhen>,
    action: Spanned<RawAction>,
    recover: Spanned<RawRecover>,
    cooldown: Option<Spanned<String>>,
    max_trips_per_hour: Option<Spanned<Whole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    cpu_percent: Option<Spanned<Amount>>,
    memory_percent: Option<Spanned<Amount>>,
    new_connections_per_second: Option<Spanned<Amount>>,
    established_connections: Option<Spanned<Amount>>,
    syn_backlog_overflows_per_second: Option<Spanned<Amount>>,
    port: Option<Spanned<Whole>>,
    protocol: Option<Spanned<String>>,
    #[serde(rename = "for")]
    hold: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    close: Option<Spanned<Vec<Spanned<String>>>>,
    tighten: Option<Spanned<Amount>>,
    rules: Option<Spanned<Vec<Spanned<String>>>>,
    overflow_to: Option<Spanned<Vec<Spanned<String>>>>,
    port: Option<Spanned<Whole>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecover {
    below: Spanned<Amount>,
    #[serde(rename = "for")]
    hold: Spanned<String>,
}

/// A number written as an integer or a float (`85`, `0.5`).
struct Amount(f64);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
                Ok(Amount(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
                Ok(Amount(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Amount, E> {
                Ok(Amount(v))
            }
        }
        d.deserialize_any(AmountVisitor)
    }
}

/// What a breaker's checks need to know of the rest of the policy.
pub(super) struct Context<'a> {
    /// Every rule name written, valid or not (a rule with an error of its
    /// own is not reported again as unknown).
    pub names: &'a HashSet<String>,
    /// The rules that validated.
    pub rules: &'a [Rule],
    pub banned: &'a [BannedPorts],
    pub enforce: &'a Enforcement,
}

impl Validator<'_, '_> {
    pub(super) fn breakers(
        &mut self,
        raw: Vec<Spanned<RawBreaker>>,
        cx: &Context<'_>,
    ) -> Vec<Breaker> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for b in raw {
            let name = &b.get_ref().name;
            if !seen.insert(name.get_ref().clone()) {
                self.error(
                    name.span(),
                    format!("duplicate breaker name `{}`", name.get_ref()),
                    Some("`portreeve breaker trip NAME` needs names to be unique".into()),
                );
            }
            if let Some(b) = self.breaker(b, cx) {
                out.push(b);
            }
        }
        out
    }

    fn breaker(&mut self, raw: Spanned<RawBreaker>, cx: &Context<'_>) -> Option<Breaker> {
        let errors_before = self.sink.len();
        let location = self.location(raw.span().start);
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            self.error(
                raw.name.span(),
                format!("breaker name `{name}` is not a name"),
                Some("use lower-case letters, digits, `-` and `_`".into()),
            );
        }
        let condition = self.condition(&raw.when);
        let trip_for = self.hold(&raw.when.get_ref().hold, "when.for");
        let recover = raw.recover.get_ref();
        let recover_below = recover.below.get_ref().0;
        let above = condition.as_ref().map_or(f64::INFINITY, |c| c.1);
        if recover_below.is_nan() || recover_below < 0.0 {
            self.error(
                recover.below.span(),
                "recover.below must be 0 or more",
                None,
            );
        } else if recover_below > above {
            self.error(
                recover.below.span(),
                format!("recover.below {recover_below} is above the trip threshold {above}"),
                Some(
                    "a breaker recovers below the level it trips at; the gap keeps it from flapping"
                        .into(),
                ),
            );
        }
        let recover_for = self.hold(&recover.hold, "recover.for");
        // What the action may do depends on the measure (an overflow's
        // port): judged only once the condition is valid.
        let action = condition
            .as_ref()
            .and_then(|(measure, _)| self.action(&raw.action, measure, cx));
        let cooldown = match &raw.cooldown {
            None => Some(DEFAULT_COOLDOWN),
            Some(c) => self.span_of_time(c, "cooldown", SignedDuration::ZERO),
        };
        let max_trips_per_hour = match &raw.max_trips_per_hour {
            None => Some(DEFAULT_MAX_TRIPS_PER_HOUR),
            Some(n) => self.whole_in(n, 1, 60, "trips an hour"),
        };
        if self.sink.len() > errors_before {
            return None;
        }
        let (measure, above) = condition?;
        Some(Breaker {
            name,
            measure,
            above,
            trip_for: trip_for?,
            action: action?,
            recover_below,
            recover_for: recover_for?,
            cooldown: cooldown?,
            max_trips_per_hour: max_trips_per_hour?,
            location,
        })
    }

    /// The one measure `when` names, with its threshold.
    fn condition(&mut self, raw: &Spanned<RawWhen>) -> Option<(Measure, f64)> {
        let when = raw.get_ref();
        let written: Vec<(&str, &Spanned<Amount>)> = MEASURES
            .into_iter()
            .zip([
                &when.cpu_percent,
                &when.memory_percent,
                &when.new_connections_per_second,
                &when.established_connections,
                &when.syn_backlog_overflows_per_second,
            ])
            .filter_map(|(key, value)| value.as_ref().map(|v| (key, v)))
            .collect();
        let [(key, threshold)] = written[..] else {
            self.error(
                raw.span(),
                format!(
                    "`when` names {} measures; a breaker watches exactly one",
                    written.len()
                ),
                Some(format!("one of {}", MEASURES.join(", "))),
            );
            return None;
        };
        let above = threshold.get_ref().0;
        let percent = key.ends_with("_percent");
        if !above.is_finite() || above <= 0.0 || (percent && above > 100.0) {
            self.error(
                threshold.span(),
                format!("{key} = {above} cannot be exceeded or is always exceeded"),
                Some(if percent {
                    "a percentage above 0 and at most 100".into()
                } else {
                    "a number above 0".into()
                }),
            );
        }
        let per_port = matches!(
            key,
            "new_connections_per_second" | "established_connections"
        );
        let port = match (&when.port, per_port) {
            (Some(p), true) => self.port_number(p)?,
            (None, true) => {
                self.error(
                    raw.span(),
                    format!("{key} is counted per port: `when` needs `port`"),
                    None,
                );
                return None;
            }
            (Some(p), false) => {
                self.error(
                    p.span(),
                    format!("{key} is measured for the whole host: `port` does not apply"),
                    None,
                );
                return None;
            }
            (None, false) => 0,
        };
        let protocol = match &when.protocol {
            None => Proto::Tcp,
            Some(p) if key == "new_connections_per_second" => match p.get_ref().as_str() {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                other => {
                    self.error(
                        p.span(),
                        format!("protocol `{other}` is neither tcp nor udp"),
                        None,
                    );
                    return None;
                }
            },
            Some(p) => {
                self.error(
                    p.span(),
                    format!("`protocol` does not apply to {key}"),
                    Some("only new_connections_per_second counts udp as well as tcp".into()),
                );
                return None;
            }
        };
        let measure = match key {
            "cpu_percent" => Measure::CpuPercent,
            "memory_percent" => Measure::MemoryPercent,
            "new_connections_per_second" => Measure::NewConnectionsPerSecond { port, protocol },
            "established_connections" => Measure::EstablishedConnections { port },
            _ => Measure::SynBacklogOverflowsPerSecond,
        };
        Some((measure, above))
    }

    /// The one thing `action` does.
    fn action(
        &mut self,
        raw: &Spanned<RawAction>,
        measure: &Measure,
        cx: &Context<'_>,
    ) -> Option<BreakerAction> {
        let a = raw.get_ref();
        let count = [
            a.close.is_some(),
            a.tighten.is_some(),
            a.overflow_to.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if count != 1 {
            self.error(
                raw.span(),
                format!("`action` does {count} things; a breaker does exactly one"),
                Some("close = [rules], tighten = FACTOR with rules = [rules], or overflow_to = [\"ADDRESS:PORT\", …]".into()),
            );
            return None;
        }
        if let Some(close) = &a.close {
            if let Some(rules) = &a.rules {
                self.error(
                    rules.span(),
                    "`close` names its rules itself: `rules` does not apply",
                    None,
                );
            }
            return Some(BreakerAction::Close {
                rules: self.breaker_rules(close, "closes", cx)?,
            });
        }
        if let Some(factor) = &a.tighten {
            let f = factor.get_ref().0;
            if !(f > 0.0 && f < 1.0) {
                self.error(
                    factor.span(),
                    format!("tighten = {f} does not tighten"),
                    Some(
                        "a factor above 0 and below 1: the rules' limits are multiplied by it"
                            .into(),
                    ),
                );
            }
            let Some(rules) = &a.rules else {
                self.error(
                    raw.span(),
                    "`tighten` needs `rules`: the rules whose limits it tightens",
                    None,
                );
                return None;
            };
            let rules = self.breaker_rules(rules, "tightens", cx)?;
            return (f > 0.0 && f < 1.0).then_some(BreakerAction::Tighten { rules, factor: f });
        }
        let pool = a.overflow_to.as_ref()?;
        let port = match (&a.port, measure) {
            (Some(p), _) => self.port_number(p)?,
            (
                None,
                Measure::NewConnectionsPerSecond { port, .. }
                | Measure::EstablishedConnections { port },
            ) => *port,
            (None, _) => {
                self.error(
                    raw.span(),
                    "overflow_to needs `port`: which port's new connections go to the pool",
                    Some(
                        "a per-port measure names it in `when`; a host-wide one needs action.port"
                            .into(),
                    ),
                );
                return None;
            }
        };
        if port == cx.enforce.ssh_port {
            self.error(
                pool.span(),
                format!(
                    "the breaker sends new connections to port {port}, the SSH port, to its pool"
                ),
                Some(
                    "an overloaded host still needs its operators: SSH is never overflowed".into(),
                ),
            );
            return None;
        }
        if pool.get_ref().is_empty() {
            self.error(
                pool.span(),
                "overflow_to is empty",
                Some("name at least one ADDRESS:PORT".into()),
            );
            return None;
        }
        let mut members = Vec::new();
        for m in pool.get_ref() {
            if let Some(addr) = self.pool_member(m, cx) {
                members.push(addr);
            }
        }
        (members.len() == pool.get_ref().len()).then_some(BreakerAction::OverflowTo {
            port,
            pool: members,
        })
    }

    /// A pool member: an address new connections can be sent to, on a
    /// port the policy does not ban.
    fn pool_member(&mut self, raw: &Spanned<String>, cx: &Context<'_>) -> Option<SocketAddr> {
        let text = raw.get_ref();
        let Ok(addr) = text.parse::<SocketAddr>() else {
            self.error(
                raw.span(),
                format!("`{text}` is not ADDRESS:PORT"),
                Some("e.g. \"10.0.5.20:8080\" or \"[2001:db8::20]:8080\"".into()),
            );
            return None;
        };
        let ip = addr.ip();
        let unusable = match ip {
            IpAddr::V4(v4) => {
                v4.is_loopback() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast(),
        };
        if unusable {
            self.error(
                raw.span(),
                format!("{ip} cannot take connections sent on from this host"),
                Some(
                    "a backup's unicast address, not loopback, unspecified, multicast or broadcast"
                        .into(),
                ),
            );
            return None;
        }
        if addr.port() == 0 {
            self.error(
                raw.span(),
                format!("`{text}`: port 0 takes no connections"),
                None,
            );
            return None;
        }
        if let Some(ban) = cx
            .banned
            .iter()
            .find(|b| b.protocols.contains(&Proto::Tcp) && b.ports.contains(addr.port()))
        {
            self.error(
                raw.span(),
                format!("{text}: port {}/tcp is banned ({})", addr.port(), ban.ports),
                Some("a breaker must not send clients to a service the policy bans".into()),
            );
            return None;
        }
        Some(addr)
    }

    /// The rules a close or tighten names: each exists, none is the
    /// management zone's SSH, none is marked `keep`.
    fn breaker_rules(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
        verb: &str,
        cx: &Context<'_>,
    ) -> Option<Vec<String>> {
        if raw.get_ref().is_empty() {
            self.error(raw.span(), format!("the breaker {verb} no rule"), None);
            return None;
        }
        let errors_before = self.sink.len();
        let management = cx.enforce.management_zone.as_deref();
        for name in raw.get_ref() {
            let n = name.get_ref();
            if !cx.names.contains(n) {
                self.error(name.span(), format!("no rule is named `{n}`"), None);
                continue;
            }
            let Some(rule) = cx.rules.iter().find(|r| &r.name == n) else {
                continue; // its own error is reported
            };
            if verb == "tightens" && rule.limits.is_none() {
                self.error(
                    name.span(),
                    format!("the breaker tightens `{n}`, which has no limits"),
                    Some("give the rule limits = { … } to tighten, or close it instead".into()),
                );
            } else if rule.keep {
                self.error(
                    name.span(),
                    format!("the breaker {verb} `{n}`, which is marked keep"),
                    Some("a rule marked keep is never closed or narrowed automatically".into()),
                );
            } else if management.is_some_and(|m| rule.zones.iter().any(|z| z == m))
                && rule.covers(Proto::Tcp, cx.enforce.ssh_port)
            {
                self.error(
                    name.span(),
                    format!(
                        "the breaker {verb} `{n}`, the management zone's SSH ({}/tcp)",
                        cx.enforce.ssh_port
                    ),
                    Some("an overloaded host still needs its operators".into()),
                );
            }
        }
        (self.sink.len() == errors_before)
            .then(|| raw.get_ref().iter().map(|n| n.get_ref().clone()).collect())
    }

    fn port_number(&mut self, raw: &Spanned<Whole>) -> Option<u16> {
        match u16::try_from(raw.get_ref().0) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.error(
                    raw.span(),
                    format!("port {} is not in 1..=65535", raw.get_ref().0),
                    None,
                );
                None
            }
        }
    }

    /// A `for`: from a second to a day.
    fn hold(&mut self, raw: &Spanned<String>, key: &str) -> Option<SignedDuration> {
        self.span_of_time(raw, key, SignedDuration::from_secs(1))
    }

    fn span_of_time(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
        min: SignedDuration,
    ) -> Option<SignedDuration> {
        let text = raw.get_ref();
        match parse_duration(text) {
            Some(d) if d >= min && d <= MAX_HOLD => Some(d),
            Some(_) => {
                self.error(
                    raw.span(),
                    format!("{key} `{text}` is out of range"),
                    Some(format!(
                        "{key} runs from {} to a day",
                        if min.is_zero() { "0s" } else { "1 second" }
                    )),
                );
                None
            }
            None => {
                self.error(
                    raw.span(),
                    format!("`{text}` is not a duration"),
                    Some(r#"write e.g. "2s", "15m" or "1h""#.into()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use jiff::SignedDuration;
    use portreeve_core::Proto;

    use crate::model::{Breaker, BreakerAction, Measure};
    use crate::parse::parse_policy;

    /// Zones, a management SSH rule, a web rule, a kept rule.
    const BASE: &str = r#"
[zones]
management = ["10.0.0.0/24"]
office = ["10.1.0.0/24"]

[enforce]
management_zone = "management"

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["management"]

[[rule]]
name = "web"
port = 80
protocol = "tcp"
zones = ["office"]
limits = { new_per_second = 100 }

[[rule]]
name = "reports"
port = 8443
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "break-glass"
port = 2222
protocol = "tcp"
zones = ["office"]
keep = true
"#;

    fn parse(breakers: &str) -> Result<Vec<Breaker>, Vec<(u32, String)>> {
        let text = format!("{BASE}{breakers}");
        parse_policy("p.toml", &text)
            .map(|p| p.breakers)
            .map_err(|e| {
                e.errors
                    .iter()
                    .map(|e| (e.line, e.message.clone()))
                    .collect()
            })
    }

    /// The line of `BASE` + `breakers` holding `needle`.
    fn line_of(breakers: &str, needle: &str) -> u32 {
        let text = format!("{BASE}{breakers}");
        let index = text.lines().position(|l| l.contains(needle)).unwrap();
        u32::try_from(index).unwrap() + 1
    }

    #[test]
    fn the_issues_example_and_its_alternatives_read_with_defaults() {
        let text = r#"
[[breaker]]
name = "web-overload"
when = { new_connections_per_second = 50, port = 80, for = "2s" }
action = { overflow_to = ["10.0.5.20:8080", "[2001:db8::20]:8080"] }
recover = { below = 10, for = "3s" }

[[breaker]]
name = "cpu"
when = { cpu_percent = 85, for = "15m" }
action = { close = ["reports"] }
recover = { below = 60.5, for = "5m" }
cooldown = "10m"
max_trips_per_hour = 2

[[breaker]]
name = "busy-web"
when = { established_connections = 500, port = 80, for = "30s" }
action = { tighten = 0.5, rules = ["web"] }
recover = { below = 200, for = "1m" }
"#;
        let b = parse(text).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].name, "web-overload");
        assert_eq!(
            b[0].measure,
            Measure::NewConnectionsPerSecond {
                port: 80,
                protocol: Proto::Tcp
            }
        );
        assert_eq!((b[0].above, b[0].recover_below), (50.0, 10.0));
        assert_eq!(b[0].trip_for, SignedDuration::from_secs(2));
        assert_eq!(b[0].recover_for, SignedDuration::from_secs(3));
        let pool: Vec<SocketAddr> = vec![
            "10.0.5.20:8080".parse().unwrap(),
            "[2001:db8::20]:8080".parse().unwrap(),
        ];
        assert_eq!(b[0].action, BreakerAction::OverflowTo { port: 80, pool });
        assert_eq!(b[0].cooldown, SignedDuration::from_mins(5), "the default");
        assert_eq!(b[0].max_trips_per_hour, 6, "the default");
        assert_eq!(b[0].location.line, line_of(text, "[[breaker]]"));

        assert_eq!(b[1].measure, Measure::CpuPercent);
        assert_eq!(
            b[1].action,
            BreakerAction::Close {
                rules: vec!["reports".into()]
            }
        );
        assert_eq!(
            (b[1].cooldown, b[1].max_trips_per_hour),
            (SignedDuration::from_mins(10), 2)
        );
        assert_eq!(
            b[2].action,
            BreakerAction::Tighten {
                rules: vec!["web".into()],
                factor: 0.5
            }
        );
    }

    #[test]
    fn every_bad_breaker_is_a_located_error() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"action = { close = ["ssh"] }"#,
                r#"close = ["ssh"]"#,
                "the breaker closes `ssh`, the management zone's SSH (22/tcp)",
            ),
            (
                r#"action = { close = ["break-glass"] }"#,
                "break-glass\"]",
                "the breaker closes `break-glass`, which is marked keep",
            ),
            (
                r#"action = { tighten = 0.5, rules = ["nope"] }"#,
                "nope",
                "no rule is named `nope`",
            ),
            (
                r#"action = { overflow_to = ["10.0.5.20:23"] }"#,
                "10.0.5.20:23",
                "10.0.5.20:23: port 23/tcp is banned (23)",
            ),
            (
                r#"action = { overflow_to = ["127.0.0.1:8080"] }"#,
                "127.0.0.1:8080",
                "127.0.0.1 cannot take connections sent on from this host",
            ),
            (
                r#"action = { overflow_to = ["backup:8080"] }"#,
                "backup:8080",
                "`backup:8080` is not ADDRESS:PORT",
            ),
            (
                r#"action = { close = ["web"], overflow_to = ["10.0.5.20:8080"] }"#,
                "action =",
                "`action` does 2 things; a breaker does exactly one",
            ),
            (
                r#"action = { tighten = 0.5, rules = ["reports"] }"#,
                r#"rules = ["reports"]"#,
                "the breaker tightens `reports`, which has no limits",
            ),
            (
                r#"action = { overflow_to = ["10.0.5.20:2200"], port = 22 }"#,
                "10.0.5.20:2200",
                "the breaker sends new connections to port 22, the SSH port, to its pool",
            ),
            (
                r#"action = { tighten = 1.5, rules = ["web"] }"#,
                "tighten = 1.5",
                "tighten = 1.5 does not tighten",
            ),
        ];
        for (action, needle, message) in cases {
            let text = format!(
                "\n[[breaker]]\nname = \"b\"\nwhen = {{ new_connections_per_second = 50, port = 80, for = \"2s\" }}\n{action}\nrecover = {{ below = 10, for = \"3s\" }}\n"
            );
            let errors = parse(&text).unwrap_err();
            assert_eq!(
                errors,
                vec![(line_of(&text, needle), (*message).to_owned())],
                "{action}"
            );
        }
    }

    #[test]
    fn a_recovery_above_the_trip_and_bad_conditions_are_located() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"when = { cpu_percent = 85, for = "15m" }
recover = { below = 90, for = "1m" }"#,
                "below = 90",
                "recover.below 90 is above the trip threshold 85",
            ),
            (
                r#"when = { cpu_percent = 85, memory_percent = 90, for = "1m" }
recover = { below = 10, for = "1m" }"#,
                "memory_percent",
                "`when` names 2 measures; a breaker watches exactly one",
            ),
            (
                r#"when = { new_connections_per_second = 50, for = "1m" }
recover = { below = 10, for = "1m" }"#,
                "new_connections_per_second",
                "new_connections_per_second is counted per port: `when` needs `port`",
            ),
            (
                r#"when = { cpu_percent = 150, for = "1m" }
recover = { below = 10, for = "1m" }"#,
                "150",
                "cpu_percent = 150 cannot be exceeded or is always exceeded",
            ),
            (
                r#"when = { cpu_percent = 85, for = "soon" }
recover = { below = 10, for = "1m" }"#,
                "soon",
                "`soon` is not a duration",
            ),
        ];
        for (condition, needle, message) in cases {
            let text = format!(
                "\n[[breaker]]\nname = \"b\"\n{condition}\naction = {{ close = [\"reports\"] }}\n"
            );
            let errors = parse(&text).unwrap_err();
            assert_eq!(
                errors,
                vec![(line_of(&text, needle), (*message).to_owned())],
                "{condition}"
            );
        }
    }

    #[test]
    fn a_host_wide_overflow_needs_its_port_and_names_are_unique() {
        let text = r#"
[[breaker]]
name = "b"
when = { cpu_percent = 85, for = "1m" }
action = { overflow_to = ["10.0.5.20:8080"] }
recover = { below = 10, for = "1m" }

[[breaker]]
name = "b"
when = { cpu_percent = 85, for = "1m" }
action = { overflow_to = ["10.0.5.20:8080"], port = 80 }
recover = { below = 10, for = "1m" }
"#;
        let errors = parse(text).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
            [
                "overflow_to needs `port`: which port's new connections go to the pool",
                "duplicate breaker name `b`",
            ]
        );
    }
}

//! Time-limited openings: which grants a policy permits, and how a grant is
//! written into the kernel's `grants` sets.
//!
//! A grant is an element with a timeout in `grants_v4`/`grants_v6`; the
//! kernel removes it when the timeout runs out, whether or not portreeve is
//! running, so an opening always closes (fails closed).

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::SignedDuration;
use portreeve_core::Proto;
use portreeve_policy::Policy;

/// An opening someone asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRequest {
    /// Destination port.
    pub port: u16,
    /// Protocol; `None` means every protocol the on-demand rule allows.
    pub protocol: Option<Proto>,
    /// Source network.
    pub from: IpNet,
    /// How long.
    pub ttl: SignedDuration,
}

/// A grant the policy permits, ready to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The on-demand rule that permits it.
    pub rule: String,
    /// Protocols opened.
    pub protocols: Vec<Proto>,
    /// Destination port.
    pub port: u16,
    /// Source network (host bits cleared).
    pub from: IpNet,
    /// How long.
    pub ttl: SignedDuration,
}

/// Why a grant is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// No on-demand rule covers the port.
    #[error("{port}/{protocol} is not grantable: no rule with `grant` covers it{}", list_hint(.grantable))]
    NotGrantable {
        /// Requested port.
        port: u16,
        /// Requested protocol(s).
        protocol: String,
        /// What is grantable, e.g. `9229/tcp (rule node-debugger)`.
        grantable: Vec<String>,
    },
    /// The source is outside the rule's zones.
    #[error(
        "{from} is outside the zones of rule `{rule}` ({zones}): grants may only come from there"
    )]
    SourceNotAllowed {
        /// Requested source.
        from: IpNet,
        /// The rule.
        rule: String,
        /// Its zones.
        zones: String,
    },
    /// The TTL exceeds the rule's cap.
    #[error("a TTL of {ttl} exceeds the {max} that rule `{rule}` allows")]
    TtlTooLong {
        /// Requested TTL.
        ttl: String,
        /// The cap.
        max: String,
        /// The rule.
        rule: String,
    },
    /// A TTL of zero or less.
    #[error("the TTL must be positive")]
    TtlNotPositive,
}

fn list_hint(grantable: &[String]) -> String {
    if grantable.is_empty() {
        " (the policy has no on-demand rules)".into()
    } else {
        format!("; grantable: {}", grantable.join(", "))
    }
}

/// Checks `req` against the on-demand rules of `policy`.
pub fn authorize(policy: &Policy, req: &GrantRequest) -> Result<Grant, GrantError> {
    if !req.ttl.is_positive() {
        return Err(GrantError::TtlNotPositive);
    }
    let on_demand = || policy.rules.iter().filter(|r| r.grant.is_some());
    let wanted = |p: Proto| req.protocol.is_none_or(|w| w == p);
    let rule = on_demand()
        .find(|r| {
            r.ports.iter().any(|ports| ports.contains(req.port))
                && r.protocols.iter().any(|p| wanted(*p))
        })
        .ok_or_else(|| GrantError::NotGrantable {
            port: req.port,
            protocol: req
                .protocol
                .map_or_else(|| "any".to_string(), |p| p.to_string()),
            grantable: on_demand()
                .map(|r| format!("{} (rule {})", r.ports_label(), r.name))
                .collect(),
        })?;
    let from = req.from.trunc();
    let inside = policy
        .zones
        .iter()
        .filter(|z| rule.zones.contains(&z.name))
        .flat_map(|z| &z.networks)
        .any(|n| n.contains(&from));
    if !inside {
        return Err(GrantError::SourceNotAllowed {
            from,
            rule: rule.name.clone(),
            zones: rule.zones.join(", "),
        });
    }
    let max = rule
        .grant
        .expect("on-demand rules have a grant policy")
        .max_ttl;
    if req.ttl > max {
        return Err(GrantError::TtlTooLong {
            ttl: format!("{:#}", req.ttl),
            max: format!("{max:#}"),
            rule: rule.name.clone(),
        });
    }
    Ok(Grant {
        rule: rule.name.clone(),
        protocols: rule
            .protocols
            .iter()
            .copied()
            .filter(|p| wanted(*p))
            .collect(),
        port: req.port,
        from,
        ttl: req.ttl,
    })
}

impl Grant {
    /// The set the grant goes into.
    pub fn set(&self) -> &'static str {
        match self.from {
            IpNet::V4(_) => "grants_v4",
            IpNet::V6(_) => "grants_v6",
        }
    }

    /// The set keys, one per protocol, as nft writes them.
    pub fn keys(&self) -> Vec<String> {
        self.protocols
            .iter()
            .map(|p| key(self.from, *p, self.port))
            .collect()
    }
}

/// A grants-set key: `SOURCE . PROTO . PORT`; a host source is written as
/// a bare address, as nft lists it back.
pub fn key(from: IpNet, proto: Proto, port: u16) -> String {
    let source = if from.prefix_len() == from.max_prefix_len() {
        from.addr().to_string()
    } else {
        from.to_string()
    };
    format!("{source} . {proto} . {port}")
}

/// A grants-set key read back: source network, protocol, port.
pub fn parse_key(key: &str) -> Option<(IpNet, Proto, u16)> {
    let mut parts = key.split(" . ");
    let source = parse_source(parts.next()?)?;
    let protocol = parts.next()?.parse().ok()?;
    let port = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((source, protocol, port))
}

/// Whether two grants-set keys overlap: the same protocol and port, and
/// one source network inside the other. nft refuses overlapping elements
/// in an interval set.
pub fn overlaps(a: (IpNet, Proto, u16), b: (IpNet, Proto, u16)) -> bool {
    a.1 == b.1 && a.2 == b.2 && (a.0.contains(&b.0) || b.0.contains(&a.0))
}

/// A source written as an address or a CIDR.
pub fn parse_source(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_policy::parse_policy;

    fn policy() -> Policy {
        parse_policy(
            "t.toml",
            "[zones]\nmgmt = [\"192.0.2.0/24\", \"2001:db8::/32\"]\n\
             [[rule]]\nname = \"debug\"\nport = 9229\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"mgmt\"]\ngrant = { max_ttl = \"4h\" }\n\
             [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n",
        )
        .unwrap()
    }

    fn req(port: u16, protocol: Option<Proto>, from: &str, ttl_s: i64) -> GrantRequest {
        GrantRequest {
            port,
            protocol,
            from: parse_source(from).unwrap(),
            ttl: SignedDuration::from_secs(ttl_s),
        }
    }

    #[test]
    fn keys_read_back_and_overlap_within_one_port() {
        let wide = parse_key("192.0.2.0/24 . tcp . 9229").unwrap();
        let host = parse_key("192.0.2.7 . tcp . 9229").unwrap();
        assert_eq!(key(host.0, host.1, host.2), "192.0.2.7 . tcp . 9229");
        assert!(overlaps(wide, host) && overlaps(host, wide));
        assert!(!overlaps(
            wide,
            parse_key("192.0.2.7 . udp . 9229").unwrap()
        ));
        assert!(!overlaps(
            wide,
            parse_key("192.0.3.7 . tcp . 9229").unwrap()
        ));
        assert_eq!(parse_key("192.0.2.7 . tcp"), None);
    }

    #[test]
    fn grants_within_the_rule_are_authorized() {
        let g = authorize(&policy(), &req(9229, Some(Proto::Tcp), "192.0.2.7", 600)).unwrap();
        assert_eq!((g.rule.as_str(), g.set()), ("debug", "grants_v4"));
        assert_eq!(g.keys(), ["192.0.2.7 . tcp . 9229"]);
        let both = authorize(&policy(), &req(9229, None, "2001:db8::/64", 600)).unwrap();
        assert_eq!(both.set(), "grants_v6");
        assert_eq!(
            both.keys(),
            ["2001:db8::/64 . tcp . 9229", "2001:db8::/64 . udp . 9229"]
        );
    }

    #[test]
    fn refusals_say_why() {
        let p = policy();
        let e = authorize(&p, &req(22, Some(Proto::Tcp), "192.0.2.7", 600)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "22/tcp is not grantable: no rule with `grant` covers it; grantable: 9229/tcp+udp (rule debug)"
        );
        let e = authorize(&p, &req(9229, None, "198.51.100.1", 600)).unwrap_err();
        assert!(
            e.to_string()
                .contains("outside the zones of rule `debug` (mgmt)"),
            "{e}"
        );
        let e = authorize(&p, &req(9229, None, "192.0.0.0/16", 600)).unwrap_err();
        assert!(
            matches!(e, GrantError::SourceNotAllowed { .. }),
            "a wider network is not inside"
        );
        let e = authorize(&p, &req(9229, None, "192.0.2.7", 5 * 3600)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a TTL of 5h exceeds the 4h that rule `debug` allows"
        );
        assert_eq!(
            authorize(&p, &req(9229, None, "192.0.2.7", 0)).unwrap_err(),
            GrantError::TtlNotPositive
        );
    }
}

//! What a policy opens, in the terms every cloud firewall shares: per rule,
//! its protocols, port ranges and source networks, split by address family.
//!
//! Cloud firewalls allow traffic to instances; they know nothing of the
//! processes behind a port, of grants opened on demand or of reclaims, so a
//! rule's service binding is not carried over and rules that only open
//! through `portreeve grant` are left out (and named, so the caller can say
//! so).

use ipnet::IpNet;
use portreeve_core::{Family, PortRange, Proto};
use portreeve_policy::Policy;

/// One policy rule as a cloud firewall can express it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The rule's name (`rule #N` when unnamed).
    pub rule: String,
    /// Its protocols, in the policy's order.
    pub protocols: Vec<Proto>,
    /// Its port ranges.
    pub ports: Vec<PortRange>,
    /// Its zones' IPv4 networks, when the rule serves IPv4.
    pub ipv4: Vec<Source>,
    /// Its zones' IPv6 networks, when the rule serves IPv6.
    pub ipv6: Vec<Source>,
}

/// A source network and the zone it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The network.
    pub network: IpNet,
    /// The zone naming it.
    pub zone: String,
}

/// What a policy opens, and the rules left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Openings {
    /// The rules a cloud firewall can express, in policy order.
    pub openings: Vec<Opening>,
    /// Rules left out because they open only through `portreeve grant`.
    pub grant_only: Vec<String>,
}

/// The openings of `policy`.
pub fn of(policy: &Policy) -> Openings {
    let mut out = Openings::default();
    for rule in &policy.rules {
        if rule.grant.is_some() {
            out.grant_only.push(rule.name.clone());
            continue;
        }
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        for zone in policy.zones.iter().filter(|z| rule.zones.contains(&z.name)) {
            for network in &zone.networks {
                let source = Source {
                    network: *network,
                    zone: zone.name.clone(),
                };
                match network {
                    IpNet::V4(_) if rule.families.contains(&Family::Ipv4) => ipv4.push(source),
                    IpNet::V6(_) if rule.families.contains(&Family::Ipv6) => ipv6.push(source),
                    _ => {}
                }
            }
        }
        out.openings.push(Opening {
            rule: rule.name.clone(),
            protocols: rule.protocols.clone(),
            ports: rule.ports.clone(),
            ipv4,
            ipv6,
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A policy with an IPv4 office zone, a dual-stack public zone, a range,
    /// a UDP rule, an IPv4-only rule over the dual-stack zone, and a grant
    /// rule.
    pub(crate) fn sample() -> Policy {
        portreeve_policy::parse_policy(
            "sample.toml",
            r#"
version = 1

[zones]
office = ["192.0.2.0/24"]
public = ["0.0.0.0/0", "::/0"]

[[rule]]
name = "ssh"
ports = [22]
protocol = ["tcp"]
zones = ["office"]

[[rule]]
name = "web"
ports = [443, "8000-8100"]
protocol = ["tcp", "udp"]
zones = ["public"]

[[rule]]
name = "legacy web"
ports = [80]
protocol = ["tcp"]
zones = ["public"]
family = "ipv4"

[[rule]]
name = "debug"
ports = [9000]
protocol = ["tcp"]
zones = ["office"]
grant = { max_ttl = "1h" }
"#,
        )
        .expect("the sample policy parses")
    }

    #[test]
    fn splits_families_and_leaves_out_grant_rules() {
        let o = of(&sample());
        assert_eq!(o.grant_only, vec!["debug".to_string()]);
        let names: Vec<&str> = o.openings.iter().map(|o| o.rule.as_str()).collect();
        assert_eq!(names, ["ssh", "web", "legacy web"]);
        let web = &o.openings[1];
        assert_eq!(web.ipv4.len(), 1);
        assert_eq!(web.ipv6[0].network.to_string(), "::/0");
        assert_eq!(web.ipv6[0].zone, "public");
        let legacy = &o.openings[2];
        assert_eq!(legacy.ipv4.len(), 1);
        assert!(legacy.ipv6.is_empty(), "family = ipv4 drops ::/0");
    }
}

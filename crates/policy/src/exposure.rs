//! Where a socket is reachable from, given what stands in front of it.
//!
//! portreeve's firewall admits to a port exactly the zones of the rules
//! that cover it (a rule's `grant` only narrows that, and a reclaim only
//! closes), so when its ruleset of this very policy is live and unchanged,
//! the zones of the covering rules bound who can connect. Anything less
//! certain — no ruleset live, a table changed by hand, another policy
//! judged, a socket in a namespace the firewall does not guard — and the
//! socket is taken as reachable from everywhere.

use ipnet::IpNet;
use portreeve_core::{Exposure, Family, ListeningSocket, SourceZone};

use crate::model::Policy;

/// What stands in front of the sockets being judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protection {
    /// portreeve's ruleset compiled from the policy being judged is live
    /// and unchanged in the network namespace with this inode.
    Enforced {
        /// The guarded namespace's inode.
        netns: u64,
    },
    /// Nothing verifiable, for this reason (`no portreeve ruleset is
    /// live`).
    Unverified(String),
}

/// A network at least this wide (an IPv4 prefix shorter than /8, an IPv6
/// one shorter than /7) is the internet for grading purposes: `0.0.0.0/0`,
/// `::/0`, `2000::/3`.
const WIDE_PREFIX: (u8, u8) = (8, 7);

fn is_wide(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < WIDE_PREFIX.0,
        IpNet::V6(n) => n.prefix_len() < WIDE_PREFIX.1,
    }
}

/// Where `socket` (bound to a non-loopback address) is reachable from
/// behind `protection`.
pub fn exposure(policy: &Policy, socket: &ListeningSocket, protection: &Protection) -> Exposure {
    if !socket.is_exposed() {
        return Exposure::Local;
    }
    let netns = match protection {
        Protection::Unverified(why) => return Exposure::Everywhere { why: why.clone() },
        Protection::Enforced { netns } => *netns,
    };
    if socket.netns.inode != netns {
        return Exposure::Everywhere {
            why: format!(
                "portreeve's firewall guards another network namespace than {}",
                socket.netns
            ),
        };
    }
    let families = socket.accepted_families();
    let mut from: Vec<SourceZone> = Vec::new();
    let mut wide = false;
    for rule in policy
        .rules
        .iter()
        .filter(|r| r.covers(socket.protocol, socket.port))
    {
        for zone in rule.zones.iter().filter_map(|z| policy.zone(z)) {
            let admitted: Vec<&IpNet> = zone
                .networks
                .iter()
                .filter(|n| {
                    let family = match n {
                        IpNet::V4(_) => Family::Ipv4,
                        IpNet::V6(_) => Family::Ipv6,
                    };
                    families.contains(&family) && rule.families.contains(&family)
                })
                .collect();
            if admitted.is_empty() || from.iter().any(|z| z.zone == zone.name) {
                continue;
            }
            wide |= admitted.iter().any(|n| is_wide(n));
            from.push(SourceZone {
                zone: zone.name.clone(),
                networks: admitted.iter().map(|n| n.to_string()).collect(),
            });
        }
    }
    Exposure::Zones { from, wide }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use portreeve_core::{BindScope, Breadth, NetnsRef, OwnerStatus, Proto};

    use super::*;
    use crate::parse_policy;

    const POLICY: &str = r#"
[zones]
mgmt = ["10.0.0.0/24", "fd00:1::/64"]
public = ["0.0.0.0/0", "::/0"]

[[rule]]
name = "redis"
port = 6379
protocol = "tcp"
zones = ["mgmt"]
family = "ipv4"

[[rule]]
name = "web"
port = 443
protocol = "tcp"
zones = ["public"]
"#;

    fn socket(address: &str, port: u16, netns: u64) -> ListeningSocket {
        let address: IpAddr = address.parse().unwrap();
        ListeningSocket {
            protocol: Proto::Tcp,
            family: if address.is_ipv4() {
                portreeve_core::Family::Ipv4
            } else {
                portreeve_core::Family::Ipv6
            },
            address,
            port,
            interface: None,
            scope: BindScope::of(address),
            dual_stack: false,
            uid: 0,
            user: None,
            inode: 1,
            netns: NetnsRef {
                inode: netns,
                name: None,
            },
            owner_status: OwnerStatus::NoProcess,
            processes: vec![],
        }
    }

    const GUARDED: Protection = Protection::Enforced { netns: 7 };

    #[test]
    fn an_enforced_rule_limits_reach_to_its_zones_and_family() {
        let p = parse_policy("p.toml", POLICY).unwrap();
        let e = exposure(&p, &socket("0.0.0.0", 6379, 7), &GUARDED);
        assert_eq!(e.to_string(), "mgmt (10.0.0.0/24)");
        assert_eq!(e.breadth(), Breadth::Restricted);
        // The rule is for IPv4: the firewall admits no IPv6 source.
        let v6 = exposure(&p, &socket("::", 6379, 7), &GUARDED);
        assert_eq!(v6.breadth(), Breadth::Nobody);
    }

    #[test]
    fn a_public_zone_is_everywhere_and_no_rule_is_nobody() {
        let p = parse_policy("p.toml", POLICY).unwrap();
        let web = exposure(&p, &socket("0.0.0.0", 443, 7), &GUARDED);
        assert_eq!(web.breadth(), Breadth::Everywhere);
        let stray = exposure(&p, &socket("0.0.0.0", 8080, 7), &GUARDED);
        assert_eq!(stray.breadth(), Breadth::Nobody);
    }

    #[test]
    fn no_protection_is_claimed_without_a_verified_firewall() {
        let p = parse_policy("p.toml", POLICY).unwrap();
        let none = Protection::Unverified("no portreeve ruleset is live".into());
        let e = exposure(&p, &socket("0.0.0.0", 6379, 7), &none);
        assert_eq!(e.to_string(), "everywhere (no portreeve ruleset is live)");
        let elsewhere = exposure(&p, &socket("0.0.0.0", 6379, 8), &GUARDED);
        assert_eq!(elsewhere.breadth(), Breadth::Everywhere);
        assert_eq!(
            exposure(&p, &socket("127.0.0.1", 6379, 7), &none),
            Exposure::Local
        );
    }
}

//! What is wrong with security groups, as facts the application layer turns
//! into findings: permissions open to the whole internet (which become
//! PR021 where their ports hold a risky service) and wide permissions to
//! sources beyond the private address space (PR022).
//!
//! The `describe-security-groups` output does not say which networks a
//! group's VPC holds, so "beyond the group's own network" is judged as
//! "not inside the private address space": RFC 1918, the shared address
//! space of RFC 6598, IPv4 and IPv6 link-local, and IPv6 unique local
//! addresses. References to other groups and prefix lists are not judged.

use ipnet::IpNet;

use crate::describe::{Group, Permission, Protocol};

/// A permission of more ports than this is wide.
pub const WIDE_PORTS: u32 = 100;

/// Address blocks that stay inside an operator's own networks.
const PRIVATE: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

/// One permission's source that deserves a look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The group's id.
    pub group: String,
    /// The group's name, when known.
    pub group_name: Option<String>,
    /// The group's VPC, when known.
    pub vpc: Option<String>,
    /// The permission's protocol.
    pub protocol: Protocol,
    /// Its first port.
    pub first: u16,
    /// Its last port.
    pub last: u16,
    /// The source concerned.
    pub source: IpNet,
}

impl Fact {
    /// The fingerprint key docs/findings.md fixes for PR021 and PR022:
    /// `cloud|GROUP|PROTO|FIRST-LAST|CIDR`.
    pub fn key(&self) -> String {
        format!(
            "cloud|{}|{}|{}-{}|{}",
            self.group,
            self.protocol.key(),
            self.first,
            self.last,
            self.source
        )
    }

    /// `6379/tcp`, `1000-2000/udp`, `all traffic`.
    pub fn ports_label(&self) -> String {
        match &self.protocol {
            Protocol::All => "all traffic".to_string(),
            Protocol::Other(name) => format!("protocol {name}"),
            Protocol::Tcp | Protocol::Udp if self.first == self.last => {
                format!("{}/{}", self.first, self.protocol.key())
            }
            Protocol::Tcp | Protocol::Udp => {
                format!("{}-{}/{}", self.first, self.last, self.protocol.key())
            }
        }
    }
}

/// What judging found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Sources `0.0.0.0/0` and `::/0`, with ports (or every protocol).
    pub open_to_world: Vec<Fact>,
    /// Sources beyond the private address space admitted to every protocol
    /// or to more than [`WIDE_PORTS`] ports.
    pub wide: Vec<Fact>,
}

/// Judges `groups`.
pub fn judge(groups: &[Group]) -> Facts {
    let private: Vec<IpNet> = PRIVATE
        .iter()
        .map(|n| n.parse().expect("the private blocks are valid networks"))
        .collect();
    let mut facts = Facts::default();
    for group in groups {
        for permission in &group.permissions {
            if matches!(permission.protocol, Protocol::Other(_)) {
                continue;
            }
            for source in &permission.sources {
                let fact = || fact(group, permission, *source);
                if source.prefix_len() == 0 {
                    facts.open_to_world.push(fact());
                }
                if is_wide(permission) && !private.iter().any(|p| p.contains(source)) {
                    facts.wide.push(fact());
                }
            }
        }
    }
    facts
}

fn is_wide(permission: &Permission) -> bool {
    permission.protocol == Protocol::All
        || u32::from(permission.last) - u32::from(permission.first) + 1 > WIDE_PORTS
}

fn fact(group: &Group, permission: &Permission, source: IpNet) -> Fact {
    Fact {
        group: group.id.clone(),
        group_name: group.name.clone(),
        vpc: group.vpc.clone(),
        protocol: permission.protocol.clone(),
        first: permission.first,
        last: permission.last,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(permissions: Vec<Permission>) -> Group {
        Group {
            id: "sg-0123".into(),
            name: None,
            vpc: None,
            permissions,
        }
    }

    fn perm(protocol: Protocol, first: u16, last: u16, sources: &[&str]) -> Permission {
        Permission {
            protocol,
            first,
            last,
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn world_sources_and_wide_ranges_beyond_private_space() {
        let facts = judge(&[group(vec![
            perm(Protocol::Tcp, 6379, 6379, &["0.0.0.0/0", "10.0.0.0/8"]),
            perm(Protocol::Tcp, 1000, 1100, &["198.51.100.0/24"]),
            perm(Protocol::Udp, 1000, 1099, &["198.51.100.0/24"]),
            perm(Protocol::All, 0, 65535, &["::/0", "fd00::/8"]),
            perm(Protocol::Tcp, 0, 65535, &["172.16.0.0/12", "10.1.0.0/16"]),
            perm(Protocol::Other("icmp".into()), 0, 0, &["0.0.0.0/0"]),
        ])]);
        let world: Vec<String> = facts.open_to_world.iter().map(Fact::key).collect();
        assert_eq!(
            world,
            [
                "cloud|sg-0123|tcp|6379-6379|0.0.0.0/0",
                "cloud|sg-0123|all|0-65535|::/0"
            ]
        );
        let wide: Vec<String> = facts.wide.iter().map(Fact::key).collect();
        assert_eq!(
            wide,
            [
                "cloud|sg-0123|tcp|1000-1100|198.51.100.0/24",
                "cloud|sg-0123|all|0-65535|::/0"
            ]
        );
        assert_eq!(facts.wide[0].ports_label(), "1000-1100/tcp");
        assert_eq!(facts.open_to_world[0].ports_label(), "6379/tcp");
    }
}

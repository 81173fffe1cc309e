//! Overflow: new connections to a port sent on to a backup pool (a tripped
//! circuit breaker's action), by DNAT in portreeve's own table (rendered
//! by `nft_text`; see docs/enforce.md, "Overflow to a backup pool").
//!
//! Also here: whether the host forwards what an overflow needs (reported,
//! never changed), and the SSH paths an overflow would take away from the
//! host, which the lock-out guard refuses.

use std::net::SocketAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portreeve_core::{Family, Proto};

use crate::guard::{Lockout, SshAccess};
use crate::ruleset::Ruleset;
use crate::verdict::Verdict;

/// New connections to `port`/`protocol` go to the members of `pool`,
/// spread in turn; connections already established stay where they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverflowNat {
    /// The breaker whose action this is, for the rules' comments.
    pub breaker: String,
    /// The port clients connect to on this host.
    pub port: u16,
    /// The protocol (breakers overflow TCP).
    pub protocol: Proto,
    /// The pool members, IPv4 and IPv6: a client reaches the members of
    /// its own family. Empty: the overflow drains — no new connection is
    /// sent anywhere, and those already sent keep their translation (the
    /// kernel translates a connection's later packets only while a NAT
    /// chain of its family exists, so removing the last overflow cuts
    /// them).
    pub pool: Vec<SocketAddr>,
}

impl OverflowNat {
    /// The pool members of `family`: where that family's clients go.
    pub fn members(&self, family: Family) -> impl Iterator<Item = &SocketAddr> {
        self.pool.iter().filter(move |m| match family {
            Family::Ipv4 => m.is_ipv4(),
            Family::Ipv6 => m.is_ipv6(),
        })
    }
}

/// The kernel setting that forwards `family`: an overflowed connection is
/// forwarded to the pool, which the kernel does only with it on.
fn forwarding_sysctl(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "net.ipv4.ip_forward",
        Family::Ipv6 => "net.ipv6.conf.all.forwarding",
    }
}

/// Overflow cannot work: the host does not forward a family the pools
/// hold members of.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "overflow to a backup pool needs IP forwarding, which is off: {} (portreeve does not turn it on: `sysctl -w {}=1`)",
    .off.join(", "),
    .off.join("=1 ")
)]
pub struct ForwardingOff {
    /// The sysctls that are off (or unreadable), e.g. `net.ipv4.ip_forward`.
    pub off: Vec<&'static str>,
}

/// Whether this host (the network namespace of the calling thread)
/// forwards every family that `overflows`' pools hold members of. The
/// enforcer reports this rather than turning forwarding on: forwarding
/// makes the host a router, a decision for its operator.
pub fn check_forwarding(overflows: &[OverflowNat]) -> Result<(), ForwardingOff> {
    let off: Vec<&'static str> = [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .filter(|&family| overflows.iter().any(|o| o.members(family).next().is_some()))
        .map(forwarding_sysctl)
        .filter(|sysctl| !is_on(sysctl))
        .collect();
    if off.is_empty() {
        Ok(())
    } else {
        Err(ForwardingOff { off })
    }
}

/// Whether `sysctl` reads 1. A setting that cannot be read (IPv6 disabled
/// in the kernel) counts as off: that family cannot be forwarded either.
fn is_on(sysctl: &str) -> bool {
    let path = format!("/proc/sys/{}", sysctl.replace('.', "/"));
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1")
}

/// The SSH paths `ruleset`'s overflows would cut: an overflow of a port an
/// SSH daemon listens on, a live session's port or the management zone's
/// SSH port sends the operator's next connection to a pool member instead
/// of this host. A draining overflow (empty pool) sends nothing and cuts
/// nothing; a family without members keeps its connections here.
pub(crate) fn ssh_lockouts(ruleset: &Ruleset, access: &SshAccess) -> Vec<Lockout> {
    let e = &ruleset.enforcement;
    let ssh_ports: Vec<(u16, &str)> = access
        .sessions
        .iter()
        .filter(|s| !s.client.is_loopback())
        .map(|s| (s.port, "a live SSH session's port"))
        .chain(
            access
                .listening
                .iter()
                .map(|&p| (p, "an SSH daemon listens on it")),
        )
        .chain(
            e.management_zone
                .as_ref()
                .map(|_| (e.ssh_port, "the management zone's SSH port")),
        )
        .collect();
    let mut out = Vec::new();
    for o in ruleset
        .overflows
        .iter()
        .filter(|o| o.protocol == Proto::Tcp)
    {
        let Some((_, what)) = ssh_ports.iter().find(|(port, _)| *port == o.port) else {
            continue;
        };
        for (family, every_source) in [
            (Family::Ipv4, IpNet::V4(Ipv4Net::default())),
            (Family::Ipv6, IpNet::V6(Ipv6Net::default())),
        ] {
            if o.members(family).next().is_some() {
                out.push(Lockout {
                    source: every_source,
                    port: o.port,
                    why: format!(
                        "{what}, and breaker `{}` would send its new connections to a backup pool instead of this host",
                        o.breaker
                    ),
                    verdict: Verdict::NotAllowed,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::{SshSession, lockouts};

    /// SSH open to the management zone, and an overflow of `port` to
    /// `pool`.
    fn ruleset(port: u16, pool: &[&str]) -> Ruleset {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            "[zones]\nmgmt = [\"192.0.2.0/24\"]\n[enforce]\nmanagement_zone = \"mgmt\"\n\
             [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n\
             [[rule]]\nport = 2222\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n",
        )
        .unwrap();
        let mut r = Ruleset::compile(&policy).unwrap();
        r.overflows = vec![OverflowNat {
            breaker: "busy".into(),
            port,
            protocol: Proto::Tcp,
            pool: pool.iter().map(|m| m.parse().unwrap()).collect(),
        }];
        r
    }

    #[test]
    fn the_guard_refuses_an_overflow_of_an_ssh_port() {
        let none = SshAccess::default();
        let found = lockouts(&ruleset(22, &["10.0.5.20:22"]), &none);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].source.to_string(), found[0].port),
            ("0.0.0.0/0".into(), 22)
        );
        assert!(
            found[0].why.contains("management zone's SSH port"),
            "{found:?}"
        );
        assert!(found[0].why.contains("breaker `busy`"), "{found:?}");

        let session = SshAccess {
            sessions: vec![SshSession {
                client: "192.0.2.7".parse().unwrap(),
                port: 2222,
                found_by: "test".into(),
            }],
            listening: vec![2222],
        };
        let found = lockouts(&ruleset(2222, &["[2001:db8::20]:2222"]), &session);
        assert_eq!(found.len(), 1, "one per port and family: {found:?}");
        assert_eq!(found[0].source.to_string(), "::/0");
    }

    #[test]
    fn other_ports_and_draining_overflows_cut_nothing() {
        let session = SshAccess {
            sessions: Vec::new(),
            listening: vec![22],
        };
        assert_eq!(lockouts(&ruleset(80, &["10.0.5.20:80"]), &session), []);
        assert_eq!(lockouts(&ruleset(22, &[]), &session), []);
    }
}

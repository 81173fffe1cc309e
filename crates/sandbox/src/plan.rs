//! What the sandbox builds for a set of recorded pairs, decided before
//! anything is built: the listeners the replica mirrors (and those it adds
//! for recorded ports nothing listens on now), the addresses on each side,
//! and for every pair where its probe starts, from which address, and to
//! which.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use portreeve_core::{ListeningSocket, PortKey, Proto, SourceUse};

/// Where the replica answers when the host has no address of a family
/// other than loopback: inside the sandbox only (the benchmarking network
/// and a unique local address).
const FALLBACK_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const FALLBACK_V6: Ipv6Addr = Ipv6Addr::new(0xfd70, 0x7274, 0x7665, 0, 0, 0, 0, 1);

/// A socket the replica binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Listener {
    /// Transport protocol.
    pub protocol: Proto,
    /// Local address, possibly the wildcard.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// An IPv6 socket that does not take IPv4.
    pub v6only: bool,
}

impl Listener {
    fn mirroring(s: &ListeningSocket) -> Listener {
        Listener {
            protocol: s.protocol,
            address: s.address,
            port: s.port,
            v6only: s.address.is_ipv6() && !s.dual_stack,
        }
    }

    /// Whether it receives `protocol` traffic for `to`.
    fn answers(&self, protocol: Proto, to: SocketAddr) -> bool {
        if self.protocol != protocol || self.port != to.port() {
            return false;
        }
        match (self.address, to.ip()) {
            (IpAddr::V6(l), IpAddr::V4(_)) => l.is_unspecified() && !self.v6only,
            (l, t) => l == t || (l.is_unspecified() && l.is_ipv4() == t.is_ipv4()),
        }
    }
}

/// Which namespace a probe starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The client: the source is another host.
    Client,
    /// The replica itself: the source is loopback or one of the host's
    /// own addresses, traffic that never crosses a link.
    Replica,
}

/// One probe: a connection (TCP) or an echoed datagram (UDP) from
/// `source` to `target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shot {
    /// Where it starts.
    pub side: Side,
    /// The address the socket binds.
    pub source: IpAddr,
    /// Where it goes.
    pub target: SocketAddr,
    /// Transport protocol.
    pub protocol: Proto,
}

/// Everything one phase of the sandbox builds and does.
#[derive(Debug)]
pub(crate) struct Plan {
    /// What the replica binds: the host's listeners, then the added ones.
    pub listeners: Vec<Listener>,
    /// How many of `listeners` mirror the host's.
    pub mirrored: usize,
    /// Recorded ports that got a listener of their own.
    pub added: Vec<PortKey>,
    /// Addresses on the replica's end of the link.
    pub replica_addresses: Vec<IpAddr>,
    /// Addresses on the client's end: every source probed from there.
    pub client_addresses: Vec<IpAddr>,
    /// Per pair, its probe or why there is none.
    pub shots: Vec<Result<Shot, &'static str>>,
}

impl Plan {
    /// The plan for probing `pairs` against a replica of a host with
    /// `listeners` and interface `addresses`.
    pub(crate) fn new(
        listeners: &[ListeningSocket],
        addresses: &[IpAddr],
        pairs: &[SourceUse],
    ) -> Plan {
        let mut bound: Vec<Listener> = listeners
            .iter()
            .map(Listener::mirroring)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mirrored = bound.len();
        let mut replica_addresses: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|a| on_the_link(*a))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for fallback in [IpAddr::V4(FALLBACK_V4), IpAddr::V6(FALLBACK_V6)] {
            if !replica_addresses
                .iter()
                .any(|a| a.is_ipv4() == fallback.is_ipv4())
            {
                replica_addresses.push(fallback);
            }
        }
        let own =
            |a: IpAddr| a.is_loopback() || addresses.contains(&a) || replica_addresses.contains(&a);
        let mut added = BTreeSet::new();
        let mut client_addresses = BTreeSet::new();
        let shots = pairs
            .iter()
            .map(|pair| {
                let source = probe_address(pair.source, pair.port)?;
                let side = if own(source) {
                    Side::Replica
                } else {
                    Side::Client
                };
                let target = SocketAddr::new(
                    target(
                        source,
                        side,
                        pair.protocol,
                        pair.port,
                        &bound,
                        &replica_addresses,
                    ),
                    pair.port,
                );
                if !bound.iter().any(|l| l.answers(pair.protocol, target)) {
                    bound.push(Listener {
                        protocol: pair.protocol,
                        address: target.ip(),
                        port: pair.port,
                        v6only: target.is_ipv6(),
                    });
                    added.insert((pair.port, pair.protocol));
                }
                if side == Side::Client {
                    client_addresses.insert(source);
                }
                Ok(Shot {
                    side,
                    source,
                    target,
                    protocol: pair.protocol,
                })
            })
            .collect();
        Plan {
            listeners: bound,
            mirrored,
            added: added
                .into_iter()
                .map(|(port, protocol)| PortKey { protocol, port })
                .collect(),
            replica_addresses,
            client_addresses: client_addresses.into_iter().collect(),
            shots,
        }
    }
}

/// Whether the host's address `a` goes on the replica's link: loopback
/// stays on loopback, and an IPv6 link-local address means nothing off
/// its own link.
fn on_the_link(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !a.is_loopback() && !a.is_unspecified() && !a.is_multicast(),
        IpAddr::V6(a) => {
            !a.is_loopback()
                && !a.is_unspecified()
                && !a.is_multicast()
                && !a.is_unicast_link_local()
        }
    }
}

/// The address a probe of `source` binds: a single address as itself, a
/// network by its first host address; or why it cannot be probed.
pub(crate) fn probe_address(source: IpNet, port: u16) -> Result<IpAddr, &'static str> {
    if port == 0 {
        return Err("port 0 cannot be connected to");
    }
    let first = match source {
        IpNet::V4(n) => IpAddr::V4(n.hosts().next().unwrap_or(n.addr())),
        IpNet::V6(n) if n.prefix_len() >= 127 => IpAddr::V6(n.network()),
        IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 1)),
    };
    match first {
        IpAddr::V4(a) if a.is_unspecified() || a.is_multicast() || a.is_broadcast() => {
            Err("not an address a host connects from")
        }
        IpAddr::V6(a) if a.is_unspecified() || a.is_multicast() => {
            Err("not an address a host connects from")
        }
        IpAddr::V6(a) if a.is_unicast_link_local() => {
            Err("a link-local source names no link in the sandbox")
        }
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => {
            Err("an IPv4-mapped IPv6 source arrives as IPv4")
        }
        a => Ok(a),
    }
}

/// Where a probe from `source` goes: a listener's own address where one
/// is bound to an address of the source's family that such traffic can
/// reach, else the source itself (loopback and the host's own addresses,
/// probed from the replica) or the replica's first address of the family.
fn target(
    source: IpAddr,
    side: Side,
    protocol: Proto,
    port: u16,
    listeners: &[Listener],
    replica_addresses: &[IpAddr],
) -> IpAddr {
    let reachable = |a: IpAddr| match side {
        Side::Replica => true,
        Side::Client => !a.is_loopback(),
    };
    let specific = listeners.iter().find(|l| {
        l.protocol == protocol
            && l.port == port
            && !l.address.is_unspecified()
            && l.address.is_ipv4() == source.is_ipv4()
            && reachable(l.address)
    });
    let answers_source = listeners
        .iter()
        .any(|l| l.answers(protocol, SocketAddr::new(source, port)));
    match (side, specific) {
        (Side::Replica, _) if answers_source => source,
        (_, Some(l)) => l.address,
        (Side::Replica, None) => source,
        (Side::Client, None) => *replica_addresses
            .iter()
            .find(|a| a.is_ipv4() == source.is_ipv4())
            .expect("the replica has an address of each family"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn used(source: &str, protocol: Proto, port: u16) -> SourceUse {
        SourceUse {
            source: source.parse().unwrap(),
            protocol,
            port,
            connections: 1,
            first_seen: Timestamp::UNIX_EPOCH,
            last_seen: Timestamp::UNIX_EPOCH,
        }
    }

    fn socket(protocol: Proto, address: &str, port: u16, dual_stack: bool) -> ListeningSocket {
        let address: IpAddr = address.parse().unwrap();
        ListeningSocket {
            protocol,
            family: if address.is_ipv4() {
                portreeve_core::Family::Ipv4
            } else {
                portreeve_core::Family::Ipv6
            },
            address,
            port,
            interface: None,
            scope: portreeve_core::BindScope::Wildcard,
            dual_stack,
            uid: 0,
            user: None,
            inode: 0,
            netns: portreeve_core::NetnsRef {
                inode: 0,
                name: None,
            },
            owner_status: portreeve_core::OwnerStatus::Known,
            processes: Vec::new(),
        }
    }

    fn addr(a: &str) -> IpAddr {
        a.parse().unwrap()
    }

    #[test]
    fn a_source_is_probed_from_its_first_host_address() {
        let probe = |s: &str| probe_address(s.parse().unwrap(), 80);
        assert_eq!(probe("198.51.100.7/32"), Ok(addr("198.51.100.7")));
        assert_eq!(probe("198.51.100.0/24"), Ok(addr("198.51.100.1")));
        assert_eq!(probe("198.51.100.6/31"), Ok(addr("198.51.100.6")));
        assert_eq!(probe("2001:db8::/64"), Ok(addr("2001:db8::1")));
        assert_eq!(probe("2001:db8::7/128"), Ok(addr("2001:db8::7")));
        assert_eq!(probe("2001:db8::6/127"), Ok(addr("2001:db8::6")));
    }

    #[test]
    fn sources_no_host_connects_from_are_not_probed() {
        for source in [
            "0.0.0.0/32",
            "224.0.0.1/32",
            "255.255.255.255/32",
            "::/128",
            "ff02::1/128",
            "fe80::1/128",
            "::ffff:192.0.2.1/128",
        ] {
            assert!(
                probe_address(source.parse().unwrap(), 80).is_err(),
                "{source}"
            );
        }
        assert!(probe_address("192.0.2.1/32".parse().unwrap(), 0).is_err());
    }

    #[test]
    fn a_remote_source_reaches_a_wildcard_listener_on_the_hosts_address() {
        let plan = Plan::new(
            &[
                socket(Proto::Tcp, "0.0.0.0", 443, false),
                socket(Proto::Udp, "::", 53, true),
            ],
            &[
                addr("127.0.0.1"),
                addr("10.0.0.5"),
                addr("fe80::1"),
                addr("::1"),
            ],
            &[
                used("192.0.2.7/32", Proto::Tcp, 443),
                used("192.0.2.8/32", Proto::Udp, 53),
            ],
        );
        assert_eq!(
            plan.replica_addresses,
            [addr("10.0.0.5"), IpAddr::V6(FALLBACK_V6)]
        );
        assert_eq!(
            plan.client_addresses,
            [addr("192.0.2.7"), addr("192.0.2.8")]
        );
        assert_eq!((plan.mirrored, plan.listeners.len()), (2, 2));
        assert!(plan.added.is_empty());
        let shot = plan.shots[0].unwrap();
        assert_eq!(
            (shot.side, shot.target),
            (Side::Client, "10.0.0.5:443".parse().unwrap())
        );
        // Through the dual-stack socket.
        assert_eq!(
            plan.shots[1].unwrap().target,
            "10.0.0.5:53".parse().unwrap()
        );
    }

    #[test]
    fn a_listener_on_one_address_is_probed_there() {
        let plan = Plan::new(
            &[
                socket(Proto::Tcp, "127.0.0.1", 8080, false),
                socket(Proto::Tcp, "10.0.0.6", 8080, false),
            ],
            &[addr("10.0.0.5"), addr("10.0.0.6")],
            &[
                used("192.0.2.7/32", Proto::Tcp, 8080),
                used("127.0.0.1/32", Proto::Tcp, 8080),
            ],
        );
        assert!(plan.added.is_empty());
        assert_eq!(
            plan.shots[0].unwrap().target,
            "10.0.0.6:8080".parse().unwrap()
        );
        let local = plan.shots[1].unwrap();
        assert_eq!(
            (local.side, local.target),
            (Side::Replica, "127.0.0.1:8080".parse().unwrap())
        );
    }

    #[test]
    fn the_hosts_own_address_is_probed_from_the_replica() {
        let plan = Plan::new(
            &[socket(Proto::Tcp, "0.0.0.0", 22, false)],
            &[addr("10.0.0.5")],
            &[used("10.0.0.5/32", Proto::Tcp, 22)],
        );
        let shot = plan.shots[0].unwrap();
        assert_eq!(
            (shot.side, shot.source, shot.target),
            (
                Side::Replica,
                addr("10.0.0.5"),
                "10.0.0.5:22".parse().unwrap()
            )
        );
        assert!(plan.client_addresses.is_empty());
    }

    #[test]
    fn a_recorded_port_nothing_answers_now_gets_a_listener_once() {
        let plan = Plan::new(
            &[
                socket(Proto::Tcp, "127.0.0.1", 8082, false),
                socket(Proto::Tcp, "::", 8083, false),
            ],
            &[addr("10.0.0.5")],
            &[
                used("192.0.2.7/32", Proto::Tcp, 8082),
                used("192.0.2.8/32", Proto::Tcp, 8082),
                used("192.0.2.8/32", Proto::Udp, 8082),
                // A v6-only socket does not answer IPv4.
                used("192.0.2.8/32", Proto::Tcp, 8083),
            ],
        );
        let key = |protocol, port| PortKey { protocol, port };
        assert_eq!(
            plan.added,
            [
                key(Proto::Tcp, 8082),
                key(Proto::Udp, 8082),
                key(Proto::Tcp, 8083)
            ]
        );
        assert_eq!((plan.mirrored, plan.listeners.len()), (2, 5));
        for shot in &plan.shots {
            let shot = shot.unwrap();
            assert!(
                plan.listeners
                    .iter()
                    .any(|l| l.answers(shot.protocol, shot.target)),
                "{shot:?}"
            );
        }
    }

    #[test]
    fn an_unprobeable_pair_says_why_and_takes_no_address() {
        let plan = Plan::new(
            &[],
            &[addr("10.0.0.5")],
            &[used("fe80::9/128", Proto::Tcp, 22)],
        );
        assert!(plan.shots[0].is_err());
        assert!(plan.client_addresses.is_empty() && plan.listeners.is_empty());
    }
}

//! A port as the firewall knows it, and what is known of its use.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Proto;

/// A port as the firewall and the kernel's usage record know it: protocol
/// and number, whatever the address or namespace it listens in. Ordered by
/// port, then protocol, as `portreeve usage` lists ports.
///
/// The one key for "a port" everywhere: the lifecycle, the agent's store,
/// the kernel's usage record and flow aggregates all use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortKey {
    /// Transport protocol.
    pub protocol: Proto,
    /// Port number.
    pub port: u16,
}

impl PortKey {
    /// `port`/`protocol`.
    pub fn new(protocol: Proto, port: u16) -> PortKey {
        PortKey { protocol, port }
    }
}

impl Ord for PortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.port, self.protocol).cmp(&(other.port, other.protocol))
    }
}

impl PartialOrd for PortKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for PortKey {
    /// `443/tcp`, as the CLI writes ports.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// What is known about a port's use: when it was first seen, when it last
/// received a new connection, and how many from how many sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortUsage {
    /// When the port was first seen listening or allowed.
    pub first_seen: Timestamp,
    /// When the port last received a new connection, if ever.
    pub last_access: Option<Timestamp>,
    /// New connections counted.
    pub connections: u64,
    /// Distinct source addresses counted.
    pub distinct_sources: u64,
}

impl PortUsage {
    /// A port first seen at `first_seen` and never used since.
    pub fn new(first_seen: Timestamp) -> PortUsage {
        PortUsage {
            first_seen,
            last_access: None,
            connections: 0,
            distinct_sources: 0,
        }
    }

    /// The instant the port's idleness counts from: its last access or,
    /// never accessed, when it was first seen. The kernel's record of an
    /// access wins even when it predates `first_seen` (the firewall kept it
    /// before the agent started): it is a fact about the port, `first_seen`
    /// only about the agent.
    pub fn idle_since(&self) -> Timestamp {
        self.last_access.unwrap_or(self.first_seen)
    }
}

/// One (source, protocol, local port) and its use: what `usage --by-source`
/// lists, what `simulate` replays and what `recommend` reads.
///
/// The agent records one per client address until its bound is reached;
/// past it, new clients are folded into their /24 (IPv4) or /64 (IPv6), so
/// `source` is a network, a single address being a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceUse {
    /// The client address, or the network it was aggregated into past the
    /// cap (/24 IPv4, /64 IPv6).
    pub source: ipnet::IpNet,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local port the connections reached.
    pub port: u16,
    /// New connections counted.
    pub connections: u64,
    /// The first new connection seen.
    pub first_seen: Timestamp,
    /// The last new connection seen.
    pub last_seen: Timestamp,
}

/// The network a source is folded into once the per-source record is full:
/// its /24 (IPv4) or /64 (IPv6). A network already wider stays as it is.
pub fn source_network(source: ipnet::IpNet) -> ipnet::IpNet {
    let prefix = match source {
        ipnet::IpNet::V4(_) => 24,
        ipnet::IpNet::V6(_) => 64,
    };
    if source.prefix_len() <= prefix {
        return source;
    }
    ipnet::IpNet::new(source.addr(), prefix)
        .map(|n| n.trunc())
        .unwrap_or(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_use_serializes_as_flat_json_with_cidr_source() {
        let used = SourceUse {
            source: "192.0.2.7/32".parse().unwrap(),
            protocol: Proto::Tcp,
            port: 443,
            connections: 3,
            first_seen: "2026-01-01T00:00:00Z".parse().unwrap(),
            last_seen: "2026-01-02T00:00:00Z".parse().unwrap(),
        };
        let json = serde_json::to_string(&used).unwrap();
        assert_eq!(
            json,
            r#"{"source":"192.0.2.7/32","protocol":"tcp","port":443,"connections":3,"first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-02T00:00:00Z"}"#
        );
        let back: SourceUse = serde_json::from_str(&json).unwrap();
        assert_eq!(back, used);
    }

    #[test]
    fn sources_fold_into_their_24_or_64() {
        let fold = |s: &str| source_network(s.parse().unwrap()).to_string();
        assert_eq!(fold("192.0.2.7/32"), "192.0.2.0/24");
        assert_eq!(fold("2001:db8:1:2:3::9/128"), "2001:db8:1:2::/64");
        assert_eq!(fold("10.0.0.0/8"), "10.0.0.0/8");
    }
}

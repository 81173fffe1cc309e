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

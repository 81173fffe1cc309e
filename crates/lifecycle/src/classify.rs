//! A port's usage and the state it puts the port in.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::Proto;
use serde::{Deserialize, Serialize};

/// A port as the firewall and the kernel's usage record know it: protocol
/// and number, whatever the address or namespace it listens in. Ordered by
/// port, then protocol, as `portreeve usage` lists ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortKey {
    /// Protocol.
    pub proto: Proto,
    /// Port number.
    pub port: u16,
}

impl PortKey {
    /// `port`/`proto`.
    pub fn new(proto: Proto, port: u16) -> PortKey {
        PortKey { proto, port }
    }
}

impl Ord for PortKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.port, self.proto).cmp(&(other.port, other.proto))
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
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// What the agent knows about a port's use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// When the agent first saw the port listening or allowed.
    pub first_seen: Timestamp,
    /// When the port last received a new connection, if ever.
    pub last_access: Option<Timestamp>,
    /// New connections counted.
    pub connections: u64,
    /// Distinct source addresses counted.
    pub distinct_sources: u64,
}

impl Usage {
    /// A port first seen at `first_seen` and never used since.
    pub fn new(first_seen: Timestamp) -> Usage {
        Usage {
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

/// Where a port is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Used within `dormant_after`.
    Active,
    /// Unused for at least `dormant_after`.
    Dormant,
    /// Unused for at least `abandoned_after`: a candidate for reclaim.
    Abandoned,
    /// Closed in the firewall by a reclaim that was not undone. Recorded,
    /// never computed: [`classify`] does not return it.
    Reclaimed,
}

impl State {
    /// The lower-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Dormant => "dormant",
            State::Abandoned => "abandoned",
            State::Reclaimed => "reclaimed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a port may go unused before it is dormant, then abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Unused this long: dormant.
    pub dormant_after: SignedDuration,
    /// Unused this long: abandoned. Longer than `dormant_after` in any
    /// validated policy.
    pub abandoned_after: SignedDuration,
}

impl Default for Thresholds {
    /// The policy defaults: 72 hours and 30 days.
    fn default() -> Self {
        Thresholds {
            dormant_after: portreeve_policy::Lifecycle::DEFAULT_DORMANT_AFTER,
            abandoned_after: portreeve_policy::Lifecycle::DEFAULT_ABANDONED_AFTER,
        }
    }
}

impl Thresholds {
    /// The state of a port unused for `idle`. Thresholds are inclusive:
    /// exactly `dormant_after` is dormant. A negative `idle` (a last access
    /// "in the future", after a clock step back) is active.
    pub fn state_after(&self, idle: SignedDuration) -> State {
        if idle >= self.abandoned_after {
            State::Abandoned
        } else if idle >= self.dormant_after {
            State::Dormant
        } else {
            State::Active
        }
    }
}

/// The state `usage` puts a port in at `now`: [`State::Active`],
/// [`State::Dormant`] or [`State::Abandoned`], counted from
/// [`Usage::idle_since`].
pub fn classify(usage: &Usage, thresholds: &Thresholds, now: Timestamp) -> State {
    thresholds.state_after(now.duration_since(usage.idle_since()))
}

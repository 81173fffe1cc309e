//! A port's usage and the state it puts the port in.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::PortUsage;
use serde::{Deserialize, Serialize};

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
/// [`PortUsage::idle_since`].
pub fn classify(usage: &PortUsage, thresholds: &Thresholds, now: Timestamp) -> State {
    thresholds.state_after(now.duration_since(usage.idle_since()))
}

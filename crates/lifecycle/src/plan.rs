//! From every port's usage and the policy to what should be done.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use portreeve_policy::{Policy, ReclaimMode};
use serde::Serialize;

use portreeve_core::{PortKey, PortUsage};
use portreeve_forecast::Prediction;

use crate::classify::State;
use crate::forecast::{self, ForecastNote};
use crate::resolve::PortPolicy;

/// One port as the agent hands it to [`plan`]: everything it knows, none of
/// which this crate could find out without I/O.
#[derive(Clone, Debug, PartialEq)]
pub struct PortInput {
    /// The port.
    pub key: PortKey,
    /// Its usage so far.
    pub usage: PortUsage,
    /// Something listens on it now.
    pub listening: bool,
    /// When a reclaim closed it, if that reclaim is still in force.
    pub reclaimed_at: Option<Timestamp>,
    /// When the last reclaim of it was undone, if any. The port counts as
    /// unused from then at the earliest: it was closed until that moment, so
    /// nobody *could* use it, and without this an undone port would be
    /// abandoned — and reclaimed again — at once.
    pub reopened_at: Option<Timestamp>,
    /// What its hourly history forecasts from the planning instant, if
    /// there is a history: it keeps a periodic port from being abandoned
    /// between runs and makes a port whose use stopped dormant early
    /// ([`crate::forecast`]).
    pub forecast: Option<Prediction>,
}

impl PortInput {
    /// A port with `usage`, not reclaimed, without a forecast.
    pub fn new(key: PortKey, usage: PortUsage, listening: bool) -> PortInput {
        PortInput {
            key,
            usage,
            listening,
            reclaimed_at: None,
            reopened_at: None,
            forecast: None,
        }
    }

    /// The instant idleness counts from: [`PortUsage::idle_since`], or the last
    /// undo if later.
    pub fn idle_since(&self) -> Timestamp {
        let since = self.usage.idle_since();
        self.reopened_at.map_or(since, |r| since.max(r))
    }
}

/// What to do about a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing.
    None,
    /// Report the port as abandoned, for a person to close.
    RecommendClose,
    /// Remove the port from the enforced ruleset's allowed set.
    Close,
}

impl Action {
    /// The name used in JSON and tables: `none`, `recommend-close`, `close`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::RecommendClose => "recommend-close",
            Action::Close => "close",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an abandoned port is not closed: what held the action back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hold {
    /// A rule allowing it says `keep = true`.
    Keep,
    /// It is the management zone's SSH port.
    ManagementSsh,
    /// The policy says `reclaim = "off"` for it.
    ReclaimOff,
    /// The policy says `reclaim = "recommend"` for it.
    ReclaimRecommend,
    /// No rule opens it in the firewall (not allowed, or on-demand through
    /// `grant`), so there is nothing to remove: only a recommendation.
    NotInFirewall,
    /// Neither allowed nor listening any more: only history remains.
    Gone,
}

impl Hold {
    /// The name used in JSON and tables, e.g. `reclaim-recommend`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::Keep => "keep",
            Hold::ManagementSsh => "management-ssh",
            Hold::ReclaimOff => "reclaim-off",
            Hold::ReclaimRecommend => "reclaim-recommend",
            Hold::NotInFirewall => "not-in-firewall",
            Hold::Gone => "gone",
        }
    }
}

/// The verdict on one port.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// The port.
    pub key: PortKey,
    /// Its state now.
    pub state: State,
    /// Something listens on it now.
    pub listening: bool,
    /// When it last received a new connection, if ever.
    pub last_access: Option<Timestamp>,
    /// The instant its idleness counts from.
    pub idle_since: Timestamp,
    /// How long it has been unused, at the planning instant.
    pub idle: SignedDuration,
    /// What to do.
    pub action: Action,
    /// Why an abandoned port gets less than [`Action::Close`]; `None` when
    /// it is closed, or not abandoned.
    pub hold: Option<Hold>,
    /// When it was reclaimed, for [`State::Reclaimed`].
    pub reclaimed_at: Option<Timestamp>,
    /// What its forecast said and changed, for a port with one that is
    /// not reclaimed.
    pub forecast: Option<ForecastNote>,
    /// The settings it was judged by.
    pub policy: PortPolicy,
}

/// Judges every port in `ports` at `now`, one recommendation per port,
/// sorted by port. The input is the union the agent tracks — everything
/// listening and everything allowed (see [`crate::allowed_ports`]) — one
/// entry per key.
///
/// A port's forecast, when it has one, may keep it from abandoned between
/// the runs of its cycle or make it dormant early ([`crate::forecast`]).
///
/// Only abandoned ports get an action, and never [`Action::Close`] for a
/// port with `keep`, the management zone's SSH, a reclaim mode other than
/// `close`, or no rule opening it in the firewall. A reclaimed port is
/// reported as [`State::Reclaimed`] with no action: it is closed already.
pub fn plan(policy: &Policy, ports: &[PortInput], now: Timestamp) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = ports.iter().map(|p| judge(policy, p, now)).collect();
    out.sort_by_key(|r| r.key);
    out
}

fn judge(policy: &Policy, input: &PortInput, now: Timestamp) -> Recommendation {
    let port_policy = PortPolicy::resolve(policy, input.key);
    let idle_since = input.idle_since();
    let idle = now.duration_since(idle_since);
    let thresholds = &port_policy.thresholds;
    let (computed, forecast) = match &input.forecast {
        Some(p) if input.reclaimed_at.is_none() => {
            let (state, note) = forecast::judge(thresholds.state_after(idle), idle, thresholds, p);
            (state, Some(note))
        }
        _ => (thresholds.state_after(idle), None),
    };
    let (state, action, hold) = if input.reclaimed_at.is_some() {
        (State::Reclaimed, Action::None, None)
    } else if computed != State::Abandoned {
        (computed, Action::None, None)
    } else {
        let (action, hold) = reclaim(&port_policy, input.listening);
        (computed, action, hold)
    };
    Recommendation {
        key: input.key,
        state,
        listening: input.listening,
        last_access: input.usage.last_access,
        idle_since,
        idle,
        action,
        hold,
        reclaimed_at: input.reclaimed_at,
        forecast,
        policy: port_policy,
    }
}

/// The action for an abandoned port, and what held it back from closing.
fn reclaim(p: &PortPolicy, listening: bool) -> (Action, Option<Hold>) {
    if p.keep {
        (Action::None, Some(Hold::Keep))
    } else if p.management_ssh {
        (Action::None, Some(Hold::ManagementSsh))
    } else if p.reclaim == ReclaimMode::Off {
        (Action::None, Some(Hold::ReclaimOff))
    } else if !p.in_firewall && !listening && p.rules.is_empty() {
        (Action::None, Some(Hold::Gone))
    } else if !p.in_firewall {
        (Action::RecommendClose, Some(Hold::NotInFirewall))
    } else if p.reclaim == ReclaimMode::Recommend {
        (Action::RecommendClose, Some(Hold::ReclaimRecommend))
    } else {
        (Action::Close, None)
    }
}

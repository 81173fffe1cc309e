//! What the store keeps, as plain values: the vocabulary shared by the
//! agent, the store trait and every implementation of it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use jiff::Timestamp;
use portreeve_core::{NetnsRef, PortKey, PortUsage, Proto};
use portreeve_flows::FlowAggregate;
use serde::{Deserialize, Serialize};

/// What changed about a listener between two looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A socket started listening.
    NewListener,
    /// A socket stopped listening.
    ListenerGone,
    /// The same socket address is now held by another owner.
    OwnerChanged,
}

impl DriftKind {
    /// Every kind, in display order.
    pub const ALL: [DriftKind; 3] = [
        DriftKind::NewListener,
        DriftKind::ListenerGone,
        DriftKind::OwnerChanged,
    ];

    /// The name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::NewListener => "new_listener",
            DriftKind::ListenerGone => "listener_gone",
            DriftKind::OwnerChanged => "owner_changed",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<DriftKind> {
        DriftKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One listener change, as the agent saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftEvent {
    /// When the agent noticed.
    pub at: Timestamp,
    /// What changed.
    pub kind: DriftKind,
    /// Transport protocol.
    pub protocol: Proto,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// The network namespace, named as the inventory names it.
    pub netns: NetnsRef,
    /// The owner before (`listener_gone`, `owner_changed`).
    pub old_owner: Option<String>,
    /// The owner after (`new_listener`, `owner_changed`).
    pub new_owner: Option<String>,
}

/// A listening socket as the snapshot remembers it: enough to tell, after a
/// restart, which listeners are new and whose owner changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Listener {
    /// Transport protocol.
    pub protocol: Proto,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// The network namespace, named as the inventory names it.
    pub netns: NetnsRef,
    /// Who holds it (a unit, container or process name), if known.
    pub owner: Option<String>,
}

/// New observations of one port's use, merged into what the store has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageUpdate {
    /// The port.
    pub key: PortKey,
    /// When the agent saw the port listening or allowed in this batch; the
    /// stored `first_seen` keeps the earliest.
    pub seen_at: Timestamp,
    /// The latest access observed, if any; the stored one keeps the latest.
    pub last_access: Option<Timestamp>,
    /// New connections since the last update: added, to the port's total
    /// and to the hour of `last_access` (else `seen_at`) in
    /// [`crate::Store::port_hours`].
    pub connections: u64,
    /// Source addresses seen since the last update: counted once each,
    /// exactly up to [`crate::SOURCE_CAP`] per port.
    pub sources: Vec<IpAddr>,
}

impl UsageUpdate {
    /// An update saying only that `key` was seen at `seen_at`.
    pub fn seen(key: PortKey, seen_at: Timestamp) -> UsageUpdate {
        UsageUpdate {
            key,
            seen_at,
            last_access: None,
            connections: 0,
            sources: Vec::new(),
        }
    }
}

/// New connections from one source to one local port, merged into the
/// store's per-source record ([`crate::Store::source_usage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceUpdate {
    /// The client address, or a network the agent already folded it into.
    pub source: ipnet::IpNet,
    /// The local port reached.
    pub key: PortKey,
    /// New connections since the last update: added.
    pub connections: u64,
    /// The first of them; the stored `first_seen` keeps the earliest.
    pub first_seen: Timestamp,
    /// The last of them; the stored `last_seen` keeps the latest.
    pub last_seen: Timestamp,
}

/// A port's usage as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The port.
    pub key: PortKey,
    /// First seen, last access, connections, distinct sources.
    pub usage: PortUsage,
    /// More distinct sources than [`crate::SOURCE_CAP`] were seen:
    /// `usage.distinct_sources` is a lower bound ("at least").
    pub sources_capped: bool,
}

/// One port's connections per hour, as the store keeps them for
/// forecasting (`portreeve predict`, `portreeve anomalies`).
///
/// Only hours with at least one connection are stored: every other hour
/// from `first_seen` on had none (the agent watched the port and counted
/// nothing), so a reader zero-fills the series from `first_seen`'s hour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortHours {
    /// The port.
    pub key: PortKey,
    /// When the agent first saw the port: where its series starts.
    pub first_seen: Timestamp,
    /// `(hour, connections)`, hours counted since the Unix epoch (UTC),
    /// ascending, each with at least one connection.
    pub counts: Vec<(i64, u64)>,
}

/// A port the agent closed because it was abandoned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reclaim {
    /// The store's id for it.
    pub id: i64,
    /// When it was closed.
    pub at: Timestamp,
    /// The port.
    pub key: PortKey,
    /// The ruleset change that closed it: a generation number or ledger
    /// reference, for undo to find.
    pub reference: String,
    /// When it was reopened, if it was.
    pub undone_at: Option<Timestamp>,
}

/// Everything one flush writes, in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Drift events to append.
    pub drift: Vec<DriftEvent>,
    /// When set, the new listener snapshot, replacing the old one whole.
    pub listeners: Option<Vec<Listener>>,
    /// PortUsage to merge.
    pub usage: Vec<UsageUpdate>,
    /// Flow aggregates to merge into the stored ones, by
    /// [`FlowAggregate::merge`].
    pub flows: Vec<FlowAggregate>,
    /// Per-source use to merge, within the store's bound
    /// ([`crate::SqliteStore::set_max_sources`]).
    pub sources: Vec<SourceUpdate>,
}

impl WriteBatch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.drift.is_empty()
            && self.listeners.is_none()
            && self.usage.is_empty()
            && self.flows.is_empty()
            && self.sources.is_empty()
    }
}

/// A scan detection as the store keeps it: what the agent's scan watch
/// decided about one source, what it did, and what was learnt after
/// (enrichment, a capture). Kind, tier and action are kept as their names;
/// the use case above gives them types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDetection {
    /// The store's id for it (ignored when recording one).
    pub id: i64,
    /// The scanning address.
    pub source: IpAddr,
    /// The scan's shape (`vertical`, `horizontal`, `stealth`, `udp`).
    pub kind: String,
    /// Where it was decided (`kernel`, `agent`).
    pub tier: String,
    /// Which detector decided.
    pub detector: String,
    /// The source's first attempt seen.
    pub first_seen: jiff::Timestamp,
    /// Its last attempt seen before the decision.
    pub last_seen: jiff::Timestamp,
    /// Ports probed, sorted (a bounded sample).
    pub ports: Vec<u16>,
    /// How many distinct ports were probed.
    pub port_count: u64,
    /// Addresses probed, sorted (a bounded sample).
    pub addresses: Vec<IpAddr>,
    /// How many distinct addresses were probed.
    pub address_count: u64,
    /// Attempts seen up to the decision.
    pub attempts: u64,
    /// What was done: `block` or `alert`.
    pub action: String,
    /// The ledger entry of the block, when one was made.
    pub block_ledger_index: Option<u64>,
    /// Why, one line each.
    pub evidence: Vec<String>,
    /// Who the source is, as JSON text, once enrichment came back.
    pub enrichment: Option<String>,
    /// The packet capture of the source, once one was started.
    pub capture: Option<PathBuf>,
}

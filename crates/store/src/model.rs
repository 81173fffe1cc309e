//! What the store keeps, as plain values: the vocabulary shared by the
//! agent, the store trait and every implementation of it.

use std::fmt;
use std::net::IpAddr;

use jiff::Timestamp;
use portreeve_core::{NetnsRef, PortKey, PortUsage, Proto};
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
    /// New connections since the last update: added.
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

/// Flow traffic to one server socket over some interval, from a decoder
/// (NetFlow, IPFIX, sFlow, conntrack), merged into the stored aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowUpdate {
    /// The server (destination) address.
    pub server: IpAddr,
    /// Transport protocol.
    pub protocol: Proto,
    /// The server port.
    pub port: u16,
    /// Start of the first flow in the update.
    pub first_seen: Timestamp,
    /// End of the last flow in the update.
    pub last_seen: Timestamp,
    /// Flows: added.
    pub flows: u64,
    /// Packets: added.
    pub packets: u64,
    /// Bytes: added.
    pub bytes: u64,
    /// Client addresses seen: counted once each, exactly up to
    /// [`crate::SOURCE_CAP`] per aggregate. Distinct counts cannot be summed
    /// across updates, so the store needs the addresses, not a count.
    pub clients: Vec<IpAddr>,
    /// A distinct-client count the caller could not give as addresses (a
    /// collector's sketch): the stored count becomes at least this and is
    /// marked as a lower bound.
    pub estimated_clients: Option<u64>,
}

/// Flow traffic to one server socket since the store began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowAggregate {
    /// The server (destination) address.
    pub server: IpAddr,
    /// Transport protocol.
    pub protocol: Proto,
    /// The server port.
    pub port: u16,
    /// Earliest flow start.
    pub first_seen: Timestamp,
    /// Latest flow end.
    pub last_seen: Timestamp,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Distinct client addresses.
    pub distinct_clients: u64,
    /// More clients than [`crate::SOURCE_CAP`] were seen:
    /// `distinct_clients` is a lower bound.
    pub clients_capped: bool,
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
    /// Flow aggregates to merge.
    pub flows: Vec<FlowUpdate>,
}

impl WriteBatch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.drift.is_empty()
            && self.listeners.is_none()
            && self.usage.is_empty()
            && self.flows.is_empty()
    }
}

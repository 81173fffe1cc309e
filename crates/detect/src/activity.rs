//! What a source did, and the detection a detector reports about it.

use std::collections::BTreeSet;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::attempt::{Attempt, Transport};

/// At most this many ports (and addresses) are listed in a detection; the
/// counts say how many there were.
pub const LISTED_AT_MOST: usize = 64;

/// The shape of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanKind {
    /// Many ports on one address.
    Vertical,
    /// Few ports over several addresses.
    Horizontal,
    /// FIN, NULL, Xmas or ACK probes.
    Stealth,
    /// Mostly UDP probes.
    Udp,
}

impl ScanKind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ScanKind::Vertical => "vertical",
            ScanKind::Horizontal => "horizontal",
            ScanKind::Stealth => "stealth",
            ScanKind::Udp => "udp",
        }
    }
}

/// Where a detection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// In nftables, in the packet path.
    Kernel,
    /// By the agent (or `portreeve detect`) over connection outcomes.
    Agent,
}

impl Tier {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Kernel => "kernel",
            Tier::Agent => "agent",
        }
    }
}

/// What was done about a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reported only.
    Alert,
    /// The source was blocked.
    Block,
}

impl Action {
    /// The name used in tables, JSON and the agent's store.
    pub fn name(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Block => "block",
        }
    }
}

/// A source judged to be scanning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// The scanning address.
    pub source: IpAddr,
    /// The scan's shape.
    pub kind: ScanKind,
    /// Which detector decided (`trw`, `zeek-like`, `crowdsec-like`).
    pub detector: &'static str,
    /// The source's first attempt.
    pub first_seen: Timestamp,
    /// The source's last attempt seen so far.
    pub last_seen: Timestamp,
    /// Ports probed, sorted, at most `LISTED_AT_MOST`.
    pub ports: Vec<u16>,
    /// How many distinct ports were probed.
    pub port_count: usize,
    /// Addresses probed, sorted, at most `LISTED_AT_MOST`.
    pub addresses: Vec<IpAddr>,
    /// How many distinct addresses were probed.
    pub address_count: usize,
    /// Attempts the detector counted up to and including the deciding one.
    pub attempts_before_decision: u64,
    /// Always [`Tier::Agent`] for these detectors.
    pub tier: Tier,
    /// Why, in words.
    pub evidence: String,
}

/// One source's activity: every attempt, first contact or not.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    first_seen: Timestamp,
    last_seen: Timestamp,
    ports: BTreeSet<u16>,
    addresses: BTreeSet<IpAddr>,
    stealth: u64,
    udp: u64,
    tcp: u64,
}

impl Activity {
    pub(crate) fn new(at: Timestamp) -> Self {
        Self {
            first_seen: at,
            last_seen: at,
            ports: BTreeSet::new(),
            addresses: BTreeSet::new(),
            stealth: 0,
            udp: 0,
            tcp: 0,
        }
    }

    pub(crate) fn record(&mut self, attempt: &Attempt) {
        self.first_seen = self.first_seen.min(attempt.at);
        self.last_seen = self.last_seen.max(attempt.at);
        self.ports.insert(attempt.port);
        self.addresses.insert(attempt.destination);
        if attempt.probe.is_stealth() {
            self.stealth += 1;
        }
        match attempt.transport {
            Transport::Tcp => self.tcp += 1,
            Transport::Udp => self.udp += 1,
        }
    }

    /// The scan's shape: any stealth probe makes it stealth (no client
    /// sends one); then UDP if most probes were; then horizontal if it
    /// spread over more addresses than ports, else vertical.
    pub(crate) fn kind(&self) -> ScanKind {
        if self.stealth > 0 {
            ScanKind::Stealth
        } else if self.udp > self.tcp {
            ScanKind::Udp
        } else if self.addresses.len() >= 2 && self.addresses.len() > self.ports.len() {
            ScanKind::Horizontal
        } else {
            ScanKind::Vertical
        }
    }

    /// The detection of `source` with this activity.
    pub(crate) fn detection(&self, source: IpAddr, decision: &Decision) -> Detection {
        Detection {
            source,
            kind: self.kind(),
            detector: decision.detector,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            ports: self.ports.iter().copied().take(LISTED_AT_MOST).collect(),
            port_count: self.ports.len(),
            addresses: self
                .addresses
                .iter()
                .copied()
                .take(LISTED_AT_MOST)
                .collect(),
            address_count: self.addresses.len(),
            attempts_before_decision: decision.attempts,
            tier: Tier::Agent,
            evidence: decision.evidence.clone(),
        }
    }
}

/// What `attempts`, all by `source`, add up to — kind, ports, addresses,
/// first and last seen (`when_none` for both when there are none) — for a
/// decision made elsewhere, such as the kernel's: the caller fills in the
/// detector, tier, count and evidence.
pub fn summarize(source: IpAddr, attempts: &[Attempt], when_none: Timestamp) -> Detection {
    let mut activity = Activity::new(attempts.first().map_or(when_none, |a| a.at));
    for attempt in attempts {
        activity.record(attempt);
    }
    let decision = Decision {
        detector: "",
        attempts: attempts.len() as u64,
        evidence: String::new(),
    };
    activity.detection(source, &decision)
}

/// A detector's verdict on one source.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub(crate) detector: &'static str,
    pub(crate) attempts: u64,
    pub(crate) evidence: String,
}

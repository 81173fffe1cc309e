//! What an alert says: a scan detection, a block, unblock or expiry, or an
//! hour of a port's use that its history makes implausible.
//!
//! The types are this crate's own, not the detector's: the sinks format
//! alerts for receivers outside portreeve, and keeping the shape here means a
//! change inside the detector cannot silently change what a SIEM receives.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_core::Proto;
use serde::{Deserialize, Serialize};

/// The scan kinds, tiers and actions are the detection's own (the names
/// the agent records too).
pub use portreeve_detect::{Action, ScanKind, Tier};

/// One event for the sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Alert {
    /// A source was found scanning the host.
    Detection(DetectionAlert),
    /// A source was blocked, unblocked, or its block expired.
    Block(BlockAlert),
    /// A port's connections in one hour were implausible for it.
    #[serde(rename = "usage-anomaly")]
    UsageAnomaly(UsageAnomalyAlert),
}

/// A scan detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionAlert {
    /// The scanning address.
    pub source: IpAddr,
    /// What kind of scan it was.
    pub kind: ScanKind,
    /// When the first probe that counted was seen.
    pub first_seen: Timestamp,
    /// When the probe that decided was seen.
    pub last_seen: Timestamp,
    /// The distinct ports probed, in the order they were first probed.
    pub ports: Vec<u16>,
    /// Probes counted before the decision.
    pub attempts: u32,
    /// Which tier decided.
    pub tier: Tier,
    /// What was done about it.
    pub action: Action,
    /// Why the detector decided, one finding a line (for a human).
    pub evidence: Vec<String>,
}

/// A change to the blocklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAlert {
    /// Block, unblock or expiry.
    pub event: BlockEvent,
    /// The address (as a /32 or /128) or network concerned.
    pub target: IpNet,
    /// When it happened.
    pub at: Timestamp,
    /// How long the block lasts, for a block.
    pub ttl_seconds: Option<u64>,
    /// Why, in the actor's words or the detector's.
    pub reason: String,
    /// Who did it: `agent` for automatic blocks and expiries, else the operator.
    pub actor: String,
}

/// An hour in which a port's new connections were implausible for that
/// port at that point of its cycle (`portreeve anomalies`, judged by the
/// agent as each hour closes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageAnomalyAlert {
    /// The port's protocol.
    pub protocol: Proto,
    /// The port.
    pub port: u16,
    /// The start of the hour (UTC); it lasted an hour.
    pub start: Timestamp,
    /// New connections counted in the hour.
    pub observed: u64,
    /// The fewest connections seen at this point of the port's cycle.
    pub expected_low: u64,
    /// The most connections that were plausible.
    pub expected_high: u64,
    /// Why the hour is implausible.
    pub kind: AnomalyKind,
}

/// Why a [`UsageAnomalyAlert`]'s hour is implausible. The forecast's own
/// kinds, restated here so that a change there cannot silently change what
/// receivers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// Many times the connections usual at this hour.
    Burst,
    /// Connections at an hour of the port's cycle never used before.
    UnusedHour,
    /// Many times the connections of a port that has no cycle.
    QuietPortBusy,
}

impl AnomalyKind {
    /// The name in JSON and labels: `burst`, `unused-hour`, `quiet-port-busy`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::Burst => "burst",
            AnomalyKind::UnusedHour => "unused-hour",
            AnomalyKind::QuietPortBusy => "quiet-port-busy",
        }
    }

    /// What it means, in words.
    fn describe(self) -> &'static str {
        match self {
            AnomalyKind::Burst => "a burst many times the usual",
            AnomalyKind::UnusedHour => "use at an hour the port is never used",
            AnomalyKind::QuietPortBusy => "a quiet port suddenly busy",
        }
    }
}

impl UsageAnomalyAlert {
    /// The end of the hour.
    pub fn end(&self) -> Timestamp {
        self.start
            .checked_add(SignedDuration::from_hours(1))
            .unwrap_or(self.start)
    }
}

/// The change a [`BlockAlert`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockEvent {
    /// The target was added to the blocklist.
    Block,
    /// The target was removed by hand.
    Unblock,
    /// The target's block ran out.
    Expiry,
}

/// How urgent an alert is; mapped to each format's own scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A block ended.
    Low,
    /// A detection only alerted on, a block, or a usage anomaly.
    Medium,
    /// A detection that blocked its source.
    High,
}

impl Severity {
    /// The RFC 5424 severity: informational, notice, warning.
    pub fn syslog_code(self) -> u8 {
        match self {
            Severity::Low => 6,
            Severity::Medium => 5,
            Severity::High => 4,
        }
    }

    /// The CEF severity, 0 (lowest) to 10.
    pub fn cef(self) -> u8 {
        match self {
            Severity::Low => 3,
            Severity::Medium => 5,
            Severity::High => 8,
        }
    }

    /// The lower-case word for it, as in the webhook body.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl BlockEvent {
    /// The lower-case word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockEvent::Block => "block",
            BlockEvent::Unblock => "unblock",
            BlockEvent::Expiry => "expiry",
        }
    }
}

impl BlockAlert {
    /// The single address blocked, if the target is one host.
    pub fn host(&self) -> Option<IpAddr> {
        (self.target.prefix_len() == self.target.max_prefix_len()).then(|| self.target.addr())
    }

    /// The target as a person writes it: `192.0.2.7`, or `192.0.2.0/24`.
    fn target_text(&self) -> String {
        self.host()
            .map_or_else(|| self.target.to_string(), |addr| addr.to_string())
    }
}

impl Alert {
    /// When the alert's event happened (a detection's decision time, the
    /// start of an anomalous hour).
    pub fn time(&self) -> Timestamp {
        match self {
            Alert::Detection(d) => d.last_seen,
            Alert::Block(b) => b.at,
            Alert::UsageAnomaly(u) => u.start,
        }
    }

    /// How urgent it is.
    pub fn severity(&self) -> Severity {
        match self {
            Alert::Detection(d) if d.action == Action::Block => Severity::High,
            Alert::Detection(_) => Severity::Medium,
            Alert::Block(b) if b.event == BlockEvent::Block => Severity::Medium,
            Alert::Block(_) => Severity::Low,
            Alert::UsageAnomaly(_) => Severity::Medium,
        }
    }

    /// A stable identifier of the alert's class (`portscan.vertical`,
    /// `block`, `usage-anomaly`, …): CEF's signature id, syslog's MSGID,
    /// ECS's `rule.name`.
    pub fn signature_id(&self) -> &'static str {
        match self {
            Alert::Detection(d) => match d.kind {
                ScanKind::Vertical => "portscan.vertical",
                ScanKind::Horizontal => "portscan.horizontal",
                ScanKind::Stealth => "portscan.stealth",
                ScanKind::Udp => "portscan.udp",
            },
            Alert::Block(b) => b.event.as_str(),
            Alert::UsageAnomaly(_) => "usage-anomaly",
        }
    }

    /// A short title for the class (CEF's name field).
    pub fn title(&self) -> String {
        match self {
            Alert::Detection(d) => format!("Port scan ({})", d.kind.name()),
            Alert::Block(b) => match b.event {
                BlockEvent::Block => "Source blocked".to_owned(),
                BlockEvent::Unblock => "Source unblocked".to_owned(),
                BlockEvent::Expiry => "Block expired".to_owned(),
            },
            Alert::UsageAnomaly(u) => format!("Usage anomaly ({})", u.kind.as_str()),
        }
    }

    /// One sentence for a human.
    pub fn message(&self) -> String {
        match self {
            Alert::Detection(d) => format!(
                "{} port scan from {} ({} tier): {} ports in {} attempts, {}",
                d.kind.name(),
                d.source,
                d.tier.name(),
                d.ports.len(),
                d.attempts,
                match d.action {
                    Action::Alert => "alerted",
                    Action::Block => "blocked",
                }
            ),
            Alert::Block(b) => {
                let target = b.target_text();
                match (b.event, b.ttl_seconds) {
                    (BlockEvent::Block, Some(ttl)) => {
                        format!("{target} blocked for {ttl}s by {}: {}", b.actor, b.reason)
                    }
                    (BlockEvent::Block, None) => {
                        format!("{target} blocked by {}: {}", b.actor, b.reason)
                    }
                    (BlockEvent::Unblock, _) => {
                        format!("{target} unblocked by {}: {}", b.actor, b.reason)
                    }
                    (BlockEvent::Expiry, _) => format!("block of {target} expired"),
                }
            }
            Alert::UsageAnomaly(u) => format!(
                "{}/{}: {} new connections in the hour from {}, {} expected: {}",
                u.port,
                u.protocol,
                u.observed,
                u.start,
                if u.expected_high == 0 {
                    "none".to_owned()
                } else {
                    format!("{} to {}", u.expected_low, u.expected_high)
                },
                u.kind.describe()
            ),
        }
    }
}

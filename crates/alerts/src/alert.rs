//! What an alert says: a scan detection, or a block, unblock or expiry.
//!
//! The types are this crate's own, not the detector's: the sinks format
//! alerts for receivers outside portreeve, and keeping the shape here means a
//! change inside the detector cannot silently change what a SIEM receives.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
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
    /// A detection only alerted on, or a block.
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
    /// When the alert's event happened (a detection's decision time).
    pub fn time(&self) -> Timestamp {
        match self {
            Alert::Detection(d) => d.last_seen,
            Alert::Block(b) => b.at,
        }
    }

    /// How urgent it is.
    pub fn severity(&self) -> Severity {
        match self {
            Alert::Detection(d) if d.action == Action::Block => Severity::High,
            Alert::Detection(_) => Severity::Medium,
            Alert::Block(b) if b.event == BlockEvent::Block => Severity::Medium,
            Alert::Block(_) => Severity::Low,
        }
    }

    /// A stable identifier of the alert's class (`portscan.vertical`,
    /// `block`, …): CEF's signature id, syslog's MSGID, ECS's `rule.name`.
    pub fn signature_id(&self) -> &'static str {
        match self {
            Alert::Detection(d) => match d.kind {
                ScanKind::Vertical => "portscan.vertical",
                ScanKind::Horizontal => "portscan.horizontal",
                ScanKind::Stealth => "portscan.stealth",
                ScanKind::Udp => "portscan.udp",
            },
            Alert::Block(b) => b.event.as_str(),
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
        }
    }
}

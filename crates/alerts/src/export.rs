//! What `portreeve export` sends: a finding of a check, a listener drift
//! event, a change from the ledger, or a scan detection, each with the
//! host it is about and when it happened.
//!
//! Like [`crate::Alert`], these types are this crate's own: they are what
//! receivers outside portreeve get, so a change in the store or the ledger
//! cannot silently change what a SIEM receives. The service layer
//! (`portreeve_app::export`) fills them from the host's state; the ECS
//! mapping ([`crate::ecs::record_document`]), the syslog framing
//! ([`crate::syslog::SyslogFormat::format_record`]) and the Splunk HTTP
//! Event Collector ([`crate::splunk_hec`]) turn them into what each
//! receiver reads.

use std::net::IpAddr;

use jiff::Timestamp;
use portreeve_core::{Finding, Proto};

use crate::alert::{DetectionAlert, Severity};

/// One exported event.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The host it is about (this host's name).
    pub host: String,
    /// When it happened; for a finding, when the check judged.
    pub time: Timestamp,
    /// What it is.
    pub event: RecordEvent,
}

/// The four kinds of exported event.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordEvent {
    /// A finding, as `portreeve check` computes it.
    Finding(Box<Finding>),
    /// A listener appeared, went away or changed owner.
    Drift(DriftRecord),
    /// An entry of the ledger: a change someone (or the agent) made.
    Change(ChangeRecord),
    /// A scan the agent detected.
    Detection(DetectionAlert),
}

/// A listener change the agent saw.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRecord {
    /// `new_listener`, `listener_gone` or `owner_changed`.
    pub kind: String,
    /// The listener's protocol.
    pub protocol: Proto,
    /// Its local address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// Its network namespace, as the inventory names it.
    pub netns: String,
    /// The owner before, if there was one.
    pub old_owner: Option<String>,
    /// The owner after, if there is one.
    pub new_owner: Option<String>,
}

/// A ledger entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Its position in the ledger, from 0.
    pub index: u64,
    /// What was done (`apply`, `grant`, `block`, …).
    pub action: String,
    /// Who did it.
    pub actor: String,
    /// What was acted on.
    pub object: String,
    /// Why, in the actor's words.
    pub reason: Option<String>,
    /// The approval (proposal) the change rests on.
    pub approval: Option<String>,
}

impl Record {
    /// The kind's name, as `--what` spells it in the singular and as
    /// `event.dataset` ends: `finding`, `drift`, `change`, `detection`.
    pub fn kind(&self) -> &'static str {
        match &self.event {
            RecordEvent::Finding(_) => "finding",
            RecordEvent::Drift(_) => "drift",
            RecordEvent::Change(_) => "change",
            RecordEvent::Detection(_) => "detection",
        }
    }

    /// How urgent it is, on the alerts' scale: a finding's own severity
    /// (critical and high as high, info and low as low); a new listener
    /// or a changed owner medium, a listener gone low; a change low; a
    /// detection as its alert.
    pub fn severity(&self) -> Severity {
        use portreeve_core::Severity as S;
        match &self.event {
            RecordEvent::Finding(f) => match f.severity {
                S::Critical | S::High => Severity::High,
                S::Medium => Severity::Medium,
                S::Low | S::Info => Severity::Low,
            },
            RecordEvent::Drift(d) if d.kind == "listener_gone" => Severity::Low,
            RecordEvent::Drift(_) => Severity::Medium,
            RecordEvent::Change(_) => Severity::Low,
            RecordEvent::Detection(d) => crate::Alert::Detection(d.clone()).severity(),
        }
    }

    /// One line for humans.
    pub fn message(&self) -> String {
        match &self.event {
            RecordEvent::Finding(f) => f.message.clone(),
            RecordEvent::Drift(d) => {
                let owner = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
                let at = format!("{}:{}/{}", d.address, d.port, d.protocol.as_str());
                match d.kind.as_str() {
                    "new_listener" => format!("new listener {at} ({})", owner(&d.new_owner)),
                    "listener_gone" => format!("listener gone {at} ({})", owner(&d.old_owner)),
                    _ => format!(
                        "listener {at} changed owner from {} to {}",
                        owner(&d.old_owner),
                        owner(&d.new_owner)
                    ),
                }
            }
            RecordEvent::Change(c) => {
                format!(
                    "ledger entry {}: {} {} by {}",
                    c.index, c.action, c.object, c.actor
                )
            }
            RecordEvent::Detection(d) => crate::Alert::Detection(d.clone()).message(),
        }
    }

    /// A stable identifier of the event's class, used as the syslog MSGID
    /// and ECS `rule.name`/`event.action`: the finding's code (`PRV001`),
    /// the drift kind, `change.ACTION`, or the detection's signature.
    pub fn signature(&self) -> String {
        match &self.event {
            RecordEvent::Finding(f) => f.kind.code().to_owned(),
            RecordEvent::Drift(d) => d.kind.clone(),
            RecordEvent::Change(c) => format!("change.{}", c.action),
            RecordEvent::Detection(d) => {
                crate::Alert::Detection(d.clone()).signature_id().to_owned()
            }
        }
    }
}

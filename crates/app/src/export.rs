//! What `portreeve export` sends, gathered from this host's state: the
//! findings a `check` gives now (judged exactly as [`check::check`] judges,
//! recording nothing), the agent's listener drift events and scan
//! detections from its store, and the changes in the ledger — each as a
//! [`Record`] that `portreeve_alerts` turns into an ECS document, a Splunk
//! HEC event or a syslog message.
//!
//! Gathering changes nothing: the ledger is read as it lies on disk, and a
//! host without a store or ledger simply has no drift, detections or
//! changes to send.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use portreeve_alerts::DetectionAlert;
use portreeve_alerts::export::{ChangeRecord, DriftRecord, Record, RecordEvent};
use portreeve_ledger::{Entry, store};
use portreeve_store::Store as _;

use crate::actor::Actor;
use crate::check::{self, CheckRequest, Sockets};
use crate::detections;
use crate::error::AppError;
use crate::policy;
use crate::state_dir::StateDir;

/// One kind of event to export, as `--what` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum What {
    /// The findings of a check of this host now.
    Findings,
    /// The agent's listener drift events.
    Drift,
    /// The ledger's entries.
    Changes,
    /// The agent's scan detections.
    Detections,
}

impl What {
    /// Every kind, in the order they are exported.
    pub const ALL: [What; 4] = [What::Findings, What::Drift, What::Changes, What::Detections];

    /// The name `--what` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            What::Findings => "findings",
            What::Drift => "drift",
            What::Changes => "changes",
            What::Detections => "detections",
        }
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for What {
    type Err = String;

    fn from_str(s: &str) -> Result<What, String> {
        What::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                format!("unknown kind {s:?}: expected findings, drift, changes or detections")
            })
    }
}

/// What to gather.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Only events at or after this time (findings are always now).
    pub since: Option<Timestamp>,
    /// Which kinds; every kind when empty.
    pub what: BTreeSet<What>,
}

/// The records of the kinds `request` names, kind by kind (findings,
/// drift, changes, detections), each kind oldest first.
pub fn gather(state: &StateDir, request: &ExportRequest) -> Result<Vec<Record>, AppError> {
    let host = host_name();
    let wanted = |w| request.what.is_empty() || request.what.contains(&w);
    let in_period = |t: Timestamp| request.since.is_none_or(|s| t >= s);
    let mut records = Vec::new();
    let mut push = |time, event| {
        records.push(Record {
            host: host.clone(),
            time,
            event,
        })
    };
    if wanted(What::Findings) {
        let now = Timestamp::now();
        for finding in findings(state)? {
            push(now, RecordEvent::Finding(Box::new(finding)));
        }
    }
    if wanted(What::Drift) && state.has_store() {
        let mut events = state.with_store(|s| s.drift_events(request.since, usize::MAX))?;
        events.reverse();
        for e in events {
            let drift = DriftRecord {
                kind: e.kind.as_str().to_owned(),
                protocol: e.protocol,
                address: e.address,
                port: e.port,
                netns: e.netns.to_string(),
                old_owner: e.old_owner,
                new_owner: e.new_owner,
            };
            push(e.at, RecordEvent::Drift(drift));
        }
    }
    if wanted(What::Changes) && state.has_ledger() {
        for entry in ledger_entries(state)?
            .into_iter()
            .filter(|e| in_period(e.time))
        {
            let change = ChangeRecord {
                index: entry.index,
                action: entry.action,
                actor: entry.actor,
                object: entry.object,
                reason: entry.reason,
                approval: entry.approval,
            };
            push(entry.time, RecordEvent::Change(change));
        }
    }
    if wanted(What::Detections) {
        for d in detections::list(state)?
            .into_iter()
            .filter(|d| in_period(d.last_seen))
        {
            let alert = DetectionAlert {
                source: d.source,
                kind: d.kind,
                first_seen: d.first_seen,
                last_seen: d.last_seen,
                ports: d.ports,
                attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
                tier: d.tier,
                action: d.action,
                evidence: d.evidence,
            };
            push(alert.last_seen, RecordEvent::Detection(alert));
        }
    }
    Ok(records)
}

/// The findings `portreeve check` gives for this host now, by the policy
/// in effect (else the default file, else the baseline); not recorded.
fn findings(state: &StateDir) -> Result<Vec<portreeve_core::Finding>, AppError> {
    let report = check::check(
        state,
        CheckRequest {
            policy: policy::for_judging(state, None)?,
            sockets: Sockets::Live { all_netns: false },
            scan: None,
            record: false,
        },
        // Nothing is recorded, so no actor is named anywhere.
        &Actor::of_this_process(),
    )?;
    Ok(report.findings)
}

/// Every entry of the ledger, as it lies on disk; lines that do not parse
/// are `portreeve ledger verify`'s to report, not an export's.
fn ledger_entries(state: &StateDir) -> Result<Vec<Entry>, AppError> {
    let dir = state.existing_ledger_dir()?;
    let bytes = store::entries_bytes(&dir)?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| Entry::parse(line).ok())
        .collect())
}

/// This host's name, as the kernel has it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names_and_others_are_refused() {
        for what in What::ALL {
            assert_eq!(what.as_str().parse::<What>(), Ok(what));
        }
        let err = "finding".parse::<What>().unwrap_err();
        assert!(err.contains("expected findings, drift"), "{err}");
    }

    #[test]
    fn a_fresh_host_has_no_drift_changes_or_detections_and_gathering_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let state = StateDir::open(&root);
        let request = ExportRequest {
            since: None,
            what: [What::Drift, What::Changes, What::Detections].into(),
        };
        assert!(gather(&state, &request).unwrap().is_empty());
        assert!(!root.exists(), "gathering created the state directory");
    }
}

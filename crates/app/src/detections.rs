//! Scan detections: what the agent's scan watch decided about a source
//! (kernel tier: the kernel blocked it; agent tier: TRW over connection
//! outcomes), what it did (`block` or `alert`), and what was learnt after
//! (who the source is, a packet capture). Kept in the agent's store, listed
//! by `portreeve detections`.
//!
//! A detection is an observation, not a change: the block it led to is the
//! change, and is in the ledger (`block_ledger_index` names its entry).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use portreeve_detect::{Action, Detection, ScanKind, Tier};
use portreeve_store::{Store, StoreError, StoredDetection};
use serde::Serialize;

use crate::error::AppError;
use crate::state_dir::StateDir;

/// A detection as recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectionRecord {
    /// The store's id for it.
    pub id: i64,
    /// The scanning address.
    pub source: IpAddr,
    /// The scan's shape.
    pub kind: ScanKind,
    /// Where it was decided.
    pub tier: Tier,
    /// Which detector decided (`trw`, or `nftables` for the kernel tier).
    pub detector: String,
    /// The source's first attempt seen.
    pub first_seen: Timestamp,
    /// Its last attempt seen before the decision.
    pub last_seen: Timestamp,
    /// Ports probed, sorted, the first 64.
    pub ports: Vec<u16>,
    /// How many distinct ports were probed.
    pub port_count: usize,
    /// Addresses probed, sorted, the first 64.
    pub addresses: Vec<IpAddr>,
    /// How many distinct addresses were probed.
    pub address_count: usize,
    /// The source's attempts seen up to the decision.
    #[serde(rename = "attempts_before_decision")]
    pub attempts: u64,
    /// Blocked or only reported.
    pub action: Action,
    /// The ledger entry of the block made (`block` for the agent tier,
    /// `scan-block` for the kernel tier).
    pub block_ledger_index: Option<u64>,
    /// Why, one line each: the detector's reasoning, then what happened
    /// (a refused block says why it was refused).
    pub evidence: Vec<String>,
    /// Who the source is, once enrichment answered.
    pub enrichment: Option<serde_json::Value>,
    /// The packet capture of the source, once one was started.
    pub capture: Option<PathBuf>,
}

/// A detection's evidence, one line each: the detector's reasoning (if it
/// gave any), then `beyond` (what happened after, such as why a block was
/// refused). What is recorded and what the responder alerts on.
pub fn evidence(d: &Detection, beyond: &[String]) -> Vec<String> {
    std::iter::once(d.evidence.clone())
        .filter(|e| !e.is_empty())
        .chain(beyond.iter().cloned())
        .collect()
}

/// Records detection `d` of `tier`, what was done (`action`) and the
/// block's ledger entry, with `evidence` as [`evidence`] builds it.
/// Returns its id, which [`attach_enrichment`] and [`attach_capture`]
/// take.
pub fn record(
    state: &StateDir,
    d: &Detection,
    tier: Tier,
    action: Action,
    block_ledger_index: Option<u64>,
    evidence: Vec<String>,
) -> Result<i64, AppError> {
    let stored = StoredDetection {
        id: 0,
        source: d.source,
        kind: d.kind.name().to_string(),
        tier: tier.name().to_string(),
        detector: d.detector.to_string(),
        first_seen: d.first_seen,
        last_seen: d.last_seen,
        ports: d.ports.clone(),
        port_count: d.port_count as u64,
        addresses: d.addresses.clone(),
        address_count: d.address_count as u64,
        attempts: d.attempts_before_decision,
        action: action.name().to_string(),
        block_ledger_index,
        evidence,
        enrichment: None,
        capture: None,
    };
    state.with_store(|s| s.record_detection(&stored))
}

/// Attaches what enrichment learnt about detection `id`'s source.
pub fn attach_enrichment(
    state: &StateDir,
    id: i64,
    enrichment: &serde_json::Value,
) -> Result<(), AppError> {
    let json = enrichment.to_string();
    found(
        id,
        state.with_store(|s| s.attach_detection_enrichment(id, &json))?,
    )
}

/// Attaches the packet capture started for detection `id`.
pub fn attach_capture(state: &StateDir, id: i64, path: &Path) -> Result<(), AppError> {
    found(
        id,
        state.with_store(|s| s.attach_detection_capture(id, path))?,
    )
}

fn found(id: i64, changed: bool) -> Result<(), AppError> {
    if changed {
        Ok(())
    } else {
        Err(AppError::Invalid(format!("no detection {id}")))
    }
}

/// Every detection recorded, by first seen; none when the agent never ran
/// here (listing creates nothing).
pub fn list(state: &StateDir) -> Result<Vec<DetectionRecord>, AppError> {
    if !state.has_store() {
        return Ok(Vec::new());
    }
    let stored = state.with_store(|s| s.detections())?;
    stored
        .into_iter()
        .map(typed)
        .collect::<Result<_, _>>()
        .map_err(AppError::store(state.store_file()))
}

/// A stored detection with its names read back as types. A name this
/// build does not know (a damaged store, or a newer portreeve's) is an
/// error naming the field and the value, never taken for another.
fn typed(s: StoredDetection) -> Result<DetectionRecord, StoreError> {
    let corrupt =
        |what: &str, text: &str| StoreError::Corrupt(format!("detection {what} `{text}`"));
    let named = |text: &str| serde_json::Value::String(text.to_string());
    let kind = serde_json::from_value(named(&s.kind)).map_err(|_| corrupt("kind", &s.kind))?;
    let tier = serde_json::from_value(named(&s.tier)).map_err(|_| corrupt("tier", &s.tier))?;
    let action =
        serde_json::from_value(named(&s.action)).map_err(|_| corrupt("action", &s.action))?;
    let enrichment = s
        .enrichment
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|_| corrupt("enrichment", s.enrichment.as_deref().unwrap_or_default()))?;
    Ok(DetectionRecord {
        id: s.id,
        source: s.source,
        kind,
        tier,
        detector: s.detector,
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        ports: s.ports,
        port_count: usize::try_from(s.port_count).unwrap_or(usize::MAX),
        addresses: s.addresses,
        address_count: usize::try_from(s.address_count).unwrap_or(usize::MAX),
        attempts: s.attempts,
        action,
        block_ledger_index: s.block_ledger_index,
        evidence: s.evidence,
        enrichment,
        capture: s.capture,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(source: &str, first: &str) -> Detection {
        let first_seen: Timestamp = first.parse().unwrap();
        Detection {
            source: source.parse().unwrap(),
            kind: ScanKind::Horizontal,
            detector: "trw",
            first_seen,
            last_seen: first_seen + jiff::SignedDuration::from_secs(9),
            ports: vec![8080],
            port_count: 1,
            addresses: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
            address_count: 6,
            attempts_before_decision: 4,
            tier: Tier::Agent,
            evidence: "TRW: 4 first contacts failed".into(),
        }
    }

    #[test]
    fn recorded_detections_come_back_typed_by_first_seen_with_what_was_attached() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        assert!(list(&state).unwrap().is_empty());
        assert!(!state.has_store(), "listing creates nothing");
        let refused = ["not blocked: 10.9.0.2 is in the management zone".to_string()];
        let agent = scan("10.9.0.2", "2027-01-01T10:05:00Z");
        let lines = evidence(&agent, &refused);
        let late = record(&state, &agent, Tier::Agent, Action::Alert, None, lines).unwrap();
        let mut kernel = scan("2001:db8::9", "2027-01-01T10:00:00Z");
        kernel.detector = "nftables";
        kernel.evidence = String::new();
        assert!(evidence(&kernel, &[]).is_empty(), "no empty line");
        let early = record(
            &state,
            &kernel,
            Tier::Kernel,
            Action::Block,
            Some(12),
            vec![],
        )
        .unwrap();
        attach_enrichment(&state, late, &serde_json::json!({"rdns": "scan.example"})).unwrap();
        attach_capture(&state, early, Path::new("/captures/a.pcap")).unwrap();

        let all = list(&state).unwrap();
        assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), [early, late]);
        let (k, a) = (&all[0], &all[1]);
        assert_eq!(
            (k.tier, k.kind, k.action),
            (Tier::Kernel, ScanKind::Horizontal, Action::Block)
        );
        assert_eq!((k.block_ledger_index, k.evidence.len()), (Some(12), 0));
        assert_eq!(k.capture.as_deref(), Some(Path::new("/captures/a.pcap")));
        assert_eq!(
            (a.tier, a.action, a.attempts),
            (Tier::Agent, Action::Alert, 4)
        );
        assert_eq!(
            a.evidence,
            [
                "TRW: 4 first contacts failed",
                "not blocked: 10.9.0.2 is in the management zone"
            ]
        );
        assert_eq!(
            a.enrichment,
            Some(serde_json::json!({"rdns": "scan.example"}))
        );
        assert_eq!((a.port_count, a.address_count), (1, 6));
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(json["kind"], "horizontal");
        assert_eq!(json["attempts_before_decision"], 4);
        assert_eq!(json["action"], "alert");
        assert_eq!(serde_json::to_value(k).unwrap()["action"], "block");
    }

    #[test]
    fn an_unknown_detection_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        assert!(matches!(
            attach_capture(&state, 7, Path::new("/x.pcap")),
            Err(AppError::Invalid(m)) if m == "no detection 7"
        ));
    }

    /// An action this build does not know, stored by a newer portreeve or
    /// a damaged store, is not listed as something else: listing fails,
    /// naming the store, the field and the value.
    #[test]
    fn an_unknown_stored_action_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        let d = scan("10.9.0.2", "2027-01-01T10:05:00Z");
        let stored = StoredDetection {
            id: 0,
            source: d.source,
            kind: "horizontal".into(),
            tier: "agent".into(),
            detector: "trw".into(),
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            ports: d.ports,
            port_count: 1,
            addresses: d.addresses,
            address_count: 2,
            attempts: 4,
            action: "quarantine".into(),
            block_ledger_index: None,
            evidence: Vec::new(),
            enrichment: None,
            capture: None,
        };
        state.with_store(|s| s.record_detection(&stored)).unwrap();
        let error = list(&state).expect_err("an unknown action is not listed");
        let said = error.to_string();
        assert!(said.contains("detection action `quarantine`"), "{said}");
        assert!(
            said.contains(&state.store_file().display().to_string()),
            "{said}"
        );
    }
}

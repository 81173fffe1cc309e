//! What the agent does after a scan detection, besides recording it and
//! blocking: alerts to the configured sinks (which also take the usage
//! anomalies of [`crate::usage_anomalies`]), a packet capture of the
//! source, and source tracing (reverse DNS, ASN and country, RDAP).
//!
//! [`Responder::respond`] returns at once, whatever the receivers, the
//! resolver or the registry do: every alert sink has its own bounded queue
//! and thread (`portreeve_alerts`), a capture runs on a thread of its own
//! (`portreeve_capture`), and enrichment runs on one worker thread fed by a
//! queue of [`ENRICHMENT_QUEUE`] requests; a request beyond that is
//! dropped and counted ([`Responder::enrichments_dropped`]), as enrichment
//! only adds to a detection that is already recorded and alerted on. What
//! the capture and the enrichment find goes back to the caller through the
//! callbacks given to [`Responder::start`], keyed by the detection's id.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_alerts::{
    Action, Alert, Alerts, BlockAlert, BlockEvent, DetectionAlert, UsageAnomalyAlert,
};
use portreeve_capture::Captures;
use portreeve_detect::{Detection, Tier};
use portreeve_trace::{Enricher, Enrichment};

use crate::config::DetectionResponse;
use crate::metrics::Metrics;

/// Enrichment requests waiting at most; each takes up to the `[trace]`
/// budget (2 s by default), so 64 is two minutes of work at worst, more
/// than a burst of detections needs, and a flood past it is dropped rather
/// than answered minutes late.
pub const ENRICHMENT_QUEUE: usize = 64;

/// A detection the agent has recorded and acted on, for the responder.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The detection's id in the store (`portreeve_app::detections`).
    pub id: i64,
    /// What the detector found.
    pub detection: Detection,
    /// The tier that decided (the detection's own for the agent tier;
    /// `Kernel` for a block the kernel made).
    pub tier: Tier,
    /// Blocked, or alerted on only.
    pub action: Action,
    /// The block made, if one was.
    pub block: Option<BlockMade>,
    /// The evidence lines as recorded, which the alert carries:
    /// `portreeve_app::detections::evidence` builds them (the detector's
    /// line, then for instance why a block was refused).
    pub evidence: Vec<String>,
}

/// A block the agent made (or the kernel made) for an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMade {
    /// The address (as a /32 or /128) or network blocked.
    pub target: IpNet,
    /// How long the block lasts.
    pub ttl_seconds: u64,
    /// The index of its ledger entry.
    pub ledger_index: u64,
    /// Why, as recorded.
    pub reason: String,
}

/// Why the response could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {what}: {reason}")]
pub struct ResponseError {
    /// `alert sinks` or `source tracing`.
    pub what: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// Called with a detection's id and what was found out about its source.
type OnEnriched = dyn Fn(i64, &Enrichment) + Send + Sync;
/// Called with a detection's id and its capture's file.
type OnCaptured = dyn Fn(i64, &Path) + Send + Sync;

/// The running response: alert sinks, captures and the enrichment worker.
/// Dropping it stops the worker after the enrichment in progress (within
/// the `[trace]` budget), and the running captures; alerts already queued
/// are still delivered by their sinks' threads.
pub struct Responder {
    alerts: Alerts,
    captures: Captures,
    on_captured: Box<OnCaptured>,
    enrichment: Option<EnrichmentWorker>,
}

/// The enrichment thread and its queue.
struct EnrichmentWorker {
    queue: Option<SyncSender<(i64, IpAddr)>>,
    dropped: AtomicU64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Starts the sinks and, when `[trace]` is configured, the enrichment
    /// worker; captures go to `captures_dir` (the agent's is
    /// `portreeve_capture::state_directory(state root)`).
    ///
    /// `on_enriched` is called on the enrichment worker's thread.
    /// `on_captured` is called within [`Responder::respond`] itself, as a
    /// capture's file is known when it starts: it should be as quick as
    /// recording the path.
    pub fn start(
        config: &DetectionResponse,
        captures_dir: PathBuf,
        on_enriched: impl Fn(i64, &Enrichment) + Send + Sync + 'static,
        on_captured: impl Fn(i64, &Path) + Send + Sync + 'static,
    ) -> Result<Responder, ResponseError> {
        let failed = |what: &'static str, e: &dyn std::fmt::Display| ResponseError {
            what,
            reason: e.to_string(),
        };
        let alerts = Alerts::start(&config.alerts).map_err(|e| failed("alert sinks", &e))?;
        let enrichment = match &config.trace {
            Some(trace) => {
                let enricher =
                    Enricher::from_config(trace).map_err(|e| failed("source tracing", &e))?;
                let worker = EnrichmentWorker::start(enricher, Box::new(on_enriched))
                    .map_err(|e| failed("source tracing", &e))?;
                Some(worker)
            }
            None => None,
        };
        Ok(Responder {
            alerts,
            captures: Captures::new(captures_dir, config.capture.clone()),
            on_captured: Box::new(on_captured),
            enrichment,
        })
    }

    /// Alerts on `incident` (and on its block), starts a capture of its
    /// source and queues its enrichment; returns at once.
    pub fn respond(&self, incident: Incident) {
        self.alerts
            .send(Alert::Detection(detection_alert(&incident)));
        if let Some(block) = &incident.block {
            self.block_event(block_alert(block, incident.tier, Timestamp::now()));
        }
        let source = incident.detection.source;
        match self
            .captures
            .start(source, &format!("detection-{}", incident.id))
        {
            Ok(Some(file)) => (self.on_captured)(incident.id, &file),
            Ok(None) => {}
            Err(e) => tracing::warn!(%source, id = incident.id, "no capture: {e}"),
        }
        if let Some(worker) = &self.enrichment {
            worker.queue(incident.id, source);
        }
    }

    /// Alerts on a block, unblock or expiry the agent learnt of.
    pub fn block_event(&self, alert: BlockAlert) {
        self.alerts.send(Alert::Block(alert));
    }

    /// Alerts on an hour of a port's use that its history makes
    /// implausible ([`crate::usage_anomalies`]).
    pub fn usage_anomaly(&self, alert: UsageAnomalyAlert) {
        self.alerts.send(Alert::UsageAnomaly(alert));
    }

    /// Enrichment requests dropped because the queue was full.
    pub fn enrichments_dropped(&self) -> u64 {
        self.enrichment
            .as_ref()
            .map_or(0, |w| w.dropped.load(Ordering::Relaxed))
    }

    /// Brings the responder's metrics up to date: alert sink failures,
    /// bytes captured and enrichment requests dropped (as
    /// `portreeve_agent_queue_dropped_total{queue="enrichment"}`). The
    /// agent calls it every round of its scan watch.
    pub fn update_metrics(&self, metrics: &Metrics) {
        metrics.set_alert_sink_failures(self.alerts.stats());
        metrics.set_capture_bytes(self.captures.bytes_written());
        metrics
            .queue_dropped
            .get_or_create(&[("queue", "enrichment".to_owned())])
            .inner()
            .fetch_max(self.enrichments_dropped(), Ordering::Relaxed);
    }
}

impl EnrichmentWorker {
    fn start(enricher: Enricher, on_enriched: Box<OnEnriched>) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::sync_channel(ENRICHMENT_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("enrichment".into())
            .spawn(move || enrich_all(&enricher, &requests, &*on_enriched, &stopping))?;
        Ok(EnrichmentWorker {
            queue: Some(queue),
            dropped: AtomicU64::new(0),
            stop,
            thread: Some(thread),
        })
    }

    fn queue(&self, id: i64, source: IpAddr) {
        let Some(queue) = &self.queue else { return };
        if let Err(TrySendError::Full(_)) = queue.try_send((id, source)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%source, id, "enrichment queue full: detection not enriched");
        }
    }
}

/// The worker's loop: until the queue closes or the responder stops.
fn enrich_all(
    enricher: &Enricher,
    requests: &Receiver<(i64, IpAddr)>,
    on_enriched: &OnEnriched,
    stop: &AtomicBool,
) {
    while let Ok((id, source)) = requests.recv() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        on_enriched(id, &enricher.enrich(source));
    }
}

impl Drop for EnrichmentWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The alert for `incident`.
pub fn detection_alert(incident: &Incident) -> DetectionAlert {
    let d = &incident.detection;
    let mut evidence = incident.evidence.clone();
    evidence.push(format!(
        "{} ports on {} addresses probed; decided by {}",
        d.port_count, d.address_count, d.detector
    ));
    DetectionAlert {
        source: d.source,
        kind: d.kind,
        first_seen: d.first_seen,
        last_seen: d.last_seen,
        ports: d.ports.clone(),
        attempts: u32::try_from(d.attempts_before_decision).unwrap_or(u32::MAX),
        tier: incident.tier,
        action: incident.action,
        evidence,
    }
}

/// The alert for a block made for a detection of `tier` at `at`: the
/// kernel's own blocks are the kernel's, the others the agent's.
pub fn block_alert(block: &BlockMade, tier: Tier, at: Timestamp) -> BlockAlert {
    BlockAlert {
        event: BlockEvent::Block,
        target: block.target,
        at,
        ttl_seconds: Some(block.ttl_seconds),
        reason: block.reason.clone(),
        actor: tier.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_detect::ScanKind;

    fn detection() -> Detection {
        Detection {
            source: "192.0.2.7".parse().unwrap(),
            kind: ScanKind::Vertical,
            detector: "trw",
            first_seen: Timestamp::from_second(1_780_000_000).unwrap(),
            last_seen: Timestamp::from_second(1_780_000_004).unwrap(),
            ports: vec![22, 23, 80],
            port_count: 70,
            addresses: vec!["198.51.100.1".parse().unwrap()],
            address_count: 1,
            attempts_before_decision: 5,
            tier: Tier::Agent,
            evidence: "TRW: 5 first contacts failed".to_owned(),
        }
    }

    fn incident(evidence: Vec<String>) -> Incident {
        Incident {
            id: 42,
            detection: detection(),
            tier: Tier::Agent,
            action: Action::Alert,
            block: None,
            evidence,
        }
    }

    #[test]
    fn a_detection_becomes_its_alert_with_the_recorded_evidence() {
        let recorded = portreeve_app::detections::evidence(&detection(), &[]);
        let alert = detection_alert(&incident(recorded));
        assert_eq!(alert.source, detection().source);
        assert_eq!(alert.kind, ScanKind::Vertical);
        assert_eq!(
            (alert.first_seen, alert.last_seen),
            (detection().first_seen, detection().last_seen)
        );
        assert_eq!(alert.ports, [22, 23, 80]);
        assert_eq!(alert.attempts, 5);
        assert_eq!((alert.tier, alert.action), (Tier::Agent, Action::Alert));
        assert_eq!(
            alert.evidence,
            [
                "TRW: 5 first contacts failed",
                "70 ports on 1 addresses probed; decided by trw"
            ]
        );
        // The recorded lines (a refused block, say) are the alert's.
        let refused = vec![
            "TRW: 5 first contacts failed".to_owned(),
            "not blocked: 192.0.2.7 is in the never-block zone mgmt".to_owned(),
        ];
        let alert = detection_alert(&incident(refused.clone()));
        assert_eq!(alert.evidence[..2], refused[..]);
        assert_eq!(alert.evidence.len(), 3);
        // A detector that gave no reasoning: none recorded, no empty line.
        let mut silent = incident(Vec::new());
        silent.detection.evidence = String::new();
        let alert = detection_alert(&silent);
        assert_eq!(
            alert.evidence,
            ["70 ports on 1 addresses probed; decided by trw"]
        );
    }

    #[test]
    fn attempts_beyond_u32_saturate() {
        let mut i = incident(Vec::new());
        i.detection.attempts_before_decision = u64::MAX;
        assert_eq!(detection_alert(&i).attempts, u32::MAX);
    }

    #[test]
    fn a_block_becomes_a_block_alert_by_its_tier() {
        let block = BlockMade {
            target: "192.0.2.7/32".parse().unwrap(),
            ttl_seconds: 600,
            ledger_index: 9,
            reason: "vertical port scan".to_owned(),
        };
        let at = Timestamp::from_second(1_780_000_005).unwrap();
        let alert = block_alert(&block, Tier::Agent, at);
        assert_eq!(alert.event, BlockEvent::Block);
        assert_eq!(alert.target, block.target);
        assert_eq!((alert.at, alert.ttl_seconds), (at, Some(600)));
        assert_eq!(alert.reason, "vertical port scan");
        assert_eq!(alert.actor, "agent");
        assert_eq!(block_alert(&block, Tier::Kernel, at).actor, "kernel");
    }
}

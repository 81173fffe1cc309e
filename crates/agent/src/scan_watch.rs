//! The scan watch: the agent tier of scan detection, and the record of
//! what both tiers detected.
//!
//! Connection attempts come in through one bounded queue ([`SCAN_QUEUE`];
//! what does not fit is dropped and counted in
//! `portreeve_agent_queue_dropped_total{queue="scan"}`): the new
//! connections conntrack reports, teed off the listeners loop's feed
//! ([`ConntrackTee`]: established when a listener of the latest reading
//! holds the port, else rejected), and the probes the ruleset's scan chain
//! logs to NFLOG (rejected: no rule allows them). While the policy in
//! effect says `[detection] scan = "alert"` or `"block"`, Threshold Random
//! Walk judges each source. A scanner is blocked under `"block"`, through
//! the use case `portreeve block` calls, whose guard refuses the
//! management zone, `never_block` zones and open SSH sessions (the
//! detection is then an alert, its evidence saying why), and is recorded.
//! Every [`ROUND`] it also looks for automatic blocks the kernel made by
//! itself since, and records each as a kernel-tier detection with the
//! probes the agent saw from that source.
//!
//! Every round, too, it alerts on the blocklist's changes no detection
//! made — manual blocks, unblocks, expiries — read from the ledger
//! ([`block_alerts`]).
//!
//! Memory is bounded ([`Sources`]): a source silent for
//! [`sources::FORGET_AFTER`] is forgotten, at most
//! [`sources::MAX_SOURCES`] are tracked, each walk starts again after
//! [`sources::WALK_ATTEMPTS`] attempts without a decision, and each source
//! keeps its last [`sources::RECENT_ATTEMPTS`] attempts. TRW reports a
//! source once; a source forgotten and back starts a new walk, and is
//! reported again if it is still scanning.
//!
//! Nothing here is fatal and nothing here holds up the listeners loop: a
//! failure to block or to record is logged and counted
//! (`portreeve_agent_errors_total{source="scan"}`).

mod block_alerts;
mod feed;
mod sources;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_app::blocks::{self, BlockRequest, Blocked};
use portreeve_app::detections;
use portreeve_app::{Actor, AppError, StateDir};
use portreeve_detect::{Action, Attempt, Detection, Tier};
use portreeve_enforce::EnforceError;
use portreeve_enforce::blocks::BlockKind;
use portreeve_policy::ScanAction;
use portreeve_trace::Enrichment;

pub(crate) use block_alerts::BlockAlerts;
pub(crate) use feed::{ConntrackTee, Feed, read_nflog};
use sources::Sources;

use crate::config::DetectionResponse;
use crate::metrics::Metrics;
use crate::policy_cache::PolicyCache;
use crate::respond::{BlockMade, Incident, Responder, ResponseError};

/// Attempts held between their readers and the scan watch: a burst of a
/// fast scan whole; beyond that, attempts are dropped and counted.
pub const SCAN_QUEUE: usize = 16_384;

/// How often the policy is looked at, the kernel's automatic blocks
/// listed, and quiet sources forgotten.
pub(crate) const ROUND: Duration = Duration::from_secs(1);

/// How old an automatic block is before it is recorded as a detection, so
/// that the NFLOG messages of its probes have been read: the scan chain
/// sends each at once (`queue-threshold 1`), but a block's start is known
/// to the second only.
const KERNEL_SETTLE: SignedDuration = SignedDuration::from_secs(2);

/// The host's own addresses are read again this often…
const HOST_RECHECK: Duration = Duration::from_secs(10);
/// …and at most this often when an attempt is to an unknown address.
const HOST_RELOOK: Duration = Duration::from_millis(250);

/// The host's own addresses: only attempts from elsewhere to one of them
/// are judged (not the host's own connections out, nor forwarded
/// traffic). Read again every [`HOST_RECHECK`], and at most every
/// [`HOST_RELOOK`] when an attempt is to an address not known yet (one
/// just added).
struct HostAddresses {
    addresses: HashSet<IpAddr>,
    read: Option<Instant>,
}

impl HostAddresses {
    fn refresh(&mut self, older_than: Duration) {
        if self.read.is_some_and(|t| t.elapsed() < older_than) {
            return;
        }
        self.read = Some(Instant::now());
        match portreeve_inventory::host_addresses() {
            Ok(a) => self.addresses = a.into_iter().collect(),
            Err(e) => tracing::warn!(error = %e, "cannot read the host's addresses"),
        }
    }

    fn inbound(&mut self, a: &Attempt) -> bool {
        if !self.addresses.contains(&a.destination) {
            self.refresh(HOST_RELOOK);
        }
        self.addresses.contains(&a.destination)
            && !self.addresses.contains(&a.source)
            && !a.source.is_loopback()
    }
}

/// The kernel's automatic blocks, as far as the watch has recorded them.
struct KernelBlocks {
    /// The automatically blocked sources at the last look.
    live: HashSet<IpNet>,
    /// The `scan-block` ledger entries already recorded as detections.
    recorded: HashSet<u64>,
}

/// The responder to detections (alerts, a capture, enrichment), whose
/// findings are attached to the recorded detection through a state
/// directory of their own, as they come from the responder's threads.
pub(crate) fn responder(
    config: &DetectionResponse,
    state: &StateDir,
    metrics: &Arc<Metrics>,
) -> Result<Responder, ResponseError> {
    let annotations = Arc::new(StateDir::open(state.root()));
    let attached = {
        let metrics = Arc::clone(metrics);
        move |id: i64, what: &str, done: Result<(), AppError>| {
            if let Err(e) = done {
                tracing::warn!(id, error = %e, "cannot attach the {what} to detection {id}");
                metrics.count_error("scan");
            }
        }
    };
    let (enriched, on_enriched) = (Arc::clone(&annotations), attached.clone());
    Responder::start(
        config,
        portreeve_capture::state_directory(state.root()),
        move |id, enrichment: &Enrichment| {
            let json = serde_json::to_value(enrichment).unwrap_or_default();
            on_enriched(
                id,
                "enrichment",
                detections::attach_enrichment(&enriched, id, &json),
            );
        },
        move |id, path: &Path| {
            attached(
                id,
                "capture",
                detections::attach_capture(&annotations, id, path),
            );
        },
    )
}

/// The scan watch's thread: runs until `stop`. `block_alerts` is taken
/// before any of the agent's threads starts, so that no block, unblock or
/// expiry recorded once the agent runs goes unalerted.
pub(crate) fn run(
    state: &StateDir,
    attempts: Receiver<Attempt>,
    responder: &Responder,
    block_alerts: BlockAlerts,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let recorded = match detections::list(state) {
        Ok(all) => all
            .iter()
            .filter(|d| d.tier == Tier::Kernel)
            .filter_map(|d| d.block_ledger_index)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the recorded detections");
            metrics.count_error("scan");
            HashSet::new()
        }
    };
    let mut watch = Watch {
        state,
        metrics,
        responder,
        sources: Sources::default(),
        host: HostAddresses {
            addresses: HashSet::new(),
            read: None,
        },
        kernel: KernelBlocks {
            live: HashSet::new(),
            recorded,
        },
        block_alerts,
    };
    let mut policy = PolicyCache::in_effect();
    let mut scan = ScanAction::Off;
    let mut next_round = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_round {
            next_round = Instant::now() + ROUND;
            scan = policy
                .get(state)
                .map_or(ScanAction::Off, |p| p.policy.detection.scan);
            watch.round(scan);
        }
        let wait = next_round
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        match attempts.recv_timeout(wait) {
            Ok(first) => {
                for a in std::iter::once(first).chain(attempts.try_iter().take(SCAN_QUEUE)) {
                    if scan != ScanAction::Off {
                        watch.observe(&a, scan);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Nothing feeds the watch (no conntrack, no NFLOG): it still
            // records the kernel's blocks every round.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
        }
    }
}

/// What the scan watch's thread works with.
struct Watch<'a> {
    state: &'a StateDir,
    metrics: &'a Metrics,
    responder: &'a Responder,
    sources: Sources,
    host: HostAddresses,
    kernel: KernelBlocks,
    block_alerts: BlockAlerts,
}

impl Watch<'_> {
    /// The work of one [`ROUND`] under `scan`.
    fn round(&mut self, scan: ScanAction) {
        let now = Timestamp::now();
        self.sources.forget_quiet(now);
        self.responder.update_metrics(self.metrics);
        self.block_alerts
            .send_new(self.state, self.responder, self.metrics);
        if scan == ScanAction::Off {
            return;
        }
        self.host.refresh(HOST_RECHECK);
        self.look_at_blocks(scan, now);
    }

    fn observe(&mut self, attempt: &Attempt, scan: ScanAction) {
        if !self.host.inbound(attempt) {
            return;
        }
        if let Some(d) = self.sources.observe(attempt) {
            self.detected(d, scan);
        }
    }

    /// Blocks (under `"block"`), records and hands over the agent tier's
    /// detection `d` — unless the kernel blocked its source already (the
    /// probes NFLOG showed TRW are those the kernel counted): its
    /// automatic block is recorded as the detection.
    fn detected(&mut self, d: Detection, scan: ScanAction) {
        if scan == ScanAction::Block && self.blocked_by_kernel(d.source) {
            tracing::debug!(source = %d.source, "scanner blocked by the kernel already");
            return;
        }
        let (blocked, evidence) = match scan {
            ScanAction::Block => match self.block(&d) {
                Ok(b) => (Some(b), Vec::new()),
                Err(why) => (None, vec![format!("not blocked: {why}")]),
            },
            _ => (None, Vec::new()),
        };
        let block = blocked.map(|b| BlockMade {
            target: b.source,
            ttl_seconds: u64::try_from(b.ttl.as_secs()).unwrap_or(0),
            ledger_index: b.ledger_index,
            reason: block_reason(&d),
        });
        self.detection(d, Tier::Agent, block, evidence);
    }

    fn blocked_by_kernel(&self, source: IpAddr) -> bool {
        self.state.firewall().blocks().is_ok_and(|live| {
            live.iter()
                .any(|b| b.kind == BlockKind::Automatic && b.source.contains(&source))
        })
    }

    /// Blocks `d`'s source for the policy's `block_ttl`; why not, if not.
    fn block(&self, d: &Detection) -> Result<Blocked, String> {
        let request = BlockRequest {
            source: IpNet::from(d.source),
            ttl: None,
            reason: block_reason(d),
            session: None,
        };
        blocks::block(self.state, &request, &Actor::agent()).map_err(|e| {
            if !matches!(e, AppError::Refused(_)) {
                tracing::warn!(source = %d.source, error = %e, "cannot block a scanner");
                self.metrics.count_error("scan");
            }
            e.to_string()
        })
    }

    /// Logs, counts, records and hands to the responder detection `d` of
    /// `tier`, blocked by `block` if one was made, with `evidence` beyond
    /// the detector's.
    fn detection(&self, d: Detection, tier: Tier, block: Option<BlockMade>, evidence: Vec<String>) {
        let action = if block.is_some() {
            Action::Block
        } else {
            Action::Alert
        };
        tracing::warn!(
            source = %d.source,
            kind = d.kind.name(),
            tier = tier.name(),
            action = action.name(),
            ports = d.port_count,
            addresses = d.address_count,
            attempts = d.attempts_before_decision,
            "port scan detected"
        );
        self.metrics.count_detection(d.kind, tier);
        let index = block.as_ref().map(|b| b.ledger_index);
        let lines = detections::evidence(&d, &evidence);
        let id = match detections::record(self.state, &d, tier, action, index, lines.clone()) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(source = %d.source, error = %e, "cannot record a scan detection");
                self.metrics.count_error("scan");
                return;
            }
        };
        self.responder.respond(Incident {
            id,
            detection: d,
            tier,
            action,
            block,
            evidence: lines,
        });
    }

    /// Sets `portreeve_blocks_active` from the blocks the kernel holds and,
    /// under `"block"`, records the automatic blocks it made since the last
    /// look as kernel-tier detections. The ledger is read only when a
    /// source the last look did not see is blocked automatically.
    fn look_at_blocks(&mut self, scan: ScanAction, now: Timestamp) {
        let live = match self.state.firewall().blocks() {
            Ok(live) => live,
            Err(EnforceError::NotApplied) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the kernel's blocks");
                self.metrics.count_error("scan");
                return;
            }
        };
        let automatic: HashSet<IpNet> = live
            .iter()
            .filter(|b| b.kind == BlockKind::Automatic)
            .map(|b| b.source)
            .collect();
        self.metrics
            .set_blocks_active(live.len() - automatic.len(), automatic.len());
        let new = automatic.iter().any(|s| !self.kernel.live.contains(s));
        self.kernel.live = automatic;
        if !new || scan != ScanAction::Block {
            return;
        }
        let rows = match blocks::list(self.state) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the kernel's automatic blocks");
                self.metrics.count_error("scan");
                // Looked at again next round.
                self.kernel.live.clear();
                return;
            }
        };
        for row in rows.iter().filter(|r| r.kind == "automatic") {
            let Some(index) = row.ledger_index else {
                continue;
            };
            if row
                .blocked_at
                .is_some_and(|t| now.duration_since(t) < KERNEL_SETTLE)
            {
                // Seen as new again next round.
                self.kernel.live.remove(&row.source);
                continue;
            }
            if !self.kernel.recorded.insert(index) {
                continue;
            }
            let d = self.sources.kernel_detection(row.source.addr(), row, now);
            let block = BlockMade {
                target: row.source,
                ttl_seconds: row.ttl_seconds,
                ledger_index: index,
                reason: d.evidence.clone(),
            };
            self.detection(d, Tier::Kernel, Some(block), Vec::new());
        }
    }
}

/// Why the agent blocked `d`'s source, as its ledger entry says.
fn block_reason(d: &Detection) -> String {
    let ports: Vec<String> = d.ports.iter().take(8).map(u16::to_string).collect();
    let more = if d.port_count > ports.len() {
        ",…"
    } else {
        ""
    };
    format!(
        "{} scan detected by the agent ({}): {} {}{more} on {} {}, {} attempts",
        d.kind.name(),
        d.detector,
        if d.port_count == 1 { "port" } else { "ports" },
        ports.join(","),
        d.address_count,
        if d.address_count == 1 {
            "address"
        } else {
            "addresses"
        },
        d.attempts_before_decision,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_detect::ScanKind;

    #[test]
    fn a_block_reason_names_the_scan() {
        let d = Detection {
            source: "10.9.0.2".parse().unwrap(),
            kind: ScanKind::Horizontal,
            detector: "trw",
            first_seen: Timestamp::UNIX_EPOCH,
            last_seen: Timestamp::UNIX_EPOCH,
            ports: vec![8081],
            port_count: 1,
            addresses: Vec::new(),
            address_count: 4,
            attempts_before_decision: 4,
            tier: Tier::Agent,
            evidence: String::new(),
        };
        assert_eq!(
            block_reason(&d),
            "horizontal scan detected by the agent (trw): port 8081 on 4 addresses, 4 attempts"
        );
        let many = Detection {
            ports: (1..=10).collect(),
            port_count: 12,
            address_count: 1,
            ..d
        };
        assert_eq!(
            block_reason(&many),
            "horizontal scan detected by the agent (trw): ports 1,2,3,4,5,6,7,8,… on 1 address, 4 attempts"
        );
    }
}

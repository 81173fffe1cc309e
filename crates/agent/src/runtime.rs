//! The agent as one running thing: [`Agent::run`] starts its threads on a
//! state directory, runs until the shutdown future the caller gives it
//! completes, then stops and joins them all. The caller — the CLI, or a
//! test — decides what shutdown means (SIGTERM, a channel, a timer).
//!
//! The threads, and what flows between them:
//!
//! ```text
//!  conntrack ──(bounded queue)──▶ listeners loop ──(latest reading)──▶ lifecycle
//!  (NEW events)                   (drift, usage,     (one slot,          (plan every 10 s,
//!                                  findings)          overwritten)        reclaim, PR013)
//!  flows collector ──▶ flow sink (store)                 metrics endpoint (/metrics)
//!
//!  conntrack (teed) ─┬(bounded queue)──▶ scan watch (TRW, blocks, kernel
//!  NFLOG (scan chain)┘                   blocks → detections)
//!
//!  listeners loop ──(latest reading, findings, drift queue)──▶ push thread
//!  lifecycle ──(latest plan's ports, one slot)───────────────▶ (outbox on disk → server)
//!
//!  breakers (every interval: host and port readings → trips and
//!  recoveries, each a generation; state in breakers.json)
//!
//!  usage anomalies (each hour once closed: the store's hourly counts →
//!  anomalies → metric, log, alert through the scan watch's sinks,
//!  PR024 findings of the last day for the listeners loop)
//! ```
//!
//! The conntrack queue holds [`CONNTRACK_QUEUE`] events; when the loop
//! falls that far behind, further events are dropped and counted
//! (`portreeve_agent_queue_dropped_total{queue="conntrack"}`) rather than
//! growing without bound. The lifecycle thread takes the loop's latest
//! reading from a single slot (a newer reading replaces an older one), so
//! a slow reclaim — an nft transaction and a ledger fsync — never holds up
//! the reading of listeners, and never builds a backlog.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::policy;
use portreeve_app::{Actor, StateDir, blocks, check, grants, reclaim};
use portreeve_core::words::{listed, or_none};
use portreeve_core::{Finding, ListeningSocket, Severity};
use portreeve_lifecycle::{Recommendation, State};
use portreeve_policy::Protection;

use crate::collector::{Collector, Totals};
use crate::config::{AgentConfig, show_interval};
use crate::conntrack::{Events, NewConnection};
use crate::daemon::{self, History, LoopConfig};
use crate::drift::{Drift, Snapshot};
use crate::fleet::assemble::DriftQueue;
use crate::fleet::pusher::{self, Sources};
use crate::metrics::{Endpoint, Metrics};
use crate::persist::StoreHistory;
use crate::policy_cache::PolicyCache;
use crate::respond::ResponseError;
use crate::scan_watch::{self, ConntrackTee, Feed, SCAN_QUEUE};
use crate::service_manager::ServiceManager;
use crate::usage_anomalies;

/// New-connection events held between the conntrack thread and the loop:
/// at one reading a second, a burst of 64k connections a second is taken
/// whole; beyond that, events are dropped and counted.
pub const CONNTRACK_QUEUE: usize = 65_536;

/// How often flow aggregates are stored.
const FLOW_FLUSH: Duration = Duration::from_secs(5);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The metrics endpoint could not listen.
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        /// The address asked for.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The flow sockets could not be bound.
    #[error("cannot receive flows on {}: {source}", listed(addresses, "none"))]
    Flows {
        /// The addresses asked for.
        addresses: Vec<std::net::SocketAddr>,
        /// Why.
        source: std::io::Error,
    },
    /// The history store could not be opened.
    #[error(transparent)]
    Store(#[from] portreeve_app::AppError),
    /// The response to detections (alert sinks, source tracing) could
    /// not start.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// The runtime that waits for shutdown could not be built.
    #[error("cannot start the agent's runtime: {0}")]
    Runtime(std::io::Error),
}

/// What the agent did, reported when it stops.
#[derive(Debug, Default, Clone)]
pub struct AgentReport {
    /// Flow telemetry received over the whole run.
    pub flows: Totals,
}

/// The agent: the watcher of one host's listeners, usage and lifecycle.
pub struct Agent;

impl Agent {
    /// Runs the agent on `state` with `config` until `shutdown` completes,
    /// then stops every thread and waits for it. `shutdown` is polled on
    /// a single-threaded tokio runtime owned by this call, so it may use
    /// tokio's signals and timers; it is polled once before anything
    /// starts.
    pub fn run(
        config: &AgentConfig,
        state: &StateDir,
        shutdown: impl Future<Output = ()>,
    ) -> Result<AgentReport, AgentError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AgentError::Runtime)?;
        // Polled once before anything starts, so that a future which
        // installs signal handlers has them in place before the agent can
        // be seen (and signalled); ready already means "do not start".
        let mut shutdown = std::pin::pin!(shutdown);
        let first = runtime.block_on(std::future::poll_fn(|cx| {
            std::task::Poll::Ready(shutdown.as_mut().poll(cx))
        }));
        if first.is_ready() {
            return Ok(AgentReport::default());
        }
        let metrics = Arc::new(Metrics::new());
        let endpoint = config
            .metrics
            .map(|address| {
                Endpoint::start(address, metrics.clone())
                    .map_err(|source| AgentError::Metrics { address, source })
            })
            .transpose()?;
        let mut store = state.open_store()?;
        store.set_max_sources(config.usage.max_sources);
        let history = StoreHistory::new(Box::new(store), config.usage.source_retention);
        let responder = scan_watch::responder(&config.response, state, &metrics)?;
        let mut flow_addresses = config.netflow.clone();
        flow_addresses.extend(&config.sflow);
        let collector = if flow_addresses.is_empty() {
            None
        } else {
            Some(
                Collector::start(&flow_addresses, FLOW_FLUSH, &config.collector()).map_err(
                    |source| AgentError::Flows {
                        addresses: flow_addresses.clone(),
                        source,
                    },
                )?,
            )
        };
        let conntrack = if config.conntrack {
            match Events::subscribe() {
                Ok(events) => Some(events),
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "conntrack events unavailable (they need CAP_NET_ADMIN): new connections are not counted"
                    );
                    None
                }
            }
        } else {
            None
        };
        tracing::info!(
            flows = %listed(&flow_addresses, "none"),
            interval = %show_interval(config.interval),
            metrics = %or_none(endpoint.as_ref().map(|e| format!("http://{}/metrics", e.address))),
            conntrack = conntrack.is_some(),
            state_dir = %state.root().display(),
            "agent started"
        );

        let stop = AtomicBool::new(false);
        let shared = Shared {
            // Drift is queued for the server only when there is one.
            drift: match config.server {
                Some(_) => DriftQueue::open(),
                None => DriftQueue::default(),
            },
            ..Shared::default()
        };
        let mut report = AgentReport::default();
        let block_alerts = scan_watch::BlockAlerts::from_now(state, &metrics);
        std::thread::scope(|s| {
            let (scan_tx, scan_rx) = mpsc::sync_channel(SCAN_QUEUE);
            let feed = Feed::new(scan_tx, &metrics);
            s.spawn(|| scan_watch::run(state, scan_rx, &responder, block_alerts, &metrics, &stop));
            s.spawn(|| {
                usage_anomalies::run(
                    state,
                    config.interval,
                    &responder,
                    &shared.anomalies,
                    &metrics,
                    &stop,
                );
            });
            let probes = feed.clone();
            s.spawn(|| scan_watch::read_nflog(state, probes, &metrics, &stop));
            let (tx, rx) = mpsc::sync_channel(CONNTRACK_QUEUE);
            let counting = match conntrack {
                Some(events) => {
                    let tee = ConntrackTee::new(feed.clone());
                    let (shared, metrics, stop) = (&shared, &metrics, &stop);
                    s.spawn(move || forward_conntrack(events, tx, tee, shared, metrics, stop));
                    Some(rx)
                }
                None => None,
            };
            // The watch's queue closes when its last feeder stops.
            drop(feed);
            if let Some(collector) = collector {
                s.spawn(|| {
                    report.flows =
                        sink_flows(collector, state, config.usage.max_sources, &metrics, &stop);
                });
            }
            s.spawn(|| plan_lifecycle(config.lifecycle_interval, state, &shared, &metrics, &stop));
            s.spawn(|| crate::breakers::run(config.interval, state, &metrics, &stop));
            if let Some(server) = &config.server {
                let (shared, metrics, stop) = (&shared, &metrics, &stop);
                s.spawn(move || report_to_server(server, state, shared, metrics, stop));
            }
            let (shared, metrics, stop) = (&shared, &metrics, &stop);
            s.spawn(move || {
                read_listeners(
                    config,
                    state,
                    history,
                    counting.as_ref(),
                    shared,
                    metrics,
                    stop,
                )
            });
            runtime.block_on(shutdown.as_mut());
            tracing::info!("stopping");
            ServiceManager::stopping();
            stop.store(true, Ordering::Relaxed);
        });
        if let Some(e) = endpoint {
            e.stop();
        }
        tracing::info!(flows = %report.flows, "agent stopped");
        Ok(report)
    }
}

/// What the listeners loop and the lifecycle thread share.
#[derive(Default)]
struct Shared {
    /// The latest reading of the listening sockets; a newer one replaces it.
    latest: Mutex<Option<Arc<Vec<ListeningSocket>>>>,
    /// PR013 findings of the latest lifecycle plan.
    abandoned: Mutex<Vec<Finding>>,
    /// The usage anomalies of the last day, PR024 findings.
    anomalies: usage_anomalies::Recent,
    /// What the firewall protects, as of the latest lifecycle round's
    /// reading of portreeve's table (`None` before the first).
    protection: Mutex<Option<Protection>>,
    /// The open findings of the latest check (those `portreeve_findings`
    /// counts), for the server.
    findings: Mutex<Vec<Finding>>,
    /// The ports of the latest lifecycle plan, for the server (`None`
    /// before the first plan).
    lifecycle: Mutex<Option<Vec<Recommendation>>>,
    /// Drift recorded and not yet pushed (closed, taking nothing, without
    /// a server).
    drift: DriftQueue,
}

/// The listeners loop's history, which also hands each drift it records
/// to the push thread's queue.
struct DriftTee<'a, H> {
    history: H,
    queue: &'a DriftQueue,
}

impl<H: History> History for DriftTee<'_, H> {
    fn last_snapshot(&mut self) -> Result<Option<Snapshot>, String> {
        self.history.last_snapshot()
    }

    fn usage(&mut self) -> Result<Vec<daemon::PortUse>, String> {
        self.history.usage()
    }

    fn record(
        &mut self,
        at: Timestamp,
        snapshot: &Snapshot,
        drift: &[Drift],
        usage: &[daemon::PortUse],
    ) -> Result<(), String> {
        self.queue.add(at, drift);
        self.history.record(at, snapshot, drift, usage)
    }
}

/// The push thread, reading what the listeners loop last saw.
fn report_to_server(
    server: &crate::fleet::ServerConfig,
    state: &StateDir,
    shared: &Shared,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let listeners = || {
        shared
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    };
    let findings = || {
        shared
            .findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    };
    let lifecycle = || {
        shared
            .lifecycle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    };
    let sources = Sources {
        listeners: &listeners,
        findings: &findings,
        lifecycle: &lifecycle,
        drift: &shared.drift,
    };
    pusher::run(server, state, &sources, metrics, stop);
}

/// Sleeps until `until` or until `stop` is set, whichever comes first;
/// returns whether to go on.
fn nap(stop: &AtomicBool, until: Instant) -> bool {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - now));
    }
    false
}

/// Hands conntrack's new-connection events to the loop through the
/// bounded queue, counting what did not fit, and tees them to the scan
/// watch as connection attempts.
fn forward_conntrack(
    mut events: Events,
    queue: SyncSender<NewConnection>,
    mut scan: ConntrackTee,
    shared: &Shared,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let dropped = metrics
        .queue_dropped
        .get_or_create(&[("queue", "conntrack".into())]);
    let mut overruns = 0;
    while !stop.load(Ordering::Relaxed) {
        match events.next_batch() {
            Ok(batch) => {
                let latest = shared
                    .latest
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                scan.send(&batch, latest);
                for c in batch {
                    match queue.try_send(c) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            dropped.inc();
                        }
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "conntrack events failed; usage counting stops");
                metrics.count_error("conntrack");
                return;
            }
        }
        if events.overruns > overruns {
            metrics
                .conntrack_overruns
                .inc_by(events.overruns - overruns);
            overruns = events.overruns;
        }
    }
}

/// Receives flow telemetry and stores its aggregates until stopped.
fn sink_flows(
    collector: Collector,
    state: &StateDir,
    max_sources: u64,
    metrics: &Metrics,
    stop: &AtomicBool,
) -> Totals {
    let mut totals = Totals::default();
    let mut sink = portreeve_app::flows::FlowSink::bounded(state, max_sources);
    while !stop.load(Ordering::Relaxed) {
        let flush = collector.next_flush_with_sources(&mut totals, Some(metrics));
        if let Err(e) = sink.store_with_sources(&flush.aggregates, &flush.sources) {
            tracing::warn!(error = %e, "cannot store flow aggregates");
            metrics.count_error("store");
        }
    }
    let last = collector.stop_with_sources(&mut totals);
    if let Err(e) = sink.store_with_sources(&last.aggregates, &last.sources) {
        tracing::warn!(error = %e, "cannot store the last flow aggregates");
    }
    totals
}

/// The listeners loop: drift, usage and findings every interval.
fn read_listeners(
    config: &AgentConfig,
    state: &StateDir,
    history: StoreHistory,
    connections: Option<&Receiver<NewConnection>>,
    shared: &Shared,
    metrics: &Arc<Metrics>,
    stop: &AtomicBool,
) {
    let all_netns = config.all_netns;
    let service_manager = ServiceManager::from_env(config.interval);
    let mut read = || {
        let sockets = portreeve_inventory::collect(portreeve_inventory::Options { all_netns })
            .map(|i| i.sockets)
            .map_err(|e| e.to_string());
        service_manager.reading_taken();
        sockets
    };
    let mut cache = PolicyCache::judging();
    let mut observe = |sockets: &[ListeningSocket]| {
        *shared.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(sockets.to_vec()));
        service_manager.reading_served();
        let Some(policy) = cache.get(state) else {
            return;
        };
        // Judged as `check` judges: graded by where the firewall lets each
        // port be reached from, accepted risks shown apart.
        let today = check::today();
        let protection = shared
            .protection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Protection::Unverified("not read yet".into()));
        let mut findings =
            portreeve_policy::evaluate_behind(&policy.policy, sockets, today, Some(&protection));
        findings.extend(
            shared
                .abandoned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        findings.extend(shared.anomalies.findings(Timestamp::now()));
        check::settle(&policy.policy, &mut findings, today);
        let (accepted, open): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(|f| f.accepted.is_some());
        for severity in Severity::ALL {
            let n = open.iter().filter(|f| f.severity == severity).count();
            metrics
                .findings
                .get_or_create(&[("severity", severity.to_string())])
                .set(n as i64);
        }
        metrics.findings_accepted.set(accepted.len() as i64);
        *shared.findings.lock().unwrap_or_else(|p| p.into_inner()) = open;
    };
    let mut history = DriftTee {
        history,
        queue: &shared.drift,
    };
    daemon::run(
        &LoopConfig {
            interval: config.interval,
        },
        &mut read,
        connections,
        &mut history,
        &mut observe,
        metrics,
        stop,
    );
}

/// The lifecycle thread: every `every`, each port's state from the
/// latest reading under the policy in effect, and the reclaims the policy
/// asks for — made as the agent, from the policy in effect, recorded.
fn plan_lifecycle(
    every: Duration,
    state: &StateDir,
    shared: &Shared,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let mut next = Instant::now();
    // Each port's forecast from the hourly history, read again as each
    // hour begins: it changes no more often.
    let mut forecasts = reclaim::Forecasts::default();
    while nap(stop, next) {
        let Some(sockets) = shared
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            // No reading yet: look again shortly.
            next = Instant::now() + Duration::from_millis(100);
            continue;
        };
        next = Instant::now() + every;
        // The kernel closes expired grants silently: record them.
        if let Err(e) = grants::record_expiries(state, Timestamp::now()) {
            tracing::warn!(error = %e, "cannot record expired grants");
            metrics.count_error("lifecycle");
        }
        // It blocks scanners and ends blocks silently too: record them.
        if let Err(e) = blocks::record_kernel_changes(state, Timestamp::now()) {
            tracing::warn!(error = %e, "cannot record automatic and expired blocks");
            metrics.count_error("lifecycle");
        }
        let drift = state.firewall().table_drift();
        let now = Timestamp::now();
        if !forecasts.current_at(now) {
            match reclaim::Forecasts::read(state, now) {
                Ok(read) => forecasts = read,
                Err(e) => {
                    // Planned without forecasts meanwhile: by idle time alone.
                    tracing::warn!(error = %e, "cannot forecast port use from the hourly history");
                    metrics.count_error("lifecycle");
                    forecasts = reclaim::Forecasts::default();
                }
            }
        }
        let plan = match policy::for_judging(state, None).and_then(|p| {
            *shared.protection.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(check::protection(state, &p, &drift));
            reclaim::lifecycle_with(state, p, &sockets, &forecasts, now)
        }) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::warn!(error = %e, "cannot plan the port lifecycle");
                metrics.count_error("lifecycle");
                continue;
            }
        };
        *shared.abandoned.lock().unwrap_or_else(|p| p.into_inner()) =
            plan.abandoned_findings(&sockets);
        *shared.lifecycle.lock().unwrap_or_else(|p| p.into_inner()) = Some(plan.ports.clone());
        for s in [
            State::Active,
            State::Dormant,
            State::Abandoned,
            State::Reclaimed,
        ] {
            let n = plan.ports.iter().filter(|r| r.state == s).count();
            metrics
                .ports
                .get_or_create(&[("state", s.as_str().into())])
                .set(n as i64);
        }
        match drift {
            Ok(differences) => {
                let n = differences.map_or(0, |d| d.len());
                if n > 0 {
                    tracing::warn!(
                        differences = n,
                        "portreeve's table was changed outside portreeve"
                    );
                }
                metrics.table_drift.set(n as i64);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot compare portreeve's table with the kernel");
                metrics.count_error("table_drift");
            }
        }
        match reclaim::close(state, &plan, false, &Actor::agent()) {
            Ok(None) => {}
            Ok(Some(done)) => {
                for c in &done.closed {
                    tracing::warn!(
                        port = %c.port,
                        reclaim = c.reclaim,
                        generation = done.generation,
                        policy = %done.policy,
                        "abandoned port closed by policy"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reclaim abandoned ports");
                metrics.count_error("reclaim");
            }
        }
    }
}

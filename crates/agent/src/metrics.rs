//! The agent's Prometheus metrics and the `/metrics` endpoint.
//!
//! The metric families are prometheus-client's, which encodes OpenMetrics
//! only; [`prometheus_text`] turns that into the Prometheus text format
//! (0.0.4) served by default, OpenMetrics going to scrapers that ask for it.
//! The endpoint is a small
//! HTTP/1.1 responder: an accepting thread and a thread per connection, at
//! most [`MAX_CONNECTIONS`] at once. The agent is otherwise a few plain
//! threads, and an async runtime plus a web framework for one GET route
//! would be most of its size; each connection's thread reads one request
//! head (8 KiB at most, within [`REQUEST_DEADLINE`] in all), answers within
//! [`WRITE_DEADLINE`], and closes. See [`Endpoint`] for why.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portreeve_alerts::{AnomalyKind, SinkStats};
use portreeve_core::{PortKey, Severity};
use portreeve_detect::{ScanKind, Tier};
use portreeve_flows::DropReason;
use portreeve_lifecycle::State;
use portreeve_store::DriftKind;

use crate::fleet::outbox::Content;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// One label.
type Label = (&'static str, String);
/// A gauge holding seconds.
type Seconds = Gauge<f64, AtomicU64>;

/// The sources `portreeve_agent_errors_total` counts failures of.
pub const ERROR_SOURCES: [&str; 8] = [
    "inventory",
    "store",
    "conntrack",
    "lifecycle",
    "reclaim",
    "table_drift",
    "scan",
    "breakers",
];
/// The lifecycle states `portreeve_ports` counts ports in.
const PORT_STATES: [State; 4] = [
    State::Active,
    State::Dormant,
    State::Abandoned,
    State::Reclaimed,
];

/// Every metric the agent exports.
pub struct Metrics {
    registry: Registry,
    /// `portreeve_ports{state}`: listening or allowed ports per lifecycle state.
    pub ports: Family<[Label; 1], Gauge>,
    /// `portreeve_port_last_access_age_seconds{protocol,port}`.
    pub last_access_age: Family<[Label; 2], Seconds>,
    /// `portreeve_drift_events_total{kind}`.
    pub drift_events: Family<[Label; 1], Counter>,
    /// `portreeve_findings{severity}`: findings of the latest check, not
    /// counting those an accepted risk covers.
    pub findings: Family<[Label; 1], Gauge>,
    /// `portreeve_findings_accepted`: findings of the latest check that an
    /// accepted risk in the policy covers.
    pub findings_accepted: Gauge,
    /// `portreeve_listeners`: listening sockets at the latest reading.
    pub listeners: Gauge,
    /// `portreeve_agent_up`: 1 while the agent runs.
    pub up: Gauge,
    /// `portreeve_agent_last_reading_timestamp_seconds`.
    pub last_reading: Seconds,
    /// `portreeve_agent_reading_duration_seconds`: the latest reading's cost.
    pub reading_duration: Seconds,
    /// `portreeve_agent_errors_total{source}`: failed readings, store
    /// writes, conntrack reads, lifecycle plans and reclaims.
    pub errors: Family<[Label; 1], Counter>,
    /// `portreeve_conntrack_events_total`: new connections heard of.
    pub conntrack_events: Counter,
    /// `portreeve_conntrack_overruns_total`: batches of events the kernel
    /// dropped because the agent fell behind.
    pub conntrack_overruns: Counter,
    /// `portreeve_flow_datagrams_total{result}`: flow datagrams received,
    /// `decoded` or dropped by reason (`truncated`, `no_template`, …).
    pub flow_datagrams: Family<[Label; 1], Counter>,
    /// `portreeve_flow_records_total`: flow records decoded.
    pub flow_records: Counter,
    /// `portreeve_flow_evictions_total`: aggregate keys evicted at the
    /// collector's key cap (their aggregates are stored early, not lost).
    pub flow_evictions: Counter,
    /// `portreeve_flow_other_protocol_records_total`: decoded records of
    /// protocols other than TCP and UDP, counted instead of aggregated.
    pub flow_other_protocol_records: Counter,
    /// `portreeve_table_drift`: how many ways portreeve's table in the
    /// kernel differs from the ruleset it installed (0: none).
    pub table_drift: Gauge,
    /// `portreeve_agent_queue_dropped_total{queue}`: items dropped because
    /// a bounded queue between the agent's threads was full.
    pub queue_dropped: Family<[Label; 1], Counter>,
    /// `portreeve_metrics_requests_rejected_total`: connections to the
    /// endpoint answered `503` because it was serving [`MAX_CONNECTIONS`].
    pub requests_rejected: Counter,
    /// `portreeve_detections_total{kind,tier}`: scan detections made.
    pub detections: Family<[Label; 2], Counter>,
    /// `portreeve_blocks_active{kind}`: blocked sources now, `manual` or
    /// `automatic`.
    pub blocks_active: Family<[Label; 1], Gauge>,
    /// `portreeve_breaker_tripped{breaker}`: 1 while a circuit breaker is
    /// tripped, else 0.
    pub breaker_tripped: Family<[Label; 1], Gauge>,
    /// `portreeve_breaker_trips_total{breaker}`: trips seen, automatic or
    /// by hand.
    pub breaker_trips: Family<[Label; 1], Counter>,
    /// `portreeve_breaker_tripped_seconds_total{breaker}`: time spent
    /// tripped while the agent ran.
    pub breaker_tripped_seconds: Family<[Label; 1], Counter<f64, AtomicU64>>,
    /// `portreeve_capture_bytes_total`: bytes written to packet captures.
    pub capture_bytes: Counter,
    /// `portreeve_alert_sink_failures_total{sink}`: alerts a sink gave up
    /// on or dropped from its full queue.
    pub alert_sink_failures: Family<[Label; 1], Counter>,
    /// `portreeve_fleet_pushes_total{result}`: push requests to the
    /// server, `delivered`, `duplicate` (the server had it already) or
    /// `failed`.
    pub fleet_pushes: Family<[Label; 1], Counter>,
    /// `portreeve_fleet_outbox_pushes`: pushes waiting in the outbox.
    pub fleet_outbox_pushes: Gauge,
    /// `portreeve_fleet_outbox_dropped_total{content}`: pushes dropped
    /// from the full outbox, `snapshot` (superseded) or `drift`.
    pub fleet_outbox_dropped: Family<[Label; 1], Counter>,
    /// `portreeve_usage_anomalies_total{protocol,port,kind}`: hours whose
    /// new connections were implausible for the port
    /// ([`crate::usage_anomalies`]).
    pub usage_anomalies: Family<[Label; 3], Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the `portreeve` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portreeve");
        let m = Metrics {
            ports: Family::default(),
            last_access_age: Family::default(),
            drift_events: Family::default(),
            findings: Family::default(),
            findings_accepted: Gauge::default(),
            listeners: Gauge::default(),
            up: Gauge::default(),
            last_reading: Seconds::default(),
            reading_duration: Seconds::default(),
            errors: Family::default(),
            conntrack_events: Counter::default(),
            conntrack_overruns: Counter::default(),
            flow_datagrams: Family::default(),
            flow_records: Counter::default(),
            flow_evictions: Counter::default(),
            flow_other_protocol_records: Counter::default(),
            table_drift: Gauge::default(),
            queue_dropped: Family::default(),
            requests_rejected: Counter::default(),
            detections: Family::default(),
            blocks_active: Family::default(),
            breaker_tripped: Family::default(),
            breaker_trips: Family::default(),
            breaker_tripped_seconds: Family::default(),
            capture_bytes: Counter::default(),
            alert_sink_failures: Family::default(),
            fleet_pushes: Family::default(),
            fleet_outbox_pushes: Gauge::default(),
            fleet_outbox_dropped: Family::default(),
            usage_anomalies: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "ports",
            "Listening or allowed ports by lifecycle state",
            m.ports.clone(),
        );
        registry.register(
            "port_last_access_age_seconds",
            "Seconds since each port last received a new connection",
            m.last_access_age.clone(),
        );
        registry.register(
            "drift_events",
            "Listener changes seen: new listener, listener gone, owner changed",
            m.drift_events.clone(),
        );
        registry.register(
            "findings",
            "Findings of the latest policy check by severity, accepted risks not counted",
            m.findings.clone(),
        );
        registry.register(
            "findings_accepted",
            "Findings of the latest policy check that an accepted risk of the policy covers",
            m.findings_accepted.clone(),
        );
        registry.register(
            "listeners",
            "Listening sockets at the latest reading",
            m.listeners.clone(),
        );
        registry.register("agent_up", "1 while the agent runs", m.up.clone());
        registry.register(
            "agent_last_reading_timestamp_seconds",
            "When the listening sockets were last read",
            m.last_reading.clone(),
        );
        registry.register(
            "agent_reading_duration_seconds",
            "How long the latest reading of the listening sockets took",
            m.reading_duration.clone(),
        );
        registry.register(
            "agent_errors",
            "Failures by source (inventory, store, conntrack, lifecycle, reclaim, table_drift, scan, breakers)",
            m.errors.clone(),
        );
        registry.register(
            "conntrack_events",
            "New connections reported by conntrack",
            m.conntrack_events.clone(),
        );
        registry.register(
            "conntrack_overruns",
            "Times the kernel dropped conntrack events because the agent fell behind",
            m.conntrack_overruns.clone(),
        );
        registry.register(
            "flow_datagrams",
            "Flow telemetry datagrams, decoded or dropped by reason",
            m.flow_datagrams.clone(),
        );
        registry.register(
            "flow_records",
            "Flow records decoded",
            m.flow_records.clone(),
        );
        registry.register(
            "flow_evictions",
            "Flow aggregate keys evicted at the collector's key cap (flow_max_keys), stored early",
            m.flow_evictions.clone(),
        );
        registry.register(
            "table_drift",
            "Differences between portreeve's table in the kernel and the ruleset it installed",
            m.table_drift.clone(),
        );
        registry.register(
            "flow_other_protocol_records",
            "Flow records of protocols other than TCP and UDP, counted but not aggregated per port",
            m.flow_other_protocol_records.clone(),
        );
        registry.register(
            "agent_queue_dropped",
            "Items dropped because a bounded queue between the agent's threads was full",
            m.queue_dropped.clone(),
        );
        registry.register(
            "metrics_requests_rejected",
            format!(
                "Connections to the metrics endpoint answered 503 because it was serving \
                 its limit of {MAX_CONNECTIONS} at once"
            ),
            m.requests_rejected.clone(),
        );
        registry.register(
            "detections",
            "Scan detections by scan kind and by the tier that decided (kernel, agent)",
            m.detections.clone(),
        );
        registry.register(
            "breaker_tripped",
            "1 while the circuit breaker is tripped",
            m.breaker_tripped.clone(),
        );
        registry.register(
            "breaker_trips",
            "Circuit breaker trips, automatic or by hand",
            m.breaker_trips.clone(),
        );
        registry.register(
            "breaker_tripped_seconds",
            "Time the circuit breaker spent tripped while the agent ran",
            m.breaker_tripped_seconds.clone(),
        );
        registry.register(
            "blocks_active",
            "Sources blocked now, manual (portreeve block) or automatic (kernel scan detection)",
            m.blocks_active.clone(),
        );
        registry.register(
            "capture_bytes",
            "Bytes written to packet captures of detected sources",
            m.capture_bytes.clone(),
        );
        registry.register(
            "alert_sink_failures",
            "Alerts a sink gave up on after its retries or dropped from its full queue",
            m.alert_sink_failures.clone(),
        );
        registry.register(
            "fleet_pushes",
            "Pushes sent to the fleet server: delivered, duplicate (stored before) or failed",
            m.fleet_pushes.clone(),
        );
        registry.register(
            "fleet_outbox_pushes",
            "Pushes waiting in the outbox for the fleet server",
            m.fleet_outbox_pushes.clone(),
        );
        registry.register(
            "fleet_outbox_dropped",
            "Pushes dropped from the full outbox: snapshot (superseded by a later one) or drift",
            m.fleet_outbox_dropped.clone(),
        );
        registry.register(
            "usage_anomalies",
            "Hours whose new connections were implausible for the port: burst, unused-hour, quiet-port-busy",
            m.usage_anomalies.clone(),
        );
        let m = Metrics { registry, ..m };
        m.start_at_zero();
        m
    }

    /// Creates, at 0, the series of every label value known in advance, so
    /// that they are served from the first scrape: a rate or an alert on a
    /// series that only appears at its first event misses that event, and
    /// a dashboard shows "no data" rather than 0.
    fn start_at_zero(&self) {
        for severity in Severity::ALL {
            create(&self.findings, "severity", severity.as_str());
        }
        for state in PORT_STATES {
            create(&self.ports, "state", state.as_str());
        }
        for kind in DriftKind::ALL {
            create(&self.drift_events, "kind", kind.as_str());
        }
        let dropped = DropReason::ALL.map(DropReason::label);
        for result in ["decoded", crate::collector::UNKNOWN_EXPORTER]
            .into_iter()
            .chain(dropped)
        {
            create(&self.flow_datagrams, "result", result);
        }
        for source in ERROR_SOURCES {
            create(&self.errors, "source", source);
        }
        create(&self.queue_dropped, "queue", "conntrack");
        create(&self.queue_dropped, "queue", "scan");
        create(&self.queue_dropped, "queue", "enrichment");
        for kind in SCAN_KINDS {
            for tier in [Tier::Kernel, Tier::Agent] {
                drop(self.detections.get_or_create(&detection_labels(kind, tier)));
            }
        }
        for kind in BLOCK_KINDS {
            create(&self.blocks_active, "kind", kind);
        }
        for result in ["delivered", "duplicate", "failed"] {
            create(&self.fleet_pushes, "result", result);
        }
        for content in [Content::Snapshot, Content::Drift] {
            create(&self.fleet_outbox_dropped, "content", content.as_str());
        }
    }

    /// Counts one scan detection in `portreeve_detections_total`.
    pub fn count_detection(&self, kind: ScanKind, tier: Tier) {
        self.detections
            .get_or_create(&detection_labels(kind, tier))
            .inc();
    }

    /// Counts one anomalous hour of `key` in
    /// `portreeve_usage_anomalies_total`.
    pub fn count_usage_anomaly(&self, key: PortKey, kind: AnomalyKind) {
        self.usage_anomalies
            .get_or_create(&anomaly_labels(key, kind))
            .inc();
    }

    /// Creates, at 0, the `portreeve_usage_anomalies_total` series of
    /// every kind for each port in `keys` (the ports with history), so
    /// that a port's first anomaly is an increase a rate sees.
    pub fn usage_anomaly_ports(&self, keys: impl IntoIterator<Item = PortKey>) {
        for key in keys {
            for kind in ANOMALY_KINDS {
                drop(
                    self.usage_anomalies
                        .get_or_create(&anomaly_labels(key, kind)),
                );
            }
        }
    }

    /// Sets `portreeve_blocks_active`: how many blocks are `manual` and
    /// how many `automatic`, as `portreeve_app::blocks::list` tells them.
    pub fn set_blocks_active(&self, manual: usize, automatic: usize) {
        for (kind, n) in BLOCK_KINDS.into_iter().zip([manual, automatic]) {
            self.blocks_active
                .get_or_create(&[("kind", kind.to_string())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Brings `portreeve_capture_bytes_total` up to `written`, the
    /// captures' running total (`Captures::bytes_written`). The counter
    /// takes the larger of the two, so callers on several threads cannot
    /// count a byte twice.
    pub fn set_capture_bytes(&self, written: u64) {
        self.capture_bytes
            .inner()
            .fetch_max(written, Ordering::Relaxed);
    }

    /// Brings `portreeve_alert_sink_failures_total` up to the sinks' own
    /// counters (`Alerts::stats`): a failure is an alert given up on after
    /// the retries, or dropped from a full queue.
    pub fn set_alert_sink_failures<'a>(
        &self,
        sinks: impl IntoIterator<Item = (&'a str, SinkStats)>,
    ) {
        for (sink, stats) in sinks {
            self.alert_sink_failures
                .get_or_create(&[("sink", sink.to_string())])
                .inner()
                .fetch_max(stats.failed + stats.dropped, Ordering::Relaxed);
        }
    }

    /// Counts one failure of `source`, one of [`ERROR_SOURCES`], in
    /// `portreeve_agent_errors_total`.
    pub fn count_error(&self, source: &str) {
        debug_assert!(ERROR_SOURCES.contains(&source), "undocumented {source}");
        self.errors
            .get_or_create(&[("source", source.to_string())])
            .inc();
    }

    /// The metrics in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        prometheus_text(&self.render_openmetrics())
    }

    /// The metrics in the OpenMetrics text format (1.0.0).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Every scan kind, for the series of `portreeve_detections_total` that
/// start at 0.
const SCAN_KINDS: [ScanKind; 4] = [
    ScanKind::Vertical,
    ScanKind::Horizontal,
    ScanKind::Stealth,
    ScanKind::Udp,
];
/// The kinds of block `portreeve_blocks_active` counts, as
/// `portreeve_app::blocks::BlockRow::kind` names them.
const BLOCK_KINDS: [&str; 2] = ["manual", "automatic"];

/// Every kind of usage anomaly.
const ANOMALY_KINDS: [AnomalyKind; 3] = [
    AnomalyKind::Burst,
    AnomalyKind::UnusedHour,
    AnomalyKind::QuietPortBusy,
];

/// The labels of one series of `portreeve_usage_anomalies_total`.
fn anomaly_labels(key: PortKey, kind: AnomalyKind) -> [Label; 3] {
    [
        ("protocol", key.protocol.to_string()),
        ("port", key.port.to_string()),
        ("kind", kind.as_str().to_string()),
    ]
}

/// The labels of one series of `portreeve_detections_total`.
fn detection_labels(kind: ScanKind, tier: Tier) -> [Label; 2] {
    [
        ("kind", kind.name().to_string()),
        ("tier", tier.name().to_string()),
    ]
}

/// Creates the series of `family` labelled `name=value`, at 0.
fn create<M: Default>(family: &Family<[Label; 1], M>, name: &'static str, value: &str) {
    drop(family.get_or_create(&[(name, value.to_string())]));
}

pub use portreeve_core::prometheus::prometheus_text;

/// The content type of [`Metrics::render`]'s output, served by default.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of [`Metrics::render_openmetrics`]'s output, served to
/// scrapers whose `Accept` header names it.
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The longest request head read.
const MAX_REQUEST: usize = 8 * 1024;

/// The most connections the endpoint serves at once; one more is answered
/// `503 Service Unavailable` at once and closed.
///
/// Why 64: a scrape needs one connection, and a Prometheus pair, a second
/// scraper and an operator's `curl` need a handful; 64 leaves room for them
/// beside dozens of stray or idle connections, while capping the endpoint
/// at 64 threads and 64 file descriptors, little beside the agent's other
/// work and the usual soft limit of 1,024 descriptors. A connection holds
/// its slot for at most [`REQUEST_DEADLINE`] plus [`WRITE_DEADLINE`] (7 s),
/// so keeping scrapes out takes a client opening a connection every 100 ms
/// without pause (32 a second if it only idles); against that, the endpoint
/// belongs on a management address.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client has, in all, to send its request head (not per read:
/// a client dripping a byte at a time is cut off all the same).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long the endpoint spends, in all, writing one reply to a client
/// that does not read it.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How often the acceptor and the connections' threads look at the stop
/// flag while they wait; [`Endpoint::stop`] returns within about this.
const POLL: Duration = Duration::from_millis(50);

/// A running `/metrics` endpoint.
///
/// One thread accepts connections and gives each a thread of its own,
/// which reads the request head, answers, and closes; at most
/// [`MAX_CONNECTIONS`] such threads live at once. Beyond that the acceptor
/// itself answers `503 Service Unavailable` (without waiting on the client)
/// and counts it in `portreeve_metrics_requests_rejected_total`, so a few
/// idle or slow clients delay no scrape and a flood of them queues nothing.
///
/// A thread per connection rather than a pool fed by a queue: scrapes come
/// every few seconds at most, so spawning costs nothing measurable, no
/// thread waits between scrapes, and a slow client ties up only its own
/// thread. The acceptor is the only thread that spawns them, so their
/// join handles are the permits of a counting semaphore: it reaps those
/// that finished before counting, and joins the rest when stopped.
pub struct Endpoint {
    /// The address it listens on (useful with port 0).
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Serves `metrics` at `http://ADDRESS/metrics` until stopped.
    pub fn start(address: SocketAddr, metrics: Arc<Metrics>) -> io::Result<Endpoint> {
        let listener = TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || accept(&listener, &metrics, &stopping))?;
        Ok(Endpoint {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for every thread, connections in service
    /// included; they look at the stop flag every 50 ms, so this returns
    /// promptly, idle clients or not.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The acceptor: gives each connection a thread while fewer than
/// [`MAX_CONNECTIONS`] are in service, refuses it otherwise, and joins the
/// connections' threads once `stop` is set.
fn accept(listener: &TcpListener, metrics: &Arc<Metrics>, stop: &Arc<AtomicBool>) {
    let mut serving: Vec<JoinHandle<()>> = Vec::with_capacity(MAX_CONNECTIONS);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                reap(&mut serving);
                if serving.len() >= MAX_CONNECTIONS {
                    metrics.requests_rejected.inc();
                    refuse(stream);
                    continue;
                }
                let (shared, stopping) = (metrics.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("metrics-conn".into())
                    .spawn(move || serve(stream, &shared, &stopping));
                match spawned {
                    Ok(thread) => serving.push(thread),
                    Err(e) => {
                        // The connection went with the closure: it is closed.
                        metrics.requests_rejected.inc();
                        tracing::warn!(error = %e, "metrics endpoint: cannot start a thread");
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reap(&mut serving);
                std::thread::sleep(POLL);
            }
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                std::thread::sleep(POLL);
            }
        }
    }
    for thread in serving {
        let _ = thread.join();
    }
}

/// Joins the connections' threads that have finished, freeing their slots.
fn reap(serving: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < serving.len() {
        if serving[i].is_finished() {
            if serving.swap_remove(i).join().is_err() {
                tracing::warn!("metrics endpoint: a connection's thread panicked");
            }
        } else {
            i += 1;
        }
    }
}

/// Answers a connection beyond the bound with `503 Service Unavailable`
/// and closes it, without ever waiting on the client: the acceptor calls
/// it. What the client already sent is read first, and the reply ends
/// with a FIN, so closing does not reset the connection under the reply.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut buf = [0u8; 1024];
    let mut taken = 0;
    while taken < MAX_REQUEST {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => taken += n,
            _ => break,
        }
    }
    let reply = response(
        "503 Service Unavailable",
        "text/plain",
        "busy: too many connections, try again\n",
    );
    // A fresh connection's send buffer takes these few bytes whole.
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Write);
}

/// A connection's thread: answers it and logs what went wrong.
fn serve(mut stream: TcpStream, metrics: &Metrics, stop: &AtomicBool) {
    if let Err(e) = answer(&mut stream, metrics, stop) {
        tracing::debug!(error = %e, "metrics request failed");
    }
}

/// What reading a request head came to.
enum Head {
    /// The head, through its blank line.
    Complete(Vec<u8>),
    /// Longer than [`MAX_REQUEST`].
    TooLarge,
    /// Not complete at [`REQUEST_DEADLINE`]; `started` if any of it came.
    Late { started: bool },
    /// The client closed before completing it.
    Closed,
    /// The endpoint is stopping.
    Stopped,
}

/// Reads one request head and answers it.
fn answer(stream: &mut TcpStream, metrics: &Metrics, stop: &AtomicBool) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let head = match read_head(stream, stop, Instant::now() + REQUEST_DEADLINE)? {
        Head::Complete(head) => head,
        Head::TooLarge => {
            let reply = response("431 Request Header Fields Too Large", "text/plain", "");
            return send(stream, stop, &reply);
        }
        Head::Late { started: true } => {
            return send(
                stream,
                stop,
                &response("408 Request Timeout", "text/plain", ""),
            );
        }
        Head::Late { started: false } | Head::Closed | Head::Stopped => return Ok(()),
    };
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = method == b"HEAD";
    let reply = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") if wants_openmetrics(&head) => {
            response("200 OK", OPENMETRICS_TEXT, &metrics.render_openmetrics())
        }
        (b"GET" | b"HEAD", b"/metrics") => response("200 OK", PROMETHEUS_TEXT, &metrics.render()),
        (b"GET" | b"HEAD", _) => response("404 Not Found", "text/plain", "try /metrics\n"),
        _ => response("405 Method Not Allowed", "text/plain", "GET or HEAD only\n"),
    };
    let reply = if head_only {
        without_body(reply)
    } else {
        reply
    };
    send(stream, stop, &reply)
}

/// Whether a request head's `Accept` header names OpenMetrics (with a
/// quality above 0), as Prometheus's does: only then is it served.
fn wants_openmetrics(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .flat_map(|(_, value)| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && !parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f64>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
}

/// A reply cut to its head: what `HEAD` is answered, with the
/// `Content-Length` of the `GET`.
fn without_body(mut reply: Vec<u8>) -> Vec<u8> {
    if let Some(at) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
        reply.truncate(at + 4);
    }
    reply
}

/// Reads until the blank line ending a request head, for at most
/// `deadline` in all, looking at `stop` every [`POLL`].
fn read_head(stream: &mut TcpStream, stop: &AtomicBool, deadline: Instant) -> io::Result<Head> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Head::Stopped);
        }
        let Some(left) = time_left(deadline) else {
            return Ok(Head::Late {
                started: !head.is_empty(),
            });
        };
        stream.set_read_timeout(Some(left.min(POLL)))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(Head::Closed),
            Ok(n) => {
                // The blank line may straddle two reads.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&buf[..n]);
                if let Some(at) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                    let end = from + at + 4;
                    if end <= MAX_REQUEST {
                        head.truncate(end);
                        return Ok(Head::Complete(head));
                    }
                }
                if head.len() > MAX_REQUEST {
                    return Ok(Head::TooLarge);
                }
            }
            Err(e) if crate::nothing_yet(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The time from now until `deadline`, if any is left.
fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|d| !d.is_zero())
}

/// One whole reply; the connection closes after it.
fn response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes a reply within [`WRITE_DEADLINE`] in all, looking at `stop`
/// every [`POLL`].
fn send(stream: &mut TcpStream, stop: &AtomicBool, reply: &[u8]) -> io::Result<()> {
    let deadline = Instant::now() + WRITE_DEADLINE;
    let mut rest = reply;
    while !rest.is_empty() {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the endpoint is stopping"));
        }
        let Some(left) = time_left(deadline) else {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not take the reply in time",
            ));
        };
        stream.set_write_timeout(Some(left.min(POLL)))?;
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => rest = &rest[n..],
            Err(e) if crate::nothing_yet(&e) => {}
            Err(e) => return Err(e),
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(address: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(address).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn every_counter_is_named_by_its_samples_and_known_labels_start_at_zero() {
        let text = Metrics::new().render();
        for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = line.split_once(' ').unwrap();
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        for series in [
            "portreeve_findings{severity=\"critical\"} 0\n",
            "portreeve_ports{state=\"reclaimed\"} 0\n",
            "portreeve_drift_events_total{kind=\"owner_changed\"} 0\n",
            "portreeve_flow_datagrams_total{result=\"decoded\"} 0\n",
            "portreeve_flow_datagrams_total{result=\"unknown_exporter\"} 0\n",
            "portreeve_agent_errors_total{source=\"table_drift\"} 0\n",
            "portreeve_agent_queue_dropped_total{queue=\"conntrack\"} 0\n",
            "portreeve_agent_queue_dropped_total{queue=\"enrichment\"} 0\n",
            "portreeve_detections_total{kind=\"stealth\",tier=\"kernel\"} 0\n",
            "portreeve_detections_total{kind=\"udp\",tier=\"agent\"} 0\n",
            "portreeve_blocks_active{kind=\"manual\"} 0\n",
            "portreeve_blocks_active{kind=\"automatic\"} 0\n",
            "portreeve_capture_bytes_total 0\n",
        ] {
            assert!(text.contains(series), "{series}{text}");
        }
    }

    #[test]
    fn detection_block_capture_and_sink_metrics_follow_their_sources() {
        let m = Metrics::new();
        m.count_detection(ScanKind::Vertical, Tier::Agent);
        m.count_detection(ScanKind::Vertical, Tier::Agent);
        m.count_detection(ScanKind::Udp, Tier::Kernel);
        m.set_blocks_active(2, 7);
        m.set_blocks_active(1, 5);
        m.set_capture_bytes(4096);
        m.set_capture_bytes(1000); // an older reading: no change
        let stats = |failed, dropped| SinkStats {
            failed,
            dropped,
            ..SinkStats::default()
        };
        m.set_alert_sink_failures([("webhook[0]", stats(1, 0)), ("siem", stats(0, 0))]);
        m.set_alert_sink_failures([("webhook[0]", stats(3, 2))]);
        let web = PortKey::new(portreeve_core::Proto::Tcp, 8080);
        m.usage_anomaly_ports([web, PortKey::new(portreeve_core::Proto::Udp, 53)]);
        m.count_usage_anomaly(web, AnomalyKind::Burst);
        m.usage_anomaly_ports([web]);
        let text = m.render();
        for series in [
            "portreeve_detections_total{kind=\"vertical\",tier=\"agent\"} 2\n",
            "portreeve_detections_total{kind=\"udp\",tier=\"kernel\"} 1\n",
            "portreeve_detections_total{kind=\"vertical\",tier=\"kernel\"} 0\n",
            "portreeve_blocks_active{kind=\"manual\"} 1\n",
            "portreeve_blocks_active{kind=\"automatic\"} 5\n",
            "portreeve_capture_bytes_total 4096\n",
            "portreeve_alert_sink_failures_total{sink=\"webhook[0]\"} 5\n",
            "portreeve_alert_sink_failures_total{sink=\"siem\"} 0\n",
            "portreeve_usage_anomalies_total{protocol=\"tcp\",port=\"8080\",kind=\"burst\"} 1\n",
            "portreeve_usage_anomalies_total{protocol=\"udp\",port=\"53\",kind=\"unused-hour\"} 0\n",
            "portreeve_usage_anomalies_total{protocol=\"udp\",port=\"53\",kind=\"quiet-port-busy\"} 0\n",
        ] {
            assert!(text.contains(series), "{series}{text}");
        }
        // Prometheus's own check, lints included, when it is installed.
        let test = "detection_block_capture_and_sink_metrics_follow_their_sources";
        if portreeve_testkit::require_programs(test, &["promtool"]) {
            let checked = portreeve_testkit::run_with_input(
                std::process::Command::new("promtool").args(["check", "metrics"]),
                text.as_bytes(),
            );
            let complaints = format!(
                "{}{}",
                portreeve_testkit::stdout(&checked),
                portreeve_testkit::stderr(&checked)
            );
            assert!(
                checked.status.success() && complaints.trim().is_empty(),
                "promtool check metrics: {complaints}\n{text}"
            );
        }
    }

    #[test]
    fn openmetrics_is_wanted_only_when_the_accept_header_names_it() {
        let wants = |head: &str| wants_openmetrics(head.as_bytes());
        assert!(wants(
            "GET /metrics HTTP/1.1\r\naccept: application/openmetrics-text;version=1.0.0,\
             text/plain;version=0.0.4;q=0.5\r\n\r\n"
        ));
        assert!(!wants(
            "GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n"
        ));
        assert!(!wants("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!wants(
            "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; q=0, */*\r\n\r\n"
        ));
    }

    #[test]
    fn metrics_are_served_over_http() {
        portreeve_testkit::in_fresh_netns("metrics_are_served_over_http", || {
            let metrics = Arc::new(Metrics::new());
            metrics.up.set(1);
            metrics
                .drift_events
                .get_or_create(&[("kind", "new_listener".into())])
                .inc();
            metrics
                .last_access_age
                .get_or_create(&[("protocol", "tcp".into()), ("port", "22".into())])
                .set(12.5);
            let endpoint =
                Endpoint::start("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
            let reply = get(endpoint.address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.contains("portreeve_agent_up 1\n"), "{reply}");
            assert!(
                reply.contains("portreeve_drift_events_total{kind=\"new_listener\"} 1\n"),
                "{reply}"
            );
            assert!(
                reply.contains(
                    "portreeve_port_last_access_age_seconds{protocol=\"tcp\",port=\"22\"} 12.5\n"
                ),
                "{reply}"
            );
            assert!(
                reply.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
                "{reply}"
            );
            assert!(!reply.contains("# EOF"), "{reply}");
            let open = get(
                endpoint.address,
                "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n",
            );
            assert!(open.trim_end().ends_with("# EOF"), "{open}");
            let head = get(endpoint.address, "HEAD /metrics HTTP/1.1\r\n\r\n");
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(head.ends_with("\r\n\r\n"), "no body: {head}");
            let other = get(endpoint.address, "GET / HTTP/1.1\r\n\r\n");
            assert!(other.starts_with("HTTP/1.1 404"), "{other}");
            let post = get(endpoint.address, "POST /metrics HTTP/1.1\r\n\r\n");
            assert!(post.starts_with("HTTP/1.1 405"), "{post}");
            let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
            assert!(get(endpoint.address, &huge).starts_with("HTTP/1.1 431"));
            endpoint.stop();
        });
    }
}

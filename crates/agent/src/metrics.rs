//! The agent's Prometheus metrics and the `/metrics` endpoint.
//!
//! The metric families are prometheus-client's; the endpoint is a small
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

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// One label.
type Label = (&'static str, String);
/// A gauge holding seconds.
type Seconds = Gauge<f64, AtomicU64>;

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
            "Failures by source (inventory, store, conntrack, lifecycle, reclaim, table_drift)",
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
        Metrics { registry, ..m }
    }

    /// Counts one failure of `source` (`inventory`, `store`, `conntrack`,
    /// `lifecycle`, `reclaim`) in `portreeve_agent_errors_total`.
    pub fn count_error(&self, source: &str) {
        self.errors
            .get_or_create(&[("source", source.to_string())])
            .inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The content type of [`Metrics::render`]'s output.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
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
            return respond(
                stream,
                stop,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
        Head::Late { started: true } => {
            return respond(stream, stop, "408 Request Timeout", "text/plain", "");
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
    match (method, path) {
        (b"GET", b"/metrics") => respond(stream, stop, "200 OK", CONTENT_TYPE, &metrics.render()),
        (b"GET", _) => respond(
            stream,
            stop,
            "404 Not Found",
            "text/plain",
            "try /metrics\n",
        ),
        _ => respond(
            stream,
            stop,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        ),
    }
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
fn respond(
    stream: &mut TcpStream,
    stop: &AtomicBool,
    status: &str,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let reply = response(status, content_type, body);
    let deadline = Instant::now() + WRITE_DEADLINE;
    let mut rest = &reply[..];
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
            assert!(reply.trim_end().ends_with("# EOF"), "{reply}");
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

//! The agent's Prometheus metrics and the `/metrics` endpoint.
//!
//! The metric families are prometheus-client's; the endpoint is a small
//! HTTP/1.1 responder on a thread of its own. The agent is otherwise a few
//! plain threads, and an async runtime plus a web framework for one GET
//! route would be most of its size; the responder reads one request head
//! (bounded, with a timeout), answers, and closes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// `portreeve_findings{severity}`: findings of the latest check.
    pub findings: Family<[Label; 1], Gauge>,
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
    /// `portreeve_flow_other_protocol_records_total`: decoded records of
    /// protocols other than TCP and UDP, counted instead of aggregated.
    pub flow_other_protocol_records: Counter,
    /// `portreeve_agent_queue_dropped_total{queue}`: items dropped because
    /// a bounded queue between the agent's threads was full.
    pub queue_dropped: Family<[Label; 1], Counter>,
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
            listeners: Gauge::default(),
            up: Gauge::default(),
            last_reading: Seconds::default(),
            reading_duration: Seconds::default(),
            errors: Family::default(),
            conntrack_events: Counter::default(),
            conntrack_overruns: Counter::default(),
            flow_datagrams: Family::default(),
            flow_records: Counter::default(),
            flow_other_protocol_records: Counter::default(),
            queue_dropped: Family::default(),
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
            "Findings of the latest policy check by severity",
            m.findings.clone(),
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
            "Failures by source (inventory, store, conntrack, lifecycle, reclaim)",
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
            "flow_other_protocol_records",
            "Flow records of protocols other than TCP and UDP, counted but not aggregated per port",
            m.flow_other_protocol_records.clone(),
        );
        registry.register(
            "agent_queue_dropped",
            "Items dropped because a bounded queue between the agent's threads was full",
            m.queue_dropped.clone(),
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

/// A running `/metrics` endpoint.
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
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Err(e) = answer(stream, &metrics) {
                                tracing::debug!(error = %e, "metrics request failed");
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => tracing::warn!(error = %e, "metrics endpoint: accept failed"),
                    }
                }
            })?;
        Ok(Endpoint {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the thread.
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

/// Reads one request head and answers it.
fn answer(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => respond(&mut stream, "200 OK", CONTENT_TYPE, &metrics.render()),
        (b"GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "try /metrics\n"),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        ),
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
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
        let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
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
    }
}

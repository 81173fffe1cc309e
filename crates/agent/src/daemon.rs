//! The agent's loop: read the listening sockets every interval, record
//! what drifted, count new connections per port, keep the metrics current,
//! and stop cleanly when asked.
//!
//! Persistence is behind [`History`], so the loop is tested without a
//! database and the store can change (SQLite on a host, PostgreSQL for a
//! fleet) without touching it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_core::words::or_none;
use portreeve_core::{ListeningSocket, Proto, source_network};

use crate::conntrack::NewConnection;
use crate::drift::{self, Drift, Snapshot};
use crate::metrics::Metrics;

/// Sources remembered one by one per port between saves; beyond this a new
/// source is counted in its /24 or /64, and the distinct count is a floor.
pub const MAX_SOURCES_PER_PORT: usize = 4096;

/// How one port was used since the agent last saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUse {
    /// Transport protocol.
    pub protocol: Proto,
    /// Local port.
    pub port: u16,
    /// The latest new connection.
    pub last_access: Timestamp,
    /// New connections counted.
    pub connections: u64,
    /// New connections per source: single addresses (at most
    /// [`MAX_SOURCES_PER_PORT`]), then the /24 or /64 of further ones.
    pub sources: BTreeMap<IpNet, u64>,
}

/// What the loop persists, and reads back after a restart.
pub trait History {
    /// The listeners seen last before the agent stopped, if any: the first
    /// reading is compared with them, so a restart reports only what
    /// changed while the agent was down.
    fn last_snapshot(&mut self) -> Result<Option<Snapshot>, String>;
    /// Every port's use so far (accumulated over all recorded intervals).
    fn usage(&mut self) -> Result<Vec<PortUse>, String>;
    /// Records one interval's findings: the listeners now, what drifted,
    /// and the use of each port since the previous call.
    fn record(
        &mut self,
        at: Timestamp,
        snapshot: &Snapshot,
        drift: &[Drift],
        usage: &[PortUse],
    ) -> Result<(), String>;
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Time between readings of the listening sockets.
    pub interval: Duration,
}

/// Counts new connections to local listeners, per port, between saves.
#[derive(Default)]
struct UsageCounter {
    ports: BTreeMap<(Proto, u16), PortUse>,
    /// Whether each destination seen since the last save is one of this
    /// namespace's own addresses ([`is_local`]), so a busy port costs one
    /// check per address and interval rather than one per connection;
    /// forgotten at each save, as addresses come and go.
    local: HashMap<IpAddr, bool>,
}

impl UsageCounter {
    fn count(&mut self, c: &NewConnection, at: Timestamp, listening: &BTreeSet<(Proto, u16)>) {
        // Outgoing connections from this host land on someone else's port,
        // even when that port's number also listens here.
        if !listening.contains(&(c.protocol, c.port))
            || !*self
                .local
                .entry(c.destination)
                .or_insert_with(|| is_local(c.destination))
        {
            return;
        }
        let e = self
            .ports
            .entry((c.protocol, c.port))
            .or_insert_with(|| PortUse {
                protocol: c.protocol,
                port: c.port,
                last_access: at,
                connections: 0,
                sources: BTreeMap::new(),
            });
        e.last_access = e.last_access.max(at);
        e.connections += 1;
        let source = IpNet::from(c.source);
        let counted = if e.sources.len() < MAX_SOURCES_PER_PORT || e.sources.contains_key(&source) {
            source
        } else {
            source_network(source)
        };
        *e.sources.entry(counted).or_default() += 1;
    }

    fn take(&mut self) -> Vec<PortUse> {
        self.local.clear();
        std::mem::take(&mut self.ports).into_values().collect()
    }
}

/// Whether `address` is one of this network namespace's own, so a
/// connection to it is incoming: binding a socket to it succeeds only then.
/// Nothing is sent. (An IPv6 link-local destination, which needs its
/// interface to bind, is not counted.)
pub(crate) fn is_local(address: IpAddr) -> bool {
    std::net::UdpSocket::bind((address, 0)).is_ok()
}

/// Runs the loop until `stop` is set: every `interval`, `read` the
/// listening sockets, compare, drain `connections`, record into `history`,
/// update `metrics`, and hand the sockets to `observe` (the policy's
/// findings and the lifecycle live above this crate). Failures of one interval are counted and logged,
/// and the loop goes on.
pub fn run(
    config: &LoopConfig,
    read: &mut dyn FnMut() -> Result<Vec<ListeningSocket>, String>,
    connections: Option<&Receiver<NewConnection>>,
    history: &mut dyn History,
    observe: &mut dyn FnMut(&[ListeningSocket]),
    metrics: &Arc<Metrics>,
    stop: &AtomicBool,
) {
    let mut previous = match history.last_snapshot() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the previous listeners; starting afresh");
            None
        }
    };
    let mut usage = UsageCounter::default();
    // The last access of every port ever used, for the age metric.
    let mut last_access: BTreeMap<(Proto, u16), Timestamp> = match history.usage() {
        Ok(all) => all
            .into_iter()
            .map(|u| ((u.protocol, u.port), u.last_access))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read past port usage");
            BTreeMap::new()
        }
    };
    metrics.up.set(1);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let now = Timestamp::now();
        match read() {
            Ok(sockets) => {
                let snapshot = drift::snapshot(&sockets);
                let listening: BTreeSet<(Proto, u16)> =
                    sockets.iter().map(|s| (s.protocol, s.port)).collect();
                if let Some(rx) = connections {
                    while let Ok(c) = rx.try_recv() {
                        metrics.conntrack_events.inc();
                        usage.count(&c, now, &listening);
                    }
                }
                let changes = match &previous {
                    Some(old) => drift::diff(old, &snapshot),
                    // The very first reading: nothing to compare with.
                    None => Vec::new(),
                };
                for d in &changes {
                    tracing::info!(
                        kind = d.kind.as_str(),
                        listener = %d.listener,
                        old_owner = %or_none(d.old_owner.as_ref()),
                        new_owner = %or_none(d.new_owner.as_ref()),
                        "listener drift"
                    );
                    metrics
                        .drift_events
                        .get_or_create(&[("kind", d.kind.as_str().into())])
                        .inc();
                }
                let used = usage.take();
                for u in &used {
                    let e = last_access
                        .entry((u.protocol, u.port))
                        .or_insert(u.last_access);
                    *e = (*e).max(u.last_access);
                }
                for (protocol, port) in &listening {
                    if let Some(t) = last_access.get(&(*protocol, *port)) {
                        metrics
                            .last_access_age
                            .get_or_create(&[
                                ("protocol", protocol.to_string()),
                                ("port", port.to_string()),
                            ])
                            .set(t.duration_until(now).as_secs_f64().max(0.0));
                    }
                }
                if let Err(e) = history.record(now, &snapshot, &changes, &used) {
                    tracing::warn!(error = %e, "cannot record this interval");
                    metrics.count_error("store");
                }
                metrics.listeners.set(sockets.len() as i64);
                metrics
                    .last_reading
                    .set(now.as_millisecond() as f64 / 1000.0);
                metrics
                    .reading_duration
                    .set(started.elapsed().as_secs_f64());
                observe(&sockets);
                previous = Some(snapshot);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the listening sockets");
                metrics.count_error("inventory");
            }
        }
        // Sleep in short steps, so a stop request is honoured promptly.
        let deadline = started + config.interval;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50).min(deadline - Instant::now()));
        }
    }
    metrics.up.set(0);
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A [`History`] in memory, to test the loop without a database.
    #[derive(Debug, Default)]
    pub struct MemoryHistory {
        /// The latest snapshot recorded.
        pub snapshot: Option<Snapshot>,
        /// Every drift recorded, with its time.
        pub drift: Vec<(Timestamp, Drift)>,
        /// Usage per port, accumulated.
        pub usage: BTreeMap<(Proto, u16), PortUse>,
    }

    impl History for MemoryHistory {
        fn last_snapshot(&mut self) -> Result<Option<Snapshot>, String> {
            Ok(self.snapshot.clone())
        }

        fn usage(&mut self) -> Result<Vec<PortUse>, String> {
            Ok(self.usage.values().cloned().collect())
        }

        fn record(
            &mut self,
            at: Timestamp,
            snapshot: &Snapshot,
            drift: &[Drift],
            usage: &[PortUse],
        ) -> Result<(), String> {
            self.snapshot = Some(snapshot.clone());
            self.drift.extend(drift.iter().map(|d| (at, d.clone())));
            for u in usage {
                let e = self
                    .usage
                    .entry((u.protocol, u.port))
                    .or_insert_with(|| PortUse {
                        connections: 0,
                        sources: BTreeMap::new(),
                        ..u.clone()
                    });
                e.last_access = e.last_access.max(u.last_access);
                e.connections += u.connections;
                for (source, n) in &u.sources {
                    *e.sources.entry(*source).or_default() += n;
                }
            }
            Ok(())
        }
    }

    use portreeve_testkit::listening_socket as socket;

    #[test]
    fn past_the_per_port_cap_new_sources_count_in_their_network() {
        let mut counter = UsageCounter::default();
        let listening = BTreeSet::from([(Proto::Tcp, 22)]);
        let at = Timestamp::now();
        let from = |i: usize| NewConnection {
            protocol: Proto::Tcp,
            source: IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]),
            destination: "127.0.0.1".parse().unwrap(),
            port: 22,
        };
        for i in 0..MAX_SOURCES_PER_PORT {
            counter.count(&from(i), at, &listening);
        }
        // Full: a known source counts as itself, a new one in its /24.
        counter.count(&from(0), at, &listening);
        counter.count(&from(MAX_SOURCES_PER_PORT + 1), at, &listening);
        let used = counter.take();
        let sources = &used[0].sources;
        assert_eq!(sources[&"10.1.0.0/32".parse().unwrap()], 2);
        let network: IpNet = "10.1.16.0/24".parse().unwrap();
        assert_eq!(sources[&network], 1, "{:?}", sources.keys().last());
        assert_eq!(sources.len(), MAX_SOURCES_PER_PORT + 1);
        assert_eq!(used[0].connections, MAX_SOURCES_PER_PORT as u64 + 2);
    }

    #[test]
    fn the_loop_records_drift_usage_and_stops() {
        let stop = AtomicBool::new(false);
        let metrics = Arc::new(Metrics::new());
        let mut history = MemoryHistory {
            snapshot: Some(drift::snapshot(&[socket(22), socket(25)])),
            ..MemoryHistory::default()
        };
        let (tx, rx) = mpsc::channel();
        let mut readings = 0;
        let mut read = || {
            readings += 1;
            if readings == 1 {
                for (port, source) in [
                    (22, "10.0.0.5"),
                    (22, "10.0.0.6"),
                    (22, "10.0.0.5"),
                    (443, "10.0.0.7"),
                ] {
                    tx.send(NewConnection {
                        protocol: Proto::Tcp,
                        source: source.parse().unwrap(),
                        destination: "127.0.0.1".parse().unwrap(),
                        port,
                    })
                    .unwrap();
                }
            }
            if readings == 3 {
                stop.store(true, Ordering::Relaxed);
            }
            Ok(if readings == 1 {
                vec![socket(22), socket(25)]
            } else {
                vec![socket(22), socket(8080)]
            })
        };
        run(
            &LoopConfig {
                interval: Duration::from_millis(10),
            },
            &mut read,
            Some(&rx),
            &mut history,
            &mut |_| {},
            &metrics,
            &stop,
        );
        let kinds: Vec<(u16, &str)> = history
            .drift
            .iter()
            .map(|(_, d)| (d.listener.port, d.kind.as_str()))
            .collect();
        // No drift on the first reading: it matches what was saved.
        assert_eq!(kinds, [(25, "listener_gone"), (8080, "new_listener")]);
        let ssh = &history.usage[&(Proto::Tcp, 22)];
        assert_eq!((ssh.connections, ssh.sources.len()), (3, 2));
        assert_eq!(ssh.sources.values().sum::<u64>(), 3, "{:?}", ssh.sources);
        assert!(
            !history.usage.contains_key(&(Proto::Tcp, 443)),
            "nothing listens on 443 here: an outgoing connection"
        );
        let text = metrics.render();
        assert!(
            text.contains("portreeve_drift_events_total{kind=\"new_listener\"} 1"),
            "{text}"
        );
        assert!(text.contains("portreeve_listeners 2"), "{text}");
        assert!(text.contains("portreeve_agent_up 0"), "{text}");
        assert!(
            text.contains("portreeve_port_last_access_age_seconds{protocol=\"tcp\",port=\"22\"}"),
            "{text}"
        );
    }
}

//! Receiving flow telemetry: NetFlow v5/v9 and IPFIX, and sFlow, over UDP.
//!
//! Each listening socket gets a thread with its own decoder (template
//! state is per exporter, and exporters send to one port) and its own
//! aggregator; every flush interval the threads hand over what they
//! aggregated, and the caller merges and stores it. Sockets get a large
//! receive buffer — forced past the system limit when privileged — because
//! a collector that falls behind loses datagrams silently, and telemetry
//! arrives in bursts.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portreeve_flows::{
    Aggregator, BatchReceiver, Counters, DatagramBatch, Decoder, FlowAggregate, FlowRecord,
    ServerPort,
};
use serde::Serialize;

/// Socket receive buffer asked for.
const RECEIVE_BUFFER: usize = 32 << 20;

/// What the collector has done, summed over its sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Datagrams received.
    pub datagrams: u64,
    /// Datagrams decoded.
    pub decoded: u64,
    /// Datagrams dropped as malformed, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Flow records decoded.
    pub records: u64,
    /// Aggregate keys evicted because the cap was reached.
    pub evicted: u64,
    /// Flow records of IP protocols other than TCP and UDP (ICMP, ESP,
    /// GRE, …): not the use of a port, so counted and not aggregated.
    pub other_protocol_records: u64,
}

/// What an aggregator has counted besides its aggregates, at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct AggregatorCounts {
    evicted: u64,
    other_protocol_records: u64,
}

impl AggregatorCounts {
    fn of(aggregator: &Aggregator) -> AggregatorCounts {
        AggregatorCounts {
            evicted: aggregator.evicted(),
            other_protocol_records: aggregator.other_protocol_records(),
        }
    }

    /// What was counted since `before`.
    fn since(self, before: AggregatorCounts) -> AggregatorCounts {
        AggregatorCounts {
            evicted: self.evicted - before.evicted,
            other_protocol_records: self.other_protocol_records - before.other_protocol_records,
        }
    }
}

impl Totals {
    /// What a decoder did between two readings of its counters, and what
    /// its aggregator counted meanwhile.
    fn delta(
        now: &Counters,
        before: &Counters,
        datagrams: u64,
        aggregated: AggregatorCounts,
    ) -> Totals {
        Totals {
            datagrams,
            decoded: now.datagrams_ok - before.datagrams_ok,
            dropped: now
                .datagrams_dropped
                .iter()
                .map(|(reason, n)| {
                    (
                        reason.label().to_string(),
                        n - before.datagrams_dropped.get(reason),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            records: now.records - before.records,
            evicted: aggregated.evicted,
            other_protocol_records: aggregated.other_protocol_records,
        }
    }

    /// Counts `other` in `metrics` too.
    fn count_in(&self, metrics: &crate::metrics::Metrics) {
        metrics
            .flow_datagrams
            .get_or_create(&[("result", "decoded".into())])
            .inc_by(self.decoded);
        for (reason, n) in &self.dropped {
            metrics
                .flow_datagrams
                .get_or_create(&[("result", reason.clone())])
                .inc_by(*n);
        }
        metrics.flow_records.inc_by(self.records);
        metrics
            .flow_other_protocol_records
            .inc_by(self.other_protocol_records);
    }

    fn add(&mut self, other: &Totals) {
        self.datagrams += other.datagrams;
        self.decoded += other.decoded;
        self.records += other.records;
        self.evicted += other.evicted;
        self.other_protocol_records += other.other_protocol_records;
        for (reason, n) in &other.dropped {
            *self.dropped.entry(reason.clone()).or_default() += n;
        }
    }
}

/// One flush from one socket: its aggregates and counts since the last.
struct Report {
    aggregates: Vec<FlowAggregate>,
    totals: Totals,
}

/// A running collector.
pub struct Collector {
    /// The addresses actually bound (useful with port 0).
    pub addresses: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    reports: Receiver<Report>,
    flush: Duration,
}

impl Collector {
    /// Binds every address and starts receiving. NetFlow, IPFIX and sFlow
    /// are told apart by their first bytes, so one kind of socket serves
    /// them all; `addresses` is every `--netflow` and `--sflow` address.
    pub fn start(addresses: &[SocketAddr], flush: Duration) -> io::Result<Collector> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, reports) = mpsc::channel();
        let mut bound = Vec::new();
        let mut threads = Vec::new();
        for &address in addresses {
            let socket = UdpSocket::bind(address)?;
            if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, RECEIVE_BUFFER)
                .is_err()
            {
                let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, RECEIVE_BUFFER);
            }
            socket.set_read_timeout(Some(Duration::from_millis(100)))?;
            bound.push(socket.local_addr()?);
            let (stop, tx) = (stop.clone(), tx.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("collect {address}"))
                    .spawn(move || receive(&socket, &stop, &tx, flush))?,
            );
        }
        Ok(Collector {
            addresses: bound,
            stop,
            threads,
            reports,
            flush,
        })
    }

    /// Waits up to one flush interval and returns the aggregates the
    /// sockets reported meanwhile, merged; their counts go into `totals`
    /// (and `metrics`, if given).
    pub fn next_flush(
        &self,
        totals: &mut Totals,
        metrics: Option<&crate::metrics::Metrics>,
    ) -> Vec<FlowAggregate> {
        let deadline = Instant::now() + self.flush;
        let mut merged = BTreeMap::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.reports.recv_timeout(left) {
                Ok(r) => {
                    totals.add(&r.totals);
                    if let Some(m) = metrics {
                        r.totals.count_in(m);
                    }
                    merge(&mut merged, r.aggregates);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        merged.into_values().collect()
    }

    /// Stops receiving; returns what the sockets had not reported yet.
    pub fn stop(self, totals: &mut Totals) -> Vec<FlowAggregate> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let mut merged = BTreeMap::new();
        while let Ok(r) = self.reports.try_recv() {
            totals.add(&r.totals);
            merge(&mut merged, r.aggregates);
        }
        merged.into_values().collect()
    }
}

/// Merges `aggregates` into `into`, each into the one of its server port
/// by [`FlowAggregate::merge`] (the larger client count, as a lower bound,
/// since distinct counts from separate sockets and flushes cannot be added).
pub fn merge(
    into: &mut BTreeMap<ServerPort, FlowAggregate>,
    aggregates: impl IntoIterator<Item = FlowAggregate>,
) {
    for a in aggregates {
        match into.entry(a.key) {
            Entry::Vacant(slot) => {
                slot.insert(a);
            }
            Entry::Occupied(mut slot) => slot.get_mut().merge(&a),
        }
    }
}

/// One socket's loop: receive, decode, aggregate; report every `flush`.
fn receive(socket: &UdpSocket, stop: &AtomicBool, tx: &Sender<Report>, flush: Duration) {
    let mut decoder = Decoder::default();
    let mut aggregator = Aggregator::default();
    let mut records: Vec<FlowRecord> = Vec::with_capacity(64);
    let (mut receiver, mut batch) = (BatchReceiver::new(), DatagramBatch::new());
    let mut datagrams = 0;
    let mut reported = Counters::default();
    let mut aggregated = AggregatorCounts::default();
    let mut last = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping || last.elapsed() >= flush {
            let counters = decoder.counters().clone();
            let now = AggregatorCounts::of(&aggregator);
            let report = Report {
                aggregates: aggregator.drain(),
                totals: Totals::delta(
                    &counters,
                    &reported,
                    std::mem::take(&mut datagrams),
                    now.since(aggregated),
                ),
            };
            aggregated = now;
            reported = counters;
            if tx.send(report).is_err() || stopping {
                return;
            }
            last = Instant::now();
        }
        match receiver.receive(socket, &mut batch) {
            Ok(n) => {
                datagrams += n as u64;
                // One clock reading per batch: a batch is what was queued
                // at one moment, microseconds apart at most.
                let now_ms = jiff::Timestamp::now().as_millisecond().max(0) as u64;
                for (from, datagram) in batch.datagrams() {
                    records.clear();
                    if decoder.decode(from, datagram, now_ms, &mut records).is_ok() {
                        aggregator.add_all(&records);
                    }
                }
            }
            Err(e) if crate::nothing_yet(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "flow socket failed");
                return;
            }
        }
    }
}

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
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
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

/// Reports waiting for the caller: a few flushes of every socket. When the
/// caller falls behind (a slow store), a socket's thread holds its report
/// and merges the next ones into it instead of queueing more, so memory
/// stays bounded by the aggregator's key cap and nothing is dropped.
const REPORT_QUEUE: usize = 16;

/// One flush from one socket: its aggregates and counts since the last.
struct Report {
    aggregates: Vec<FlowAggregate>,
    totals: Totals,
}

impl Report {
    /// Adds a later report of the same socket to this one.
    fn absorb(&mut self, later: Report) {
        let mut merged = BTreeMap::new();
        merge(&mut merged, std::mem::take(&mut self.aggregates));
        merge(&mut merged, later.aggregates);
        self.aggregates = merged.into_values().collect();
        self.totals.add(&later.totals);
    }
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
        let (tx, reports) = mpsc::sync_channel(REPORT_QUEUE);
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
        let mut merged = BTreeMap::new();
        let mut take = |r: Report| {
            totals.add(&r.totals);
            merge(&mut merged, r.aggregates);
        };
        // Receive while the threads finish: each hands over its last report
        // and may wait for room in the queue to do so.
        while !self.threads.iter().all(JoinHandle::is_finished) {
            if let Ok(r) = self.reports.recv_timeout(Duration::from_millis(20)) {
                take(r);
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        while let Ok(r) = self.reports.try_recv() {
            take(r);
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
fn receive(socket: &UdpSocket, stop: &AtomicBool, tx: &SyncSender<Report>, flush: Duration) {
    let mut decoder = Decoder::default();
    let mut aggregator = Aggregator::default();
    let mut records: Vec<FlowRecord> = Vec::with_capacity(64);
    let (mut receiver, mut batch) = (BatchReceiver::new(), DatagramBatch::new());
    let mut datagrams = 0;
    let mut reported = Counters::default();
    let mut aggregated = AggregatorCounts::default();
    let mut last = Instant::now();
    // A report the caller had no room for yet.
    let mut held: Option<Report> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping || last.elapsed() >= flush {
            let counters = decoder.counters().clone();
            let now = AggregatorCounts::of(&aggregator);
            let mut report = Report {
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
            if let Some(mut earlier) = held.take() {
                earlier.absorb(report);
                report = earlier;
            }
            if stopping {
                // The caller receives until every thread has finished.
                let _ = tx.send(report);
                return;
            }
            match tx.try_send(report) {
                Ok(()) => {}
                Err(TrySendError::Full(report)) => held = Some(report),
                Err(TrySendError::Disconnected(_)) => return,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A NetFlow v5 datagram with one flow 10.0.0.2:40000 → 10.0.0.1:443/tcp.
    fn v5_datagram(sequence: u32) -> Vec<u8> {
        let mut d = Vec::with_capacity(72);
        d.extend_from_slice(&5u16.to_be_bytes()); // version
        d.extend_from_slice(&1u16.to_be_bytes()); // count
        d.extend_from_slice(&1_000u32.to_be_bytes()); // sys_uptime
        d.extend_from_slice(&1_765_000_000u32.to_be_bytes()); // unix_secs
        d.extend_from_slice(&0u32.to_be_bytes()); // unix_nsecs
        d.extend_from_slice(&sequence.to_be_bytes()); // flow_sequence
        d.extend_from_slice(&[0, 0, 0, 0]); // engine type, id, sampling
        d.extend_from_slice(&[10, 0, 0, 2, 10, 0, 0, 1, 0, 0, 0, 0]); // src, dst, next hop
        d.extend_from_slice(&[0, 1, 0, 2]); // input, output
        d.extend_from_slice(&3u32.to_be_bytes()); // packets
        d.extend_from_slice(&180u32.to_be_bytes()); // bytes
        d.extend_from_slice(&900u32.to_be_bytes()); // first
        d.extend_from_slice(&950u32.to_be_bytes()); // last
        d.extend_from_slice(&40_000u16.to_be_bytes());
        d.extend_from_slice(&443u16.to_be_bytes());
        d.extend_from_slice(&[0, 0x18, 6, 0]); // pad, tcp flags, protocol, tos
        d.extend_from_slice(&[0; 8]); // AS numbers, masks, pad
        d
    }

    #[test]
    fn a_caller_that_falls_behind_loses_nothing() {
        let collector =
            Collector::start(&["127.0.0.1:0".parse().unwrap()], Duration::from_millis(1)).unwrap();
        let to = collector.addresses[0];
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Far more flushes than the queue holds pass while nobody asks.
        let sent = 3 * REPORT_QUEUE as u32;
        for i in 0..sent {
            sender.send_to(&v5_datagram(i), to).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut totals = Totals::default();
        let aggregates = collector.stop(&mut totals);
        assert_eq!(totals.datagrams, u64::from(sent));
        assert_eq!(totals.records, u64::from(sent));
        assert_eq!(aggregates.len(), 1, "{aggregates:?}");
        assert_eq!(aggregates[0].flows, u64::from(sent));
        assert_eq!(aggregates[0].packets, 3 * u64::from(sent));
    }
}

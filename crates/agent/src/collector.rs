//! Receiving flow telemetry: NetFlow v5/v9 and IPFIX, and sFlow, over UDP.
//!
//! Each listening socket gets a thread with its own decoder (template
//! state is per exporter, and exporters send to one port) and its own
//! aggregator; every flush interval the threads hand over what they
//! aggregated, and the caller merges and stores it. Sockets get a large
//! receive buffer — forced past the system limit when privileged — because
//! a collector that falls behind loses datagrams silently, and telemetry
//! arrives in bursts.
//!
//! ## Bounds
//!
//! A collector's memory is bounded by its [`CollectorConfig`], whatever
//! exporters (or anyone spoofing them) send:
//!
//! - **Exporters.** With [`CollectorConfig::exporters`] set, datagrams
//!   from any other address are dropped before decoding, so they create no
//!   decoder state, and are counted (`unknown_exporter` in
//!   [`Totals::dropped`]). The decoder's own caps (exporters, templates per
//!   exporter, samplers) hold in any case.
//! - **Keys.** Each socket's aggregator holds at most
//!   [`CollectorConfig::max_keys`] server ports (about
//!   [`BYTES_PER_KEY`](portreeve_flows::BYTES_PER_KEY) bytes each). A key
//!   evicted to make room is not lost: its aggregate goes to the caller
//!   with the next delivery, to be stored, and is counted
//!   ([`Totals::evicted`]).
//! - **Deliveries.** The sockets hand their aggregates to one outbox that
//!   the caller empties at every flush. It holds up to `max_keys`
//!   aggregates: a socket that finds it full waits for the caller (a slow
//!   store) instead of piling up more, and the kernel's socket buffer takes
//!   the datagrams meanwhile (past it the kernel drops them and counts them
//!   as UDP receive-buffer errors, `nstat -az UdpRcvbufErrors`).
//!
//! - **Sources.** Each socket also tallies the new connections of flow
//!   records to this host's ports per (client, port)
//!   ([`crate::source_tally`]): at most
//!   [`MAX_SOURCES`](crate::source_tally::MAX_SOURCES) clients one by one
//!   per flush, their /24 or /64 past it, handed over at each flush
//!   ([`Collector::next_flush_with_sources`]; [`Collector::next_flush`]
//!   drops them).
//!
//! So with `S` sockets, memory stays within about
//! `max_keys × (S × BYTES_PER_KEY + 5 × BYTES_PER_ROW)`, plus 2 MiB of
//! receive buffers per socket: the aggregators, an outbox of up to about
//! twice `max_keys` aggregates (a socket may add a whole flush to an
//! outbox that is nearly full), and the caller's copies of what it took
//! while it stores them ([`BYTES_PER_ROW`]).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use portreeve_flows::{
    Aggregator, AggregatorConfig, BatchReceiver, Counters, DatagramBatch, Decoder, FlowAggregate,
    FlowRecord, ServerPort,
};
use portreeve_store::SourceUpdate;
use serde::Serialize;

use crate::source_tally::SourceTally;

/// Socket receive buffer asked for.
const RECEIVE_BUFFER: usize = 32 << 20;

/// Memory an aggregate uses in a merged map such as the outbox (the
/// aggregate, its key and the tree's share), for sizing.
pub const BYTES_PER_ROW: usize = 160;

/// The label under which datagrams from exporters not in
/// [`CollectorConfig::exporters`] are counted as dropped.
pub const UNKNOWN_EXPORTER: &str = "unknown_exporter";

/// What limits a collector, and whom it listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Server ports each socket's aggregator holds at most; see the
    /// module docs. Default 1,000,000.
    pub max_keys: usize,
    /// Networks whose exporters are heard; empty hears every address.
    pub exporters: Vec<IpNet>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_keys: AggregatorConfig::default().max_keys,
            exporters: Vec::new(),
        }
    }
}

impl CollectorConfig {
    /// Whether datagrams from `exporter` are heard. An IPv4 exporter
    /// received on a dual-stack IPv6 socket (`::ffff:192.0.2.1`) is
    /// matched as IPv4.
    pub fn hears(&self, exporter: IpAddr) -> bool {
        if self.exporters.is_empty() {
            return true;
        }
        let exporter = exporter.to_canonical();
        self.exporters.iter().any(|n| n.contains(&exporter))
    }
}

/// Parses an exporter network: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or
/// a bare address (one exporter). Host bits must be clear.
pub fn parse_exporter(text: &str) -> Result<IpNet, String> {
    let (address, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let address: IpAddr = address.trim().parse().map_err(|_| {
        format!("`{text}` is not an address or network (e.g. 10.0.0.0/8, 192.0.2.7)")
    })?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{text}`: the prefix length must be 0-{max}"))?,
    };
    let net = IpNet::new(address, prefix).map_err(|e| format!("`{text}`: {e}"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set: did you mean `{}`?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// What the collector has done, summed over its sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Datagrams received.
    pub datagrams: u64,
    /// Datagrams decoded.
    pub decoded: u64,
    /// Datagrams dropped, by reason: malformed (`truncated`,
    /// `no_template`, …) or from an exporter not heard
    /// (`unknown_exporter`).
    pub dropped: BTreeMap<String, u64>,
    /// Flow records decoded.
    pub records: u64,
    /// Aggregate keys evicted because the cap was reached (their
    /// aggregates were delivered early, not lost).
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
    /// its aggregator counted meanwhile; `datagrams` received, of which
    /// `unknown` from exporters not heard.
    fn delta(
        now: &Counters,
        before: &Counters,
        datagrams: u64,
        unknown: u64,
        aggregated: AggregatorCounts,
    ) -> Totals {
        let mut dropped: BTreeMap<String, u64> = now
            .datagrams_dropped
            .iter()
            .map(|(reason, n)| {
                (
                    reason.label().to_string(),
                    n - before.datagrams_dropped.get(reason),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if unknown > 0 {
            dropped.insert(UNKNOWN_EXPORTER.to_string(), unknown);
        }
        Totals {
            datagrams,
            decoded: now.datagrams_ok - before.datagrams_ok,
            dropped,
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
        metrics.flow_evictions.inc_by(self.evicted);
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

    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// In words, for people and logs: `3 datagrams, 2 decoded, 1 dropped (1
/// truncated), 5 flow records (0 not TCP or UDP)`; evictions are left to
/// the caller, who knows the cap.
impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} datagrams, {} decoded, {} dropped",
            self.datagrams,
            self.decoded,
            self.dropped_total()
        )?;
        let mut reasons = self.dropped.iter();
        if let Some((reason, n)) = reasons.next() {
            write!(f, " ({n} {reason}")?;
            for (reason, n) in reasons {
                write!(f, ", {n} {reason}")?;
            }
            f.write_str(")")?;
        }
        write!(
            f,
            ", {} flow records ({} not TCP or UDP)",
            self.records, self.other_protocol_records
        )
    }
}

/// What the sockets delivered and the caller has not taken yet: their
/// aggregates merged, their per-source use, and their counts.
#[derive(Default)]
struct Delivered {
    aggregates: BTreeMap<ServerPort, FlowAggregate>,
    sources: Vec<SourceUpdate>,
    totals: Totals,
}

/// One flush: the aggregates per server port, and the new connections
/// per (client, local port) ([`crate::source_tally`]).
#[derive(Debug, Default)]
pub struct Flush {
    /// Aggregates, merged, one per server port.
    pub aggregates: Vec<FlowAggregate>,
    /// New connections from clients to this host's ports.
    pub sources: Vec<SourceUpdate>,
}

/// Where the sockets deliver and the caller takes: one outbox, bounded by
/// the number of aggregates it holds (see the module docs).
struct Outbox {
    delivered: Mutex<Delivered>,
    /// Signalled when aggregates are delivered and when they are taken.
    changed: Condvar,
    /// Aggregates held before delivering sockets wait for the caller.
    limit: usize,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Delivered> {
        self.delivered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Merges a socket's aggregates and counts in, first waiting while the
    /// outbox is full (unless stopping: the caller then takes everything
    /// until the sockets are done).
    fn deliver(
        &self,
        aggregates: Vec<FlowAggregate>,
        sources: Vec<SourceUpdate>,
        totals: &Totals,
        stop: &AtomicBool,
    ) {
        let mut delivered = self.lock();
        while !aggregates.is_empty()
            && delivered.aggregates.len() >= self.limit
            && !stop.load(Ordering::Relaxed)
        {
            delivered = self
                .changed
                .wait_timeout(delivered, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        merge(&mut delivered.aggregates, aggregates);
        delivered.sources.extend(sources);
        delivered.totals.add(totals);
        drop(delivered);
        self.changed.notify_all();
    }

    /// Takes everything delivered, as soon as the outbox is full or at
    /// `deadline`, whichever comes first.
    fn take(&self, deadline: Instant) -> Delivered {
        let mut delivered = self.lock();
        loop {
            let now = Instant::now();
            if delivered.aggregates.len() >= self.limit || now >= deadline {
                break;
            }
            delivered = self
                .changed
                .wait_timeout(delivered, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let taken = std::mem::take(&mut *delivered);
        drop(delivered);
        self.changed.notify_all();
        taken
    }
}

/// A running collector.
pub struct Collector {
    /// The addresses actually bound (useful with port 0).
    pub addresses: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    outbox: Arc<Outbox>,
    flush: Duration,
}

impl Collector {
    /// Binds every address and starts receiving. NetFlow, IPFIX and sFlow
    /// are told apart by their first bytes, so one kind of socket serves
    /// them all; `addresses` is every `--netflow` and `--sflow` address.
    pub fn start(
        addresses: &[SocketAddr],
        flush: Duration,
        config: &CollectorConfig,
    ) -> io::Result<Collector> {
        let stop = Arc::new(AtomicBool::new(false));
        let outbox = Arc::new(Outbox {
            delivered: Mutex::default(),
            changed: Condvar::new(),
            limit: config.max_keys.max(1),
        });
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
            let (stop, outbox, config) = (stop.clone(), outbox.clone(), config.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("collect {address}"))
                    .spawn(move || receive(&socket, &stop, &outbox, flush, &config))?,
            );
        }
        Ok(Collector {
            addresses: bound,
            stop,
            threads,
            outbox,
            flush,
        })
    }

    /// Waits up to one flush interval (less when the sockets have
    /// delivered as many aggregates as the outbox holds) and returns the
    /// aggregates delivered meanwhile, merged; their counts go into
    /// `totals` (and `metrics`, if given).
    pub fn next_flush(
        &self,
        totals: &mut Totals,
        metrics: Option<&crate::metrics::Metrics>,
    ) -> Vec<FlowAggregate> {
        self.next_flush_with_sources(totals, metrics).aggregates
    }

    /// [`Collector::next_flush`] with the per-source use of the flush.
    pub fn next_flush_with_sources(
        &self,
        totals: &mut Totals,
        metrics: Option<&crate::metrics::Metrics>,
    ) -> Flush {
        let delivered = self.outbox.take(Instant::now() + self.flush);
        totals.add(&delivered.totals);
        if let Some(m) = metrics {
            delivered.totals.count_in(m);
        }
        Flush {
            aggregates: delivered.aggregates.into_values().collect(),
            sources: delivered.sources,
        }
    }

    /// Stops receiving; returns what the sockets had not delivered yet.
    pub fn stop(self, totals: &mut Totals) -> Vec<FlowAggregate> {
        self.stop_with_sources(totals).aggregates
    }

    /// [`Collector::stop`] with the per-source use not delivered yet.
    pub fn stop_with_sources(self, totals: &mut Totals) -> Flush {
        self.stop.store(true, Ordering::Relaxed);
        let mut merged = BTreeMap::new();
        let mut sources = Vec::new();
        let mut take = |d: Delivered| {
            totals.add(&d.totals);
            merge(&mut merged, d.aggregates.into_values());
            sources.extend(d.sources);
        };
        // Take while the threads finish: each delivers its last aggregates.
        while !self.threads.iter().all(JoinHandle::is_finished) {
            take(self.outbox.take(Instant::now() + Duration::from_millis(20)));
        }
        for t in self.threads {
            let _ = t.join();
        }
        take(self.outbox.take(Instant::now()));
        Flush {
            aggregates: merged.into_values().collect(),
            sources,
        }
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

/// One socket's loop: receive, decode, aggregate; deliver every `flush`,
/// and sooner what the key cap evicted.
fn receive(
    socket: &UdpSocket,
    stop: &AtomicBool,
    outbox: &Outbox,
    flush: Duration,
    config: &CollectorConfig,
) {
    let mut decoder = Decoder::default();
    let mut aggregator = Aggregator::new(AggregatorConfig {
        max_keys: config.max_keys,
        ..AggregatorConfig::default()
    });
    let mut tally = SourceTally::default();
    let mut records: Vec<FlowRecord> = Vec::with_capacity(64);
    let (mut receiver, mut batch) = (BatchReceiver::new(), DatagramBatch::new());
    let (mut datagrams, mut unknown) = (0, 0);
    let mut reported = Counters::default();
    let mut aggregated = AggregatorCounts::default();
    let mut last = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let flushing = stopping || last.elapsed() >= flush;
        // Evicted aggregates go out as soon as there are any, so that a
        // socket never holds more than its cap plus one eviction.
        if flushing || aggregator.pending_evicted() > 0 {
            let counters = decoder.counters().clone();
            let now = AggregatorCounts::of(&aggregator);
            let totals = Totals::delta(
                &counters,
                &reported,
                std::mem::take(&mut datagrams),
                std::mem::take(&mut unknown),
                now.since(aggregated),
            );
            (aggregated, reported) = (now, counters);
            let (aggregates, sources) = if flushing {
                (aggregator.drain(), tally.take())
            } else {
                (aggregator.take_evicted(), Vec::new())
            };
            outbox.deliver(aggregates, sources, &totals, stop);
            if stopping {
                return;
            }
            if flushing {
                last = Instant::now();
            }
        }
        match receiver.receive(socket, &mut batch) {
            Ok(n) => {
                datagrams += n as u64;
                // One clock reading per batch: a batch is what was queued
                // at one moment, microseconds apart at most.
                let now_ms = jiff::Timestamp::now().as_millisecond().max(0) as u64;
                for (from, datagram) in batch.datagrams() {
                    // Before decoding: an exporter not heard leaves no
                    // state behind.
                    if !config.hears(from.ip()) {
                        unknown += 1;
                        continue;
                    }
                    records.clear();
                    if decoder.decode(from, datagram, now_ms, &mut records).is_ok() {
                        aggregator.add_all(&records);
                        records.iter().for_each(|r| tally.add(r));
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

    /// A NetFlow v5 datagram with one flow 10.0.0.2:40000 → 10.0.0.1:`port`/tcp.
    fn v5_datagram(sequence: u32, port: u16) -> Vec<u8> {
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
        d.extend_from_slice(&port.to_be_bytes());
        d.extend_from_slice(&[0, 0x18, 6, 0]); // pad, tcp flags, protocol, tos
        d.extend_from_slice(&[0; 8]); // AS numbers, masks, pad
        d
    }

    #[test]
    fn a_caller_that_falls_behind_loses_nothing() {
        portreeve_testkit::in_fresh_netns("a_caller_that_falls_behind_loses_nothing", || {
            let collector = Collector::start(
                &["127.0.0.1:0".parse().unwrap()],
                Duration::from_millis(1),
                &CollectorConfig::default(),
            )
            .unwrap();
            let to = collector.addresses[0];
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            // Dozens of flushes pass while nobody takes them.
            let sent = 48;
            for i in 0..sent {
                sender.send_to(&v5_datagram(i, 443), to).unwrap();
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
        });
    }

    #[test]
    fn past_the_key_cap_keys_are_delivered_early_and_counted_not_lost() {
        portreeve_testkit::in_fresh_netns(
            "past_the_key_cap_keys_are_delivered_early_and_counted_not_lost",
            || {
                let config = CollectorConfig {
                    max_keys: 16,
                    ..CollectorConfig::default()
                };
                let collector = Collector::start(
                    &["127.0.0.1:0".parse().unwrap()],
                    Duration::from_secs(3),
                    &config,
                )
                .unwrap();
                let to = collector.addresses[0];
                let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
                for port in 1..=200u16 {
                    sender.send_to(&v5_datagram(port.into(), port), to).unwrap();
                }
                // The outbox holds 16 aggregates: evictions fill it, and the
                // caller gets them at once rather than at the flush (meanwhile the
                // socket waits, and the kernel's buffer holds the datagrams).
                let mut totals = Totals::default();
                let mut delivered = Vec::new();
                let started = Instant::now();
                let mut early = 0;
                while totals.records < 200 && started.elapsed() < Duration::from_secs(20) {
                    let asked = Instant::now();
                    let flush = collector.next_flush(&mut totals, None);
                    if asked.elapsed() < Duration::from_secs(1) {
                        assert!(flush.len() >= 16, "{flush:?}");
                        early += 1;
                    }
                    delivered.extend(flush);
                }
                assert!(early >= 5, "{early} deliveries before the flush interval");
                delivered.extend(collector.stop(&mut totals));
                let mut all = BTreeMap::new();
                merge(&mut all, delivered);
                assert_eq!(all.len(), 200);
                assert!(all.values().all(|a| a.flows == 1 && a.packets == 3));
                assert_eq!(totals.records, 200);
                assert!(totals.evicted >= 200 - 16, "{totals:?}");
                let metrics = crate::metrics::Metrics::new();
                totals.count_in(&metrics);
                let text = metrics.render();
                let line = format!("portreeve_flow_evictions_total {}", totals.evicted);
                assert!(text.contains(&line), "{text}");
            },
        );
    }

    #[test]
    fn exporters_not_heard_are_dropped_before_decoding_and_counted() {
        portreeve_testkit::in_fresh_netns(
            "exporters_not_heard_are_dropped_before_decoding_and_counted",
            || {
                let config = CollectorConfig {
                    exporters: vec![parse_exporter("127.0.0.1").unwrap()],
                    ..CollectorConfig::default()
                };
                let collector = Collector::start(
                    &["127.0.0.1:0".parse().unwrap()],
                    Duration::from_millis(50),
                    &config,
                )
                .unwrap();
                let to = collector.addresses[0];
                let (heard, other) = (
                    UdpSocket::bind("127.0.0.1:0").unwrap(),
                    UdpSocket::bind("127.0.0.2:0").unwrap(),
                );
                for i in 0..5 {
                    heard.send_to(&v5_datagram(i, 443), to).unwrap();
                    other.send_to(&v5_datagram(i, 8443), to).unwrap();
                    other.send_to(b"\x00\x09 not even a datagram", to).unwrap();
                }
                std::thread::sleep(Duration::from_millis(200));
                let mut totals = Totals::default();
                let aggregates = collector.stop(&mut totals);
                assert_eq!(totals.datagrams, 15);
                assert_eq!((totals.decoded, totals.records), (5, 5));
                assert_eq!(
                    totals.dropped,
                    BTreeMap::from([(UNKNOWN_EXPORTER.to_string(), 10)]),
                    "dropped before decoding: no `truncated` for the garbage"
                );
                assert_eq!(aggregates.len(), 1);
                assert_eq!(aggregates[0].key.port.port, 443);
                let metrics = crate::metrics::Metrics::new();
                totals.count_in(&metrics);
                assert!(
                    metrics
                        .render()
                        .contains("portreeve_flow_datagrams_total{result=\"unknown_exporter\"} 10"),
                    "{}",
                    metrics.render()
                );
            },
        );
    }

    #[test]
    fn exporter_networks() {
        let config = CollectorConfig {
            exporters: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
                .iter()
                .map(|n| parse_exporter(n).unwrap())
                .collect(),
            ..CollectorConfig::default()
        };
        for (address, heard) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("2001:db8::1", true),
            ("2001:db9::1", false),
            ("::ffff:10.9.9.9", true),
            ("::ffff:11.9.9.9", false),
        ] {
            assert_eq!(config.hears(address.parse().unwrap()), heard, "{address}");
        }
        assert!(CollectorConfig::default().hears("203.0.113.1".parse().unwrap()));
        assert!(
            parse_exporter("10.0.0.1/8")
                .unwrap_err()
                .contains("did you mean `10.0.0.0/8`")
        );
        assert!(parse_exporter("10.0.0.0/33").unwrap_err().contains("0-32"));
        assert!(
            parse_exporter("router1")
                .unwrap_err()
                .contains("e.g. 10.0.0.0/8")
        );
    }
}

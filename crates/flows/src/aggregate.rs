//! Folding flow records into per-port usage: for every [`ServerPort`] (a
//! server's address and a TCP or UDP port), when it was first and last
//! used, by how many flows, packets and bytes (scaled by the sampling
//! rate), and by how many distinct clients — a [`FlowAggregate`]. This is
//! what lifecycle and reclaim decisions read.
//!
//! Only TCP and UDP have ports portreeve governs. A record of any other IP
//! protocol (ICMP, ESP, GRE, SCTP, …, or none exported) is not the use of
//! a port: it is counted in [`Aggregator::other_protocol_records`] and not
//! aggregated.
//!
//! ## Which side is the server
//!
//! Exporters report flows in one direction each and do not say who
//! connected to whom, so [`server_side`] decides, in order:
//!
//! 1. the record's own [`ServerSide`] if the source knows it (Zeek: the
//!    responder);
//! 2. for protocols without ports (ICMP, …): the destination, except for
//!    ICMP replies (echo, timestamp, information, address-mask replies and
//!    ICMPv6 echo reply), whose source answered (such records are not
//!    aggregated, but the rule still tells who answered);
//! 3. otherwise the side whose port ranks lower: well-known ports
//!    (1–1023) before registered ports (1024–32767) before dynamic ones
//!    (32768–65535, where Linux, BSD and Windows pick client ports) and 0;
//! 4. equal ranks: the lower port number; equal ports: the destination.
//!
//! So `51000 → 443` and `443 → 51000` both count for port 443, and
//! `40000 → 8080` for 8080.
//!
//! ## Merging
//!
//! [`FlowAggregate::merge`] is the one rule for adding up two aggregates of
//! a server port, here (a record is an aggregate of one flow) as in the
//! agent's collector and store.
//!
//! ## Distinct clients
//!
//! Within an aggregator, each key counts its clients exactly (64-bit
//! hashes of their addresses) up to [`AggregatorConfig::exact_clients`],
//! then switches to a HyperLogLog sketch of 256 registers (about 6.5 %
//! standard error), and says so in [`FlowAggregate::clients_exact`].
//! Memory per key is thus bounded (at most a few hundred bytes).
//!
//! ## The key cap, and evictions
//!
//! The number of keys is capped by [`AggregatorConfig::max_keys`]: when
//! full, the least recently used sixteenth of the keys is evicted at once
//! (so eviction costs amortised O(1) per insert) and counted
//! ([`Aggregator::evicted`]). An evicted key is not lost: its aggregate so
//! far waits in the aggregator, a plain [`FlowAggregate`] without its
//! client set, until the caller takes it with [`Aggregator::take_evicted`]
//! (or [`drain`](Aggregator::drain) returns it, merged with the key's
//! later usage). A caller that must stay within a memory bound takes
//! evicted aggregates as it goes and stores them — the store adds them up
//! by the same [merge rule](#merging) — as the agent's collector and
//! `portreeve import zeek` do. A key evicted and seen again is merged like
//! two flushes: its client count becomes a lower bound.
//!
//! Memory is then about [`BYTES_PER_KEY`] per key held, plus
//! [`BYTES_PER_EVICTED`] per evicted aggregate not yet taken.

use std::collections::HashMap;

// foldhash rather than std's SipHash: a third of the collector's time went
// to hashing; its per-process random seed keeps keys unpredictable.
use foldhash::fast::RandomState;
use jiff::Timestamp;
use portreeve_core::PortKey;
use std::hash::BuildHasher;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::record::{FlowRecord, ServerSide};

/// Memory an aggregator uses per key it holds at most, for sizing
/// [`AggregatorConfig::max_keys`]: the map's slot and the aggregate plus a
/// client set of up to [`AggregatorConfig::exact_clients`] hashes, or a
/// 256-byte sketch past that. Measured (release build, 840,000 keys):
/// about 220 bytes a key with one client, 250 with 8, 450 with 32 or more.
pub const BYTES_PER_KEY: usize = 512;

/// Memory an evicted aggregate uses until it is taken (a
/// [`FlowAggregate`] in a vector).
pub const BYTES_PER_EVICTED: usize = std::mem::size_of::<FlowAggregate>();

/// Limits of an [`Aggregator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Keys tracked at most (at least 1 is); see the module docs for
    /// eviction and [`BYTES_PER_KEY`] for sizing.
    pub max_keys: usize,
    /// Clients counted exactly per key before switching to a sketch.
    pub exact_clients: usize,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            max_keys: 1_000_000,
            exact_clients: 32,
        }
    }
}

/// A port on a server: what flow usage is aggregated by. Ordered by
/// address, then as [`PortKey`]s are (number, then protocol).
///
/// In JSON its fields are those of the aggregate that holds it: `server`,
/// `protocol`, `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServerPort {
    /// The server's address.
    pub server: IpAddr,
    /// The server's port.
    #[serde(flatten)]
    pub port: PortKey,
}

impl ServerPort {
    /// `port` on `server`.
    pub fn new(server: IpAddr, port: PortKey) -> ServerPort {
        ServerPort { server, port }
    }
}

/// Flow traffic to one server port: from an [`Aggregator`], from merging
/// its flushes, or as the agent's store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowAggregate {
    /// The server port.
    #[serde(flatten)]
    pub key: ServerPort,
    /// Earliest flow start seen.
    pub first_seen: Timestamp,
    /// Latest flow end seen.
    pub last_seen: Timestamp,
    /// Flow records (sFlow: packet samples) counted.
    pub flows: u64,
    /// Packets, multiplied by each record's sampling rate.
    pub packets: u64,
    /// Bytes, multiplied by each record's sampling rate.
    pub bytes: u64,
    /// Distinct client addresses: an estimate or a lower bound unless
    /// `clients_exact`.
    pub clients: u64,
    /// Whether `clients` is an exact count.
    pub clients_exact: bool,
}

impl FlowAggregate {
    /// Adds `other`, an aggregate of the same server port, into this one.
    ///
    /// The one rule for merging aggregates, wherever they meet: the
    /// aggregator counting a record (an aggregate of one flow), the agent's
    /// collector joining what its sockets report, and the agent's store
    /// adding a flush to the row it holds. Flows, packets and bytes add up,
    /// saturating at `u64::MAX` rather than wrapping; the earliest
    /// `first_seen` and the latest `last_seen` stay. Distinct clients cannot
    /// be added (a client may be in both): the larger count stays, as a
    /// lower bound (`clients_exact` false), unless one side counted no
    /// client at all.
    pub fn merge(&mut self, other: &FlowAggregate) {
        debug_assert_eq!(self.key, other.key, "aggregates of different ports");
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.flows = self.flows.saturating_add(other.flows);
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        // Distinct counts do not add up: the larger is a lower bound of the
        // union, exact only when the other side has nobody to add.
        match (self.clients, other.clients) {
            (_, 0) => {}
            (0, _) => (self.clients, self.clients_exact) = (other.clients, other.clients_exact),
            (mine, theirs) => {
                self.clients = mine.max(theirs);
                self.clients_exact = false;
            }
        }
    }
}

const SKETCH_BITS: u32 = 8;
const SKETCH_REGISTERS: usize = 1 << SKETCH_BITS;

#[derive(Debug, Clone)]
enum Clients {
    Exact(Vec<u64>),
    Sketch(Box<[u8; SKETCH_REGISTERS]>),
}

impl Clients {
    fn add(&mut self, hash: u64, exact_cap: usize) {
        match self {
            Clients::Exact(seen) => {
                if seen.contains(&hash) {
                    return;
                }
                if seen.len() < exact_cap {
                    seen.push(hash);
                    return;
                }
                let mut sketch = Box::new([0u8; SKETCH_REGISTERS]);
                for &h in seen.iter() {
                    sketch_add(&mut sketch, h);
                }
                sketch_add(&mut sketch, hash);
                *self = Clients::Sketch(sketch);
            }
            Clients::Sketch(sketch) => sketch_add(sketch, hash),
        }
    }

    fn count(&self) -> (u64, bool) {
        match self {
            Clients::Exact(seen) => (seen.len() as u64, true),
            Clients::Sketch(sketch) => (sketch_estimate(sketch), false),
        }
    }
}

fn sketch_add(registers: &mut [u8; SKETCH_REGISTERS], hash: u64) {
    let index = (hash >> (64 - SKETCH_BITS)) as usize;
    // Rank of the first set bit in the remaining bits (1-based), with a
    // sentinel bit so an all-zero remainder ranks 64 - SKETCH_BITS + 1.
    let rest = (hash << SKETCH_BITS) | (1 << (SKETCH_BITS - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank);
    }
}

/// The HyperLogLog estimate with the small-range (linear counting)
/// correction (Flajolet et al., 2007).
fn sketch_estimate(registers: &[u8; SKETCH_REGISTERS]) -> u64 {
    let m = SKETCH_REGISTERS as f64;
    let sum: f64 = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
    let zeros = registers.iter().filter(|&&r| r == 0).count();
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let estimate = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    estimate.round() as u64
}

/// What an aggregator holds per key: the aggregate without its clients,
/// which it counts as a set (or a sketch) instead.
#[derive(Debug, Clone)]
struct Entry {
    /// The aggregate so far, with `clients` 0: they are in `clients`.
    aggregate: FlowAggregate,
    clients: Clients,
}

impl Entry {
    /// The aggregate with its client count.
    fn aggregate(&self) -> FlowAggregate {
        let mut aggregate = self.aggregate.clone();
        (aggregate.clients, aggregate.clients_exact) = self.clients.count();
        aggregate
    }
}

/// Decides which endpoint of a record is the server (see the module docs).
pub fn server_side(record: &FlowRecord) -> ServerSide {
    if let Some(side) = record.server_side {
        return side;
    }
    if !has_ports(record.ip_protocol) {
        let reply = match record.ip_protocol {
            1 => matches!(record.icmp_type, Some(0 | 14 | 16 | 18)),
            58 => record.icmp_type == Some(129),
            _ => false,
        };
        return if reply {
            ServerSide::Src
        } else {
            ServerSide::Dst
        };
    }
    let rank = |port: u16| match port {
        1..=1023 => 0,
        1024..=32767 => 1,
        _ => 2,
    };
    let (s, d) = (record.src_port, record.dst_port);
    match (rank(s), s).cmp(&(rank(d), d)) {
        std::cmp::Ordering::Less => ServerSide::Src,
        _ => ServerSide::Dst,
    }
}

/// TCP, UDP, DCCP, SCTP and UDP-Lite: the IP protocols with ports.
fn has_ports(ip_protocol: u8) -> bool {
    matches!(ip_protocol, 6 | 17 | 33 | 132 | 136)
}

/// Exporter timestamps are used when they are plausible relative to the
/// receive time; a wrong router clock must not make a port look used years
/// ago or in the future.
const MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
const MAX_AHEAD_MS: u64 = 3600 * 1000;

fn plausible(t: Option<u64>, received: u64) -> u64 {
    match t {
        Some(t)
            if t.saturating_add(MAX_AGE_MS) >= received
                && t <= received.saturating_add(MAX_AHEAD_MS) =>
        {
            t
        }
        _ => received,
    }
}

/// Unix milliseconds as a timestamp; past the year 9999, the last one.
fn timestamp(ms: u64) -> Timestamp {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `rows` sorted by key, with the rows of one key merged into one.
fn merged(mut rows: Vec<FlowAggregate>) -> Vec<FlowAggregate> {
    // Stable: a key's parts merge in the order they came.
    rows.sort_by_key(|a| a.key);
    let mut out: Vec<FlowAggregate> = Vec::with_capacity(rows.len());
    for row in rows {
        match out.last_mut() {
            Some(last) if last.key == row.key => last.merge(&row),
            _ => out.push(row),
        }
    }
    out
}

/// Per-port usage over any number of records.
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: AggregatorConfig,
    entries: HashMap<ServerPort, Entry, RandomState>,
    /// Hashes client addresses for the exact set and the sketch: the
    /// sketch needs well-mixed bits, hence foldhash's quality variant.
    hasher: foldhash::quality::RandomState,
    /// Aggregates of evicted keys, waiting for the caller.
    evicted_aggregates: Vec<FlowAggregate>,
    evicted: u64,
    skipped: u64,
    other_protocol_records: u64,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new(AggregatorConfig::default())
    }
}

impl Aggregator {
    /// An empty aggregator with the given limits.
    pub fn new(config: AggregatorConfig) -> Self {
        Self {
            config,
            entries: HashMap::default(),
            hasher: foldhash::quality::RandomState::default(),
            evicted_aggregates: Vec::new(),
            evicted: 0,
            skipped: 0,
            other_protocol_records: 0,
        }
    }

    /// Counts one record. Records without both addresses (options-like
    /// data, link-layer-only samples) cannot be attributed and are skipped;
    /// records of protocols other than TCP and UDP are not the use of a
    /// port and are only counted ([`other_protocol_records`](Self::other_protocol_records)).
    /// Returns whether the record was aggregated.
    pub fn add(&mut self, record: &FlowRecord) -> bool {
        let (Some(src), Some(dst)) = (record.src_addr, record.dst_addr) else {
            self.skipped += 1;
            return false;
        };
        let Some(protocol) = record.protocol() else {
            self.other_protocol_records += 1;
            return false;
        };
        let (server, client, port) = match server_side(record) {
            ServerSide::Src => (src, dst, record.src_port),
            ServerSide::Dst => (dst, src, record.dst_port),
        };
        let key = ServerPort::new(server, PortKey::new(protocol, port));
        let first = plausible(record.start_ms, record.received_ms);
        let last = plausible(record.end_ms, record.received_ms).max(first);
        // The record as an aggregate of one flow, merged by the one rule;
        // its client goes into the entry's set instead.
        let one = FlowAggregate {
            key,
            first_seen: timestamp(first),
            last_seen: timestamp(last),
            flows: 1,
            packets: record.scaled_packets(),
            bytes: record.scaled_bytes(),
            clients: 0,
            clients_exact: true,
        };
        let client_hash = self.hasher.hash_one(client);
        let exact_cap = self.config.exact_clients;
        // One lookup when the key is known, the usual case.
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.aggregate.merge(&one);
            entry.clients.add(client_hash, exact_cap);
            return true;
        }
        if self.entries.len() >= self.config.max_keys.max(1) {
            self.evict();
        }
        let mut clients = Clients::Exact(Vec::new());
        clients.add(client_hash, exact_cap);
        self.entries.insert(
            key,
            Entry {
                aggregate: one,
                clients,
            },
        );
        true
    }

    /// Counts every record of a slice.
    pub fn add_all(&mut self, records: &[FlowRecord]) {
        for r in records {
            self.add(r);
        }
    }

    /// Evicts the least recently used sixteenth of the keys (at least one),
    /// keeping their aggregates for the caller, in key order.
    fn evict(&mut self) {
        let n = (self.entries.len() / 16).max(1).min(self.entries.len());
        if n == 0 {
            return;
        }
        let mut ages: Vec<(Timestamp, ServerPort)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.aggregate.last_seen, *k))
            .collect();
        ages.select_nth_unstable(n - 1);
        let mut out: Vec<FlowAggregate> = ages
            .iter()
            .take(n)
            .filter_map(|(_, key)| self.entries.remove(key))
            .map(|e| e.aggregate())
            .collect();
        out.sort_unstable_by_key(|a| a.key);
        self.evicted_aggregates.append(&mut out);
        self.evicted += n as u64;
    }

    /// Takes the aggregates of the keys evicted since the last call (in
    /// batches of a sixteenth of the cap, each in key order): the usage of
    /// those keys until they were evicted. A key may be evicted more than
    /// once; its aggregates add up by [`FlowAggregate::merge`].
    pub fn take_evicted(&mut self) -> Vec<FlowAggregate> {
        std::mem::take(&mut self.evicted_aggregates)
    }

    /// Evicted aggregates waiting to be taken.
    pub fn pending_evicted(&self) -> usize {
        self.evicted_aggregates.len()
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been counted (or everything was drained).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys evicted because of the key cap, since the aggregator was made
    /// (taken or not).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records skipped because they lacked an address.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records of IP protocols other than TCP and UDP (ICMP, ESP, GRE,
    /// SCTP, …, or none exported): not the use of a port, so counted here
    /// and not aggregated.
    pub fn other_protocol_records(&self) -> u64 {
        self.other_protocol_records
    }

    /// Usage of one server port: what the aggregator holds for it, merged
    /// with its evicted aggregates not yet taken.
    pub fn get(&self, key: &ServerPort) -> Option<FlowAggregate> {
        let mut parts = self
            .entries
            .get(key)
            .map(Entry::aggregate)
            .into_iter()
            .chain(
                self.evicted_aggregates
                    .iter()
                    .filter(|a| a.key == *key)
                    .cloned(),
            );
        let mut usage = parts.next()?;
        parts.for_each(|a| usage.merge(&a));
        Some(usage)
    }

    /// All usage, one aggregate per key, sorted by key: what the aggregator
    /// holds, merged with the evicted aggregates not yet taken.
    pub fn snapshot(&self) -> Vec<FlowAggregate> {
        let rows = self.entries.values().map(Entry::aggregate);
        merged(
            rows.chain(self.evicted_aggregates.iter().cloned())
                .collect(),
        )
    }

    /// All usage, as [`snapshot`](Self::snapshot) gives it, leaving the
    /// aggregator empty (the counts of evictions, skips and other
    /// protocols are kept).
    pub fn drain(&mut self) -> Vec<FlowAggregate> {
        let rows = self.entries.drain().map(|(_, e)| e.aggregate());
        merged(rows.chain(self.evicted_aggregates.drain(..)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FlowSource;
    use portreeve_core::Proto;

    fn flow(src: &str, sport: u16, dst: &str, dport: u16, protocol: u8) -> FlowRecord {
        let mut r = FlowRecord::new(
            FlowSource::NetflowV9,
            "192.0.2.1".parse().unwrap(),
            0,
            1_000_000,
        );
        r.src_addr = Some(src.parse().unwrap());
        r.dst_addr = Some(dst.parse().unwrap());
        r.src_port = sport;
        r.dst_port = dport;
        r.ip_protocol = protocol;
        r.packets = 2;
        r.bytes = 100;
        r
    }

    #[test]
    fn server_side_rule() {
        let side = |sp, dp| server_side(&flow("10.0.0.1", sp, "10.0.0.2", dp, 6));
        assert_eq!(side(51000, 443), ServerSide::Dst, "ephemeral → well-known");
        assert_eq!(side(443, 51000), ServerSide::Src, "the reply direction");
        assert_eq!(
            side(40000, 8080),
            ServerSide::Dst,
            "registered beats dynamic"
        );
        assert_eq!(side(8080, 40000), ServerSide::Src);
        assert_eq!(
            side(1023, 1024),
            ServerSide::Src,
            "well-known beats registered"
        );
        assert_eq!(side(5432, 8080), ServerSide::Src, "same rank: lower port");
        assert_eq!(side(22, 25), ServerSide::Src, "both well-known: lower port");
        assert_eq!(
            side(60000, 50000),
            ServerSide::Dst,
            "both dynamic: lower port"
        );
        assert_eq!(side(7000, 7000), ServerSide::Dst, "equal: destination");
        assert_eq!(side(0, 53), ServerSide::Dst, "0 ranks last");
        let mut zeek = flow("10.0.0.1", 22, "10.0.0.2", 60000, 6);
        zeek.server_side = Some(ServerSide::Dst);
        assert_eq!(
            server_side(&zeek),
            ServerSide::Dst,
            "a known responder wins"
        );
        let mut echo = flow("10.0.0.1", 0, "10.0.0.2", 2048, 1);
        echo.icmp_type = Some(8);
        assert_eq!(server_side(&echo), ServerSide::Dst);
        echo.icmp_type = Some(0);
        assert_eq!(
            server_side(&echo),
            ServerSide::Src,
            "an echo reply comes from the server"
        );
    }

    #[test]
    fn aggregates_both_directions_and_scales() {
        let mut agg = Aggregator::default();
        let mut out = flow("10.0.0.1", 51000, "10.0.0.2", 443, 6);
        out.sampling_rate = 10;
        out.start_ms = Some(999_000);
        out.end_ms = Some(999_500);
        let back = flow("10.0.0.2", 443, "10.0.0.1", 51000, 6);
        let other = flow("10.0.0.3", 52000, "10.0.0.2", 443, 6);
        let mut icmp = flow("10.0.0.3", 0, "10.0.0.2", 2048, 1);
        icmp.icmp_type = Some(8);
        let mut no_addr = flow("10.0.0.3", 1, "10.0.0.2", 2, 6);
        no_addr.src_addr = None;
        for r in [out, back, other, icmp, no_addr] {
            agg.add(&r);
        }
        assert_eq!(agg.skipped(), 1);
        let rows = agg.snapshot();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let https = agg
            .get(&ServerPort::new(
                "10.0.0.2".parse().unwrap(),
                PortKey::new(Proto::Tcp, 443),
            ))
            .unwrap();
        assert_eq!(
            (https.flows, https.packets, https.bytes),
            (3, 20 + 2 + 2, 1000 + 100 + 100)
        );
        assert_eq!((https.clients, https.clients_exact), (2, true));
        assert_eq!(
            (https.first_seen, https.last_seen),
            (timestamp(999_000), timestamp(1_000_000))
        );
        // The ping is not the use of a port: counted, not aggregated.
        assert_eq!(agg.other_protocol_records(), 1);
    }

    #[test]
    fn implausible_exporter_clocks_fall_back_to_receive_time() {
        let mut agg = Aggregator::default();
        let mut r = flow("10.0.0.1", 51000, "10.0.0.2", 443, 6);
        let now = 1_700_000_000_000;
        r.received_ms = now;
        r.start_ms = Some(5); // 1970
        r.end_ms = Some(u64::MAX); // far future
        agg.add(&r);
        let u = &agg.snapshot()[0];
        assert_eq!(
            (u.first_seen, u.last_seen),
            (timestamp(now), timestamp(now))
        );
        r.start_ms = Some(now - 60_000);
        r.end_ms = Some(now - 1_000);
        agg.add(&r);
        let u = &agg.snapshot()[0];
        assert_eq!(
            (u.first_seen, u.last_seen),
            (timestamp(now - 60_000), timestamp(now)),
            "plausible times are kept"
        );
    }

    #[test]
    fn distinct_clients_switch_to_a_sketch() {
        let mut agg = Aggregator::new(AggregatorConfig {
            max_keys: 10,
            exact_clients: 32,
        });
        for i in 0..32u32 {
            let client = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            agg.add(&flow(&client, 50000, "10.1.0.1", 22, 6));
            agg.add(&flow(&client, 50001, "10.1.0.1", 22, 6));
        }
        let u = &agg.snapshot()[0];
        assert_eq!((u.clients, u.clients_exact), (32, true));
        for i in 32..10_000u32 {
            let client = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            agg.add(&flow(&client, 50000, "10.1.0.1", 22, 6));
        }
        let u = &agg.snapshot()[0];
        assert!(!u.clients_exact);
        let error = (u.clients as f64 - 10_000.0).abs() / 10_000.0;
        assert!(error < 0.25, "estimate {} for 10000 clients", u.clients);
        assert_eq!(u.flows, 10_032);
    }

    #[test]
    fn key_cap_evicts_least_recently_used_and_counts() {
        let mut agg = Aggregator::new(AggregatorConfig {
            max_keys: 32,
            exact_clients: 4,
        });
        for port in 1..=32u16 {
            let mut r = flow("10.0.0.1", 50000, "10.0.0.2", port, 6);
            r.received_ms = 1_000_000 + u64::from(port);
            agg.add(&r);
        }
        assert_eq!((agg.len(), agg.evicted()), (32, 0));
        let mut r = flow("10.0.0.1", 50000, "10.0.0.2", 100, 6);
        r.received_ms = 2_000_000;
        agg.add(&r);
        assert_eq!(agg.evicted(), 2, "a sixteenth of 32");
        assert_eq!(agg.len(), 31);
        assert_eq!(agg.pending_evicted(), 2);
        let gone: Vec<u16> = agg.take_evicted().iter().map(|u| u.key.port.port).collect();
        assert_eq!(gone, [1, 2], "the two oldest go, handed back");
        assert_eq!(agg.pending_evicted(), 0);
        let ports: Vec<u16> = agg.snapshot().iter().map(|u| u.key.port.port).collect();
        assert!(!ports.contains(&1) && !ports.contains(&2), "{ports:?}");
        assert!(ports.contains(&100) && ports.contains(&3));
        for port in 200..10_000u16 {
            agg.add(&flow("10.0.0.1", 50000, "10.0.0.2", port, 6));
            assert!(agg.len() <= 32);
        }
        let n = agg.len();
        let evicted = agg.pending_evicted();
        assert_eq!(agg.drain().len(), n + evicted, "every key once");
        assert!(agg.is_empty() && agg.pending_evicted() == 0);
    }

    /// 10,000 distinct server ports, each seen twice, through an
    /// aggregator capped at 1,000 keys: it never holds more than 1,000,
    /// and what it hands back (evicted aggregates and the final drain)
    /// adds up to every record.
    #[test]
    fn the_key_cap_bounds_memory_and_loses_nothing() {
        let mut agg = Aggregator::new(AggregatorConfig {
            max_keys: 1_000,
            exact_clients: 4,
        });
        let mut total = 0u64;
        let mut ports = std::collections::BTreeMap::new();
        for round in 0..2u64 {
            for i in 0..10_000u32 {
                let server = std::net::Ipv4Addr::from(0x0a00_0000 + i / 100).to_string();
                let mut r = flow("192.0.2.7", 50000, &server, 1 + (i % 100) as u16, 6);
                r.received_ms = 1_000_000 + round * 20_000 + u64::from(i);
                assert!(agg.add(&r));
                total += 1;
                assert!(agg.len() <= 1_000, "{} keys held", agg.len());
            }
        }
        for a in agg.drain() {
            *ports.entry(a.key).or_insert(0) += a.flows;
        }
        assert!(agg.evicted() > 0);
        assert_eq!(ports.values().sum::<u64>(), total, "every record counted");
        assert_eq!(ports.len(), 10_000);
        assert!(ports.values().all(|&f| f == 2), "each port twice");

        // A caller bound by memory takes evicted aggregates as they come:
        // the aggregator then never holds more than the cap plus one
        // eviction (a sixteenth), and the parts still add up.
        let mut agg = Aggregator::new(AggregatorConfig {
            max_keys: 1_000,
            exact_clients: 4,
        });
        let mut parts = Vec::new();
        for round in 0..2u64 {
            for i in 0..10_000u32 {
                let server = std::net::Ipv4Addr::from(0x0a00_0000 + i / 100).to_string();
                let mut r = flow("192.0.2.7", 50000, &server, 1 + (i % 100) as u16, 6);
                r.received_ms = 1_000_000 + round * 20_000 + u64::from(i);
                agg.add(&r);
                assert!(agg.len() <= 1_000 && agg.pending_evicted() <= 1_000 / 16);
                parts.extend(agg.take_evicted());
            }
        }
        assert_eq!(agg.evicted(), parts.len() as u64);
        parts.extend(agg.drain());
        let merged = merged(parts);
        assert_eq!(merged.len(), 10_000);
        assert!(merged.iter().all(|a| a.flows == 2 && a.packets == 4));
        // Seen in two parts, a port's single client is a lower bound.
        assert!(merged.iter().all(|a| a.clients == 1 && !a.clients_exact));
    }

    #[test]
    fn a_key_cap_of_zero_holds_one_key() {
        let mut agg = Aggregator::new(AggregatorConfig {
            max_keys: 0,
            exact_clients: 4,
        });
        for port in 1..=3 {
            agg.add(&flow("10.0.0.1", 50000, "10.0.0.2", port, 6));
            assert_eq!(agg.len(), 1);
        }
        assert_eq!((agg.evicted(), agg.drain().len()), (2, 3));
    }

    fn aggregate(flows: u64, first: u64, last: u64, clients: u64, exact: bool) -> FlowAggregate {
        FlowAggregate {
            key: ServerPort::new("10.0.0.2".parse().unwrap(), PortKey::new(Proto::Udp, 53)),
            first_seen: timestamp(first),
            last_seen: timestamp(last),
            flows,
            packets: flows.saturating_mul(2),
            bytes: flows.saturating_mul(100),
            clients,
            clients_exact: exact,
        }
    }

    #[test]
    fn merging_sums_saturating_and_keeps_the_widest_span() {
        let mut a = aggregate(3, 2_000, 5_000, 4, true);
        a.merge(&aggregate(u64::MAX, 1_000, 4_000, 2, true));
        assert_eq!((a.flows, a.packets), (u64::MAX, u64::MAX), "saturated");
        assert_eq!(a.bytes, u64::MAX);
        assert_eq!(
            (a.first_seen, a.last_seen),
            (timestamp(1_000), timestamp(5_000))
        );
        assert_eq!(
            (a.clients, a.clients_exact),
            (4, false),
            "the larger count, as a lower bound"
        );
    }

    #[test]
    fn merging_with_a_side_without_clients_keeps_the_count_exact() {
        let mut a = aggregate(1, 0, 0, 0, true);
        a.merge(&aggregate(1, 0, 0, 3, true));
        assert_eq!((a.clients, a.clients_exact), (3, true));
        a.merge(&aggregate(1, 0, 0, 0, true));
        assert_eq!((a.clients, a.clients_exact), (3, true));
        let mut estimate = aggregate(1, 0, 0, 0, true);
        estimate.merge(&aggregate(1, 0, 0, 900, false));
        assert_eq!((estimate.clients, estimate.clients_exact), (900, false));
    }

    #[test]
    fn aggregates_read_as_the_flows_document_writes_them() {
        let a = aggregate(1, 1_700_000_000_000, 1_700_000_000_500, 1, true);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "server": "10.0.0.2",
                "protocol": "udp",
                "port": 53,
                "first_seen": "2023-11-14T22:13:20Z",
                "last_seen": "2023-11-14T22:13:20.5Z",
                "flows": 1,
                "packets": 2,
                "bytes": 100,
                "clients": 1,
                "clients_exact": true,
            })
        );
        assert_eq!(serde_json::from_value::<FlowAggregate>(json).unwrap(), a);
    }
}

//! Folding flow records into per-port usage: for every (server address,
//! protocol, port), when it was first and last used, by how many flows,
//! packets and bytes (scaled by the sampling rate), and by how many
//! distinct clients. This is what lifecycle and reclaim decisions read.
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
//!    ICMPv6 echo reply), whose source answered; the port is then 0;
//! 3. otherwise the side whose port ranks lower: well-known ports
//!    (1–1023) before registered ports (1024–32767) before dynamic ones
//!    (32768–65535, where Linux, BSD and Windows pick client ports) and 0;
//! 4. equal ranks: the lower port number; equal ports: the destination.
//!
//! So `51000 → 443` and `443 → 51000` both count for port 443, and
//! `40000 → 8080` for 8080.
//!
//! ## Distinct clients
//!
//! Each key counts its clients exactly (64-bit hashes of their addresses)
//! up to [`AggregatorConfig::exact_clients`], then switches to a
//! HyperLogLog sketch of 256 registers (about 6.5 % standard error), and
//! says so in [`PortUsage::clients_exact`]. Memory per key is thus bounded
//! (at most a few hundred bytes), and the number of keys is capped by
//! [`AggregatorConfig::max_keys`]: when full, the least recently used
//! sixteenth of the keys is evicted at once (so eviction costs amortised
//! O(1) per insert) and counted.

use std::collections::HashMap;

// foldhash rather than std's SipHash: a third of the collector's time went
// to hashing; its per-process random seed keeps keys unpredictable.
use foldhash::fast::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;

use serde::Serialize;

use crate::record::{FlowRecord, ServerSide};

/// Limits of an [`Aggregator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Keys tracked at most; see the module docs for eviction.
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

/// What usage is aggregated by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AggregateKey {
    /// The server's address.
    pub server: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// The server's port (0 for protocols without ports).
    pub port: u16,
}

/// Usage of one server port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortUsage {
    /// The server's address.
    pub server: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// The server's port (0 for protocols without ports).
    pub port: u16,
    /// Earliest flow start seen (Unix ms).
    pub first_seen_ms: u64,
    /// Latest flow end seen (Unix ms).
    pub last_seen_ms: u64,
    /// Flow records (sFlow: packet samples) counted.
    pub flows: u64,
    /// Packets, multiplied by each record's sampling rate.
    pub packets: u64,
    /// Bytes, multiplied by each record's sampling rate.
    pub bytes: u64,
    /// Distinct client addresses (an estimate unless `clients_exact`).
    pub clients: u64,
    /// Whether `clients` is an exact count.
    pub clients_exact: bool,
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

#[derive(Debug, Clone)]
struct Entry {
    first_seen_ms: u64,
    last_seen_ms: u64,
    flows: u64,
    packets: u64,
    bytes: u64,
    clients: Clients,
}

/// Decides which endpoint of a record is the server (see the module docs).
pub fn server_side(record: &FlowRecord) -> ServerSide {
    if let Some(side) = record.server_side {
        return side;
    }
    if !has_ports(record.protocol) {
        let reply = match record.protocol {
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

fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
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

/// Per-port usage over any number of records.
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: AggregatorConfig,
    entries: HashMap<AggregateKey, Entry, RandomState>,
    /// Hashes client addresses for the exact set and the sketch: the
    /// sketch needs well-mixed bits, hence foldhash's quality variant.
    hasher: foldhash::quality::RandomState,
    evicted: u64,
    skipped: u64,
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
            evicted: 0,
            skipped: 0,
        }
    }

    /// Counts one record. Records without both addresses (options-like
    /// data, link-layer-only samples) cannot be attributed and are skipped;
    /// returns whether the record was counted.
    pub fn add(&mut self, record: &FlowRecord) -> bool {
        let (Some(src), Some(dst)) = (record.src_addr, record.dst_addr) else {
            self.skipped += 1;
            return false;
        };
        let side = server_side(record);
        let (server, client, port) = match side {
            ServerSide::Src => (src, dst, record.src_port),
            ServerSide::Dst => (dst, src, record.dst_port),
        };
        let key = AggregateKey {
            server,
            protocol: record.protocol,
            port: if has_ports(record.protocol) { port } else { 0 },
        };
        let first = plausible(record.start_ms, record.received_ms);
        let last = plausible(record.end_ms, record.received_ms).max(first);
        let client_hash = self.hasher.hash_one(client);
        let exact_cap = self.config.exact_clients;
        let absorb = |entry: &mut Entry| {
            entry.first_seen_ms = entry.first_seen_ms.min(first);
            entry.last_seen_ms = entry.last_seen_ms.max(last);
            entry.flows += 1;
            entry.packets = entry.packets.saturating_add(record.scaled_packets());
            entry.bytes = entry.bytes.saturating_add(record.scaled_bytes());
            entry.clients.add(client_hash, exact_cap);
        };
        // One lookup when the key is known, the usual case.
        if let Some(entry) = self.entries.get_mut(&key) {
            absorb(entry);
            return true;
        }
        if self.entries.len() >= self.config.max_keys {
            self.evict();
        }
        let mut entry = Entry {
            first_seen_ms: first,
            last_seen_ms: last,
            flows: 0,
            packets: 0,
            bytes: 0,
            clients: Clients::Exact(Vec::new()),
        };
        absorb(&mut entry);
        self.entries.insert(key, entry);
        true
    }

    /// Counts every record of a slice.
    pub fn add_all(&mut self, records: &[FlowRecord]) {
        for r in records {
            self.add(r);
        }
    }

    /// Evicts the least recently used sixteenth of the keys (at least one).
    fn evict(&mut self) {
        let n = (self.entries.len() / 16).max(1).min(self.entries.len());
        if n == 0 {
            return;
        }
        let mut ages: Vec<(u64, AggregateKey)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.last_seen_ms, *k))
            .collect();
        ages.select_nth_unstable(n - 1);
        for (_, key) in ages.iter().take(n) {
            self.entries.remove(key);
        }
        self.evicted += n as u64;
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been counted (or everything was drained).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys evicted because of the key cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records skipped because they lacked an address.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Usage of one key.
    pub fn get(&self, key: &AggregateKey) -> Option<PortUsage> {
        self.entries.get(key).map(|e| usage(key, e))
    }

    /// All usage, sorted by key.
    pub fn snapshot(&self) -> Vec<PortUsage> {
        let mut rows: Vec<PortUsage> = self.entries.iter().map(|(k, e)| usage(k, e)).collect();
        rows.sort_by_key(|u| (u.server, u.protocol, u.port));
        rows
    }

    /// All usage, sorted by key, leaving the aggregator empty (counters of
    /// evictions and skips are kept).
    pub fn drain(&mut self) -> Vec<PortUsage> {
        let rows = self.snapshot();
        self.entries.clear();
        rows
    }
}

fn usage(key: &AggregateKey, e: &Entry) -> PortUsage {
    let (clients, clients_exact) = e.clients.count();
    PortUsage {
        server: key.server,
        protocol: key.protocol,
        port: key.port,
        first_seen_ms: e.first_seen_ms,
        last_seen_ms: e.last_seen_ms,
        flows: e.flows,
        packets: e.packets,
        bytes: e.bytes,
        clients,
        clients_exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FlowSource;

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
        r.protocol = protocol;
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
        assert_eq!(rows.len(), 2, "{rows:?}");
        let https = agg
            .get(&AggregateKey {
                server: "10.0.0.2".parse().unwrap(),
                protocol: 6,
                port: 443,
            })
            .unwrap();
        assert_eq!(
            (https.flows, https.packets, https.bytes),
            (3, 20 + 2 + 2, 1000 + 100 + 100)
        );
        assert_eq!((https.clients, https.clients_exact), (2, true));
        assert_eq!(
            (https.first_seen_ms, https.last_seen_ms),
            (999_000, 1_000_000)
        );
        let ping = agg
            .get(&AggregateKey {
                server: "10.0.0.2".parse().unwrap(),
                protocol: 1,
                port: 0,
            })
            .unwrap();
        assert_eq!(ping.flows, 1);
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
        assert_eq!((u.first_seen_ms, u.last_seen_ms), (now, now));
        r.start_ms = Some(now - 60_000);
        r.end_ms = Some(now - 1_000);
        agg.add(&r);
        let u = &agg.snapshot()[0];
        assert_eq!(
            (u.first_seen_ms, u.last_seen_ms),
            (now - 60_000, now),
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
        let ports: Vec<u16> = agg.snapshot().iter().map(|u| u.port).collect();
        assert!(
            !ports.contains(&1) && !ports.contains(&2),
            "the two oldest go: {ports:?}"
        );
        assert!(ports.contains(&100) && ports.contains(&3));
        for port in 200..10_000u16 {
            agg.add(&flow("10.0.0.1", 50000, "10.0.0.2", port, 6));
            assert!(agg.len() <= 32);
        }
        let n = agg.len();
        assert_eq!(agg.drain().len(), n);
        assert!(agg.is_empty());
    }
}

//! Flow telemetry: `portreeve collect` (NetFlow/IPFIX/sFlow over UDP),
//! `portreeve flows decode --pcap` (what a capture of such datagrams
//! holds), and `portreeve import zeek` (a Zeek conn.log). All three end in
//! the same aggregates per server port (address, protocol and port), kept
//! in the agent's store.
//!
//! Memory is bounded by `--max-keys` however many server ports the traffic
//! or the log holds: the aggregators hold at most that many keys, and the
//! [`Listing`] of what was aggregated — printed at the end, and stored by
//! `import zeek` once the whole log has been read — holds that many
//! aggregates in memory and sets the rest aside in a temporary file,
//! merged back in order when read.

use std::cell::RefCell;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use jiff::Timestamp;
use portreeve_agent::collector::{Collector, CollectorConfig, Totals, merge, parse_exporter};
use portreeve_app::flows::FlowSink;
use portreeve_app::input;
use portreeve_core::words::listed;
use portreeve_core::{PortKey, Proto};
use portreeve_flows::pcap::PcapError;
use portreeve_flows::{
    Aggregator, AggregatorConfig, Decoder, FlowAggregate, FlowRecord, ServerPort,
};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::cli::{CollectArgs, DecodeArgs, FlowsFormat, ImportZeekArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{Envelope, host_name};
use crate::output::{emit, emit_json, note, table};

/// Tables up to this many rows are laid out by the table module (wrapping
/// to a terminal's width); longer ones are streamed with the same layout
/// as when piped, without holding every row.
const TABLE_ROWS: usize = 10_000;

const HEADERS: [&str; 8] = [
    "SERVER",
    "PORT",
    "FLOWS",
    "PACKETS",
    "BYTES",
    "CLIENTS",
    "FIRST SEEN (UTC)",
    "LAST SEEN (UTC)",
];

fn cells(a: &FlowAggregate) -> Vec<String> {
    vec![
        a.key.server.to_string(),
        a.key.port.to_string(),
        a.flows.to_string(),
        a.packets.to_string(),
        a.bytes.to_string(),
        format!("{}{}", if a.clients_exact { "" } else { "~" }, a.clients),
        a.first_seen.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        a.last_seen.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    ]
}

/// Prints the listing (sorted by server port) on standard output, with
/// `totals` in JSON.
fn show<T: Serialize>(listing: &Listing, totals: &T, format: ListFormat) -> Result<(), Failure> {
    match format {
        ListFormat::Json => emit_document(listing, totals),
        ListFormat::Table if listing.len_at_most() <= TABLE_ROWS => {
            let rows = listing.rows()?.map(|r| r.map(|a| cells(&a)));
            let rows = rows.collect::<io::Result<Vec<_>>>().map_err(spill_failed)?;
            emit(&table::rows(&HEADERS, &rows, table::stdout_colour()));
            Ok(())
        }
        ListFormat::Table => emit_long_table(listing),
    }
}

/// The `portreeve.flows` document, its aggregates streamed from the
/// listing rather than built in memory first.
#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    aggregates: Streamed<'a>,
    totals: &'a T,
}

/// The listing's rows, serialised as a sequence as they are read.
struct Streamed<'a>(RefCell<Option<Rows<'a>>>);

impl Serialize for Streamed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rows = self.0.borrow_mut().take();
        let mut seq = serializer.serialize_seq(None)?;
        for row in rows.into_iter().flatten() {
            seq.serialize_element(&row.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

fn emit_document<T: Serialize>(listing: &Listing, totals: &T) -> Result<(), Failure> {
    let host = host_name();
    let doc = Document {
        envelope: Envelope::new("portreeve.flows", &host),
        aggregates: Streamed(RefCell::new(Some(listing.rows()?))),
        totals,
    };
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, &doc)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        // A closed pipe (`… | head`) is not a failure.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(spill_failed(e)),
        _ => Ok(()),
    }
}

/// A table of any length: a first pass over the listing measures the
/// columns, a second prints the rows, laid out as the table module does
/// when piped (columns two spaces apart, no trailing blanks).
fn emit_long_table(listing: &Listing) -> Result<(), Failure> {
    let mut widths = HEADERS.map(str::len);
    for row in listing.rows()? {
        for (w, c) in widths.iter_mut().zip(cells(&row.map_err(spill_failed)?)) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let line = |out: &mut BufWriter<_>, cells: &[String]| -> io::Result<()> {
        let mut text = String::new();
        for (c, w) in cells.iter().zip(widths) {
            text.push_str(&format!("{c:w$}  "));
        }
        writeln!(out, "{}", text.trim_end())
    };
    let mut written = if crate::output::style().headers {
        line(&mut out, &HEADERS.map(String::from))
    } else {
        Ok(())
    };
    for row in listing.rows()? {
        let row = row.map_err(spill_failed)?;
        written = written.and_then(|()| line(&mut out, &cells(&row)));
    }
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(spill_failed(e)),
        _ => Ok(()),
    }
}

fn parse_addresses(list: &[String], what: &str) -> Result<Vec<std::net::SocketAddr>, Failure> {
    list.iter()
        .map(|a| {
            a.parse().map_err(|_| {
                Failure::Input(format!(
                    "--{what} `{a}` is not ADDRESS:PORT (e.g. 0.0.0.0:2055)"
                ))
            })
        })
        .collect()
}

/// `--max-keys` as a count of keys.
fn max_keys(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub fn collect(args: &CollectArgs, ctx: &Context) -> Result<u8, Failure> {
    let mut addresses = parse_addresses(&args.netflow, "netflow")?;
    addresses.extend(parse_addresses(&args.sflow, "sflow")?);
    if addresses.is_empty() {
        return Err(Failure::Input(
            "nothing to listen on: give --netflow ADDRESS:PORT and/or --sflow ADDRESS:PORT".into(),
        ));
    }
    let config = CollectorConfig {
        max_keys: max_keys(args.max_keys),
        exporters: args
            .exporter
            .iter()
            .map(|e| parse_exporter(e).map_err(|m| Failure::Input(format!("--exporter {m}"))))
            .collect::<Result<_, _>>()?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Failure::Operational(format!("cannot handle signals: {e}")))?;
    }
    let collector = Collector::start(&addresses, args.flush, &config)
        .map_err(|e| Failure::Operational(format!("cannot listen: {e}")))?;
    tracing::info!(addresses = %listed(&collector.addresses, "none"), exporters = %listed(&config.exporters, "any"), "collecting flows");
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut listing = Listing::new(config.max_keys);
    let mut sink = FlowSink::new(&ctx.state);
    let mut keep = |aggregates: Vec<FlowAggregate>| -> Result<(), Failure> {
        if !args.no_store {
            sink.store(&aggregates)?;
        }
        listing.add(aggregates)
    };
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        keep(collector.next_flush(&mut totals, None))?;
    }
    keep(collector.stop(&mut totals))?;
    show(&listing, &totals, args.format)?;
    note(&totals.to_string());
    if totals.evicted > 0 {
        note(&format!(
            "{} aggregates evicted past --max-keys {}: {}",
            totals.evicted,
            args.max_keys,
            if args.no_store {
                "kept for the listing, nothing lost"
            } else {
                "stored early, nothing lost"
            }
        ));
    }
    Ok(EXIT_OK)
}

pub fn decode(args: &DecodeArgs) -> Result<u8, Failure> {
    let path = input::origin(&args.pcap);
    let bytes = input::read(&args.pcap, "capture").map_err(|e| Failure::Input(e.to_string()))?;
    let mut datagrams = portreeve_flows::pcap::udp_datagrams(&bytes)
        .map_err(|e| Failure::Input(format!("{path}: {e}")))?;
    let mut decoder = Decoder::default();
    let mut all: Vec<FlowRecord> = Vec::new();
    let mut out = Vec::new();
    // A capture cut short (its writer killed mid-record) keeps what came
    // before the cut; any other error in the file is the user's to fix.
    let mut cut = None;
    for d in datagrams.by_ref() {
        let d = match d {
            Ok(d) => d,
            Err(e @ PcapError::Truncated { .. }) => {
                cut = Some(e);
                break;
            }
            Err(e) => return Err(Failure::Input(format!("{path}: {e}"))),
        };
        out.clear();
        // Dropped datagrams are counted by the decoder, shown below.
        let _ = decoder.decode(d.src, d.payload, d.timestamp_us / 1000, &mut out);
        all.extend_from_slice(&out);
    }
    match args.format {
        FlowsFormat::Jsonl => {
            let mut text = String::new();
            for r in &all {
                text.push_str(&serde_json::to_string(r).expect("records serialise"));
                text.push('\n');
            }
            emit(&text);
        }
        FlowsFormat::Json => emit_json(&all),
    }
    let c = decoder.counters();
    if let Some(e) = cut {
        note(&format!(
            "warning: {path}: {e} (the capture ends inside its last record); every packet before it was read"
        ));
    }
    let skipped = datagrams.skipped_by_reason();
    let skipped = if skipped.total() == 0 {
        String::new()
    } else {
        format!(
            "; {} packets skipped ({} not UDP, {} IP fragments, {} cut by the snap length)",
            skipped.total(),
            skipped.not_udp,
            skipped.fragments,
            skipped.cut_by_snap_length
        )
    };
    note(&format!(
        "{} datagrams decoded, {} dropped, {} flow records{skipped}",
        c.datagrams_ok,
        c.datagrams_dropped.total(),
        c.records
    ));
    Ok(EXIT_OK)
}

/// What `import zeek` read, beside its aggregates.
#[derive(Debug, Serialize)]
struct ImportTotals {
    /// Connections (lines) read.
    records: u64,
    /// Aggregate keys evicted past `--max-keys` (set aside and merged
    /// back: nothing lost).
    evicted: u64,
    /// Connections of protocols other than TCP and UDP, not aggregated.
    other_protocol_records: u64,
}

/// Aggregates stored per transaction when the listing is too large to be
/// stored in one.
const STORE_CHUNK: usize = 50_000;

pub fn import_zeek(args: &ImportZeekArgs, ctx: &Context) -> Result<u8, Failure> {
    let path = input::origin(&args.file);
    let file = input::open(&args.file, "Zeek log").map_err(|e| Failure::Input(e.to_string()))?;
    let max_keys = max_keys(args.max_keys);
    let mut aggregator = Aggregator::new(AggregatorConfig {
        max_keys,
        ..AggregatorConfig::default()
    });
    let mut listing = Listing::new(max_keys);
    let mut records = 0;
    // Everything is read before anything is stored: a bad line stores
    // nothing. Evicted aggregates wait in the listing meanwhile.
    for record in portreeve_flows::zeek::ZeekReader::new(BufReader::new(file)) {
        let record =
            record.map_err(|e| Failure::Input(format!("{path}:{}: {}", e.line, e.kind)))?;
        records += 1;
        aggregator.add(&record);
        if aggregator.pending_evicted() > 0 {
            listing.add(aggregator.take_evicted())?;
        }
    }
    listing.add(aggregator.drain())?;
    let totals = ImportTotals {
        records,
        evicted: aggregator.evicted(),
        other_protocol_records: aggregator.other_protocol_records(),
    };
    if !args.no_store {
        // One transaction when the listing fits in memory, as it always
        // did; a listing set aside on disk goes in chunks.
        let mut sink = FlowSink::new(&ctx.state);
        let chunk = if listing.spilled() {
            STORE_CHUNK
        } else {
            usize::MAX
        };
        let mut batch = Vec::new();
        for row in listing.rows()? {
            batch.push(row.map_err(spill_failed)?);
            if batch.len() >= chunk {
                sink.store(&batch)?;
                batch.clear();
            }
        }
        sink.store(&batch)?;
    }
    show(&listing, &totals, args.format)?;
    note(&format!(
        "{records} connections read, {} not TCP or UDP",
        totals.other_protocol_records
    ));
    if totals.evicted > 0 {
        note(&format!(
            "{} aggregates evicted past --max-keys {} were set aside and merged back: nothing lost (a port's client count is then a lower bound)",
            totals.evicted, args.max_keys
        ));
    }
    Ok(EXIT_OK)
}

fn spill_failed(e: io::Error) -> Failure {
    Failure::Operational(format!(
        "cannot set aside or read back flow aggregates in a temporary file: {e} (TMPDIR chooses its directory)"
    ))
}

/// The aggregates of a run, one per server port, merged by
/// [`FlowAggregate::merge`] and read back in key order. Up to `limit` are
/// held in memory; when that many are held they are written, sorted, to a
/// temporary file as one run, and [`Listing::rows`] merges the runs and
/// the held ones back together, reading each run through a buffer of
/// `limit / runs` aggregates (at least one). So memory stays about twice
/// `limit` aggregates, plus some 250 bytes per run (one per `limit`
/// aggregates set aside), whatever the number of server ports.
struct Listing {
    held: BTreeMap<ServerPort, FlowAggregate>,
    limit: usize,
    spill: Option<Spill>,
}

/// Aggregates a listing holds in memory at least.
const MIN_LISTING: usize = 10_000;

/// A temporary file of sorted runs of aggregates, removed from the
/// directory as soon as it is created (it disappears with the process).
struct Spill {
    file: File,
    /// Each run's offset and number of aggregates.
    runs: Vec<(u64, u64)>,
    end: u64,
}

impl Listing {
    fn new(limit: usize) -> Listing {
        Listing {
            held: BTreeMap::new(),
            // A floor, so that a tiny --max-keys does not make a run of
            // every few aggregates (10,000 are about 1.6 MB).
            limit: limit.max(MIN_LISTING),
            spill: None,
        }
    }

    /// Merges `aggregates` in, setting the held ones aside when there are
    /// `limit` of them.
    fn add(&mut self, aggregates: Vec<FlowAggregate>) -> Result<(), Failure> {
        merge(&mut self.held, aggregates);
        if self.held.len() >= self.limit {
            self.set_aside().map_err(spill_failed)?;
        }
        Ok(())
    }

    fn set_aside(&mut self) -> io::Result<()> {
        let spill = match &mut self.spill {
            Some(spill) => spill,
            None => self.spill.insert(Spill::create()?),
        };
        let mut out = BufWriter::with_capacity(256 * 1024, &spill.file);
        for a in self.held.values() {
            out.write_all(&encode(a))?;
        }
        out.flush()?;
        drop(out);
        let n = self.held.len() as u64;
        spill.runs.push((spill.end, n));
        spill.end += n * RECORD as u64;
        self.held.clear();
        Ok(())
    }

    fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// At least as many aggregates as will be read back (the runs may
    /// hold a server port more than once).
    fn len_at_most(&self) -> usize {
        let set_aside: u64 = self.spill.iter().flat_map(|s| &s.runs).map(|r| r.1).sum();
        self.held.len() + usize::try_from(set_aside).unwrap_or(usize::MAX)
    }

    /// Every aggregate, one per server port, in key order.
    fn rows(&self) -> Result<Rows<'_>, Failure> {
        let runs = self.spill.as_ref().map_or(0, |s| s.runs.len());
        let buffered = (self.limit / runs.max(1)).clamp(1, 256) as u64;
        let mut sources: Vec<Source<'_>> = self
            .spill
            .iter()
            .flat_map(|s| {
                s.runs.iter().map(|&(offset, count)| {
                    Source::Run(RunCursor {
                        file: &s.file,
                        offset,
                        left: count,
                        buffered,
                        buffer: Vec::new(),
                        at: 0,
                    })
                })
            })
            .collect();
        sources.push(Source::Held(self.held.values()));
        let mut rows = Rows {
            heads: sources.iter().map(|_| None).collect(),
            sources,
            heap: BinaryHeap::new(),
            failed: false,
        };
        for i in 0..rows.sources.len() {
            rows.refill(i).map_err(spill_failed)?;
        }
        Ok(rows)
    }
}

impl Spill {
    fn create() -> io::Result<Spill> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "portreeve-flows-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Spill {
            file,
            runs: Vec::new(),
            end: 0,
        })
    }
}

/// One source of sorted aggregates for the merge.
enum Source<'a> {
    Run(RunCursor<'a>),
    Held(std::collections::btree_map::Values<'a, ServerPort, FlowAggregate>),
}

/// Reads one run back, a few aggregates at a time.
struct RunCursor<'a> {
    file: &'a File,
    offset: u64,
    left: u64,
    /// Aggregates read at a time.
    buffered: u64,
    buffer: Vec<u8>,
    at: usize,
}

impl RunCursor<'_> {
    fn next(&mut self) -> io::Result<Option<FlowAggregate>> {
        if self.at >= self.buffer.len() {
            if self.left == 0 {
                return Ok(None);
            }
            let n = self.left.min(self.buffered);
            self.buffer.resize(n as usize * RECORD, 0);
            self.file.read_exact_at(&mut self.buffer, self.offset)?;
            self.offset += n * RECORD as u64;
            self.left -= n;
            self.at = 0;
        }
        let record = &self.buffer[self.at..self.at + RECORD];
        self.at += RECORD;
        decode_record(record).map(Some)
    }
}

/// The merge of every source: the smallest key first, its aggregates from
/// every source merged into one.
struct Rows<'a> {
    sources: Vec<Source<'a>>,
    /// Each source's next aggregate.
    heads: Vec<Option<FlowAggregate>>,
    /// (key, source) of every head, smallest first.
    heap: BinaryHeap<std::cmp::Reverse<(ServerPort, usize)>>,
    failed: bool,
}

impl Rows<'_> {
    fn refill(&mut self, i: usize) -> io::Result<()> {
        let next = match &mut self.sources[i] {
            Source::Run(cursor) => cursor.next()?,
            Source::Held(values) => values.next().cloned(),
        };
        if let Some(a) = &next {
            self.heap.push(std::cmp::Reverse((a.key, i)));
        }
        self.heads[i] = next;
        Ok(())
    }

    fn take(&mut self, i: usize) -> io::Result<Option<FlowAggregate>> {
        let head = self.heads[i].take();
        self.refill(i)?;
        Ok(head)
    }
}

impl Iterator for Rows<'_> {
    type Item = io::Result<FlowAggregate>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let std::cmp::Reverse((key, i)) = self.heap.pop()?;
        let merged = (|| {
            let mut row = self.take(i)?.expect("a head for every heap entry");
            while let Some(std::cmp::Reverse((next, j))) = self.heap.peek().copied() {
                if next != key {
                    break;
                }
                self.heap.pop();
                if let Some(a) = self.take(j)? {
                    row.merge(&a);
                }
            }
            Ok(row)
        })();
        self.failed = merged.is_err();
        Some(merged)
    }
}

/// Bytes of one aggregate set aside: address family and address (17),
/// protocol (1), port (2), first and last seen in nanoseconds (16 each),
/// flows, packets, bytes and clients (8 each), exact (1), padding (3).
const RECORD: usize = 88;

fn encode(a: &FlowAggregate) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    match a.key.server {
        IpAddr::V4(v4) => {
            r[0] = 4;
            r[1..5].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            r[0] = 6;
            r[1..17].copy_from_slice(&v6.octets());
        }
    }
    r[17] = match a.key.port.protocol {
        Proto::Tcp => 0,
        Proto::Udp => 1,
    };
    r[18..20].copy_from_slice(&a.key.port.port.to_be_bytes());
    r[20..36].copy_from_slice(&a.first_seen.as_nanosecond().to_be_bytes());
    r[36..52].copy_from_slice(&a.last_seen.as_nanosecond().to_be_bytes());
    for (i, n) in [a.flows, a.packets, a.bytes, a.clients].iter().enumerate() {
        r[52 + 8 * i..60 + 8 * i].copy_from_slice(&n.to_be_bytes());
    }
    r[84] = u8::from(a.clients_exact);
    r
}

fn decode_record(r: &[u8]) -> io::Result<FlowAggregate> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a set-aside aggregate is corrupt",
        )
    };
    let r: &[u8; RECORD] = r.try_into().map_err(|_| bad())?;
    let octets = |range: std::ops::Range<usize>| r[range].to_vec();
    let server = match r[0] {
        4 => IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(octets(1..5)).map_err(|_| bad())?,
        )),
        6 => IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(octets(1..17)).map_err(|_| bad())?,
        )),
        _ => return Err(bad()),
    };
    let protocol = match r[17] {
        0 => Proto::Tcp,
        1 => Proto::Udp,
        _ => return Err(bad()),
    };
    let port = u16::from_be_bytes([r[18], r[19]]);
    let time = |at: usize| -> io::Result<Timestamp> {
        let nanos = i128::from_be_bytes(r[at..at + 16].try_into().map_err(|_| bad())?);
        Timestamp::from_nanosecond(nanos).map_err(|_| bad())
    };
    let count = |i: usize| -> io::Result<u64> {
        Ok(u64::from_be_bytes(
            r[52 + 8 * i..60 + 8 * i].try_into().map_err(|_| bad())?,
        ))
    };
    Ok(FlowAggregate {
        key: ServerPort::new(server, PortKey::new(protocol, port)),
        first_seen: time(20)?,
        last_seen: time(36)?,
        flows: count(0)?,
        packets: count(1)?,
        bytes: count(2)?,
        clients: count(3)?,
        clients_exact: r[84] != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aggregate(server: &str, protocol: Proto, port: u16, flows: u64) -> FlowAggregate {
        FlowAggregate {
            key: ServerPort::new(server.parse().unwrap(), PortKey::new(protocol, port)),
            first_seen: Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
            last_seen: Timestamp::from_nanosecond(1_700_000_100_000_000_007).unwrap(),
            flows,
            packets: flows * 3,
            bytes: u64::MAX,
            clients: 1,
            clients_exact: true,
        }
    }

    #[test]
    fn set_aside_aggregates_read_back_as_written() {
        for a in [
            aggregate("192.0.2.1", Proto::Tcp, 443, 5),
            aggregate("2001:db8::7", Proto::Udp, 65535, 0),
        ] {
            assert_eq!(decode_record(&encode(&a)).unwrap(), a);
        }
    }

    #[test]
    fn a_listing_past_its_limit_merges_its_runs_back_in_order() {
        let mut listing = Listing {
            held: BTreeMap::new(),
            limit: 4,
            spill: None,
        };
        let mut expected = BTreeMap::new();
        for round in 0..3u64 {
            let batch: Vec<FlowAggregate> = (0..10u16)
                .map(|i| aggregate("10.0.0.1", Proto::Tcp, 100 + (i * 7 + round as u16) % 13, 1))
                .collect();
            merge(&mut expected, batch.clone());
            listing.add(batch).unwrap();
        }
        assert!(listing.spilled());
        let rows: Vec<FlowAggregate> = listing.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(rows, expected.into_values().collect::<Vec<_>>());
        // A second reading gives the same.
        assert_eq!(listing.rows().unwrap().count(), rows.len());
    }
}

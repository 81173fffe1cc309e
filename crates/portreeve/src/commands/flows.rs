//! Flow telemetry: `portreeve collect` (NetFlow/IPFIX/sFlow over UDP),
//! `portreeve flows decode --pcap` (what a capture of such datagrams
//! holds), and `portreeve import zeek` (a Zeek conn.log). All three end in
//! the same aggregates per (server address, protocol, port), kept in the
//! agent's store.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_agent::collector::{Collector, Totals, merge};
use portreeve_core::Proto;
use portreeve_flows::{AggregateKey, Aggregator, Decoder, FlowRecord, PortUsage};
use portreeve_store::{FlowUpdate, SqliteStore, Store, WriteBatch};
use serde::Serialize;

use crate::cli::{CollectArgs, DecodeArgs, FlowsFormat, ImportZeekArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_json, table};

/// A time in milliseconds since the epoch, as the decoders give it.
fn at(ms: u64) -> Timestamp {
    Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The store's form of an aggregate. Client counts cannot be merged as
/// numbers, so they go in as a lower bound.
fn to_update(u: &PortUsage) -> Option<FlowUpdate> {
    let proto = match u.protocol {
        6 => Proto::Tcp,
        17 => Proto::Udp,
        _ => return None,
    };
    Some(FlowUpdate {
        server: u.server,
        protocol: proto,
        port: u.port,
        first_seen: at(u.first_seen_ms),
        last_seen: at(u.last_seen_ms),
        flows: u.flows,
        packets: u.packets,
        bytes: u.bytes,
        clients: Vec::new(),
        estimated_clients: Some(u.clients),
    })
}

/// Writes aggregates into the agent's store, opened at the first write
/// that has something to store (so a run that receives nothing creates no
/// store) and kept open for the next flushes.
pub(super) struct FlowSink<'a> {
    state_dir: &'a Path,
    store: Option<SqliteStore>,
}

impl<'a> FlowSink<'a> {
    pub(super) fn new(state_dir: &'a Path) -> FlowSink<'a> {
        FlowSink {
            state_dir,
            store: None,
        }
    }

    /// Stores the TCP and UDP aggregates of `usage`.
    pub(super) fn store(&mut self, usage: &[PortUsage]) -> Result<(), Failure> {
        let flows: Vec<FlowUpdate> = usage.iter().filter_map(to_update).collect();
        if flows.is_empty() {
            return Ok(());
        }
        let store = match &mut self.store {
            Some(store) => store,
            None => self.store.insert(
                SqliteStore::open(self.state_dir)
                    .map_err(|e| Failure::Operational(e.to_string()))?,
            ),
        };
        store
            .write(&WriteBatch {
                flows,
                ..WriteBatch::default()
            })
            .map_err(|e| Failure::Operational(e.to_string()))
    }
}

/// An aggregate as the commands print it.
#[derive(Serialize)]
struct Row {
    server: std::net::IpAddr,
    protocol: String,
    port: u16,
    first_seen: Timestamp,
    last_seen: Timestamp,
    flows: u64,
    packets: u64,
    bytes: u64,
    clients: u64,
    clients_exact: bool,
}

fn protocol_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "ipv6-icmp".into(),
        n => n.to_string(),
    }
}

fn rows(usage: &[PortUsage]) -> Vec<Row> {
    let mut rows: Vec<Row> = usage
        .iter()
        .map(|u| Row {
            server: u.server,
            protocol: protocol_name(u.protocol),
            port: u.port,
            first_seen: at(u.first_seen_ms),
            last_seen: at(u.last_seen_ms),
            flows: u.flows,
            packets: u.packets,
            bytes: u.bytes,
            clients: u.clients,
            clients_exact: u.clients_exact,
        })
        .collect();
    rows.sort_by(|a, b| (a.server, a.port, &a.protocol).cmp(&(b.server, b.port, &b.protocol)));
    rows
}

fn show(usage: &[PortUsage], totals: Option<&Totals>, format: ListFormat) {
    let rows = rows(usage);
    match format {
        ListFormat::Json => {
            let mut fields = vec![("aggregates", to_value(&rows))];
            if let Some(t) = totals {
                fields.push(("totals", to_value(t)));
            }
            emit_listing("portreeve.flows", &fields);
        }
        ListFormat::Table => {
            emit(&table::rows(
                &[
                    "SERVER",
                    "PORT",
                    "FLOWS",
                    "PACKETS",
                    "BYTES",
                    "CLIENTS",
                    "FIRST SEEN (UTC)",
                    "LAST SEEN (UTC)",
                ],
                &rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.server.to_string(),
                            format!("{}/{}", r.port, r.protocol),
                            r.flows.to_string(),
                            r.packets.to_string(),
                            r.bytes.to_string(),
                            format!("{}{}", if r.clients_exact { "" } else { "~" }, r.clients),
                            r.first_seen.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                            r.last_seen.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        ]
                    })
                    .collect::<Vec<_>>(),
                table::stdout_colour(),
            ));
            if let Some(t) = totals {
                eprintln!(
                    "portreeve: {} datagrams, {} decoded, {} dropped, {} flow records",
                    t.datagrams,
                    t.decoded,
                    t.dropped.values().sum::<u64>(),
                    t.records
                );
            }
        }
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

pub fn collect(args: &CollectArgs, state_dir: &Path) -> Result<u8, Failure> {
    let mut addresses = parse_addresses(&args.netflow, "netflow")?;
    addresses.extend(parse_addresses(&args.sflow, "sflow")?);
    if addresses.is_empty() {
        return Err(Failure::Input(
            "nothing to listen on: give --netflow ADDRESS:PORT and/or --sflow ADDRESS:PORT".into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Failure::Operational(format!("cannot handle signals: {e}")))?;
    }
    let collector = Collector::start(&addresses, args.flush)
        .map_err(|e| Failure::Operational(format!("cannot listen: {e}")))?;
    tracing::info!(addresses = ?collector.addresses, "collecting flows");
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut all: BTreeMap<AggregateKey, PortUsage> = BTreeMap::new();
    let mut sink = FlowSink::new(state_dir);
    let mut keep = |usage: Vec<PortUsage>| -> Result<(), Failure> {
        if !args.no_store {
            sink.store(&usage)?;
        }
        for u in usage {
            merge(&mut all, u);
        }
        Ok(())
    };
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        keep(collector.next_flush(&mut totals, None))?;
    }
    keep(collector.stop(&mut totals))?;
    let usage: Vec<PortUsage> = all.into_values().collect();
    show(&usage, Some(&totals), args.format);
    Ok(EXIT_OK)
}

pub fn decode(args: &DecodeArgs) -> Result<u8, Failure> {
    let bytes = std::fs::read(&args.pcap)
        .map_err(|e| Failure::Input(format!("cannot read {}: {e}", args.pcap.display())))?;
    let datagrams = portreeve_flows::pcap::udp_datagrams(&bytes)
        .map_err(|e| Failure::Input(format!("{}: {e}", args.pcap.display())))?;
    let mut decoder = Decoder::default();
    let mut all: Vec<FlowRecord> = Vec::new();
    let mut out = Vec::new();
    for d in datagrams {
        let d = d.map_err(|e| Failure::Input(format!("{}: {e}", args.pcap.display())))?;
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
    eprintln!(
        "portreeve: {} datagrams decoded, {} dropped, {} flow records",
        c.datagrams_ok,
        c.datagrams_dropped.total(),
        c.records
    );
    Ok(EXIT_OK)
}

pub fn import_zeek(args: &ImportZeekArgs, state_dir: &Path) -> Result<u8, Failure> {
    let file = std::fs::File::open(&args.file)
        .map_err(|e| Failure::Input(format!("cannot read {}: {e}", args.file.display())))?;
    let mut aggregator = Aggregator::default();
    // Everything is read before anything is stored: a bad line stores nothing.
    for record in portreeve_flows::zeek::ZeekReader::new(BufReader::new(file)) {
        let record = record.map_err(|e| {
            Failure::Input(format!("{}:{}: {}", args.file.display(), e.line, e.kind))
        })?;
        aggregator.add(&record);
    }
    let usage = aggregator.drain();
    if !args.no_store {
        FlowSink::new(state_dir).store(&usage)?;
    }
    show(&usage, None, args.format);
    Ok(EXIT_OK)
}

/// How long `collect` runs, and how often it stores.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    portreeve_policy::parse_duration(s)
        .filter(|d| d.is_positive())
        .and_then(|d| Duration::try_from(d).ok())
        .ok_or_else(|| format!("`{s}` is not a duration: write e.g. 5s, 1m or 2h"))
}

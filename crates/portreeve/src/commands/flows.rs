//! Flow telemetry: `portreeve collect` (NetFlow/IPFIX/sFlow over UDP),
//! `portreeve flows decode --pcap` (what a capture of such datagrams
//! holds), and `portreeve import zeek` (a Zeek conn.log). All three end in
//! the same aggregates per server port (address, protocol and port), kept
//! in the agent's store.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use portreeve_agent::collector::{Collector, Totals, merge};
use portreeve_app::flows::FlowSink;
use portreeve_flows::{Aggregator, Decoder, FlowAggregate, FlowRecord};

use crate::cli::{CollectArgs, DecodeArgs, FlowsFormat, ImportZeekArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_json, table};

/// Prints `aggregates` (sorted by server port, as aggregators and merges
/// give them) and the collector's totals.
fn show(aggregates: &[FlowAggregate], totals: Option<&Totals>, format: ListFormat) {
    match format {
        ListFormat::Json => {
            let mut fields = vec![("aggregates", to_value(&aggregates))];
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
                &aggregates
                    .iter()
                    .map(|a| {
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
                    })
                    .collect::<Vec<_>>(),
                table::stdout_colour(),
            ));
            if let Some(t) = totals {
                eprintln!(
                    "portreeve: {} datagrams, {} decoded, {} dropped, {} flow records ({} not TCP or UDP)",
                    t.datagrams,
                    t.decoded,
                    t.dropped.values().sum::<u64>(),
                    t.records,
                    t.other_protocol_records
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

pub fn collect(args: &CollectArgs, ctx: &Context) -> Result<u8, Failure> {
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
    let mut all = BTreeMap::new();
    let mut sink = FlowSink::new(&ctx.state);
    let mut keep = |aggregates: Vec<FlowAggregate>| -> Result<(), Failure> {
        if !args.no_store {
            sink.store(&aggregates)?;
        }
        merge(&mut all, aggregates);
        Ok(())
    };
    while !stop.load(Ordering::Relaxed) && args.duration.is_none_or(|d| started.elapsed() < d) {
        keep(collector.next_flush(&mut totals, None))?;
    }
    keep(collector.stop(&mut totals))?;
    let aggregates: Vec<FlowAggregate> = all.into_values().collect();
    show(&aggregates, Some(&totals), args.format);
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

pub fn import_zeek(args: &ImportZeekArgs, ctx: &Context) -> Result<u8, Failure> {
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
    let aggregates = aggregator.drain();
    if !args.no_store {
        FlowSink::new(&ctx.state).store(&aggregates)?;
    }
    show(&aggregates, None, args.format);
    Ok(EXIT_OK)
}

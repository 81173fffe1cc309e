//! The flow readers: NetFlow v5/v9 and IPFIX, sFlow v5, Zeek conn.log and
//! pcap/pcapng captures, and the aggregation behind them.

use portreeve_flows::pcap::{PcapError, udp_datagrams};
use portreeve_flows::zeek::ZeekReader;
use portreeve_flows::{Aggregator, AggregatorConfig, Decoder, DecoderConfig};

/// NetFlow v5/v9 and IPFIX decoding. Exporters are untrusted network peers:
/// no datagram may panic, a rejected datagram must leave no records behind,
/// and state must stay within its caps. The input is split into several
/// datagrams fed to one decoder (with small caps), so templates learned
/// from one datagram are exercised by the data of the next, and template
/// eviction and withdrawal run too.
pub fn flows_netflow(data: &[u8]) {
    let config = DecoderConfig {
        max_exporters: 2,
        max_templates_per_exporter: 4,
        max_templates: 6,
        max_template_fields: 64,
        max_samplers_per_exporter: 2,
        logs_per_second: 0,
    };
    let mut decoder = Decoder::new(config);
    let mut aggregator = Aggregator::new(AggregatorConfig {
        max_keys: 8,
        exact_clients: 2,
    });
    let mut out = Vec::new();
    // The input is cut into datagrams at every 0xfe byte; the i-th goes
    // to exporter i mod 3, so one exporter's templates meet another's data.
    for (i, chunk) in data.split(|&b| b == 0xfe).enumerate() {
        let exporter = format!("192.0.2.{}:2055", (i % 3) + 1).parse().unwrap();
        let before = out.len();
        match decoder.decode(exporter, chunk, i as u64 * 1000, &mut out) {
            Ok(n) => assert_eq!(out.len(), before + n),
            Err(_) => assert_eq!(out.len(), before, "a dropped datagram left records"),
        }
        assert!(decoder.template_count(exporter.ip()) <= 4);
    }
    // Every record is aggregated, skipped (no addresses) or counted as
    // another protocol; evicted keys are handed back, not lost.
    let mut evicted = 0;
    for r in &out {
        aggregator.add(r);
        assert!(aggregator.len() <= 8);
        evicted += aggregator
            .take_evicted()
            .iter()
            .map(|a| a.flows)
            .sum::<u64>();
    }
    let aggregated: u64 = evicted + aggregator.snapshot().iter().map(|a| a.flows).sum::<u64>();
    let not_aggregated = aggregator.skipped() + aggregator.other_protocol_records();
    assert_eq!(aggregated + not_aggregated, out.len() as u64);
    let c = decoder.counters();
    assert!(c.exporters <= 2 && c.templates <= 6);
}

/// sFlow v5 decoding (samples, flow records and the raw packet headers
/// parsed down to the 5-tuple). Agents are untrusted network peers: no
/// datagram may panic, and a rejected datagram must leave no records.
pub fn flows_sflow(data: &[u8]) {
    // Force the sFlow path: version 5 as a 32-bit word, then the input.
    let mut datagram = vec![0, 0, 0, 5];
    datagram.extend_from_slice(data);
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    let exporter = "192.0.2.1:6343".parse().unwrap();
    match decoder.decode(exporter, &datagram, 0, &mut out) {
        Ok(n) => {
            assert_eq!(out.len(), n);
            for r in &out {
                assert_eq!(r.packets, 1, "one sample is one packet");
                assert!(r.sampling_rate >= 1);
            }
        }
        Err(_) => assert!(out.is_empty()),
    }
    let mut aggregator = Aggregator::default();
    aggregator.add_all(&out);
}

/// The Zeek conn.log reader (TSV headers and rows, JSON lines) and the
/// aggregation behind `portreeve import zeek`. Logs are files users hand to
/// the command: no input may panic, every error must name a line that
/// exists, and an aggregator with a tiny key cap (evicting all the time, as
/// `--max-keys` makes it) must lose no record.
pub fn flows_zeek(data: &[u8]) {
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let mut aggregator = Aggregator::new(AggregatorConfig {
        max_keys: 2,
        exact_clients: 2,
    });
    let (mut records, mut aggregated, mut taken) = (0u64, 0u64, 0u64);
    for item in ZeekReader::new(data) {
        match item {
            Ok(record) => {
                records += 1;
                if aggregator.add(&record) {
                    aggregated += 1;
                }
                assert!(aggregator.len() <= 2);
                taken += aggregator
                    .take_evicted()
                    .iter()
                    .map(|a| a.flows)
                    .sum::<u64>();
            }
            Err(e) => assert!(
                e.line >= 1 && e.line <= lines,
                "error on line {} of {lines}",
                e.line
            ),
        }
    }
    let held: u64 = aggregator.drain().iter().map(|a| a.flows).sum();
    assert_eq!(taken + held, aggregated, "evicted aggregates lost flows");
    assert_eq!(
        aggregated + aggregator.skipped() + aggregator.other_protocol_records(),
        records
    );
}

/// The pcap/pcapng reader behind `flows decode --pcap`: captures are files
/// from anywhere, so no input may panic or loop, every payload returned
/// must lie within the input, and every error must say where in the file it
/// is: a cut-short tail ends the datagrams (what came before it stays
/// good), an unknown link type is reported rather than skipped.
pub fn flows_pcap(data: &[u8]) {
    let mut datagrams = match udp_datagrams(data) {
        Ok(d) => d,
        Err(PcapError::UnknownLinkType { offset, .. }) => {
            assert_eq!(offset, 20, "a classic header's link type");
            return;
        }
        Err(_) => return,
    };
    let range = data.as_ptr_range();
    let mut skipped = 0;
    let mut error = None;
    while let Some(d) = datagrams.next() {
        // Skip counts only grow, and add up by reason.
        assert!(datagrams.skipped() >= skipped);
        skipped = datagrams.skipped();
        assert_eq!(datagrams.skipped_by_reason().total(), skipped);
        match d {
            Ok(d) => {
                let p = d.payload.as_ptr_range();
                assert!(range.start <= p.start && p.end <= range.end);
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    // Nothing comes after an error.
    assert!(datagrams.next().is_none());
    match error {
        Some(PcapError::Truncated {
            offset,
            needed,
            available,
        }) => {
            assert!(offset < data.len(), "cut at {offset} of {}", data.len());
            assert_eq!(available, data.len() - offset);
            assert!(needed > available, "{needed} needed, {available} present");
        }
        Some(PcapError::Malformed { offset } | PcapError::UnknownLinkType { offset, .. }) => {
            assert!(offset < data.len());
        }
        Some(PcapError::NotPcap) => panic!("only udp_datagrams says NotPcap"),
        None => {}
    }
}

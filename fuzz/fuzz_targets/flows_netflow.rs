//! Fuzzes NetFlow v5/v9 and IPFIX decoding. Exporters are untrusted network
//! peers: no datagram may panic, a rejected datagram must leave no records
//! behind, and state must stay within its caps. The input is split into
//! several datagrams fed to one decoder (with small caps), so templates
//! learned from one datagram are exercised by the data of the next, and
//! template eviction and withdrawal run too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::{Aggregator, AggregatorConfig, Decoder, DecoderConfig};

fuzz_target!(|data: &[u8]| {
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
});

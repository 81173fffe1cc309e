//! Fuzzes the Zeek conn.log reader (TSV headers and rows, JSON lines) and
//! the aggregation behind `portreeve import zeek`. Logs are files users
//! hand to the command: no input may panic, every error must name a line
//! that exists, and an aggregator with a tiny key cap (evicting all the
//! time, as `--max-keys` makes it) must lose no record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::zeek::ZeekReader;
use portreeve_flows::{Aggregator, AggregatorConfig};

fuzz_target!(|data: &[u8]| {
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
});

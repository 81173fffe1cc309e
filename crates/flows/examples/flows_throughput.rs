//! Measures decode + aggregate throughput on one core, in records per
//! second, for NetFlow v9, IPFIX and sFlow, by replaying the data datagrams
//! of the real captures in `../shared/testdata/flows` (after their
//! templates) in a loop. Prints one JSON object.
//!
//! ```sh
//! cargo run --release -p portreeve-flows --example flows_throughput [SECONDS_PER_PROTOCOL]
//! ```
//!
//! Per protocol: `records_per_second` (decode + aggregate, the figure),
//! and, to show where the time goes, `decode_only_records_per_second` (the
//! same loop without the aggregator) and `ns_per_datagram` for both.
//! `netflow_v9_ingest` is the one stream bench/flows.sh replays over UDP
//! (the multiplesamplingrates capture: 12 records per 1,344-byte
//! datagram), so its cost per datagram can be set against the collector's
//! CPU time per datagram received: the difference is the receive path.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use portreeve_flows::{Aggregator, Decoder, pcap};

/// Files fed once (templates, options) and files whose datagrams are
/// replayed.
type Scenario = (&'static [&'static str], &'static [&'static str]);

/// Per protocol, its scenarios.
const SCENARIOS: &[(&str, &[Scenario])] = &[
    (
        "netflow_v9",
        &[
            (
                &["netflow/samplingrate-template.pcap"],
                &["netflow/samplingrate-data.pcap"],
            ),
            (
                &[
                    "netflow/multiplesamplingrates-options-template.pcap",
                    "netflow/multiplesamplingrates-options-data.pcap",
                    "netflow/multiplesamplingrates-template.pcap",
                ],
                &["netflow/multiplesamplingrates-data.pcap"],
            ),
            (
                &["netflow/data+templates.pcap"],
                &["netflow/data+templates.pcap"],
            ),
        ],
    ),
    (
        "ipfix",
        &[
            (
                &["netflow/ipfixprobe-templates.pcap"],
                &["netflow/ipfixprobe-data.pcap"],
            ),
            (
                &["netflow/physicalinterfaces.pcap"],
                &["netflow/physicalinterfaces.pcap"],
            ),
            (&["netflow/mpls.pcap"], &["netflow/mpls.pcap"]),
            (
                &["netflow/ethernet-over-mpls-with-control-word-template.pcap"],
                &["netflow/ethernet-over-mpls-with-control-word-data.pcap"],
            ),
        ],
    ),
    (
        "netflow_v9_ingest",
        &[(
            &[
                "netflow/multiplesamplingrates-options-template.pcap",
                "netflow/multiplesamplingrates-options-data.pcap",
                "netflow/multiplesamplingrates-template.pcap",
            ],
            &["netflow/multiplesamplingrates-data.pcap"],
        )],
    ),
    (
        "sflow5",
        &[(
            &[],
            &[
                "sflow/data-1140.pcap",
                "sflow/data-qinq.pcap",
                "sflow/data-sflow-expanded-sample.pcap",
                "sflow/data-icmpv6.pcap",
            ],
        )],
    ),
];

fn datagrams(dir: &Path, file: &str) -> Vec<(SocketAddr, Vec<u8>)> {
    let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    pcap::udp_datagrams(&bytes)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .map(|d| d.map(|d| (d.src, d.payload.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One timed loop over `replay`: (records, datagrams, passes, seconds).
fn run(
    decoder: &mut Decoder,
    aggregator: Option<&mut Aggregator>,
    replay: &[(SocketAddr, Vec<u8>)],
    budget: Duration,
) -> (u64, u64, u64, f64) {
    let mut out = Vec::new();
    let mut aggregator = aggregator;
    let start = Instant::now();
    let (mut records, mut datagram_count, mut passes) = (0u64, 0u64, 0u64);
    let mut now_ms = 1_700_000_000_000u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            for (src, payload) in replay {
                out.clear();
                if let Ok(n) = decoder.decode(*src, payload, now_ms, &mut out) {
                    records += n as u64;
                }
                if let Some(a) = aggregator.as_deref_mut() {
                    a.add_all(&out);
                }
                datagram_count += 1;
            }
            now_ms += 1;
            passes += 1;
        }
    }
    (
        records,
        datagram_count,
        passes,
        start.elapsed().as_secs_f64(),
    )
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let dir = portreeve_testkit::testdata("flows");
    if !dir.is_dir() {
        println!(
            "{}",
            serde_json::json!({ "error": format!("{} is absent", dir.display()) })
        );
        std::process::exit(1);
    }
    let mut results = serde_json::Map::new();
    for (protocol, scenarios) in SCENARIOS {
        let mut decoder = Decoder::default();
        let mut aggregator = Aggregator::default();
        let mut out = Vec::new();
        let mut replay = Vec::new();
        for (setup, data) in *scenarios {
            for file in *setup {
                for (src, payload) in datagrams(&dir, file) {
                    decoder
                        .decode(src, &payload, 0, &mut out)
                        .expect("setup datagram decodes");
                }
            }
            for file in *data {
                replay.extend(datagrams(&dir, file));
            }
        }
        let per_pass: usize = replay
            .iter()
            .map(|(src, p)| {
                out.clear();
                decoder
                    .decode(*src, p, 0, &mut out)
                    .expect("replayed datagram decodes")
            })
            .sum();
        let budget = Duration::from_secs_f64(seconds);
        // Decode alone first (a fifth of the time), then the figure.
        let (d_records, d_datagrams, _, d_elapsed) =
            run(&mut decoder, None, &replay, budget.mul_f64(0.2));
        let (records, datagram_count, passes, elapsed) =
            run(&mut decoder, Some(&mut aggregator), &replay, budget);
        results.insert(
            protocol.to_string(),
            serde_json::json!({
                "records_per_second": (records as f64 / elapsed).round(),
                "datagrams_per_second": (datagram_count as f64 / elapsed).round(),
                "ns_per_datagram": (elapsed * 1e9 / datagram_count as f64).round(),
                "decode_only_records_per_second": (d_records as f64 / d_elapsed).round(),
                "decode_only_ns_per_datagram": (d_elapsed * 1e9 / d_datagrams as f64).round(),
                "records_per_pass": per_pass,
                "datagrams_per_pass": replay.len(),
                "passes": passes,
                "seconds": (elapsed * 1000.0).round() / 1000.0,
                "aggregate_keys": aggregator.len(),
                "dropped": decoder.counters().datagrams_dropped.total(),
            }),
        );
    }
    let report = serde_json::json!({
        "benchmark": "decode + aggregate, one core, replaying real captures",
        "results": results,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

//! Fuzzes sFlow v5 decoding (samples, flow records and the raw packet
//! headers parsed down to the 5-tuple). Agents are untrusted network peers:
//! no datagram may panic, and a rejected datagram must leave no records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::{Aggregator, Decoder};

fuzz_target!(|data: &[u8]| {
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
});

//! Fuzzes the pcap/pcapng reader behind `flows decode --pcap`: captures are
//! files from anywhere, so no input may panic or loop, and every payload
//! returned must lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::pcap::udp_datagrams;

fuzz_target!(|data: &[u8]| {
    let Ok(datagrams) = udp_datagrams(data) else {
        return;
    };
    let range = data.as_ptr_range();
    for d in datagrams {
        let Ok(d) = d else { break };
        let p = d.payload.as_ptr_range();
        assert!(range.start <= p.start && p.end <= range.end);
    }
});

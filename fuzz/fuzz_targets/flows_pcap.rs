//! Fuzzes the pcap/pcapng reader behind `flows decode --pcap`: captures are
//! files from anywhere, so no input may panic or loop, every payload
//! returned must lie within the input, and every error must say where in
//! the file it is: a cut-short tail ends the datagrams (what came before it
//! stays good), an unknown link type is reported rather than skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::pcap::{PcapError, udp_datagrams};

fuzz_target!(|data: &[u8]| {
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
    loop {
        let Some(d) = datagrams.next() else { break };
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
});

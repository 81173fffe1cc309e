//! Fuzzes the Zeek conn.log reader (TSV headers and rows, JSON lines).
//! Logs are files users hand to `portreeve import zeek`: no input may
//! panic, and every error must name a line that exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_flows::zeek::ZeekReader;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count() as u64;
    for item in ZeekReader::new(data) {
        if let Err(e) = item {
            assert!(
                e.line >= 1 && e.line <= lines,
                "error on line {} of {lines}",
                e.line
            );
        }
    }
});

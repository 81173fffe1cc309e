//! Fuzzes every parser of what a scanned service sends back: TCP banners
//! and probe replies (service identification) and UDP replies (the payload
//! validators). Servers on the other end may be hostile; no input may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_scan::{service, udp_payloads};

fuzz_target!(|data: &[u8]| {
    service::parse_everything(data);
    for port in udp_payloads::ports() {
        let _ = udp_payloads::service_for_reply(port, data);
    }
});

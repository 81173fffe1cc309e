//! The properties portreeve's fuzz targets hold its parsers to, one function
//! per target in `fuzz/fuzz_targets/`.
//!
//! Each fuzz target is a one-line call into this crate, and
//! `tests/replay.rs` calls the same functions on every committed input
//! (`fuzz/corpus/TARGET/` and `fuzz/regressions/TARGET/`), so an input that
//! once broke a property is checked by every `cargo test`, without
//! cargo-fuzz or a nightly compiler. A property fails by panicking, which
//! is what libFuzzer records as a crash.

mod detect;
mod flows;
mod ledger;
mod legacy;
mod osv;
mod policy;
mod scan;

pub use detect::{detect_conn_log, detect_flow_csv, detect_packet, detect_pcap};
pub use flows::{flows_netflow, flows_pcap, flows_sflow, flows_zeek};
pub use ledger::{ledger_files, ledger_records, signed_note};
pub use legacy::iptables_save;
pub use osv::osv_read;
pub use policy::policy_parse;
pub use scan::{nmap_xml_read, service_replies};

/// A property: panics when the input breaks it.
pub type Property = fn(&[u8]);

/// Every fuzz target by name (the file name in `fuzz/fuzz_targets/`), with
/// its property.
pub const TARGETS: [(&str, Property); 16] = [
    ("detect_conn_log", detect_conn_log),
    ("detect_flow_csv", detect_flow_csv),
    ("detect_packet", detect_packet),
    ("detect_pcap", detect_pcap),
    ("flows_netflow", flows_netflow),
    ("flows_pcap", flows_pcap),
    ("flows_sflow", flows_sflow),
    ("flows_zeek", flows_zeek),
    ("iptables_save", iptables_save),
    ("ledger_files", ledger_files),
    ("ledger_records", ledger_records),
    ("nmap_xml_read", nmap_xml_read),
    ("osv_read", osv_read),
    ("policy_parse", policy_parse),
    ("service_replies", service_replies),
    ("signed_note", signed_note),
];

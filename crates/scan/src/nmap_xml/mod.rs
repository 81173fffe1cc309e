//! nmap's XML output format (`nmap -oX`, described by `nmap.dtd`): writing
//! a [`ScanRun`](crate::model::ScanRun) so that nmap's consumers (ndiff,
//! Zenmap, report tools, vulnerability-management importers) can read it,
//! and importing nmap's XML into the model.
//!
//! # Writing
//!
//! The document follows nmap's layout element for element. Like nmap with no
//! `-v`, a port state other than `open` that holds more than 25 of a host's
//! ports is summarised in an `<extraports>` element instead of listing every
//! port; its `<extrareasons>` children carry the protocol and the exact port
//! list (`proto="tcp" ports="1-21,23-1000"`), as nmap 7.93 writes them.
//! Services on summarised ports are not written (nmap does the same).
//!
//! Where portreeve knows more than nmap's format can say, it adds one port
//! `<script id="portreeve">` — an id no NSE script has, so no consumer
//! mistakes it for nmap's output — with a one-line `output` and structured
//! children as NSE writes them: `<elem key="unauthenticated">` (whether the
//! service answered without credentials) and `<table key="tls">` (negotiated
//! version, ALPN, certificate subject, issuer and expiry). Only one script
//! per port, because ndiff up to at least 7.95 fails on ports with two
//! (nmap/nmap#2930). A TLS service also gets nmap's `tunnel="ssl"`.
//!
//! What does not survive the format: per-port round-trip times (only the
//! host's smoothed RTT is written, in `<times>`), sub-second timestamps, and
//! the detail of how a service was identified (nmap only knows `table` — from
//! the port number — and `probed`).
//!
//! The `scanner` attribute says who produced the document (`portreeve`).
//! Consumers read it as a string; only a validating parser checking against
//! `nmap.dtd`, which enumerates the single value `nmap`, would object.
//!
//! # Reading
//!
//! [`read`] takes real nmap output (any version that writes
//! `xmloutputversion` 1.0x) or portreeve's own. Ports nmap summarised in
//! `<extraports>` are expanded to one
//! [`PortResult`](crate::model::PortResult) each when their exact ports are
//! known:
//!
//! - from the `ports` attribute of `<extrareasons>` (recent nmap — 7.93
//!   writes it — and portreeve), exactly;
//! - otherwise (older nmap), from the scanned ports in `<scaninfo services>`
//!   minus the ports listed individually, when that is unambiguous: the
//!   host has a single `<extraports>` group whose count matches, or each
//!   group is tied to one protocol by its `<extrareasons proto>` and its count
//!   matches that protocol's unlisted ports.
//!
//! Anything else is left out rather than guessed, and [`import`] says so in
//! [`Import::omitted`]: summarised groups that could not be expanded, states
//! and protocols the model has no name for (`unfiltered`, `closed|filtered`,
//! SCTP, IP protocol scans), and hosts that were not up.
//!
//! # Layout
//!
//! The writer and the reader are separate modules that share only what the
//! format fixes: the constants below, nmap's compact port lists
//! ([`compress_ports`], and its parser) and the id of portreeve's port
//! script. CPE names are converted by [`crate::cpe`]: nmap writes CPE 2.2
//! URIs, the model holds CPE 2.3 formatted strings. The conventions nmap's
//! text outputs share with the XML (the banner, the closing summary, which
//! states are summarised) are the writer's, and the greppable writer
//! ([`crate::grepable`]) uses them from there.

mod reader;
pub(crate) mod writer;

pub use crate::cpe::{cpe_uri_to_23, cpe23_to_uri};
pub use reader::{Import, ImportError, Omission, import, read};
pub use writer::{write, write_in};

/// A state with more ports than this on one host is summarised in
/// `<extraports>`, as nmap does without `-v`.
pub const MAX_LISTED_PER_STATE: usize = 25;

/// The most ports [`read`] will hold (summarised groups expand to one
/// [`PortResult`](crate::model::PortResult) per port, so a small document
/// can describe many).
pub const DEFAULT_MAX_PORTS: usize = 1 << 22;

/// nmap's `xmloutputversion` this module writes.
pub const XML_OUTPUT_VERSION: &str = "1.05";

/// The id of portreeve's port script.
pub const SCRIPT_ID: &str = "portreeve";

/// A port list in nmap's compact form: `1-21,23,25-1000`.
pub fn compress_ports(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.wrapping_add(1) && end != u16::MAX {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// Parses nmap's `1-21,23,25-1000`; `None` if malformed. Whitespace around
/// items is allowed; an empty list is empty.
fn parse_ranges(s: &str) -> Option<Vec<(u16, u16)>> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let item = item.trim();
        if item.is_empty() {
            if s.trim().is_empty() {
                continue;
            }
            return None;
        }
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p: u16 = item.parse().ok()?;
                (p, p)
            }
        };
        if a > b {
            return None;
        }
        out.push((a, b));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_port_lists_like_nmap() {
        assert_eq!(compress_ports(&[]), "");
        assert_eq!(compress_ports(&[22]), "22");
        assert_eq!(
            compress_ports(&[57, 61, 63, 64, 70, 1, 2, 3]),
            "1-3,57,61,63-64,70"
        );
        assert_eq!(compress_ports(&[65534, 65535, 0]), "0,65534-65535");
        assert_eq!(
            parse_ranges("1-21,23-1000, 8080"),
            Some(vec![(1, 21), (23, 1000), (8080, 8080)])
        );
        assert_eq!(parse_ranges(""), Some(vec![]));
        assert_eq!(parse_ranges("5-1"), None);
        assert_eq!(parse_ranges("1,,2"), None);
        assert_eq!(parse_ranges("70000"), None);
    }
}

//! What the scanner reads: replies of scanned services, and nmap XML that
//! other tools wrote.

use portreeve_scan::nmap_xml::{self, ImportError};
use portreeve_scan::{HostResult, service, udp_payloads};

/// Every parser of what a scanned service sends back: TCP banners and
/// probe replies (service identification) and UDP replies (the payload
/// validators). Servers on the other end may be hostile: no input may
/// panic, and identification must not depend on how TCP cuts the reply
/// into reads (see [`service::replies_read_alike`]).
pub fn service_replies(data: &[u8]) {
    service::parse_everything(data);
    service::replies_read_alike(data);
    for port in udp_payloads::ports() {
        let _ = udp_payloads::service_for_reply(port, data);
    }
}

/// Small, so that summarised groups cannot blow up memory or time.
const MAX_PORTS: usize = 200_000;

/// The nmap XML importer, which reads files other tools wrote. Any input
/// must yield a run or an error that points inside the input — never a
/// panic — and a run must survive being written out and read back: same
/// hosts, same ports, same states.
pub fn nmap_xml_read(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match nmap_xml::import(text, MAX_PORTS) {
        Ok(imported) => {
            let run = imported.run;
            let mut total = 0;
            for h in &run.hosts {
                total += h.ports.len();
                for w in h.ports.windows(2) {
                    assert!(
                        (w[0].protocol, w[0].port) < (w[1].protocol, w[1].port),
                        "ports sorted and unique"
                    );
                }
                assert!(h.ports.iter().all(|p| p.address == h.address));
            }
            assert!(total <= MAX_PORTS);
            let xml = nmap_xml::write_in(&run, &jiff::tz::TimeZone::UTC);
            let again = nmap_xml::import(&xml, MAX_PORTS)
                .unwrap_or_else(|e| panic!("our own output does not read back: {e}\n{xml}"));
            assert_eq!(again.run.hosts.len(), run.hosts.len());
            let states = |h: &HostResult| {
                h.ports
                    .iter()
                    .map(|p| (p.protocol, p.port, p.state))
                    .collect::<Vec<_>>()
            };
            for (a, b) in run.hosts.iter().zip(&again.run.hosts) {
                assert_eq!(a.address, b.address);
                assert_eq!(states(a), states(b), "{xml}");
            }
            let _ = portreeve_scan::grepable::write_in(&run, &jiff::tz::TimeZone::UTC);
        }
        Err(ImportError::Syntax {
            offset,
            line,
            column,
            ..
        }) => {
            assert!(offset as usize <= text.len(), "offset outside the input");
            assert!(line >= 1 && column >= 1);
        }
        Err(ImportError::Invalid { line, column, .. })
        | Err(ImportError::Truncated { line, column, .. }) => {
            assert!(line >= 1 && column >= 1);
            assert!(line <= text.lines().count() + 1);
        }
        Err(_) => {}
    }
}

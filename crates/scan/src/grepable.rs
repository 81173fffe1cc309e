//! nmap's greppable output (`nmap -oG`), field for field, so that existing
//! `grep`/`awk`/`cut` pipelines keep working on portreeve's results (`⇥` is a tab):
//!
//! ```text
//! # portreeve 0.1.0 scan initiated Sun Nov 29 06:17:57 2026 as: portreeve scan 10.0.0.1
//! Host: 10.0.0.1 (web1)⇥Status: Up
//! Host: 10.0.0.1 (web1)⇥Ports: 22/open/tcp//ssh//OpenSSH 9.2p1/, 80/open/tcp//http///⇥Ignored State: closed (998)
//! # portreeve done at Sun Nov 29 06:17:58 2026 -- 1 IP address (1 host up) scanned in 1.02 seconds
//! ```
//!
//! Each port is `port/state/protocol/owner/service/rpc info/version/`; the
//! owner and RPC fields are always empty (portreeve does no ident or RPC
//! scans). As in nmap, `/` inside the service and version fields becomes
//! `|` (a TLS service is `ssl|http`), the version field is product, version
//! and `(extra info)` joined by spaces, ports of a state with more than 25
//! members are left out, and `Ignored State:` names them when only one state
//! was left out. Control characters, which would break the line-oriented
//! format, become `.` as nmap's sanitiser does.

use jiff::tz::TimeZone;

use crate::model::{PortResult, ScanRun, ServiceInfo};
use crate::nmap_xml::writer::{
    banner, ctime, display_scanner, done_summary, ignored_states, listed_ports,
};

/// Writes `run` in nmap's greppable format, with times in the system time
/// zone (as nmap does).
pub fn write(run: &ScanRun) -> String {
    write_in(run, &TimeZone::system())
}

/// Writes `run` in nmap's greppable format, with times in `tz`.
pub fn write_in(run: &ScanRun, tz: &TimeZone) -> String {
    let mut out = format!("# {}\n", clean(&banner(run, tz), ' '));
    for host in &run.hosts {
        let who = format!(
            "Host: {} ({})",
            host.address,
            clean(host.hostname.as_deref().unwrap_or(""), '.')
        );
        out.push_str(&who);
        out.push_str("\tStatus: Up\n");
        if host.ports.is_empty() {
            continue;
        }
        let ignored = ignored_states(&host.ports);
        let ports: Vec<String> = listed_ports(&host.ports, &ignored)
            .into_iter()
            .map(port_field)
            .collect();
        out.push_str(&who);
        out.push_str("\tPorts: ");
        out.push_str(&ports.join(", "));
        if let [(state, count)] = ignored.as_slice() {
            out.push_str(&format!("\tIgnored State: {state} ({count})"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "# {} done at {} -- {}\n",
        display_scanner(&run.scanner),
        ctime(run.finished, tz),
        done_summary(run)
    ));
    out
}

/// `port/state/protocol/owner/service/rpc info/version/`.
fn port_field(p: &PortResult) -> String {
    let (service, version) = match &p.service {
        Some(s) => (service_name(s), full_version(s)),
        None => (String::new(), String::new()),
    };
    format!(
        "{}/{}/{}//{}//{}/",
        p.port,
        p.state,
        p.protocol,
        grep_field(&service),
        grep_field(&version)
    )
}

/// nmap's service column: the name, `ssl/` before it for a TLS service,
/// `unknown` when there is no name.
fn service_name(s: &ServiceInfo) -> String {
    let name = if s.name.is_empty() {
        "unknown"
    } else {
        &s.name
    };
    if s.tls.is_some() {
        format!("ssl/{name}")
    } else {
        name.to_string()
    }
}

/// nmap's version column: `product version (extra info)`, skipping what is
/// unknown.
fn full_version(s: &ServiceInfo) -> String {
    let mut parts: Vec<String> = Vec::new();
    for v in [&s.product, &s.version].into_iter().flatten() {
        if !v.is_empty() {
            parts.push(v.clone());
        }
    }
    if let Some(extra) = s.extra.as_deref().filter(|e| !e.is_empty()) {
        parts.push(format!("({extra})"));
    }
    parts.join(" ")
}

/// A service or version field: `/` becomes `|`, control characters `.`.
fn grep_field(s: &str) -> String {
    clean(s, '.').replace('/', "|")
}

/// Replaces control characters, which would split or garble a line.
fn clean(s: &str, with: char) -> String {
    s.chars()
        .map(|c| if c.is_control() { with } else { c })
        .collect()
}

//! Writing a [`ScanRun`] as nmap XML, element for element as nmap lays it
//! out (see the [module docs](super)), and the conventions nmap's text
//! outputs share with it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use portreeve_core::Proto;
use quick_xml::escape::{escape, partial_escape};

use super::{MAX_LISTED_PER_STATE, SCRIPT_ID, XML_OUTPUT_VERSION, compress_ports};
use crate::cpe::cpe23_to_uri;
use crate::model::{HostResult, PortResult, PortState, Reason, ScanKind, ScanRun, ServiceInfo};

/// Writes `run` as nmap XML, with times in the system time zone (as nmap's
/// `startstr` and `timestr`).
pub fn write(run: &ScanRun) -> String {
    write_in(run, &TimeZone::system())
}

/// Writes `run` as nmap XML, with human-readable times in `tz`.
pub fn write_in(run: &ScanRun, tz: &TimeZone) -> String {
    let mut w = XmlOut::default();
    let name = display_scanner(&run.scanner);
    let startstr = ctime(run.started, tz);
    let timestr = ctime(run.finished, tz);
    let elapsed = elapsed_secs(run);

    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n");
    w.comment(&format!(" {} ", banner(run, tz)));
    w.raw("\n");
    w.open(
        "nmaprun",
        &[
            ("scanner", scanner_attr(&run.scanner)),
            ("args", &run.args),
            ("start", &run.started.as_second().to_string()),
            ("startstr", &startstr),
            ("version", &run.version),
            ("xmloutputversion", XML_OUTPUT_VERSION),
        ],
    );
    w.raw("\n");
    for (kind, ports) in &run.scans {
        let mut ports = ports.clone();
        ports.sort_unstable();
        ports.dedup();
        w.empty(
            "scaninfo",
            &[
                ("type", kind.as_str()),
                ("protocol", kind.protocol().as_str()),
                ("numservices", &ports.len().to_string()),
                ("services", &compress_ports(&ports)),
            ],
        );
        w.raw("\n");
    }
    w.raw("<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    for host in &run.hosts {
        write_host(&mut w, run, host);
    }
    let n = run.hosts.len();
    let summary = format!("{name} done at {timestr}; {}", done_summary(run));
    w.raw("<runstats>");
    w.empty(
        "finished",
        &[
            ("time", &run.finished.as_second().to_string()),
            ("timestr", &timestr),
            ("summary", &summary),
            ("elapsed", &elapsed),
            ("exit", "success"),
        ],
    );
    w.empty(
        "hosts",
        &[
            ("up", &n.to_string()),
            ("down", "0"),
            ("total", &n.to_string()),
        ],
    );
    w.raw("\n</runstats>\n</nmaprun>\n");
    w.out
}

fn write_host(w: &mut XmlOut, run: &ScanRun, host: &HostResult) {
    let start = run.started.as_second().to_string();
    let end = run.finished.as_second().to_string();
    w.open("host", &[("starttime", &start), ("endtime", &end)]);
    w.empty(
        "status",
        &[("state", "up"), ("reason", "user-set"), ("reason_ttl", "0")],
    );
    w.raw("\n");
    let addrtype = if host.address.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    };
    w.empty(
        "address",
        &[("addr", &host.address.to_string()), ("addrtype", addrtype)],
    );
    w.raw("\n<hostnames>\n");
    if let Some(name) = &host.hostname {
        w.empty("hostname", &[("name", name), ("type", "user")]);
        w.raw("\n");
    }
    w.raw("</hostnames>\n");

    let ignored = ignored_states(&host.ports);
    w.raw("<ports>");
    for &(state, count) in &ignored {
        w.open(
            "extraports",
            &[("state", state.as_str()), ("count", &count.to_string())],
        );
        w.raw("\n");
        for (proto, reason, ports) in extra_reasons(run, &host.ports, state) {
            w.empty(
                "extrareasons",
                &[
                    ("reason", reason),
                    ("count", &ports.len().to_string()),
                    ("proto", proto.as_str()),
                    ("ports", &compress_ports(&ports)),
                ],
            );
            w.raw("\n");
        }
        w.close("extraports");
        w.raw("\n");
    }
    for p in listed_ports(&host.ports, &ignored) {
        write_port(w, run, p);
    }
    w.raw("</ports>\n");
    if let Some((srtt, rttvar, to)) = host_times(&host.ports) {
        w.empty(
            "times",
            &[
                ("srtt", &srtt.to_string()),
                ("rttvar", &rttvar.to_string()),
                ("to", &to.to_string()),
            ],
        );
        w.raw("\n");
    }
    w.raw("</host>\n");
}

fn write_port(w: &mut XmlOut, run: &ScanRun, p: &PortResult) {
    w.open(
        "port",
        &[
            ("protocol", p.protocol.as_str()),
            ("portid", &p.port.to_string()),
        ],
    );
    w.empty(
        "state",
        &[
            ("state", p.state.as_str()),
            ("reason", reason_name(run, p.protocol, p.reason)),
            ("reason_ttl", "0"),
        ],
    );
    if let Some(s) = &p.service {
        let name = if s.name.is_empty() {
            "unknown"
        } else {
            &s.name
        };
        let table = s.method.is_empty() || s.is_guess();
        let mut attrs: Vec<(&str, &str)> = vec![("name", name)];
        for (key, value) in [
            ("product", &s.product),
            ("version", &s.version),
            ("extrainfo", &s.extra),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                attrs.push((key, v));
            }
        }
        if s.tls.is_some() {
            attrs.push(("tunnel", "ssl"));
        }
        attrs.push(("method", if table { "table" } else { "probed" }));
        let conf = s.conf.to_string();
        attrs.push(("conf", &conf));
        let cpe = s
            .cpe
            .as_deref()
            .map(|c| cpe23_to_uri(c).unwrap_or_else(|| c.to_string()));
        match cpe {
            Some(cpe) => {
                w.open("service", &attrs);
                w.text_element("cpe", &[], &cpe);
                w.close("service");
            }
            None => w.empty("service", &attrs),
        }
        write_script(w, s);
    }
    w.close("port");
    w.raw("\n");
}

/// portreeve's findings that nmap's `<service>` cannot hold, as one port
/// script with portreeve's own id. One, because ndiff up to at least 7.95
/// fails on a port with two scripts (nmap/nmap#2930).
fn write_script(w: &mut XmlOut, s: &ServiceInfo) {
    let mut fields: Vec<(&str, &str)> = Vec::new();
    if let Some(open) = s.unauthenticated {
        fields.push(("unauthenticated", if open { "true" } else { "false" }));
    }
    if let Some(tls) = &s.tls {
        fields.extend(
            [
                ("tls.version", Some(tls.version.as_str())),
                ("tls.alpn", tls.alpn.as_deref()),
                ("tls.subject", tls.subject.as_deref()),
                ("tls.issuer", tls.issuer.as_deref()),
                ("tls.not_after", tls.not_after.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v))),
        );
    }
    if fields.is_empty() {
        return;
    }
    let output = fields
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ");
    w.open("script", &[("id", SCRIPT_ID), ("output", &output)]);
    let mut in_table = false;
    for (key, value) in fields {
        match key.strip_prefix("tls.") {
            Some(k) => {
                if !in_table {
                    w.open("table", &[("key", "tls")]);
                    in_table = true;
                }
                w.text_element("elem", &[("key", k)], value);
            }
            None => w.text_element("elem", &[("key", key)], value),
        }
    }
    if in_table {
        w.close("table");
    }
    w.close("script");
}

/// nmap's reason name; a TCP reset is `reset` in a SYN scan and
/// `conn-refused` in a connect scan.
fn reason_name(run: &ScanRun, proto: Proto, reason: Reason) -> &'static str {
    if reason == Reason::ConnRefused && proto == Proto::Tcp {
        let syn = run.scans.iter().any(|(k, _)| *k == ScanKind::Syn);
        let connect = run.scans.iter().any(|(k, _)| *k == ScanKind::Connect);
        if syn && !connect {
            return "reset";
        }
    }
    reason.as_str()
}

/// nmap's state numbers, which order ties between summarised states.
fn nmap_state_number(state: PortState) -> u8 {
    match state {
        PortState::Closed => 1,
        PortState::Open => 2,
        PortState::Filtered => 3,
        PortState::OpenFiltered => 7,
    }
}

/// The states nmap would summarise for these ports, largest group first
/// (ties in nmap's state order), with their counts across protocols.
pub(crate) fn ignored_states(ports: &[PortResult]) -> Vec<(PortState, usize)> {
    let mut out: Vec<(PortState, usize)> = [
        PortState::Closed,
        PortState::Filtered,
        PortState::OpenFiltered,
    ]
    .into_iter()
    .map(|s| (s, ports.iter().filter(|p| p.state == s).count()))
    .filter(|&(_, n)| n > MAX_LISTED_PER_STATE)
    .collect();
    out.sort_by_key(|&(s, n)| (std::cmp::Reverse(n), nmap_state_number(s)));
    out
}

/// The ports nmap lists one by one: those in no `ignored` state (see
/// [`ignored_states`]), by protocol and port.
pub(crate) fn listed_ports<'a>(
    ports: &'a [PortResult],
    ignored: &[(PortState, usize)],
) -> Vec<&'a PortResult> {
    let mut listed: Vec<&PortResult> = ports
        .iter()
        .filter(|p| !ignored.iter().any(|&(s, _)| s == p.state))
        .collect();
    listed.sort_by_key(|p| (p.protocol, p.port));
    listed
}

/// `<extrareasons>` of one summarised state: one per protocol and reason,
/// largest first.
fn extra_reasons(
    run: &ScanRun,
    ports: &[PortResult],
    state: PortState,
) -> Vec<(Proto, &'static str, Vec<u16>)> {
    let mut groups: Vec<(Proto, &'static str, Vec<u16>)> = Vec::new();
    for p in ports.iter().filter(|p| p.state == state) {
        let reason = reason_name(run, p.protocol, p.reason);
        match groups
            .iter_mut()
            .find(|(pr, r, _)| *pr == p.protocol && *r == reason)
        {
            Some(g) => g.2.push(p.port),
            None => groups.push((p.protocol, reason, vec![p.port])),
        }
    }
    for g in &mut groups {
        g.2.sort_unstable();
        g.2.dedup();
    }
    groups.sort_by(|a, b| {
        b.2.len()
            .cmp(&a.2.len())
            .then(a.0.cmp(&b.0))
            .then(a.1.cmp(b.1))
    });
    groups
}

/// nmap's `<times>`: smoothed RTT, its variance and the timeout, in
/// microseconds, from the ports' RTTs.
fn host_times(ports: &[PortResult]) -> Option<(u64, u64, u64)> {
    let rtts: Vec<u64> = ports.iter().filter_map(|p| p.rtt_us).collect();
    if rtts.is_empty() {
        return None;
    }
    let n = rtts.len() as u128;
    let mean = (rtts.iter().map(|&r| u128::from(r)).sum::<u128>() / n) as u64;
    let var = (rtts
        .iter()
        .map(|&r| u128::from(r.abs_diff(mean)))
        .sum::<u128>()
        / n) as u64;
    let to = mean.saturating_add(var.saturating_mul(4)).max(100_000);
    Some((mean, var, to))
}

/// nmap's opening line: `Nmap 7.93 scan initiated <time> as: <args>`.
pub(crate) fn banner(run: &ScanRun, tz: &TimeZone) -> String {
    let name = display_scanner(&run.scanner);
    let version = if run.version.is_empty() {
        String::new()
    } else {
        format!(" {}", run.version)
    };
    format!(
        "{name}{version} scan initiated {} as: {}",
        ctime(run.started, tz),
        run.args
    )
}

/// nmap's closing summary: `1 IP address (1 host up) scanned in 0.03 seconds`.
pub(crate) fn done_summary(run: &ScanRun) -> String {
    let n = run.hosts.len();
    format!(
        "{n} IP {} ({n} {} up) scanned in {} seconds",
        if n == 1 { "address" } else { "addresses" },
        if n == 1 { "host" } else { "hosts" },
        elapsed_secs(run)
    )
}

/// nmap's spelling of the scanner in human-readable lines.
pub(crate) fn display_scanner(scanner: &str) -> &str {
    match scanner {
        "" => "portreeve",
        "nmap" => "Nmap",
        s => s,
    }
}

fn scanner_attr(scanner: &str) -> &str {
    if scanner.is_empty() {
        "portreeve"
    } else {
        scanner
    }
}

/// A time as C's `ctime` writes it (`Sun Nov  1 06:17:57 2026`), as nmap
/// does in `startstr`, `timestr` and greppable output.
pub(crate) fn ctime(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// The run's duration in seconds with two decimals, as nmap's `elapsed`.
fn elapsed_secs(run: &ScanRun) -> String {
    let d = run.finished.duration_since(run.started);
    format!("{:.2}", d.as_secs_f64().max(0.0))
}

/// A minimal XML writer: nmap's layout needs exact control over newlines,
/// and every value goes through [`escape_attr`] or [`escape_text`].
#[derive(Default)]
struct XmlOut {
    out: String,
}

impl XmlOut {
    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, v);
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn text_element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(name, attrs);
        escape_text(&mut self.out, text);
        self.close(name);
    }

    /// A comment; `--` cannot appear in one, so nmap's `-&#45;` stands in.
    fn comment(&mut self, text: &str) {
        self.out.push_str("<!--");
        let mut clean = String::new();
        push_xml_chars(&mut clean, text, &[]);
        let mut prev = ' ';
        for c in clean.chars() {
            if c == '-' && prev == '-' {
                self.out.push_str("&#45;");
                prev = ' ';
            } else {
                self.out.push(c);
                prev = c;
            }
        }
        if prev == '-' {
            self.out.push(' ');
        }
        self.out.push_str("-->");
    }
}

/// Escapes an attribute value as nmap does: quick-xml's [`escape`] takes
/// the five markup characters (nmap's `escape()` in `xml.cc` takes the same
/// five, `&apos;` included); tab, newline and carriage return then become
/// character references so that attribute-value normalisation keeps them.
fn escape_attr(out: &mut String, s: &str) {
    push_xml_chars(out, &escape(s), &['\t', '\n', '\r']);
}

/// Escapes character data: quotes may stand as they are there, so
/// quick-xml's [`partial_escape`]; a carriage return becomes a reference so
/// that end-of-line normalisation keeps it.
fn escape_text(out: &mut String, s: &str) {
    push_xml_chars(out, &partial_escape(s), &['\r']);
}

/// Pushes already-escaped `s`, writing the characters in `as_refs` as
/// character references and replacing those XML 1.0 cannot carry even as a
/// reference (C0 controls other than tab, newline and carriage return;
/// U+FFFE, U+FFFF), which quick-xml passes through: a C0 control becomes
/// `\xNN`, as nmap writes unprintable bytes of service replies, and U+FFFE
/// and U+FFFF the replacement character.
fn push_xml_chars(out: &mut String, s: &str, as_refs: &[char]) {
    for c in s.chars() {
        match c {
            c if as_refs.contains(&c) => out.push_str(&format!("&#{};", c as u32)),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' => out.push_str(&format!("\\x{:02X}", c as u32)),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_xml_cannot_hold() {
        let mut s = String::new();
        escape_attr(&mut s, "a<b>&\"c\"'d'\n\t\r\u{1}\u{ffff}");
        assert_eq!(
            s,
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#10;&#9;&#13;\\x01\u{fffd}"
        );
        let mut s = String::new();
        escape_text(&mut s, "a<b>&\"c\"'d'\n\t\r\u{1b}\u{fffe}");
        assert_eq!(s, "a&lt;b&gt;&amp;\"c\"'d'\n\t&#13;\\x1B\u{fffd}");
        let mut w = XmlOut::default();
        w.comment(" a -- b --- c -");
        assert_eq!(w.out, "<!-- a -&#45; b -&#45;- c - -->");
    }

    /// Every C0 control, the markup characters and the two non-characters,
    /// wherever a scanned service's words land in the document.
    const HOSTILE: &str = "x\u{0}\u{1}\u{8}\u{b}\u{c}\u{1b}\u{1f}\t\n\r<a href=\"'&amp;'\">]]>--\u{fffe}\u{ffff}\u{7f}é";

    /// [`HOSTILE`] as it reads back: C0 controls that XML cannot carry as
    /// `\xNN`, the non-characters as U+FFFD, everything else as it was.
    const HOSTILE_READ: &str = "x\\x00\\x01\\x08\\x0B\\x0C\\x1B\\x1F\t\n\r<a href=\"'&amp;'\">]]>--\u{fffd}\u{fffd}\u{7f}é";

    fn hostile_run() -> ScanRun {
        use crate::model::TlsInfo;
        let address = "192.0.2.7".parse().expect("address");
        let service = ServiceInfo {
            name: "http".into(),
            product: Some(HOSTILE.into()),
            version: Some(HOSTILE.into()),
            extra: Some(HOSTILE.into()),
            tls: Some(TlsInfo {
                version: "TLSv1.3".into(),
                subject: Some(HOSTILE.into()),
                ..TlsInfo::default()
            }),
            method: "probed".into(),
            conf: ServiceInfo::CONF_IDENTIFIED,
            ..ServiceInfo::default()
        };
        let port = PortResult {
            address,
            hostname: Some(HOSTILE.into()),
            protocol: Proto::Tcp,
            port: 80,
            state: PortState::Open,
            reason: Reason::SynAck,
            rtt_us: Some(100),
            service: Some(service),
        };
        ScanRun {
            scanner: "portreeve".into(),
            version: "0.1.0".into(),
            args: format!("portreeve scan {HOSTILE}"),
            started: Timestamp::from_second(1_700_000_000).expect("time"),
            finished: Timestamp::from_second(1_700_000_001).expect("time"),
            scans: vec![(ScanKind::Connect, vec![80])],
            hosts: vec![HostResult {
                address,
                hostname: Some(HOSTILE.into()),
                ports: vec![port],
            }],
        }
    }

    #[test]
    fn hostile_values_read_back_as_written() {
        let xml = write_in(&hostile_run(), &TimeZone::UTC);
        let back = super::super::read(&xml).expect("our own document reads back");
        let host = &back.hosts[0];
        assert_eq!(host.hostname.as_deref(), Some(HOSTILE_READ));
        let service = host.ports[0].service.as_ref().expect("service");
        for value in [&service.product, &service.version, &service.extra] {
            assert_eq!(value.as_deref(), Some(HOSTILE_READ));
        }
        let tls = service.tls.as_ref().expect("tls");
        assert_eq!(tls.subject.as_deref(), Some(HOSTILE_READ));
        assert_eq!(back.args, format!("portreeve scan {HOSTILE_READ}"));
    }

    #[test]
    fn hostile_values_make_well_formed_xml() {
        let test = "hostile_values_make_well_formed_xml";
        if !portreeve_testkit::require_programs(test, &["xmllint"]) {
            return;
        }
        let xml = write_in(&hostile_run(), &TimeZone::UTC);
        let mut child = std::process::Command::new("xmllint")
            .args(["--noout", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start xmllint");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), xml.as_bytes())
            .expect("feed xmllint");
        let out = child.wait_with_output().expect("xmllint");
        assert!(
            out.status.success(),
            "xmllint rejects:\n{xml}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

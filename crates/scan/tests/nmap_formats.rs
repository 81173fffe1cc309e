//! nmap's interchange formats: XML both ways and greppable output, checked
//! against themselves, against documents real nmap writes, and against
//! nmap's own consumers (`xmllint` with `nmap.dtd`, `ndiff`).
//!
//! The nmap tests scan only a namespace pair they create (10.72.0.0/24
//! exists nowhere else).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use portreeve_core::Proto;
use portreeve_scan::nmap_xml::{self, ImportError, Omission};
use portreeve_scan::{
    HostResult, PortResult, PortState, Reason, ScanKind, ScanRun, ServiceInfo, TlsInfo, grepable,
};
use portreeve_testkit::{Netns, privileged, run, skip_unless, stderr, stdout};

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn port(
    address: IpAddr,
    hostname: Option<&str>,
    protocol: Proto,
    port: u16,
    state: PortState,
    reason: Reason,
) -> PortResult {
    PortResult {
        address,
        hostname: hostname.map(str::to_string),
        protocol,
        port,
        state,
        reason,
        rtt_us: None,
        service: None,
    }
}

/// A service identified from the port number alone, as nmap's table does.
fn table_service(name: &str) -> ServiceInfo {
    ServiceInfo {
        name: name.to_string(),
        method: ServiceInfo::GUESS.to_string(),
        conf: ServiceInfo::CONF_GUESS,
        ..ServiceInfo::default()
    }
}

/// Ports `range` of one protocol in one state, except those in `except`.
fn fill(
    host: &mut HostResult,
    protocol: Proto,
    ports: impl IntoIterator<Item = u16>,
    state: PortState,
    reason: Reason,
) {
    for p in ports {
        if !host
            .ports
            .iter()
            .any(|x| x.protocol == protocol && x.port == p)
        {
            let r = port(
                host.address,
                host.hostname.as_deref(),
                protocol,
                p,
                state,
                reason,
            );
            host.ports.push(r);
        }
    }
}

fn set(
    host: &mut HostResult,
    protocol: Proto,
    p: u16,
    state: PortState,
    reason: Reason,
    service: Option<ServiceInfo>,
    rtt_us: Option<u64>,
) {
    let mut r = port(
        host.address,
        host.hostname.as_deref(),
        protocol,
        p,
        state,
        reason,
    );
    r.service = service;
    r.rtt_us = rtt_us;
    host.ports.push(r);
}

fn sort(host: &mut HostResult) {
    host.ports.sort_by_key(|p| (p.protocol, p.port));
}

fn tcp_scanned() -> Vec<u16> {
    (1..=100).chain([443, 8443]).collect()
}

fn udp_scanned() -> Vec<u16> {
    (1..=60).collect()
}

/// Two hosts, TCP and UDP, every state, listed and summarised groups.
fn sample_run() -> ScanRun {
    let a: IpAddr = "192.0.2.10".parse().unwrap();
    let mut ha = HostResult {
        address: a,
        hostname: Some("web1.example".to_string()),
        ports: Vec::new(),
    };
    let ssh = ServiceInfo {
        name: "ssh".to_string(),
        product: Some("OpenSSH".to_string()),
        version: Some("9.2p1 Debian 2+deb12u3".to_string()),
        extra: Some("protocol 2.0".to_string()),
        cpe: Some("cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*".to_string()),
        unauthenticated: None,
        tls: None,
        method: "probe".to_string(),
        conf: ServiceInfo::CONF_IDENTIFIED,
    };
    let https = ServiceInfo {
        name: "http".to_string(),
        product: Some("nginx".to_string()),
        version: Some("1.22.1".to_string()),
        extra: Some("title: <Welcome> & \"hello\"\nsecond line".to_string()),
        cpe: Some("cpe:2.3:a:f5:nginx:1.22.1:*:*:*:*:*:*:*".to_string()),
        unauthenticated: Some(true),
        tls: Some(TlsInfo {
            version: "TLSv1.3".to_string(),
            alpn: Some("h2".to_string()),
            subject: Some("CN=web1.example".to_string()),
            issuer: Some("CN=Example CA, O=Example".to_string()),
            not_after: Some("2027-01-01T00:00:00Z".to_string()),
        }),
        method: "probe".to_string(),
        conf: ServiceInfo::CONF_IDENTIFIED,
    };
    set(
        &mut ha,
        Proto::Tcp,
        22,
        PortState::Open,
        Reason::SynAck,
        Some(ssh),
        Some(310),
    );
    set(
        &mut ha,
        Proto::Tcp,
        443,
        PortState::Open,
        Reason::SynAck,
        Some(https),
        Some(290),
    );
    set(
        &mut ha,
        Proto::Tcp,
        8443,
        PortState::Filtered,
        Reason::AdminProhibited,
        None,
        None,
    );
    set(
        &mut ha,
        Proto::Udp,
        53,
        PortState::Open,
        Reason::UdpResponse,
        Some(table_service("domain")),
        Some(500),
    );
    fill(
        &mut ha,
        Proto::Tcp,
        1..=10,
        PortState::Filtered,
        Reason::NoResponse,
    );
    fill(
        &mut ha,
        Proto::Tcp,
        tcp_scanned(),
        PortState::Closed,
        Reason::ConnRefused,
    );
    fill(
        &mut ha,
        Proto::Udp,
        50..=52,
        PortState::OpenFiltered,
        Reason::NoResponse,
    );
    fill(
        &mut ha,
        Proto::Udp,
        udp_scanned(),
        PortState::Closed,
        Reason::PortUnreach,
    );
    sort(&mut ha);

    let b: IpAddr = "2001:db8::5".parse().unwrap();
    let mut hb = HostResult {
        address: b,
        hostname: None,
        ports: Vec::new(),
    };
    set(
        &mut hb,
        Proto::Tcp,
        31,
        PortState::Open,
        Reason::SynAck,
        None,
        None,
    );
    fill(
        &mut hb,
        Proto::Tcp,
        1..=30,
        PortState::Filtered,
        Reason::NoResponse,
    );
    fill(
        &mut hb,
        Proto::Tcp,
        tcp_scanned(),
        PortState::Closed,
        Reason::ConnRefused,
    );
    fill(
        &mut hb,
        Proto::Udp,
        udp_scanned(),
        PortState::OpenFiltered,
        Reason::NoResponse,
    );
    sort(&mut hb);

    ScanRun {
        scanner: "portreeve".to_string(),
        version: "0.1.0".to_string(),
        args: "portreeve scan -p T:1-100,443,8443,U:1-60 192.0.2.10 2001:db8::5".to_string(),
        started: ts("2026-11-29T06:17:57Z"),
        finished: ts("2026-11-29T06:18:03Z"),
        scans: vec![
            (ScanKind::Connect, tcp_scanned()),
            (ScanKind::Udp, udp_scanned()),
        ],
        hosts: vec![ha, hb],
    }
}

/// What survives the format: everything but per-port RTTs.
fn without_rtts(mut run: ScanRun) -> ScanRun {
    for h in &mut run.hosts {
        for p in &mut h.ports {
            p.rtt_us = None;
        }
    }
    run
}

#[test]
fn round_trip_keeps_ports_states_and_services() {
    let run = sample_run();
    let xml = nmap_xml::write_in(&run, &TimeZone::UTC);
    let back = nmap_xml::import(&xml, nmap_xml::DEFAULT_MAX_PORTS).expect("read our own XML");
    assert_eq!(back.omitted, vec![], "nothing left out");
    assert_eq!(back.run, without_rtts(run));

    // The summarised groups are written as nmap writes them; the services
    // as nmap's <service>, CPE in 2.2 form.
    assert!(xml.contains(
        "<extraports state=\"closed\" count=\"145\">\n\
         <extrareasons reason=\"conn-refused\" count=\"89\" proto=\"tcp\" ports=\"11-21,23-100\"/>\n\
         <extrareasons reason=\"port-unreach\" count=\"56\" proto=\"udp\" ports=\"1-49,54-60\"/>\n\
         </extraports>"
    ), "{xml}");
    assert!(xml.contains(
        "<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"0\"/>\
         <service name=\"ssh\" product=\"OpenSSH\" version=\"9.2p1 Debian 2+deb12u3\" extrainfo=\"protocol 2.0\" method=\"probed\" conf=\"10\">\
         <cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service></port>"
    ), "{xml}");
    assert!(xml.contains("tunnel=\"ssl\""));
    assert!(xml.contains(
        "<script id=\"portreeve\" output=\"unauthenticated: true; tls.version: TLSv1.3; tls.alpn: h2; \
         tls.subject: CN=web1.example; tls.issuer: CN=Example CA, O=Example; tls.not_after: 2027-01-01T00:00:00Z\">\
         <elem key=\"unauthenticated\">true</elem><table key=\"tls\"><elem key=\"version\">TLSv1.3</elem>\
         <elem key=\"alpn\">h2</elem><elem key=\"subject\">CN=web1.example</elem>\
         <elem key=\"issuer\">CN=Example CA, O=Example</elem><elem key=\"not_after\">2027-01-01T00:00:00Z</elem>\
         </table></script></port>"
    ), "{xml}");
    assert!(
        xml.contains(
            "extrainfo=\"title: &lt;Welcome&gt; &amp; &quot;hello&quot;&#10;second line\""
        )
    );
    assert!(xml.contains("startstr=\"Sun Nov 29 06:17:57 2026\""));
    assert!(xml.contains(
        "summary=\"portreeve done at Sun Nov 29 06:18:03 2026; 2 IP addresses (2 hosts up) scanned in 6.00 seconds\""
    ));
    // Host B: three summarised states, the open port listed.
    assert!(xml.contains("<extraports state=\"closed\" count=\"71\">"));
    assert!(xml.contains("<extraports state=\"open|filtered\" count=\"60\">"));
    assert!(xml.contains("<extraports state=\"filtered\" count=\"30\">"));
}

/// nmap before 7.90 wrote `<extrareasons>` without `proto` and `ports`.
fn strip_extrareason_ports(xml: &str) -> String {
    xml.lines()
        .map(
            |l| match (l.starts_with("<extrareasons"), l.find(" proto=")) {
                (true, Some(i)) => format!("{}/>", &l[..i]),
                _ => l.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn summarised_ports_without_port_lists_are_rebuilt_only_when_unambiguous() {
    let run = sample_run();
    let legacy = strip_extrareason_ports(&nmap_xml::write_in(&run, &TimeZone::UTC));
    assert!(!legacy.contains(" ports="));
    let back = nmap_xml::import(&legacy, nmap_xml::DEFAULT_MAX_PORTS).expect("read");

    // Host A has one summarised group (closed, both protocols): its ports
    // are the scanned ones nobody listed, each with its protocol's reason.
    let expected = without_rtts(run.clone());
    assert_eq!(back.run.hosts[0], expected.hosts[0]);

    // Host B has three groups and nothing says which ports are in which:
    // only the listed port is imported, and the rest is reported.
    let b = &back.run.hosts[1];
    assert_eq!(b.ports.len(), 1);
    assert_eq!((b.ports[0].port, b.ports[0].state), (31, PortState::Open));
    let addr: IpAddr = "2001:db8::5".parse().unwrap();
    let mut omitted = back.omitted.clone();
    omitted.sort_by_key(|o| o.to_string());
    assert_eq!(
        omitted,
        vec![
            Omission::Summarised {
                address: addr,
                state: "filtered".into(),
                count: 30
            },
            Omission::Summarised {
                address: addr,
                state: "open|filtered".into(),
                count: 60
            },
            Omission::Summarised {
                address: addr,
                state: "closed".into(),
                count: 71
            },
        ]
    );
    assert_eq!(
        omitted[2].to_string(),
        "2001:db8::5: 71 closed ports summarised by nmap without their port numbers"
    );
}

/// Older nmap's -sS -sV output, abridged, with what the model leaves out.
const OLD_NMAP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.80 scan initiated Mon Mar  2 10:00:00 2020 as: nmap -sS -sV -p1-100,443 -oX - scanme.example -->
<nmaprun scanner="nmap" args="nmap -sS -sV -p1-100,443 -oX - scanme.example" start="1583143200" startstr="Mon Mar  2 10:00:00 2020" version="7.80" xmloutputversion="1.04">
<scaninfo type="syn" protocol="tcp" numservices="101" services="1-100,443"/>
<scaninfo type="ack" protocol="tcp" numservices="1" services="80"/>
<verbose level="0"/>
<debugging level="0"/>
<hosthint><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.51.100.7" addrtype="ipv4"/>
</hosthint>
<host starttime="1583143200" endtime="1583143212"><status state="up" reason="echo-reply" reason_ttl="63"/>
<address addr="198.51.100.7" addrtype="ipv4"/>
<address addr="52:54:00:12:34:56" addrtype="mac" vendor="QEMU virtual NIC"/>
<hostnames>
<hostname name="ptr.example" type="PTR"/>
<hostname name="scanme.example" type="user"/>
</hostnames>
<ports><extraports state="closed" count="97">
<extrareasons reason="resets" count="97"/>
</extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="63"/><service name="ssh" product="OpenSSH" version="6.6.1p1 Ubuntu 2ubuntu2.13" extrainfo="Ubuntu Linux; protocol 2.0" ostype="Linux" method="probed" conf="10"><cpe>cpe:/o:linux:linux_kernel</cpe><cpe>cpe:/a:openbsd:openssh:6.6.1p1</cpe></service></port>
<port protocol="tcp" portid="80"><state state="unfiltered" reason="reset" reason_ttl="63"/></port>
<port protocol="tcp" portid="81"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="hosts2-ns" method="table" conf="3"/></port>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="63"/><service name="http" product="nginx" tunnel="ssl" method="probed" conf="10"><cpe>cpe:/a:igor_sysoev:nginx</cpe></service><script id="ssl-cert" output="Subject: commonName=scanme.example&#xa;Issuer: commonName=R3/organizationName=Let&apos;s Encrypt&#xa;Not valid after:  2020-05-01T00:00:00"><table key="subject"><elem key="commonName">scanme.example</elem></table></script></port>
<port protocol="sctp" portid="9"><state state="open" reason="init-ack" reason_ttl="63"/></port>
</ports>
<times srtt="1200" rttvar="300" to="100000"/>
</host>
<host><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="198.51.100.8" addrtype="ipv4"/>
</host>
<runstats><finished time="1583143212" timestr="Mon Mar  2 10:00:12 2020" elapsed="12.00" summary="Nmap done at Mon Mar  2 10:00:12 2020; 2 IP addresses (1 host up) scanned in 12.00 seconds" exit="success"/><hosts up="1" down="1" total="2"/>
</runstats>
</nmaprun>
"#;

#[test]
fn reads_older_nmap_output_and_says_what_it_left_out() {
    let imported = nmap_xml::import(OLD_NMAP, nmap_xml::DEFAULT_MAX_PORTS).expect("read");
    let run = &imported.run;
    assert_eq!(
        (run.scanner.as_str(), run.version.as_str()),
        ("nmap", "7.80")
    );
    assert_eq!(run.started, ts("2020-03-02T10:00:00Z"));
    assert_eq!(run.finished, ts("2020-03-02T10:00:12Z"));
    assert_eq!(
        run.scans.len(),
        1,
        "the ACK scan is not a kind the model has"
    );
    assert_eq!(run.scans[0].0, ScanKind::Syn);
    assert_eq!(run.scans[0].1.len(), 101);
    assert_eq!(run.hosts.len(), 1, "the down host is left out");
    let h = &run.hosts[0];
    assert_eq!(h.address.to_string(), "198.51.100.7");
    assert_eq!(
        h.hostname.as_deref(),
        Some("scanme.example"),
        "user-given name first"
    );

    // 101 scanned: 22, 443 open, 81 filtered, 80 unfiltered (left out),
    // and the 97 others rebuilt from the single closed group.
    assert_eq!(h.ports.len(), 100);
    let closed: Vec<&PortResult> = h
        .ports
        .iter()
        .filter(|p| p.state == PortState::Closed)
        .collect();
    assert_eq!(closed.len(), 97);
    assert!(
        closed
            .iter()
            .all(|p| p.reason == Reason::ConnRefused && p.protocol == Proto::Tcp)
    );
    assert!(!h.ports.iter().any(|p| p.port == 80));

    let ssh = h.ports.iter().find(|p| p.port == 22).unwrap();
    let s = ssh.service.as_ref().unwrap();
    assert_eq!(s.name, "ssh");
    assert_eq!(s.product.as_deref(), Some("OpenSSH"));
    assert_eq!(s.version.as_deref(), Some("6.6.1p1 Ubuntu 2ubuntu2.13"));
    assert_eq!(s.extra.as_deref(), Some("Ubuntu Linux; protocol 2.0"));
    assert_eq!(
        s.cpe.as_deref(),
        Some("cpe:2.3:a:openbsd:openssh:6.6.1p1:*:*:*:*:*:*:*"),
        "the application's CPE, not the OS's"
    );
    assert_eq!(s.method, "probe");
    assert!(s.tls.is_none());

    let https = h.ports.iter().find(|p| p.port == 443).unwrap();
    let s = https.service.as_ref().unwrap();
    let tls = s.tls.as_ref().expect("tunnel=ssl");
    assert_eq!(tls.subject.as_deref(), Some("commonName=scanme.example"));
    assert_eq!(
        tls.issuer.as_deref(),
        Some("commonName=R3/organizationName=Let's Encrypt")
    );
    assert_eq!(tls.not_after.as_deref(), Some("2020-05-01T00:00:00"));
    assert_eq!(
        s.cpe.as_deref(),
        Some("cpe:2.3:a:igor_sysoev:nginx:*:*:*:*:*:*:*:*")
    );

    let filtered = h.ports.iter().find(|p| p.port == 81).unwrap();
    assert_eq!(filtered.state, PortState::Filtered);
    assert_eq!(filtered.service.as_ref().unwrap().method, "port");

    let left: Vec<String> = imported.omitted.iter().map(ToString::to_string).collect();
    assert_eq!(
        left,
        vec![
            "scan type ack is not supported",
            "198.51.100.7 80/tcp: state unfiltered is not supported",
            "198.51.100.7 9/sctp: protocol sctp is not supported",
            "host 198.51.100.8 is down",
        ]
    );
}

#[test]
fn bad_documents_are_errors_with_a_location_never_panics() {
    match nmap_xml::read("<nmaprun scanner=\"nmap\">\n<host>\n</hots>") {
        Err(ImportError::Syntax { line, column, .. }) => assert_eq!((line, column), (3, 1)),
        other => panic!("{other:?}"),
    }
    match nmap_xml::read("<nmaprun>\n  <host><address addr=\"1.2.3.4\" addrtype=\"ipv4\"/>\n") {
        Err(e @ ImportError::Truncated { .. }) => {
            assert!(e.to_string().contains("inside <host>"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        nmap_xml::read("<?xml version=\"1.0\"?>\n<html/>"),
        Err(ImportError::NotNmap { .. })
    ));
    assert!(matches!(
        nmap_xml::read(""),
        Err(ImportError::NotNmap { .. })
    ));
    match nmap_xml::read(
        "<nmaprun>\n<host><address addr=\"1.2.3.4\"/><ports>\n  <port protocol=\"tcp\" portid=\"http\"/></ports></host></nmaprun>",
    ) {
        Err(e @ ImportError::Invalid { .. }) => assert_eq!(
            e.to_string(),
            "line 3, column 3: <port> has an invalid portid=\"http\""
        ),
        other => panic!("{other:?}"),
    }
    match nmap_xml::read(
        "<nmaprun><host><address addr=\"1.2.3.4\" foo=\"&bogus;\"/></host></nmaprun>",
    ) {
        Err(e @ ImportError::Syntax { .. }) => assert!(e.to_string().contains("line 1"), "{e}"),
        other => panic!("{other:?}"),
    }

    // A few bytes must not expand into millions of ports.
    let mut big = String::from("<nmaprun>");
    for i in 0..100 {
        big.push_str(&format!(
            "<host><address addr=\"10.0.{}.{}\"/><ports><extraports state=\"closed\" count=\"65536\">\
             <extrareasons reason=\"reset\" count=\"65536\" proto=\"tcp\" ports=\"0-65535\"/></extraports></ports></host>",
            i / 256,
            i % 256
        ));
    }
    big.push_str("</nmaprun>");
    assert_eq!(
        nmap_xml::import(&big, 1_000_000).unwrap_err(),
        ImportError::TooLarge { limit: 1_000_000 }
    );
}

#[test]
fn greppable_matches_nmaps_layout() {
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let mut ha = HostResult {
        address: a,
        hostname: Some("web1".to_string()),
        ports: Vec::new(),
    };
    let ssh = ServiceInfo {
        name: "ssh".to_string(),
        product: Some("OpenSSH".to_string()),
        version: Some("9.2p1".to_string()),
        extra: Some("protocol 2.0".to_string()),
        method: "banner".to_string(),
        ..ServiceInfo::default()
    };
    let https = ServiceInfo {
        name: "http".to_string(),
        product: Some("nginx".to_string()),
        extra: Some("path /a/b".to_string()),
        tls: Some(TlsInfo {
            version: "TLSv1.3".to_string(),
            ..TlsInfo::default()
        }),
        method: "probe:http".to_string(),
        ..ServiceInfo::default()
    };
    set(
        &mut ha,
        Proto::Tcp,
        22,
        PortState::Open,
        Reason::SynAck,
        Some(ssh),
        None,
    );
    set(
        &mut ha,
        Proto::Tcp,
        443,
        PortState::Open,
        Reason::SynAck,
        Some(https),
        None,
    );
    set(
        &mut ha,
        Proto::Udp,
        53,
        PortState::OpenFiltered,
        Reason::NoResponse,
        Some(table_service("domain")),
        None,
    );
    fill(
        &mut ha,
        Proto::Tcp,
        1..=1000,
        PortState::Closed,
        Reason::ConnRefused,
    );
    sort(&mut ha);

    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let mut hb = HostResult {
        address: b,
        hostname: None,
        ports: Vec::new(),
    };
    fill(
        &mut hb,
        Proto::Tcp,
        1..=500,
        PortState::Filtered,
        Reason::NoResponse,
    );
    fill(
        &mut hb,
        Proto::Tcp,
        501..=1000,
        PortState::Closed,
        Reason::ConnRefused,
    );

    let hc = HostResult {
        address: "10.0.0.3".parse().unwrap(),
        hostname: None,
        ports: Vec::new(),
    };
    let run = ScanRun {
        scanner: "portreeve".to_string(),
        version: "0.1.0".to_string(),
        args: "portreeve scan -p T:1-1000,U:53 10.0.0.1-3".to_string(),
        started: ts("2026-03-01T09:05:07Z"),
        finished: ts("2026-03-01T09:05:08.25Z"),
        scans: vec![
            (ScanKind::Connect, (1..=1000).collect()),
            (ScanKind::Udp, vec![53]),
        ],
        hosts: vec![ha, hb, hc],
    };
    let expected = "\
# portreeve 0.1.0 scan initiated Sun Mar  1 09:05:07 2026 as: portreeve scan -p T:1-1000,U:53 10.0.0.1-3
Host: 10.0.0.1 (web1)\tStatus: Up
Host: 10.0.0.1 (web1)\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 (protocol 2.0)/, 443/open/tcp//ssl|http//nginx (path |a|b)/, 53/open|filtered/udp//domain///\tIgnored State: closed (998)
Host: 10.0.0.2 ()\tStatus: Up
Host: 10.0.0.2 ()\tPorts: 
Host: 10.0.0.3 ()\tStatus: Up
# portreeve done at Sun Mar  1 09:05:08 2026 -- 3 IP addresses (3 hosts up) scanned in 1.25 seconds
";
    assert_eq!(grepable::write_in(&run, &TimeZone::UTC), expected);
}

// ---------------------------------------------------------------------------
// Against real nmap
// ---------------------------------------------------------------------------

const TARGET: &str = "10.72.0.2";

struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "portreeve-nmap-formats-{}-{test}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nmap_ports() -> Vec<u16> {
    (1..=1000).chain([8080]).collect()
}

/// Runs nmap from one namespace of a fresh pair against the other, where
/// 22 and 8080 listen, writing `-oX xml` and `-oG gnmap`.
fn scan_with_nmap(xml: &Path, gnmap: &Path) {
    let a = Netns::bare();
    let b = Netns::bare();
    a.link(&b, "10.72.0.1/24", "10.72.0.2/24");
    let _listeners = b.listen(&["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:8080"], 0);
    let out = run(a.exec("nmap").args([
        "-sT",
        "-n",
        "-Pn",
        "-p",
        "1-1000,8080",
        "-oX",
        xml.to_str().unwrap(),
        "-oG",
        gnmap.to_str().unwrap(),
        TARGET,
    ]));
    assert!(out.status.success(), "nmap failed: {}", stderr(&out));
}

/// What portreeve reports for the same target: 22 and 8080 open with nmap's
/// table names, the rest closed.
fn same_as_nmap() -> ScanRun {
    let addr: IpAddr = TARGET.parse().unwrap();
    let mut host = HostResult {
        address: addr,
        hostname: None,
        ports: Vec::new(),
    };
    set(
        &mut host,
        Proto::Tcp,
        22,
        PortState::Open,
        Reason::SynAck,
        Some(table_service("ssh")),
        Some(60),
    );
    set(
        &mut host,
        Proto::Tcp,
        8080,
        PortState::Open,
        Reason::SynAck,
        Some(table_service("http-proxy")),
        Some(55),
    );
    fill(
        &mut host,
        Proto::Tcp,
        nmap_ports(),
        PortState::Closed,
        Reason::ConnRefused,
    );
    sort(&mut host);
    let now = Timestamp::now();
    ScanRun {
        scanner: "portreeve".to_string(),
        version: "0.1.0".to_string(),
        args: format!("portreeve scan -p 1-1000,8080 {TARGET}"),
        started: Timestamp::from_second(now.as_second()).unwrap(),
        finished: Timestamp::from_second(now.as_second() + 1).unwrap(),
        scans: vec![(ScanKind::Connect, nmap_ports())],
        hosts: vec![host],
    }
}

#[test]
fn real_nmap_xml_imports_port_for_port() {
    if !privileged(
        "real_nmap_xml_imports_port_for_port",
        &["ip", "nmap", "python3"],
    ) {
        return;
    }
    let scratch = Scratch::new("import");
    let (xml, gnmap) = (scratch.path("nmap.xml"), scratch.path("nmap.gnmap"));
    scan_with_nmap(&xml, &gnmap);
    let text = std::fs::read_to_string(&xml).expect("nmap's XML");
    let imported = nmap_xml::import(&text, nmap_xml::DEFAULT_MAX_PORTS)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(imported.omitted, vec![], "{text}");
    let run = imported.run;
    assert_eq!(run.scanner, "nmap");
    assert_eq!(run.scans, vec![(ScanKind::Connect, nmap_ports())]);
    assert_eq!(run.hosts.len(), 1);
    let host = &run.hosts[0];
    assert_eq!(host.address.to_string(), TARGET);
    // Every scanned port, the 999 closed ones rebuilt from <extraports>.
    let got: Vec<u16> = host.ports.iter().map(|p| p.port).collect();
    assert_eq!(got, nmap_ports(), "{text}");
    for p in &host.ports {
        let (state, reason) = match p.port {
            22 | 8080 => (PortState::Open, Reason::SynAck),
            _ => (PortState::Closed, Reason::ConnRefused),
        };
        assert_eq!(
            (p.protocol, p.state, p.reason),
            (Proto::Tcp, state, reason),
            "{}",
            p.port
        );
    }
    let names: Vec<(u16, &str, &str)> = host
        .ports
        .iter()
        .filter_map(|p| {
            p.service
                .as_ref()
                .map(|s| (p.port, s.name.as_str(), s.method.as_str()))
        })
        .collect();
    assert_eq!(
        names,
        vec![(22, "ssh", "port"), (8080, "http-proxy", "port")]
    );
    // And what we read, written back, reads the same.
    let again = nmap_xml::read(&nmap_xml::write(&run)).expect("reread");
    assert_eq!(again.hosts, run.hosts);
}

#[test]
fn our_output_passes_nmaps_consumers() {
    if !privileged(
        "our_output_passes_nmaps_consumers",
        &["ip", "nmap", "python3", "xmllint", "ndiff"],
    ) {
        return;
    }
    let scratch = Scratch::new("consumers");
    let (theirs, gnmap) = (scratch.path("nmap.xml"), scratch.path("nmap.gnmap"));
    scan_with_nmap(&theirs, &gnmap);
    let run = same_as_nmap();
    let ours = scratch.path("portreeve.xml");
    std::fs::write(&ours, nmap_xml::write(&run)).expect("write ours");

    // Well-formed.
    for f in [&theirs, &ours] {
        let out = run_cmd(Command::new("xmllint").arg("--noout").arg(f));
        assert!(out.status.success(), "xmllint {f:?}: {}", stderr(&out));
    }
    // A richer document of ours: IPv6, UDP, every state, several summarised
    // groups, TLS, portreeve's script, characters to escape.
    let sample = scratch.path("sample.xml");
    std::fs::write(&sample, nmap_xml::write(&sample_run())).expect("write sample");

    // Valid against nmap's DTD, except that the DTD allows only
    // scanner="nmap". (nmap's own document validates, proving the check.)
    let dtd = Path::new("/usr/share/nmap/nmap.dtd");
    if skip_unless(
        "our_output_passes_nmaps_consumers (DTD validation)",
        dtd.exists(),
        format_args!("{} (nmap-common) is absent", dtd.display()),
    ) {
        let out = run_cmd(
            Command::new("xmllint")
                .args(["--noout", "--dtdvalid"])
                .arg(dtd)
                .arg(&theirs),
        );
        assert!(out.status.success(), "nmap's own XML: {}", stderr(&out));
        for f in [&ours, &sample] {
            let out = run_cmd(
                Command::new("xmllint")
                    .args(["--noout", "--dtdvalid"])
                    .arg(dtd)
                    .arg(f),
            );
            let errors: Vec<String> = stderr(&out)
                .lines()
                .filter(|l| l.contains("validity error"))
                .map(str::to_string)
                .collect();
            assert!(
                errors.len() == 1 && errors[0].contains("\"portreeve\" for attribute scanner"),
                "{f:?}: DTD errors beyond scanner=: {errors:#?}"
            );
        }
    }
    // ndiff reads the richer document too.
    let out = run_cmd(Command::new("ndiff").arg(&sample).arg(&sample));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // ndiff parses both (exit 2 would be a parse error) and finds no
    // difference in hosts, ports, states or services.
    let out = run_cmd(Command::new("ndiff").arg(&theirs).arg(&ours));
    assert_eq!(
        out.status.code(),
        Some(0),
        "ndiff found differences or failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    // …and it does see a difference when there is one.
    let mut changed = run.clone();
    let p = changed.hosts[0]
        .ports
        .iter_mut()
        .find(|p| p.port == 8080)
        .unwrap();
    p.state = PortState::Closed;
    p.reason = Reason::ConnRefused;
    p.service = None;
    let ours_changed = scratch.path("portreeve-changed.xml");
    std::fs::write(&ours_changed, nmap_xml::write(&changed)).expect("write");
    let out = run_cmd(Command::new("ndiff").arg(&theirs).arg(&ours_changed));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("-8080/tcp open"), "{}", stdout(&out));

    // Greppable: the host lines equal nmap's, byte for byte.
    let theirs_g = std::fs::read_to_string(&gnmap).expect("nmap's -oG");
    let ours_g = grepable::write(&run);
    let hosts = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("Host: "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(hosts(&ours_g), hosts(&theirs_g));
    assert!(ours_g.starts_with("# portreeve 0.1.0 scan initiated "));
    assert!(ours_g.ends_with("-- 1 IP address (1 host up) scanned in 1.00 seconds\n"));
}

fn run_cmd(cmd: &mut Command) -> std::process::Output {
    run(cmd)
}

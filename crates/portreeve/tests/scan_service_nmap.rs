//! `scan --service` against `nmap -sV` on the same namespace targets.
//!
//! - A name that comes only from the port number is shown as a guess
//!   (`kafka?`, as nmap prints it), carried as `method: port`, `conf: 3`
//!   in JSON and as nmap's `method="table" conf="3"` in XML; a port that
//!   closes every connection before saying anything is nmap's
//!   `tcpwrapped`. So `ndiff` between portreeve's XML and nmap's reports
//!   only the ports whose usual names the two tables spell differently.
//! - Identification is at least as tolerant as nmap's: a corpus of server
//!   greetings and replies (tests/greetings/greetings.txt), each served as
//!   written, with other line ends, padded, with trailing garbage and cut
//!   after its version, one port each. Wherever nmap names the service (and
//!   product, and version), portreeve names the same.
//!
//! Every probe goes to an address of the namespaces the test creates.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use portreeve_scan::ServiceInfo;
use portreeve_scan::nmap_xml;
use serde_json::Value;
use support::{Daemon, Home, Lab, RunPortreeve, run, stderr, stdout, testkit};

fn privileged(test: &str, programs: &[&str]) -> bool {
    let mut all = vec!["ip", "python3", "nmap"];
    all.extend_from_slice(programs);
    testkit::privileged(test, &all)
}

/// `nmap -sV -n -Pn --max-retries 1 ARGS -oX - TARGET` from the lab's
/// client namespace, as nmap wrote it.
fn nmap_sv(lab: &Lab, args: &[&str], target: &str) -> String {
    let mut cmd = lab.client.exec("nmap");
    cmd.args(["-sV", "-n", "-Pn", "--max-retries", "1"])
        .args(args)
        .args(["-oX", "-", target]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "nmap {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Every TCP port's service in an nmap XML document (nmap's or ours).
fn services(xml: &str) -> BTreeMap<u16, Option<ServiceInfo>> {
    let doc = nmap_xml::import(xml, nmap_xml::DEFAULT_MAX_PORTS)
        .unwrap_or_else(|e| panic!("{e}\n{xml}"))
        .run;
    doc.hosts
        .into_iter()
        .flat_map(|h| h.ports)
        .map(|p| (p.port, p.service))
        .collect()
}

/// `portreeve scan TARGET -p PORTS --service ARGS` from the client
/// namespace; its standard output.
fn scan(lab: &Lab, target: &str, ports: &str, args: &[&str]) -> String {
    let mut all = vec![
        "scan",
        target,
        "-p",
        ports,
        "--service",
        "--max-retries",
        "1",
    ];
    all.extend_from_slice(args);
    let out = lab.client.portreeve(&all);
    assert!(out.status.success(), "portreeve {all:?}: {}", stderr(&out));
    stdout(&out)
}

/// The ports whose lines `ndiff A B` marks as changed (`-PORT/tcp …` or
/// `+PORT/tcp …`).
fn ndiff_changed_ports(a: &Path, b: &Path) -> (Vec<u16>, String) {
    let out = run(std::process::Command::new("ndiff").arg(a).arg(b));
    // 0: no difference, 1: differences; 2 is an error.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "ndiff: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    let mut ports: Vec<u16> = text
        .lines()
        .filter_map(|l| l.strip_prefix('-').or_else(|| l.strip_prefix('+')))
        .filter_map(|l| l.trim_start().split_once("/tcp"))
        .filter_map(|(p, _)| p.parse().ok())
        .collect();
    ports.dedup();
    (ports, text)
}

/// Accepts every connection on port `argv[1]` and closes it at once,
/// without a word, as a TCP wrapper that refuses the client does.
const HANG_UP_SERVER: &str = "import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(64)
print('ready', flush=True)
while True:
    s.accept()[0].close()
";

/// [`HANG_UP_SERVER`] on `port` in the lab's server namespace, listening.
fn hang_up_on(lab: &Lab, port: u16) -> Daemon {
    let mut cmd = lab.srv.exec("python3");
    cmd.args(["-c", HANG_UP_SERVER, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut server = Daemon(cmd.spawn().expect("start python3"));
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready");
    server
}

#[test]
fn port_number_guesses_are_marked_as_guesses_and_ndiff_matches_nmap() {
    if !privileged(
        "port_number_guesses_are_marked_as_guesses_and_ndiff_matches_nmap",
        &["ndiff"],
    ) {
        return;
    }
    // Listeners that accept and hold every connection and never say a
    // word, on ports with a well-known service.
    let lab = Lab::new(
        161,
        &["tcp4:0.0.0.0:80", "tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9092"],
    );
    // And one that hangs up at once, on Redis's port.
    let _wrapped = hang_up_on(&lab, 6379);
    let (target, ports) = ("10.161.0.1", "80,6379,8080,9092");
    let quick = ["--service-timeout", "300ms"];

    let table = scan(&lab, target, ports, &quick);
    let shown: BTreeMap<&str, &str> = table
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            Some((*cols.get(1)?, *cols.get(4)?))
        })
        .collect();
    for (port, name) in [
        ("80/tcp", "http?"),
        ("8080/tcp", "http?"),
        ("9092/tcp", "kafka?"),
        ("6379/tcp", "tcpwrapped"),
    ] {
        assert_eq!(shown.get(port), Some(&name), "{port}:\n{table}");
    }

    let json: Value = serde_json::from_str(&scan(
        &lab,
        target,
        ports,
        &[&quick[..], &["--format", "json"]].concat(),
    ))
    .expect("JSON");
    let json_service = |port: u16| {
        let p = json["hosts"][0]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["port"] == port)
            .unwrap_or_else(|| panic!("{port}: {json}"));
        let s = &p["service"];
        (s["name"].clone(), s["method"].clone(), s["conf"].clone())
    };
    assert_eq!(
        json_service(9092),
        ("kafka".into(), "port".into(), 3.into()),
        "{json}"
    );
    assert_eq!(
        json_service(6379),
        ("tcpwrapped".into(), "hangup".into(), 8.into()),
        "{json}"
    );

    let ours = scan(
        &lab,
        target,
        ports,
        &[&quick[..], &["--format", "xml"]].concat(),
    );
    for service in [
        r#"<service name="kafka" method="table" conf="3"/>"#,
        r#"<service name="tcpwrapped" method="probed" conf="8"/>"#,
    ] {
        assert!(ours.contains(service), "{service}:\n{ours}");
    }

    // nmap's own verdict on the same silent ports: its port-table names,
    // marked the same way. Intensity 0: only the probes a silent port
    // meets anyway.
    let theirs = nmap_sv(
        &lab,
        &["-T4", "--version-intensity", "0", "-p", ports],
        target,
    );
    let home = Home::new();
    let (ours_file, theirs_file) = (home.file("ours.xml", &ours), home.file("nmap.xml", &theirs));
    let (changed, report) = ndiff_changed_ports(&ours_file, &theirs_file);
    // ndiff compares name, product, version and extra info; method and
    // conf agree as well. What may differ is only how the two port tables
    // spell a port's usual service (nmap 7.93: 8080 `http-proxy`, 9092
    // `XmlIpcRegSvc`).
    let (ours_svc, theirs_svc) = (services(&ours), services(&theirs));
    let mut spelt_differently = Vec::new();
    for port in [80u16, 8080, 9092] {
        let (o, t) = (&ours_svc[&port], &theirs_svc[&port]);
        let (o, t) = (o.as_ref().expect("ours"), t.as_ref().expect("nmap's"));
        assert_eq!(
            (o.method.as_str(), o.conf, t.method.as_str(), t.conf),
            ("port", 3, "port", 3),
            "{port}: {o:?} / {t:?}"
        );
        if o.name != t.name {
            spelt_differently.push(port);
        }
    }
    let (o, t) = (&ours_svc[&6379], &theirs_svc[&6379]);
    let (o, t) = (o.as_ref().expect("ours"), t.as_ref().expect("nmap's"));
    assert_eq!(
        (o.name.as_str(), o.conf, t.name.as_str(), t.conf),
        ("tcpwrapped", 8, "tcpwrapped", 8),
        "{o:?} / {t:?}"
    );
    assert!(!spelt_differently.contains(&80), "{theirs}");
    assert_eq!(changed, spelt_differently, "ndiff:\n{report}");
}

/// The corpus server: serves every greeting of the corpus in every variant,
/// from `first_port` up; returns it and each port's `NAME/VARIANT`.
fn serve_corpus(lab: &Lab, first_port: u16) -> (Daemon, BTreeMap<u16, String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/greetings");
    let mut cmd = lab.srv.exec("python3");
    cmd.arg(dir.join("serve_greetings.py"))
        .arg(dir.join("greetings.txt"))
        .arg(first_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut server = Daemon(cmd.spawn().expect("start serve_greetings.py"));
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("read the port list");
    let labels: BTreeMap<String, String> =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let labels = labels
        .into_iter()
        .map(|(p, l)| (p.parse().expect("port"), l))
        .collect();
    (server, labels)
}

/// nmap and portreeve spell a few products differently; these are the same
/// product (nmap's name, portreeve's):
///
/// - a greeting that says `Microsoft ESMTP MAIL Service` comes from
///   Exchange or from IIS's SMTP service; nmap says Exchange, portreeve
///   repeats what the greeting says;
/// - nmap dates Exchange's POP3 and IMAP greetings to 2007-2010 from its
///   own knowledge; portreeve names Exchange without the years;
/// - Python's `http.server` says `Server: SimpleHTTP/0.6`; nmap names the
///   module of Python 2, portreeve the word the server sends.
const SAME_PRODUCT: &[(&str, &str)] = &[
    ("Microsoft Exchange smtpd", "Microsoft ESMTP"),
    (
        "Microsoft Exchange 2007-2010 pop3d",
        "Microsoft Exchange pop3d",
    ),
    (
        "Microsoft Exchange 2007-2010 imapd",
        "Microsoft Exchange imapd",
    ),
    ("SimpleHTTPServer", "SimpleHTTP"),
];

/// Whether portreeve's product and version say what nmap's do. Beyond
/// [`SAME_PRODUCT`]: nmap calls MariaDB `MySQL` with the raw version
/// string (`5.5.5-10.11.6-MariaDB-0+deb12u1`), portreeve `MariaDB`
/// `10.11.6`; and nmap's version field often goes on after the version
/// (`9.2p1 Debian 2+deb12u3`, `8.17.1.9/8.17.1.9`, `5.7.44-log`, `0.9.60
/// beta`), where portreeve's stops, so portreeve's may be nmap's up to a
/// space, `-` or `/`.
fn same_product(nmap: &ServiceInfo, ours: &ServiceInfo) -> bool {
    let version_matches = |theirs: &str, ours: Option<&str>| {
        ours.is_some_and(|v| {
            theirs == v
                || theirs
                    .strip_prefix(v)
                    .is_some_and(|rest| rest.starts_with([' ', '-', '/']))
        })
    };
    let Some(product) = nmap.product.as_deref() else {
        return true;
    };
    let ours_product = ours.product.as_deref();
    if product == "MySQL"
        && nmap
            .version
            .as_deref()
            .is_some_and(|v| v.contains("MariaDB"))
    {
        return ours_product == Some("MariaDB")
            && ours
                .version
                .as_deref()
                .is_some_and(|v| nmap.version.as_deref().unwrap_or_default().contains(v));
    }
    let named = ours_product == Some(product)
        || SAME_PRODUCT.contains(&(product, ours_product.unwrap_or_default()));
    named
        && nmap
            .version
            .as_deref()
            .is_none_or(|v| version_matches(v, ours.version.as_deref()))
}

#[test]
fn identification_is_at_least_as_tolerant_as_nmaps() {
    if !privileged("identification_is_at_least_as_tolerant_as_nmaps", &[]) {
        return;
    }
    let lab = Lab::new(162, &[]);
    let target = "10.162.0.1";
    let (_server, labels) = serve_corpus(&lab, 41000);
    let n = labels.len();
    assert!(n >= 100, "{n} greetings");
    let (first, last) = (labels.keys().next().unwrap(), labels.keys().last().unwrap());
    let ports = format!("{first}-{last}");

    // -T5 and intensity 1 keep nmap's run near a minute and a half: every
    // port that answers nothing nmap knows waits out each probe's timeout.
    let theirs = services(&nmap_sv(
        &lab,
        &["-T5", "--version-intensity", "1", "-p", &ports],
        target,
    ));
    let ours: Value = serde_json::from_str(&scan(
        &lab,
        target,
        &ports,
        &["--service-timeout", "1s", "--format", "json"],
    ))
    .expect("JSON");
    let ours: BTreeMap<u16, ServiceInfo> = ours["hosts"][0]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter(|p| !p["service"].is_null())
        .map(|p| {
            let port = u16::try_from(p["port"].as_u64().expect("port")).expect("u16");
            (
                port,
                serde_json::from_value(p["service"].clone()).expect("service"),
            )
        })
        .collect();

    let mut named = 0;
    let mut misses = Vec::new();
    for (port, label) in &labels {
        // Only what nmap's probes matched: a name from its port table is
        // no identification, and `tcpwrapped` says nothing was learnt.
        let Some(nmap) = theirs
            .get(port)
            .and_then(Option::as_ref)
            .filter(|s| s.method == "probe" && s.name != "tcpwrapped")
        else {
            continue;
        };
        named += 1;
        let mine = ours.get(port);
        let ok = mine.is_some_and(|m| m.name == nmap.name && same_product(nmap, m));
        if !ok {
            misses.push(format!(
                "{port} {label}: nmap {} {:?} {:?}, portreeve {:?}",
                nmap.name,
                nmap.product,
                nmap.version,
                mine.map(|m| (&m.name, &m.product, &m.version, &m.method))
            ));
        }
    }
    let matched = named - misses.len();
    println!("{n} greetings and replies; nmap named {named}; portreeve matched {matched}");
    // nmap names about 170 of the 300 here; far fewer means its run went
    // wrong, and the comparison would cover too little.
    assert!(named >= n / 3, "nmap named only {named} of {n}");
    assert!(
        misses.is_empty(),
        "portreeve fell short of nmap on {} of {named}:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

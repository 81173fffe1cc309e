//! Issue 16's "Show", end to end with the agent: a host namespace that
//! enforces `default_action = "reject"` with `[detection] scan = "block"`
//! and runs the agent with every response configured — a webhook to an
//! HTTP receiver and syslog to an rsyslogd the test starts in that
//! namespace, tracing from a MaxMind database the test writes and an RDAP
//! server it starts there, and captures. Real scanners from Debian's
//! packages (nmap's SYN, connect, UDP, NULL and Xmas scans at -T2, -T4
//! and -T5, in random and sequential port order, and masscan) each scan
//! the host from a namespace of their own, in parallel, while benign
//! clients work beside them: a web client connecting again and again and
//! holding one connection throughout, an admin in the management zone who
//! also tries three closed ports, and a client that mistypes a port once.
//!
//! With `reject`, every probe that gets through is answered (a reset, or
//! ICMP port unreachable for UDP), so the answers tcpdump sees arriving in
//! a scanner's namespace are the probes it got through before the block.
//! Then every scanner is a detection with a block, none of the benign
//! clients is, the detection's capture opens in tshark and holds the
//! scanner's probes, its enrichment names the database's AS and country
//! and the RDAP network, and the webhook and rsyslog received the
//! detections and blocks. Every packet stays inside the namespaces the
//! test creates: the scanners target only the host namespace's veth
//! addresses, and the receivers listen on that namespace's loopback.
//!
//! The scanners are in 192.0.2.0/24 (TEST-NET-1), the network the
//! testkit's MaxMind databases and RDAP server describe.

mod support;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portreeve_testkit::http::{Reply, Server};
use portreeve_testkit::rsyslog::{self, Rsyslog};
use portreeve_testkit::trace::{RdapServer, asn_db, city_db};
use support::wire::{Wire, connect, device_of, mac_of};
use support::{
    Daemon, Home, Netns, assert_matches_schema, assert_ok, run, sample, start_agent, stdout,
    testkit, wait_for,
};

const TEST: &str = "scanners_are_blocked_within_their_targets_and_every_response_follows";

/// The benign clients, each on a link of its own: (host's address,
/// client's address).
const WEB_CLIENT: (&str, &str) = ("10.41.1.1", "10.41.1.2");
const MISTYPER: (&str, &str) = ("10.41.2.1", "10.41.2.2");
const ADMIN: (&str, &str) = ("10.41.4.1", "10.41.4.2");

/// The web port every zone may reach; 22 only the management zone.
const WEB: u16 = 8080;

const POLICY: &str = r#"
[zones]
internet = ["192.0.2.0/24", "10.41.0.0/16"]
management = ["10.41.4.0/24"]

[enforce]
default_action = "reject"
management_zone = "management"

[detection]
scan = "block"
block_ttl = "10m"

# Banned ports are dropped, not answered: without the built-in bans every
# probe that gets through is answered, and the wire counts it.
[banned]
include_defaults = false

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["management"]

[[rule]]
name = "web"
port = 8080
protocol = "tcp"
zones = ["internet", "management"]
"#;

/// The host's TCP answers: resets and SYN-ACKs.
const TCP_ANSWERS: &str = "tcp[tcpflags] & (tcp-rst|tcp-syn) != 0";

/// A fast scan is answered at most this often before the block (issue
/// 16's target)…
const FAST_LIMIT: usize = 4;
/// …and a -T2 scan is blocked before its 20th probe.
const SLOW_LIMIT: usize = 19;

/// The scanning program and its arguments (the target is added).
enum Tool {
    /// nmap with these arguments after `-Pn -n -oX -`.
    Nmap(&'static [&'static str]),
    /// masscan over ports 1-200 at 1000 packets a second.
    Masscan,
}

/// One scanner: what it runs, what the host's answers to it look like to
/// tcpdump, and how many of them it may get.
struct Scan {
    name: &'static str,
    tool: Tool,
    answers: &'static str,
    limit: usize,
}

/// Ports 1-1000 at -T4, at least 2000 probes a second, no retries (as
/// scan_block.rs: without --min-rate nmap slows down on a host that stops
/// answering; the kernel sees the same fast scan either way).
macro_rules! fast {
    ($($arg:literal),*) => {
        &[$($arg,)* "-p", "1-1000", "-T4", "--min-rate", "2000", "--max-retries", "0"]
    };
}

/// The scans, in the order their namespaces are made; the first is the
/// slow one, started before the others so that its detection is among
/// the first and its capture (at most eight run at once) is certain.
const SCANS: [Scan; 9] = [
    Scan {
        name: "nmap -sS -T2",
        tool: Tool::Nmap(&["-sS", "-p", "1-25", "-T2", "--max-retries", "0"]),
        answers: TCP_ANSWERS,
        limit: SLOW_LIMIT,
    },
    Scan {
        name: "nmap -sS -T4",
        tool: Tool::Nmap(fast!("-sS")),
        answers: TCP_ANSWERS,
        limit: FAST_LIMIT,
    },
    Scan {
        name: "nmap -sS -T4 -r",
        tool: Tool::Nmap(fast!("-sS", "-r")),
        answers: TCP_ANSWERS,
        limit: FAST_LIMIT,
    },
    Scan {
        name: "nmap -sS -T5",
        tool: Tool::Nmap(&["-sS", "-p", "1-1000", "-T5", "--max-retries", "0"]),
        answers: TCP_ANSWERS,
        limit: FAST_LIMIT,
    },
    Scan {
        name: "nmap -sT -T4",
        tool: Tool::Nmap(fast!("-sT")),
        answers: TCP_ANSWERS,
        limit: FAST_LIMIT,
    },
    Scan {
        name: "nmap -sU -T4",
        tool: Tool::Nmap(&[
            "-sU",
            "-p",
            "1-30",
            "-T4",
            "--min-rate",
            "2000",
            "--max-retries",
            "0",
        ]),
        answers: "icmp[icmptype] == icmp-unreach",
        limit: FAST_LIMIT,
    },
    // NULL and Xmas probes belong to no connection: conntrack finds them
    // invalid and nothing answers them; the block shows they counted.
    Scan {
        name: "nmap -sN -T4",
        tool: Tool::Nmap(fast!("-sN")),
        answers: "tcp",
        limit: FAST_LIMIT,
    },
    Scan {
        name: "nmap -sX -T4",
        tool: Tool::Nmap(fast!("-sX")),
        answers: "tcp",
        limit: FAST_LIMIT,
    },
    Scan {
        name: "masscan",
        tool: Tool::Masscan,
        answers: TCP_ANSWERS,
        limit: FAST_LIMIT,
    },
];

/// Scanner `i`'s link: the host's address and the scanner's, a /30 each
/// in 192.0.2.0/24.
fn scan_link(i: usize) -> (String, String) {
    (
        format!("192.0.2.{}", 4 * i + 1),
        format!("192.0.2.{}", 4 * i + 2),
    )
}

/// The host, the scanners and the benign clients, each on its own veth
/// link to the host, with the host's listeners on 22 and 8080.
struct Site {
    host: Netns,
    scanners: Vec<Netns>,
    web_client: Netns,
    mistyper: Netns,
    admin: Netns,
    home: Home,
    _listeners: testkit::Listeners,
}

impl Site {
    fn new() -> Site {
        let host = Netns::bare();
        let peer = |prefix: u8, (here, there): (&str, &str)| {
            let ns = Netns::bare();
            host.link(
                &ns,
                &format!("{here}/{prefix}"),
                &format!("{there}/{prefix}"),
            );
            ns
        };
        let scanners = (0..SCANS.len())
            .map(|i| {
                let (here, there) = scan_link(i);
                peer(30, (&here, &there))
            })
            .collect();
        let (web_client, mistyper, admin) =
            (peer(24, WEB_CLIENT), peer(24, MISTYPER), peer(24, ADMIN));
        let listeners = host.listen(&["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:8080"], 0);
        Site {
            host,
            scanners,
            web_client,
            mistyper,
            admin,
            home: Home::new(),
            _listeners: listeners,
        }
    }

    /// `portreeve ARGS --format json` in the host namespace.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.home.run_in(&self.host, args);
        assert_ok(&out);
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    fn detections(&self) -> Vec<serde_json::Value> {
        let doc = self.json(&["detections", "--format", "json"]);
        assert_matches_schema(&doc, "docs/schema/detection-log.v1.json");
        doc["detections"].as_array().unwrap().clone()
    }
}

/// The receivers of the agent's alerts and tracing, all on the host
/// namespace's loopback.
struct Receivers {
    webhook: Server,
    rdap: RdapServer,
    rsyslog: Rsyslog,
}

impl Receivers {
    fn start(site: &Site) -> Receivers {
        let (webhook, rdap) = site.host.run(|| {
            (
                Server::start(|_, _| Reply::ok("application/json", "{}")),
                RdapServer::start(),
            )
        });
        let program = rsyslog::program().expect("rsyslogd is installed");
        let dir = site.home.path().join("rsyslog");
        std::fs::create_dir(&dir).unwrap();
        let rsyslog = Rsyslog::start(&program, &dir, Some(&site.host));
        Receivers {
            webhook,
            rdap,
            rsyslog,
        }
    }

    /// agent.toml: every sink, tracing without reverse DNS, and captures
    /// of five seconds.
    fn agent_config(&self, site: &Site) -> std::path::PathBuf {
        let dir = site.home.path();
        let (asn, city) = (asn_db(dir), city_db(dir));
        site.home.file(
            "agent.toml",
            format!(
                r#"[[alerts.webhook]]
url = "{webhook}/alerts"

[[alerts.syslog]]
address = "tcp://127.0.0.1:{syslog}"
facility = "local3"

[trace]
mmdb = ["{asn}", "{city}"]
reverse_dns = false
rdap_base_url = "{rdap}"

[capture]
duration = "5s"
"#,
                webhook = self.webhook.base_url,
                syslog = self.rsyslog.tcp_port,
                asn = asn.display(),
                city = city.display(),
                rdap = self.rdap.base_url,
            ),
        )
    }

    /// The alerts the webhook received, by type, each as its `alert`
    /// object.
    fn webhook_alerts(&self, kind: &str) -> Vec<serde_json::Value> {
        self.webhook
            .requests()
            .iter()
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
            .map(|body| body["alert"].clone())
            .filter(|alert| alert["type"] == kind)
            .collect()
    }
}

/// What a benign client saw go wrong; empty when nothing did.
type Troubles = Mutex<Vec<String>>;

/// The web client until `stop`: a new connection to the web port every
/// 100 ms, each completed, and one connection held throughout, written to
/// every time, never closed or reset by the host.
fn web_client(site: &Site, stop: &AtomicBool, troubles: &Troubles) {
    let (host, _) = WEB_CLIENT;
    let to = SocketAddr::new(host.parse().unwrap(), WEB);
    site.web_client.run(|| {
        let mut held = TcpStream::connect_timeout(&to, Duration::from_millis(500))
            .expect("the held connection opens");
        held.set_nonblocking(true).unwrap();
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) {
            match TcpStream::connect_timeout(&to, Duration::from_millis(500)) {
                Ok(_) => made += 1,
                Err(e) => troubles
                    .lock()
                    .unwrap()
                    .push(format!("web connection: {e}")),
            }
            if let Err(e) = held.write_all(b"still here\n") {
                troubles
                    .lock()
                    .unwrap()
                    .push(format!("held connection: {e}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The host never closes it: nothing to read, no end of stream.
        match held.read(&mut [0; 16]) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => troubles
                .lock()
                .unwrap()
                .push(format!("held connection read: {other:?}")),
        }
        assert!(made > 10, "the web client made {made} connections");
    });
}

/// The admin until `stop`: SSH every 200 ms, answered every time, and
/// three closed ports early on, each refused (answered, not blocked).
fn admin(site: &Site, stop: &AtomicBool, troubles: &Troubles) {
    let (host, _) = ADMIN;
    let mut closed = [9001, 9002, 9003].into_iter();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        if connect(&site.admin, host, 22) != Ok(true) {
            troubles.lock().unwrap().push("admin: ssh".into());
        }
        if round % 3 == 1
            && let Some(port) = closed.next()
            && connect(&site.admin, host, port) != Err(())
        {
            troubles
                .lock()
                .unwrap()
                .push(format!("admin: closed port {port} was not refused"));
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The client that mistypes the web port once, then reaches it.
fn mistyper(site: &Site, troubles: &Troubles) {
    let (host, _) = MISTYPER;
    if connect(&site.mistyper, host, WEB + 1) != Err(()) {
        troubles
            .lock()
            .unwrap()
            .push("mistyper: 8081 not refused".into());
    }
    std::thread::sleep(Duration::from_millis(300));
    if connect(&site.mistyper, host, WEB) != Ok(true) {
        troubles
            .lock()
            .unwrap()
            .push("mistyper: 8080 not reached".into());
    }
}

/// Runs scan `i` from its namespace and returns the answers it received,
/// counted by tcpdump in the scanner's namespace.
fn scan(site: &Site, i: usize) -> Vec<String> {
    let (host, scanner) = scan_link(i);
    let ns = &site.scanners[i];
    let wire = Wire::watch(
        ns,
        "in",
        &format!("src host {host} and ({})", SCANS[i].answers),
    );
    let out = match SCANS[i].tool {
        Tool::Nmap(args) => run(ns
            .exec("nmap")
            .args(["-Pn", "-n", "-oX", "-"])
            .args(args)
            .arg(&host)),
        Tool::Masscan => {
            let mac = mac_of(&site.host, &device_of(&site.host, &host));
            run(ns.exec("masscan").args([
                "-e",
                &device_of(ns, &scanner),
                "--router-mac",
                &mac,
                "--rate",
                "1000",
                "-p",
                "1-200",
                "--wait",
                "1",
                &host,
            ]))
        }
    };
    assert_ok(&out);
    wire.count()
}

/// Polls `portreeve detections` until `done` holds for the list (within
/// `limit`), returning it.
fn detections_until(
    site: &Site,
    agent: &mut Daemon,
    limit: Duration,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let rows = site.detections();
        if done(&rows) {
            return rows;
        }
        assert!(
            started.elapsed() < limit,
            "{what} not within {limit:?}: {rows:#?}\n{}",
            agent.stop()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The detection of `source`, if any.
fn detection_of<'a>(rows: &'a [serde_json::Value], source: &str) -> Option<&'a serde_json::Value> {
    rows.iter().find(|d| d["source"] == source)
}

/// The packets from `source` in the pcap at `file`, as tshark reads it.
fn probes_in_capture(file: &str, source: &str) -> usize {
    let out = run(std::process::Command::new("tshark").args([
        "-r",
        file,
        "-Y",
        &format!("ip.src == {source}"),
        "-T",
        "fields",
        "-e",
        "ip.src",
    ]));
    assert_ok(&out);
    stdout(&out).lines().filter(|l| *l == source).count()
}

#[test]
fn scanners_are_blocked_within_their_targets_and_every_response_follows() {
    if !testkit::privileged(
        TEST,
        &[
            "ip", "python3", "nft", "nmap", "masscan", "tcpdump", "tshark",
        ],
    ) || !testkit::skip_unless(
        TEST,
        rsyslog::program().is_some(),
        "rsyslogd is not installed (Debian: rsyslog)",
    ) {
        return;
    }
    let site = &Site::new();
    let receivers = Receivers::start(site);
    let policy = site.home.file("p.toml", POLICY);
    assert_ok(
        &site
            .home
            .run_in(&site.host, &["apply", "--policy", policy.to_str().unwrap()]),
    );
    let config = receivers.agent_config(site);
    let mut agent = start_agent(
        &site.host,
        &site.home.state(),
        &["--config", config.to_str().unwrap()],
    );
    wait_for(&site.host, Duration::from_secs(10), |t| {
        sample(t, "portreeve_listeners").filter(|&n| n >= 2.0)
    });

    let stop = AtomicBool::new(false);
    let troubles = Troubles::default();
    let answered: BTreeMap<usize, Vec<String>> = std::thread::scope(|s| {
        let benign = [
            s.spawn(|| web_client(site, &stop, &troubles)),
            s.spawn(|| admin(site, &stop, &troubles)),
        ];
        std::thread::sleep(Duration::from_millis(500));
        // The slow scan first; the others once it is detected.
        let slow = s.spawn(|| (0, scan(site, 0)));
        let (_, slow_scanner) = scan_link(0);
        detections_until(
            site,
            &mut agent,
            Duration::from_secs(15),
            "the -T2 detection",
            |rows| detection_of(rows, &slow_scanner).is_some(),
        );
        let fast: Vec<_> = (1..SCANS.len())
            .map(|i| s.spawn(move || (i, scan(site, i))))
            .collect();
        mistyper(site, &troubles);
        let answered = std::iter::once(slow)
            .chain(fast)
            .map(|t| t.join().unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        for t in benign {
            t.join().unwrap();
        }
        answered
    });

    // The wire: each scanner's answers before the block.
    for (i, answers) in &answered {
        eprintln!(
            "{}: {} answers before the block",
            SCANS[*i].name,
            answers.len()
        );
    }
    for (i, answers) in &answered {
        assert!(
            answers.len() <= SCANS[*i].limit,
            "{}: {} answers on the wire, at most {} allowed:\n{}",
            SCANS[*i].name,
            answers.len(),
            SCANS[*i].limit,
            answers[..answers.len().min(8)].join("\n")
        );
    }
    let troubles = troubles.into_inner().unwrap();
    assert!(troubles.is_empty(), "benign clients: {troubles:#?}");

    let scanners: Vec<String> = (0..SCANS.len()).map(|i| scan_link(i).1).collect();
    every_scanner_is_blocked_and_nobody_else(site, &mut agent, &scanners);
    the_capture_and_enrichment_are_attached(site, &mut agent, &receivers, &scanners[0]);
    the_receivers_got_the_alerts(&receivers, &scanners);
    agent.stop();
}

/// Every scanner is a detection with a block, and blocked; no other
/// source is either.
fn every_scanner_is_blocked_and_nobody_else(site: &Site, agent: &mut Daemon, scanners: &[String]) {
    let rows = detections_until(
        site,
        agent,
        Duration::from_secs(10),
        "every scanner",
        |rows| scanners.iter().all(|s| detection_of(rows, s).is_some()),
    );
    for (scan, scanner) in SCANS.iter().zip(scanners) {
        let d = detection_of(&rows, scanner).unwrap();
        eprintln!(
            "{}: {} detection ({}), {} kind, {} attempts before the decision",
            scan.name, d["tier"], d["detector"], d["kind"], d["attempts_before_decision"]
        );
        assert_eq!(d["action"], "block", "{}: {d:#}", scan.name);
        assert!(
            d["tier"] == "kernel" || d["tier"] == "agent",
            "{}: {d:#}",
            scan.name
        );
        // The kernel's decision came with the probe after the last one it
        // let through: the attempts before it are the agent's count of the
        // probes NFLOG showed, none of them after the block.
        if d["tier"] == "kernel" {
            assert!(
                d["attempts_before_decision"].as_u64().unwrap() <= FAST_LIMIT as u64 + 1,
                "{}: {d:#}",
                scan.name
            );
        }
    }
    for row in &rows {
        assert!(
            scanners.iter().any(|s| row["source"] == s.as_str()),
            "not a scanner: {row:#}"
        );
    }
    let blocks = site.json(&["blocks", "--format", "json"]);
    let mut blocked: Vec<String> = blocks["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap().to_owned())
        .collect();
    blocked.sort();
    let mut expected: Vec<String> = scanners.iter().map(|s| format!("{s}/32")).collect();
    expected.sort();
    assert_eq!(
        blocked, expected,
        "the scanners, and only they, are blocked"
    );
}

/// The detection of `scanner` has a capture that tshark opens, holding
/// the scanner's probes and listed by `portreeve captures`, and the
/// enrichment the test's databases and RDAP server give.
fn the_capture_and_enrichment_are_attached(
    site: &Site,
    agent: &mut Daemon,
    receivers: &Receivers,
    scanner: &str,
) {
    let rows = detections_until(
        site,
        agent,
        Duration::from_secs(10),
        "a capture and an enrichment",
        |rows| {
            detection_of(rows, scanner)
                .is_some_and(|d| d["capture"].is_string() && !d["enrichment"].is_null())
        },
    );
    let d = detection_of(&rows, scanner).unwrap();
    let capture = d["capture"].as_str().unwrap();
    let started = Instant::now();
    let probes = loop {
        let n = probes_in_capture(capture, scanner);
        if n > 0 || started.elapsed() > Duration::from_secs(8) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("capture {capture}: {probes} probes from {scanner}");
    assert!(probes > 0, "no probe from {scanner} in {capture}");
    let captures = site.json(&["captures", "--format", "json"]);
    assert_matches_schema(&captures, "docs/schema/captures.v1.json");
    assert!(
        captures["captures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["file"] == capture && c["source"] == scanner),
        "{captures:#}"
    );

    // The databases' AS and country, the RDAP network.
    let e = &d["enrichment"];
    assert_eq!(
        (&e["asn"], &e["as_org"]),
        (&64500.into(), &"Example Transit".into()),
        "{e:#}"
    );
    assert_eq!(e["country"], "NL", "{e:#}");
    assert_eq!(e["rdap"]["name"], "TEST-NET-1", "{e:#}");
    assert!(
        receivers
            .rdap
            .requests()
            .contains(&format!("/ip/{scanner}")),
        "{:?}",
        receivers.rdap.requests()
    );
}

/// The webhook and rsyslog received, within 10 s, a detection alert
/// (action block) and a block alert for every scanner; rsyslog parsed each
/// as RFC 5424 (version 1, facility local3) with a CEF message naming the
/// scanner.
fn the_receivers_got_the_alerts(receivers: &Receivers, scanners: &[String]) {
    let syslog_has = |scanner: &str, msgid: &dyn Fn(&str) -> bool| {
        let src = format!("src={scanner}");
        receivers.rsyslog.portreeve_lines().into_iter().any(|f| {
            f[1] == "1"
                && f[2] == "local3"
                && msgid(&f[7])
                && f[10].starts_with("CEF:0|portreeve|portreeve|")
                && f[10].split(' ').any(|p| p == src)
        })
    };
    let delivered = || {
        let (detected, blocks) = (
            receivers.webhook_alerts("detection"),
            receivers.webhook_alerts("block"),
        );
        scanners.iter().all(|s| {
            detected
                .iter()
                .any(|a| a["source"] == s.as_str() && a["action"] == "block")
                && blocks
                    .iter()
                    .any(|a| a["target"] == format!("{s}/32") && a["event"] == "block")
                && syslog_has(s, &|m| m.starts_with("portscan."))
                && syslog_has(s, &|m| m == "block")
        })
    };
    let started = Instant::now();
    while !delivered() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "alerts missing: {} webhook requests\nrsyslog {:#?}",
            receivers.webhook.requests().len(),
            receivers.rsyslog.portreeve_lines()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

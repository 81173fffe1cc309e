//! `portreeve detect` over recorded traffic. The privileged test records
//! real nmap scans (SYN, connect, FIN, UDP and a -T2 slow scan, each from
//! its own namespace, each only at the target namespace's veth address)
//! and a benign client beside them with tcpdump in the target namespace,
//! then asserts every scanner is found with its scan's kind and the client
//! is not; a second privileged test turns such a recording into flow
//! records with Debian's softflowd, nfcapd and nfdump and reads those. Zeek
//! is not packaged in Debian 12, so the conn.log tests write
//! the lines Zeek logs for the same scenario by hand, following Zeek's
//! documented `conn_state` and `history` columns.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Netns, assert_exit, assert_matches_schema, capture, portreeve, run, stderr, stdout, testkit,
};

const SCHEMA: &str = "docs/schema/detections.v1.json";

/// `portreeve detect ARGS --format json`, checked against the schema.
fn detect_json(args: &[&str]) -> Value {
    let out = run(portreeve().args(["detect", "--format", "json"]).args(args));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, SCHEMA);
    doc
}

/// The detection of `source`, if any.
fn detection<'a>(doc: &'a Value, source: &str) -> Option<&'a Value> {
    doc["detections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["source"] == source)
}

const CONN_LOG_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\tconn_state\thistory\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tstring\tstring\n";

/// One conn.log line: `seconds` after the start, `orig` to 10.80.0.1:`port`.
fn conn(seconds: f64, orig: &str, port: u16, proto: &str, state: &str, history: &str) -> String {
    format!(
        "{:.6}\tC{port}\t{orig}\t40000\t10.80.0.1\t{port}\t{proto}\t-\t-\t{state}\t{history}\n",
        1_700_000_000.0 + seconds
    )
}

#[test]
fn a_conn_log_of_scans_and_a_client_finds_only_the_scanners() {
    let mut log = CONN_LOG_HEADER.to_owned();
    for port in 1..=40u16 {
        let t = f64::from(port) * 0.001;
        // nmap -sS: closed ports refuse, the open one is reset after SYN-ACK.
        let (state, history) = if port == 22 {
            ("RSTO", "ShR")
        } else {
            ("REJ", "Sr")
        };
        log += &conn(t, "10.80.0.11", port, "tcp", state, history);
        // nmap -sF: closed ports answer the FIN with a reset.
        log += &conn(t, "10.80.0.12", port, "tcp", "REJ", "Fr");
        // nmap -sU: no answer.
        log += &conn(t, "10.80.0.13", port, "udp", "S0", "D");
        // nmap -T2: one probe every 0.4 s.
        log += &conn(
            f64::from(port) * 0.4,
            "10.80.0.14",
            port,
            "tcp",
            "REJ",
            "Sr",
        );
    }
    // A web client connecting again and again, mistyping the port once.
    for i in 0..20 {
        log += &conn(f64::from(i), "10.80.0.20", 8080, "tcp", "SF", "ShADadFf");
    }
    log += &conn(3.5, "10.80.0.20", 8081, "tcp", "REJ", "Sr");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    std::fs::write(&path, &log).unwrap();

    let doc = detect_json(&["--zeek", path.to_str().unwrap()]);
    assert_eq!(doc["kind"], "portreeve.detections");
    for (source, kind) in [
        ("10.80.0.11", "vertical"),
        ("10.80.0.12", "stealth"),
        ("10.80.0.13", "udp"),
        ("10.80.0.14", "vertical"),
    ] {
        let d = detection(&doc, source).unwrap_or_else(|| panic!("{source} not found: {doc:#}"));
        assert_eq!(d["kind"], kind, "{d:#}");
        assert!(
            d["attempts_before_decision"].as_u64().unwrap() <= 5,
            "{d:#}"
        );
        assert_eq!(d["port_count"], 40, "{d:#}");
    }
    assert!(detection(&doc, "10.80.0.20").is_none(), "{doc:#}");
    assert_eq!(doc["detections"].as_array().unwrap().len(), 4);

    // The same log as JSON lines, from standard input.
    let json_lines: String = log
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            format!(
                "{{\"ts\":{},\"id.orig_h\":\"{}\",\"id.resp_h\":\"{}\",\"id.resp_p\":{},\"proto\":\"{}\",\"conn_state\":\"{}\",\"history\":\"{}\"}}\n",
                c[0], c[2], c[4], c[5], c[6], c[9], c[10]
            )
        })
        .collect();
    let out = testkit::run_with_input(
        portreeve().args(["detect", "--zeek", "-", "--format", "json"]),
        json_lines.as_bytes(),
    );
    let from_json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(from_json["detections"], doc["detections"]);
}

#[test]
fn a_bad_conn_log_line_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.log");
    let mut log = CONN_LOG_HEADER.to_owned();
    log += &conn(0.0, "10.80.0.11", 22, "tcp", "REJ", "Sr");
    log += &conn(1.0, "10.80.0.999", 23, "tcp", "REJ", "Sr");
    std::fs::write(&path, log).unwrap();
    let out = run(portreeve().args(["detect", "--zeek", path.to_str().unwrap()]));
    assert_exit(
        &out,
        2,
        &format!("{}:9: bad id.orig_h value", path.display()),
    );

    std::fs::write(&path, b"not a capture").unwrap();
    let out = run(portreeve().args(["detect", "--pcap", path.to_str().unwrap()]));
    assert_exit(&out, 2, "not a pcap or pcapng file");
}

#[test]
fn a_bad_flow_record_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.csv");
    let record = |sa: &str| {
        format!(
            "2024-05-01 10:00:00,2024-05-01 10:00:00,0.000,{sa},10.80.0.1,40000,22,TCP,......S.,0,0,1,44\n"
        )
    };
    let csv = format!(
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n{}{}",
        record("10.80.0.11"),
        record("10.80.0.999")
    );
    std::fs::write(&path, csv).unwrap();
    let out = run(portreeve().args(["detect", "--flows", path.to_str().unwrap()]));
    assert_exit(
        &out,
        2,
        &format!(
            "{}:3:4: sa: \"10.80.0.999\" is not an IP address",
            path.display()
        ),
    );
}

/// A raw IPv6 packet carrying a bare TCP header with `flags`.
fn ipv6_tcp(from: (&str, u16), to: (&str, u16), flags: u8) -> Vec<u8> {
    let addr = |a: &str| a.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut p = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
    p.extend_from_slice(&addr(from.0));
    p.extend_from_slice(&addr(to.0));
    p.extend_from_slice(&from.1.to_be_bytes());
    p.extend_from_slice(&to.1.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0x04, 0, 0, 0, 0, 0]);
    p
}

#[test]
fn a_capture_of_a_scan_beside_a_client_finds_only_the_scanner() {
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    let (scanner, client, server) = ("2001:db8:5::66", "2001:db8:5::10", "2001:db8:5::1");
    let mut packets = Vec::new();
    // A SYN scan of ports 1-10: 7 is open and reset after the SYN-ACK.
    for port in 1..=10u16 {
        packets.push(ipv6_tcp((scanner, 40000), (server, port), SYN));
        if port == 7 {
            packets.push(ipv6_tcp((server, port), (scanner, 40000), SYN | ACK));
            packets.push(ipv6_tcp((scanner, 40000), (server, port), RST));
        } else {
            packets.push(ipv6_tcp((server, port), (scanner, 40000), RST | ACK));
        }
    }
    // A client connecting five times to 443, and once to 444 by mistake.
    for n in 0..5u16 {
        let from = (client, 50000 + n);
        packets.push(ipv6_tcp(from, (server, 443), SYN));
        packets.push(ipv6_tcp((server, 443), from, SYN | ACK));
        packets.push(ipv6_tcp(from, (server, 443), ACK));
        if n == 2 {
            packets.push(ipv6_tcp((client, 51000), (server, 444), SYN));
            packets.push(ipv6_tcp((server, 444), (client, 51000), RST | ACK));
        }
    }
    let frames: Vec<(u64, Vec<u8>)> = (0u64..)
        .map(|i| 1_700_000_000_000_000 + i * 100_000)
        .zip(packets)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.pcap");
    let capture = testkit::capture::pcap(101, &frames);
    std::fs::write(&path, &capture).unwrap();

    let doc = detect_json(&["--pcap", path.to_str().unwrap()]);
    assert_eq!(doc["attempts"], 16, "{doc:#}");
    let d = detection(&doc, scanner).unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(
        (d["kind"].as_str(), d["port_count"].as_u64()),
        (Some("vertical"), Some(10))
    );
    assert!(detection(&doc, client).is_none(), "{doc:#}");

    // Cut short inside the last record: what came before is still read.
    std::fs::write(&path, &capture[..capture.len() - 10]).unwrap();
    let out = run(portreeve().args(["detect", "--pcap", path.to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cut short"), "{}", stderr(&out));
    assert!(stdout(&out).contains(scanner), "{}", stdout(&out));
}

/// A scan the privileged test records, from its own namespace.
struct Scan {
    nmap: &'static [&'static str],
    kind: &'static str,
}

const SCANS: [Scan; 5] = [
    Scan {
        nmap: &["-sS", "-p", "1-100"],
        kind: "vertical",
    },
    Scan {
        nmap: &["-sT", "-p", "1-100"],
        kind: "vertical",
    },
    Scan {
        nmap: &["-sF", "-p", "1-100"],
        kind: "stealth",
    },
    Scan {
        nmap: &["-sU", "--max-retries", "0", "-p", "1-200"],
        kind: "udp",
    },
    Scan {
        nmap: &["-sS", "-T2", "-p", "1-30"],
        kind: "vertical",
    },
];

/// Scanner `i`'s address and its target's: a /24 of its own.
fn scan_addresses(i: usize) -> (String, String) {
    (format!("10.73.{i}.2"), format!("10.73.{i}.1"))
}

const CLIENT: &str = "10.74.0.2";
const CLIENT_TARGET: [u8; 4] = [10, 74, 0, 1];

/// The benign client: connects to the web port again and again, each time
/// sending a request, and mistypes the port once.
fn benign_client() {
    let connect = |port: u16| {
        let to = std::net::SocketAddr::from((CLIENT_TARGET, port));
        std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
    };
    for i in 0..15 {
        if i == 5 {
            assert!(connect(8081).is_err(), "nothing listens on 8081");
        }
        let mut s = connect(8080).expect("the web port accepts");
        std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A target namespace with services on tcp/22, tcp/8080 and udp/53, one
/// scanner namespace per scan and the benign client's, each linked to the
/// target on a subnet of its own.
struct Lab {
    /// First, so that the services stop before their namespace goes.
    _services: testkit::Listeners,
    target: Netns,
    scanners: Vec<Netns>,
    client: Netns,
}

impl Lab {
    fn new(scans: usize) -> Lab {
        let target = Netns::bare();
        let scanners: Vec<Netns> = (0..scans).map(|_| Netns::bare()).collect();
        for (i, ns) in scanners.iter().enumerate() {
            let (scanner, at) = scan_addresses(i);
            target.link(ns, &format!("{at}/24"), &format!("{scanner}/24"));
        }
        let client = Netns::bare();
        target.link(&client, "10.74.0.1/24", &format!("{CLIENT}/24"));
        // Closed UDP ports answer with ICMP at the kernel's default rate (one
        // a second after a burst), which would slow nmap -sU to minutes.
        let out = run(target
            .exec("sysctl")
            .args(["-qw", "net.ipv4.icmp_ratelimit=0"]));
        assert!(out.status.success(), "{}", stderr(&out));
        let services = target.listen(
            &["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:8080", "udp4:0.0.0.0:53"],
            0,
        );
        Lab {
            _services: services,
            target,
            scanners,
            client,
        }
    }

    /// Runs `scans` (scan `i` from scanner `i`) beside the benign client,
    /// recording the target's traffic into `pcap`.
    fn record(&self, scans: &[Scan], pcap: &Path) {
        let tcpdump = capture::start(&self.target, pcap);
        let started = Instant::now();
        let nmaps: Vec<Child> = self
            .scanners
            .iter()
            .zip(scans)
            .enumerate()
            .map(|(i, (ns, scan))| {
                let (_, at) = scan_addresses(i);
                ns.exec("nmap")
                    .args(["-n", "-Pn", "--host-timeout", "90s"])
                    .args(scan.nmap)
                    .arg(at)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        self.client.run(benign_client);
        for mut nmap in nmaps {
            assert!(nmap.wait().unwrap().success());
        }
        eprintln!("scans took {:?}", started.elapsed());
        capture::stop(tcpdump);
    }
}

/// Asserts that `doc` has each of `scans` (scanner `i` ran scan `i`) with
/// its kind, decided within 8 attempts, and nothing else: not the benign
/// client.
fn assert_only_scanners_found(doc: &Value, scans: &[Scan]) {
    for (i, scan) in scans.iter().enumerate() {
        let (scanner, _) = scan_addresses(i);
        let d = detection(doc, &scanner)
            .unwrap_or_else(|| panic!("nmap {:?} not found: {doc:#}", scan.nmap));
        assert_eq!(d["kind"], scan.kind, "nmap {:?}: {d:#}", scan.nmap);
        let attempts = d["attempts_before_decision"].as_u64().unwrap();
        eprintln!("nmap {:?}: decided after {attempts} attempts", scan.nmap);
        assert!(attempts <= 8, "nmap {:?}: {d:#}", scan.nmap);
    }
    assert!(detection(doc, CLIENT).is_none(), "{doc:#}");
    assert_eq!(
        doc["detections"].as_array().unwrap().len(),
        scans.len(),
        "{doc:#}"
    );
}

#[test]
fn recorded_nmap_scans_are_found_and_the_benign_client_is_not() {
    if !testkit::privileged(
        "recorded_nmap_scans_are_found_and_the_benign_client_is_not",
        &["ip", "python3", "nmap", "tcpdump", "sysctl"],
    ) {
        return;
    }
    let lab = Lab::new(SCANS.len());
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("scans.pcap");
    lab.record(&SCANS, &pcap);
    let doc = detect_json(&["--pcap", pcap.to_str().unwrap()]);
    assert_only_scanners_found(&doc, &SCANS);
}

/// The UDP port nfcapd listens on, on the loopback of the namespace it
/// shares with softflowd.
const COLLECTOR_PORT: &str = "9995";

/// `pcap` as flow records, the way a site with a NetFlow exporter keeps
/// them: softflowd reads the capture and exports NetFlow v9 to nfcapd on
/// `ns`'s loopback, and `nfdump -o csv` prints what nfcapd stored. Returns
/// the CSV's path, in `dir`.
fn nfdump_csv(ns: &Netns, pcap: &Path, dir: &Path) -> std::path::PathBuf {
    let store = dir.join("nfcapd");
    std::fs::create_dir(&store).unwrap();
    let mut nfcapd = ns
        .exec("nfcapd")
        .args(["-b", "127.0.0.1", "-p", COLLECTOR_PORT, "-l"])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let bound = format!("sport = :{COLLECTOR_PORT}");
    while stdout(&run(ns.exec("ss").args(["-Hlun", &bound]))).is_empty() {
        assert!(Instant::now() < deadline, "nfcapd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // softflowd 1.1.0 hangs when its control-socket path is long.
    let id = std::process::id();
    let (pid_file, control) = (format!("/tmp/p{id}d"), format!("/tmp/s{id}d"));
    let out = run(ns
        .exec("timeout")
        .args(["30", "softflowd", "-r"])
        .arg(pcap)
        .args([
            "-n",
            &format!("127.0.0.1:{COLLECTOR_PORT}"),
            "-v",
            "9",
            "-d",
        ])
        .args(["-p", &pid_file, "-c", &control]));
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(&control);
    assert!(out.status.success(), "softflowd: {}", stderr(&out));
    // nfcapd writes its file out when it stops.
    std::thread::sleep(Duration::from_millis(300));
    let pid = rustix::process::Pid::from_raw(nfcapd.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    nfcapd.wait().unwrap();
    let out = run(std::process::Command::new("nfdump")
        .env("TZ", "UTC")
        .arg("-R")
        .arg(&store)
        .args(["-o", "csv"]));
    assert!(out.status.success(), "nfdump: {}", stderr(&out));
    let csv = dir.join("flows.csv");
    std::fs::write(&csv, stdout(&out)).unwrap();
    csv
}

#[test]
fn recorded_nmap_scans_as_nfdump_flows_are_found_and_the_benign_client_is_not() {
    if !testkit::privileged(
        "recorded_nmap_scans_as_nfdump_flows_are_found_and_the_benign_client_is_not",
        &[
            "ip",
            "python3",
            "nmap",
            "tcpdump",
            "sysctl",
            "ss",
            "softflowd",
            "nfcapd",
            "nfdump",
        ],
    ) {
        return;
    }
    // The fast scans: SYN, connect, FIN and UDP.
    let scans = &SCANS[..4];
    let lab = Lab::new(scans.len());
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("scans.pcap");
    lab.record(scans, &pcap);
    let csv = nfdump_csv(&lab.target, &pcap, dir.path());
    let doc = detect_json(&["--flows", csv.to_str().unwrap()]);
    assert_only_scanners_found(&doc, scans);

    // The same records from standard input, read the same way.
    let records = std::fs::read_to_string(&csv).unwrap();
    let out = testkit::run_with_input(
        portreeve().args(["detect", "--flows", "-", "--format", "json"]),
        records.as_bytes(),
    );
    let from_stdin: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(from_stdin["detections"], doc["detections"]);

    // The client was read, not lost: its records alone are its 15
    // connections and the mistyped port.
    let client_only: String = records
        .lines()
        .filter(|l| l.starts_with("ts,") || l.split(',').any(|f| f == CLIENT))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = testkit::run_with_input(
        portreeve().args(["detect", "--flows", "-", "--format", "json"]),
        client_only.as_bytes(),
    );
    let client: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(client["attempts"], 16, "{client:#}");
    assert_eq!(client["detections"], serde_json::json!([]), "{client:#}");
}

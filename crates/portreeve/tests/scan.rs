//! `portreeve scan` against test hosts made of network namespaces, compared
//! port for port with `nmap -sT` on the same targets. Probes go only to
//! addresses that exist inside the namespaces the test creates.

mod support;

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;
use support::{Netns, run, stderr, stdout, testkit};

/// A scanner namespace linked to two targets: `open` answers resets on
/// closed ports; `guarded` sits behind a default-drop firewall that also
/// drops 2 % of packets at random.
struct Lab {
    scanner: Netns,
    _open: Netns,
    _guarded: Netns,
    _services: Vec<testkit::Listeners>,
    _dir: tempfile::TempDir,
}

const OPEN_HOST: &str = "10.73.1.2";
const GUARDED_HOST: &str = "10.73.2.2";
const SERVICE_PORTS: [u16; 5] = [22, 80, 443, 3306, 8080];
const PORTS: &str = "1-1200,3306,8080,31337";

impl Lab {
    fn new() -> Lab {
        let (scanner, open, guarded) = (Netns::bare(), Netns::bare(), Netns::bare());
        scanner.link(&open, "10.73.1.1/24", "10.73.1.2/24");
        scanner.link(&guarded, "10.73.2.1/24", "10.73.2.2/24");
        let specs: Vec<String> = SERVICE_PORTS
            .iter()
            .map(|p| format!("tcp4:0.0.0.0:{p}"))
            .collect();
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        let services = vec![open.listen(&specs, 0), guarded.listen(&specs, 0)];
        let dir = tempfile::tempdir().unwrap();
        let firewall = dir.path().join("guard.nft");
        std::fs::write(
            &firewall,
            "table inet guard {\n\
             \tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\
             \t\tnumgen random mod 100 < 2 drop\n\
             \t\tct state established,related accept\n\
             \t\ttcp dport { 22, 443, 8080 } accept\n\t}\n\
             \tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\
             \t\tnumgen random mod 100 < 2 drop\n\t}\n}\n",
        )
        .unwrap();
        let out = run(guarded.exec("nft").arg("-f").arg(&firewall));
        assert!(out.status.success(), "{}", stderr(&out));
        Lab {
            scanner,
            _open: open,
            _guarded: guarded,
            _services: services,
            _dir: dir,
        }
    }

    fn portreeve(&self, args: &[&str]) -> Output {
        let mut cmd = self.scanner.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args(args).env("NO_COLOR", "1");
        run(&mut cmd)
    }

    /// Every port's state as nmap -sT reports it.
    fn nmap(&self, target: &str) -> BTreeMap<u16, String> {
        let out = run(self
            .scanner
            .exec("nmap")
            .args(["-sT", "-n", "-Pn", "-T4", "-p", PORTS, "-oG", "-", target]));
        assert!(out.status.success(), "{}", stderr(&out));
        parse_grepable(&stdout(&out), PORTS)
    }

    /// Every port's state as portreeve reports it.
    fn portreeve_states(&self, target: &str, extra: &[&str]) -> BTreeMap<u16, String> {
        let mut args = vec!["scan", target, "-p", PORTS, "--format", "json", "--all"];
        args.extend_from_slice(extra);
        let out = self.portreeve(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["hosts"][0]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["port"].as_u64().unwrap() as u16,
                    p["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// nmap's `-oG` line for a host: listed ports, plus the "Ignored State" for
/// every other port of `ports`.
fn parse_grepable(text: &str, ports: &str) -> BTreeMap<u16, String> {
    let line = text
        .lines()
        .find(|l| l.contains("Ports: "))
        .unwrap_or_else(|| panic!("no Ports line:\n{text}"));
    let listed = line
        .split("Ports: ")
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap();
    let mut states: BTreeMap<u16, String> = listed
        .split(", ")
        .map(|entry| {
            let fields: Vec<&str> = entry.split('/').collect();
            (fields[0].trim().parse().unwrap(), fields[1].to_string())
        })
        .collect();
    if let Some(ignored) = line.split("Ignored State: ").nth(1) {
        let state = ignored.split(' ').next().unwrap().to_string();
        for p in portreeve_scan::ports::parse_ports(ports).unwrap() {
            states.entry(p).or_insert_with(|| state.clone());
        }
    }
    states
}

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "nmap"])
}

fn open_ports(states: &BTreeMap<u16, String>) -> Vec<u16> {
    states
        .iter()
        .filter(|(_, s)| *s == "open")
        .map(|(p, _)| *p)
        .collect()
}

#[track_caller]
fn assert_agree(ours: &BTreeMap<u16, String>, nmap: &BTreeMap<u16, String>, what: &str) {
    assert_eq!(ours.len(), nmap.len(), "{what}: same ports scanned");
    let differ: Vec<String> = ours
        .iter()
        .filter(|(p, s)| nmap.get(p) != Some(s))
        .map(|(p, s)| format!("{p}: portreeve {s}, nmap {:?}", nmap.get(p)))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: portreeve and nmap disagree on {} ports:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn connect_scan_agrees_with_nmap_on_open_and_guarded_hosts() {
    if !privileged("connect_scan_agrees_with_nmap_on_open_and_guarded_hosts") {
        return;
    }
    let lab = Lab::new();
    let ours = lab.portreeve_states(OPEN_HOST, &[]);
    assert_eq!(open_ports(&ours), SERVICE_PORTS);
    assert_agree(&ours, &lab.nmap(OPEN_HOST), "open host");

    let ours = lab.portreeve_states(GUARDED_HOST, &[]);
    assert_eq!(
        open_ports(&ours),
        [22, 443, 8080],
        "every open port behind the lossy firewall"
    );
    assert_agree(&ours, &lab.nmap(GUARDED_HOST), "guarded host");
}

#[test]
fn syn_scan_agrees_with_connect_scan() {
    if !privileged("syn_scan_agrees_with_connect_scan") {
        return;
    }
    let lab = Lab::new();
    for host in [OPEN_HOST, GUARDED_HOST] {
        let syn = lab.portreeve_states(host, &["--syn"]);
        let connect = lab.portreeve_states(host, &[]);
        assert_agree(&syn, &connect, host);
    }
}

#[test]
fn several_hosts_ranges_and_exclusions() {
    if !privileged("several_hosts_ranges_and_exclusions") {
        return;
    }
    let lab = Lab::new();
    let out = lab.portreeve(&[
        "scan",
        "10.73.1.0/24",
        "10.73.2.2",
        "--exclude",
        "10.73.1.0-1,10.73.1.3-255",
        "-p",
        "22,23",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hosts: Vec<&str> = doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["address"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, [OPEN_HOST, GUARDED_HOST]);
    assert_eq!(
        doc["hosts"][0]["states"],
        serde_json::json!({"open": 1, "closed": 1})
    );
    assert_eq!(
        doc["hosts"][1]["states"],
        serde_json::json!({"open": 1, "filtered": 1})
    );
    assert_eq!(doc["kind"], "portreeve.scan");
}

#[test]
fn jsonl_streams_one_object_per_port() {
    if !privileged("jsonl_streams_one_object_per_port") {
        return;
    }
    let lab = Lab::new();
    let out = lab.portreeve(&[
        "scan", OPEN_HOST, "-p", "20-30", "--format", "jsonl", "--all",
    ]);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert!(
        lines
            .iter()
            .any(|l| l["port"] == 22 && l["state"] == "open" && l["reason"] == "syn-ack")
    );
    assert!(
        lines
            .iter()
            .all(|l| l["port"] == 22 || l["state"] == "closed")
    );
}

/// Refused input exits 2 and sends nothing. Run where every address has a
/// route (into a dead end) and every packet is counted: a regression in
/// input checking shows as packets counted, and reaches nothing. A valid
/// scan in the same place is counted, proving the count sees scans.
#[test]
fn bad_input_sends_nothing_and_exits_2() {
    if !testkit::privileged("bad_input_sends_nothing_and_exits_2", &["ip", "nft"]) {
        return;
    }
    let dead_end = testkit::DeadEnd::new();
    let scan = |args: &[&str]| {
        let mut cmd = dead_end.ns.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args(args)
            .env_remove("PORTREEVE_STATE_DIR")
            .env("NO_COLOR", "1");
        run(&mut cmd)
    };
    for (args, message) in [
        (
            vec!["scan", "10.73.1.2", "-p", "70000"],
            "port 70000 is out of range",
        ),
        (vec!["scan", "10.0.0.0/33"], "prefix length 33 exceeds 32"),
        (vec!["scan", "host_with_underscore!"], "is not a target"),
        (vec!["scan"], "no targets"),
        (
            vec!["scan", "10.73.1.2", "--exclude", "10.73.1.2"],
            "no targets",
        ),
        (vec!["scan", "10.0.0.0/8", "10.1.0.0/8"], "at most"),
    ] {
        let out = scan(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert_eq!(dead_end.packets_sent(), 0, "{args:?} sent packets");
    }
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    let args = [
        "scan",
        "10.73.1.2",
        "-p",
        "80",
        "--max-retries",
        "0",
        "--max-rtt",
        "100ms",
        "--state-dir",
        state,
    ];
    let out = scan(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        dead_end.packets_sent() > 0,
        "a valid scan was not counted: the count would miss a regression"
    );
}

#[test]
fn check_scan_joins_inventory_scan_and_policy() {
    if !privileged("check_scan_joins_inventory_scan_and_policy") {
        return;
    }
    let (scanner, target) = (Netns::bare(), Netns::bare());
    scanner.link(&target, "10.73.9.1/24", "10.73.9.2/24");
    let _services = target.listen(
        &[
            "tcp4:0.0.0.0:22",
            "tcp4:0.0.0.0:6379",
            "tcp4:0.0.0.0:5432",
            "tcp4:0.0.0.0:9999",
        ],
        0,
    );
    let dir = tempfile::tempdir().unwrap();
    // Port 8080 is forwarded to 9999 (as container publishing would), and
    // 5432 is firewalled from the scanner.
    let rules = dir.path().join("t.nft");
    std::fs::write(
        &rules,
        "table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat;\n\t\ttcp dport 8080 redirect to :9999\n\t}\n}\n\
         table inet guard {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\t\ttcp dport 5432 drop\n\t}\n}\n",
    )
    .unwrap();
    assert!(
        run(target.exec("nft").arg("-f").arg(&rules))
            .status
            .success()
    );
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[zones]\nscanners = [\"10.73.9.1\"]\n[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"scanners\"]\n\
         [[rule]]\nport = 5432\nprotocol = \"tcp\"\nzones = [\"scanners\"]\n",
    )
    .unwrap();
    // The inside-out view, saved on the target; the outside-in view, from the scanner.
    let inventory = dir.path().join("inv.json");
    let inv =
        run(target
            .exec(env!("CARGO_BIN_EXE_portreeve"))
            .args(["inventory", "--format", "json"]));
    std::fs::write(&inventory, &inv.stdout).unwrap();
    let out = run(scanner.exec(env!("CARGO_BIN_EXE_portreeve")).args([
        "check",
        "--inventory",
        inventory.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--scan",
        "10.73.9.2",
        "--scan-ports",
        "1-10000",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reach: BTreeMap<u64, String> = doc["reachability"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["port"].as_u64().unwrap(),
                j["reachability"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeMap<u64, String> = [
        (22, "reachable"),
        (5432, "listening_but_filtered"),
        (6379, "reachable"),
        (8080, "reachable_without_listener"),
        (9999, "reachable"),
    ]
    .into_iter()
    .map(|(p, r)| (p, r.to_string()))
    .collect();
    assert_eq!(reach, expected, "{doc:#}");
    let ids: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap() >= "PR009")
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["message"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    for want in [
        ("PR011", "10.73.9.2:6379/tcp"),
        ("PR011", "10.73.9.2:8080/tcp"),
        ("PR012", "10.73.9.2:8080/tcp"),
        ("PR011", "10.73.9.2:9999/tcp"),
    ] {
        assert!(
            ids.contains(&(want.0.to_string(), want.1.to_string())),
            "missing {want:?} in {ids:?}"
        );
    }
    assert!(
        !ids.iter()
            .any(|(_, m)| m.contains(":22/") || m.contains(":5432/")),
        "allowed or filtered: {ids:?}"
    );
    support::assert_matches_schema(&doc, "docs/schema/check.v1.json");
}

#[test]
fn xml_and_grepable_output_and_nmap_import() {
    if !privileged("xml_and_grepable_output_and_nmap_import") {
        return;
    }
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    // nmap's XML, imported: the same states as nmap's own greppable output.
    let nmap_xml = dir.path().join("nmap.xml");
    let out = run(lab
        .scanner
        .exec("nmap")
        .args(["-sT", "-n", "-Pn", "-p", PORTS, "-oX"])
        .arg(&nmap_xml)
        .arg(OPEN_HOST));
    assert!(out.status.success(), "{}", stderr(&out));
    let imported = run(support::portreeve()
        .arg("scan")
        .arg("--import")
        .arg(&nmap_xml)
        .args(["--format", "json", "--all"]));
    assert!(imported.status.success(), "{}", stderr(&imported));
    let doc: Value = serde_json::from_slice(&imported.stdout).unwrap();
    let states: BTreeMap<u16, String> = doc["hosts"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap() as u16,
                p["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_agree(&states, &lab.nmap(OPEN_HOST), "imported nmap XML");

    // Our XML reads back to the same states as our JSON.
    let ours = lab.portreeve(&["scan", OPEN_HOST, "-p", PORTS, "--format", "xml"]);
    assert!(ours.status.success());
    let run_back = portreeve_scan::nmap_xml::read(&stdout(&ours)).unwrap();
    let back: BTreeMap<u16, String> = run_back.hosts[0]
        .ports
        .iter()
        .map(|p| (p.port, p.state.to_string()))
        .collect();
    assert_agree(&back, &lab.portreeve_states(OPEN_HOST, &[]), "our XML");

    let grep = stdout(&lab.portreeve(&["scan", OPEN_HOST, "-p", "20-25", "--format", "grepable"]));
    assert!(
        grep.contains(&format!(
            "Host: {OPEN_HOST} ()\tPorts: 20/closed/tcp/////, 21/closed"
        )),
        "{grep}"
    );
    assert!(grep.contains("22/open/tcp/////"), "{grep}");

    // A broken file is a located input error.
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<nmaprun>\n<host><address addr=\"10.0.0.1\"\n").unwrap();
    let out = run(support::portreeve().arg("scan").arg("--import").arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.xml"), "{}", stderr(&out));
}

/// Daemons started for one test, stopped when it ends.
struct Daemons(Vec<std::process::Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A server written by the test: an SSH greeting on TCP 2222 (an
/// unassigned port, so only the banner can name it) and a UDP echo on 7.
const BANNER_AND_ECHO: &str = r#"
import socket, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 2222)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 7))
def echo():
    while True:
        data, peer = u.recvfrom(2048); u.sendto(data, peer)
def greet(c):
    try:
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        c.recv(256)
    except OSError:
        pass  # the port scan's reset
    c.close()
threading.Thread(target=echo, daemon=True).start()
while True:
    c, _ = t.accept(); threading.Thread(target=greet, args=(c,), daemon=True).start()
"#;

/// (protocol, port) → the port's JSON object, from a portreeve.scan document.
fn ports_by_protocol(doc: &Value) -> BTreeMap<(String, u64), Value> {
    doc["hosts"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                (
                    p["protocol"].as_str().unwrap().to_string(),
                    p["port"].as_u64().unwrap(),
                ),
                p.clone(),
            )
        })
        .collect()
}

#[test]
fn service_and_udp_scans_name_what_answers() {
    if !testkit::privileged(
        "service_and_udp_scans_name_what_answers",
        &["ip", "python3", "nmap", "ss", "redis-server", "memcached"],
    ) {
        return;
    }
    let (scanner, target) = (Netns::bare(), Netns::bare());
    scanner.link(&target, "10.73.10.1/24", "10.73.10.2/24");
    let spawn = |program: &str, args: &[&str]| {
        target
            .exec(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"))
    };
    let _daemons = Daemons(vec![
        spawn("python3", &["-c", BANNER_AND_ECHO]),
        // Real Redis and Memcached, both open to anyone, as shipped too often.
        spawn("redis-server", &support::OPEN_REDIS),
        spawn(
            "memcached",
            &[
                "-u", "nobody", "-l", "0.0.0.0", "-p", "11211", "-U", "11211",
            ],
        ),
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ss = stdout(&run(target.exec("ss").args(["-Htlnu"])));
        if [":2222 ", ":6379 ", ":11211 ", ":7 "]
            .iter()
            .all(|p| ss.contains(p))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "daemons did not start:\n{ss}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let host = "10.73.10.2";
    let out = run(scanner.exec(env!("CARGO_BIN_EXE_portreeve")).args([
        "scan",
        host,
        "--udp",
        "--tcp",
        "-p",
        "7,2222,4444,6379,11211",
        "--service",
        "--all",
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ports = ports_by_protocol(&doc);
    let state = |proto: &str, port: u64| ports[&(proto.to_string(), port)]["state"].clone();
    let service = |proto: &str, port: u64| ports[&(proto.to_string(), port)]["service"].clone();

    let ssh = service("tcp", 2222);
    assert_eq!(ssh["name"], "ssh", "{doc:#}");
    assert_eq!(ssh["product"], "OpenSSH");
    assert_eq!(ssh["version"], "9.2p1");
    let redis = service("tcp", 6379);
    assert_eq!(redis["name"], "redis", "{doc:#}");
    assert_eq!(redis["unauthenticated"], true);
    assert!(
        redis["cpe"]
            .as_str()
            .unwrap()
            .starts_with("cpe:2.3:a:redis:redis:")
    );
    let memcached = service("tcp", 11211);
    assert_eq!(memcached["name"], "memcache", "{doc:#}");
    assert_eq!(memcached["unauthenticated"], true);
    assert_eq!(service("udp", 11211)["name"], "memcache", "{doc:#}");
    for (proto, port, want) in [
        ("tcp", 7, "closed"),
        ("tcp", 4444, "closed"),
        ("udp", 7, "open"),
        ("udp", 2222, "closed"),
        ("udp", 4444, "closed"),
        ("udp", 6379, "closed"),
        ("udp", 11211, "open"),
    ] {
        assert_eq!(state(proto, port), want, "{port}/{proto}: {doc:#}");
    }

    // UDP states as nmap -sU sees them.
    let nmap = run(scanner.exec("nmap").args([
        "-sU",
        "-n",
        "-Pn",
        "-p",
        "7,2222,4444,6379,11211",
        "-oG",
        "-",
        host,
    ]));
    assert!(nmap.status.success(), "{}", stderr(&nmap));
    let theirs = parse_grepable(&stdout(&nmap), "7,2222,4444,6379,11211");
    for (port, their_state) in theirs {
        assert_eq!(
            state("udp", u64::from(port)),
            their_state.as_str(),
            "{port}/udp: portreeve and nmap -sU"
        );
    }

    // check --scan names the services it reaches and flags the open ones.
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inv.json");
    let inv =
        run(target
            .exec(env!("CARGO_BIN_EXE_portreeve"))
            .args(["inventory", "--format", "json"]));
    assert!(inv.status.success(), "{}", stderr(&inv));
    std::fs::write(&inventory, &inv.stdout).unwrap();
    let out = run(scanner
        .exec(env!("CARGO_BIN_EXE_portreeve"))
        .args(["check", "--inventory"])
        .arg(&inventory)
        .args([
            "--scan",
            host,
            "--scan-ports",
            "2222,6379,11211",
            "--format",
            "json",
        ]));
    let doc: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let unauthenticated: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "PR010")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(unauthenticated.len(), 2, "{doc:#}");
    assert!(unauthenticated.iter().any(|m| m.contains(":6379/tcp")));
    assert!(unauthenticated.iter().any(|m| m.contains(":11211/tcp")));
}

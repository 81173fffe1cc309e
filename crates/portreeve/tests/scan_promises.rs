//! What docs/scan.md promises about `portreeve scan` beyond agreeing with
//! nmap (that is scan.rs): refused input is located and sends nothing,
//! `--target-file` and host names, descriptors and TIME_WAIT, read-only
//! service identification, and the table, jsonl and progress-bar output.
//! Every probe goes to addresses inside the namespaces the test creates;
//! names resolve from a hosts file of the test's own.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Lab, Netns, RunPortreeve, assert_exit, assert_ok, run, stderr, stdout, testkit};

/// Host names for one namespace: `ip netns exec` mounts the files of
/// `/etc/netns/NAME/` over `/etc`, so programs run there look names up in
/// `hosts` only (no DNS query leaves for the host's resolver). Removed when
/// dropped.
struct LocalNames {
    dir: PathBuf,
}

impl LocalNames {
    /// `names` as (name, address) pairs.
    fn new(ns: &Netns, names: &[(&str, &str)]) -> LocalNames {
        let dir = PathBuf::from("/etc/netns").join(&ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nsswitch.conf"), "hosts: files\n").unwrap();
        let hosts: String = names.iter().map(|(n, a)| format!("{a} {n}\n")).collect();
        std::fs::write(dir.join("hosts"), format!("127.0.0.1 localhost\n{hosts}")).unwrap();
        LocalNames { dir }
    }
}

impl Drop for LocalNames {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn json(out: &Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// (port, state) of a `portreeve.scan` document's host `i`.
fn port_states(doc: &Value, i: usize) -> Vec<(u64, String)> {
    doc["hosts"][i]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap(),
                p["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// An unresolvable name (as a target and as an exclusion), a reversed
/// address range, a reversed port range and a bad line of a target file
/// are each refused with exit 2 and the offending text, and nothing is sent,
/// in a namespace where every address has a route and every packet is
/// counted ([`testkit::DeadEnd`]). A valid scan there is counted.
#[test]
fn refused_input_names_the_offence_and_sends_nothing() {
    if !testkit::privileged(
        "refused_input_names_the_offence_and_sends_nothing",
        &["ip", "nft"],
    ) {
        return;
    }
    let dead_end = testkit::DeadEnd::new();
    let _names = LocalNames::new(&dead_end.ns, &[("known.test", "10.74.0.9")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.txt");
    std::fs::write(
        &file,
        "# lab hosts\n10.74.0.1\n\n10.74.0.2-10.74.0.1 # typo\n",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let located = format!("{file_arg}:4:");
    for (args, message) in [
        (
            vec!["scan", "nowhere.invalid"],
            "cannot resolve `nowhere.invalid`",
        ),
        (
            vec!["scan", "known.test", "--exclude", "nowhere.invalid"],
            "cannot resolve `nowhere.invalid`",
        ),
        (
            vec!["scan", "10.74.0.20-10"],
            "`10.74.0.20-10` is not a range",
        ),
        (vec!["scan", "10.74.0.1", "-p", "2000-1000"], "2000-1000"),
        (vec!["scan", "--target-file", file_arg], located.as_str()),
        (
            vec!["scan", "--target-file", file_arg],
            "`10.74.0.2-10.74.0.1` is not a range",
        ),
    ] {
        let out = dead_end.ns.portreeve(&args);
        assert_exit(&out, 2, message);
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        assert_eq!(dead_end.packets_sent(), 0, "{args:?} sent packets");
    }
    let state = tempfile::tempdir().unwrap();
    let out = dead_end.ns.portreeve(&[
        "scan",
        "known.test",
        "-p",
        "80",
        "--max-retries",
        "0",
        "--max-rtt",
        "100ms",
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        dead_end.packets_sent() > 0,
        "a valid scan of a name was not counted: the count would miss a regression"
    );
}

/// `--target-file` reads whitespace-separated targets with `#` comments,
/// names among them, resolved to the address the hosts file gives; the
/// scan covers exactly those hosts, named.
#[test]
fn target_file_targets_and_names_are_scanned() {
    if !support::privileged("target_file_targets_and_names_are_scanned") {
        return;
    }
    let lab = Lab::new(70, &["tcp4:0.0.0.0:8080", "tcp4:10.70.0.1:2222"]);
    let _names = LocalNames::new(&lab.client, &[("lab-server.test", "10.70.0.1")]);
    let file = lab.home.file(
        "targets.txt",
        "# the lab\nlab-server.test   # by name\n\n  10.70.0.2 10.70.0.1 # again, by address\n",
    );
    let doc = json(&lab.client.portreeve(&[
        "scan",
        "--target-file",
        file.to_str().unwrap(),
        "-p",
        "9,2222,8080",
        "--all",
        "--format",
        "json",
    ]));
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2, "each address once: {doc:#}");
    assert_eq!(hosts[0]["address"], "10.70.0.1");
    assert_eq!(hosts[0]["hostname"], "lab-server.test");
    assert_eq!(hosts[1]["address"], "10.70.0.2");
    assert_eq!(
        port_states(&doc, 0),
        [
            (9, "closed".into()),
            (2222, "open".into()),
            (8080, "open".into())
        ]
    );
}

/// A connect scan of 1,000 ports completes, correct, under a descriptor
/// limit of 64 (soft and hard), and closes what connected with SO_LINGER 0:
/// no socket is left in TIME_WAIT on either side.
#[test]
fn connect_scan_fits_few_descriptors_and_leaves_no_time_wait() {
    if !testkit::privileged(
        "connect_scan_fits_few_descriptors_and_leaves_no_time_wait",
        &["ip", "python3", "ss", "prlimit"],
    ) {
        return;
    }
    let open = ["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:443", "tcp4:0.0.0.0:999"];
    let lab = Lab::new(71, &open);
    let out = run(lab
        .client
        .exec("prlimit")
        .args(["--nofile=64:64", "--", env!("CARGO_BIN_EXE_portreeve")])
        .args([
            "scan",
            "10.71.0.1",
            "-p",
            "1-1000",
            "--all",
            "--format",
            "json",
        ])
        .env("NO_COLOR", "1"));
    let doc = json(&out);
    assert!(
        !stderr(&out).contains("Too many open files"),
        "{}",
        stderr(&out)
    );
    let states = port_states(&doc, 0);
    assert_eq!(states.len(), 1000, "every port has a state");
    let opened: Vec<u64> = states
        .iter()
        .filter(|(_, s)| s == "open")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(opened, [22, 443, 999]);
    assert!(
        states
            .iter()
            .all(|(p, s)| opened.contains(p) || s == "closed")
    );
    for ns in [&lab.client, &lab.srv] {
        let waiting = stdout(&run(ns.exec("ss").args(["-Htan", "state", "time-wait"])));
        assert_eq!(waiting.trim(), "", "TIME_WAIT in {}", ns.name);
    }
}

/// A Redis server's data, and its count of changes since the last save
/// (every write counts), are the same after `scan --service` as before.
#[test]
fn service_identification_writes_nothing() {
    if !testkit::privileged(
        "service_identification_writes_nothing",
        &["ip", "python3", "redis-server", "redis-cli"],
    ) {
        return;
    }
    let lab = Lab::new(72, &["tcp4:10.72.0.1:8080"]);
    let mut redis = lab
        .srv
        .exec("redis-server")
        .args(support::OPEN_REDIS)
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cli = |args: &[&str]| -> String {
        stdout(&run(lab
            .srv
            .exec("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379"])
            .args(args)))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(&["PING"]).trim() != "PONG" {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    cli(&["SET", "customer:1", "alice"]);
    cli(&["RPUSH", "queue", "a", "b"]);
    let snapshot = || {
        let changes = cli(&["INFO", "persistence"])
            .lines()
            .find(|l| l.starts_with("rdb_changes_since_last_save:"))
            .map(|l| l.trim().to_string())
            .expect("rdb_changes_since_last_save");
        let keyspace = cli(&["INFO", "keyspace"]);
        let keys = cli(&["--no-raw", "KEYS", "*"]);
        (changes, keyspace, keys, cli(&["GET", "customer:1"]))
    };
    let before = snapshot();
    assert_eq!(
        before.0, "rdb_changes_since_last_save:3",
        "the counter sees the test's own writes (one key set, two elements pushed)"
    );
    let doc = json(&lab.client.portreeve(&[
        "scan",
        "10.72.0.1",
        "-p",
        "6379,8080",
        "--service",
        "--format",
        "json",
    ]));
    let after = snapshot();
    let _ = redis.kill();
    let _ = redis.wait();
    let ports = doc["hosts"][0]["ports"].as_array().unwrap();
    let redis_port = ports
        .iter()
        .find(|p| p["port"] == 6379)
        .expect("6379 listed");
    assert_eq!(redis_port["service"]["name"], "redis", "{doc:#}");
    assert_eq!(before, after, "the scan changed Redis");
}

/// The table lists open ports and counts the rest per host ("not shown: N
/// closed") in a footer on standard error, so standard output holds the
/// table only; `--all` lists every port instead.
#[test]
fn table_counts_the_ports_it_does_not_show() {
    if !support::privileged("table_counts_the_ports_it_does_not_show") {
        return;
    }
    let lab = Lab::new(73, &["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:80"]);
    let out = lab.client.portreeve(&["scan", "10.73.0.1", "-p", "1-100"]);
    assert_ok(&out);
    let (table, footer) = (stdout(&out), stderr(&out));
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("10.73.0.1 "))
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(
        table.lines().count(),
        3,
        "standard output is the header and the rows only:\n{table}"
    );
    assert!(
        rows[0].contains("22/tcp") && rows[0].contains("open"),
        "{table}"
    );
    assert!(
        rows[1].contains("80/tcp") && rows[1].contains("open"),
        "{table}"
    );
    assert!(
        footer
            .lines()
            .any(|l| l == "10.73.0.1: not shown: 98 closed"),
        "{footer}"
    );
    assert!(footer.contains("Scanned 100 ports on 1 host"), "{footer}");

    let all = stdout(
        &lab.client
            .portreeve(&["scan", "10.73.0.1", "-p", "1-100", "--all"]),
    );
    assert_eq!(
        all.lines().filter(|l| l.contains("closed")).count(),
        98,
        "{all}"
    );
    assert!(!all.contains("not shown"), "{all}");
}

/// A scan of a host that answers and one that drops everything (waiting
/// out every retry), run so that its standard output is a pipe.
fn answering_and_silent(subnet: u8) -> Lab {
    let lab = Lab::new(subnet, &["tcp4:0.0.0.0:22", "tcp4:0.0.0.0:80"]);
    let silent = format!("10.{subnet}.0.3");
    lab.srv
        .ip(&["addr", "add", &format!("{silent}/32"), "dev", "lo"]);
    lab.client
        .ip(&["route", "add", &silent, "via", &format!("10.{subnet}.0.1")]);
    let out = run(lab.srv.exec("nft").arg(format!(
        "add table inet silent; add chain inet silent input {{ type filter hook input priority 0; }}; add rule inet silent input ip daddr {silent} drop"
    )));
    assert!(out.status.success(), "{}", stderr(&out));
    lab
}

/// `--format jsonl` writes each port as a complete JSON document when its
/// result arrives: the answering host's lines are read while the silent
/// host's probes are still waiting.
#[test]
fn jsonl_lines_are_written_as_results_arrive() {
    if !testkit::privileged(
        "jsonl_lines_are_written_as_results_arrive",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = answering_and_silent(75);
    let mut child = lab
        .client
        .exec(env!("CARGO_BIN_EXE_portreeve"))
        .args(["scan", "10.75.0.1", "10.75.0.3", "-p", "22,80,81"])
        .args(["--format", "jsonl", "--all", "--max-retries", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let doc: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON document ({e}): {line}"));
        lines.push((start.elapsed(), doc));
    }
    let ended = start.elapsed();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.len(), 6, "{lines:?}");
    let answered: Vec<&(Duration, Value)> = lines
        .iter()
        .filter(|(_, d)| d["address"] == "10.75.0.1")
        .collect();
    assert_eq!(answered.len(), 3, "{lines:?}");
    let last_answered = answered.iter().map(|(t, _)| *t).max().unwrap();
    assert!(
        ended - last_answered > Duration::from_millis(500),
        "the answering host's lines came at {last_answered:?}, the scan ended at {ended:?}: not streamed"
    );
    assert!(
        lines
            .iter()
            .filter(|(_, d)| d["address"] == "10.75.0.3")
            .all(|(_, d)| d["state"] == "filtered"),
        "{lines:?}"
    );
}

/// The progress bar is drawn on standard error when it is a terminal
/// (`script` gives the scan a pseudo-terminal), and never into a pipe.
#[test]
fn progress_bar_only_on_a_terminal() {
    if !testkit::privileged(
        "progress_bar_only_on_a_terminal",
        &["ip", "python3", "nft", "script"],
    ) {
        return;
    }
    let lab = answering_and_silent(76);
    let scan = format!(
        "ip netns exec {} {} scan 10.76.0.1 10.76.0.3 -p 22,80,81 --format json",
        lab.client.name,
        env!("CARGO_BIN_EXE_portreeve")
    );
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("scan.json");
    let on_terminal = run(Command::new("script").args([
        "-qfec",
        &format!("{scan} > {}", document.display()),
        "/dev/null",
    ]));
    assert_ok(&on_terminal);
    let drawn = stdout(&on_terminal);
    assert!(
        drawn.contains("/6 ports"),
        "no progress bar on a terminal: {drawn:?}"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&document).unwrap()).unwrap();
    assert_eq!(doc["kind"], "portreeve.scan", "the bar stays off stdout");

    let piped = run(Command::new("sh").args(["-c", &scan]));
    assert_ok(&piped);
    assert!(
        !stderr(&piped).contains("ports"),
        "bar in a pipe: {}",
        stderr(&piped)
    );
}

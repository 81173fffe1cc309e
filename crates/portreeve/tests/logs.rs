//! What reaches a log: on systemd's journal stream (standard error is the
//! file `$JOURNAL_STREAM` names, device and inode) every line carries its
//! syslog priority as `<N>` and neither colour nor a timestamp; the same
//! variable naming another file changes nothing. And no log line shows
//! Rust's debug shapes (`Some(…)`, `Totals { … }`).

mod support;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::{Home, Netns, portreeve, sample, start_agent, wait_for};

/// nmap XML with a host that was down: importing it logs a warning that
/// the host is left out.
const DOWN_HOST: &str = r#"<?xml version="1.0"?>
<nmaprun scanner="nmap" version="7.93" start="1700000000">
<scaninfo type="syn" protocol="tcp" numservices="1" services="22"/>
<host><status state="down" reason="no-response"/>
<address addr="192.0.2.1" addrtype="ipv4"/>
</host>
<runstats><finished time="1700000001"/></runstats>
</nmaprun>
"#;

/// `scan --import` of [`DOWN_HOST`] with its report (a JSON document,
/// written even for no host) written to `/dev/full`: a warning (the host
/// left out), then an error (the report was lost). Standard error goes to a file; `journal_stream` gives
/// `$JOURNAL_STREAM` the file's device and inode, else those of another
/// file. Returns what was logged.
fn import_to_full_disk(home: &Home, journal_stream: bool) -> String {
    let xml = home.file("down.xml", DOWN_HOST);
    let log = home.path().join("stderr.log");
    let stderr = File::create(&log).unwrap();
    let named = if journal_stream { log.as_path() } else { &xml };
    let status = portreeve()
        .args(["scan", "--format", "json", "--import"])
        .arg(&xml)
        .env("JOURNAL_STREAM", device_and_inode(named))
        .stdout(File::create("/dev/full").unwrap())
        .stderr(Stdio::from(stderr))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "the lost report is an error");
    std::fs::read_to_string(&log).unwrap()
}

/// `DEVICE:INODE` of `path`, as systemd writes `$JOURNAL_STREAM`.
fn device_and_inode(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap();
    format!("{}:{}", meta.dev(), meta.ino())
}

#[test]
fn on_the_journal_stream_each_line_carries_its_priority() {
    let home = Home::new();
    let log = import_to_full_disk(&home, true);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4>") && l.contains("not imported")),
        "the warning at priority 4: {log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<3>portreeve: error: standard output")),
        "the error at priority 3: {log}"
    );
    for line in &lines {
        let priority = line.get(..3).unwrap_or_default();
        assert!(
            ["<3>", "<4>"].contains(&priority),
            "a line without its priority: {line:?}"
        );
        assert!(!line.contains('\u{1b}'), "colour: {line:?}");
        assert!(
            !line.contains("WARN") && !line.contains("ERROR"),
            "a level word the prefix already says: {line:?}"
        );
        assert!(
            !has_clock_time(line),
            "a timestamp the journal adds itself: {line:?}"
        );
    }
}

#[test]
fn a_journal_stream_naming_another_file_keeps_the_usual_format() {
    let home = Home::new();
    let log = import_to_full_disk(&home, false);
    assert!(!log.contains("<4>") && !log.contains("<3>"), "{log}");
    let warning = log
        .lines()
        .find(|l| l.contains("not imported"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    let event: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(event["level"], "WARN", "{warning}");
    assert!(
        event["timestamp"].is_string() && has_clock_time(warning),
        "{warning}"
    );
}

#[test]
fn log_format_journal_is_chosen_without_the_stream() {
    let home = Home::new();
    let xml = home.file("down.xml", DOWN_HOST);
    let out = support::run(
        portreeve()
            .args(["--log-format", "journal", "scan", "--import"])
            .arg(&xml)
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null()),
    );
    support::assert_ok(&out);
    let log = support::stderr(&out);
    assert!(
        log.starts_with("<4>") && log.contains("not imported"),
        "{log}"
    );
}

/// Whether `line` holds a time of day (`HH:MM:SS`), as every timestamp
/// the usual formats write does.
fn has_clock_time(line: &str) -> bool {
    line.as_bytes().windows(8).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            2 | 5 => *b == b':',
            _ => b.is_ascii_digit(),
        })
    })
}

/// The agent's own lines say values in words: where it serves metrics
/// (not `Some("http://…")`), what its flow sockets did (not `Totals {
/// datagrams: 0, … }`), and a drifted listener's owners (`none` for one
/// that had none, not `None`).
#[test]
fn the_agent_logs_values_in_words() {
    if !support::privileged("the_agent_logs_values_in_words") {
        return;
    }
    let srv = Netns::bare();
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&srv, state.path(), &["--no-conntrack"]);
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_listeners").filter(|&n| n >= 1.0)
    });
    let _web = srv.listen(&["tcp4:0.0.0.0:7070"], 0);
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_drift_events_total{kind=\"new_listener\"}").filter(|&n| n >= 1.0)
    });
    let log = agent.stop();
    for shape in ["Some(", "None", " { ", "[", "Duration"] {
        assert!(!log.contains(shape), "{shape:?} in the log: {log}");
    }
    let field = |message: &str, name: &str| -> String {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {log}"))["fields"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {message:?}: {log}"))
            .to_string()
    };
    assert_eq!(
        field("agent started", "metrics"),
        format!("http://{}/metrics", support::METRICS)
    );
    assert_eq!(field("agent started", "interval"), "500ms");
    assert_eq!(field("agent started", "flows"), "none");
    assert_eq!(
        field("agent stopped", "flows"),
        "0 datagrams, 0 decoded, 0 dropped, 0 flow records (0 not TCP or UDP)"
    );
    assert_eq!(field("listener drift", "old_owner"), "none");
    assert!(
        field("listener drift", "new_owner").contains("python3"),
        "{log}"
    );
}

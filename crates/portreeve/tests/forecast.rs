//! `predict` and `anomalies` end to end on a generated events file: an
//! office-hours port and a nightly job over five weeks, one night of the
//! job a burst. The office-hours pattern is named and predicts nothing on
//! a Saturday and use from a Sunday; the burst, and nothing else, is
//! reported with its expected range; a bad line exits 2 and is located.

mod support;

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;
use support::{Home, assert_exit, assert_matches_schema, assert_ok, stdout};

/// 2026-01-05, a Monday: the first day of the events.
const FIRST_DAY: &str = "2026-01-05";
/// Weeks of events.
const WEEKS: i64 = 5;
/// The day of the burst: Wednesday 2026-02-04.
const BURST_DAY: i64 = 30;

/// Events: tcp/443 gets 6 connections every hour 09–16 on weekdays,
/// udp/514 20 at 02:00 every night and 400 on [`BURST_DAY`].
fn events() -> String {
    let first: jiff::civil::Date = FIRST_DAY.parse().unwrap();
    let mut lines = String::new();
    for day in 0..WEEKS * 7 {
        let date = first.checked_add(jiff::Span::new().days(day)).unwrap();
        let nightly = if day == BURST_DAY { 400 } else { 20 };
        lines.push_str(&format!(
            "{{\"time\": \"{date}T02:07:00Z\", \"protocol\": \"udp\", \"port\": 514, \"count\": {nightly}}}\n"
        ));
        if day % 7 < 5 {
            for hour in 9..17 {
                lines.push_str(&format!(
                    "{{\"time\": \"{date}T{hour:02}:10:00Z\", \"protocol\": \"tcp\", \"port\": 443, \"count\": 6}}\n"
                ));
            }
        }
    }
    lines
}

fn json(home: &Home, args: &[&str]) -> Value {
    let out = home.run(args);
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The record of `port` in a predict document.
fn port(doc: &Value, port: u64) -> &Value {
    doc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == port)
        .unwrap_or_else(|| panic!("no port {port} in {doc}"))
}

#[test]
fn office_hours_are_named_and_predict_no_weekend_use() {
    let home = Home::new();
    let file = home.file("events.jsonl", events());
    let file = file.to_str().unwrap();
    let saturday = json(
        &home,
        &[
            "predict",
            "--events",
            file,
            "--at",
            "2026-02-07T12:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_matches_schema(&saturday, "docs/schema/predict.v1.json");
    assert_eq!(saturday["until"], "2026-02-08T12:00:00Z");
    let office = port(&saturday, 443);
    assert_eq!(office["pattern"], "office-hours", "{office}");
    assert_eq!(office["expect_use"], false, "{office}");
    assert_eq!(office["last_used"], "2026-02-06T16:00:00Z");
    // Five weeks of weekdays, eight hours of six connections each.
    assert_eq!(office["connections"], 5 * 5 * 8 * 6, "{office}");
    assert_eq!(saturday["events"], file);
    let nightly = port(&saturday, 514);
    assert_eq!(
        (&nightly["pattern"], &nightly["expect_use"]),
        (&"daily".into(), &true.into())
    );

    let sunday = json(
        &home,
        &[
            "predict",
            "--events",
            file,
            "--at",
            "2026-02-08T12:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        port(&sunday, 443)["expect_use"],
        true,
        "Monday morning is within 24 hours"
    );

    let table = home.run(&["predict", "--events", file, "--at", "2026-02-07T12:00:00Z"]);
    assert_ok(&table);
    assert!(
        stdout(&table).contains("used on weekdays in working hours"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn the_burst_and_only_the_burst_is_reported() {
    let home = Home::new();
    let file = home.file("events.jsonl", events());
    let file = file.to_str().unwrap();
    let doc = json(&home, &["anomalies", "--events", file, "--format", "json"]);
    assert_matches_schema(&doc, "docs/schema/anomalies.v1.json");
    let found = doc["anomalies"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{doc}");
    let burst = &found[0];
    assert_eq!(
        (
            &burst["protocol"],
            &burst["port"],
            &burst["start"],
            &burst["kind"]
        ),
        (
            &"udp".into(),
            &514.into(),
            &"2026-02-04T02:00:00Z".into(),
            &"burst".into()
        )
    );
    assert_eq!(burst["observed"], 400);
    assert_eq!(
        burst["expected"],
        serde_json::json!({"low": 20, "high": 45})
    );

    let later = json(
        &home,
        &[
            "anomalies",
            "--events",
            file,
            "--since",
            "2026-02-05",
            "--format",
            "json",
        ],
    );
    assert_eq!(later["anomalies"], serde_json::json!([]));
}

#[test]
fn events_are_read_from_standard_input() {
    let mut child = support::portreeve()
        .args(["anomalies", "--events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(events().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    let table = stdout(&out);
    assert!(
        table.contains("514/udp") && table.contains("burst"),
        "{table}"
    );
}

#[test]
fn a_bad_line_exits_2_and_is_located() {
    let home = Home::new();
    let mut text = events();
    text.insert_str(
        text.find('\n').unwrap() + 1,
        "{\"time\": \"2026-01-05T25:00:00Z\", \"protocol\": \"tcp\", \"port\": 22, \"count\": 1}\n",
    );
    let file = home.file("events.jsonl", text);
    for command in ["predict", "anomalies"] {
        let out = home.run(&[command, "--events", file.to_str().unwrap()]);
        assert_exit(&out, 2, "events.jsonl:2: not an event");
        assert_eq!(stdout(&out), "", "{command} wrote output");
    }
}

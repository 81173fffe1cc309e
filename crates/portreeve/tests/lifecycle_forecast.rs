//! `portreeve lifecycle` weighs each port's forecast from the agent's
//! hourly history: a fortnightly job idle for 13 days is active between
//! its runs (dormant by idle time alone), and a port used daily that went
//! silent two days ago is dormant early (active by idle time alone), each
//! with the reason in its `forecast`. The history is written to the state
//! directory's `agent.db` through the store, as the agent writes it; no
//! privileges, no network.

mod support;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{PortKey, Proto};
use portreeve_store::{SqliteStore, Store, UsageUpdate, WriteBatch, hour_of};
use serde_json::Value;
use support::{Home, stderr, stdout};

/// The fortnightly job's port and the port that stopped; nothing listens
/// on either.
const JOB: u16 = 40100;
const STOPPED: u16 = 40200;

fn start_of(hour: i64) -> Timestamp {
    Timestamp::from_second(hour * 3600).unwrap()
}

/// `port` first seen at hour `first` and used with 3 connections at
/// 30 minutes past each hour of `used`, as the agent records it.
fn updates(port: u16, first: i64, used: impl Iterator<Item = i64>) -> Vec<UsageUpdate> {
    let key = PortKey::new(Proto::Tcp, port);
    let mut out = vec![UsageUpdate::seen(key, start_of(first))];
    out.extend(used.map(|hour| UsageUpdate {
        key,
        seen_at: start_of(first),
        last_access: Some(start_of(hour) + SignedDuration::from_mins(30)),
        connections: 3,
        sources: Vec::new(),
    }));
    out
}

/// The row of tcp `port` in a lifecycle document.
fn row(doc: &Value, port: u16) -> &Value {
    doc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["protocol"] == "tcp" && p["key"]["port"] == port)
        .unwrap_or_else(|| panic!("{port}/tcp not listed: {doc:#}"))
}

#[test]
fn lifecycle_keeps_a_periodic_port_between_runs_and_flags_a_stopped_one_early() {
    let home = Home::new();
    let now = hour_of(Timestamp::now());
    // Every 14 days at 02:00 relative to the plan's hour, for eight weeks;
    // the last run 12 days and 22 hours ago.
    let job_first = now - (8 * 7 + 13) * 24;
    let job = updates(JOB, job_first, (0..5).map(|k| job_first + k * 14 * 24 + 2));
    // Every day for four weeks, then silent for the last 52 hours.
    let stopped_first = now - 28 * 24 - 30;
    let stopped = updates(
        STOPPED,
        stopped_first,
        (0..28).map(|d| stopped_first + d * 24 + 2),
    );
    let mut store = SqliteStore::open(&home.state()).unwrap();
    store
        .write(&WriteBatch {
            usage: job.into_iter().chain(stopped).collect(),
            ..WriteBatch::default()
        })
        .unwrap();
    drop(store);

    let out = home.run(&["lifecycle", "--format", "json"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();

    let job = row(&doc, JOB);
    assert_eq!(job["state"], "active", "{job:#}");
    let forecast = &job["forecast"];
    assert_eq!(forecast["pattern"], "periodic", "{job:#}");
    assert_eq!(forecast["cycle_days"], 14);
    assert_eq!(forecast["effect"], "between-runs");
    assert!(
        forecast["why"]
            .as_str()
            .unwrap()
            .starts_with("used every 14 days; between runs: dormant only after 15d"),
        "{forecast:#}"
    );

    let stopped = row(&doc, STOPPED);
    assert_eq!(stopped["state"], "dormant", "{stopped:#}");
    assert_eq!(stopped["forecast"]["pattern"], "stopped");
    assert_eq!(stopped["forecast"]["effect"], "predicted-idle");
    assert!(stopped["forecast"]["probability"].as_f64().unwrap() < 0.05);

    // The table says the same in its FORECAST column.
    let out = home.run(&["lifecycle"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let line = |port: u16| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{port}/tcp ")))
            .unwrap_or_else(|| panic!("{port}/tcp not in\n{table}"))
            .to_string()
    };
    assert!(line(JOB).contains("periodic 14d"), "{table}");
    assert!(line(JOB).ends_with(", between-runs"), "{table}");
    assert!(
        line(STOPPED).ends_with("stopped 2%, predicted-idle"),
        "{table}"
    );
}

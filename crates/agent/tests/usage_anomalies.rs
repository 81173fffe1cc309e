//! The agent raises usage anomalies from the hourly history in its state
//! directory: three weeks of a port's steady use and a burst in the hours
//! that closed last are written to `agent.db` through the store, the agent
//! runs in-process (no privileges: no conntrack, no namespace), and the
//! burst arrives at its ECS sink as a `usage-anomaly` alert, once — a
//! restarted agent does not send it again — and is a PR024 finding in the
//! agent's `portreeve_findings`, before and after the restart. The
//! findings gauge also counts the findings on this host's listeners, so
//! an agent on an empty state directory, run in between, gives the count
//! without the anomaly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use portreeve_agent::Agent;
use portreeve_agent::config::AgentConfig;
use portreeve_agent::usage_anomalies::LAST_JUDGED_FILE;
use portreeve_alerts::EcsConfig;
use portreeve_app::StateDir;
use portreeve_core::{PortKey, Proto};
use portreeve_store::{SqliteStore, Store, UsageUpdate, WriteBatch, hour_of};

/// The port with the history; nothing listens on it.
const PORT: u16 = 40123;

/// The start of `hour`.
fn start_of(hour: i64) -> Timestamp {
    Timestamp::from_second(hour * 3600).unwrap()
}

/// Three weeks of 10 connections an hour, then 500 in the hour before the
/// one under way at `now`.
fn write_history(state: &StateDir, now: Timestamp) {
    let key = PortKey::new(Proto::Tcp, PORT);
    let this_hour = hour_of(now);
    let first = this_hour - 21 * 24;
    let usage = (first..this_hour)
        .map(|hour| UsageUpdate {
            key,
            seen_at: start_of(first),
            last_access: Some(start_of(hour) + SignedDuration::from_mins(30)),
            connections: if hour == this_hour - 1 { 500 } else { 10 },
            sources: Vec::new(),
        })
        .collect();
    let mut store = SqliteStore::open_path(&state.store_file()).unwrap();
    store
        .write(&WriteBatch {
            usage,
            ..WriteBatch::default()
        })
        .unwrap();
    let hours = store.port_hours(None).unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].counts.len(), 21 * 24, "one row an hour");
}

/// A free port on the loopback for the metrics endpoint.
fn free_loopback() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// An agent reading every 100 ms with an ECS file as its alert sink,
/// serving its metrics on `metrics`.
fn config(ecs: &Path, metrics: SocketAddr) -> AgentConfig {
    let mut config = AgentConfig {
        interval: Duration::from_millis(100),
        metrics: Some(metrics),
        conntrack: false,
        ..AgentConfig::default()
    };
    config.response.alerts.ecs.push(EcsConfig {
        path: ecs.to_path_buf(),
        name: None,
        max_bytes: 1 << 20,
        keep: 1,
        queue: 16,
    });
    config
}

/// The ECS documents in `file`.
fn documents(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `portreeve_findings{severity="medium"}` on `metrics`, once it is
/// served.
fn medium_findings(metrics: SocketAddr) -> Option<i64> {
    let mut s = TcpStream::connect(metrics).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply
        .lines()
        .find_map(|l| l.strip_prefix("portreeve_findings{severity=\"medium\"} "))
        .map(|n| n.trim().parse().unwrap())
}

/// Runs the agent until `done` holds of the time it has run, or for 15 s;
/// then (after a reading has been judged) the medium findings it counts.
fn run_agent(
    state: &StateDir,
    config: &AgentConfig,
    done: impl Fn(Duration) -> bool,
) -> Option<i64> {
    let started = Instant::now();
    let address = config.metrics.unwrap();
    let mut medium = None;
    Agent::run(config, state, async {
        while !done(started.elapsed()) && started.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Three intervals: the findings of a reading after `done`.
        tokio::time::sleep(Duration::from_millis(300)).await;
        medium = tokio::task::spawn_blocking(move || medium_findings(address))
            .await
            .unwrap();
    })
    .unwrap();
    medium
}

/// Now, or — in the last minute of an hour or the first 10 seconds — 10
/// seconds into the next hour: the hour that closed last when the agent
/// starts is then the one before `now`'s and settled (the agent waits an
/// interval and 5 s), and no other closes while the test runs.
fn away_from_the_hours_end() -> Timestamp {
    let now = Timestamp::now();
    let into = now.as_second().rem_euclid(3600);
    if (10..3540).contains(&into) {
        return now;
    }
    let wait = (3600 + 10 - into).rem_euclid(3600);
    std::thread::sleep(Duration::from_secs(wait as u64 + 1));
    Timestamp::now()
}

#[test]
fn a_burst_in_the_last_closed_hour_is_alerted_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path());
    let ecs = dir.path().join("alerts.ndjson");
    let now = away_from_the_hours_end();
    write_history(&state, now);
    let agent = config(&ecs, free_loopback());

    let with_burst = run_agent(&state, &agent, |_| !documents(&ecs).is_empty());
    let docs = documents(&ecs);
    assert_eq!(docs.len(), 1, "{docs:#?}");
    let doc = &docs[0];
    assert_eq!(doc["event"]["action"], "usage-anomaly", "{doc:#}");
    assert_eq!(doc["destination"]["port"], PORT);
    assert_eq!(doc["network"]["transport"], "tcp");
    assert_eq!(doc["portreeve"]["anomaly"]["kind"], "burst");
    assert_eq!(doc["portreeve"]["anomaly"]["observed"], 500);
    assert_eq!(
        doc["portreeve"]["anomaly"]["expected"],
        serde_json::json!({ "low": 10, "high": 25 })
    );
    let start: Timestamp = doc["event"]["start"].as_str().unwrap().parse().unwrap();
    let judged = hour_of(start);
    assert_eq!(judged, hour_of(now) - 1, "judged {start}, {now} now");
    let recorded = std::fs::read_to_string(dir.path().join(LAST_JUDGED_FILE)).unwrap();
    assert_eq!(recorded.trim().parse::<i64>().unwrap(), judged);

    // The same host's findings without any history: one medium fewer.
    let empty = tempfile::tempdir().unwrap();
    let without = run_agent(
        &StateDir::open(empty.path()),
        &config(&empty.path().join("alerts.ndjson"), free_loopback()),
        |ran| ran >= Duration::from_secs(1),
    )
    .expect("the control agent counts its findings");
    assert_eq!(
        with_burst,
        Some(without + 1),
        "the burst is a medium PR024 finding"
    );

    // Restarted: the hour was judged, nothing is sent again, but the
    // finding is back.
    let restarted = run_agent(&state, &agent, |ran| ran >= Duration::from_secs(3));
    assert_eq!(documents(&ecs).len(), 1, "{:#?}", documents(&ecs));
    assert_eq!(
        restarted,
        Some(without + 1),
        "the finding outlives a restart"
    );
}

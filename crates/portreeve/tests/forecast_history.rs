//! `predict` and `anomalies` from the agent's hourly history: the agent
//! runs in a server namespace linked to a client namespace, counts the
//! client's real connections from conntrack, and `portreeve predict
//! --state-dir DIR --format json` lists the port with this hour's
//! connections — still after the agent restarts and counts more — and a
//! listening port nobody used as unused. Without history, both commands
//! say so and exit 2. Nothing leaves the namespaces.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Home, Netns, assert_exit, assert_matches_schema, run, sample, start_agent, stderr, stdout,
    testkit, wait_for,
};

/// Opens `times` TCP connections from `client` to `to`.
fn connect(client: &Netns, to: &str, times: usize) {
    let to: SocketAddr = to.parse().unwrap();
    client.run(|| {
        for _ in 0..times {
            TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
        }
    });
}

/// `predict --format json` from the agent's history, checked against its
/// schema.
fn predict(home: &Home) -> Value {
    let out = home.run(&["predict", "--format", "json"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/predict.v1.json");
    doc
}

/// The record of tcp `port` in a predict document, if listed.
fn tcp_port(doc: &Value, port: u16) -> Option<&Value> {
    doc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["protocol"] == "tcp" && p["port"] == port)
}

/// Polls `predict` until tcp `port` shows `connections`, for up to 10 s
/// (the agent stores what it counted once per reading).
fn predict_until(home: &Home, port: u16, connections: u64) -> Value {
    let started = Instant::now();
    loop {
        let doc = predict(home);
        if tcp_port(&doc, port).is_some_and(|p| p["connections"] == connections) {
            return doc;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{doc:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The start of the UTC hour `t` falls in, as the documents write it.
fn hour_start(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second().div_euclid(3600) * 3600)
        .unwrap()
        .to_string()
}

/// Waits for the agent's first reading.
fn first_reading(srv: &Netns) {
    wait_for(srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });
}

#[test]
fn predict_reads_the_connections_the_agent_counted_per_hour() {
    let test = "predict_reads_the_connections_the_agent_counted_per_hour";
    if !testkit::privileged(test, &["ip", "python3", "nft"]) {
        return;
    }
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.213.0.1/24", "10.213.0.2/24");
    // A stateful rule makes conntrack follow this namespace's flows.
    let nft = run(srv.exec("nft").args([
        "add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state new counter",
    ]));
    assert!(nft.status.success(), "{}{}", stdout(&nft), stderr(&nft));
    let _listeners = srv.listen(&["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:7071"], 0);
    let home = Home::new();
    let mut agent = start_agent(&srv, &home.state(), &[]);
    first_reading(&srv);

    let before = jiff::Timestamp::now();
    connect(&client, "10.213.0.1:7070", 3);
    let doc = predict_until(&home, 7070, 3);
    let after = jiff::Timestamp::now();
    assert_eq!(doc["events"], "agent history", "{doc:#}");
    let used = tcp_port(&doc, 7070).unwrap();
    // Counted in the hour of the connections (two, should one end meanwhile).
    let hours = [hour_start(before), hour_start(after)];
    assert!(
        hours.iter().any(|h| used["last_used"] == h.as_str()),
        "{used:#} in {hours:?}"
    );
    assert_ne!(used["pattern"], "unused", "{used:#}");
    // Predicted from the end of the hour under way, which counts.
    let end_of_hour = jiff::Timestamp::from_second((after.as_second().div_euclid(3600) + 1) * 3600)
        .unwrap()
        .to_string();
    assert!(
        doc["at"] == end_of_hour.as_str() || doc["at"] == hours[1].as_str(),
        "{doc:#}"
    );
    // Seen listening, never used: listed, zero-filled, unused.
    let idle = tcp_port(&doc, 7071).unwrap_or_else(|| panic!("7071 missing: {doc:#}"));
    assert_eq!(
        (&idle["connections"], &idle["pattern"], &idle["last_used"]),
        (&0.into(), &"unused".into(), &Value::Null),
        "{idle:#}"
    );

    // Anomalies read the same history: under a week of it judges nothing.
    let out = home.run(&["anomalies", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let anomalies: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&anomalies, "docs/schema/anomalies.v1.json");
    assert_eq!(anomalies["events"], "agent history");
    assert_eq!(
        anomalies["anomalies"],
        serde_json::json!([]),
        "{anomalies:#}"
    );

    // Restarted, the agent adds to the hours it kept.
    agent.stop();
    let mut again = start_agent(&srv, &home.state(), &[]);
    first_reading(&srv);
    connect(&client, "10.213.0.1:7070", 2);
    predict_until(&home, 7070, 5);
    again.stop();

    let table = home.run(&["predict"]);
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(
        stdout(&table).contains("7070/tcp") && stderr(&table).contains("judged from agent history"),
        "{}{}",
        stdout(&table),
        stderr(&table)
    );
}

#[test]
fn without_history_both_commands_say_so_and_exit_2() {
    let home = Home::new();
    std::fs::create_dir(home.state()).unwrap();
    for command in ["predict", "anomalies"] {
        let out = home.run(&[command, "--format", "json"]);
        assert_exit(&out, 2, "no agent history in ");
        assert!(stderr(&out).contains("--events FILE"), "{}", stderr(&out));
        assert_eq!(stdout(&out), "", "{command} wrote output");
    }
    // Reading made no store.
    assert!(!home.state().join("agent.db").exists());
}

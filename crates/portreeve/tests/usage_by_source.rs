//! `usage --by-source` end to end: the agent runs in a server namespace
//! linked to two client namespaces, counts each client's new connections
//! from conntrack, and `portreeve usage --by-source --format json` lists
//! each client's address with the port it reached and a count that grows.
//! The same from NetFlow records the agent's collector receives on
//! loopback. Nothing leaves the namespaces.

mod support;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use support::usage::{by_source, connections, listing_until};
use support::{Netns, netflow_v5, run, sample, start_agent, stderr, stdout, testkit, wait_for};

/// Opens `times` TCP connections from `client` to `to`.
fn connect(client: &Netns, to: &str, times: usize) {
    let to: SocketAddr = to.parse().unwrap();
    client.run(|| {
        for _ in 0..times {
            TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
        }
    });
}

#[test]
fn usage_by_source_lists_each_client_with_its_port_and_a_growing_count() {
    let test = "usage_by_source_lists_each_client_with_its_port_and_a_growing_count";
    if !testkit::privileged(test, &["ip", "python3", "nft"]) {
        return;
    }
    let (srv, alice, bob) = (Netns::bare(), Netns::bare(), Netns::bare());
    srv.link(&alice, "10.61.0.1/24", "10.61.0.2/24");
    srv.link(&bob, "10.62.0.1/24", "10.62.0.2/24");
    // A stateful rule makes conntrack follow this namespace's flows.
    let nft = run(srv.exec("nft").args([
        "add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state new counter",
    ]));
    assert!(nft.status.success(), "{}{}", stdout(&nft), stderr(&nft));
    let _web = srv.listen(&["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:7071"], 0);
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&srv, state.path(), &[]);
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });

    connect(&alice, "10.61.0.1:7070", 2);
    connect(&bob, "10.62.0.1:7071", 1);
    let doc = listing_until(state.path(), |d| {
        connections(d, "10.61.0.2/32", "tcp", 7070) == Some(2)
            && connections(d, "10.62.0.2/32", "tcp", 7071) == Some(1)
    });
    // Each client only where it connected.
    assert_eq!(
        connections(&doc, "10.61.0.2/32", "tcp", 7071),
        None,
        "{doc:#}"
    );
    assert_eq!(
        connections(&doc, "10.62.0.2/32", "tcp", 7070),
        None,
        "{doc:#}"
    );
    assert_eq!(doc["folded"], 0, "{doc:#}");

    // The count grows with new connections.
    connect(&alice, "10.61.0.1:7070", 3);
    listing_until(state.path(), |d| {
        connections(d, "10.61.0.2/32", "tcp", 7070) == Some(5)
    });

    // --since keeps what was seen in the window: nothing in the future.
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let none = by_source(state.path(), &["--since", &later]);
    assert_eq!(none["sources"], serde_json::json!([]), "{none:#}");

    // The table names each client and port.
    let table = run(support::portreeve().args([
        "--state-dir",
        state.path().to_str().unwrap(),
        "usage",
        "--by-source",
    ]));
    let text = stdout(&table);
    assert!(
        text.lines()
            .any(|l| l.starts_with("7070/tcp") && l.contains("10.61.0.2/32")),
        "{text}"
    );
    agent.stop();
}

#[test]
fn usage_by_source_counts_flow_records_of_connections_to_listening_local_ports() {
    let test = "usage_by_source_counts_flow_records_of_connections_to_listening_local_ports";
    if !testkit::privileged(test, &["ip", "python3"]) {
        return;
    }
    let ns = Netns::bare();
    let _web = ns.listen(&["tcp4:0.0.0.0:8080"], 0);
    let state = tempfile::tempdir().unwrap();
    let collector = "127.0.0.1:2055";
    let mut agent = start_agent(
        &ns,
        state.path(),
        &["--no-conntrack", "--netflow", collector],
    );
    wait_for(&ns, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });
    let (client, local) = ([127, 0, 0, 9], [127, 0, 0, 1]);
    let send = |flows: &[support::V5Flow]| {
        ns.run(|| {
            let exporter = UdpSocket::bind("127.0.0.1:0").unwrap();
            exporter.send_to(&netflow_v5(flows), collector).unwrap();
        })
    };
    send(&[
        // A connection to the listening 8080: the request counts, its reply does not.
        (client, 50000, local, 8080),
        (local, 8080, client, 50000),
        // 8081 does not listen here: a refused probe is no use.
        (client, 50001, local, 8081),
        // Another host's server (only named in the record): not this host's use.
        (client, 50002, [192, 0, 2, 80], 8080),
    ]);
    let doc = listing_until(state.path(), |d| {
        connections(d, "127.0.0.9/32", "tcp", 8080) == Some(1)
    });
    assert_eq!(doc["sources"].as_array().unwrap().len(), 1, "{doc:#}");
    send(&[(client, 50003, local, 8080), (client, 50004, local, 8080)]);
    listing_until(state.path(), |d| {
        connections(d, "127.0.0.9/32", "tcp", 8080) == Some(3)
    });
    agent.stop();
    // The flow records fed the port's usage too.
    let usage = run(support::portreeve().args([
        "--state-dir",
        state.path().to_str().unwrap(),
        "lifecycle",
        "--format",
        "json",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&usage)).unwrap();
    let port = doc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"]["port"] == 8080)
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(!port["last_access"].is_null(), "{port:#}");
}

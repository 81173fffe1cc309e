//! Agents joining a fleet server, end to end: the real `portreeve server`
//! in one network namespace, three real agents in three others, each
//! linked to the server's namespace by a veth pair and pushing over it.
//! Each agent enrolls with one use of a shared `--uses 3` enroll token;
//! the server must list each host with exactly its own listeners, see a
//! new one within 5 s, and receive every drift event once across a
//! server outage and restart. Run on SQLite, then on PostgreSQL where the
//! local cluster answers.

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fleet_server::{RunningServer, TestDatabase, create_token, on_each_database};
use support::{Daemon, Home, Netns, agent_command, assert_exit, metrics, sample, testkit};

/// The port the server listens on inside its namespace: fixed, so that
/// the agents find it again after a restart.
const SERVER_PORT: u16 = 8440;
/// The port every agent's metrics endpoint holds in its namespace.
const METRICS_PORT: u16 = 9465;

/// One agent: its namespace, its state, its own listeners and the agent.
struct Agent {
    name: String,
    ns: Netns,
    home: Home,
    _listeners: testkit::Listeners,
    /// `(protocol, address, port)` of the listeners it was started with.
    own: BTreeSet<(String, String, u16)>,
    daemon: Daemon,
}

/// What the server lists of a host's listeners: `(protocol, address, port)`.
fn listed(host: &Value) -> BTreeSet<(String, String, u16)> {
    host["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["protocol"].as_str().unwrap().to_string(),
                l["address"].as_str().unwrap().to_string(),
                l["port"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

/// Polls `GET /api/v1/hosts` until `want` finds what it needs in the
/// list, for at most `limit`; returns it and how long it took.
fn until_hosts<T>(
    server: &RunningServer,
    viewer: &str,
    limit: Duration,
    mut want: impl FnMut(&[Value]) -> Option<T>,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        let (status, _, hosts) = server.get("/api/v1/hosts", Some(viewer));
        assert_eq!(status, 200, "{hosts}");
        if let Some(found) = want(hosts.as_array().unwrap()) {
            return (found, start.elapsed());
        }
        assert!(
            start.elapsed() < limit,
            "not seen within {limit:?}: {hosts:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host named `name` in a list.
fn host<'a>(hosts: &'a [Value], name: &str) -> Option<&'a Value> {
    hosts.iter().find(|h| h["name"] == name)
}

/// The drift events of port `port` the server holds for host `id`, as
/// their kinds.
fn drift_of(server: &RunningServer, viewer: &str, id: &str, port: u16) -> Vec<String> {
    let (status, _, detail) = server.get(&format!("/api/v1/hosts/{id}"), Some(viewer));
    assert_eq!(status, 200, "{detail}");
    let mut kinds: Vec<String> = detail["drift"]
        .as_array()
        .unwrap_or_else(|| panic!("no drift in {detail:#}"))
        .iter()
        .filter(|d| d["port"] == port)
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
}

#[test]
fn three_agents_report_their_own_listeners_and_outlast_a_server_outage() {
    on_each_database(
        "three_agents_report_their_own_listeners_and_outlast_a_server_outage",
        three_agents,
    );
}

fn three_agents(home: &Home, db: &TestDatabase) {
    let enroll = create_token(home, db, &["--role", "enroll", "--uses", "3"]);
    let viewer = create_token(home, db, &["--role", "viewer"]);
    let server_ns = Netns::bare();
    let mut agents = Vec::new();
    for i in 1..=3u16 {
        let ns = Netns::bare();
        server_ns.link(&ns, &format!("10.71.{i}.1/24"), &format!("10.71.{i}.2/24"));
        let (tcp, udp) = (7000 + i, 5300 + i);
        let listeners = ns.listen(
            &[
                &format!("tcp4:0.0.0.0:{tcp}"),
                &format!("udp4:127.0.0.1:{udp}"),
            ],
            0,
        );
        let mut own: BTreeSet<(String, String, u16)> = [
            ("tcp".to_string(), "0.0.0.0".to_string(), tcp),
            ("udp".into(), "127.0.0.1".into(), udp),
        ]
        .into();
        own.insert(("tcp".into(), "127.0.0.1".into(), METRICS_PORT));
        let agent_home = Home::new();
        let name = format!("agent-{i}");
        let url = format!("http://10.71.{i}.1:{SERVER_PORT}");
        let daemon = Daemon(
            agent_command(
                &ns,
                &agent_home.state(),
                &[
                    "--no-conntrack",
                    "--server",
                    &url,
                    "--enroll-token",
                    &enroll,
                    "--host-name",
                    &name,
                ],
            )
            .spawn()
            .unwrap(),
        );
        agents.push(Agent {
            name,
            ns,
            home: agent_home,
            _listeners: listeners,
            own,
            daemon,
        });
    }
    let listen = format!("0.0.0.0:{SERVER_PORT}");
    let server = RunningServer::start_in(home, db, server_ns, &listen);

    // Each host, enrolled with its use of the token, with exactly its own
    // listeners.
    let (ids, took) = until_hosts(&server, &viewer, Duration::from_secs(20), |hosts| {
        let mut ids = Vec::new();
        for agent in &agents {
            let h = host(hosts, &agent.name)?;
            (listed(h) == agent.own).then_some(())?;
            ids.push(h["id"].as_str()?.to_string());
        }
        (hosts.len() == 3).then_some(ids)
    });
    eprintln!("three hosts listed with their listeners after {took:?}");
    // The agents' findings arrive with the remediation each agent's own
    // check gave them.
    let (status, _, findings) = server.get("/api/v1/findings", Some(&viewer));
    assert_eq!(status, 200, "{findings}");
    let findings = findings.as_array().unwrap();
    assert!(!findings.is_empty(), "no agent pushed a finding");
    for f in findings {
        assert!(
            f["remediation"].as_str().is_some_and(|r| !r.is_empty()),
            "a finding without its remediation: {f}"
        );
    }

    // A new listener reaches the server within 5 s.
    let first = &agents[0];
    let added = first.ns.listen(&["tcp4:0.0.0.0:7501"], 0);
    let (_, took) = until_hosts(&server, &viewer, Duration::from_secs(5), |hosts| {
        listed(host(hosts, &first.name)?)
            .contains(&("tcp".into(), "0.0.0.0".into(), 7501))
            .then_some(())
    });
    eprintln!("a new listener reached the server after {took:?}");
    drop(added);

    // The server down while a listener comes and goes on the second host:
    // both drift events arrive once the server is back, once each.
    let second = &agents[1];
    let server_ns = server.stop();
    let brief = second.ns.listen(&["tcp4:0.0.0.0:7601"], 0);
    std::thread::sleep(Duration::from_millis(1500));
    drop(brief);
    std::thread::sleep(Duration::from_millis(1500));
    let waiting = metrics(&second.ns).expect("the agent's metrics");
    assert!(
        sample(&waiting, "portreeve_fleet_outbox_pushes").unwrap() >= 1.0,
        "nothing waits in the outbox while the server is down: {waiting}"
    );
    assert!(
        sample(&waiting, "portreeve_fleet_pushes_total{result=\"failed\"}").unwrap() >= 1.0,
        "{waiting}"
    );
    let server = RunningServer::start_in(home, db, server_ns, &listen);
    let deadline = Instant::now() + Duration::from_secs(40);
    while drift_of(&server, &viewer, &ids[1], 7601).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the outage's drift never arrived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the agent deliver anything else it had, then look again.
    let deadline = Instant::now() + Duration::from_secs(40);
    while sample(
        &metrics(&second.ns).unwrap(),
        "portreeve_fleet_outbox_pushes",
    ) != Some(0.0)
    {
        assert!(Instant::now() < deadline, "the outbox never emptied");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        drift_of(&server, &viewer, &ids[1], 7601),
        ["listener_gone", "new_listener"]
    );
    assert_eq!(
        drift_of(&server, &viewer, &ids[0], 7501),
        ["listener_gone", "new_listener"]
    );

    // A restart keeps every host, its listeners and its drift.
    let before = until_hosts(&server, &viewer, Duration::from_secs(10), |hosts| {
        Some(hosts.to_vec())
    })
    .0;
    let server = RunningServer::start_in(home, db, server.stop(), &listen);
    let (_, _, after) = server.get("/api/v1/hosts", Some(&viewer));
    let after = after.as_array().unwrap();
    assert_eq!(after.len(), 3);
    for (b, a) in before.iter().zip(after) {
        assert_eq!((&b["id"], &b["name"]), (&a["id"], &a["name"]));
        assert_eq!(listed(b), listed(a));
    }
    assert_eq!(drift_of(&server, &viewer, &ids[1], 7601).len(), 2);

    // A later start uses the enrollment it kept: another token (this one
    // unknown to the server) is ignored, and the same host goes on.
    let third = &mut agents[2];
    let log = third.daemon.stop();
    assert!(
        !log.contains(&enroll[4..]),
        "the enroll token is logged: {log}"
    );
    third.daemon = Daemon(
        agent_command(
            &third.ns,
            &third.home.state(),
            &[
                "--no-conntrack",
                "--server",
                &format!("http://10.71.3.1:{SERVER_PORT}"),
                "--enroll-token",
                &format!("prt_{}", "0".repeat(64)),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let _later = third.ns.listen(&["tcp4:0.0.0.0:7701"], 0);
    let third = &agents[2];
    until_hosts(&server, &viewer, Duration::from_secs(10), |hosts| {
        let h = host(hosts, &third.name)?;
        (hosts.len() == 3
            && h["id"] == ids[2].as_str()
            && listed(h).contains(&("tcp".into(), "0.0.0.0".into(), 7701)))
        .then_some(())
    });

    for mut agent in agents {
        let log = agent.daemon.stop();
        assert!(
            !log.contains(&enroll[4..]),
            "the enroll token is logged: {log}"
        );
    }
    server.stop();
}

/// Settings that cannot work are refused before the agent starts: no key
/// made, nothing enrolled.
#[test]
fn bad_server_settings_exit_2_before_anything_starts() {
    let home = Home::new();
    for (args, says) in [
        (
            &["agent", "--server", "fleet:8440"][..],
            "--server `fleet:8440` is not an http:// or https:// URL",
        ),
        (
            &["agent", "--enroll-token", "prt_x"][..],
            "--enroll-token and --host-name need a server",
        ),
        (
            &[
                "agent",
                "--server",
                "http://127.0.0.1:9",
                "--host-name",
                " ",
            ][..],
            "--host-name must not be empty",
        ),
        (
            &["agent", "--server", "http://127.0.0.1:9"][..],
            "not enrolled with http://127.0.0.1:9 yet: give --enroll-token",
        ),
    ] {
        // Bounded, and quiet: were the check missing, an agent would
        // start here and run until killed.
        let out = support::run(
            Command::new("timeout")
                .arg("20")
                .arg(env!("CARGO_BIN_EXE_portreeve"))
                .arg("--state-dir")
                .arg(home.state())
                .args(args)
                .args(["--metrics", "off", "--no-conntrack"]),
        );
        assert_exit(&out, 2, says);
        assert!(!home.state().join("fleet").exists(), "{args:?}");
    }
}

//! Grants and blocks in pushes: stored per host, listed fleet-wide by
//! `GET /api/v1/grants` and `GET /api/v1/blocks`, kept when a push leaves
//! them out, refused (400, nothing written) when malformed. Each test runs
//! on SQLite and on PostgreSQL, as tests/server.rs does.

mod support;

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use portreeve_fleet_protocol::{Push, PushedBlock, PushedGrant};
use serde_json::{Value, json};
use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, on_each_database,
};
use support::{Daemon, Home, Netns, agent_command, assert_ok, testkit};

/// Now, to the second (the server keeps seconds).
fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap()
}

/// An empty push numbered `seq` by `host` carrying `grants` and `blocks`.
fn push(
    host: &SigningHost,
    seq: u64,
    grants: Option<Vec<PushedGrant>>,
    blocks: Option<Vec<PushedBlock>>,
) -> Push {
    Push {
        grants,
        blocks,
        ..host.empty_push(seq)
    }
}

fn grant(source: &str, port: u16, expires: Timestamp) -> PushedGrant {
    PushedGrant {
        source: source.into(),
        protocol: "tcp".into(),
        port,
        expires,
        actor: Some("alice".into()),
        rule: Some("ssh-on-demand".into()),
        reason: Some("deploy".into()),
    }
}

fn block(source: &str, automatic: bool, until: Timestamp) -> PushedBlock {
    PushedBlock {
        source: source.into(),
        automatic,
        until,
        actor: Some(if automatic { "kernel" } else { "bob" }.into()),
        reason: (!automatic).then(|| "scanner".into()),
    }
}

#[test]
fn pushed_grants_and_blocks_are_listed_fleet_wide_and_kept_when_left_out() {
    on_each_database(
        "pushed_grants_and_blocks_are_listed_fleet_wide_and_kept_when_left_out",
        |home, db| {
            let viewer = create_token(home, db, &["--role", "viewer"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "3"]);
            let server = RunningServer::start(home, db);
            let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let db_host = SigningHost::enroll(&server, &enroll, "db-1", 2);
            let hour = now() + SignedDuration::from_hours(1);
            let past = now() - SignedDuration::from_mins(1);

            let first = push(
                &web,
                1,
                Some(vec![
                    grant("192.0.2.7", 22, hour),
                    grant("192.0.2.8", 22, past), // expired: the kernel dropped it
                ]),
                Some(vec![block("198.51.100.0/24", false, hour)]),
            );
            assert_eq!(web.push(&server, &first), (200, json!({"accepted": true})));
            let other = push(
                &db_host,
                1,
                None,
                Some(vec![block("2001:db8::66", true, hour)]),
            );
            assert_eq!(db_host.push(&server, &other).0, 200);

            let expected_grants = json!([{
                "host_id": web.id, "host_name": "web-1", "source": "192.0.2.7",
                "protocol": "tcp", "port": 22, "expires": hour.to_string(),
                "actor": "alice", "rule": "ssh-on-demand", "reason": "deploy"}]);
            let expected_blocks = json!([
                {"host_id": db_host.id, "host_name": "db-1", "source": "2001:db8::66",
                 "automatic": true, "until": hour.to_string(), "actor": "kernel", "reason": null},
                {"host_id": web.id, "host_name": "web-1", "source": "198.51.100.0/24",
                 "automatic": false, "until": hour.to_string(), "actor": "bob", "reason": "scanner"}]);
            let read = |path: &str| {
                let (status, _, body) = server.get(path, Some(&viewer));
                assert_eq!(status, 200, "{path}: {body}");
                body
            };
            assert_eq!(read("/api/v1/grants"), expected_grants);
            assert_eq!(read("/api/v1/blocks"), expected_blocks);

            // Left out: kept as they were.
            assert_eq!(web.push(&server, &push(&web, 2, None, None)).0, 200);
            assert_eq!(read("/api/v1/grants"), expected_grants);
            assert_eq!(read("/api/v1/blocks"), expected_blocks);

            // An empty list: none any more; the other list kept.
            assert_eq!(web.push(&server, &push(&web, 3, Some(vec![]), None)).0, 200);
            assert_eq!(read("/api/v1/grants"), json!([]));
            assert_eq!(read("/api/v1/blocks"), expected_blocks);
            assert_eq!(db.query("SELECT COUNT(*) FROM host_grants"), "0\n");

            assert_eq!(server.get("/api/v1/blocks", None).0, 401);
            assert_eq!(server.get("/api/v1/grants", Some(&enroll)).0, 403);
            server.stop();
        },
    );
}

#[test]
fn malformed_grants_and_blocks_are_refused_and_write_nothing() {
    on_each_database(
        "malformed_grants_and_blocks_are_refused_and_write_nothing",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "web-1", 3);
            let hour = now() + SignedDuration::from_hours(1);
            let mut udp_less = grant("192.0.2.7", 22, hour);
            udp_less.protocol = "sctp".into();
            let mut nul = block("192.0.2.9", false, hour);
            nul.reason = Some("a\0b".into());
            for (bad, says) in [
                (
                    push(&host, 1, Some(vec![grant("web.example", 22, hour)]), None),
                    "source `web.example` is not an IP address or network",
                ),
                (
                    push(&host, 1, None, Some(vec![block("10.0.0.0/33", true, hour)])),
                    "source `10.0.0.0/33` has no valid prefix length",
                ),
                (
                    push(&host, 1, Some(vec![udp_less]), None),
                    "grant protocol `sctp` is neither tcp nor udp",
                ),
                (push(&host, 1, None, Some(vec![nul])), "NUL"),
            ] {
                let (status, body) = host.push(&server, &bad);
                assert_eq!(status, 400, "{says}: {body}");
                let message = body["error"]["message"].as_str().unwrap();
                assert!(message.contains(says), "{says}: {body}");
            }
            server.stop();
            assert_eq!(db.query("SELECT COUNT(*) FROM host_grants"), "0\n");
            assert_eq!(db.query("SELECT COUNT(*) FROM host_blocks"), "0\n");
            assert_eq!(
                db.query("SELECT COUNT(*) FROM hosts WHERE last_seq IS NULL"),
                "1\n"
            );
        },
    );
}

/// Polls `GET /api/v1/blocks` until `want` holds of the rows, for at most
/// 20 s; how long it took.
fn until_blocks(server: &RunningServer, viewer: &str, want: impl Fn(&[Value]) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let (status, _, rows) = server.get("/api/v1/blocks", Some(viewer));
        assert_eq!(status, 200, "{rows}");
        if want(rows.as_array().unwrap()) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the blocks listed stayed {rows}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_agent_pushes_the_blocks_its_firewall_holds() {
    const TEST: &str = "an_agent_pushes_the_blocks_its_firewall_holds";
    if !testkit::privileged(TEST, &["ip", "nft"]) {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let enroll = create_token(&home, &db, &["--role", "enroll"]);
    let viewer = create_token(&home, &db, &["--role", "viewer"]);
    let (server_ns, agent_ns) = (Netns::bare(), Netns::bare());
    server_ns.link(&agent_ns, "10.74.1.1/24", "10.74.1.2/24");
    let server = RunningServer::start_in(&home, &db, server_ns, "0.0.0.0:8440");

    // The agent's host: a firewall applied, then a source blocked by hand
    // (a documentation address: a rule, no traffic).
    let agent_home = Home::new();
    let policy = agent_home.file(
        "policy.toml",
        "[zones]\nfleet = [\"10.74.1.0/24\"]\nmgmt = [\"10.74.1.8/29\"]\n\
         [enforce]\nmanagement_zone = \"mgmt\"\n[detection]\nmax_block_ttl = \"1h\"\n\
         [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n",
    );
    assert_ok(&agent_home.run_in(&agent_ns, &["apply", "--policy", policy.to_str().unwrap()]));
    let block = ["block", "192.0.2.77", "--ttl", "10m", "--reason", "scanner"];
    assert_ok(&agent_home.run_in(&agent_ns, &block));
    let config = agent_home.file(
        "agent.toml",
        "[server]\nurl = \"http://10.74.1.1:8440\"\nhost_name = \"edge-1\"\npush_interval = \"60s\"\n",
    );
    let mut agent = Daemon(
        agent_command(
            &agent_ns,
            &agent_home.state(),
            &[
                "--no-conntrack",
                "--config",
                config.to_str().unwrap(),
                "--enroll-token",
                &enroll,
            ],
        )
        .spawn()
        .unwrap(),
    );
    let took = until_blocks(&server, &viewer, |rows| {
        rows.len() == 1
            && rows[0]["host_name"] == "edge-1"
            && rows[0]["source"] == "192.0.2.77/32"
            && rows[0]["automatic"] == false
            && rows[0]["reason"] == "scanner"
    });
    eprintln!("the agent's block was listed {took:?} after its start");

    // Lifted on the host: gone from the server with the next read, long
    // before the push interval.
    assert_ok(&agent_home.run_in(&agent_ns, &["unblock", "192.0.2.77", "--reason", "done"]));
    let took = until_blocks(&server, &viewer, <[Value]>::is_empty);
    eprintln!("and its lifting {took:?} after the unblock");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let (_, _, grants) = server.get("/api/v1/grants", Some(&viewer));
    assert_eq!(grants, json!([]), "the firewall holds no grant");
    agent.stop();
    server.stop();
}

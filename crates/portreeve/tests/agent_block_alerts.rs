//! The agent alerts on every change to the blocklist that no detection
//! made — a manual block, its expiry, an unblock — once each, by following
//! the ledger; a restart sends none of them again. The agent runs in a
//! namespace the test creates, with an ECS file and a webhook (a server on
//! that namespace's loopback) as its sinks; no packet leaves it.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use portreeve_testkit::http::{Reply, Server};
use support::{Daemon, Lab, sample, start_agent, testkit, wait_for};

/// The lab's client, blocked and unblocked by hand.
const BLOCKED: &str = "10.119.0.2";

const POLICY: &str = r#"
[zones]
lab = ["10.119.0.0/24"]

[[rule]]
name = "web"
port = 8080
protocol = "tcp"
zones = ["lab"]
"#;

/// The ECS `event.action` of each line of `file`, with the block's target;
/// each line is checked against the ECS field reference on the way.
fn ecs_actions(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|doc| {
            support::ecs::assert_ecs(&doc);
            (
                doc["event"]["action"].as_str().unwrap_or("?").to_owned(),
                doc["portreeve"]["block"]["target"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
            )
        })
        .collect()
}

/// The `event` of each block alert the webhook received.
fn webhook_events(hook: &Server) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
        .map(|body| {
            assert_eq!(body["alert"]["type"], "block", "{body:#}");
            body["alert"]["event"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Starts the agent with `config` and waits for its first reading: its
/// threads, the scan watch among them, are running then.
fn agent(lab: &Lab, config: &Path) -> Daemon {
    let agent = start_agent(
        &lab.srv,
        &lab.home.state(),
        &["--config", config.to_str().unwrap()],
    );
    wait_for(&lab.srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&at| at > 0.0)
    });
    agent
}

/// Waits up to `limit` for the ECS file to hold `n` lines.
fn wait_for_lines(file: &Path, n: usize, limit: Duration, agent: &mut Daemon) {
    let started = Instant::now();
    while ecs_actions(file).len() < n {
        assert!(
            started.elapsed() < limit,
            "{n} alerts not written within {limit:?}: {:?}\nagent: {}",
            ecs_actions(file),
            agent.stop()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn manual_blocks_unblocks_and_expiries_are_alerted_once_each() {
    if !testkit::privileged(
        "manual_blocks_unblocks_and_expiries_are_alerted_once_each",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = Lab::new(119, &["tcp4:0.0.0.0:8080"]);
    let policy = lab.home.file("p.toml", POLICY);
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    let hook = lab
        .srv
        .run(|| Server::start(|_, _| Reply::ok("application/json", "{}")));
    let ecs = lab.home.path().join("alerts.ecs.json");
    // The lifecycle round records expiries; every 500 ms, so the expiry's
    // alert follows the block's end closely.
    let config = lab.home.file(
        "agent.toml",
        format!(
            "lifecycle_interval = \"500ms\"\n\
             [[alerts.ecs]]\npath = {ecs:?}\n\
             [[alerts.webhook]]\nurl = \"{}/alerts\"\nretries = 0\n",
            hook.base_url
        ),
    );
    // A block from before the agent started is history, not an alert.
    lab.ok(&["block", "10.119.0.3", "--ttl", "10m", "--reason", "old"]);
    let mut running = agent(&lab, &config);

    let target = format!("{BLOCKED}/32");
    lab.ok(&["block", BLOCKED, "--ttl", "3s", "--reason", "probing"]);
    wait_for_lines(&ecs, 1, Duration::from_secs(5), &mut running);
    // Its expiry, 3 s on, recorded by the lifecycle round.
    wait_for_lines(&ecs, 2, Duration::from_secs(10), &mut running);
    lab.ok(&["block", BLOCKED, "--ttl", "10m", "--reason", "again"]);
    lab.ok(&["unblock", BLOCKED, "--reason", "cleared"]);
    wait_for_lines(&ecs, 4, Duration::from_secs(5), &mut running);
    // Rounds go by: nothing is sent twice.
    std::thread::sleep(Duration::from_secs(3));
    let expected: Vec<(String, String)> = [
        "source-blocked",
        "block-expired",
        "source-blocked",
        "source-unblocked",
    ]
    .iter()
    .map(|a| (a.to_string(), target.clone()))
    .collect();
    assert_eq!(ecs_actions(&ecs), expected);
    let events = ["block", "expiry", "block", "unblock"];
    let started = Instant::now();
    while webhook_events(&hook).len() < events.len() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(webhook_events(&hook), events);
    let first = std::fs::read_to_string(&ecs).unwrap();
    let doc: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(doc["event"]["reason"], "probing");
    assert_eq!(doc["portreeve"]["block"]["ttl_seconds"], 3);
    running.stop();

    // A restart sends nothing again.
    let mut restarted = agent(&lab, &config);
    std::thread::sleep(Duration::from_secs(3));
    let log = restarted.stop();
    assert_eq!(ecs_actions(&ecs), expected, "after a restart: {log}");
    assert_eq!(webhook_events(&hook), events);
}

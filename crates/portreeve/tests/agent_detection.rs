//! The agent tier of scan detection, end to end: a host namespace that
//! enforces a policy with `[detection] scan = "block"` and runs the agent,
//! a scanner namespace whose scan the kernel tier cannot see — one allowed
//! but closed port on each of six of the host's addresses, slowly: the
//! kernel counts only ports no rule allows — and a benign client beside
//! it. The agent's TRW, over the connection outcomes conntrack reports,
//! blocks the scanner and records the detection (`portreeve detections`);
//! the client that mistypes a port once is neither detected nor blocked.
//! Every packet stays inside the namespaces the test creates.

mod support;

use std::time::{Duration, Instant};

use support::wire::{connect, device_of};
use support::{
    Daemon, Home, Lab, Netns, assert_matches_schema, assert_ok, sample, start_agent, stdout,
    testkit, wait_for,
};

/// The scanner is the lab's client, 10.117.0.2; the host is 10.117.0.1
/// and holds [`TARGETS`] too.
const SCANNER: &str = "10.117.0.2";
/// The host's extra addresses on the scanner's link, one probe each.
const TARGETS: [&str; 6] = [
    "10.117.0.11",
    "10.117.0.12",
    "10.117.0.13",
    "10.117.0.14",
    "10.117.0.15",
    "10.117.0.16",
];
/// The benign client, on a link of its own, and the host's address there.
const CLIENT: &str = "10.117.1.2";
const HOST_FOR_CLIENT: &str = "10.117.1.1";
/// Allowed and listening; allowed and closed.
const WEB: u16 = 8080;
const CLOSED: u16 = 8081;

const POLICY: &str = r#"
[zones]
lab = ["10.117.0.0/16"]
mgmt = ["10.117.9.0/24"]

[enforce]
default_action = "reject"
management_zone = "mgmt"

[detection]
scan = "block"
block_ttl = "10m"

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["mgmt"]

[[rule]]
name = "web"
port = 8080
protocol = "tcp"
zones = ["lab"]

[[rule]]
name = "old-web"
port = 8081
protocol = "tcp"
zones = ["lab"]
"#;

/// A lab on 10.SUBNET.0.0/24 enforcing [`POLICY`] (moved to SUBNET), set
/// up further by `prepare`, with the agent running in its server
/// namespace and a first listener reading taken.
fn lab_with_agent(subnet: u8, prepare: impl FnOnce(&Lab)) -> (Lab, Daemon) {
    let lab = Lab::new(subnet, &["tcp4:0.0.0.0:8080"]);
    prepare(&lab);
    let policy = lab.home.file(
        "p.toml",
        POLICY.replace("10.117.", &format!("10.{subnet}.")),
    );
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    let agent = start_agent(&lab.srv, &lab.home.state(), &[]);
    // Judged against a listener reading: the web port is then a success.
    wait_for(&lab.srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_listeners").filter(|&n| n >= 1.0)
    });
    (lab, agent)
}

/// The detections recorded, once there are `n` (within 10 s).
fn detections(lab: &Lab, agent: &mut Daemon, n: usize) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let doc = lab.json(&["detections", "--format", "json"]);
        if doc["detections"].as_array().unwrap().len() >= n {
            assert_matches_schema(&doc, "docs/schema/detection-log.v1.json");
            return doc;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{n} detections not recorded: {doc:#}\n{}",
            agent.stop()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_slow_horizontal_scan_is_blocked_by_the_agent_and_a_mistyped_port_is_not() {
    if !testkit::privileged(
        "a_slow_horizontal_scan_is_blocked_by_the_agent_and_a_mistyped_port_is_not",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let client = Netns::bare();
    let (lab, mut agent) = lab_with_agent(117, |lab| {
        let veth = device_of(&lab.srv, "10.117.0.1");
        for target in TARGETS {
            lab.srv
                .ip(&["addr", "add", &format!("{target}/24"), "dev", &veth]);
        }
        lab.srv.link(
            &client,
            &format!("{HOST_FOR_CLIENT}/24"),
            &format!("{CLIENT}/24"),
        );
    });

    // The client mistypes the port once, then reaches the web server.
    assert_eq!(connect(&client, HOST_FOR_CLIENT, CLOSED), Err(()));
    assert_eq!(connect(&client, HOST_FOR_CLIENT, WEB), Ok(true));

    // The scanner: one closed but allowed port per address, 300 ms apart
    // (no kernel bucket counts them: a rule allows the port). Answered
    // until the agent blocks it, then unanswered.
    let mut answers = Vec::new();
    for target in TARGETS {
        answers.push(connect(&lab.client, target, CLOSED));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        answers[..4].iter().all(|a| *a == Err(())),
        "the first four probes are answered: {answers:?}"
    );

    let doc = detections(&lab, &mut agent, 1);
    let rows = doc["detections"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the scanner: {doc:#}");
    let d = &rows[0];
    assert_eq!(d["source"], SCANNER);
    assert_eq!(
        (&d["tier"], &d["kind"], &d["action"], &d["detector"]),
        (
            &"agent".into(),
            &"horizontal".into(),
            &"block".into(),
            &"trw".into()
        ),
        "{d:#}"
    );
    assert_eq!(d["ports"], serde_json::json!([CLOSED]));
    assert_eq!(
        d["attempts_before_decision"], 4,
        "TRW decides on the fourth failure"
    );
    assert!(d["address_count"].as_u64().unwrap() >= 4, "{d:#}");
    let index = d["block_ledger_index"].as_u64().expect("a block was made");

    // The block: listed, recorded as the agent's, and in force.
    let blocks = lab.json(&["blocks", "--format", "json"]);
    let blocked = blocks["blocks"].as_array().unwrap();
    assert_eq!(blocked.len(), 1, "{blocks:#}");
    assert_eq!(blocked[0]["source"], format!("{SCANNER}/32"));
    assert_eq!(blocked[0]["actor"], "agent");
    assert_eq!(blocked[0]["ledger_index"], index);
    let reason = blocked[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("horizontal scan detected by the agent (trw): port 8081"),
        "{reason}"
    );
    assert_eq!(
        connect(&lab.client, "10.117.0.1", WEB),
        Ok(false),
        "blocked"
    );
    // The client is neither detected nor blocked.
    assert_eq!(connect(&client, HOST_FOR_CLIENT, WEB), Ok(true));

    // For people: one row, no header with --no-headers.
    let table = lab.ok(&["detections"]);
    assert!(table.starts_with("SOURCE"), "{table}");
    let bare = lab.ok(&["detections", "--no-headers"]);
    assert!(bare.starts_with(SCANNER), "{bare}");
    assert_eq!(bare.lines().count(), 1, "{bare}");
    for word in ["horizontal", "agent", "block", "8081"] {
        assert!(bare.contains(word), "{word} in {bare}");
    }
    let log = agent.stop();
    assert!(log.contains("port scan detected"), "{log}");
}

#[test]
fn a_block_the_kernel_makes_is_recorded_with_the_probes_nflog_showed() {
    if !testkit::privileged(
        "a_block_the_kernel_makes_is_recorded_with_the_probes_nflog_showed",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let (lab, mut agent) = lab_with_agent(118, |_| {});
    // A fast scan of ports no rule allows: the kernel answers four, then
    // blocks the scanner by itself.
    let answers: Vec<Result<bool, ()>> = (9001..=9008)
        .map(|port| connect(&lab.client, "10.118.0.1", port))
        .collect();
    assert_eq!(answers[..4], [Err(()); 4], "{answers:?}");
    assert_eq!(answers[5..], [Ok(false); 3], "blocked: {answers:?}");

    let doc = detections(&lab, &mut agent, 1);
    let rows = doc["detections"].as_array().unwrap();
    // One detection, the kernel's: TRW, fed the same probes, leaves a
    // source the kernel blocked already to it.
    assert_eq!(rows.len(), 1, "{doc:#}");
    let d = &rows[0];
    assert_eq!(d["tier"], "kernel", "{d:#}");
    assert_eq!(d["source"], "10.118.0.2");
    assert_eq!(
        (&d["detector"], &d["action"]),
        (&"nftables".into(), &"block".into())
    );
    // The probes the scan chain logged to NFLOG, before and at the block.
    let ports: Vec<u64> = d["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert!(
        ports.starts_with(&[9001, 9002, 9003, 9004]),
        "{d:#}\n{}",
        agent.stop()
    );
    assert!(
        d["attempts_before_decision"].as_u64().unwrap() >= 4,
        "{d:#}"
    );
    assert_eq!(d["kind"], "vertical");
    let evidence = d["evidence"][0].as_str().unwrap();
    assert!(
        evidence.starts_with("scan detected in the kernel"),
        "{evidence}"
    );
    // Its ledger entry is the automatic block's.
    let blocks = lab.json(&["blocks", "--format", "json"]);
    let automatic = blocks["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "automatic")
        .unwrap_or_else(|| panic!("{blocks:#}"));
    assert_eq!(automatic["source"], "10.118.0.2/32");
    assert_eq!(d["block_ledger_index"], automatic["ledger_index"]);
    agent.stop();
}

#[test]
fn a_host_the_agent_never_watched_has_no_detections_and_listing_creates_nothing() {
    let home = Home::new();
    let out = home.run(&["detections", "--format", "json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/detection-log.v1.json");
    assert_eq!(doc["detections"], serde_json::json!([]));
    let out = home.run(&["detections", "--no-headers"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "", "no rows, no header");
    assert!(
        !home.state().join("agent.db").exists(),
        "listing created the store"
    );
}

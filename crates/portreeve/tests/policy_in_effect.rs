//! The policy in effect, end to end in a namespace: after `apply A` and an
//! approved `apply B`, an agent started with A in its environment reclaims
//! an idle port from B — the live ruleset is B without that port and the
//! ledger names B — and `grant`, `lifecycle` and `check` without
//! `--policy` use B. With `[change_control] required = true`, a plain
//! `apply` of an unapproved policy changes nothing, and the agent never
//! installs a policy in effect that lost its approval. Traffic stays
//! inside the namespaces the tests create.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Daemon, Lab, stderr, testkit};

/// Policy A: 7070 reclaimed after 2 s unused, 7071 kept.
const A: &str = r#"[zones]
lab = ["10.41.0.0/24"]

[lifecycle]
dormant_after = "1s"
abandoned_after = "2s"
reclaim = "close"

[[rule]]
name = "app"
port = 7070
protocol = "tcp"
zones = ["lab"]

[[rule]]
name = "kept"
port = 7071
protocol = "tcp"
zones = ["lab"]
keep = true
"#;

/// Policy B: A, plus 7072, an on-demand 9229, and approval required.
fn policy_b() -> String {
    format!(
        "{A}
[[rule]]
name = \"new\"
port = 7072
protocol = \"tcp\"
zones = [\"lab\"]
keep = true

[[rule]]
name = \"debugger\"
port = 9229
protocol = \"tcp\"
zones = [\"lab\"]
grant = {{ max_ttl = \"1h\" }}

[change_control]
required = true
"
    )
}

/// A server namespace with listeners on 7070-7072, a client beside it,
/// and a state directory with two identities, alice and bob.
fn lab(subnet: u8) -> Lab {
    let lab = Lab::new(
        subnet,
        &[
            "tcp4:0.0.0.0:7070",
            "tcp4:0.0.0.0:7071",
            "tcp4:0.0.0.0:7072",
        ],
    );
    for name in ["alice", "bob"] {
        lab.ok(&["identity", "new", name]);
    }
    lab
}

/// How many generations the lab's state directory keeps.
fn generation_count(lab: &Lab) -> usize {
    lab.json(&["generations", "--format", "json"])["generations"]
        .as_array()
        .unwrap()
        .len()
}

/// Starts the agent with A named in its environment, as a unit file
/// written for the first policy would.
fn agent(lab: &Lab, a: &Path) -> Daemon {
    let mut cmd = lab
        .home
        .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
    cmd.args([
        "--log-format",
        "json",
        "agent",
        "--interval",
        "200ms",
        "--lifecycle-interval",
        "500ms",
        "--metrics",
        "off",
    ])
    .env("PORTREEVE_POLICY", a)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    Daemon(cmd.spawn().unwrap())
}

/// Applies `text` through a proposal alice makes and bob approves.
fn apply_approved(lab: &Lab, name: &str, text: &str, id: u64) {
    let path = lab.home.file(name, text);
    lab.ok(&[
        "propose",
        path.to_str().unwrap(),
        "--reason",
        "change",
        "--identity",
        "alice",
    ]);
    lab.ok(&["approve", &id.to_string(), "--identity", "bob"]);
    lab.ok(&["apply", "--proposal", &id.to_string()]);
}

/// `sha256:<hex>` of `text`, as the ledger names policies.
fn digest(text: &str) -> String {
    portreeve_ledger::digest(text.as_bytes())
}

#[test]
fn the_agent_reclaims_from_the_policy_in_effect_not_from_its_file() {
    if !testkit::privileged(
        "the_agent_reclaims_from_the_policy_in_effect_not_from_its_file",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(41);
    let a = lab.home.file("a.toml", A);
    lab.ok(&["apply", "--policy", a.to_str().unwrap()]);
    assert!(lab.connects(7070) && lab.connects(7071));
    assert!(!lab.connects(7072), "A does not allow 7072");
    let b = policy_b();
    apply_approved(&lab, "b.toml", &b, 1);
    assert!(lab.connects(7072), "B allows 7072");

    let mut agent = agent(&lab, &a);
    let start = Instant::now();
    let reclaim = loop {
        if let Some(e) = lab
            .home
            .ledger()
            .into_iter()
            .find(|e| e["action"] == "reclaim")
        {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no reclaim within 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = agent.stop();
    assert!(log.contains("abandoned port closed by policy"), "{log}");

    // The live ruleset is B without 7070: B's 7072 is still open.
    assert!(!lab.connects(7070), "7070 reclaimed");
    assert!(lab.connects(7071), "7071 kept");
    assert!(lab.connects(7072), "B's own rule survived the reclaim");
    // The ledger says who, from which policy, and which rulesets.
    assert_eq!(reclaim["actor"], "agent");
    assert_eq!(reclaim["policy"], digest(&b).as_str(), "{reclaim}");
    assert!(
        reclaim["object"].as_str().unwrap().starts_with("7070/tcp"),
        "{reclaim}"
    );
    assert_ne!(reclaim["before"], reclaim["after"]);

    // Every command that needs a policy uses B without being told.
    let lifecycle = lab.json(&["lifecycle", "--format", "json"]);
    assert_eq!(lifecycle["policy"]["digest"], digest(&b).as_str());
    assert_eq!(lifecycle["policy"]["source"], "in-effect");
    let port = |n: u16| {
        lifecycle["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"]["port"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(port(7070)["state"], "reclaimed");
    assert_eq!(port(7072)["state"], "active", "B's port is B's");
    // The table's footer is on standard error.
    let table = support::stderr(&lab.portreeve(&["lifecycle"]));
    assert!(
        table.contains(&format!(
            "policy in effect: {} (sha256:{}",
            lab.home.path().join("b.toml").display(),
            &digest(&b)[7..19]
        )),
        "{table}"
    );
    let check = lab.json(&["check", "--format", "json"]);
    assert_eq!(check["policy"]["digest"], digest(&b).as_str());
    assert_eq!(check["policy"]["approval"], "proposal 1");
    // 9229 is grantable in B only.
    let granted = lab.ok(&[
        "grant",
        "9229",
        "--from",
        "10.41.0.2",
        "--ttl",
        "1m",
        "--reason",
        "debugging",
    ]);
    assert!(granted.contains("rule debugger"), "{granted}");

    // B requires approval: a plain apply of anything unapproved (A again
    // here) is refused and changes nothing — not the kernel, not the
    // generations, not the ledger.
    let (table_before, generations, entries) = (
        lab.live_table(),
        generation_count(&lab),
        lab.home.ledger().len(),
    );
    let refused = lab.portreeve(&["apply", "--policy", a.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("required = true"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(lab.live_table(), table_before);
    assert_eq!(generation_count(&lab), generations);
    assert_eq!(lab.home.ledger().len(), entries);
}

#[test]
fn the_agent_never_installs_a_policy_that_lost_its_approval() {
    if !testkit::privileged(
        "the_agent_never_installs_a_policy_that_lost_its_approval",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(42);
    let b = policy_b().replace("10.41.", "10.42.");
    apply_approved(&lab, "b.toml", &b, 1);
    // The live generation's record of its approval is gone (an older
    // portreeve, or a hand): the policy in effect is unapproved now.
    let generations = lab.home.state().join("enforce/generations");
    let record = generations.join("000001.json");
    let mut g: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    g["approval"] = Value::Null;
    std::fs::write(&record, g.to_string()).unwrap();
    let table_before = lab.live_table();

    // Long enough for several plans after 7070 is abandoned (2 s).
    let mut agent = agent(&lab, &lab.home.file("a.toml", A));
    std::thread::sleep(Duration::from_secs(4));
    let log = agent.stop();
    assert!(
        log.contains("installed without an approved proposal"),
        "{log}"
    );
    assert!(lab.connects(7070), "nothing was reclaimed");
    assert_eq!(lab.live_table(), table_before);
    assert_eq!(generation_count(&lab), 1);
    assert!(
        !lab.home.ledger().iter().any(|e| e["action"] == "reclaim"),
        "nothing recorded"
    );
}

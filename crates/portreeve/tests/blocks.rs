//! Manual blocks, in namespaces the test creates: a blocked source really
//! cannot connect to an allowed port until it is unblocked or its block
//! runs out; every block, unblock and expiry is one ledger entry; a block
//! that could cut the way in, or outlast the policy's cap, is refused
//! with exit 2 and changes nothing.

mod support;

use support::sshd::{Sshd, ssh_session};
use support::{Lab, assert_exit, assert_matches_schema, assert_ok, start_agent, testkit};

/// An allowed port on the server.
const PORT: u16 = 8080;

/// A server at 10.SUBNET.0.1 allowing [`PORT`] to its /24, with the
/// management zone 10.SUBNET.0.8/29 and the never-block zone `office`,
/// 10.SUBNET.0.16/28; the client at 10.SUBNET.0.2 is in neither. SSH is
/// allowed from the whole /24.
fn lab(subnet: u8) -> Lab {
    let lab = Lab::new(subnet, &["tcp4:0.0.0.0:8080"]);
    let policy = lab.home.file(
        "p.toml",
        format!(
            "[zones]\nlab = [\"10.{subnet}.0.0/24\"]\nmgmt = [\"10.{subnet}.0.8/29\"]\n\
             office = [\"10.{subnet}.0.16/28\"]\n\
             [enforce]\nmanagement_zone = \"mgmt\"\n\
             [detection]\nmax_block_ttl = \"1h\"\nnever_block = [\"office\"]\n\
             [[rule]]\nname = \"web\"\nport = {PORT}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\", \"lab\"]\n"
        ),
    );
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    lab
}

fn entries_of(lab: &Lab, action: &str) -> Vec<serde_json::Value> {
    let ledger = lab.home.ledger();
    ledger
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[test]
fn a_blocked_source_cannot_connect_until_unblocked() {
    if !testkit::privileged(
        "a_blocked_source_cannot_connect_until_unblocked",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(113);
    let client = "10.113.0.2";
    assert!(lab.connects(PORT), "allowed before the block");

    let blocked = lab.json(&[
        "block", client, "--ttl", "10m", "--reason", "probing", "--format", "json",
    ]);
    assert_matches_schema(&blocked, "docs/schema/block.v1.json");
    assert_eq!(blocked["source"], "10.113.0.2/32");
    assert_eq!(blocked["ttl_seconds"], 600);
    assert!(!lab.connects(PORT), "a blocked source cannot connect");

    let listing = lab.json(&["blocks", "--format", "json"]);
    assert_matches_schema(&listing, "docs/schema/blocks.v1.json");
    let rows = listing["blocks"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listing:#}");
    let left = rows[0]["seconds_left"].as_u64().unwrap();
    assert!((590..=600).contains(&left), "{left} s left of 600");
    assert_eq!(rows[0]["source"], "10.113.0.2/32");
    assert_eq!(rows[0]["reason"], "probing");
    assert_eq!(rows[0]["ledger_index"], blocked["ledger_index"]);
    let table = lab.ok(&["blocks"]);
    assert!(
        table.contains("10.113.0.2/32") && table.contains("probing"),
        "{table}"
    );

    // A block carries over an apply, as grants do.
    let policy = lab.home.path().join("p.toml");
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    assert!(!lab.connects(PORT), "still blocked after an apply");
    let after = lab.json(&["blocks", "--format", "json"]);
    assert_eq!(after["blocks"][0]["source"], "10.113.0.2/32", "{after:#}");

    let unblocked = lab.json(&["unblock", client, "--reason", "fixed", "--format", "json"]);
    assert_matches_schema(&unblocked, "docs/schema/unblock.v1.json");
    assert_eq!(unblocked["block"], blocked["ledger_index"]);
    assert!(lab.connects(PORT), "unblocked, it connects again");
    assert_eq!(
        lab.json(&["blocks", "--format", "json"])["blocks"],
        serde_json::json!([])
    );

    let block = &entries_of(&lab, "block")[0];
    assert_eq!(block["object"], "10.113.0.2/32 for 10m");
    assert_eq!(block["reason"], "probing");
    assert_eq!(block["index"], blocked["ledger_index"]);
    let unblock = &entries_of(&lab, "unblock")[0];
    assert_eq!(
        unblock["object"],
        format!("10.113.0.2/32 (block {})", blocked["ledger_index"])
    );
    assert_eq!(unblock["index"], unblocked["ledger_index"]);
    assert!(
        entries_of(&lab, "block-expired").is_empty(),
        "it was unblocked, not expired"
    );
    // Unblocking again: nothing is blocked.
    assert_exit(&lab.portreeve(&["unblock", client]), 2, "is not blocked");
}

#[test]
fn an_expired_block_ends_in_the_kernel_and_is_recorded_once() {
    if !testkit::privileged(
        "an_expired_block_ends_in_the_kernel_and_is_recorded_once",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(114);
    lab.ok(&["block", "10.114.0.2", "--ttl", "2s", "--reason", "short"]);
    assert!(!lab.connects(PORT));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(lab.connects(PORT), "the kernel ended the block by itself");
    lab.ok(&["blocks"]);
    lab.ok(&["blocks"]);
    let expired = entries_of(&lab, "block-expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    let block = &entries_of(&lab, "block")[0];
    let object = expired[0]["object"].as_str().unwrap();
    assert!(
        object.starts_with(&format!(
            "block {}: 10.114.0.2/32 blocked by {}, expired ",
            block["index"],
            block["actor"].as_str().unwrap()
        )),
        "{object}"
    );
    assert_eq!(expired[0]["actor"], "kernel");
    assert_ok(&lab.home.run(&["ledger", "verify"]));
}

#[test]
fn the_agent_records_a_block_expiry_nobody_asked_about() {
    if !testkit::privileged(
        "the_agent_records_a_block_expiry_nobody_asked_about",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(116);
    lab.ok(&["block", "10.116.0.2", "--ttl", "1s", "--reason", "short"]);
    let mut agent = start_agent(
        &lab.srv,
        &lab.home.state(),
        &["--lifecycle-interval", "500ms"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while entries_of(&lab, "block-expired").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let recorded = entries_of(&lab, "block-expired").len();
    // A few more rounds: still one.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    agent.stop();
    assert_eq!(recorded, 1, "the agent recorded the expiry");
    assert_eq!(entries_of(&lab, "block-expired").len(), 1);
}

/// Blocks made while others' expiries are being noticed, all at once by
/// several processes (as `portreeve block` runs beside the agent's round):
/// every block is recorded, and every expiry exactly once — each recorder
/// decides and appends under the firewall's lock.
#[test]
fn concurrent_blocks_and_expiry_rounds_lose_and_repeat_nothing() {
    if !testkit::privileged(
        "concurrent_blocks_and_expiry_rounds_lose_and_repeat_nothing",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab(117);
    let short = ["10.117.0.3", "10.117.0.4", "10.117.0.5"];
    for source in short {
        lab.ok(&["block", source, "--ttl", "1s", "--reason", "short"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let long = ["10.117.0.40", "10.117.0.41", "10.117.0.42"];
    let mut runs: Vec<Vec<&str>> = long
        .iter()
        .map(|source| vec!["block", source, "--ttl", "10m", "--reason", "long"])
        .collect();
    runs.extend(std::iter::repeat_n(vec!["blocks"], 5));
    let children: Vec<_> = runs
        .iter()
        .map(|args| {
            lab.home
                .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")))
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (child, args) in children.into_iter().zip(&runs) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let blocked: Vec<String> = entries_of(&lab, "block")
        .iter()
        .map(|e| e["object"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(blocked.len(), short.len() + long.len(), "{blocked:?}");
    for source in long {
        assert!(
            blocked.contains(&format!("{source}/32 for 10m")),
            "{blocked:?}"
        );
    }
    let expired: Vec<String> = entries_of(&lab, "block-expired")
        .iter()
        .map(|e| e["object"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expired.len(), short.len(), "each once: {expired:#?}");
    for source in short {
        assert_eq!(
            expired
                .iter()
                .filter(|o| o.contains(&format!(": {source}/32 ")))
                .count(),
            1,
            "{expired:#?}"
        );
    }
    assert_ok(&lab.home.run(&["ledger", "verify"]));
}

#[test]
fn blocks_that_could_cut_the_way_in_are_refused_and_change_nothing() {
    if !testkit::privileged(
        "blocks_that_could_cut_the_way_in_are_refused_and_change_nothing",
        &["ip", "python3", "nft", "sshd", "ssh-keygen"],
    ) {
        return;
    }
    let unapplied = Lab::new(115, &["tcp4:0.0.0.0:8080"]);
    let before = unapplied.portreeve(&["block", "10.115.0.2", "--reason", "r"]);
    assert_exit(&before, 2, "not applied");
    drop(unapplied);

    let lab = lab(115);
    let table = lab.live_table();
    let entries = lab.home.ledger().len();
    let refused = |args: &[&str], env: Option<&str>, says: &str| {
        let mut cmd = lab
            .home
            .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.env_remove("SSH_CONNECTION");
        if let Some(session) = env {
            cmd.env("SSH_CONNECTION", session);
        }
        let out = testkit::run(cmd.args(args));
        assert_exit(&out, 2, says);
        assert_eq!(lab.live_table(), table, "{args:?} changed the ruleset");
        assert_eq!(lab.home.ledger().len(), entries, "{args:?} was recorded");
    };
    let block = |source: &'static str| ["block", source, "--reason", "r"];
    refused(
        &block("10.115.0.9"),
        None,
        "10.115.0.9/32 is never blocked: it covers the management zone `mgmt` (10.115.0.8/29)",
    );
    refused(&block("10.115.0.12/30"), None, "the management zone `mgmt`");
    refused(
        &block("10.115.0.17"),
        None,
        "it covers the never_block zone `office` (10.115.0.16/28)",
    );
    refused(
        &block("10.115.0.3"),
        Some("10.115.0.3 50022 10.115.0.1 22"),
        "it covers the SSH session from 10.115.0.3",
    );
    // A session the kernel shows, with no `$SSH_CONNECTION` (as under sudo).
    let _sshd = Sshd::start(&lab, "10.115.0.1");
    let session = ssh_session(&lab, "10.115.0.1");
    refused(
        &block("10.115.0.2"),
        None,
        "it covers the SSH session from 10.115.0.2",
    );
    drop(session);
    refused(&block("10.115.0.1"), None, "this host's address 10.115.0.1");
    refused(&block("127.0.0.1"), None, "loopback");
    refused(&block("10.0.0.0/7"), None, "wider than /8");
    refused(
        &["block", "10.115.0.2", "--ttl", "2h", "--reason", "r"],
        None,
        "a TTL of 2h exceeds the 1h that the policy's [detection] max_block_ttl allows",
    );
    refused(
        &block("10.115.0.300"),
        None,
        "`10.115.0.300` is not an address or CIDR",
    );
    refused(
        &["unblock", "10.115.0.2"],
        None,
        "10.115.0.2/32 is not blocked",
    );
    assert!(lab.connects(PORT), "nothing was blocked");
}

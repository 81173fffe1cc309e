//! How grants end, in the ledger: a revocation names the grant it closed,
//! and an expiry — which the kernel makes silently — is recorded once, by
//! whichever command notices first, even when two notice together; the
//! ledger still verifies; the agent's lifecycle round notices on its own.
//! In namespaces the test creates.

mod support;

use support::{Lab, assert_ok, start_agent, testkit};

const SUBNET: u8 = 62;

fn lab() -> Lab {
    let lab = Lab::new(SUBNET, &["tcp4:0.0.0.0:9229", "tcp4:0.0.0.0:9230"]);
    let policy = lab.home.file(
        "p.toml",
        format!(
            "[zones]\nlab = [\"10.{SUBNET}.0.0/24\"]\n\
             [[rule]]\nname = \"dbg\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             grant = {{ max_ttl = \"1h\" }}\n\
             [[rule]]\nname = \"dbg2\"\nport = 9230\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             grant = {{ max_ttl = \"1h\" }}\n"
        ),
    );
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    lab
}

fn entries_of<'a>(ledger: &'a [serde_json::Value], action: &str) -> Vec<&'a serde_json::Value> {
    ledger.iter().filter(|e| e["action"] == action).collect()
}

#[test]
fn revocation_and_expiry_are_each_recorded_once() {
    if !testkit::privileged(
        "revocation_and_expiry_are_each_recorded_once",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab();
    let client = format!("10.{SUBNET}.0.2");
    lab.ok(&[
        "grant", "9229/tcp", "--from", &client, "--ttl", "1h", "--reason", "r",
    ]);
    lab.ok(&[
        "grant", "9230/tcp", "--from", &client, "--ttl", "2s", "--reason", "r",
    ]);
    lab.ok(&["revoke", "9229/tcp", "--from", &client, "--reason", "done"]);
    let ledger = lab.home.ledger();
    let grants = entries_of(&ledger, "grant");
    let revokes = entries_of(&ledger, "revoke");
    assert_eq!((grants.len(), revokes.len()), (2, 1));
    let first = &grants[0]["index"];
    assert_eq!(
        revokes[0]["object"],
        format!("{client} . tcp . 9229 (grant {first})"),
        "the revocation names the key and the grant"
    );
    assert_eq!(revokes[0]["reason"], "done");
    assert!(entries_of(&ledger, "grant-expired").is_empty());

    // The 2-second grant runs out; two commands notice it together.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let both: Vec<_> = (0..2)
        .map(|_| {
            lab.home
                .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")))
                .args(["grants"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in both {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    assert_ok(&lab.portreeve(&["grants"]));
    let ledger = lab.home.ledger();
    let expired = entries_of(&ledger, "grant-expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    let second = &grants[1];
    let object = expired[0]["object"].as_str().unwrap();
    assert!(
        object.starts_with(&format!(
            "grant {}: {client} . tcp . 9230 (rule dbg2) granted by {}, expired ",
            second["index"],
            second["actor"].as_str().unwrap()
        )),
        "{object}"
    );
    assert_eq!(expired[0]["actor"], "kernel");
    assert_eq!(expired[0]["policy"], second["policy"]);

    // `apply` notices too, before the change it records.
    lab.ok(&[
        "grant", "9229/tcp", "--from", &client, "--ttl", "1s", "--reason", "r",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let policy = lab.home.path().join("p.toml");
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    let ledger = lab.home.ledger();
    let actions: Vec<&str> = ledger
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[actions.len() - 2..], ["grant-expired", "apply"]);
    let last_expiry = ledger[ledger.len() - 2]["object"].as_str().unwrap();
    assert!(
        last_expiry.contains(". tcp . 9229 (rule dbg)"),
        "{last_expiry}"
    );
    assert_ok(&lab.home.run(&["ledger", "verify"]));
}

#[test]
fn the_agent_records_an_expiry_nobody_asked_about() {
    if !testkit::privileged(
        "the_agent_records_an_expiry_nobody_asked_about",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = lab();
    let client = format!("10.{SUBNET}.0.2");
    lab.ok(&[
        "grant", "9230/tcp", "--from", &client, "--ttl", "1s", "--reason", "r",
    ]);
    let mut agent = start_agent(
        &lab.srv,
        &lab.home.state(),
        &["--lifecycle-interval", "500ms"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let expired = loop {
        let ledger = lab.home.ledger();
        let expired: Vec<serde_json::Value> = entries_of(&ledger, "grant-expired")
            .into_iter()
            .cloned()
            .collect();
        if !expired.is_empty() || std::time::Instant::now() > deadline {
            break expired;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    // A few more rounds: still one.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    agent.stop();
    assert_eq!(expired.len(), 1, "the agent recorded the expiry");
    assert_eq!(entries_of(&lab.home.ledger(), "grant-expired").len(), 1);
}

//! The ledger through the CLI: every state-changing command records itself,
//! two-person change control gates `apply`, and `ledger verify`, `prove`,
//! `export` and `cosign` behave as an auditor needs. Firewall changes run
//! in test namespaces; the rest needs no privileges.

mod support;

use std::path::PathBuf;

use portreeve_ledger::merkle::{ConsistencyProofDoc, InclusionProofDoc};
use serde_json::Value;
use support::{Home, Netns, assert_exit, assert_ok, stderr, stdout, testkit};

/// The actions of the ledger's entries, in order.
fn actions(home: &Home) -> Vec<String> {
    home.ledger()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

use support::OFFICE_POLICY as POLICY;

#[test]
fn two_person_rule_signed_proposals_and_approvals() {
    let home = Home::new();
    assert_ok(&home.run(&["identity", "new", "alice"]));
    assert_ok(&home.run(&["identity", "new", "bob"]));
    assert_exit(
        &home.run(&["identity", "new", "alice"]),
        2,
        "already registered",
    );
    assert_exit(&home.run(&["identity", "new", "eve+1"]), 2, "identity name");
    let key = std::fs::metadata(home.identities().join("alice.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );

    let policy = home.file("p.toml", POLICY);
    let invalid = home.file("bad.toml", "[[rule]]\nport = 70000\n");
    assert_exit(
        &home.run(&[
            "propose",
            invalid.to_str().unwrap(),
            "--reason",
            "x",
            "--identity",
            "alice",
        ]),
        2,
        "bad.toml:",
    );
    assert_exit(
        &home.run(&[
            "propose",
            policy.to_str().unwrap(),
            "--reason",
            "x",
            "--identity",
            "carol",
        ]),
        2,
        "no identity carol",
    );
    let proposed = home.run(&[
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        "ssh for the office",
        "--identity",
        "alice",
    ]);
    assert_ok(&proposed);
    assert!(
        stdout(&proposed).contains("+name = \"ssh\""),
        "the diff is shown"
    );
    assert!(stdout(&proposed).contains("Proposal 1 recorded"));

    assert_exit(
        &home.run(&["approve", "1", "--identity", "alice"]),
        2,
        "two-person rule",
    );
    assert_exit(
        &home.run(&["approve", "2", "--identity", "bob"]),
        2,
        "no proposal 2",
    );
    // Bob's key file swapped for Alice's: the key no longer matches Bob.
    std::fs::copy(
        home.identities().join("bob.key"),
        home.identities().join("bob.key.real"),
    )
    .unwrap();
    std::fs::copy(
        home.identities().join("alice.key"),
        home.identities().join("bob.key"),
    )
    .unwrap();
    assert_exit(
        &home.run(&["approve", "1", "--identity", "bob"]),
        2,
        "is not the key registered for bob",
    );
    std::fs::rename(
        home.identities().join("bob.key.real"),
        home.identities().join("bob.key"),
    )
    .unwrap();
    assert_ok(&home.run(&[
        "approve",
        "1",
        "--identity",
        "bob",
        "--reason",
        "looks right",
    ]));
    assert_exit(
        &home.run(&["approve", "1", "--identity", "bob"]),
        2,
        "already approved",
    );

    let list = home.run(&["proposals", "--format", "json"]);
    assert_ok(&list);
    let doc: Value = serde_json::from_str(&stdout(&list)).unwrap();
    let p = &doc["proposals"][0];
    assert_eq!(p["approved"], true);
    assert_eq!(p["valid_approvals"], serde_json::json!(["bob"]));

    assert_eq!(
        actions(&home),
        [
            "identity.add",
            "identity.add",
            "policy.propose",
            "policy.approve"
        ]
    );
    let log = home.ledger();
    assert_eq!(log[2]["actor"], "alice");
    assert_eq!(log[3]["actor"], "bob");
    assert_eq!(log[3]["reason"], "looks right");
    assert!(log[3]["attestation"]["signature"].is_string());
    let verified = home.run(&["ledger", "verify"]);
    assert_ok(&verified);
    assert!(
        stdout(&verified).contains("4 entries signed by an identity"),
        "{}",
        stdout(&verified)
    );
}

/// A ledger with a few entries, made without privileges.
fn small_ledger(home: &Home) {
    for name in ["ann", "ben", "cat", "dan", "eva"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
}

#[test]
fn verify_export_and_bundles_name_the_first_bad_position() {
    let home = Home::new();
    assert_exit(&home.run(&["ledger", "verify"]), 2, "no ledger");
    small_ledger(&home);
    let ok = home.run(&["ledger", "verify", "--format", "json"]);
    assert_ok(&ok);
    let doc: Value = serde_json::from_str(&stdout(&ok)).unwrap();
    assert_eq!(doc["result"]["verified"], true);
    assert_eq!(doc["result"]["entries"], 5);

    let key = stdout(&home.run(&["ledger", "key"])).trim().to_string();
    let bundle = home.path().join("bundle.json");
    assert_ok(&home.run(&["ledger", "export", "-o", bundle.to_str().unwrap()]));
    // The auditor's side: nothing but the bundle and the key.
    let auditor = Home::new();
    assert_ok(&auditor.run(&[
        "ledger",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--key",
        &key,
    ]));
    let key_file = auditor.file("log.pub", format!("{key}\n"));
    assert_ok(&auditor.run(&[
        "ledger",
        "verify",
        "--bundle",
        bundle.to_str().unwrap(),
        "--key",
        key_file.to_str().unwrap(),
    ]));

    // Entry 2 edited in the bundle.
    let mut b: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let e2 = b["entries"][2]
        .as_str()
        .unwrap()
        .replace("identity cat", "identity cab");
    b["entries"][2] = e2.into();
    let edited = auditor.file("edited.json", b.to_string());
    let out = auditor.run(&[
        "ledger",
        "verify",
        "--bundle",
        edited.to_str().unwrap(),
        "--key",
        &key,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["result"]["verified"], false);
    // Without the log's cache only the checkpoint after it can be named;
    // the edited entry's attestation also fails, at its own position.
    assert_eq!(doc["result"]["position"], 2, "{doc}");

    // In place, deleting entry 3: named by position.
    let path = home.state().join("ledger/entries.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    let out = home.run(&["ledger", "verify"]);
    assert_exit(&out, 1, "FAILED at position 3");
    assert!(
        stdout(&out).contains("expected entry 3"),
        "{}",
        stdout(&out)
    );

    // Bad input: a bundle needs a key; a key must parse.
    assert_eq!(
        auditor
            .run(&["ledger", "verify", "--bundle", bundle.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    assert_exit(
        &auditor.run(&[
            "ledger",
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--key",
            "not-a-key",
        ]),
        2,
        "not a verifier key",
    );
}

#[test]
fn proofs_have_the_vector_shape_and_verify() {
    let home = Home::new();
    small_ledger(&home);
    let out = home.run(&["ledger", "prove", "--index", "3"]);
    assert_ok(&out);
    let inclusion: InclusionProofDoc = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((inclusion.leaf_idx, inclusion.tree_size), (3, 5));
    inclusion.verify().unwrap();
    let raw: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["leafHash", "leafIdx", "proof", "root", "treeSize"]);

    // The root is the one the latest signed checkpoint carries.
    let checkpoint = stdout(&home.run(&["ledger", "checkpoint"]));
    let root_line = checkpoint.lines().nth(2).unwrap();
    assert_eq!(raw["root"], root_line);

    let out = home.run(&["ledger", "prove", "--from", "2", "--to", "5"]);
    assert_ok(&out);
    let consistency: ConsistencyProofDoc = serde_json::from_str(&stdout(&out)).unwrap();
    consistency.verify().unwrap();
    assert_eq!((consistency.size1, consistency.size2), (2, 5));

    assert_exit(
        &home.run(&["ledger", "prove", "--index", "5"]),
        2,
        "entry 5 is not in a tree of 5",
    );
    assert_exit(
        &home.run(&["ledger", "prove", "--from", "4", "--to", "2"]),
        2,
        "larger than --to",
    );
    assert_exit(
        &home.run(&["ledger", "prove", "--from", "1", "--to", "9"]),
        2,
        "beyond the ledger",
    );
    assert_eq!(home.run(&["ledger", "prove"]).status.code(), Some(2));
}

#[test]
fn witnesses_cosign_only_consistent_checkpoints() {
    let home = Home::new();
    small_ledger(&home);
    let witness_key = home.path().join("witness.key");
    let out = home.run(&[
        "ledger",
        "witness-key",
        "security.example/witness",
        "-o",
        witness_key.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let witness_pub = stdout(&out).trim().to_string();
    let verify_witnessed = |home: &Home| {
        home.run(&[
            "ledger",
            "verify",
            "--witness",
            &witness_pub,
            "--min-witnesses",
            "1",
        ])
    };
    assert_exit(&verify_witnessed(&home), 1, "no checkpoint is cosigned");

    let cosigned = home.run(&["ledger", "cosign", "--key", witness_key.to_str().unwrap()]);
    assert_ok(&cosigned);
    assert!(
        stdout(&cosigned).contains("— security.example/witness "),
        "{}",
        stdout(&cosigned)
    );
    let out = verify_witnessed(&home);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("Witnessed up to size 5 by security.example/witness"),
        "{}",
        stdout(&out)
    );

    // The log grows; the witness checks consistency and signs again.
    assert_ok(&home.run(&["identity", "new", "fay"]));
    assert_ok(&home.run(&["ledger", "cosign", "--key", witness_key.to_str().unwrap()]));

    // A witness that remembers a different history refuses.
    let state = PathBuf::from(format!("{}.state.json", witness_key.display()));
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let log = s["logs"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    s["logs"][&log]["size"] = 3.into();
    s["logs"][&log]["root"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    std::fs::write(&state, s.to_string()).unwrap();
    assert_exit(
        &home.run(&["ledger", "cosign", "--key", witness_key.to_str().unwrap()]),
        3,
        "not consistent with size 3",
    );
    s["logs"][&log]["size"] = 99.into();
    std::fs::write(&state, s.to_string()).unwrap();
    assert_exit(
        &home.run(&["ledger", "cosign", "--key", witness_key.to_str().unwrap()]),
        3,
        "went backwards",
    );
    // A log key is not a witness key.
    let log_key = home.state().join("ledger/log.key");
    assert_exit(
        &home.run(&["ledger", "cosign", "--key", log_key.to_str().unwrap()]),
        2,
        "not a witness",
    );
}

#[test]
fn log_filters_by_action_actor_and_time() {
    let home = Home::new();
    small_ledger(&home);
    let policy = home.file("p.toml", POLICY);
    assert_ok(&home.run(&[
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        "r",
        "--identity",
        "ann",
    ]));
    let filtered = |args: &[&str]| {
        let mut all = vec!["ledger", "log", "--format", "json"];
        all.extend_from_slice(args);
        let out = home.run(&all);
        assert_ok(&out);
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        doc["entries"].as_array().unwrap().len()
    };
    assert_eq!(filtered(&[]), 6);
    assert_eq!(filtered(&["--action", "policy.propose"]), 1);
    assert_eq!(filtered(&["--action", "policy.propose,identity.add"]), 6);
    assert_eq!(filtered(&["--actor", "ann"]), 1);
    assert_eq!(filtered(&["--since", "1h"]), 6);
    assert_eq!(filtered(&["--until", "2000-01-01"]), 0);
    assert_exit(
        &home.run(&["ledger", "log", "--since", "yesterday-ish"]),
        2,
        "is not a time",
    );
    let table = stdout(&home.run(&["ledger", "log", "--action", "policy.propose"]));
    assert!(
        table.contains("policy.propose") && table.contains("proposal 1"),
        "{table}"
    );
}

#[test]
fn a_check_can_record_its_summary() {
    let home = Home::new();
    let inventory = home.run(&["inventory", "--format", "json"]);
    assert_ok(&inventory);
    let saved = home.file("inventory.json", stdout(&inventory));
    let plain = home.run(&["check", "--inventory", saved.to_str().unwrap()]);
    assert!(plain.status.code().is_some_and(|c| c <= 1));
    assert!(
        !home.state().join("ledger").exists(),
        "a check records nothing unless asked"
    );
    let out = home.run(&[
        "check",
        "--inventory",
        saved.to_str().unwrap(),
        "--record",
        "--format",
        "json",
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let entry = home.ledger().pop().unwrap();
    assert_eq!(entry["action"], "check");
    let findings = report["summary"]["findings"].as_u64().unwrap();
    let object = entry["object"].as_str().unwrap();
    assert!(
        object.starts_with(&format!("{findings} finding")),
        "{object} vs {findings} findings"
    );
    assert!(entry["after"].as_str().unwrap().starts_with("sha256:"));
}

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "setsid"])
}

/// The digest of generation `n`'s ruleset as the ledger records it.
fn generation_digest(home: &Home, n: u64) -> String {
    let out = home.run(&["generations", "--format", "json"]);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let g = doc["generations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["generation"] == n)
        .unwrap();
    format!("sha256:{}", g["sha256"].as_str().unwrap())
}

#[test]
fn every_firewall_change_is_recorded_and_approval_gates_apply() {
    if !privileged("every_firewall_change_is_recorded_and_approval_gates_apply") {
        return;
    }
    let ns = Netns::bare();
    let home = Home::new();
    let policy = home.file("p.toml", POLICY);
    let p = policy.to_str().unwrap();
    let nothing_applied = |home: &Home| {
        let out = home.run(&["generations", "--format", "json"]);
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        doc["generations"].as_array().unwrap().is_empty()
    };

    // Approval required but absent: refused, nothing applied or recorded.
    assert_exit(
        &home.run_in(&ns, &["apply", "--policy", p, "--require-approval"]),
        2,
        "no proposal holds this policy",
    );
    assert!(nothing_applied(&home));
    for name in ["alice", "bob", "carol"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    assert_ok(&home.run(&["propose", p, "--reason", "first", "--identity", "alice"]));
    assert_exit(
        &home.run_in(&ns, &["apply", "--proposal", "1"]),
        2,
        "proposal 1 has 0 of the 1 approvals",
    );
    assert!(nothing_applied(&home));
    assert_ok(&home.run(&["approve", "1", "--identity", "bob"]));
    // Approved, but the file on disk is not what was approved.
    let edited = home.file("edited.toml", POLICY.replace("9229", "9230"));
    assert_exit(
        &home.run_in(
            &ns,
            &[
                "apply",
                "--policy",
                edited.to_str().unwrap(),
                "--require-approval",
            ],
        ),
        2,
        "no proposal holds this policy",
    );
    assert_ok(&home.run_in(
        &ns,
        &[
            "apply",
            "--policy",
            p,
            "--require-approval",
            "--reason",
            "go",
        ],
    ));
    let apply = home.ledger().pop().unwrap();
    assert_eq!(apply["action"], "apply");
    assert_eq!(apply["approval"], "proposal 1");
    assert_eq!(apply["reason"], "go");
    assert_eq!(apply["after"], generation_digest(&home, 1).as_str());
    assert!(apply.get("before").is_none(), "nothing was live before");

    // The applied policy raises the bar to two approvals: the active policy,
    // not the proposal, decides.
    let strict = POLICY.to_string() + "\n[change_control]\napprovals = 2\n";
    let strict_path = home.file("strict.toml", &strict);
    assert_ok(&home.run(&[
        "propose",
        strict_path.to_str().unwrap(),
        "--reason",
        "stricter",
        "--identity",
        "alice",
    ]));
    assert_ok(&home.run(&["approve", "2", "--identity", "bob"]));
    assert_ok(&home.run_in(&ns, &["apply", "--proposal", "2"]));
    assert_ok(&home.run(&[
        "propose",
        p,
        "--reason",
        "back again",
        "--identity",
        "alice",
    ]));
    assert_ok(&home.run(&["approve", "3", "--identity", "bob"]));
    assert_exit(
        &home.run_in(&ns, &["apply", "--proposal", "3"]),
        2,
        "proposal 3 has 1 of the 2 approvals",
    );
    assert_ok(&home.run(&["approve", "3", "--identity", "carol"]));
    assert_ok(&home.run_in(&ns, &["apply", "--proposal", "3", "--confirm-within", "5m"]));
    assert_ok(&home.run_in(&ns, &["confirm"]));

    // Grants, revokes, rollbacks.
    assert_ok(&home.run_in(
        &ns,
        &[
            "grant",
            "9229",
            "--from",
            "10.20.1.7",
            "--ttl",
            "10m",
            "--reason",
            "debug session",
        ],
    ));
    assert_ok(&home.run_in(
        &ns,
        &["revoke", "9229", "--from", "10.20.1.7", "--reason", "done"],
    ));
    assert_ok(&home.run_in(&ns, &["rollback", "--reason", "undo"]));

    // An unconfirmed apply rolled back by its watchdog is recorded too.
    assert_ok(&home.run_in(
        &ns,
        &["apply", "--policy", p, "--confirm-within", "1s", "--wait"],
    ));

    // `--wait` returns once the rollback is in the kernel; the watchdog
    // records it a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while home.ledger().last().unwrap()["actor"] != "watchdog" {
        assert!(
            std::time::Instant::now() < deadline,
            "the watchdog's rollback was not recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let actions = actions(&home);
    let firewall: Vec<&str> = actions
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("identity") && !a.starts_with("policy"))
        .collect();
    assert_eq!(
        firewall,
        [
            "apply", "apply", "apply", "confirm", "grant", "revoke", "rollback", "apply",
            "rollback"
        ]
    );
    let log = home.ledger();
    let last = log.last().unwrap();
    assert_eq!(last["actor"], "watchdog");
    assert!(
        last["reason"].as_str().unwrap().contains("not confirmed"),
        "{last}"
    );
    let grant = log.iter().find(|e| e["action"] == "grant").unwrap();
    assert!(grant["object"].as_str().unwrap().contains("10.20.1.7"));
    assert_eq!(grant["reason"], "debug session");
    let out = home.run(&["ledger", "verify"]);
    assert_ok(&out);
    assert!(
        !stdout(&out).contains("not yet covered"),
        "every command signed a checkpoint after recording: {}",
        stdout(&out)
    );
}

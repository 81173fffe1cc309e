//! The fleet's evidence pack: a real `portreeve server` in a network
//! namespace with an enrolled host and a policy proposed, approved and
//! assigned through the API; `portreeve evidence export --server` run in
//! that namespace with a viewer token; the pack moved to a fresh directory
//! and verified there with nothing but the pack — the server's ledger
//! through `ledger verify` with an empty state directory, every proof, and
//! each policy text against the server ledger's proposal and approvals. A
//! pack with a byte of an entry, a policy text or a proof changed fails,
//! saying which file; a `--key` that is not the server's is refused at
//! export and nothing is written.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use portreeve_ledger::merkle::{InclusionProofDoc, leaf_hash};
use portreeve_ledger::{Bundle, digest};
use serde_json::{Value, json};
use support::fleet_server::{RunningServer, SigningHost, TestDatabase, create_token};
use support::pack::{self, copy_tree, elsewhere, read_json, rehash};
use support::{Home, assert_exit, assert_matches_schema, assert_ok, run, stdout};

/// The policy assigned to the host.
const WEB_POLICY: &str = "version = 1\n\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n\
                          [[rule]]\nname = \"https\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// A policy approved but assigned to nothing: not in effect, not in the pack.
const DB_POLICY: &str = "version = 1\n\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n\
                         [[rule]]\nname = \"pg\"\nport = 5432\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// `evidence verify DIR --key KEY` elsewhere, which must fail as a fleet
/// pack's verification and name every one of `says`.
#[track_caller]
fn fails(state: &Path, dir: &Path, key: &Path, says: &[&str]) {
    let text = pack::fails(state, dir, key.to_str().unwrap(), says);
    assert!(text.starts_with("Fleet evidence pack"), "{text}");
}

/// A copy of the pack at `pack` as `name` beside it, for tampering.
fn tampered_copy(pack: &Path, name: &str) -> PathBuf {
    let copy = pack.with_file_name(name);
    copy_tree(pack, &copy);
    copy
}

#[test]
fn a_fleet_evidence_pack_verifies_elsewhere_and_a_tampered_one_does_not() {
    if !support::testkit::privileged(
        "a_fleet_evidence_pack_verifies_elsewhere_and_a_tampered_one_does_not",
        &["ip", "sha256sum"],
    ) {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let alice = create_token(&home, &db, &["--role", "operator", "--name", "alice"]);
    let bob = create_token(&home, &db, &["--role", "approver", "--name", "bob"]);
    let auditor = create_token(&home, &db, &["--role", "viewer", "--name", "auditor"]);
    let enroll = create_token(&home, &db, &["--role", "enroll"]);
    let server = RunningServer::start(&home, &db);
    let web1 = SigningHost::enroll(&server, &enroll, "web-1", 1);

    for (name, text) in [("web", WEB_POLICY), ("db", DB_POLICY)] {
        assert_eq!(server.propose(&alice, name, text), 1);
        let (status, reply) = server.approve(&bob, name, 1);
        assert_eq!((status, &reply["approved"]), (200, &json!(true)), "{reply}");
    }
    let (status, reply) = server.call(
        "PUT",
        "/api/v1/assignments",
        &alice,
        &json!({"policy": "web", "version": null, "hosts": ["web-1"]}),
    );
    assert_eq!(status, 200, "{reply}");

    // The key as the auditor obtains it out of band: the server's file.
    let server_key = home.state().join("server/ledger/log.pub");
    let key_text = std::fs::read_to_string(&server_key).unwrap();
    let token_file = home.file("auditor.token", format!("{auditor}\n"));
    let url = format!("http://{}", server.address);
    let exporter = Home::new();

    // A key that is not the server's: refused, nothing written.
    let other = tempfile::tempdir().unwrap();
    let out = elsewhere(other.path(), &["ledger", "key"]);
    assert_ok(&out);
    let wrong_key = stdout(&out).trim().to_owned();
    assert_ne!(wrong_key, key_text.trim());
    let refused = exporter.path().join("refused");
    let out = server.client(
        &exporter,
        &[],
        &[
            "evidence",
            "export",
            "--server",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--key",
            &wrong_key,
            "--output",
            refused.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 2, "not by the key given with --key");
    assert!(!refused.exists());
    let left: Vec<_> = std::fs::read_dir(exporter.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("refused")),
        "{left:?}"
    );

    // Without --key: the server's word alone, and evidence.json says so.
    let unchecked = exporter.path().join("unchecked");
    let out = server.client(
        &exporter,
        &[("PORTREEVE_TOKEN", &auditor)],
        &[
            "evidence",
            "export",
            "--server",
            &url,
            "--output",
            unchecked.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    assert!(
        stdout(&out).contains("as the server states it"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        read_json(&unchecked.join("evidence.json"))["fleet"]["key_matched_operator"],
        false
    );

    let exported = exporter.path().join("pack");
    let out = server.client(
        &exporter,
        &[],
        &[
            "evidence",
            "export",
            "--server",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--key",
            server_key.to_str().unwrap(),
            "--output",
            exported.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["kind"], "portreeve.evidence-export");
    assert_matches_schema(&doc["pack"], "docs/schema/evidence-pack.v1.json");

    // Moved to a directory that has never seen the server.
    let auditor_dir = tempfile::tempdir().unwrap();
    let pack = auditor_dir.path().join("pack");
    std::fs::rename(&exported, &pack).unwrap();
    let fresh_state = tempfile::tempdir().unwrap();

    let description = read_json(&pack.join("evidence.json"));
    assert_matches_schema(&description, "docs/schema/evidence-pack.v1.json");
    assert_eq!(description["scope"], "fleet");
    assert_eq!(description["policy"], Value::Null);
    let fleet = &description["fleet"];
    assert_eq!(fleet["server"], url.as_str());
    assert_eq!(fleet["key_matched_operator"], true);
    let policies = fleet["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "only the assigned version: {fleet}");
    let web = &policies[0];
    assert_eq!(
        (web["name"].as_str(), web["version"].as_u64()),
        (Some("web"), Some(1))
    );
    assert_eq!(web["assigned_to"], json!([format!("host {}", web1.id)]));
    assert_eq!(web["sha256"], digest(WEB_POLICY.as_bytes()).as_str());
    assert_eq!(
        std::fs::read_to_string(pack.join("policy/web-v1.toml")).unwrap(),
        WEB_POLICY
    );
    let record = read_json(&pack.join("policy/web-v1.json"));
    assert_eq!(record["proposer"], "alice");
    assert_eq!(record["approvals"][0]["by"], "bob");
    assert_eq!(record["approved"], true);
    assert!(!pack.join("policy/db-v1.toml").exists());
    assert_eq!(
        std::fs::read_to_string(pack.join("log.pub")).unwrap(),
        key_text
    );

    // The fleet's report, checked with the operator's key.
    let report = read_json(&pack.join("report.json"));
    assert_eq!(report["kind"], "portreeve.fleet-report");
    assert_eq!(report["server"], url.as_str());
    assert_eq!(report["hosts"][0]["name"], "web-1");
    assert_eq!(report["ledger"]["key_source"], "operator");
    assert_eq!(report["ledger"]["key"], key_text.trim());
    let html = std::fs::read_to_string(pack.join("report.html")).unwrap();
    assert!(html.contains("web-1") && html.contains("<svg"), "{html}");
    assert_eq!(
        description["report"],
        json!({"html": "report.html", "json": "report.json"})
    );

    // The bundle is the server's ledger: every entry, its exact text.
    let bundle: Bundle =
        serde_json::from_slice(&std::fs::read(pack.join("ledger.bundle")).unwrap()).unwrap();
    let actions: Vec<String> = bundle
        .entries
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for action in [
        "server.token.create",
        "server.host.enroll",
        "server.policy.propose",
        "server.policy.approve",
        "server.policy.assign",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let (status, _, page) = server.get("/api/v1/ledger?limit=1000", Some(&auditor));
    assert_eq!(status, 200);
    let lines: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(bundle.entries, lines);

    // The ledger alone, with the pack's bundle and key.
    let out = elsewhere(
        fresh_state.path(),
        &[
            "ledger",
            "verify",
            "--bundle",
            pack.join("ledger.bundle").to_str().unwrap(),
            "--key",
            pack.join("log.pub").to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    assert!(stdout(&out).contains("Ledger verified"), "{}", stdout(&out));

    // Every proof, with the ledger crate's own checker.
    let size = description["ledger"]["checkpoint_size"].as_u64().unwrap();
    assert_eq!(size, bundle.entries.len() as u64);
    for index in 0..size {
        let proof: InclusionProofDoc =
            serde_json::from_value(read_json(&pack.join(format!("proofs/entry-{index}.json"))))
                .unwrap();
        assert_eq!(
            proof.leaf_hash,
            leaf_hash(bundle.entries[index as usize].as_bytes())
        );
        assert_eq!(proof.tree_size, size);
        proof.verify().unwrap();
    }

    // `sha256sum -c`, without portreeve.
    assert_ok(&run(Command::new("sha256sum")
        .args(["-c", "--quiet", "MANIFEST"])
        .current_dir(&pack)));

    // The whole pack, with the key obtained out of band.
    let out = elsewhere(
        fresh_state.path(),
        &[
            "evidence",
            "verify",
            pack.to_str().unwrap(),
            "--key",
            server_key.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Fleet evidence pack {} (from {url}) verified",
            pack.display()
        )),
        "{text}"
    );
    assert!(text.contains("verified"), "{text}");
    assert!(
        text.contains(&format!("web v1 {}", digest(WEB_POLICY.as_bytes()))),
        "{text}"
    );
    let out = elsewhere(
        fresh_state.path(),
        &[
            "evidence",
            "verify",
            pack.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/evidence-verification.v1.json");
    assert_eq!(doc["result"]["scope"], "fleet");
    assert_eq!(doc["result"]["server"], url.as_str());
    assert_eq!(doc["result"]["verified"], true);
    assert_eq!(doc["result"]["proofs"], size);
    assert_eq!(doc["result"]["policies"].as_array().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_dir(fresh_state.path()).unwrap().count(),
        0,
        "verifying writes nothing"
    );

    // One byte of an entry in the bundle: the MANIFEST, the ledger and the
    // proof of that entry all say so; `ledger verify` fails too.
    let bad = tampered_copy(&pack, "entry-byte");
    let raw = std::fs::read_to_string(bad.join("ledger.bundle")).unwrap();
    let changed = raw.replacen("server.policy.assign", "server.policy.assigm", 1);
    assert_ne!(raw, changed);
    std::fs::write(bad.join("ledger.bundle"), changed).unwrap();
    let assign = actions
        .iter()
        .position(|a| a == "server.policy.assign")
        .unwrap();
    fails(
        fresh_state.path(),
        &bad,
        &server_key,
        &[
            "ledger.bundle: its SHA-256 does not match the MANIFEST",
            "ledger.bundle: ledger verification failed",
            &format!("proofs/entry-{assign}.json: its leaf hash is not that of entry {assign}"),
        ],
    );
    let out = elsewhere(
        fresh_state.path(),
        &[
            "ledger",
            "verify",
            "--bundle",
            bad.join("ledger.bundle").to_str().unwrap(),
            "--key",
            server_key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // A policy text changed, with its digest in evidence.json and its
    // record rewritten and the MANIFEST recomputed: no entry of the
    // signed ledger records that text.
    let bad = tampered_copy(&pack, "policy-text");
    let widened = WEB_POLICY.replace("10.0.0.0/8", "0.0.0.0/0");
    let forged = digest(widened.as_bytes());
    std::fs::write(bad.join("policy/web-v1.toml"), &widened).unwrap();
    let mut desc = read_json(&bad.join("evidence.json"));
    desc["fleet"]["policies"][0]["sha256"] = Value::from(forged.clone());
    std::fs::write(
        bad.join("evidence.json"),
        serde_json::to_vec_pretty(&desc).unwrap(),
    )
    .unwrap();
    let mut rec = read_json(&bad.join("policy/web-v1.json"));
    rec["sha256"] = Value::from(forged.clone());
    std::fs::write(
        bad.join("policy/web-v1.json"),
        serde_json::to_vec_pretty(&rec).unwrap(),
    )
    .unwrap();
    for rel in ["policy/web-v1.toml", "policy/web-v1.json", "evidence.json"] {
        rehash(&bad, rel);
    }
    fails(
        fresh_state.path(),
        &bad,
        &server_key,
        &[&format!(
            "policy/web-v1.toml: its digest {forged} is recorded by no server.policy.propose of policy web version 1 by alice"
        )],
    );
    // The text alone changed (MANIFEST recomputed): evidence.json's digest
    // no longer matches.
    let bad = tampered_copy(&pack, "policy-text-only");
    std::fs::write(bad.join("policy/web-v1.toml"), &widened).unwrap();
    rehash(&bad, "policy/web-v1.toml");
    fails(
        fresh_state.path(),
        &bad,
        &server_key,
        &["policy/web-v1.toml: its digest", "the text was changed"],
    );

    // A proof edited: its path no longer leads to the signed root.
    let bad = tampered_copy(&pack, "proof");
    let file = bad.join("proofs/entry-1.json");
    let mut proof = read_json(&file);
    let first = proof["proof"][0].as_str().unwrap().to_owned();
    let flipped = if first.starts_with('A') { "B" } else { "A" };
    proof["proof"][0] = Value::from(format!("{flipped}{}", &first[1..]));
    std::fs::write(&file, serde_json::to_vec_pretty(&proof).unwrap()).unwrap();
    rehash(&bad, "proofs/entry-1.json");
    fails(
        fresh_state.path(),
        &bad,
        &server_key,
        &["proofs/entry-1.json: it does not verify"],
    );
}

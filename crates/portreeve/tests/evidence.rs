//! Evidence packs: exported on a namespace host with an approved policy, a
//! grant and a block, moved to another directory, and verified there with
//! nothing but the pack — the ledger bundle with the log's key through
//! `ledger verify` and an empty state directory, each inclusion proof with
//! the ledger crate's own proof checker against the signed checkpoint, the
//! MANIFEST with `sha256sum -c`. A pack with one byte of its ledger, one
//! proof or its policy changed fails, saying which file and why. A target
//! that is not empty, or an export that fails, leaves nothing behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use portreeve_ledger::merkle::{InclusionProofDoc, leaf_hash};
use portreeve_ledger::{Bundle, Trust};
use serde_json::Value;
use support::pack::{copy_tree, elsewhere, fails, read_json, rehash};
use support::{Home, Lab, assert_exit, assert_matches_schema, assert_ok, run, stdout};

const SUBNET: u8 = 227;

/// Web from the lab's /24, a debugger opened on demand, SSH from a
/// management zone; blocks are capped at an hour and never hit `office`.
fn policy() -> String {
    format!(
        "[zones]\nlab = [\"10.{SUBNET}.0.0/24\"]\nmgmt = [\"10.{SUBNET}.0.8/29\"]\n\
         office = [\"10.{SUBNET}.0.16/28\"]\n\
         [enforce]\nmanagement_zone = \"mgmt\"\n\
         [detection]\nmax_block_ttl = \"1h\"\nnever_block = [\"office\"]\n\
         [[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
         [[rule]]\nname = \"debugger\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
         grant = {{ max_ttl = \"1h\" }}\n\
         [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\", \"lab\"]\n"
    )
}

#[test]
fn an_evidence_pack_verifies_elsewhere_and_a_tampered_one_does_not() {
    if !support::testkit::privileged(
        "an_evidence_pack_verifies_elsewhere_and_a_tampered_one_does_not",
        &["ip", "python3", "nft", "sha256sum"],
    ) {
        return;
    }
    let lab = Lab::new(SUBNET, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    let text = policy();
    let p = lab.home.file("p.toml", &text);
    for name in ["ann", "ben"] {
        assert_ok(&lab.home.run(&["identity", "new", name]));
    }
    lab.ok(&[
        "propose",
        p.to_str().unwrap(),
        "--reason",
        "audit",
        "--identity",
        "ann",
    ]);
    lab.ok(&[
        "approve",
        "1",
        "--identity",
        "ben",
        "--reason",
        "looks right",
    ]);
    lab.ok(&["apply", "--proposal", "1", "--reason", "go"]);
    let client = format!("10.{SUBNET}.0.2");
    lab.ok(&[
        "grant", "9229", "--from", &client, "--ttl", "30m", "--reason", "debug",
    ]);
    lab.ok(&[
        "block",
        &format!("10.{SUBNET}.0.99"),
        "--ttl",
        "10m",
        "--reason",
        "probing",
    ]);
    let key = lab.ok(&["ledger", "key"]).trim().to_string();

    let pack = lab.home.path().join("pack");
    let summary = lab.ok(&["evidence", "export", "--output", pack.to_str().unwrap()]);
    assert!(summary.contains("Evidence pack written to"), "{summary}");
    // The bundle is what `ledger export` writes, byte for byte.
    let exported = lab.home.path().join("exported.bundle");
    lab.ok(&["ledger", "export", "--output", exported.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(pack.join("ledger.bundle")).unwrap(),
        std::fs::read(&exported).unwrap()
    );

    // Another machine: the pack copied, an empty state directory.
    let other = tempfile::tempdir().unwrap();
    let moved = other.path().join("received");
    copy_tree(&pack, &moved);
    let state = other.path().join("fresh-state");
    std::fs::create_dir(&state).unwrap();
    let bundle_path = moved.join("ledger.bundle");
    let key_path = moved.join("log.pub");
    let out = elsewhere(
        &state,
        &[
            "ledger",
            "verify",
            "--bundle",
            bundle_path.to_str().unwrap(),
            "--key",
            key_path.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    assert!(stdout(&out).contains("Ledger verified"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap().trim(),
        key,
        "log.pub is the key `ledger key` prints"
    );

    // The MANIFEST, checked by a tool that is not portreeve.
    assert_ok(&run(Command::new("sha256sum")
        .args(["--strict", "-c", "MANIFEST"])
        .current_dir(&moved)));

    // Each proof, checked with the ledger crate's own proof checker against
    // the bundle's signed checkpoint.
    let bundle: Bundle =
        serde_json::from_str(&std::fs::read_to_string(&bundle_path).unwrap()).unwrap();
    let trust = Trust {
        log: key.parse().unwrap(),
        witnesses: vec![],
        min_witnesses: 0,
    };
    let verified = bundle.verify(&trust).unwrap();
    let checkpoint = verified.latest.unwrap();
    assert_eq!(verified.unsigned_tail, 0, "the pack covers every entry");
    let description = read_json(&moved.join("evidence.json"));
    assert_matches_schema(&description, "docs/schema/evidence-pack.v1.json");
    let proofs = description["proofs"].as_array().unwrap();
    assert_eq!(proofs.len() as u64, checkpoint.size);
    let mut actions = Vec::new();
    for part in proofs {
        let index = part["index"].as_u64().unwrap();
        let doc: InclusionProofDoc =
            serde_json::from_value(read_json(&moved.join(part["file"].as_str().unwrap()))).unwrap();
        assert_eq!(doc.leaf_idx, index);
        assert_eq!(
            doc.leaf_hash,
            leaf_hash(bundle.entries[index as usize].as_bytes())
        );
        assert_eq!(
            (doc.tree_size, doc.root),
            (checkpoint.size, checkpoint.root)
        );
        doc.verify().unwrap();
        actions.push(part["action"].as_str().unwrap().to_string());
    }
    for change in [
        "policy.propose",
        "policy.approve",
        "apply",
        "grant",
        "block",
    ] {
        assert!(
            actions.iter().any(|a| a == change),
            "a proof for the {change}: {actions:?}"
        );
    }
    // The report is in the pack, and every change it lists has its proof.
    let report = read_json(&moved.join("report.json"));
    assert_eq!(report["kind"], "portreeve.report");
    let listed = report["ledger"]["entries"].as_array().unwrap();
    assert!(!listed.is_empty(), "{report:#}");
    for entry in listed {
        assert!(
            proofs.iter().any(|p| p["index"] == entry["index"]),
            "no proof for reported entry {entry}"
        );
    }
    let html = std::fs::read_to_string(moved.join("report.html")).unwrap();
    assert!(html.contains("</html>"), "a whole HTML document");

    // The same proof `ledger prove --index` gives on the host.
    let last = checkpoint.size - 1;
    let proved = lab.json(&[
        "ledger",
        "prove",
        "--index",
        &last.to_string(),
        "--size",
        &checkpoint.size.to_string(),
    ]);
    assert_eq!(
        proved,
        read_json(&moved.join(format!("proofs/entry-{last}.json")))
    );

    // The policy exactly as applied, tied to the apply entry, with the
    // proposal it was installed on and ben's approval.
    assert_eq!(
        std::fs::read_to_string(moved.join("policy/in-effect.toml")).unwrap(),
        text
    );
    let apply = lab
        .home
        .ledger()
        .into_iter()
        .find(|e| e["action"] == "apply")
        .unwrap();
    assert_eq!(description["policy"]["sha256"], apply["policy"]);
    assert_eq!(description["policy"]["approval"], "proposal 1");
    let proposal = read_json(&moved.join("policy/proposal-1.json"));
    assert_eq!(proposal["approvals"][0]["identity"], "ben");
    assert_eq!(proposal["policy_sha256"], apply["policy"]);

    // The whole pack through portreeve, with the key obtained from the host.
    let out = elsewhere(
        &state,
        &["evidence", "verify", moved.to_str().unwrap(), "--key", &key],
    );
    assert_ok(&out);
    let said = stdout(&out);
    assert!(said.contains("verified"), "{said}");
    assert!(
        said.contains(&format!(
            "signed checkpoint (size {0}): {0} verified",
            checkpoint.size
        )),
        "{said}"
    );
    let out = elsewhere(
        &state,
        &[
            "evidence",
            "verify",
            moved.to_str().unwrap(),
            "--key",
            &key,
            "--format",
            "json",
        ],
    );
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/evidence-verification.v1.json");
    assert_eq!(doc["result"]["verified"], true);
    assert_eq!(doc["result"]["key_from_pack"], false);
    assert_eq!(doc["result"]["proofs"], checkpoint.size);
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "verifying wrote nothing to the empty state directory"
    );

    // One byte of the ledger changed: the grant's action.
    let bad_ledger = other.path().join("bad-ledger");
    copy_tree(&moved, &bad_ledger);
    let mut bytes = std::fs::read(bad_ledger.join("ledger.bundle")).unwrap();
    let at = bytes
        .windows(7)
        .position(|w| w == b"\"grant\\")
        .expect("the grant's action in the bundle");
    bytes[at + 3] = b'i';
    std::fs::write(bad_ledger.join("ledger.bundle"), &bytes).unwrap();
    let bundle_arg = bad_ledger.join("ledger.bundle");
    assert_exit(
        &elsewhere(
            &state,
            &[
                "ledger",
                "verify",
                "--bundle",
                bundle_arg.to_str().unwrap(),
                "--key",
                key_path.to_str().unwrap(),
            ],
        ),
        1,
        "Ledger verification FAILED",
    );
    fails(
        &state,
        &bad_ledger,
        &key,
        &[
            "ledger.bundle: its SHA-256 does not match the MANIFEST",
            "ledger.bundle: ledger verification failed",
        ],
    );

    // One proof changed, then the MANIFEST rewritten to hide it.
    let bad_proof = other.path().join("bad-proof");
    copy_tree(&moved, &bad_proof);
    let rel = format!("proofs/entry-{last}.json");
    let mut doc = read_json(&bad_proof.join(&rel));
    doc["proof"][0] = Value::from("A".repeat(43) + "=");
    std::fs::write(bad_proof.join(&rel), doc.to_string()).unwrap();
    fails(
        &state,
        &bad_proof,
        &key,
        &[&format!("{rel}: its SHA-256 does not match the MANIFEST")],
    );
    rehash(&bad_proof, &rel);
    fails(
        &state,
        &bad_proof,
        &key,
        &[&format!("{rel}: it does not verify: root mismatch")],
    );

    // The approval record claims another approver than the ledger signed.
    let bad_approval = other.path().join("bad-approval");
    copy_tree(&moved, &bad_approval);
    let rel = "policy/proposal-1.json";
    let mut record = read_json(&bad_approval.join(rel));
    record["approvals"][0]["identity"] = Value::from("carol");
    std::fs::write(bad_approval.join(rel), record.to_string()).unwrap();
    rehash(&bad_approval, rel);
    fails(
        &state,
        &bad_approval,
        &key,
        &["policy/proposal-1.json: says carol's policy.approve of proposal 1 is ledger entry"],
    );

    // The policy changed (a port opened wider), MANIFEST and evidence.json
    // rewritten to match: no ledger entry records that text.
    let bad_policy = other.path().join("bad-policy");
    copy_tree(&moved, &bad_policy);
    let widened = text.replace("zones = [\"mgmt\", \"lab\"]", "zones = [\"any\"]");
    std::fs::write(bad_policy.join("policy/in-effect.toml"), &widened).unwrap();
    rehash(&bad_policy, "policy/in-effect.toml");
    fails(
        &state,
        &bad_policy,
        &key,
        &[
            "policy/in-effect.toml: its digest is sha256:",
            "the text was changed",
        ],
    );
    let mut desc = read_json(&bad_policy.join("evidence.json"));
    desc["policy"]["sha256"] = Value::from(portreeve_ledger::digest(widened.as_bytes()));
    std::fs::write(bad_policy.join("evidence.json"), desc.to_string()).unwrap();
    rehash(&bad_policy, "evidence.json");
    fails(
        &state,
        &bad_policy,
        &key,
        &[
            "is recorded by no entry of ledger.bundle",
            "policy/proposal-1.toml: proposal 1 holds another text",
        ],
    );
}

/// The files and directories directly in `dir`, by name.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_pack_is_written_whole_into_a_new_or_empty_directory_or_not_at_all() {
    let home = Home::new();
    let target: PathBuf = home.path().join("pack");

    // Nothing recorded yet: refused, and nothing created.
    assert_exit(
        &home.run(&["evidence", "export", "--output", target.to_str().unwrap()]),
        2,
        "no ledger",
    );
    assert!(!target.exists());

    assert_ok(&home.run(&["identity", "new", "ann"]));
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();
    let before = names(home.path());
    assert_exit(
        &home.run(&["evidence", "export", "--output", target.to_str().unwrap()]),
        2,
        "is not empty",
    );
    assert_eq!(names(&target), ["notes.txt"]);
    assert_eq!(names(home.path()), before, "no temporary directory left");

    // An empty directory is filled; no policy was ever applied here.
    std::fs::remove_file(target.join("notes.txt")).unwrap();
    let out = home.run(&["evidence", "export", "--output", target.to_str().unwrap()]);
    assert_ok(&out);
    assert!(stdout(&out).contains("none in effect"), "{}", stdout(&out));
    assert_eq!(names(home.path()), before, "no temporary directory left");
    assert_eq!(
        names(&target),
        [
            "MANIFEST",
            "evidence.json",
            "ledger.bundle",
            "log.pub",
            "proofs",
            "report.html",
            "report.json"
        ]
    );
    let verified = home.run(&["evidence", "verify", target.to_str().unwrap()]);
    assert_ok(&verified);
    assert!(
        stdout(&verified).contains("the pack's own log.pub"),
        "without --key it says what that proves: {}",
        stdout(&verified)
    );

    // A file slipped in afterwards is named.
    std::fs::write(target.join("extra.txt"), "later").unwrap();
    let out = home.run(&["evidence", "verify", target.to_str().unwrap()]);
    assert_exit(&out, 1, "extra.txt: not listed in the MANIFEST");
    let out = home.run(&[
        "evidence",
        "verify",
        target.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/evidence-verification.v1.json");
    assert_eq!(doc["result"]["verified"], false);
    assert_eq!(doc["result"]["key_from_pack"], true);

    // The summary as JSON: what was written, and the pack's description.
    let second = home.path().join("second");
    let out = home.run(&[
        "evidence",
        "export",
        "--output",
        second.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["kind"], "portreeve.evidence-export");
    assert_matches_schema(&doc["pack"], "docs/schema/evidence-pack.v1.json");
    assert_eq!(doc["pack"], read_json(&second.join("evidence.json")));
    assert_eq!(doc["files"].as_array().unwrap().last().unwrap(), "MANIFEST");
}

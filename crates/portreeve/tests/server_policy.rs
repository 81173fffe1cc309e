//! Fleet policy on `portreeve server` and the server's own ledger, each
//! test run on SQLite and on PostgreSQL (docs/server.md, "Fleet policy"
//! and "The server's ledger"): versions proposed and approved by two
//! people, assigned to groups and hosts, pulled by a host with its signed
//! request and checked against the key it got at enrollment; every change
//! an entry of the ledger whose inclusion proof a client checks itself.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use portreeve_fleet_protocol::{
    AppliedPolicy, HOST_HEADER, PolicyAssignment, PolicyPull, Push, SIGNATURE_HEADER, SignedPolicy,
};
use portreeve_ledger::merkle::{Hash, leaf_hash, verify_inclusion};
use portreeve_ledger::note::{Checkpoint, Note, VerifierKey};
use serde_json::{Value, json};
use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, on_each_database, server_cmd,
};
use support::{Home, assert_ok};

/// A valid policy: two rules in one zone.
const WEB_POLICY: &str = "version = 1\n\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n\
                          [[rule]]\nname = \"https\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// Another: one rule.
const DB_POLICY: &str = "version = 1\n\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n\
                         [[rule]]\nname = \"pg\"\nport = 5432\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// The server's configuration: two approvals per version.
const TWO_APPROVALS: &str = "[change_control]\napprovals = 2\n";

/// `host`'s policy pull sent at `sent_at`, signed with `signature` (the
/// host's own over the body when `None`).
fn pull_at(
    server: &RunningServer,
    host: &SigningHost,
    sent_at: jiff::Timestamp,
    signature: Option<&str>,
) -> (u16, Value) {
    let body = serde_json::to_vec(&PolicyPull {
        host_id: host.id.clone(),
        sent_at,
    })
    .unwrap();
    let own = host.sign(&body);
    let (status, _, reply) = server.send(
        "POST",
        "/api/v1/policy/pull",
        &[
            (HOST_HEADER, &host.id),
            (SIGNATURE_HEADER, signature.unwrap_or(&own)),
        ],
        &body,
    );
    (status, reply)
}

/// The policy `host` pulls now, checked to be a 200.
fn pull(server: &RunningServer, host: &SigningHost) -> Option<SignedPolicy> {
    let (status, reply) = pull_at(server, host, jiff::Timestamp::now(), None);
    assert_eq!(status, 200, "{reply}");
    serde_json::from_value::<PolicyAssignment>(reply)
        .unwrap()
        .policy
}

/// Whether `policy`'s signature verifies with the server key `key`
/// (base64), as the agent checks it.
fn signed_by(policy: &SignedPolicy, key: &str) -> bool {
    let key: [u8; 32] = STANDARD.decode(key).unwrap().try_into().unwrap();
    let Ok(signature) = STANDARD.decode(&policy.signature) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&signature) else {
        return false;
    };
    VerifyingKey::from_bytes(&key)
        .unwrap()
        .verify_strict(&policy.signed_bytes(), &signature)
        .is_ok()
}

/// The server on `db` with two approvals per version.
fn start(home: &Home, db: &TestDatabase) -> RunningServer {
    let config = home.file("server.toml", TWO_APPROVALS);
    RunningServer::start_with(
        home,
        db,
        support::Netns::bare(),
        "127.0.0.1:0",
        &["--config", config.to_str().unwrap()],
    )
}

#[test]
fn an_approved_policy_assigned_to_a_group_reaches_its_host_signed_by_the_server() {
    on_each_database(
        "an_approved_policy_assigned_to_a_group_reaches_its_host_signed_by_the_server",
        |home, db| {
            let alice = create_token(home, db, &["--role", "operator", "--name", "alice"]);
            let bob = create_token(home, db, &["--role", "approver", "--name", "bob"]);
            let dave = create_token(home, db, &["--role", "approver", "--name", "dave"]);
            let carol = create_token(home, db, &["--role", "admin", "--name", "carol"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
            let server = start(home, db);
            let web1 = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let key = web1
                .server_key
                .clone()
                .expect("enrollment gives the server's key");
            assert_eq!(STANDARD.decode(&key).unwrap().len(), 32);
            assert_eq!(pull(&server, &web1), None, "nothing assigned yet");

            // Bad TOML: 400 naming the line.
            let (status, reply) = server.call(
                "POST",
                "/api/v1/policies",
                &alice,
                &json!({"name": "web", "text": "version = 1\n[[rule]]\nport = \"x\"\n"}),
            );
            assert_eq!(status, 400, "{reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("web.toml:2:1: missing field `protocol`"),
                "{message}"
            );

            let version = server.propose(&alice, "web", WEB_POLICY);
            assert_eq!(version, 1);
            // Not approved: it cannot be assigned.
            let (status, reply) = server.call(
                "PUT",
                "/api/v1/assignments",
                &alice,
                &json!({"policy": "web", "version": 1, "groups": ["dmz"]}),
            );
            assert_eq!(status, 409, "{reply}");
            // An operator may not approve; a proposer may not approve their own.
            assert_eq!(server.approve(&alice, "web", 1).0, 403);
            let own = server.propose(&carol, "web", DB_POLICY);
            let (status, reply) = server.approve(&carol, "web", own);
            assert_eq!(status, 403, "{reply}");
            assert!(
                reply["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("proposed"),
                "{reply}"
            );

            // Two approvals by others: one is not enough, twice is refused.
            let (status, reply) = server.approve(&bob, "web", 1);
            assert_eq!(
                (status, &reply["approved"]),
                (200, &json!(false)),
                "{reply}"
            );
            assert_eq!(server.approve(&bob, "web", 1).0, 409);
            let (status, reply) = server.approve(&dave, "web", 1);
            assert_eq!((status, &reply["approved"]), (200, &json!(true)), "{reply}");
            assert!(reply["signature"].is_string(), "{reply}");

            let (status, reply) = server.call(
                "POST",
                &format!("/api/v1/hosts/{}/groups", web1.id),
                &alice,
                &json!({"groups": ["dmz"]}),
            );
            assert_eq!(status, 200, "{reply}");
            let (status, reply) = server.call(
                "PUT",
                "/api/v1/assignments",
                &alice,
                &json!({"policy": "web", "version": null, "groups": ["dmz"]}),
            );
            assert_eq!(status, 200, "{reply}");

            let pulled = pull(&server, &web1).expect("the group's policy");
            assert_eq!((pulled.name.as_str(), pulled.version), ("web", 1));
            assert_eq!(pulled.text, WEB_POLICY);
            assert_eq!(
                pulled.sha256,
                portreeve_ledger::digest(WEB_POLICY.as_bytes())
            );
            assert_eq!(pulled.proposer, "alice");
            assert_eq!(pulled.approvers, ["bob", "dave"]);
            assert!(signed_by(&pulled, &key), "the signature verifies");
            let mut forged = pulled.clone();
            forged.approvers = vec!["bob".into(), "dave".into(), "eve".into()];
            assert!(!signed_by(&forged, &key), "and covers the approvers");

            // A pull signed by another key, or sent long ago, is refused.
            let stranger = STANDARD.encode([7u8; 64]);
            let (status, _) = pull_at(&server, &web1, jiff::Timestamp::now(), Some(&stranger));
            assert_eq!(status, 401);
            let stale = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
            let (status, reply) = pull_at(&server, &web1, stale, None);
            assert_eq!(status, 400, "{reply}");

            // The host's own assignment beats its group's.
            let db_version = server.propose(&alice, "db", DB_POLICY);
            server.approve(&bob, "db", db_version);
            server.approve(&carol, "db", db_version);
            let (status, reply) = server.call(
                "PUT",
                "/api/v1/assignments",
                &carol,
                &json!({"policy": "db", "version": db_version, "hosts": ["web-1"]}),
            );
            assert_eq!(status, 200, "{reply}");
            let pulled = pull(&server, &web1).unwrap();
            assert_eq!((pulled.name.as_str(), pulled.approvers.len()), ("db", 2));
            assert!(signed_by(&pulled, &key));

            // What the host reports is shown with what it is assigned.
            let applied = AppliedPolicy {
                name: "db".into(),
                version: db_version,
                sha256: pulled.sha256.clone(),
                generation: Some(4),
                state: "confirmed".into(),
                message: None,
                at: jiff::Timestamp::from_second(1_796_000_000).unwrap(),
            };
            let mut push: Push = serde_json::from_value(json!({
                "host_id": web1.id, "seq": 1, "sent_at": jiff::Timestamp::now(),
                "listeners": [], "findings": [], "drift": [], "ledger": null,
            }))
            .unwrap();
            push.policy = Some(applied.clone());
            let (status, reply) = web1.push(&server, &push);
            assert_eq!(status, 200, "{reply}");
            let (status, _, detail) = server.get(&format!("/api/v1/hosts/{}", web1.id), Some(&bob));
            assert_eq!(status, 200);
            assert_eq!(
                detail["policy"],
                json!({"assigned": {"name": "db", "version": db_version},
                       "applied": serde_json::to_value(&applied).unwrap()})
            );
            let (_, _, hosts) = server.get("/api/v1/hosts", Some(&bob));
            assert_eq!(hosts[0]["policy"], detail["policy"]);

            // Taking the host's own assignment away leaves its group's.
            let (status, reply) = server.call(
                "PUT",
                "/api/v1/assignments",
                &alice,
                &json!({"policy": null, "hosts": ["web-1"]}),
            );
            assert_eq!(status, 200, "{reply}");
            assert_eq!(reply.as_array().unwrap().len(), 1, "the group's: {reply}");
            assert_eq!(pull(&server, &web1).unwrap().name, "web");

            // A restart keeps the versions, and the key they are signed with.
            server.stop();
            let server = start(home, db);
            let (status, _, versions) = server.get("/api/v1/policies", Some(&bob));
            assert_eq!(status, 200);
            assert_eq!(versions.as_array().unwrap().len(), 3, "{versions}");
            let pulled = pull(&server, &web1).unwrap();
            assert!(signed_by(&pulled, &key));
            let (status, _, one) = server.get("/api/v1/policies/web/1", Some(&bob));
            assert_eq!((status, one["text"].as_str()), (200, Some(WEB_POLICY)));
            server.stop();
        },
    );
}

#[test]
fn every_change_is_an_entry_of_the_servers_ledger_whose_proof_verifies() {
    on_each_database(
        "every_change_is_an_entry_of_the_servers_ledger_whose_proof_verifies",
        |home, db| {
            let alice = create_token(home, db, &["--role", "operator", "--name", "alice"]);
            let bob = create_token(home, db, &["--role", "approver", "--name", "bob"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--name", "rollout"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "db-1", 2);
            let version = server.propose(&alice, "web", WEB_POLICY);
            assert_eq!(server.approve(&bob, "web", version).0, 200);
            let (status, reply) = server.call(
                "PUT",
                "/api/v1/assignments",
                &alice,
                &json!({"policy": "web", "hosts": [host.id]}),
            );
            assert_eq!(status, 200, "{reply}");
            // The command line appends to the same ledger while the server runs.
            let spare = create_token(home, db, &["--role", "viewer", "--name", "spare"]);
            let tokens = server_cmd(home, db, &["token", "list", "--format", "json"]);
            assert_ok(&tokens);
            let listed: Value = serde_json::from_slice(&tokens.stdout).unwrap();
            let spare_id = listed["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == "spare")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_ok(&server_cmd(home, db, &["token", "revoke", &spare_id]));
            assert_ok(&server_cmd(home, db, &["host", "revoke", "db-1"]));
            let (status, _, _) = server.get("/api/v1/ledger", Some(&spare));
            assert_eq!(status, 401, "the revoked token reads nothing");

            let (status, _, page) = server.get("/api/v1/ledger?limit=1000", Some(&bob));
            assert_eq!(status, 200, "{page}");
            let entries = page["entries"].as_array().unwrap();
            let done: Vec<(&str, &str)> = entries
                .iter()
                .map(|e| {
                    (
                        e["entry"]["action"].as_str().unwrap(),
                        e["entry"]["actor"].as_str().unwrap(),
                    )
                })
                .collect();
            let cli = done[0].1;
            assert_eq!(
                done,
                [
                    ("server.token.create", cli),
                    ("server.token.create", cli),
                    ("server.token.create", cli),
                    ("server.host.enroll", "rollout"),
                    ("server.policy.propose", "alice"),
                    ("server.policy.approve", "bob"),
                    ("server.policy.assign", "alice"),
                    ("server.token.create", cli),
                    ("server.token.revoke", cli),
                    ("server.host.revoke", cli),
                ]
            );
            let size = page["size"].as_u64().unwrap();
            assert_eq!(size, 10);
            let propose_entry = &entries[4]["entry"];
            assert_eq!(propose_entry["object"], "policy web version 1");
            assert_eq!(
                propose_entry["after"],
                portreeve_ledger::digest(WEB_POLICY.as_bytes())
            );

            // The checkpoint is signed by the ledger's key; each entry's
            // proof leads from SHA-256(0x00 || line) to its root.
            let key: VerifierKey = page["key"].as_str().unwrap().parse().unwrap();
            let note = Note::parse(page["checkpoint"].as_str().unwrap()).unwrap();
            note.verify(&[key])
                .expect("the checkpoint's signature verifies");
            let checkpoint = Checkpoint::parse_text(&note.text).unwrap();
            assert_eq!(checkpoint.size, size);
            for entry in entries {
                let index = entry["index"].as_u64().unwrap();
                let line = entry["line"].as_str().unwrap();
                let leaf = leaf_hash(line.as_bytes());
                assert_eq!(entry["leaf_hash"], hex(&leaf));
                assert_eq!(serde_json::from_str::<Value>(line).unwrap(), entry["entry"]);
                let (status, _, proof) =
                    server.get(&format!("/api/v1/ledger/proof?index={index}"), Some(&bob));
                assert_eq!(status, 200, "{proof}");
                let path: Vec<Hash> = proof["proof"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| unhex(h.as_str().unwrap()))
                    .collect();
                let root = unhex(proof["root"].as_str().unwrap());
                assert_eq!(root, checkpoint.root, "the proof is against the checkpoint");
                verify_inclusion(&leaf, index, size, &path, &root)
                    .unwrap_or_else(|e| panic!("entry {index}: {e}"));
                // Another entry's line does not pass for this one.
                let other = leaf_hash(
                    entries[(index as usize + 1) % 10]["line"]
                        .as_str()
                        .unwrap()
                        .as_bytes(),
                );
                assert!(verify_inclusion(&other, index, size, &path, &root).is_err());
            }
            let (status, _, page) = server.get("/api/v1/ledger?after=8&limit=5", Some(&bob));
            assert_eq!(status, 200);
            let indexes: Vec<u64> = page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["index"].as_u64().unwrap())
                .collect();
            assert_eq!(indexes, [8, 9]);
            let (status, _, _) = server.get("/api/v1/ledger/proof?index=10", Some(&bob));
            assert_eq!(status, 400);

            // A restart keeps the ledger.
            server.stop();
            let server = RunningServer::start(home, db);
            let (_, _, again) = server.get("/api/v1/ledger?limit=1000", Some(&bob));
            assert_eq!(again["size"], 10);
            assert_eq!(again["entries"][4]["line"], entries[4]["line"]);
            server.stop();
        },
    );
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from 64 hex digits.
fn unhex(text: &str) -> Hash {
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

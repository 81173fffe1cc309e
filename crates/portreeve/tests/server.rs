//! `portreeve server` and its tokens, each test run twice: on SQLite in the
//! state directory (the default, no `--database`), and on a PostgreSQL
//! database of its own over the Unix socket. The server listens on a port
//! the kernel picks on the loopback of a namespace the test made (so they
//! need root); requests are plain HTTP/1.1 written here.

mod support;

use std::time::Duration;

use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, enroll_key, on_each_database,
    server_cmd,
};
use support::{Home, assert_exit, assert_matches_schema, assert_ok, stdout, testkit};

use ed25519_dalek::SigningKey;
use portreeve_fleet_protocol::{
    HOST_HEADER, LedgerCheckpoint, MAX_PUSH_BYTES, Push, PushedDrift, PushedFinding,
    PushedListener, SIGNATURE_HEADER,
};

#[test]
fn migrations_apply_once_and_a_restart_keeps_tokens_and_tables() {
    on_each_database(
        "migrations_apply_once_and_a_restart_keeps_tokens_and_tables",
        |home, db| {
            let token = create_token(home, db, &["--role", "viewer"]);
            let server = RunningServer::start(home, db);
            let (status, _, hosts) = server.get("/api/v1/hosts", Some(&token));
            assert_eq!((status, hosts), (200, serde_json::json!([])));
            server.stop();

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&token)).0, 200);
            server.stop();
            assert_eq!(
                db.query("SELECT version, name FROM schema_migrations ORDER BY version"),
                "1|tokens_and_hosts\n2|enrollment_and_pushes\n3|lifecycle\n4|policies\n5|grants_blocks\n6|state_digest\n7|finding_history\n"
            );
            assert_eq!(db.query("SELECT COUNT(*) FROM hosts"), "0\n");
            assert_eq!(db.query("SELECT COUNT(*) FROM api_tokens"), "1\n");
        },
    );
}

#[test]
fn a_created_token_authenticates_and_no_listing_shows_it_or_its_hash() {
    on_each_database(
        "a_created_token_authenticates_and_no_listing_shows_it_or_its_hash",
        |home, db| {
            let admin = create_token(home, db, &["--role", "admin", "--name", "ops team"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--ttl", "1h"]);
            assert_ne!(admin, enroll);
            let hashes = db.query("SELECT token_hash FROM api_tokens");
            assert_eq!(hashes.lines().count(), 2);

            let table = server_cmd(home, db, &["token", "list"]);
            let json = server_cmd(home, db, &["token", "list", "--format", "json"]);
            for out in [&table, &json] {
                assert_ok(out);
                let text = stdout(out);
                for secret in [&admin, &enroll] {
                    assert!(!text.contains(&secret[4..]), "a token is listed: {text}");
                }
                for hash in hashes.lines() {
                    assert!(!text.contains(hash), "a hash is listed: {text}");
                }
            }
            assert!(stdout(&table).contains("ops team"), "{}", stdout(&table));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
            assert_matches_schema(&doc, "docs/schema/server-tokens.v1.json");
            let roles: Vec<_> = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["role"].clone())
                .collect();
            assert_eq!(roles.len(), 2);
            assert!(roles.contains(&"admin".into()) && roles.contains(&"enroll".into()));

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&admin)).0, 200);
            server.stop();
        },
    );
}

#[test]
fn no_live_token_gets_401_and_a_role_that_may_not_read_gets_403() {
    on_each_database(
        "no_live_token_gets_401_and_a_role_that_may_not_read_gets_403",
        |home, db| {
            let viewer = create_token(home, db, &["--role", "viewer", "--ttl", "1h"]);
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let revoked = create_token(home, db, &["--role", "admin"]);
            let short = create_token(home, db, &["--role", "operator", "--ttl", "1s"]);
            let list = server_cmd(home, db, &["token", "list", "--format", "json"]);
            assert_ok(&list);
            let doc: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
            let admin_id = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["role"] == "admin")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_ok(&server_cmd(home, db, &["token", "revoke", &admin_id]));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&server_cmd(
                home,
                db,
                &["token", "list", "--format", "json"],
            )))
            .unwrap();
            let admin = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == admin_id.as_str())
                .unwrap();
            assert!(admin["revoked"].is_string(), "{admin}");

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&viewer)).0, 200);
            std::thread::sleep(Duration::from_millis(2100)); // past `short`'s 1s
            // The viewer's token with its last digit changed.
            let (kept, last) = viewer.split_at(viewer.len() - 1);
            let tampered = format!("{kept}{}", if last == "0" { "1" } else { "0" });
            for (token, why) in [
                (None, "no token"),
                (Some("prt_nonsense"), "not a token"),
                (Some(tampered.as_str()), "a changed token"),
                (Some(revoked.as_str()), "a revoked token"),
                (Some(short.as_str()), "an expired token"),
            ] {
                let (status, head, body) = server.get("/api/v1/hosts", token);
                assert_eq!(status, 401, "{why}: {body}");
                assert!(head.contains("www-authenticate: bearer"), "{why}: {head}");
                assert_eq!(body["error"]["status"], 401, "{why}: {body}");
                assert!(body["error"]["message"].is_string(), "{why}: {body}");
            }
            let (status, _, body) = server.get("/api/v1/hosts", Some(&enroll));
            assert_eq!(status, 403, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("enroll"),
                "{body}"
            );
            assert_eq!(server.get("/api/v1/hosts", Some(&viewer)).0, 200);
            server.stop();
        },
    );
}

#[test]
fn the_openapi_document_is_public_and_names_every_path_served() {
    if !testkit::privileged(
        "the_openapi_document_is_public_and_names_every_path_served",
        &["ip"],
    ) {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let viewer = create_token(&home, &db, &["--role", "viewer"]);
    let enroll = create_token(&home, &db, &["--role", "enroll"]);
    let admin = create_token(&home, &db, &["--role", "admin", "--name", "ops"]);
    let server = RunningServer::start(&home, &db);
    let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
    // A policy version, for the paths that name one.
    let proposal = serde_json::json!({"name": "web", "text": "version = 1\n"});
    let (status, _, body) = server.send(
        "POST",
        "/api/v1/policies",
        &[("Authorization", &format!("Bearer {admin}"))],
        &serde_json::to_vec(&proposal).unwrap(),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, doc) = server.get("/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/api/v1/assignments",
            "/api/v1/blocks",
            "/api/v1/drift",
            "/api/v1/enroll",
            "/api/v1/findings",
            "/api/v1/findings/history",
            "/api/v1/grants",
            "/api/v1/hosts",
            "/api/v1/hosts/{id}",
            "/api/v1/hosts/{id}/groups",
            "/api/v1/ledger",
            "/api/v1/ledger/proof",
            "/api/v1/lifecycle",
            "/api/v1/openapi.json",
            "/api/v1/policies",
            "/api/v1/policies/{name}/{version}",
            "/api/v1/policies/{name}/{version}/approve",
            "/api/v1/policy/pull",
            "/api/v1/push"
        ]
    );
    let auth = format!("Bearer {viewer}");
    for (path, operations) in doc["paths"].as_object().unwrap() {
        let path = path
            .replace("{id}", &host.id)
            .replace("{name}/{version}", "web/1")
            .replace("/proof", "/proof?index=0");
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            let (status, _, body) = server.send(&method, &path, &[("Authorization", &auth)], b"{}");
            // Served: a GET answers the viewer; a POST or PUT refuses this body
            // (or this token) for what it is, not for want of a route.
            let served = if method == "GET" {
                status == 200
            } else {
                [400, 401, 403].contains(&status)
            };
            assert!(served, "{method} {path}: {status} {body}");
        }
    }
    assert_eq!(server.get("/api/v1/nothing", Some(&viewer)).0, 404);
    server.stop();
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let home = Home::new();
    for (args, says) in [
        (&["--role", "root"][..], "`root` is not a role"),
        (
            &["--role", "viewer", "--ttl", "soon"],
            "`soon` is not a duration",
        ),
        (&["--role", "viewer", "--ttl", "500ms"], "at least 1s"),
        (
            &["--role", "viewer", "--database", "/tmp/server.db"],
            "is not a database URL",
        ),
        (
            &["--role", "viewer", "--database", "postgres://h:port/db"],
            "database URL is not valid",
        ),
        (
            &["--role", "viewer", "--uses", "2"],
            "--uses limits enroll tokens",
        ),
        (&["--role", "enroll", "--uses", "0"], "0 is not in 1.."),
    ] {
        let mut all = vec!["server", "token", "create"];
        all.extend(args);
        let out = home.run(&all);
        assert_exit(&out, 2, says);
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(
        !home.state().join("server.db").exists(),
        "a database was written"
    );
    assert_exit(
        &home.run(&["server", "--database", "mysql://x/y"]),
        2,
        "is not a database URL",
    );

    on_each_database("bad_input_exits_2_and_writes_nothing", |home, db| {
        let out = server_cmd(home, db, &["token", "revoke", "0123456789ab"]);
        assert_exit(&out, 2, "no token has the id `0123456789ab`");
        let out = server_cmd(home, db, &["host", "revoke", "web-9"]);
        assert_exit(&out, 2, "no host has the name or id `web-9`");
    });
}

#[test]
fn a_change_the_servers_ledger_refuses_is_not_made() {
    on_each_database(
        "a_change_the_servers_ledger_refuses_is_not_made",
        |home, db| {
            let _first = create_token(home, db, &["--role", "viewer", "--name", "first"]);
            let id = db.query("SELECT id FROM api_tokens");
            let id = id.trim();
            // Rewrite one recorded byte: the ledger no longer matches its
            // signed checkpoint, and nothing more can be recorded in it.
            let entries = home.state().join("server/ledger/entries.jsonl");
            let text = std::fs::read_to_string(&entries).unwrap();
            assert!(text.contains("first"), "{text}");
            std::fs::write(&entries, text.replacen("first", "forst", 1)).unwrap();

            let out = server_cmd(home, db, &["token", "create", "--role", "admin"]);
            assert!(!out.status.success(), "{}", support::stderr(&out));
            assert_eq!(stdout(&out), "", "a secret was shown for a token not kept");
            assert_eq!(db.query("SELECT COUNT(*) FROM api_tokens"), "1\n");

            let out = server_cmd(home, db, &["token", "revoke", id]);
            assert!(!out.status.success(), "{}", support::stderr(&out));
            assert_eq!(
                db.query("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL"),
                "1\n",
                "the token was revoked without an entry"
            );
        },
    );
}

#[test]
fn a_state_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    std::fs::create_dir(home.state()).unwrap();
    std::fs::set_permissions(home.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = home.run(&["server", "token", "create", "--role", "admin"]);
    assert_exit(&out, 3, "lets others write to it");
    assert_eq!(stdout(&out), "");
    assert!(
        !home.state().join("server.db").exists(),
        "a database was written"
    );
}

/// A push numbered `seq` by `host` with `state`'s listeners, findings,
/// drift and checkpoint, as the agent sends it: its JSON and the signature.
fn signed_push(host: &SigningHost, seq: u64, state: &State) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&Push {
        host_id: host.id.clone(),
        seq,
        // Whole seconds: a body's length must not depend on the clock's
        // fraction (the size-limit case pads to an exact length).
        sent_at: jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap(),
        listeners: state.listeners.clone(),
        findings: state.findings.clone(),
        drift: state.drift.clone(),
        ledger: state.ledger.clone(),
        lifecycle: None,
        policy: None,
        grants: None,
        blocks: None,
    })
    .unwrap();
    let signature = host.sign(&body);
    (body, signature)
}

/// What a push carries besides its numbers.
#[derive(Default)]
struct State {
    listeners: Vec<PushedListener>,
    findings: Vec<PushedFinding>,
    drift: Vec<PushedDrift>,
    ledger: Option<LedgerCheckpoint>,
}

fn listener(protocol: &str, port: u16, process: &str) -> PushedListener {
    PushedListener {
        protocol: protocol.into(),
        address: "0.0.0.0".into(),
        port,
        process: Some(process.into()),
        pid: Some(100 + u32::from(port)),
        container: None,
    }
}

fn finding(severity: &str, port: u16) -> PushedFinding {
    PushedFinding {
        code: "PR001".into(),
        severity: severity.into(),
        port: Some(port),
        message: format!("port {port} listens but no rule allows it"),
        remediation: None,
    }
}

fn checkpoint(index: u64, head: char) -> Option<LedgerCheckpoint> {
    Some(LedgerCheckpoint {
        index,
        head: head.to_string().repeat(64),
    })
}

/// POST /api/v1/push of `body` as the host `host_id` with `signature`.
fn send_push(
    server: &RunningServer,
    host_id: &str,
    signature: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    let (status, _, reply) = server.send(
        "POST",
        "/api/v1/push",
        &[(HOST_HEADER, host_id), (SIGNATURE_HEADER, signature)],
        body,
    );
    (status, reply)
}

/// Sends `host`'s push numbered `seq` of `state`; the reply's `accepted`.
fn push(server: &RunningServer, host: &SigningHost, seq: u64, state: &State) -> bool {
    let (body, signature) = signed_push(host, seq, state);
    let (status, reply) = send_push(server, &host.id, &signature, &body);
    assert_eq!(status, 200, "{reply}");
    reply["accepted"].as_bool().expect("accepted")
}

/// The counts of the tables pushes write, and the host's last seq.
fn stored(db: &TestDatabase) -> String {
    db.query(
        "SELECT (SELECT COUNT(*) FROM host_listeners), (SELECT COUNT(*) FROM host_findings),
                (SELECT COUNT(*) FROM drift_events), (SELECT COUNT(*) FROM ledger_checkpoints),
                (SELECT MAX(last_seq) FROM hosts)",
    )
}

#[test]
fn an_enroll_token_enrolls_as_many_hosts_as_its_uses() {
    on_each_database(
        "an_enroll_token_enrolls_as_many_hosts_as_its_uses",
        |home, db| {
            let once = create_token(home, db, &["--role", "enroll"]);
            let twice = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
            let viewer = create_token(home, db, &["--role", "viewer"]);
            let server = RunningServer::start(home, db);

            SigningHost::enroll(&server, &once, "web-1", 1);
            let (status, body) =
                enroll_key(&server, &once, "web-2", &SigningKey::from_bytes(&[2; 32]));
            assert_eq!(status, 401, "a used-up token: {body}");
            SigningHost::enroll(&server, &twice, "web-2", 2);
            let (status, body) =
                enroll_key(&server, &twice, "web-1", &SigningKey::from_bytes(&[3; 32]));
            assert_eq!(status, 409, "a name enrolled already: {body}");
            SigningHost::enroll(&server, &twice, "web-3", 3);
            let (status, _) =
                enroll_key(&server, &twice, "web-4", &SigningKey::from_bytes(&[4; 32]));
            assert_eq!(status, 401, "its second use was its last");
            let (status, _) =
                enroll_key(&server, &viewer, "web-4", &SigningKey::from_bytes(&[4; 32]));
            assert_eq!(status, 403, "a viewer may not enroll");
            server.stop();

            assert_eq!(
                db.query("SELECT name FROM hosts ORDER BY name"),
                "web-1\nweb-2\nweb-3\n"
            );
            let list = server_cmd(home, db, &["token", "list", "--format", "json"]);
            let doc: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
            assert_matches_schema(&doc, "docs/schema/server-tokens.v1.json");
            let mut uses: Vec<String> = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{} {}", t["role"], t["uses_left"]))
                .collect();
            uses.sort();
            assert_eq!(uses, [r#""enroll" 0"#, r#""enroll" 0"#, r#""viewer" null"#]);
        },
    );
}

#[test]
fn a_push_is_listed_stored_once_and_kept_across_a_restart() {
    on_each_database(
        "a_push_is_listed_stored_once_and_kept_across_a_restart",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let viewer = create_token(home, db, &["--role", "viewer"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let first = State {
                listeners: vec![
                    listener("tcp", 6379, "redis-server"),
                    listener("udp", 53, "named"),
                ],
                findings: vec![
                    finding("high", 6379),
                    finding("high", 53),
                    finding("low", 53),
                ],
                drift: vec![PushedDrift {
                    at: "2026-12-06T21:00:00Z".parse().unwrap(),
                    kind: "appeared".into(),
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: 6379,
                    process: Some("redis-server".into()),
                }],
                ledger: checkpoint(4, 'a'),
            };
            assert!(push(&server, &host, 1, &first));
            let expected = serde_json::json!([{
                "id": host.id,
                "name": "web-1",
                "revoked": false,
                "ledger_inconsistent": false,
                "listeners": [
                    {"port": 53, "protocol": "udp", "address": "0.0.0.0", "process": "named", "container": null},
                    {"port": 6379, "protocol": "tcp", "address": "0.0.0.0", "process": "redis-server", "container": null},
                ],
                "findings_by_severity": {"critical": 0, "high": 2, "medium": 0, "low": 1, "info": 0},
                "policy": {"assigned": null, "applied": null},
            }]);
            let listed = |server: &RunningServer| {
                let (status, _, mut hosts) = server.get("/api/v1/hosts", Some(&viewer));
                assert_eq!(status, 200, "{hosts}");
                for h in hosts.as_array_mut().unwrap() {
                    let h = h.as_object_mut().unwrap();
                    assert!(h.remove("last_seen").unwrap().is_string(), "{h:?}");
                    assert!(h.remove("enrolled_at").unwrap().is_string(), "{h:?}");
                }
                hosts
            };
            assert_eq!(listed(&server), expected);
            assert_eq!(stored(db), "2|3|1|1|1\n");

            // The same seq again, even with other contents: nothing stored.
            let replay = State {
                listeners: vec![listener("tcp", 22, "sshd")],
                ..first
            };
            assert!(!push(&server, &host, 1, &replay));
            assert_eq!(stored(db), "2|3|1|1|1\n");
            assert_eq!(listed(&server), expected);

            let (status, _, detail) =
                server.get(&format!("/api/v1/hosts/{}", host.id), Some(&viewer));
            assert_eq!(status, 200, "{detail}");
            assert_eq!(detail["findings"].as_array().unwrap().len(), 3, "{detail}");
            assert_eq!(detail["drift"][0]["port"], 6379, "{detail}");
            assert_eq!(detail["checkpoints"][0]["index"], 4, "{detail}");
            assert_eq!(server.get("/api/v1/hosts/00", Some(&viewer)).0, 404);
            server.stop();

            let server = RunningServer::start(home, db);
            assert_eq!(listed(&server), expected, "after a restart");
            assert!(
                !push(&server, &host, 1, &State::default()),
                "the seq outlives a restart"
            );
            assert!(push(
                &server,
                &host,
                2,
                &State {
                    listeners: vec![listener("tcp", 22, "sshd")],
                    ..State::default()
                }
            ));
            assert_eq!(listed(&server)[0]["listeners"][0]["port"], 22);
            assert_eq!(stored(db), "1|0|1|1|2\n", "replaced, appended, kept");
            server.stop();

            let list = server_cmd(home, db, &["host", "list", "--format", "json"]);
            assert_ok(&list);
            let doc: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
            assert_matches_schema(&doc, "docs/schema/server-hosts.v1.json");
            assert_eq!(doc["hosts"][0]["id"], host.id.as_str());
            let table = stdout(&server_cmd(home, db, &["host", "list"]));
            assert!(
                table.contains(&host.id) && table.contains("web-1"),
                "{table}"
            );
        },
    );
}

#[test]
fn a_push_not_signed_by_a_live_host_is_refused() {
    on_each_database("a_push_not_signed_by_a_live_host_is_refused", |home, db| {
        let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
        let server = RunningServer::start(home, db);
        let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
        let db_host = SigningHost::enroll(&server, &enroll, "db-1", 2);
        let state = State {
            listeners: vec![listener("tcp", 22, "sshd")],
            ..State::default()
        };
        let (body, signature) = signed_push(&web, 1, &state);
        for (host_id, signature, why) in [
            (
                web.id.as_str(),
                db_host.sign(&body),
                "signed by another host's key",
            ),
            (web.id.as_str(), String::new(), "no signature"),
            (
                db_host.id.as_str(),
                signature.clone(),
                "sent as another host",
            ),
            (
                "0123456789abcdef0123456789abcdef",
                signature.clone(),
                "an unknown host",
            ),
        ] {
            let (status, reply) = send_push(&server, host_id, &signature, &body);
            assert_eq!(status, 401, "{why}: {reply}");
        }
        assert_eq!(stored(db), "0|0|0|0|\n", "nothing written");

        assert_ok(&server_cmd(home, db, &["host", "revoke", "web-1"]));
        let (status, reply) = send_push(&server, &web.id, &signature, &body);
        assert_eq!(status, 401, "a revoked host: {reply}");
        assert!(
            push(&server, &db_host, 1, &state),
            "the other host still pushes"
        );
        let table = stdout(&server_cmd(home, db, &["host", "list"]));
        assert!(
            table
                .lines()
                .any(|l| l.contains("web-1") && l.contains("revoked")),
            "{table}"
        );
        server.stop();
    });
}

#[test]
fn an_oversized_or_malformed_push_writes_nothing() {
    on_each_database(
        "an_oversized_or_malformed_push_writes_nothing",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "web-1", 1);

            let huge = vec![b' '; MAX_PUSH_BYTES + 1];
            let (status, reply) = send_push(&server, &host.id, &host.sign(&huge), &huge);
            assert_eq!(status, 413, "{reply}");

            let (good, _) = signed_push(&host, 1, &State::default());
            let wrong_host = String::from_utf8(good.clone())
                .unwrap()
                .replace(&host.id, "someone-else");
            let bad_severity = signed_push(
                &host,
                1,
                &State {
                    findings: vec![finding("urgent", 1)],
                    ..State::default()
                },
            )
            .0;
            for (body, says) in [
                (&b"{\"host_id\": "[..], "not the expected JSON"),
                (&good[..good.len() - 1], "not the expected JSON"),
                (wrong_host.as_bytes(), "is not the host in x-portreeve-host"),
                (&bad_severity, "`urgent` is not one of"),
            ] {
                let (status, reply) = send_push(&server, &host.id, &host.sign(body), body);
                assert_eq!(status, 400, "{reply}");
                let message = reply["error"]["message"].as_str().unwrap();
                assert!(message.contains(says), "{message}");
            }
            assert_eq!(stored(db), "0|0|0|0|\n", "nothing written");

            // Exactly the limit is within it (axum's default limit is 2 MiB).
            let mut padded = State {
                findings: vec![finding("info", 1)],
                ..State::default()
            };
            let short = MAX_PUSH_BYTES - signed_push(&host, 1, &padded).0.len();
            padded.findings[0].message.push_str(&"x".repeat(short));
            let (body, signature) = signed_push(&host, 1, &padded);
            assert_eq!(body.len(), MAX_PUSH_BYTES);
            let (status, reply) = send_push(&server, &host.id, &signature, &body);
            assert_eq!(
                (status, reply),
                (200, serde_json::json!({"accepted": true}))
            );
            server.stop();
        },
    );
}

#[test]
fn a_ledger_that_goes_backwards_flags_its_host() {
    on_each_database("a_ledger_that_goes_backwards_flags_its_host", |home, db| {
        let enroll = create_token(home, db, &["--role", "enroll"]);
        let viewer = create_token(home, db, &["--role", "viewer"]);
        let server = RunningServer::start(home, db);
        let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
        let flagged =
            || server.get("/api/v1/hosts", Some(&viewer)).2[0]["ledger_inconsistent"].clone();
        for (seq, ledger) in [
            (1, checkpoint(10, 'a')),
            (2, checkpoint(10, 'a')),
            (3, checkpoint(12, 'b')),
        ] {
            assert!(push(
                &server,
                &host,
                seq,
                &State {
                    ledger,
                    ..State::default()
                }
            ));
            assert_eq!(
                flagged(),
                false,
                "seq {seq}: the ledger grew or stood still"
            );
        }
        assert!(push(
            &server,
            &host,
            4,
            &State {
                ledger: checkpoint(11, 'c'),
                ..State::default()
            }
        ));
        assert_eq!(flagged(), true, "index 12, then 11");
        assert!(push(
            &server,
            &host,
            5,
            &State {
                ledger: checkpoint(13, 'd'),
                ..State::default()
            }
        ));
        assert_eq!(flagged(), true, "the flag stays");
        server.stop();
        let table = stdout(&server_cmd(home, db, &["host", "list"]));
        assert!(table.contains("ledger inconsistent"), "{table}");
    });
}

//! The API fuzzed against its own OpenAPI document: schemathesis (from
//! PyPI, installed by scripts/test.sh into a cache of its own) generates
//! requests for every documented operation, sends them to a real
//! `portreeve server` on SQLite holding an enrolled host and what it
//! pushed, and checks each answer: never a 5xx, and always a status and a
//! body the document gives for that operation. The server runs in a
//! namespace of the test's own and schemathesis asks it there, over its
//! loopback (so this needs root).

mod support;

use std::path::{Path, PathBuf};

use portreeve_fleet_protocol::{
    LedgerCheckpoint, Push, PushedBlock, PushedDrift, PushedFinding, PushedGrant, PushedListener,
    PushedPort,
};
use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, on_each_database,
};
use support::{Home, stderr, stdout, testkit};

/// The schemathesis that scripts/test.sh installs, unless
/// `PORTREEVE_SCHEMATHESIS` names another.
fn schemathesis() -> PathBuf {
    std::env::var_os("PORTREEVE_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portreeve/schemathesis-venv/bin/schemathesis")
        })
}

/// How many requests schemathesis makes per operation and kind of data:
/// enough to reach the filters' edges, few enough to keep the test under
/// a minute.
const EXAMPLES_PER_OPERATION: &str = "20";

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    const TEST: &str = "schemathesis_finds_no_server_error_and_no_undocumented_answer";
    let program = schemathesis();
    if !testkit::privileged(TEST, &["ip"])
        || !testkit::skip_unless(
            TEST,
            program.exists(),
            format_args!(
                "{} is missing (scripts/test.sh installs it as root)",
                program.display()
            ),
        )
    {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let viewer = create_token(&home, &db, &["--role", "viewer"]);
    let enroll = create_token(&home, &db, &["--role", "enroll"]);
    let server = RunningServer::start(&home, &db);
    let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
    let (status, reply) = host.push(&server, &sample_push(&host.id));
    assert_eq!(status, 200, "{reply}");

    // Valid requests: every answer must be one the document gives. Then
    // invalid ones (negative data): none may be a server error. Invalid
    // requests are not held to the document, because some are invalid
    // HTTP (a control character in a header) that the HTTP layer refuses
    // with a bare 400 before any route sees them.
    let report = fuzz(
        &server,
        &program,
        home.path(),
        &viewer,
        &[
            "--data-generation-method",
            "positive",
            "--checks",
            ALL_CHECKS,
        ],
    );
    // It ran every operation, not none: an unreachable document also ends
    // without failures of the server's.
    assert!(
        report.contains("Collected API operations: 21") && report.contains(" 21 passed in "),
        "not every operation ran:\n{report}"
    );
    // A host id that is not a path segment cannot be sent at all, so
    // `/hosts/{id}` and `/hosts/{id}/groups` have no invalid requests to
    // make (schemathesis gives up filtering them).
    let report = fuzz(
        &server,
        &program,
        home.path(),
        &viewer,
        &[
            "--data-generation-method",
            "negative",
            "--checks",
            "not_a_server_error",
            "--exclude-path",
            "/api/v1/hosts/{id}",
            "--exclude-path",
            "/api/v1/hosts/{id}/groups",
        ],
    );
    assert!(
        report.contains(" 13 passed, 6 skipped in "),
        "not every operation with invalid inputs ran:\n{report}"
    );
    server.stop();
}

/// What valid requests' answers are held to: never a 5xx, a status the
/// operation documents, its content type, and a body of its schema.
const ALL_CHECKS: &str = "not_a_server_error,status_code_conformance,\
                          content_type_conformance,response_schema_conformance";

/// Runs schemathesis against `server` with the `viewer` token and `args`
/// (which data, which checks): its report, after asserting it found
/// nothing.
fn fuzz(
    server: &RunningServer,
    program: &Path,
    workdir: &Path,
    viewer: &str,
    args: &[&str],
) -> String {
    let base = format!("http://{}", server.address);
    let out = testkit::run(
        server
            .netns()
            .exec(program)
            .current_dir(workdir)
            .args(["run", &format!("{base}/api/v1/openapi.json")])
            .args(["--base-url", &base])
            .args(["-H", &format!("Authorization: Bearer {viewer}")])
            .args(args)
            .args(["--hypothesis-max-examples", EXAMPLES_PER_OPERATION])
            .args(["--hypothesis-seed", "17"])
            .args(["--hypothesis-database", "none"])
            // A push is the largest, most nested body documented; with a
            // finding's optional remediation hypothesis discards enough of
            // its drafts that its health check stops the run, which says
            // nothing of the server. The pushes it sends are checked the
            // same.
            .args(["--hypothesis-suppress-health-check", "filter_too_much"])
            .args(["--no-color", "--workers", "2"]),
    );
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        out.status.success(),
        "schemathesis {args:?} found failures:\n{report}"
    );
    report
}

#[test]
fn fleet_wide_reads_name_each_rows_host_and_refuse_bad_filters() {
    on_each_database(
        "fleet_wide_reads_name_each_rows_host_and_refuse_bad_filters",
        fleet_wide_reads,
    );
}

fn fleet_wide_reads(home: &Home, db: &TestDatabase) {
    let viewer = create_token(home, db, &["--role", "viewer"]);
    let enroll = create_token(home, db, &["--role", "enroll", "--uses", "3"]);
    let server = RunningServer::start(home, db);
    let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
    let db_host = SigningHost::enroll(&server, &enroll, "db-1", 2);
    assert_eq!(web.push(&server, &sample_push(&web.id)).0, 200);
    // db-1: a low finding, a later drift event, its port dormant.
    let mut other = sample_push(&db_host.id);
    other.findings[0].severity = "low".into();
    other.drift[0].at = "2026-12-06T23:00:00Z".parse().unwrap();
    other.drift[0].port = 5432;
    other.lifecycle.as_mut().unwrap()[0].state = "dormant".into();
    assert_eq!(db_host.push(&server, &other).0, 200);
    // A later push without lifecycle (an older agent) keeps db-1's.
    other.seq = 2;
    other.drift.clear();
    other.lifecycle = None;
    assert_eq!(db_host.push(&server, &other).0, 200);

    let get = |path: &str| {
        let (status, _, body) = server.get(path, Some(&viewer));
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let names = |rows: serde_json::Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", r["host_name"].as_str().unwrap(), r["port"]))
            .collect()
    };
    let findings = get("/api/v1/findings");
    assert_eq!(names(findings.clone()), ["db-1:6379", "web-1:6379"]);
    assert_eq!(findings[1]["host_id"], web.id.as_str());
    assert_eq!(findings[1]["severity"], "high");
    assert_eq!(names(get("/api/v1/findings?severity=high")), ["web-1:6379"]);
    assert_eq!(names(get("/api/v1/drift")), ["db-1:5432", "web-1:6379"]);
    assert_eq!(
        names(get("/api/v1/drift?since=2026-12-06T22%3A30%3A00Z")),
        ["db-1:5432"]
    );
    assert_eq!(names(get("/api/v1/drift?limit=1")), ["db-1:5432"]);
    let lifecycle = get("/api/v1/lifecycle");
    assert_eq!(names(lifecycle.clone()), ["db-1:6379", "web-1:6379"]);
    assert_eq!(lifecycle[0]["state"], "dormant");
    assert_eq!(lifecycle[1]["protocol"], "tcp");
    assert_eq!(lifecycle[1]["last_used"], serde_json::Value::Null);
    assert_eq!(
        names(get("/api/v1/lifecycle?state=abandoned")),
        ["web-1:6379"]
    );
    for bad in [
        "/api/v1/findings?severity=urgent",
        "/api/v1/lifecycle?state=gone",
        "/api/v1/drift?since=yesterday",
        "/api/v1/drift?limit=0",
        "/api/v1/drift?limit=1001",
    ] {
        let (status, _, body) = server.get(bad, Some(&viewer));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
    // A NUL in a value is text PostgreSQL cannot hold: refused, never
    // handed to the database (where it was a 500).
    for bad in ["/api/v1/hosts/%00", "/api/v1/findings?severity=%00"] {
        let (status, _, body) = server.get(bad, Some(&viewer));
        assert!([400, 404].contains(&status), "{bad}: {status} {body}");
    }
    // Reading the fleet is the viewer's; an enroll token may not.
    assert_eq!(server.get("/api/v1/lifecycle", Some(&enroll)).0, 403);
    assert_eq!(server.get("/api/v1/drift", None).0, 401);
    server.stop();
}

/// One push with something in every list, so that the readers have rows
/// to answer with.
fn sample_push(host_id: &str) -> Push {
    let at: jiff::Timestamp = "2026-12-06T22:00:00Z".parse().unwrap();
    Push {
        host_id: host_id.into(),
        seq: 1,
        sent_at: at,
        listeners: vec![PushedListener {
            protocol: "tcp".into(),
            address: "0.0.0.0".into(),
            port: 6379,
            process: Some("redis-server".into()),
            pid: Some(812),
            container: None,
        }],
        findings: vec![PushedFinding {
            code: "PR001".into(),
            severity: "high".into(),
            port: Some(6379),
            message: "port 6379 listens but no rule allows it".into(),
            remediation: None,
        }],
        drift: vec![PushedDrift {
            at,
            kind: "listener_new".into(),
            protocol: "tcp".into(),
            address: "0.0.0.0".into(),
            port: 6379,
            process: Some("redis-server".into()),
        }],
        ledger: Some(LedgerCheckpoint {
            index: 0,
            head: "ab".repeat(32),
        }),
        lifecycle: Some(vec![PushedPort {
            port: 6379,
            protocol: "tcp".into(),
            state: "abandoned".into(),
            last_used: None,
        }]),
        policy: None,
        // Far ahead, so that the listings (which leave out what has
        // expired) answer with them.
        grants: Some(vec![PushedGrant {
            source: "192.0.2.7".into(),
            protocol: "tcp".into(),
            port: 22,
            expires: "2099-01-01T00:00:00Z".parse().unwrap(),
            actor: Some("alice".into()),
            rule: None,
            reason: None,
        }]),
        blocks: Some(vec![PushedBlock {
            source: "198.51.100.0/24".into(),
            automatic: true,
            until: "2099-01-01T00:00:00Z".parse().unwrap(),
            actor: None,
            reason: None,
        }]),
    }
}

//! The fleet's report as data: a real `portreeve server` in a network
//! namespace of its own (SQLite, then PostgreSQL where the local cluster
//! is reachable), two hosts enrolled with keys of their own that push
//! known listeners, findings, lifecycle states and drift, one of them
//! running an approved fleet policy; then `portreeve report --server URL
//! --format json` run inside that namespace with a viewer token. The JSON
//! must match docs/schema/fleet-report.v1.json and hold exactly what was
//! pushed — findings gravest first with their kinds, the drift of the
//! period only — and the server's ledger, verified, with the tokens,
//! enrollments and policy changes among its entries. With `--framework
//! pci-dss` the host with a listener no rule allows fails 1.2.5 by name.
//! A refused token is exit 2 quoting the server, no server is exit 3.
//!
//! Needs root (the namespace); skips without it unless
//! `PORTREEVE_REQUIRE_PRIVILEGED=1`.

mod support;

use std::process::Output;

use jiff::{SignedDuration, Timestamp};
use portreeve_fleet_protocol::{
    AppliedPolicy, Push, PushedDrift, PushedFinding, PushedListener, PushedPort,
};
use serde_json::{Value, json};
use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, on_each_database,
};
use support::{Home, Netns, assert_exit, assert_matches_schema, assert_ok, run, stdout, testkit};

const POLICY: &str = "[zones]\nlan = [\"10.0.0.0/8\"]\n\n[[rule]]\nname = \"https\"\n\
                      port = 443\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// A push of `listeners` (port, process), `findings` (severity, code,
/// port, message), each listener `active`, and one new-listener drift
/// event per listener `ago` before `now`.
fn push(
    host: &SigningHost,
    now: Timestamp,
    listeners: &[(u16, &str)],
    findings: &[(&str, &str, u16, &str)],
    ago: SignedDuration,
) -> Push {
    let listeners: Vec<PushedListener> = listeners
        .iter()
        .map(|&(port, process)| PushedListener {
            protocol: "tcp".into(),
            address: "0.0.0.0".into(),
            port,
            process: Some(process.into()),
            pid: Some(1000 + u32::from(port)),
            container: None,
        })
        .collect();
    Push {
        findings: findings
            .iter()
            .map(|&(severity, code, port, message)| PushedFinding {
                code: code.into(),
                severity: severity.into(),
                port: Some(port),
                message: message.into(),
                remediation: None,
            })
            .collect(),
        drift: listeners
            .iter()
            .map(|l| PushedDrift {
                at: now - ago,
                kind: "new_listener".into(),
                protocol: l.protocol.clone(),
                address: l.address.clone(),
                port: l.port,
                process: l.process.clone(),
            })
            .collect(),
        lifecycle: Some(
            listeners
                .iter()
                .map(|l| PushedPort {
                    port: l.port,
                    protocol: "tcp".into(),
                    state: "active".into(),
                    last_used: Some(now - SignedDuration::from_hours(2)),
                })
                .collect(),
        ),
        listeners,
        ..host.empty_push(1)
    }
}

/// The report's JSON, checked against its schema.
fn report(out: &Output) -> Value {
    assert_ok(out);
    let doc: Value = serde_json::from_str(&stdout(out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/fleet-report.v1.json");
    doc
}

#[test]
fn the_fleet_report_holds_what_the_hosts_pushed_and_the_servers_ledger_verified() {
    on_each_database(
        "the_fleet_report_holds_what_the_hosts_pushed_and_the_servers_ledger_verified",
        |home: &Home, db: &TestDatabase| {
            let viewer = create_token(home, db, &["--role", "viewer", "--name", "auditor"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
            let operator = create_token(home, db, &["--role", "operator", "--name", "alice"]);
            let approver = create_token(home, db, &["--role", "approver", "--name", "bob"]);
            let server = RunningServer::start(home, db);
            let url = format!("http://{}", server.address);
            let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();

            // An approved fleet policy, assigned to web-1.
            assert_eq!(server.propose(&operator, "web", POLICY), 1);
            let (status, answer) = server.approve(&approver, "web", 1);
            assert_eq!(status, 200, "{answer}");
            let sha256 = answer["sha256"].as_str().unwrap().to_owned();

            let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let dbh = SigningHost::enroll(&server, &enroll, "db-1", 2);
            let (status, answer) = server.call(
                "PUT",
                "/api/v1/assignments",
                &operator,
                &json!({"policy": "web", "version": 1, "hosts": ["web-1"]}),
            );
            assert!((200..300).contains(&status), "{status}: {answer}");

            let mut web_push = push(
                &web,
                now,
                &[(443, "nginx")],
                &[(
                    "low",
                    "PR008",
                    443,
                    "the owner of 443/tcp could not be verified",
                )],
                SignedDuration::from_hours(1),
            );
            web_push.policy = Some(AppliedPolicy {
                name: "web".into(),
                version: 1,
                sha256,
                generation: Some(2),
                state: "confirmed".into(),
                message: None,
                at: now - SignedDuration::from_hours(3),
            });
            let (status, reply) = web.push(&server, &web_push);
            assert_eq!(status, 200, "{reply}");
            let db_push = push(
                &dbh,
                now,
                &[(6379, "redis-server"), (23, "telnetd")],
                &[
                    (
                        "high",
                        "PR001",
                        6379,
                        "redis-server listens on 0.0.0.0:6379/tcp; no rule allows it",
                    ),
                    ("critical", "PR002", 23, "port 23 (telnet) is banned"),
                ],
                SignedDuration::from_hours(48),
            );
            let (status, reply) = dbh.push(&server, &db_push);
            assert_eq!(status, 200, "{reply}");

            // The token in the environment, never on the command line.
            let env = [("PORTREEVE_TOKEN", viewer.as_str())];
            let doc = report(&server.client(
                home,
                &env,
                &["report", "--server", &url, "--format", "json"],
            ));
            assert_eq!(doc["kind"], "portreeve.fleet-report");
            assert!(!doc["host"].as_str().unwrap().is_empty());
            assert_eq!(doc["server"], url.as_str());
            let hosts: Vec<&str> = doc["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["name"].as_str().unwrap())
                .collect();
            assert_eq!(hosts, ["db-1", "web-1"]);
            let web_row = &doc["hosts"][1];
            assert_eq!(web_row["id"], web.id.as_str());
            assert_eq!(web_row["listeners"][0]["port"], 443);
            assert_eq!(web_row["listeners"][0]["process"], "nginx");
            assert_eq!(web_row["policy"]["applied"]["state"], "confirmed");

            // Gravest first, across hosts, each with its kind and docs.
            let findings: Vec<(&str, &str, &str, &str)> = doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["severity"].as_str().unwrap(),
                        f["host_name"].as_str().unwrap(),
                        f["code"].as_str().unwrap(),
                        f["name"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                findings,
                [
                    ("critical", "db-1", "PR002", "banned-port"),
                    ("high", "db-1", "PR001", "listener-not-allowed"),
                    ("low", "web-1", "PR008", "owner-unverified"),
                ]
            );
            assert_eq!(
                doc["findings"][1]["docs"],
                "docs/findings.md#pr001-listener-not-allowed"
            );
            let lifecycle: Vec<(&str, u64)> = doc["lifecycle"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["host_name"].as_str().unwrap(),
                        p["port"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(lifecycle, [("db-1", 23), ("db-1", 6379), ("web-1", 443)]);
            assert_eq!(doc["drift"].as_array().unwrap().len(), 3);
            assert_eq!(doc["policies"]["versions"][0]["approved"], true);
            assert_eq!(doc["policies"]["versions"][0]["approvals"][0]["by"], "bob");
            assert_eq!(doc["policies"]["assignments"][0]["target"], web.id.as_str());

            // The server's ledger: verified with the key it states, which
            // the report says, and every change among its entries.
            let ledger = &doc["ledger"];
            assert_eq!(ledger["verification"]["verified"], true, "{ledger}");
            assert_eq!(ledger["key_source"], "server");
            let actions: Vec<&str> = ledger["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert_eq!(
                actions,
                [
                    "server.token.create",
                    "server.token.create",
                    "server.token.create",
                    "server.token.create",
                    "server.policy.propose",
                    "server.policy.approve",
                    "server.host.enroll",
                    "server.host.enroll",
                    "server.policy.assign",
                ]
            );
            assert_eq!(ledger["total_entries"], 9);
            assert!(
                doc["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|n| n.as_str().unwrap().contains("--log-key")),
                "{}",
                doc["notes"]
            );
            assert!(doc.get("controls").is_none());
            assert!(
                !stdout(&server.client(
                    home,
                    &env,
                    &["report", "--server", &url, "--format", "json"]
                ))
                .contains(&viewer)
            );

            // The key from the server's own files, a period, a framework,
            // and the token from a file.
            let token_file = home.path().join("viewer.token");
            std::fs::write(&token_file, format!("{viewer}\n")).unwrap();
            let key = home.state().join("server/ledger/log.pub");
            assert!(key.is_file(), "{}", key.display());
            let doc = report(&server.client(
                home,
                &[],
                &[
                    "report",
                    "--server",
                    &url,
                    "--token-file",
                    token_file.to_str().unwrap(),
                    "--log-key",
                    key.to_str().unwrap(),
                    "--since",
                    "1d",
                    "--framework",
                    "pci-dss",
                    "--format",
                    "json",
                ],
            ));
            assert_eq!(doc["ledger"]["key_source"], "operator");
            assert_eq!(doc["ledger"]["verification"]["verified"], true);
            assert_eq!(
                doc["ledger"]["key"].as_str().unwrap(),
                std::fs::read_to_string(&key).unwrap().trim()
            );
            // db-1's drift is two days old: out of the period.
            let drift: Vec<&str> = doc["drift"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["host_name"].as_str().unwrap())
                .collect();
            assert_eq!(drift, ["web-1"]);
            assert_eq!(doc["framework"], "pci-dss");
            let control = doc["controls"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == "1.2.5")
                .expect("1.2.5");
            assert_eq!(control["status"], "fail", "{control}");
            let evidence: Vec<&str> = control["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap())
                .collect();
            assert_eq!(evidence[0], "fails on 1 of 2 hosts: db-1", "{evidence:?}");
            assert!(
                evidence.contains(
                    &"db-1: PR001 listener-not-allowed: redis-server listens on \
                      0.0.0.0:6379/tcp; no rule allows it"
                ),
                "{evidence:?}"
            );
            let by_host: Vec<(&str, &str)> = control["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["host_name"].as_str().unwrap(),
                        h["status"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(by_host, [("db-1", "fail"), ("web-1", "pass")]);

            // Another server's key: the report is written, and says the
            // ledger does not verify with it.
            let other = Home::new();
            create_token(
                &other,
                &TestDatabase::Sqlite {
                    file: other.state().join("server.db"),
                },
                &["--role", "viewer"],
            );
            let wrong = other.state().join("server/ledger/log.pub");
            let doc = report(&server.client(
                home,
                &env,
                &[
                    "report",
                    "--server",
                    &url,
                    "--log-key",
                    wrong.to_str().unwrap(),
                    "--format",
                    "json",
                ],
            ));
            assert_eq!(doc["ledger"]["key_source"], "operator");
            assert_eq!(doc["ledger"]["verification"]["verified"], false);
            assert!(
                doc["ledger"]["verification"]["problem"]
                    .as_str()
                    .is_some_and(|p| !p.is_empty()),
                "{}",
                doc["ledger"]
            );

            // A key that is not a key: refused before anything is asked.
            assert_exit(
                &server.client(
                    home,
                    &env,
                    &[
                        "report",
                        "--server",
                        &url,
                        "--log-key",
                        "nonsense",
                        "--format",
                        "json",
                    ],
                ),
                2,
                "is not a verifier key",
            );
            // A token the server does not know: exit 2, in its words.
            assert_exit(
                &server.client(
                    home,
                    &[("PORTREEVE_TOKEN", &format!("prt_{}", "0".repeat(64)))],
                    &["report", "--server", &url, "--format", "json"],
                ),
                2,
                "the token is unknown, expired or revoked",
            );
            // No token at all.
            assert_exit(
                &server.client(home, &[], &["report", "--server", &url]),
                2,
                "--server needs a token",
            );
        },
    );
}

#[test]
fn the_fleet_report_shows_pushed_remediations_containers_and_findings_over_time() {
    on_each_database(
        "the_fleet_report_shows_pushed_remediations_containers_and_findings_over_time",
        |home: &Home, db: &TestDatabase| {
            let viewer = create_token(home, db, &["--role", "viewer"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
            let server = RunningServer::start(home, db);
            let url = format!("http://{}", server.address);
            let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
            let web = SigningHost::enroll(&server, &enroll, "web-1", 1);
            let old = SigningHost::enroll(&server, &enroll, "db-1", 2);
            let hour = SignedDuration::from_hours(1);

            // web-1, a current agent: a remediation and a container.
            let high = ("high", "PR001", 8080, "web listens on 0.0.0.0:8080/tcp");
            let mut first = push(&web, now, &[(8080, "nginx")], &[high], hour);
            first.findings[0].remediation = Some("Add a rule for 8080/tcp or close it.".into());
            first.listeners[0].container = Some("shop-web-1".into());
            let (status, reply) = web.push(&server, &first);
            assert_eq!(status, 200, "{reply}");
            // As if that push had been two days ago (the server stamps its
            // own time): the history's first day.
            db.query(&format!(
                "UPDATE finding_counts SET at = at - 172800 WHERE host_id = '{}'",
                web.id
            ));
            // A critical finding more, now.
            let critical = ("critical", "PR002", 23, "port 23 (telnet) is banned");
            let mut second = push(&web, now, &[(8080, "nginx")], &[high, critical], hour);
            second.seq = 2;
            second.findings[0].remediation = first.findings[0].remediation.clone();
            second.listeners[0].container = first.listeners[0].container.clone();
            let (status, reply) = web.push(&server, &second);
            assert_eq!(status, 200, "{reply}");
            // The same again: no change, no row.
            let mut third = second.clone();
            third.seq = 3;
            assert_eq!(web.push(&server, &third).0, 200);

            // db-1, an older agent: neither field on the wire.
            let low = (
                "low",
                "PR008",
                5432,
                "the owner of 5432/tcp could not be verified",
            );
            let legacy = push(&old, now, &[(5432, "postgres")], &[low], hour);
            let wire = serde_json::to_value(&legacy).unwrap();
            assert!(wire["findings"][0].get("remediation").is_none(), "{wire}");
            assert!(wire["listeners"][0].get("container").is_none(), "{wire}");
            let (status, reply) = old.push(&server, &legacy);
            assert_eq!(status, 200, "{reply}");

            // The history as the API answers it: three changes, oldest first.
            let (status, _, history) = server.get("/api/v1/findings/history", Some(&viewer));
            assert_eq!(status, 200, "{history}");
            let changes: Vec<(&str, u64, u64, u64)> = history
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let c = &r["counts"];
                    (
                        r["host_name"].as_str().unwrap(),
                        c["critical"].as_u64().unwrap(),
                        c["high"].as_u64().unwrap(),
                        c["low"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(changes.len(), 3, "{history}");
            assert_eq!(changes[0], ("web-1", 0, 1, 0));
            // The other two may share a second (then by host name).
            let mut latest = changes[1..].to_vec();
            latest.sort();
            assert_eq!(latest, [("db-1", 0, 0, 1), ("web-1", 1, 1, 0)]);
            let day = |at: &Value| {
                let at: Timestamp = at.as_str().unwrap().parse().unwrap();
                jiff::tz::TimeZone::UTC.to_datetime(at).date().to_string()
            };
            let first_day = day(&history[0]["at"]);
            let today = day(&history[2]["at"]);
            assert_eq!(today, day(&history[1]["at"]));

            let env = [("PORTREEVE_TOKEN", viewer.as_str())];
            let doc = report(&server.client(
                home,
                &env,
                &["report", "--server", &url, "--format", "json"],
            ));
            // The remediation as pushed; none from the older agent.
            let remediations: Vec<(&str, &Value)> = doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["code"].as_str().unwrap(), &f["remediation"]))
                .collect();
            assert_eq!(
                remediations,
                [
                    ("PR002", &Value::Null),
                    ("PR001", &json!("Add a rule for 8080/tcp or close it.")),
                    ("PR008", &Value::Null),
                ]
            );
            assert_eq!(
                doc["findings"][2]["docs"],
                "docs/findings.md#pr008-owner-unverified"
            );
            let containers: Vec<(&str, &Value)> = doc["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["name"].as_str().unwrap(), &h["listeners"][0]["container"]))
                .collect();
            assert_eq!(
                containers,
                [("db-1", &Value::Null), ("web-1", &json!("shop-web-1"))]
            );
            // Each day from the first change to today: web-1's one high
            // finding until today, then both hosts' as they stand.
            let days: Vec<(&str, u64, u64, u64)> = doc["findings_over_time"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["day"].as_str().unwrap(),
                        d["critical"].as_u64().unwrap(),
                        d["high"].as_u64().unwrap(),
                        d["low"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(days.len(), 3, "{days:?}");
            assert_eq!(days[0], (first_day.as_str(), 0, 1, 0));
            assert_eq!((days[1].1, days[1].2, days[1].3), (0, 1, 0), "{days:?}");
            assert_eq!(days[2], (today.as_str(), 1, 1, 1));
            let notes = doc["notes"].to_string();
            assert!(notes.contains("without a remediation"), "{notes}");
            assert!(!notes.contains("no history of findings"), "{notes}");

            // A period of one day opens with web-1's standing before it.
            let doc = report(&server.client(
                home,
                &env,
                &[
                    "report", "--server", &url, "--since", "1d", "--format", "json",
                ],
            ));
            let days = doc["findings_over_time"].as_array().unwrap();
            assert_eq!(days.len(), 2, "{days:?}");
            assert_eq!(days[0]["high"], 1);
            assert_eq!(days[0]["critical"], 0);
            assert_eq!(days[1]["day"], today.as_str());
        },
    );
}

#[test]
fn no_server_listening_is_an_operational_failure() {
    const TEST: &str = "no_server_listening_is_an_operational_failure";
    if !testkit::privileged(TEST, &["ip"]) {
        return;
    }
    // A namespace of its own, where nothing listens.
    let netns = Netns::bare();
    let home = Home::new();
    let url = "http://127.0.0.1:8440";
    let out = run(home
        .command(netns.exec(env!("CARGO_BIN_EXE_portreeve")))
        .env("PORTREEVE_TOKEN", format!("prt_{}", "0".repeat(64)))
        .args(["report", "--server", url, "--format", "json"]));
    assert_exit(&out, 3, url);
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_token_file_without_a_server_is_refused_by_the_command_line() {
    let home = Home::new();
    let file = home.path().join("token");
    std::fs::write(&file, "prt_x\n").unwrap();
    let out = home.run(&["report", "--token-file", file.to_str().unwrap()]);
    assert_exit(&out, 2, "--server");
    let out = home.run(&["report", "--log-key", "x"]);
    assert_exit(&out, 2, "--server");
}

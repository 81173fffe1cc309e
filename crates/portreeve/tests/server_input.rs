//! `portreeve server` given input its storage could get wrong, each test
//! on SQLite and on PostgreSQL (docs/server.md): findings listed gravest
//! first (by rank, not by the severity's spelling), a NUL in pushed text
//! (which PostgreSQL's TEXT cannot hold) refused naming the field, and
//! proposals, enrollments and pushes arriving at the same moment, which
//! SQLite must serialise rather than answer "database is locked".

mod support;

use std::collections::BTreeSet;

use portreeve_fleet_protocol::{
    LedgerCheckpoint, Push, PushedDrift, PushedFinding, PushedListener, PushedPort,
};
use serde_json::{Value, json};
use support::fleet_server::{
    RunningServer, SigningHost, TestDatabase, create_token, on_each_database,
};

/// The severities, gravest first, as docs/server.md orders them.
const GRAVEST_FIRST: [&str; 5] = ["critical", "high", "medium", "low", "info"];

fn finding(code: &str, severity: &str) -> PushedFinding {
    PushedFinding {
        code: code.into(),
        severity: severity.into(),
        port: Some(22),
        message: format!("{severity} finding"),
        remediation: None,
    }
}

fn listener() -> PushedListener {
    PushedListener {
        protocol: "tcp".into(),
        address: "0.0.0.0".into(),
        port: 22,
        process: Some("sshd".into()),
        pid: Some(1),
        container: None,
    }
}

fn drift() -> PushedDrift {
    PushedDrift {
        at: jiff::Timestamp::from_second(1_796_594_400).unwrap(),
        kind: "appeared".into(),
        protocol: "tcp".into(),
        address: "0.0.0.0".into(),
        port: 22,
        process: Some("sshd".into()),
    }
}

/// Rows of every table a push writes, and the hosts' seqs.
fn stored(db: &TestDatabase) -> String {
    db.query(
        "SELECT (SELECT COUNT(*) FROM host_listeners), (SELECT COUNT(*) FROM host_findings),
                (SELECT COUNT(*) FROM drift_events), (SELECT COUNT(*) FROM ledger_checkpoints),
                (SELECT COUNT(*) FROM host_lifecycle), (SELECT COUNT(last_seq) FROM hosts)",
    )
}

fn severities(findings: &Value) -> Vec<(String, String)> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["host_name"].as_str().unwrap_or_default().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn findings_are_listed_gravest_first_fleet_wide_and_in_host_detail() {
    on_each_database(
        "findings_are_listed_gravest_first_fleet_wide_and_in_host_detail",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "2"]);
            let viewer = create_token(home, db, &["--role", "viewer"]);
            let server = RunningServer::start(home, db);
            // Codes in the opposite order of gravity, so that neither the
            // severity's spelling nor the code can pass for its rank.
            let push = |name: &str, seed: u8| {
                let host = SigningHost::enroll(&server, &enroll, name, seed);
                let mut p = host.empty_push(1);
                p.findings = ["low", "info", "critical", "medium", "high"]
                    .iter()
                    .zip(["PR005", "PR001", "PR009", "PR004", "PR007"])
                    .map(|(s, c)| finding(c, s))
                    .collect();
                assert_eq!(host.push(&server, &p), (200, json!({"accepted": true})));
                host
            };
            let web = push("web-1", 1);
            push("db-1", 2);

            let (status, _, all) = server.get("/api/v1/findings", Some(&viewer));
            assert_eq!(status, 200, "{all}");
            let expected: Vec<_> = ["db-1", "web-1"]
                .iter()
                .flat_map(|h| GRAVEST_FIRST.map(|s| (h.to_string(), s.to_owned())))
                .collect();
            assert_eq!(severities(&all), expected);

            let (status, _, detail) =
                server.get(&format!("/api/v1/hosts/{}", web.id), Some(&viewer));
            assert_eq!(status, 200, "{detail}");
            let in_detail: Vec<_> = severities(&detail["findings"])
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            assert_eq!(in_detail, GRAVEST_FIRST);
            server.stop();
        },
    );
}

/// Pushes that each carry a NUL in one text field, and what the refusal
/// says: the field's name and that it holds a NUL, except for a lifecycle
/// state, which is one of four words anyway.
fn pushes_with_a_nul(host: &SigningHost) -> Vec<(String, Push)> {
    let nul = |text: &str| format!("{text}\0x");
    let mut cases = vec![];
    let mut case = |field: &str, edit: &dyn Fn(&mut Push)| {
        let mut p = host.empty_push(1);
        edit(&mut p);
        let says = match field {
            "lifecycle" => "lifecycle state `active\0x` is not one of".to_owned(),
            _ => format!("{field} holds a NUL character"),
        };
        cases.push((says, p));
    };
    case("listeners[0].address", &|p| {
        p.listeners = vec![PushedListener {
            address: nul("0.0.0.0"),
            ..listener()
        }]
    });
    case("listeners[1].process", &|p| {
        p.listeners = vec![
            listener(),
            PushedListener {
                process: Some(nul("sshd")),
                ..listener()
            },
        ]
    });
    case("findings[0].code", &|p| {
        p.findings = vec![finding(&nul("PR001"), "high")]
    });
    case("findings[0].message", &|p| {
        p.findings = vec![PushedFinding {
            message: nul("open"),
            ..finding("PR001", "high")
        }]
    });
    case("drift[0].kind", &|p| {
        p.drift = vec![PushedDrift {
            kind: nul("appeared"),
            ..drift()
        }]
    });
    case("drift[0].address", &|p| {
        p.drift = vec![PushedDrift {
            address: nul("::"),
            ..drift()
        }]
    });
    case("drift[0].process", &|p| {
        p.drift = vec![PushedDrift {
            process: Some(nul("sshd")),
            ..drift()
        }]
    });
    case("ledger.head", &|p| {
        p.ledger = Some(LedgerCheckpoint {
            index: 1,
            head: nul("ab"),
        })
    });
    case("lifecycle", &|p| {
        p.lifecycle = Some(vec![PushedPort {
            port: 22,
            protocol: "tcp".into(),
            state: nul("active"),
            last_used: None,
        }])
    });
    cases
}

#[test]
fn a_nul_in_pushed_text_is_refused_naming_the_field_and_writes_nothing() {
    on_each_database(
        "a_nul_in_pushed_text_is_refused_naming_the_field_and_writes_nothing",
        |home, db| {
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let server = RunningServer::start(home, db);
            let host = SigningHost::enroll(&server, &enroll, "web-1", 1);
            for (says, push) in pushes_with_a_nul(&host) {
                let (status, reply) = host.push(&server, &push);
                assert_eq!(status, 400, "{says}: {reply}");
                let message = reply["error"]["message"].as_str().unwrap();
                assert!(message.contains(&says), "{says}: {message:?}");
                assert_eq!(stored(db), "0|0|0|0|0|0\n", "{says}: something was written");
            }
            // The same host's clean push is stored.
            let mut clean = host.empty_push(1);
            clean.listeners = vec![listener()];
            assert_eq!(host.push(&server, &clean), (200, json!({"accepted": true})));
            assert_eq!(stored(db), "1|0|0|0|0|1\n");
            server.stop();
        },
    );
}

/// Runs `n` copies of `f` at once (each given its number): their results.
fn at_once<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let f = &f;
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..n).map(|i| s.spawn(move || f(i))).collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// A valid policy of one rule.
const POLICY: &str = "version = 1\n\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n\
                      [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

#[test]
fn proposals_of_one_name_at_once_are_each_a_version_or_409_never_500() {
    on_each_database(
        "proposals_of_one_name_at_once_are_each_a_version_or_409_never_500",
        |home, db| {
            let operator = create_token(home, db, &["--role", "operator", "--name", "alice"]);
            let server = RunningServer::start(home, db);
            let answers = at_once(8, |i| {
                server.call(
                    "POST",
                    "/api/v1/policies",
                    &operator,
                    &json!({"name": "web", "text": POLICY, "reason": format!("try {i}")}),
                )
            });
            let versions: BTreeSet<_> = answers
                .iter()
                .filter(|(status, _)| *status == 201)
                .map(|(_, v)| v["version"].as_i64().unwrap())
                .collect();
            for (status, answer) in &answers {
                assert!([201, 409].contains(status), "{status}: {answer}");
            }
            let created = answers.iter().filter(|(s, _)| *s == 201).count();
            assert!(created >= 1, "{answers:?}");
            assert_eq!(versions.len(), created, "a version was answered twice");
            assert_eq!(
                db.query("SELECT COUNT(*) FROM policy_versions"),
                format!("{created}\n")
            );
            server.stop();
        },
    );
}

#[test]
fn enrollments_and_pushes_at_once_are_all_stored() {
    on_each_database(
        "enrollments_and_pushes_at_once_are_all_stored",
        |home, db| {
            const HOSTS: usize = 20;
            let enroll = create_token(home, db, &["--role", "enroll", "--uses", "20"]);
            let server = RunningServer::start(home, db);
            // Each enrollment asserts its 201.
            let hosts = at_once(HOSTS, |i| {
                SigningHost::enroll(&server, &enroll, &format!("host-{i}"), i as u8 + 1)
            });
            assert_eq!(
                db.query("SELECT uses_left FROM api_tokens WHERE role = 'enroll'"),
                "0\n"
            );
            let pushed = at_once(HOSTS, |i| {
                let mut p = hosts[i].empty_push(1);
                p.listeners = vec![listener()];
                hosts[i].push(&server, &p)
            });
            for answer in &pushed {
                assert_eq!(answer, &(200, json!({"accepted": true})));
            }
            assert_eq!(
                stored(db),
                format!("{HOSTS}|0|0|0|0|{HOSTS}\n"),
                "every push stored"
            );
            server.stop();
        },
    );
}

#[test]
fn approvals_of_one_version_at_once_are_each_recorded() {
    on_each_database(
        "approvals_of_one_version_at_once_are_each_recorded",
        |home, db| {
            const APPROVERS: usize = 6;
            let operator = create_token(home, db, &["--role", "operator", "--name", "alice"]);
            let approvers: Vec<_> = (0..APPROVERS)
                .map(|i| {
                    create_token(
                        home,
                        db,
                        &["--role", "approver", "--name", &format!("a{i}")],
                    )
                })
                .collect();
            let server = RunningServer::start(home, db);
            let body = json!({"name": "web", "text": POLICY, "reason": "first"});
            let (status, reply) = server.call("POST", "/api/v1/policies", &operator, &body);
            assert_eq!(status, 201, "{reply}");
            let answers = at_once(APPROVERS, |i| {
                let path = "/api/v1/policies/web/1/approve";
                server.call("POST", path, &approvers[i], &json!({"reason": "ok"}))
            });
            for (status, answer) in &answers {
                assert_eq!(*status, 200, "{answer}");
            }
            assert_eq!(
                db.query("SELECT COUNT(*) FROM policy_approvals"),
                format!("{APPROVERS}\n")
            );
            server.stop();
        },
    );
}

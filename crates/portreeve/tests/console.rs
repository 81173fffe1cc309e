//! The web console in a real browser: `portreeve server` on SQLite in a
//! namespace of the test's own, seeded with three hosts' signed pushes
//! (listeners, findings, drift, lifecycle, grants, blocks, ledger
//! checkpoints, one of them going backwards), and Debian's Chromium driven
//! by playwright-core (tests/console/console.mjs) in the same namespace,
//! signing in with a viewer token and checking each main page. The script
//! prints `ok: …` per step and `FAIL: …` at the first failed assertion.
//!
//! Needs root (the namespace), node, chromium, and playwright-core, which
//! scripts/test.sh installs from npm into ~/.cache/portreeve/playwright
//! (`PORTREEVE_PLAYWRIGHT` names another). With
//! `PORTREEVE_CONSOLE_SCREENSHOTS=DIR` the script also saves a screenshot
//! per page there (docs/images/console-*.png are made this way).

mod support;

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use portreeve_fleet_protocol::{
    AppliedPolicy, LedgerCheckpoint, Push, PushedBlock, PushedDrift, PushedFinding, PushedGrant,
    PushedListener, PushedPort,
};
use serde_json::json;
use support::fleet_server::{RunningServer, SigningHost, TestDatabase, create_token};
use support::{Home, browser, run, stderr, stdout, testkit};

/// What one host pushes.
struct Seed {
    name: &'static str,
    listeners: Vec<(&'static str, &'static str, u16, &'static str)>,
    findings: Vec<(&'static str, &'static str, u16, &'static str)>,
    /// Ledger checkpoints, one push each: (index, head digit).
    checkpoints: Vec<(u64, char)>,
    grants: Vec<PushedGrant>,
    blocks: Vec<PushedBlock>,
}

impl Seed {
    /// Its pushes: the first with everything, then one per further
    /// checkpoint.
    fn pushes(&self, host: &SigningHost, now: Timestamp) -> Vec<Push> {
        let listeners: Vec<PushedListener> = self
            .listeners
            .iter()
            .map(|&(protocol, address, port, process)| PushedListener {
                protocol: protocol.into(),
                address: address.into(),
                port,
                process: Some(process.into()),
                pid: Some(1000 + u32::from(port)),
                container: None,
            })
            .collect();
        let findings = self
            .findings
            .iter()
            .map(|&(severity, code, port, message)| PushedFinding {
                code: code.into(),
                severity: severity.into(),
                port: Some(port),
                message: message.into(),
                remediation: None,
            })
            .collect();
        let drift = listeners
            .iter()
            .take(1)
            .map(|l| PushedDrift {
                at: now - SignedDuration::from_mins(42),
                kind: "listener_new".into(),
                protocol: l.protocol.clone(),
                address: l.address.clone(),
                port: l.port,
                process: l.process.clone(),
            })
            .collect();
        let lifecycle = listeners
            .iter()
            .map(|l| PushedPort {
                port: l.port,
                protocol: l.protocol.clone(),
                state: if l.address.starts_with("127.") {
                    "dormant"
                } else {
                    "active"
                }
                .into(),
                last_used: Some(now - SignedDuration::from_hours(3)),
            })
            .collect();
        let first = Push {
            host_id: host.id.clone(),
            seq: 1,
            sent_at: now,
            listeners,
            findings,
            drift,
            ledger: None,
            lifecycle: Some(lifecycle),
            policy: None,
            grants: Some(self.grants.clone()),
            blocks: Some(self.blocks.clone()),
        };
        let mut pushes = vec![first.clone()];
        for (n, &(index, head)) in (2..).zip(&self.checkpoints) {
            pushes.push(Push {
                seq: n,
                drift: vec![],
                ledger: Some(LedgerCheckpoint {
                    index,
                    head: head.to_string().repeat(64),
                }),
                ..first.clone()
            });
        }
        pushes
    }
}

fn seeds(now: Timestamp) -> Vec<Seed> {
    let later = |minutes| now + SignedDuration::from_mins(minutes);
    vec![
        Seed {
            name: "web-1",
            listeners: vec![
                ("tcp", "0.0.0.0", 443, "nginx"),
                ("tcp", "0.0.0.0", 23, "telnetd"),
                ("tcp", "::", 22, "sshd"),
                ("tcp", "127.0.0.1", 6379, "redis-server"),
            ],
            findings: vec![
                (
                    "critical",
                    "PR002",
                    23,
                    "port 23 (telnet) is banned by the policy",
                ),
                (
                    "high",
                    "PR001",
                    443,
                    "port 443 listens but no rule allows it",
                ),
                (
                    "medium",
                    "PR006",
                    8080,
                    "the rule allowing 8080/tcp has not matched in 30 days",
                ),
            ],
            checkpoints: vec![(10, 'a'), (14, 'b')],
            grants: vec![PushedGrant {
                source: "203.0.113.10".into(),
                protocol: "tcp".into(),
                port: 22,
                expires: later(45),
                actor: Some("alice".into()),
                rule: Some("ssh-on-demand".into()),
                reason: Some("deploy hotfix".into()),
            }],
            blocks: vec![PushedBlock {
                source: "198.51.100.23".into(),
                automatic: true,
                until: later(30),
                actor: Some("kernel".into()),
                reason: Some("port scan: 40 ports in 2 s".into()),
            }],
        },
        Seed {
            name: "db-1",
            listeners: vec![
                ("tcp", "0.0.0.0", 5432, "postgres"),
                ("tcp", "127.0.0.1", 9187, "postgres_exporter"),
            ],
            findings: vec![
                (
                    "high",
                    "PR009",
                    5432,
                    "PostgreSQL is reachable from the public zone",
                ),
                (
                    "low",
                    "PR008",
                    9187,
                    "the owner of 9187/tcp could not be verified",
                ),
            ],
            checkpoints: vec![(3, 'c')],
            grants: vec![],
            blocks: vec![PushedBlock {
                source: "192.0.2.0/24".into(),
                automatic: false,
                until: later(600),
                actor: Some("bob".into()),
                reason: Some("password guessing on 5432".into()),
            }],
        },
        Seed {
            name: "cache-1",
            listeners: vec![("udp", "0.0.0.0", 11211, "memcached")],
            findings: vec![
                (
                    "critical",
                    "PR010",
                    11211,
                    "memcached answers without authentication",
                ),
                ("info", "PR012", 11211, "banner: <script>alert(1)</script>"),
            ],
            // Backwards: the server flags the host.
            checkpoints: vec![(20, 'd'), (18, 'e')],
            grants: vec![],
            blocks: vec![],
        },
    ]
}

/// GET `path` from `server` as raw HTTP/1.1: the status line and headers
/// (lower-cased), and the body.
fn fetch(server: &RunningServer, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    server.netns().run(|| {
        let mut stream = std::net::TcpStream::connect(server.address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: portreeve\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("a whole HTTP reply");
        (head.to_ascii_lowercase(), body.to_owned())
    })
}

#[test]
fn the_console_is_served_without_a_token_under_its_security_headers() {
    const TEST: &str = "the_console_is_served_without_a_token_under_its_security_headers";
    if !testkit::privileged(TEST, &["ip"]) {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let server = RunningServer::start(&home, &db);
    let (head, _) = fetch(&server, "/");
    assert!(
        head.starts_with("http/1.1 303") && head.contains("\r\nlocation: /console/\r\n"),
        "{head}"
    );
    for (path, content_type, holds) in [
        (
            "/console/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"js/app.js\">",
        ),
        (
            "/console/console.css",
            "text/css; charset=utf-8",
            ".sidebar",
        ),
        (
            "/console/js/merkle.js",
            "text/javascript; charset=utf-8",
            "export async function verifyInclusion",
        ),
    ] {
        let (head, body) = fetch(&server, path);
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(
            head.contains(&format!("\r\ncontent-type: {content_type}\r\n")),
            "{path}: {head}"
        );
        for header in [
            "content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
        ] {
            assert!(head.contains(header), "{path} lacks `{header}`: {head}");
        }
        assert!(body.contains(holds), "{path}: {body}");
    }
    let (head, _) = fetch(&server, "/console/js/nothing.js");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(head.contains("content-security-policy"), "{head}");
    server.stop();
}

/// A policy for the web hosts, valid as `portreeve policy validate` wants.
const WEB_POLICY: &str = "[zones]\nlan = [\"10.0.0.0/8\"]\n\n[[rule]]\nname = \"https\"\n\
                          port = 443\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// `web` version 1 proposed by alice, approved by bob and assigned to
/// web-1; `db` version 1 proposed and awaiting approval.
fn roll_out_web(server: &RunningServer, operator: &str, approver: &str) {
    for name in ["web", "db"] {
        let (status, answer) = server.call(
            "POST",
            "/api/v1/policies",
            operator,
            &json!({"name": name, "text": WEB_POLICY, "reason": "only HTTPS from the LAN"}),
        );
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = server.call(
        "POST",
        "/api/v1/policies/web/1/approve",
        approver,
        &json!({"reason": "reviewed"}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call(
        "PUT",
        "/api/v1/assignments",
        operator,
        &json!({"policy": "web", "version": 1, "hosts": ["web-1"]}),
    );
    assert!((200..300).contains(&status), "{status}: {answer}");
}

/// The digest of `web` version 1, as the server computed it.
fn policy_digest(server: &RunningServer, viewer: &str) -> String {
    let (status, _, version) = server.get("/api/v1/policies/web/1", Some(viewer));
    assert_eq!(status, 200, "{version}");
    version["sha256"].as_str().unwrap().to_owned()
}

#[test]
fn the_console_shows_each_page_in_chromium() {
    const TEST: &str = "the_console_shows_each_page_in_chromium";
    let Some(playwright) = browser::ready(TEST, &["ip"]) else {
        return;
    };
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let viewer = create_token(&home, &db, &["--role", "viewer", "--name", "console"]);
    let enroll = create_token(&home, &db, &["--role", "enroll", "--uses", "3"]);
    let operator = create_token(&home, &db, &["--role", "operator", "--name", "alice"]);
    let approver = create_token(&home, &db, &["--role", "approver", "--name", "bob"]);
    let server = RunningServer::start(&home, &db);
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let mut pushed = Vec::new();
    for (seed, key) in seeds(now).iter().zip(1..) {
        let host = SigningHost::enroll(&server, &enroll, seed.name, key);
        for push in seed.pushes(&host, now) {
            let (status, reply) = host.push(&server, &push);
            assert_eq!(status, 200, "{}: {reply}", seed.name);
            pushed.push(push);
        }
        if seed.name == "web-1" {
            roll_out_web(&server, &operator, &approver);
            // The agent's report of it, as its next push carries it.
            let mut next = pushed.last().unwrap().clone();
            next.seq += 1;
            next.policy = Some(AppliedPolicy {
                name: "web".into(),
                version: 1,
                sha256: policy_digest(&server, &viewer),
                generation: Some(7),
                state: "confirmed".into(),
                message: None,
                at: now,
            });
            assert_eq!(host.push(&server, &next).0, 200);
        }
    }
    let (status, _, ledger) = server.get("/api/v1/ledger?after=0&limit=1", Some(&viewer));
    assert_eq!(status, 200, "the server's ledger: {ledger}");
    let entries = ledger["size"].as_u64().unwrap().min(50);
    assert!(
        entries >= 3,
        "the enrollments are not in the ledger: {ledger}"
    );

    let expect = json!({
        "hosts": ["web-1", "db-1", "cache-1"],
        "severity_totals": ["2 critical", "2 high", "1 medium", "1 low", "1 info"],
        "exposed_ports": ["443/tcp", "23/tcp", "22/tcp", "5432/tcp", "11211/udp"],
        "loopback_port": "6379/tcp",
        "host": {
            "name": "web-1",
            "listener": "redis-server",
            "finding_code": "PR002",
            "drift": "listener new",
            "checkpoint_index": 14,
            "findings": 3,
            "policy": "web v1",
        },
        "findings_total": 7,
        "critical_code": "PR010",
        "markup_message": "banner: <script>alert(1)</script>",
        "grant_source": "203.0.113.10",
        "block_source": "198.51.100.23",
        "ledger_entries_at_least": entries,
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.mjs");
    let mut node = server.netns().exec("node");
    node.arg(&script)
        .env("CONSOLE_URL", format!("http://{}", server.address))
        .env("CONSOLE_TOKEN", &viewer)
        .env("CONSOLE_EXPECT", expect.to_string())
        .env("PORTREEVE_PLAYWRIGHT", &playwright)
        .env("HOME", home.path());
    let out = run(&mut node);
    let report = stdout(&out);
    server.stop();
    assert!(
        out.status.success() && !report.contains("FAIL"),
        "the console script failed ({}):\n{report}\n{}",
        out.status,
        stderr(&out)
    );
    for step in [
        "ok: / redirects to /console/ with its security headers",
        "ok: a wrong token is refused",
        "ok: the overview lists the hosts, their exposure and findings by severity",
        "ok: the host page shows listeners, findings, drift, blocks, policy and checkpoints",
        "ok: findings filter by severity and host, and markup stays text",
        "ok: grants and blocks are listed",
        &format!("ok: {entries} ledger inclusion proofs verified in the browser"),
        "ok: the policies page shows versions, approvals and assignments",
        "ok: signing out forgets the token",
        "ok: no script error or refused load",
    ] {
        assert!(report.contains(step), "missing `{step}`:\n{report}");
    }
}

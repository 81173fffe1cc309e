//! The fleet's report in a real browser: a server in a network namespace
//! of its own, two hosts enrolled that push known listeners (one held by a
//! process named `<script>…`), findings, lifecycle states and new-listener
//! drift, a third host named as markup (`<img src=x …>`) that pushed
//! nothing, a fleet policy proposed, approved, assigned and reported
//! confirmed; then `portreeve report --server URL` run inside that
//! namespace with a viewer token in `$PORTREEVE_TOKEN` writes the HTML
//! page, which Debian's Chromium (playwright-core, tests/report/fleet.mjs)
//! opens: it must list every host, show both hosts' listeners and
//! findings (web-1's with the remediation and containers its agent
//! pushed; db-1's agent is an older one that pushes neither), draw the
//! four charts (findings over time among them), judge PCI DSS's controls
//! for the fleet and each host, and request nothing but the file itself.
//! The same page is then printed to PDF.
//!
//! Needs root (the namespace), node, chromium and playwright-core,
//! installed as for tests/console.rs. With
//! `PORTREEVE_FLEET_REPORT_SCREENSHOT=FILE` it also saves a screenshot of
//! the top of the page there; docs/images/report-fleet.png is made so:
//!
//! ```console
//! # PORTREEVE_FLEET_REPORT_SCREENSHOT=$PWD/docs/images/report-fleet.png \
//!     cargo test -p portreeve --test report_fleet_browser
//! ```

mod support;

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use portreeve_fleet_protocol::{
    AppliedPolicy, Push, PushedDrift, PushedFinding, PushedListener, PushedPort,
};
use serde_json::json;
use support::fleet_server::{RunningServer, SigningHost, TestDatabase, create_token};
use support::{Home, assert_ok, browser, run, stderr, stdout};

/// A process name that would run if the page did not escape it.
const HOSTILE: &str = "<script>alert(1)</script>";
/// A host name that would fetch `x` and run a script if it were markup.
const HOSTILE_HOST: &str = "<img src=x onerror=alert(3)>";

const POLICY: &str = "[zones]\nlan = [\"10.0.0.0/8\"]\n\n[[rule]]\nname = \"https\"\n\
                      port = 443\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";

/// One host's push: its listeners (protocol, address, port, process), its
/// findings (severity, code, port, message), each listener's lifecycle
/// state, and a new-listener drift event for each, `ago` before `now`.
struct Seed {
    name: &'static str,
    listeners: Vec<(&'static str, &'static str, u16, &'static str, &'static str)>,
    findings: Vec<(&'static str, &'static str, u16, &'static str)>,
    ago: SignedDuration,
}

impl Seed {
    /// The container web-1's agent names for `port`; db-1's agent is an
    /// older one that pushes none.
    fn container(&self, port: u16) -> Option<String> {
        (self.name == "web-1").then(|| format!("shop-{port}"))
    }

    /// The remediation web-1's agent pushes for `code`; none from db-1's.
    fn remediation(&self, code: &str) -> Option<String> {
        (self.name == "web-1").then(|| format!("Resolve {code} as the policy says."))
    }

    fn push(&self, host: &SigningHost, now: Timestamp) -> Push {
        let listeners: Vec<PushedListener> = self
            .listeners
            .iter()
            .map(|&(protocol, address, port, process, _)| PushedListener {
                protocol: protocol.into(),
                address: address.into(),
                port,
                process: Some(process.into()),
                pid: Some(1000 + u32::from(port)),
                container: self.container(port),
            })
            .collect();
        Push {
            findings: self
                .findings
                .iter()
                .map(|&(severity, code, port, message)| PushedFinding {
                    code: code.into(),
                    severity: severity.into(),
                    port: Some(port),
                    message: message.into(),
                    remediation: self.remediation(code),
                })
                .collect(),
            drift: listeners
                .iter()
                .map(|l| PushedDrift {
                    at: now - self.ago,
                    kind: "new_listener".into(),
                    protocol: l.protocol.clone(),
                    address: l.address.clone(),
                    port: l.port,
                    process: l.process.clone(),
                })
                .collect(),
            lifecycle: Some(
                self.listeners
                    .iter()
                    .map(|&(protocol, _, port, _, state)| PushedPort {
                        port,
                        protocol: protocol.into(),
                        state: state.into(),
                        last_used: Some(now - SignedDuration::from_hours(3)),
                    })
                    .collect(),
            ),
            listeners,
            ..host.empty_push(1)
        }
    }
}

fn seeds() -> Vec<Seed> {
    vec![
        Seed {
            name: "web-1",
            listeners: vec![
                ("tcp", "0.0.0.0", 443, "nginx", "active"),
                ("tcp", "0.0.0.0", 23, "telnetd", "abandoned"),
                ("tcp", "127.0.0.1", 6379, "redis-server", "dormant"),
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
                    "low",
                    "PR008",
                    6379,
                    "the owner of 6379/tcp could not be verified",
                ),
            ],
            ago: SignedDuration::from_hours(26),
        },
        Seed {
            name: "db-1",
            listeners: vec![
                ("tcp", "0.0.0.0", 5432, "postgres", "active"),
                ("tcp", "0.0.0.0", 7000, HOSTILE, "active"),
            ],
            findings: vec![
                (
                    "high",
                    "PR009",
                    5432,
                    "PostgreSQL is reachable from the public zone",
                ),
                (
                    "medium",
                    "PR001",
                    7000,
                    "\"onload=\"alert(2) listens on 7000",
                ),
            ],
            ago: SignedDuration::from_hours(1),
        },
    ]
}

#[test]
fn the_fleet_report_shows_both_hosts_in_chromium_and_fetches_nothing() {
    const TEST: &str = "the_fleet_report_shows_both_hosts_in_chromium_and_fetches_nothing";
    let Some(playwright) = browser::ready(TEST, &["ip"]) else {
        return;
    };
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let viewer = create_token(&home, &db, &["--role", "viewer", "--name", "auditor"]);
    let enroll = create_token(&home, &db, &["--role", "enroll", "--uses", "3"]);
    let operator = create_token(&home, &db, &["--role", "operator", "--name", "alice"]);
    let approver = create_token(&home, &db, &["--role", "approver", "--name", "bob"]);
    let server = RunningServer::start(&home, &db);
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();

    let mut web = None;
    for (seed, key) in seeds().iter().zip(1..) {
        let host = SigningHost::enroll(&server, &enroll, seed.name, key);
        let push = seed.push(&host, now);
        let (status, reply) = host.push(&server, &push);
        assert_eq!(status, 200, "{}: {reply}", seed.name);
        if seed.name == "web-1" {
            web = Some((host, push));
        }
    }
    // A third host, named to break out of the page, that pushed nothing.
    let hostile = SigningHost::enroll(&server, &enroll, HOSTILE_HOST, 3);
    let (status, reply) = hostile.push(&server, &hostile.empty_push(1));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(server.propose(&operator, "web", POLICY), 1);
    let (status, answer) = server.approve(&approver, "web", 1);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call(
        "PUT",
        "/api/v1/assignments",
        &operator,
        &json!({"policy": "web", "version": 1, "hosts": ["web-1"]}),
    );
    assert!((200..300).contains(&status), "{status}: {answer}");
    let (status, _, version) = server.get("/api/v1/policies/web/1", Some(&viewer));
    assert_eq!(status, 200, "{version}");

    // web-1's agent pulled it and reports it confirmed in its next push.
    let (host, first) = web.unwrap();
    let push = Push {
        seq: 2,
        drift: vec![],
        policy: Some(AppliedPolicy {
            name: "web".into(),
            version: 1,
            sha256: version["sha256"].as_str().unwrap().to_owned(),
            generation: Some(2),
            state: "confirmed".into(),
            message: None,
            at: now,
        }),
        ..first
    };
    let (status, reply) = host.push(&server, &push);
    assert_eq!(status, 200, "{reply}");

    // The page, written by the command an operator runs, from inside the
    // server's namespace, the token in the environment (never on argv).
    let page = home.path().join("fleet.html");
    let url = format!("http://{}", server.address);
    let token = [("PORTREEVE_TOKEN", viewer.as_str())];
    let out = server.client(
        &home,
        &token,
        &[
            "report",
            "--server",
            &url,
            "--framework",
            "pci-dss",
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
        ],
    );
    assert_ok(&out);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script"),
        "the hostile process name is not escaped"
    );
    assert!(
        !html.contains("\"onload"),
        "a message broke out of its text"
    );
    assert!(!html.contains("<img"), "a host name broke out of its text");
    assert!(!html.contains(&viewer), "the token is in the page");

    let seeds = seeds();
    let listeners: Vec<Vec<String>> = seeds
        .iter()
        .flat_map(|s| {
            s.listeners.iter().map(|&(protocol, _, port, process, _)| {
                let row = [
                    s.name.to_owned(),
                    format!("{port}/{protocol}"),
                    process.to_owned(),
                ];
                row.into_iter().chain(s.container(port)).collect()
            })
        })
        .collect();
    let findings: Vec<Vec<String>> = seeds
        .iter()
        .flat_map(|s| {
            s.findings.iter().map(|f| {
                [s.name.to_owned(), f.1.to_owned()]
                    .into_iter()
                    .chain(s.remediation(f.1))
                    .collect()
            })
        })
        .collect();
    let expect = json!({
        "hosts": ["web-1", "db-1", HOSTILE_HOST],
        "charted": ["web-1", "db-1"],
        "listeners": listeners,
        "findings": findings,
        "hostile": HOSTILE,
        "policy": "web",
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/report/fleet.mjs");
    let mut node = server.netns().exec("node");
    node.arg(&script)
        .env("REPORT_FILE", &page)
        .env("REPORT_EXPECT", expect.to_string())
        .env("PORTREEVE_PLAYWRIGHT", &playwright)
        .env("HOME", home.path());
    if let Some(shot) = std::env::var_os("PORTREEVE_FLEET_REPORT_SCREENSHOT") {
        node.env("REPORT_SCREENSHOT", shot);
    }
    let out = run(&mut node);

    // The same page printed by headless Chromium.
    let pdf = home.path().join("fleet.pdf");
    assert_ok(&server.client(
        &home,
        &token,
        &[
            "report",
            "--server",
            &url,
            "--format",
            "pdf",
            "--output",
            pdf.to_str().unwrap(),
        ],
    ));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(
        bytes.starts_with(b"%PDF-"),
        "not a PDF: {:?}",
        &bytes[..bytes.len().min(16)]
    );
    server.stop();
    let said = stdout(&out);
    assert!(
        out.status.success() && !said.contains("FAIL"),
        "the fleet report script failed ({}):\n{said}\n{}",
        out.status,
        stderr(&out)
    );
    for step in [
        "ok: the fleet report opens",
        "ok: the hosts table lists every host",
        "ok: the inventory lists both hosts' listeners, a hostile process name as text",
        "ok: the findings of both hosts are listed with where their remediation is",
        "ok: the charts are drawn",
        "ok: the policies and the verified server ledger are shown",
        "ok: the framework's controls are judged for the fleet and each host",
        "ok: no request but the file itself",
    ] {
        assert!(said.contains(step), "missing `{step}`:\n{said}");
    }
}

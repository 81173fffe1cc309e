//! `portreeve export`: this host's findings, drift, changes and detections
//! as Elastic Common Schema documents (each checked field by field against
//! the published ECS field reference, `@elastic/ecs`'s `EcsFlat`: see
//! [`support::ecs`]), to a Splunk HTTP Event Collector (a loopback mock
//! speaking the protocol: token, batching, a 503 retried, acknowledgement),
//! and as RFC 5424 syslog taken apart by a real rsyslog.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use portreeve_app::StateDir;
use portreeve_detect::{Action, Detection, ScanKind, Tier};
use portreeve_store::{DriftEvent, DriftKind, Store as _, WriteBatch};
use portreeve_testkit::http::{Reply, Request, Server};
use portreeve_testkit::rsyslog::{self, Rsyslog};
use serde_json::{Value, json};
use support::{Home, assert_exit, assert_ok, run, stdout};

/// Asserts `doc` is an ECS document by the reference, of the version it
/// says it follows, with what every exported document carries.
#[track_caller]
fn assert_ecs(doc: &Value) {
    support::ecs::assert_ecs(doc);
    assert_eq!(doc["ecs"]["version"], portreeve_alerts::ecs::ECS_VERSION);
    for required in ["message", "event.dataset", "host.name"] {
        assert!(
            support::ecs::flatten(doc)
                .iter()
                .any(|(name, _)| name == required),
            "{required} missing: {doc}"
        );
    }
}

/// A home with a ledger entry (a recorded check), three drift events and
/// one detection in the agent's store.
fn home_with_events() -> Home {
    let home = Home::new();
    assert_ok(&home.run(&["check", "--record"]));
    let state = StateDir::open(home.state());
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    let drift = |time: &str, kind, port, old: Option<&str>, new: Option<&str>| DriftEvent {
        at: at(time),
        kind,
        protocol: portreeve_core::Proto::Tcp,
        address: "0.0.0.0".parse().unwrap(),
        port,
        netns: portreeve_core::NetnsRef {
            inode: 4026531840,
            name: Some("host".to_owned()),
        },
        old_owner: old.map(str::to_owned),
        new_owner: new.map(str::to_owned),
    };
    let events = vec![
        drift(
            "2026-11-01T10:00:00Z",
            DriftKind::NewListener,
            9229,
            None,
            Some("node"),
        ),
        drift(
            "2026-11-02T10:00:00Z",
            DriftKind::OwnerChanged,
            9229,
            Some("node"),
            Some("deno"),
        ),
        drift(
            "2026-11-03T10:00:00Z",
            DriftKind::ListenerGone,
            9229,
            Some("deno"),
            None,
        ),
    ];
    state
        .with_store(|s| {
            s.write(&WriteBatch {
                drift: events,
                ..WriteBatch::default()
            })
        })
        .unwrap();
    let detection = Detection {
        source: "192.0.2.7".parse().unwrap(),
        kind: ScanKind::Vertical,
        detector: "trw",
        first_seen: at("2026-11-04T10:00:00Z"),
        last_seen: at("2026-11-04T10:00:05Z"),
        ports: vec![22, 23, 80],
        port_count: 3,
        addresses: vec!["198.51.100.1".parse().unwrap()],
        address_count: 1,
        attempts_before_decision: 5,
        tier: Tier::Agent,
        evidence: "5 failures in a row".to_owned(),
    };
    portreeve_app::detections::record(
        &state,
        &detection,
        Tier::Agent,
        Action::Alert,
        None,
        vec!["5 failures in a row".to_owned()],
    )
    .unwrap();
    home
}

/// The ECS lines `export --to ecs` writes for `what`.
fn ecs_lines(home: &Home, what: &str) -> Vec<Value> {
    let out = home.run(&["export", "--to", "ecs", "--what", what]);
    assert_ok(&out);
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What identifies one event across sinks.
fn key(doc: &Value) -> (String, String, String) {
    (
        doc["event"]["dataset"].as_str().unwrap().to_owned(),
        doc["@timestamp"].as_str().unwrap().to_owned(),
        doc["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn ecs_documents_use_ecs_fields_and_types_for_every_kind() {
    let home = home_with_events();
    let docs = ecs_lines(&home, "findings,drift,changes,detections");
    // The documents claim the version of the reference they are checked by.
    if let Some(reference) = support::ecs::reference() {
        assert_eq!(reference.version, portreeve_alerts::ecs::ECS_VERSION);
    }
    for doc in &docs {
        assert_ecs(doc);
    }
    let datasets: Vec<&str> = docs
        .iter()
        .map(|d| d["event"]["dataset"].as_str().unwrap())
        .collect();
    let count = |name: &str| datasets.iter().filter(|&&d| d == name).count();
    assert_eq!(
        (
            count("portreeve.drift"),
            count("portreeve.change"),
            count("portreeve.detection")
        ),
        (3, 1, 1),
        "{datasets:?}"
    );

    // The findings are those check computes (same fingerprints).
    let check = home.run(&["check", "--format", "json"]);
    let check: Value = serde_json::from_str(&stdout(&check)).unwrap();
    let from_check: BTreeSet<&str> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    let exported: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "portreeve.finding")
        .map(|d| d["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(exported, from_check);

    // Each kind's mapping, field by field.
    let drift: Vec<&Value> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "portreeve.drift")
        .collect();
    let types: Vec<&Value> = drift.iter().map(|d| &d["event"]["type"]).collect();
    assert_eq!(
        types,
        [&json!(["start"]), &json!(["change"]), &json!(["end"])]
    );
    assert_eq!(drift[0]["@timestamp"], "2026-11-01T10:00:00Z");
    assert_eq!(
        drift[0]["destination"],
        json!({ "ip": "0.0.0.0", "port": 9229 })
    );
    assert_eq!(drift[1]["portreeve"]["drift"]["old_owner"], "node");
    assert_eq!(drift[1]["service"]["name"], "deno");

    let change = docs
        .iter()
        .find(|d| d["event"]["dataset"] == "portreeve.change")
        .unwrap();
    assert_eq!(change["event"]["sequence"], 0);
    assert_eq!(change["event"]["action"], "change.check");
    assert_eq!(change["event"]["category"], json!(["configuration"]));
    assert_eq!(change["portreeve"]["change"]["action"], "check");
    assert!(change["user"]["name"].is_string());

    let detection = docs
        .iter()
        .find(|d| d["event"]["dataset"] == "portreeve.detection")
        .unwrap();
    assert_eq!(detection["source"], json!({ "ip": "192.0.2.7" }));
    assert!(detection.get("destination").is_none(), "{detection}");
    assert_eq!(detection["portreeve"]["ports"], json!([22, 23, 80]));
    assert_eq!(detection["event"]["kind"], "alert");
    assert_eq!(detection["@timestamp"], "2026-11-04T10:00:05Z");

    // --since leaves older drift and detections out.
    let recent = ecs_lines(&home, "drift,detections");
    assert_eq!(recent.len(), 4);
    let out = home.run(&[
        "export",
        "--to",
        "ecs",
        "--what",
        "drift,detections",
        "--since",
        "2026-11-02T12:00:00Z",
    ]);
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
}

#[test]
fn every_kind_of_agent_alert_is_an_ecs_document() {
    use portreeve_alerts::{Alert, ecs, examples};
    for alert in [
        examples::detection(),
        Alert::Block(examples::block()),
        examples::usage_anomaly(),
    ] {
        support::ecs::assert_ecs(&ecs::document(&alert));
    }
}

#[test]
fn the_ecs_check_rejects_what_the_reference_does_not_allow() {
    let Some(reference) = support::ecs::reference() else {
        return;
    };
    let good = json!({
        "@timestamp": "2026-11-04T10:00:05Z",
        "ecs": { "version": reference.version },
        "event": { "kind": "alert", "category": ["network"], "outcome": "success" },
        "destination": { "port": 22 },
        "portreeve": { "anything": [1, "two"] },
    });
    assert_eq!(
        support::ecs::violations(reference, &good),
        Vec::<String>::new()
    );
    let bad = json!({
        "ecs": { "version": reference.version },
        "event": { "kind": "nonsense", "category": "network", "outcome": "maybe", "bogus": 1 },
        "destination": { "port": [22, 23] },
        "source": { "ip": "not-an-address", "port": "22" },
        "event_time": "2026-11-04T10:00:05Z",
    });
    let mut said = support::ecs::violations(reference, &bad);
    said.sort();
    assert_eq!(
        said,
        [
            "@timestamp is missing",
            "destination.port = [22,23]: ECS expects one value, not an array",
            "event.bogus is not an ECS 9.4.0 field",
            "event.kind = \"nonsense\" is not one of ECS's [\"alert\", \"asset\", \"enrichment\", \"event\", \"metric\", \"state\", \"pipeline_error\", \"signal\"]",
            "event.outcome = \"maybe\" is not one of ECS's [\"failure\", \"success\", \"unknown\"]",
            "event_time is not an ECS 9.4.0 field",
            "source.ip = \"not-an-address\" is not an ECS ip",
            "source.port = \"22\" is not an ECS long",
        ]
    );
}

#[test]
fn ecs_lines_go_to_a_file_and_bad_options_change_nothing() {
    let home = home_with_events();
    let file = home.path().join("events.ndjson");
    let out = home.run(&[
        "export",
        "--to",
        "ecs",
        "--what",
        "drift",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);

    let out = home.run(&["export", "--to", "ecs", "--url", "http://127.0.0.1:9"]);
    assert_exit(&out, 2, "--url is an option of --to splunk-hec");
    let out = home.run(&[
        "export",
        "--to",
        "splunk-hec",
        "--url",
        "http://127.0.0.1:9/services/collector",
    ]);
    assert_exit(&out, 2, "without a path");
    let out = home.run(&["export", "--to", "ecs", "--what", "drift,nonsense"]);
    assert_exit(&out, 2, "unknown kind \"nonsense\"");
    let out = home.run(&["export", "--to", "syslog", "--syslog", "127.0.0.1"]);
    assert_exit(&out, 2, "expected HOST:PORT");
    let out = home.run(&[
        "export",
        "--to",
        "syslog",
        "--syslog",
        "127.0.0.1:514",
        "--facility",
        "local9",
    ]);
    assert_exit(&out, 2, "--facility \"local9\"");
}

/// A Splunk HEC on loopback: checks the token and the channel, answers the
/// first event request 503, gives each accepted request an ackId, and
/// acknowledges an id on the second time it is asked about.
struct Hec {
    server: Server,
}

const TOKEN: &str = "0f4e5c1a-8b7d-4e2f-9a61-3c5d7e9f1b20";

impl Hec {
    fn start() -> Hec {
        let next_ack = AtomicU64::new(0);
        let asked: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());
        let first = AtomicU64::new(0);
        let server = Server::start(move |request: &Request, _| {
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            if header("authorization") != Some(&format!("Splunk {TOKEN}")) {
                return Reply::status(
                    "401 Unauthorized",
                    "application/json",
                    r#"{"text":"Invalid token","code":4}"#,
                );
            }
            if header("x-splunk-request-channel").is_none() {
                return Reply::status(
                    "400 Bad Request",
                    "application/json",
                    r#"{"text":"Data channel is missing","code":10}"#,
                );
            }
            if request.path == "/services/collector/event" {
                if first.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Reply::status(
                        "503 Service Unavailable",
                        "application/json",
                        r#"{"text":"Server is busy","code":9}"#,
                    );
                }
                let id = next_ack.fetch_add(1, Ordering::SeqCst);
                return Reply::ok(
                    "application/json",
                    format!(r#"{{"text":"Success","code":0,"ackId":{id}}}"#),
                );
            }
            if request.path.starts_with("/services/collector/ack?channel=") {
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let mut asked = asked.lock().unwrap();
                let mut acks = serde_json::Map::new();
                for id in body["acks"].as_array().unwrap() {
                    let id = id.as_u64().unwrap();
                    let times = asked.entry(id).or_default();
                    *times += 1;
                    acks.insert(id.to_string(), Value::Bool(*times >= 2));
                }
                return Reply::ok("application/json", json!({ "acks": acks }).to_string());
            }
            Reply::status("404 Not Found", "text/plain", "")
        });
        Hec { server }
    }

    /// The accepted event requests' bodies, each split into its events.
    fn accepted_batches(&self) -> Vec<Vec<Value>> {
        let events: Vec<Request> = self
            .server
            .requests()
            .into_iter()
            .filter(|r| r.path == "/services/collector/event")
            .collect();
        // The first was answered 503; the client sent it again.
        events[1..]
            .iter()
            .map(|r| {
                serde_json::Deserializer::from_slice(&r.body)
                    .into_iter::<Value>()
                    .map(Result::unwrap)
                    .collect()
            })
            .collect()
    }
}

fn export_to_hec(home: &Home, hec: &Hec, token_file: &std::path::Path) -> std::process::Output {
    let mut cmd = home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")));
    cmd.args([
        "export",
        "--to",
        "splunk-hec",
        "--what",
        "drift,changes,detections",
        "--url",
        &hec.server.base_url,
        "--token-file",
        token_file.to_str().unwrap(),
        "--batch",
        "2",
        "--ack",
        "--ack-timeout",
        "10s",
    ])
    .env_remove("PORTREEVE_SPLUNK_TOKEN");
    run(&mut cmd)
}

#[test]
fn splunk_hec_gets_every_event_once_in_batches_with_the_token_retried_and_acknowledged() {
    let home = home_with_events();
    let expected: Vec<Value> = ecs_lines(&home, "drift,changes,detections");
    assert_eq!(expected.len(), 5);
    let hec = Hec::start();
    let token = home.file("hec.token", format!("{TOKEN}\n"));
    let out = export_to_hec(&home, &hec, &token);
    assert_ok(&out);
    assert!(
        support::stderr(&out).contains("sent 5 events in 3 requests"),
        "{}",
        support::stderr(&out)
    );
    assert!(support::stderr(&out).contains("3 acknowledged"));

    let batches = hec.accepted_batches();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1], "events per request");
    let mut received: Vec<_> = Vec::new();
    for event in batches.iter().flatten() {
        assert_eq!(event["source"], "portreeve");
        assert_eq!(event["sourcetype"], "portreeve:ecs");
        assert_eq!(event["host"], event["event"]["host"]["name"]);
        let time: Timestamp = event["event"]["@timestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let epoch = event["time"].as_f64().unwrap();
        assert!((epoch - time.as_millisecond() as f64 / 1000.0).abs() < 0.001);
        assert_ecs(&event["event"]);
        received.push(key(&event["event"]));
    }
    let mut wanted: Vec<_> = expected.iter().map(key).collect();
    // Findings are judged now; everything else carries its own time.
    received.sort();
    wanted.sort();
    assert_eq!(received, wanted, "every event exactly once");

    // Every request named the same channel; each ackId was asked until
    // acknowledged.
    let requests = hec.server.requests();
    let channels: BTreeSet<&str> = requests
        .iter()
        .flat_map(|r| r.headers.iter())
        .filter(|(n, _)| n == "x-splunk-request-channel")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let channel = channels.into_iter().next().unwrap();
    let ack_requests: Vec<&Request> = requests
        .iter()
        .filter(|r| r.path.starts_with("/services/collector/ack"))
        .collect();
    assert!(
        ack_requests
            .iter()
            .all(|r| r.path == format!("/services/collector/ack?channel={channel}"))
    );
    assert_eq!(ack_requests.len(), 2, "asked, then acknowledged");
}

#[test]
fn splunk_hec_refusing_the_token_fails_at_once_without_retries() {
    let home = home_with_events();
    let hec = Hec::start();
    let token = home.file("wrong.token", "not-the-token\n");
    let out = export_to_hec(&home, &hec, &token);
    assert_exit(&out, 3, "HTTP status 401");
    assert_eq!(hec.server.requests().len(), 1, "a 4xx is not retried");

    let empty = home.file("empty.token", "");
    let out = export_to_hec(&home, &hec, &empty);
    assert_exit(&out, 2, "no Splunk HEC token");
    assert_eq!(
        hec.server.requests().len(),
        1,
        "nothing sent without a token"
    );
}

#[test]
fn rsyslog_receives_rfc5424_messages_with_ecs_bodies_over_udp_and_tcp() {
    const TEST: &str = "export::rsyslog";
    let Some(program) = rsyslog::program() else {
        portreeve_testkit::skip_unless(TEST, false, "rsyslogd is not installed (Debian: rsyslog)");
        return;
    };
    let home = home_with_events();
    let expected = ecs_lines(&home, "drift,changes,detections");
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(&program, dir.path(), None);
    for (transport, port, facility) in [
        ("udp", rsyslog.udp_port, "auth"),
        ("tcp", rsyslog.tcp_port, "local3"),
    ] {
        let address = format!("127.0.0.1:{port}");
        let out = home.run(&[
            "export",
            "--to",
            "syslog",
            "--what",
            "drift,changes,detections",
            "--syslog",
            &address,
            "--transport",
            transport,
            "--facility",
            facility,
        ]);
        assert_ok(&out);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rsyslog.portreeve_lines().len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            rsyslog.portreeve_lines()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut by_input: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for fields in rsyslog.portreeve_lines() {
        let [
            input,
            version,
            facility,
            severity,
            host,
            _app,
            _procid,
            msgid,
            sd,
            time,
            msg,
            _raw,
        ] = &fields[..]
        else {
            panic!("unexpected line {fields:?}");
        };
        assert_eq!((version.as_str(), sd.as_str()), ("1", "-"));
        assert_eq!(host, hostname.trim());
        let doc: Value = serde_json::from_str(msg).unwrap_or_else(|e| panic!("{e}: {msg}"));
        assert_ecs(&doc);
        // RFC 5424 keeps at most six fractional digits.
        let stamp: Timestamp = doc["@timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            time.parse::<Timestamp>().unwrap().as_microsecond(),
            stamp.as_microsecond()
        );
        // MSGID is the event's signature: a detection's rule (as the
        // agent's alerts have it), else its action.
        let signature = if doc["event"]["dataset"] == "portreeve.detection" {
            &doc["rule"]["name"]
        } else {
            &doc["event"]["action"]
        };
        assert_eq!(msgid, signature.as_str().unwrap());
        let expected_facility = if input == "imudp" { "auth" } else { "local3" };
        assert_eq!(facility, expected_facility);
        let expected_severity = match doc["event"]["dataset"].as_str().unwrap() {
            "portreeve.drift" if doc["event"]["type"] == json!(["end"]) => "info",
            "portreeve.drift" | "portreeve.detection" => "notice",
            _ => "info",
        };
        assert_eq!(severity, expected_severity, "{doc}");
        by_input.entry(input.clone()).or_default().push(key(&doc));
    }
    let mut wanted: Vec<_> = expected.iter().map(key).collect();
    wanted.sort();
    for input in ["imudp", "imtcp"] {
        let mut got = by_input.remove(input).unwrap_or_default();
        got.sort();
        assert_eq!(got, wanted, "{input}: every event exactly once");
    }
}

#[test]
fn splunk_hec_batches_never_acknowledged_are_an_error_naming_them() {
    let home = home_with_events();
    let server = Server::start(|request: &Request, _| {
        if request.path == "/services/collector/event" {
            Reply::ok(
                "application/json",
                r#"{"text":"Success","code":0,"ackId":7}"#,
            )
        } else {
            Reply::ok("application/json", r#"{"acks":{"7":false}}"#)
        }
    });
    let mut cmd = home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")));
    cmd.args([
        "export",
        "--to",
        "splunk-hec",
        "--what",
        "drift",
        "--url",
        &server.base_url,
        "--ack",
        "--ack-timeout",
        "1s",
    ])
    .env("PORTREEVE_SPLUNK_TOKEN", TOKEN);
    let out = run(&mut cmd);
    assert_exit(&out, 3, "1 batches not acknowledged within 1s (ackIds [7])");
    let token = format!("Splunk {TOKEN}");
    assert!(server.requests().iter().all(|r| {
        r.headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == &token)
    }));
}

//! The responder against real receivers on 127.0.0.1: a webhook receiver,
//! an ECS file, MaxMind databases and an RDAP server (the testkit's), all
//! configured through an agent.toml text. A detection is alerted on at
//! once, its block too, and its source's enrichment comes back through the
//! callback without ever holding up `respond`.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_agent::config::AgentConfig;
use portreeve_agent::respond::{BlockMade, ENRICHMENT_QUEUE, Incident, Responder};
use portreeve_alerts::Action;
use portreeve_detect::{Detection, ScanKind, Tier};
use portreeve_testkit::http::{Reply, Server};
use portreeve_testkit::trace::{RdapServer, SLOW_ANSWER, asn_db, city_db};
use portreeve_trace::Enrichment;

/// A vertical scan from `source`.
fn detection(source: &str) -> Detection {
    let at = Timestamp::now();
    Detection {
        source: source.parse().unwrap(),
        kind: ScanKind::Vertical,
        detector: "trw",
        first_seen: at,
        last_seen: at,
        ports: vec![22, 23, 80, 443],
        port_count: 4,
        addresses: vec!["198.51.100.1".parse().unwrap()],
        address_count: 1,
        attempts_before_decision: 4,
        tier: Tier::Agent,
        evidence: "TRW: 4 first contacts failed".to_owned(),
    }
}

/// agent.toml with a webhook to `hook`, an ECS file `ecs`, tracing from
/// the test databases in `dir` and `rdap`, and no captures.
fn config(hook: &str, ecs: &Path, dir: &Path, rdap: &str, budget: &str) -> AgentConfig {
    let text = format!(
        "[[alerts.webhook]]\nurl = {hook:?}\nretries = 0\n\
         [[alerts.ecs]]\npath = {ecs:?}\n\
         [trace]\nmmdb = [{:?}, {:?}]\nreverse_dns = false\nrdap_base_url = {rdap:?}\nbudget = {budget:?}\n\
         [capture]\nenabled = false\n",
        asn_db(dir),
        city_db(dir),
    );
    AgentConfig::parse("agent.toml", &text).unwrap()
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_detection_and_its_block_reach_the_webhook_and_the_ecs_file_and_its_source_is_enriched() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(|_, _| Reply::ok("text/plain", ""));
    let rdap = RdapServer::start();
    let ecs = dir.path().join("alerts.ecs.json");
    let url = format!("{}/hook", hook.base_url);
    let config = config(&url, &ecs, dir.path(), &rdap.base_url, "2s");
    let (enriched, enrichments) = mpsc::channel::<(i64, Enrichment)>();
    let responder = Responder::start(
        &config.response,
        dir.path().join("captures"),
        move |id, e| enriched.send((id, e.clone())).unwrap(),
        |id, path| panic!("captures are off, yet detection {id} captured to {path:?}"),
    )
    .unwrap();

    let scan = detection("192.0.2.7");
    // The evidence as the scan watch records it.
    let evidence = portreeve_app::detections::evidence(&scan, &[]);
    let started = Instant::now();
    responder.respond(Incident {
        id: 7,
        detection: scan,
        tier: Tier::Agent,
        action: Action::Block,
        block: Some(BlockMade {
            target: "192.0.2.7/32".parse().unwrap(),
            ttl_seconds: 600,
            ledger_index: 3,
            reason: "vertical port scan".to_owned(),
        }),
        evidence,
    });
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "respond waited"
    );

    wait_until(Duration::from_secs(10), "two POSTs", || {
        hook.requests().len() >= 2
    });
    let posts = hook.requests();
    assert!(
        posts
            .iter()
            .all(|r| r.method == "POST" && r.path == "/hook")
    );
    let bodies: Vec<serde_json::Value> = posts
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let detection = &bodies[0]["alert"];
    assert_eq!(detection["type"], "detection", "{bodies:?}");
    assert_eq!(detection["source"], "192.0.2.7");
    assert_eq!(detection["kind"], "vertical");
    assert_eq!(detection["tier"], "agent");
    assert_eq!(detection["action"], "block");
    assert_eq!(detection["ports"], serde_json::json!([22, 23, 80, 443]));
    assert_eq!(detection["evidence"][0], "TRW: 4 first contacts failed");
    assert_eq!(bodies[0]["severity"], "high");
    let block = &bodies[1]["alert"];
    assert_eq!(block["type"], "block", "{bodies:?}");
    assert_eq!(block["target"], "192.0.2.7/32");
    assert_eq!(block["ttl_seconds"], 600);
    assert_eq!(block["actor"], "agent");

    let lines = || {
        std::fs::read_to_string(&ecs)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    wait_until(Duration::from_secs(10), "two ECS lines", || {
        lines().len() >= 2
    });
    let docs = lines();
    assert_eq!(docs[0]["rule"]["name"], "portscan.vertical", "{docs:?}");
    assert_eq!(docs[0]["source"]["ip"], "192.0.2.7");
    assert_eq!(docs[1]["event"]["action"], "source-blocked", "{docs:?}");

    let (id, found) = enrichments.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(id, 7);
    assert_eq!(found.asn, Some(64500), "{found:?}");
    assert_eq!(found.as_org.as_deref(), Some("Example Transit"));
    assert_eq!(found.country.as_deref(), Some("NL"));
    let network = found.rdap.expect("an RDAP network");
    assert_eq!(network.name.as_deref(), Some("TEST-NET-1"));
    assert_eq!(rdap.requests(), ["/ip/192.0.2.7"]);
}

#[test]
fn enrichment_never_holds_up_respond_and_a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Server::start(|_, _| Reply::ok("text/plain", ""));
    let rdap = RdapServer::start();
    let ecs = dir.path().join("alerts.ecs.json");
    let url = format!("{}/hook", hook.base_url);
    // 203.0.113.0/24 answers after SLOW_ANSWER, far past this budget.
    let config = config(&url, &ecs, dir.path(), &rdap.base_url, "300ms");
    let (enriched, enrichments) = mpsc::channel::<(i64, Enrichment)>();
    let responder = Responder::start(
        &config.response,
        dir.path().join("captures"),
        move |id, e| enriched.send((id, e.clone())).unwrap(),
        |_, _| {},
    )
    .unwrap();

    let burst = ENRICHMENT_QUEUE + 10;
    let started = Instant::now();
    for id in 0..burst {
        responder.respond(Incident {
            id: id as i64,
            detection: detection(&format!("203.0.113.{}", id % 250 + 1)),
            tier: Tier::Agent,
            action: Action::Alert,
            block: None,
            evidence: Vec::new(),
        });
    }
    let took = started.elapsed();
    assert!(took < SLOW_ANSWER / 3, "{burst} responds took {took:?}");
    // The queue holds ENRICHMENT_QUEUE, the worker one more per budget
    // (300 ms) that the burst took; the rest were dropped and counted.
    let beyond = (burst - ENRICHMENT_QUEUE) as u64;
    let taken = 1 + took.as_millis() as u64 / 300;
    let dropped = responder.enrichments_dropped();
    assert!(
        dropped <= beyond && dropped + taken >= beyond,
        "dropped {dropped} of {burst} in {took:?}"
    );
    // The first comes back within its budget, without RDAP's answer.
    let (id, found) = enrichments.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(id, 0);
    assert!(found.rdap.is_none(), "{found:?}");
    assert!(
        found.errors.iter().any(|e| e.contains("budget of 300 ms")),
        "{found:?}"
    );
    let metrics = portreeve_agent::metrics::Metrics::new();
    responder.update_metrics(&metrics);
    let text = metrics.render();
    let series = format!("portreeve_agent_queue_dropped_total{{queue=\"enrichment\"}} {dropped}\n");
    assert!(text.contains(&series), "{series}{text}");
    // Stopping waits for the enrichment in progress only.
    let stopping = Instant::now();
    drop(responder);
    assert!(stopping.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_detection_starts_a_capture_of_its_source_and_its_bytes_are_counted() {
    let test = "a_detection_starts_a_capture_of_its_source_and_its_bytes_are_counted";
    portreeve_testkit::in_fresh_netns(test, || {
        let dir = tempfile::tempdir().unwrap();
        let config = AgentConfig::parse("agent.toml", "[capture]\nduration = \"3s\"\n").unwrap();
        let (captured, captures) = mpsc::channel();
        let responder = Responder::start(
            &config.response,
            dir.path().join("captures"),
            |_, _| panic!("no [trace] table, yet a source was traced"),
            move |id, path: &Path| captured.send((id, path.to_owned())).unwrap(),
        )
        .unwrap();
        responder.respond(Incident {
            id: 7,
            detection: detection("127.0.0.1"),
            tier: Tier::Agent,
            action: Action::Alert,
            block: None,
            evidence: Vec::new(),
        });
        // The path is known as the capture starts: respond reports it.
        let (id, file) = captures.try_recv().expect("a capture reported");
        assert_eq!(id, 7);
        assert!(file.starts_with(dir.path().join("captures")), "{file:?}");
        assert!(
            file.to_string_lossy().ends_with("detection-7.pcap"),
            "{file:?}"
        );

        let metrics = portreeve_agent::metrics::Metrics::new();
        responder.update_metrics(&metrics);
        let header = metrics.capture_bytes.get();
        assert!(header > 0, "the pcap header is counted");
        // Traffic of the source, on this namespace's loopback only.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        wait_until(Duration::from_secs(3), "captured packets", || {
            socket.send_to(b"probe", "127.0.0.1:9").unwrap();
            responder.update_metrics(&metrics);
            metrics.capture_bytes.get() > header
        });
        assert!(std::fs::metadata(&file).unwrap().len() > header);
    });
}

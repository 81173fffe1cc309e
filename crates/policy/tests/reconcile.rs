//! Joining the inventory, a scan and the policy: every verdict and finding.

mod common;

use common::socket;
use portreeve_core::{FindingKind, Observed, ObservedPort, Proto, ScanView, Severity};
use portreeve_policy::{Listening, Reachability, parse_policy, reconcile};

fn policy() -> portreeve_policy::Policy {
    parse_policy(
        "p.toml",
        "[zones]\noffice = [\"198.51.100.0/24\"]\nlab = [\"203.0.113.0/24\"]\n\
         [[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\n\
         [[rule]]\nname = \"search\"\nport = 9200\nprotocol = \"tcp\"\nzones = [\"office\"]\nfamily = \"ipv4\"\n\
         [[rule]]\nname = \"db\"\nport = 5432\nprotocol = \"tcp\"\nzones = [\"lab\"]\nfamily = \"ipv4\"\n",
    )
    .unwrap()
}

fn seen(port: u16, observed: Observed) -> ObservedPort {
    ObservedPort {
        protocol: Proto::Tcp,
        port,
        observed,
        service: None,
        product: None,
        unauthenticated: None,
    }
}

fn view(ports: Vec<ObservedPort>) -> ScanView {
    ScanView {
        target: "192.0.2.10".parse().unwrap(),
        source: Some("198.51.100.7".parse().unwrap()),
        ports,
    }
}

fn kinds(r: &portreeve_policy::Reconciliation) -> Vec<(FindingKind, String)> {
    r.findings
        .iter()
        .map(|f| (f.kind, f.message.split(' ').next().unwrap().to_string()))
        .collect()
}

#[test]
fn each_join_gets_its_verdict() {
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 22),
        socket(Proto::Tcp, "192.0.2.10", 5432),
        socket(Proto::Tcp, "127.0.0.1", 8081),
        socket(Proto::Tcp, "10.0.0.5", 3000),
    ];
    let r = reconcile(
        &policy(),
        &sockets,
        &view(vec![
            seen(22, Observed::Open),
            seen(5432, Observed::Filtered),
            seen(8080, Observed::Open),
            seen(8081, Observed::Open),
            seen(3000, Observed::Closed),
            seen(9999, Observed::Closed),
            seen(7777, Observed::Filtered),
        ]),
    );
    let got: Vec<(u16, Listening, Reachability)> = r
        .ports
        .iter()
        .map(|p| (p.port, p.listening, p.reachability))
        .collect();
    assert_eq!(
        got,
        [
            (22, Listening::Yes, Reachability::Reachable),
            (5432, Listening::Yes, Reachability::ListeningButFiltered),
            (8080, Listening::No, Reachability::ReachableWithoutListener),
            (
                8081,
                Listening::LoopbackOnly,
                Reachability::ReachableWithoutListener
            ),
        ],
        "closed or filtered ports nothing listens on are left out; 3000 is bound to another address"
    );
}

#[test]
fn reachable_against_policy_and_forwarded_ports() {
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 6379),
        socket(Proto::Tcp, "0.0.0.0", 5432),
    ];
    let r = reconcile(
        &policy(),
        &sockets,
        &view(vec![
            seen(6379, Observed::Open),
            seen(5432, Observed::Open),
            seen(8080, Observed::Open),
        ]),
    );
    let k = kinds(&r);
    assert!(
        k.contains(&(
            FindingKind::ReachableAgainstPolicy,
            "192.0.2.10:6379/tcp".into()
        )),
        "{k:?}"
    );
    // 5432 is allowed, but only from the lab zone, not from this source.
    assert!(
        k.contains(&(
            FindingKind::ReachableAgainstPolicy,
            "192.0.2.10:5432/tcp".into()
        )),
        "{k:?}"
    );
    assert!(
        k.contains(&(
            FindingKind::ReachableWithoutListener,
            "192.0.2.10:8080/tcp".into()
        )),
        "{k:?}"
    );
    let redis = r
        .findings
        .iter()
        .find(|f| f.message.contains(":6379/"))
        .unwrap();
    assert_eq!(
        redis.severity,
        Severity::Critical,
        "the catalogue grades it"
    );
    assert!(
        redis.evidence.iter().any(|e| e.contains("zones: office")),
        "{:?}",
        redis.evidence
    );
    assert!(redis.socket.is_some(), "the local listener is named");
}

#[test]
fn allowed_but_risky_and_unauthenticated() {
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 9200),
        socket(Proto::Tcp, "0.0.0.0", 22),
    ];
    let mut es = seen(9200, Observed::Open);
    es.service = Some("elasticsearch".into());
    es.unauthenticated = Some(true);
    let r = reconcile(
        &policy(),
        &sockets,
        &view(vec![es, seen(22, Observed::Open)]),
    );
    let k: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        k,
        [
            FindingKind::ReachableRiskyService,
            FindingKind::UnauthenticatedService
        ],
        "allowed SSH is fine"
    );
    assert!(r.findings.iter().all(|f| f.severity >= Severity::High));
}

#[test]
fn banned_ports_reached_are_at_least_high() {
    let r = reconcile(
        &policy(),
        &[socket(Proto::Tcp, "0.0.0.0", 111)],
        &view(vec![seen(111, Observed::Open)]),
    );
    assert_eq!(r.findings[0].kind, FindingKind::ReachableAgainstPolicy);
    assert!(r.findings[0].severity >= Severity::High);
    assert!(r.findings[0].evidence.iter().any(|e| e.contains("banned")));
}

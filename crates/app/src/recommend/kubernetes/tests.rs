use super::*;
use portreeve_detect::{Outcome, Probe};
use portreeve_k8s::manifest::read_str;
use portreeve_k8s::write::{PortValueDoc, to_yaml};

const CLUSTER: &str = r#"
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
status: {podIP: 10.1.0.1}
---
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web}}
status: {podIP: 10.1.0.2}
---
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
status: {podIP: 10.1.0.3}
---
kind: Pod
metadata: {name: prom, namespace: ops, labels: {app: prom}}
status: {podIP: 10.2.0.1}
---
kind: Pod
metadata: {name: node-exporter, namespace: ops, labels: {app: node}}
spec: {hostNetwork: true}
status: {podIP: 192.0.2.10}
"#;

fn cluster() -> Cluster {
    read_str("cluster.yaml", CLUSTER).unwrap()
}

fn attempt(from: &str, to: &str, transport: Transport, port: u16, outcome: Outcome) -> Attempt {
    Attempt {
        at: jiff::Timestamp::UNIX_EPOCH,
        source: from.parse().unwrap(),
        destination: to.parse().unwrap(),
        port,
        transport,
        probe: match transport {
            Transport::Tcp => Probe::Syn,
            Transport::Udp => Probe::Udp,
        },
        outcome,
    }
}

fn tcp(from: &str, to: &str, port: u16) -> Attempt {
    attempt(from, to, Transport::Tcp, port, Outcome::Established)
}

fn policy<'a>(p: &'a Proposal, name: &str) -> &'a NetworkPolicyDoc {
    p.policies
        .iter()
        .find(|d| d.metadata.name == name)
        .unwrap_or_else(|| panic!("no {name} in {}", to_yaml(&p.policies)))
}

#[test]
fn sources_seen_on_the_same_ports_share_a_rule_and_port_runs_become_ranges() {
    let attempts = [
        tcp("10.1.0.1", "10.1.0.3", 5432),
        tcp("10.1.0.2", "10.1.0.3", 5432),
        tcp("10.2.0.1", "10.1.0.3", 9187),
        tcp("10.2.0.1", "10.1.0.3", 9188),
        tcp("10.2.0.1", "10.1.0.3", 9189),
        tcp("203.0.113.7", "10.1.0.3", 5432),
        tcp("203.0.113.6", "10.1.0.3", 5432),
    ];
    let p = propose(&cluster(), &attempts, &[]).unwrap();
    let names: Vec<&str> = p
        .policies
        .iter()
        .map(|d| d.metadata.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "default-deny-ingress",
            "default-deny-ingress",
            "allow-to-db"
        ]
    );
    let db = policy(&p, "allow-to-db");
    assert_eq!(db.metadata.namespace, "shop");
    let [postgres, metrics] = &db.spec.ingress[..] else {
        panic!("two rules expected: {}", to_yaml(&p.policies))
    };
    // web (both replicas, one workload) and the two outside hosts, merged.
    assert_eq!(postgres.from.len(), 2, "{postgres:?}");
    assert_eq!(postgres.from[0].namespace_selector, None);
    let ip_block = postgres.from[1].ip_block.as_ref().unwrap();
    assert_eq!(ip_block.cidr, "203.0.113.6/31");
    assert_eq!(postgres.ports[0].port, Some(PortValueDoc::Number(5432)));
    // prom, from another namespace, on a range.
    assert!(metrics.from[0].namespace_selector.is_some());
    assert_eq!(
        (&metrics.ports[0].port, metrics.ports[0].end_port),
        (&Some(PortValueDoc::Number(9187)), Some(9189))
    );
    assert_eq!(p.tally.used, 7);
    assert_eq!(
        p.notes,
        ["namespace ops: no connection to its pods was recorded; its default deny admits nothing"]
    );
}

#[test]
fn outside_sources_widen_to_the_smallest_zone_network_holding_them() {
    let zones: Vec<IpNet> = ["0.0.0.0/0", "203.0.113.0/24", "203.0.113.0/28"]
        .iter()
        .map(|z| z.parse().unwrap())
        .collect();
    let attempts = [
        tcp("203.0.113.7", "10.1.0.1", 443),
        tcp("198.51.100.1", "10.1.0.1", 443),
        tcp("2001:db8::5", "10.1.0.1", 443),
    ];
    let p = propose(&cluster(), &attempts, &zones).unwrap();
    let web = policy(&p, "allow-to-web");
    let blocks: Vec<&str> = web.spec.ingress[0]
        .from
        .iter()
        .map(|f| f.ip_block.as_ref().unwrap().cidr.as_str())
        .collect();
    assert_eq!(blocks, ["0.0.0.0/0", "2001:db8::5/128"]);
}

#[test]
fn only_successful_connections_between_addresses_of_pods_count() {
    let attempts = [
        attempt(
            "10.2.0.1",
            "10.1.0.3",
            Transport::Tcp,
            22,
            Outcome::Rejected,
        ),
        attempt(
            "10.2.0.1",
            "10.1.0.3",
            Transport::Udp,
            53,
            Outcome::Unanswered,
        ),
        tcp("10.2.0.1", "10.96.0.10", 443),
        tcp("10.2.0.1", "192.0.2.10", 9100),
        tcp("10.1.0.3", "10.1.0.3", 5432),
    ];
    let err = propose(&cluster(), &attempts, &[]).unwrap_err().to_string();
    assert!(
        err.contains("(2 failed, 1 to addresses of no pod, 1 to hostNetwork pods, 1 of a pod to itself; 4 pods have an address of their own"),
        "{err}"
    );
    // One usable attempt more, and the same tally with it.
    let mut more = attempts.to_vec();
    more.push(attempt(
        "10.2.0.1",
        "10.1.0.3",
        Transport::Udp,
        53,
        Outcome::Established,
    ));
    let p = propose(&cluster(), &more, &[]).unwrap();
    let expected = Tally {
        attempts: 6,
        used: 1,
        failed: 2,
        not_to_a_pod: 1,
        to_host_network: 1,
        to_itself: 1,
    };
    assert_eq!(p.tally, expected);
    let db = policy(&p, "allow-to-db");
    assert_eq!(db.spec.ingress[0].ports[0].protocol, Protocol::Udp);
}

#[test]
fn the_proposal_reads_back_as_policies_that_allow_exactly_what_was_seen() {
    let attempts = [
        tcp("10.1.0.1", "10.1.0.3", 5432),
        tcp("10.2.0.1", "10.1.0.1", 8080),
    ];
    let p = propose(&cluster(), &attempts, &[]).unwrap();
    let both = format!("{CLUSTER}---\n{}", to_yaml(&p.policies));
    let cluster = read_str("both.yaml", &both).unwrap();
    let mut allowed: Vec<String> = portreeve_k8s::reach(&cluster)
        .iter()
        .filter(|r| r.from != r.to && r.to.to_string() != "ops/node-exporter")
        .filter(|r| matches!(r.to, portreeve_k8s::Endpoint::Pod(_)))
        .map(|r| format!("{} {} {} {:?}", r.from, r.to, r.protocol, r.ports))
        .collect();
    allowed.sort();
    assert_eq!(
        allowed,
        [
            "ops/prom shop/web-1 TCP [[8080, 8080]]",
            "ops/prom shop/web-2 TCP [[8080, 8080]]",
            "shop/web-1 shop/db TCP [[5432, 5432]]",
            "shop/web-2 shop/db TCP [[5432, 5432]]",
        ]
    );
}

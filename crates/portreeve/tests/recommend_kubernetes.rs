//! `portreeve recommend --kubernetes` end to end: observed flows (a Zeek
//! conn.log) and the cluster's manifests give NetworkPolicies that, read
//! back by `k8s reach` together with the manifests, allow every observed
//! connection and nothing else to any of the cluster's pods — computed here
//! from the flows and the workloads written out by hand, not by the code
//! under test. Zeek is not packaged in Debian 12, so the conn.log lines are
//! written as Zeek logs them (`conn_state`, `history`), as
//! tests/detect_offline.rs does.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;
use support::{Home, Netns, assert_exit, assert_ok, capture, stderr, stdout, testkit};

/// Two web replicas (and their Deployment's template), a canary whose
/// labels include the web pods' own, a database with an IPv6 address too,
/// a cache, a monitoring pod in another namespace and an idle namespace.
const CLUSTER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: List
items:
- kind: Pod
  metadata: {name: web-7d9c8b6f5-aaaaa, namespace: shop, labels: {app: web, pod-template-hash: 7d9c8b6f5}}
  status: {podIP: 10.244.1.10}
- kind: Pod
  metadata: {name: web-7d9c8b6f5-bbbbb, namespace: shop, labels: {app: web, pod-template-hash: 7d9c8b6f5}}
  status: {podIP: 10.244.2.10}
- kind: Pod
  metadata: {name: canary, namespace: shop, labels: {app: web, track: canary}}
  status: {podIP: 10.244.5.11}
- kind: Pod
  metadata: {name: db-0, namespace: shop, labels: {app: db, statefulset.kubernetes.io/pod-name: db-0}}
  status: {podIP: 10.244.4.20, podIPs: [{ip: 10.244.4.20}, {ip: "fd00:10:244:4::20"}]}
- kind: Pod
  metadata: {name: cache, namespace: shop, labels: {app: cache}}
  status: {podIP: 10.244.6.30}
- kind: Pod
  metadata: {name: prom, namespace: ops, labels: {app: prom}}
  status: {podIP: 10.244.3.5}
- kind: Pod
  metadata: {name: batch, namespace: idle, labels: {app: batch}}
  status: {podIP: 10.244.7.9}
"#;

/// The workloads, by hand: a pod's workload's pods.
const WORKLOADS: &[&[&str]] = &[
    &[
        "shop/web",
        "shop/web-7d9c8b6f5-aaaaa",
        "shop/web-7d9c8b6f5-bbbbb",
    ],
    &["shop/canary"],
    &["shop/db-0"],
    &["shop/cache"],
    &["ops/prom"],
    &["idle/batch"],
];

const WEB_A: &str = "10.244.1.10";
const WEB_B: &str = "10.244.2.10";
const CANARY: &str = "10.244.5.11";
const DB: &str = "10.244.4.20";
const DB6: &str = "fd00:10:244:4::20";
const CACHE: &str = "10.244.6.30";
const PROM: &str = "10.244.3.5";

/// The observed connections: (source, destination, protocol, port), every
/// one established.
const SEEN: &[(&str, &str, &str, u16)] = &[
    (WEB_A, DB, "TCP", 5432),
    (WEB_B, DB, "TCP", 5432),
    (WEB_A, CACHE, "TCP", 6379),
    (WEB_A, CACHE, "UDP", 11211),
    (PROM, WEB_A, "TCP", 8080),
    (PROM, DB, "TCP", 9187),
    (PROM, DB, "TCP", 9188),
    ("203.0.113.7", WEB_B, "TCP", 8443),
    ("203.0.113.8", WEB_A, "TCP", 8443),
    ("2001:db8::7", DB6, "TCP", 5432),
];

const CONN_LOG_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\tconn_state\thistory\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tstring\tstring\n";

/// One conn.log line.
fn conn(
    i: usize,
    from: &str,
    to: &str,
    proto: &str,
    port: u16,
    state: &str,
    history: &str,
) -> String {
    format!(
        "{}.000000\tC{i}\t{from}\t40000\t{to}\t{port}\t{}\t-\t-\t{state}\t{history}\n",
        1_700_000_000 + i,
        proto.to_lowercase()
    )
}

/// The observed connections as Zeek logs them, and beside them what is no
/// evidence: the canary refused by the database, a scan's unanswered probe,
/// a connection to a Service's virtual address.
fn conn_log() -> String {
    let mut log = CONN_LOG_HEADER.to_string();
    for (i, &(from, to, proto, port)) in SEEN.iter().enumerate() {
        let history = if proto == "TCP" { "ShADadFf" } else { "Dd" };
        log.push_str(&conn(i, from, to, proto, port, "SF", history));
    }
    log.push_str(&conn(90, CANARY, DB, "TCP", 5432, "REJ", "Sr"));
    log.push_str(&conn(91, "198.51.100.9", WEB_A, "TCP", 22, "S0", "S"));
    log.push_str(&conn(92, PROM, "10.96.0.10", "TCP", 443, "SF", "ShADadFf"));
    log
}

/// The pod holding `address`, by the manifests above.
fn pod_at(address: &str) -> Option<&'static str> {
    Some(match address {
        WEB_A => "shop/web-7d9c8b6f5-aaaaa",
        WEB_B => "shop/web-7d9c8b6f5-bbbbb",
        CANARY => "shop/canary",
        DB | DB6 => "shop/db-0",
        CACHE => "shop/cache",
        PROM => "ops/prom",
        _ => return None,
    })
}

fn workload_of(pod: &str) -> &'static [&'static str] {
    WORKLOADS.iter().find(|w| w.contains(&pod)).unwrap()
}

/// (from, to, protocol, port) with `from` a pod or an outside address.
type Allowed = BTreeSet<(String, String, String, u16)>;

/// What the proposal should allow: every `seen` connection, widened to
/// the workloads of its pods, but not from a pod to itself.
fn expected(seen: &[(&str, &str, &str, u16)]) -> Allowed {
    let mut allowed = Allowed::new();
    for &(from, to, proto, port) in seen {
        let sources: Vec<String> = match pod_at(from) {
            Some(pod) => workload_of(pod).iter().map(|p| p.to_string()).collect(),
            None => vec![IpNet::from(from.parse::<std::net::IpAddr>().unwrap()).to_string()],
        };
        for source in &sources {
            for dest in workload_of(pod_at(to).unwrap()) {
                if source != dest {
                    allowed.insert((source.clone(), dest.to_string(), proto.into(), port));
                }
            }
        }
    }
    allowed
}

/// What `k8s reach --format json` over `paths` allows into the cluster's
/// pods, a pod to itself left out, port ranges spelt out.
fn allowed_into_pods(home: &Home, paths: &[&str]) -> Allowed {
    let mut args = vec!["k8s", "reach", "--format", "json", "--manifests"];
    args.extend(paths);
    let out = home.run(&args);
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut allowed = Allowed::new();
    for c in doc["connections"].as_array().unwrap() {
        let (from, to) = (c["from"].as_str().unwrap(), c["to"].as_str().unwrap());
        if from == to || to.parse::<IpNet>().is_ok() {
            continue;
        }
        for range in c["ports"].as_array().unwrap() {
            let first = range[0].as_u64().unwrap() as u16;
            let last = range[1].as_u64().unwrap() as u16;
            for port in first..=last {
                let protocol = c["protocol"].as_str().unwrap().to_string();
                allowed.insert((from.into(), to.into(), protocol, port));
            }
        }
    }
    allowed
}

/// Asserts `allowed` holds every connection of `want` and nothing else.
fn assert_allows_exactly(allowed: &Allowed, want: &Allowed, policies: &str) {
    let missing: Vec<_> = want.difference(allowed).collect();
    let extra: Vec<_> = allowed.difference(want).collect();
    assert!(
        missing.is_empty(),
        "observed but not allowed: {missing:?}\n{policies}"
    );
    assert!(
        extra.is_empty(),
        "allowed but never observed: {extra:?}\n{policies}"
    );
}

/// Checks what the Kubernetes API requires of each NetworkPolicy written
/// (apiVersion, kind, a DNS-1123 name, a namespace, a podSelector, the
/// policyTypes, and ports and peers of the right shapes).
fn assert_network_policies(list: &Value) {
    assert_eq!(
        (&list["apiVersion"], &list["kind"]),
        (&"v1".into(), &"List".into())
    );
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["apiVersion"], "networking.k8s.io/v1", "{item}");
        assert_eq!(item["kind"], "NetworkPolicy", "{item}");
        let name = item["metadata"]["name"].as_str().unwrap();
        assert!(
            !name.is_empty()
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && !name.starts_with('-')
                && !name.ends_with('-'),
            "{name}"
        );
        assert!(item["metadata"]["namespace"].is_string(), "{item}");
        assert!(item["spec"]["podSelector"].is_object(), "{item}");
        assert_eq!(item["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
        for rule in item["spec"]["ingress"].as_array().into_iter().flatten() {
            for peer in rule["from"].as_array().unwrap() {
                let keys: BTreeSet<&str> = peer
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert!(
                    keys == BTreeSet::from(["ipBlock"])
                        || (!keys.is_empty()
                            && keys
                                .is_subset(&BTreeSet::from(["podSelector", "namespaceSelector"]))),
                    "{peer}"
                );
                if let Some(cidr) = peer["ipBlock"]["cidr"].as_str() {
                    let net: IpNet = cidr.parse().unwrap();
                    assert_eq!(net, net.trunc(), "{cidr}");
                }
            }
            for port in rule["ports"].as_array().unwrap() {
                assert!(
                    ["TCP", "UDP"].contains(&port["protocol"].as_str().unwrap()),
                    "{port}"
                );
                let first = port["port"].as_u64().unwrap();
                if let Some(last) = port["endPort"].as_u64() {
                    assert!(first < last, "{port}");
                }
            }
        }
    }
}

#[test]
fn recommended_policies_allow_exactly_the_observed_connections() {
    let home = Home::new();
    let cluster = home.file("cluster.yaml", CLUSTER).display().to_string();
    let log = home.file("conn.log", conn_log()).display().to_string();

    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &log,
    ]);
    assert_ok(&out);
    let yaml = stdout(&out);
    let notes = stderr(&out);
    assert!(
        notes.contains("from 10 of 13 connection attempts"),
        "{notes}"
    );
    assert!(
        notes.contains("2 failed, 1 to addresses of no pod"),
        "{notes}"
    );
    assert!(
        notes.contains("namespace idle: no connection to its pods was recorded"),
        "{notes}"
    );
    let recommended = home.file("recommended.yaml", &yaml).display().to_string();

    let after = allowed_into_pods(&home, &[&cluster, &recommended]);
    assert_allows_exactly(&after, &expected(SEEN), &yaml);
    // The canary's labels include the web pods' own: the selectors tell
    // it apart, so nothing seen from or to web opens it.
    assert!(yaml.contains("operator: DoesNotExist"), "{yaml}");

    // The same policies as JSON: a List of well-formed NetworkPolicies that
    // `k8s reach` reads to the same connections.
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &log,
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_network_policies(&list);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "default-deny-ingress",
            "default-deny-ingress",
            "default-deny-ingress",
            "allow-to-cache",
            "allow-to-db",
            "allow-to-web"
        ]
    );
    let as_json = home
        .file("recommended.json", stdout(&out))
        .display()
        .to_string();
    assert_eq!(allowed_into_pods(&home, &[&cluster, &as_json]), after);
}

#[test]
fn recommended_policies_pass_the_kubernetes_openapi_schema() {
    const TEST: &str = "recommended_policies_pass_the_kubernetes_openapi_schema";
    if !testkit::k8s_schema::available(TEST) {
        return;
    }
    let home = Home::new();
    let cluster = home.file("cluster.yaml", CLUSTER).display().to_string();
    let log = home.file("conn.log", conn_log()).display().to_string();
    for format in ["yaml", "json"] {
        let out = home.run(&[
            "recommend",
            "--kubernetes",
            "--manifests",
            &cluster,
            "--zeek",
            &log,
            "--format",
            format,
        ]);
        assert_ok(&out);
        // The validator has no schema for a `List`: its items are given to
        // it as documents of their own (JSON is YAML).
        let text = match format {
            "json" => {
                let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
                let items: Vec<String> = list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(Value::to_string)
                    .collect();
                items.join("\n---\n")
            }
            _ => stdout(&out),
        };
        let file = home.file(&format!("from-{format}.yaml"), text);
        let (passed, said) = testkit::k8s_schema::validate(&file);
        assert!(passed, "{format}: the policies fail the schema:\n{said}");
        assert_eq!(
            said.matches(" passed for resource networkpolicy/").count(),
            6,
            "{format}: {said}"
        );
    }
    // The validator refuses a misspelt selector field, as the API server
    // would: what passed above was checked field by field.
    let yaml = std::fs::read_to_string(home.path().join("from-yaml.yaml")).unwrap();
    let broken = home.file(
        "broken.yaml",
        yaml.replacen("matchExpressions", "matchExpression", 1),
    );
    let (passed, said) = testkit::k8s_schema::validate(&broken);
    assert!(!passed, "{said}");
}

#[test]
fn zones_of_a_portreeve_policy_stand_for_outside_sources() {
    let home = Home::new();
    let cluster = home.file("cluster.yaml", CLUSTER).display().to_string();
    let log = home.file("conn.log", conn_log()).display().to_string();
    let policy = home
        .file(
            "policy.toml",
            "version = 1\n\n[zones]\npartners = [\"203.0.113.0/24\"]\npublic = [\"0.0.0.0/0\", \"::/0\"]\n",
        )
        .display()
        .to_string();
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &log,
        "--policy",
        &policy,
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let blocks: BTreeSet<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["spec"]["ingress"].as_array().into_iter().flatten())
        .flat_map(|r| r["from"].as_array().unwrap())
        .filter_map(|p| p["ipBlock"]["cidr"].as_str())
        .collect();
    assert_eq!(blocks, BTreeSet::from(["203.0.113.0/24", "::/0"]));
}

#[test]
fn bad_input_is_refused_with_exit_2_and_nothing_written() {
    let home = Home::new();
    let cluster = home.file("cluster.yaml", CLUSTER).display().to_string();
    let log = home.file("conn.log", conn_log()).display().to_string();
    // A flow recording that meets no pod address.
    let empty = home
        .file("empty.log", CONN_LOG_HEADER)
        .display()
        .to_string();
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &empty,
    ]);
    assert_exit(&out, 2, "none of the 0 connection attempts recorded");
    assert!(stdout(&out).is_empty());
    // A bad conn.log line, located.
    let bad = home
        .file(
            "bad.log",
            format!("{CONN_LOG_HEADER}1700000000.0\tC1\tnot-an-address\n"),
        )
        .display()
        .to_string();
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &bad,
    ]);
    assert_exit(&out, 2, "bad.log:8:");
    // A bad manifest, located.
    let broken = home
        .file("broken.yaml", "kind: Pod\nmetadata: [oops]\n")
        .display()
        .to_string();
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &broken,
        "--zeek",
        &log,
    ]);
    assert_exit(&out, 2, "broken.yaml");
    // The TOML outputs are not NetworkPolicies, and --kubernetes needs flows.
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--zeek",
        &log,
        "--format",
        "toml",
    ]);
    assert_exit(
        &out,
        2,
        "--format toml is not an output of recommend with --kubernetes",
    );
    let out = home.run(&["recommend", "--kubernetes", "--manifests", &cluster]);
    assert_exit(&out, 2, "--zeek");
}

/// The connections the privileged test makes for real, each established:
/// (source, destination, protocol, port).
const LIVE: &[(&str, &str, &str, u16)] = &[
    (WEB_A, DB, "TCP", 5432),
    (WEB_B, DB, "TCP", 5432),
    (PROM, WEB_A, "TCP", 8080),
    (PROM, DB, "TCP", 9187),
    ("203.0.113.7", WEB_B, "TCP", 8080),
];

/// A node namespace routing between one namespace per pod address (and an
/// outside client's), each on a /24 of its own with the node at `.1`.
struct Node {
    node: Netns,
    /// By address.
    pods: Vec<(&'static str, Netns)>,
}

impl Node {
    fn new(addresses: &[&'static str]) -> Node {
        let node = Netns::bare();
        let out = testkit::run(node.exec("sysctl").args(["-qw", "net.ipv4.ip_forward=1"]));
        assert!(out.status.success(), "{}", stderr(&out));
        let pods = addresses
            .iter()
            .map(|&address| {
                let pod = Netns::bare();
                let gateway = address.rsplit_once('.').unwrap().0.to_string() + ".1";
                node.link(&pod, &format!("{gateway}/24"), &format!("{address}/24"));
                pod.ip(&["route", "add", "default", "via", &gateway]);
                (address, pod)
            })
            .collect();
        Node { node, pods }
    }

    fn pod(&self, address: &str) -> &Netns {
        &self.pods.iter().find(|(a, _)| *a == address).unwrap().1
    }

    /// Opens a TCP connection from `from` to `to`:`port`, sends a line and
    /// closes it; whether the handshake completed.
    fn connect(&self, from: &str, to: &str, port: u16) -> bool {
        let to = SocketAddr::new(to.parse().unwrap(), port);
        self.pod(from).run(|| {
            TcpStream::connect_timeout(&to, Duration::from_secs(2))
                .and_then(|mut s| s.write_all(b"hello\n"))
                .is_ok()
        })
    }
}

#[test]
fn policies_recommended_from_a_capture_of_real_connections_allow_exactly_them() {
    if !testkit::privileged(
        "policies_recommended_from_a_capture_of_real_connections_allow_exactly_them",
        &["ip", "python3", "tcpdump", "sysctl"],
    ) {
        return;
    }
    const OUTSIDE: &str = "203.0.113.7";
    let lab = Node::new(&[WEB_A, WEB_B, DB, PROM, OUTSIDE]);
    let _db = lab
        .pod(DB)
        .listen(&["tcp4:0.0.0.0:5432", "tcp4:0.0.0.0:9187"], 0);
    let _web_a = lab.pod(WEB_A).listen(&["tcp4:0.0.0.0:8080"], 0);
    let _web_b = lab.pod(WEB_B).listen(&["tcp4:0.0.0.0:8080"], 0);

    let home = Home::new();
    let pcap = home.path().join("node.pcap");
    let tcpdump = capture::start(&lab.node, &pcap);
    for &(from, to, _, port) in LIVE {
        assert!(lab.connect(from, to, port), "{from} to {to}:{port}");
    }
    // Refused: nothing listens there, so it is no evidence of use.
    assert!(!lab.connect(WEB_A, DB, 6000));
    capture::stop(tcpdump);

    let cluster = home.file("cluster.yaml", CLUSTER).display().to_string();
    let out = home.run(&[
        "recommend",
        "--kubernetes",
        "--manifests",
        &cluster,
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let yaml = stdout(&out);
    let notes = stderr(&out);
    assert!(notes.contains("not used: 1 failed"), "{notes}");
    let recommended = home.file("recommended.yaml", &yaml).display().to_string();
    let after = allowed_into_pods(&home, &[&cluster, &recommended]);
    assert_allows_exactly(&after, &expected(LIVE), &yaml);
}

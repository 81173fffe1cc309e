//! `render --target kubernetes` checked three ways on a generated cluster:
//! the rendered NetworkPolicies pass the Kubernetes OpenAPI schema
//! (`kubernetes-validate` from PyPI; scripts/k8s_schema.sh installs it),
//! and analysed by `k8s reach` and by IBM's network-config-analyzer (NCA;
//! scripts/nca.sh) they allow exactly what the portreeve policy allows.
//!
//! What the policy allows is computed here from the policy itself, not from
//! the rendered objects: a source in one of a pod rule's zones (a pod of one
//! of its namespaces, or an outside address in one of its networks of the
//! rule's families) may reach the rule's ports and protocols of every pod
//! its `pods` select; pods of namespaces no pod rule names stay open, as
//! without any NetworkPolicy, and egress is not governed. The comparison is exact over pods and every
//! class of outside addresses (see `analyzers::compare`).
//!
//! Without a tool's venv its test skips, and fails under
//! `PORTREEVE_REQUIRE_PRIVILEGED=1`.

mod analyzers;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use analyzers::compare::{self, Outcome};
use analyzers::facts::{AddressRange, Fact, PROTOCOLS, Party};
use analyzers::{nca, portreeve};
use portreeve_core::{Family, Proto};
use portreeve_policy::{Policy, parse_policy};
use portreeve_testkit::k8s_schema::validate;

/// The policy rendered: zones of networks (both families), of namespaces
/// and of both; pod rules with and without labels, port ranges, both
/// protocols, an IPv6-only rule; and a host rule, which rendering leaves out.
const POLICY: &str = r#"
[zones]
office = ["192.0.2.0/24", "2001:db8:1::/48"]
partners = ["198.51.100.0/25"]
web = { namespaces = ["web"] }
mixed = { networks = ["203.0.113.0/24"], namespaces = ["edge", "shop"] }

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "db"
port = 5432
protocol = "tcp"
zones = ["web", "office"]
pods = { namespace = "shop", labels = { app = "db" } }

[[rule]]
name = "api"
ports = ["8000-8080", 9090]
protocol = ["tcp", "udp"]
zones = ["mixed"]
pods = { namespace = "shop", labels = { app = "api", tier = "back" } }

[[rule]]
name = "dns"
port = 53
protocol = ["udp", "tcp"]
family = "ipv6"
zones = ["office", "partners"]
pods = { namespace = "edge" }

[[rule]]
name = "metrics"
port = 9100
protocol = "tcp"
zones = ["web", "partners"]
pods = { namespace = "web", labels = { app = "api" } }
"#;

/// Namespaces of the generated cluster: three that pod rules name, one
/// that none does.
const NAMESPACES: [&str; 4] = ["edge", "other", "shop", "web"];

/// The pods of every namespace: (name, labels).
const PODS: [(&str, &[(&str, &str)]); 4] = [
    ("db", &[("app", "db")]),
    ("api-back", &[("app", "api"), ("tier", "back")]),
    ("api", &[("app", "api")]),
    ("plain", &[]),
];

/// A generated pod.
struct GenPod {
    namespace: &'static str,
    name: &'static str,
    labels: BTreeMap<&'static str, &'static str>,
}

impl GenPod {
    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn pods() -> Vec<GenPod> {
    NAMESPACES
        .iter()
        .flat_map(|&namespace| {
            PODS.iter().map(move |&(name, labels)| GenPod {
                namespace,
                name,
                labels: labels.iter().copied().collect(),
            })
        })
        .collect()
}

fn policy() -> Policy {
    parse_policy("render-agreement.toml", POLICY).expect("the test policy is valid")
}

/// The cluster's manifests: Namespaces (labelled with their names, as the
/// API server does) and Pods.
fn cluster_yaml(pods: &[GenPod]) -> String {
    let mut text = String::new();
    for ns in NAMESPACES {
        writeln!(
            text,
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    kubernetes.io/metadata.name: {ns}"
        )
        .unwrap();
    }
    for pod in pods {
        writeln!(
            text,
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  namespace: {}",
            pod.name, pod.namespace
        )
        .unwrap();
        if !pod.labels.is_empty() {
            text.push_str("  labels:\n");
            for (k, v) in &pod.labels {
                writeln!(text, "    {k}: {v}").unwrap();
            }
        }
        text.push_str("spec:\n  containers:\n  - name: main\n    image: registry.invalid/app\n");
    }
    text
}

/// A directory with the cluster and the rendered policies, each a file.
fn case(pods: &[GenPod]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let case = dir.path().join("case");
    std::fs::create_dir(&case).unwrap();
    std::fs::write(case.join("cluster.yaml"), cluster_yaml(pods)).unwrap();
    let rendered = portreeve_k8s::render::render(&policy());
    assert_eq!(rendered.host_rules, 1, "the ssh rule is a host rule");
    std::fs::write(
        case.join("policies.yaml"),
        portreeve_k8s::write::to_yaml(&rendered.policies),
    )
    .unwrap();
    (dir, case)
}

fn outside(net: &ipnet::IpNet) -> Party {
    Party::Outside(AddressRange::new(net.network(), net.broadcast()))
}

fn protocol_name(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    }
}

/// What `policy` allows in the generated cluster, from the policy alone.
fn expected(policy: &Policy, pods: &[GenPod]) -> Vec<Fact> {
    let governed: BTreeSet<&str> = policy
        .pod_rules
        .iter()
        .map(|r| r.pods.namespace.as_str())
        .collect();
    // The two whole address spaces, then every pod.
    let everywhere: Vec<Party> = ["0.0.0.0/0", "::/0"]
        .iter()
        .map(|n| outside(&n.parse().unwrap()))
        .chain(pods.iter().map(|p| Party::Pod(p.id())))
        .collect();
    let mut facts = Vec::new();
    // Nothing governs egress: every pod reaches every outside address.
    for from in pods {
        for to in &everywhere[..2] {
            for protocol in PROTOCOLS {
                facts.push(Fact {
                    from: Party::Pod(from.id()),
                    to: to.clone(),
                    protocol,
                    ports: vec![(1, u16::MAX)],
                });
            }
        }
    }
    for to in pods.iter().filter(|p| !governed.contains(p.namespace)) {
        for from in &everywhere {
            for protocol in PROTOCOLS {
                facts.push(Fact {
                    from: from.clone(),
                    to: Party::Pod(to.id()),
                    protocol,
                    ports: vec![(1, u16::MAX)],
                });
            }
        }
    }
    for pod_rule in &policy.pod_rules {
        let rule = &pod_rule.rule;
        let zones: Vec<_> = rule.zones.iter().map(|z| policy.zone(z).unwrap()).collect();
        let sources: Vec<Party> = zones
            .iter()
            .flat_map(|z| &z.networks)
            .filter(|net| {
                let family = if net.addr().is_ipv4() {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                };
                rule.families.contains(&family)
            })
            .map(outside)
            .chain(
                pods.iter()
                    .filter(|p| {
                        zones
                            .iter()
                            .any(|z| z.namespaces.iter().any(|n| n == p.namespace))
                    })
                    .map(|p| Party::Pod(p.id())),
            )
            .collect();
        let selected = pods.iter().filter(|p| {
            p.namespace == pod_rule.pods.namespace
                && pod_rule
                    .pods
                    .labels
                    .iter()
                    .all(|(k, v)| p.labels.get(k.as_str()) == Some(&v.as_str()))
        });
        let ports: Vec<(u16, u16)> = rule.ports.iter().map(|r| (r.start(), r.end())).collect();
        for to in selected {
            for from in &sources {
                for &proto in &rule.protocols {
                    facts.push(Fact {
                        from: from.clone(),
                        to: Party::Pod(to.id()),
                        protocol: protocol_name(proto),
                        ports: ports.clone(),
                    });
                }
            }
        }
    }
    facts
}

/// Panics with every difference between what the policy allows and what
/// `analyzer` says the rendered policies allow.
fn assert_agrees(analyzer: &str, outcome: &Outcome) {
    let report: Vec<String> = outcome
        .differences
        .iter()
        .map(|d| {
            format!(
                "{} -> {} {}: the policy alone allows {:?}, {analyzer} alone allows {:?}",
                d.from, d.to, d.protocol, d.only_first, d.only_second
            )
        })
        .collect();
    eprintln!(
        "{analyzer}: {} (source, destination, protocol, port) tuples compared",
        outcome.tuples
    );
    assert!(
        outcome.tuples > 10_000,
        "too few tuples compared: {}",
        outcome.tuples
    );
    assert!(
        report.is_empty(),
        "{analyzer} on the rendered policies disagrees with the policy ({} differences):\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn k8s_reach_allows_exactly_what_the_policy_allows() {
    let pods = pods();
    let (_dir, case) = case(&pods);
    let want = expected(&policy(), &pods);
    // The rules do allow something between pods and from outside, so
    // agreeing is not agreeing on nothing.
    assert!(
        want.iter()
            .any(|f| matches!(f.from, Party::Pod(_)) && f.to == Party::Pod("shop/db".into()))
    );
    let (ids, facts) = portreeve::reach(&case);
    assert_eq!(ids.len(), pods.len());
    let all_ids: Vec<String> = pods.iter().map(GenPod::id).collect();
    assert_agrees("k8s reach", &compare::compare(&all_ids, &want, &facts));
}

const NCA_TEST: &str = "network_config_analyzer_allows_exactly_what_the_policy_allows";

#[test]
fn network_config_analyzer_allows_exactly_what_the_policy_allows() {
    let python = nca::python();
    if !portreeve_testkit::skip_unless(
        NCA_TEST,
        python.exists(),
        format_args!(
            "{} is missing (scripts/nca.sh installs it; scripts/test.sh runs it as root)",
            python.display()
        ),
    ) {
        return;
    }
    let pods = pods();
    let (dir, case) = case(&pods);
    let scratch = dir.path().join("home");
    std::fs::create_dir(&scratch).unwrap();
    let facts = nca::connectivity(&python, &case, &scratch);
    let ids: Vec<String> = pods.iter().map(GenPod::id).collect();
    assert_agrees(
        "NCA",
        &compare::compare(&ids, &expected(&policy(), &pods), &facts),
    );
}

const SCHEMA_TEST: &str = "rendered_policies_pass_the_kubernetes_openapi_schema";

#[test]
fn rendered_policies_pass_the_kubernetes_openapi_schema() {
    if !portreeve_testkit::k8s_schema::available(SCHEMA_TEST) {
        return;
    }
    let (_dir, case) = case(&pods());
    let rendered = case.join("policies.yaml");
    let (passed, said) = validate(&rendered);
    assert!(passed, "the rendered policies fail the schema:\n{said}");
    let text = std::fs::read_to_string(&rendered).unwrap();
    let objects = text.matches("kind: NetworkPolicy").count();
    assert_eq!(objects, 7, "3 default denies and 4 pod rules:\n{text}");
    assert_eq!(
        said.matches(" passed for resource networkpolicy/").count(),
        objects,
        "{said}"
    );

    // The validator refuses what the API server would: a misspelt field,
    // and a port range whose end is not a number.
    let broken = case.join("broken.yaml");
    std::fs::write(
        &broken,
        text.replacen("podSelector", "podSelectr", 1).replacen(
            "endPort: 8080",
            "endPort: \"8080\"",
            1,
        ),
    )
    .unwrap();
    let (passed, said) = validate(&broken);
    assert!(!passed, "a broken policy passed:\n{said}");
    assert!(said.contains("'podSelectr' was unexpected"), "{said}");
    assert!(
        said.contains("endPort: '8080' is not of type 'integer'"),
        "{said}"
    );
}

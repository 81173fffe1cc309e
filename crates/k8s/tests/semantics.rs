//! NetworkPolicy semantics, one behaviour per test: small clusters written
//! inline, read by the manifest reader, and asked through `reach` (the
//! records) and `explain`.

use portreeve_k8s::explain::explain;
use portreeve_k8s::manifest::read_str;
use portreeve_k8s::{Cluster, Endpoint, Protocol, Record, reach};

fn cluster(yaml: &str) -> Cluster {
    read_str("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// The ports `from` may open on `to` over `protocol`, as `reach` lists them.
fn ports(records: &[Record], from: &str, to: &str, protocol: Protocol) -> Vec<[u16; 2]> {
    records
        .iter()
        .filter(|r| r.from.to_string() == from && r.to.to_string() == to && r.protocol == protocol)
        .flat_map(|r| r.ports.clone())
        .collect()
}

fn tcp(records: &[Record], from: &str, to: &str) -> Vec<[u16; 2]> {
    ports(records, from, to, Protocol::Tcp)
}

const ALL: [[u16; 2]; 1] = [[1, 65535]];

/// Pods `ns/name` with `labels` (`k=v,k=v`), declared in one document each.
fn pods(list: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (id, labels) in list {
        let (ns, name) = id.split_once('/').unwrap();
        let labels: String = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                format!("\n    {k}: {v}")
            })
            .collect();
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:{}\nspec:\n  containers: [{{name: c, image: x}}]\n",
            if labels.is_empty() { " {}".to_string() } else { labels }
        ));
    }
    out
}

fn policy(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{spec}\n"
    )
}

#[test]
fn without_policies_everything_reaches_everything() {
    let c = cluster(&pods(&[("a/p", "app=p"), ("b/q", "app=q")]));
    let r = reach(&c);
    for (from, to) in [
        ("a/p", "b/q"),
        ("b/q", "a/p"),
        ("0.0.0.0/0", "a/p"),
        ("::/0", "b/q"),
        ("a/p", "0.0.0.0/0"),
        ("b/q", "::/0"),
    ] {
        for protocol in Protocol::ALL {
            assert_eq!(
                ports(&r, from, to, protocol),
                ALL,
                "{from} -> {to} {protocol}"
            );
        }
    }
    assert_eq!(r.len(), 3 * (4 + 2 * 2 + 2 * 2), "{r:#?}");
}

#[test]
fn an_ingress_policy_isolates_only_ingress_and_a_pod_still_reaches_itself() {
    let mut yaml = pods(&[("a/p", "app=p"), ("a/q", "app=q")]);
    yaml.push_str(&policy(
        "a",
        "deny-p",
        "  podSelector:\n    matchLabels: {app: p}",
    ));
    let r = reach(&cluster(&yaml));
    assert!(tcp(&r, "a/q", "a/p").is_empty());
    assert!(tcp(&r, "0.0.0.0/0", "a/p").is_empty());
    assert_eq!(tcp(&r, "a/p", "a/q"), ALL, "egress of p is not isolated");
    assert_eq!(tcp(&r, "a/p", "0.0.0.0/0"), ALL);
    assert_eq!(
        ports(&r, "a/p", "a/p", Protocol::Sctp),
        ALL,
        "a pod reaches itself"
    );
}

#[test]
fn egress_rules_without_policy_types_isolate_egress_too() {
    let mut yaml = pods(&[("a/p", "app=p"), ("a/q", "app=q")]);
    yaml.push_str(&policy(
        "a",
        "p-out",
        "  podSelector: {matchLabels: {app: p}}\n  egress:\n  - ports: [{port: 53, protocol: UDP}]",
    ));
    let r = reach(&cluster(&yaml));
    assert!(tcp(&r, "a/p", "a/q").is_empty());
    assert_eq!(ports(&r, "a/p", "a/q", Protocol::Udp), [[53, 53]]);
    assert_eq!(ports(&r, "a/p", "0.0.0.0/0", Protocol::Udp), [[53, 53]]);
    assert!(
        tcp(&r, "a/q", "a/p").is_empty(),
        "the default types include Ingress"
    );
}

#[test]
fn an_empty_egress_list_without_policy_types_leaves_egress_open() {
    let mut yaml = pods(&[("a/p", "app=p"), ("a/q", "app=q")]);
    yaml.push_str(&policy("a", "p", "  podSelector: {}\n  egress: []"));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "a/p", "0.0.0.0/0"), ALL);
    assert!(tcp(&r, "a/p", "a/q").is_empty(), "ingress of q is isolated");
}

#[test]
fn ingress_rules_of_an_egress_only_policy_are_ignored() {
    let mut yaml = pods(&[("a/p", "app=p"), ("a/q", "app=q")]);
    yaml.push_str(&policy(
        "a",
        "egress-only",
        "  podSelector: {matchLabels: {app: p}}\n  policyTypes: [Egress]\n  ingress:\n  - ports: [{port: 80}]",
    ));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "a/q", "a/p"), ALL, "ingress not isolated");
    assert!(tcp(&r, "a/p", "a/q").is_empty(), "egress isolated, no rule");
}

#[test]
fn policies_add_up_and_a_connection_needs_both_egress_and_ingress() {
    let mut yaml = pods(&[("a/web", "app=web"), ("a/db", "app=db")]);
    yaml.push_str(&policy(
        "a",
        "db-5432",
        "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 5432}]",
    ));
    yaml.push_str(&policy(
        "a",
        "db-9187",
        "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - ports: [{port: 9187}]",
    ));
    yaml.push_str(&policy(
        "a",
        "web-out",
        "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: 5000, endPort: 6000}]",
    ));
    let r = reach(&cluster(&yaml));
    assert_eq!(
        tcp(&r, "a/web", "a/db"),
        [[5432, 5432]],
        "union is 5432+9187, egress 5000-6000"
    );
    assert_eq!(tcp(&r, "0.0.0.0/0", "a/db"), [[9187, 9187]]);
    assert_eq!(tcp(&r, "a/db", "a/web"), ALL);
    assert_eq!(tcp(&r, "a/web", "0.0.0.0/0"), [[5000, 6000]]);
}

#[test]
fn pod_selectors_look_in_the_policy_namespace_and_namespace_selectors_elsewhere() {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ops, labels: {team: ops}}\n",
    );
    yaml.push_str(&pods(&[
        ("a/db", "app=db"),
        ("a/web", "app=web"),
        ("b/web", "app=web"),
        ("ops/web", "app=web"),
        ("ops/mon", "app=mon"),
    ]));
    yaml.push_str(&policy(
        "a",
        "db",
        "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: web}}\n    - namespaceSelector: {matchLabels: {team: ops}}\n      podSelector: {matchLabels: {app: mon}}\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}",
    ));
    let r = reach(&cluster(&yaml));
    assert_eq!(
        tcp(&r, "a/web", "a/db"),
        ALL,
        "podSelector alone: own namespace"
    );
    assert!(
        tcp(&r, "ops/web", "a/db").is_empty(),
        "namespace AND pod selector"
    );
    assert_eq!(tcp(&r, "ops/mon", "a/db"), ALL);
    assert_eq!(
        tcp(&r, "b/web", "a/db"),
        ALL,
        "undeclared namespace b has its name label"
    );
    assert!(
        tcp(&r, "0.0.0.0/0", "a/db").is_empty(),
        "selectors admit no outside address"
    );
}

#[test]
fn empty_selectors_mean_every_pod_of_their_scope() {
    let mut yaml = pods(&[("a/p", ""), ("a/q", "x=one"), ("b/r", "")]);
    yaml.push_str(&policy(
        "a",
        "same-ns",
        "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}}]",
    ));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "a/q", "a/p"), ALL);
    assert!(tcp(&r, "b/r", "a/p").is_empty());

    let mut yaml = pods(&[("a/p", ""), ("b/r", "")]);
    yaml.push_str(&policy(
        "a",
        "any-ns",
        "  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}}]",
    ));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "b/r", "a/p"), ALL);
    assert!(tcp(&r, "0.0.0.0/0", "a/p").is_empty());
}

#[test]
fn an_empty_rule_allows_everyone_on_every_port() {
    let mut yaml = pods(&[("a/p", ""), ("b/r", "")]);
    yaml.push_str(&policy("a", "open", "  podSelector: {}\n  ingress: [{}]"));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "b/r", "a/p"), ALL);
    assert_eq!(ports(&r, "0.0.0.0/0", "a/p", Protocol::Sctp), ALL);
    assert_eq!(tcp(&r, "::/0", "a/p"), ALL);
}

#[test]
fn ports_without_a_number_mean_every_port_of_their_protocol() {
    let mut yaml = pods(&[("a/p", ""), ("a/q", "")]);
    yaml.push_str(&policy(
        "a",
        "udp",
        "  podSelector: {}\n  ingress:\n  - ports: [{protocol: UDP}, {protocol: SCTP, port: 9000, endPort: 9010}]",
    ));
    let r = reach(&cluster(&yaml));
    assert!(tcp(&r, "a/q", "a/p").is_empty());
    assert_eq!(ports(&r, "a/q", "a/p", Protocol::Udp), ALL);
    assert_eq!(ports(&r, "a/q", "a/p", Protocol::Sctp), [[9000, 9010]]);
}

#[test]
fn named_ports_resolve_per_destination_pod_and_protocol() {
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: one, namespace: a, labels: {app: srv}}
spec:
  containers:
  - name: c
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 53, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: two, namespace: a, labels: {app: srv}}
spec:
  containers:
  - name: c
    ports: [{name: http, containerPort: 9090}]
  - name: d
    ports: [{name: dns, containerPort: 5353, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: srv, namespace: a}
spec:
  podSelector: {matchLabels: {app: srv}}
  ingress:
  - ports: [{port: http}, {port: dns, protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-out, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http}]
"#;
    let r = reach(&cluster(yaml));
    assert_eq!(tcp(&r, "a/client", "a/one"), [[8080, 8080]]);
    assert_eq!(tcp(&r, "a/client", "a/two"), [[9090, 9090]]);
    assert!(
        ports(&r, "a/client", "a/two", Protocol::Udp).is_empty(),
        "egress named http only"
    );
    assert_eq!(ports(&r, "0.0.0.0/0", "a/one", Protocol::Udp), [[53, 53]]);
    assert!(
        ports(&r, "0.0.0.0/0", "a/two", Protocol::Udp).is_empty(),
        "two's dns is TCP"
    );
    assert!(
        tcp(&r, "a/client", "0.0.0.0/0").is_empty(),
        "a name resolves to nothing outside"
    );
}

#[test]
fn match_expressions_support_every_operator() {
    let mut yaml = pods(&[
        ("a/dst", "role=dst"),
        ("a/in", "tier=front"),
        ("a/notin", "tier=back"),
        ("a/nolabel", ""),
        ("a/exists", "tier=other,canary=yes"),
    ]);
    let peer = |name: &str, expr: &str| {
        policy(
            "a",
            name,
            &format!(
                "  podSelector: {{matchLabels: {{role: dst}}}}\n  ingress:\n  - from: [{{podSelector: {{matchExpressions: [{expr}]}}}}]\n    ports: [{{port: {}}}]",
                match name {
                    "in" => 1,
                    "notin" => 2,
                    "exists" => 3,
                    _ => 4,
                }
            ),
        )
    };
    yaml.push_str(&peer(
        "in",
        "{key: tier, operator: In, values: [front, middle]}",
    ));
    yaml.push_str(&peer(
        "notin",
        "{key: tier, operator: NotIn, values: [front, other]}",
    ));
    yaml.push_str(&peer("exists", "{key: canary, operator: Exists}"));
    yaml.push_str(&peer("absent", "{key: tier, operator: DoesNotExist}"));
    let r = reach(&cluster(&yaml));
    assert_eq!(tcp(&r, "a/in", "a/dst"), [[1, 1]]);
    assert_eq!(tcp(&r, "a/notin", "a/dst"), [[2, 2]], "NotIn: other value");
    assert_eq!(
        tcp(&r, "a/nolabel", "a/dst"),
        [[2, 2], [4, 4]],
        "NotIn and DoesNotExist match a missing label"
    );
    assert_eq!(tcp(&r, "a/exists", "a/dst"), [[3, 3]]);
}

#[test]
fn ip_blocks_split_the_outside_into_the_fewest_cidrs_and_never_admit_pods() {
    let mut yaml = pods(&[("a/p", ""), ("a/q", "")]);
    yaml.push_str(&policy(
        "a",
        "blocks",
        "  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    ports: [{port: 443}]\n  - from: [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: '2001:db8::/32'}}]\n    ports: [{port: 22}]",
    ));
    let r = reach(&cluster(&yaml));
    assert!(tcp(&r, "a/q", "a/p").is_empty(), "0.0.0.0/0 admits no pod");
    let sources: Vec<String> = r
        .iter()
        .filter(|x| x.to == Endpoint::Pod("a/p".into()) && matches!(x.from, Endpoint::Cidr(_)))
        .map(|x| format!("{} {:?}", x.from, x.ports))
        .collect();
    assert_eq!(
        sources,
        [
            "0.0.0.0/5 [[22, 22]]",
            "8.0.0.0/7 [[22, 22]]",
            "10.0.0.0/16 [[22, 22], [443, 443]]",
            "10.1.0.0/16 [[22, 22]]",
            "10.2.0.0/15 [[22, 22], [443, 443]]",
            "10.4.0.0/14 [[22, 22], [443, 443]]",
            "10.8.0.0/13 [[22, 22], [443, 443]]",
            "10.16.0.0/12 [[22, 22], [443, 443]]",
            "10.32.0.0/11 [[22, 22], [443, 443]]",
            "10.64.0.0/10 [[22, 22], [443, 443]]",
            "10.128.0.0/9 [[22, 22], [443, 443]]",
            "11.0.0.0/8 [[22, 22]]",
            "12.0.0.0/6 [[22, 22]]",
            "16.0.0.0/4 [[22, 22]]",
            "32.0.0.0/3 [[22, 22]]",
            "64.0.0.0/2 [[22, 22]]",
            "128.0.0.0/1 [[22, 22]]",
            "2001:db8::/32 [[22, 22]]",
        ],
        "adjacent ranges with the same reach are merged (0.0.0.0-9.255.255.255 is one class)"
    );
}

#[test]
fn workloads_become_one_pod_each_with_their_template_labels() {
    let yaml = r#"
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "wrong"}},
   "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}},
  {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup", "namespace": "shop"},
   "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"metadata": {"labels": {"app": "backup"}}, "spec": {"containers": [{"name": "c"}]}}}}}},
  {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}},
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web", "namespace": "shop"},
   "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "backup"}}}]}]}}
]}"#;
    let c = cluster(yaml);
    assert_eq!(c.ignored, 1);
    let ids: Vec<String> = c.pods.iter().map(|p| p.id()).collect();
    assert_eq!(ids, ["shop/backup", "shop/web"]);
    let r = reach(&c);
    assert_eq!(tcp(&r, "shop/backup", "shop/web"), ALL);
    assert!(tcp(&r, "0.0.0.0/0", "shop/web").is_empty());
}

#[test]
fn explain_names_the_rules_that_allow_and_the_policies_that_isolate() {
    let mut yaml = pods(&[("a/web", "app=web"), ("a/db", "app=db")]);
    yaml.push_str(&policy(
        "a",
        "db",
        "  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - ports: [{port: 9187}]\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 5432}]",
    ));
    let c = cluster(&yaml);
    let e = explain(&c, "a/web", "a/db", Protocol::Tcp, 5432).unwrap();
    assert!(e.allowed);
    let ingress = e.ingress.unwrap();
    assert_eq!(ingress.isolated_by, ["a/db"]);
    assert_eq!(ingress.allowed_by.len(), 1);
    assert_eq!(
        (
            ingress.allowed_by[0].policy.as_str(),
            ingress.allowed_by[0].rule
        ),
        ("a/db", 1)
    );
    assert!(e.egress.unwrap().isolated_by.is_empty());

    let denied = explain(&c, "192.0.2.7", "a/db", Protocol::Tcp, 5432).unwrap();
    assert!(!denied.allowed);
    assert!(denied.egress.is_none());
    assert_eq!(
        denied.reason,
        "denied: a/db's ingress is isolated by a/db and none of its rules allows it"
    );
    assert!(
        explain(&c, "a/db", "a/db", Protocol::Udp, 1)
            .unwrap()
            .allowed
    );
    assert!(explain(&c, "a/nope", "a/db", Protocol::Tcp, 1).is_err());
}

#[test]
fn bad_manifests_are_located() {
    let err = |yaml: &str| read_str("bad.yaml", yaml).unwrap_err().to_string();
    assert_eq!(
        err("kind: Pod\nmetadata: {name: x\n"),
        "bad.yaml:3:1: did not find expected ',' or '}' while parsing a flow mapping at line 2 column 11",
    );
    let doc2 = "---\nkind: Namespace\nmetadata: {name: a}\n---\n";
    assert_eq!(
        err(&format!(
            "{doc2}kind: NetworkPolicy\nmetadata: {{name: np, namespace: a}}\nspec:\n  podSelector: {{}}\n  ingress:\n  - ports: [{{port: 80, protocol: ICMP}}]\n"
        )),
        "bad.yaml: document 2: kind NetworkPolicy name np: field spec.ingress[0].ports[0].protocol: protocol \"ICMP\" is not TCP, UDP or SCTP",
    );
    assert_eq!(
        err(
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - ports: [{containerPort: 70000}]\n"
        ),
        "bad.yaml: document 1: kind Pod name p: field spec.containers[0].ports[0].containerPort: invalid value: integer `70000`, expected u16",
    );
    assert!(err("kind: NetworkPolicy\nmetadata: {name: n}\nspec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]\n")
        .ends_with("field spec.ingress[0].from[0].ipBlock.except[0]: 11.0.0.0/16 is not inside 10.0.0.0/8"));
    assert!(err("kind: Pod\nmetadata: {name: p}\n---\nkind: Deployment\nmetadata: {name: p}\nspec: {template: {}}\n")
        .contains("Pod default/p is also defined at bad.yaml: document 1"));
}

#[test]
fn records_are_sorted_by_the_names_they_show() {
    // "a-b/x" sorts before "a/y" although namespace "a" sorts before "a-b".
    let mut yaml = pods(&[("a/y", ""), ("a-b/x", "")]);
    yaml.push_str(&policy(
        "a",
        "p",
        "  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: '2001:db8::/32'}}, {ipBlock: {cidr: 10.0.0.0/8}}]",
    ));
    let r = reach(&cluster(&yaml));
    assert!(r.is_sorted(), "{r:#?}");
    let mut sources: Vec<String> = r.iter().map(|x| x.from.to_string()).collect();
    sources.dedup();
    assert_eq!(sources[..2], ["a-b/x", "a/y"]);
    let v4 = sources.iter().position(|s| s == "10.0.0.0/8").unwrap();
    let v6 = sources.iter().position(|s| s == "2001:db8::/32").unwrap();
    assert!(v4 < v6, "{sources:?}");
}

#[test]
fn declared_namespaces_keep_their_labels_and_gain_their_name() {
    let mut yaml = String::from("kind: Namespace\nmetadata: {name: ops, labels: {team: ops}}\n");
    yaml.push_str(&pods(&[("web/w", "")]));
    let c = cluster(&yaml);
    let ops = &c.namespaces["ops"];
    assert_eq!(
        (
            ops["team"].as_str(),
            ops["kubernetes.io/metadata.name"].as_str()
        ),
        ("ops", "ops")
    );
    assert_eq!(c.namespaces["web"]["kubernetes.io/metadata.name"], "web");
    assert_eq!(c.namespaces.len(), 2);
}

#[test]
fn egress_to_ip_blocks_lists_the_outside_classes_a_pod_may_open() {
    let mut yaml = pods(&[("a/p", "app=p"), ("a/q", "")]);
    yaml.push_str(&policy(
        "a",
        "out",
        "  podSelector: {matchLabels: {app: p}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: '2001:db8::/32', except: ['2001:db8::/33']}}]\n    ports: [{port: 443}]",
    ));
    let r = reach(&cluster(&yaml));
    let to_outside: Vec<String> = r
        .iter()
        .filter(|x| x.from.to_string() == "a/p" && matches!(x.to, Endpoint::Cidr(_)))
        .map(|x| format!("{} {} {:?}", x.to, x.protocol, x.ports))
        .collect();
    assert_eq!(to_outside, ["2001:db8:8000::/33 TCP [[443, 443]]"]);
    assert!(tcp(&r, "a/p", "a/q").is_empty(), "an ipBlock admits no pod");
    assert_eq!(tcp(&r, "a/q", "0.0.0.0/0"), ALL, "q is not isolated");
    assert_eq!(tcp(&r, "a/q", "2001:db8::/33"), ALL);
}

#[test]
fn json_arrays_typed_lists_and_every_workload_kind_are_read() {
    let workload = |kind: &str, name: &str| {
        format!(
            r#"{{"kind": "{kind}", "metadata": {{"name": "{name}", "namespace": "w"}}, "spec": {{"template": {{"metadata": {{"labels": {{"k": "{name}"}}}}}}}}}}"#
        )
    };
    let json = format!(
        r#"[{}, {}, {{"kind": "PodList", "items": [{}, {}]}}, {{"kind": "Pod", "metadata": {{"name": "bare"}}}}]"#,
        workload("StatefulSet", "sts"),
        workload("DaemonSet", "ds"),
        workload("ReplicaSet", "rs"),
        workload("Job", "job"),
    );
    let c = cluster(&json);
    let pods: Vec<(String, String)> = c.pods.iter().map(|p| (p.id(), p.kind.clone())).collect();
    assert_eq!(
        pods,
        [
            ("default/bare".to_string(), "Pod".to_string()),
            ("w/ds".to_string(), "DaemonSet".to_string()),
            ("w/job".to_string(), "Job".to_string()),
            ("w/rs".to_string(), "ReplicaSet".to_string()),
            ("w/sts".to_string(), "StatefulSet".to_string()),
        ]
    );
    assert_eq!(c.pods[1].labels["k"], "ds");
    let empty_documents = cluster("---\n---\nkind: Pod\nmetadata: {name: x}\n---\n");
    assert_eq!(empty_documents.pods.len(), 1);
}

//! `k8s reach` end to end: manifests from a directory tree and from
//! standard input give the same documented JSON; the table, `--explain`
//! with its exit status, and located errors for a bad manifest.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use support::{Home, assert_exit, assert_matches_schema, assert_ok, portreeve, stdout};

/// A web pod, a database only the web pod may reach on its named port, and
/// a monitoring namespace allowed on 9187 from 192.0.2.0/24 less one /28.
const SHOP: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {env: prod}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec: {containers: [{name: pg, ports: [{name: pg, containerPort: 5432}]}]}
"#;

const POLICY: &str = r#"{
  "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
  "metadata": {"name": "db", "namespace": "shop"},
  "spec": {
    "podSelector": {"matchLabels": {"app": "db"}},
    "ingress": [
      {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "pg"}]},
      {"from": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.16/28"]}}], "ports": [{"port": 9187}]}
    ]
  }
}"#;

fn manifests() -> Home {
    let home = Home::new();
    std::fs::create_dir_all(home.path().join("deploy/policies")).unwrap();
    home.file("deploy/shop.yaml", SHOP);
    home.file("deploy/policies/db.json", POLICY);
    home.file("deploy/README.md", "not a manifest");
    home
}

fn json_of(out: &Output) -> Value {
    assert_ok(out);
    serde_json::from_str(&stdout(out)).unwrap()
}

/// The connections into shop/db, as (from, protocol, ports).
fn into_db(doc: &Value) -> Vec<(String, String, Value)> {
    doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["to"] == "shop/db" && c["from"] != "shop/db")
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_string(),
                c["protocol"].as_str().unwrap().to_string(),
                c["ports"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_directory_and_standard_input_give_the_same_documented_reach() {
    let home = manifests();
    let dir = home.path().join("deploy");
    let doc = json_of(
        &portreeve()
            .args(["k8s", "reach", "--format", "json", "--manifests"])
            .arg(&dir)
            .output()
            .unwrap(),
    );
    assert_matches_schema(&doc, "docs/schema/k8s-reach.v1.json");
    assert_eq!(
        (
            doc["pods"].as_u64(),
            doc["policies"].as_u64(),
            doc["namespaces"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        into_db(&doc),
        [
            (
                "shop/web".to_string(),
                "TCP".to_string(),
                json!([[5432, 5432]])
            ),
            (
                "192.0.2.0/28".to_string(),
                "TCP".to_string(),
                json!([[9187, 9187]])
            ),
            (
                "192.0.2.32/27".to_string(),
                "TCP".to_string(),
                json!([[9187, 9187]])
            ),
            (
                "192.0.2.64/26".to_string(),
                "TCP".to_string(),
                json!([[9187, 9187]])
            ),
            (
                "192.0.2.128/25".to_string(),
                "TCP".to_string(),
                json!([[9187, 9187]])
            ),
        ]
    );

    let stdin_text = format!("{SHOP}\n---\n{POLICY}\n");
    let mut child = portreeve()
        .args(["k8s", "reach", "--format", "json", "--manifests", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin_text.as_bytes())
        .unwrap();
    let piped = json_of(&child.wait_with_output().unwrap());
    assert_eq!(piped["connections"], doc["connections"]);
}

#[test]
fn the_table_lists_one_line_per_source_destination_and_protocol() {
    let home = manifests();
    let out = portreeve()
        .args(["k8s", "reach", "--manifests"])
        .arg(home.path().join("deploy"))
        .output()
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["FROM", "TO", "PROTOCOL", "PORTS"]);
    assert!(
        lines.contains(&vec!["shop/web", "shop/db", "TCP", "5432"]),
        "{text}"
    );
    assert!(
        lines.contains(&vec!["::/0", "shop/web", "UDP", "all"])
            && lines.contains(&vec!["0.0.0.0/1", "shop/web", "TCP", "all"]),
        "{text}"
    );
    assert!(
        !lines.iter().any(|l| l[..2] == ["0.0.0.0/1", "shop/db"]),
        "{text}"
    );
}

#[test]
fn explain_names_the_rule_and_exits_one_when_denied() {
    let home = manifests();
    let dir = home.path().join("deploy");
    let explain = |from: &str, to: &str, port: &str| {
        portreeve()
            .args(["k8s", "reach", "--format", "json", "--manifests"])
            .arg(&dir)
            .args(["--explain", from, to, port])
            .output()
            .unwrap()
    };
    let allowed = json_of(&explain("192.0.2.200", "shop/db", "tcp/9187"));
    assert_matches_schema(&allowed, "docs/schema/k8s-explain.v1.json");
    assert_eq!(allowed["allowed"], true);
    assert_eq!(
        allowed["ingress"]["allowed_by"],
        json!([{"policy": "shop/db", "direction": "ingress", "rule": 1}])
    );
    assert_eq!(allowed["egress"], Value::Null);

    let denied = explain("192.0.2.17", "shop/db", "TCP/9187");
    assert_eq!(denied.status.code(), Some(1));
    let denied: Value = serde_json::from_str(&stdout(&denied)).unwrap();
    assert_matches_schema(&denied, "docs/schema/k8s-explain.v1.json");
    assert_eq!(
        (
            denied["allowed"].clone(),
            denied["ingress"]["isolated_by"].clone()
        ),
        (json!(false), json!(["shop/db"]))
    );

    let text = portreeve()
        .args(["k8s", "reach", "--manifests"])
        .arg(&dir)
        .args(["--explain", "shop/web", "shop/db", "5432"])
        .output()
        .unwrap();
    assert_ok(&text);
    assert!(
        stdout(&text).contains("allowed by shop/db ingress[0]"),
        "{}",
        stdout(&text)
    );
    assert_exit(
        &explain("shop/nope", "shop/db", "TCP/1"),
        2,
        "\"shop/nope\" is neither a pod (namespace/name) of the manifests nor an IP address",
    );
}

#[test]
fn a_bad_manifest_is_a_located_input_error() {
    let home = Home::new();
    let bad = home.file(
        "bad.yaml",
        "kind: NetworkPolicy\nmetadata: {name: np}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 80, endPort: 70}]\n",
    );
    let out = portreeve()
        .args(["k8s", "reach", "--manifests"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_exit(
        &out,
        2,
        &format!(
            "{}: document 1: kind NetworkPolicy name np: field spec.ingress[0].ports[0].endPort: endPort 70 is not between port 80 and 65535",
            bad.display()
        ),
    );
}

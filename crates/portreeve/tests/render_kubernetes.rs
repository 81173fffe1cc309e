//! `portreeve render --target kubernetes` end to end: the policy's pod
//! rules come out as NetworkPolicies that `portreeve k8s reach --explain`
//! reads back and judges as the policy says, host rules are left out and
//! counted, and a bad pod rule is located with status 2. (The exact
//! agreement with the policy, the schema and the independent analyzer are
//! crates/k8s/tests/render_agreement.rs.)

mod support;

use support::{Home, assert_exit, assert_ok, stderr, stdout};

const POLICY: &str = r#"
[zones]
office = ["192.0.2.0/24"]
web = { namespaces = ["web"] }

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "db"
port = 5432
protocol = "tcp"
zones = ["office", "web"]
pods = { namespace = "shop", labels = { app = "db" } }
"#;

const CLUSTER: &str = "\
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
---
kind: Pod
metadata: {name: front, namespace: web}
---
kind: Pod
metadata: {name: other, namespace: lab}
";

#[test]
fn pod_rules_render_to_policies_that_k8s_reach_judges_as_the_policy_says() {
    let home = Home::new();
    let policy = home.file("policy.toml", POLICY);
    let out = home.run(&[
        "render",
        "--target",
        "kubernetes",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("left out 1 rule without `pods`"),
        "{}",
        stderr(&out)
    );
    let rendered = home.file("policies.yaml", stdout(&out));
    let cluster = home.file("cluster.yaml", CLUSTER);
    let explain = |from: &str, port: &str| {
        let out = home.run(&[
            "k8s",
            "reach",
            "--manifests",
            cluster.to_str().unwrap(),
            rendered.to_str().unwrap(),
            "--format",
            "json",
            "--explain",
            from,
            "shop/db",
            port,
        ]);
        let answer: serde_json::Value = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        answer["allowed"] == true
    };
    assert!(explain("192.0.2.7", "TCP/5432"), "office reaches the db");
    assert!(
        explain("web/front", "TCP/5432"),
        "namespace web reaches the db"
    );
    assert!(
        !explain("lab/other", "TCP/5432"),
        "namespace lab is in no zone"
    );
    assert!(!explain("198.51.100.1", "TCP/5432"), "outside the zones");
    assert!(
        !explain("192.0.2.7", "TCP/22"),
        "the host rule's port stays shut"
    );
}

#[test]
fn a_bad_pod_rule_is_located_and_nothing_is_rendered() {
    let home = Home::new();
    let policy = home.file(
        "policy.toml",
        POLICY.replace("namespace = \"shop\"", "namespace = \"Shop\""),
    );
    let out = home.run(&[
        "render",
        "--target",
        "kubernetes",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "policy.toml:17:22");
    assert_exit(&out, 2, "`Shop` is not a Kubernetes namespace name");
    assert!(!stdout(&out).contains("NetworkPolicy"), "{}", stdout(&out));
}

//! `k8s check` end to end: every finding kind fires on a small manifest set
//! with one mistake of each kind and none fires once they are fixed; the
//! JSON report validates against its schema, SARIF against 2.1.0, the
//! Nagios line and every exit status are `check`'s; the policy's
//! `min_severity` and accepted risks apply; a bad manifest is located.

mod support;

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use support::{
    Home, assert_exit, assert_matches_schema, assert_ok, assert_valid, portreeve, stderr, stdout,
};

/// One mistake of each kind besides the unisolated namespace (PR015) and
/// the reachable Redis (PR016): a NodePort Service for Redis (PR017), a
/// policy for pods that do not exist (PR018), a rule whose peers select
/// nobody (PR019) and a port name no container declares (PR020).
const MISTAKES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  type: NodePort
  selector: {app: cache}
  ports: [{port: 6379, targetPort: redis, nodePort: 30079}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: old-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
  - from: [{podSelector: {matchLabels: {app: cache}}}]
    ports: [{port: http}, {port: metrics}]
"#;

/// The same cluster done right: a default deny, Redis only from the web
/// pods, the web pods only from Redis's, a ClusterIP Service.
const FIXED: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  selector: {app: cache}
  ports: [{port: 6379, targetPort: redis}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cache, namespace: shop}
spec:
  podSelector: {matchLabels: {app: cache}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: redis}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: cache}}}], ports: [{port: http}]}]
"#;

/// A directory with the workloads and either the mistakes or the fixes.
fn cluster(home: &Home, rest: &str) -> PathBuf {
    std::fs::create_dir_all(home.path().join("deploy")).unwrap();
    home.file("deploy/workloads.yaml", support::k8s::shop_cache_and_web());
    home.file("deploy/rest.yaml", rest);
    home.path().join("deploy")
}

fn check(dir: &PathBuf, extra: &[&str]) -> Output {
    portreeve()
        .args(["k8s", "check", "--manifests"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// (id, fingerprint, resource kind/namespace/name, file name) of each finding.
fn found(doc: &Value) -> Vec<(String, String, String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let r = &f["resource"];
            (
                f["id"].as_str().unwrap().to_string(),
                f["fingerprint"].as_str().unwrap().to_string(),
                format!(
                    "{} {}/{}",
                    r["kind"].as_str().unwrap(),
                    r["namespace"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap()
                ),
                PathBuf::from(r["file"].as_str().unwrap_or("-"))
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

/// `printf 'PR0NN\0%s' KEY | sha256sum | cut -c1-16`, for each key of the
/// documented layouts (docs/findings.md, "Fingerprints").
fn fingerprint(code: &str, key: &str) -> String {
    let kind = portreeve_core::FindingKind::from_code_or_name(code).unwrap();
    portreeve_core::Finding::fingerprint_of(kind, key)
}

#[test]
fn each_mistake_is_one_finding_with_its_documented_key_and_file() {
    let home = Home::new();
    let dir = cluster(&home, MISTAKES);
    let out = check(&dir, &["--format", "json"]);
    assert_ok(&out);
    let doc = json(&out);
    assert_matches_schema(&doc, "docs/schema/k8s-check.v1.json");
    let expected = [
        (
            "PR016",
            "k8s|pod|shop/cache|tcp|6379",
            "Deployment shop/cache",
            "workloads.yaml",
        ),
        (
            "PR017",
            "k8s|service|shop/cache|tcp|6379",
            "Service shop/cache",
            "rest.yaml",
        ),
        (
            "PR015",
            "k8s|namespace|shop",
            "Namespace /shop",
            "workloads.yaml",
        ),
        (
            "PR018",
            "k8s|networkpolicy|shop/old-api",
            "NetworkPolicy shop/old-api",
            "rest.yaml",
        ),
        (
            "PR019",
            "k8s|networkpolicy|shop/web|ingress|0",
            "NetworkPolicy shop/web",
            "rest.yaml",
        ),
        (
            "PR020",
            "k8s|networkpolicy|shop/web|ingress|1|metrics/tcp",
            "NetworkPolicy shop/web",
            "rest.yaml",
        ),
    ];
    let expected: Vec<(String, String, String, String)> = expected
        .iter()
        .map(|(code, key, resource, file)| {
            (
                code.to_string(),
                fingerprint(code, key),
                resource.to_string(),
                file.to_string(),
            )
        })
        .collect();
    assert_eq!(found(&doc), expected, "{doc:#}");
    let severities: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    // Redis is critical in the catalogue; the rest have fixed severities.
    assert_eq!(
        severities,
        ["critical", "critical", "medium", "low", "low", "low"]
    );
    assert_eq!(doc["summary"]["highest"], "critical");
    assert_eq!(doc["summary"]["findings"], 6);
    assert_eq!(doc["cluster"]["pods"], 2);
    assert_eq!(doc["cluster"]["network_policies"], 2);
    let reachable = &doc["findings"][0];
    assert!(
        reachable["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "reachable from 0.0.0.0/0"),
        "{reachable:#}"
    );

    // The schema has teeth: a socket on a k8s finding is refused.
    let mut broken = doc.clone();
    broken["findings"][0]["socket"] = serde_json::json!({"port": 1});
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs/schema/k8s-check.v1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(!jsonschema::is_valid(&schema, &broken));

    // Exit statuses: findings alone exit 0; --fail-on at or below the worst
    // exits 1, above it 0.
    assert_exit(&check(&dir, &["--fail-on", "critical"]), 1, "PR016");
    assert_ok(&check(&dir, &["--fail-on", "never"]));
}

#[test]
fn the_fixed_cluster_has_no_finding_in_any_format() {
    let home = Home::new();
    let dir = cluster(&home, FIXED);
    let out = check(&dir, &["--format", "json", "--fail-on", "info"]);
    assert_ok(&out);
    let doc = json(&out);
    assert_matches_schema(&doc, "docs/schema/k8s-check.v1.json");
    assert_eq!(found(&doc), []);
    assert_eq!(doc["summary"]["highest"], Value::Null);

    let out = check(&dir, &["--format", "nagios"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "PORTREEVE OK - no findings on 2 pods in 1 namespace and 3 NetworkPolicies | findings=0;;;0 critical=0;;;0 \
         high=0;;;0 medium=0;;;0 low=0;;;0 info=0;;;0 pods=2;;;0 namespaces=1;;;0 \
         network_policies=3;;;0 accepted=0;;;0\n"
    );
    let table = stdout(&check(&dir, &[]));
    assert_eq!(
        table,
        "0 findings (none) on 2 pods in 1 namespace and 3 NetworkPolicies · policy <built-in baseline>\n"
    );
}

#[test]
fn sarif_nagios_and_table_carry_every_finding() {
    let home = Home::new();
    let dir = cluster(&home, MISTAKES);

    let out = check(&dir, &["--format", "sarif"]);
    assert_ok(&out);
    let sarif = json(&out);
    assert_valid(&sarif, &support::sarif::schema(), "the SARIF 2.1.0 schema");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["PR016", "PR017", "PR015", "PR018", "PR019", "PR020"]);
    // Each result is placed in the manifest its object came from.
    let uri = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.ends_with("deploy/rest.yaml"), "{uri}");
    assert_eq!(results[0]["level"], "error");

    let out = check(&dir, &["--format", "nagios"]);
    assert_eq!(out.status.code(), Some(2), "CRITICAL: {}", stdout(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("PORTREEVE CRITICAL - 6 findings (2 critical, 1 medium, 3 low) on 2 pods in 1 namespace; worst: PR016 "),
        "{first}"
    );
    assert!(first.ends_with("pods=2;;;0 namespaces=1;;;0 network_policies=2;;;0 accepted=0;;;0"));
    assert_eq!(text.lines().count(), 7, "{text}");

    let out = check(&dir, &["--details"]);
    assert_ok(&out);
    let table = stdout(&out);
    for id in ["PR015", "PR016", "PR017", "PR018", "PR019", "PR020"] {
        assert!(table.contains(id), "{id} missing:\n{table}");
    }
    assert!(
        table.contains("  resource: Service shop/cache ("),
        "{table}"
    );
    assert!(table.contains("by NodePort 30079"), "{table}");
    assert!(table.ends_with(
        "6 findings (2 critical, 1 medium, 3 low) on 2 pods in 1 namespace and 2 NetworkPolicies · policy <built-in baseline>\n"
    ));
}

#[test]
fn the_policy_sets_the_bar_and_accepts_risks() {
    let home = Home::new();
    let dir = cluster(&home, MISTAKES);
    let accepted = fingerprint("PR017", "k8s|service|shop/cache|tcp|6379");
    let policy = home.file(
        "policy.toml",
        format!(
            "version = 1\n[defaults]\nmin_severity = \"medium\"\n\n[[accepted_risk]]\n\
             finding = \"{accepted}\"\nowner = \"data-team\"\nreason = \"node ports firewalled\"\n\
             expires = 2099-12-31\n"
        ),
    );
    let out = check(
        &dir,
        &[
            "--format",
            "json",
            "--policy",
            policy.to_str().unwrap(),
            "--fail-on",
            "high",
        ],
    );
    // Redis reachable from outside is still open and critical.
    assert_exit(&out, 1, "PR016");
    let doc = json(&out);
    assert_matches_schema(&doc, "docs/schema/k8s-check.v1.json");
    let ids: Vec<(&str, bool)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f.get("accepted").is_some()))
        .collect();
    assert_eq!(ids, [("PR016", false), ("PR017", true), ("PR015", false)]);
    assert_eq!(doc["summary"]["findings"], 2);
    assert_eq!(doc["summary"]["accepted"], 1);
    assert_eq!(doc["policy"]["source"], "file");
}

#[test]
fn bad_input_is_located_and_changes_nothing() {
    let home = Home::new();
    let bad = home.file(
        "bad.yaml",
        "kind: NetworkPolicy\nmetadata: {name: x, namespace: shop}\nspec:\n  podSelector: {}\n  ingress: [{ports: [{port: 80, protocol: ICMP}]}]\n",
    );
    let out = portreeve()
        .args(["k8s", "check", "--manifests"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_exit(&out, 2, "bad.yaml:");
    assert_eq!(stdout(&out), "");

    // Nagios reports UNKNOWN (3) on standard output instead.
    let out = portreeve()
        .args(["k8s", "check", "--format", "nagios", "--manifests"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("PORTREEVE UNKNOWN - "),
        "{}",
        stdout(&out)
    );

    let policy = home.file(
        "policy.toml",
        "version = 1\n[defaults]\nmin_severity = \"dire\"\n",
    );
    let out = portreeve()
        .args(["k8s", "check", "--manifests"])
        .arg(&bad)
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_exit(&out, 2, "policy.toml:3");
}

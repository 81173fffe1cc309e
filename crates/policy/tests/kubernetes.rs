//! The Kubernetes parts of a policy: zones naming namespaces, rules naming
//! pods, and the located errors when they are written wrong.

mod common;

use common::single;
use portreeve_policy::parse_policy;

const ZONES: &str = r#"
[zones]
office = ["192.0.2.0/24"]
web = { networks = ["10.8.0.0/16", "2001:db8::/64"], namespaces = ["web", "edge"] }
frontends = { namespaces = ["shop"] }
"#;

#[test]
fn pod_rules_are_kept_apart_from_host_rules() {
    let text = format!(
        r#"{ZONES}
[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "db"
port = 5432
protocol = "tcp"
zones = ["web", "frontends"]
pods = {{ namespace = "shop", labels = {{ app = "db", "app.kubernetes.io/part-of" = "shop" }} }}

[[rule]]
name = "metrics"
ports = ["9100-9102"]
protocol = ["tcp", "udp"]
zones = ["office"]
[rule.pods]
namespace = "monitoring"
"#
    );
    let policy = parse_policy("p.toml", &text).unwrap();
    let host: Vec<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(host, ["ssh"]);
    let db = &policy.pod_rules[0];
    assert_eq!(
        (db.rule.name.as_str(), db.pods.namespace.as_str()),
        ("db", "shop")
    );
    assert_eq!(db.pods.labels.len(), 2);
    assert_eq!(db.rule.zones, ["web", "frontends"]);
    let metrics = &policy.pod_rules[1];
    assert!(metrics.pods.labels.is_empty());
    assert_eq!(metrics.rule.ports_label(), "9100-9102/tcp+udp");
    let web = policy.zone("web").unwrap();
    assert_eq!(web.namespaces, ["web", "edge"]);
    assert_eq!(web.networks.len(), 2);
    assert!(policy.zone("frontends").unwrap().networks.is_empty());
}

fn rule(zones: &str, extra: &str) -> String {
    format!(
        "{ZONES}[[rule]]\nname = \"r\"\nport = 80\nprotocol = \"tcp\"\nzones = {zones}\n{extra}\n"
    )
}

#[test]
fn a_host_rule_cannot_use_a_zone_of_namespaces_only() {
    let hint = single(
        &rule(r#"["frontends"]"#, ""),
        10,
        10,
        "zone `frontends` has only Kubernetes namespaces, and this is a host rule",
    );
    assert!(hint.unwrap().contains("pods = "));
}

#[test]
fn bad_namespaces_and_labels_are_located() {
    single(
        &rule(r#"["web"]"#, r#"pods = { namespace = "Shop" }"#),
        11,
        22,
        "`Shop` is not a Kubernetes namespace name",
    );
    single(
        &rule(
            r#"["web"]"#,
            r#"pods = { namespace = "shop", labels = { "-app" = "db" } }"#,
        ),
        11,
        41,
        "`-app` is not a Kubernetes label key",
    );
    single(
        &rule(
            r#"["web"]"#,
            r#"pods = { namespace = "shop", labels = { app = "d b" } }"#,
        ),
        11,
        47,
        "`d b` is not a Kubernetes label value",
    );
    single(
        "[zones]\nweb = { namespaces = [\"ok\", \"not_ok\"] }\n",
        2,
        29,
        "`not_ok` is not a Kubernetes namespace name",
    );
}

#[test]
fn zone_tables_need_something_and_refuse_strangers() {
    let hint = single(
        "[zones]\nweb = { namespaces = [] }\n",
        2,
        7,
        "zone `web` has no networks",
    );
    assert!(hint.unwrap().contains("namespaces"));
    single(
        "[zones]\nweb = { namespace = [\"web\"] }\n",
        2,
        9,
        "unknown field `namespace`",
    );
}

#[test]
fn host_only_keys_are_refused_on_pod_rules() {
    single(
        &rule(
            r#"["web"]"#,
            "service = { process = \"postgres\" }\npods = { namespace = \"shop\" }",
        ),
        11,
        11,
        "`service` applies to host rules, not to a rule with `pods`",
    );
}

#[test]
fn the_management_zone_needs_networks() {
    single(
        &format!("[enforce]\nmanagement_zone = \"frontends\"\n{ZONES}"),
        2,
        19,
        "management zone `frontends` has no networks",
    );
}

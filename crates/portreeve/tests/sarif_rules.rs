//! A real `check --format sarif` run: its rules explain themselves (full
//! description, help, help URI) and each result's level follows that
//! result's own severity, not its rule's default.

mod support;

use serde_json::Value;
use support::{Home, Netns, assert_ok, privileged, stdout};

#[test]
fn sarif_rules_carry_help_and_results_their_own_level() {
    if !privileged("sarif_rules_carry_help_and_results_their_own_level") {
        return;
    }
    let ns = Netns::new();
    // Two PR001 findings of different severities: PostgreSQL is `high` in
    // the risk catalogue, an unknown port gets the default `medium`.
    let _listeners = ns.listen(&["tcp4:0.0.0.0:5432", "tcp4:0.0.0.0:40000"], 0);
    let home = Home::new();
    let policy = home.file("policy.toml", "version = 1\n");
    let out = home.run_in(
        &ns,
        &[
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "sarif",
        ],
    );
    assert_ok(&out);
    let sarif: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let run = &sarif["runs"][0];

    for rule in run["tool"]["driver"]["rules"].as_array().unwrap() {
        for field in [
            "/fullDescription/text",
            "/help/text",
            "/help/markdown",
            "/helpUri",
        ] {
            let value = rule
                .pointer(field)
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert!(!value.is_empty(), "rule without {field}: {rule:#}");
        }
        let anchor = format!(
            "docs/findings.md#{}-",
            rule["id"].as_str().unwrap().to_ascii_lowercase()
        );
        assert!(
            rule["helpUri"].as_str().unwrap().contains(&anchor),
            "{rule:#}"
        );
    }

    let level_of = |port: &str| {
        let result = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["ruleId"] == "PR001" && r["message"]["text"].as_str().unwrap().contains(port)
            })
            .unwrap_or_else(|| panic!("no PR001 for {port} in {run:#}"));
        (
            result["properties"]["severity"].clone(),
            result["level"].clone(),
        )
    };
    assert_eq!(level_of(":5432/"), ("high".into(), "error".into()));
    assert_eq!(level_of(":40000/"), ("medium".into(), "warning".into()));
}

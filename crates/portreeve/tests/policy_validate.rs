//! `portreeve policy validate` reports every error in a file in one run,
//! each located, in file order, with "did you mean" for misspelt keys and
//! zone names.

mod support;

use support::{Home, stderr, stdout};

/// Seven independent mistakes of different kinds, one per numbered line
/// below.
const MANY_ERRORS: &str = r#"versoin = 1

[zones]
office = ["10.20.0.0/16"]
lab = ["10.30.0.1/16"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["ofice"]

[[rule]]
name = "web"
port = 70000
protocol = "tcp"
zones = ["office"]
onwer = "web-team"

[[rule]]
name = "web"
port = 53
protocol = "udp"
zones = ["office"]
keep = "yes"
"#;

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let home = Home::new();
    let file = home.file("policy.toml", MANY_ERRORS);
    let file = file.to_str().unwrap();
    let out = home.run(&["policy", "validate", file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let located: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("portreeve: error: "))
        .collect();
    let expected = [
        "1:1: unknown field `versoin`",
        "5:8: `10.30.0.1/16` has host bits set",
        "11:10: unknown zone `ofice`",
        "15:8: port 70000 is out of range",
        "18:1: unknown field `onwer`",
        "21:8: duplicate rule name `web`",
        "25:8: invalid type: string \"yes\", expected a boolean",
    ];
    assert_eq!(located.len(), expected.len(), "{err}");
    for (line, want) in located.iter().zip(expected) {
        let want = format!("{file}:{want}");
        assert!(line.starts_with(&want), "expected `{want}`, got `{line}`");
    }
    for hint in [
        "help: did you mean `version`?",
        "help: did you mean `10.30.0.0/16`?",
        "help: did you mean `office`?",
        "help: did you mean `owner`?",
    ] {
        assert!(err.contains(hint), "no `{hint}` in:\n{err}");
    }
    assert!(
        err.contains(&format!("7 errors in {file}; nothing was changed")),
        "{err}"
    );
}

#[test]
fn a_syntax_error_stops_reading_and_is_reported_alone() {
    let home = Home::new();
    let file = home.file(
        "policy.toml",
        "versoin = 1\n[zones\noffice = [\"10.20.0.0/16\"]\n",
    );
    let out = home.run(&["policy", "validate", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("portreeve: error: ").count(), 1, "{err}");
    assert!(err.contains("policy.toml:2:7: "), "{err}");
}

#[test]
fn json_lists_every_error_located_with_its_hint() {
    let home = Home::new();
    let file = home.file("policy.toml", MANY_ERRORS);
    let file = file.to_str().unwrap();
    let out = home.run(&["policy", "validate", "--format", "json", file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "",
        "the errors are the document, not a failure"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["kind"], "portreeve.policy-validation");
    assert_eq!(doc["valid"], false);
    let errors = doc["errors"].as_array().unwrap();
    let located: Vec<(u64, u64)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        located,
        [(1, 1), (5, 8), (11, 10), (15, 8), (18, 1), (21, 8), (25, 8)]
    );
    for e in errors {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["column", "file", "hint", "line", "message"]);
        assert_eq!(e["file"], file);
    }
    assert_eq!(errors[2]["message"], "unknown zone `ofice`");
    assert_eq!(errors[2]["hint"], "did you mean `office`?");
    assert!(errors[3]["hint"].is_null(), "no hint is null");
}

#[test]
fn json_for_a_valid_policy_has_no_errors() {
    let home = Home::new();
    let file = home.file(
        "policy.toml",
        "[zones]\noffice = [\"10.20.0.0/16\"]\n[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\n",
    );
    let out = home.run(&[
        "policy",
        "validate",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["errors"], serde_json::json!([]));
}

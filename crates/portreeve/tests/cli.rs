//! The command line without privileges: bad input is located and changes
//! nothing, generated artefacts exist, exit statuses are as documented.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{portreeve, run, stderr, stdout};

fn example_policy() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/examples/policy.toml")
        .display()
        .to_string()
}

#[test]
fn invalid_policy_is_located_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[zones]\nlab = [\"10.0.0.0/33\"]\n\n[[rule]]\nport = 70000\nprotocol = \"tcp\"\nzones = [\"lab\"]\n",
    )
    .unwrap();
    let out = run(portreeve().args(["check", "--policy", bad.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:2:8: `10.0.0.0/33` is not a network"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:5:8: port 70000 is out of range"),
        "{err}"
    );
    assert!(err.contains("2 errors in"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");

    let validate = run(portreeve().args(["policy", "validate", bad.to_str().unwrap()]));
    assert_eq!(validate.status.code(), Some(2));
    assert_eq!(
        stderr(&validate),
        err,
        "validate reports exactly what check reports"
    );
}

#[test]
fn nagios_reports_unknown_when_the_check_cannot_run() {
    let out = run(portreeve().args([
        "check",
        "--policy",
        "/nonexistent/policy.toml",
        "--format",
        "nagios",
    ]));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stdout(&out)
            .starts_with("PORTREEVE UNKNOWN - cannot read policy file /nonexistent/policy.toml")
    );
}

#[test]
fn the_documented_example_validates() {
    let out = run(portreeve().args(["policy", "validate", &example_policy()]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("valid: 4 zones, 6 rules, 10 bans"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_baseline_round_trips_through_validate() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    std::fs::write(&file, run(portreeve().args(["policy", "baseline"])).stdout).unwrap();
    let out = run(portreeve().args(["policy", "validate", file.to_str().unwrap()]));
    assert!(
        stdout(&out).contains("valid: 1 zone, 3 rules, 7 bans"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_saved_inventories_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("inv.json");
    std::fs::write(
        &garbage,
        "{\n  \"kind\": \"portreeve.inventory\",\n  \"schema_version\": 1,\n  \"host\": 7\n}\n",
    )
    .unwrap();
    let out = run(portreeve().args(["check", "--inventory", garbage.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("inv.json:4:"), "{}", stderr(&out));

    std::fs::write(
        &garbage,
        r#"{"kind": "portreeve.check", "schema_version": 1, "host": "h", "sockets": []}"#,
    )
    .unwrap();
    let out = run(portreeve().args(["check", "--inventory", garbage.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected kind `portreeve.inventory`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check", "--format", "xml"][..],
        &["check", "--fail-on", "severe"],
        &["frobnicate"],
    ] {
        let out = run(portreeve().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(portreeve().args(["completions", shell]));
        assert!(out.status.success());
        let script = stdout(&out);
        assert!(
            script.contains("inventory") && script.contains("all-netns"),
            "{shell}"
        );
    }
    let man = stdout(&run(portreeve().arg("man")));
    assert!(man.contains(".TH portreeve 1"), "{man}");
    assert!(man.contains("state\\-dir"), "global options are documented");

    let dir = tempfile::tempdir().unwrap();
    let out = run(portreeve().args(["man", "--output", dir.path().to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    for page in [
        "portreeve.1",
        "portreeve-check.1",
        "portreeve-inventory.1",
        "portreeve-policy-init.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} missing");
    }
}

#[test]
fn catalogue_lists_at_least_80_services() {
    let out = run(portreeve().args(["catalogue", "--format", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "portreeve.catalogue");
    assert!(doc["entries"].as_array().unwrap().len() >= 80);
    let one = run(portreeve().args(["catalogue", "2375"]));
    assert!(
        stdout(&one).contains("Docker") && stdout(&one).contains("critical"),
        "{}",
        stdout(&one)
    );
    let missing = run(portreeve().args(["catalogue", "1"]));
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn state_dir_comes_from_the_flag_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("from-flag");
    let out = run(portreeve().args([
        "doctor",
        "--format",
        "json",
        "--state-dir",
        flag.to_str().unwrap(),
    ]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["kind"], "portreeve.doctor");
    let state = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "state directory")
        .unwrap();
    assert!(
        state["detail"]
            .as_str()
            .unwrap()
            .starts_with(flag.to_str().unwrap()),
        "{state}"
    );
    assert!(!flag.exists(), "doctor only reports; it creates nothing");

    let env = dir.path().join("from-env");
    let out = run(portreeve()
        .args(["doctor", "--format", "json"])
        .env("PORTREEVE_STATE_DIR", &env));
    assert!(stdout(&out).contains(env.to_str().unwrap()));
}

#[test]
fn policy_comes_from_the_flag_or_the_environment_and_empty_means_unset() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("inventory.json");
    std::fs::write(
        &saved,
        run(portreeve().args(["inventory", "--format", "json"])).stdout,
    )
    .unwrap();
    let origin = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = portreeve();
        cmd.args([
            "check",
            "--format",
            "json",
            "--inventory",
            saved.to_str().unwrap(),
        ]);
        if let Some(f) = flag {
            cmd.args(["--policy", f]);
        }
        if let Some(e) = env {
            cmd.env("PORTREEVE_POLICY", e);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", stderr(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["policy"]["origin"].as_str().unwrap().to_string()
    };
    let example = example_policy();
    assert_eq!(origin(Some(""), None), "<built-in baseline>");
    assert_eq!(origin(Some(&example), None), example);
    assert_eq!(
        origin(Some("/nonexistent.toml"), Some(&example)),
        example,
        "the flag wins"
    );
}

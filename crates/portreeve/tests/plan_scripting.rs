//! `plan` for scripts: `--exit-code` tells "no changes" (0) from "changes
//! pending" (1) and from errors (2, 3), and `--format json` writes the
//! `portreeve.plan` document, checked against docs/schema/plan.v1.json.
//! Everything runs in namespaces the test creates.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{Lab, assert_exit, assert_matches_schema, stdout};

/// The exit status `plan --exit-code` gives when applying would change the
/// firewall.
const CHANGES_PENDING: i32 = 1;

/// A policy opening `port` to the lab's client subnet.
fn policy(port: u16) -> String {
    format!(
        "[zones]\nlab = [\"10.61.0.0/24\"]\n\
         [[rule]]\nname = \"app\"\nport = {port}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
    )
}

/// `plan --policy FILE --exit-code --format json`: the exit status and the
/// document, which must match the schema.
fn plan(lab: &Lab, policy: &str) -> (Option<i32>, Value) {
    plan_with(lab, policy, None)
}

/// [`plan`] through `nft` (a [`support::nft_wrapper`]) instead of the real
/// nft, when given.
fn plan_with(lab: &Lab, policy: &str, nft: Option<&Path>) -> (Option<i32>, Value) {
    let mut cmd = lab
        .home
        .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
    if let Some(nft) = nft {
        cmd.env("PORTREEVE_NFT", nft);
    }
    cmd.args([
        "plan",
        "--policy",
        policy,
        "--exit-code",
        "--format",
        "json",
    ]);
    let out = support::run(&mut cmd);
    let doc: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), support::stderr(&out)));
    assert_matches_schema(&doc, "docs/schema/plan.v1.json");
    (out.status.code(), doc)
}

#[test]
fn exit_code_and_json_tell_no_changes_from_changes_pending() {
    if !support::privileged("exit_code_and_json_tell_no_changes_from_changes_pending") {
        return;
    }
    let lab = Lab::new(61, &["tcp4:0.0.0.0:7070"]);
    let applied = lab.home.file("p.toml", policy(7070));
    let other = lab.home.file("q.toml", policy(7071));
    let (applied, other) = (applied.to_str().unwrap(), other.to_str().unwrap());
    lab.ok(&["apply", "--policy", applied]);

    let (code, doc) = plan(&lab, applied);
    assert_eq!(code, Some(0), "the applied policy again: {doc:#}");
    assert_eq!(doc["kind"], "portreeve.plan");
    assert_eq!(doc["changes"], false);
    assert_eq!(doc["live_generation"], 1);
    assert_eq!(doc["diff"]["added"], Value::Array(vec![]));
    assert_eq!(doc["diff"]["removed"], Value::Array(vec![]));
    assert_eq!(doc["policy"]["origin"], applied);

    let (code, doc) = plan(&lab, other);
    assert_eq!(code, Some(CHANGES_PENDING), "another policy: {doc:#}");
    assert_eq!(doc["changes"], true);
    let lines = |side: &str| -> String {
        doc["diff"][side]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The set elements are the change; the old one is not re-added.
    assert!(
        lines("added").contains("10.61.0.0/24 . tcp . 7071"),
        "{doc:#}"
    );
    assert!(
        lines("removed").contains("10.61.0.0/24 . tcp . 7070"),
        "{doc:#}"
    );
    assert!(!lines("added").contains("tcp . 7070"), "{doc:#}");

    // Without --exit-code, pending changes are still a success.
    let out = lab.portreeve(&["plan", "--policy", other]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Nothing was applied by planning: the applied policy is still current.
    assert_eq!(plan(&lab, applied).0, Some(0));
}

#[test]
fn exit_code_keeps_invalid_input_apart_from_changes() {
    if !support::privileged("exit_code_keeps_invalid_input_apart_from_changes") {
        return;
    }
    let lab = Lab::new(62, &["tcp4:0.0.0.0:7070"]);
    let bad = lab.home.file(
        "bad.toml",
        "[[rule]]\nname = \"app\"\nport = 7070\nprotocol = \"tcp\"\nzones = [\"nowhere\"]\n",
    );
    let bad = bad.to_str().unwrap();
    for format in ["table", "json"] {
        let out = lab.portreeve(&["plan", "--policy", bad, "--exit-code", "--format", format]);
        assert_exit(&out, 2, "nowhere");
        assert!(
            stdout(&out).is_empty(),
            "no document on failure: {}",
            stdout(&out)
        );
    }
}

/// Comparing portreeve's table with the live generation's ruleset loads
/// that ruleset into a scratch namespace. Where that fails, `plan` cannot
/// vouch that applying changes nothing: the plan says the table could not
/// be compared, and `--exit-code` reports changes pending.
#[test]
fn exit_code_reports_a_table_that_cannot_be_compared_as_changes_pending() {
    if !support::privileged("exit_code_reports_a_table_that_cannot_be_compared_as_changes_pending")
    {
        return;
    }
    let lab = Lab::new(63, &["tcp4:0.0.0.0:7070"]);
    let applied = lab.home.file("p.toml", policy(7070));
    let applied = applied.to_str().unwrap();
    lab.ok(&["apply", "--policy", applied]);
    assert_eq!(plan(&lab, applied).0, Some(0), "compared: no changes");

    // An nft that refuses every load but a check: the scratch namespace's.
    let no_scratch = support::nft_wrapper(
        &lab.home,
        "nft-no-scratch",
        r#"    case " $* " in
    *" -c "*) ;;
    *) echo "test: no loading here" >&2; exit 1 ;;
    esac"#,
    );
    let (code, doc) = plan_with(&lab, applied, Some(&no_scratch));
    assert_eq!(code, Some(CHANGES_PENDING), "{doc:#}");
    assert_eq!(doc["changes"], true);
    assert_eq!(doc["diff"]["added"], Value::Array(vec![]), "same ruleset");
    let drift = doc["drift"].as_array().unwrap();
    assert!(
        drift.len() == 1
            && drift[0]
                .as_str()
                .unwrap()
                .starts_with("cannot compare with the kernel:")
            && drift[0].as_str().unwrap().contains("test: no loading here"),
        "{doc:#}"
    );
}

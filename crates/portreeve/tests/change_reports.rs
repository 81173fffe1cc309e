//! What the commands that change things report, for people and for
//! scripts: `apply`, `confirm`, `rollback`, `grant`, `revoke`, `reclaim
//! --apply`, `reclaim --undo`, `identity new`, `propose` and `approve`
//! write their documents with `--format
//! json` (checked against docs/schema/), the hints and footers for people
//! go to standard error while standard output carries only the data, and
//! `plan` starts with a summary in words of the ports that open and close.
//! The firewall tests run in namespaces they create, against the real nft.

mod support;

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{Home, Lab, OFFICE_POLICY, assert_matches_schema, stderr, stdout};

/// A zone for the lab's client subnet, one plain rule per port in `open`,
/// and the on-demand rule `debug` for 9229.
fn policy(subnet: u8, open: &[u16]) -> String {
    let mut text = format!(
        "[zones]\nlab = [\"10.{subnet}.0.0/24\"]\n\
         [[rule]]\nname = \"debug\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
         grant = {{ max_ttl = \"1h\" }}\n"
    );
    for port in open {
        text.push_str(&format!(
            "[[rule]]\nname = \"app{port}\"\nport = {port}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
        ));
    }
    text
}

/// Runs `args` in the lab, which must succeed with standard output exactly
/// one JSON document matching `schema`; returns it and standard error.
#[track_caller]
fn document(lab: &Lab, args: &[&str], schema: &str) -> (Value, String) {
    parsed(args, &lab.portreeve(args), schema)
}

/// `out`, the output of `args`, which must have succeeded with standard
/// output exactly one JSON document matching `schema`: the document and
/// standard error.
#[track_caller]
fn parsed(args: &[&str], out: &Output, schema: &str) -> (Value, String) {
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(out),
        stderr(out)
    );
    let doc: Value = serde_json::from_str(&stdout(out)).unwrap_or_else(|e| {
        panic!(
            "{args:?}: standard output is not one JSON document ({e}):\n{}",
            stdout(out)
        )
    });
    assert_matches_schema(&doc, schema);
    (doc, stderr(out))
}

/// The index of the last ledger entry recording `action`.
fn last_entry(lab: &Lab, action: &str) -> Value {
    lab.home
        .ledger()
        .iter()
        .rev()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} entry in the ledger"))["index"]
        .clone()
}

#[test]
fn apply_confirm_and_rollback_report_generation_deadline_and_ledger_entry() {
    if !support::privileged(
        "apply_confirm_and_rollback_report_generation_deadline_and_ledger_entry",
    ) {
        return;
    }
    let lab = Lab::new(91, &["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:7080"]);
    let first = lab.home.file("p.toml", policy(91, &[7070]));
    // Not 7071: adjacent ports of one zone make one allowance.
    let second = lab.home.file("q.toml", policy(91, &[7070, 7080]));
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());

    let (applied, hint) = document(
        &lab,
        &[
            "apply",
            "--policy",
            first,
            "--confirm-within",
            "10m",
            "--format",
            "json",
        ],
        "docs/schema/apply.v1.json",
    );
    assert_eq!(applied["kind"], "portreeve.apply");
    assert_eq!(applied["generation"]["generation"], 1);
    assert_eq!(applied["generation"]["status"], "pending");
    assert_eq!(applied["confirmation_pending"], true);
    assert!(applied["confirm_deadline"].is_string(), "{applied:#}");
    assert_eq!(
        applied["confirm_deadline"],
        applied["generation"]["confirm_deadline"]
    );
    assert_eq!(applied["restores_if_unconfirmed"], 0);
    assert_eq!(applied["outcome"], Value::Null);
    assert_eq!(applied["counts"]["allowances"], 1, "{applied:#}");
    assert_eq!(applied["ledger_index"], last_entry(&lab, "apply"));
    assert!(
        hint.contains("Run `portreeve confirm` before")
            && hint.contains("otherwise portreeve's table is removed automatically"),
        "the hint belongs on standard error: {hint}"
    );
    assert!(lab.connects(7070));

    let (confirmed, _) = document(
        &lab,
        &["confirm", "--format", "json"],
        "docs/schema/confirm.v1.json",
    );
    assert_eq!(confirmed["kind"], "portreeve.confirm");
    assert_eq!(confirmed["generation"]["generation"], 1);
    assert_eq!(confirmed["generation"]["status"], "confirmed");
    assert_eq!(confirmed["ledger_index"], last_entry(&lab, "confirm"));

    // Without a deadline nothing is pending.
    let (applied, hint) = document(
        &lab,
        &["apply", "--policy", second, "--format", "json"],
        "docs/schema/apply.v1.json",
    );
    assert_eq!(applied["generation"]["generation"], 2);
    assert_eq!(applied["confirmation_pending"], false);
    assert_eq!(applied["confirm_deadline"], Value::Null);
    assert_eq!(applied["restores_if_unconfirmed"], Value::Null);
    assert_eq!(applied["counts"]["allowances"], 2, "{applied:#}");
    assert!(!hint.contains("portreeve confirm"), "{hint}");
    assert!(lab.connects(7080));

    let (rolled, _) = document(
        &lab,
        &["rollback", "--format", "json"],
        "docs/schema/rollback.v1.json",
    );
    assert_eq!(rolled["kind"], "portreeve.rollback");
    assert_eq!(rolled["generation"]["generation"], 3);
    assert_eq!(rolled["generation"]["restores"], 1);
    assert_eq!(rolled["table_removed"], false);
    assert_eq!(rolled["ledger_index"], last_entry(&lab, "rollback"));
    assert!(!lab.connects(7080), "generation 1 does not open 7080");

    let (removed, _) = document(
        &lab,
        &["rollback", "--to", "0", "--format", "json"],
        "docs/schema/rollback.v1.json",
    );
    assert_eq!(removed["table_removed"], true);

    // With --wait the document comes once the watchdog has decided.
    let (waited, hint) = document(
        &lab,
        &[
            "apply",
            "--policy",
            first,
            "--confirm-within",
            "1s",
            "--wait",
            "--format",
            "json",
        ],
        "docs/schema/apply.v1.json",
    );
    assert_eq!(waited["outcome"], "reverted", "{waited:#}");
    assert_eq!(waited["confirmation_pending"], false);
    assert_eq!(waited["restores_if_unconfirmed"], 4, "{waited:#}");
    assert!(
        hint.contains("otherwise generation 4 is restored automatically"),
        "{hint}"
    );
    assert!(
        lab.live_table().is_empty(),
        "generation 4, without a table, is back"
    );
}

#[test]
fn grant_and_revoke_report_what_they_opened_and_closed() {
    if !support::privileged("grant_and_revoke_report_what_they_opened_and_closed") {
        return;
    }
    let lab = Lab::new(92, &["tcp4:0.0.0.0:9229"]);
    let p = lab.home.file("p.toml", policy(92, &[]));
    lab.ok(&["apply", "--policy", p.to_str().unwrap()]);
    assert!(!lab.connects(9229), "on demand: closed until granted");

    let (granted, _) = document(
        &lab,
        &[
            "grant",
            "9229",
            "--from",
            "10.92.0.2",
            "--ttl",
            "30m",
            "--reason",
            "a test",
            "--format",
            "json",
        ],
        "docs/schema/grant.v1.json",
    );
    assert_eq!(granted["kind"], "portreeve.grant");
    assert_eq!(
        granted["keys"],
        serde_json::json!(["10.92.0.2 . tcp . 9229"])
    );
    assert_eq!(granted["rule"], "debug");
    assert_eq!(granted["ttl_seconds"], 1800);
    let expires: jiff::Timestamp = granted["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((1790..=1800).contains(&left), "expires in {left}s");
    assert_eq!(granted["ledger_index"], last_entry(&lab, "grant"));
    assert!(lab.connects(9229));

    let (revoked, _) = document(
        &lab,
        &["revoke", "9229", "--from", "10.92.0.2", "--format", "json"],
        "docs/schema/revoke.v1.json",
    );
    assert_eq!(revoked["kind"], "portreeve.revoke");
    assert_eq!(revoked["key"], "10.92.0.2 . tcp . 9229");
    assert_eq!(revoked["ledger_index"], last_entry(&lab, "revoke"));
    assert!(!lab.connects(9229));
}

#[test]
fn reclaim_and_its_undo_report_the_port_generation_and_ledger_entry() {
    if !support::privileged("reclaim_and_its_undo_report_the_port_generation_and_ledger_entry") {
        return;
    }
    let lab = Lab::new(94, &["tcp4:0.0.0.0:8080"]);
    // 8080 is abandoned two seconds after its last use and is reclaimed.
    let p = lab.home.file(
        "p.toml",
        format!(
            "{}[lifecycle]\ndormant_after = \"1s\"\nabandoned_after = \"2s\"\n\
             reclaim = \"close\"\n",
            policy(94, &[8080])
        ),
    );
    lab.ok(&["apply", "--policy", p.to_str().unwrap()]);
    // The kernel records this first connection as the port's last use.
    assert!(lab.connects(8080));
    std::thread::sleep(Duration::from_millis(2500));
    let current = || lab.json(&["generations", "--format", "json"])["current"].clone();

    let apply = ["reclaim", "--apply", "--format", "json"];
    let (reclaimed, hint) = document(&lab, &apply, "docs/schema/reclaim.v1.json");
    assert_eq!(reclaimed["kind"], "portreeve.reclaim");
    assert_eq!(reclaimed["generation"], current());
    assert_eq!(reclaimed["generation"], 2, "{reclaimed:#}");
    assert_eq!(
        reclaimed["policy_digest"],
        lab.json(&["check", "--format", "json"])["policy"]["digest"]
    );
    let closed = reclaimed["closed"].as_array().unwrap();
    assert_eq!(closed.len(), 1, "{reclaimed:#}");
    assert_eq!(
        closed[0]["key"],
        serde_json::json!({"protocol": "tcp", "port": 8080})
    );
    assert_eq!(closed[0]["ledger_index"], last_entry(&lab, "reclaim"));
    let id = closed[0]["reclaim"].to_string();
    assert!(
        hint.contains(&format!("portreeve reclaim --undo {id}")),
        "the hint goes to standard error: {hint}"
    );
    assert!(!lab.connects(8080), "reclaimed: closed");
    // With nothing left to close it is a document all the same.
    let (nothing, hint) = document(&lab, &apply, "docs/schema/reclaim.v1.json");
    assert_eq!(nothing["closed"], serde_json::json!([]));
    assert_eq!(nothing["generation"], Value::Null);
    assert!(hint.contains("Nothing to reclaim"), "{hint}");

    let (reopened, _) = document(
        &lab,
        &[
            "reclaim", "--undo", &id, "--reason", "a test", "--format", "json",
        ],
        "docs/schema/reclaim-undo.v1.json",
    );
    assert_eq!(reopened["kind"], "portreeve.reclaim-undo");
    assert_eq!(reopened["reclaim"].to_string(), id);
    assert_eq!(reopened["key"], closed[0]["key"]);
    assert_eq!(reopened["generation"], current());
    assert_eq!(reopened["generation"], 3, "{reopened:#}");
    assert_eq!(reopened["ledger_index"], last_entry(&lab, "reclaim.undo"));
    assert!(lab.connects(8080), "undone: open again");
}

#[test]
fn tables_keep_their_footers_on_standard_error() {
    if !support::privileged("tables_keep_their_footers_on_standard_error") {
        return;
    }
    let lab = Lab::new(93, &["tcp4:0.0.0.0:9229"]);
    let p = lab.home.file("p.toml", policy(93, &[]));
    lab.ok(&["apply", "--policy", p.to_str().unwrap()]);
    lab.ok(&[
        "grant",
        "9229",
        "--from",
        "10.93.0.2",
        "--ttl",
        "30m",
        "--reason",
        "a test",
    ]);
    for (args, row) in [
        (&["generations"][..], "applied"),
        (&["grants"], "10.93.0.2 . tcp . 9229"),
        (&["lifecycle"], "WHY NOT CLOSED"),
    ] {
        let out = lab.portreeve(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let (rows, footer) = (stdout(&out), stderr(&out));
        assert!(rows.contains(row), "{args:?}: {rows}");
        assert!(
            !rows.contains("policy in effect"),
            "{args:?}: the footer is not a row:\n{rows}"
        );
        assert!(
            footer.contains("policy in effect: "),
            "{args:?}: the footer goes to standard error:\n{footer}"
        );
    }

    // `check`'s hint to look closer goes with them.
    let none = lab
        .home
        .file("none.toml", "[zones]\nlab = [\"10.93.0.0/24\"]\n");
    let out = lab.portreeve(&["check", "--policy", none.to_str().unwrap()]);
    let hint = "Run with --details for evidence and remediation";
    assert!(stdout(&out).contains("PR001"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(hint), "{}", stdout(&out));
    assert!(stderr(&out).contains(hint), "{}", stderr(&out));
}

/// The summary lines of `plan --format json`.
fn summary(lab: &Lab, candidate: &str) -> Vec<String> {
    let (doc, _) = document(
        lab,
        &["plan", "--policy", candidate, "--format", "json"],
        "docs/schema/plan.v1.json",
    );
    doc["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_says_which_ports_open_and_close_before_the_diff() {
    if !support::privileged("plan_says_which_ports_open_and_close_before_the_diff") {
        return;
    }
    let lab = Lab::new(94, &["tcp4:0.0.0.0:7070", "tcp4:0.0.0.0:9229"]);
    let zone = "zone lab (10.94.0.0/24)";
    let first = lab.home.file("p.toml", policy(94, &[7070]));
    let second = lab.home.file("q.toml", policy(94, &[7071]));
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());

    // A first plan: nothing is live, every port opens.
    let text = lab.ok(&["plan", "--policy", first]);
    let opens = format!("Applying this policy:\n  opens tcp/7070 to {zone}\n");
    assert!(text.starts_with(&opens), "{text}");
    assert!(
        text.find(&opens).unwrap() < text.find("\n+").expect("a diff"),
        "the summary comes before the diff:\n{text}"
    );
    assert_eq!(summary(&lab, first), [format!("opens tcp/7070 to {zone}")]);

    lab.ok(&["apply", "--policy", first]);
    lab.ok(&[
        "grant",
        "9229",
        "--from",
        "10.94.0.2",
        "--ttl",
        "30m",
        "--reason",
        "a test",
    ]);
    lab.ok(&["block", "10.94.0.9", "--ttl", "20m", "--reason", "a test"]);
    // After the apply, against the policy in effect, with its grant and
    // its block.
    let said = summary(&lab, second);
    assert_eq!(said.len(), 4, "{said:#?}");
    assert_eq!(said[0], format!("closes tcp/7070 (was open to {zone})"));
    assert_eq!(said[1], format!("opens tcp/7071 to {zone}"));
    assert!(
        said[2].starts_with("keeps 1 grant (tcp/9229 for 10.94.0.2 until "),
        "{said:#?}"
    );
    assert!(
        said[3].starts_with("keeps 1 block (10.94.0.9/32 until "),
        "{said:#?}"
    );
    let text = lab.ok(&["plan", "--policy", second]);
    assert!(
        text.starts_with(&format!(
            "Applying this policy:\n  closes tcp/7070 (was open to {zone})\n  opens tcp/7071 to {zone}\n"
        )),
        "{text}"
    );
    assert_eq!(
        summary(&lab, first)[0],
        "opens and closes no port",
        "the policy in effect again"
    );
}

#[test]
fn identity_propose_and_approve_report_what_they_recorded() {
    let home = Home::new();
    let run = |args: &[&str], schema: &str| parsed(args, &home.run(args), schema);
    let (created, _) = run(
        &["identity", "new", "ann", "--format", "json"],
        "docs/schema/identity.v1.json",
    );
    assert_eq!(created["kind"], "portreeve.identity");
    assert_eq!(created["name"], "ann");
    assert!(
        std::path::Path::new(created["private_key"].as_str().unwrap()).is_file(),
        "{created:#}"
    );
    run(
        &["identity", "new", "ben", "--format", "json"],
        "docs/schema/identity.v1.json",
    );

    let policy = home.file("p.toml", OFFICE_POLICY);
    let args = [
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        "a test",
        "--identity",
        "ann",
        "--format",
        "json",
    ];
    let (proposed, hint) = run(&args, "docs/schema/proposal.v1.json");
    assert_eq!(proposed["kind"], "portreeve.proposal");
    assert_eq!(proposed["proposal"]["id"], 1);
    assert_eq!(proposed["proposal"]["proposer"], "ann");
    assert_eq!(proposed["approvals_needed"], 1);
    assert!(
        hint.contains("portreeve approve 1 --identity NAME"),
        "the hint goes to standard error: {hint}"
    );
    let entries = home.ledger();
    let proposal_entry = &entries[entries.len() - 1];
    assert_eq!(
        proposed["proposal"]["ledger_index"],
        proposal_entry["index"]
    );

    let (approved, _) = run(
        &["approve", "1", "--identity", "ben", "--format", "json"],
        "docs/schema/approval.v1.json",
    );
    assert_eq!(approved["kind"], "portreeve.approval");
    assert_eq!(approved["valid_approvals"], serde_json::json!(["ben"]));
    assert_eq!(approved["approved"], true);
    assert_eq!(
        approved["ledger_index"],
        home.ledger().last().unwrap()["index"]
    );
    assert_eq!(
        approved["proposal"]["approvals"][0]["ledger_index"],
        approved["ledger_index"]
    );

    // The text report keeps the hint off standard output too.
    let out = home.run(&args[..6]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Proposal 2 recorded"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("portreeve approve"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("portreeve approve 2"),
        "{}",
        stderr(&out)
    );
}

//! `propose` simulates the proposed policy against the recorded use and the
//! proposal carries the result: `propose`, `proposals` and `approve` show
//! what it would break (approvers see it before they approve), their JSON
//! documents carry it, and `--since` sets the window of use replayed.
//! Nothing is enforced here, so every recorded pair reaches the host now.

mod support;

use serde_json::{Value, json};
use support::{Home, assert_exit, assert_matches_schema, assert_ok, stderr, stdout, testkit};

/// 8080 for the lab, nothing else: 7070 is closed to everyone.
const LAB_ONLY: &str = "[zones]\nlab = [\"10.0.0.0/24\"]\n\n[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";

/// LAB_ONLY with 7070 open to the partners too: it breaks nothing used.
const WITH_PARTNERS: &str = "[zones]\nlab = [\"10.0.0.0/24\"]\npartners = [\"198.51.100.0/24\"]\n\n[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\n[[rule]]\nname = \"app\"\nport = 7070\nprotocol = \"tcp\"\nzones = [\"partners\"]\n";

/// One recorded use as a JSON line.
fn used(source: &str, port: u16, connections: u64, last_seen: &str) -> String {
    format!(
        r#"{{"source":"{source}","protocol":"tcp","port":{port},"connections":{connections},"first_seen":"2025-01-01T00:00:00Z","last_seen":"{last_seen}"}}"#
    ) + "\n"
}

/// `args` must succeed with one JSON document matching `schema`.
#[track_caller]
fn document(home: &Home, args: &[&str], schema: &str) -> (Value, String) {
    let out = home.run(args);
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, schema);
    (doc, stderr(&out))
}

/// `propose POLICY` as ann, simulated against `usage`, with `extra`.
fn propose_args<'a>(policy: &'a str, usage: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "propose",
        policy,
        "--reason",
        "tighten",
        "--identity",
        "ann",
        "--usage",
        usage,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn proposals_show_what_they_would_break_to_their_approvers() {
    let home = Home::new();
    for name in ["ann", "ben"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    let recent = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap()
        .to_string();
    let usage = home.file(
        "usage.jsonl",
        [
            used("198.51.100.7/32", 7070, 12, &recent),
            used("10.0.0.5/32", 8080, 30, &recent),
            // Outside the default 30-day window.
            used("203.0.113.9/32", 9090, 4, "2025-06-01T00:00:00Z"),
        ]
        .concat(),
    );
    let usage = usage.to_str().unwrap();
    let lab_only = home.file("lab-only.toml", LAB_ONLY);
    let lab_only = lab_only.to_str().unwrap();
    let propose = |policy, extra| propose_args(policy, usage, extra);

    // 1: breaks the partner's use of 7070, with its connections.
    let (doc, _) = document(
        &home,
        &propose(lab_only, &["--format", "json"]),
        "docs/schema/proposal.v1.json",
    );
    let sim = &doc["proposal"]["simulation"];
    assert_eq!(doc["proposal"]["simulation_error"], Value::Null);
    assert_eq!(
        sim["pairs"], 2,
        "the old pair is outside --since 30d: {sim:#}"
    );
    assert_eq!(
        sim["blocked"],
        json!([{
            "source": "198.51.100.7/32",
            "protocol": "tcp",
            "port": 7070,
            "connections": 12,
            "last_seen": recent,
            "verdict": "not allowed",
        }])
    );
    assert_eq!(sim["blocked_truncated"], 0);
    assert_eq!(sim["opened"], json!([]));

    // 2: a longer window replays the old pair too, which it also breaks.
    let (doc, _) = document(
        &home,
        &propose(lab_only, &["--since", "2025-01-01", "--format", "json"]),
        "docs/schema/proposal.v1.json",
    );
    let sim = &doc["proposal"]["simulation"];
    assert_eq!(sim["pairs"], 3);
    assert_eq!(sim["since"], "2025-01-01T00:00:00Z");
    let ports: Vec<&Value> = sim["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["port"])
        .collect();
    assert_eq!(ports, [7070, 9090]);

    // 3: breaks nothing, and says so.
    let with_partners = home.file("with-partners.toml", WITH_PARTNERS);
    let out = home.run(&propose(with_partners.to_str().unwrap(), &[]));
    assert_ok(&out);
    assert!(
        stdout(&out)
            .contains("proposal 3 would break no used pair (of 2 recorded pairs used since"),
        "{}",
        stdout(&out)
    );

    // The list names what each would break, for people and for scripts.
    let out = home.run(&["proposals"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("WOULD BREAK"), "{text}");
    let row = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no row {id}: {text}"))
    };
    assert!(row("1 ").contains("1 used pair "), "{text}");
    assert!(row("2 ").contains("2 used pairs"), "{text}");
    assert!(row("3 ").contains("0 used pairs"), "{text}");
    assert!(
        text.contains("proposal 1 would break 1 used pair (of 2 recorded pairs used since ")
            && text.contains("): 198.51.100.7/32 -> 7070/tcp (12 connections, not allowed)\n"),
        "{text}"
    );
    assert!(!text.contains("proposal 3 would break"), "{text}");
    let out = home.run(&["proposals", "--format", "json"]);
    assert_ok(&out);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        list["proposals"][0]["simulation"]["blocked"][0]["port"],
        7070
    );
    assert_eq!(list["proposals"][2]["simulation"]["blocked"], json!([]));

    // The approver is told before approving.
    let (approved, warning) = document(
        &home,
        &["approve", "2", "--identity", "ben", "--format", "json"],
        "docs/schema/approval.v1.json",
    );
    assert_eq!(approved["approved"], true);
    assert_eq!(approved["proposal"]["simulation"]["pairs"], 3);
    assert!(
        warning.contains("portreeve: proposal 2 would break 2 used pairs (of 3 recorded pairs used since 2025-01-01 00:00 UTC): 198.51.100.7/32 -> 7070/tcp (12 connections, not allowed), 203.0.113.9/32 -> 9090/tcp (4 connections, not allowed)\n"),
        "{warning}"
    );
}

#[test]
fn a_proposal_whose_simulation_cannot_run_is_recorded_with_the_reason() {
    let home = Home::new();
    for name in ["ann", "ben"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    let policy = home.file("lab-only.toml", LAB_ONLY);
    let missing = home.path().join("no-such-usage.jsonl");
    let out = home.run(&[
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        "tighten",
        "--identity",
        "ann",
        "--usage",
        missing.to_str().unwrap(),
    ]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("Proposal 1 recorded")
            && stdout(&out).contains("proposal 1 was not simulated: ")
            && stdout(&out).contains("no-such-usage.jsonl"),
        "{}",
        stdout(&out)
    );
    let out = home.run(&["proposals"]);
    assert!(stdout(&out).contains("not simulated"), "{}", stdout(&out));
    let out = home.run(&["approve", "1", "--identity", "ben"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("portreeve: proposal 1 was not simulated: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_policy_and_the_use_cannot_both_come_from_standard_input() {
    let home = Home::new();
    assert_ok(&home.run(&["identity", "new", "ann"]));
    // The policy is there to be read; the use would find nothing left.
    let out = testkit::run_with_input(
        home.command(std::process::Command::new(env!("CARGO_BIN_EXE_portreeve")))
            .args([
                "propose",
                "-",
                "--usage",
                "-",
                "--reason",
                "r",
                "--identity",
                "ann",
            ]),
        LAB_ONLY.as_bytes(),
    );
    assert_exit(
        &out,
        2,
        "the policy and --usage cannot both be read from standard input",
    );
    assert!(
        !home.state().join("change/proposals/1.json").exists(),
        "nothing was proposed"
    );
}

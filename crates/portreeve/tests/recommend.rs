//! `portreeve recommend` from a policy file and recorded use in JSON lines:
//! the recommended policy passes `policy validate`, drops what nobody used,
//! narrows sources, and `--format diff` shows the change.

mod support;

use support::{Home, assert_exit, assert_ok, stdout};

const POLICY: &str = r#"version = 1

[zones]
public = ["0.0.0.0/0", "::/0"]
private = ["10.0.0.0/8", "fd00::/8"]
admins = ["10.9.0.0/16"]

[enforce]
management_zone = "admins"

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["admins"]

# Only the app servers talk to it.
[[rule]]
name = "postgres"
port = 5432
protocol = "tcp"
zones = ["private"]

[[rule]]
name = "legacy"
port = 8080
protocol = "tcp"
zones = ["private"]
"#;

/// One line of recorded use, last seen `age_days` ago.
fn used(source: &str, port: u16, age_days: i64) -> String {
    let last = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * age_days);
    let first = last - jiff::SignedDuration::from_hours(1);
    serde_json::json!({
        "source": source, "protocol": "tcp", "port": port, "connections": 4,
        "first_seen": first, "last_seen": last,
    })
    .to_string()
}

fn usage_file(home: &Home, lines: &[String]) -> String {
    let path = home.file("usage.jsonl", lines.join("\n") + "\n");
    path.display().to_string()
}

#[test]
fn the_recommended_policy_validates_and_the_diff_shows_the_change() {
    let home = Home::new();
    let policy = home.file("policy.toml", POLICY).display().to_string();
    let usage = usage_file(
        &home,
        &[
            used("10.4.5.6/32", 5432, 1),
            used("10.4.5.7/32", 5432, 2),
            // Outside the window: does not keep `legacy`.
            used("10.4.5.8/32", 8080, 40),
        ],
    );
    let out = home.run(&["recommend", "--policy", &policy, "--usage", &usage]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("# recommend: dropped rule `legacy`"),
        "{text}"
    );
    assert!(!text.contains(r#"name = "legacy""#), "{text}");
    assert!(
        text.contains("# Only the app servers talk to it.\n# recommend: kept; sources narrowed to zone `seen-postgres` — 8 connections from 2 sources"),
        "{text}"
    );
    assert!(
        text.contains(r#"seen-postgres = ["10.4.5.0/24"]"#),
        "{text}"
    );
    assert!(
        text.contains("# recommend: kept as written (the management zone's SSH)"),
        "{text}"
    );
    let recommended = home.file("recommended.toml", &text).display().to_string();
    let validated = home.run(&["policy", "validate", &recommended]);
    assert_ok(&validated);
    assert!(
        stdout(&validated).contains("valid: 4 zones, 2 rules"),
        "{}",
        stdout(&validated)
    );

    let out = home.run(&[
        "recommend",
        "--policy",
        &policy,
        "--usage",
        &usage,
        "--format",
        "diff",
    ]);
    assert_ok(&out);
    let diff = stdout(&out);
    assert!(
        diff.starts_with(&format!("--- {policy}\n+++ recommended\n")),
        "{diff}"
    );
    assert!(diff.contains("\n-name = \"legacy\"\n"), "{diff}");
    assert!(
        diff.contains("\n-zones = [\"private\"]\n+zones = [\"seen-postgres\"]\n"),
        "{diff}"
    );
    assert!(!diff.contains("-name = \"ssh\""), "{diff}");
}

#[test]
fn no_use_recorded_in_the_window_is_refused_not_a_policy_that_closes_everything() {
    let home = Home::new();
    let policy = home.file("policy.toml", POLICY).display().to_string();
    let usage = usage_file(&home, &[used("10.4.5.6/32", 5432, 45)]);
    let out = home.run(&["recommend", "--policy", &policy, "--usage", &usage]);
    assert_exit(&out, 2, "no use was recorded since");
    assert_eq!(stdout(&out), "");
    // A wider window sees it.
    let out = home.run(&[
        "recommend",
        "--policy",
        &policy,
        "--usage",
        &usage,
        "--since",
        "60d",
    ]);
    assert_ok(&out);
}

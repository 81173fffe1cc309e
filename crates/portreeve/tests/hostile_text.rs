//! Text that came from a user or a file never reaches the terminal raw: a
//! `--reason` or a policy line carrying terminal escapes, bells or newlines
//! is shown escaped (`\e`, `\x07`, `\n`) in tables and error messages,
//! while JSON keeps the exact text. A policy that is not UTF-8 gets a
//! located error like any other mistake. Runs without privileges.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{Home, assert_ok, run, stderr, stdout};

/// A reason that would retitle the terminal window, ring the bell, turn
/// the rest of the screen red and forge a second line.
const HOSTILE_REASON: &str = "\u{1b}]0;pwned\u{7}\u{1b}[31mred\nsecond line";
/// The same, as portreeve shows it.
const SHOWN_REASON: &str = r"\e]0;pwned\x07\e[31mred\nsecond line";

const POLICY: &str = r#"
[zones]
office = ["10.20.1.0/24"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]
"#;

/// `portreeve --state-dir STATE ARGS PATH`, with a path that need not be
/// UTF-8.
fn run_on(home: &Home, args: &[&str], path: &Path) -> Output {
    run(home.command(support::portreeve()).args(args).arg(path))
}

/// Asserts `bytes` carries no control character but newlines between
/// lines: no ESC, BEL, other C0 control, DEL or C1 control.
#[track_caller]
fn assert_no_controls(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<String> = text
        .chars()
        .filter(|&c| c != '\n' && c.is_control())
        .map(|c| format!("{:?}", c))
        .collect();
    assert!(
        bad.is_empty(),
        "{what} carries raw control characters {bad:?}:\n{}",
        text.escape_debug()
    );
}

/// The one line of `text` that shows the hostile reason, escaped, whole.
#[track_caller]
fn row_with_reason<'a>(what: &str, text: &'a str) -> &'a str {
    let row = text
        .lines()
        .find(|l| l.contains(r"\e]0;pwned"))
        .unwrap_or_else(|| panic!("{what} does not show the reason escaped:\n{text}"));
    assert!(
        row.contains(SHOWN_REASON),
        "{what}: the row does not show the whole reason on one line as {SHOWN_REASON}: {row}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("second line")),
        "{what}: the reason's newline started a line of its own:\n{text}"
    );
    row
}

#[test]
fn reasons_are_shown_escaped_in_tables_and_exact_in_json() {
    let home = Home::new();
    assert_ok(&home.run(&["identity", "new", "alice"]));
    let policy = home.file("p.toml", POLICY.as_bytes());
    assert_ok(&home.run(&[
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        HOSTILE_REASON,
        "--identity",
        "alice",
    ]));

    let proposals = home.run(&["proposals"]);
    assert_ok(&proposals);
    assert_no_controls("proposals", &proposals.stdout);
    let text = stdout(&proposals);
    let row = row_with_reason("proposals", &text);
    assert!(row.starts_with('1'), "the proposal's own row: {row}");

    let log = home.run(&["ledger", "log"]);
    assert_ok(&log);
    assert_no_controls("ledger log", &log.stdout);
    let text = stdout(&log);
    let row = row_with_reason("ledger log", &text);
    assert!(row.contains("policy.propose"), "{row}");

    // JSON is a contract: the exact text, escaped by JSON's own rules.
    let json = home.run(&["ledger", "log", "--format", "json"]);
    assert_ok(&json);
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    let entry = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "policy.propose")
        .expect("the proposal is recorded");
    assert_eq!(entry["reason"], HOSTILE_REASON);
    let json = home.run(&["proposals", "--format", "json"]);
    assert_ok(&json);
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["proposals"][0]["reason"], HOSTILE_REASON);
}

#[test]
fn policy_lines_with_terminal_escapes_are_shown_escaped() {
    let home = Home::new();
    // TOML refuses control characters in strings, so the error points at
    // the escape itself and the snippet shows its line.
    let bad = home.file(
        "bad.toml",
        b"[zones]\noffice = [\"10.20.1.0/24\"]\n\n[[rule]]\nname = \"\x1b]0;pwned\x07\x1b[31mssh\"\nport = 22\n",
    );
    let out = run_on(&home, &["policy", "validate"], &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_no_controls("policy validate's error", &out.stderr);
    let err = stderr(&out);
    assert!(err.contains("bad.toml:5:9: "), "{err}");
    assert!(err.contains(r#"name = "\e]0;pwned\x07\e[31mssh""#), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    // miette's header agrees with ours on where the error is.
    assert!(err.contains("bad.toml:5:9]"), "{err}");

    // A file name with an escape in it is escaped too.
    let named = home.file("bad\x1b[2J.toml", b"[[rule]]\nport = 70000\n");
    let out = run_on(&home, &["policy", "validate"], &named);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_no_controls("policy validate's error", &out.stderr);
    assert!(stderr(&out).contains(r"bad\e[2J.toml:"), "{}", stderr(&out));
}

#[test]
fn the_caret_stays_under_the_error_after_an_escape() {
    let home = Home::new();
    // TOML allows C1 controls in strings; U+009B is a one-character CSI.
    // It is shown as `\u{9b}` (six characters), and the caret must still
    // point at the unknown field after it.
    let bad = home.file(
        "bad.toml",
        "[zones]\noffice = [\"10.20.1.0/24\"]\n[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\nservice = { unit = \"\u{9b}2J\", proces = \"sshd\" }\n"
            .as_bytes(),
    );
    let out = run_on(&home, &["policy", "validate"], &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_no_controls("policy validate's error", &out.stderr);
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:7:27: unknown field `proces`"),
        "{err}"
    );
    assert!(err.contains("bad.toml:7:27]"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(r#"service = { unit = "\u{9b}2J", proces"#))
        .unwrap_or_else(|| panic!("the line is shown escaped: {err}"));
    let shown = lines[at].chars().collect::<Vec<_>>();
    let under = lines[at + 1].chars().collect::<Vec<_>>();
    let column = under
        .iter()
        .position(|&c| c == '─' || c == '┬')
        .unwrap_or_else(|| panic!("no underline: {err}"));
    let word: String = shown[column..column + 6].iter().collect();
    assert_eq!(
        word, "proces",
        "the underline starts under the field:\n{err}"
    );
}

#[test]
fn a_policy_that_is_not_utf8_gets_a_located_error() {
    let home = Home::new();
    let bad = home.file("bad.toml", b"[zones]\nlab = [\"10.0.0.0/8\"] # caf\xe9\n");
    let out = run_on(&home, &["policy", "validate"], &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_no_controls("policy validate's error", &out.stderr);
    let err = stderr(&out);
    // `lab = ["10.0.0.0/8"] # caf` is 26 characters: the bad byte is the 27th.
    assert!(err.contains("bad.toml:2:27: "), "{err}");
    assert!(err.contains("0xE9"), "the byte is named: {err}");
    assert!(err.contains("UTF-8"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");

    // The same through a command that would act on it: nothing is recorded.
    let out = run_on(&home, &["check", "--policy"], &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.toml:2:27: "), "{}", stderr(&out));
}

//! A ledger whose history was changed, cut or stripped of its checkpoints,
//! through the CLI: `ledger verify` fails (exit 1) and says what, and every
//! command that would append to it or sign over it refuses (exit 3) and
//! changes nothing. A link planted in the ledger directory is refused too.

mod support;

use std::path::{Path, PathBuf};

use support::{Home, assert_exit, assert_ok};

/// A state directory whose ledger records three identities, each with its
/// checkpoint.
fn with_ledger() -> Home {
    let home = Home::new();
    for name in ["ann", "ben", "cat"] {
        assert_ok(&home.run(&["identity", "new", name]));
    }
    assert_ok(&home.run(&["ledger", "verify"]));
    home
}

fn ledger_dir(home: &Home) -> PathBuf {
    home.state().join("ledger")
}

fn read(home: &Home, name: &str) -> Option<Vec<u8>> {
    std::fs::read(ledger_dir(home).join(name)).ok()
}

/// Verification fails saying `says`; signing and recording refuse with exit
/// 3, and the entries and checkpoints stay as they were.
#[track_caller]
fn refused(home: &Home, says: &str) {
    let out = home.run(&["ledger", "verify"]);
    assert_exit(&out, 1, "Ledger verification FAILED");
    assert_exit(&out, 1, says);
    let before = (read(home, "entries.jsonl"), read(home, "checkpoints.jsonl"));
    for args in [
        &["ledger", "checkpoint"][..],
        &["identity", "new", "mallory"],
    ] {
        let out = home.run(args);
        assert_exit(&out, 3, "does not match its signed checkpoints");
        assert_exit(&out, 3, says);
    }
    assert_eq!(
        (read(home, "entries.jsonl"), read(home, "checkpoints.jsonl")),
        before,
        "a refusal changed the ledger"
    );
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn deleting_the_checkpoints_is_refused() {
    let home = with_ledger();
    std::fs::remove_file(ledger_dir(&home).join("checkpoints.jsonl")).unwrap();
    refused(&home, "checkpoints.jsonl lacks");
}

#[test]
fn editing_an_entry_and_deleting_the_checkpoints_is_refused() {
    let home = with_ledger();
    let path = ledger_dir(&home).join("entries.jsonl");
    let mut l = lines(&path);
    l[1] = l[1].replace("\"actor\":\"", "\"actor\":\"x");
    write_lines(&path, &l);
    std::fs::remove_file(ledger_dir(&home).join("checkpoints.jsonl")).unwrap();
    let out = home.run(&["ledger", "verify"]);
    assert_exit(&out, 1, "FAILED at position 1");
    refused(
        &home,
        "the copy of the latest checkpoint in checkpoint.latest",
    );
}

#[test]
fn cutting_the_last_entry_and_its_checkpoint_is_refused() {
    let home = with_ledger();
    let entries = ledger_dir(&home).join("entries.jsonl");
    let mut l = lines(&entries);
    l.pop();
    write_lines(&entries, &l);
    let checkpoints = ledger_dir(&home).join("checkpoints.jsonl");
    let mut c = lines(&checkpoints);
    c.pop();
    write_lines(&checkpoints, &c);
    refused(&home, "were removed");
}

#[test]
fn a_link_planted_in_the_ledger_is_refused_and_its_target_left_alone() {
    let home = with_ledger();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("entries.jsonl");
    std::fs::rename(ledger_dir(&home).join("entries.jsonl"), &target).unwrap();
    std::os::unix::fs::symlink(&target, ledger_dir(&home).join("entries.jsonl")).unwrap();
    let before = std::fs::read(&target).unwrap();
    for args in [
        &["ledger", "checkpoint"][..],
        &["identity", "new", "mallory"],
    ] {
        assert_exit(&home.run(args), 3, "symbolic link");
    }
    assert_exit(&home.run(&["ledger", "verify"]), 3, "symbolic link");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        before,
        "the link's target was written"
    );
}

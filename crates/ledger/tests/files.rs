//! The ledger's files belong to the ledger alone: its directory is created
//! 0700 and every file 0600 whatever the umask, and a symbolic link
//! planted in its place is never followed — opening, appending and
//! verifying refuse it and leave the link's target alone.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use portreeve_ledger::store::PERSIST_EVERY;
use portreeve_ledger::{Draft, Ledger, Trust};

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn draft(i: u64) -> Draft {
    Draft::new("grant", "alice", format!("entry {i}"))
}

/// A ledger with every kind of file it writes: entries, checkpoints, keys,
/// the subtree cache and its fsynced extent.
fn full_ledger(dir: &Path) {
    let ledger = Ledger::open(dir).unwrap();
    ledger
        .append_all((0..PERSIST_EVERY + 3).map(draft).collect())
        .unwrap();
    ledger.checkpoint().unwrap();
}

#[test]
fn under_umask_0_the_directory_is_0700_and_every_file_0600() {
    rustix::process::umask(rustix::fs::Mode::empty());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/ledger");
    full_ledger(&dir);
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    let mut names = Vec::new();
    for file in fs::read_dir(&dir).unwrap() {
        let file = file.unwrap();
        names.push(file.file_name().into_string().unwrap());
        assert_eq!(
            mode(&file.path()),
            0o600,
            "{} is {:o}",
            file.path().display(),
            mode(&file.path())
        );
    }
    names.sort();
    for expected in [
        "checkpoints.jsonl",
        "entries.jsonl",
        "log.key",
        "log.pub",
        "tree.bin",
        "tree.head",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn an_existing_ledger_is_tightened_when_opened() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    full_ledger(&dir);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    for name in ["entries.jsonl", "checkpoints.jsonl", "tree.bin"] {
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o666)).unwrap();
    }
    let ledger = Ledger::open(&dir).unwrap();
    ledger.append(draft(0)).unwrap();
    ledger.checkpoint().unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["entries.jsonl", "checkpoints.jsonl", "tree.bin"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

/// Replaces `name` in the ledger `dir` with a symbolic link to a file
/// outside it holding what the file held (nothing, if it did not exist),
/// so that a ledger following the link would find it plausible and write
/// into it; returns the target and its content.
fn plant_link(dir: &Path, outside: &Path, name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let target = outside.join(format!("target-of-{name}"));
    let content = fs::read(dir.join(name)).unwrap_or_default();
    fs::write(&target, &content).unwrap();
    let _ = fs::remove_file(dir.join(name));
    symlink(&target, dir.join(name)).unwrap();
    (target, content)
}

#[test]
fn a_planted_link_is_refused_and_its_target_left_alone() {
    for name in [
        "entries.jsonl",
        "checkpoints.jsonl",
        "tree.bin",
        "tree.head",
        "log.key",
        "log.pub",
        "lock",
        "checkpoint.latest",
    ] {
        for existing in [true, false] {
            let root = tempfile::tempdir().unwrap();
            let outside = tempfile::tempdir().unwrap();
            let dir = root.path().join("ledger");
            if existing {
                full_ledger(&dir);
            } else {
                fs::create_dir(&dir).unwrap();
            }
            let (target, content) = plant_link(&dir, outside.path(), name);
            let outcome = Ledger::open(&dir).and_then(|ledger| {
                ledger.append_all((0..PERSIST_EVERY).map(draft).collect())?;
                ledger.checkpoint()
            });
            let what = format!("{name} as a link (existing ledger: {existing})");
            if name == "log.pub" && !existing {
                // A new log's public key is written by renaming a new file
                // over the name, which replaces the link itself.
                outcome.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(fs::symlink_metadata(dir.join(name)).unwrap().is_file());
            } else {
                let err = match outcome {
                    Ok(_) => panic!("{what}: opened, appended and signed"),
                    Err(e) => e,
                };
                assert!(
                    err.to_string().contains("link"),
                    "{what}: the error does not say why: {err}"
                );
            }
            assert_eq!(
                fs::read(&target).unwrap(),
                content,
                "{what}: the target was written"
            );
        }
    }
}

#[test]
fn readers_do_not_follow_links_either() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let dir = root.path().join("ledger");
    full_ledger(&dir);
    let trust = Trust {
        log: portreeve_ledger::store::stored_verifier(&dir).unwrap(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    // A copy of the real entries outside, linked in: still refused, as a
    // reader cannot tell where the link's target came from.
    let target = outside.path().join("entries.jsonl");
    fs::rename(dir.join("entries.jsonl"), &target).unwrap();
    symlink(&target, dir.join("entries.jsonl")).unwrap();
    let err = portreeve_ledger::store::entries_bytes(&dir).unwrap_err();
    assert!(err.to_string().contains("link"), "{err}");
    let err = portreeve_ledger::bundle::verify_dir(&dir, &trust).unwrap_err();
    assert!(err.to_string().contains("link"), "{err}");
}

#[test]
fn a_ledger_directory_that_is_a_link_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    symlink(elsewhere.path(), root.path().join("ledger")).unwrap();
    let err = match Ledger::open(&root.path().join("ledger")) {
        Ok(_) => panic!("opened a ledger through a link"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("link"), "{err}");
    assert_eq!(
        fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "wrote through the link"
    );
}

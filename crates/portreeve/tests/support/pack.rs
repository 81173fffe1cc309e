//! What the evidence-pack tests (host and fleet) share: copying a pack as
//! an auditor would, running portreeve where it has never run, and
//! tampering with a pack's MANIFEST as someone covering their tracks would.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::{portreeve, run, stderr, stdout};

/// Copies the tree at `from` to `to` (created), as an auditor's copy would.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `portreeve --state-dir STATE ARGS` on a machine that has never run
/// portreeve: an empty state directory, no identity or server token from
/// the environment.
pub fn elsewhere(state: &Path, args: &[&str]) -> Output {
    run(portreeve()
        .arg("--state-dir")
        .arg(state)
        .env_remove("PORTREEVE_IDENTITY")
        .env_remove("PORTREEVE_TOKEN")
        .args(args))
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `evidence verify DIR --key KEY` elsewhere, which must fail (exit 1)
/// and name every one of `says`: what it printed.
#[track_caller]
pub fn fails(state: &Path, dir: &Path, key: &str, says: &[&str]) -> String {
    let out = elsewhere(
        state,
        &["evidence", "verify", dir.to_str().unwrap(), "--key", key],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("FAILED verification"), "{text}");
    for s in says {
        assert!(text.contains(s), "expected {s:?} in: {text}");
    }
    text
}

/// Rewrites MANIFEST's line for `rel` with the file's current SHA-256.
pub fn rehash(dir: &Path, rel: &str) {
    let out = run(Command::new("sha256sum").arg(rel).current_dir(dir));
    let fresh = stdout(&out);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    let updated: String = manifest
        .lines()
        .map(|l| {
            if l.ends_with(&format!("  {rel}")) {
                fresh.clone()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("MANIFEST"), updated).unwrap();
}

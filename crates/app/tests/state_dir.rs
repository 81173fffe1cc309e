//! The state directory refuses to be trusted when someone else could have
//! changed it (docs/architecture.md, "The state directory"): the directory
//! or one of its subdirectories is a link or not a directory, belongs to
//! another user, or is writable by group or others. Each case is refused
//! with the path and the reason, and nothing is created in it.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use portreeve_app::{AppError, StateDir};

/// A fresh state directory `state` (0700, as portreeve creates it) with
/// the subdirectories `subdirs`, in a temporary directory.
fn state_with(subdirs: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state");
    for sub in std::iter::once("").chain(subdirs.iter().copied()) {
        let path = root.join(sub);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    (dir, root)
}

/// `sub` under `root`, or `root` itself for "".
fn under(root: &Path, sub: &str) -> PathBuf {
    if sub.is_empty() {
        root.to_path_buf()
    } else {
        root.join(sub)
    }
}

/// Asserts the state directory at `root` is refused because of `path`,
/// saying `why`, and that opening its ledger created nothing.
#[track_caller]
fn assert_refused(root: &Path, path: &Path, why: &str) {
    let state = StateDir::open(root);
    match state.guard() {
        Err(AppError::Unsafe(message)) => {
            assert!(
                message.starts_with(&format!("{}: ", path.display())),
                "{message}"
            );
            assert!(message.contains(why), "{message}");
        }
        other => panic!("{} accepted: {other:?}", path.display()),
    }
    assert!(
        state.ledger().is_err(),
        "the ledger opens in an unsafe directory"
    );
    assert!(
        !root.join("ledger/log.key").exists(),
        "a ledger was created"
    );
}

#[test]
fn a_private_state_directory_is_accepted() {
    let (_dir, root) = state_with(&["enforce", "ledger", "policies"]);
    StateDir::open(&root).guard().unwrap();
}

#[test]
fn a_directory_others_or_the_group_can_write_is_refused() {
    for (sub, mode) in [
        ("", 0o770),
        ("", 0o702),
        ("enforce", 0o775),
        ("policies", 0o722),
        ("change/proposals", 0o770),
    ] {
        let (_dir, root) = state_with(&["enforce", "policies", "change/proposals"]);
        let path = under(&root, sub);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_refused(
            &root,
            &path,
            &format!("its mode {mode:o} lets others write"),
        );
    }
}

#[test]
fn a_link_or_a_file_in_place_of_a_directory_is_refused() {
    // The state directory itself a link to a private directory elsewhere.
    let (dir, elsewhere) = state_with(&[]);
    let root = dir.path().join("linked");
    symlink(&elsewhere, &root).unwrap();
    assert_refused(&root, &root, "it is not a directory");

    // A subdirectory replaced by a link to another user's files.
    for sub in ["enforce", "ledger", "change", "identities"] {
        let (dir, root) = state_with(&[]);
        let planted = dir.path().join("planted");
        std::fs::create_dir(&planted).unwrap();
        symlink(&planted, root.join(sub)).unwrap();
        assert_refused(&root, &root.join(sub), "it is not a directory");
    }

    // A plain file where the policies directory goes.
    let (_dir, root) = state_with(&[]);
    std::fs::write(root.join("policies"), "").unwrap();
    assert_refused(&root, &root.join("policies"), "it is not a directory");
}

#[test]
fn a_directory_another_user_owns_is_refused() {
    if !portreeve_testkit::privileged("a_directory_another_user_owns_is_refused", &[]) {
        return;
    }
    for sub in ["", "ledger"] {
        let (_dir, root) = state_with(&["ledger"]);
        let path = under(&root, sub);
        rustix::fs::chown(
            &path,
            Some(rustix::fs::Uid::from_raw(65534)),
            Some(rustix::fs::Gid::from_raw(65534)),
        )
        .unwrap();
        assert_refused(&root, &path, "it is owned by uid 65534, not by uid 0");
    }
}

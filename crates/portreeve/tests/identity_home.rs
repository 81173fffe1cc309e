//! Where `sudo portreeve identity new` puts the private key: in the home of
//! the user who ran sudo (their passwd entry's, not `$HOME`), owned by
//! them and readable by them only — and `propose --identity` finds it
//! there. With a throw-away user the test creates and removes.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Home, assert_ok, run, testkit};

/// A user created for the test, with a home under a temporary directory;
/// removed, home and all, on drop.
struct TempUser {
    name: String,
    home: PathBuf,
    uid: u32,
    gid: u32,
}

impl TempUser {
    fn new(parent: &Path) -> TempUser {
        let name = format!("prt{}", std::process::id());
        let home = parent.join(&name);
        assert_ok(&run(Command::new("useradd")
            .args(["--create-home", "--home-dir"])
            .arg(&home)
            .args(["--shell", "/usr/sbin/nologin", &name])));
        let meta = std::fs::metadata(&home).unwrap();
        TempUser {
            name,
            home,
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = run(Command::new("userdel").args(["--remove", &self.name]));
    }
}

#[test]
fn a_key_made_under_sudo_is_the_sudo_users() {
    if !testkit::privileged(
        "a_key_made_under_sudo_is_the_sudo_users",
        &["useradd", "userdel"],
    ) {
        return;
    }
    let home = Home::new();
    // The key is written as the user, who must be able to reach their home.
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .unwrap();
    let user = TempUser::new(home.path());
    // As `sudo portreeve ...` by that user: sudo keeps root's HOME.
    let as_sudo = |args: &[&str]| {
        run(home
            .command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
            .env_remove("PORTREEVE_IDENTITY_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", "/root")
            .env("SUDO_USER", &user.name)
            .env("SUDO_UID", user.uid.to_string())
            .env("SUDO_GID", user.gid.to_string())
            .args(args))
    };
    assert_ok(&as_sudo(&["identity", "new", "alice"]));
    let dir = user.home.join(".config/portreeve/identities");
    let key = dir.join("alice.key");
    for (path, mode) in [
        (user.home.join(".config"), 0o700),
        (user.home.join(".config/portreeve"), 0o700),
        (dir.clone(), 0o700),
        (key.clone(), 0o600),
    ] {
        let meta =
            std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (user.uid, user.gid, mode),
            "{}",
            path.display()
        );
    }
    let policy = home.file("p.toml", "[zones]\nlan = [\"10.0.0.0/8\"]\n");
    assert_ok(&as_sudo(&[
        "propose",
        policy.to_str().unwrap(),
        "--reason",
        "x",
        "--identity",
        "alice",
    ]));

    // A link the user plants in their key directory's place leads nowhere
    // they could not write themselves: a directory only root may enter.
    let roots = home.path().join("roots-only");
    std::fs::create_dir(&roots).unwrap();
    std::fs::set_permissions(&roots, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::rename(&dir, user.home.join("old-identities")).unwrap();
    std::os::unix::fs::symlink(&roots, &dir).unwrap();
    let planted = as_sudo(&["identity", "new", "bob"]);
    assert!(
        support::stderr(&planted).contains("Permission denied"),
        "{planted:?}"
    );
    assert_eq!(std::fs::read_dir(&roots).unwrap().count(), 0);
}

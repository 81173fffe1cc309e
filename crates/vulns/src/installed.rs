//! What is installed where a process runs: the package behind a listener's
//! executable, read from the package database of the process's own root.
//!
//! A container's listener must be looked up in the container's database,
//! not the host's: [`process_files`] says which root that is, and
//! [`Installed::open`] picks the database found there (dpkg, else rpm).

use std::path::{Path, PathBuf};

use crate::dpkg::{DpkgError, PackageDb};
use crate::rpm::{self, RpmError};

/// An installed package, with the source package and version that Debian's
/// and Ubuntu's OSV data name (and Red Hat-like data, from `SOURCERPM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The binary package: `openssh-server`.
    pub name: String,
    /// Its architecture (`amd64`, `all`); `None` when not known (packages
    /// files, rpm).
    pub architecture: Option<String>,
    /// Its version, as the package manager writes it: `1:9.2p1-2+deb12u3`.
    pub version: String,
    /// The source package: `openssh` (the binary's own name when none is
    /// given).
    pub source: String,
    /// The source package's version (the binary's when none is given).
    pub source_version: String,
}

/// The package database of one root.
#[derive(Debug)]
pub enum Installed {
    /// dpkg's (Debian, Ubuntu and their derivatives).
    Dpkg(PackageDb),
    /// No dpkg database but an `rpm` program: asked per file.
    Rpm {
        /// The root, passed to `rpm --root`.
        root: PathBuf,
    },
    /// Neither: nothing can be said about what is installed.
    Unknown,
}

/// Why the installed packages could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InstalledError {
    /// dpkg's database is there but unreadable or malformed.
    #[error(transparent)]
    Dpkg(#[from] DpkgError),
    /// `rpm` failed.
    #[error(transparent)]
    Rpm(#[from] RpmError),
    /// `/proc/PID/...` could not be read.
    #[error("{}: {source}", path.display())]
    Proc {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

impl Installed {
    /// The database below `root`: dpkg's when `ROOT/var/lib/dpkg/status`
    /// exists, else rpm's when an `rpm` program runs here (it is the host's
    /// rpm, reading the root's database through `--root`), else none.
    pub fn open(root: &Path) -> Result<Installed, InstalledError> {
        if PackageDb::exists(root) {
            Ok(Installed::Dpkg(PackageDb::open(root)?))
        } else if rpm::available() {
            Ok(Installed::Rpm {
                root: root.to_owned(),
            })
        } else {
            Ok(Installed::Unknown)
        }
    }

    /// The package owning `path` (absolute inside the root), `None` when no
    /// package owns it or no database is known.
    pub fn owner(&self, path: &Path) -> Result<Option<InstalledPackage>, InstalledError> {
        match self {
            Installed::Dpkg(db) => Ok(db.owner(path).cloned()),
            Installed::Rpm { root } => Ok(rpm::owner(root, path)?),
            Installed::Unknown => Ok(None),
        }
    }
}

/// Where a process's executable is to be looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessFiles {
    /// The root whose package database and `os-release` describe the
    /// process: `/`, or `/proc/PID/root` when the process sees another
    /// filesystem (its own mount namespace: a container; or a chroot).
    pub root: PathBuf,
    /// The executable's path inside that root.
    pub exe: PathBuf,
    /// The executable was deleted or replaced since the process started
    /// (`/proc/PID/exe` ends in ` (deleted)`): typically upgraded and not yet
    /// restarted, so the running version is older than the installed one.
    pub replaced: bool,
}

/// Where to look up process `pid`, whose executable `exe` is what
/// `/proc/PID/exe` reads as. The root is `/proc/PID/root` when the process's
/// mount namespace (`/proc/PID/ns/mnt`) differs from ours or its root
/// directory is not `/` (a chroot), else `/`.
///
/// `/proc/PID/exe` names the file as seen from our side: inside a container
/// whose root we cannot reach (pivot_root) that is already the container's
/// own path, but for a chroot (and a container rooted in a directory we
/// see) it starts with the root's directory (`/srv/jail/usr/bin/sleep`);
/// that prefix, what `/proc/PID/root` reads as, is taken off.
pub fn process_files(pid: u32, exe: &Path) -> Result<ProcessFiles, InstalledError> {
    let link = |path: PathBuf| {
        std::fs::read_link(&path).map_err(|source| InstalledError::Proc { path, source })
    };
    let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
    let other_namespace = link(PathBuf::from("/proc/self/ns/mnt"))?
        != link(PathBuf::from(format!("/proc/{pid}/ns/mnt")))?;
    let root_dir = link(proc_root.clone())?;
    let chrooted = root_dir != Path::new("/");
    let (exe, replaced) = match exe.to_str().and_then(|e| e.strip_suffix(" (deleted)")) {
        Some(kept) => (PathBuf::from(kept), true),
        None => (exe.to_owned(), false),
    };
    let exe = match exe.strip_prefix(&root_dir) {
        Ok(inside) if chrooted => Path::new("/").join(inside),
        _ => exe,
    };
    Ok(ProcessFiles {
        root: if other_namespace || chrooted {
            proc_root
        } else {
            PathBuf::from("/")
        },
        exe,
        replaced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_process_of_our_own_namespace_is_looked_up_in_our_root() {
        let files = process_files(std::process::id(), Path::new("/usr/bin/x (deleted)")).unwrap();
        assert_eq!(
            files,
            ProcessFiles {
                root: PathBuf::from("/"),
                exe: PathBuf::from("/usr/bin/x"),
                replaced: true,
            }
        );
        let err = process_files(u32::MAX, Path::new("/x")).unwrap_err();
        assert!(err.to_string().starts_with("/proc/4294967295/"), "{err}");
    }

    #[test]
    fn a_process_in_another_mount_namespace_is_looked_up_in_its_root() {
        let test = "a_process_in_another_mount_namespace_is_looked_up_in_its_root";
        if !portreeve_testkit::privileged(test, &["unshare", "sleep"]) {
            return;
        }
        // `unshare -m` execs `sleep` in a new mount namespace: the pid is
        // the sleeping process's.
        let mut child = Command::new("unshare")
            .args(["--mount", "sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let ns = format!("/proc/{pid}/ns/mnt");
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_link(&ns).is_ok_and(|l| l == ours) {
            assert!(
                std::time::Instant::now() < deadline,
                "unshare never switched namespaces"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let files = process_files(pid, Path::new("/usr/bin/sleep"));
        child.kill().unwrap();
        child.wait().unwrap();
        let files = files.unwrap();
        assert_eq!(files.root, PathBuf::from(format!("/proc/{pid}/root")));
        assert_eq!(
            (files.exe.as_path(), files.replaced),
            (Path::new("/usr/bin/sleep"), false)
        );
    }

    #[test]
    fn installed_picks_dpkg_where_its_database_is() {
        let root = tempfile::tempdir().unwrap();
        let dpkg = root.path().join("var/lib/dpkg");
        std::fs::create_dir_all(dpkg.join("info")).unwrap();
        std::fs::write(
            dpkg.join("status"),
            "Package: a\nStatus: install ok installed\nVersion: 1.0-1\nSource: b\n",
        )
        .unwrap();
        std::fs::write(dpkg.join("info/a.list"), "/usr/bin/a\n").unwrap();
        let installed = Installed::open(root.path()).unwrap();
        assert!(matches!(installed, Installed::Dpkg(_)));
        let owner = installed.owner(Path::new("/usr/bin/a")).unwrap().unwrap();
        assert_eq!(
            (owner.source.as_str(), owner.source_version.as_str()),
            ("b", "1.0-1")
        );
        assert_eq!(installed.owner(Path::new("/usr/bin/b")).unwrap(), None);
        // Without dpkg's database, rpm is asked if it is here; else nothing
        // is known.
        let empty = tempfile::tempdir().unwrap();
        match Installed::open(empty.path()).unwrap() {
            Installed::Rpm { root } => assert!(rpm::available() && root == empty.path()),
            Installed::Unknown => assert!(!rpm::available()),
            Installed::Dpkg(_) => panic!("no dpkg database there"),
        }
    }
}

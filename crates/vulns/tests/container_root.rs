//! A listener in a container is looked up in the container's own package
//! database and os-release, not the host's: a process in a mount namespace
//! of its own, chrooted into a root with a dpkg database written here (the
//! host's /usr bind-mounted into it so the process can run), is found
//! through `/proc/PID/root`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portreeve_vulns::{OsRelease, PackageDb, process_files};

const TEST: &str = "a_containers_listener_is_looked_up_in_the_container";

/// The process, killed when dropped.
struct Contained(Child);

impl Drop for Contained {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid of the `sleep` that `shell`'s process tree runs chrooted in
/// `root`, once it is there.
fn chrooted_sleep(child: &Child, root: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // `sh` execs `chroot`, which execs `sleep`: the pid stays.
        let pid = child.id();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let in_root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
        if exe.ends_with("sleep") && in_root != Path::new("/") {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "the contained sleep never started in {}",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_containers_listener_is_looked_up_in_the_container() {
    if !portreeve_testkit::privileged(TEST, &["unshare", "mount", "chroot", "sleep"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let dpkg = root.join("var/lib/dpkg");
    std::fs::create_dir_all(dpkg.join("info")).unwrap();
    std::fs::write(
        dpkg.join("status"),
        "Package: contained-coreutils\nStatus: install ok installed\n\
         Architecture: amd64\nSource: coreutils (8.32-4)\nVersion: 8.32-4+b1\n",
    )
    .unwrap();
    // Debian 11 lists it as /bin/sleep; its /bin is merged into /usr.
    std::fs::write(
        dpkg.join("info/contained-coreutils.list"),
        "/bin\n/bin/sleep\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr")).unwrap();
    for merged in ["bin", "lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{merged}"), root.join(merged)).unwrap();
    }
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"11\"\nVERSION=\"11 (bullseye)\"\n",
    )
    .unwrap();
    // A mount namespace of its own (private propagation: the bind mount
    // never reaches the host), the host's /usr inside the root, then
    // chroot into it.
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind /usr "$1/usr" && exec chroot "$1" /usr/bin/sleep 60"#)
        .arg("sh")
        .arg(root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let contained = Contained(child);
    let pid = chrooted_sleep(&contained.0, root);

    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let files = process_files(pid, &exe).unwrap();
    assert_eq!(files.root, PathBuf::from(format!("/proc/{pid}/root")));
    assert_eq!(files.exe, Path::new("/usr/bin/sleep"));

    let db = PackageDb::open(&files.root).unwrap();
    let owner = db
        .owner(&files.exe)
        .expect("the container's dpkg owns sleep");
    assert_eq!(
        (
            owner.name.as_str(),
            owner.source.as_str(),
            owner.source_version.as_str()
        ),
        ("contained-coreutils", "coreutils", "8.32-4")
    );
    let release = OsRelease::read(&files.root).unwrap();
    assert_eq!(release.ecosystem().unwrap(), "Debian:11");

    // The host's own database says otherwise about the same path.
    if PackageDb::exists(Path::new("/")) {
        let host = PackageDb::open(Path::new("/")).unwrap();
        assert_ne!(
            host.owner(&files.exe).map(|p| p.name.as_str()),
            Some("contained-coreutils")
        );
    }
    drop(contained);
    // Nothing was mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(root.to_str().unwrap()));
}

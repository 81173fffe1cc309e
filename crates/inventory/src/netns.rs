//! Finding network namespaces and running code inside them.
//!
//! A NETLINK_SOCK_DIAG socket reports the sockets of the namespace it was
//! created in, so listing another namespace means creating the netlink socket
//! from a thread that has joined it with `setns(2)`. Joining happens on a
//! short-lived helper thread so the caller's own namespace never changes.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use portreeve_core::NetnsRef;
use rustix::fs::{Mode, OFlags};
use rustix::thread::LinkNameSpaceType;

/// Where `ip netns` keeps named namespaces.
const RUN_NETNS: &str = "/run/netns";

/// A namespace and a path through which it can be joined.
#[derive(Clone, Debug)]
pub(crate) struct Namespace {
    pub netns: NetnsRef,
    pub path: PathBuf,
}

fn inode_of(path: &Path) -> io::Result<u64> {
    Ok(rustix::fs::stat(path)?.st_ino)
}

/// Names for namespaces: `ip netns` names from `/run/netns`, and `host` for
/// the namespace of PID 1 (when readable).
pub(crate) fn names() -> BTreeMap<u64, String> {
    let mut names = BTreeMap::new();
    if let Ok(dir) = fs::read_dir(RUN_NETNS) {
        for entry in dir.flatten() {
            if let (Ok(ino), Some(name)) = (inode_of(&entry.path()), entry.file_name().to_str()) {
                names.entry(ino).or_insert_with(|| name.to_string());
            }
        }
    }
    if let Ok(ino) = inode_of(Path::new("/proc/1/ns/net")) {
        names.entry(ino).or_insert_with(|| "host".to_string());
    }
    names
}

/// The namespace the calling thread is in.
pub(crate) fn current(names: &BTreeMap<u64, String>) -> io::Result<NetnsRef> {
    let inode = inode_of(Path::new("/proc/thread-self/ns/net"))?;
    Ok(NetnsRef {
        inode,
        name: names.get(&inode).cloned(),
    })
}

/// Every network namespace on the host that has a process in it or a name
/// under `/run/netns`, each once.
pub(crate) fn discover(names: &BTreeMap<u64, String>) -> Vec<Namespace> {
    let mut found: BTreeMap<u64, PathBuf> = BTreeMap::new();
    if let Ok(dir) = fs::read_dir(RUN_NETNS) {
        for entry in dir.flatten() {
            if let Ok(ino) = inode_of(&entry.path()) {
                found.entry(ino).or_insert_with(|| entry.path());
            }
        }
    }
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let is_pid = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_pid {
                continue;
            }
            let path = entry.path().join("ns/net");
            // Processes exit and some are unreadable; neither is an error.
            if let Ok(ino) = inode_of(&path) {
                found.entry(ino).or_insert(path);
            }
        }
    }
    found
        .into_iter()
        .map(|(inode, path)| Namespace {
            netns: NetnsRef {
                inode,
                name: names.get(&inode).cloned(),
            },
            path,
        })
        .collect()
}

/// Runs `f` on a helper thread that has joined the network namespace at
/// `path` (`/run/netns/NAME`, `/proc/PID/ns/net`): sockets it opens live
/// there, and the calling thread stays where it is.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&fd),
                    Some(LinkNameSpaceType::Network),
                )?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
    })
}

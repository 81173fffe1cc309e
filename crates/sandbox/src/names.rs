//! Names of the sandbox's namespaces, and the removal of those a dead
//! process left behind.
//!
//! Every namespace is `prv-sbx-<pid>-<n>`: the pid says who owns it, so a
//! later run can delete what a killed run could not, and never touches a
//! namespace of a run still going (its pid is alive) or anyone else's.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// What every sandbox namespace's name starts with.
const PREFIX: &str = "prv-sbx-";

/// Where `ip netns` keeps named namespaces.
pub(crate) const RUN_NETNS: &str = "/run/netns";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other namespace of this process has.
pub(crate) fn fresh() -> String {
    name(std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn name(pid: u32, n: u32) -> String {
    format!("{PREFIX}{pid}-{n}")
}

/// The pid that made the sandbox namespace `name`; `None` for any other
/// name.
fn owner(name: &str) -> Option<u32> {
    let (pid, n) = name.strip_prefix(PREFIX)?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// The sandbox namespaces among `names` whose owner is not alive.
fn stale<'a>(
    names: impl IntoIterator<Item = &'a str>,
    alive: impl Fn(u32) -> bool,
) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| owner(n).is_some_and(|pid| !alive(pid)))
        .collect()
}

/// Deletes the sandbox namespaces of processes that are gone (killed
/// before they could clean up). Failures are logged: a leftover does not
/// stop this run.
pub(crate) fn remove_stale() {
    let Ok(dir) = std::fs::read_dir(RUN_NETNS) else {
        return;
    };
    let names: Vec<String> = dir
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    for name in stale(names.iter().map(String::as_str), alive) {
        tracing::info!(
            netns = name,
            "deleting a sandbox namespace its dead owner left"
        );
        crate::namespace::delete(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sandbox_name_says_its_owner() {
        assert_eq!(owner(&name(4242, 7)), Some(4242));
        assert!(fresh().starts_with(&format!("prv-sbx-{}-", std::process::id())));
        assert_ne!(fresh(), fresh());
    }

    #[test]
    fn other_names_have_no_owner() {
        for other in [
            "prt-4242-0",
            "prv-sbx-",
            "prv-sbx-4242",
            "prv-sbx-4242-",
            "prv-sbx--1",
            "prv-sbx-42x-1",
            "prv-sbx-4242-1-2",
            "prv-sbx-99999999999-1",
            "host",
        ] {
            assert_eq!(owner(other), None, "{other}");
        }
    }

    #[test]
    fn only_namespaces_of_dead_owners_are_stale() {
        let names = [
            "prv-sbx-10-0",
            "prv-sbx-11-3",
            "prt-10-0",
            "prv-sbx-12-1",
            "blue",
        ];
        let alive = |pid| pid == 11;
        assert_eq!(stale(names, alive), vec!["prv-sbx-10-0", "prv-sbx-12-1"]);
    }
}

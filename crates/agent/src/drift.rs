//! Listener drift: what changed between two readings of the listening
//! sockets — a new listener, one gone, or one whose owner changed.
//!
//! A listener is identified by where it listens (network namespace,
//! protocol, address, port); its owner by who holds it (user,
//! process names, systemd units, containers). Process ids are left out of
//! the owner on purpose: a service restart changes them without changing
//! who listens, and reporting every restart would bury real changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use portreeve_core::{ListeningSocket, NetnsRef, Proto};
pub use portreeve_store::DriftKind;
use serde::{Deserialize, Serialize};

/// Where a listener listens. (A device binding is not part of it: two
/// sockets differing only in their device are one listener to an
/// operator.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListenerKey {
    /// The network namespace, named as the inventory names it.
    pub netns: NetnsRef,
    /// Transport protocol.
    pub protocol: Proto,
    /// Bound address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
}

impl fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{a}:{}/{}", self.port, self.protocol),
            IpAddr::V6(a) => write!(f, "[{a}]:{}/{}", self.port, self.protocol),
        }
    }
}

/// Who holds a listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Owner {
    /// Owning user id.
    pub uid: u32,
    /// Names of the processes holding the socket.
    pub processes: BTreeSet<String>,
    /// Their systemd units.
    pub units: BTreeSet<String>,
    /// Their containers.
    pub containers: BTreeSet<String>,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.processes.iter().map(String::as_str).collect();
        write!(
            f,
            "uid {} {}",
            self.uid,
            if names.is_empty() {
                "(no process seen)".to_string()
            } else {
                names.join(",")
            }
        )?;
        for unit in &self.units {
            write!(f, " unit {unit}")?;
        }
        for container in &self.containers {
            write!(f, " container {container}")?;
        }
        Ok(())
    }
}

/// Every listener of one reading, with its owner.
pub type Snapshot = BTreeMap<ListenerKey, Owner>;

/// The snapshot of `sockets`.
pub fn snapshot(sockets: &[ListeningSocket]) -> Snapshot {
    let mut out = Snapshot::new();
    for s in sockets {
        let key = ListenerKey {
            netns: s.netns.clone(),
            protocol: s.protocol,
            address: s.address,
            port: s.port,
        };
        let owner = out.entry(key).or_insert_with(|| Owner {
            uid: s.uid,
            ..Owner::default()
        });
        for p in &s.processes {
            owner.processes.insert(p.name.clone());
            owner.units.extend(p.systemd_unit.clone());
            owner.containers.extend(p.container_id.clone());
        }
    }
    out
}

/// One change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// What changed.
    pub kind: DriftKind,
    /// Which listener.
    pub listener: ListenerKey,
    /// Its owner before (none for a new listener).
    pub old_owner: Option<Owner>,
    /// Its owner after (none for one gone).
    pub new_owner: Option<Owner>,
}

/// The changes from `old` to `new`, in listener order.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Drift> {
    let mut out = Vec::new();
    for (key, owner) in new {
        match old.get(key) {
            None => out.push(Drift {
                kind: DriftKind::NewListener,
                listener: key.clone(),
                old_owner: None,
                new_owner: Some(owner.clone()),
            }),
            Some(before) if before != owner => out.push(Drift {
                kind: DriftKind::OwnerChanged,
                listener: key.clone(),
                old_owner: Some(before.clone()),
                new_owner: Some(owner.clone()),
            }),
            Some(_) => {}
        }
    }
    for (key, owner) in old {
        if !new.contains_key(key) {
            out.push(Drift {
                kind: DriftKind::ListenerGone,
                listener: key.clone(),
                old_owner: Some(owner.clone()),
                new_owner: None,
            });
        }
    }
    out.sort_by(|a, b| a.listener.cmp(&b.listener).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ListenerKey {
        ListenerKey {
            netns: NetnsRef {
                inode: 1,
                name: Some("host".into()),
            },
            protocol: Proto::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port,
        }
    }

    fn owner(name: &str) -> Owner {
        Owner {
            uid: 0,
            processes: [name.to_string()].into(),
            ..Owner::default()
        }
    }

    #[test]
    fn new_gone_and_changed_listeners_are_told_apart() {
        let old: Snapshot = [
            (key(22), owner("sshd")),
            (key(80), owner("nginx")),
            (key(25), owner("exim4")),
        ]
        .into();
        let new: Snapshot = [
            (key(22), owner("sshd")),
            (key(80), owner("apache2")),
            (key(8080), owner("python3")),
        ]
        .into();
        let d = diff(&old, &new);
        let kinds: Vec<(u16, DriftKind)> = d.iter().map(|d| (d.listener.port, d.kind)).collect();
        assert_eq!(
            kinds,
            [
                (25, DriftKind::ListenerGone),
                (80, DriftKind::OwnerChanged),
                (8080, DriftKind::NewListener)
            ]
        );
        assert_eq!(d[1].old_owner.as_ref().unwrap().to_string(), "uid 0 nginx");
        assert_eq!(
            d[1].new_owner.as_ref().unwrap().to_string(),
            "uid 0 apache2"
        );
        assert!(diff(&new, &new).is_empty(), "no change, no drift");
    }

    /// A socket of `unit`'s `name` on 0.0.0.0:8080 held by `pids`, as a
    /// reading finds it.
    fn held_by(name: &str, unit: &str, pids: &[u32]) -> ListeningSocket {
        let mut s = portreeve_testkit::listening_socket(8080);
        s.processes = pids
            .iter()
            .map(|&pid| {
                std::sync::Arc::new(portreeve_core::ProcessInfo {
                    pid,
                    name: name.into(),
                    exe: Some(format!("/usr/sbin/{name}")),
                    cmdline: vec![name.into()],
                    systemd_unit: Some(unit.into()),
                    container_id: None,
                    attribution: Default::default(),
                })
            })
            .collect();
        s
    }

    #[test]
    fn a_service_restart_with_new_pids_is_no_drift() {
        let before = snapshot(&[held_by("nginx", "nginx.service", &[100, 101])]);
        let restarted = snapshot(&[held_by("nginx", "nginx.service", &[2300, 2301, 2302])]);
        assert_eq!(diff(&before, &restarted), [], "new pids, same owner");
        // Another program on the same socket is a change of owner.
        let replaced = snapshot(&[held_by("apache2", "apache2.service", &[2300])]);
        let kinds: Vec<DriftKind> = diff(&before, &replaced).iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [DriftKind::OwnerChanged]);
    }

    #[test]
    fn keys_print_like_endpoints() {
        let mut k = key(53);
        k.protocol = Proto::Udp;
        k.address = "::1".parse().unwrap();
        assert_eq!(k.to_string(), "[::1]:53/udp");
        assert_eq!(key(22).to_string(), "0.0.0.0:22/tcp");
    }
}

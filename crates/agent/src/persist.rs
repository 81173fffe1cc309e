//! The agent's [`History`] kept in a [`Store`] (SQLite under the state
//! directory), so that a restarted agent resumes where it stopped.
//!
//! Owners are kept as JSON in the store's owner column, so the snapshot
//! read back after a restart compares equal to a fresh reading of the same
//! listeners; drift events keep the readable form.

use jiff::Timestamp;
use portreeve_core::PortKey;
use portreeve_store::{DriftEvent, Listener, Store, UsageUpdate, WriteBatch};

use crate::daemon::{History, PortUse};
use crate::drift::{Drift, ListenerKey, Owner, Snapshot};

/// A [`History`] over any [`Store`].
pub struct StoreHistory {
    store: Box<dyn Store>,
    /// Whether a snapshot has been recorded by this process: the first
    /// one marks every listening port as seen.
    recorded: bool,
}

impl StoreHistory {
    /// Keeps the agent's history in `store`.
    pub fn new(store: Box<dyn Store>) -> StoreHistory {
        StoreHistory {
            store,
            recorded: false,
        }
    }
}

impl History for StoreHistory {
    fn last_snapshot(&mut self) -> Result<Option<Snapshot>, String> {
        let listeners = self.store.listeners().map_err(|e| e.to_string())?;
        if listeners.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            listeners
                .into_iter()
                .map(|l| {
                    let owner = l
                        .owner
                        .as_deref()
                        .and_then(|o| serde_json::from_str::<Owner>(o).ok())
                        .unwrap_or_default();
                    (
                        ListenerKey {
                            netns: l.netns,
                            protocol: l.protocol,
                            address: l.address,
                            port: l.port,
                        },
                        owner,
                    )
                })
                .collect(),
        ))
    }

    fn usage(&mut self) -> Result<Vec<PortUse>, String> {
        let records = self.store.usage().map_err(|e| e.to_string())?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                Some(PortUse {
                    protocol: r.key.protocol,
                    port: r.key.port,
                    last_access: r.usage.last_access?,
                    connections: r.usage.connections,
                    sources: Default::default(),
                })
            })
            .collect())
    }

    fn record(
        &mut self,
        at: Timestamp,
        snapshot: &Snapshot,
        drift: &[Drift],
        usage: &[PortUse],
    ) -> Result<(), String> {
        let mut batch = WriteBatch {
            drift: drift
                .iter()
                .map(|d| DriftEvent {
                    at,
                    kind: d.kind,
                    protocol: d.listener.protocol,
                    address: d.listener.address,
                    port: d.listener.port,
                    netns: d.listener.netns.clone(),
                    old_owner: d.old_owner.as_ref().map(ToString::to_string),
                    new_owner: d.new_owner.as_ref().map(ToString::to_string),
                })
                .collect(),
            listeners: None,
            usage: usage
                .iter()
                .map(|u| UsageUpdate {
                    key: PortKey::new(u.protocol, u.port),
                    seen_at: at,
                    last_access: Some(u.last_access),
                    connections: u.connections,
                    sources: u.sources.iter().copied().collect(),
                })
                .collect(),
            flows: Vec::new(),
        };
        // The snapshot is rewritten only when it changed (or first), and a
        // port's first sighting is recorded when it appears.
        if !self.recorded || !drift.is_empty() {
            batch.listeners = Some(
                snapshot
                    .iter()
                    .map(|(k, o)| Listener {
                        protocol: k.protocol,
                        address: k.address,
                        port: k.port,
                        netns: k.netns.clone(),
                        owner: Some(serde_json::to_string(o).expect("owners serialise")),
                    })
                    .collect(),
            );
            batch.usage.extend(
                snapshot
                    .keys()
                    .map(|k| UsageUpdate::seen(PortKey::new(k.protocol, k.port), at)),
            );
            self.recorded = true;
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.store.write(&batch).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use portreeve_core::Proto;
    use portreeve_store::SqliteStore;

    use super::*;
    use crate::drift::DriftKind;

    fn key(port: u16) -> ListenerKey {
        ListenerKey {
            netns: portreeve_core::NetnsRef {
                inode: 4026531840,
                name: Some("host".into()),
            },
            protocol: Proto::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port,
        }
    }

    #[test]
    fn history_survives_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Owner {
            uid: 0,
            processes: ["sshd".to_string()].into(),
            units: ["ssh.service".to_string()].into(),
            ..Owner::default()
        };
        let snapshot: Snapshot = [(key(22), owner.clone())].into();
        let at: Timestamp = "2026-11-29T09:00:00Z".parse().unwrap();
        {
            let mut h = StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()));
            assert_eq!(h.last_snapshot().unwrap(), None);
            let drift = vec![Drift {
                kind: DriftKind::NewListener,
                listener: key(22),
                old_owner: None,
                new_owner: Some(owner.clone()),
            }];
            let used = vec![PortUse {
                protocol: Proto::Tcp,
                port: 22,
                last_access: at,
                connections: 3,
                sources: BTreeSet::from(["10.0.0.5".parse().unwrap()]),
            }];
            h.record(at, &snapshot, &drift, &used).unwrap();
        }
        let mut h = StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()));
        assert_eq!(h.last_snapshot().unwrap(), Some(snapshot));
        let usage = h.usage().unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!(
            (usage[0].port, usage[0].connections, usage[0].last_access),
            (22, 3, at)
        );
        let store = SqliteStore::open(dir.path()).unwrap();
        let events = store.drift_events(None, 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].new_owner.as_deref(),
            Some("uid 0 sshd unit ssh.service")
        );
    }
}

//! The agent's [`History`] kept in a [`Store`] (SQLite under the state
//! directory), so that a restarted agent resumes where it stopped.
//!
//! Owners are kept as JSON in the store's owner column, so the snapshot
//! read back after a restart compares equal to a fresh reading of the same
//! listeners; drift events keep the readable form.

use jiff::{SignedDuration, Timestamp};
use portreeve_core::PortKey;
use portreeve_store::{
    DEFAULT_HOUR_RETENTION, DriftEvent, Listener, SourceUpdate, Store, UsageUpdate, WriteBatch,
    hour_of,
};

use crate::daemon::{History, PortUse};
use crate::drift::{Drift, ListenerKey, Owner, Snapshot};

/// How often per-source use past its retention is deleted.
const FORGET_EVERY: SignedDuration = SignedDuration::from_hours(1);

/// A [`History`] over any [`Store`].
pub struct StoreHistory {
    store: Box<dyn Store>,
    /// Whether a snapshot has been recorded by this process: the first
    /// one marks every listening port as seen.
    recorded: bool,
    /// How long per-source use is kept after it was last seen.
    source_retention: SignedDuration,
    /// When per-source use past its retention was last deleted.
    forgotten_at: Option<Timestamp>,
}

impl StoreHistory {
    /// Keeps the agent's history in `store`, per-source use for
    /// `source_retention` after it was last seen.
    pub fn new(store: Box<dyn Store>, source_retention: SignedDuration) -> StoreHistory {
        StoreHistory {
            store,
            recorded: false,
            source_retention,
            forgotten_at: None,
        }
    }

    /// Deletes per-source use last seen more than the retention before
    /// `at`, and hourly counts older than [`DEFAULT_HOUR_RETENTION`], at
    /// start and then hourly.
    fn forget_old_sources(&mut self, at: Timestamp) -> Result<(), String> {
        if self
            .forgotten_at
            .is_some_and(|last| at.duration_since(last) < FORGET_EVERY)
        {
            return Ok(());
        }
        let cut = at
            .checked_sub(self.source_retention)
            .unwrap_or(Timestamp::MIN);
        self.store
            .forget_sources_before(cut)
            .map_err(|e| e.to_string())?;
        let hours_cut = at
            .checked_sub(DEFAULT_HOUR_RETENTION)
            .unwrap_or(Timestamp::MIN);
        self.store
            .forget_hours_before(hour_of(hours_cut))
            .map_err(|e| e.to_string())?;
        self.forgotten_at = Some(at);
        Ok(())
    }
}

/// One interval's per-source use of the ports in `usage`, as the store
/// merges it: every connection of the interval at the interval's time.
fn source_updates(usage: &[PortUse]) -> Vec<SourceUpdate> {
    usage
        .iter()
        .flat_map(|u| {
            u.sources
                .iter()
                .map(|(&source, &connections)| SourceUpdate {
                    source,
                    key: PortKey::new(u.protocol, u.port),
                    connections,
                    first_seen: u.last_access,
                    last_seen: u.last_access,
                })
        })
        .collect()
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
                    // Distinct addresses: the networks past the cap are not one.
                    sources: u
                        .sources
                        .keys()
                        .filter(|n| n.prefix_len() == n.max_prefix_len())
                        .map(|n| n.addr())
                        .collect(),
                })
                .collect(),
            flows: Vec::new(),
            sources: source_updates(usage),
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
        if !batch.is_empty() {
            self.store.write(&batch).map_err(|e| e.to_string())?;
        }
        // After the write: a failure here loses no observation.
        self.forget_old_sources(at)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use portreeve_core::Proto;
    use portreeve_store::SqliteStore;

    use super::*;
    use crate::drift::DriftKind;

    const RETENTION: SignedDuration = SignedDuration::from_hours(24 * 90);

    fn ssh_used(at: Timestamp, source: &str) -> PortUse {
        PortUse {
            protocol: Proto::Tcp,
            port: 22,
            last_access: at,
            connections: 1,
            sources: BTreeMap::from([(source.parse().unwrap(), 1)]),
        }
    }

    #[test]
    fn per_source_use_is_forgotten_after_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let day = SignedDuration::from_hours(24);
        let mut h = StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()), day);
        let at: Timestamp = "2026-11-29T09:00:00Z".parse().unwrap();
        let snapshot: Snapshot = [(key(22), Owner::default())].into();
        h.record(at, &snapshot, &[], &[ssh_used(at, "10.0.0.5/32")])
            .unwrap();
        // Within the hour: nothing is deleted yet, whatever its age.
        let later = at + SignedDuration::from_mins(30);
        h.record(later, &snapshot, &[], &[ssh_used(later, "10.0.0.6/32")])
            .unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.source_usage(None).unwrap().len(), 2);
        // Two days on, both are past the one-day retention; the new one stays.
        let much_later = at + day * 2;
        h.record(
            much_later,
            &snapshot,
            &[],
            &[ssh_used(much_later, "10.0.0.7/32")],
        )
        .unwrap();
        let left: Vec<String> = store
            .source_usage(None)
            .unwrap()
            .iter()
            .map(|u| u.source.to_string())
            .collect();
        assert_eq!(left, ["10.0.0.7/32"]);
    }

    #[test]
    fn hourly_counts_are_forgotten_after_thirteen_weeks() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()), RETENTION);
        let at: Timestamp = "2026-09-01T09:00:00Z".parse().unwrap();
        let snapshot: Snapshot = [(key(22), Owner::default())].into();
        h.record(at, &snapshot, &[], &[ssh_used(at, "10.0.0.5/32")])
            .unwrap();
        let later = at + DEFAULT_HOUR_RETENTION + SignedDuration::from_hours(1);
        h.record(later, &snapshot, &[], &[ssh_used(later, "10.0.0.5/32")])
            .unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.port_hours(None).unwrap()[0].counts,
            [(hour_of(later), 1)]
        );
    }

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
            let mut h =
                StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()), RETENTION);
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
                sources: BTreeMap::from([("10.0.0.5/32".parse().unwrap(), 3)]),
            }];
            h.record(at, &snapshot, &drift, &used).unwrap();
        }
        let mut h = StoreHistory::new(Box::new(SqliteStore::open(dir.path()).unwrap()), RETENTION);
        assert_eq!(h.last_snapshot().unwrap(), Some(snapshot));
        let usage = h.usage().unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!(
            (usage[0].port, usage[0].connections, usage[0].last_access),
            (22, 3, at)
        );
        let store = SqliteStore::open(dir.path()).unwrap();
        let by_source = store.source_usage(None).unwrap();
        assert_eq!(by_source.len(), 1);
        assert_eq!(
            (by_source[0].source.to_string(), by_source[0].connections),
            ("10.0.0.5/32".to_string(), 3)
        );
        let events = store.drift_events(None, 10).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].new_owner.as_deref(),
            Some("uid 0 sshd unit ssh.service")
        );
    }
}

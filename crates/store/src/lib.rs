//! The portreeve agent's persistent store: what it saw (listener drift, the
//! last listener snapshot), how ports are used (per-port usage, flow
//! aggregates, connections per hour), what it reclaimed and which scans it
//! detected — so a restarted agent picks up where it stopped without losing
//! history.
//!
//! The principal type in this crate is the [`Store`] trait, which the agent
//! programs against (as a `Box<dyn Store>`); [`SqliteStore`] implements it in
//! one embedded SQLite file, `STATE_DIR/agent.db` ([`DB_FILE`]), so a single
//! host needs no server. A PostgreSQL implementation for fleets can be added
//! behind the same trait.
//!
//! Writes come in [`WriteBatch`]es, each one transaction: the agent gathers a
//! few seconds of observations ([`DriftEvent`]s, a [`Listener`] snapshot,
//! [`UsageUpdate`]s, flow aggregates) and flushes them at once, which is both
//! fast (one fsync-free commit under WAL) and consistent (a crash loses the
//! last batch whole, never half of it). Reads return plain values
//! ([`UsageRecord`], [`Reclaim`], …).
//!
//! The store keeps observations; it does not judge them (the lifecycle and
//! the policy do) and it is not the audit trail: a reclaim changes the
//! firewall, so it is recorded durably in the ledger, and the store's
//! reclaims are the agent's index of them.
//!
//! # Example
//!
//! ```
//! use jiff::Timestamp;
//! use portreeve_core::{PortKey, Proto};
//! use portreeve_store::{SqliteStore, Store, UsageUpdate, WriteBatch};
//!
//! let dir = tempfile::tempdir()?;
//! let mut store = SqliteStore::open(dir.path())?;
//!
//! let key = PortKey::new(Proto::Tcp, 443);
//! let now: Timestamp = "2026-03-01T12:00:00Z".parse()?;
//! let batch = WriteBatch {
//!     usage: vec![UsageUpdate {
//!         last_access: Some(now),
//!         connections: 3,
//!         sources: vec!["192.0.2.7".parse()?, "192.0.2.8".parse()?],
//!         ..UsageUpdate::seen(key, now)
//!     }],
//!     ..WriteBatch::default()
//! };
//! store.write(&batch)?;
//!
//! let usage = store.usage()?;
//! assert_eq!(usage[0].key, key);
//! assert_eq!(usage[0].usage.last_access, Some(now));
//! assert_eq!((usage[0].usage.connections, usage[0].usage.distinct_sources), (3, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod model;
mod sqlite;
mod store;

pub use model::{
    DriftEvent, DriftKind, Listener, PortHours, Reclaim, SourceUpdate, StoredDetection,
    UsageRecord, UsageUpdate, WriteBatch,
};
pub use sqlite::{
    DB_FILE, DEFAULT_HOUR_RETENTION, DEFAULT_MAX_SOURCES, SOURCE_CAP, SqliteStore, hour_of,
};
pub use store::{Store, StoreError};

//! The portreeve agent's persistent store: what it saw (listener drift, the
//! last listener snapshot), how ports are used (per-port usage, flow
//! aggregates) and what it reclaimed — so a restarted agent picks up where
//! it stopped without losing history.
//!
//! [`Store`] is the interface the agent programs against; [`SqliteStore`]
//! keeps everything in one embedded SQLite file, `STATE_DIR/agent.db`, so a
//! single host needs no server. A PostgreSQL implementation for fleets can be
//! added behind the same trait.
//!
//! Writes come in [`WriteBatch`]es, each one transaction: the agent gathers a few
//! seconds of observations and flushes them at once, which is both fast
//! (one fsync-free commit under WAL) and consistent (a crash loses the last
//! batch whole, never half of it).

mod model;
mod sqlite;
mod store;

pub use model::{
    DriftEvent, DriftKind, FlowAggregate, FlowUpdate, Listener, Reclaim, UsageRecord, UsageUpdate,
    WriteBatch,
};
pub use sqlite::{DB_FILE, SOURCE_CAP, SqliteStore};
pub use store::{Store, StoreError};

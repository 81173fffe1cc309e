//! The storage interface the agent programs against.

use jiff::Timestamp;
use portreeve_core::{PortKey, SourceUse};
use portreeve_flows::FlowAggregate;

use crate::model::{
    DriftEvent, DriftKind, Listener, PortHours, Reclaim, StoredDetection, UsageRecord, WriteBatch,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no (I/O, corruption, a locked file…).
    #[error("agent store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Creating the state directory or the database file failed.
    #[error("agent store {path}: {source}")]
    Io {
        /// The path involved.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The database was written by a newer portreeve; reading it with this
    /// one could misread or damage it.
    #[error(
        "agent store schema version {found} is newer than this portreeve understands ({supported}); upgrade portreeve"
    )]
    TooNew {
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A value this store cannot represent, e.g. a timestamp outside the
    /// years 1678–2261 (stored as 64-bit nanoseconds).
    #[error("agent store: {0}")]
    OutOfRange(String),
    /// The database holds a value this build cannot read back.
    #[error("agent store: corrupt value: {0}")]
    Corrupt(String),
}

/// The agent's persistent state.
///
/// Object-safe, so the agent holds a `Box<dyn Store>` and picks SQLite or
/// (later) PostgreSQL at start-up without being generic over it; the cost, a
/// virtual call per flush, is nothing next to the commit behind it. Writes
/// take `&mut self`: a store has one writer (the agent's flush), and an
/// implementation need not lock. `Send` so that writer may live on any
/// thread.
pub trait Store: Send {
    /// Writes everything in `batch` in one transaction: all of it or, on
    /// error, none of it.
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;

    /// Drift events at or after `since` (all when `None`), newest first, at
    /// most `limit`.
    fn drift_events(
        &self,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<DriftEvent>, StoreError>;

    /// How many drift events of each kind happened at or after `since` (all
    /// when `None`); every kind is listed, zero or not.
    fn drift_counts(&self, since: Option<Timestamp>) -> Result<Vec<(DriftKind, u64)>, StoreError>;

    /// The last listener snapshot written, sorted; empty before the first.
    fn listeners(&self) -> Result<Vec<Listener>, StoreError>;

    /// Every port's usage, sorted by port.
    fn usage(&self) -> Result<Vec<UsageRecord>, StoreError>;

    /// Per-source use last seen at or after `since` (all when `None`),
    /// sorted by port, protocol, source.
    fn source_usage(&self, since: Option<Timestamp>) -> Result<Vec<SourceUse>, StoreError>;

    /// How many source updates were folded into their /24 or /64 because
    /// the per-source record was full, ever.
    fn sources_folded(&self) -> Result<u64, StoreError>;

    /// Deletes per-source use last seen before `before` (the retention),
    /// and returns how many rows went.
    fn forget_sources_before(&mut self, before: Timestamp) -> Result<usize, StoreError>;

    /// Every port's connections per hour (hours since the Unix epoch,
    /// UTC) at or after `since_hour` (all when `None`): one entry per port
    /// in [`Store::usage`], with its first sighting, sorted by port then
    /// protocol; a port with no connections in the window has no counts.
    fn port_hours(&self, since_hour: Option<i64>) -> Result<Vec<PortHours>, StoreError>;

    /// Deletes the hourly counts of hours before `hour` (the retention),
    /// and returns how many rows went. The ports' totals stay.
    fn forget_hours_before(&mut self, hour: i64) -> Result<usize, StoreError>;

    /// Every flow aggregate, sorted by server address, port, protocol.
    fn flows(&self) -> Result<Vec<FlowAggregate>, StoreError>;

    /// Records that `key` was closed at `at` by the ruleset change
    /// `reference` (a generation number or ledger entry), and returns the
    /// reclaim's id, which [`Store::mark_undone`] and
    /// [`Store::cancel_reclaims`] take.
    fn record_reclaim(
        &mut self,
        at: Timestamp,
        key: PortKey,
        reference: &str,
    ) -> Result<i64, StoreError>;

    /// Deletes the reclaims `ids` that never took effect (the firewall or
    /// the ledger refused the change they were recorded for), all in one
    /// transaction, and returns how many were deleted. Deleted, not marked:
    /// a reclaim that closed nothing has no history, and is no undo. One
    /// already undone took effect and stays; ids are never reused.
    fn cancel_reclaims(&mut self, ids: &[i64]) -> Result<usize, StoreError>;

    /// Marks reclaim `id` undone at `at`. Returns false, changing nothing,
    /// when there is no such reclaim or it was undone already: undo is not
    /// repeatable, so the first undo's time stays.
    fn mark_undone(&mut self, id: i64, at: Timestamp) -> Result<bool, StoreError>;

    /// Every reclaim, oldest first.
    fn reclaims(&self) -> Result<Vec<Reclaim>, StoreError>;

    /// Records a scan detection (its `id` is ignored) and returns its id.
    fn record_detection(&mut self, detection: &StoredDetection) -> Result<i64, StoreError>;

    /// Sets detection `id`'s enrichment (JSON text), replacing any; false
    /// when there is no such detection.
    fn attach_detection_enrichment(&mut self, id: i64, json: &str) -> Result<bool, StoreError>;

    /// Sets detection `id`'s capture file, replacing any; false when there
    /// is no such detection.
    fn attach_detection_capture(
        &mut self,
        id: i64,
        path: &std::path::Path,
    ) -> Result<bool, StoreError>;

    /// Every detection, by first seen (then id).
    fn detections(&self) -> Result<Vec<StoredDetection>, StoreError>;
}

//! The SQLite store: every SQL statement of the crate lives here.
//!
//! One file, `STATE_DIR/agent.db`, in WAL mode with `synchronous = NORMAL`.
//! Under WAL, NORMAL syncs only at checkpoints, not at every commit: a power
//! loss can undo the last few commits, but never corrupts the file or leaves
//! a transaction half-applied. That is enough for what lives here — usage
//! counters and drift history are observations the agent makes again every
//! few seconds, and losing the last flush costs a few seconds of counts, not
//! correctness. What must survive a power cut — every reclaim, as a change to
//! the firewall — is recorded in the ledger, which syncs its own appends; the
//! `reclaims` table here is the agent's index of them.
//!
//! Timestamps are stored as INTEGER nanoseconds since the Unix epoch (exact,
//! and ordered for range queries); addresses as their canonical text.
//! Distinct sources of a port's usage are counted in a side table keyed by a
//! 64-bit hash of the address, exactly up to [`SOURCE_CAP`] per port, after
//! which the count is flagged as a lower bound: exact where it matters (a
//! port a handful of hosts use) and bounded where it does not (a public web
//! port). A detection's lists are JSON arrays in one column each.
//! Flow aggregates are merged by [`FlowAggregate::merge`], the rule
//! the flow aggregator and the collector use too, not by SQL of their own.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{NetnsRef, PortKey, PortUsage, Proto, SourceUse, source_network};
use portreeve_flows::{FlowAggregate, ServerPort};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};
use sha2::{Digest, Sha256};

use crate::model::{
    DriftEvent, DriftKind, Listener, PortHours, Reclaim, SourceUpdate, StoredDetection,
    UsageRecord, UsageUpdate, WriteBatch,
};
use crate::store::{Store, StoreError};

/// The database's file name under the state directory.
pub const DB_FILE: &str = "agent.db";

/// Distinct sources counted exactly per port; beyond this the count is
/// flagged "at least". 4,096 hashes are 32 KiB of keys per port at most.
pub const SOURCE_CAP: u64 = 4096;

/// Schema migrations, in order: migration `i` takes the schema from version
/// `i` to `i + 1`, recorded in `PRAGMA user_version`. Append, never edit: a
/// released migration has run on someone's database.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE drift_events (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('new_listener', 'listener_gone', 'owner_changed')),
        proto TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        netns INTEGER NOT NULL,
        old_owner TEXT,
        new_owner TEXT
    );
    CREATE INDEX drift_events_at ON drift_events (at);

    CREATE TABLE listeners (
        proto TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        netns INTEGER NOT NULL,
        owner TEXT,
        PRIMARY KEY (proto, address, port, netns)
    ) WITHOUT ROWID;

    CREATE TABLE port_usage (
        proto TEXT NOT NULL,
        port INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_access INTEGER,
        connections INTEGER NOT NULL DEFAULT 0,
        distinct_sources INTEGER NOT NULL DEFAULT 0,
        sources_capped INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (proto, port)
    ) WITHOUT ROWID;

    CREATE TABLE usage_sources (
        proto TEXT NOT NULL,
        port INTEGER NOT NULL,
        source INTEGER NOT NULL,
        PRIMARY KEY (proto, port, source)
    ) WITHOUT ROWID;

    CREATE TABLE flows (
        server TEXT NOT NULL,
        proto TEXT NOT NULL,
        port INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        flows INTEGER NOT NULL,
        packets INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        distinct_clients INTEGER NOT NULL DEFAULT 0,
        clients_capped INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (server, proto, port)
    ) WITHOUT ROWID;

    CREATE TABLE flow_clients (
        server TEXT NOT NULL,
        proto TEXT NOT NULL,
        port INTEGER NOT NULL,
        client INTEGER NOT NULL,
        PRIMARY KEY (server, proto, port, client)
    ) WITHOUT ROWID;

    CREATE TABLE reclaims (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        proto TEXT NOT NULL,
        port INTEGER NOT NULL,
        reference TEXT NOT NULL,
        undone_at INTEGER
    );
    ",
    // 2: one name per concept: `protocol` as everywhere else, and the
    // network namespace's name beside its inode, as the inventory shows it.
    // Flow aggregates merge by their own rule, distinct clients as a lower
    // bound: the per-client table was never fed by a collector.
    "
    ALTER TABLE drift_events RENAME COLUMN proto TO protocol;
    ALTER TABLE listeners RENAME COLUMN proto TO protocol;
    ALTER TABLE port_usage RENAME COLUMN proto TO protocol;
    ALTER TABLE usage_sources RENAME COLUMN proto TO protocol;
    ALTER TABLE flows RENAME COLUMN proto TO protocol;
    DROP TABLE flow_clients;
    ALTER TABLE reclaims RENAME COLUMN proto TO protocol;
    ALTER TABLE drift_events ADD COLUMN netns_name TEXT;
    ALTER TABLE listeners ADD COLUMN netns_name TEXT;
    ",
    // 3: a reclaim that never took effect is deleted rather than marked
    // undone, so reclaim ids are never reused (AUTOINCREMENT: the ledger
    // names them), and the rows earlier versions marked undone at the very
    // instant they were recorded — the firewall or the ledger refused
    // them; a real undo comes after a ruleset change and a ledger append —
    // are dropped. The ids seen so far stay used.
    "
    ALTER TABLE reclaims RENAME TO reclaims_v2;
    CREATE TABLE reclaims (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        reference TEXT NOT NULL,
        undone_at INTEGER
    );
    INSERT INTO reclaims (id, at, protocol, port, reference, undone_at)
        SELECT id, at, protocol, port, reference, undone_at FROM reclaims_v2
        WHERE undone_at IS NULL OR undone_at <> at;
    DELETE FROM sqlite_sequence WHERE name = 'reclaims';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'reclaims', coalesce(max(id), 0) FROM reclaims_v2;
    DROP TABLE reclaims_v2;
    ",
    // 4: scan detections. Lists (ports, addresses, evidence lines) are
    // JSON arrays: they are read back whole, never queried into. The
    // capture path is its bytes, as the file system names it.
    "
    CREATE TABLE detections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        tier TEXT NOT NULL,
        detector TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        ports TEXT NOT NULL,
        port_count INTEGER NOT NULL,
        addresses TEXT NOT NULL,
        address_count INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        action TEXT NOT NULL,
        block_ledger_index INTEGER,
        evidence TEXT NOT NULL,
        enrichment TEXT,
        capture BLOB
    );
    CREATE INDEX detections_first_seen ON detections (first_seen);
    ",
    // 5: who uses what — new connections per (source, protocol, port),
    // the source a client address (/32, /128) or, past the store's bound,
    // the /24 or /64 it was folded into; and how many were folded.
    "
    CREATE TABLE source_usage (
        source TEXT NOT NULL,
        protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        connections INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (source, protocol, port)
    ) WITHOUT ROWID;
    CREATE INDEX source_usage_last_seen ON source_usage (last_seen);
    CREATE TABLE source_usage_folded (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        folded INTEGER NOT NULL
    );
    INSERT INTO source_usage_folded (id, folded) VALUES (1, 0);
    ",
    // 6: new connections per port and UTC hour (hours since the epoch), for
    // forecasting. Hours without connections have no row: from the port's
    // first_seen in port_usage on, a missing hour is a zero.
    "
    CREATE TABLE port_hours (
        protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        connections INTEGER NOT NULL,
        PRIMARY KEY (protocol, port, hour)
    ) WITHOUT ROWID;
    CREATE INDEX port_hours_hour ON port_hours (hour);
    ",
];

/// Per-source rows kept by default before new sources are folded into
/// their /24 or /64 ([`SqliteStore::set_max_sources`]). 50,000 rows are a
/// few megabytes.
pub const DEFAULT_MAX_SOURCES: u64 = 50_000;

/// How long the agent keeps hourly connection counts by default: 13
/// weeks, a quarter — enough for weekly seasonality and for jobs that run
/// every few weeks to show several runs, at 24 × 91 rows per busy port.
pub const DEFAULT_HOUR_RETENTION: SignedDuration = SignedDuration::from_hours(13 * 7 * 24);

/// The hour `t` falls in, counted since the Unix epoch (UTC): the unit of
/// [`Store::port_hours`].
pub fn hour_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(3600)
}

/// The agent's store in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    max_sources: u64,
}

impl SqliteStore {
    /// Opens (creating if need be) `state_dir/agent.db`, creating the state
    /// directory too.
    pub fn open(state_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(state_dir).map_err(|source| StoreError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        SqliteStore::open_path(&state_dir.join(DB_FILE))
    }

    /// Opens (creating if need be) the database at `path`, brings its schema
    /// up to date, and refuses one written by a newer portreeve.
    pub fn open_path(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        // Never through a link planted in the database's place.
        let flags = OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(path, flags)?;
        // Another process (the CLI reading usage) may hold the write lock for
        // a moment; wait rather than fail.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode = wal_mode(&conn)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "{}: journal mode stays {mode}, not wal",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            max_sources: DEFAULT_MAX_SOURCES,
        })
    }

    /// Bounds the per-source record: once it holds `max_sources` rows, a
    /// source not yet in it is folded into its /24 or /64 (and counted as
    /// folded). Networks' own rows may go past the bound: there are at most
    /// 2^24 IPv4 ones, and each is one row however many clients it holds.
    pub fn set_max_sources(&mut self, max_sources: u64) {
        self.max_sources = max_sources;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// The newest schema version this build writes.
    pub fn supported_schema_version() -> i64 {
        i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
    }
}

/// Creates the database file readable by its owner only, before SQLite
/// does with the umask's permissions: it records who connects to what.
/// SQLite gives the `-wal` and `-shm` files the same permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// How long an opener waits for another connection's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Switches the database to WAL (a no-op once it is), and says which
/// journal mode it is in. Switching needs the database to itself, and
/// SQLite answers "busy" at once — without its busy handler — while
/// another connection is opening it too, so this waits in short steps.
fn wal_mode(conn: &Connection) -> Result<String, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

/// Brings the schema up to date. The version is read and every pending
/// migration applied in one write transaction, taken at once: when several
/// processes or threads open a new store together (the agent starting
/// while `portreeve drift` reads), one migrates and the others wait for it
/// (the busy timeout) and then find nothing left to do.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = SqliteStore::supported_schema_version();
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
        // PRAGMA takes no parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))?;
    }
    tx.commit()?;
    Ok(())
}

fn nanos(t: Timestamp) -> Result<i64, StoreError> {
    i64::try_from(t.as_nanosecond())
        .map_err(|_| StoreError::OutOfRange(format!("timestamp {t} is outside 1678-2261")))
}

fn timestamp(n: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(n))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {n}: {e}")))
}

/// A count as SQLite stores it: counts beyond `i64::MAX` saturate.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn protocol_of(text: &str) -> Result<Proto, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("protocol `{text}`")))
}

fn port(n: i64) -> Result<u16, StoreError> {
    u16::try_from(n).map_err(|_| StoreError::Corrupt(format!("port {n}")))
}

fn address(text: &str) -> Result<IpAddr, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("address `{text}`")))
}

/// A list as one JSON column.
fn json_list<T: serde::Serialize>(items: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::OutOfRange(e.to_string()))
}

/// A JSON column read back as a list.
fn list_of<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list `{text}`: {e}")))
}

/// A path as the bytes the file system names it by.
fn path_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// A 64-bit key for an address in the distinct-source tables. Hashed, not
/// stored: the count needs identity, not the address, and a fixed-width
/// integer keeps the index small. SHA-256 truncated has no practical
/// collisions at 4,096 per port.
fn address_hash(addr: IpAddr) -> i64 {
    let mut h = Sha256::new();
    match addr {
        IpAddr::V4(a) => {
            h.update([4]);
            h.update(a.octets());
        }
        IpAddr::V6(a) => {
            h.update([6]);
            h.update(a.octets());
        }
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Saturating `a + b` for two non-negative SQLite integers (an overflowing
/// `+` would turn into a REAL there).
const SATURATING_ADD: &str =
    "CASE WHEN {a} > 9223372036854775807 - {b} THEN 9223372036854775807 ELSE {a} + {b} END";

fn saturating_add(a: &str, b: &str) -> String {
    SATURATING_ADD.replace("{a}", a).replace("{b}", b)
}

/// The side table counting one aggregate's distinct addresses: its name,
/// key columns and address column.
struct Distinct {
    table: &'static str,
    /// The key columns, comma-separated, in the order of their values.
    columns: &'static str,
    /// The same columns as a `WHERE` condition on `?1`, `?2`, ….
    key_columns: &'static str,
    column: &'static str,
}

const USAGE_SOURCES: Distinct = Distinct {
    table: "usage_sources",
    columns: "protocol, port",
    key_columns: "protocol = ?1 AND port = ?2",
    column: "source",
};

impl Distinct {
    /// Adds `addrs` to the set keyed by `key` (the key columns' values, in
    /// order), holding at most [`SOURCE_CAP`]. Returns the set's size and
    /// whether an address had to be turned away.
    fn add(
        &self,
        tx: &Transaction<'_>,
        key: &[&dyn rusqlite::ToSql],
        addrs: &[IpAddr],
    ) -> Result<(u64, bool), StoreError> {
        let n_key = key.len();
        let count_sql = format!(
            "SELECT count(*) FROM {} WHERE {}",
            self.table, self.key_columns
        );
        let mut size: u64 = unsigned(tx.query_row(&count_sql, key, |r| r.get(0))?);
        let mut capped = false;
        let placeholders: Vec<String> = (1..=n_key + 1).map(|i| format!("?{i}")).collect();
        let insert_sql = format!(
            "INSERT OR IGNORE INTO {} ({}, {}) VALUES ({})",
            self.table,
            self.columns,
            self.column,
            placeholders.join(", ")
        );
        let exists_sql = format!(
            "SELECT 1 FROM {} WHERE {} AND {} = ?{}",
            self.table,
            self.key_columns,
            self.column,
            n_key + 1
        );
        let mut insert = tx.prepare_cached(&insert_sql)?;
        let mut exists = tx.prepare_cached(&exists_sql)?;
        for &addr in addrs {
            let hash = address_hash(addr);
            let mut values: Vec<&dyn rusqlite::ToSql> = key.to_vec();
            values.push(&hash);
            if size < SOURCE_CAP {
                size += insert.execute(values.as_slice())? as u64;
            } else if !capped
                && exists
                    .query_row(values.as_slice(), |_| Ok(()))
                    .optional()?
                    .is_none()
            {
                capped = true;
            }
        }
        Ok((size, capped))
    }
}

fn write_drift(tx: &Transaction<'_>, events: &[DriftEvent]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO drift_events (at, kind, protocol, address, port, netns, netns_name, old_owner, new_owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for e in events {
        insert.execute(params![
            nanos(e.at)?,
            e.kind.as_str(),
            e.protocol.as_str(),
            e.address.to_string(),
            e.port,
            count(e.netns.inode),
            e.netns.name,
            e.old_owner,
            e.new_owner,
        ])?;
    }
    Ok(())
}

fn write_listeners(tx: &Transaction<'_>, listeners: &[Listener]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM listeners", [])?;
    // REPLACE: several sockets may share an address (SO_REUSEPORT); the
    // snapshot keeps one per address.
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO listeners (protocol, address, port, netns, netns_name, owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for l in listeners {
        insert.execute(params![
            l.protocol.as_str(),
            l.address.to_string(),
            l.port,
            count(l.netns.inode),
            l.netns.name,
            l.owner,
        ])?;
    }
    Ok(())
}

fn write_usage(tx: &Transaction<'_>, updates: &[UsageUpdate]) -> Result<(), StoreError> {
    let upsert = format!(
        "INSERT INTO port_usage (protocol, port, first_seen, last_access, connections)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (protocol, port) DO UPDATE SET
             first_seen = min(first_seen, excluded.first_seen),
             last_access = coalesce(max(last_access, excluded.last_access), last_access, excluded.last_access),
             connections = {}",
        saturating_add("connections", "excluded.connections")
    );
    let mut upsert = tx.prepare_cached(&upsert)?;
    let mut set_sources = tx.prepare_cached(
        "UPDATE port_usage SET distinct_sources = ?3, sources_capped = sources_capped OR ?4
         WHERE protocol = ?1 AND port = ?2",
    )?;
    let mut add_hour = tx.prepare_cached(&format!(
        "INSERT INTO port_hours (protocol, port, hour, connections) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (protocol, port, hour) DO UPDATE SET connections = {}",
        saturating_add("connections", "excluded.connections")
    ))?;
    for u in updates {
        let last_access = u.last_access.map(nanos).transpose()?;
        upsert.execute(params![
            u.key.protocol.as_str(),
            u.key.port,
            nanos(u.seen_at)?,
            last_access,
            count(u.connections),
        ])?;
        if u.connections > 0 {
            // All in the hour of the last access: the agent writes an
            // update per port each reading, seconds apart, so only the
            // reading that straddles an hour's end moves its few
            // connections into the later hour.
            let at = u.last_access.unwrap_or(u.seen_at);
            add_hour.execute(params![
                u.key.protocol.as_str(),
                u.key.port,
                hour_of(at),
                count(u.connections),
            ])?;
        }
        if !u.sources.is_empty() {
            let key: [&dyn rusqlite::ToSql; 2] = [&u.key.protocol.as_str(), &u.key.port];
            let (size, capped) = USAGE_SOURCES.add(tx, &key, &u.sources)?;
            set_sources.execute(params![
                u.key.protocol.as_str(),
                u.key.port,
                count(size),
                capped
            ])?;
        }
    }
    Ok(())
}

/// Merges per-source use into `source_usage`, folding a source not yet
/// recorded into its network once the table holds `max_sources` rows.
/// Returns how many updates were folded.
fn write_sources(
    tx: &Transaction<'_>,
    updates: &[SourceUpdate],
    max_sources: u64,
) -> Result<u64, StoreError> {
    if updates.is_empty() {
        return Ok(0);
    }
    let mut rows = unsigned(tx.query_row("SELECT count(*) FROM source_usage", [], |r| r.get(0))?);
    let mut exists = tx.prepare_cached(
        "SELECT 1 FROM source_usage WHERE source = ?1 AND protocol = ?2 AND port = ?3",
    )?;
    let mut upsert = tx.prepare_cached(&format!(
        "INSERT INTO source_usage (source, protocol, port, connections, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (source, protocol, port) DO UPDATE SET
             connections = {},
             first_seen = min(first_seen, excluded.first_seen),
             last_seen = max(last_seen, excluded.last_seen)",
        saturating_add("connections", "excluded.connections")
    ))?;
    let mut folded = 0;
    for u in updates {
        let protocol = u.key.protocol.as_str();
        let mut known = |source: &str| -> Result<bool, StoreError> {
            Ok(exists
                .query_row(params![source, protocol, u.key.port], |_| Ok(()))
                .optional()?
                .is_some())
        };
        let mut source = u.source.to_string();
        let mut present = known(&source)?;
        if !present && rows >= max_sources {
            let network = source_network(u.source);
            if network != u.source {
                folded += 1;
                source = network.to_string();
                present = known(&source)?;
            }
        }
        if !present {
            rows += 1;
        }
        upsert.execute(params![
            source,
            protocol,
            u.key.port,
            count(u.connections),
            nanos(u.first_seen)?,
            nanos(u.last_seen)?,
        ])?;
    }
    if folded > 0 {
        tx.execute(
            &format!(
                "UPDATE source_usage_folded SET folded = {}",
                saturating_add("folded", "?1")
            ),
            [count(folded)],
        )?;
    }
    Ok(folded)
}

/// Merges each aggregate into the stored one with [`FlowAggregate::merge`]:
/// the stored row is read, merged and written back inside the batch's
/// transaction, so an aggregate that appears twice in a batch is merged
/// twice. A flush holds a few hundred aggregates every few seconds; both
/// statements are prepared once per connection and cached.
fn write_flows(tx: &Transaction<'_>, aggregates: &[FlowAggregate]) -> Result<(), StoreError> {
    let mut read = tx.prepare_cached(&format!(
        "SELECT {FLOW_COLUMNS} FROM flows WHERE server = ?1 AND protocol = ?2 AND port = ?3"
    ))?;
    let mut write = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO flows (server, protocol, port, {FLOW_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?;
    for a in aggregates {
        let (server, protocol, port) = (
            a.key.server.to_string(),
            a.key.port.protocol.as_str(),
            a.key.port.port,
        );
        let stored = read
            .query_row(params![server, protocol, port], |r| flow_columns(r, 0))
            .optional()?;
        let merged = match stored {
            Some(columns) => {
                let mut stored = flow_aggregate(a.key, columns)?;
                stored.merge(a);
                stored
            }
            None => a.clone(),
        };
        write.execute(params![
            server,
            protocol,
            port,
            nanos(merged.first_seen)?,
            nanos(merged.last_seen)?,
            count(merged.flows),
            count(merged.packets),
            count(merged.bytes),
            count(merged.clients),
            !merged.clients_exact,
        ])?;
    }
    Ok(())
}

/// The columns of a `flows` row after its key (server, protocol, port).
/// `clients_capped` says that `distinct_clients` is not exact: an estimate
/// or a lower bound.
const FLOW_COLUMNS: &str =
    "first_seen, last_seen, flows, packets, bytes, distinct_clients, clients_capped";

/// [`FLOW_COLUMNS`] as SQLite types, converted after the query so
/// conversion errors are [`StoreError`]s.
type FlowColumns = (i64, i64, i64, i64, i64, i64, bool);

/// Reads [`FLOW_COLUMNS`] from column `at` on.
fn flow_columns(r: &Row<'_>, at: usize) -> rusqlite::Result<FlowColumns> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
    ))
}

fn flow_aggregate(key: ServerPort, columns: FlowColumns) -> Result<FlowAggregate, StoreError> {
    let (first, last, flows, packets, bytes, clients, capped) = columns;
    Ok(FlowAggregate {
        key,
        first_seen: timestamp(first)?,
        last_seen: timestamp(last)?,
        flows: unsigned(flows),
        packets: unsigned(packets),
        bytes: unsigned(bytes),
        clients: unsigned(clients),
        clients_exact: !capped,
    })
}

/// A `drift_events` row as SQLite types, converted after the query so
/// conversion errors are [`StoreError`]s.
type DriftRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn drift_row(r: &Row<'_>) -> rusqlite::Result<DriftRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

impl Store for SqliteStore {
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Dropped without commit on any error: the batch is all or nothing.
        let tx = self.conn.transaction()?;
        write_drift(&tx, &batch.drift)?;
        if let Some(listeners) = &batch.listeners {
            write_listeners(&tx, listeners)?;
        }
        write_usage(&tx, &batch.usage)?;
        write_flows(&tx, &batch.flows)?;
        write_sources(&tx, &batch.sources, self.max_sources)?;
        tx.commit()?;
        Ok(())
    }

    fn drift_events(
        &self,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<DriftEvent>, StoreError> {
        let since = since.map(nanos).transpose()?.unwrap_or(i64::MIN);
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, kind, protocol, address, port, netns, netns_name, old_owner, new_owner
             FROM drift_events WHERE at >= ?1 ORDER BY at DESC, id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since, count(limit as u64)], drift_row)?;
        let mut out = Vec::new();
        for row in rows {
            let (at, kind, p, addr, port_n, netns, netns_name, old_owner, new_owner) = row?;
            out.push(DriftEvent {
                at: timestamp(at)?,
                kind: DriftKind::from_name(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("drift kind `{kind}`")))?,
                protocol: protocol_of(&p)?,
                address: address(&addr)?,
                port: port(port_n)?,
                netns: NetnsRef {
                    inode: unsigned(netns),
                    name: netns_name,
                },
                old_owner,
                new_owner,
            });
        }
        Ok(out)
    }

    fn drift_counts(&self, since: Option<Timestamp>) -> Result<Vec<(DriftKind, u64)>, StoreError> {
        let since = since.map(nanos).transpose()?.unwrap_or(i64::MIN);
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, count(*) FROM drift_events WHERE at >= ?1 GROUP BY kind",
        )?;
        let mut counts: Vec<(DriftKind, u64)> = DriftKind::ALL.iter().map(|&k| (k, 0)).collect();
        let rows = stmt.query_map([since], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (kind, n) = row?;
            let kind = DriftKind::from_name(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("drift kind `{kind}`")))?;
            if let Some(slot) = counts.iter_mut().find(|(k, _)| *k == kind) {
                slot.1 = unsigned(n);
            }
        }
        Ok(counts)
    }

    fn listeners(&self) -> Result<Vec<Listener>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT protocol, address, port, netns, netns_name, owner FROM listeners",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (p, addr, port_n, netns, netns_name, owner) = row?;
            out.push(Listener {
                protocol: protocol_of(&p)?,
                address: address(&addr)?,
                port: port(port_n)?,
                netns: NetnsRef {
                    inode: unsigned(netns),
                    name: netns_name,
                },
                owner,
            });
        }
        out.sort();
        Ok(out)
    }

    fn usage(&self) -> Result<Vec<UsageRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT protocol, port, first_seen, last_access, connections, distinct_sources, sources_capped
             FROM port_usage",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (p, port_n, first_seen, last_access, connections, sources, capped) = row?;
            out.push(UsageRecord {
                key: PortKey::new(protocol_of(&p)?, port(port_n)?),
                usage: PortUsage {
                    first_seen: timestamp(first_seen)?,
                    last_access: last_access.map(timestamp).transpose()?,
                    connections: unsigned(connections),
                    distinct_sources: unsigned(sources),
                },
                sources_capped: capped,
            });
        }
        out.sort_by_key(|u| u.key);
        Ok(out)
    }

    fn source_usage(&self, since: Option<Timestamp>) -> Result<Vec<SourceUse>, StoreError> {
        let since = since.map(nanos).transpose()?.unwrap_or(i64::MIN);
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, protocol, port, connections, first_seen, last_seen
             FROM source_usage WHERE last_seen >= ?1",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (source, p, port_n, connections, first, last) = row?;
            out.push(SourceUse {
                source: source
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("source `{source}`")))?,
                protocol: protocol_of(&p)?,
                port: port(port_n)?,
                connections: unsigned(connections),
                first_seen: timestamp(first)?,
                last_seen: timestamp(last)?,
            });
        }
        out.sort_by_key(|u| (u.port, u.protocol, u.source));
        Ok(out)
    }

    fn sources_folded(&self) -> Result<u64, StoreError> {
        Ok(unsigned(self.conn.query_row(
            "SELECT folded FROM source_usage_folded",
            [],
            |r| r.get(0),
        )?))
    }

    fn forget_sources_before(&mut self, before: Timestamp) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM source_usage WHERE last_seen < ?1",
            [nanos(before)?],
        )?)
    }

    fn port_hours(&self, since_hour: Option<i64>) -> Result<Vec<PortHours>, StoreError> {
        let mut ports = self
            .conn
            .prepare_cached("SELECT protocol, port, first_seen FROM port_usage")?;
        let rows = ports.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (p, port_n, first_seen) = row?;
            out.push(PortHours {
                key: PortKey::new(protocol_of(&p)?, port(port_n)?),
                first_seen: timestamp(first_seen)?,
                counts: Vec::new(),
            });
        }
        out.sort_by_key(|h| h.key);
        let mut hours = self.conn.prepare_cached(
            "SELECT protocol, port, hour, connections FROM port_hours WHERE hour >= ?1
             ORDER BY hour",
        )?;
        let rows = hours.query_map([since_hour.unwrap_or(i64::MIN)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (p, port_n, hour, connections) = row?;
            let key = PortKey::new(protocol_of(&p)?, port(port_n)?);
            // Both tables are written in one transaction: an hour without
            // its port is damage, not a port to make up.
            let at = out
                .binary_search_by_key(&key, |h| h.key)
                .map_err(|_| StoreError::Corrupt(format!("hours of {key} without its usage")))?;
            out[at].counts.push((hour, unsigned(connections)));
        }
        Ok(out)
    }

    fn forget_hours_before(&mut self, hour: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM port_hours WHERE hour < ?1", [hour])?)
    }

    fn flows(&self) -> Result<Vec<FlowAggregate>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT server, protocol, port, {FLOW_COLUMNS} FROM flows"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                flow_columns(r, 3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (server, p, port_n, columns) = row?;
            let key = ServerPort::new(
                address(&server)?,
                PortKey::new(protocol_of(&p)?, port(port_n)?),
            );
            out.push(flow_aggregate(key, columns)?);
        }
        out.sort_by_key(|a| a.key);
        Ok(out)
    }

    fn record_reclaim(
        &mut self,
        at: Timestamp,
        key: PortKey,
        reference: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO reclaims (at, protocol, port, reference) VALUES (?1, ?2, ?3, ?4)",
            params![nanos(at)?, key.protocol.as_str(), key.port, reference],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn cancel_reclaims(&mut self, ids: &[i64]) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let mut deleted = 0;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM reclaims WHERE id = ?1 AND undone_at IS NULL")?;
            for &id in ids {
                deleted += delete.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }

    fn mark_undone(&mut self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE reclaims SET undone_at = ?2 WHERE id = ?1 AND undone_at IS NULL",
            params![id, nanos(at)?],
        )?;
        Ok(changed == 1)
    }

    fn reclaims(&self) -> Result<Vec<Reclaim>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at, protocol, port, reference, undone_at FROM reclaims ORDER BY at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, p, port_n, reference, undone_at) = row?;
            out.push(Reclaim {
                id,
                at: timestamp(at)?,
                key: PortKey::new(protocol_of(&p)?, port(port_n)?),
                reference,
                undone_at: undone_at.map(timestamp).transpose()?,
            });
        }
        Ok(out)
    }

    fn record_detection(&mut self, d: &StoredDetection) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO detections (source, kind, tier, detector, first_seen, last_seen, ports,
                 port_count, addresses, address_count, attempts, action, block_ledger_index,
                 evidence, enrichment, capture)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                d.source.to_string(),
                d.kind,
                d.tier,
                d.detector,
                nanos(d.first_seen)?,
                nanos(d.last_seen)?,
                json_list(&d.ports)?,
                count(d.port_count),
                json_list(&d.addresses)?,
                count(d.address_count),
                count(d.attempts),
                d.action,
                d.block_ledger_index.map(count),
                json_list(&d.evidence)?,
                d.enrichment,
                d.capture.as_deref().map(path_bytes),
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn attach_detection_enrichment(&mut self, id: i64, json: &str) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE detections SET enrichment = ?2 WHERE id = ?1",
            params![id, json],
        )?;
        Ok(changed == 1)
    }

    fn attach_detection_capture(&mut self, id: i64, path: &Path) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE detections SET capture = ?2 WHERE id = ?1",
            params![id, path_bytes(path)],
        )?;
        Ok(changed == 1)
    }

    fn detections(&self) -> Result<Vec<StoredDetection>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, source, kind, tier, detector, first_seen, last_seen, ports, port_count,
                 addresses, address_count, attempts, action, block_ledger_index, evidence,
                 enrichment, capture
             FROM detections ORDER BY first_seen, id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(StoredDetection {
                id: r.get(0)?,
                source: address(&r.get::<_, String>(1)?)?,
                kind: r.get(2)?,
                tier: r.get(3)?,
                detector: r.get(4)?,
                first_seen: timestamp(r.get(5)?)?,
                last_seen: timestamp(r.get(6)?)?,
                ports: list_of(&r.get::<_, String>(7)?)?,
                port_count: unsigned(r.get(8)?),
                addresses: list_of(&r.get::<_, String>(9)?)?,
                address_count: unsigned(r.get(10)?),
                attempts: unsigned(r.get(11)?),
                action: r.get(12)?,
                block_ledger_index: r.get::<_, Option<i64>>(13)?.map(unsigned),
                evidence: list_of(&r.get::<_, String>(14)?)?,
                enrichment: r.get(15)?,
                capture: r.get::<_, Option<Vec<u8>>>(16)?.map(path_of),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_store_keeps_its_rows_under_the_renamed_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO drift_events (at, kind, proto, address, port, netns)
                     VALUES (1000, 'new_listener', 'udp', '0.0.0.0', 53, 4026531840);
                 INSERT INTO listeners (proto, address, port, netns, owner)
                     VALUES ('udp', '0.0.0.0', 53, 4026531840, NULL);
                 INSERT INTO reclaims (at, proto, port, reference) VALUES (1000, 'tcp', 8081, 'x');",
            )
            .unwrap();
        }
        let store = SqliteStore::open_path(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            SqliteStore::supported_schema_version()
        );
        let events = store.drift_events(None, 10).unwrap();
        assert_eq!(
            (events[0].protocol, events[0].port, events[0].netns.inode),
            (Proto::Udp, 53, 4026531840)
        );
        assert_eq!(events[0].netns.name, None, "not known before version 2");
        assert_eq!(store.listeners().unwrap()[0].protocol, Proto::Udp);
        assert_eq!(
            store.reclaims().unwrap()[0].key,
            PortKey::new(Proto::Tcp, 8081)
        );
    }

    #[test]
    fn a_version_2_store_loses_the_reclaims_that_never_took_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            // 1 in force, 2 undone a minute later, 3 voided the instant it
            // was recorded (the firewall refused it).
            conn.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO reclaims (id, at, protocol, port, reference, undone_at) VALUES
                     (1, 1000, 'tcp', 8081, 'pending', NULL),
                     (2, 2000, 'tcp', 8082, 'pending', 60000002000),
                     (3, 3000, 'tcp', 8083, 'pending', 3000);",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open_path(&path).unwrap();
        let kept: Vec<(i64, u16, Option<i64>)> = store
            .reclaims()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.key.port,
                    r.undone_at.map(|t| t.as_nanosecond() as i64),
                )
            })
            .collect();
        assert_eq!(kept, [(1, 8081, None), (2, 8082, Some(60000002000))]);
        // The dropped id stays used.
        let next = store
            .record_reclaim(Timestamp::now(), PortKey::new(Proto::Tcp, 8083), "pending")
            .unwrap();
        assert_eq!(next, 4);
    }

    #[test]
    fn a_version_5_store_keeps_its_rows_and_gains_empty_hours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 5;
                 INSERT INTO port_usage (protocol, port, first_seen, last_access, connections)
                     VALUES ('tcp', 22, 1000, 7200000000000, 9);
                 INSERT INTO source_usage (source, protocol, port, connections, first_seen, last_seen)
                     VALUES ('10.0.0.5/32', 'tcp', 22, 9, 1000, 7200000000000);",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open_path(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 6);
        let usage = store.usage().unwrap();
        assert_eq!(
            (usage[0].key, usage[0].usage.connections),
            (PortKey::new(Proto::Tcp, 22), 9)
        );
        assert_eq!(store.source_usage(None).unwrap()[0].connections, 9);
        // Counted before hours were kept: the port is there, its hours
        // start empty, and new connections land in theirs.
        let hours = store.port_hours(None).unwrap();
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].first_seen.as_nanosecond(), 1000);
        assert!(hours[0].counts.is_empty());
        let at: Timestamp = "2026-12-07T10:30:00Z".parse().unwrap();
        store
            .write(&WriteBatch {
                usage: vec![UsageUpdate {
                    last_access: Some(at),
                    connections: 2,
                    ..UsageUpdate::seen(PortKey::new(Proto::Tcp, 22), at)
                }],
                ..WriteBatch::default()
            })
            .unwrap();
        assert_eq!(
            store.port_hours(None).unwrap()[0].counts,
            [(hour_of(at), 2)]
        );
        assert_eq!(store.usage().unwrap()[0].usage.connections, 11);
    }

    #[test]
    fn hours_are_counted_since_the_epoch_in_utc() {
        assert_eq!(hour_of(Timestamp::UNIX_EPOCH), 0);
        assert_eq!(hour_of("1970-01-01T00:59:59Z".parse().unwrap()), 0);
        assert_eq!(hour_of("1970-01-01T01:00:00Z".parse().unwrap()), 1);
        assert_eq!(hour_of("1969-12-31T23:59:59Z".parse().unwrap()), -1);
    }

    #[test]
    fn connections_are_wal_with_normal_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn address_hashes_tell_families_apart() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_ne!(address_hash(v4), address_hash(mapped));
        assert_eq!(address_hash(v4), address_hash("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn saturating_add_is_spelled_out() {
        assert_eq!(
            saturating_add("a", "b"),
            "CASE WHEN a > 9223372036854775807 - b THEN 9223372036854775807 ELSE a + b END"
        );
    }
}

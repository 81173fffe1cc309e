//! The ledger on disk, and durable appends to it.
//!
//! Files under the ledger directory, which is created 0700; every file is
//! 0600 whatever the umask, and none is ever opened through a symbolic
//! link, so a link planted under a ledger name makes the ledger refuse to
//! open instead of writing into the link's target:
//!
//! - `entries.jsonl` — the entries, one canonical JSON record per line. The
//!   only file an append waits on: each batch is written and `fdatasync`ed
//!   before any of its writers is told it succeeded.
//! - `checkpoints.jsonl` — signed checkpoints (and witnesses'
//!   cosignatures), one JSON-encoded signed note per line, fsynced.
//! - `checkpoint.latest` — a copy of the latest signed checkpoint (see
//!   below).
//! - `log.key` / `log.pub` — the log's Ed25519 signing key and its public
//!   verifier key; opening checks that they belong together.
//! - `tree.bin` — a 4,096-byte header holding another copy of the latest
//!   signed checkpoint, then a cache of every complete subtree hash in
//!   post-order (see [`crate::merkle::post_order_position`]), so that
//!   proofs need O(log² n) reads. The hashes are derived from the entries:
//!   `tree.head` names how many leaves of them were fsynced (it is
//!   rewritten atomically every [`PERSIST_EVERY`] leaves), and the entries
//!   after that are hashed again when the ledger is opened. Verification
//!   does not trust them.
//! - `lock` — `flock`ed around every append, so processes take turns.
//!
//! Within a process, appends from many threads share flushes (group
//! commit): each thread writes its entries in turn, then waits until an
//! `fdatasync` that started after its write has finished — starting one
//! itself if none is running ([`Ledger::append_all`]). The device's flush
//! latency bounds a lone writer; concurrent writers share it.
//!
//! A process killed in the middle of a write leaves at most an incomplete
//! last line, which no writer was told had succeeded; the next writer cuts
//! it off. After a power loss the unacknowledged tail may also read back as
//! NUL bytes; those lines are cut too. Anything else that does not parse is
//! corruption: it is reported and appends are refused, never truncated.
//!
//! # Keeping the history and its checkpoints together
//!
//! A signed checkpoint is the one thing in this directory that whoever can
//! write it cannot make without the log's key. Were checkpoints kept in
//! `checkpoints.jsonl` alone, deleting that file would leave entries that
//! nothing vouches for — and the next append would sign them as they
//! stand, an edited entry or a cut-off end included. So:
//!
//! 1. **The latest checkpoint is kept in three places.** Every checkpoint
//!    is appended to `checkpoints.jsonl`, then written with the log's
//!    signature into `checkpoint.latest` and into the header of
//!    `tree.bin`, all fsynced before [`Ledger::checkpoint`] returns. Each
//!    copy is two checksummed slots written in turn, so a torn write leaves
//!    the copy before it. The copies are written after the line, so at rest
//!    they hold the latest stored checkpoint, or the one before it if a
//!    process stopped in between (the next writer brings them up to date).
//!    A running [`Ledger`] also remembers the latest checkpoint it has
//!    signed or read, which no file operation can take from it.
//! 2. **Nothing is written on top of a history that contradicts them.**
//!    When a ledger is opened, whenever a writer finds the entries file
//!    shorter than it left it, and before every signature, the ledger
//!    compares everything it knows — the last two checkpoints of
//!    `checkpoints.jsonl`, both copies and its memory — with the tree it
//!    would sign. Each must carry the log's signature, cover no more
//!    entries than there are, and have the root of that many entries; a
//!    copy must be the latest stored checkpoint or the one before it; and
//!    at most [`MAX_UNSIGNED`] entries may follow the latest. Otherwise the
//!    ledger refuses to append or sign ([`LedgerError::Tampered`]). These
//!    checks read a few small files and O(log n) cached hashes, not the
//!    entries, so an append costs nothing more for a larger ledger.
//!    Re-reading every entry is [`crate::verify`]'s job; an entry edited
//!    under a checkpoint is not signed over all the same, because the
//!    ledger signs the tree it recorded (the subtree cache, and hashes of
//!    the entries only past its fsynced extent), which the edited entry no
//!    longer matches, and verification names it.
//! 3. **At most one append goes unsigned.** Callers sign a checkpoint after
//!    each change (the service layer does after every recorded one), and an
//!    [`Ledger::append_all`] that would leave more than [`MAX_UNSIGNED`]
//!    entries after the latest checkpoint signs one first; a larger batch
//!    is written in parts, with a checkpoint between them. An interrupted
//!    append therefore leaves at most [`MAX_UNSIGNED`] entries without a
//!    checkpoint, which the next writer and verification accept (the next
//!    checkpoint covers them), and more than that is a failure.
//!
//! Without the log's key, then, an edit, a deletion or a cut-off end is
//! noticed as long as any one of the three places still records a
//! checkpoint over it, and a running writer notices while it runs. What
//! remains possible without the key is to roll *all* of them back together
//! — cut the entries and `checkpoints.jsonl` to an earlier checkpoint and
//! write that (validly signed) checkpoint into both copies — or to delete
//! all of them from a ledger of at most [`MAX_UNSIGNED`] entries; and, as
//! everywhere, to change entries that no checkpoint covers yet. With the
//! key, which root on the host can read, anything can be rewritten and
//! signed again. Those are what witnesses' cosignatures and checkpoints
//! exported off the host are for: a rolled-back or rewritten history is
//! inconsistent with every checkpoint held elsewhere.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::copies;
use crate::entry::{Draft, Entry};
use crate::files::{Access, Dir, error_at};
use crate::lines::EntryIndex;
use crate::merkle::{self, CompactTree, Hash, Subtrees};
use crate::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey, VerifierKey};
use crate::verify::LatestCopy;

/// Leaves between fsyncs of the subtree cache.
pub const PERSIST_EVERY: u64 = 4096;

/// The most entries that may follow the latest checkpoint: what one
/// interrupted append can leave unsigned. An append that would leave more
/// signs a checkpoint first (and a larger one is written in parts), so a
/// ledger with more entries after its latest checkpoint has lost
/// checkpoints or gained entries from something other than the ledger.
pub const MAX_UNSIGNED: u64 = 4096;

pub(crate) const ENTRIES: &str = "entries.jsonl";
const CHECKPOINTS: &str = "checkpoints.jsonl";
const LATEST: &str = "checkpoint.latest";
const TREE: &str = "tree.bin";
const TREE_HEAD: &str = "tree.head";
const SIGNING_KEY: &str = "log.key";
const VERIFIER_KEY: &str = "log.pub";
const LOCK: &str = "lock";

/// Where the subtree hashes start in `tree.bin`: after its copy of the
/// latest checkpoint.
const TREE_NODES_AT: u64 = copies::REGION;

/// Why the ledger could not be read or appended to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// A file could not be read or written (or is a symbolic link, which
    /// the ledger never follows).
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// An entry in the middle of the ledger does not parse: corruption,
    /// which is reported rather than repaired.
    #[error("{path}: entry at position {position} (line {line}) is corrupt: {error}")]
    Corrupt {
        /// The entries file.
        path: PathBuf,
        /// The entry's position (0-based).
        position: u64,
        /// Its line number (1-based).
        line: u64,
        /// What is wrong.
        error: String,
    },
    /// A key file or stored checkpoint is unusable.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The entries contradict a signed checkpoint the ledger knows of, or
    /// a record of the latest checkpoint is missing (see the module
    /// documentation): the history was changed, cut or stripped of its
    /// checkpoints, and the ledger refuses to append to it or sign over it.
    #[error(
        "{dir}: the ledger does not match its signed checkpoints: {message}. Nothing was appended or signed; `portreeve ledger verify` shows what fails"
    )]
    Tampered {
        /// The ledger directory.
        dir: PathBuf,
        /// What contradicts what.
        message: String,
    },
    /// A caller's request that cannot be met.
    #[error("{0}")]
    Request(String),
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> LedgerError + '_ {
    move |e| error_at(path, e)
}

/// An entry appended: its position and the tree size it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The entry's position.
    pub index: u64,
    /// The entry as recorded.
    pub entry: Entry,
}

/// The last fsynced extent of the subtree cache.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct TreeHead {
    /// Leaves covered by `tree.bin`'s fsynced prefix.
    leaves: u64,
    /// Byte offset in `entries.jsonl` where entry `leaves` starts.
    offset: u64,
    /// Root of those leaves, to check the cache's peaks against.
    #[serde(with = "hex_hash")]
    root: Hash,
}

impl TreeHead {
    fn empty() -> TreeHead {
        TreeHead {
            leaves: 0,
            offset: 0,
            root: merkle::empty_root(),
        }
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&h.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a root is 32 bytes"))
    }
}

/// What a writer knows of the files: the tree over every entry, which
/// part of it is in the fsynced cache, the nodes completed since, and the
/// latest signed checkpoint.
struct View {
    /// Byte length of `entries.jsonl` this view covers.
    end: u64,
    /// The tree over all entries.
    tree: CompactTree,
    /// The cache's fsynced extent.
    head: TreeHead,
    /// Post-order nodes completed after `head.leaves`.
    pending: Vec<Hash>,
    /// The latest signed checkpoint this handle has signed or read: kept
    /// when the view is reloaded, so that a history cut under a running
    /// writer is noticed even if every file that recorded it is gone.
    signed: Option<Checkpoint>,
    /// Whether the files have been checked against every checkpoint known
    /// since the view was (re)loaded.
    checked: bool,
}

impl View {
    fn empty() -> View {
        View {
            end: 0,
            tree: CompactTree::new(),
            head: TreeHead::empty(),
            pending: Vec::new(),
            signed: None,
            checked: false,
        }
    }

    fn push(&mut self, leaf: Hash) {
        let pending = &mut self.pending;
        self.tree.push(leaf, |_, _, h| pending.push(*h));
    }

    /// Entries after the latest checkpoint this view knows of.
    fn unsigned(&self) -> u64 {
        self.tree.size() - self.signed.as_ref().map_or(0, |c| c.size)
    }
}

/// How much of the entries file this process knows to be on disk.
struct Durability {
    /// Bytes of `entries.jsonl` covered by a completed `fdatasync`.
    synced: u64,
    /// Whether a thread is flushing now.
    flushing: bool,
    /// How long a flush takes, on average.
    flush_time: Duration,
    /// A failed flush: the file's state on disk is unknown from then on,
    /// so this handle refuses to acknowledge anything more.
    failed: Option<LedgerError>,
}

/// How a [`Ledger`] makes the entries file durable: `fdatasync` in
/// [`Ledger::open`]; another function only through
/// [`Ledger::open_with_flush`], so tests can make a flush fail as a failing
/// disk would.
pub type Flush = Box<dyn Fn(&File) -> io::Result<()> + Send + Sync>;

/// A ledger directory opened for reading and appending.
pub struct Ledger {
    dir: Dir,
    host: String,
    key: SignerKey,
    /// `lock`, `flock`ed (while `view` is held) around every change, so
    /// that processes take turns.
    lock_file: File,
    /// `entries.jsonl`, open for appending.
    entries: File,
    /// `entries.jsonl`'s device and inode, to notice it being replaced.
    entries_identity: (u64, u64),
    /// `tree.bin`, the subtree cache.
    tree: File,
    view: Mutex<View>,
    /// The largest `entries.jsonl` length this process has written or
    /// seen: a flush started later covers at least this much.
    written: AtomicU64,
    /// Flushes of the entries file made by this handle.
    flushes: AtomicU64,
    /// Threads in [`Self::append_all`].
    appending: AtomicUsize,
    /// Of those, the ones that have not finished writing.
    writing: AtomicUsize,
    durable: Mutex<Durability>,
    flushed: Condvar,
    /// Makes `entries` durable (see [`Flush`]).
    flush: Flush,
    /// Where entries start in `entries.jsonl`, for [`Self::entry_lines`].
    lines: Mutex<EntryIndex>,
}

/// The view and the cross-process lock, held together; the lock is
/// released first (field order), while the view still excludes this
/// process's other threads, which share the lock's file description.
struct Locked<'a> {
    _flock: Flock<'a>,
    view: MutexGuard<'a, View>,
}

/// An `flock` held on the ledger's lock file.
struct Flock<'a>(&'a File);

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, FlockOperation::Unlock);
    }
}

/// The host name recorded in entries and used in the log's origin.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The latest checkpoints of `checkpoints.jsonl`, as a writer reads them
/// from its end.
#[derive(Default)]
struct StoredTail {
    /// The latest checkpoint signed by the log.
    latest: Option<StoredCheckpoint>,
    /// The one before it (of a smaller size).
    previous: Option<Checkpoint>,
}

struct StoredCheckpoint {
    checkpoint: Checkpoint,
    /// The note with the log's signature only, as the copies keep it.
    note: Note,
    /// The note with every signature stored for it (witnesses' too).
    merged: Note,
}

/// A copy of the latest checkpoint, as a writer reads it.
#[derive(Default)]
struct CopyState {
    checkpoint: Option<Checkpoint>,
    damaged: bool,
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`, generating the log's
    /// signing key on first use, and checks the entries against every
    /// record of the latest signed checkpoint (see the module
    /// documentation): a ledger that contradicts one is not opened
    /// ([`LedgerError::Tampered`]).
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with_flush(dir, Box::new(File::sync_data))
    }

    /// [`Ledger::open`], with `flush` making the entries file durable in
    /// place of `fdatasync`: for tests of what a failed flush does (the
    /// append is not acknowledged, and this handle acknowledges nothing
    /// more). `flush` must make every byte written to the file before it
    /// was called durable, or fail.
    pub fn open_with_flush(dir: &Path, flush: Flush) -> Result<Ledger, LedgerError> {
        let dir = Dir::create(dir)?;
        let host = host_name();
        let lock_file = dir.open_for_writing(LOCK, Access::ReadWrite)?;
        // Under the lock, so that processes opening a new ledger together
        // agree on one key.
        let key = {
            rustix::fs::flock(&lock_file, FlockOperation::LockExclusive)
                .map_err(|e| io_at(&dir.join(LOCK))(e.into()))?;
            let _unlock = Flock(&lock_file);
            load_or_create_key(&dir, &host)?
        };
        let entries = dir.open_for_writing(ENTRIES, Access::Append)?;
        let tree = dir.open_for_writing(TREE, Access::ReadWrite)?;
        // The names just created must survive a power loss too.
        dir.sync()?;
        let stat = rustix::fs::fstat(&entries).map_err(|e| io_at(&dir.join(ENTRIES))(e.into()))?;
        let ledger = Ledger {
            host,
            key,
            lock_file,
            entries,
            entries_identity: (stat.st_dev, stat.st_ino),
            tree,
            dir,
            view: Mutex::new(View::empty()),
            written: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            appending: AtomicUsize::new(0),
            writing: AtomicUsize::new(0),
            durable: Mutex::new(Durability {
                synced: 0,
                flushing: false,
                flush_time: Duration::from_micros(200),
                failed: None,
            }),
            flushed: Condvar::new(),
            flush,
            lines: Mutex::new(EntryIndex::default()),
        };
        drop(ledger.locked()?);
        Ok(ledger)
    }

    /// The ledger's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The log's public key, which verifies its checkpoints.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// The log's origin line (its key name).
    pub fn origin(&self) -> String {
        self.key.name().to_string()
    }

    /// How many times this handle has flushed the entries to disk: with
    /// the number of entries appended, how well appends shared flushes.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// The number of entries.
    pub fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.locked()?.view.tree.size())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn tampered(&self, message: String) -> LedgerError {
        LedgerError::Tampered {
            dir: self.dir.path().to_path_buf(),
            message,
        }
    }

    /// Takes the view, then the cross-process lock, and brings the view up
    /// to date with the files, checking them against every known
    /// checkpoint if the view was (re)loaded.
    fn locked(&self) -> Result<Locked<'_>, LedgerError> {
        let view = self.view.lock().expect("view lock");
        rustix::fs::flock(&self.lock_file, FlockOperation::LockExclusive)
            .map_err(|e| io_at(&self.path(LOCK))(e.into()))?;
        let mut locked = Locked {
            _flock: Flock(&self.lock_file),
            view,
        };
        self.sync(&mut locked.view)?;
        if !locked.view.checked {
            self.check_history(&mut locked.view)?;
        }
        // What is in the file now is what a flush started later covers.
        self.written.fetch_max(locked.view.end, Ordering::AcqRel);
        Ok(locked)
    }

    /// Appends one entry and returns once it is durable (see
    /// [`Self::append_all`]).
    pub fn append(&self, draft: Draft) -> Result<Appended, LedgerError> {
        Ok(self
            .append_all(vec![draft])?
            .pop()
            .expect("one draft, one entry"))
    }

    /// Appends `drafts` as consecutive entries and returns once all are
    /// durable.
    ///
    /// Writing and flushing are separate steps: threads take turns to
    /// write (briefly), and one `fdatasync` then covers every write that
    /// finished before it started. A thread whose write came after the
    /// running flush began waits for that flush and starts the next one,
    /// which covers everyone who wrote in the meantime — so concurrent
    /// appenders share flushes without waiting for a batch to fill.
    ///
    /// No append leaves more than [`MAX_UNSIGNED`] entries after the latest
    /// checkpoint: one that would signs a checkpoint over the entries
    /// before it first, and more drafts than that are written in parts
    /// with a checkpoint between them (if signing then fails, the parts
    /// already written stay, unacknowledged). Callers that sign after
    /// every change never see this happen.
    pub fn append_all(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, LedgerError> {
        if let Some(bad) = drafts
            .iter()
            .find(|d| !crate::entry::valid_action(&d.action))
        {
            return Err(LedgerError::Request(format!(
                "{:?} is not a valid action name",
                bad.action
            )));
        }
        self.appending.fetch_add(1, Ordering::AcqRel);
        self.writing.fetch_add(1, Ordering::AcqRel);
        let written = self.write_entries(drafts);
        self.writing.fetch_sub(1, Ordering::AcqRel);
        let result = written.and_then(|(appended, end)| self.make_durable(end).map(|()| appended));
        self.appending.fetch_sub(1, Ordering::AcqRel);
        result
    }

    /// Writes `drafts` as the next entries (not yet flushed), in parts of
    /// at most [`MAX_UNSIGNED`], signing a checkpoint first wherever the
    /// entries after the latest one would otherwise number more; returns
    /// them and the file length after them.
    fn write_entries(&self, drafts: Vec<Draft>) -> Result<(Vec<Appended>, u64), LedgerError> {
        let mut locked = self.locked()?;
        let view = &mut *locked.view;
        let time = Timestamp::now();
        let mut appended = Vec::with_capacity(drafts.len());
        let mut drafts = drafts.into_iter().peekable();
        while drafts.peek().is_some() {
            let part: Vec<Draft> = drafts.by_ref().take(MAX_UNSIGNED as usize).collect();
            if view.unsigned() > 0 && view.unsigned() + part.len() as u64 > MAX_UNSIGNED {
                let (size, root, end) = (view.tree.size(), view.tree.root(), view.end);
                self.make_durable(end)?;
                self.sign_locked(view, size, root)?;
            }
            self.write_part(view, part, time, &mut appended)?;
        }
        Ok((appended, view.end))
    }

    /// Writes one part of an append (see [`Self::write_entries`]).
    fn write_part(
        &self,
        view: &mut View,
        drafts: Vec<Draft>,
        time: Timestamp,
        appended: &mut Vec<Appended>,
    ) -> Result<(), LedgerError> {
        let first = view.tree.size();
        let mut buf = Vec::with_capacity(drafts.len() * 320);
        let mut leaves = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.into_iter().enumerate() {
            let entry = draft.into_entry(first + i as u64, &self.host, time);
            let bytes = entry.to_canonical();
            leaves.push(merkle::leaf_hash(&bytes));
            buf.extend_from_slice(&bytes);
            buf.push(b'\n');
            appended.push(Appended {
                index: entry.index,
                entry,
            });
        }
        if let Err(e) = (&self.entries).write_all(&buf) {
            // Nobody is told these entries exist, so none may stay behind.
            let _ = self.entries.set_len(view.end);
            return Err(io_at(&self.path(ENTRIES))(e));
        }
        view.end += buf.len() as u64;
        self.written.fetch_max(view.end, Ordering::AcqRel);
        let new_nodes = view.pending.len();
        for leaf in leaves {
            view.push(leaf);
        }
        if view.tree.size() - view.head.leaves >= PERSIST_EVERY {
            self.persist_tree(view)?;
        } else {
            self.record_nodes(first, &view.pending[new_nodes..]);
        }
        Ok(())
    }
    /// Returns once `entries.jsonl` is on disk up to byte `end`: flushes
    /// if no flush is running, else waits for the running one and, if that
    /// one started before `end` was written, flushes again.
    fn make_durable(&self, end: u64) -> Result<(), LedgerError> {
        let mut state = self.durable.lock().expect("durability lock");
        loop {
            if let Some(e) = &state.failed {
                return Err(e.clone());
            }
            if state.synced >= end {
                return Ok(());
            }
            if state.flushing {
                state = self.flushed.wait(state).expect("durability lock");
                continue;
            }
            state.flushing = true;
            let flush_time = state.flush_time;
            drop(state);
            self.gather(flush_time);
            // Everything written before this point is covered by the flush.
            let covers = self.written.load(Ordering::Acquire);
            let started = Instant::now();
            let result = (self.flush)(&self.entries);
            let took = started.elapsed();
            self.flushes.fetch_add(1, Ordering::Relaxed);
            state = self.durable.lock().expect("durability lock");
            state.flushing = false;
            // A moving average, so one slow flush does not set the pace.
            state.flush_time = (state.flush_time * 7 + took) / 8;
            match result {
                Ok(()) => state.synced = state.synced.max(covers),
                Err(e) => state.failed = Some(io_at(&self.path(ENTRIES))(e)),
            }
            self.flushed.notify_all();
        }
    }

    /// Before a flush, while other threads are appending too, waits a
    /// little so that one flush carries more of them. Without it,
    /// appenders fall into two groups that alternate: those a flush
    /// acknowledged come back and write while the next flush (carrying the
    /// other group) runs, so each flush carries about half of them. Waiting
    /// at least a third of a flush lets the acknowledged ones write again;
    /// the wait is over once no appender is between starting and finishing
    /// its write, or after one flush's time at most, which bounds what it
    /// adds to anyone's latency. (Measured here with 8 writers: 4.3 entries
    /// a flush and 14,800 appends/s without it, about 7 and 23,000 with
    /// it; a lone writer never waits.)
    fn gather(&self, flush_time: Duration) {
        if self.appending.load(Ordering::Acquire) <= 1 {
            return;
        }
        let started = Instant::now();
        loop {
            let waited = started.elapsed();
            let settled = self.writing.load(Ordering::Acquire) == 0 && waited >= flush_time / 3;
            if settled || waited >= flush_time {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Brings `view` up to date with the files (under the lock): cuts an
    /// unacknowledged torn tail, reloads the cache if another process
    /// advanced it (or the file is shorter than the view: then the view
    /// must be checked again), and hashes entries appended since.
    fn sync(&self, view: &mut View) -> Result<(), LedgerError> {
        let path = self.path(ENTRIES);
        let len = self.entries.metadata().map_err(io_at(&path))?.len();
        if len == view.end && view.end > 0 {
            return Ok(());
        }
        self.check_identity()?;
        let len = repair_tail(&self.entries, &path, len)?;
        let head = self.read_head()?;
        if len < view.end || head.leaves > view.tree.size() || view.end == 0 {
            let signed = view.signed.take();
            *view = self.load_cache(head, len);
            view.signed = signed;
        }
        self.hash_entries(view, len)
    }

    /// Hashes the entries from `view.end` to byte `len` into the view,
    /// checking that each holds its position.
    fn hash_entries(&self, view: &mut View, len: u64) -> Result<(), LedgerError> {
        if len <= view.end {
            return Ok(());
        }
        let path = self.path(ENTRIES);
        let mut tail = vec![0u8; (len - view.end) as usize];
        self.entries
            .read_exact_at(&mut tail, view.end)
            .map_err(io_at(&path))?;
        let mut offset = view.end;
        for line in tail.split_inclusive(|&b| b == b'\n') {
            let position = view.tree.size();
            let body = &line[..line.len() - 1];
            match Entry::parse(body) {
                Ok(e) if e.index == position => {}
                Ok(e) => {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        position,
                        line: position + 1,
                        error: format!("it records position {}", e.index),
                    });
                }
                Err(e) => {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        position,
                        line: position + 1,
                        error: e.to_string(),
                    });
                }
            }
            view.push(merkle::leaf_hash(body));
            offset += line.len() as u64;
        }
        view.end = offset;
        Ok(())
    }

    /// The cache's fsynced extent; nothing if `tree.head` is missing or
    /// unreadable (it is only a cache), an error if it is a link.
    fn read_head(&self) -> Result<TreeHead, LedgerError> {
        Ok(self
            .dir
            .read(TREE_HEAD)?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(TreeHead::empty))
    }

    /// A view starting from the cache's fsynced extent, or from nothing if
    /// the cache does not check out (it is only a cache).
    fn load_cache(&self, head: TreeHead, entries_len: u64) -> View {
        let from_cache = || -> Option<View> {
            if head.leaves == 0 || head.offset > entries_len {
                return None;
            }
            let stored = FileTree { file: &self.tree };
            let peaks = peak_positions(head.leaves)
                .map(|(level, index)| stored.subtree(level, index).ok())
                .collect::<Option<Vec<Hash>>>()?;
            let tree = CompactTree::from_peaks(head.leaves, peaks).ok()?;
            (tree.root() == head.root).then(|| View {
                end: head.offset,
                tree,
                head: head.clone(),
                ..View::empty()
            })
        };
        from_cache().unwrap_or_else(View::empty)
    }

    /// Writes the nodes completed by appending leaves from `first` on into
    /// the cache, without waiting for the disk: they are not trusted until
    /// [`Self::persist_tree`] fsyncs them, but they let a verifier name an
    /// entry edited later. A failure here only costs that.
    fn record_nodes(&self, first: u64, nodes: &[Hash]) {
        let bytes: Vec<u8> = nodes.iter().flatten().copied().collect();
        if let Err(e) = self
            .tree
            .write_all_at(&bytes, TREE_NODES_AT + merkle::post_order_len(first) * 32)
        {
            tracing::debug!(error = %e, "could not cache subtree hashes");
        }
    }

    /// Writes the pending nodes into the cache, fsyncs it, then records
    /// the new extent atomically.
    fn persist_tree(&self, view: &mut View) -> Result<(), LedgerError> {
        // The head will point into the entries: they must be on disk first
        // (and a failed flush here fails this handle like any other).
        self.make_durable(view.end)?;
        let path = self.path(TREE);
        let file = &self.tree;
        let at = TREE_NODES_AT + merkle::post_order_len(view.head.leaves) * 32;
        let bytes: Vec<u8> = view.pending.iter().flatten().copied().collect();
        file.write_all_at(&bytes, at).map_err(io_at(&path))?;
        file.set_len(at + bytes.len() as u64)
            .map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))?;
        let head = TreeHead {
            leaves: view.tree.size(),
            offset: view.end,
            root: view.tree.root(),
        };
        self.dir.write_atomically(
            TREE_HEAD,
            &serde_json::to_vec(&head).expect("a head serialises"),
        )?;
        view.head = head;
        view.pending.clear();
        Ok(())
    }

    /// Checks the files against every record of the latest checkpoint
    /// (point 2 of the module documentation), brings copies that are one
    /// behind up to date, and returns the latest stored checkpoints.
    fn check_history(&self, view: &mut View) -> Result<StoredTail, LedgerError> {
        self.check_identity()?;
        let stored = self.read_stored_tail()?;
        let latest = stored.latest.as_ref();
        let copies = [
            (LATEST, self.read_copy(LATEST, latest)?),
            (TREE, self.read_copy(TREE, latest)?),
        ];
        match self.compare(view, &stored, &copies) {
            // The cached tree may be what disagrees: hash every entry and
            // compare again before calling the history changed.
            Err(_) if view.head.leaves > 0 => {
                let (signed, end) = (view.signed.take(), view.end);
                *view = View::empty();
                view.signed = signed;
                self.hash_entries(view, end)?;
                self.compare(view, &stored, &copies)?;
            }
            outcome => outcome?,
        }
        if let Some(latest) = &stored.latest {
            for (name, copy) in &copies {
                if copy.checkpoint.as_ref() != Some(&latest.checkpoint) {
                    self.write_copy(name, &latest.note)?;
                }
            }
            view.signed = Some(latest.checkpoint.clone());
        }
        view.checked = true;
        Ok(stored)
    }

    /// Checks that `entries.jsonl` is still the file this handle appends
    /// to: one renamed over it would take no more appends, and entries
    /// acknowledged into the old one would be lost. (Checked when the view
    /// is brought up to date from the files and before every signature, so
    /// that appends by a lone writer cost no extra system call.)
    fn check_identity(&self) -> Result<(), LedgerError> {
        if self.dir.identity(ENTRIES)? != Some(self.entries_identity) {
            return Err(self.tampered(
                "entries.jsonl was removed or replaced while the ledger was open".into(),
            ));
        }
        Ok(())
    }

    /// The rules of [`Self::check_history`].
    fn compare(
        &self,
        view: &View,
        stored: &StoredTail,
        copies: &[(&str, CopyState)],
    ) -> Result<(), LedgerError> {
        let n = view.tree.size();
        let latest = stored.latest.as_ref().map(|l| &l.checkpoint);
        let mut known: Vec<(String, &Checkpoint)> = Vec::new();
        if let Some(l) = latest {
            known.push(("the latest checkpoint in checkpoints.jsonl".into(), l));
        }
        if let Some(p) = &stored.previous {
            known.push(("the checkpoint before it in checkpoints.jsonl".into(), p));
        }
        for (name, copy) in copies {
            if let Some(c) = &copy.checkpoint {
                known.push((format!("the copy of the latest checkpoint in {name}"), c));
            }
        }
        if let Some(m) = &view.signed {
            known.push((
                "the checkpoint this process signed or read before".into(),
                m,
            ));
        }
        for (source, c) in &known {
            if c.size > n {
                return Err(self.tampered(format!(
                    "{source} covers {} entries, but entries.jsonl holds {n}: entries from position {n} on were removed",
                    c.size
                )));
            }
            if self.root_in_view(view, c.size)? != c.root {
                return Err(self.tampered(format!(
                    "the first {} entries do not match {source}: entries were changed or removed",
                    c.size
                )));
            }
        }
        for (name, copy) in copies {
            let lacks = |size: u64| {
                self.tampered(format!(
                    "{name} keeps a copy of the checkpoint of size {size}, which checkpoints.jsonl lacks ({}): checkpoints were removed",
                    latest.map_or("it holds none".to_string(), |l| format!(
                        "its latest is of size {}",
                        l.size
                    ))
                ))
            };
            match (copy.checkpoint.as_ref().map(|c| c.size), latest) {
                (Some(size), None) => return Err(lacks(size)),
                (Some(size), Some(l)) if size == l.size => {}
                (Some(size), Some(l)) if size > l.size => return Err(lacks(size)),
                // One behind: a process stopped between storing the
                // checkpoint and writing its copies.
                (Some(size), Some(_))
                    if stored.previous.as_ref().is_some_and(|p| p.size == size) => {}
                (Some(size), Some(l)) => {
                    return Err(self.tampered(format!(
                        "{name} keeps a copy of the checkpoint of size {size}, older than the last two in checkpoints.jsonl (the latest is of size {}): it was replaced by an old copy",
                        l.size
                    )));
                }
                (None, Some(l)) if stored.previous.is_some() => {
                    return Err(self.tampered(format!(
                        "{name} keeps no copy of the latest checkpoint (size {}){}, though checkpoints.jsonl holds several: the copy was removed or replaced",
                        l.size,
                        if copy.damaged {
                            "; what it holds is damaged"
                        } else {
                            ""
                        }
                    )));
                }
                // No checkpoint yet, or the first one stored before its
                // copies were written.
                (None, _) => {}
            }
        }
        if let Some(m) = &view.signed
            && latest.is_none_or(|l| m.size > l.size)
        {
            return Err(self.tampered(format!(
                "checkpoints.jsonl no longer holds the checkpoint of size {} this process signed or read before: checkpoints were removed while the ledger was open",
                m.size
            )));
        }
        let covered = latest.map_or(0, |l| l.size);
        if n - covered > MAX_UNSIGNED {
            return Err(self.tampered(format!(
                "no checkpoint covers the {} entries from position {covered} on, more than the {MAX_UNSIGNED} an interrupted append can leave: checkpoints were removed, or entries were added by something other than the ledger",
                n - covered
            )));
        }
        Ok(())
    }

    /// The root of the first `size` entries as this view has them.
    fn root_in_view(&self, view: &View, size: u64) -> Result<Hash, LedgerError> {
        if size == view.tree.size() {
            return Ok(view.tree.root());
        }
        let tree = ViewTree {
            file: Some(FileTree { file: &self.tree }),
            cached: merkle::post_order_len(view.head.leaves),
            pending: &view.pending,
        };
        merkle::root(&tree, size).map_err(io_at(&self.path(TREE)))
    }

    /// The latest two checkpoints signed by the log in `checkpoints.jsonl`,
    /// read from its end (a window that grows until it holds both, or the
    /// whole file), signatures checked. Lines without the log's signature
    /// (witnesses' cosignatures) are skipped, but their signatures count
    /// towards the latest checkpoint's when they are for it.
    fn read_stored_tail(&self) -> Result<StoredTail, LedgerError> {
        let path = self.path(CHECKPOINTS);
        let Some(file) = self.dir.open_file(CHECKPOINTS, Access::Read)? else {
            return Ok(StoredTail::default());
        };
        let len = file.metadata().map_err(io_at(&path))?.len();
        let log = self.key.verifier();
        let mut window = len.min(64 << 10);
        loop {
            let start = len - window;
            let mut bytes = vec![0u8; window as usize];
            file.read_exact_at(&mut bytes, start)
                .map_err(io_at(&path))?;
            // Whole lines only: the last piece is an interrupted write (or
            // empty), and the first may be cut by the window.
            let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            pieces.pop();
            if start > 0 && !pieces.is_empty() {
                pieces.remove(0);
            }
            let parse = |piece: &[u8]| {
                parse_stored_line(piece).map_err(|message| LedgerError::Invalid {
                    path: path.clone(),
                    message: format!("a line among the last {window} bytes: {message}"),
                })
            };
            let tail = self.latest_two(pieces.iter().rev().map(|p| parse(p)), &log)?;
            if tail.previous.is_some() || start == 0 {
                return Ok(tail);
            }
            window = (window * 4).min(len);
        }
    }

    /// The latest two log-signed checkpoints among `notes`, given from the
    /// last line back; only as many lines are parsed as it takes.
    fn latest_two(
        &self,
        notes: impl Iterator<Item = Result<Note, LedgerError>>,
        log: &VerifierKey,
    ) -> Result<StoredTail, LedgerError> {
        let mut tail = StoredTail::default();
        // Lines after the latest checkpoint: cosignatures, perhaps of it.
        let mut later: Vec<Note> = Vec::new();
        for note in notes {
            let note = note?;
            if !note.signatures.iter().any(|s| s.is_from(log)) {
                if tail.latest.is_none() {
                    later.push(note);
                }
                continue;
            }
            let checkpoint = self.signed_checkpoint(&note, "checkpoints.jsonl")?;
            match &tail.latest {
                None => {
                    let mut merged = note.clone();
                    for cosigned in later.iter().rev().filter(|n| n.text == note.text) {
                        for sig in &cosigned.signatures {
                            if !merged.signatures.contains(sig) {
                                merged.signatures.push(sig.clone());
                            }
                        }
                    }
                    let own = Note {
                        text: note.text.clone(),
                        signatures: note
                            .signatures
                            .iter()
                            .filter(|s| s.is_from(log))
                            .cloned()
                            .collect(),
                    };
                    tail.latest = Some(StoredCheckpoint {
                        checkpoint,
                        note: own,
                        merged,
                    });
                }
                Some(l) if l.checkpoint.size == checkpoint.size => {
                    if l.checkpoint != checkpoint {
                        return Err(self.tampered(format!(
                            "checkpoints.jsonl holds two checkpoints of size {} with different roots",
                            checkpoint.size
                        )));
                    }
                }
                Some(l) => {
                    if checkpoint.size > l.checkpoint.size {
                        return Err(self.tampered(format!(
                            "checkpoints.jsonl ends with a checkpoint of size {} after one of size {}: checkpoints were reordered or replaced",
                            l.checkpoint.size, checkpoint.size
                        )));
                    }
                    tail.previous = Some(checkpoint);
                    break;
                }
            }
        }
        Ok(tail)
    }

    /// The checkpoint in `note`, which must be this log's and carry its
    /// valid signature.
    fn signed_checkpoint(&self, note: &Note, place: &str) -> Result<Checkpoint, LedgerError> {
        let fail = |why: String| {
            self.tampered(format!(
                "{place} holds a checkpoint that is not this log's: {why}"
            ))
        };
        note.verify(&[self.key.verifier()])
            .map_err(|e| fail(format!("its signature does not verify: {e}")))?;
        let checkpoint = Checkpoint::parse_text(&note.text).map_err(|e| fail(e.to_string()))?;
        if checkpoint.origin != self.origin() {
            return Err(fail(format!("it is for log {:?}", checkpoint.origin)));
        }
        Ok(checkpoint)
    }

    /// The copy of the latest checkpoint kept in `name`. A copy of the
    /// note `latest` holds (whose signature is checked already) is not
    /// checked again.
    fn read_copy(
        &self,
        name: &str,
        latest: Option<&StoredCheckpoint>,
    ) -> Result<CopyState, LedgerError> {
        let Some(file) = self.dir.open_file(name, Access::Read)? else {
            return Ok(CopyState::default());
        };
        let held = copies::read(&file).map_err(io_at(&self.path(name)))?;
        let checkpoint = match &held.note {
            Some(text) if latest.is_some_and(|l| *text == l.note.to_string()) => {
                latest.map(|l| l.checkpoint.clone())
            }
            Some(text) => {
                let note = Note::parse(text).map_err(|e| {
                    self.tampered(format!(
                        "{name} holds a copy of a checkpoint that cannot be read: {e}"
                    ))
                })?;
                Some(self.signed_checkpoint(&note, name)?)
            }
            None => None,
        };
        Ok(CopyState {
            checkpoint,
            damaged: held.damaged,
        })
    }

    /// Writes `note` (with the log's signature only) as the copy of the
    /// latest checkpoint in `name`.
    fn write_copy(&self, name: &str, note: &Note) -> Result<(), LedgerError> {
        let file = self.dir.open_for_writing(name, Access::ReadWrite)?;
        copies::write(&file, &note.to_string()).map_err(io_at(&self.path(name)))
    }

    /// Runs `f` with a consistent, up-to-date view of the tree, for proofs.
    fn with_tree<T>(
        &self,
        f: impl FnOnce(&ViewTree, u64) -> io::Result<T>,
    ) -> Result<T, LedgerError> {
        let locked = self.locked()?;
        let view = &locked.view;
        let tree = ViewTree {
            file: Some(FileTree { file: &self.tree }),
            cached: merkle::post_order_len(view.head.leaves),
            pending: &view.pending,
        };
        f(&tree, view.tree.size()).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => LedgerError::Request(e.to_string()),
            _ => io_at(&self.path(TREE))(e),
        })
    }
    /// The root of the tree of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.with_tree(|t, n| {
            check_size(size, n)?;
            merkle::root(t, size)
        })
    }

    /// An inclusion proof of entry `index` in the tree of `size` entries
    /// (the whole ledger when `size` is `None`).
    pub fn prove_inclusion(
        &self,
        index: u64,
        size: Option<u64>,
    ) -> Result<merkle::InclusionProofDoc, LedgerError> {
        let leaf = self.leaf(index)?;
        self.with_tree(|t, n| {
            let size = size.unwrap_or(n);
            check_size(size, n)?;
            Ok(merkle::InclusionProofDoc {
                leaf_idx: index,
                tree_size: size,
                root: merkle::root(t, size)?,
                leaf_hash: leaf,
                proof: merkle::inclusion_proof(t, index, size)?,
            })
        })
    }

    /// A consistency proof between the trees of `size1` and `size2` entries.
    pub fn prove_consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<merkle::ConsistencyProofDoc, LedgerError> {
        self.with_tree(|t, n| {
            check_size(size2, n)?;
            Ok(merkle::ConsistencyProofDoc {
                size1,
                size2,
                root1: merkle::root(t, size1.min(size2))?,
                root2: merkle::root(t, size2)?,
                proof: merkle::consistency_proof(t, size1, size2)?,
            })
        })
    }

    fn leaf(&self, index: u64) -> Result<Hash, LedgerError> {
        self.with_tree(|t, n| {
            if index >= n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("there is no entry {index}: the ledger has {n}"),
                ));
            }
            t.subtree(0, index)
        })
    }

    /// Signs a checkpoint of the ledger as it is now and stores it (then
    /// its copies), unless the latest stored checkpoint already covers as
    /// much. Returns the checkpoint that covers the ledger as it was when
    /// called, with every signature stored for it (the log's first, then
    /// cosignatures).
    ///
    /// Nothing is signed over entries that contradict a checkpoint the
    /// ledger knows of ([`LedgerError::Tampered`]).
    pub fn checkpoint(&self) -> Result<Note, LedgerError> {
        let (size, root, end) = {
            let locked = self.locked()?;
            let view = &locked.view;
            (view.tree.size(), view.tree.root(), view.end)
        };
        // Sign only what is on disk.
        self.make_durable(end)?;
        let mut locked = self.locked()?;
        self.sign_locked(&mut locked.view, size, root)
    }

    /// Signs the tree of `size` entries with `root` (durable already),
    /// under the lock, after checking the files against everything known;
    /// a stored checkpoint as large or larger is returned instead.
    fn sign_locked(&self, view: &mut View, size: u64, root: Hash) -> Result<Note, LedgerError> {
        let stored = self.check_history(view)?;
        if let Some(latest) = stored.latest
            && latest.checkpoint.size >= size
        {
            return Ok(latest.merged);
        }
        let checkpoint = Checkpoint {
            origin: self.origin(),
            size,
            root,
            extensions: Vec::new(),
        };
        let mut note = Note {
            text: checkpoint.to_text(),
            signatures: Vec::new(),
        };
        note.sign(&self.key)
            .map_err(|e| LedgerError::Request(e.to_string()))?;
        self.store_note_locked(&note)?;
        view.signed = Some(checkpoint);
        for name in [LATEST, TREE] {
            self.write_copy(name, &note)?;
        }
        Ok(note)
    }

    /// Appends `note` (a checkpoint, or cosignatures of one) to the
    /// checkpoint file, durably.
    pub fn store_note(&self, note: &Note) -> Result<(), LedgerError> {
        let _locked = self.locked()?;
        self.store_note_locked(note)
    }

    /// [`Self::store_note`] for a caller that holds the lock. An interrupted
    /// earlier write (a last line without its newline, never acknowledged)
    /// is cut first.
    fn store_note_locked(&self, note: &Note) -> Result<(), LedgerError> {
        let path = self.path(CHECKPOINTS);
        let mut line = serde_json::to_vec(&StoredNote {
            note: note.to_string(),
        })
        .expect("a note serialises");
        line.push(b'\n');
        let file = self.dir.open_for_writing(CHECKPOINTS, Access::Append)?;
        let len = file.metadata().map_err(io_at(&path))?.len();
        repair_tail(&file, &path, len)?;
        (&file).write_all(&line).map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))?;
        if len == 0 {
            // Perhaps a new file: its name must be durable too.
            self.dir.sync()?;
        }
        Ok(())
    }

    /// Every stored checkpoint note, in the order stored, as written (a
    /// cosignature is stored as the same checkpoint with only the
    /// witness's signature line).
    pub fn stored_checkpoints(&self) -> Result<Vec<Note>, LedgerError> {
        let path = self.path(CHECKPOINTS);
        read_checkpoint_lines(&self.dir)?
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                Note::parse(&text).map_err(|e| LedgerError::Invalid {
                    path: path.clone(),
                    message: format!("checkpoint line {}: {e}", i + 1),
                })
            })
            .collect()
    }

    /// The raw bytes of the entries file, for reading and verification.
    pub fn entries_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        entries_bytes(self.dir())
    }

    /// The entries from position `first` on, at most `count` of them, each
    /// as its stored line (canonical JSON, no newline): fewer when the
    /// ledger ends first, none past its end. Only those lines are read
    /// (through an index of where entries start, kept by this handle), and
    /// each is checked to be an entry that parses and records its own
    /// position; one that is not is [`LedgerError::Corrupt`].
    pub fn entry_lines(&self, first: u64, count: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let path = self.path(ENTRIES);
        let Some(file) = self.dir.open_file(ENTRIES, Access::Read)? else {
            return Ok(Vec::new());
        };
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .read(&file, &path, first, count)
    }

    /// Raw checkpoint note texts as stored, for verification and export.
    pub fn checkpoint_texts(&self) -> Result<Vec<String>, LedgerError> {
        read_checkpoint_lines(&self.dir)
    }

    /// The stored checkpoint note texts and the entries' bytes, read
    /// together under the lock (so that every checkpoint covers entries
    /// that are there, and no checkpoint is half-written), for export.
    pub(crate) fn checkpoints_and_entries(&self) -> Result<(Vec<String>, Vec<u8>), LedgerError> {
        let locked = self.locked()?;
        let checkpoints = read_checkpoint_lines(&self.dir)?;
        self.check_identity()?;
        let file = self
            .dir
            .open_file(ENTRIES, Access::Read)?
            .ok_or_else(|| self.tampered("entries.jsonl was removed".into()))?;
        let entries = read_prefix(&file, locked.view.end).map_err(io_at(&self.path(ENTRIES)))?;
        Ok((checkpoints, entries))
    }

    /// The leaf hashes the cache recorded when entries were appended (see
    /// [`recorded_leaves`]).
    pub fn recorded_leaves(&self) -> impl Fn(u64) -> Option<Hash> + use<> {
        recorded_leaves(self.dir())
    }
}

/// What verification reads from a ledger directory: the entries, the
/// stored checkpoints and the copies of the latest one.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    /// The raw bytes of `entries.jsonl`.
    pub entries: Vec<u8>,
    /// The checkpoint note texts of `checkpoints.jsonl`, in order.
    pub checkpoints: Vec<String>,
    /// The copies of the latest checkpoint (`checkpoint.latest`, the
    /// header of `tree.bin`).
    pub copies: Vec<LatestCopy>,
}

/// Reads ledger directory `dir` for verification, without opening it for
/// appending (which a damaged ledger would refuse). The copies and the
/// checkpoints are read, and the entries' length taken, under a shared
/// lock when the lock file can be opened (and is free within a few
/// seconds), so that no checkpoint is half-written meanwhile; copies are
/// read first, checkpoints next and entries last, so that each covers no
/// more than what is read after it.
pub fn read_contents(dir: &Path) -> Result<Contents, LedgerError> {
    let Some(dir) = open_reader(dir)? else {
        return Ok(Contents::default());
    };
    let lock = dir.open_file(LOCK, Access::Read).ok().flatten();
    let locked = lock.as_ref().is_some_and(shared_lock);
    let outcome = read_under_lock(&dir);
    if locked && let Some(l) = &lock {
        let _ = rustix::fs::flock(l, FlockOperation::Unlock);
    }
    let (mut contents, entries) = outcome?;
    // The entries file only grows: its first `len` bytes can be read after
    // the lock is released.
    if let Some((file, len)) = entries {
        contents.entries = read_prefix(&file, len).map_err(io_at(&dir.join(ENTRIES)))?;
    }
    Ok(contents)
}

/// Takes a shared `flock` on the ledger's lock file, waiting up to
/// [`READER_LOCK_WAIT`] for writers to finish: a writer stuck holding it
/// must not stop a reader, which then reads without it (and may, if a
/// checkpoint is being written at that very moment, report copies that
/// disagree; reading again settles it).
fn shared_lock(lock: &File) -> bool {
    let deadline = Instant::now() + READER_LOCK_WAIT;
    loop {
        match rustix::fs::flock(lock, FlockOperation::NonBlockingLockShared) {
            Ok(()) => return true,
            Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return false,
        }
    }
}

/// How long a reader waits for writers before reading without the lock.
const READER_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The part of [`read_contents`] done under the lock: the copies, the
/// checkpoints, and the entries file with its length then.
fn read_under_lock(dir: &Dir) -> Result<(Contents, Option<(File, u64)>), LedgerError> {
    let copies = [LATEST, TREE]
        .into_iter()
        .map(|name| {
            let held = match dir.open_file(name, Access::Read)? {
                Some(file) => copies::read(&file).map_err(io_at(&dir.join(name)))?,
                None => copies::Held::default(),
            };
            Ok(LatestCopy {
                file: name.to_string(),
                note: held.note,
                damaged: held.damaged,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    let checkpoints = read_checkpoint_lines(dir)?;
    let entries = match dir.open_file(ENTRIES, Access::Read)? {
        Some(file) => {
            let len = file.metadata().map_err(io_at(&dir.join(ENTRIES)))?.len();
            Some((file, len))
        }
        None => None,
    };
    Ok((
        Contents {
            entries: Vec::new(),
            checkpoints,
            copies,
        },
        entries,
    ))
}

/// The first `len` bytes of `file`, a file just opened (so read from its
/// start), read without zeroing a buffer of that size first: the entries of
/// a large ledger are hundreds of megabytes.
fn read_prefix(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(len as usize);
    io::Read::read_to_end(&mut io::Read::take(file, len), &mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file ended after {} of {len} bytes", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// The ledger directory `dir` opened for reading, or `None` if it does not
/// exist.
fn open_reader(dir: &Path) -> Result<Option<Dir>, LedgerError> {
    Dir::open(dir)
}

/// The raw bytes of the entries file of ledger directory `dir`.
pub fn entries_bytes(dir: &Path) -> Result<Vec<u8>, LedgerError> {
    match open_reader(dir)? {
        Some(dir) => Ok(dir.read(ENTRIES)?.unwrap_or_default()),
        None => Ok(Vec::new()),
    }
}

/// The checkpoint note texts stored in ledger directory `dir`, in order.
pub fn checkpoint_texts(dir: &Path) -> Result<Vec<String>, LedgerError> {
    match open_reader(dir)? {
        Some(dir) => read_checkpoint_lines(&dir),
        None => Ok(Vec::new()),
    }
}

/// The log's public key as stored in ledger directory `dir`.
pub fn stored_verifier(dir: &Path) -> Result<VerifierKey, LedgerError> {
    let path = dir.join(VERIFIER_KEY);
    let missing = || LedgerError::Io {
        path: path.clone(),
        message: "No such file or directory".into(),
    };
    let bytes = open_reader(dir)?
        .ok_or_else(missing)?
        .read(VERIFIER_KEY)?
        .ok_or_else(missing)?;
    String::from_utf8_lossy(&bytes)
        .trim()
        .parse()
        .map_err(|e| LedgerError::Invalid {
            path: path.clone(),
            message: format!("{e}"),
        })
}

/// The leaf hashes the subtree cache in ledger directory `dir` recorded
/// when entries were appended, where it has them: a verifier uses them to
/// name which entry changed. After a crash the unsynced part of the cache
/// may read back as zeros, which count as unknown.
pub fn recorded_leaves(dir: &Path) -> impl Fn(u64) -> Option<Hash> + use<> {
    let file = open_reader(dir)
        .ok()
        .flatten()
        .and_then(|d| d.open_file(TREE, Access::Read).ok().flatten());
    let nodes = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len().saturating_sub(TREE_NODES_AT) / 32);
    move |index| {
        if merkle::post_order_position(0, index) >= nodes {
            return None;
        }
        FileTree {
            file: file.as_ref()?,
        }
        .subtree(0, index)
        .ok()
        .filter(|h| h != &[0u8; 32])
    }
}

/// One line of `checkpoints.jsonl`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredNote {
    note: String,
}

/// The note on one line of `checkpoints.jsonl` (without its newline).
fn parse_stored_line(line: &[u8]) -> Result<Note, String> {
    let stored: StoredNote = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    Note::parse(&stored.note).map_err(|e| e.to_string())
}

fn read_checkpoint_lines(dir: &Dir) -> Result<Vec<String>, LedgerError> {
    let path = dir.join(CHECKPOINTS);
    let Some(bytes) = dir.read(CHECKPOINTS)? else {
        return Ok(Vec::new());
    };
    let text = String::from_utf8(bytes).map_err(|e| LedgerError::Invalid {
        path: path.clone(),
        message: format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    // A last line without its newline is a write in progress (or one
    // interrupted, which the next writer cuts): not a checkpoint yet.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str::<StoredNote>(line)
                .map(|s| s.note)
                .map_err(|e| LedgerError::Invalid {
                    path: path.clone(),
                    message: format!("line {}: {e}", i + 1),
                })
        })
        .collect()
}

fn check_size(size: u64, n: u64) -> io::Result<()> {
    if size > n {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tree size {size} is beyond the ledger's {n} entries"),
        ));
    }
    Ok(())
}

/// The (level, index) of the peaks of a tree of `leaves` leaves, biggest first.
fn peak_positions(leaves: u64) -> impl Iterator<Item = (u32, u64)> {
    (0..64u32).rev().filter_map(move |level| {
        let bit = 1u64 << level;
        (leaves & bit != 0).then(|| (level, (leaves & !(bit | (bit - 1))) >> level))
    })
}

/// Complete-subtree hashes read from `tree.bin`, after its header.
struct FileTree<'a> {
    file: &'a File,
}

impl Subtrees for FileTree<'_> {
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
        let mut hash = [0u8; 32];
        self.file.read_exact_at(
            &mut hash,
            TREE_NODES_AT + merkle::post_order_position(level, index) * 32,
        )?;
        Ok(hash)
    }
}

/// The fsynced cache plus the nodes completed since.
struct ViewTree<'a> {
    file: Option<FileTree<'a>>,
    cached: u64,
    pending: &'a [Hash],
}

impl Subtrees for ViewTree<'_> {
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
        let position = merkle::post_order_position(level, index);
        if position < self.cached {
            return match &self.file {
                Some(f) => f.subtree(level, index),
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the subtree cache is missing",
                )),
            };
        }
        usize::try_from(position - self.cached)
            .ok()
            .and_then(|i| self.pending.get(i))
            .copied()
            .ok_or_else(|| io::Error::other(format!("no subtree at level {level}, index {index}")))
    }
}

/// Cuts an incomplete or NUL-filled tail of `file` (the entries or the
/// checkpoints, `len` bytes long; never acknowledged: see the module
/// documentation) and returns the new length.
fn repair_tail(file: &File, path: &Path, len: u64) -> Result<u64, LedgerError> {
    if len == 0 {
        return Ok(0);
    }
    // Look back far enough to cover a large torn batch.
    let window = len.min(1 << 20);
    let mut tail = vec![0u8; window as usize];
    file.read_exact_at(&mut tail, len - window)
        .map_err(io_at(path))?;
    let mut keep = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => len - window + i as u64 + 1,
        None if window == len => 0,
        None => {
            return Err(LedgerError::Corrupt {
                path: path.to_path_buf(),
                position: 0,
                line: 0,
                error: "the last 1 MiB holds no complete entry".into(),
            });
        }
    };
    // Whole lines holding NUL bytes at the very end are an unflushed tail
    // that came back as zeros after a power loss.
    while keep > len - window {
        let start_in_tail = (keep - (len - window)) as usize;
        let before = &tail[..start_in_tail - 1];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = &tail[line_start..start_in_tail - 1];
        if line.contains(&0) {
            keep = (len - window) + line_start as u64;
        } else {
            break;
        }
    }
    if keep < len {
        tracing::warn!(
            file = %path.display(),
            bytes = len - keep,
            "removed the tail of an interrupted, unacknowledged append"
        );
        file.set_len(keep).map_err(io_at(path))?;
        file.sync_all().map_err(io_at(path))?;
    }
    Ok(keep)
}

/// Loads the log's signing key, creating it (and its public half) on first
/// use, and checks that `log.pub` is its public half (verification trusts
/// `log.pub` when no key is given). Its name is the log's origin:
/// `<host>/portreeve`.
fn load_or_create_key(dir: &Dir, host: &str) -> Result<SignerKey, LedgerError> {
    let path = dir.join(SIGNING_KEY);
    let key: SignerKey = match dir.read(SIGNING_KEY)? {
        Some(bytes) => String::from_utf8_lossy(&bytes)
            .trim()
            .parse()
            .map_err(|e| LedgerError::Invalid {
                path: path.clone(),
                message: format!("{e}"),
            })?,
        None => {
            let name: KeyName = format!("{host}/portreeve")
                .parse()
                .map_err(|e| LedgerError::Request(format!("host name {host:?}: {e}")))?;
            let key = SignerKey::generate(name, KeyKind::NoteSigner)
                .map_err(|e| LedgerError::Request(e.to_string()))?;
            dir.write_atomically(VERIFIER_KEY, format!("{}\n", key.verifier()).as_bytes())?;
            dir.write_atomically(SIGNING_KEY, format!("{key}\n").as_bytes())?;
            return Ok(key);
        }
    };
    let verifier = key.verifier().to_string();
    match dir.read(VERIFIER_KEY)? {
        None => dir.write_atomically(VERIFIER_KEY, format!("{verifier}\n").as_bytes())?,
        Some(bytes) if String::from_utf8_lossy(&bytes).trim() == verifier => {}
        Some(_) => {
            return Err(LedgerError::Invalid {
                path: dir.join(VERIFIER_KEY),
                message: format!(
                    "is not the public half of {} (which is {verifier}): verification trusting it would check the wrong key",
                    SIGNING_KEY
                ),
            });
        }
    }
    Ok(key)
}

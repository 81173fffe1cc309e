//! The ledger on disk, and durable appends to it.
//!
//! Files under the ledger directory:
//!
//! - `entries.jsonl` — the entries, one canonical JSON record per line. The
//!   only file an append waits on: each batch is written and `fdatasync`ed
//!   before any of its writers is told it succeeded.
//! - `checkpoints.jsonl` — signed checkpoints (and witnesses'
//!   cosignatures), one JSON-encoded signed note per line, fsynced.
//! - `log.key` / `log.pub` — the log's Ed25519 signing key (mode 0600) and
//!   its public verifier key.
//! - `tree.bin` and `tree.head` — a cache of every complete subtree hash in
//!   post-order (see [`crate::merkle::post_order_position`]), so that proofs
//!   need O(log² n) reads. It is derived from the entries: `tree.head`
//!   names how many leaves of it were fsynced (it is rewritten atomically
//!   every [`PERSIST_EVERY`] leaves), and the entries after that are hashed
//!   again when the ledger is opened. Nothing trusts it for verification.
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

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};

use crate::entry::{Draft, Entry};
use crate::merkle::{self, CompactTree, Hash, Subtrees};
use crate::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey, VerifierKey};

/// Leaves between fsyncs of the subtree cache.
pub const PERSIST_EVERY: u64 = 4096;

const ENTRIES: &str = "entries.jsonl";
const CHECKPOINTS: &str = "checkpoints.jsonl";
const TREE: &str = "tree.bin";
const TREE_HEAD: &str = "tree.head";
const SIGNING_KEY: &str = "log.key";
const VERIFIER_KEY: &str = "log.pub";
const LOCK: &str = "lock";

/// Why the ledger could not be read or appended to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// A file could not be read or written.
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
    /// A caller's request that cannot be met.
    #[error("{0}")]
    Request(String),
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> LedgerError + '_ {
    move |e| LedgerError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
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
/// part of it is in the fsynced cache, and the nodes completed since.
struct View {
    /// Byte length of `entries.jsonl` this view covers.
    end: u64,
    /// The tree over all entries.
    tree: CompactTree,
    /// The cache's fsynced extent.
    head: TreeHead,
    /// Post-order nodes completed after `head.leaves`.
    pending: Vec<Hash>,
}

impl View {
    fn empty() -> View {
        View {
            end: 0,
            tree: CompactTree::new(),
            head: TreeHead {
                leaves: 0,
                offset: 0,
                root: merkle::empty_root(),
            },
            pending: Vec::new(),
        }
    }

    fn push(&mut self, leaf: Hash) {
        let pending = &mut self.pending;
        self.tree.push(leaf, |_, _, h| pending.push(*h));
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

/// A ledger directory opened for reading and appending.
pub struct Ledger {
    dir: PathBuf,
    host: String,
    key: SignerKey,
    /// `lock`, `flock`ed (while `view` is held) around every change, so
    /// that processes take turns.
    lock_file: File,
    /// `entries.jsonl`, open for appending.
    entries: File,
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
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`, generating the log's
    /// signing key on first use.
    pub fn open(dir: &Path) -> Result<Ledger, LedgerError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let host = host_name();
        let key = load_or_create_key(dir, &host)?;
        let open = |name: &str, append: bool| {
            let path = dir.join(name);
            File::options()
                .create(true)
                .truncate(false)
                .append(append)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_at(&path))
        };
        let ledger = Ledger {
            dir: dir.to_path_buf(),
            host,
            key,
            lock_file: open(LOCK, false)?,
            entries: open(ENTRIES, true)?,
            tree: open(TREE, false)?,
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
        };
        drop(ledger.locked()?);
        Ok(ledger)
    }

    /// The ledger's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Takes the view, then the cross-process lock, and brings the view up
    /// to date with the files.
    fn locked(&self) -> Result<Locked<'_>, LedgerError> {
        let view = self.view.lock().expect("view lock");
        rustix::fs::flock(&self.lock_file, FlockOperation::LockExclusive)
            .map_err(|e| io_at(&self.path(LOCK))(e.into()))?;
        let mut locked = Locked {
            _flock: Flock(&self.lock_file),
            view,
        };
        self.sync(&mut locked.view)?;
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

    /// Writes `drafts` as the next entries (not yet flushed); returns them
    /// and the file length after them.
    fn write_entries(&self, drafts: Vec<Draft>) -> Result<(Vec<Appended>, u64), LedgerError> {
        let mut locked = self.locked()?;
        let view = &mut *locked.view;
        let time = Timestamp::now();
        let first = view.tree.size();
        let mut buf = Vec::with_capacity(drafts.len() * 320);
        let mut appended = Vec::with_capacity(drafts.len());
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
        Ok((appended, view.end))
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
            let result = self.entries.sync_data();
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
    /// advanced it, and hashes entries appended since.
    fn sync(&self, view: &mut View) -> Result<(), LedgerError> {
        let path = self.path(ENTRIES);
        let len = self.entries.metadata().map_err(io_at(&path))?.len();
        if len == view.end && view.end > 0 {
            return Ok(());
        }
        let len = repair_tail(&path, len)?;
        let head = self.read_head();
        if len < view.end || head.leaves > view.tree.size() || view.end == 0 {
            *view = self.load_cache(head, len);
        }
        if len > view.end {
            let mut file = File::open(&path).map_err(io_at(&path))?;
            let mut tail = Vec::with_capacity((len - view.end) as usize);
            file.seek(SeekFrom::Start(view.end)).map_err(io_at(&path))?;
            file.take(len - view.end)
                .read_to_end(&mut tail)
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
        }
        Ok(())
    }

    fn read_head(&self) -> TreeHead {
        fs::read(self.path(TREE_HEAD))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(TreeHead {
                leaves: 0,
                offset: 0,
                root: merkle::empty_root(),
            })
    }

    /// A view starting from the cache's fsynced extent, or from nothing if
    /// the cache does not check out (it is only a cache).
    fn load_cache(&self, head: TreeHead, entries_len: u64) -> View {
        let from_cache = || -> Option<View> {
            if head.leaves == 0 || head.offset > entries_len {
                return None;
            }
            let file = File::open(self.path(TREE)).ok()?;
            let stored = FileTree { file: &file };
            let peaks = peak_positions(head.leaves)
                .map(|(level, index)| stored.subtree(level, index).ok())
                .collect::<Option<Vec<Hash>>>()?;
            let tree = CompactTree::from_peaks(head.leaves, peaks).ok()?;
            (tree.root() == head.root).then(|| View {
                end: head.offset,
                tree,
                head: head.clone(),
                pending: Vec::new(),
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
            .write_all_at(&bytes, merkle::post_order_len(first) * 32)
        {
            tracing::debug!(error = %e, "could not cache subtree hashes");
        }
    }

    /// Writes the pending nodes into the cache, fsyncs it, then records
    /// the new extent atomically.
    fn persist_tree(&self, view: &mut View) -> Result<(), LedgerError> {
        // The head will point into the entries: they must be on disk first.
        self.entries
            .sync_data()
            .map_err(io_at(&self.path(ENTRIES)))?;
        let path = self.path(TREE);
        let file = &self.tree;
        let at = merkle::post_order_len(view.head.leaves) * 32;
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
        write_atomically(
            &self.path(TREE_HEAD),
            &serde_json::to_vec(&head).expect("a head serialises"),
            0o600,
        )?;
        view.head = head;
        view.pending.clear();
        Ok(())
    }

    /// Runs `f` with a consistent, up-to-date view of the tree, for proofs.
    fn with_tree<T>(
        &self,
        f: impl FnOnce(&ViewTree, u64) -> io::Result<T>,
    ) -> Result<T, LedgerError> {
        let locked = self.locked()?;
        let view = &locked.view;
        let path = self.path(TREE);
        let file = match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_at(&path)(e)),
        };
        let tree = ViewTree {
            file: file.as_ref().map(|file| FileTree { file }),
            cached: merkle::post_order_len(view.head.leaves),
            pending: &view.pending,
        };
        f(&tree, view.tree.size()).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => LedgerError::Request(e.to_string()),
            _ => io_at(&path)(e),
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

    /// Signs a checkpoint of the ledger as it is now and stores it, unless
    /// one of the same tree is stored already. Returns it with every
    /// signature stored for it (the log's first, then cosignatures).
    pub fn checkpoint(&self) -> Result<Note, LedgerError> {
        let (checkpoint, end) = {
            let locked = self.locked()?;
            let checkpoint = Checkpoint {
                origin: self.origin(),
                size: locked.view.tree.size(),
                root: locked.view.tree.root(),
                extensions: Vec::new(),
            };
            (checkpoint, locked.view.end)
        };
        // Sign only what is on disk.
        self.make_durable(end)?;
        let _locked = self.locked()?;
        let text = checkpoint.to_text();
        // This checkpoint with every signature stored for it: the log's,
        // and witnesses' cosignatures stored on lines of their own.
        let mut merged = Note {
            text,
            signatures: Vec::new(),
        };
        for stored in self.stored_checkpoints()? {
            if stored.text == merged.text {
                for sig in stored.signatures {
                    if !merged.signatures.contains(&sig) {
                        merged.signatures.push(sig);
                    }
                }
            }
        }
        let log = self.key.verifier();
        if !merged.signatures.iter().any(|s| s.is_from(&log)) {
            let mut note = Note {
                text: merged.text.clone(),
                signatures: Vec::new(),
            };
            note.sign(&self.key)
                .map_err(|e| LedgerError::Request(e.to_string()))?;
            self.store_note_locked(&note)?;
            merged.signatures.insert(0, note.signatures.remove(0));
        }
        Ok(merged)
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
        let file = File::options()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_at(&path))?;
        let len = file.metadata().map_err(io_at(&path))?.len();
        repair_tail(&path, len)?;
        (&file).write_all(&line).map_err(io_at(&path))?;
        file.sync_data().map_err(io_at(&path))
    }

    /// Every stored checkpoint note, in the order stored, as written (a
    /// cosignature is stored as the same checkpoint with only the
    /// witness's signature line).
    pub fn stored_checkpoints(&self) -> Result<Vec<Note>, LedgerError> {
        let path = self.path(CHECKPOINTS);
        read_checkpoint_lines(&path)?
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
        entries_bytes(&self.dir)
    }

    /// Raw checkpoint note texts as stored, for verification and export.
    pub fn checkpoint_texts(&self) -> Result<Vec<String>, LedgerError> {
        checkpoint_texts(&self.dir)
    }

    /// The leaf hashes the cache recorded when entries were appended (see
    /// [`recorded_leaves`]).
    pub fn recorded_leaves(&self) -> impl Fn(u64) -> Option<Hash> + use<> {
        recorded_leaves(&self.dir)
    }
}

/// The raw bytes of the entries file of ledger directory `dir`.
pub fn entries_bytes(dir: &Path) -> Result<Vec<u8>, LedgerError> {
    let path = dir.join(ENTRIES);
    match fs::read(&path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_at(&path)(e)),
    }
}

/// The checkpoint note texts stored in ledger directory `dir`, in order.
pub fn checkpoint_texts(dir: &Path) -> Result<Vec<String>, LedgerError> {
    read_checkpoint_lines(&dir.join(CHECKPOINTS))
}

/// The log's public key as stored in ledger directory `dir`.
pub fn stored_verifier(dir: &Path) -> Result<VerifierKey, LedgerError> {
    let path = dir.join(VERIFIER_KEY);
    let text = fs::read_to_string(&path).map_err(io_at(&path))?;
    text.trim().parse().map_err(|e| LedgerError::Invalid {
        path: path.clone(),
        message: format!("{e}"),
    })
}

/// The leaf hashes the subtree cache in ledger directory `dir` recorded
/// when entries were appended, where it has them: a verifier uses them to
/// name which entry changed. After a crash the unsynced part of the cache
/// may read back as zeros, which count as unknown.
pub fn recorded_leaves(dir: &Path) -> impl Fn(u64) -> Option<Hash> + use<> {
    let file = File::open(dir.join(TREE)).ok();
    let nodes = file
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map_or(0, |m| m.len() / 32);
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

fn read_checkpoint_lines(path: &Path) -> Result<Vec<String>, LedgerError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_at(path)(e)),
    };
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
                    path: path.to_path_buf(),
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

/// Complete-subtree hashes read from `tree.bin`.
struct FileTree<'a> {
    file: &'a File,
}

impl Subtrees for FileTree<'_> {
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
        let mut hash = [0u8; 32];
        self.file
            .read_exact_at(&mut hash, merkle::post_order_position(level, index) * 32)?;
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

/// Cuts an incomplete or NUL-filled tail of the entries file (never
/// acknowledged: see the module documentation) and returns the new length.
fn repair_tail(path: &Path, len: u64) -> Result<u64, LedgerError> {
    if len == 0 {
        return Ok(0);
    }
    let file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_at(path))?;
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

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LedgerError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::options()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_at(&tmp))?;
    file.write_all(bytes).map_err(io_at(&tmp))?;
    file.sync_all().map_err(io_at(&tmp))?;
    fs::rename(&tmp, path).map_err(io_at(path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(dir))?;
    }
    Ok(())
}

/// Loads the log's signing key, creating it (and its public half) on first
/// use. Its name is the log's origin: `<host>/portreeve`.
fn load_or_create_key(dir: &Path, host: &str) -> Result<SignerKey, LedgerError> {
    let path = dir.join(SIGNING_KEY);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|e| LedgerError::Invalid {
            path: path.clone(),
            message: format!("{e}"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name: KeyName = format!("{host}/portreeve")
                .parse()
                .map_err(|e| LedgerError::Request(format!("host name {host:?}: {e}")))?;
            let key = SignerKey::generate(name, KeyKind::NoteSigner)
                .map_err(|e| LedgerError::Request(e.to_string()))?;
            write_atomically(
                &dir.join(VERIFIER_KEY),
                format!("{}\n", key.verifier()).as_bytes(),
                0o644,
            )?;
            write_atomically(&path, format!("{key}\n").as_bytes(), 0o600)?;
            Ok(key)
        }
        Err(e) => Err(io_at(&path)(e)),
    }
}

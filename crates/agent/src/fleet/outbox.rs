//! The outbox: pushes waiting for the server, on disk, so that neither an
//! outage of the server nor a restart of the agent loses one.
//!
//! Each push is one file, `<seq>-drift.json` or `<seq>-snapshot.json`
//! (the sequence number zero-padded to 20 digits, so names sort in
//! order), holding the exact body that is signed and sent. A file is
//! written under a temporary name, flushed, renamed into place and the
//! directory flushed: a crash leaves either the whole push or a temporary
//! file, which [`Outbox::open`] deletes. The next sequence number is kept
//! in `next-seq` beside the outbox, so numbers are never reused after the
//! pushes that had them were delivered and deleted.
//!
//! The outbox is bounded ([`Bound`]). When a new push does not fit, the
//! oldest snapshot-only push goes first — the server keeps only a host's
//! latest listeners and findings, so a later snapshot supersedes it —
//! and only when none is left the oldest push with drift events, which is
//! counted and logged: a drift event is never lost without a trace.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use portreeve_app::write_atomically;

use super::FleetError;

/// How much the outbox holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Pushes.
    pub pushes: usize,
    /// Bytes of all pushes together.
    pub bytes: u64,
}

impl Default for Bound {
    /// 1,000 pushes or 64 MiB: about three hours of pushes every 10 s.
    fn default() -> Self {
        Bound {
            pushes: 1000,
            bytes: 64 << 20,
        }
    }
}

/// What a queued push carries, as far as dropping one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Listeners, findings and perhaps a ledger checkpoint: superseded by
    /// any later push.
    Snapshot,
    /// Drift events as well, which no later push repeats.
    Drift,
}

impl Content {
    fn suffix(self) -> &'static str {
        match self {
            Content::Snapshot => "snapshot",
            Content::Drift => "drift",
        }
    }

    /// The label of `portreeve_fleet_outbox_dropped_total{content}`.
    pub fn as_str(self) -> &'static str {
        self.suffix()
    }
}

/// One queued push.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued {
    content: Content,
    bytes: u64,
}

/// A push dropped to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Its sequence number.
    pub seq: u64,
    /// What it carried.
    pub content: Content,
}

/// The pushes not yet delivered, in sequence order.
pub struct Outbox {
    dir: PathBuf,
    next_seq_file: PathBuf,
    bound: Bound,
    queued: BTreeMap<u64, Queued>,
    next_seq: u64,
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`, bounded by `bound`: the
    /// pushes a previous run left, temporary files deleted.
    pub fn open(dir: &Path, bound: Bound) -> Result<Outbox, FleetError> {
        let io = |e: std::io::Error| FleetError::State(format!("{}: {e}", dir.display()));
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let next_seq_file = dir.with_file_name("next-seq");
        let mut next_seq = match std::fs::read_to_string(&next_seq_file) {
            Ok(text) => text.trim().parse::<u64>().map_err(|_| {
                FleetError::State(format!(
                    "{}: `{}` is not a sequence number",
                    next_seq_file.display(),
                    text.trim()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io(e)),
        };
        let mut queued = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            match parse_name(&name.to_string_lossy()) {
                Some((seq, content)) => {
                    let bytes = entry.metadata().map_err(io)?.len();
                    queued.insert(seq, Queued { content, bytes });
                    next_seq = next_seq.max(seq + 1);
                }
                None => {
                    // A temporary file a crash left half-written.
                    tracing::debug!(file = %entry.path().display(), "deleting a leftover from the outbox");
                    std::fs::remove_file(entry.path()).map_err(io)?;
                }
            }
        }
        Ok(Outbox {
            dir: dir.to_path_buf(),
            next_seq_file,
            bound,
            queued,
            next_seq,
        })
    }

    /// The sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Pushes waiting.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Queues `body`, the push with sequence number [`Self::next_seq`],
    /// durably; returns the pushes dropped to make room for it (oldest
    /// snapshots first, see the module documentation).
    pub fn enqueue(&mut self, content: Content, body: &[u8]) -> Result<Vec<Dropped>, FleetError> {
        let seq = self.next_seq;
        let bytes = body.len() as u64;
        let mut dropped = Vec::new();
        while !self.queued.is_empty()
            && (self.queued.len() + 1 > self.bound.pushes
                || self.queued_bytes() + bytes > self.bound.bytes)
        {
            let victim = self
                .queued
                .iter()
                .find(|(_, q)| q.content == Content::Snapshot)
                .or_else(|| self.queued.iter().next())
                .map(|(seq, q)| Dropped {
                    seq: *seq,
                    content: q.content,
                })
                .expect("not empty");
            self.remove(victim.seq)?;
            dropped.push(victim);
        }
        let path = self.path(seq, content);
        write_atomically(&path, body, 0o600).map_err(|e| FleetError::State(e.to_string()))?;
        sync_dir(&self.dir)?;
        self.queued.insert(seq, Queued { content, bytes });
        self.next_seq = seq + 1;
        write_atomically(
            &self.next_seq_file,
            format!("{}\n", self.next_seq).as_bytes(),
            0o600,
        )
        .map_err(|e| FleetError::State(e.to_string()))?;
        Ok(dropped)
    }

    /// The oldest push waiting: its sequence number and body.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<u8>)>, FleetError> {
        let Some((seq, q)) = self.queued.iter().next() else {
            return Ok(None);
        };
        let path = self.path(*seq, q.content);
        let body = std::fs::read(&path)
            .map_err(|e| FleetError::State(format!("{}: {e}", path.display())))?;
        Ok(Some((*seq, body)))
    }

    /// Deletes the push `seq`: delivered, or given up on.
    pub fn remove(&mut self, seq: u64) -> Result<(), FleetError> {
        if let Some(q) = self.queued.remove(&seq) {
            let path = self.path(seq, q.content);
            std::fs::remove_file(&path)
                .map_err(|e| FleetError::State(format!("{}: {e}", path.display())))?;
        }
        Ok(())
    }

    fn queued_bytes(&self) -> u64 {
        self.queued.values().map(|q| q.bytes).sum()
    }

    fn path(&self, seq: u64, content: Content) -> PathBuf {
        self.dir
            .join(format!("{seq:020}-{}.json", content.suffix()))
    }
}

/// The sequence number and content of a push file's name; `None` for
/// anything else (a temporary file).
fn parse_name(name: &str) -> Option<(u64, Content)> {
    let stem = name.strip_suffix(".json")?;
    let (seq, content) = stem.split_once('-')?;
    let content = match content {
        "snapshot" => Content::Snapshot,
        "drift" => Content::Drift,
        _ => return None,
    };
    (seq.len() == 20 && seq.bytes().all(|b| b.is_ascii_digit()))
        .then(|| seq.parse().ok())
        .flatten()
        .map(|seq| (seq, content))
}

/// Flushes `dir`, so the names just created or renamed in it survive a
/// power loss.
fn sync_dir(dir: &Path) -> Result<(), FleetError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FleetError::State(format!("{}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(pushes: usize, bytes: u64) -> Bound {
        Bound { pushes, bytes }
    }

    fn drain(outbox: &mut Outbox) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        while let Some((seq, body)) = outbox.oldest().unwrap() {
            out.push((seq, String::from_utf8(body).unwrap()));
            outbox.remove(seq).unwrap();
        }
        out
    }

    #[test]
    fn pushes_come_out_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let mut outbox = Outbox::open(&path, Bound::default()).unwrap();
        assert_eq!(outbox.next_seq(), 1);
        for body in ["a", "b", "c"] {
            outbox.enqueue(Content::Drift, body.as_bytes()).unwrap();
        }
        // More than nine, so that names sort by number, not by text.
        for i in 0..9 {
            outbox
                .enqueue(Content::Snapshot, format!("s{i}").as_bytes())
                .unwrap();
        }
        let mut reopened = Outbox::open(&path, Bound::default()).unwrap();
        assert_eq!(reopened.len(), 12);
        assert_eq!(reopened.next_seq(), 13);
        let got = drain(&mut reopened);
        assert_eq!(
            got[..3],
            [(1, "a".into()), (2, "b".into()), (3, "c".into())]
        );
        assert_eq!(got[11], (12, "s8".into()));
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn sequence_numbers_are_not_reused_after_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let mut outbox = Outbox::open(&path, Bound::default()).unwrap();
        outbox.enqueue(Content::Snapshot, b"x").unwrap();
        outbox.enqueue(Content::Snapshot, b"y").unwrap();
        drain(&mut outbox);
        assert!(outbox.is_empty());
        let outbox = Outbox::open(&path, Bound::default()).unwrap();
        assert_eq!(outbox.next_seq(), 3);
    }

    #[test]
    fn when_full_the_oldest_snapshot_goes_first_and_drift_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(&dir.path().join("outbox"), small(3, 1 << 20)).unwrap();
        outbox.enqueue(Content::Drift, b"d1").unwrap();
        outbox.enqueue(Content::Snapshot, b"s2").unwrap();
        outbox.enqueue(Content::Snapshot, b"s3").unwrap();
        let dropped = outbox.enqueue(Content::Drift, b"d4").unwrap();
        assert_eq!(
            dropped,
            [Dropped {
                seq: 2,
                content: Content::Snapshot
            }]
        );
        let dropped = outbox.enqueue(Content::Drift, b"d5").unwrap();
        assert_eq!(dropped[0].seq, 3);
        // Only drift is left: the oldest of it goes, and says so.
        let dropped = outbox.enqueue(Content::Snapshot, b"s6").unwrap();
        assert_eq!(
            dropped,
            [Dropped {
                seq: 1,
                content: Content::Drift
            }]
        );
        let seqs: Vec<u64> = drain(&mut outbox).into_iter().map(|(s, _)| s).collect();
        assert_eq!(seqs, [4, 5, 6]);
    }

    #[test]
    fn the_byte_bound_holds_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = Outbox::open(&dir.path().join("outbox"), small(100, 10)).unwrap();
        outbox.enqueue(Content::Snapshot, b"12345").unwrap();
        outbox.enqueue(Content::Snapshot, b"12345").unwrap();
        let dropped = outbox.enqueue(Content::Snapshot, b"1").unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(outbox.len(), 2);
    }

    #[test]
    fn a_half_written_file_is_ignored_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let mut outbox = Outbox::open(&path, Bound::default()).unwrap();
        outbox.enqueue(Content::Drift, b"whole").unwrap();
        // What a crash during a write leaves: the temporary file, never a
        // push's name.
        std::fs::write(path.join(".tmpAbC123"), b"{\"host_id\": \"ha").unwrap();
        let mut reopened = Outbox::open(&path, Bound::default()).unwrap();
        assert_eq!(drain(&mut reopened), [(1, "whole".into())]);
        assert!(!path.join(".tmpAbC123").exists());
        assert_eq!(reopened.next_seq(), 2);
    }
}

//! The blocklist's changes as the ledger records them, for whoever reports
//! them (the agent's alerts): each `block`, `scan-block`, `unblock` and
//! `block-expired` entry read back, and a reader of those appended since it
//! last looked.

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_ledger::{Entry, Follower};

use super::expiry::{
    EXPIRED, SCAN_BLOCK, START_PRECISION, read_block, read_scan_block, unblocked_source,
};
use crate::error::AppError;
use crate::state_dir::StateDir;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A block made through the block use case (`portreeve block`, or the
    /// agent's scan watch): a `block` entry.
    Block,
    /// A block the kernel's scan detection made: a `scan-block` entry.
    ScanBlock,
    /// A block ended early: an `unblock` entry.
    Unblock,
    /// A block whose time ran out: a `block-expired` entry.
    Expiry,
}

/// One change to the blocklist, read from its ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockChange {
    /// What changed.
    pub kind: ChangeKind,
    /// The address (as a /32 or /128) or network concerned.
    pub source: IpNet,
    /// How long the block lasts, for a block.
    pub ttl: Option<SignedDuration>,
    /// When it happened: the block's start, the unblock, or the end of the
    /// block's time.
    pub at: Timestamp,
    /// Who did it, as recorded (`kernel` for automatic blocks and expiries).
    pub actor: String,
    /// Why: the reason recorded, or for an expiry what its entry says.
    pub reason: String,
    /// The index of the entry.
    pub ledger_index: u64,
}

/// The blocklist change `entry` records; `None` for an entry of another
/// action, or one whose object does not read.
pub fn read(entry: &Entry) -> Option<BlockChange> {
    let change = |kind, source: &str, ttl, at, reason: String| {
        Some(BlockChange {
            kind,
            source: source.parse().ok()?,
            ttl,
            at,
            actor: entry.actor.clone(),
            reason,
            ledger_index: entry.index,
        })
    };
    match entry.action.as_str() {
        "block" => {
            let b = read_block(entry)?;
            let ttl = b.expires.duration_since(b.at);
            change(ChangeKind::Block, &b.keys[0], Some(ttl), b.at, b.detail)
        }
        SCAN_BLOCK => {
            let b = read_scan_block(entry)?;
            let ttl = b.expires.duration_since(b.at) - START_PRECISION;
            change(ChangeKind::ScanBlock, &b.keys[0], Some(ttl), b.at, b.detail)
        }
        "unblock" => {
            let source = unblocked_source(&entry.object)?;
            let reason = entry.reason.clone().unwrap_or_default();
            change(ChangeKind::Unblock, &source, None, entry.time, reason)
        }
        EXPIRED => {
            // `block 3: SOURCE blocked by ACTOR, expired TIME`.
            let (_, what) = entry.object.split_once(": ")?;
            let (source, _) = what.split_once(" blocked by ")?;
            let at = what
                .rsplit_once(", expired ")
                .and_then(|(_, t)| t.parse().ok())
                .unwrap_or(entry.time);
            change(ChangeKind::Expiry, source, None, at, entry.object.clone())
        }
        _ => None,
    }
}

/// The blocklist changes recorded since the last look, read from where
/// that look ended ([`Follower`]).
pub struct Changes {
    follower: Follower,
}

impl Changes {
    /// A reader of the changes recorded from now on in `state`'s ledger:
    /// those recorded before are not read.
    pub fn from_now(state: &StateDir) -> Result<Changes, AppError> {
        Ok(Changes {
            follower: Follower::from_end(&state.ledger_dir())?,
        })
    }

    /// The blocklist changes recorded since the last call, in order.
    pub fn new_changes(&mut self) -> Result<Vec<BlockChange>, AppError> {
        Ok(self
            .follower
            .new_entries()?
            .iter()
            .filter_map(read)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::expiry::{block_object, scan_block_object, unblock_object};
    use super::*;

    fn entry(index: u64, action: &str, actor: &str, object: &str, reason: Option<&str>) -> Entry {
        Entry {
            action: action.into(),
            actor: actor.into(),
            after: None,
            approval: None,
            attestation: None,
            before: None,
            host: "h".into(),
            index,
            object: object.into(),
            policy: None,
            reason: reason.map(Into::into),
            time: "2026-01-01T00:00:05Z".parse().unwrap(),
            v: 1,
        }
    }

    #[test]
    fn each_block_entry_reads_back_as_its_change() {
        let source: IpNet = "203.0.113.9/32".parse().unwrap();
        let minute = SignedDuration::from_secs(60);
        let block = read(&entry(
            3,
            "block",
            "alice",
            &block_object(source, minute),
            Some("noisy"),
        ))
        .unwrap();
        assert_eq!(
            block,
            BlockChange {
                kind: ChangeKind::Block,
                source,
                ttl: Some(minute),
                at: "2026-01-01T00:00:05Z".parse().unwrap(),
                actor: "alice".into(),
                reason: "noisy".into(),
                ledger_index: 3,
            }
        );
        let start = "2026-01-01T00:00:01Z".parse().unwrap();
        let object = scan_block_object(source, minute, start, "scan detected in the kernel");
        let scan = read(&entry(4, SCAN_BLOCK, "kernel", &object, None)).unwrap();
        assert_eq!(
            (scan.kind, scan.ttl, scan.at, scan.reason.as_str()),
            (
                ChangeKind::ScanBlock,
                Some(minute),
                start,
                "scan detected in the kernel"
            )
        );
        let object = unblock_object(source, &[("block", 3)]);
        let unblock = read(&entry(5, "unblock", "bob", &object, Some("done"))).unwrap();
        assert_eq!(
            (unblock.kind, unblock.source, unblock.ttl),
            (ChangeKind::Unblock, source, None)
        );
        assert_eq!(
            (unblock.actor.as_str(), unblock.reason.as_str()),
            ("bob", "done")
        );
        let object = "block 3: 203.0.113.9/32 blocked by alice, expired 2026-01-01T00:01:05Z";
        let expiry = read(&entry(6, EXPIRED, "kernel", object, None)).unwrap();
        assert_eq!(
            (expiry.kind, expiry.source, expiry.at),
            (
                ChangeKind::Expiry,
                source,
                "2026-01-01T00:01:05Z".parse().unwrap()
            )
        );
        assert_eq!(expiry.reason, object);
        // Other actions, and objects that do not read, are no change.
        assert_eq!(read(&entry(7, "grant", "alice", "22/tcp", None)), None);
        assert_eq!(read(&entry(8, "block", "alice", "nonsense", None)), None);
    }
}

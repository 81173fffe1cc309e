//! The ends of blocks in the ledger (see [`crate::expiry`]): a `block`
//! entry starts a manual block and a `scan-block` entry an automatic one
//! (the kernel's scan detection, see [`super::kernel`]), an `unblock` entry
//! ends either early, and whoever notices first that the kernel ended one
//! records one `block-expired` entry.

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_enforce::blocks::BlockKind;
use portreeve_ledger::Entry;

use crate::error::AppError;
use crate::expiry::{Started, Timed};
use crate::state_dir::StateDir;

/// The action of the entry recording that a block's time ran out.
pub const EXPIRED: &str = "block-expired";

/// The action of the entry recording a block the kernel made itself.
pub const SCAN_BLOCK: &str = "scan-block";

/// What an expiry entry says of a block: the source, who blocked it, when
/// its time ran out.
fn describe(b: &Started, expired: &[&str]) -> String {
    format!(
        "{} blocked by {}, expired {}",
        expired.join(", "),
        b.actor,
        b.expires
    )
}

/// The source an `unblock` entry ended, from its object.
pub(super) fn unblocked_source(object: &str) -> Option<String> {
    Some(object.split(" (").next()?.to_string())
}

/// How manual blocks are written in the ledger. A block's key is its
/// source in CIDR form; its detail is the reason.
const BLOCKS: Timed = Timed {
    start: "block",
    end: "unblock",
    expired: EXPIRED,
    read_start: read_block,
    ended_key: unblocked_source,
    describe,
};

/// How automatic blocks are written in the ledger: as manual ones, but
/// started by a `scan-block` entry (see [`scan_block_object`]).
const SCAN_BLOCKS: Timed = Timed {
    start: SCAN_BLOCK,
    end: "unblock",
    expired: EXPIRED,
    read_start: read_scan_block,
    ended_key: unblocked_source,
    describe,
};

/// How far a kernel block's start, worked out from the seconds left that
/// nft lists (whole seconds, rounded down) and written to the second
/// (rounded down), may fall before the true start.
pub(super) const START_PRECISION: SignedDuration = SignedDuration::from_secs(2);

/// The object of a `block` entry: `SOURCE for TTL`.
pub(super) fn block_object(source: IpNet, ttl: SignedDuration) -> String {
    format!("{source} for {ttl:#}")
}

/// The object of a `scan-block` entry: `SOURCE for TTL from START: WHY`,
/// START being when the kernel blocked it, to the second.
pub(super) fn scan_block_object(
    source: IpNet,
    ttl: SignedDuration,
    start: Timestamp,
    why: &str,
) -> String {
    format!("{source} for {ttl:#} from {start}: {why}")
}

/// The object of an `unblock` entry: the source, and the blocks it ended
/// (`block 3`, `scan-block 5`) when the ledger knows them.
pub(super) fn unblock_object(source: IpNet, ended: &[(&str, u64)]) -> String {
    if ended.is_empty() {
        return source.to_string();
    }
    let names: Vec<String> = ended
        .iter()
        .map(|(start, id)| format!("{start} {id}"))
        .collect();
    format!("{source} ({})", names.join(", "))
}

/// A `block` entry's block, if its object reads as [`block_object`]
/// writes it.
pub(super) fn read_block(e: &Entry) -> Option<Started> {
    let (source, ttl) = e.object.split_once(" for ")?;
    let ttl: SignedDuration = ttl.parse().ok()?;
    Some(Started {
        id: e.index,
        at: e.time,
        actor: e.actor.clone(),
        keys: vec![source.to_string()],
        detail: e.reason.clone().unwrap_or_default(),
        expires: e.time.checked_add(ttl).ok()?,
        policy: e.policy.clone(),
    })
}

/// A `scan-block` entry's block, if its object reads as
/// [`scan_block_object`] writes it. Its start may be up to
/// [`START_PRECISION`] early, so its end is taken that much later: an
/// expiry is never recorded while the kernel still holds the block.
pub(super) fn read_scan_block(e: &Entry) -> Option<Started> {
    let (source, rest) = e.object.split_once(" for ")?;
    let (ttl, rest) = rest.split_once(" from ")?;
    let (start, why) = rest.split_once(": ")?;
    let ttl: SignedDuration = ttl.parse().ok()?;
    let start: Timestamp = start.parse().ok()?;
    Some(Started {
        id: e.index,
        at: start,
        actor: e.actor.clone(),
        keys: vec![source.to_string()],
        detail: why.to_string(),
        expires: start
            .checked_add(ttl)
            .ok()?
            .checked_add(START_PRECISION)
            .ok()?,
        policy: e.policy.clone(),
    })
}

/// Records a `block-expired` entry for each block, manual or automatic,
/// whose time ran out by `now` and has none yet; returns how many it
/// recorded.
pub(super) fn record_expiries(state: &StateDir, now: Timestamp) -> Result<usize, AppError> {
    Ok(BLOCKS.record_expiries(state, now)? + SCAN_BLOCKS.record_expiries(state, now)?)
}

/// The ledger's block entries, read once: a listing and the kernel
/// recorder ask about many blocks at a time. A ledger that is absent or
/// cannot be read holds no block.
#[derive(Default)]
pub(super) struct BlockLedger {
    manual: Vec<Entry>,
    automatic: Vec<Entry>,
}

impl BlockLedger {
    pub(super) fn read(state: &StateDir) -> BlockLedger {
        if !state.has_ledger() {
            return BlockLedger::default();
        }
        BlockLedger {
            manual: BLOCKS.entries(state).unwrap_or_default(),
            automatic: SCAN_BLOCKS.entries(state).unwrap_or_default(),
        }
    }

    /// The block of `kind` holding `source` at `now`.
    pub(super) fn held(&self, kind: BlockKind, source: IpNet, now: Timestamp) -> Option<Started> {
        let (timed, entries) = match kind {
            BlockKind::Manual => (&BLOCKS, &self.manual),
            BlockKind::Automatic => (&SCAN_BLOCKS, &self.automatic),
        };
        timed.held_in(entries, &source.to_string(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, action: &str, object: &str, time: &str) -> Entry {
        let e = serde_json::json!({
            "action": action, "actor": "alice", "host": "h", "index": index,
            "object": object, "time": time, "v": 1, "reason": "scanner",
        });
        serde_json::from_value(e).unwrap()
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn an_expired_block_is_recorded_once_unless_unblocked() {
        let source: IpNet = "203.0.113.9/32".parse().unwrap();
        let block = block_object(source, SignedDuration::from_secs(600));
        assert_eq!(block, "203.0.113.9/32 for 10m");
        let mut entries = vec![entry(3, "block", &block, "2026-01-01T00:00:00Z")];
        assert!(
            BLOCKS
                .expiries(&entries, at("2026-01-01T00:09:59Z"))
                .is_empty()
        );
        let drafts = BLOCKS.expiries(&entries, at("2026-01-01T00:10:00Z"));
        assert_eq!(drafts.len(), 1);
        assert_eq!(drafts[0].action, "block-expired");
        assert_eq!(drafts[0].actor, "kernel");
        assert_eq!(
            drafts[0].object,
            "block 3: 203.0.113.9/32 blocked by alice, expired 2026-01-01T00:10:00Z"
        );
        entries.push(entry(4, EXPIRED, &drafts[0].object, "2026-01-01T00:11:00Z"));
        assert!(
            BLOCKS
                .expiries(&entries, at("2026-01-01T01:00:00Z"))
                .is_empty()
        );

        let unblocked = [
            entry(3, "block", &block, "2026-01-01T00:00:00Z"),
            entry(
                4,
                "unblock",
                &unblock_object(source, &[("block", 3)]),
                "2026-01-01T00:01:00Z",
            ),
        ];
        assert!(
            BLOCKS
                .expiries(&unblocked, at("2026-01-01T01:00:00Z"))
                .is_empty()
        );
        let read = read_block(&unblocked[0]).unwrap();
        assert_eq!(
            (read.keys[0].as_str(), read.detail.as_str()),
            ("203.0.113.9/32", "scanner")
        );
    }

    #[test]
    fn an_automatic_block_expires_once_its_start_is_read_with_margin() {
        let source: IpNet = "198.51.100.7/32".parse().unwrap();
        let object = scan_block_object(
            source,
            SignedDuration::from_secs(600),
            at("2026-01-01T00:00:00Z"),
            "scan detected in the kernel",
        );
        assert_eq!(
            object,
            "198.51.100.7/32 for 10m from 2026-01-01T00:00:00Z: scan detected in the kernel"
        );
        let mut blocked = entry(7, SCAN_BLOCK, &object, "2026-01-01T00:00:03Z");
        blocked.actor = "kernel".into();
        let read = read_scan_block(&blocked).unwrap();
        assert_eq!(read.at, at("2026-01-01T00:00:00Z"));
        assert_eq!(read.detail, "scan detected in the kernel");
        let entries = vec![blocked];
        // Not before the kernel may still hold it: 2 s past the TTL.
        assert!(
            SCAN_BLOCKS
                .expiries(&entries, at("2026-01-01T00:10:01Z"))
                .is_empty()
        );
        let drafts = SCAN_BLOCKS.expiries(&entries, at("2026-01-01T00:10:02Z"));
        assert_eq!(
            drafts[0].object,
            "scan-block 7: 198.51.100.7/32 blocked by kernel, expired 2026-01-01T00:10:02Z"
        );
        let unblocked = [
            entries[0].clone(),
            entry(
                8,
                "unblock",
                &unblock_object(source, &[(SCAN_BLOCK, 7)]),
                "2026-01-01T00:01:00Z",
            ),
        ];
        assert_eq!(unblocked[1].object, "198.51.100.7/32 (scan-block 7)");
        assert!(
            SCAN_BLOCKS
                .expiries(&unblocked, at("2026-01-01T01:00:00Z"))
                .is_empty()
        );
    }
}

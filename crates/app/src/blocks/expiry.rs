//! The ends of blocks in the ledger (see [`crate::expiry`]): a `block`
//! entry starts one, an `unblock` entry ends one early, and whoever
//! notices first that the kernel ended one records one `block-expired`
//! entry.

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_ledger::Entry;

use crate::error::AppError;
use crate::expiry::{Started, Timed};
use crate::state_dir::StateDir;

/// The action of the entry recording that a block's time ran out.
pub const EXPIRED: &str = "block-expired";

/// How blocks are written in the ledger. A block's key is its source in
/// CIDR form; its detail is the reason.
const BLOCKS: Timed = Timed {
    start: "block",
    end: "unblock",
    expired: EXPIRED,
    read_start: read_block,
    ended_key: |object| Some(object.split(" (block ").next()?.to_string()),
    describe: |b, expired| {
        format!(
            "{} blocked by {}, expired {}",
            expired.join(", "),
            b.actor,
            b.expires
        )
    },
};

/// The object of a `block` entry: `SOURCE for TTL`.
pub(super) fn block_object(source: IpNet, ttl: SignedDuration) -> String {
    format!("{source} for {ttl:#}")
}

/// The object of an `unblock` entry: the source, and the block it ended
/// when known.
pub(super) fn unblock_object(source: IpNet, block: Option<u64>) -> String {
    match block {
        Some(id) => format!("{source} (block {id})"),
        None => source.to_string(),
    }
}

/// A `block` entry's block, if its object reads as [`block_object`]
/// writes it.
fn read_block(e: &Entry) -> Option<Started> {
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

/// Records a `block-expired` entry for each block whose time ran out by
/// `now` and has none yet; returns how many it recorded.
pub fn record_expiries(state: &StateDir, now: Timestamp) -> Result<usize, AppError> {
    BLOCKS.record_expiries(state, now)
}

/// The block of `source` held at `now`, by the ledger.
pub(super) fn held(state: &StateDir, source: IpNet, now: Timestamp) -> Option<Started> {
    BLOCKS.held(state, &source.to_string(), now)
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
                &unblock_object(source, Some(3)),
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
}

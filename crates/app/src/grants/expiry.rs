//! The ends of grants in the ledger (see [`crate::expiry`]): a `grant`
//! entry starts one, a `revoke` entry ends one early, and whoever notices
//! first that the kernel closed one records one `grant-expired` entry.

use jiff::{SignedDuration, Timestamp};
use portreeve_ledger::Entry;

use crate::error::AppError;
use crate::expiry::{Started, Timed};
use crate::state_dir::StateDir;

/// The action of the entry recording that a grant's time ran out.
pub const EXPIRED: &str = "grant-expired";

/// How grants are written in the ledger.
const GRANTS: Timed = Timed {
    start: "grant",
    end: "revoke",
    expired: EXPIRED,
    read_start: read_grant,
    ended_key: revoked_key,
    describe: |g, expired| {
        format!(
            "{} (rule {}) granted by {}, expired {}",
            expired.join(", "),
            g.detail,
            g.actor,
            g.expires
        )
    },
};

/// The object of a `grant` entry: `KEYS for TTL (rule RULE)`.
pub(super) fn grant_object(keys: &[String], ttl: SignedDuration, rule: &str) -> String {
    format!("{} for {ttl:#} (rule {rule})", keys.join(", "))
}

/// The object of a `revoke` entry: the set key closed, and the grant it
/// belonged to when known.
pub(super) fn revoke_object(key: &str, grant: Option<u64>) -> String {
    match grant {
        Some(id) => format!("{key} (grant {id})"),
        None => key.to_string(),
    }
}

/// A `grant` entry's grant, if its object reads as [`grant_object`]
/// writes it; its detail is the rule.
fn read_grant(e: &Entry) -> Option<Started> {
    let (keys, rest) = e.object.split_once(" for ")?;
    let (ttl, rule) = rest.split_once(" (rule ")?;
    let ttl: SignedDuration = ttl.parse().ok()?;
    Some(Started {
        id: e.index,
        at: e.time,
        actor: e.actor.clone(),
        keys: keys.split(", ").map(str::to_string).collect(),
        detail: rule.strip_suffix(')')?.to_string(),
        expires: e.time.checked_add(ttl).ok()?,
        policy: e.policy.clone(),
    })
}

/// The set key a `revoke` entry closed: `SOURCE . PROTOCOL . PORT` (with
/// ` (grant N)` after it), or, as entries before grants had names wrote
/// it, `NETWORK PORT/PROTOCOL`.
fn revoked_key(object: &str) -> Option<String> {
    if object.contains(" . ") {
        return Some(object.split(" (grant ").next()?.to_string());
    }
    let (net, port) = object.split_once(' ')?;
    let (port, proto) = port.split_once('/')?;
    Some(portreeve_enforce::grants::key(
        net.parse().ok()?,
        proto.parse().ok()?,
        port.parse().ok()?,
    ))
}

/// Records a `grant-expired` entry for each grant whose time ran out by
/// `now` and has none yet; returns how many it recorded.
pub fn record_expiries(state: &StateDir, now: Timestamp) -> Result<usize, AppError> {
    GRANTS.record_expiries(state, now)
}

/// The grant whose `key` is open at `now`, by the ledger: the latest
/// `grant` entry holding it that has not run out.
pub(super) fn open_grant(state: &StateDir, key: &str, now: Timestamp) -> Option<u64> {
    GRANTS.held(state, key, now).map(|g| g.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, action: &str, object: &str, time: &str) -> Entry {
        let e = serde_json::json!({
            "action": action, "actor": "alice", "host": "h", "index": index,
            "object": object, "time": time, "v": 1,
        });
        serde_json::from_value(e).unwrap()
    }

    const KEY: &str = "10.0.0.7 . tcp . 9229";

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn an_expired_grant_is_recorded_once_naming_who_what_and_when() {
        let grant = grant_object(&[KEY.into()], SignedDuration::from_secs(60), "dbg");
        let mut entries = vec![entry(0, "grant", &grant, "2026-01-01T00:00:00Z")];
        assert!(
            GRANTS
                .expiries(&entries, at("2026-01-01T00:00:59Z"))
                .is_empty()
        );
        let drafts = GRANTS.expiries(&entries, at("2026-01-01T00:01:00Z"));
        assert_eq!(drafts.len(), 1);
        assert_eq!(drafts[0].action, "grant-expired");
        assert_eq!(
            drafts[0].object,
            "grant 0: 10.0.0.7 . tcp . 9229 (rule dbg) granted by alice, expired 2026-01-01T00:01:00Z"
        );
        entries.push(entry(1, EXPIRED, &drafts[0].object, "2026-01-01T00:02:00Z"));
        assert!(
            GRANTS
                .expiries(&entries, at("2026-01-01T00:03:00Z"))
                .is_empty()
        );
    }

    #[test]
    fn revoked_and_regranted_grants_did_not_expire() {
        let grant = grant_object(&[KEY.into()], SignedDuration::from_secs(60), "dbg");
        let late = at("2026-01-01T01:00:00Z");
        let revoked = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(
                1,
                "revoke",
                &revoke_object(KEY, Some(0)),
                "2026-01-01T00:00:30Z",
            ),
        ];
        assert!(GRANTS.expiries(&revoked, late).is_empty());
        // As revocations were written before grants had names.
        let legacy = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(1, "revoke", "10.0.0.7/32 9229/tcp", "2026-01-01T00:00:30Z"),
        ];
        assert!(GRANTS.expiries(&legacy, late).is_empty());
        // A revocation after the expiry is of a later grant.
        let after = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(
                1,
                "revoke",
                &revoke_object(KEY, None),
                "2026-01-01T00:05:00Z",
            ),
        ];
        assert_eq!(GRANTS.expiries(&after, late).len(), 1);
        // Re-granted before it ran out: only the second grant expires.
        let regranted = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(1, "grant", &grant, "2026-01-01T00:00:30Z"),
        ];
        let drafts = GRANTS.expiries(&regranted, late);
        assert_eq!(drafts.len(), 1);
        assert!(drafts[0].object.starts_with("grant 1: "));
    }
}

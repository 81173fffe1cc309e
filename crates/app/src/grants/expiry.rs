//! The ends of grants in the ledger: a revocation is recorded by whoever
//! revokes, but the kernel closes an expired grant by itself, silently, so
//! whichever portreeve process notices first (`grants`, `grant`, `revoke`,
//! `apply`, the agent's lifecycle round) records one `grant-expired` entry for it.
//!
//! The ledger itself is the memory of what was recorded: a grant is named
//! by the index of its `grant` entry, and an expiry is recorded only when
//! no `grant-expired` entry names that index yet — decided and appended
//! under the firewall's lock, so two processes noticing together record it
//! once.

use jiff::{SignedDuration, Timestamp};
use portreeve_enforce::EnforceError;
use portreeve_ledger::{Draft, Entry};

use crate::error::AppError;
use crate::record::record;
use crate::state_dir::StateDir;

/// The action of the entry recording that a grant's time ran out.
pub const EXPIRED: &str = "grant-expired";
/// Who ends an expired grant: the kernel's timeout, not a person.
const EXPIRED_BY: &str = "kernel";

/// A `grant` entry read back.
#[derive(Debug, PartialEq)]
struct Granted {
    /// The index of its entry: the grant's name.
    id: u64,
    /// Who granted it.
    actor: String,
    /// Its set keys, `SOURCE . PROTOCOL . PORT`.
    keys: Vec<String>,
    /// The rule that permitted it.
    rule: String,
    /// When its time runs out.
    expires: Timestamp,
    /// The policy in effect that permitted it.
    policy: Option<String>,
}

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

impl Granted {
    /// A `grant` entry's grant, if its object reads as [`grant_object`]
    /// writes it.
    fn read(e: &Entry) -> Option<Granted> {
        let (keys, rest) = e.object.split_once(" for ")?;
        let (ttl, rule) = rest.split_once(" (rule ")?;
        let ttl: SignedDuration = ttl.parse().ok()?;
        Some(Granted {
            id: e.index,
            actor: e.actor.clone(),
            keys: keys.split(", ").map(str::to_string).collect(),
            rule: rule.strip_suffix(')')?.to_string(),
            expires: e.time.checked_add(ttl).ok()?,
            policy: e.policy.clone(),
        })
    }

    /// Whether `key` of this grant was still open at `at`.
    fn open_at(&self, key: &str, at: Timestamp, granted: Timestamp) -> bool {
        self.keys.iter().any(|k| k == key) && granted <= at && at < self.expires
    }
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

/// The entries that matter here, from the ledger file: the canonical form
/// starts with the action, so the rest are skipped unparsed.
fn grant_entries(state: &StateDir) -> Result<Vec<Entry>, AppError> {
    let bytes = portreeve_ledger::store::entries_bytes(&state.ledger_dir())?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter(|l| {
            [
                &br#"{"action":"grant","#[..],
                br#"{"action":"revoke","#,
                br#"{"action":"grant-expired","#,
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .filter_map(|l| Entry::parse(l).ok())
        .collect())
}

/// The entries to append for the grants whose time ran out by `now` with a
/// key still open — not revoked, not replaced by a re-grant — and no
/// `grant-expired` entry yet.
fn expiries(entries: &[Entry], now: Timestamp) -> Vec<Draft> {
    let recorded = |id: u64| {
        let prefix = format!("grant {id}:");
        entries
            .iter()
            .any(|e| e.action == EXPIRED && e.object.starts_with(&prefix))
    };
    let grants: Vec<(Timestamp, Granted)> = entries
        .iter()
        .filter(|e| e.action == "grant")
        .filter_map(|e| Some((e.time, Granted::read(e)?)))
        .collect();
    let mut drafts = Vec::new();
    for (granted, g) in &grants {
        if g.expires > now || recorded(g.id) {
            continue;
        }
        let ended_early = |key: &str| {
            let revoked = entries.iter().any(|e| {
                e.action == "revoke"
                    && revoked_key(&e.object).as_deref() == Some(key)
                    && g.open_at(key, e.time, *granted)
            });
            let replaced = grants.iter().any(|(t, later)| {
                later.id > g.id && later.keys.iter().any(|k| k == key) && *t < g.expires
            });
            revoked || replaced
        };
        let expired: Vec<&str> = g
            .keys
            .iter()
            .map(String::as_str)
            .filter(|k| !ended_early(k))
            .collect();
        if expired.is_empty() {
            continue;
        }
        let mut draft = Draft::new(
            EXPIRED,
            EXPIRED_BY,
            format!(
                "grant {}: {} (rule {}) granted by {}, expired {}",
                g.id,
                expired.join(", "),
                g.rule,
                g.actor,
                g.expires
            ),
        );
        draft.policy = g.policy.clone();
        drafts.push(draft);
    }
    drafts
}

/// Records a `grant-expired` entry for each grant whose time ran out by
/// `now` and has none yet; returns how many it recorded.
pub fn record_expiries(state: &StateDir, now: Timestamp) -> Result<usize, AppError> {
    if !state.has_ledger() {
        return Ok(0);
    }
    let _lock = state
        .firewall()
        .generations()
        .lock()
        .map_err(EnforceError::from)?;
    let drafts = expiries(&grant_entries(state)?, now);
    let n = drafts.len();
    for draft in drafts {
        record(state, draft, "a grant's expiry was noticed")?;
    }
    Ok(n)
}

/// The grant whose `key` is open at `now`, by the ledger: the latest
/// `grant` entry holding it that has not run out.
pub(super) fn open_grant(state: &StateDir, key: &str, now: Timestamp) -> Option<u64> {
    if !state.has_ledger() {
        return None;
    }
    grant_entries(state)
        .ok()?
        .iter()
        .rev()
        .filter(|e| e.action == "grant")
        .filter_map(|e| Some((e.time, Granted::read(e)?)))
        .find(|(t, g)| g.open_at(key, now, *t))
        .map(|(_, g)| g.id)
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
        assert!(expiries(&entries, at("2026-01-01T00:00:59Z")).is_empty());
        let drafts = expiries(&entries, at("2026-01-01T00:01:00Z"));
        assert_eq!(drafts.len(), 1);
        assert_eq!(drafts[0].action, "grant-expired");
        assert_eq!(
            drafts[0].object,
            "grant 0: 10.0.0.7 . tcp . 9229 (rule dbg) granted by alice, expired 2026-01-01T00:01:00Z"
        );
        entries.push(entry(1, EXPIRED, &drafts[0].object, "2026-01-01T00:02:00Z"));
        assert!(expiries(&entries, at("2026-01-01T00:03:00Z")).is_empty());
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
        assert!(expiries(&revoked, late).is_empty());
        // As revocations were written before grants had names.
        let legacy = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(1, "revoke", "10.0.0.7/32 9229/tcp", "2026-01-01T00:00:30Z"),
        ];
        assert!(expiries(&legacy, late).is_empty());
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
        assert_eq!(expiries(&after, late).len(), 1);
        // Re-granted before it ran out: only the second grant expires.
        let regranted = [
            entry(0, "grant", &grant, "2026-01-01T00:00:00Z"),
            entry(1, "grant", &grant, "2026-01-01T00:00:30Z"),
        ];
        let drafts = expiries(&regranted, late);
        assert_eq!(drafts.len(), 1);
        assert!(drafts[0].object.starts_with("grant 1: "));
    }
}

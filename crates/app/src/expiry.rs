//! The ends of kernel elements with a timeout (grants, blocks) in the
//! ledger: an early end (`revoke`, `unblock`) is recorded by whoever ends
//! it, but the kernel removes an expired element by itself, silently, so
//! whichever portreeve process notices first (a listing, a new grant or
//! block, an early end, the agent's lifecycle round; `apply`, for grants)
//! records one expiry entry.
//!
//! The ledger itself is the memory of what was recorded: an element is
//! named by the index of the entry that started it, and an expiry is
//! recorded only when no expiry entry names that index yet — decided and
//! appended under the firewall's lock, so two processes noticing together
//! record it once.

use jiff::Timestamp;
use portreeve_enforce::EnforceError;
use portreeve_ledger::{Draft, Entry};

use crate::error::AppError;
use crate::record::record;
use crate::state_dir::StateDir;

/// Who ends an expired element: the kernel's timeout, not a person.
const EXPIRED_BY: &str = "kernel";

/// How one kind of timed element is written in the ledger.
pub(crate) struct Timed {
    /// The action that starts one (`grant`).
    pub start: &'static str,
    /// The action that ends one early (`revoke`).
    pub end: &'static str,
    /// The action recording that one ran out (`grant-expired`).
    pub expired: &'static str,
    /// A start entry read back; `None` if its object does not read.
    pub read_start: fn(&Entry) -> Option<Started>,
    /// The key an early end closed, from its object.
    pub ended_key: fn(&str) -> Option<String>,
    /// What an expiry entry says after `START ID: `: the keys that ran out
    /// and whatever explains them.
    pub describe: fn(&Started, &[&str]) -> String,
}

/// A start entry read back.
#[derive(Debug, PartialEq)]
pub(crate) struct Started {
    /// The index of its entry: the element's name.
    pub id: u64,
    /// When it started.
    pub at: Timestamp,
    /// Who started it.
    pub actor: String,
    /// The kernel keys it holds.
    pub keys: Vec<String>,
    /// What else its object says (a grant's rule).
    pub detail: String,
    /// When its time runs out.
    pub expires: Timestamp,
    /// The policy in effect that permitted it.
    pub policy: Option<String>,
}

impl Started {
    /// Whether `key` of this element was still held at `at`.
    fn held_at(&self, key: &str, at: Timestamp) -> bool {
        self.keys.iter().any(|k| k == key) && self.at <= at && at < self.expires
    }
}

impl Timed {
    /// The entries of this kind from the ledger file: the canonical form
    /// starts with the action, so the rest are skipped unparsed.
    pub(crate) fn entries(&self, state: &StateDir) -> Result<Vec<Entry>, AppError> {
        let bytes = portreeve_ledger::store::entries_bytes(&state.ledger_dir())?;
        let prefixes: Vec<String> = [self.start, self.end, self.expired]
            .iter()
            .map(|a| format!(r#"{{"action":"{a}","#))
            .collect();
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p.as_bytes())))
            .filter_map(|l| Entry::parse(l).ok())
            .collect())
    }

    /// The start entries among `entries`, read back.
    fn started<'a>(
        &'a self,
        entries: &'a [Entry],
    ) -> impl DoubleEndedIterator<Item = Started> + 'a {
        entries
            .iter()
            .filter(|e| e.action == self.start)
            .filter_map(self.read_start)
    }

    /// The entries to append for the elements whose time ran out by `now`
    /// with a key still held — not ended early, not replaced by a later
    /// start — and no expiry entry yet.
    pub(crate) fn expiries(&self, entries: &[Entry], now: Timestamp) -> Vec<Draft> {
        let recorded = |id: u64| {
            let prefix = format!("{} {id}:", self.start);
            entries
                .iter()
                .any(|e| e.action == self.expired && e.object.starts_with(&prefix))
        };
        let all: Vec<Started> = self.started(entries).collect();
        let mut drafts = Vec::new();
        for s in &all {
            if s.expires > now || recorded(s.id) {
                continue;
            }
            let ended_early = |key: &str| {
                let ended = entries.iter().any(|e| {
                    e.action == self.end
                        && (self.ended_key)(&e.object).as_deref() == Some(key)
                        && s.held_at(key, e.time)
                });
                let replaced = all.iter().any(|later| {
                    later.id > s.id && later.keys.iter().any(|k| k == key) && later.at < s.expires
                });
                ended || replaced
            };
            let expired: Vec<&str> = s
                .keys
                .iter()
                .map(String::as_str)
                .filter(|k| !ended_early(k))
                .collect();
            if expired.is_empty() {
                continue;
            }
            let object = format!("{} {}: {}", self.start, s.id, (self.describe)(s, &expired));
            let mut draft = Draft::new(self.expired, EXPIRED_BY, object);
            draft.policy = s.policy.clone();
            drafts.push(draft);
        }
        drafts
    }

    /// Records an expiry entry for each element whose time ran out by
    /// `now` and has none yet; returns how many it recorded.
    pub(crate) fn record_expiries(
        &self,
        state: &StateDir,
        now: Timestamp,
    ) -> Result<usize, AppError> {
        if !state.has_ledger() {
            return Ok(0);
        }
        let _lock = state
            .firewall()
            .generations()
            .lock()
            .map_err(EnforceError::from)?;
        let drafts = self.expiries(&self.entries(state)?, now);
        let n = drafts.len();
        let noticed = format!("the expiry of a {} was noticed", self.start);
        for draft in drafts {
            record(state, draft, &noticed)?;
        }
        Ok(n)
    }

    /// The element holding `key` at `now`, by the ledger: the latest start
    /// entry holding it that has not run out.
    pub(crate) fn held(&self, state: &StateDir, key: &str, now: Timestamp) -> Option<Started> {
        if !state.has_ledger() {
            return None;
        }
        self.held_in(&self.entries(state).ok()?, key, now)
    }

    /// [`Timed::held`] over entries already read with [`Timed::entries`],
    /// for callers that ask about many keys at once.
    pub(crate) fn held_in(&self, entries: &[Entry], key: &str, now: Timestamp) -> Option<Started> {
        self.started(entries).rev().find(|s| s.held_at(key, now))
    }
}

//! Putting rulesets into the kernel safely: plan, apply, confirm, roll back,
//! grant, and read back what the kernel has recorded.
//!
//! Every change is one `nft -f` transaction that replaces portreeve's table
//! as a whole and carries over the run-time sets (grants, blocks, last
//! access), so an apply never forgets who was granted what. Every change is
//! checked with `nft -c` first, recorded as a generation, and done under the
//! store's lock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{PortKey, Proto};

use crate::blocks::{self, BlockKind, LiveBlock};
use crate::foreign::{ForeignChain, foreign_chains};
use crate::generations::{Generation, GenerationStore, GenerationStoreError, Status};
use crate::grants::{self, Grant};
use crate::guard::{Lockout, SshAccess, lockouts};
use crate::nft_command::{Nft, NftError};
use crate::nft_text::{
    self, DYNAMIC_SETS, DynamicState, GENERATION_SET, SEEN_SET, TABLE, TimedElement,
};
use crate::ruleset::Ruleset;
use crate::table_drift;

/// Why an enforcement command failed.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    /// nft failed or refused.
    #[error(transparent)]
    Nft(#[from] NftError),
    /// The generation store could not be read or written.
    #[error("state directory: {0}")]
    Store(#[from] GenerationStoreError),
    /// The ruleset would cut a management path.
    #[error("refusing a ruleset that would lock you out:{}", lockout_lines(.0))]
    Lockout(Vec<Lockout>),
    /// Nothing awaits confirmation.
    #[error("no applied ruleset is awaiting confirmation{0}")]
    NothingToConfirm(String),
    /// Nothing to roll back to.
    #[error("nothing to roll back: {0}")]
    NoPrevious(String),
    /// A rollback to a generation that was never made.
    #[error("there is no generation {0} (`portreeve generations` lists them)")]
    NoSuchGeneration(u64),
    /// The watchdog of a ruleset that must be confirmed could not be
    /// started, so the ruleset was not applied.
    #[error("cannot start the confirmation watchdog, so nothing was applied: {0}")]
    Watchdog(std::io::Error),
    /// portreeve's table is not in the kernel.
    #[error(
        "portreeve's ruleset is not applied (no table inet {TABLE}); run `portreeve apply` first"
    )]
    NotApplied,
    /// Another generation awaits confirmation.
    #[error(
        "generation {0} awaits confirmation: `portreeve confirm` or `portreeve rollback` it first"
    )]
    AwaitingConfirmation(u64),
    /// A grant overlapping one that is open.
    #[error(
        "{wanted} overlaps the open grant {existing} ({seconds_left} s left): a grant inside it is already covered; revoke it first to grant something else"
    )]
    GrantOverlaps {
        /// The grant asked for.
        wanted: String,
        /// The open grant in the way.
        existing: String,
        /// Its time left.
        seconds_left: u64,
    },
    /// A revoke for a grant that does not exist.
    #[error("no grant for {0}")]
    NoSuchGrant(String),
    /// The blocklist cannot take a block or an unblock.
    #[error(transparent)]
    Block(#[from] crate::blocks::BlockSetError),
}

fn lockout_lines(l: &[Lockout]) -> String {
    l.iter()
        .map(|l| {
            format!(
                "\n  {} would lose tcp/{} ({}) — {}",
                l.source, l.port, l.verdict, l.why
            )
        })
        .collect::<Vec<_>>()
        .join("")
        + "\nallow the path in the policy, or pass --force if you have another way in"
}

/// The actor recorded for the watchdog's automatic rollbacks.
pub const WATCHDOG: &str = "watchdog";

/// What `apply` would change.
#[derive(Debug)]
pub struct ApplyPreview {
    /// The static ruleset that would be applied.
    pub ruleset: String,
    /// The live generation, if any.
    pub live: Option<Generation>,
    /// A unified diff from the live generation's ruleset (empty: no change).
    pub diff: String,
    /// Whether portreeve's table is actually in the kernel.
    pub table_present: bool,
    /// Other tables' base chains that also decide traffic.
    pub foreign: Vec<ForeignChain>,
    /// Management paths the ruleset would cut.
    pub lockouts: Vec<Lockout>,
    /// How portreeve's table in the kernel differs from the live
    /// generation's ruleset: changes made outside portreeve.
    pub drift: Vec<String>,
}

/// How to apply, and what to record with the generation.
#[derive(Debug, Default)]
pub struct ApplyOptions {
    /// Who applies.
    pub actor: String,
    /// `sha256:<hex>` of the policy text the ruleset was compiled from.
    pub policy_digest: Option<String>,
    /// The approval the policy is installed on (`proposal N`), if any.
    pub approval: Option<String>,
    /// Apply even if it cuts a management path.
    pub force: bool,
    /// Roll back automatically unless confirmed within this long.
    pub confirm_within: Option<SignedDuration>,
    /// The live SSH sessions and listening SSH ports the lock-out guard
    /// protects.
    pub ssh: SshAccess,
}

impl ApplyOptions {
    /// The record of applying `ruleset` with these options at `now`, over
    /// generation `previous` (its number and digest are the store's to
    /// fill in).
    pub fn generation(&self, ruleset: &Ruleset, previous: u64, now: Timestamp) -> Generation {
        Generation {
            generation: 0,
            created_at: now,
            actor: self.actor.clone(),
            policy: ruleset.origin.clone(),
            sha256: String::new(),
            status: if self.confirm_within.is_some() {
                Status::Pending
            } else {
                Status::Applied
            },
            confirm_deadline: self.confirm_within.and_then(|d| now.checked_add(d).ok()),
            previous,
            restores: None,
            policy_digest: self.policy_digest.clone(),
            approval: self.approval.clone(),
        }
    }
}

/// A grant as the kernel holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveGrant {
    /// `SOURCE . PROTO . PORT`.
    pub key: String,
    /// Seconds left.
    pub expires_s: u64,
    /// The grant's full lifetime, in seconds.
    pub timeout_s: u64,
}

/// A port as the kernel's `seen` set records it: its last new connection
/// and how many were accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenPort {
    /// The port.
    pub key: PortKey,
    /// When the last new connection arrived.
    pub last_access: Timestamp,
    /// New connections accepted for the port since its entry was created
    /// (an entry lives for the usage retention after the last one); 0 from
    /// a ruleset installed before `seen` kept counters.
    pub connections: u64,
}

/// portreeve's firewall on this host.
#[derive(Clone, Debug)]
pub struct Enforcer {
    nft: Nft,
    store: GenerationStore,
    /// How nft lists the live generation's ruleset, by generation: loading
    /// it in a scratch namespace costs as much as an apply, so it is done
    /// once per generation.
    expected: Arc<Mutex<Option<(u64, serde_json::Value)>>>,
}

impl Enforcer {
    /// The enforcer keeping its generations in `dir` (the state
    /// directory's `enforce/`).
    pub fn new(dir: &std::path::Path) -> Enforcer {
        Enforcer {
            nft: Nft::new(),
            store: GenerationStore::new(dir),
            expected: Arc::default(),
        }
    }

    /// The generation store.
    pub fn store(&self) -> &GenerationStore {
        &self.store
    }

    /// What applying `ruleset` would change; changes nothing.
    pub fn plan(&self, ruleset: &Ruleset, ssh: &SshAccess) -> Result<ApplyPreview, EnforceError> {
        let rendered = nft_text::render(ruleset);
        let live = match self.store.current()? {
            0 => None,
            n => Some(self.store.get(n)?),
        };
        let old = match &live {
            Some(g) => self.store.ruleset(g.generation)?,
            None => String::new(),
        };
        let header = live.as_ref().map_or_else(
            || "no portreeve ruleset".to_string(),
            |g| format!("generation {} (live)", g.generation),
        );
        let diff = if old == rendered {
            String::new()
        } else {
            similar::TextDiff::from_lines(&old, &rendered)
                .unified_diff()
                .context_radius(2)
                .header(&header, "new ruleset")
                .to_string()
        };
        let listing = self.nft.list_ruleset_terse()?;
        let table_present = listing["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["table"]["family"] == "inet" && i["table"]["name"] == TABLE);
        // Comparing needs a scratch namespace; where that is not possible
        // the preview says so rather than failing.
        let drift = if table_present {
            self.table_drift().map_or_else(
                |e| vec![format!("cannot compare with the kernel: {e}")],
                Option::unwrap_or_default,
            )
        } else {
            Vec::new()
        };
        Ok(ApplyPreview {
            ruleset: rendered,
            diff,
            live,
            table_present,
            foreign: foreign_chains(&listing),
            lockouts: lockouts(ruleset, ssh),
            drift,
        })
    }

    /// How portreeve's table in the kernel differs from the ruleset of the
    /// live generation (one line per difference, empty when it does not):
    /// elements, rules or chains changed by hand. `None` when nothing is
    /// applied or the table is gone.
    pub fn table_drift(&self) -> Result<Option<Vec<String>>, EnforceError> {
        let current = self.store.current()?;
        if current == 0 {
            return Ok(None);
        }
        let Some(live) = self.nft.list_table_json("inet", TABLE)? else {
            return Ok(None);
        };
        let mut cached = self.expected.lock().unwrap_or_else(|p| p.into_inner());
        let expected = match &*cached {
            Some((n, listing)) if *n == current => listing,
            _ => {
                let listing = self
                    .nft
                    .listing_of(&self.store.ruleset(current)?, "inet", TABLE)?;
                &cached.insert((current, listing)).1
            }
        };
        Ok(Some(table_drift::differences(expected, &live)))
    }

    /// Other tables' base chains that also decide traffic to this host.
    pub fn foreign(&self) -> Result<Vec<ForeignChain>, EnforceError> {
        Ok(foreign_chains(&self.nft.list_ruleset_terse()?))
    }

    /// Applies `ruleset` as a new generation. With a confirmation deadline,
    /// `spawn_watchdog` is called with the generation's number after it is
    /// recorded and before the kernel is touched, so the rollback is armed
    /// before anything can go wrong.
    ///
    /// Refused while another generation awaits confirmation: a change in
    /// the window would leave the watchdog nothing it could safely restore
    /// (confirm or roll back first).
    pub fn apply(
        &self,
        ruleset: &Ruleset,
        opts: &ApplyOptions,
        spawn_watchdog: impl FnOnce(u64) -> std::io::Result<()>,
    ) -> Result<Generation, EnforceError> {
        let found = lockouts(ruleset, &opts.ssh);
        if !found.is_empty() && !opts.force {
            return Err(EnforceError::Lockout(found));
        }
        let rendered = nft_text::render(ruleset);
        let _lock = self.store.lock()?;
        let previous = self.reconcile_locked()?;
        if previous != 0 {
            let live = self.store.get(previous)?;
            if live.status == Status::Pending {
                return Err(EnforceError::AwaitingConfirmation(previous));
            }
        }
        let state = self.dynamic_state()?;
        let mut record = self.store.create(
            &rendered,
            opts.generation(ruleset, previous, Timestamp::now()),
        )?;
        if opts.confirm_within.is_some()
            && let Err(e) = spawn_watchdog(record.generation)
        {
            // Without its watchdog a pending ruleset must not go live.
            record.status = Status::Failed;
            record.confirm_deadline = None;
            self.store.update(&record)?;
            return Err(EnforceError::Watchdog(e));
        }
        // No separate `nft -c` first: `nft -f` is all or nothing, and a
        // rejected attempt is worth its record (status `failed`). The
        // transaction marks the table with the generation's number, so the
        // kernel says it is live even if this process dies before `current`
        // is written.
        let transaction = nft_text::replace_transaction(&rendered, &state, record.generation);
        if let Err(e) = self.nft.apply(&transaction) {
            record.status = Status::Failed;
            record.confirm_deadline = None;
            self.store.update(&record)?;
            return Err(e.into());
        }
        self.note_current(record.generation);
        Ok(record)
    }

    /// Writes down that `generation` is live, after `nft` committed it. A
    /// failure (a full disk) is logged, not returned: the kernel's marker
    /// already says so, and the next change reconciles the records with it
    /// — returning an error here would report a change that did happen as
    /// one that did not.
    fn note_current(&self, generation: u64) {
        if let Err(e) = self.store.set_current(generation) {
            tracing::warn!(generation, error = %e, "cannot record the live generation; the kernel's marker holds it");
        }
    }

    /// Takes generation `g` back out of the kernel, restoring the one it
    /// replaced (its `previous`) as it was — same number, same ruleset —
    /// and marks `g` failed: for a change whose record could not be
    /// written. Needs no new record, so it works when the disk does not.
    pub fn undo(&self, g: &Generation) -> Result<(), EnforceError> {
        let _lock = self.store.lock()?;
        let transaction = match g.previous {
            0 => nft_text::delete_transaction(),
            p => nft_text::replace_transaction(&self.store.ruleset(p)?, &self.dynamic_state()?, p),
        };
        self.nft.apply(&transaction)?;
        // The kernel now says which generation is live; if these writes
        // fail too, the next change reconciles the records with it.
        let _ = self.store.set_current(g.previous);
        let mut failed = g.clone();
        failed.status = Status::Failed;
        failed.confirm_deadline = None;
        let _ = self.store.update(&failed);
        Ok(())
    }

    /// The generation the kernel holds: `Some(0)` when portreeve's table is
    /// absent, `Some(n)` when it is marked as generation `n`, `None` when it
    /// is there without a mark (installed by a portreeve before the mark).
    pub fn live_generation(&self) -> Result<Option<u64>, EnforceError> {
        match self.set_elements(GENERATION_SET)? {
            None if self.nft.list_table_text("inet", TABLE)?.is_none() => Ok(Some(0)),
            None => Ok(None),
            Some(elements) => Ok(elements.first().and_then(|e| e.key.parse().ok())),
        }
    }

    /// `reconcile_locked` under the store's lock: for a change
    /// that reads the records (the policy in effect) before it touches the
    /// kernel, such as a grant.
    pub fn reconcile(&self) -> Result<u64, EnforceError> {
        let _lock = self.store.lock()?;
        self.reconcile_locked()
    }

    /// Makes the records agree with the kernel, under the store's lock, and
    /// returns the live generation: a generation the kernel holds but
    /// `current` does not name (its applier died after `nft` committed)
    /// becomes current; generations newer than the live one that never
    /// reached the kernel (their applier died before) are marked failed.
    /// A table removed or left unmarked outside portreeve changes nothing
    /// here (`plan` reports it).
    fn reconcile_locked(&self) -> Result<u64, EnforceError> {
        let mut current = self.store.current()?;
        let Some(live) = self.live_generation()? else {
            return Ok(current);
        };
        if live != current && live != 0 && self.store.get(live).is_ok() {
            // Later: its applier stopped after nft committed. Earlier: a
            // change was taken back out (`undo`) before `current` was
            // written back.
            tracing::warn!(
                live,
                recorded = current,
                "generation {live} is live in the kernel but was not recorded as current"
            );
            self.store.set_current(live)?;
            current = live;
        }
        for mut g in self
            .store
            .list()?
            .into_iter()
            .filter(|g| g.generation > current)
        {
            if matches!(g.status, Status::Pending | Status::Applied) {
                tracing::warn!(
                    generation = g.generation,
                    "generation {} never reached the kernel: marked failed",
                    g.generation
                );
                g.status = Status::Failed;
                g.confirm_deadline = None;
                self.store.update(&g)?;
            }
        }
        Ok(current)
    }

    /// Confirms the live generation if it awaits confirmation.
    pub fn confirm(&self) -> Result<Generation, EnforceError> {
        let _lock = self.store.lock()?;
        let current = self.reconcile_locked()?;
        let mut live = match current {
            0 => return Err(EnforceError::NothingToConfirm(String::new())),
            n => self.store.get(n)?,
        };
        if live.status != Status::Pending {
            let last_pending = self
                .store
                .list()?
                .into_iter()
                .rev()
                .find(|g| g.status == Status::Reverted);
            let note = match last_pending {
                Some(g) => format!(
                    " (generation {} was not confirmed in time and was rolled back)",
                    g.generation
                ),
                None => format!(" (generation {} is {})", live.generation, live.status),
            };
            return Err(EnforceError::NothingToConfirm(note));
        }
        live.status = Status::Confirmed;
        live.confirm_deadline = None;
        self.store.update(&live)?;
        Ok(live)
    }

    /// Restores the generation that was live before the current one (or
    /// `to`), as a new generation made by `actor`. A generation awaiting
    /// confirmation that this rolls back over is marked reverted.
    pub fn rollback(&self, to: Option<u64>, actor: &str) -> Result<Generation, EnforceError> {
        let _lock = self.store.lock()?;
        self.rollback_locked(to, actor)
    }

    fn rollback_locked(&self, to: Option<u64>, actor: &str) -> Result<Generation, EnforceError> {
        let current = self.reconcile_locked()?;
        let target = match (to, current) {
            (Some(t), _) => t,
            (None, 0) => {
                return Err(EnforceError::NoPrevious(
                    "no portreeve ruleset is applied".into(),
                ));
            }
            (None, c) => self.store.get(c)?.previous,
        };
        if target != 0 && !self.store.exists(target) {
            return Err(EnforceError::NoSuchGeneration(target));
        }
        // A generation that removed the table (its ruleset is empty) is
        // restored by removing the table.
        let target = match target {
            0 => 0,
            t if self.store.ruleset(t)?.is_empty() => 0,
            t => t,
        };
        let (text, restored) = match target {
            0 => (None, None),
            t => (Some(self.store.ruleset(t)?), Some(self.store.get(t)?)),
        };
        let state = match &text {
            Some(_) => Some(self.dynamic_state()?),
            None => None,
        };
        let mut record = self.store.create(
            text.as_deref().unwrap_or(""),
            Generation {
                generation: 0,
                created_at: Timestamp::now(),
                actor: actor.to_string(),
                policy: restored
                    .as_ref()
                    .map_or_else(|| "(none: table removed)".to_string(), |g| g.policy.clone()),
                sha256: String::new(),
                status: Status::Applied,
                confirm_deadline: None,
                previous: restored.as_ref().map_or(0, |g| g.previous),
                restores: Some(target),
                policy_digest: restored.as_ref().and_then(|g| g.policy_digest.clone()),
                approval: restored.and_then(|g| g.approval),
            },
        )?;
        let transaction = match (&text, &state) {
            (Some(t), Some(state)) => nft_text::replace_transaction(t, state, record.generation),
            _ => nft_text::delete_transaction(),
        };
        if let Err(e) = self.nft.apply(&transaction) {
            // It never reached the kernel: say so, rather than leave a
            // record of something applied.
            record.status = Status::Failed;
            self.store.update(&record)?;
            return Err(e.into());
        }
        self.note_current(record.generation);
        if current != 0 {
            let mut replaced = self.store.get(current)?;
            if replaced.status == Status::Pending {
                replaced.status = Status::Reverted;
                replaced.confirm_deadline = None;
                self.store.update(&replaced)?;
            }
        }
        Ok(record)
    }

    /// The watchdog of generation `n`: waits for its deadline and, unless
    /// `n` was confirmed meanwhile, restores the generation before it. What
    /// is live is read from the kernel, not from the records, so a
    /// generation whose applier died after `nft` committed is rolled back
    /// too; one that never reached the kernel is marked failed. If the
    /// rollback itself fails, it is tried again (every few seconds, with
    /// the store's lock released in between) until the kernel holds the
    /// previous generation. Returns the rollback generation, if it made one.
    pub fn watch(&self, n: u64) -> Result<Option<Generation>, EnforceError> {
        let mut retry = Duration::from_millis(500);
        loop {
            let g = self.store.get(n)?;
            let Some(deadline) = g.confirm_deadline.filter(|_| g.status == Status::Pending) else {
                return Ok(None);
            };
            let left = Timestamp::now().duration_until(deadline);
            if left.is_positive() {
                // Wake up at least every half second to notice a confirm.
                let nap = left.min(SignedDuration::from_millis(500));
                std::thread::sleep(Duration::try_from(nap).unwrap_or(Duration::from_millis(500)));
                continue;
            }
            let attempt = || -> Result<Option<Generation>, EnforceError> {
                let _lock = self.store.lock()?;
                let live = self.reconcile_locked()?;
                let mut g = self.store.get(n)?;
                if g.status != Status::Pending || live != n {
                    // Confirmed, or never live (marked failed above).
                    return Ok(None);
                }
                let restored = self.rollback_locked(Some(g.previous), WATCHDOG)?;
                g = self.store.get(n)?;
                g.status = Status::Reverted;
                g.confirm_deadline = None;
                self.store.update(&g)?;
                Ok(Some(restored))
            };
            match attempt() {
                Ok(done) => return Ok(done),
                Err(e) => {
                    tracing::error!(generation = n, error = %e, "rollback failed; trying again");
                    std::thread::sleep(retry);
                    retry = (retry * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Opens `grant` in the kernel; the kernel closes it after its TTL.
    pub fn grant(&self, grant: &Grant) -> Result<(), EnforceError> {
        let _lock = self.store.lock()?;
        let existing = self
            .set_elements(grant.set())?
            .ok_or(EnforceError::NotApplied)?;
        let secs = grant.ttl.as_secs().max(1);
        let mut tx = String::new();
        for key in grant.keys() {
            // An element overlapping another (a host inside a granted
            // network, or the reverse) is refused by nft as "File exists":
            // say which grant is in the way instead.
            let wanted = grants::parse_key(&key).expect("grant keys parse back");
            if let Some(e) = existing.iter().find(|e| {
                e.key != key
                    && grants::parse_key(&e.key).is_some_and(|k| grants::overlaps(k, wanted))
            }) {
                return Err(EnforceError::GrantOverlaps {
                    wanted: key,
                    existing: e.key.clone(),
                    seconds_left: e.expires_s.unwrap_or(0),
                });
            }
            // Re-granting replaces the element, so the new TTL counts.
            if existing.iter().any(|e| e.key == key) {
                tx.push_str(&format!(
                    "delete element inet {TABLE} {} {{ {key} }}\n",
                    grant.set()
                ));
            }
            tx.push_str(&format!(
                "add element inet {TABLE} {} {{ {key} timeout {secs}s }}\n",
                grant.set()
            ));
        }
        self.nft.apply(&tx)?;
        Ok(())
    }

    /// Closes a grant before its time.
    pub fn revoke(&self, from: ipnet::IpNet, proto: Proto, port: u16) -> Result<(), EnforceError> {
        let _lock = self.store.lock()?;
        let set = if from.addr().is_ipv4() {
            "grants_v4"
        } else {
            "grants_v6"
        };
        let key = grants::key(from.trunc(), proto, port);
        let existing = self.set_elements(set)?.ok_or(EnforceError::NotApplied)?;
        if !existing.iter().any(|e| e.key == key) {
            return Err(EnforceError::NoSuchGrant(key));
        }
        self.nft
            .apply(&format!("delete element inet {TABLE} {set} {{ {key} }}\n"))?;
        Ok(())
    }

    /// The grants the kernel holds now.
    pub fn grants(&self) -> Result<Vec<LiveGrant>, EnforceError> {
        let mut out = Vec::new();
        for set in ["grants_v4", "grants_v6"] {
            for e in self.set_elements(set)?.ok_or(EnforceError::NotApplied)? {
                out.push(LiveGrant {
                    key: e.key,
                    expires_s: e.expires_s.unwrap_or(0),
                    timeout_s: e.timeout_s.unwrap_or(0),
                });
            }
        }
        Ok(out)
    }

    /// Blocks `source` for `ttl`; the kernel ends the block by itself.
    pub fn block(&self, source: ipnet::IpNet, ttl: SignedDuration) -> Result<(), EnforceError> {
        let _lock = self.store.lock()?;
        let existing = self.blocks_in(
            blocks::set_for(source, BlockKind::Manual),
            BlockKind::Manual,
        )?;
        let ttl_s = u64::try_from(ttl.as_secs()).unwrap_or(0);
        self.nft
            .apply(&blocks::block_transaction(source, ttl_s, &existing)?)?;
        Ok(())
    }

    /// Ends the blocks of `source` before their time, manual and automatic.
    pub fn unblock(&self, source: ipnet::IpNet) -> Result<(), EnforceError> {
        let _lock = self.store.lock()?;
        let mut existing = Vec::new();
        for kind in [BlockKind::Manual, BlockKind::Automatic] {
            existing.extend(self.blocks_in(blocks::set_for(source, kind), kind)?);
        }
        self.nft
            .apply(&blocks::unblock_transaction(source, &existing)?)?;
        Ok(())
    }

    /// The blocks the kernel holds now, manual then automatic.
    pub fn blocks(&self) -> Result<Vec<LiveBlock>, EnforceError> {
        let mut out = Vec::new();
        for kind in [BlockKind::Manual, BlockKind::Automatic] {
            for set in blocks::sets_of(kind) {
                out.extend(self.blocks_in(set, kind)?);
            }
        }
        Ok(out)
    }

    /// The blocks in `set`. The blocklists exist wherever the ruleset is
    /// applied; the scan-blocked sets only under `[detection] scan =
    /// "block"`, and hold nothing otherwise.
    fn blocks_in(&self, set: &str, kind: BlockKind) -> Result<Vec<LiveBlock>, EnforceError> {
        let elements = match (self.set_elements(set)?, kind) {
            (Some(elements), _) => elements,
            (None, BlockKind::Automatic) => Vec::new(),
            (None, BlockKind::Manual) => return Err(EnforceError::NotApplied),
        };
        Ok(blocks::live(&elements, kind))
    }

    /// The last new connection per port and how many were accepted, as the
    /// kernel's `seen` set records.
    pub fn usage(&self) -> Result<Vec<SeenPort>, EnforceError> {
        let now = Timestamp::now();
        let seen = self
            .set_elements(SEEN_SET)?
            .ok_or(EnforceError::NotApplied)?;
        let mut out: Vec<SeenPort> = seen
            .iter()
            .filter_map(|e| {
                let (proto, port) = e.key.split_once(" . ")?;
                let idle = e.timeout_s?.checked_sub(e.expires_s?)?;
                Some(SeenPort {
                    key: PortKey::new(proto.parse().ok()?, port.parse().ok()?),
                    last_access: now
                        .checked_sub(SignedDuration::from_secs(i64::try_from(idle).ok()?))
                        .ok()?,
                    connections: e.counter.map_or(0, |(packets, _)| packets),
                })
            })
            .collect();
        out.sort_by_key(|u| u.key);
        Ok(out)
    }

    fn set_elements(&self, set: &str) -> Result<Option<Vec<TimedElement>>, EnforceError> {
        Ok(self
            .nft
            .list_set(TABLE, set)?
            .map(|listing| nft_text::timed_elements(&listing)))
    }

    /// The run-time sets' current contents (empty when the table is absent).
    fn dynamic_state(&self) -> Result<DynamicState, EnforceError> {
        let mut state = DynamicState::default();
        for set in DYNAMIC_SETS {
            if let Some(elements) = self.set_elements(set)? {
                state.sets.push((set.to_string(), elements));
            }
        }
        Ok(state)
    }
}

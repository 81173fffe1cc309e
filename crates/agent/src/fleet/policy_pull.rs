//! Following the fleet policy assigned to this host: pull it every push
//! interval, check that the server signed it (with the key pinned at
//! enrollment) and that its text is what was signed, and apply it
//! commit-confirmed — the new generation is confirmed only once the server
//! was reached again under it, on a connection opened after it was
//! installed; otherwise its watchdog rolls it back. What became of it is
//! kept in `<state>/fleet/policy/applied.json` and reported in every push
//! (docs/agent.md, "Fleet policy").
//!
//! A refused apply, or one that was rolled back, is not tried again until
//! the assignment changes or [`RETRY_AFTER`] passed: the same policy
//! would meet the same fate, and every attempt is a firewall change.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use jiff::{SignedDuration, Timestamp};
use portreeve_app::change::{ApprovalNeed, FleetApproval};
use portreeve_app::{Actor, StateDir, enforce, policy, write_atomically};
use portreeve_enforce::generations::Status;
use portreeve_fleet_protocol::{AppliedPolicy, SignedPolicy};

use super::client::Client;
use super::identity::HostKey;

/// How long a refused or rolled-back policy waits before it is tried
/// again while it stays assigned.
pub const RETRY_AFTER: Duration = Duration::from_secs(600);

/// The states an [`AppliedPolicy`] reports.
pub mod states {
    /// Installed; awaiting the contact with the server that confirms it.
    pub const APPLIED: &str = "applied";
    /// Installed and confirmed.
    pub const CONFIRMED: &str = "confirmed";
    /// Installed, not confirmed in time, and rolled back by its watchdog.
    pub const ROLLED_BACK: &str = "rolled-back";
    /// Not installed: it did not verify, the gate refused it, or the
    /// firewall did.
    pub const REFUSED: &str = "refused";
}

/// Checks `policy` against the server key pinned at enrollment (`pinned`,
/// base64): its text must have the digest it was signed with, and the
/// signature must be the server's. Says why not.
pub fn verify(policy: &SignedPolicy, pinned: Option<&str>) -> Result<(), String> {
    let pinned = pinned.ok_or_else(|| {
        "no server key is pinned for this host (it enrolled with a server that sent none); \
         fleet policies are refused until it enrolls again"
            .to_string()
    })?;
    let key = STANDARD
        .decode(pinned)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| format!("the pinned server key `{pinned}` is not an Ed25519 public key"))?;
    let digest = portreeve_ledger::digest(policy.text.as_bytes());
    if digest != policy.sha256 {
        return Err(format!(
            "the policy's text has digest {digest}, not the {} it was signed with",
            policy.sha256
        ));
    }
    let signature = STANDARD
        .decode(&policy.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| "the policy's signature is not an Ed25519 signature".to_string())?;
    key.verify(&policy.signed_bytes(), &signature)
        .map_err(|_| "the policy is not signed by the server key pinned at enrollment".to_string())
}

/// What to do about the policy assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing: it is in effect, or awaits its confirmation, or failed
    /// lately.
    Wait,
    /// Verify and apply it.
    Apply,
}

/// Whether to apply `assigned`, given the report of the last one handled
/// and the digest of the policy in effect.
fn step(
    report: Option<&AppliedPolicy>,
    assigned: &SignedPolicy,
    in_effect: Option<&str>,
    now: Timestamp,
) -> Step {
    if in_effect == Some(assigned.sha256.as_str()) {
        return Step::Wait;
    }
    let Some(last) = report.filter(|r| r.sha256 == assigned.sha256) else {
        return Step::Apply;
    };
    let failed = last.state == states::REFUSED || last.state == states::ROLLED_BACK;
    let retry_at = last.at + SignedDuration::try_from(RETRY_AFTER).expect("a short duration");
    if failed && now >= retry_at {
        Step::Apply
    } else {
        Step::Wait
    }
}

/// The pulling, applying and confirming, run from the push thread.
pub struct PolicyFollower {
    dir: PathBuf,
    server_key: Option<String>,
    confirm_within: Duration,
    pull_every: Duration,
    next_pull: Instant,
    report: Option<AppliedPolicy>,
    /// Whether the report changed since the push thread last took it.
    news: bool,
}

impl PolicyFollower {
    /// A follower keeping its files in `dir` (`<state>/fleet/policy`),
    /// checking with `server_key`; takes over the watch of a generation
    /// it applied before a restart that still awaits confirmation.
    pub fn new(
        state: &StateDir,
        dir: PathBuf,
        server_key: Option<String>,
        confirm_within: Duration,
        pull_every: Duration,
    ) -> PolicyFollower {
        let report = read_report(&dir);
        let follower = PolicyFollower {
            dir,
            server_key,
            confirm_within,
            pull_every,
            next_pull: Instant::now(),
            news: report.is_some(),
            report,
        };
        if let Some(n) = follower.awaited()
            && let Err(e) = spawn_watchdog(state.root(), n)
        {
            tracing::error!(generation = n, error = %e, "cannot watch the fleet policy's generation");
        }
        follower
    }

    /// What became of the last policy handled, for the next push.
    pub fn report(&self) -> Option<&AppliedPolicy> {
        self.report.as_ref()
    }

    /// Whether the report changed since this was last asked: worth a push.
    pub fn take_news(&mut self) -> bool {
        std::mem::take(&mut self.news)
    }

    /// The generation applied and not yet confirmed or rolled back.
    fn awaited(&self) -> Option<u64> {
        self.report
            .as_ref()
            .filter(|r| r.state == states::APPLIED)
            .and_then(|r| r.generation)
    }

    /// Called every tick of the push thread: notices a rollback, and when
    /// a pull is due, pulls; a pull that reached the server confirms the
    /// generation awaiting it, then the policy assigned is followed.
    pub fn tick(&mut self, state: &StateDir, client: &Client, host_id: &str, key: &HostKey) {
        self.notice_outcome(state);
        if Instant::now() < self.next_pull {
            return;
        }
        let pulled = client.pull_policy(host_id, key);
        self.next_pull = Instant::now() + self.wait();
        match pulled {
            Ok(assignment) => {
                self.confirm(state);
                if let Some(assigned) = assignment.policy {
                    self.follow(state, &assigned);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot pull the fleet policy"),
        }
    }

    /// The time to the next pull: the push interval, shorter while a
    /// generation awaits confirmation so that a few tries fit in its
    /// window.
    fn wait(&self) -> Duration {
        match self.awaited() {
            Some(_) => self.pull_every.min(self.confirm_within / 3),
            None => self.pull_every,
        }
    }

    /// Reports the outcome of the awaited generation once it has one (its
    /// watchdog rolled it back, or someone confirmed it).
    fn notice_outcome(&mut self, state: &StateDir) {
        let Some(n) = self.awaited() else {
            return;
        };
        let Ok(g) = state.firewall().generations().get(n) else {
            return;
        };
        let (to, message) = match g.status {
            Status::Pending | Status::Applied => return,
            Status::Confirmed => (states::CONFIRMED, None),
            Status::Reverted => (
                states::ROLLED_BACK,
                Some(format!(
                    "generation {n} was not confirmed within {}: the server could not be reached under it, so the ruleset of generation {} is back",
                    crate::config::show_interval(self.confirm_within),
                    g.previous
                )),
            ),
            Status::Failed => (
                states::REFUSED,
                Some(format!("generation {n} failed to install")),
            ),
        };
        if to == states::ROLLED_BACK {
            tracing::warn!(
                generation = n,
                "the fleet policy was rolled back: {}",
                message.as_deref().unwrap_or_default()
            );
        }
        self.set(to, message);
    }

    /// Confirms the awaited generation: the server was just reached on a
    /// connection opened under it.
    fn confirm(&mut self, state: &StateDir) {
        let Some(n) = self.awaited() else {
            return;
        };
        let live = state.firewall().generations().current().ok();
        if live != Some(n) {
            // Rolled back or replaced meanwhile; `notice_outcome` says which.
            return;
        }
        match enforce::confirm(state, &Actor::agent()) {
            Ok(_) => {
                tracing::info!(
                    generation = n,
                    "the server answers under the fleet policy: confirmed"
                );
                self.set(states::CONFIRMED, None);
            }
            Err(e) => tracing::warn!(generation = n, error = %e, "cannot confirm the fleet policy"),
        }
    }

    /// Applies `assigned` if it is not in effect and not held back.
    fn follow(&mut self, state: &StateDir, assigned: &SignedPolicy) {
        let in_effect = match policy::in_effect(state) {
            Ok(p) => p.map(|p| p.digest),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the policy in effect; the fleet policy waits");
                return;
            }
        };
        if step(
            self.report.as_ref(),
            assigned,
            in_effect.as_deref(),
            Timestamp::now(),
        ) == Step::Wait
        {
            return;
        }
        let report = match self.apply(state, assigned) {
            Ok(generation) => {
                tracing::info!(
                    policy = %assigned.name,
                    version = assigned.version,
                    generation,
                    "applied the fleet policy; confirming it once the server answers under it"
                );
                report_of(assigned, states::APPLIED, Some(generation), None)
            }
            Err(why) => {
                tracing::warn!(policy = %assigned.name, version = assigned.version, "the fleet policy is refused: {why}");
                report_of(assigned, states::REFUSED, None, Some(why))
            }
        };
        write_report(&self.dir, &report);
        self.report = Some(report);
        self.news = true;
        self.next_pull = Instant::now() + self.wait();
    }

    /// Verifies `assigned`, keeps its text and applies it with a
    /// confirmation deadline: the new generation, or why not.
    fn apply(&self, state: &StateDir, assigned: &SignedPolicy) -> Result<u64, String> {
        verify(assigned, self.server_key.as_deref())?;
        let hex = assigned.sha256.trim_start_matches("sha256:");
        let file = self.dir.join(format!("{hex}.toml"));
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        write_atomically(&file, assigned.text.as_bytes(), 0o644).map_err(|e| e.to_string())?;
        let root = state.root().to_path_buf();
        let applied = enforce::apply(
            state,
            &enforce::ApplyRequest {
                policy: Some(&file),
                approval: ApprovalNeed::Fleet(FleetApproval {
                    name: assigned.name.clone(),
                    version: assigned.version,
                    sha256: assigned.sha256.clone(),
                    proposer: assigned.proposer.clone(),
                    approvers: assigned.approvers.clone(),
                    server_key: self.server_key.clone().unwrap_or_default(),
                    signature: assigned.signature.clone(),
                }),
                confirm_within: Some(
                    SignedDuration::try_from(self.confirm_within).expect("a short duration"),
                ),
                force: false,
                reason: Some(format!(
                    "fleet policy {} version {}",
                    assigned.name, assigned.version
                )),
                session: None,
                actor: &Actor::agent(),
                watchdog: &|n| spawn_watchdog(&root, n),
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(applied.generation.generation)
    }

    /// Records the state the policy last handled reached, and keeps it.
    fn set(&mut self, to: &str, message: Option<String>) {
        if let Some(r) = &mut self.report {
            r.state = to.to_string();
            r.message = message;
            r.at = Timestamp::now();
            write_report(&self.dir, r);
            self.news = true;
        }
    }
}

/// A report on `policy` in state `state`, now.
fn report_of(
    policy: &SignedPolicy,
    state: &str,
    generation: Option<u64>,
    message: Option<String>,
) -> AppliedPolicy {
    AppliedPolicy {
        name: policy.name.clone(),
        version: policy.version,
        sha256: policy.sha256.clone(),
        generation,
        state: state.to_string(),
        message,
        at: Timestamp::now(),
    }
}

/// The watchdog of generation `n`, on a thread of the agent: the agent
/// runs on, so unlike `portreeve apply` it needs no process of its own.
/// Should the agent stop first, its next start takes the watch over (see
/// [`PolicyFollower::new`]); past the deadline it rolls back at once.
fn spawn_watchdog(root: &Path, n: u64) -> std::io::Result<()> {
    let root = root.to_path_buf();
    std::thread::Builder::new()
        .name(format!("watchdog-{n}"))
        .spawn(move || match enforce::watchdog(&StateDir::open(root), n) {
            Ok(Some(g)) => tracing::warn!(
                generation = n,
                new_generation = g.generation,
                "the fleet policy was not confirmed in time: rolled back"
            ),
            Ok(None) => tracing::debug!(
                generation = n,
                "confirmed or replaced: the watchdog stands down"
            ),
            Err(e) => tracing::error!(generation = n, error = %e, "the watchdog failed"),
        })
        .map(drop)
}

/// The report kept in `dir`, if any.
fn read_report(dir: &Path) -> Option<AppliedPolicy> {
    let path = dir.join("applied.json");
    let bytes = std::fs::read(&path).ok()?;
    serde_json::from_slice(&bytes)
        .map_err(|e| tracing::warn!(path = %path.display(), error = %e, "an unreadable fleet policy report; starting afresh"))
        .ok()
}

/// Keeps `report` in `dir`; a failure is logged (the report still goes
/// out in pushes).
fn write_report(dir: &Path, report: &AppliedPolicy) {
    let path = dir.join("applied.json");
    let bytes = serde_json::to_vec_pretty(report).expect("a report serializes");
    if let Err(e) = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| write_atomically(&path, &bytes, 0o644).map_err(|e| e.to_string()))
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep the fleet policy report");
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    const TEXT: &str = "[zones]\nlab = [\"10.0.0.0/24\"]\n";

    /// Version `version` of policy `web` with `text`, signed by `key`.
    fn signed(key: &SigningKey, version: u64, text: &str) -> SignedPolicy {
        let mut policy = SignedPolicy {
            name: "web".into(),
            version,
            sha256: portreeve_ledger::digest(text.as_bytes()),
            text: text.into(),
            proposer: "alice".into(),
            approvers: vec!["bob".into()],
            approved_at: Timestamp::now(),
            signature: String::new(),
        };
        policy.signature = STANDARD.encode(key.sign(&policy.signed_bytes()).to_bytes());
        policy
    }

    fn public(key: &SigningKey) -> String {
        STANDARD.encode(key.verifying_key().as_bytes())
    }

    #[test]
    fn only_a_policy_signed_by_the_pinned_key_with_its_own_text_verifies() {
        let server = SigningKey::from_bytes(&[7; 32]);
        let pinned = public(&server);
        let good = signed(&server, 1, TEXT);
        assert_eq!(verify(&good, Some(&pinned)), Ok(()));

        let e = verify(&good, None).unwrap_err();
        assert!(e.contains("no server key is pinned"), "{e}");

        let other = public(&SigningKey::from_bytes(&[8; 32]));
        let e = verify(&good, Some(&other)).unwrap_err();
        assert!(e.contains("not signed by the server key pinned"), "{e}");

        let mut swapped = good.clone();
        swapped.text.push_str("# more\n");
        let e = verify(&swapped, Some(&pinned)).unwrap_err();
        assert!(e.contains("not the sha256:"), "{e}");

        // A text and digest changed together: the signature covers the digest.
        let mut both = swapped.clone();
        both.sha256 = portreeve_ledger::digest(both.text.as_bytes());
        let e = verify(&both, Some(&pinned)).unwrap_err();
        assert!(e.contains("not signed by the server key pinned"), "{e}");

        let mut approvers = good.clone();
        approvers.approvers.push("mallory".into());
        assert!(verify(&approvers, Some(&pinned)).is_err());
    }

    #[test]
    fn a_policy_is_applied_once_and_a_failed_one_only_after_the_back_off() {
        let server = SigningKey::from_bytes(&[7; 32]);
        let v1 = signed(&server, 1, TEXT);
        let now = Timestamp::now();
        // Nothing handled yet, another policy in effect: apply.
        assert_eq!(step(None, &v1, Some("sha256:00"), now), Step::Apply);
        assert_eq!(step(None, &v1, None, now), Step::Apply);
        // In effect already: nothing to do.
        assert_eq!(step(None, &v1, Some(v1.sha256.as_str()), now), Step::Wait);
        // Refused or rolled back just now: not again until the back-off.
        let back_off = SignedDuration::try_from(RETRY_AFTER).unwrap();
        for failed in [states::REFUSED, states::ROLLED_BACK] {
            let report = report_of(&v1, failed, Some(3), None);
            assert_eq!(step(Some(&report), &v1, None, now), Step::Wait, "{failed}");
            let later = report.at + back_off;
            assert_eq!(
                step(Some(&report), &v1, None, later),
                Step::Apply,
                "{failed}"
            );
            // Another version assigned: at once.
            let v2 = signed(&server, 2, "[zones]\n");
            assert_eq!(step(Some(&report), &v2, None, now), Step::Apply, "{failed}");
        }
        // Applied and awaiting its outcome: wait for it.
        let report = report_of(&v1, states::APPLIED, Some(3), None);
        assert_eq!(step(Some(&report), &v1, None, now), Step::Wait);
    }

    #[test]
    fn the_report_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let server = SigningKey::from_bytes(&[7; 32]);
        let report = report_of(
            &signed(&server, 1, TEXT),
            states::REFUSED,
            None,
            Some("no".into()),
        );
        assert_eq!(read_report(dir.path()), None);
        write_report(dir.path(), &report);
        assert_eq!(read_report(dir.path()), Some(report));
    }
}

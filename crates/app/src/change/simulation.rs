//! What a proposed policy would do to the use this host recorded, kept with
//! the proposal so that approvers see what the change would break before
//! they approve it.
//!
//! `propose` replays the recorded use against the proposed policy (the
//! model of [`crate::simulate`], never the sandbox) and stores a summary:
//! the pairs it would block and newly open, at most [`LISTED`] of each with
//! how many more there were, and the findings it would clear or raise. The
//! summary is advice written beside the proposal, not part of what the
//! proposer signs or approvers sign (their signatures are over the policy
//! text's digest), so it says what the use looked like when the change was
//! proposed; `simulate --policy` answers for today.

use std::path::Path;

use jiff::Timestamp;
use portreeve_core::Finding;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::policy::LoadedPolicy;
use crate::simulate::{self, Evaluation, PairChange, Request, Simulation};
use crate::state_dir::StateDir;

/// How many blocked (and how many opened) pairs a proposal keeps; a policy
/// that breaks thousands of pairs says how many more there were.
pub const LISTED: usize = 100;

/// The use a proposal is judged against: use last seen at or after
/// `since`, from the agent's record or from a file of JSON lines.
#[derive(Debug, Clone, Copy)]
pub struct RecordedUse<'a> {
    /// Only use last seen at or after this time.
    pub since: Timestamp,
    /// JSON lines of recorded use (`-`: standard input); `None`: what the
    /// agent recorded in the state directory.
    pub usage: Option<&'a Path>,
}

/// The simulation of a proposed policy, as stored with the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalSimulation {
    /// The start of the window of use replayed.
    pub since: Timestamp,
    /// How many recorded pairs were replayed.
    pub pairs: usize,
    /// Used pairs accepted now that the proposed policy would not accept,
    /// in `simulate`'s order (port, protocol, source), the first [`LISTED`].
    pub blocked: Vec<PairChange>,
    /// How many more blocked pairs there were than are listed.
    pub blocked_truncated: usize,
    /// Used pairs the proposed policy accepts that are not accepted now,
    /// the first [`LISTED`].
    pub opened: Vec<PairChange>,
    /// How many more opened pairs there were than are listed.
    pub opened_truncated: usize,
    /// Findings on this host's listeners reported now and not under the
    /// proposed policy.
    pub findings_cleared: Vec<FindingNote>,
    /// Findings reported under the proposed policy and not now.
    pub findings_raised: Vec<FindingNote>,
}

impl ProposalSimulation {
    /// How many used pairs the proposed policy would block, listed or not.
    pub fn blocked_total(&self) -> usize {
        self.blocked.len() + self.blocked_truncated
    }

    /// How many used pairs it would newly open, listed or not.
    pub fn opened_total(&self) -> usize {
        self.opened.len() + self.opened_truncated
    }
}

/// A finding the proposed policy clears or raises: enough to find it in
/// `check`'s report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingNote {
    /// The finding's id (`PR001`, …).
    pub id: String,
    /// Its stable fingerprint, as `check` reports it.
    pub fingerprint: String,
    /// What it says.
    pub message: String,
}

impl From<&Finding> for FindingNote {
    fn from(f: &Finding) -> FindingNote {
        FindingNote {
            id: f.kind.code().to_string(),
            fingerprint: f.fingerprint.clone(),
            message: f.message.clone(),
        }
    }
}

/// Replays `recorded` against `candidate` as `simulate` does (the indexed
/// model) and summarises the result for the proposal.
pub fn run(
    state: &StateDir,
    candidate: LoadedPolicy,
    recorded: RecordedUse<'_>,
) -> Result<ProposalSimulation, AppError> {
    let request = Request {
        policy: candidate,
        since: recorded.since,
        usage: recorded.usage,
        evaluation: Evaluation::Indexed,
    };
    Ok(summarise(
        &simulate::simulate(state, request)?,
        recorded.since,
    ))
}

/// The summary of `s` kept with a proposal: at most [`LISTED`] pairs of
/// each kind.
fn summarise(s: &Simulation, since: Timestamp) -> ProposalSimulation {
    let listed = |pairs: &[PairChange]| -> (Vec<PairChange>, usize) {
        (
            pairs.iter().take(LISTED).cloned().collect(),
            pairs.len().saturating_sub(LISTED),
        )
    };
    let (blocked, blocked_truncated) = listed(&s.replay.blocked);
    let (opened, opened_truncated) = listed(&s.replay.opened);
    let notes = |findings: &[Finding]| findings.iter().map(FindingNote::from).collect();
    ProposalSimulation {
        since,
        pairs: s.replay.pairs,
        blocked,
        blocked_truncated,
        opened,
        opened_truncated,
        findings_cleared: notes(&s.findings.cleared),
        findings_raised: notes(&s.findings.raised),
    }
}

//! The firewall's use cases: compile a policy, preview and apply it (behind
//! the change-control gate), confirm, roll back, the confirmation
//! watchdog, and installing the policy in effect again after a reclaim
//! changed which ports are closed.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::PortKey;
use portreeve_enforce::foreign::ForeignChain;
use portreeve_enforce::generations::{Generation, Status};
use portreeve_enforce::guard::SshAccess;
use portreeve_enforce::{ApplyOptions, ApplyPreview, Ruleset, WATCHDOG};
use portreeve_ledger::Draft;

use crate::actor::Actor;
use crate::change::{self, ApprovalNeed};
use crate::error::AppError;
use crate::lockout;
use crate::plan_summary;
use crate::policy::{self, LoadedPolicy, texts};
use crate::record::{preflight, record, record_or_undo};
use crate::state_dir::StateDir;

/// A policy and the ruleset `apply` would install for it.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The policy.
    pub policy: LoadedPolicy,
    /// Its ruleset, without the ports that reclaims in force closed.
    pub ruleset: Ruleset,
}

/// Ports closed by reclaims in force: every ruleset installed leaves them
/// out until the reclaim is undone.
pub fn closed_ports(state: &StateDir) -> Result<Vec<PortKey>, AppError> {
    if !state.has_store() {
        return Ok(Vec::new());
    }
    Ok(state
        .with_store(|s| portreeve_store::Store::reclaims(s))?
        .into_iter()
        .filter(|r| r.undone_at.is_none())
        .map(|r| r.key)
        .collect())
}

/// `policy`'s ruleset with the ports in `closed` taken out.
pub fn compile_without(policy: LoadedPolicy, closed: &[PortKey]) -> Result<Compiled, AppError> {
    let mut ruleset = Ruleset::compile(&policy.policy)
        .map_err(|e| AppError::Invalid(format!("{}: {e}", policy.policy.origin)))?;
    ruleset.close_ports(closed);
    Ok(Compiled { policy, ruleset })
}

/// `policy`'s ruleset as `apply` would install it now (with the actions
/// of the breakers tripped now).
pub fn compile(state: &StateDir, policy: LoadedPolicy) -> Result<Compiled, AppError> {
    crate::breakers::compile_in_force(state, policy, &closed_ports(state)?)
}

/// The ruleset of the policy `apply` would install (`explicit`, else the
/// default candidate).
pub fn render(state: &StateDir, explicit: Option<&Path>) -> Result<Compiled, AppError> {
    compile(state, policy::for_installing(state, explicit)?)
}

/// What applying the candidate would change; changes nothing.
pub fn preview(
    state: &StateDir,
    explicit: Option<&Path>,
    session: Option<(IpAddr, u16)>,
) -> Result<(Compiled, ApplyPreview), AppError> {
    let compiled = render(state, explicit)?;
    let preview = state
        .firewall()
        .preview(&compiled.ruleset, &ssh_access(state, session)?)?;
    Ok((compiled, preview))
}

/// `plan`'s summary in words of installing `compiled` (see
/// [`plan_summary`]): against the policy in effect, with the grants open
/// and the blocks held now when `preview` found portreeve's table in the
/// kernel.
pub fn summary(
    state: &StateDir,
    compiled: &Compiled,
    preview: &ApplyPreview,
) -> Result<Vec<plan_summary::SummaryLine>, AppError> {
    let in_effect = policy::in_effect(state)?;
    let (grants, blocks) = if preview.table_present {
        // What the kernel holds now; who made each block does not matter here.
        (crate::grants::list(state)?, state.firewall().blocks()?)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(plan_summary::summarize(
        in_effect.as_ref().map(|p| &p.policy),
        &compiled.policy.policy,
        &closed_ports(state)?,
        plan_summary::Carried {
            grants: &grants,
            blocks: &blocks,
            now: Timestamp::now(),
        },
    ))
}

/// Whether applying would change the firewall: the ruleset differs from
/// the live generation's, portreeve's table was changed outside portreeve
/// (or could not be compared), or the table recorded as live is missing
/// from the kernel. `plan --exit-code` reports this in its exit status.
pub fn changes_pending(preview: &ApplyPreview) -> bool {
    !preview.diff.is_empty()
        || !preview.drift.is_empty()
        || (preview.live.is_some() && !preview.table_present)
}

/// What the lock-out guard protects: the SSH access the firewall finds in
/// its namespace, and the session `$SSH_CONNECTION` names (`session`).
fn ssh_access(state: &StateDir, session: Option<(IpAddr, u16)>) -> Result<SshAccess, AppError> {
    Ok(lockout::with_environment_session(
        state.firewall().ssh_access()?,
        session,
    ))
}

/// What `apply` is asked to do.
pub struct ApplyRequest<'a> {
    /// The candidate file (`--policy`, `$PORTREEVE_POLICY`); `None`: the
    /// default candidate (or the proposal's text).
    pub policy: Option<&'a Path>,
    /// What approval the policy needs.
    pub approval: ApprovalNeed,
    /// Roll back unless confirmed within this long.
    pub confirm_within: Option<SignedDuration>,
    /// Apply even if the lock-out guard objects.
    pub force: bool,
    /// Why; recorded.
    pub reason: Option<String>,
    /// The SSH session the request comes from (`$SSH_CONNECTION`), for
    /// the lock-out guard; the sessions the kernel holds are found anyway.
    pub session: Option<(IpAddr, u16)>,
    /// Who applies.
    pub actor: &'a Actor,
    /// Starts the watchdog of a generation that must be confirmed.
    pub watchdog: &'a dyn Fn(u64) -> std::io::Result<()>,
}

/// An applied policy.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The new generation.
    pub generation: Generation,
    /// What was installed.
    pub compiled: Compiled,
    /// The approved proposal it rests on.
    pub approval: Option<u64>,
    /// Other tables that also decide traffic.
    pub foreign: Vec<ForeignChain>,
    /// The index of the ledger entry that records the apply.
    pub ledger_index: u64,
}

/// A generation made by `confirm` or `rollback`, with the ledger entry
/// that records it, so that a script can point at both.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The generation confirmed, or the one the rollback made.
    pub generation: Generation,
    /// The index of the ledger entry that records the change.
    pub ledger_index: u64,
}

/// `sha256:<hex>` of generation `n`'s ruleset, as ledger entries name it.
fn ruleset_digest(state: &StateDir, n: u64) -> Option<String> {
    match n {
        0 => None,
        n => state
            .firewall()
            .generations()
            .get(n)
            .ok()
            .map(|g| format!("sha256:{}", g.sha256)),
    }
}

/// The ledger entry of a change that made generation `g`: the ruleset
/// digests of generation `before` (0: none) and of `g`, and the policy `g`
/// enforces.
pub(crate) fn change_draft(
    state: &StateDir,
    action: &str,
    actor: &str,
    object: String,
    before: u64,
    g: &Generation,
) -> Draft {
    let mut draft = Draft::new(action, actor, object);
    draft.before = ruleset_digest(state, before);
    draft.after = Some(format!("sha256:{}", g.sha256));
    draft.policy = g.policy_digest.clone();
    draft
}

/// How one installation goes: everything [`install`] needs beyond the
/// policy.
struct Installation<'a> {
    closed: &'a [PortKey],
    approval: Option<u64>,
    confirm_within: Option<SignedDuration>,
    force: bool,
    session: Option<(IpAddr, u16)>,
    actor: &'a Actor,
    watchdog: &'a dyn Fn(u64) -> std::io::Result<()>,
}

/// Installs `policy` without the `closed` ports as a new generation that
/// names the policy's digest (its text kept under it first), so the policy
/// in effect follows the ruleset.
fn install(
    state: &StateDir,
    policy: LoadedPolicy,
    how: &Installation<'_>,
) -> Result<(Compiled, Generation), AppError> {
    let compiled = crate::breakers::compile_in_force(state, policy, how.closed)?;
    texts::store(state, &compiled.policy.text)?;
    let opts = ApplyOptions {
        actor: how.actor.to_string(),
        policy_digest: Some(compiled.policy.digest.clone()),
        approval: how.approval.map(|id| format!("proposal {id}")),
        force: how.force,
        confirm_within: how.confirm_within,
        ssh: ssh_access(state, how.session)?,
    };
    let generation = state
        .firewall()
        .apply(&compiled.ruleset, &opts, how.watchdog)?;
    Ok((compiled, generation))
}

/// Applies a policy: the candidate (or approved proposal) passes the
/// change-control gate, is compiled without the ports reclaims closed,
/// installed as a new generation and recorded.
pub fn apply(state: &StateDir, req: &ApplyRequest<'_>) -> Result<Applied, AppError> {
    let candidate = match req.approval {
        ApprovalNeed::Proposal(_) => None,
        _ => Some(policy::for_installing(state, req.policy)?),
    };
    let (policy, approval) =
        change::gate(state, candidate, req.approval.clone(), Timestamp::now())?;
    preflight(state)?;
    // Grants that ran out are recorded before the change that follows them.
    crate::grants::record_expiries(state, Timestamp::now())?;
    let closed = closed_ports(state)?;
    let accepted = policy.policy.accepted_risks_note();
    let (compiled, generation) = install(
        state,
        policy,
        &Installation {
            closed: &closed,
            approval,
            confirm_within: req.confirm_within,
            force: req.force,
            session: req.session,
            actor: req.actor,
            watchdog: req.watchdog,
        },
    )?;
    let mut draft = change_draft(
        state,
        "apply",
        req.actor.as_str(),
        format!(
            "generation {} from {}{accepted}",
            generation.generation, generation.policy
        ),
        generation.previous,
        &generation,
    );
    draft.approval = approval.map(|id| format!("proposal {id}"));
    draft.reason = req.reason.clone();
    let appended = record_or_undo(
        state,
        vec![draft],
        &format!("generation {} was applied", generation.generation),
        || Ok(state.firewall().undo(&generation)?),
    )?;
    // Listing other tables is information; a failure to list is not a
    // failure of the apply.
    let foreign = state.firewall().foreign().unwrap_or_default();
    Ok(Applied {
        generation,
        compiled,
        approval,
        foreign,
        ledger_index: appended[0].index,
    })
}

/// Installs the policy in effect again with `closed` as the closed ports,
/// after a reclaim or its undo: refused while a generation awaits
/// confirmation (its watchdog would otherwise stand down) and, under
/// `required = true`, when the policy in effect lacks its approval.
pub(crate) fn reinstall(
    state: &StateDir,
    in_effect: &LoadedPolicy,
    closed: &[PortKey],
    force: bool,
    actor: &Actor,
) -> Result<Generation, AppError> {
    let effect = in_effect.effect().ok_or_else(|| {
        AppError::Refused(crate::error::Refusal::NotApplied(
            "no policy is in effect here, so there is no allowed set to change; apply a policy first".into(),
        ))
    })?;
    // Records behind the kernel (an apply killed after `nft` committed)
    // name an older policy than the live one: reinstalling it would
    // revert the live policy. Bring the records up to date and refuse
    // this once; the next run starts from the live generation.
    let live = state.firewall().reconcile()?;
    if live != effect.generation {
        return Err(AppError::Refused(crate::error::Refusal::NotApplied(
            format!(
                "generation {live} is live in the kernel, but this change started from generation {}, which the records named before they were brought up to date; run it again",
                effect.generation
            ),
        )));
    }
    if effect.status == Status::Pending {
        return Err(AppError::Refused(crate::error::Refusal::NotApplied(
            format!(
                "generation {} awaits confirmation; confirm or roll it back first",
                effect.generation
            ),
        )));
    }
    change::check_in_effect(state, in_effect)?;
    let approval = effect
        .approval
        .as_deref()
        .and_then(|a| a.strip_prefix("proposal "))
        .and_then(|n| n.parse().ok());
    let (_, generation) = install(
        state,
        in_effect.clone(),
        &Installation {
            closed,
            approval,
            confirm_within: None,
            force,
            session: None,
            actor,
            watchdog: &|_| Ok(()),
        },
    )?;
    Ok(generation)
}

/// Confirms the generation awaiting confirmation.
pub fn confirm(state: &StateDir, actor: &Actor) -> Result<Recorded, AppError> {
    let g = state.firewall().confirm()?;
    let draft = change_draft(
        state,
        "confirm",
        actor.as_str(),
        format!("generation {}", g.generation),
        0,
        &g,
    );
    let appended = record(
        state,
        draft,
        &format!("generation {} was confirmed", g.generation),
    )?;
    Ok(Recorded {
        generation: g,
        ledger_index: appended.index,
    })
}

/// Restores the generation before the current one (or `to`).
pub fn rollback(
    state: &StateDir,
    to: Option<u64>,
    reason: Option<String>,
    actor: &Actor,
) -> Result<Recorded, AppError> {
    let before = state.firewall().generations().current()?;
    let g = state.firewall().rollback(to, actor.as_str())?;
    let mut draft = change_draft(
        state,
        "rollback",
        actor.as_str(),
        format!(
            "generation {} (restores {})",
            g.generation,
            g.restores.unwrap_or(0)
        ),
        before,
        &g,
    );
    draft.reason = reason;
    let appended = record(
        state,
        draft,
        &format!("generation {} was applied", g.generation),
    )?;
    Ok(Recorded {
        generation: g,
        ledger_index: appended.index,
    })
}

/// The watchdog of generation `n`: waits for its deadline and rolls it
/// back unless it was confirmed meanwhile; the rollback is recorded as the
/// watchdog's. Returns the rollback's generation, if it made one.
pub fn watchdog(state: &StateDir, n: u64) -> Result<Option<Generation>, AppError> {
    let Some(g) = state.firewall().watch(n)? else {
        return Ok(None);
    };
    let mut draft = change_draft(
        state,
        "rollback",
        WATCHDOG,
        format!(
            "generation {} (restores {})",
            g.generation,
            g.restores.unwrap_or(0)
        ),
        n,
        &g,
    );
    draft.reason = Some(format!(
        "generation {n} was not confirmed before its deadline"
    ));
    record(state, draft, &format!("generation {n} was rolled back"))?;
    Ok(Some(g))
}

/// Blocks until generation `n` is confirmed or rolled back, and returns
/// its final status.
pub fn wait_for_outcome(state: &StateDir, n: u64) -> Result<Status, AppError> {
    loop {
        let g = state.firewall().generations().get(n)?;
        if g.status != Status::Pending {
            return Ok(g.status);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every generation, oldest first, and the live one's number (0: none).
pub fn generations(state: &StateDir) -> Result<(u64, Vec<Generation>), AppError> {
    let store = state.firewall().generations();
    Ok((store.current()?, store.list()?))
}

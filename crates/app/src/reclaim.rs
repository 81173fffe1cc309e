//! Reclaim: each port's lifecycle state from what the agent and the kernel
//! recorded — weighed by each port's forecast from the agent's hourly
//! history ([`Forecasts`]) — closing the abandoned ports the policy says to
//! close, and reopening them — every change recorded in the agent's store
//! and the ledger, and always made from the policy in effect.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use portreeve_core::words::listed;
use portreeve_core::{Finding, ListeningSocket, PortKey, PortUsage};
use portreeve_enforce::SeenPort;
use portreeve_enforce::generations::Generation;
use portreeve_forecast::{Hour, Prediction};
use portreeve_lifecycle::{Action, PortInput, Recommendation, allowed_ports, plan};
use portreeve_store::{Reclaim, Store};

use crate::actor::Actor;
use crate::enforce::{change_draft, closed_ports, reinstall};
use crate::error::{AppError, Refusal};
use crate::forecast;
use crate::policy::{self, LoadedPolicy};
use crate::record::{preflight, record_or_undo};
use crate::state_dir::StateDir;

/// Each port's state and recommended action under one policy.
#[derive(Debug, Clone)]
pub struct LifecyclePlan {
    /// The policy judged by.
    pub policy: LoadedPolicy,
    /// One recommendation per port that listens, is allowed, or was used.
    pub ports: Vec<Recommendation>,
    /// The processes listening on each port, comma-separated.
    pub owners: BTreeMap<PortKey, String>,
}

impl LifecyclePlan {
    /// The ports the policy says to close now.
    pub fn closing(&self) -> Vec<&Recommendation> {
        self.ports
            .iter()
            .filter(|r| r.action == Action::Close)
            .collect()
    }

    /// The ports recommended for closing by a person.
    pub fn recommended(&self) -> Vec<&Recommendation> {
        self.ports
            .iter()
            .filter(|r| r.action == Action::RecommendClose)
            .collect()
    }

    /// PR013 findings: the abandoned ports this plan would close.
    pub fn abandoned_findings(&self, sockets: &[ListeningSocket]) -> Vec<Finding> {
        portreeve_lifecycle::abandoned_findings(&self.policy.policy, &self.ports, sockets)
    }
}

/// Each port's forecast for the 24 hours from the start of one hour, from
/// the agent's hourly history: what keeps a periodic port from being
/// abandoned between runs and makes a port whose use stopped dormant early
/// ([`portreeve_lifecycle::forecast`]). A forecast changes only as hours
/// close, so the agent, planning every few seconds, reads one an hour.
#[derive(Debug, Clone, Default)]
pub struct Forecasts {
    /// The hour they are made at; `None` for none made (no port has a
    /// forecast then).
    pub hour: Option<Hour>,
    /// Each port with a history, and its forecast.
    pub ports: BTreeMap<PortKey, Prediction>,
}

impl Forecasts {
    /// The forecasts at the hour `now` falls in, from its hours before:
    /// none where the agent has recorded no history.
    pub fn read(state: &StateDir, now: Timestamp) -> Result<Forecasts, AppError> {
        // No port recorded: no history to forecast from (which
        // `forecast::history` reports as an error, for `predict`).
        let at = forecast::hour_of(now);
        if !state.has_store() || state.with_store(|s| s.usage())?.is_empty() {
            return Ok(Forecasts {
                hour: Some(at),
                ports: BTreeMap::new(),
            });
        }
        let history = forecast::history(state, now)?;
        Ok(Forecasts {
            hour: Some(at),
            ports: forecast::predict(&history, at)
                .into_iter()
                .map(|p| (PortKey::new(p.protocol, p.port), p.prediction))
                .collect(),
        })
    }

    /// Whether these are the forecasts at the hour `now` falls in.
    pub fn current_at(&self, now: Timestamp) -> bool {
        self.hour == Some(forecast::hour_of(now))
    }
}

/// Everything known about each port: listening now, allowed by the
/// policy, or with recorded usage (the agent's and the kernel's), and its
/// forecast.
fn inputs(
    state: &StateDir,
    policy: &LoadedPolicy,
    sockets: &[ListeningSocket],
    kernel: &[SeenPort],
    forecasts: &Forecasts,
    now: Timestamp,
) -> Result<Vec<PortInput>, AppError> {
    let listening: BTreeSet<PortKey> = sockets
        .iter()
        .map(|s| PortKey::new(s.protocol, s.port))
        .collect();
    let (stored, reclaims) = if state.has_store() {
        state.with_store(|s| Ok((s.usage()?, s.reclaims()?)))?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut usage: BTreeMap<PortKey, PortUsage> =
        stored.into_iter().map(|r| (r.key, r.usage)).collect();
    // The firewall's own record of last access, where portreeve's ruleset
    // is applied. (A port's state depends on its last access only; the
    // counts are the agent's, shown by `usage`.)
    for k in kernel {
        let u = usage
            .entry(k.key)
            .or_insert_with(|| PortUsage::new(k.last_access));
        u.last_access = Some(
            u.last_access
                .map_or(k.last_access, |t| t.max(k.last_access)),
        );
        u.first_seen = u.first_seen.min(k.last_access);
    }
    let mut keys: BTreeSet<PortKey> = listening.clone();
    keys.extend(allowed_ports(&policy.policy));
    keys.extend(usage.keys().copied());
    Ok(keys
        .into_iter()
        .map(|key| {
            let mut input = PortInput::new(
                key,
                usage
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| PortUsage::new(now)),
                listening.contains(&key),
            );
            input.forecast = forecasts.ports.get(&key).copied();
            for r in reclaims.iter().filter(|r| r.key == key) {
                match r.undone_at {
                    None => input.reclaimed_at = Some(r.at),
                    Some(t) => input.reopened_at = Some(input.reopened_at.map_or(t, |o| o.max(t))),
                }
            }
            input
        })
        .collect())
}

/// The lifecycle of this host's ports under `policy`, for `sockets` (read
/// by the caller) at `now`, with the forecasts of the agent's history at
/// `now`.
pub fn lifecycle(
    state: &StateDir,
    policy: LoadedPolicy,
    sockets: &[ListeningSocket],
    now: Timestamp,
) -> Result<LifecyclePlan, AppError> {
    let forecasts = Forecasts::read(state, now)?;
    lifecycle_with(state, policy, sockets, &forecasts, now)
}

/// [`lifecycle`] with `forecasts` read before ([`Forecasts::read`]), for a
/// caller that plans more often than forecasts change.
pub fn lifecycle_with(
    state: &StateDir,
    policy: LoadedPolicy,
    sockets: &[ListeningSocket],
    forecasts: &Forecasts,
    now: Timestamp,
) -> Result<LifecyclePlan, AppError> {
    // Without portreeve's ruleset (or privileges) there is no kernel record.
    let kernel = state.firewall().seen().unwrap_or_default();
    let ports = inputs(state, &policy, sockets, &kernel, forecasts, now)?;
    let mut owners: BTreeMap<PortKey, BTreeSet<String>> = BTreeMap::new();
    for s in sockets {
        owners
            .entry(PortKey::new(s.protocol, s.port))
            .or_default()
            .extend(s.processes.iter().map(|p| p.name.clone()));
    }
    Ok(LifecyclePlan {
        ports: plan(&policy.policy, &ports, now),
        policy,
        owners: owners
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect::<Vec<_>>().join(",")))
            .collect(),
    })
}

/// PR013 findings for this host under `policy`: the abandoned ports it
/// would close, judged from the agent's record (none where the agent never
/// ran). A record that cannot be read is an error, not "no findings": a
/// check that passed without it would vouch for ports it never judged.
pub fn abandoned_findings(
    state: &StateDir,
    policy: &LoadedPolicy,
    sockets: &[ListeningSocket],
) -> Result<Vec<Finding>, AppError> {
    if !state.has_store() {
        return Ok(Vec::new());
    }
    let plan = lifecycle(state, policy.clone(), sockets, Timestamp::now())?;
    Ok(plan.abandoned_findings(sockets))
}

/// A port closed by a reclaim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPort {
    /// The port.
    pub port: PortKey,
    /// The reclaim's id, which [`undo`] takes.
    pub reclaim: i64,
    /// The position of the `reclaim` ledger entry recording it.
    pub ledger_index: u64,
}

/// What a reclaim did.
#[derive(Debug, Clone)]
pub struct Reclaimed {
    /// The generation that closed the ports.
    pub generation: u64,
    /// The digest of the policy in effect it started from.
    pub policy: String,
    /// The ports closed.
    pub closed: Vec<ClosedPort>,
}

/// Human units for an idle time, as reasons and tables write it.
pub fn idle_text(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}m {}s", s / 60, s % 60),
    }
}

/// Closes the ports `plan` says to close: records each reclaim, installs
/// the policy in effect without them as a new generation, and records each
/// in the ledger with the policy's digest and the rulesets before and
/// after. Refused if the policy in effect is no longer the one `plan` was
/// made from. Returns `None` when there is nothing to close.
pub fn close(
    state: &StateDir,
    plan: &LifecyclePlan,
    force: bool,
    actor: &Actor,
) -> Result<Option<Reclaimed>, AppError> {
    let closing = plan.closing();
    if closing.is_empty() {
        return Ok(None);
    }
    let in_effect = policy::in_effect(state)?.ok_or_else(|| {
        AppError::Refused(Refusal::NotApplied(
            "portreeve's ruleset is not applied here, so there is no allowed set to remove ports from; apply the policy first (or use `reclaim = \"recommend\"`)".into(),
        ))
    })?;
    if in_effect.digest != plan.policy.digest {
        return Err(AppError::Refused(Refusal::StalePlan {
            planned: plan.policy.digest.clone(),
            now: in_effect.digest,
        }));
    }
    preflight(state)?;
    let before = state.firewall().generations().current()?;
    let now = Timestamp::now();
    let mut closed = closed_ports(state)?;
    let ids: Vec<i64> = state.with_store(|s| {
        closing
            .iter()
            .map(|r| s.record_reclaim(now, r.key, "pending"))
            .collect()
    })?;
    closed.extend(closing.iter().map(|r| r.key));
    let generation = match reinstall(state, &in_effect, &closed, force, actor) {
        Ok(g) => g,
        Err(e) => {
            // Nothing changed in the firewall: the reclaims are void.
            void(state, &ids);
            return Err(e);
        }
    };
    let drafts = closing
        .iter()
        .zip(&ids)
        .map(|(r, &id)| {
            let mut draft = reclaim_draft(state, "reclaim", actor, r.key, id, before, &generation);
            draft.reason = Some(format!(
                "{}: no new connection for {} (since {})",
                r.state.as_str(),
                idle_text(r.idle),
                r.idle_since.strftime("%Y-%m-%d %H:%M:%S UTC")
            ));
            draft
        })
        .collect();
    let ports: Vec<String> = closing.iter().map(|r| r.key.to_string()).collect();
    let appended = record_or_undo(
        state,
        drafts,
        &format!(
            "{} closed in generation {}",
            ports.join(", "),
            generation.generation
        ),
        || {
            state.firewall().undo(&generation)?;
            void(state, &ids);
            Ok(())
        },
    )?;
    Ok(Some(Reclaimed {
        generation: generation.generation,
        policy: in_effect.digest,
        closed: closing
            .iter()
            .zip(ids)
            .zip(appended)
            .map(|((r, reclaim), entry)| ClosedPort {
                port: r.key,
                reclaim,
                ledger_index: entry.index,
            })
            .collect(),
    }))
}

/// The ledger entry of reclaim `id` of `port` (`action` is `reclaim` or
/// `reclaim.undo`), made as `generation` over generation `before`.
fn reclaim_draft(
    state: &StateDir,
    action: &str,
    actor: &Actor,
    port: PortKey,
    id: i64,
    before: u64,
    generation: &Generation,
) -> portreeve_ledger::Draft {
    change_draft(
        state,
        action,
        actor.as_str(),
        format!(
            "{port} (reclaim {id}, generation {})",
            generation.generation
        ),
        before,
        generation,
    )
}

/// Deletes the reclaims `ids`, which never took effect, so no later apply
/// closes their ports and the next plan finds the ports abandoned still:
/// marked undone they would read as reopened, restarting the ports' idle
/// time. Logged if even that fails.
fn void(state: &StateDir, ids: &[i64]) {
    if let Err(e) = state.with_store(|s| s.cancel_reclaims(ids)) {
        tracing::error!(reclaims = %listed(ids, "none"), error = %e, "cannot delete reclaims that did not take effect");
    }
}

/// A reopened port.
#[derive(Debug, Clone)]
pub struct Reopened {
    /// The reclaim undone.
    pub reclaim: Reclaim,
    /// The generation that reopened it.
    pub generation: u64,
    /// The position of the `reclaim.undo` ledger entry recording it.
    pub ledger_index: u64,
}

/// Reopens the port of reclaim `id`: installs the policy in effect with the
/// port no longer closed, then marks the reclaim undone and records it. If
/// the firewall refuses, the reclaim stays in force and nothing changes.
pub fn undo(
    state: &StateDir,
    id: i64,
    reason: Option<String>,
    force: bool,
    actor: &Actor,
) -> Result<Reopened, AppError> {
    let reclaims = if state.has_store() {
        state.with_store(|s| s.reclaims())?
    } else {
        Vec::new()
    };
    let Some(r) = reclaims.into_iter().find(|r| r.id == id) else {
        return Err(AppError::Invalid(format!("there is no reclaim {id}")));
    };
    if r.undone_at.is_some() {
        return Err(AppError::Invalid(format!(
            "reclaim {id} ({}) was already undone",
            r.key
        )));
    }
    let in_effect = policy::in_effect(state)?.ok_or_else(|| {
        AppError::Refused(Refusal::NotApplied(
            "portreeve's ruleset is not applied here; apply the policy first".into(),
        ))
    })?;
    preflight(state)?;
    let before = state.firewall().generations().current()?;
    let still_closed: Vec<PortKey> = {
        let mut closed = closed_ports(state)?;
        // Another reclaim in force may close the same port: it stays.
        if let Some(i) = closed.iter().position(|k| *k == r.key) {
            closed.remove(i);
        }
        closed
    };
    let generation = reinstall(state, &in_effect, &still_closed, force, actor)?;
    let mut draft = reclaim_draft(state, "reclaim.undo", actor, r.key, id, before, &generation);
    draft.reason = reason;
    let appended = record_or_undo(
        state,
        vec![draft],
        &format!(
            "{} was reopened in generation {}",
            r.key, generation.generation
        ),
        || Ok(state.firewall().undo(&generation)?),
    )?;
    state.with_store(|s| s.mark_undone(id, Timestamp::now()))?;
    Ok(Reopened {
        reclaim: r,
        generation: generation.generation,
        ledger_index: appended[0].index,
    })
}

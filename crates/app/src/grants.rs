//! Grants: time-limited openings of on-demand rules, permitted by the
//! policy in effect and expired by the kernel itself; and the kernel's
//! record of each port's use.

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_core::{PortKey, Proto};
use portreeve_enforce::generations::GrantRecord;
use portreeve_enforce::grants::{Grant, GrantRequest, authorize};
use portreeve_ledger::Draft;
use serde::Serialize;

use crate::actor::Actor;
use crate::error::{AppError, Refusal};
use crate::policy;
use crate::record::{preflight, record, record_or_undo};
use crate::state_dir::StateDir;

mod expiry;

pub use expiry::{EXPIRED, record_expiries};

/// An opening granted.
#[derive(Debug, Clone)]
pub struct Granted {
    /// What the kernel holds now.
    pub grant: Grant,
    /// The digest of the policy in effect that permitted it.
    pub policy: String,
    /// The position of the `grant` ledger entry recording it.
    pub ledger_index: u64,
}

/// Opens `request` if an on-demand rule of the policy in effect permits
/// it; the kernel closes it after its TTL. Logged and recorded.
pub fn grant(
    state: &StateDir,
    request: &GrantRequest,
    reason: &str,
    actor: &Actor,
) -> Result<Granted, AppError> {
    // The policy in effect is the live generation's: first make the
    // records name the generation the kernel holds (an apply killed after
    // `nft` committed has not written it down).
    state.firewall().reconcile()?;
    let in_effect = policy::in_effect(state)?.ok_or_else(|| {
        AppError::Refused(Refusal::NotApplied(
            "no policy is in effect here (portreeve's ruleset is not applied): apply one with on-demand rules first".into(),
        ))
    })?;
    let grant = authorize(&in_effect.policy, request)
        .map_err(|e| AppError::Refused(Refusal::Grant(e.to_string())))?;
    preflight(state)?;
    // A re-grant of an expired key comes after the record of its expiry.
    record_expiries(state, Timestamp::now())?;
    state.firewall().grant(&grant)?;
    let close = || -> Result<(), AppError> {
        for &protocol in &grant.protocols {
            state.firewall().revoke(grant.from, protocol, grant.port)?;
        }
        Ok(())
    };
    if let Err(e) = state.firewall().generations().log_grant(&GrantRecord {
        at: Timestamp::now(),
        actor: actor.to_string(),
        rule: grant.rule.clone(),
        keys: grant.keys(),
        ttl_s: grant.ttl.as_secs(),
        reason: reason.to_string(),
    }) {
        close()?;
        return Err(AppError::Unrecordable(format!(
            "the grant log: {e}; the grant was closed again"
        )));
    }
    let mut draft = Draft::new(
        "grant",
        actor.as_str(),
        expiry::grant_object(&grant.keys(), grant.ttl, &grant.rule),
    );
    draft.policy = Some(in_effect.digest.clone());
    draft.reason = Some(reason.to_string());
    let appended = record_or_undo(state, vec![draft], "the grant was opened", close)?;
    Ok(Granted {
        grant,
        policy: in_effect.digest,
        ledger_index: appended[0].index,
    })
}

/// Closes the grant of `port`/`protocol` to `from` before its time.
/// Returns the position of the `revoke` ledger entry recording it.
pub fn revoke(
    state: &StateDir,
    from: IpNet,
    key: PortKey,
    reason: Option<String>,
    actor: &Actor,
) -> Result<u64, AppError> {
    let now = Timestamp::now();
    record_expiries(state, now)?;
    let set_key = portreeve_enforce::grants::key(from.trunc(), key.protocol, key.port);
    let grant = expiry::open_grant(state, &set_key, now);
    state.firewall().revoke(from, key.protocol, key.port)?;
    let object = expiry::revoke_object(&set_key, grant);
    let mut draft = Draft::new("revoke", actor.as_str(), object);
    draft.reason = reason;
    Ok(record(state, draft, "the grant was revoked")?.index)
}

/// A grant the kernel holds, explained by the grant log.
#[derive(Debug, Clone, Serialize)]
pub struct GrantRow {
    /// `SOURCE . PROTOCOL . PORT`.
    pub key: String,
    /// Seconds left.
    pub seconds_left: u64,
    /// Its full lifetime.
    pub ttl_seconds: u64,
    /// The rule that permitted it.
    pub rule: Option<String>,
    /// Who granted it.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// The grants open now.
pub fn list(state: &StateDir) -> Result<Vec<GrantRow>, AppError> {
    // Listing changes nothing, so a ledger that cannot take the record of
    // an expiry now does not stop it; the next to notice records it.
    if let Err(e) = record_expiries(state, Timestamp::now()) {
        tracing::warn!(error = %e, "cannot record expired grants");
    }
    let live = state.firewall().grants()?;
    let log = state.firewall().generations().grant_log()?;
    Ok(live
        .into_iter()
        .map(|g| {
            // The latest log entry for the same key explains it.
            let why = log.iter().rev().find(|r| r.keys.contains(&g.key));
            GrantRow {
                rule: why.map(|r| r.rule.clone()),
                actor: why.map(|r| r.actor.clone()),
                reason: why.map(|r| r.reason.clone()),
                key: g.key,
                seconds_left: g.expires_s,
                ttl_seconds: g.timeout_s,
            }
        })
        .collect())
}

/// A port's last new connection, as the kernel recorded it.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    /// Transport protocol.
    pub protocol: Proto,
    /// Port.
    pub port: u16,
    /// The last new connection.
    pub last_access: Timestamp,
    /// Seconds since.
    pub idle_seconds: i64,
    /// New connections accepted.
    pub connections: u64,
}

impl UsageRow {
    /// The idle time as a duration.
    pub fn idle(&self) -> SignedDuration {
        SignedDuration::from_secs(self.idle_seconds)
    }
}

/// Each allowed port's last new connection and count, from the kernel.
pub fn usage(state: &StateDir, now: Timestamp) -> Result<Vec<UsageRow>, AppError> {
    Ok(state
        .firewall()
        .seen()?
        .into_iter()
        .map(|u| UsageRow {
            protocol: u.key.protocol,
            port: u.key.port,
            idle_seconds: u.last_access.duration_until(now).as_secs(),
            last_access: u.last_access,
            connections: u.connections,
        })
        .collect())
}

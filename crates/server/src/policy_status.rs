//! What the server shows of each host's fleet policy: the version it is
//! assigned (its own assignment, else its first group's by name) and what
//! it last reported doing with a policy, which arrives in its pushes and
//! is kept, the latest per host, in the push's own transaction
//! (docs/server.md, "Fleet policy").

use std::collections::HashMap;

use portreeve_fleet_protocol::{AppliedPolicy, Push};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::policy::count;
use crate::{ServerError, hosts};

/// The states an agent may report for a policy ([`AppliedPolicy::state`]).
pub const APPLIED_STATES: [&str; 4] = ["applied", "confirmed", "rolled-back", "refused"];

/// A host's policy as the host list and detail show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPolicy {
    /// The version the host gets when it pulls, if any.
    pub assigned: Option<AssignedVersion>,
    /// What the host last reported doing with a policy.
    pub applied: Option<AppliedPolicy>,
}

/// A policy version by name and number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedVersion {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: u64,
}

/// Keeps what `push` reports of its policy as its host's latest, inside
/// the push's own transaction; a push without one changes nothing.
pub(crate) async fn store_applied(tx: &mut AnyConnection, push: &Push) -> Result<(), ServerError> {
    let Some(applied) = &push.policy else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO host_applied_policies
             (host_id, name, version, sha256, generation, state, message, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (host_id) DO UPDATE SET
             name = excluded.name, version = excluded.version, sha256 = excluded.sha256,
             generation = excluded.generation, state = excluded.state,
             message = excluded.message, at = excluded.at",
    )
    .bind(&push.host_id)
    .bind(&applied.name)
    .bind(i64::try_from(applied.version).unwrap_or(i64::MAX))
    .bind(&applied.sha256)
    .bind(
        applied
            .generation
            .map(|g| i64::try_from(g).unwrap_or(i64::MAX)),
    )
    .bind(&applied.state)
    .bind(&applied.message)
    .bind(applied.at.as_second())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Why the policy `push` reports cannot be stored, if it cannot (one of
/// the push's checks).
pub(crate) fn validate_push(push: &Push) -> Result<(), String> {
    let Some(applied) = &push.policy else {
        return Ok(());
    };
    crate::fleet::one_of("policy.state", [applied.state.as_str()], &APPLIED_STATES)?;
    if applied.version > i64::MAX as u64 || applied.generation.is_some_and(|g| g > i64::MAX as u64)
    {
        return Err("policy.version and policy.generation must fit in 63 bits".to_owned());
    }
    crate::nul::refuse_nul(
        "policy.",
        &[
            ("name", Some(applied.name.as_str())),
            ("sha256", Some(applied.sha256.as_str())),
            ("message", applied.message.as_deref()),
        ],
    )
}

/// Each host's policy (only `one`'s when given), by host id.
async fn host_policies(
    pool: &AnyPool,
    one: Option<&str>,
) -> Result<HashMap<String, HostPolicy>, ServerError> {
    let mut result: HashMap<String, HostPolicy> = HashMap::new();
    let mut conn = pool.acquire().await?;
    let ids: Vec<String> = match one {
        Some(id) => vec![id.to_owned()],
        None => sqlx::query("SELECT id FROM hosts")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?,
    };
    let latest: HashMap<String, i64> = sqlx::query(
        "SELECT name, MAX(version) AS v FROM policy_versions
         WHERE approved_at IS NOT NULL GROUP BY name",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("name")?, r.try_get("v")?)))
    .collect::<Result<_, ServerError>>()?;
    let mut assigned: HashMap<(String, String), (String, Option<i64>)> = HashMap::new();
    for r in sqlx::query("SELECT target_kind, target, policy, version FROM policy_assignments")
        .fetch_all(&mut *conn)
        .await?
    {
        assigned.insert(
            (r.try_get("target_kind")?, r.try_get("target")?),
            (r.try_get("policy")?, r.try_get("version")?),
        );
    }
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for r in sqlx::query("SELECT host_id, group_name FROM host_groups ORDER BY group_name")
        .fetch_all(&mut *conn)
        .await?
    {
        groups
            .entry(r.try_get("host_id")?)
            .or_default()
            .push(r.try_get("group_name")?);
    }
    let mut applied: HashMap<String, AppliedPolicy> = HashMap::new();
    for r in sqlx::query(
        "SELECT host_id, name, version, sha256, generation, state, message, at
         FROM host_applied_policies",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        applied.insert(r.try_get("host_id")?, applied_from(&r)?);
    }
    for id in ids {
        let own = assigned.get(&("host".to_owned(), id.clone()));
        let by_group = || {
            groups
                .get(&id)
                .into_iter()
                .flatten()
                .find_map(|g| assigned.get(&("group".to_owned(), g.clone())))
        };
        let assignment = own.or_else(by_group).and_then(|(name, version)| {
            let version = version.or_else(|| latest.get(name).copied())?;
            Some(AssignedVersion {
                name: name.clone(),
                version: u64::try_from(version).ok()?,
            })
        });
        let status = HostPolicy {
            assigned: assignment,
            applied: applied.remove(&id),
        };
        result.insert(id, status);
    }
    Ok(result)
}

fn applied_from(r: &AnyRow) -> Result<AppliedPolicy, ServerError> {
    Ok(AppliedPolicy {
        name: r.try_get("name")?,
        version: count(r.try_get("version")?, "host_applied_policies.version")?,
        sha256: r.try_get("sha256")?,
        generation: r
            .try_get::<Option<i64>, _>("generation")?
            .map(|g| count(g, "host_applied_policies.generation"))
            .transpose()?,
        state: r.try_get("state")?,
        message: r.try_get("message")?,
        at: jiff::Timestamp::from_second(r.try_get("at")?)
            .map_err(|e| ServerError::Corrupt(format!("host_applied_policies.at: {e}")))?,
    })
}

/// Puts each host's policy on its summary.
pub(crate) async fn attach(
    pool: &AnyPool,
    one: Option<&str>,
    summaries: &mut [hosts::HostSummary],
) -> Result<(), ServerError> {
    let mut policies = host_policies(pool, one).await?;
    for summary in summaries {
        summary.policy = policies.remove(&summary.id).unwrap_or_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_states_are_stored() {
        let check = |applied: &AppliedPolicy| {
            let mut push: Push = serde_json::from_value(serde_json::json!({
                "host_id": "h", "seq": 1, "sent_at": "2026-12-06T22:00:00Z",
                "listeners": [], "findings": [], "drift": [], "ledger": null,
            }))
            .unwrap();
            push.policy = Some(applied.clone());
            validate_push(&push)
        };
        let mut applied = AppliedPolicy {
            name: "web".into(),
            version: 1,
            sha256: "sha256:00".into(),
            generation: Some(3),
            state: "confirmed".into(),
            message: None,
            at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert_eq!(check(&applied), Ok(()));
        applied.state = "done".into();
        assert!(check(&applied).unwrap_err().contains("`done`"));
        applied.state = "refused".into();
        applied.message = Some("nft\0".into());
        assert!(check(&applied).unwrap_err().contains("NUL"));
        applied.message = None;
        applied.generation = Some(u64::MAX);
        assert!(check(&applied).is_err());
    }
}

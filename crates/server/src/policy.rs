//! Fleet policy on the server: versions proposed and approved under the
//! two-person rule, signed when approved, assigned to hosts and groups,
//! pulled by hosts, and what each host reports having done with it
//! (docs/server.md, "Fleet policy"). Every change is recorded in the
//! server's ledger inside the database transaction that makes it, before
//! the commit: a change is never committed without its entry.

use std::collections::HashMap;
use std::path::Path;

use portreeve_fleet_protocol::SignedPolicy;
use portreeve_ledger::{Draft, digest};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

pub use crate::policy_status::{APPLIED_STATES, AssignedVersion, HostPolicy};
pub(crate) use crate::policy_status::{attach, store_applied, validate_push};

use crate::ServerError;
use crate::api::ApiError;
use crate::clock::{rfc3339, unix_now};
use crate::ledger::ServerLedger;
use crate::policy_signing::PolicySigner;
use crate::principal::Principal;

/// The longest policy or group name, in bytes.
const MAX_NAME: usize = 64;

/// The longest reason, in bytes.
const MAX_REASON: usize = 1024;

/// What the server governs the fleet's policy with: its ledger, its
/// signing key, and how many approvals a version needs.
pub struct Governance {
    /// Where every change is recorded.
    pub(crate) ledger: ServerLedger,
    /// What signs approved versions.
    pub(crate) signer: PolicySigner,
    /// Approvals a version needs, by principals other than its proposer
    /// (server.toml `[change_control] approvals`).
    pub(crate) approvals: u32,
}

impl Governance {
    /// Opens the ledger and the signing key under state directory `state`
    /// (creating them on first start).
    pub fn open(state: &Path, approvals: u32) -> Result<Governance, ServerError> {
        Ok(Governance {
            ledger: ServerLedger::open(state)?,
            signer: PolicySigner::open(state)?,
            approvals,
        })
    }
}

/// One version of a policy, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// The policy's name.
    pub name: String,
    /// Its version, from 1 per name.
    pub version: u64,
    /// `sha256:<hex>` of the text.
    pub sha256: String,
    /// Who proposed it.
    pub proposer: String,
    /// Why, in the proposer's words.
    pub reason: String,
    /// RFC 3339.
    pub created_at: String,
    /// Its approvals, oldest first.
    pub approvals: Vec<Approval>,
    /// Whether it has the approvals it needs (and is signed).
    pub approved: bool,
    /// Base64 of the server's signature ([`SignedPolicy::signed_bytes`]),
    /// once approved.
    pub signature: Option<String>,
    /// The policy TOML; only in one version's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One approval of a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Approval {
    /// The approving principal.
    pub by: String,
    /// RFC 3339.
    pub at: String,
    /// Why, in the approver's words.
    pub reason: String,
}

/// `POST /api/v1/policies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The policy's name.
    pub name: String,
    /// The policy TOML.
    pub text: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/policies/{name}/{version}/approve`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// `PUT /api/v1/assignments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    /// The policy to assign; `null` takes the targets' assignments away.
    pub policy: Option<String>,
    /// A version; `null` follows the latest approved one.
    #[serde(default)]
    pub version: Option<u64>,
    /// Hosts, by name or id.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Groups, by name.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One assignment, as `GET /api/v1/assignments` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    /// `host` or `group`.
    pub target_kind: String,
    /// The host's id or the group's name.
    pub target: String,
    /// The policy's name.
    pub policy: String,
    /// The version; `null`: the latest approved.
    pub version: Option<u64>,
    /// RFC 3339.
    pub assigned_at: String,
    /// Who assigned it.
    pub assigned_by: String,
}

/// `POST /api/v1/hosts/{id}/groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsRequest {
    /// The host's groups from now on.
    pub groups: Vec<String>,
}

/// Stores `proposal` by `by` as the next version of its name.
pub(crate) async fn propose(
    pool: &AnyPool,
    governance: &Governance,
    by: &Principal,
    proposal: &Proposal,
) -> Result<PolicyVersion, ApiError> {
    may_sign(by)?;
    check_name("name", &proposal.name)?;
    check_reason(&proposal.reason)?;
    // What `portreeve policy validate` checks, with the same parser, and the
    // digest `LoadedPolicy` takes of a policy's text.
    portreeve_policy::parse_policy(&format!("{}.toml", proposal.name), &proposal.text)
        .map_err(|e| ApiError::BadRequest(format!("the policy is not valid: {e}")))?;
    let sha256 = digest(proposal.text.as_bytes());
    let mut tx = begin_write(pool).await?;
    let last: Option<i64> =
        sqlx::query("SELECT MAX(version) AS last FROM policy_versions WHERE name = $1")
            .bind(&proposal.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(ServerError::from)?
            .try_get("last")
            .map_err(ServerError::from)?;
    let version = last.unwrap_or(0) + 1;
    let inserted = sqlx::query(
        "INSERT INTO policy_versions
             (name, version, sha256, text, proposer, reason, created_at, approved_at, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
    )
    .bind(&proposal.name)
    .bind(version)
    .bind(&sha256)
    .bind(&proposal.text)
    .bind(&by.name)
    .bind(&proposal.reason)
    .bind(unix_now())
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return Err(clash_or(
            e,
            "another version of this policy was proposed at the same time; propose again",
        ));
    }
    let mut draft = Draft::new(
        "server.policy.propose",
        &by.name,
        format!("policy {} version {version}", proposal.name),
    );
    draft.after = Some(sha256);
    draft.reason = non_empty(&proposal.reason);
    governance.ledger.record(draft).await?;
    let stored = version_of(&mut tx, &proposal.name, version, false).await?;
    tx.commit().await.map_err(ServerError::from)?;
    stored.ok_or(ApiError::NotFound)
}

/// Every version of every policy, newest first.
pub(crate) async fn list(pool: &AnyPool) -> Result<Vec<PolicyVersion>, ServerError> {
    let mut approvals = approvals_by_version(pool).await?;
    sqlx::query(
        "SELECT name, version, sha256, proposer, reason, created_at, approved_at, signature
         FROM policy_versions ORDER BY created_at DESC, name, version DESC",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        let key = (row.try_get("name")?, row.try_get("version")?);
        version_from(row, approvals.remove(&key).unwrap_or_default(), None)
    })
    .collect()
}

/// Version `version` of `name`, with its text.
pub(crate) async fn get(
    pool: &AnyPool,
    name: &str,
    version: i64,
) -> Result<Option<PolicyVersion>, ServerError> {
    let mut conn = pool.acquire().await?;
    version_of(&mut conn, name, version, true).await
}

/// `by` approves version `version` of `name`. The version is signed once it
/// has the approvals it needs, and signed again with each later approval
/// (the signature covers the list of approvers).
pub(crate) async fn approve(
    pool: &AnyPool,
    governance: &Governance,
    by: &Principal,
    name: &str,
    version: i64,
    request: &ApprovalRequest,
) -> Result<PolicyVersion, ApiError> {
    may_sign(by)?;
    check_reason(&request.reason)?;
    let mut tx = begin_write(pool).await?;
    let current = version_of(&mut tx, name, version, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    if current.proposer == by.name {
        return Err(ApiError::ForbiddenBecause(format!(
            "`{}` proposed {name} version {version} and cannot approve it: \
             the two-person rule takes someone else",
            by.name
        )));
    }
    if current.approvals.iter().any(|a| a.by == by.name) {
        return Err(ApiError::Conflict(format!(
            "`{}` approved {name} version {version} already",
            by.name
        )));
    }
    let now = unix_now();
    let inserted = sqlx::query(
        "INSERT INTO policy_approvals (name, version, approver, approved_at, reason)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(name)
    .bind(version)
    .bind(&by.name)
    .bind(now)
    .bind(&request.reason)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        return Err(clash_or(
            e,
            "this approval was recorded at the same time by another request",
        ));
    }
    let mut approved = version_of(&mut tx, name, version, true)
        .await?
        .ok_or(ApiError::NotFound)?;
    if approved.approvals.len() >= governance.approvals as usize {
        let approved_at = current_approval_time(&mut tx, name, version)
            .await?
            .unwrap_or(now);
        let mut signed = signed_policy(&approved, approved_at)?;
        signed.signature = governance.signer.sign(&signed);
        sqlx::query(
            "UPDATE policy_versions SET approved_at = $1, signature = $2
             WHERE name = $3 AND version = $4",
        )
        .bind(approved_at)
        .bind(&signed.signature)
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(ServerError::from)?;
        approved.approved = true;
        approved.signature = Some(signed.signature);
    }
    let mut draft = Draft::new(
        "server.policy.approve",
        &by.name,
        format!("policy {name} version {version}"),
    );
    draft.after = Some(approved.sha256.clone());
    draft.reason = non_empty(&request.reason);
    governance.ledger.record(draft).await?;
    tx.commit().await.map_err(ServerError::from)?;
    Ok(approved)
}

/// Assigns a policy to (or, `policy: null`, takes it from) the request's
/// hosts and groups; only approved versions may be assigned. The
/// assignments afterwards.
pub(crate) async fn assign(
    pool: &AnyPool,
    governance: &Governance,
    by: &Principal,
    request: &AssignmentRequest,
) -> Result<Vec<Assignment>, ApiError> {
    if request.hosts.is_empty() && request.groups.is_empty() {
        return Err(ApiError::BadRequest(
            "name at least one host or group".to_owned(),
        ));
    }
    for group in &request.groups {
        check_name("a group", group)?;
    }
    let mut tx = begin_write(pool).await?;
    let mut targets = Vec::new();
    for host in &request.hosts {
        let id = host_id(&mut tx, host).await?;
        targets.push(("host", id));
    }
    targets.extend(request.groups.iter().map(|g| ("group", g.clone())));
    let version = request.version.map(as_i64).transpose()?;
    let (action, object) = match &request.policy {
        Some(policy) => {
            check_name("policy", policy)?;
            let approved = latest_approved(&mut tx, policy, version).await?;
            let Some(approved) = approved else {
                return Err(ApiError::Conflict(match version {
                    Some(v) => format!("{policy} version {v} is not approved (or not proposed)"),
                    None => format!("{policy} has no approved version"),
                }));
            };
            for (kind, target) in &targets {
                sqlx::query(
                    "INSERT INTO policy_assignments
                         (target_kind, target, policy, version, assigned_at, assigned_by)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (target_kind, target) DO UPDATE SET
                         policy = excluded.policy, version = excluded.version,
                         assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by",
                )
                .bind(*kind)
                .bind(target)
                .bind(policy)
                .bind(version)
                .bind(unix_now())
                .bind(&by.name)
                .execute(&mut *tx)
                .await
                .map_err(ServerError::from)?;
            }
            let which = match version {
                Some(v) => format!("version {v}"),
                None => format!("the latest approved version (now {approved})"),
            };
            (
                "server.policy.assign",
                format!("policy {policy} {which} to {}", describe(&targets)),
            )
        }
        None => {
            for (kind, target) in &targets {
                sqlx::query(
                    "DELETE FROM policy_assignments WHERE target_kind = $1 AND target = $2",
                )
                .bind(*kind)
                .bind(target)
                .execute(&mut *tx)
                .await
                .map_err(ServerError::from)?;
            }
            (
                "server.policy.unassign",
                format!("policy of {}", describe(&targets)),
            )
        }
    };
    governance
        .ledger
        .record(Draft::new(action, &by.name, object))
        .await?;
    tx.commit().await.map_err(ServerError::from)?;
    Ok(assignments(pool).await?)
}

/// Every assignment, hosts' first, then groups', by target.
pub(crate) async fn assignments(pool: &AnyPool) -> Result<Vec<Assignment>, ServerError> {
    sqlx::query(
        "SELECT target_kind, target, policy, version, assigned_at, assigned_by
         FROM policy_assignments ORDER BY target_kind DESC, target",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Assignment {
            target_kind: r.try_get("target_kind")?,
            target: r.try_get("target")?,
            policy: r.try_get("policy")?,
            version: r
                .try_get::<Option<i64>, _>("version")?
                .map(|v| count(v, "policy_assignments.version"))
                .transpose()?,
            assigned_at: rfc3339(r.try_get("assigned_at")?),
            assigned_by: r.try_get("assigned_by")?,
        })
    })
    .collect()
}

/// Replaces host `id`'s groups with `request`'s; its groups afterwards.
pub(crate) async fn set_groups(
    pool: &AnyPool,
    governance: &Governance,
    by: &Principal,
    id: &str,
    request: &GroupsRequest,
) -> Result<Vec<String>, ApiError> {
    for group in &request.groups {
        check_name("a group", group)?;
    }
    let mut groups = request.groups.clone();
    groups.sort();
    groups.dedup();
    let mut tx = begin_write(pool).await?;
    let known = sqlx::query("SELECT name FROM hosts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(ServerError::from)?
        .ok_or(ApiError::NotFound)?;
    let name: String = known.try_get("name").map_err(ServerError::from)?;
    sqlx::query("DELETE FROM host_groups WHERE host_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(ServerError::from)?;
    for group in &groups {
        sqlx::query("INSERT INTO host_groups (host_id, group_name) VALUES ($1, $2)")
            .bind(id)
            .bind(group)
            .execute(&mut *tx)
            .await
            .map_err(ServerError::from)?;
    }
    let object = format!("host {name} ({id}) in groups [{}]", groups.join(", "));
    governance
        .ledger
        .record(Draft::new("server.host.groups", &by.name, object))
        .await?;
    tx.commit().await.map_err(ServerError::from)?;
    Ok(groups)
}

/// The signed policy host `host_id` is to apply: its own assignment, else
/// its first group's (by group name) that has one; `None` for none.
pub(crate) async fn assigned_to(
    pool: &AnyPool,
    host_id: &str,
) -> Result<Option<SignedPolicy>, ServerError> {
    let mut conn = pool.acquire().await?;
    let Some((name, version)) = assignment_of(&mut conn, host_id).await? else {
        return Ok(None);
    };
    let Some(version) = latest_approved(&mut conn, &name, version).await? else {
        return Ok(None);
    };
    let Some(stored) = version_of(&mut conn, &name, version, true).await? else {
        return Ok(None);
    };
    let Some(approved_at) = current_approval_time(&mut conn, &name, version).await? else {
        return Ok(None);
    };
    let mut signed = signed_policy(&stored, approved_at).map_err(|_| {
        ServerError::Corrupt(format!("policy {name} version {version} lost its text"))
    })?;
    signed.signature = stored.signature.unwrap_or_default();
    Ok(Some(signed))
}

/// 404 for a policy name no version can have (and that must not reach
/// the database: PostgreSQL refuses text holding a NUL, a 500).
pub(crate) fn known_name(name: &str) -> Result<(), ApiError> {
    check_name("policy", name).map_err(|_| ApiError::NotFound)
}

/// Refuses a principal whose name cannot stand in a signed policy.
fn may_sign(by: &Principal) -> Result<(), ApiError> {
    by.unsignable_name()
        .map_or(Ok(()), |why| Err(ApiError::ForbiddenBecause(why)))
}

/// Policy and group names: 1 to 64 of `a-z`, `0-9`, `.`, `_`, `-`,
/// starting with a letter or digit.
fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    let good = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        });
    if good {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{what} `{}` must be 1 to {MAX_NAME} of a-z, 0-9, `.`, `_`, `-`, \
             starting with a letter or digit",
            name.escape_debug()
        )))
    }
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.len() > MAX_REASON || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::BadRequest(format!(
            "reason must be at most {MAX_REASON} bytes without control characters"
        )));
    }
    Ok(())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A version number as the schema stores it; 400 past 63 bits.
fn as_i64(version: u64) -> Result<i64, ApiError> {
    i64::try_from(version)
        .map_err(|_| ApiError::BadRequest(format!("version {version} is out of range")))
}

/// A stored count as `u64`.
pub(crate) fn count(n: i64, column: &str) -> Result<u64, ServerError> {
    u64::try_from(n).map_err(|_| ServerError::Corrupt(format!("{column} holds {n}")))
}

/// A unique-key clash as 409 with `why`, any other failure as itself.
/// A transaction that holds the database's write lock from its start, for
/// the changes here that read before they write.
///
/// SQLite begins a transaction reading; one that read and then writes
/// after another connection committed cannot write any more, and fails at
/// once ("database is locked", a 500), without waiting. Its first
/// statement writing instead makes it wait for the lock (the pool's busy
/// timeout) and read what the other committed: the portable spelling of
/// SQLite's `BEGIN IMMEDIATE`. The statement changes no row; on
/// PostgreSQL it locks none, and the tables' keys still tell clashes
/// apart (409).
async fn begin_write(pool: &AnyPool) -> Result<sqlx::Transaction<'static, sqlx::Any>, ApiError> {
    let mut tx = pool.begin().await.map_err(ServerError::from)?;
    sqlx::query("UPDATE policy_versions SET version = version WHERE version < 0")
        .execute(&mut *tx)
        .await
        .map_err(ServerError::from)?;
    Ok(tx)
}

fn clash_or(e: sqlx::Error, why: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::Conflict(why.to_owned()),
        _ => ApiError::Internal(e.into()),
    }
}

/// The targets, in words for the ledger.
fn describe(targets: &[(&str, String)]) -> String {
    targets
        .iter()
        .map(|(kind, target)| format!("{kind} {target}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id of the host whose id or name is `which`; 400 for none.
async fn host_id(tx: &mut AnyConnection, which: &str) -> Result<String, ApiError> {
    if which.contains('\0') {
        // No host has it, and PostgreSQL would refuse to look.
        return Err(ApiError::BadRequest(
            ServerError::NoSuchHost(which.escape_debug().to_string()).to_string(),
        ));
    }
    let row = sqlx::query("SELECT id FROM hosts WHERE id = $1 OR name = $1")
        .bind(which)
        .fetch_optional(&mut *tx)
        .await
        .map_err(ServerError::from)?
        .ok_or_else(|| {
            ApiError::BadRequest(ServerError::NoSuchHost(which.to_owned()).to_string())
        })?;
    Ok(row.try_get("id").map_err(ServerError::from)?)
}

/// `version` of `name` if it is approved, or (`None`) the latest approved.
async fn latest_approved(
    conn: &mut AnyConnection,
    name: &str,
    version: Option<i64>,
) -> Result<Option<i64>, ServerError> {
    let row = match version {
        Some(version) => sqlx::query(
            "SELECT MAX(version) AS v FROM policy_versions
             WHERE name = $1 AND approved_at IS NOT NULL AND version = $2",
        )
        .bind(name)
        .bind(version),
        None => sqlx::query(
            "SELECT MAX(version) AS v FROM policy_versions
             WHERE name = $1 AND approved_at IS NOT NULL",
        )
        .bind(name),
    }
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("v")?)
}

/// The policy and version assigned to host `host_id` (itself first, then
/// its groups by name).
async fn assignment_of(
    conn: &mut AnyConnection,
    host_id: &str,
) -> Result<Option<(String, Option<i64>)>, ServerError> {
    let row = sqlx::query(
        "SELECT policy, version FROM policy_assignments
         WHERE target_kind = 'host' AND target = $1",
    )
    .bind(host_id)
    .fetch_optional(&mut *conn)
    .await?;
    let row = match row {
        Some(row) => Some(row),
        None => {
            sqlx::query(
                "SELECT a.policy, a.version FROM policy_assignments a
                 JOIN host_groups g ON a.target_kind = 'group' AND a.target = g.group_name
                 WHERE g.host_id = $1 ORDER BY g.group_name LIMIT 1",
            )
            .bind(host_id)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.map(|r| Ok((r.try_get("policy")?, r.try_get("version")?)))
        .transpose()
}

/// When version `version` of `name` became approved, if it is.
async fn current_approval_time(
    conn: &mut AnyConnection,
    name: &str,
    version: i64,
) -> Result<Option<i64>, ServerError> {
    let row =
        sqlx::query("SELECT approved_at FROM policy_versions WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| r.try_get("approved_at")).transpose()?.flatten())
}

/// Version `version` of `name` with its approvals (and text, if `text`).
async fn version_of(
    conn: &mut AnyConnection,
    name: &str,
    version: i64,
    text: bool,
) -> Result<Option<PolicyVersion>, ServerError> {
    let Some(row) = sqlx::query(
        "SELECT name, version, sha256, text, proposer, reason, created_at, approved_at, signature
         FROM policy_versions WHERE name = $1 AND version = $2",
    )
    .bind(name)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let approvals = sqlx::query(
        "SELECT approver, approved_at, reason FROM policy_approvals
         WHERE name = $1 AND version = $2 ORDER BY approved_at, approver",
    )
    .bind(name)
    .bind(version)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(approval_from)
    .collect::<Result<_, _>>()?;
    let text = text.then(|| row.try_get("text")).transpose()?;
    version_from(&row, approvals, text).map(Some)
}

/// Every approval, by version, oldest first.
async fn approvals_by_version(
    pool: &AnyPool,
) -> Result<HashMap<(String, i64), Vec<Approval>>, ServerError> {
    let mut by_version: HashMap<(String, i64), Vec<Approval>> = HashMap::new();
    for r in sqlx::query(
        "SELECT name, version, approver, approved_at, reason FROM policy_approvals
         ORDER BY approved_at, approver",
    )
    .fetch_all(pool)
    .await?
    {
        by_version
            .entry((r.try_get("name")?, r.try_get("version")?))
            .or_default()
            .push(approval_from(&r)?);
    }
    Ok(by_version)
}

fn approval_from(r: &AnyRow) -> Result<Approval, ServerError> {
    Ok(Approval {
        by: r.try_get("approver")?,
        at: rfc3339(r.try_get("approved_at")?),
        reason: r.try_get("reason")?,
    })
}

fn version_from(
    row: &AnyRow,
    approvals: Vec<Approval>,
    text: Option<String>,
) -> Result<PolicyVersion, ServerError> {
    Ok(PolicyVersion {
        name: row.try_get("name")?,
        version: count(row.try_get("version")?, "policy_versions.version")?,
        sha256: row.try_get("sha256")?,
        proposer: row.try_get("proposer")?,
        reason: row.try_get("reason")?,
        created_at: rfc3339(row.try_get("created_at")?),
        approvals,
        approved: row.try_get::<Option<i64>, _>("approved_at")?.is_some(),
        signature: row.try_get("signature")?,
        text,
    })
}

/// `version` as the agent receives it, unsigned; it must carry its text.
fn signed_policy(version: &PolicyVersion, approved_at: i64) -> Result<SignedPolicy, ServerError> {
    Ok(SignedPolicy {
        name: version.name.clone(),
        version: version.version,
        sha256: version.sha256.clone(),
        text: version
            .text
            .clone()
            .ok_or_else(|| ServerError::Corrupt("a policy version without its text".to_owned()))?,
        proposer: version.proposer.clone(),
        approvers: version.approvals.iter().map(|a| a.by.clone()).collect(),
        approved_at: jiff::Timestamp::from_second(approved_at)
            .map_err(|e| ServerError::Corrupt(format!("policy_versions.approved_at: {e}")))?,
        signature: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_words() {
        for good in ["web", "dmz-2", "a.b_c", "0day"] {
            assert!(check_name("policy", good).is_ok(), "{good}");
        }
        for bad in ["", "Web", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name("policy", bad).is_err(), "{bad}");
        }
    }
}

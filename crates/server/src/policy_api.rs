//! The fleet policy routes: propose, list, read and approve versions,
//! assign them, set hosts' groups, and the hosts' signed pull
//! (docs/server.md, "Fleet policy"). The rules live in [`crate::policy`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use portreeve_fleet_protocol::{PolicyAssignment, PolicyPull};

use crate::Database;
use crate::api::{ApiError, authorise, parse_json};
use crate::policy::{self, Governance};
use crate::principal::signing_host;
use crate::role::Permission;

/// The largest policy request read (a proposal's TOML with room to spare).
const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The largest pull read: a host id and a time.
const MAX_PULL_BYTES: usize = 4 * 1024;

/// How far a pull's `sent_at` may be from the server's clock.
const PULL_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(5 * 60);

/// The routes; they take the [`Governance`] from a request extension.
pub(crate) fn routes() -> Router<Database> {
    Router::new()
        .route(
            "/api/v1/policies",
            get(list_versions)
                .post(propose)
                .layer(DefaultBodyLimit::max(MAX_POLICY_BYTES)),
        )
        .route("/api/v1/policies/{name}/{version}", get(version_detail))
        .route(
            "/api/v1/policies/{name}/{version}/approve",
            post(approve).layer(DefaultBodyLimit::max(MAX_POLICY_BYTES)),
        )
        .route(
            "/api/v1/assignments",
            get(list_assignments)
                .put(assign)
                .layer(DefaultBodyLimit::max(MAX_POLICY_BYTES)),
        )
        .route(
            "/api/v1/hosts/{id}/groups",
            post(set_groups).layer(DefaultBodyLimit::max(MAX_POLICY_BYTES)),
        )
        .route(
            "/api/v1/policy/pull",
            post(pull).layer(DefaultBodyLimit::max(MAX_PULL_BYTES)),
        )
}

/// `POST /api/v1/policies`: 201 and the new version.
async fn propose(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = authorise(&db, &headers, Permission::ProposePolicy).await?;
    let proposal: policy::Proposal = parse_json(&body?)?;
    let stored = policy::propose(db.pool(), &governance, &by, &proposal).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// `GET /api/v1/policies`: every version, newest first.
async fn list_versions(
    State(db): State<Database>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    Ok(Json(policy::list(db.pool()).await?).into_response())
}

/// `GET /api/v1/policies/{name}/{version}`: one version with its text.
async fn version_detail(
    State(db): State<Database>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    policy::known_name(&name)?;
    let version = version_number(&version)?;
    let found = policy::get(db.pool(), &name, version)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(found).into_response())
}

/// `POST /api/v1/policies/{name}/{version}/approve`: the version after
/// the approval.
async fn approve(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = authorise(&db, &headers, Permission::ApprovePolicy).await?;
    policy::known_name(&name)?;
    let version = version_number(&version)?;
    let body = body?;
    let request: policy::ApprovalRequest = if body.is_empty() {
        policy::ApprovalRequest::default()
    } else {
        parse_json(&body)?
    };
    let approved = policy::approve(db.pool(), &governance, &by, &name, version, &request).await?;
    Ok(Json(approved).into_response())
}

/// `GET /api/v1/assignments`.
async fn list_assignments(
    State(db): State<Database>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    Ok(Json(policy::assignments(db.pool()).await?).into_response())
}

/// `PUT /api/v1/assignments`: every assignment afterwards.
async fn assign(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = authorise(&db, &headers, Permission::OperateFleet).await?;
    let request: policy::AssignmentRequest = parse_json(&body?)?;
    Ok(Json(policy::assign(db.pool(), &governance, &by, &request).await?).into_response())
}

/// `POST /api/v1/hosts/{id}/groups`: the host's groups afterwards.
async fn set_groups(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = authorise(&db, &headers, Permission::OperateFleet).await?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound);
    }
    let request: policy::GroupsRequest = parse_json(&body?)?;
    let groups = policy::set_groups(db.pool(), &governance, &by, &id, &request).await?;
    Ok(Json(serde_json::json!({ "host_id": id, "groups": groups })).into_response())
}

/// `POST /api/v1/policy/pull`, signed by the host like a push: the policy
/// assigned to it, signed by the server.
async fn pull(
    State(db): State<Database>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let host_id = signing_host(&db, &headers, &body).await?;
    let request: PolicyPull = parse_json(&body)?;
    if request.host_id != host_id {
        return Err(ApiError::BadRequest(format!(
            "host_id `{}` is not the host in x-portreeve-host",
            request.host_id
        )));
    }
    let skew = jiff::Timestamp::now().duration_since(request.sent_at).abs();
    if skew > PULL_SKEW {
        return Err(ApiError::BadRequest(format!(
            "sent_at {} is more than 5 minutes from the server's clock ({}): \
             check the host's clock",
            request.sent_at,
            jiff::Timestamp::now()
        )));
    }
    let policy = policy::assigned_to(db.pool(), host_id).await?;
    Ok(Json(PolicyAssignment { policy }).into_response())
}

/// A version number from a path: 1 or more; anything else names nothing.
fn version_number(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or(ApiError::NotFound)
}

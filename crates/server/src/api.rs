//! The HTTP API under `/api/v1`: bearer-token authentication, the role
//! table's verdict, JSON in and out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use portreeve_fleet_protocol::{EnrollRequest, EnrollResponse, MAX_PUSH_BYTES, Push, PushResponse};
use tokio::net::TcpListener;

use crate::config::Limits;
use crate::enroll::{Enrolled, enroll};
use crate::fleet::{FleetQuery, Window};
use crate::metrics::{Metrics, PushResult};
use crate::oidc::{OidcVerifier, Rejection};
use crate::policy::Governance;
use crate::principal::Principal;
use crate::role::{Permission, Role};
use crate::{Database, ServerError, fleet, grants_blocks, hosts, push, token};

/// The largest enroll request read: a name and a key.
const MAX_ENROLL_BYTES: usize = 16 * 1024;

/// The OpenAPI 3 document of what this module serves, written by hand
/// next to it: change both together (a test requests every documented path).
const OPENAPI: &str = include_str!("openapi.json");

/// The fleet server: a bound listener and the database it answers from,
/// its request limits, and where its metrics are served, if anywhere.
pub struct Server {
    listener: TcpListener,
    database: Database,
    limits: Limits,
    metrics: Arc<Metrics>,
    metrics_listener: Option<TcpListener>,
    sign_in: Option<Arc<OidcVerifier>>,
    governance: Arc<Governance>,
}

impl Server {
    /// Binds `address` (port 0 picks a free one); `governance` records
    /// every change and signs approved policy.
    pub async fn bind(
        address: SocketAddr,
        database: Database,
        governance: Governance,
    ) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(address).await?;
        Ok(Server {
            listener,
            database,
            limits: Limits::default(),
            metrics: Arc::new(Metrics::new()),
            metrics_listener: None,
            sign_in: None,
            governance: Arc::new(governance),
        })
    }

    /// Also accepts the OIDC ID tokens `verifier` vouches for.
    pub fn with_oidc(self, verifier: Arc<OidcVerifier>) -> Server {
        Server {
            sign_in: Some(verifier),
            ..self
        }
    }

    /// Serves under `limits` instead of the defaults.
    pub fn with_limits(self, limits: Limits) -> Server {
        Server { limits, ..self }
    }

    /// Also serves `/metrics` on a listener bound at `address`.
    pub async fn serve_metrics(self, address: SocketAddr) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(address).await?;
        Ok(Server {
            metrics_listener: Some(listener),
            ..self
        })
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ServerError> {
        Ok(self
            .metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?)
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves requests until `shutdown` completes, then finishes the
    /// requests in flight, stops serving metrics and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let routes = router(self.database.clone()).layer(Extension(self.governance));
        let signing_in = crate::oidc::layer(routes, self.sign_in);
        let limited = crate::limits::layer(signing_in, self.limits);
        let router = crate::metrics::layer(limited, self.metrics.clone());
        let metrics = self.metrics_listener.map(|listener| {
            let routes = crate::metrics::router(self.metrics, self.database.clone());
            tokio::spawn(axum::serve(listener, routes).into_future())
        });
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served?;
        self.database.close().await;
        Ok(())
    }
}

/// Every route.
fn router(database: Database) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/hosts", get(host_list))
        .route("/api/v1/hosts/{id}", get(host_detail))
        .route("/api/v1/findings", get(fleet_findings))
        .route("/api/v1/findings/history", get(finding_history))
        .route("/api/v1/drift", get(fleet_drift))
        .route("/api/v1/lifecycle", get(fleet_lifecycle))
        .route("/api/v1/grants", get(fleet_grants))
        .route("/api/v1/blocks", get(fleet_blocks))
        .route(
            "/api/v1/enroll",
            post(enroll_host).layer(DefaultBodyLimit::max(MAX_ENROLL_BYTES)),
        )
        .route(
            "/api/v1/push",
            post(receive_push).layer(DefaultBodyLimit::max(MAX_PUSH_BYTES)),
        )
        .merge(crate::policy_api::routes())
        .merge(crate::ledger_api::routes())
        .merge(crate::console::routes())
        .fallback(not_found)
        .with_state(database)
}

async fn host_list(State(db): State<Database>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    Ok(Json(hosts::list(db.pool()).await?).into_response())
}

async fn host_detail(
    State(db): State<Database>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    // Ids are 32 hex digits. Anything else names no host and is not asked
    // of the database: PostgreSQL refuses text holding a NUL (a 500).
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound);
    }
    let host = hosts::detail(db.pool(), &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(host).into_response())
}

/// `GET /api/v1/findings[?severity=S]`: every host's open findings.
async fn fleet_findings(
    State(db): State<Database>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let query = FleetQuery::parse(raw.as_deref()).map_err(ApiError::BadRequest)?;
    let severity = fleet::checked_severity(&query).map_err(ApiError::BadRequest)?;
    Ok(Json(fleet::findings(db.pool(), severity).await?).into_response())
}

/// `GET /api/v1/findings/history[?since=T][&limit=N]`: each change in a
/// host's findings' counts, oldest first.
async fn finding_history(
    State(db): State<Database>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let query = FleetQuery::parse(raw.as_deref()).map_err(ApiError::BadRequest)?;
    let window = Window::history(&query).map_err(ApiError::BadRequest)?;
    Ok(Json(fleet::finding_history(db.pool(), &window).await?).into_response())
}

/// `GET /api/v1/drift[?since=T][&limit=N]`: the fleet's drift, newest first.
async fn fleet_drift(
    State(db): State<Database>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let query = FleetQuery::parse(raw.as_deref()).map_err(ApiError::BadRequest)?;
    let window = Window::drift(&query).map_err(ApiError::BadRequest)?;
    Ok(Json(fleet::drift(db.pool(), &window).await?).into_response())
}

/// `GET /api/v1/lifecycle[?state=S]`: every host's ports and their states.
async fn fleet_lifecycle(
    State(db): State<Database>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let query = FleetQuery::parse(raw.as_deref()).map_err(ApiError::BadRequest)?;
    let state = fleet::checked_state(&query).map_err(ApiError::BadRequest)?;
    Ok(Json(fleet::lifecycle(db.pool(), state).await?).into_response())
}

/// `GET /api/v1/grants`: every host's unexpired grants.
async fn fleet_grants(
    State(db): State<Database>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    Ok(Json(grants_blocks::grants(db.pool()).await?).into_response())
}

/// `GET /api/v1/blocks`: every host's unlifted blocks.
async fn fleet_blocks(
    State(db): State<Database>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    Ok(Json(grants_blocks::blocks(db.pool()).await?).into_response())
}

/// `POST /api/v1/enroll`: an `enroll` (or `admin`) token and the host's
/// name and key; 201 with its id.
async fn enroll_host(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let by = authorise(&db, &headers, Permission::EnrollHost).await?;
    let secret = bearer(&headers)?;
    let request: EnrollRequest = parse_json(&body?)?;
    match enroll(db.pool(), secret, &request, &governance.ledger, &by).await? {
        Enrolled::Host(host_id) => Ok((
            StatusCode::CREATED,
            Json(EnrollResponse {
                host_id,
                server_key: Some(governance.signer.public_key()),
            }),
        )
            .into_response()),
        Enrolled::UsedUp => Err(ApiError::Unauthenticated(
            "the token is unknown, expired, revoked or used up",
        )),
        Enrolled::NameTaken => Err(ApiError::Conflict(format!(
            "a host named `{}` is enrolled already",
            request.host_name.trim()
        ))),
        Enrolled::Invalid(why) => Err(ApiError::BadRequest(why)),
    }
}

/// `POST /api/v1/push`: the body as the host signed it. The checks run in
/// the order docs/server.md gives: size, host, signature, body, seq.
async fn receive_push(
    State(db): State<Database>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let host_id = crate::principal::signing_host(&db, &headers, &body).await?;
    let pushed: Push = parse_json(&body)?;
    if pushed.host_id != host_id {
        return Err(ApiError::BadRequest(format!(
            "host_id `{}` is not the host in x-portreeve-host",
            pushed.host_id
        )));
    }
    push::validate(&pushed).map_err(ApiError::BadRequest)?;
    let accepted = push::store(db.pool(), &pushed).await?;
    let mut response = Json(PushResponse { accepted }).into_response();
    let result = if accepted {
        PushResult::Accepted
    } else {
        PushResult::Duplicate
    };
    response.extensions_mut().insert(result);
    Ok(response)
}

/// `body` as JSON of type `T`, or a 400 that says what is wrong where.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not the expected JSON: {e}")))
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The request's bearer token.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .ok_or(ApiError::Unauthenticated(
            "send `Authorization: Bearer TOKEN`",
        ))
}

/// Who the request's bearer token speaks for, if it may do `permission`.
/// A bearer of three dot-separated parts is an OIDC ID token (a `prt_`
/// token has no dots); it may not enroll hosts, which takes a `prt_` token
/// whose uses are counted.
pub(crate) async fn authorise(
    db: &Database,
    headers: &HeaderMap,
    permission: Permission,
) -> Result<Principal, ApiError> {
    let secret = bearer(headers)?;
    if secret.split('.').count() == 3 {
        let verifier = crate::oidc::current().ok_or(ApiError::Unauthenticated(
            "OIDC sign-in is not configured on this server",
        ))?;
        let principal = verifier.verify(secret).await.map_err(|r| match r {
            Rejection::Invalid(why) => ApiError::BadIdToken(why),
            Rejection::NoRole(why) => ApiError::ForbiddenBecause(why),
        })?;
        return match permission {
            Permission::EnrollHost => Err(ApiError::ForbiddenBecause(
                "enrolling a host takes a `prt_` enroll token, not an ID token".to_owned(),
            )),
            _ if principal.role.may(permission) => Ok(principal),
            _ => Err(ApiError::Forbidden(principal.role)),
        };
    }
    let principal =
        token::authenticate(db.pool(), secret)
            .await?
            .ok_or(ApiError::Unauthenticated(
                "the token is unknown, expired or revoked",
            ))?;
    if principal.role.may(permission) {
        Ok(principal)
    } else {
        Err(ApiError::Forbidden(principal.role))
    }
}

/// A request the API refuses or could not answer; the body is
/// `{"error": {"status": N, "message": "…"}}`.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No token, or not a live one: 401.
    Unauthenticated(&'static str),
    /// An ID token that failed a check (which, in words): 401.
    BadIdToken(String),
    /// A live token whose role may not do this: 403.
    Forbidden(Role),
    /// A valid credential that may not do this, and why: 403.
    ForbiddenBecause(String),
    /// No such route or resource: 404.
    NotFound,
    /// The body is malformed or says something impossible: 400.
    BadRequest(String),
    /// It clashes with what is stored: 409.
    Conflict(String),
    /// The body could not be read (413 when too large).
    Body(BytesRejection),
    /// The server failed; the details go to the log, not to the caller: 500.
    Internal(ServerError),
    /// Over the request limits (docs/server.md): 503.
    Unavailable(&'static str),
    /// The database was busy with another writer for longer than it waits
    /// (nothing was written): 503 with `Retry-After`, which agents honour
    /// by retrying.
    Busy,
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        if e.is_transient() {
            tracing::warn!(
                "a write waited longer than the busy timeout for another writer; answered 503, to be retried: {e}"
            );
            ApiError::Busy
        } else {
            ApiError::Internal(e)
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        ApiError::Body(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::Unauthenticated(why) => (StatusCode::UNAUTHORIZED, (*why).to_owned()),
            ApiError::BadIdToken(why) => (StatusCode::UNAUTHORIZED, why.clone()),
            ApiError::ForbiddenBecause(why) => (StatusCode::FORBIDDEN, why.clone()),
            ApiError::Forbidden(role) => (
                StatusCode::FORBIDDEN,
                format!("a token with the role `{role}` may not do this"),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such resource".to_owned()),
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
            ApiError::Body(e) => (e.status(), e.body_text()),
            ApiError::Unavailable(why) => (StatusCode::SERVICE_UNAVAILABLE, (*why).to_owned()),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is busy with other writes; nothing was written: try again".to_owned(),
            ),
            ApiError::Internal(e) => {
                tracing::error!("request failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server's log has the details".to_owned(),
                )
            }
        };
        let body = Json(serde_json::json!({
            "error": { "status": status.as_u16(), "message": message }
        }));
        let mut response = (status, body).into_response();
        if let ApiError::Busy = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Internal(e) = &self {
            crate::metrics::note_failure(&mut response, e);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;

    use super::*;
    use crate::role::Role;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_write_that_waits_out_another_writer_is_a_503_to_retry_not_a_500() {
        let state = tempfile::tempdir().unwrap();
        let url = crate::sqlite_url(&state.path().join("server.db"));
        let db = Database::open(&url).await.unwrap();
        // Another writer (another server process, `server token create`)
        // holds SQLite's write lock past the pool's busy timeout.
        let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let failed = token::create(&mut conn, Role::Viewer, "late", None, None)
            .await
            .unwrap_err();
        assert!(failed.is_transient(), "{failed}");
        let answer = ApiError::from(failed).into_response();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()[header::RETRY_AFTER], "1");
        sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
        // Once the other writer is done, the same write succeeds.
        token::create(&mut conn, Role::Viewer, "late", None, None)
            .await
            .unwrap();
        // Any other failure of the database stays a 500.
        let broken = sqlx::raw_sql("INSERT INTO no_such_table VALUES (1)")
            .execute(&mut *conn)
            .await
            .map_err(ServerError::from)
            .unwrap_err();
        assert!(!broken.is_transient(), "{broken}");
        assert_eq!(
            ApiError::from(broken).into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

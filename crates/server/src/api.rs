//! The HTTP API under `/api/v1`: bearer-token authentication, the role
//! table's verdict, JSON in and out.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sqlx::Row;
use tokio::net::TcpListener;

use crate::clock::rfc3339;
use crate::role::{Permission, Role};
use crate::{Database, ServerError, token};

/// The OpenAPI 3 document of what this module serves, written by hand
/// next to it: change both together (a test requests every documented path).
const OPENAPI: &str = include_str!("openapi.json");

/// The fleet server: a bound listener and the database it answers from.
pub struct Server {
    listener: TcpListener,
    database: Database,
}

impl Server {
    /// Binds `address` (port 0 picks a free one).
    pub async fn bind(address: SocketAddr, database: Database) -> Result<Server, ServerError> {
        let listener = TcpListener::bind(address).await?;
        Ok(Server { listener, database })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves requests until `shutdown` completes, then finishes the
    /// requests in flight and closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let router = router(self.database.clone());
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.database.close().await;
        Ok(())
    }
}

/// Every route.
fn router(database: Database) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/hosts", get(hosts))
        .fallback(not_found)
        .with_state(database)
}

/// A host as `GET /api/v1/hosts` lists it.
#[derive(Debug, serde::Serialize)]
struct HostSummary {
    name: String,
    /// RFC 3339; `null` before its first push.
    last_seen: Option<String>,
}

async fn hosts(State(db): State<Database>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let rows = sqlx::query("SELECT name, last_seen_at FROM hosts ORDER BY name")
        .fetch_all(db.pool())
        .await
        .map_err(ServerError::from)?;
    let hosts = rows
        .iter()
        .map(|row| {
            Ok(HostSummary {
                name: row.try_get("name")?,
                last_seen: row.try_get::<Option<i64>, _>("last_seen_at")?.map(rfc3339),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(ServerError::from)?;
    Ok(Json(hosts).into_response())
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

/// The role of the request's bearer token, if it may do `permission`.
async fn authorise(
    db: &Database,
    headers: &HeaderMap,
    permission: Permission,
) -> Result<Role, ApiError> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret)
        .ok_or(ApiError::Unauthenticated(
            "send `Authorization: Bearer TOKEN`",
        ))?;
    let role =
        token::authenticate(db.pool(), secret.trim())
            .await?
            .ok_or(ApiError::Unauthenticated(
                "the token is unknown, expired or revoked",
            ))?;
    if role.may(permission) {
        Ok(role)
    } else {
        Err(ApiError::Forbidden(role))
    }
}

/// A request the API refuses or could not answer; the body is
/// `{"error": {"status": N, "message": "…"}}`.
#[derive(Debug)]
enum ApiError {
    /// No token, or not a live one: 401.
    Unauthenticated(&'static str),
    /// A live token whose role may not do this: 403.
    Forbidden(Role),
    /// No such route: 404.
    NotFound,
    /// The server failed; the details go to the log, not to the caller: 500.
    Internal(ServerError),
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::Unauthenticated(why) => (StatusCode::UNAUTHORIZED, (*why).to_owned()),
            ApiError::Forbidden(role) => (
                StatusCode::FORBIDDEN,
                format!("a token with the role `{role}` may not do this"),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such resource".to_owned()),
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
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

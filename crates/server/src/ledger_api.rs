//! The server's ledger over HTTP: `GET /api/v1/ledger` pages through its
//! entries with the latest signed checkpoint, and `GET /api/v1/ledger/proof`
//! proves one entry's inclusion (docs/server.md, "The server's ledger").

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};

use crate::Database;
use crate::api::{ApiError, authorise};
use crate::policy::Governance;
use crate::role::Permission;

/// Entries a page holds when `limit` is not given.
const DEFAULT_PAGE: u64 = 100;

/// The routes; they take the [`Governance`] (its ledger) from a request
/// extension.
pub(crate) fn routes() -> Router<Database> {
    Router::new()
        .route("/api/v1/ledger", get(page))
        .route("/api/v1/ledger/proof", get(proof))
}

/// `GET /api/v1/ledger[?after=N][&limit=M]`.
async fn page(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let [after, limit] = numbers(raw.as_deref(), ["after", "limit"])?;
    let page = governance
        .ledger
        .page(after.unwrap_or(0), limit.unwrap_or(DEFAULT_PAGE))
        .await?;
    Ok(Json(page).into_response())
}

/// `GET /api/v1/ledger/proof?index=N[&size=M]`.
async fn proof(
    State(db): State<Database>,
    Extension(governance): Extension<Arc<Governance>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorise(&db, &headers, Permission::ReadFleet).await?;
    let [index, size] = numbers(raw.as_deref(), ["index", "size"])?;
    let index = index.ok_or_else(|| ApiError::BadRequest("give index=N".to_owned()))?;
    match governance.ledger.proof(index, size).await? {
        Ok(proof) => Ok(Json(proof).into_response()),
        Err(why) => Err(ApiError::BadRequest(why)),
    }
}

/// The query parameters `names` of `raw`, each a whole number if given;
/// others are ignored, one given twice is refused.
fn numbers<const N: usize>(
    raw: Option<&str>,
    names: [&str; N],
) -> Result<[Option<u64>; N], ApiError> {
    let mut values = [None; N];
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(slot) = names.iter().position(|n| *n == name) else {
            continue;
        };
        if values[slot].is_some() {
            return Err(ApiError::BadRequest(format!(
                "{name} is given more than once"
            )));
        }
        let number = value.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("{name} must be a whole number, not `{value}`"))
        })?;
        values[slot] = Some(number);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_whole_numbers_given_once() {
        assert_eq!(
            numbers(Some("limit=5&x=y&after=2"), ["after", "limit"]).unwrap(),
            [Some(2), Some(5)]
        );
        assert_eq!(numbers(None, ["index"]).unwrap(), [None]);
        assert!(numbers(Some("after=-1"), ["after"]).is_err());
        assert!(numbers(Some("after=1&after=2"), ["after"]).is_err());
    }
}

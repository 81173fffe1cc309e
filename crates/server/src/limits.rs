//! What one server takes on at a time ([`Limits`]): at most `max_requests`
//! requests in flight, each answered within `request_timeout`. A request
//! over the cap is answered 503 at once rather than queued, so a flood
//! cannot pile up unbounded work or memory; the agents keep their pushes in
//! their outbox and send them again. A request over its time is dropped
//! (its database transaction rolled back) and answered 503.

use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::error::Elapsed;

use crate::api::ApiError;
use crate::config::Limits;

/// Wraps every route of `router` in the limits. The cap is one count for
/// the whole router (not one per route), and the timeout runs inside it:
/// a slot is held at most `request_timeout`.
pub(crate) fn layer(router: Router, limits: Limits) -> Router {
    let timeout = limits.request_timeout;
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e: BoxError| async move {
                refused(&e, timeout)
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_requests))
            .timeout(timeout),
    )
}

/// The answer to a request the limits stopped.
fn refused(e: &BoxError, timeout: Duration) -> Response {
    if e.is::<Overloaded>() {
        ApiError::Unavailable("the server is serving as many requests as it may; try again")
            .into_response()
    } else if e.is::<Elapsed>() {
        tracing::warn!("a request took longer than {timeout:?} and was dropped");
        ApiError::Unavailable("the request took longer than the server's request_timeout")
            .into_response()
    } else {
        tracing::error!("request failed: {e}");
        ApiError::Unavailable("the request failed; the server's log has the details")
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router whose one route takes `work` to answer, under `limits`.
    fn slow(work: Duration, limits: Limits) -> Router {
        let route = Router::new().route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(work).await;
                "done"
            }),
        );
        layer(route, limits)
    }

    async fn status(router: Router) -> StatusCode {
        let request = Request::get("/slow").body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_request_past_its_time_gets_503() {
        let limits = Limits {
            request_timeout: Duration::from_millis(100),
            max_requests: 4,
        };
        let started = std::time::Instant::now();
        let got = status(slow(Duration::from_secs(5), limits)).await;
        assert_eq!(got, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let quick = status(slow(Duration::from_millis(1), limits)).await;
        assert_eq!(quick, StatusCode::OK);
    }

    #[tokio::test]
    async fn requests_over_the_cap_get_503_at_once() {
        let limits = Limits {
            request_timeout: Duration::from_secs(10),
            max_requests: 2,
        };
        let router = slow(Duration::from_millis(500), limits);
        let statuses = three_at_once(router).await;
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let busy = statuses
            .iter()
            .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        assert_eq!((ok, busy), (2, 1), "{statuses:?}");
    }

    /// Three requests at once to clones of `router`, as axum serves
    /// connections.
    async fn three_at_once(router: Router) -> Vec<StatusCode> {
        let (a, b, c) = tokio::join!(
            status(router.clone()),
            status(router.clone()),
            status(router)
        );
        vec![a, b, c]
    }
}

//! The server's Prometheus metrics and the `/metrics` endpoint, served on
//! a listener of its own (`metrics` in server.toml) so that the API's port
//! can face the fleet while the metrics stay on loopback, and a scrape
//! needs no token.
//!
//! Every API request passes through `track`, which counts it by route and
//! status class and times it; a push's result and a database failure reach
//! `track` as marks in the response's extensions (`PushResult`,
//! `DatabaseFailure`), set where they are known. The host gauges are read
//! from the database at each scrape: one `COUNT` over `hosts`, cheap next to
//! the pushes a fleet sends between two scrapes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use portreeve_core::prometheus::prometheus_text;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::{Database, ServerError};

/// One label.
type Label = (&'static str, String);
/// Histograms of one label, each made with [`duration_histogram`].
type Durations = Family<[Label; 1], Histogram, fn() -> Histogram>;

/// The route pushes arrive on.
const PUSH_ROUTE: &str = "/api/v1/push";
/// The `route` of requests no route matched.
const UNMATCHED: &str = "unmatched";
/// The `reason` label values of `portreeve_server_pushes_refused_total`.
const REFUSALS: [&str; 4] = ["too_large", "unauthenticated", "invalid", "unavailable"];
/// The Prometheus text format, served by default.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// OpenMetrics, served to scrapers whose `Accept` names it.
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A push's fate, marked on the handler's answer for [`track`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushResult {
    /// Stored.
    Accepted,
    /// Its seq was stored before: nothing stored.
    Duplicate,
}

/// Marks an answer that failed because the database did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseFailure;

/// Marks `response` as a database failure when `error` is one.
pub(crate) fn note_failure(response: &mut Response, error: &ServerError) {
    if matches!(error, ServerError::Database(_) | ServerError::Corrupt(_)) {
        response.extensions_mut().insert(DatabaseFailure);
    }
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// `portreeve_server_requests_total{route,status}`; `status` is the
    /// class, `2xx` … `5xx`.
    requests: Family<[Label; 2], Counter>,
    /// `portreeve_server_request_duration_seconds{route}`.
    durations: Durations,
    /// `portreeve_server_pushes_total{result}`: `accepted` or `duplicate`.
    pushes: Family<[Label; 1], Counter>,
    /// `portreeve_server_pushes_refused_total{reason}`.
    refused: Family<[Label; 1], Counter>,
    /// `portreeve_server_hosts{state}`: `enrolled` (not revoked) or
    /// `revoked`, as of the latest scrape.
    hosts: Family<[Label; 1], Gauge>,
    /// `portreeve_server_database_errors_total`.
    database_errors: Counter,
}

/// Request durations from 1 ms to about 16 s, doubling: the push target is
/// p99 under 100 ms, so the buckets are finest there.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set, registered under the `portreeve_server` prefix, with
    /// the series of known labels at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("portreeve_server");
        let m = Metrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            pushes: Family::default(),
            refused: Family::default(),
            hosts: Family::default(),
            database_errors: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "API requests answered, by route and status class",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer an API request, by route",
            m.durations.clone(),
        );
        registry.register(
            "pushes",
            "Agent pushes answered 200: accepted (stored) or duplicate (stored before)",
            m.pushes.clone(),
        );
        registry.register(
            "pushes_refused",
            "Agent pushes refused, by reason",
            m.refused.clone(),
        );
        registry.register(
            "hosts",
            "Enrolled hosts, by state (enrolled or revoked)",
            m.hosts.clone(),
        );
        registry.register(
            "database_errors",
            "Requests and scrapes that failed because the database did",
            m.database_errors.clone(),
        );
        for result in ["accepted", "duplicate"] {
            m.pushes
                .get_or_create(&[("result", result.into())])
                .inc_by(0);
        }
        for reason in REFUSALS {
            m.refused
                .get_or_create(&[("reason", reason.into())])
                .inc_by(0);
        }
        for state in ["enrolled", "revoked"] {
            m.hosts.get_or_create(&[("state", state.into())]).set(0);
        }
        Metrics { registry, ..m }
    }

    /// Counts one answered request.
    fn observe(&self, route: &str, response: &Response, took: Duration) {
        let status = response.status();
        let class = format!("{}xx", status.as_u16() / 100);
        self.requests
            .get_or_create(&[("route", route.to_owned()), ("status", class)])
            .inc();
        self.durations
            .get_or_create(&[("route", route.to_owned())])
            .observe(took.as_secs_f64());
        if response.extensions().get::<DatabaseFailure>().is_some() {
            self.database_errors.inc();
        }
        if route == PUSH_ROUTE {
            self.observe_push(response);
        }
    }

    fn observe_push(&self, response: &Response) {
        let label = |v: &'static str, k| [(k, v.to_owned())];
        match response.extensions().get::<PushResult>() {
            Some(PushResult::Accepted) => self.pushes.get_or_create(&label("accepted", "result")),
            Some(PushResult::Duplicate) => self.pushes.get_or_create(&label("duplicate", "result")),
            None => {
                let reason = match response.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    StatusCode::UNAUTHORIZED => "unauthenticated",
                    StatusCode::BAD_REQUEST => "invalid",
                    // Timed out, the server busy, or the database failing.
                    _ => "unavailable",
                };
                self.refused.get_or_create(&label(reason, "reason"))
            }
        }
        .inc();
    }

    /// Reads the host gauges from the database.
    async fn refresh(&self, database: &Database) -> Result<(), ServerError> {
        let (all, revoked): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(revoked_at) FROM hosts")
                .fetch_one(database.pool())
                .await?;
        for (state, n) in [("enrolled", all - revoked), ("revoked", revoked)] {
            self.hosts.get_or_create(&[("state", state.into())]).set(n);
        }
        Ok(())
    }

    /// The metrics in the OpenMetrics text format (1.0.0).
    fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Wraps every route of `router` in [`track`].
pub(crate) fn layer(router: Router, metrics: Arc<Metrics>) -> Router {
    router.layer(middleware::from_fn_with_state(metrics, track))
}

/// Times and counts each request by its route's pattern
/// (`/api/v1/hosts/{id}`, never the id: the series stay few).
async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(&route, &response, started.elapsed());
    response
}

/// The metrics listener's routes: `GET /metrics` (and `HEAD`).
pub(crate) fn router(metrics: Arc<Metrics>, database: Database) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, database))
}

/// `GET /metrics`: Prometheus text, or OpenMetrics when asked for, as the
/// agent answers.
async fn scrape(
    State((metrics, database)): State<(Arc<Metrics>, Database)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = metrics.refresh(&database).await {
        // The other series are still worth serving; the gauges keep their
        // last reading.
        tracing::warn!("cannot count the hosts for /metrics: {e}");
        metrics.database_errors.inc();
    }
    let openmetrics = metrics.render_openmetrics();
    let asked_for_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, text) = if asked_for_openmetrics {
        (OPENMETRICS_TEXT, openmetrics)
    } else {
        (PROMETHEUS_TEXT, prometheus_text(&openmetrics))
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: StatusCode, mark: Option<PushResult>) -> Response {
        let mut response = status.into_response();
        if let Some(mark) = mark {
            response.extensions_mut().insert(mark);
        }
        response
    }

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn pushes_are_counted_by_result_and_refusal_reason() {
        let m = Metrics::new();
        let took = Duration::from_millis(3);
        m.observe(
            PUSH_ROUTE,
            &answer(StatusCode::OK, Some(PushResult::Accepted)),
            took,
        );
        m.observe(
            PUSH_ROUTE,
            &answer(StatusCode::OK, Some(PushResult::Accepted)),
            took,
        );
        m.observe(
            PUSH_ROUTE,
            &answer(StatusCode::OK, Some(PushResult::Duplicate)),
            took,
        );
        m.observe(
            PUSH_ROUTE,
            &answer(StatusCode::PAYLOAD_TOO_LARGE, None),
            took,
        );
        m.observe(PUSH_ROUTE, &answer(StatusCode::UNAUTHORIZED, None), took);
        let mut failed = answer(StatusCode::INTERNAL_SERVER_ERROR, None);
        failed.extensions_mut().insert(DatabaseFailure);
        m.observe(PUSH_ROUTE, &failed, took);
        m.observe("/api/v1/hosts", &answer(StatusCode::FORBIDDEN, None), took);
        let text = prometheus_text(&m.render_openmetrics());
        for (series, value) in [
            ("portreeve_server_pushes_total{result=\"accepted\"}", "2"),
            ("portreeve_server_pushes_total{result=\"duplicate\"}", "1"),
            (
                "portreeve_server_pushes_refused_total{reason=\"too_large\"}",
                "1",
            ),
            (
                "portreeve_server_pushes_refused_total{reason=\"unauthenticated\"}",
                "1",
            ),
            (
                "portreeve_server_pushes_refused_total{reason=\"invalid\"}",
                "0",
            ),
            (
                "portreeve_server_pushes_refused_total{reason=\"unavailable\"}",
                "1",
            ),
            ("portreeve_server_database_errors_total", "1"),
            (
                "portreeve_server_requests_total{route=\"/api/v1/push\",status=\"2xx\"}",
                "3",
            ),
            (
                "portreeve_server_requests_total{route=\"/api/v1/push\",status=\"4xx\"}",
                "2",
            ),
            (
                "portreeve_server_requests_total{route=\"/api/v1/hosts\",status=\"4xx\"}",
                "1",
            ),
            (
                "portreeve_server_request_duration_seconds_count{route=\"/api/v1/push\"}",
                "6",
            ),
            (
                "portreeve_server_request_duration_seconds_bucket{le=\"0.004\",route=\"/api/v1/push\"}",
                "6",
            ),
            (
                "portreeve_server_request_duration_seconds_bucket{le=\"0.002\",route=\"/api/v1/push\"}",
                "0",
            ),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
    }
}

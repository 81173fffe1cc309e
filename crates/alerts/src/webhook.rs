//! The webhook sink: each alert as a JSON POST.
//!
//! The client is ureq: blocking (the sink runs on its own thread, so an
//! async client would bring a second runtime for nothing), small, with
//! rustls for https, and already the workspace's HTTP client for RDAP.
//! A 5xx answer or a transport failure (refused, reset, timed out) is retried
//! with exponential backoff and jitter; a 4xx is the receiver saying the
//! request itself is wrong, and sending it again would not change that.

use std::thread;
use std::time::Duration;

use serde::Serialize;

use crate::alert::Alert;
use crate::sink::{Sink, SinkError};

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// No wait is longer than this.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first): the doubled
    /// backoff, capped, plus a random part of up to half of it so that many
    /// agents retrying against one receiver spread out. Each wait is thus at
    /// least the doubled base, and longer than any earlier one until the cap.
    pub fn delay(&self, retry: u32) -> Duration {
        let base = self
            .backoff
            .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let jitter_ms = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
        base + Duration::from_millis(fastrand::u64(0..=jitter_ms))
    }
}

/// The POST body: the alert with a severity and a line for humans.
#[derive(Serialize)]
struct Body<'a> {
    source: &'static str,
    severity: &'static str,
    message: String,
    alert: &'a Alert,
}

/// The JSON the webhook posts for `alert`.
pub fn body(alert: &Alert) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Body {
        source: "portreeve",
        severity: alert.severity().as_str(),
        message: alert.message(),
        alert,
    })
}

/// How one attempt failed.
enum Failure {
    /// A 5xx answer or a transport error: worth another attempt.
    Retryable(String),
    /// Any other non-2xx status: final.
    Refused(u16),
}

/// An HTTP agent for posting: each request bounded by `timeout`, and an
/// error status an answer to read rather than an error.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` as JSON to `url` with `headers`, retrying 5xx answers and
/// transport failures as `retry` says; the body of the 2xx answer. The
/// webhook and the Splunk HTTP Event Collector client both post this way.
pub(crate) fn post_retrying(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    retry: &RetryPolicy,
) -> Result<String, SinkError> {
    let attempt = || {
        let mut request = agent.post(url).content_type("application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                match status {
                    200..=299 => response
                        .body_mut()
                        .read_to_string()
                        .map_err(|e| Failure::Retryable(e.to_string())),
                    500..=599 => Err(Failure::Retryable(format!("HTTP status {status}"))),
                    _ => Err(Failure::Refused(status)),
                }
            }
            Err(e) => Err(Failure::Retryable(e.to_string())),
        }
    };
    let mut retries = 0;
    loop {
        match attempt() {
            Ok(answer) => return Ok(answer),
            Err(Failure::Refused(status)) => return Err(SinkError::Refused(status)),
            Err(Failure::Retryable(last)) if retries >= retry.retries => {
                return Err(SinkError::GaveUp {
                    attempts: retries + 1,
                    last,
                });
            }
            Err(Failure::Retryable(_)) => {
                thread::sleep(retry.delay(retries));
                retries += 1;
            }
        }
    }
}

/// Posts alerts to one URL.
pub struct WebhookSink {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
}

impl WebhookSink {
    /// A sink posting to `url` with `headers` (an `Authorization: Bearer`
    /// among them when configured), each attempt bounded by `timeout`.
    pub fn new(
        url: String,
        headers: Vec<(String, String)>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> WebhookSink {
        WebhookSink {
            agent: agent(timeout),
            url,
            headers,
            retry,
        }
    }
}

impl Sink for WebhookSink {
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let body = body(alert).map_err(std::io::Error::other)?;
        post_retrying(&self.agent, &self.url, &self.headers, &body, &self.retry).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn a_usage_anomaly_is_posted_with_its_type_port_hour_and_range() {
        let body: serde_json::Value =
            serde_json::from_slice(&body(&examples::usage_anomaly()).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "source": "portreeve",
                "severity": "medium",
                "message": "8080/tcp: 240 new connections in the hour from 2026-05-28T20:00:00Z, \
                            10 to 25 expected: a burst many times the usual",
                "alert": {
                    "type": "usage-anomaly",
                    "protocol": "tcp",
                    "port": 8080,
                    "start": "2026-05-28T20:00:00Z",
                    "observed": 240,
                    "expected_low": 10,
                    "expected_high": 25,
                    "kind": "burst"
                }
            })
        );
        // And it reads back: a receiver written in Rust can use the type.
        let alert: Alert = serde_json::from_value(body["alert"].clone()).unwrap();
        assert_eq!(alert, examples::usage_anomaly());
    }

    #[test]
    fn delays_double_with_bounded_jitter_and_stop_at_the_cap() {
        let policy = RetryPolicy {
            retries: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d: Vec<u128> = (0..6).map(|r| policy.delay(r).as_millis()).collect();
            assert!((100..=150).contains(&d[0]), "{d:?}");
            assert!((200..=300).contains(&d[1]), "{d:?}");
            assert!((400..=600).contains(&d[2]), "{d:?}");
            assert!((800..=1200).contains(&d[3]), "{d:?}");
            assert!((1000..=1500).contains(&d[5]), "{d:?}");
        }
        assert!(policy.delay(40) <= Duration::from_millis(1500));
    }
}

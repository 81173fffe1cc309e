//! A client of Splunk's HTTP Event Collector (HEC) for `portreeve export`.
//!
//! The protocol, as Splunk documents it for the `/services/collector/event`
//! endpoint: every request carries `Authorization: Splunk <token>`; its body
//! is one or more event objects written one after another (not a JSON
//! array), each `{"time": <epoch seconds>, "host", "source", "sourcetype",
//! "event": {…}}`. With indexer acknowledgement enabled on the token, every
//! request also carries a channel (`X-Splunk-Request-Channel`, a GUID), the
//! answer names an `ackId`, and the client asks
//! `/services/collector/ack?channel=…` with `{"acks": [ids]}` until each id
//! answers `true` — only then is the batch known to be indexed.
//!
//! Posting reuses the webhook's retries: a 5xx answer or a failed connection
//! is retried with exponential backoff and jitter; any other error status
//! is final. A batch the collector refused with a 5xx was not accepted, so
//! sending it again does not duplicate it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::export::Record;
use crate::sink::SinkError;
use crate::webhook::{RetryPolicy, agent, post_retrying};

/// The sourcetype of exported events: JSON whose fields are ECS.
pub const SOURCETYPE: &str = "portreeve:ecs";

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct HecOptions {
    /// The collector's base URL, e.g. `https://splunk.example:8088`.
    pub url: String,
    /// The HEC token.
    pub token: String,
    /// Events per request (at least one).
    pub batch: usize,
    /// Each request's time limit.
    pub timeout: Duration,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Indexer acknowledgement, when the token has it enabled.
    pub ack: Option<AckOptions>,
}

/// How acknowledgements are waited for.
#[derive(Debug, Clone)]
pub struct AckOptions {
    /// The channel (a GUID) every request names.
    pub channel: String,
    /// How long to wait for every batch to be acknowledged.
    pub timeout: Duration,
    /// The pause between two queries of the ack endpoint.
    pub poll: Duration,
}

/// What was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HecSummary {
    /// Events the collector accepted.
    pub events: usize,
    /// Requests that carried them (not counting retries).
    pub batches: usize,
    /// Batches the indexers acknowledged (0 without acknowledgement).
    pub acknowledged: usize,
}

/// Why an export to the collector failed.
#[derive(Debug, thiserror::Error)]
pub enum HecError {
    /// A batch was not accepted; the batches before it were.
    #[error("batch {batch} of events {first}..{end} was not accepted by {url}: {source}")]
    Post {
        /// The batch's number, from 1.
        batch: usize,
        /// Its first event's position, from 0.
        first: usize,
        /// One past its last event.
        end: usize,
        /// The endpoint.
        url: String,
        /// The failure after retries.
        source: SinkError,
    },
    /// The acknowledgement endpoint could not be asked.
    #[error("cannot ask {url} for acknowledgements: {source}")]
    Ack {
        /// The endpoint.
        url: String,
        /// The failure after retries.
        source: SinkError,
    },
    /// The collector answered something that is not HEC's answer.
    #[error("{url} answered {answer:?}, not an HEC answer{expected}")]
    Answer {
        /// The endpoint.
        url: String,
        /// What it answered.
        answer: String,
        /// What was missing, e.g. ` with an ackId`.
        expected: &'static str,
    },
    /// Some batches were accepted but never acknowledged in time: they may
    /// not have been indexed.
    #[error("{} batches not acknowledged within {timeout:?} (ackIds {pending:?})", pending.len())]
    NotAcknowledged {
        /// The ids still unacknowledged.
        pending: Vec<u64>,
        /// The time waited.
        timeout: Duration,
    },
}

/// One event as HEC takes it: the record's time in epoch seconds (with
/// milliseconds), this host, `portreeve` as source, [`SOURCETYPE`], and
/// the ECS document as the event.
pub fn event(record: &Record) -> Value {
    json!({
        "time": record.time.as_millisecond() as f64 / 1000.0,
        "host": record.host,
        "source": "portreeve",
        "sourcetype": SOURCETYPE,
        "event": crate::ecs::record_document(record),
    })
}

/// A random channel id in the GUID form HEC asks for.
pub fn new_channel() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).expect("a hex digit"))
            .collect()
    };
    format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
}

/// Sends events to one collector.
pub struct HecClient {
    agent: ureq::Agent,
    options: HecOptions,
    headers: Vec<(String, String)>,
}

impl HecClient {
    /// A client for `options`.
    pub fn new(options: HecOptions) -> HecClient {
        let mut headers = vec![(
            "Authorization".to_owned(),
            format!("Splunk {}", options.token),
        )];
        if let Some(ack) = &options.ack {
            headers.push(("X-Splunk-Request-Channel".to_owned(), ack.channel.clone()));
        }
        HecClient {
            agent: agent(options.timeout),
            options,
            headers,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.options.url.trim_end_matches('/'))
    }

    /// Sends `records` in batches, in order, and with acknowledgement
    /// waits until every batch is acknowledged. Stops at the first batch
    /// that is not accepted.
    pub fn send(&self, records: &[Record]) -> Result<HecSummary, HecError> {
        let url = self.endpoint("/services/collector/event");
        let mut pending = BTreeSet::new();
        let mut summary = HecSummary {
            events: 0,
            batches: 0,
            acknowledged: 0,
        };
        for (n, batch) in records.chunks(self.options.batch.max(1)).enumerate() {
            let mut body = Vec::new();
            for record in batch {
                body.extend_from_slice(event(record).to_string().as_bytes());
                body.push(b'\n');
            }
            let answer =
                post_retrying(&self.agent, &url, &self.headers, &body, &self.options.retry)
                    .map_err(|source| HecError::Post {
                        batch: n + 1,
                        first: summary.events,
                        end: summary.events + batch.len(),
                        url: url.clone(),
                        source,
                    })?;
            if self.options.ack.is_some() {
                let id = serde_json::from_str::<Value>(&answer)
                    .ok()
                    .and_then(|v| v["ackId"].as_u64())
                    .ok_or_else(|| HecError::Answer {
                        url: url.clone(),
                        answer: answer.clone(),
                        expected: " with an ackId",
                    })?;
                pending.insert(id);
            }
            summary.events += batch.len();
            summary.batches += 1;
        }
        if let Some(ack) = &self.options.ack {
            summary.acknowledged = self.wait_for_acks(ack, pending)?;
        }
        Ok(summary)
    }

    /// Asks the ack endpoint about `pending` until all are acknowledged or
    /// `ack.timeout` has passed; how many were acknowledged.
    fn wait_for_acks(
        &self,
        ack: &AckOptions,
        mut pending: BTreeSet<u64>,
    ) -> Result<usize, HecError> {
        let url = self.endpoint(&format!("/services/collector/ack?channel={}", ack.channel));
        let total = pending.len();
        let deadline = Instant::now() + ack.timeout;
        while !pending.is_empty() {
            let body = json!({ "acks": pending }).to_string();
            let answer = post_retrying(
                &self.agent,
                &url,
                &self.headers,
                body.as_bytes(),
                &self.options.retry,
            )
            .map_err(|source| HecError::Ack {
                url: url.clone(),
                source,
            })?;
            let acks = serde_json::from_str::<Value>(&answer)
                .ok()
                .and_then(|v| v["acks"].as_object().cloned())
                .ok_or_else(|| HecError::Answer {
                    url: url.clone(),
                    answer: answer.clone(),
                    expected: " with acks",
                })?;
            pending.retain(|id| acks.get(&id.to_string()) != Some(&Value::Bool(true)));
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(HecError::NotAcknowledged {
                    pending: pending.into_iter().collect(),
                    timeout: ack.timeout,
                });
            }
            std::thread::sleep(ack.poll);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_guids() {
        let channel = new_channel();
        let groups: Vec<usize> = channel.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{channel}");
        assert!(channel.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}

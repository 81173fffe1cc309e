//! The agent's requests to the server: enroll once, push often, pull the
//! fleet policy assigned to the host.
//!
//! Blocking (ureq), because the push thread has nothing else to do while
//! it waits, with short timeouts, so that stopping the agent never waits
//! long on a server that does not answer.

use std::time::Duration;

use jiff::Timestamp;
use portreeve_fleet_protocol::{
    EnrollRequest, EnrollResponse, HOST_HEADER, PolicyAssignment, PolicyPull, PushResponse,
    SIGNATURE_HEADER,
};

use super::identity::HostKey;

/// Connecting gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A whole request gives up after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The server was not reached, or did not answer in time, or answered
    /// that it cannot now (5xx, 429): worth trying again later.
    #[error("{0}")]
    Unreachable(String),
    /// The server refused the request itself (4xx): trying again sends
    /// the same refused request.
    #[error("the server answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
}

impl RequestError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, RequestError::Unreachable(_))
    }
}

/// The server's API at one base URL.
pub struct Client {
    base: String,
    /// Keeps connections open between requests (pushes).
    agent: ureq::Agent,
    /// Opens a new connection for every request (pulls): a pull that
    /// confirms a new ruleset must show that the server can be reached
    /// under it, which a connection opened before it was installed does
    /// not (the firewall lets established connections through).
    fresh: ureq::Agent,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Client {
        let agent = |idle: usize| {
            let config = ureq::Agent::config_builder()
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_global(Some(REQUEST_TIMEOUT))
                // Only the configured server is asked, whatever the
                // environment's proxy variables say.
                .proxy(None)
                .http_status_as_error(false)
                .max_idle_connections(idle)
                .user_agent(concat!("portreeve-agent/", env!("CARGO_PKG_VERSION")))
                .build();
            ureq::Agent::new_with_config(config)
        };
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent: agent(10),
            fresh: agent(0),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /api/v1/enroll` with the enroll token: the host id and the
    /// server's key.
    pub fn enroll(
        &self,
        token: &str,
        request: &EnrollRequest,
    ) -> Result<EnrollResponse, RequestError> {
        let body = serde_json::to_vec(request).expect("a request serializes");
        let answer = self
            .agent
            .post(format!("{}/api/v1/enroll", self.base))
            .header("authorization", format!("Bearer {token}"))
            .content_type("application/json")
            .send(&body[..]);
        let text = expect(answer, 201)?;
        serde_json::from_str::<EnrollResponse>(&text)
            .map_err(|e| RequestError::Unreachable(format!("the enroll answer is not JSON: {e}")))
    }

    /// `POST /api/v1/push` with `body` signed by `key`: whether the server
    /// stored it (false: it had this seq already).
    pub fn push(&self, host_id: &str, key: &HostKey, body: &[u8]) -> Result<bool, RequestError> {
        let text = self.signed_post(&self.agent, "push", host_id, key, body)?;
        serde_json::from_str::<PushResponse>(&text)
            .map(|r| r.accepted)
            .map_err(|e| RequestError::Unreachable(format!("the push answer is not JSON: {e}")))
    }

    /// `POST /api/v1/policy/pull`, signed like a push, on a new connection:
    /// the policy assigned to this host, if any.
    pub fn pull_policy(
        &self,
        host_id: &str,
        key: &HostKey,
    ) -> Result<PolicyAssignment, RequestError> {
        let request = PolicyPull {
            host_id: host_id.to_string(),
            sent_at: Timestamp::now(),
        };
        let body = serde_json::to_vec(&request).expect("a request serializes");
        let text = self.signed_post(&self.fresh, "policy/pull", host_id, key, &body)?;
        serde_json::from_str::<PolicyAssignment>(&text).map_err(|e| {
            RequestError::Unreachable(format!("the pull answer is not a policy assignment: {e}"))
        })
    }

    /// `POST /api/v1/{path}` through `agent` with `body` signed by `key`
    /// (the host and signature headers): the answer's body, on 200.
    fn signed_post(
        &self,
        agent: &ureq::Agent,
        path: &str,
        host_id: &str,
        key: &HostKey,
        body: &[u8],
    ) -> Result<String, RequestError> {
        let answer = agent
            .post(format!("{}/api/v1/{path}", self.base))
            .header(HOST_HEADER, host_id)
            .header(SIGNATURE_HEADER, key.sign_base64(body))
            .content_type("application/json")
            .send(body);
        expect(answer, 200)
    }
}

/// The body of an answer with status `wanted`, or why there is none.
fn expect(
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    wanted: u16,
) -> Result<String, RequestError> {
    let mut answer = answer.map_err(|e| RequestError::Unreachable(e.to_string()))?;
    let status = answer.status().as_u16();
    let text = answer
        .body_mut()
        .read_to_string()
        .map_err(|e| RequestError::Unreachable(e.to_string()))?;
    match status {
        s if s == wanted => Ok(text),
        429 | 500..=599 => Err(RequestError::Unreachable(format!(
            "the server answered {status}: {}",
            error_message(&text)
        ))),
        _ => Err(RequestError::Refused {
            status,
            message: error_message(&text),
        }),
    }
}

/// The message of the server's `{"error": {"message": …}}`, or the text.
fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

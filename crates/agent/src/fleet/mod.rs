//! Joining a fleet server: the agent enrolls once with an enroll token,
//! then pushes its listeners, findings, drift and ledger head, signed by
//! its own key, through an outbox on disk that outlasts server outages
//! (docs/agent.md, "Joining a server"), and follows the fleet policy
//! assigned to it ("Fleet policy").
//!
//! Parts: the host's key and enrollment ([`identity`]), the outbox
//! ([`outbox`]), what a push says ([`assemble`]), the requests
//! ([`client`]), pulling, checking and applying the fleet policy
//! ([`policy_pull`]), and the push thread that ties them together
//! ([`pusher`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub mod assemble;
pub mod client;
pub mod identity;
pub mod outbox;
pub mod policy_pull;
pub mod pusher;

/// The `[server]` table of `agent.toml`, or `--server`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The server's base URL (`http://host:port`).
    pub url: String,
    /// The name the host enrolls under (default: the kernel's host name).
    pub host_name: Option<String>,
    /// The longest time between pushes (default 10 s); a change is pushed
    /// at once.
    pub push_interval: Duration,
    /// What enrolls the host the first time; ignored once it is enrolled.
    pub enroll_token: Option<EnrollToken>,
    /// How long a fleet policy's ruleset stays without reaching the server
    /// under it before the watchdog rolls it back (default 60 s).
    pub policy_confirm_within: Duration,
}

impl ServerConfig {
    /// The server at `url`, with the other settings at their defaults.
    pub fn new(url: &str) -> ServerConfig {
        ServerConfig {
            url: url.to_string(),
            host_name: None,
            push_interval: Duration::from_secs(10),
            enroll_token: None,
            policy_confirm_within: Duration::from_secs(60),
        }
    }
}

/// Where the enroll token comes from. Its text is never shown: not in
/// logs, not in `Debug`.
#[derive(Clone, PartialEq)]
pub enum EnrollToken {
    /// Given on the command line.
    Given(String),
    /// In a file (`enroll_token_file`), read when it is needed.
    File(PathBuf),
}

impl fmt::Debug for EnrollToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnrollToken::Given(_) => f.write_str("Given(<hidden>)"),
            EnrollToken::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl EnrollToken {
    /// The token's text.
    fn read(&self) -> Result<String, FleetError> {
        match self {
            EnrollToken::Given(token) => Ok(token.trim().to_string()),
            EnrollToken::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    FleetError::State(format!("enroll_token_file {}: {e}", path.display()))
                }),
        }
    }
}

/// Why the agent cannot take part in the fleet.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A file of `<state>/fleet` could not be read or written.
    #[error("{0}")]
    State(String),
    /// Enrolling failed for good.
    #[error("cannot enroll with {server}: {message}")]
    Enroll {
        /// The server.
        server: String,
        /// Why.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enroll_token_is_not_shown() {
        let config = ServerConfig {
            enroll_token: Some(EnrollToken::Given("prt_secret".into())),
            ..ServerConfig::new("http://127.0.0.1:8440")
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("prt_secret"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }
}

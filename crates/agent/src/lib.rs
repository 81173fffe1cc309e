//! `portreeve agent`, the long-running watcher of one host.
//!
//! The principal type in this crate is an [`Agent`]: [`Agent::run`] takes
//! an [`config::AgentConfig`], the host's [`portreeve_app::StateDir`] and a
//! shutdown future, starts the agent's threads, and joins them all when the
//! future completes — the library owns the loop, its caller decides what
//! shutdown means (SIGTERM for the CLI, a channel for a test).
//!
//! Its parts are usable and tested on their own: listener drift
//! ([`drift`]), new connections from conntrack ([`conntrack`]), the
//! listeners loop ([`daemon`]) and its history in the store ([`persist`]),
//! flow collection ([`collector`]), what follows a scan detection (alerts,
//! captures, source tracing: [`respond`]), reporting to a fleet server
//! ([`fleet`]), hours of a port's use implausible for it
//! ([`usage_anomalies`]), and the Prometheus metrics and their endpoint
//! ([`metrics`]). Lifecycle plans and reclaims are the use cases
//! of `portreeve-app`, which the agent calls from a thread of its own.
//!
//! # Example
//!
//! An agent that reads this namespace's listeners every 100 ms, serves no
//! metrics, and stops after half a second:
//!
//! ```
//! use std::time::Duration;
//!
//! use portreeve_agent::Agent;
//! use portreeve_agent::config::AgentConfig;
//! use portreeve_app::StateDir;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let state = StateDir::open(dir.path());
//! let config = AgentConfig {
//!     interval: Duration::from_millis(100),
//!     metrics: None,
//!     conntrack: false,
//!     ..AgentConfig::default()
//! };
//! let stop = async { tokio::time::sleep(Duration::from_millis(500)).await };
//! let report = Agent::run(&config, &state, stop).unwrap();
//! assert_eq!(report.flows.datagrams, 0);
//! // What it saw is in the state directory's store.
//! assert!(state.has_store());
//! ```

mod breakers;
pub mod collector;
pub mod config;
pub mod conntrack;
pub mod daemon;
pub mod drift;
pub mod fleet;
pub mod metrics;
pub mod nflog;
pub mod persist;
mod policy_cache;
pub mod respond;
mod runtime;
mod scan_watch;
mod service_manager;
pub mod source_tally;
pub mod usage_anomalies;

pub use runtime::{Agent, AgentError, AgentReport, CONNTRACK_QUEUE};

/// Whether a blocking read merely ended without data: its timeout passed
/// or a signal interrupted it. The agent's reading threads then look at
/// their stop flag and read again.
pub(crate) fn nothing_yet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

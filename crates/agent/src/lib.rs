//! The parts of `portreeve agent`, the long-running watcher: listener
//! drift ([`drift`]) and new connections from conntrack ([`conntrack`]).
//! Each is usable and tested on its own; the daemon wires them to the
//! store, the lifecycle rules and the metrics endpoint.

pub mod collector;
pub mod config;
pub mod conntrack;
pub mod daemon;
pub mod drift;
pub mod metrics;
pub mod persist;

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

//! Port lifecycle: whether each port is active, dormant or abandoned, and
//! what to do about the abandoned ones.
//!
//! Pure logic, no I/O: the agent reads usage from the kernel and its store,
//! and the policy from disk, then asks this crate what state each port is
//! in ([`classify`]) and what to reclaim ([`plan`]). Time comes in through a
//! [`Clock`], so tests drive a port through its whole life in microseconds.
//!
//! The states are computed from one instant per port — when it was last
//! used, or when it was first seen if never — and the thresholds the policy
//! sets for it ([`PortPolicy::resolve`]). [`State::Reclaimed`] is the one
//! exception: nothing in a port's usage says the firewall closed it, so it is
//! *recorded* (in the agent's store) and handed to [`plan`], never computed.

mod classify;
mod clock;
mod finding;
mod plan;
mod resolve;

pub use classify::{State, Thresholds, classify};
pub use clock::{Clock, ManualClock, SystemClock};
pub use finding::abandoned_findings;
pub use plan::{Action, Hold, PortInput, Recommendation, plan};
pub use resolve::{PortPolicy, allowed_ports};

//! The domain model every other portreeve crate speaks.
//!
//! Nothing here performs I/O: these are the nouns of port governance — a
//! [`ListeningSocket`] seen on a host, the [`PortRange`] a policy talks about,
//! the [`Severity`] and [`FindingKind`] of a [`Finding`]. Keeping them in one
//! small crate means the inventory adapter, the policy evaluator and the output
//! formats agree on one name for one concept, and the JSON contract documented
//! in `docs/json.md` is simply the serde form of these types.

mod finding;
mod port;
mod reach;
mod severity;
mod socket;
mod usage;

pub use finding::{Finding, FindingKind, PolicyLocation, PolicyRuleRef, SocketRef};
pub use port::{PortRange, PortRangeError, Proto, ProtoParseError};
pub use reach::{Observed, ObservedPort, ScanView};
pub use severity::{Severity, SeverityParseError};
pub use socket::{BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, ProcessInfo};
pub use usage::{PortKey, PortUsage};

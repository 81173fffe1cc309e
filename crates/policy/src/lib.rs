//! portreeve policies: the file format, its validation, and judging a host's
//! listening sockets against it.
//!
//! A policy says which ports may listen, reachable from which zones, owned by
//! which service, approved by whom and until when; which ports are banned
//! outright; and how findings are graded. [`parse_policy`] turns TOML into a
//! [`Policy`] or into located [`PolicyErrors`]; [`evaluate`] turns a policy
//! and an inventory into [`Finding`](portreeve_core::Finding)s, using the
//! built-in [`catalogue`] of well-known services. The format is documented in
//! `docs/policy.md`.

pub mod catalogue;
mod error;
mod evaluate;
mod model;
mod parse;
mod reconcile;
mod starter;

pub use error::{PolicyError, PolicyErrors};
pub use evaluate::evaluate;
pub use model::{
    BannedPorts, ChangeControl, DefaultAction, Defaults, Enforcement, GrantPolicy, Lifecycle,
    LifecycleOverride, LifecycleSettings, Limits, Policy, ReclaimMode, Rule, ServiceIdentity, Zone,
};
pub use parse::{FORMAT_VERSION, parse_duration, parse_policy};
pub use reconcile::{JoinedPort, Listening, Reachability, Reconciliation, reconcile};
pub use starter::starter_policy;

/// The name under which the built-in baseline appears in findings.
pub const BASELINE_ORIGIN: &str = "<built-in baseline>";

/// The text of the built-in baseline policy.
pub const BASELINE_TOML: &str = include_str!("baseline.toml");

/// The built-in baseline policy: SSH, HTTPS and DNS may listen publicly;
/// nothing else may listen on a non-loopback address.
pub fn baseline() -> Policy {
    parse_policy(BASELINE_ORIGIN, BASELINE_TOML).expect("the built-in baseline is valid")
}

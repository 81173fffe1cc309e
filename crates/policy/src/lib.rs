//! portreeve policies: the file format, its validation, and judging a host's
//! listening sockets against it.
//!
//! The principal type in this crate is a [`Policy`], which [`parse_policy`]
//! builds from TOML text, [`parse_policy_bytes`] from a file's bytes (a file
//! that is not UTF-8 is a located error too), and [`baseline`] from the
//! built-in one. A policy
//! says which ports may listen ([`Rule`]), reachable from which [`Zone`]s,
//! owned by which service, approved by whom and until when; which ports are
//! banned outright ([`BannedPorts`]); how findings are graded ([`Defaults`]);
//! and how it is enforced, changed and reclaimed. A file that is not valid
//! yields [`PolicyErrors`] instead: every [`PolicyError`] in it, located by
//! line and column, with a hint where one helps, so a user fixes a file in
//! one round. [`evaluate`] judges a host's
//! [`ListeningSocket`](portreeve_core::ListeningSocket)s against the policy,
//! with the built-in [`catalogue`] of well-known risky services, and returns
//! [`Finding`](portreeve_core::Finding)s, most severe first; [`reconcile`]
//! joins the policy with what a scan saw from outside.
//!
//! Everything here is pure: the crate reads no files (the caller passes the
//! text), takes "today" as an argument and collects nothing from the host, so
//! every finding kind is tested without one. The format is documented in
//! `docs/policy.md`.
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//!
//! use jiff::civil::date;
//! use portreeve_core::{BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, Proto};
//! use portreeve_policy::{evaluate, parse_policy};
//!
//! const TEXT: &str = r#"
//! [zones]
//! public = ["0.0.0.0/0", "::/0"]
//!
//! [[rule]]
//! name = "web"
//! port = 443
//! protocol = "tcp"
//! zones = ["public"]
//! "#;
//! let policy = parse_policy("p.toml", TEXT)?;
//!
//! // Telnet listening on every address: the built-in bans forbid port 23.
//! let address: IpAddr = "0.0.0.0".parse()?;
//! let telnet = ListeningSocket {
//!     protocol: Proto::Tcp,
//!     family: Family::Ipv4,
//!     address,
//!     port: 23,
//!     interface: None,
//!     scope: BindScope::of(address),
//!     dual_stack: false,
//!     uid: 0,
//!     user: None,
//!     inode: 1,
//!     netns: NetnsRef { inode: 4026531840, name: Some("host".into()) },
//!     owner_status: OwnerStatus::NoProcess,
//!     processes: vec![],
//! };
//! let findings = evaluate(&policy, &[telnet], date(2026, 6, 1));
//! assert_eq!(findings[0].kind.code(), "PR002"); // banned port
//!
//! // A mistake is located, and explained with a hint.
//! let bad = "[zones]\noffice = [\"192.0.2.10/24\"]\n";
//! let errors = parse_policy("p.toml", bad).unwrap_err();
//! let first = &errors.errors[0];
//! assert_eq!(first.line, 2);
//! assert_eq!(first.hint.as_deref(), Some("did you mean `192.0.2.0/24`?"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accept;
pub mod catalogue;
mod error;
mod evaluate;
mod exposure;
mod model;
mod parse;
mod reconcile;
mod starter;

pub use accept::accept;
pub use error::{PolicyError, PolicyErrors};
pub use evaluate::{evaluate, evaluate_behind};
pub use exposure::{Protection, exposure};
pub use model::{
    AcceptedRisk, BannedPorts, Breaker, BreakerAction, ChangeControl, DefaultAction, Defaults,
    Detection, DropLog, Enforcement, FindingSelector, GrantPolicy, Lifecycle, LifecycleOverride,
    LifecycleSettings, Limits, Measure, PodRule, PodSelector, Policy, ReclaimMode, Rule,
    ScanAction, ServiceIdentity, Zone,
};
pub use parse::{FORMAT_VERSION, parse_duration, parse_policy, parse_policy_bytes};
pub use reconcile::{JoinedPort, Listening, Reachability, Reconciliation, reconcile};
pub use starter::{SshSeen, starter_policy};

/// The name under which the built-in baseline appears in findings.
pub const BASELINE_ORIGIN: &str = "<built-in baseline>";

/// The text of the built-in baseline policy.
pub const BASELINE_TOML: &str = include_str!("baseline.toml");

/// The built-in baseline policy: SSH, HTTPS and DNS may listen publicly;
/// nothing else may listen on a non-loopback address.
pub fn baseline() -> Policy {
    parse_policy(BASELINE_ORIGIN, BASELINE_TOML).expect("the built-in baseline is valid")
}

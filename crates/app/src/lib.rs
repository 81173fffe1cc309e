//! portreeve's use cases, shared by every front end: the `portreeve` CLI,
//! the agent daemon and the fleet server call the same code here.
//!
//! The principal type in this crate is a [`StateDir`]: one host's state
//! directory, with the firewall, the ledger and the agent's store behind it
//! (each opened once). Every use case takes one, with a typed request, and
//! returns a typed outcome or an [`AppError`]; nothing here prints, parses
//! command lines or knows about terminals.
//!
//! The use cases, by module:
//!
//! - [`policy`]: which policy to work from — the **policy in effect** (the
//!   exact text whose ruleset is live) or a candidate someone names;
//! - [`check`]: judge listening sockets against a policy, optionally joined
//!   with a scan from outside, and record the outcome;
//! - [`enforce`]: compile, preview, apply (through the change-control gate),
//!   confirm, roll back, and the confirmation watchdog;
//! - [`plan_summary`]: what a plan changes, in words;
//! - [`change`]: identities, proposals, approvals, and the gate itself;
//! - [`reclaim`]: each port's lifecycle, closing abandoned ports from the
//!   policy in effect, and undoing that;
//! - [`grants`]: time-limited openings and the kernel's usage record;
//! - [`blocks`]: time-limited blocks of sources, refused for sources that
//!   must never be blocked;
//! - [`breakers`]: port circuit breakers — their state, manual trips and
//!   resets, and the transitions the agent's readings decide;
//! - [`detect`]: scan detection over recorded traffic (offline);
//! - [`detections`]: the scans the agent detected, what it did about each,
//!   and what it learnt after;
//! - [`recommend`]: a least-privilege policy from recorded use;
//! - [`record`]: the ledger entry every change leaves behind;
//! - [`report`]: this host's report (inventory, findings, exposure,
//!   lifecycle, grants, blocks, the ledger and its verification) as JSON
//!   or one self-contained HTML page;
//! - [`evidence`]: the pack an auditor verifies offline (ledger bundle,
//!   key, inclusion proofs, the policy in effect and its approvals), of
//!   this host or of the fleet a server governs;
//! - [`export`]: findings, drift, changes and detections gathered for
//!   `portreeve export` (ECS, Splunk HEC, syslog);
//! - [`k8s`]: a Kubernetes cluster's manifests judged into findings;
//! - [`cloud`]: AWS security groups judged into findings;
//! - [`compliance`]: the facts and findings mapped to the controls of
//!   PCI DSS, MLPS 2.0, the CIS Benchmarks and NIST SP 800-53;
//! - [`server_client`]: reading the fleet server's API, for the fleet's
//!   report and evidence pack;
//! - [`input`]: reading a file an operator names, `-` meaning standard input.
//!
//! Who acts is an [`Actor`], recorded on every entry.
//!
//! # Example
//!
//! Which policy a fresh host judges by, and what it allows:
//!
//! ```
//! use portreeve_app::{StateDir, policy};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let state = StateDir::open(dir.path());
//! // Nothing applied yet: no policy is in effect.
//! assert!(policy::in_effect(&state).unwrap().is_none());
//! // A candidate compiles to the ruleset `apply` would install.
//! let baseline = policy::LoadedPolicy::baseline();
//! let compiled = portreeve_app::enforce::compile(&state, baseline).unwrap();
//! assert!(!compiled.ruleset.allowed_v4.is_empty());
//! ```

mod actor;
pub mod blocks;
pub mod breakers;
pub mod change;
pub mod check;
pub mod cloud;
pub mod compliance;
pub mod detect;
pub mod detections;
pub mod enforce;
mod error;
pub mod evidence;
mod expiry;
pub mod export;
pub mod flows;
pub mod forecast;
pub mod grants;
pub mod input;
pub mod k8s;
pub mod lockout;
pub mod plan_summary;
pub mod policy;
pub mod reclaim;
pub mod recommend;
pub mod record;
pub mod report;
pub mod server_client;
pub mod simulate;
mod state_dir;
pub mod usage;
pub mod usage_file;
pub mod vulns;
pub mod witness;

pub use actor::Actor;

/// `1 finding`, `3 findings`: a count with its noun, pluralised by `s`, as
/// ledger entries and every front end write counts.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
pub use error::{AppError, Refusal};
pub use state_dir::{Firewall, StateDir, running_as_root, write_atomically, write_new_private};

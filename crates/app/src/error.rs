//! What can go wrong in a use case, typed so that every front end can tell
//! the operator's mistake (nothing was changed) from a failure of the host.

use std::path::PathBuf;

use portreeve_enforce::EnforceError;
use portreeve_ledger::LedgerError;
use portreeve_policy::PolicyErrors;
use portreeve_store::StoreError;

/// Why a use case did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A policy text is invalid; every error is located.
    #[error("{0}")]
    Policy(PolicyErrors),
    /// The request itself is wrong (a missing file, an unknown id, a value
    /// out of range). Nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but a rule refuses it. Nothing was
    /// changed.
    #[error("{0}")]
    Refused(Refusal),
    /// The state directory is not safe to use: others could change it.
    #[error("the state directory is not safe: {0}")]
    Unsafe(String),
    /// What is stored does not hold together (a text that no longer
    /// matches its digest, a log that went backwards): someone or something
    /// changed it, and nothing is done on top of it.
    #[error("{0}")]
    Integrity(String),
    /// The firewall said no, or could not be read.
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The agent's store could not be read or written (damaged, or
    /// written by a newer portreeve): named, so the operator knows which
    /// file to look at or move aside.
    #[error("{}: {source}", path.display())]
    Store {
        /// The store's file (`agent.db`).
        path: PathBuf,
        /// What went wrong.
        source: StoreError,
    },
    /// A raw-socket scan could not start (it needs root).
    #[error(transparent)]
    Scan(#[from] portreeve_scan::tcp_syn::SynError),
    /// The inventory could not be taken.
    #[error(transparent)]
    Inventory(#[from] portreeve_inventory::InventoryError),
    /// `simulate --sandbox` could not build or probe its replica.
    #[error(transparent)]
    Sandbox(#[from] portreeve_sandbox::SandboxError),
    /// A report could not be printed to PDF (no Chromium, or it failed).
    #[error(transparent)]
    Pdf(#[from] crate::report::pdf::PdfError),
    /// The fleet server could not be reached, failed, or gave an answer
    /// this portreeve cannot read (which URL, and why).
    #[error("the fleet server: {0}")]
    Server(String),
    /// A file of the state directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Recording the change could not even be prepared (no space, a ledger
    /// that does not open): the firewall was not touched.
    #[error("cannot record the change, so nothing was changed: {0}")]
    Unrecordable(String),
    /// Recording the change failed after it was made, and it was taken
    /// back: nothing is in effect.
    #[error(
        "{what}, but recording it in the ledger failed ({source}); it was undone: nothing changed"
    )]
    Undone {
        /// What was made, then undone.
        what: String,
        /// Why the ledger refused.
        source: LedgerError,
    },
    /// The change is in effect, but recording it in the ledger failed: the
    /// operator must know that something changed without its record.
    #[error("{done}, but recording it in the ledger failed: {source}")]
    Unrecorded {
        /// What already happened.
        done: String,
        /// Why the ledger refused.
        source: LedgerError,
    },
}

impl AppError {
    /// Whether the operator's input or a rule is at fault, rather than the
    /// host: such a request changed nothing and may be corrected.
    pub fn is_input(&self) -> bool {
        match self {
            AppError::Policy(_) | AppError::Invalid(_) | AppError::Refused(_) => true,
            AppError::Enforce(e) => matches!(
                e,
                EnforceError::Lockout(_)
                    | EnforceError::NothingToConfirm(_)
                    | EnforceError::NoPrevious(_)
                    | EnforceError::NoSuchGeneration(_)
                    | EnforceError::NoSuchGrant(_)
                    | EnforceError::AwaitingConfirmation(_)
                    | EnforceError::GrantOverlaps { .. }
                    | EnforceError::Block(_)
                    | EnforceError::NotApplied
            ),
            AppError::Ledger(LedgerError::Request(_)) => true,
            AppError::Sandbox(e) => matches!(e, portreeve_sandbox::SandboxError::Unavailable(_)),
            _ => false,
        }
    }

    /// An error of the agent's store at `path`.
    pub(crate) fn store(path: impl Into<PathBuf>) -> impl FnOnce(StoreError) -> AppError {
        let path = path.into();
        move |source| AppError::Store { path, source }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AppError {
        let path = path.into();
        move |source| AppError::Io { path, source }
    }
}

impl From<portreeve_enforce::generations::GenerationStoreError> for AppError {
    fn from(e: portreeve_enforce::generations::GenerationStoreError) -> Self {
        AppError::Enforce(e.into())
    }
}

impl From<PolicyErrors> for AppError {
    fn from(e: PolicyErrors) -> Self {
        AppError::Policy(e)
    }
}

/// A rule that refuses a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The policy needs an approved proposal and none holds it.
    #[error("{0}")]
    NotApproved(String),
    /// The proposer tried to approve their own proposal under the
    /// two-person rule.
    #[error(
        "two-person rule: {identity} proposed proposal {proposal} and cannot approve it; another identity must"
    )]
    SelfApproval {
        /// The identity.
        identity: String,
        /// The proposal.
        proposal: u64,
    },
    /// The identity approved this proposal already.
    #[error("{identity} has already approved proposal {proposal}")]
    AlreadyApproved {
        /// The identity.
        identity: String,
        /// The proposal.
        proposal: u64,
    },
    /// A private key that is not the one registered for the identity.
    #[error("{path} is not the key registered for {identity}")]
    WrongKey {
        /// The identity.
        identity: String,
        /// The key file offered.
        path: String,
    },
    /// The policy in effect changed while a plan made from another one was
    /// being carried out.
    #[error(
        "the policy in effect changed (now {now}, the plan was made from {planned}); plan again"
    )]
    StalePlan {
        /// The digest the plan was made from.
        planned: String,
        /// The digest in effect now.
        now: String,
    },
    /// Nothing to change from: portreeve's ruleset is not applied.
    #[error("{0}")]
    NotApplied(String),
    /// A grant the policy does not permit.
    #[error("{0}")]
    Grant(String),
    /// A block of a source that must never be blocked, or longer than the
    /// policy allows.
    #[error("{0}")]
    Block(String),
}

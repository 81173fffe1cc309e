//! Every state-changing command records what it did in the ledger before
//! it reports success, and signs a checkpoint that covers the record.

use std::path::{Path, PathBuf};

use portreeve_ledger::{Appended, Draft, Ledger, LedgerError};

use crate::failure::Failure;

/// Where the ledger of a state directory lives.
pub(super) fn ledger_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("ledger")
}

/// Opens the ledger of `state_dir`, creating it on first use.
pub(super) fn open(state_dir: &Path) -> Result<Ledger, Failure> {
    Ledger::open(&ledger_dir(state_dir)).map_err(ledger_failure)
}

/// A ledger that cannot be read or written is an operational failure.
pub(super) fn ledger_failure(e: LedgerError) -> Failure {
    match e {
        LedgerError::Request(m) => Failure::Input(m),
        other => Failure::Operational(format!("ledger: {other}")),
    }
}

/// Appends `draft` and signs a checkpoint over it. `done` says what already
/// happened, for the message if recording fails: the change is then in
/// effect but unrecorded, and the operator must know.
pub(super) fn record(state_dir: &Path, draft: Draft, done: &str) -> Result<Appended, Failure> {
    let attempt = || -> Result<Appended, LedgerError> {
        let ledger = Ledger::open(&ledger_dir(state_dir))?;
        let appended = ledger.append(draft)?;
        ledger.checkpoint()?;
        Ok(appended)
    };
    attempt().map_err(|e| {
        Failure::Operational(format!(
            "{done}, but recording it in the ledger failed: {e}"
        ))
    })
}

/// Who acts, for entries not made by a named identity: the user behind
/// `sudo`, else the login user.
pub(super) fn actor() -> String {
    portreeve_enforce::generations::actor()
}

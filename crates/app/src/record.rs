//! Recording: every change is appended to the ledger, with a signed
//! checkpoint over it, before the use case reports success.

use portreeve_ledger::{Appended, Draft, LedgerError};

use crate::error::AppError;
use crate::state_dir::StateDir;

/// Appends `draft` and signs a checkpoint that covers it. `done` says what
/// already happened, for the error if recording fails: the change is then
/// in effect but unrecorded, and the operator must be told.
pub fn record(state: &StateDir, draft: Draft, done: &str) -> Result<Appended, AppError> {
    let attempt = || -> Result<Appended, LedgerError> {
        let ledger = state.ledger()?;
        let appended = ledger.append(draft)?;
        ledger.checkpoint()?;
        Ok(appended)
    };
    attempt().map_err(|source| AppError::Unrecorded {
        done: done.to_string(),
        source,
    })
}

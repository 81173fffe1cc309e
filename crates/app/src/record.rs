//! Recording: every change is appended to the ledger, with a signed
//! checkpoint over it, before the use case reports success.
//!
//! A change of the firewall is never left in effect without its record:
//! [`preflight`] checks, before the kernel is touched, that the ledger opens
//! and that there is room to write; if recording still fails afterwards,
//! the use case takes the change back ([`record_or_undo`]) and says so.
//! Only when even that fails is a change left in effect unrecorded — and
//! then the error says exactly what is in effect.

use portreeve_ledger::{Appended, Draft, LedgerError};

use crate::error::AppError;
use crate::state_dir::StateDir;

/// Free space a change needs on the state directory's file system before
/// the firewall is touched: a ledger entry, a checkpoint and a generation's
/// files take a few KiB; the margin covers a large ruleset's text.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// Checks that a change can be recorded: the ledger opens (its tail
/// verified) and the file system holding the state directory has
/// [`MIN_FREE_BYTES`] free. Call it before touching the firewall.
pub fn preflight(state: &StateDir) -> Result<(), AppError> {
    state
        .ledger()
        .map_err(|e| AppError::Unrecordable(format!("the ledger: {e}")))?;
    let dir = state.ledger_dir();
    let stat = rustix::fs::statvfs(&dir)
        .map_err(|e| AppError::Unrecordable(format!("{}: {e}", dir.display())))?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < MIN_FREE_BYTES {
        return Err(AppError::Unrecordable(format!(
            "{} has {free} bytes free; a change needs at least {MIN_FREE_BYTES} to be recorded",
            dir.display()
        )));
    }
    Ok(())
}

/// Appends `draft` and signs a checkpoint that covers it. `done` says what
/// already happened, for the error if recording fails: the change is then
/// in effect but unrecorded, and the operator must be told.
pub fn record(state: &StateDir, draft: Draft, done: &str) -> Result<Appended, AppError> {
    append(state, vec![draft])
        .map(|mut all| all.remove(0))
        .map_err(|source| AppError::Unrecorded {
            done: done.to_string(),
            source,
        })
}

/// Records `drafts` (together: all or none) for a change made just
/// before; if that fails, calls `undo` to take the change back. The error
/// says whether that worked (nothing is in effect) or not (`done` is in
/// effect, unrecorded).
pub fn record_or_undo(
    state: &StateDir,
    drafts: Vec<Draft>,
    done: &str,
    undo: impl FnOnce() -> Result<(), AppError>,
) -> Result<Vec<Appended>, AppError> {
    let source = match append(state, drafts) {
        Ok(appended) => return Ok(appended),
        Err(e) => e,
    };
    match undo() {
        Ok(()) => Err(AppError::Undone {
            what: done.to_string(),
            source,
        }),
        Err(undo_failed) => {
            tracing::error!(error = %undo_failed, "cannot take back an unrecorded change");
            Err(AppError::Unrecorded {
                done: format!("{done} (and taking it back failed: {undo_failed})"),
                source,
            })
        }
    }
}

fn append(state: &StateDir, drafts: Vec<Draft>) -> Result<Vec<Appended>, LedgerError> {
    let ledger = state.ledger()?;
    let appended = ledger.append_all(drafts)?;
    ledger.checkpoint()?;
    Ok(appended)
}

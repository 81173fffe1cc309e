//! Who uses what: the agent's per-source record of new connections, as
//! `usage --by-source` lists it and `simulate` and `recommend` read it.

use jiff::Timestamp;
use portreeve_core::SourceUse;
use portreeve_store::Store;

use crate::error::AppError;
use crate::state_dir::StateDir;

/// What the per-source record holds: the uses and how many sources were
/// folded into their network because the record was full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BySource {
    /// Each (source, protocol, port) last seen at or after the window's
    /// start, sorted by port, protocol, source.
    pub sources: Vec<SourceUse>,
    /// Source updates folded into their /24 or /64, ever.
    pub folded: u64,
}

/// Each (source, protocol, port) last seen at or after `since` (all when
/// `None`), sorted by port, protocol, source. Empty when the agent never
/// ran here (no store is created for reading).
pub fn by_source(state: &StateDir, since: Option<Timestamp>) -> Result<Vec<SourceUse>, AppError> {
    Ok(by_source_with_folded(state, since)?.sources)
}

/// [`by_source`] with the count of folded sources, for the listing.
pub fn by_source_with_folded(
    state: &StateDir,
    since: Option<Timestamp>,
) -> Result<BySource, AppError> {
    if !state.has_store() {
        return Ok(BySource {
            sources: Vec::new(),
            folded: 0,
        });
    }
    state.with_store(|store| {
        Ok(BySource {
            sources: store.source_usage(since)?,
            folded: store.sources_folded()?,
        })
    })
}

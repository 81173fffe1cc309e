//! The flow sink: where aggregates from collectors, captures and Zeek logs
//! end up — merged into the agent's store by the one merge rule of
//! [`FlowAggregate::merge`].

use portreeve_flows::FlowAggregate;
use portreeve_store::{SqliteStore, Store, WriteBatch};

use crate::error::AppError;
use crate::state_dir::StateDir;

/// Writes aggregates into the agent's store, opened at the first write
/// that has something to store (so a run that receives nothing creates no
/// store) and kept open for the next flushes: a sink lives on one thread
/// (a collector's) and has its own connection.
pub struct FlowSink<'a> {
    state: &'a StateDir,
    store: Option<SqliteStore>,
}

impl<'a> FlowSink<'a> {
    /// A sink into `state`'s store.
    pub fn new(state: &'a StateDir) -> FlowSink<'a> {
        FlowSink { state, store: None }
    }

    /// Merges `aggregates` into the stored ones, in one transaction.
    pub fn store(&mut self, aggregates: &[FlowAggregate]) -> Result<(), AppError> {
        if aggregates.is_empty() {
            return Ok(());
        }
        let store = match &mut self.store {
            Some(store) => store,
            None => self.store.insert(self.state.open_store()?),
        };
        store
            .write(&WriteBatch {
                flows: aggregates.to_vec(),
                ..WriteBatch::default()
            })
            .map_err(AppError::store(self.state.store_file()))
    }
}

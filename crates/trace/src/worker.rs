//! Lookups on threads that a caller can stop waiting for.
//!
//! A blocking lookup (`getnameinfo`, an HTTP request) cannot be cancelled;
//! a caller that gives up on one leaves its thread running until the lookup
//! ends by itself. The number of such threads is capped so that a resolver
//! or server that never answers cannot pile them up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use crate::TraceError;

/// Runs jobs on threads, at most `max` at a time.
#[derive(Debug)]
pub(crate) struct Workers {
    what: &'static str,
    running: Arc<AtomicUsize>,
    max: usize,
}

/// A job's result, once it arrives.
pub(crate) struct Pending<T> {
    result: Receiver<T>,
}

/// Frees a worker's place when its thread ends, however it ends.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Workers {
    /// Workers for lookups of kind `what` (named in errors), at most `max`
    /// running at once.
    pub(crate) fn new(what: &'static str, max: usize) -> Workers {
        Workers {
            what,
            running: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Starts `job` on a thread of its own, or refuses with
    /// [`TraceError::Busy`] when `max` are still running.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Pending<T>, TraceError> {
        let max = self.max;
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|running| TraceError::Busy {
                what: self.what,
                running,
            })?;
        let place = Place(Arc::clone(&self.running));
        let (tx, result) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("trace-{}", self.what.replace(' ', "-")))
            .spawn(move || {
                let _place = place;
                // The caller may have stopped waiting: nobody to tell then.
                let _ = tx.send(job());
            })
            .map_err(|e| TraceError::Thread {
                what: self.what,
                reason: e.to_string(),
            })?;
        Ok(Pending { result })
    }
}

impl<T> Pending<T> {
    /// The result if it arrives by `deadline`; `None` if it does not (or the
    /// job panicked).
    pub(crate) fn wait_until(self, deadline: Instant) -> Option<T> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.result.recv_timeout(left).ok()
    }
}

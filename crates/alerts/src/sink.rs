//! The sink trait, and the bounded queue and worker thread in front of
//! every sink.
//!
//! Detection must never wait for a receiver: [`SinkHandle::push`] only takes
//! a mutex for a moment, and one thread per sink does the slow part. The
//! queue is bounded and **drops the oldest** alert when full: after an outage
//! the receiver gets what is happening now, while the older alerts are in
//! the ledger anyway. Every drop is counted. Threads rather than tokio tasks
//! because every sink does blocking I/O (a blocking HTTP client, files,
//! sockets); the agent's runtime is single-threaded, and a push is safe to
//! call from it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::alert::Alert;

/// Where a sink sends alerts. Called from the sink's own thread, one alert
/// at a time; it may block as long as its own timeouts allow.
pub trait Sink: Send + 'static {
    /// Delivers one alert, retrying as the sink sees fit.
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError>;
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The receiver answered with an error status that is not worth retrying.
    #[error("receiver refused the alert with HTTP status {0}")]
    Refused(u16),
    /// Every attempt failed; the last failure.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// What went wrong on the last one.
        last: String,
    },
    /// Sending or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A sink's counters, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Alerts the receiver accepted.
    pub delivered: u64,
    /// Alerts given up on after the sink's retries.
    pub failed: u64,
    /// Alerts pushed out of a full queue, never attempted.
    pub dropped: u64,
    /// Alerts waiting now.
    pub queued: usize,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

struct Queue {
    alerts: VecDeque<Arc<Alert>>,
    capacity: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A worker that panicked mid-delivery leaves the queue consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next alert, waiting for one; `None` once closed and drained.
    fn pop(&self) -> Option<Arc<Alert>> {
        let mut queue = self.lock();
        loop {
            if let Some(alert) = queue.alerts.pop_front() {
                return Some(alert);
            }
            if queue.closed {
                return None;
            }
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The producer's end of one sink: its queue, its counters, its name.
/// Dropping it closes the queue; the worker delivers what is left and ends.
pub struct SinkHandle {
    name: String,
    shared: Arc<Shared>,
}

impl SinkHandle {
    /// Starts a worker thread delivering to `sink` through a queue of
    /// `capacity` alerts (at least one).
    pub fn spawn(
        name: impl Into<String>,
        capacity: usize,
        mut sink: impl Sink,
    ) -> std::io::Result<SinkHandle> {
        let name = name.into();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                alerts: VecDeque::new(),
                capacity: capacity.max(1),
                closed: false,
            }),
            ready: Condvar::new(),
            counters: Counters::default(),
        });
        let worker = Arc::clone(&shared);
        let label = name.clone();
        thread::Builder::new()
            .name(format!("alerts {name}"))
            .spawn(move || {
                while let Some(alert) = worker.pop() {
                    match sink.deliver(&alert) {
                        Ok(()) => worker.counters.delivered.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            tracing::warn!(sink = %label, "alert not delivered: {e}");
                            worker.counters.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })?;
        Ok(SinkHandle { name, shared })
    }

    /// The sink's name, for logs and metric labels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues `alert`, pushing out the oldest queued alert if full.
    pub fn push(&self, alert: Arc<Alert>) {
        let mut queue = self.shared.lock();
        if queue.alerts.len() >= queue.capacity {
            queue.alerts.pop_front();
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.alerts.push_back(alert);
        drop(queue);
        self.shared.ready.notify_one();
    }

    /// The counters now.
    pub fn stats(&self) -> SinkStats {
        let c = &self.shared.counters;
        SinkStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            queued: self.shared.lock().alerts.len(),
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A sink that reports each alert it starts on and then waits for a go.
    struct Gated {
        started: mpsc::Sender<()>,
        go: mpsc::Receiver<()>,
    }

    impl Sink for Gated {
        fn deliver(&mut self, _: &Alert) -> Result<(), SinkError> {
            self.started.send(()).unwrap();
            self.go.recv().unwrap();
            Ok(())
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let (started_tx, started) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let sink = Gated {
            started: started_tx,
            go: go_rx,
        };
        let handle = SinkHandle::spawn("gated", 2, sink).unwrap();
        let alert = Arc::new(examples::detection());
        handle.push(Arc::clone(&alert));
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        // The worker holds the first; the queue takes two, then drops.
        for _ in 0..4 {
            handle.push(Arc::clone(&alert));
        }
        let stats = handle.stats();
        assert_eq!((stats.dropped, stats.queued), (2, 2));
        for _ in 0..3 {
            go.send(()).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while handle.stats().delivered < 3 {
            assert!(std::time::Instant::now() < deadline, "{:?}", handle.stats());
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(handle.stats().failed, 0);
    }
}

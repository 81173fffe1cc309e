//! Helpers shared by the alert sinks' integration tests.

use std::time::{Duration, Instant};

use portreeve_alerts::{Alerts, SinkStats};

/// Waits up to `limit` for `done`, checking every few milliseconds; panics
/// with `what` if it never holds.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The counters of the sink at `index`.
pub fn stats(alerts: &Alerts, index: usize) -> SinkStats {
    alerts.stats()[index].1
}

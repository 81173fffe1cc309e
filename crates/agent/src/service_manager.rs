//! What the agent tells systemd through `sd_notify(3)`: ready once it
//! serves and has read the listeners, a watchdog ping after every reading,
//! stopping on shutdown. Without `$NOTIFY_SOCKET` (not started by systemd,
//! or `Type=simple`) every call does nothing; the watchdog is pinged only
//! when systemd asked for it (`$WATCHDOG_USEC`).

use std::cell::Cell;
use std::time::Duration;

use portreeve_core::words::listed;
use sd_notify::NotifyState;

use crate::config::show_interval;

/// The agent's side of the conversation with its service manager.
pub struct ServiceManager {
    /// Whether readiness has been reported.
    ready: Cell<bool>,
    /// Whether systemd watches for pings (`WatchdogSec=`).
    watchdog: bool,
}

impl ServiceManager {
    /// Reads what systemd asked for from the environment. `interval` is
    /// the time between readings, so between pings: a watchdog that fires
    /// before two of them have passed would kill a healthy agent, which is
    /// logged.
    pub fn from_env(interval: Duration) -> Self {
        let timeout = sd_notify::watchdog_enabled();
        if let Some(t) = timeout
            && t < interval * 2
        {
            tracing::warn!(
                watchdog = %show_interval(t),
                interval = %show_interval(interval),
                "the watchdog timeout is under twice the interval: systemd may kill a healthy agent"
            );
        }
        Self {
            ready: Cell::new(false),
            watchdog: timeout.is_some(),
        }
    }

    /// After every reading of the listeners, failed or not: the loop is
    /// alive.
    pub fn reading_taken(&self) {
        if self.watchdog {
            send(&[NotifyState::Watchdog]);
        }
    }

    /// After a reading is recorded and served in the metrics: the first
    /// makes the agent ready.
    pub fn reading_served(&self) {
        if !self.ready.replace(true) {
            send(&[NotifyState::Ready]);
        }
    }

    /// The agent has begun to stop.
    pub fn stopping() {
        send(&[NotifyState::Stopping]);
    }
}

/// Sends `state`; a service manager that cannot be told is logged, not
/// fatal (systemd then acts on its own timeouts).
fn send(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, state = %listed(state, "none"), "cannot notify the service manager");
    }
}

//! How long to wait and how much to send: per-host round-trip estimates and
//! a congestion window, TCP-style.
//!
//! The round-trip estimator follows RFC 6298 (SRTT, RTTVAR, RTO = SRTT +
//! 4·RTTVAR), clamped between a floor and `--max-rtt`. Every probe is its own
//! connection, so every answer is an unambiguous sample (no Karn problem).
//!
//! The window bounds the probes in flight. It grows with every completed
//! probe — an answer, or a final silence — and halves when loss is proven:
//! a probe went unanswered but its retransmission was answered. Silence
//! alone is not loss: a firewall that drops everything is not a congested
//! path, and treating it as one is why scans of filtered hosts crawl.

use std::time::Duration;

/// Round-trip estimate of one host.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    floor: Duration,
    ceiling: Duration,
    initial: Duration,
}

impl RttEstimator {
    /// An estimator with no samples yet: timeouts start at `initial`, never
    /// drop below `floor` nor exceed `ceiling`.
    pub fn new(initial: Duration, floor: Duration, ceiling: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            floor,
            ceiling,
            initial: initial.clamp(floor, ceiling),
        }
    }

    /// Adds one round-trip sample.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
    }

    /// How long to wait for an answer to the next probe.
    pub fn timeout(&self) -> Duration {
        match self.srtt {
            None => self.initial,
            Some(srtt) => (srtt + self.rttvar * 4).clamp(self.floor, self.ceiling),
        }
    }
}

/// How many probes may be in flight.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    cwnd: f64,
    ssthresh: f64,
    min: f64,
    max: f64,
}

impl Window {
    /// A window starting at `start`, between `min` and `max`.
    pub fn new(start: usize, min: usize, max: usize) -> Window {
        let max = max.max(min) as f64;
        Window {
            cwnd: (start as f64).clamp(min as f64, max),
            ssthresh: max,
            min: min as f64,
            max,
        }
    }

    /// Probes that may be in flight now.
    pub fn size(&self) -> usize {
        self.cwnd as usize
    }

    /// A probe completed (answered, or silent after every retry): slow start
    /// below the threshold, additive increase above it.
    pub fn completed(&mut self) {
        let grow = if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = (self.cwnd + grow).min(self.max);
    }

    /// Loss was proven: halve.
    pub fn lost(&mut self) {
        self.ssthresh = (self.cwnd / 2.0).max(self.min);
        self.cwnd = self.ssthresh;
    }

    /// The system refused another socket or port: this is the ceiling.
    pub fn cap(&mut self, in_flight: usize) {
        self.max = (in_flight as f64).max(self.min);
        self.cwnd = self.cwnd.min(self.max);
        self.ssthresh = self.ssthresh.min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn timeouts_follow_measured_round_trips_within_bounds() {
        let mut r = RttEstimator::new(MS * 500, MS * 10, MS * 1000);
        assert_eq!(r.timeout(), MS * 500);
        r.sample(MS * 20);
        // First sample: srtt 20, rttvar 10 → 20 + 40.
        assert_eq!(r.timeout(), MS * 60);
        for _ in 0..50 {
            r.sample(MS * 20);
        }
        assert!(
            r.timeout() < MS * 25,
            "steady samples shrink the variance: {:?}",
            r.timeout()
        );
        let mut fast = RttEstimator::new(MS * 500, MS * 10, MS * 1000);
        fast.sample(Duration::from_micros(80));
        assert_eq!(fast.timeout(), MS * 10, "never below the floor");
        let mut slow = RttEstimator::new(MS * 500, MS * 10, MS * 300);
        slow.sample(MS * 250);
        assert_eq!(slow.timeout(), MS * 300, "never above --max-rtt");
    }

    #[test]
    fn window_grows_fast_then_slowly_and_halves_on_loss() {
        let mut w = Window::new(10, 4, 1000);
        for _ in 0..10 {
            w.completed();
        }
        assert_eq!(w.size(), 20, "slow start doubles per window");
        w.lost();
        assert_eq!(w.size(), 10);
        for _ in 0..10 {
            w.completed();
        }
        assert_eq!(
            w.size(),
            10,
            "congestion avoidance adds about one per window"
        );
        for _ in 0..5000 {
            w.completed();
        }
        assert!(w.size() <= 1000);
        w.cap(100);
        assert_eq!(w.size(), 100);
        for _ in 0..20 {
            w.lost();
        }
        assert_eq!(w.size(), 4, "never below the minimum");
    }
}

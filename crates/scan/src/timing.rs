//! How long to wait and how much to send: per-host round-trip estimates and
//! a congestion window, TCP-style.
//!
//! The round-trip estimator follows RFC 6298 (SRTT, RTTVAR, RTO = SRTT +
//! 4·RTTVAR), clamped between a floor and `--max-rtt`. Every probe is its own
//! connection, so every answer is an unambiguous sample (no Karn problem).
//!
//! The window bounds the probes in flight. It grows with every completed
//! probe — an answer, or a final silence — and halves on congestion. Loss
//! is proven when a probe went unanswered but its retransmission was
//! answered; silence alone is not loss: a firewall that drops everything is
//! not a congested path, and treating it as one is why scans of filtered
//! hosts crawl. Nor is one lost packet congestion: the window halves only
//! when, within one window's worth of completed probes (an *epoch*, TCP's
//! round trip), at least two answered probes and more than 5 % of them
//! needed a retransmission. Halving on every loss, as TCP Reno does, made a
//! scan of a filtered host with 1 % random loss up to 13 times slower
//! whenever an early open port's first SYN was the packet lost: the window
//! then sat at a handful of probes and grew by one per window.
//!
//! An answer that queued (it took over twice the host's shortest round trip
//! plus 1 ms) does not grow the window: answers already come back as fast
//! as they can be taken, and more probes in flight would only queue longer
//! — on a host that resets every port, 20,000 connects in flight made the
//! kernel's per-socket work about 30 % slower than a few thousand.

use std::time::{Duration, Instant};

/// Round-trip delay beyond twice the shortest that still counts as no
/// queueing: scheduling noise on a loaded scanner.
pub const QUEUE_SLACK: Duration = Duration::from_micros(QUEUE_SLACK_US);
const QUEUE_SLACK_US: u64 = 1000;

/// Round-trip estimate of one host.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    /// The shortest sample: the path's round trip without queueing.
    min: Option<Duration>,
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
            min: None,
            rttvar: Duration::ZERO,
            floor,
            ceiling,
            initial: initial.clamp(floor, ceiling),
        }
    }

    /// Adds one round-trip sample. True when it was the host's first: the
    /// timeout then changes from the initial guess to a measurement, often
    /// a hundred times shorter, and the engines re-arm the deadlines they
    /// set from the guess.
    pub fn sample(&mut self, rtt: Duration) -> bool {
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
                true
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
                false
            }
        }
    }

    /// Whether an answer that took `rtt` waited in a queue: more than twice
    /// the shortest round trip plus [`QUEUE_SLACK`]. Answers queue when more
    /// probes are in flight than the path (or this process, or the local
    /// kernel) turns around; sending more then only adds queueing.
    pub fn queued(&self, rtt: Duration) -> bool {
        self.min.is_some_and(|m| rtt > m * 2 + QUEUE_SLACK)
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
    epoch: Epoch,
}

/// One window's worth of completed probes: what congestion is judged on.
#[derive(Clone, Copy, Debug)]
struct Epoch {
    /// Completions before the next epoch starts.
    left: f64,
    answers: u32,
    retransmitted: u32,
    /// The window already halved in this epoch (at most once per epoch,
    /// as TCP reduces at most once per round trip).
    reduced: bool,
}

impl Epoch {
    fn new(length: f64, reduced: bool) -> Epoch {
        Epoch {
            left: length,
            answers: 0,
            retransmitted: 0,
            reduced,
        }
    }
}

/// Fewest answers-after-retransmission in an epoch that can be congestion.
const CONGESTION_MIN_LOSSES: u32 = 2;
/// Share of an epoch's answers that needed a retransmission, above which
/// loss is congestion rather than noise: one in twenty.
const CONGESTION_SHARE: u32 = 20;

impl Window {
    /// A window starting at `start`, between `min` and `max`.
    pub fn new(start: usize, min: usize, max: usize) -> Window {
        let max = max.max(min) as f64;
        let cwnd = (start as f64).clamp(min as f64, max);
        Window {
            cwnd,
            ssthresh: max,
            min: min as f64,
            max,
            epoch: Epoch::new(cwnd, false),
        }
    }

    /// Probes that may be in flight now.
    pub fn size(&self) -> usize {
        self.cwnd as usize
    }

    /// A probe completed without an answer (silent after every retry, or
    /// about to be retransmitted): slow start below the threshold, additive
    /// increase above it.
    pub fn completed(&mut self) {
        let grow = if self.cwnd < self.ssthresh {
            1.0
        } else {
            1.0 / self.cwnd
        };
        self.cwnd = (self.cwnd + grow).min(self.max);
        self.end_of_epoch();
    }

    /// Counts one completion towards the epoch.
    fn end_of_epoch(&mut self) {
        self.epoch.left -= 1.0;
        if self.epoch.left <= 0.0 {
            self.epoch = Epoch::new(self.cwnd, false);
        }
    }

    /// A probe was answered; `retransmitted` when only a retransmission
    /// was (the first probe or its answer was lost), `queued` when the
    /// answer waited in a queue ([`RttEstimator::queued`]): the window then
    /// stays as it is, because answers already come back as fast as they
    /// can be taken. True when this made the window halve.
    pub fn answered(&mut self, retransmitted: bool, queued: bool) -> bool {
        self.epoch.answers += 1;
        self.epoch.retransmitted += u32::from(retransmitted);
        let e = self.epoch;
        let congested = retransmitted
            && !e.reduced
            && e.retransmitted >= CONGESTION_MIN_LOSSES
            && e.retransmitted * CONGESTION_SHARE > e.answers;
        if congested {
            self.ssthresh = (self.cwnd / 2.0).max(self.min);
            self.cwnd = self.ssthresh;
            self.epoch = Epoch::new(self.cwnd, true);
        } else if queued {
            self.end_of_epoch();
        } else {
            self.completed();
        }
        congested
    }

    /// The system refused another socket or port: this is the ceiling.
    pub fn cap(&mut self, in_flight: usize) {
        self.max = (in_flight as f64).max(self.min);
        self.cwnd = self.cwnd.min(self.max);
        self.ssthresh = self.ssthresh.min(self.max);
    }
}

/// `--rate`: a token bucket of probes per second, or no limit. It holds at
/// most one second's worth of tokens (and at least one), so a pause in
/// sending is not made up for with a burst.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateLimit {
    per_second: Option<f64>,
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    /// At most `per_second` probes a second; `None`: no limit.
    pub(crate) fn new(per_second: Option<f64>) -> RateLimit {
        RateLimit {
            per_second,
            tokens: 0.0,
            refilled: Instant::now(),
        }
    }

    /// Adds the tokens earned since the last refill.
    pub(crate) fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.per_second {
            self.tokens = (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate)
                .min(rate.max(1.0));
            self.refilled = now;
        }
    }

    /// Whether a probe may go now.
    pub(crate) fn allows(&self) -> bool {
        self.per_second.is_none() || self.tokens >= 1.0
    }

    /// A probe went.
    pub(crate) fn spend(&mut self) {
        if self.per_second.is_some() {
            self.tokens -= 1.0;
        }
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
        assert!(r.sample(MS * 20), "the first sample replaces the guess");
        // First sample: srtt 20, rttvar 10 → 20 + 40.
        assert_eq!(r.timeout(), MS * 60);
        assert!(!r.sample(MS * 20), "later ones refine it");
        for _ in 0..49 {
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
    fn the_rate_limit_spends_what_was_earned_and_saves_at_most_a_second() {
        assert!(RateLimit::new(None).allows(), "no limit");
        let mut r = RateLimit::new(Some(10.0));
        let t0 = r.refilled;
        assert!(!r.allows(), "nothing earned yet");
        // Probes sent until the limit says no.
        let send_all = |r: &mut RateLimit| {
            let mut n = 0;
            while r.allows() {
                r.spend();
                n += 1;
            }
            n
        };
        r.refill(t0 + MS * 350);
        assert_eq!(send_all(&mut r), 3);
        r.refill(t0 + MS * 60_350);
        assert_eq!(send_all(&mut r), 10, "a minute's pause allows no burst");
    }

    /// Answers `n` probes, every `every`-th of them only on retransmission;
    /// how many times the window halved.
    fn answer(w: &mut Window, n: usize, every: usize) -> usize {
        (1..=n)
            .filter(|i| w.answered(i % every == 0, false))
            .count()
    }

    #[test]
    fn window_grows_fast_then_slowly_and_halves_on_congestion() {
        let mut w = Window::new(10, 4, 1000);
        for _ in 0..10 {
            w.completed();
        }
        assert_eq!(w.size(), 20, "slow start doubles per window");
        // Every second answer needed a retransmission: congestion. The
        // window halves once, not once per loss (three answers grew it to
        // 23 first).
        assert_eq!(answer(&mut w, 4, 2), 1);
        assert_eq!(w.size(), 11);
        for _ in 0..11 {
            w.completed();
        }
        assert_eq!(
            w.size(),
            12,
            "congestion avoidance adds about one per window"
        );
        for _ in 0..5000 {
            w.completed();
        }
        assert!(w.size() <= 1000);
        w.cap(100);
        assert_eq!(w.size(), 100);
        for _ in 0..100 {
            answer(&mut w, 200, 2);
        }
        assert_eq!(w.size(), 4, "never below the minimum");
    }

    #[test]
    fn isolated_and_light_random_loss_is_not_congestion() {
        // One lost probe early in a scan (a filtered host with a few open
        // ports): slow start goes on.
        let mut w = Window::new(16, 4, 100_000);
        assert!(!w.answered(true, false));
        for _ in 0..1000 {
            w.completed();
        }
        assert!(w.size() > 1000, "still in slow start: {}", w.size());
        // 1 % of answers retransmitted, on a host answering every probe.
        let mut w = Window::new(2000, 4, 2000);
        assert_eq!(answer(&mut w, 100_000, 100), 0);
        assert_eq!(w.size(), 2000);
        // 10 %: congestion; the window keeps halving while it lasts.
        let halvings = answer(&mut w, 2000, 10);
        assert!(halvings >= 2, "{halvings}");
        assert!(w.size() <= 500, "{}", w.size());
    }
}

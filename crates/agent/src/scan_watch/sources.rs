//! The sources the scan watch tracks: each one's Threshold Random Walk and
//! its last attempts, bounded in number, age and size.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use portreeve_app::blocks::BlockRow;
use portreeve_detect::{Attempt, Detection, Detector, Tier, Trw, summarize};

/// A source silent this long is forgotten.
pub(crate) const FORGET_AFTER: SignedDuration = SignedDuration::from_hours(1);

/// At most this many sources are tracked; beyond it, the quieter half is
/// forgotten at once (a flood of spoofed sources costs the watch its
/// memory of quiet ones, never unbounded memory).
pub(crate) const MAX_SOURCES: usize = 4096;

/// Each source's last attempts kept, for the ports and addresses of a
/// kernel-tier detection.
pub(crate) const RECENT_ATTEMPTS: usize = 64;

/// A walk that has not decided after this many attempts starts again: a
/// source that mixes successes and failures so as never to be decided
/// cannot make the watch remember every port it ever tried. Together with
/// [`MAX_SOURCES`] this bounds the walks to 4,096 sources of at most 128
/// contacts each: some 50 MB at worst, at an estimated 100 bytes a contact.
pub(crate) const WALK_ATTEMPTS: usize = 128;

/// The detector a kernel-tier detection names.
const KERNEL_DETECTOR: &str = "nftables";

/// One source as the watch tracks it.
struct Tracked {
    /// The source's walk, `None` once TRW decided it is scanning (it is
    /// reported once).
    walk: Option<Trw>,
    /// Attempts fed to the walk since it began.
    walked: usize,
    /// Its last [`RECENT_ATTEMPTS`] attempts.
    recent: VecDeque<Attempt>,
    /// All its attempts since it was first seen (or last forgotten).
    attempts: u64,
    /// Its latest attempt.
    last_seen: Timestamp,
}

/// Every source the watch tracks, bounded by the constants above.
#[derive(Default)]
pub(crate) struct Sources {
    tracked: HashMap<IpAddr, Tracked>,
}

impl Sources {
    /// Records `attempt` and runs its source's walk; the detection when
    /// this attempt decides that the source is scanning.
    pub(crate) fn observe(&mut self, attempt: &Attempt) -> Option<Detection> {
        if !self.tracked.contains_key(&attempt.source) && self.tracked.len() >= MAX_SOURCES {
            self.forget_quieter_half();
        }
        let t = self
            .tracked
            .entry(attempt.source)
            .or_insert_with(|| Tracked {
                walk: Some(Trw::default()),
                walked: 0,
                recent: VecDeque::new(),
                attempts: 0,
                last_seen: attempt.at,
            });
        if t.recent.len() == RECENT_ATTEMPTS {
            t.recent.pop_front();
        }
        t.recent.push_back(*attempt);
        t.attempts += 1;
        t.last_seen = t.last_seen.max(attempt.at);
        let walk = t.walk.as_mut()?;
        if t.walked == WALK_ATTEMPTS {
            *walk = Trw::default();
            t.walked = 0;
        }
        t.walked += 1;
        let decided = walk.observe(attempt);
        if decided.is_some() {
            t.walk = None;
        }
        decided
    }

    /// Forgets the sources silent since before `now` − [`FORGET_AFTER`].
    pub(crate) fn forget_quiet(&mut self, now: Timestamp) {
        self.tracked
            .retain(|_, t| now.duration_since(t.last_seen) < FORGET_AFTER);
    }

    fn forget_quieter_half(&mut self) {
        let mut last: Vec<Timestamp> = self.tracked.values().map(|t| t.last_seen).collect();
        let middle = last.len() / 2;
        let (_, &mut cut, _) = last.select_nth_unstable(middle);
        self.tracked.retain(|_, t| t.last_seen > cut);
    }

    /// How many sources are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.tracked.len()
    }

    /// The kernel-tier detection of the automatic block `block`, of
    /// `source`: the ports, addresses and times of the attempts the watch
    /// saw from it (its last [`RECENT_ATTEMPTS`]), how many it saw, and
    /// the kernel's reason as evidence.
    pub(crate) fn kernel_detection(
        &self,
        source: IpAddr,
        block: &BlockRow,
        now: Timestamp,
    ) -> Detection {
        let tracked = self.tracked.get(&source);
        let seen: Vec<Attempt> =
            tracked.map_or_else(Vec::new, |t| t.recent.iter().copied().collect());
        let mut evidence = block
            .reason
            .clone()
            .unwrap_or_else(|| "blocked by the kernel's scan detection".into());
        if seen.is_empty() {
            evidence.push_str("; the agent saw none of its probes");
        }
        Detection {
            detector: KERNEL_DETECTOR,
            tier: Tier::Kernel,
            attempts_before_decision: tracked.map_or(0, |t| t.attempts),
            evidence,
            ..summarize(source, &seen, block.blocked_at.unwrap_or(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_detect::{Outcome, Probe, ScanKind, Transport};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    /// A probe by `source` of `destination`:`port` refused by the kernel.
    fn refused(source: &str, destination: &str, port: u16, second: i64) -> Attempt {
        Attempt {
            at: at(second),
            source: ip(source),
            destination: ip(destination),
            port,
            transport: Transport::Tcp,
            probe: Probe::Syn,
            outcome: Outcome::Rejected,
        }
    }

    #[test]
    fn trw_decides_a_horizontal_scan_but_not_a_mistyped_port() {
        let mut sources = Sources::default();
        let host = |n: u8| format!("10.0.0.{n}");
        // A client mistypes a port, then reaches its service.
        assert!(
            sources
                .observe(&refused("10.9.0.3", "10.0.0.1", 8081, 0))
                .is_none()
        );
        let reached = Attempt {
            outcome: Outcome::Established,
            ..refused("10.9.0.3", "10.0.0.1", 8080, 1)
        };
        assert!(sources.observe(&reached).is_none());
        // One port on each of several addresses, a minute apart.
        let decided: Vec<Option<Detection>> = (1..=6)
            .map(|n| sources.observe(&refused("10.9.0.2", &host(n), 8081, 60 * i64::from(n))))
            .collect();
        let at = decided
            .iter()
            .position(Option::is_some)
            .expect("a detection");
        let d = decided[at].clone().unwrap();
        assert_eq!(at, 3, "the fourth failure decides");
        assert_eq!(
            (d.kind, d.address_count, d.ports.as_slice()),
            (ScanKind::Horizontal, 4, &[8081][..])
        );
        assert!(
            decided[at + 1..].iter().all(Option::is_none),
            "reported once"
        );
    }

    #[test]
    fn a_kernel_block_is_described_by_the_probes_the_watch_saw_from_its_source() {
        let mut sources = Sources::default();
        for (i, port) in [23, 25, 110, 143, 445].into_iter().enumerate() {
            sources.observe(&refused("10.9.0.2", "10.0.0.1", port, i as i64));
        }
        sources.observe(&refused("10.9.0.7", "10.0.0.1", 23, 0));
        let row = BlockRow {
            source: "10.9.0.2/32".parse().unwrap(),
            kind: "automatic",
            seconds_left: 590,
            ttl_seconds: 600,
            actor: Some("kernel".into()),
            reason: Some("scan detected in the kernel (more than 4 closed ports within 1m)".into()),
            blocked_at: Some(at(5)),
            ledger_index: Some(17),
        };
        let d = sources.kernel_detection(ip("10.9.0.2"), &row, at(9));
        assert_eq!(
            (d.tier, d.detector, d.kind),
            (Tier::Kernel, "nftables", ScanKind::Vertical)
        );
        assert_eq!(d.ports, [23, 25, 110, 143, 445]);
        assert_eq!(
            (d.port_count, d.address_count, d.attempts_before_decision),
            (5, 1, 5)
        );
        assert_eq!((d.first_seen, d.last_seen), (at(0), at(4)));
        assert_eq!(
            d.evidence,
            "scan detected in the kernel (more than 4 closed ports within 1m)"
        );

        // A source the watch never saw (no NFLOG): the block alone.
        let unseen = BlockRow {
            source: "10.9.0.8/32".parse().unwrap(),
            ..row
        };
        let d = sources.kernel_detection(ip("10.9.0.8"), &unseen, at(9));
        assert_eq!(
            (d.source, d.port_count, d.attempts_before_decision),
            (ip("10.9.0.8"), 0, 0)
        );
        assert_eq!((d.first_seen, d.last_seen), (at(5), at(5)));
        assert!(
            d.evidence.ends_with("the agent saw none of its probes"),
            "{}",
            d.evidence
        );
    }

    #[test]
    fn sources_are_forgotten_when_quiet_and_bounded_in_number() {
        let mut sources = Sources::default();
        sources.observe(&refused("10.9.0.2", "10.0.0.1", 1, 0));
        sources.observe(&refused("10.9.0.3", "10.0.0.1", 1, 3000));
        sources.forget_quiet(at(3601));
        assert_eq!(sources.len(), 1, "silent for an hour: forgotten");
        for n in 0..MAX_SOURCES as u32 + 10 {
            let source = IpAddr::from((0x0a64_0000_u32 + n).to_be_bytes()).to_string();
            sources.observe(&refused(&source, "10.0.0.1", 1, 4000 + i64::from(n)));
        }
        assert!(sources.len() <= MAX_SOURCES, "{} tracked", sources.len());
        let mut one = Sources::default();
        for n in 0..RECENT_ATTEMPTS as u16 * 2 {
            one.observe(&refused("10.9.0.2", "10.0.0.1", n, 0));
        }
        let tracked = &one.tracked[&ip("10.9.0.2")];
        assert_eq!(tracked.recent.len(), RECENT_ATTEMPTS);
        assert!(tracked.walk.is_none(), "decided: the walk is dropped");
        assert_eq!(tracked.attempts, u64::from(RECENT_ATTEMPTS as u16 * 2));
    }

    #[test]
    fn a_walk_that_never_decides_starts_again() {
        let mut sources = Sources::default();
        // Success, failure, success, failure…: TRW never decides.
        for n in 0..WALK_ATTEMPTS as u16 * 3 {
            let attempt = Attempt {
                outcome: if n % 2 == 0 {
                    Outcome::Established
                } else {
                    Outcome::Rejected
                },
                ..refused("10.9.0.5", "10.0.0.1", n, i64::from(n))
            };
            assert!(sources.observe(&attempt).is_none());
            assert!(sources.tracked[&ip("10.9.0.5")].walked <= WALK_ATTEMPTS);
        }
        let t = &sources.tracked[&ip("10.9.0.5")];
        assert_eq!(
            (t.walked, t.attempts),
            (WALK_ATTEMPTS, WALK_ATTEMPTS as u64 * 3)
        );
    }
}

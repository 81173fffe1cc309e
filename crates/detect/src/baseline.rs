//! Fixed-threshold detectors, the baselines TRW is measured against. Both
//! count failed attempts (refused or unanswered, and every stealth probe)
//! on distinct ports, as the tools they imitate count dropped or rejected
//! connections.

use std::collections::{HashSet, VecDeque};

use jiff::{SignedDuration, Timestamp};

use crate::activity::{Decision, Detection};
use crate::attempt::Attempt;
use crate::detector::{Detector, Sources};

/// Parameters of [`ZeekLike`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeekLikeConfig {
    /// Distinct ports that make a scan.
    pub ports: usize,
    /// Within this long.
    pub window: SignedDuration,
}

impl Default for ZeekLikeConfig {
    /// Zeek's `Scan::port_scan_threshold` (15) over its 5-minute interval.
    fn default() -> Self {
        Self {
            ports: 15,
            window: SignedDuration::from_mins(5),
        }
    }
}

/// Like Zeek's scan policy: a source that fails on `ports` distinct ports
/// within a sliding `window` is scanning.
#[derive(Debug)]
pub struct ZeekLike {
    config: ZeekLikeConfig,
    sources: Sources<VecDeque<(Timestamp, u16)>>,
}

impl ZeekLike {
    /// A detector with `config`.
    pub fn new(config: ZeekLikeConfig) -> Self {
        Self {
            config,
            sources: Sources::new(),
        }
    }
}

impl Default for ZeekLike {
    fn default() -> Self {
        Self::new(ZeekLikeConfig::default())
    }
}

impl Detector for ZeekLike {
    fn observe(&mut self, attempt: &Attempt) -> Option<Detection> {
        let config = self.config;
        self.sources.observe(attempt, |failures, attempt, _| {
            if attempt.succeeded() {
                return None;
            }
            failures.push_back((attempt.at, attempt.port));
            while failures
                .front()
                .is_some_and(|(at, _)| attempt.at.duration_since(*at) > config.window)
            {
                failures.pop_front();
            }
            let ports: HashSet<u16> = failures.iter().map(|(_, p)| *p).collect();
            (ports.len() >= config.ports).then(|| Decision {
                detector: "zeek-like",
                attempts: failures.len() as u64,
                evidence: format!(
                    "{} distinct ports failed within {:#}",
                    ports.len(),
                    config.window
                ),
            })
        })
    }

    fn detections(&self) -> Vec<Detection> {
        self.sources.detections()
    }
}

/// Parameters of [`CrowdSecLike`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrowdSecLikeConfig {
    /// Distinct ports the bucket holds; one more overflows it.
    pub capacity: u32,
    /// The bucket leaks one port per this long.
    pub leak_every: SignedDuration,
}

impl Default for CrowdSecLikeConfig {
    /// CrowdSec's `crowdsecurity/port-scan` scenario: capacity 15, leak
    /// speed 5 s, distinct on the destination port.
    fn default() -> Self {
        Self {
            capacity: 15,
            leak_every: SignedDuration::from_secs(5),
        }
    }
}

/// A source's leaky bucket.
#[derive(Debug, Default)]
struct Bucket {
    level: f64,
    last: Option<Timestamp>,
    ports: HashSet<u16>,
    attempts: u64,
}

/// Like CrowdSec's port-scan scenario: each failed attempt on a port not
/// yet in the source's bucket pours one in; the bucket leaks at a fixed
/// rate and forgets its ports when empty; overflowing it is a scan.
#[derive(Debug)]
pub struct CrowdSecLike {
    config: CrowdSecLikeConfig,
    sources: Sources<Bucket>,
}

impl CrowdSecLike {
    /// A detector with `config`.
    pub fn new(config: CrowdSecLikeConfig) -> Self {
        Self {
            config,
            sources: Sources::new(),
        }
    }
}

impl Default for CrowdSecLike {
    fn default() -> Self {
        Self::new(CrowdSecLikeConfig::default())
    }
}

impl Detector for CrowdSecLike {
    fn observe(&mut self, attempt: &Attempt) -> Option<Detection> {
        let config = self.config;
        self.sources.observe(attempt, |bucket, attempt, _| {
            if attempt.succeeded() {
                return None;
            }
            bucket.attempts += 1;
            if let Some(last) = bucket.last {
                let leaked =
                    attempt.at.duration_since(last).as_secs_f64() / config.leak_every.as_secs_f64();
                bucket.level = (bucket.level - leaked.max(0.0)).max(0.0);
                if bucket.level == 0.0 {
                    bucket.ports.clear();
                }
            }
            bucket.last = Some(attempt.at);
            if bucket.ports.insert(attempt.port) {
                bucket.level += 1.0;
            }
            (bucket.level > f64::from(config.capacity)).then(|| Decision {
                detector: "crowdsec-like",
                attempts: bucket.attempts,
                evidence: format!(
                    "leaky bucket of {} ports (leaking one per {:#}) overflowed",
                    config.capacity, config.leak_every
                ),
            })
        })
    }

    fn detections(&self) -> Vec<Detection> {
        self.sources.detections()
    }
}

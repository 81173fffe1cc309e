//! Threshold Random Walk: Wald's sequential probability ratio test over
//! the outcomes of a source's first contacts (Jung, Paxson, Berger,
//! Balakrishnan, IEEE S&P 2004).
//!
//! H0: the source is benign, and a first contact of it succeeds with
//! probability θ0. H1: it is a scanner, and succeeds with probability θ1.
//! Each first contact multiplies the likelihood ratio Λ by θ1/θ0 when it
//! succeeds and by (1−θ1)/(1−θ0) when it fails. Λ ≥ η1 = PD/PF decides
//! H1 (scanner); Λ ≤ η0 = (1−PD)/(1−PF) decides H0 (benign). With the
//! paper's θ0 = 0.8, θ1 = 0.2, PD = 0.99, PF = 0.01 a failure multiplies
//! Λ by 4 and a success by ¼; η1 = 99, so four failures in a row decide.
//!
//! Two choices beyond the paper, for a detector that runs for months:
//! a first contact is a new (destination, port, transport), not a new
//! destination host, so that a vertical scan of one address is seen; and
//! deciding "benign" restarts the walk rather than ending it, so a source
//! that behaved well and then starts scanning is still caught.

use crate::activity::{Decision, Detection};
use crate::attempt::Attempt;
use crate::detector::{Detector, Sources};

/// TRW's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrwConfig {
    /// θ0: how likely a benign source's first contact succeeds.
    pub benign_success: f64,
    /// θ1: how likely a scanner's first contact succeeds.
    pub scanner_success: f64,
    /// PD (β): the detection probability the test should reach.
    pub detection_probability: f64,
    /// PF (α): the false-positive probability the test should stay under.
    pub false_positive_probability: f64,
}

impl Default for TrwConfig {
    /// The values the paper evaluates: θ0 = 0.8, θ1 = 0.2, PD = 0.99,
    /// PF = 0.01.
    fn default() -> Self {
        Self {
            benign_success: 0.8,
            scanner_success: 0.2,
            detection_probability: 0.99,
            false_positive_probability: 0.01,
        }
    }
}

impl TrwConfig {
    /// ln η1: at or above it, the source is a scanner.
    fn upper(&self) -> f64 {
        (self.detection_probability / self.false_positive_probability).ln()
    }

    /// ln η0: at or below it, the source is benign (and the walk restarts).
    fn lower(&self) -> f64 {
        ((1.0 - self.detection_probability) / (1.0 - self.false_positive_probability)).ln()
    }

    /// ln of the factor one outcome multiplies Λ by.
    fn step(&self, succeeded: bool) -> f64 {
        if succeeded {
            (self.scanner_success / self.benign_success).ln()
        } else {
            ((1.0 - self.scanner_success) / (1.0 - self.benign_success)).ln()
        }
    }
}

/// The walk of one source.
#[derive(Debug, Default)]
struct Walk {
    /// ln Λ of the current test (logarithms: a long walk cannot overflow).
    log_ratio: f64,
    attempts: u64,
    successes: u64,
    failures: u64,
}

/// The Threshold Random Walk detector.
#[derive(Debug)]
pub struct Trw {
    config: TrwConfig,
    sources: Sources<Walk>,
}

impl Trw {
    /// A detector with `config`.
    pub fn new(config: TrwConfig) -> Self {
        Self {
            config,
            sources: Sources::new(),
        }
    }
}

impl Default for Trw {
    fn default() -> Self {
        Self::new(TrwConfig::default())
    }
}

impl Detector for Trw {
    fn observe(&mut self, attempt: &Attempt) -> Option<Detection> {
        let config = self.config;
        self.sources.observe(attempt, |walk, attempt, first_contact| {
            walk.attempts += 1;
            if !first_contact {
                return None;
            }
            let succeeded = attempt.succeeded();
            if succeeded {
                walk.successes += 1;
            } else {
                walk.failures += 1;
            }
            walk.log_ratio += config.step(succeeded);
            if walk.log_ratio <= config.lower() {
                walk.log_ratio = 0.0;
                return None;
            }
            (walk.log_ratio >= config.upper()).then(|| Decision {
                detector: "trw",
                attempts: walk.attempts,
                evidence: format!(
                    "TRW: {} first contacts failed, {} succeeded; likelihood ratio {:.0} reached the threshold {:.0}",
                    walk.failures,
                    walk.successes,
                    walk.log_ratio.exp(),
                    config.upper().exp()
                ),
            })
        })
    }

    fn detections(&self) -> Vec<Detection> {
        self.sources.detections()
    }
}

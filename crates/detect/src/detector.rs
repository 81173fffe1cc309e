//! The detector interface, and the per-source bookkeeping every detector
//! shares (activity, first contacts, the verdict once made).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::activity::{Activity, Decision, Detection};
use crate::attempt::{Attempt, Transport};

/// A port-scan detector: fed attempts in time order, it decides which
/// sources are scanning.
pub trait Detector {
    /// Feeds one attempt. Returns the detection when this attempt decides
    /// that its source is scanning; each source is reported once.
    fn observe(&mut self, attempt: &Attempt) -> Option<Detection>;

    /// Every source decided so far, with its activity up to the last
    /// attempt fed (so later probes show in the ports and last seen),
    /// ordered by first seen.
    fn detections(&self) -> Vec<Detection>;
}

/// Feeds `attempts` (in time order) to `detector` and returns every
/// detection, as an offline run over recorded traffic does.
pub fn detect_all<D: Detector + ?Sized>(
    detector: &mut D,
    attempts: impl IntoIterator<Item = Attempt>,
) -> Vec<Detection> {
    for attempt in attempts {
        detector.observe(&attempt);
    }
    detector.detections()
}

/// A (destination, port, transport) a source has tried before.
type Contact = (IpAddr, u16, Transport);

/// One source, as a detector with per-source state `S` sees it.
#[derive(Debug)]
struct Source<S> {
    activity: Activity,
    contacted: HashSet<Contact>,
    state: S,
    decision: Option<Decision>,
}

/// Per-source state for a detector: records activity and first contacts,
/// and asks the detector's judgement only until the source is decided.
#[derive(Debug)]
pub(crate) struct Sources<S> {
    sources: HashMap<IpAddr, Source<S>>,
}

impl<S: Default> Sources<S> {
    pub(crate) fn new() -> Self {
        Self {
            sources: HashMap::new(),
        }
    }

    /// Records `attempt` and, while its source is undecided, asks `judge`
    /// (given the source's state and whether this is the source's first
    /// contact with that destination port) for a verdict.
    pub(crate) fn observe(
        &mut self,
        attempt: &Attempt,
        judge: impl FnOnce(&mut S, &Attempt, bool) -> Option<Decision>,
    ) -> Option<Detection> {
        let source = self
            .sources
            .entry(attempt.source)
            .or_insert_with(|| Source {
                activity: Activity::new(attempt.at),
                contacted: HashSet::new(),
                state: S::default(),
                decision: None,
            });
        source.activity.record(attempt);
        let first_contact =
            source
                .contacted
                .insert((attempt.destination, attempt.port, attempt.transport));
        if source.decision.is_some() {
            return None;
        }
        let decision = judge(&mut source.state, attempt, first_contact)?;
        let detection = source.activity.detection(attempt.source, &decision);
        source.decision = Some(decision);
        Some(detection)
    }

    pub(crate) fn detections(&self) -> Vec<Detection> {
        let mut all: Vec<Detection> = self
            .sources
            .iter()
            .filter_map(|(addr, s)| Some(s.activity.detection(*addr, s.decision.as_ref()?)))
            .collect();
        all.sort_by_key(|d| (d.first_seen, d.source));
        all
    }
}

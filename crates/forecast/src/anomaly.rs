//! Hours whose connection count is implausible for the port at that point
//! of its cycle.
//!
//! Each hour is judged against the same hour (and the hours either side,
//! for jobs that start a little early or late) one cycle back, two cycles
//! back, … within four weeks: the most seen there, doubled and given a
//! margin, is the most that is plausible, and an hour where nothing was
//! ever seen plausibly has nothing. A port with no cycle is judged against
//! all its recent hours. An implausible hour enters the baseline as the
//! most that was plausible, so one burst does not hide the next, while a
//! lasting change is learnt within a few cycles.

use std::collections::VecDeque;

use crate::season::{self, RECENT_DAYS, Season};
use crate::series::{HOURS_PER_DAY, Hour, Series};

/// A plausible count is at most this many times the most seen…
const BURST_FACTOR: u64 = 2;

/// …plus this many.
const BURST_MARGIN: u64 = 5;

/// Hours judged before a port's first week, or its first two cycles, have
/// too little behind them.
const WARM_UP_DAYS: u32 = 7;

/// What an hour was judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The fewest connections seen at this very hour of the cycle.
    pub low: u64,
    /// The most that is plausible.
    pub high: u64,
}

/// Why an hour is implausible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyKind {
    /// Many times the connections usual at this hour.
    Burst,
    /// Connections at an hour of the cycle never used before.
    UnusedHour,
    /// Many times the connections of a port that has no cycle.
    QuietPortBusy,
}

impl AnomalyKind {
    /// The kind's name in one word, for machines.
    pub fn tag(self) -> &'static str {
        match self {
            AnomalyKind::Burst => "burst",
            AnomalyKind::UnusedHour => "unused-hour",
            AnomalyKind::QuietPortBusy => "quiet-port-busy",
        }
    }
}

/// One implausible hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomaly {
    /// The hour.
    pub hour: Hour,
    /// Its connections.
    pub observed: u64,
    /// What was plausible.
    pub expected: Expected,
    /// Why it is not.
    pub kind: AnomalyKind,
}

/// The implausible hours of `series`, in order. The port's season is
/// found from the whole series; each hour is judged only against the
/// hours before it.
pub fn anomalies(series: &Series) -> Vec<Anomaly> {
    let season = season::detect(series, series.end());
    let cycle_days = season.days();
    let warm_up = season::hours(WARM_UP_DAYS.max(2 * cycle_days));
    let mut baseline: Vec<u64> = (series.first()..series.end())
        .map(|h| series.count(h))
        .collect();
    let at = |baseline: &[u64], hour: Hour| -> u64 {
        usize::try_from(hour - series.first())
            .ok()
            .and_then(|i| baseline.get(i).copied())
            .unwrap_or(0)
    };
    let mut recent = Recent::default();
    let mut found = Vec::new();
    for hour in series.first() + warm_up..series.end() {
        // The most seen, and the fewest at this very point of the cycle.
        let (most, low) = match season {
            Season::Irregular => {
                let from = (hour - RECENT_DAYS as i64 * HOURS_PER_DAY).max(series.first());
                recent.slide(from, hour, |h| at(&baseline, h));
                (recent.most(), recent.least())
            }
            Season::Everyday | Season::Cycle(_) => {
                let before = cycles_before(hour, cycle_days, series.first());
                let most = before
                    .iter()
                    .flat_map(|&h| [h - 1, h, h + 1])
                    .map(|h| at(&baseline, h))
                    .max();
                let low = before.iter().map(|&h| at(&baseline, h)).min();
                (most.unwrap_or(0), low.unwrap_or(0))
            }
        };
        let cyclic = season != Season::Irregular;
        let high = if cyclic && most == 0 {
            0
        } else {
            BURST_FACTOR * most + BURST_MARGIN
        };
        let observed = series.count(hour);
        if observed <= high {
            continue;
        }
        let kind = match (cyclic, most) {
            (false, _) => AnomalyKind::QuietPortBusy,
            (true, 0) => AnomalyKind::UnusedHour,
            (true, _) => AnomalyKind::Burst,
        };
        found.push(Anomaly {
            hour,
            observed,
            expected: Expected { low, high },
            kind,
        });
        baseline[(hour - series.first()) as usize] = high.max(1);
    }
    found
}

/// The largest and smallest counts of the hours in a window sliding
/// forward in time, kept as monotonic queues: an irregular port's hours
/// are each judged against four weeks of hours, and looking at all 672 of
/// them every hour made `anomalies` slow on a few hundred ports.
#[derive(Default)]
struct Recent {
    /// Hours in the window, with counts decreasing from the front.
    largest: VecDeque<(Hour, u64)>,
    /// Hours in the window, with counts increasing from the front.
    smallest: VecDeque<(Hour, u64)>,
    /// The hour after the last one taken in.
    next: Option<Hour>,
}

impl Recent {
    /// Moves the window to `[from, to)`, reading new hours' counts with
    /// `count`.
    fn slide(&mut self, from: Hour, to: Hour, count: impl Fn(Hour) -> u64) {
        for hour in self.next.unwrap_or(from).max(from)..to {
            let c = count(hour);
            while self.largest.back().is_some_and(|&(_, v)| v <= c) {
                self.largest.pop_back();
            }
            self.largest.push_back((hour, c));
            while self.smallest.back().is_some_and(|&(_, v)| v >= c) {
                self.smallest.pop_back();
            }
            self.smallest.push_back((hour, c));
        }
        self.next = Some(to);
        while self.largest.front().is_some_and(|&(h, _)| h < from) {
            self.largest.pop_front();
        }
        while self.smallest.front().is_some_and(|&(h, _)| h < from) {
            self.smallest.pop_front();
        }
    }

    fn most(&self) -> u64 {
        self.largest.front().map_or(0, |&(_, v)| v)
    }

    fn least(&self) -> u64 {
        self.smallest.front().map_or(0, |&(_, v)| v)
    }
}

/// The same hour one, two, … cycles of `cycle_days` before `hour`
/// (within four weeks, at least two cycles), from `first` on.
fn cycles_before(hour: Hour, cycle_days: u32, first: Hour) -> Vec<Hour> {
    let cycle = season::hours(cycle_days);
    let cycles = (RECENT_DAYS as i64 * HOURS_PER_DAY / cycle).max(2);
    (1..=cycles)
        .map(|k| hour - k * cycle)
        .filter(|&h| h >= first)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three weeks of 10 connections every hour from 08:00 to 17:59.
    fn working_days() -> Vec<u64> {
        (0..21 * 24)
            .map(|h| if (8..18).contains(&(h % 24)) { 10 } else { 0 })
            .collect()
    }

    #[test]
    fn a_burst_and_a_night_hour_are_implausible_the_usual_is_not() {
        let mut counts = working_days();
        counts[16 * 24 + 12] = 200;
        counts[18 * 24 + 3] = 1;
        let found = anomalies(&Series::new(0, counts));
        let seen: Vec<(Hour, AnomalyKind)> = found.iter().map(|a| (a.hour, a.kind)).collect();
        assert_eq!(
            seen,
            [
                (16 * 24 + 12, AnomalyKind::Burst),
                (18 * 24 + 3, AnomalyKind::UnusedHour)
            ]
        );
        assert_eq!(found[0].expected, Expected { low: 10, high: 25 });
        assert_eq!(found[1].expected, Expected { low: 0, high: 0 });
    }

    #[test]
    fn the_sliding_window_knows_its_largest_and_smallest() {
        let counts: Vec<u64> = (0..500u64).map(|i| (i * 7919) % 23).collect();
        let mut recent = Recent::default();
        for to in 1..500 {
            let from = (to - 40).max(0);
            recent.slide(from, to, |h| counts[h as usize]);
            let window = &counts[from as usize..to as usize];
            let expected = (*window.iter().max().unwrap(), *window.iter().min().unwrap());
            assert_eq!(
                (recent.most(), recent.least()),
                expected,
                "hours {from}..{to}"
            );
        }
    }

    #[test]
    fn a_lasting_change_stops_being_reported() {
        let mut counts = working_days();
        counts.extend((0..14 * 24).map(|h| if (8..18).contains(&(h % 24)) { 100 } else { 0 }));
        let found = anomalies(&Series::new(0, counts));
        let last = found.iter().map(|a| a.hour).max().unwrap();
        assert!(last < 28 * 24, "still reported on day {}", last / 24);
    }
}

//! The chance of at least one connection in the next 24 hours.
//!
//! The 24 hours ahead are compared with the same 24 hours one cycle back,
//! two cycles back and so on (a week back for an office-hours port, three
//! days back for a job every third day, a day back for a port used every
//! day): the chance is the share of those windows that had a connection,
//! recent cycles weighing more. A port that missed a window where its
//! cycle all but promised use, and has been silent since, has stopped.

use crate::season::{self, RECENT_DAYS, Season};
use crate::series::{HOURS_PER_DAY, Hour, Series, hour_of_week};

/// Each cycle further back weighs this much less than the one after it.
const DECAY: f64 = 0.8;

/// The weight of an even chance mixed into every estimate, so that no
/// history makes use certain or impossible.
const PRIOR_WEIGHT: f64 = 0.1;

/// A window whose earlier cycles had use at least this likely, left
/// silent, means the port stopped.
const PROMISED: f64 = 0.75;

/// The furthest [`chance`] looks back: two cycles of the longest cycle,
/// four weeks, and a day.
const LOOKBACK: Hour = (2 * RECENT_DAYS as i64 + 1) * HOURS_PER_DAY;

/// The chance given to a port that stopped.
const STOPPED: f64 = 0.02;

/// A weekly port whose connections fall at least this much in weekday
/// working hours keeps office hours.
const OFFICE_SHARE: f64 = 0.9;

/// A port used every day with a connection in at least this share of its
/// recent hours is steady rather than daily.
const STEADY_SHARE: f64 = 0.75;

/// What a port's history shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Connections in most hours of every day.
    Steady,
    /// Connections every day, at some hours only.
    Daily,
    /// Connections on weekdays in working hours (07:00–19:00 UTC).
    OfficeHours,
    /// Connections in a weekly cycle.
    Weekly,
    /// Connections every `days` days.
    Periodic {
        /// The cycle.
        days: u32,
    },
    /// Connections that stopped where the cycle promised more.
    Stopped,
    /// Connections now and then, in no cycle.
    Rare,
    /// No connection at all.
    Unused,
}

impl Pattern {
    /// The pattern's name in one word, for machines.
    pub fn tag(self) -> &'static str {
        match self {
            Pattern::Steady => "steady",
            Pattern::Daily => "daily",
            Pattern::OfficeHours => "office-hours",
            Pattern::Weekly => "weekly",
            Pattern::Periodic { .. } => "periodic",
            Pattern::Stopped => "stopped",
            Pattern::Rare => "rare",
            Pattern::Unused => "unused",
        }
    }

    /// The pattern in words.
    pub fn describe(self) -> String {
        match self {
            Pattern::Steady => "used around the clock every day".into(),
            Pattern::Daily => "used every day at some hours".into(),
            Pattern::OfficeHours => "used on weekdays in working hours".into(),
            Pattern::Weekly => "used in a weekly cycle".into(),
            Pattern::Periodic { days } => format!("used every {days} days"),
            Pattern::Stopped => "stopped being used".into(),
            Pattern::Rare => "used now and then, in no cycle".into(),
            Pattern::Unused => "never used".into(),
        }
    }
}

/// What is expected of a port in the 24 hours from a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The chance of at least one connection, 0 to 1.
    pub probability: f64,
    /// Why: the pattern found.
    pub pattern: Pattern,
    /// The last hour with a connection before the moment.
    pub last_used: Option<Hour>,
}

/// What `series` says of the 24 hours from `at`, from its hours before
/// `at` only.
pub fn predict(series: &Series, at: Hour) -> Prediction {
    let history = series.until(at);
    let Some(last_used) = history.last_used() else {
        return Prediction {
            probability: 0.0,
            pattern: Pattern::Unused,
            last_used: None,
        };
    };
    let season = season::detect(&history, at);
    let cycle = season::hours(season.days());
    let stopped =
        silent_windows(last_used, at).any(|start| chance(&history, start, cycle) >= PROMISED);
    let (probability, pattern) = if stopped {
        (STOPPED, Pattern::Stopped)
    } else {
        (chance(&history, at, cycle), name(&history, season))
    };
    Prediction {
        probability,
        pattern,
        last_used: Some(last_used),
    }
}

/// The starts of the whole 24-hour windows ending at `at`, `at - 24`, …
/// that lie after `last_used`, leaving out those so long after it that
/// [`chance`] cannot see back to it (a prediction centuries after the
/// history would otherwise judge millions of windows).
fn silent_windows(last_used: Hour, at: Hour) -> impl Iterator<Item = Hour> {
    let out_of_sight = ((at - last_used - LOOKBACK) / HOURS_PER_DAY).max(0);
    (1 + out_of_sight..)
        .map(move |k| at - k * HOURS_PER_DAY)
        .take_while(move |&start| start > last_used)
}

/// The weighted share of the 24-hour windows `cycle`, `2 × cycle`, …
/// hours before `start` (within four weeks, at least two cycles, as far as
/// the history goes) that had a connection, mixed with an even chance.
fn chance(history: &Series, start: Hour, cycle: Hour) -> f64 {
    let cycles = (RECENT_DAYS as i64 * HOURS_PER_DAY / cycle).max(2);
    let (mut used, mut total) = (0.5 * PRIOR_WEIGHT, PRIOR_WEIGHT);
    let mut weight = 1.0;
    for k in 1..=cycles {
        let from = start - k * cycle;
        if from < history.first() {
            break;
        }
        if history.used_in(from, from + HOURS_PER_DAY) {
            used += weight;
        }
        total += weight;
        weight *= DECAY;
    }
    used / total
}

/// The pattern of a port that has not stopped.
fn name(history: &Series, season: Season) -> Pattern {
    match season {
        Season::Everyday | Season::Cycle(1) => {
            let recent = (history.end() - RECENT_DAYS as i64 * HOURS_PER_DAY).max(history.first());
            let hours = history.end() - recent;
            let used = (recent..history.end())
                .filter(|&h| history.count(h) > 0)
                .count();
            if used as f64 >= STEADY_SHARE * hours as f64 {
                Pattern::Steady
            } else {
                Pattern::Daily
            }
        }
        Season::Cycle(7) if office_share(history) >= OFFICE_SHARE => Pattern::OfficeHours,
        Season::Cycle(7) => Pattern::Weekly,
        Season::Cycle(days) => Pattern::Periodic { days },
        Season::Irregular => Pattern::Rare,
    }
}

/// The share of connections on weekdays from 07:00 to 19:00 UTC.
fn office_share(history: &Series) -> f64 {
    let (mut office, mut all) = (0u64, 0u64);
    for hour in history.first()..history.end() {
        let count = history.count(hour);
        let week_hour = hour_of_week(hour);
        if week_hour < 5 * HOURS_PER_DAY && (7..19).contains(&(week_hour % HOURS_PER_DAY)) {
            office += count;
        }
        all += count;
    }
    office as f64 / all.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05T00:00Z, a Monday.
    const MONDAY: Hour = 20458 * 24;

    fn office_hours(weeks: i64) -> Series {
        let counts = (0..weeks * 168)
            .map(|h| {
                let (day, hour) = (h / 24 % 7, h % 24);
                if day < 5 && (9..17).contains(&hour) {
                    4
                } else {
                    0
                }
            })
            .collect();
        Series::new(MONDAY, counts)
    }

    #[test]
    fn office_hours_expect_nothing_on_saturday_and_use_on_monday() {
        let s = office_hours(6);
        let friday_evening = MONDAY + 5 * 168 + 4 * 24 + 18;
        let p = predict(&s, friday_evening);
        assert_eq!(p.pattern, Pattern::OfficeHours);
        assert!(p.probability < 0.1, "{p:?}");
        let sunday_noon = friday_evening + 42;
        assert!(predict(&s, sunday_noon).probability > 0.9);
    }

    #[test]
    fn a_port_silent_through_its_usual_hours_stopped() {
        let s = office_hours(6);
        let thursday_after_a_silent_wednesday = MONDAY + 6 * 168 + 3 * 24 + 12;
        let mut counts: Vec<u64> = (MONDAY..thursday_after_a_silent_wednesday)
            .map(|h| s.count(h))
            .collect();
        let tuesday_night = (6 * 168 + 24 + 20) as usize;
        counts[tuesday_night..].fill(0);
        let p = predict(
            &Series::new(MONDAY, counts),
            thursday_after_a_silent_wednesday,
        );
        assert_eq!(p.pattern, Pattern::Stopped);
        assert!(p.probability < 0.1);
    }

    #[test]
    fn centuries_later_a_port_has_still_stopped() {
        let s = office_hours(6);
        let p = predict(&s, s.end() + 400 * 365 * 24);
        assert_eq!(p.pattern, Pattern::Stopped);
    }

    #[test]
    fn no_connection_is_unused() {
        let p = predict(&Series::new(0, vec![0; 100]), 100);
        assert_eq!(
            (p.pattern, p.probability, p.last_used),
            (Pattern::Unused, 0.0, None)
        );
    }
}

//! A port's cycle, found from its daily totals.
//!
//! A port used nearly every day needs no cycle: each day resembles the one
//! before. Otherwise the cycle is the lag, in days, at which the daily
//! totals (log-scaled, so one busy day does not dominate) correlate best
//! with themselves: 7 for a port used on weekdays or by a weekly job, 3 for
//! a job every third day. Lags that are multiples of the cycle correlate as
//! well; the shortest lag nearly as good as the best is the cycle.

use crate::series::{HOURS_PER_DAY, Hour, Series};

/// How far back habits are judged: four weeks.
pub const RECENT_DAYS: usize = 28;

/// A day with a connection in at least this share of recent days makes a
/// port [`Season::Everyday`].
const EVERYDAY_SHARE: f64 = 0.9;

/// The autocorrelation a lag needs to count as a cycle.
const MIN_AUTOCORRELATION: f64 = 0.5;

/// A shorter lag within this share of the best one's autocorrelation wins.
const NEAR_BEST: f64 = 0.9;

/// The longest cycle looked for, in days.
const MAX_CYCLE_DAYS: usize = 28;

/// What repeats in a port's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    /// Used nearly every day.
    Everyday,
    /// Used in a cycle of this many days.
    Cycle(u32),
    /// No cycle: sporadic or too little history.
    Irregular,
}

impl Season {
    /// The cycle in days that predictions look back by: 1 unless there is
    /// a longer one.
    pub fn days(self) -> u32 {
        match self {
            Season::Cycle(days) => days,
            Season::Everyday | Season::Irregular => 1,
        }
    }
}

/// The season of `series` in its whole days before `until`.
pub fn detect(series: &Series, until: Hour) -> Season {
    let days = series.until(until).daily_totals();
    let recent = &days[days.len().saturating_sub(RECENT_DAYS)..];
    if recent.len() < 7 {
        return Season::Irregular;
    }
    let used = recent.iter().filter(|&&(_, total)| total > 0).count();
    if used as f64 >= EVERYDAY_SHARE * recent.len() as f64 {
        return Season::Everyday;
    }
    let levels: Vec<f64> = days.iter().map(|&(_, t)| (t as f64).ln_1p()).collect();
    cycle(&levels).map_or(Season::Irregular, Season::Cycle)
}

/// The shortest lag seen at least twice whose autocorrelation is nearly
/// the best and at least [`MIN_AUTOCORRELATION`].
fn cycle(levels: &[f64]) -> Option<u32> {
    let longest = (levels.len() / 2).min(MAX_CYCLE_DAYS);
    let scored: Vec<(usize, f64)> = (1..=longest)
        .filter_map(|lag| autocorrelation(levels, lag).map(|r| (lag, r)))
        .collect();
    let best = scored
        .iter()
        .map(|&(_, r)| r)
        .fold(f64::NEG_INFINITY, f64::max);
    if best < MIN_AUTOCORRELATION {
        return None;
    }
    scored
        .iter()
        .find(|&&(_, r)| r >= NEAR_BEST * best)
        .map(|&(lag, _)| lag as u32)
}

/// The correlation of `levels` with itself `lag` days later, each pair
/// weighed alike however many pairs the lag leaves (so long lags are not
/// penalised for their fewer pairs); `None` when the levels never vary.
fn autocorrelation(levels: &[f64], lag: usize) -> Option<f64> {
    let n = levels.len() as f64;
    let mean = levels.iter().sum::<f64>() / n;
    let variance = levels.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    if variance == 0.0 {
        return None;
    }
    let pairs = levels.len() - lag;
    let covariance = (0..pairs)
        .map(|i| (levels[i] - mean) * (levels[i + lag] - mean))
        .sum::<f64>()
        / pairs as f64;
    Some(covariance / variance)
}

/// Hours in `days` days.
pub fn hours(days: u32) -> Hour {
    i64::from(days) * HOURS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `days` days of 24 hours, `used(day)` deciding whether hour 10 of
    /// the day has 5 connections.
    fn days_used(days: i64, used: impl Fn(i64) -> bool) -> Series {
        let counts = (0..days * 24)
            .map(|h| if h % 24 == 10 && used(h / 24) { 5 } else { 0 })
            .collect();
        Series::new(0, counts)
    }

    #[test]
    fn a_job_every_third_day_has_a_three_day_cycle() {
        let s = days_used(40, |d| d % 3 == 1);
        assert_eq!(detect(&s, s.end()), Season::Cycle(3));
    }

    #[test]
    fn weekdays_make_a_weekly_cycle_and_every_day_none() {
        let s = days_used(42, |d| d % 7 < 5);
        assert_eq!(detect(&s, s.end()), Season::Cycle(7));
        let s = days_used(42, |_| true);
        assert_eq!(detect(&s, s.end()), Season::Everyday);
    }

    #[test]
    fn a_week_of_history_or_less_has_no_season() {
        let s = days_used(6, |d| d % 2 == 0);
        assert_eq!(detect(&s, s.end()), Season::Irregular);
    }
}

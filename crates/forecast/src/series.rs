//! Hourly connection counts of one port.

/// Whole hours since 1970-01-01T00:00Z.
pub type Hour = i64;

/// Hours in a day.
pub const HOURS_PER_DAY: i64 = 24;

/// The hour of the week of `hour`, 0 being Monday 00:00 UTC. The epoch
/// fell on a Thursday, 72 hours after a Monday midnight.
pub fn hour_of_week(hour: Hour) -> i64 {
    (hour + 72).rem_euclid(7 * HOURS_PER_DAY)
}

/// Connections per hour from `first` on; hours outside are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    first: Hour,
    counts: Vec<u64>,
}

impl Series {
    /// `counts[i]` connections in hour `first + i`.
    pub fn new(first: Hour, counts: Vec<u64>) -> Self {
        Series { first, counts }
    }

    /// The series of `(hour, count)` pairs, counts of one hour summed;
    /// `None` when there are none.
    pub fn from_counts(pairs: impl IntoIterator<Item = (Hour, u64)>) -> Option<Self> {
        let pairs: Vec<(Hour, u64)> = pairs.into_iter().collect();
        let first = pairs.iter().map(|&(h, _)| h).min()?;
        let last = pairs.iter().map(|&(h, _)| h).max()?;
        let mut counts = vec![0; usize::try_from(last - first + 1).ok()?];
        for (hour, count) in pairs {
            counts[(hour - first) as usize] += count;
        }
        Some(Series { first, counts })
    }

    /// The first hour recorded.
    pub fn first(&self) -> Hour {
        self.first
    }

    /// The hour after the last one recorded.
    pub fn end(&self) -> Hour {
        self.first + self.counts.len() as Hour
    }

    /// Connections in `hour` (zero outside the series).
    pub fn count(&self, hour: Hour) -> u64 {
        usize::try_from(hour - self.first)
            .ok()
            .and_then(|i| self.counts.get(i).copied())
            .unwrap_or(0)
    }

    /// The series up to, not including, `end`: what was known then.
    pub fn until(&self, end: Hour) -> Series {
        let keep = (end - self.first).clamp(0, self.counts.len() as Hour) as usize;
        Series::new(self.first, self.counts[..keep].to_vec())
    }

    /// The last hour with a connection.
    pub fn last_used(&self) -> Option<Hour> {
        self.counts
            .iter()
            .rposition(|&c| c > 0)
            .map(|i| self.first + i as Hour)
    }

    /// Whether any connection fell in `[from, to)`.
    pub fn used_in(&self, from: Hour, to: Hour) -> bool {
        (from..to).any(|h| self.count(h) > 0)
    }

    /// Connections in each whole UTC day of the series, with the day's
    /// first hour.
    pub fn daily_totals(&self) -> Vec<(Hour, u64)> {
        let first_day = self.first.div_euclid(HOURS_PER_DAY)
            + i64::from(self.first.rem_euclid(HOURS_PER_DAY) != 0);
        let end_day = self.end().div_euclid(HOURS_PER_DAY);
        (first_day..end_day)
            .map(|day| {
                let start = day * HOURS_PER_DAY;
                let total = (start..start + HOURS_PER_DAY).map(|h| self.count(h)).sum();
                (start, total)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monday_midnight_starts_the_week() {
        // 2026-01-05T00:00Z was a Monday: 20458 days after the epoch.
        let monday = 20458 * 24;
        assert_eq!(hour_of_week(monday), 0);
        assert_eq!(hour_of_week(monday - 1), 167);
    }

    #[test]
    fn counts_of_one_hour_add_up_and_gaps_are_zero() {
        let s = Series::from_counts([(10, 2), (13, 1), (10, 3)]).unwrap();
        assert_eq!((s.first(), s.end()), (10, 14));
        assert_eq!(
            [s.count(10), s.count(11), s.count(13), s.count(99)],
            [5, 0, 1, 0]
        );
        assert_eq!(s.last_used(), Some(13));
        assert!(s.used_in(12, 14) && !s.used_in(11, 13));
    }

    #[test]
    fn only_whole_days_are_totalled() {
        let s = Series::new(20, (0..60).map(|_| 1).collect());
        assert_eq!(s.daily_totals(), vec![(24, 24), (48, 24)]);
    }
}

//! The figures of a run: sustained pushes per second, latency percentiles
//! and errors by status, as text or JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::drive::Run;

/// The figures, as `--format json` prints them.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Simulated hosts.
    pub hosts: usize,
    /// Seconds between one host's pushes.
    pub interval_s: f64,
    /// Seconds pushes were sent for.
    pub duration_s: f64,
    /// Seconds at the start left out of the figures.
    pub warmup_s: f64,
    /// Seconds enrolling every host took.
    pub enroll_s: f64,
    /// Seconds storing every host's first, full state took (before the
    /// timed run, `--setup-concurrency` at a time).
    pub seed_s: f64,
    /// Pushes per second offered: hosts / interval.
    pub offered_per_s: f64,
    /// Pushes intended in the measured window and answered 200, per second
    /// of the window.
    pub sustained_per_s: f64,
    /// Pushes intended in the measured window.
    pub measured: usize,
    /// Of those, answered 200 and stored.
    pub accepted: usize,
    /// Of those, answered 200 as duplicates.
    pub duplicates: usize,
    /// Of those, the ones that carried a change.
    pub changed: usize,
    /// Latency percentiles over the measured pushes answered (any status),
    /// in milliseconds from the intended send time.
    pub latency_ms: Latency,
    /// Measured pushes not answered 200, by status (`"connection"`: no
    /// HTTP answer; `"unanswered"`: none within the grace period after the
    /// run).
    pub errors: BTreeMap<String, usize>,
    /// Pushes in the warm-up not answered 200.
    pub warmup_errors: usize,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Serialize, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// The slowest.
    pub max: f64,
}

/// The settings a report states.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Simulated hosts.
    pub hosts: usize,
    /// Between one host's pushes.
    pub interval: Duration,
    /// How long pushes were sent.
    pub duration: Duration,
    /// Left out of the figures at the start.
    pub warmup: Duration,
    /// Enrolling took.
    pub enroll: Duration,
    /// Storing each host's first state took.
    pub seed: Duration,
}

impl Report {
    /// The figures of `run`.
    pub fn new(settings: Settings, run: &Run) -> Report {
        let measured: Vec<_> = run
            .outcomes
            .iter()
            .filter(|o| o.intended >= settings.warmup)
            .collect();
        let ok: Vec<_> = measured.iter().filter(|o| o.status == Some(200)).collect();
        let window = settings
            .duration
            .saturating_sub(settings.warmup)
            .as_secs_f64();
        let mut latencies: Vec<Duration> = measured
            .iter()
            .filter(|o| o.status.is_some())
            .map(|o| o.latency)
            .collect();
        latencies.sort_unstable();
        let mut errors = BTreeMap::new();
        for o in &measured {
            match o.status {
                Some(200) => {}
                Some(status) => *errors.entry(status.to_string()).or_default() += 1,
                None => *errors.entry("connection".to_owned()).or_default() += 1,
            }
        }
        if run.unanswered > 0 {
            errors.insert("unanswered".to_owned(), run.unanswered);
        }
        Report {
            hosts: settings.hosts,
            interval_s: settings.interval.as_secs_f64(),
            duration_s: settings.duration.as_secs_f64(),
            warmup_s: settings.warmup.as_secs_f64(),
            enroll_s: settings.enroll.as_secs_f64(),
            seed_s: settings.seed.as_secs_f64(),
            offered_per_s: settings.hosts as f64 / settings.interval.as_secs_f64(),
            sustained_per_s: if window > 0.0 {
                ok.len() as f64 / window
            } else {
                0.0
            },
            measured: measured.len(),
            accepted: ok.iter().filter(|o| o.accepted).count(),
            duplicates: ok.iter().filter(|o| !o.accepted).count(),
            changed: measured.iter().filter(|o| o.changed).count(),
            latency_ms: Latency {
                p50: percentile(&latencies, 0.50),
                p90: percentile(&latencies, 0.90),
                p99: percentile(&latencies, 0.99),
                max: latencies.last().map_or(0.0, |d| ms(*d)),
            },
            errors,
            warmup_errors: run
                .outcomes
                .iter()
                .filter(|o| o.intended < settings.warmup && o.status != Some(200))
                .count(),
        }
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            self.errors
                .iter()
                .map(|(status, n)| format!("{status}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "hosts             {}\n\
             interval          {:.1} s (offered {:.1} pushes/s)\n\
             duration          {:.0} s (first {:.0} s left out)\n\
             enrolled in       {:.1} s, first states stored in {:.1} s\n\
             sustained         {:.1} pushes/s answered 200\n\
             measured pushes   {} ({} stored, {} duplicates, {} with a change)\n\
             latency p50       {:.2} ms\n\
             latency p90       {:.2} ms\n\
             latency p99       {:.2} ms\n\
             latency max       {:.2} ms\n\
             errors            {errors} (in the warm-up: {})\n",
            self.hosts,
            self.interval_s,
            self.offered_per_s,
            self.duration_s,
            self.warmup_s,
            self.enroll_s,
            self.seed_s,
            self.sustained_per_s,
            self.measured,
            self.accepted,
            self.duplicates,
            self.changed,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max,
            self.warmup_errors,
        )
    }
}

/// The `q` quantile of `sorted` (nearest rank), in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    ms(sorted[rank - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::Outcome;

    fn outcome(intended_s: u64, latency_ms: u64, status: Option<u16>) -> Outcome {
        Outcome {
            intended: Duration::from_secs(intended_s),
            latency: Duration::from_millis(latency_ms),
            status,
            accepted: status == Some(200),
            changed: false,
        }
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted[..1], 0.99), 1.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_warmup_is_left_out_and_errors_are_counted_by_status() {
        let run = Run {
            outcomes: vec![
                outcome(0, 900, Some(200)),
                outcome(1, 900, Some(503)),
                outcome(10, 2, Some(200)),
                outcome(11, 4, Some(200)),
                outcome(12, 30, Some(503)),
                outcome(13, 1, None),
            ],
            unanswered: 2,
        };
        let settings = Settings {
            hosts: 4,
            interval: Duration::from_secs(2),
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(10),
            enroll: Duration::ZERO,
            seed: Duration::ZERO,
        };
        let report = Report::new(settings, &run);
        assert_eq!(report.measured, 4);
        assert_eq!(report.accepted, 2);
        assert_eq!(report.sustained_per_s, 0.2);
        assert_eq!(report.offered_per_s, 2.0);
        assert_eq!(report.latency_ms.max, 30.0, "the warm-up's 900 ms left out");
        assert_eq!(report.warmup_errors, 1);
        assert_eq!(
            report.errors,
            BTreeMap::from([
                ("503".to_owned(), 1),
                ("connection".to_owned(), 1),
                ("unanswered".to_owned(), 2),
            ])
        );
    }
}

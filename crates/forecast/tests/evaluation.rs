//! Evaluation on synthetic histories with known patterns (issue 21).
//!
//! Eight ports, two months each of hourly counts with Poisson noise and
//! jobs that start up to an hour early or late, from a fixed seed:
//! steady, a daily job, office hours, a weekly job, a job every third day,
//! a fortnightly job, a service that stops, and a rarely used port.
//!
//! Prediction: at every hour of the last 25 days, `predict` sees only the
//! hours before and says whether a connection will come in the next 24
//! hours; so does the naive rule "used in the last 24 hours". Anomalies:
//! hours made implausible (bursts, traffic at hours never used, a quiet
//! port suddenly busy) are injected into copies of the histories, and
//! `anomalies` is scored on all the hours it reports.
//!
//! Targets: accuracy ≥ 0.95 and at least 5 points above the naive rule;
//! anomalies found with recall 1.0 and precision ≥ 0.8.

use std::collections::BTreeSet;

use portreeve_forecast::{Hour, Pattern, Series, anomalies, predict};

/// 2026-01-05T00:00Z, a Monday: 20458 days after the epoch.
const START: Hour = 20458 * 24;
/// Two months.
const DAYS: i64 = 61;
/// Predictions are judged at every hour from this day on.
const FIRST_CUT_DAY: i64 = 35;

/// SplitMix64: a small generator whose sequence never changes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// -1, 0 or +1 hours.
    fn jitter(&mut self) -> i64 {
        (self.next() % 3) as i64 - 1
    }

    /// A Poisson draw with mean `mean` (Knuth's method; means stay small).
    fn poisson(&mut self, mean: f64) -> u64 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

/// A synthetic port: its name, the pattern it was built with, its counts.
struct Port {
    name: &'static str,
    built_as: Pattern,
    counts: Vec<u64>,
}

/// Day of the week of day `day` of the history, 0 being Monday.
fn weekday(day: i64) -> i64 {
    day % 7
}

fn hours() -> Vec<u64> {
    vec![0; (DAYS * 24) as usize]
}

/// A job of `mean` connections on the days `runs` says, at `hour` ± 1.
fn job(rng: &mut Rng, hour: i64, mean: f64, runs: impl Fn(i64) -> bool) -> Vec<u64> {
    let mut counts = hours();
    for day in (0..DAYS).filter(|&d| runs(d)) {
        counts[(day * 24 + hour + rng.jitter()) as usize] = rng.poisson(mean) + 1;
    }
    counts
}

fn ports(rng: &mut Rng) -> Vec<Port> {
    let steady = (0..DAYS * 24)
        .map(|h| {
            rng.poisson(if (7..23).contains(&(h % 24)) {
                15.0
            } else {
                3.0
            })
        })
        .collect();
    let office = (0..DAYS * 24)
        .map(|h| {
            let (day, hour) = (h / 24, h % 24);
            match hour {
                _ if weekday(day) >= 5 => 0,
                9..=16 => rng.poisson(12.0),
                8 | 17 => rng.poisson(2.0),
                _ => 0,
            }
        })
        .collect();
    let stop = 44 * 24 + 12;
    let stopped = (0..DAYS * 24)
        .map(|h| match h % 24 {
            _ if h >= stop => 0,
            7..=21 => rng.poisson(5.0),
            _ => 0,
        })
        .collect();
    let mut rare = hours();
    for day in 0..DAYS {
        if rng.unit() < 1.0 / 25.0 {
            rare[(day * 24 + (rng.next() % 24) as i64) as usize] = 1 + rng.next() % 3;
        }
    }
    vec![
        Port {
            name: "steady",
            built_as: Pattern::Steady,
            counts: steady,
        },
        Port {
            name: "daily job",
            built_as: Pattern::Daily,
            counts: job(rng, 2, 30.0, |_| true),
        },
        Port {
            name: "office hours",
            built_as: Pattern::OfficeHours,
            counts: office,
        },
        Port {
            name: "weekly job",
            built_as: Pattern::Weekly,
            counts: job(rng, 3, 40.0, |d| weekday(d) == 6),
        },
        Port {
            name: "every 3 days",
            built_as: Pattern::Periodic { days: 3 },
            counts: job(rng, 14, 20.0, |d| d % 3 == 1),
        },
        Port {
            name: "fortnightly",
            built_as: Pattern::Periodic { days: 14 },
            counts: job(rng, 22, 50.0, |d| d % 14 == 3),
        },
        Port {
            name: "stopped",
            built_as: Pattern::Stopped,
            counts: stopped,
        },
        Port {
            name: "rare",
            built_as: Pattern::Rare,
            counts: rare,
        },
    ]
}

/// Hours made implausible in `port`, each with its count: bursts at the
/// busiest hour of a day, traffic at hours the pattern never uses.
fn inject(port: &mut Port) -> BTreeSet<i64> {
    let busiest = |counts: &[u64], day: i64| {
        (day * 24..day * 24 + 24)
            .max_by_key(|&h| counts[h as usize])
            .unwrap()
    };
    let (bursts, unused): (&[i64], &[(i64, i64, u64)]) = match port.name {
        "steady" => (&[40, 52], &[]),
        "daily job" => (&[50], &[(38, 15, 8)]),
        "office hours" => (&[51], &[(40, 11, 15), (46, 3, 3)]),
        "weekly job" => (&[55], &[(44, 3, 10)]),
        "every 3 days" => (&[49], &[(41, 3, 6)]),
        "fortnightly" => (&[45], &[(50, 10, 5)]),
        "stopped" => (&[], &[(52, 12, 200)]),
        "rare" => (&[], &[(47, 16, 80)]),
        other => panic!("no injections for {other}"),
    };
    let mut injected = BTreeSet::new();
    for &day in bursts {
        let hour = busiest(&port.counts, day);
        port.counts[hour as usize] = port.counts[hour as usize] * 10 + 20;
        injected.insert(hour);
    }
    for &(day, hour, count) in unused {
        let hour = day * 24 + hour;
        assert_eq!(
            port.counts[hour as usize], 0,
            "{}: hour {hour} is used",
            port.name
        );
        port.counts[hour as usize] = count;
        injected.insert(hour);
    }
    injected
}

/// Correct answers of the model and of the naive rule, out of how many.
#[derive(Default)]
struct Score {
    model: usize,
    naive: usize,
    cuts: usize,
}

fn score_predictions(series: &Series) -> Score {
    let mut score = Score::default();
    for cut in START + FIRST_CUT_DAY * 24..=START + (DAYS - 1) * 24 {
        let truth = series.used_in(cut, cut + 24);
        let model = predict(&series.until(cut), cut).probability >= 0.5;
        let naive = series.used_in(cut - 24, cut);
        score.model += usize::from(model == truth);
        score.naive += usize::from(naive == truth);
        score.cuts += 1;
    }
    score
}

#[test]
fn predictions_and_anomalies_meet_the_targets() {
    let mut rng = Rng(21);
    let mut total = Score::default();
    let (mut found, mut reported, mut injected_all) = (0, 0, 0);
    println!(
        "{:<14} {:>8} {:>8} {:>10} {:>10}",
        "port", "model", "naive", "pattern", "anomalies"
    );
    for mut port in ports(&mut rng) {
        let series = Series::new(START, port.counts.clone());
        let score = score_predictions(&series);
        let end = predict(&series, series.end());
        let injected: BTreeSet<Hour> = inject(&mut port).into_iter().map(|h| START + h).collect();
        let flagged: BTreeSet<Hour> = anomalies(&Series::new(START, port.counts.clone()))
            .iter()
            .map(|a| a.hour)
            .collect();
        let hits = flagged.intersection(&injected).count();
        println!(
            "{:<14} {:>8.3} {:>8.3} {:>10} {:>4}/{:<2} of {}",
            port.name,
            score.model as f64 / score.cuts as f64,
            score.naive as f64 / score.cuts as f64,
            end.pattern.tag(),
            hits,
            flagged.len(),
            injected.len()
        );
        assert_eq!(
            end.pattern,
            port.built_as,
            "{}: {}",
            port.name,
            end.pattern.describe()
        );
        let missed: Vec<&Hour> = injected.difference(&flagged).collect();
        let extra: Vec<&Hour> = flagged.difference(&injected).collect();
        println!("    missed {missed:?}, not injected {extra:?}");
        total.model += score.model;
        total.naive += score.naive;
        total.cuts += score.cuts;
        found += hits;
        reported += flagged.len();
        injected_all += injected.len();
    }
    let accuracy = total.model as f64 / total.cuts as f64;
    let naive = total.naive as f64 / total.cuts as f64;
    let recall = found as f64 / injected_all as f64;
    let precision = found as f64 / reported.max(1) as f64;
    println!(
        "prediction accuracy {accuracy:.3} (naive rule {naive:.3}) over {} cuts; anomalies recall {recall:.3}, precision {precision:.3} ({found} of {injected_all} injected, {reported} reported)",
        total.cuts
    );
    assert!(accuracy >= 0.95, "accuracy {accuracy:.3}");
    assert!(
        accuracy - naive >= 0.05,
        "accuracy {accuracy:.3}, naive {naive:.3}"
    );
    assert_eq!(recall, 1.0);
    assert!(precision >= 0.8, "precision {precision:.3}");
}

//! What a port's forecast changes about its state.
//!
//! Idle time alone misjudges two kinds of port. A job that runs every
//! fortnight is idle for thirteen days between runs, and a 10-day
//! `abandoned_after` would call it abandoned — and reclaim it — before its
//! next run. A port whose clients went away is still *active* for
//! `dormant_after` although its history says it will not be used again.
//! The forecast ([`portreeve_forecast::predict`] over the agent's hourly
//! history) tells both apart, and [`judge`] applies it:
//!
//! - a port used in a cycle longer than a day (every N days, weekly,
//!   office hours) is never abandoned while the forecast still sees the
//!   cycle: it is active between runs and dormant only once idle longer
//!   than its cycle plus [`RUN_SLACK`] (and `dormant_after`);
//! - a port whose use stopped, with a chance of use in the next 24 hours
//!   under [`IDLE_PROBABILITY`], is dormant once idle for
//!   [`STOPPED_AFTER`] rather than after `dormant_after`. It is not
//!   abandoned any sooner: closing stays the thresholds' decision, the
//!   forecast only warns early.
//!
//! A periodic job that misses its run is seen by the forecast as
//! [`Pattern::Stopped`], so the first rule protects a port only while its
//! runs keep coming.

use jiff::SignedDuration;
use portreeve_forecast::{Pattern, Prediction};
use serde::Serialize;

use crate::classify::{State, Thresholds};
use crate::finding::days;

/// How late a periodic port's run may be before the port counts as
/// dormant: the forecast judges use in windows a day wide, so a job that
/// runs some hours late is on time, while a whole day late it is seen as
/// stopped.
pub const RUN_SLACK: SignedDuration = SignedDuration::from_hours(24);

/// Below this chance of a connection in the next 24 hours, a port whose
/// use stopped is dormant before `dormant_after`.
pub const IDLE_PROBABILITY: f64 = 0.05;

/// A port the forecast calls stopped went a whole day without the use its
/// cycle promised; one idle for less was used after the forecast was made
/// (forecasts are made once an hour), which the forecast has not seen, so
/// it is not dormant early.
pub const STOPPED_AFTER: SignedDuration = SignedDuration::from_hours(24);

/// How the forecast changed a port's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForecastEffect {
    /// A port used in a cycle, between its runs: active, or dormant when
    /// its run is late, where the thresholds alone said dormant or
    /// abandoned.
    BetweenRuns,
    /// A port whose use stopped: dormant before `dormant_after`.
    PredictedIdle,
}

impl ForecastEffect {
    /// The name used in JSON and tables: `between-runs`, `predicted-idle`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastEffect::BetweenRuns => "between-runs",
            ForecastEffect::PredictedIdle => "predicted-idle",
        }
    }
}

/// What the forecast said of a port, and what it changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForecastNote {
    /// The pattern found in its history (`periodic`, `weekly`, `stopped`,
    /// …: [`Pattern::tag`]).
    pub pattern: &'static str,
    /// The cycle in days, for a port used in one longer than a day.
    pub cycle_days: Option<u32>,
    /// The chance of at least one new connection in the next 24 hours.
    pub probability: f64,
    /// What it changed; `None` when the state is the thresholds' own.
    pub effect: Option<ForecastEffect>,
    /// The forecast and its effect in a sentence.
    pub why: String,
}

/// The cycle in days of a port used in one longer than a day: the
/// ports whose idle time between runs is not abandonment.
fn cycle_days(pattern: Pattern) -> Option<u32> {
    match pattern {
        Pattern::Periodic { days } => Some(days),
        Pattern::Weekly | Pattern::OfficeHours => Some(7),
        Pattern::Steady | Pattern::Daily | Pattern::Stopped | Pattern::Rare | Pattern::Unused => {
            None
        }
    }
}

/// The state of a port idle for `idle`, which `thresholds` alone put in
/// `computed` ([`State::Active`], [`State::Dormant`] or
/// [`State::Abandoned`]), once `prediction` is taken into account, and
/// why.
pub fn judge(
    computed: State,
    idle: SignedDuration,
    thresholds: &Thresholds,
    prediction: &Prediction,
) -> (State, ForecastNote) {
    let pattern = prediction.pattern;
    let chance = format!(
        "chance of a new connection in the next 24h {:.0}%",
        prediction.probability * 100.0
    );
    let cycle = cycle_days(pattern);
    let (state, effect, why) = if let Some(cycle) = cycle {
        let late = SignedDuration::from_hours(24 * i64::from(cycle)) + RUN_SLACK;
        let dormant_from = thresholds.dormant_after.max(late);
        let state = if idle >= dormant_from {
            State::Dormant
        } else {
            State::Active
        };
        let effect = (state != computed).then_some(ForecastEffect::BetweenRuns);
        let why = match (effect, state) {
            (Some(_), State::Active) => format!(
                "{}; between runs: dormant only after {} without a connection, never abandoned while the cycle holds",
                pattern.describe(),
                days(dormant_from)
            ),
            (Some(_), _) => format!(
                "{}; its run is late: dormant, never abandoned while the cycle holds",
                pattern.describe()
            ),
            (None, _) => format!("{}; {chance}", pattern.describe()),
        };
        (state, effect, why)
    } else if pattern == Pattern::Stopped
        && prediction.probability < IDLE_PROBABILITY
        && idle >= STOPPED_AFTER
        && computed == State::Active
    {
        let why = format!(
            "{} ({chance}): dormant before dormant_after ({})",
            pattern.describe(),
            days(thresholds.dormant_after)
        );
        (State::Dormant, Some(ForecastEffect::PredictedIdle), why)
    } else {
        (computed, None, format!("{}; {chance}", pattern.describe()))
    };
    (
        state,
        ForecastNote {
            pattern: pattern.tag(),
            cycle_days: cycle,
            probability: prediction.probability,
            effect,
            why,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    fn prediction(pattern: Pattern, probability: f64) -> Prediction {
        Prediction {
            probability,
            pattern,
            last_used: Some(0),
        }
    }

    /// Judges `idle` under `thresholds` with and without `prediction`.
    fn both(
        idle: SignedDuration,
        thresholds: &Thresholds,
        prediction: &Prediction,
    ) -> (State, State, ForecastNote) {
        let computed = thresholds.state_after(idle);
        let (state, note) = judge(computed, idle, thresholds, prediction);
        (computed, state, note)
    }

    #[test]
    fn a_fortnightly_job_idle_13_days_is_not_abandoned_with_a_10_day_abandoned_after() {
        let thresholds = Thresholds {
            dormant_after: hours(72),
            abandoned_after: hours(24 * 10),
        };
        let fortnightly = prediction(Pattern::Periodic { days: 14 }, 0.9);
        let (computed, state, note) = both(hours(24 * 13), &thresholds, &fortnightly);
        assert_eq!(computed, State::Abandoned, "the thresholds alone");
        assert_eq!(state, State::Active);
        assert_eq!(note.effect, Some(ForecastEffect::BetweenRuns));
        assert_eq!((note.pattern, note.cycle_days), ("periodic", Some(14)));
        assert_eq!(
            note.why,
            "used every 14 days; between runs: dormant only after 15d without a connection, \
             never abandoned while the cycle holds"
        );
        // Its cycle plus a day: dormant from that instant on, and never
        // abandoned, however long the forecast still sees the cycle.
        let (_, state, _) = both(hours(24 * 15) - hours(1), &thresholds, &fortnightly);
        assert_eq!(state, State::Active);
        for idle in [hours(24 * 15), hours(24 * 400)] {
            let (_, state, note) = both(idle, &thresholds, &fortnightly);
            assert_eq!(state, State::Dormant, "{idle}");
            assert_eq!(note.effect, Some(ForecastEffect::BetweenRuns));
            assert!(note.why.contains("its run is late"), "{}", note.why);
        }
    }

    #[test]
    fn a_weekly_port_waits_for_its_cycle_or_dormant_after_whichever_is_longer() {
        let short = Thresholds::default();
        let weekly = prediction(Pattern::Weekly, 0.1);
        // Four days between runs: dormant by 72 h, active by its week.
        let (computed, state, note) = both(hours(96), &short, &weekly);
        assert_eq!((computed, state), (State::Dormant, State::Active));
        assert_eq!(note.cycle_days, Some(7));
        // Under a policy slower than the cycle, the policy's pace holds,
        // and the forecast changes nothing.
        let slow = Thresholds {
            dormant_after: hours(24 * 10),
            abandoned_after: hours(24 * 60),
        };
        let (computed, state, note) = both(hours(24 * 9), &slow, &weekly);
        assert_eq!(
            (computed, state, note.effect),
            (State::Active, State::Active, None)
        );
        assert_eq!(
            note.why,
            "used in a weekly cycle; chance of a new connection in the next 24h 10%"
        );
        // Office hours are a weekly cycle too.
        let office = prediction(Pattern::OfficeHours, 0.0);
        let (_, state, _) = both(hours(24 * 31), &short, &office);
        assert_eq!(state, State::Dormant);
    }

    #[test]
    fn a_stopped_port_idle_30_hours_is_dormant_before_a_72_hour_dormant_after() {
        let thresholds = Thresholds::default();
        let stopped = prediction(Pattern::Stopped, 0.02);
        let (computed, state, note) = both(hours(30), &thresholds, &stopped);
        assert_eq!((computed, state), (State::Active, State::Dormant));
        assert_eq!(note.effect, Some(ForecastEffect::PredictedIdle));
        assert_eq!(
            note.why,
            "stopped being used (chance of a new connection in the next 24h 2%): \
             dormant before dormant_after (3d)"
        );
        // Abandoned no sooner than the thresholds say, and no later.
        let (computed, state, note) = both(hours(24 * 29), &thresholds, &stopped);
        assert_eq!(
            (computed, state, note.effect),
            (State::Dormant, State::Dormant, None)
        );
        let (_, state, _) = both(hours(24 * 30), &thresholds, &stopped);
        assert_eq!(state, State::Abandoned);
    }

    #[test]
    fn only_a_stopped_port_unlikely_to_be_used_is_dormant_early() {
        let thresholds = Thresholds::default();
        for p in [
            prediction(Pattern::Stopped, IDLE_PROBABILITY),
            prediction(Pattern::Rare, 0.01),
            prediction(Pattern::Unused, 0.0),
            prediction(Pattern::Daily, 0.02),
        ] {
            let (_, state, note) = both(hours(30), &thresholds, &p);
            assert_eq!((state, note.effect), (State::Active, None), "{p:?}");
        }
        // Used an hour ago, after the forecast was made: not stopped.
        let stopped = prediction(Pattern::Stopped, 0.02);
        let (_, state, _) = both(hours(1), &thresholds, &stopped);
        assert_eq!(state, State::Active);
    }
}

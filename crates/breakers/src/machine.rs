//! One breaker's states and transitions, decided from measurements and the
//! times they cover; no clock is read here, so every rule about durations
//! is tested with the times a test chooses.

use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// When a breaker trips and when it recovers.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// It trips once the measurement has stayed above this…
    pub trip_above: f64,
    /// …for this long.
    pub trip_for: SignedDuration,
    /// A tripped breaker recovers once the measurement has stayed below
    /// this (at most `trip_above`: the gap between them is the hysteresis
    /// that keeps a breaker from flapping)…
    pub recover_below: f64,
    /// …for this long.
    pub recover_for: SignedDuration,
    /// After a recovery, no automatic trip for this long.
    pub cooldown: SignedDuration,
    /// At most this many automatic trips in any hour.
    pub max_trips_per_hour: u32,
}

/// A measurement and the time it covers: a rate or a CPU share is
/// measured over the span since the previous reading, so the condition it
/// shows held from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The value.
    pub value: f64,
    /// The start of the span it covers.
    pub from: Timestamp,
    /// The end of the span, when it was read.
    pub to: Timestamp,
}

/// Why a breaker is tripped.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum TripCause {
    /// The measurement stayed above the threshold for the duration.
    Measurement {
        /// The measurement that completed the duration.
        value: f64,
        /// How long it had been above.
        #[serde(with = "seconds")]
        held_for: SignedDuration,
    },
    /// Someone tripped it by hand; it stays until reset.
    Manual {
        /// Why, as they said.
        reason: String,
    },
}

/// Where a breaker stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    /// Normal: the policy as written is in force.
    Closed,
    /// Tripped: the breaker's action is in force.
    Tripped {
        /// Since when.
        since: Timestamp,
        /// Why.
        cause: TripCause,
    },
}

/// What a reading or a command changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "transition", rename_all = "lowercase")]
pub enum Transition {
    /// The breaker tripped: apply its action.
    Trip(TripCause),
    /// The breaker recovered: apply the policy as written again.
    Recover {
        /// The measurement that completed the recovery duration, or
        /// `None` for a manual reset.
        value: Option<f64>,
        /// Why, for a manual reset.
        reason: Option<String>,
    },
    /// The condition held long enough, but a trip was not allowed.
    Held {
        /// Why not.
        why: Suppression,
    },
}

/// Why a due trip did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Suppression {
    /// Within the cooldown after the last recovery.
    Cooldown,
    /// The hour's trips are used up.
    TripCap,
}

/// A command that does not apply to the breaker's state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A reset of a breaker that is not tripped.
    #[error("the breaker is not tripped")]
    NotTripped,
    /// A manual trip of a breaker already tripped.
    #[error("the breaker is already tripped")]
    AlreadyTripped,
}

/// One breaker: its thresholds, its state, and what it remembers of the
/// readings and trips that decide the next transition.
#[derive(Clone, Debug)]
pub struct Breaker {
    thresholds: Thresholds,
    state: State,
    /// Since when the readings have been on the trip side (closed) or the
    /// recovery side (tripped) without a break.
    streak_since: Option<Timestamp>,
    /// Automatic trips in the last hour, oldest first.
    trips: VecDeque<Timestamp>,
    last_recovery: Option<Timestamp>,
    /// Whether the last due trip was held back (said once, not per reading).
    holding: Option<Suppression>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(thresholds: Thresholds) -> Breaker {
        Breaker {
            thresholds,
            state: State::Closed,
            streak_since: None,
            trips: VecDeque::new(),
            last_recovery: None,
            holding: None,
        }
    }

    /// A breaker as it was left: in `state`, with the automatic trips of
    /// the last hour and the last recovery, so a restarted agent keeps a
    /// trip, its cooldown and its hourly cap. A streak of readings is not
    /// kept: it starts again with the next reading.
    pub fn restored(
        thresholds: Thresholds,
        state: State,
        trips: impl IntoIterator<Item = Timestamp>,
        last_recovery: Option<Timestamp>,
    ) -> Breaker {
        Breaker {
            state,
            trips: trips.into_iter().collect(),
            last_recovery,
            ..Breaker::new(thresholds)
        }
    }

    /// Automatic trips remembered (the last hour's, oldest first), and
    /// the last recovery: what [`Self::restored`] takes back.
    pub fn history(&self) -> (Vec<Timestamp>, Option<Timestamp>) {
        (self.trips.iter().copied().collect(), self.last_recovery)
    }

    /// Where it stands.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Automatic trips in the hour before `now`.
    pub fn trips_in_last_hour(&self, now: Timestamp) -> usize {
        self.trips
            .iter()
            .filter(|t| now.duration_since(**t) < SignedDuration::from_hours(1))
            .count()
    }

    /// Takes a reading and says what it changed, if anything.
    pub fn observe(&mut self, m: Measurement) -> Option<Transition> {
        match &self.state {
            State::Closed => self.observe_closed(m),
            State::Tripped {
                cause: TripCause::Manual { .. },
                ..
            } => None,
            State::Tripped { .. } => self.observe_tripped(m),
        }
    }

    fn observe_closed(&mut self, m: Measurement) -> Option<Transition> {
        let t = &self.thresholds;
        if m.value <= t.trip_above {
            self.streak_since = None;
            self.holding = None;
            return None;
        }
        let since = *self.streak_since.get_or_insert(m.from);
        let held_for = m.to.duration_since(since);
        if held_for < t.trip_for {
            return None;
        }
        let suppression = if self
            .last_recovery
            .is_some_and(|r| m.to.duration_since(r) < t.cooldown)
        {
            Some(Suppression::Cooldown)
        } else if self.trips_in_last_hour(m.to) >= t.max_trips_per_hour as usize {
            Some(Suppression::TripCap)
        } else {
            None
        };
        if let Some(why) = suppression {
            // Said when it starts or its reason changes, not every reading.
            return (self.holding.replace(why) != Some(why)).then_some(Transition::Held { why });
        }
        let cause = TripCause::Measurement {
            value: m.value,
            held_for,
        };
        self.trip(m.to, cause.clone());
        self.trips.push_back(m.to);
        while self.trips_in_last_hour(m.to) < self.trips.len() {
            self.trips.pop_front();
        }
        Some(Transition::Trip(cause))
    }

    fn observe_tripped(&mut self, m: Measurement) -> Option<Transition> {
        if m.value >= self.thresholds.recover_below {
            self.streak_since = None;
            return None;
        }
        let since = *self.streak_since.get_or_insert(m.from);
        if m.to.duration_since(since) < self.thresholds.recover_for {
            return None;
        }
        self.close(m.to);
        Some(Transition::Recover {
            value: Some(m.value),
            reason: None,
        })
    }

    /// Trips it by hand at `now`; it stays tripped until [`Self::reset`],
    /// whatever the readings. Not counted against the hourly cap, and
    /// not held back by the cooldown: an operator decides.
    pub fn trip_manually(
        &mut self,
        now: Timestamp,
        reason: &str,
    ) -> Result<Transition, CommandError> {
        if matches!(self.state, State::Tripped { .. }) {
            return Err(CommandError::AlreadyTripped);
        }
        let cause = TripCause::Manual {
            reason: reason.to_owned(),
        };
        self.trip(now, cause.clone());
        Ok(Transition::Trip(cause))
    }

    /// Resets a tripped breaker by hand at `now`; the cooldown starts.
    pub fn reset(&mut self, now: Timestamp, reason: &str) -> Result<Transition, CommandError> {
        if self.state == State::Closed {
            return Err(CommandError::NotTripped);
        }
        self.close(now);
        Ok(Transition::Recover {
            value: None,
            reason: Some(reason.to_owned()),
        })
    }

    fn trip(&mut self, now: Timestamp, cause: TripCause) {
        self.state = State::Tripped { since: now, cause };
        self.streak_since = None;
        self.holding = None;
    }

    fn close(&mut self, now: Timestamp) {
        self.state = State::Closed;
        self.streak_since = None;
        self.last_recovery = Some(now);
    }
}

/// A duration as seconds in JSON.
mod seconds {
    use jiff::SignedDuration;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trips above 50 for 2 s, recovers below 10 for 3 s, 60 s cooldown,
    /// 3 trips an hour.
    fn breaker() -> Breaker {
        Breaker::new(Thresholds {
            trip_above: 50.0,
            trip_for: SignedDuration::from_secs(2),
            recover_below: 10.0,
            recover_for: SignedDuration::from_secs(3),
            cooldown: SignedDuration::from_secs(60),
            max_trips_per_hour: 3,
        })
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// One reading per second, `value` over the second before `s`.
    fn read(b: &mut Breaker, s: i64, value: f64) -> Option<Transition> {
        b.observe(Measurement {
            value,
            from: at(s - 1),
            to: at(s),
        })
    }

    /// Feeds `values` one a second from second `start` on; the seconds
    /// at which something changed, with what.
    fn feed(b: &mut Breaker, start: i64, values: &[f64]) -> Vec<(i64, Transition)> {
        (start..)
            .zip(values)
            .filter_map(|(s, v)| read(b, s, *v).map(|t| (s, t)))
            .collect()
    }

    fn tripped(t: &Transition) -> bool {
        matches!(t, Transition::Trip(_))
    }

    #[test]
    fn it_trips_once_the_measurement_covers_the_whole_duration() {
        let mut b = breaker();
        // Above from second 0 (the reading at 1 covers 0..1); 2 s are
        // covered by the reading at 2.
        let changes = feed(&mut b, 1, &[80.0, 80.0, 80.0]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, 2);
        assert_eq!(
            changes[0].1,
            Transition::Trip(TripCause::Measurement {
                value: 80.0,
                held_for: SignedDuration::from_secs(2)
            })
        );
        assert!(matches!(b.state(), State::Tripped { since, .. } if *since == at(2)));
    }

    #[test]
    fn a_dip_at_or_below_the_threshold_restarts_the_duration() {
        let mut b = breaker();
        // 50 is not above 50.
        let changes = feed(&mut b, 1, &[80.0, 50.0, 80.0, 80.0]);
        assert_eq!(changes.iter().map(|c| c.0).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn recovery_needs_the_lower_threshold_for_its_own_duration() {
        let mut b = breaker();
        feed(&mut b, 1, &[80.0, 80.0]);
        // Between the thresholds: hysteresis, it stays tripped.
        assert!(feed(&mut b, 3, &[30.0, 30.0, 30.0, 30.0, 30.0]).is_empty());
        // Below 10 for 2 s, a bounce, then 3 s: recovers at the third.
        let changes = feed(&mut b, 8, &[5.0, 5.0, 12.0, 5.0, 5.0, 5.0]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0, 13);
        assert_eq!(b.state(), &State::Closed);
    }

    #[test]
    fn the_cooldown_holds_back_a_trip_and_says_so_once() {
        let mut b = breaker();
        feed(&mut b, 1, &[80.0, 80.0]);
        feed(&mut b, 3, &[0.0, 0.0, 0.0]); // recovered at 5
        let changes = feed(&mut b, 6, &[80.0; 10]);
        assert_eq!(
            changes,
            vec![(
                7,
                Transition::Held {
                    why: Suppression::Cooldown
                }
            )],
            "held once, not per reading"
        );
        assert_eq!(b.state(), &State::Closed);
        // Past the cooldown (60 s after 5), a reading that completes the
        // duration trips.
        let changes = feed(&mut b, 66, &[80.0]);
        assert!(
            changes.iter().any(|(s, t)| *s == 66 && tripped(t)),
            "{changes:?}"
        );
    }

    #[test]
    fn no_more_than_the_hourly_cap_of_trips() {
        let mut b = Breaker::new(Thresholds {
            cooldown: SignedDuration::ZERO,
            ..breaker().thresholds
        });
        let mut trips = Vec::new();
        // Overload and calm alternate every 10 s for 100 s.
        for cycle in 0..10 {
            let start = 1 + cycle * 10;
            let mut values = vec![80.0; 5];
            values.extend([0.0; 5]);
            trips.extend(
                feed(&mut b, start, &values)
                    .into_iter()
                    .filter(|(_, t)| tripped(t))
                    .map(|(s, _)| s),
            );
        }
        assert_eq!(trips, [2, 12, 22], "three in the hour, then held");
        assert_eq!(b.trips_in_last_hour(at(100)), 3);
        // An hour after the first, one more is allowed.
        let changes = feed(&mut b, 3602, &[80.0, 80.0]);
        assert!(changes.iter().any(|(_, t)| tripped(t)), "{changes:?}");
    }

    #[test]
    fn a_manual_trip_stays_until_reset_whatever_the_readings() {
        let mut b = breaker();
        let t = b.trip_manually(at(0), "maintenance").unwrap();
        assert_eq!(
            t,
            Transition::Trip(TripCause::Manual {
                reason: "maintenance".into()
            })
        );
        assert!(feed(&mut b, 1, &[0.0; 20]).is_empty());
        assert_eq!(
            b.trip_manually(at(30), "again"),
            Err(CommandError::AlreadyTripped)
        );
        assert!(b.reset(at(31), "done").is_ok());
        assert_eq!(b.reset(at(32), "twice"), Err(CommandError::NotTripped));
        assert_eq!(
            b.trips_in_last_hour(at(32)),
            0,
            "manual trips are not capped"
        );
    }

    #[test]
    fn a_restored_breaker_keeps_its_trip_its_cooldown_and_its_cap() {
        let mut b = breaker();
        feed(&mut b, 1, &[80.0, 80.0]); // tripped at 2
        let (trips, _) = b.history();
        let mut again = Breaker::restored(b.thresholds.clone(), b.state().clone(), trips, None);
        assert_eq!(again.state(), b.state());
        assert_eq!(again.trips_in_last_hour(at(3)), 1);
        // It recovers from the restored trip as the original would.
        let changes = feed(&mut again, 3, &[0.0; 4]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let (trips, recovered) = again.history();
        assert_eq!(recovered, Some(at(5)));
        // And its cooldown survives another restart.
        let mut third = Breaker::restored(b.thresholds.clone(), State::Closed, trips, recovered);
        let held = feed(&mut third, 10, &[80.0, 80.0, 80.0]);
        assert_eq!(
            held,
            [(
                11,
                Transition::Held {
                    why: Suppression::Cooldown
                }
            )]
        );
    }

    #[test]
    fn transitions_say_what_happened_in_json() {
        let cause = TripCause::Measurement {
            value: 81.5,
            held_for: SignedDuration::from_millis(2500),
        };
        assert_eq!(
            serde_json::to_value(Transition::Trip(cause)).unwrap(),
            serde_json::json!({"transition": "trip", "by": "measurement", "value": 81.5, "held_for": 2.5})
        );
        assert_eq!(
            serde_json::to_value(Transition::Held {
                why: Suppression::TripCap
            })
            .unwrap(),
            serde_json::json!({"transition": "held", "why": "trip-cap"})
        );
    }
}

//! Port circuit breakers (issue 20, begun): the decision of when one trips
//! and when it recovers.
//!
//! A [`Breaker`] takes [`Measurement`]s — a value and the span of time it
//! covers — and answers with a [`Transition`] when one is due: it trips
//! once the value has stayed above its threshold for the whole duration,
//! recovers once it has stayed below the (lower) recovery threshold for
//! that duration, and holds a due trip back during the cooldown after a
//! recovery or once the hour's trips are used up. A manual trip stays
//! until reset. Nothing here reads a clock or touches the firewall: the
//! agent measures (the host-wide measures' readers are in [`host`]), and
//! applies what a transition asks through the same use case as every other
//! change.

pub mod effect;
pub mod host;
pub mod machine;
pub mod pool;

pub use effect::{Overflow, with_tripped};
pub use machine::{
    Breaker, CommandError, Measurement, State, Suppression, Thresholds, Transition, TripCause,
};

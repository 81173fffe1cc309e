//! Port usage forecasting from hourly connection counts.
//!
//! A port's history is a [`Series`] of connections per UTC hour. From it
//! this crate answers two questions without any learned weights, so every
//! answer can be explained in words:
//!
//! - [`predict`]: how likely at least one new connection is in the next 24
//!   hours, and which [`Pattern`] the history shows (steady, daily, office
//!   hours, weekly, periodic every N days, stopped, rare);
//! - [`anomalies`]: the hours whose count is implausible for that port at
//!   that point of its cycle (a burst, traffic at an hour never used, a
//!   quiet port suddenly busy).
//!
//! Both rest on [`season::detect`], which finds the port's cycle from the
//! autocorrelation of its daily totals.
//!
//! Hours are whole hours since the Unix epoch ([`Hour`]); days and weeks
//! are UTC.

mod anomaly;
mod predict;
pub mod season;
mod series;

pub use anomaly::{Anomaly, AnomalyKind, Expected, anomalies};
pub use predict::{Pattern, Prediction, predict};
pub use series::{HOURS_PER_DAY, Hour, Series, hour_of_week};

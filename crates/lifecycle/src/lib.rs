//! Port lifecycle: whether each port is active, dormant or abandoned, and
//! what to do about the abandoned ones.
//!
//! The principal function in this crate is [`plan`]: given a
//! [`Policy`](portreeve_policy::Policy), every port the agent tracks (a
//! [`PortInput`]: its [`PortKey`](portreeve_core::PortKey), its
//! [`PortUsage`](portreeve_core::PortUsage), whether it listens, whether it
//! was reclaimed) and an instant, it returns one [`Recommendation`] per port:
//! its [`State`], the [`Action`] to take and, for an abandoned port that is
//! not to be closed, the [`Hold`] that kept it open. Underneath, [`classify`]
//! puts one port's usage in a state by its [`Thresholds`], which
//! [`PortPolicy::resolve`] reads from the policy (rule, then zone, then
//! defaults). A port may come with a forecast from its hourly history
//! ([`PortInput::forecast`]), which [`forecast`] weighs: a periodic port is
//! not abandoned between its runs, and one whose use stopped is dormant
//! early.
//!
//! Pure logic, no I/O: the agent reads usage from the kernel and its store
//! and the policy from disk, and carries out the actions itself. Time comes
//! in as an argument or through a [`Clock`] ([`ManualClock`] in tests), so a
//! test drives a port through its whole life in microseconds.
//! [`State::Reclaimed`] is never computed: nothing in a port's usage says the
//! firewall closed it, so it is *recorded* (in the agent's store) and handed
//! to [`plan`].
//!
//! # Example
//!
//! ```
//! use jiff::Timestamp;
//! use portreeve_core::{PortKey, PortUsage, Proto};
//! use portreeve_lifecycle::{Action, PortInput, State, Thresholds, classify, plan};
//! use portreeve_policy::parse_policy;
//!
//! let mut usage = PortUsage::new("2026-01-01T00:00:00Z".parse()?);
//! usage.last_access = Some("2026-01-10T00:00:00Z".parse()?);
//!
//! // The default thresholds: dormant after 72 hours, abandoned after 30 days.
//! let thresholds = Thresholds::default();
//! let at = |t: &str| t.parse::<Timestamp>();
//! assert_eq!(classify(&usage, &thresholds, at("2026-01-12T00:00:00Z")?), State::Active);
//! assert_eq!(classify(&usage, &thresholds, at("2026-01-13T00:00:00Z")?), State::Dormant);
//! assert_eq!(classify(&usage, &thresholds, at("2026-02-09T00:00:00Z")?), State::Abandoned);
//!
//! // A policy that closes abandoned ports: the agent would close 9100/tcp.
//! let policy = parse_policy(
//!     "p.toml",
//!     r#"
//! [zones]
//! private = ["10.0.0.0/8"]
//!
//! [lifecycle]
//! reclaim = "close"
//!
//! [[rule]]
//! name = "metrics"
//! port = 9100
//! protocol = "tcp"
//! zones = ["private"]
//! "#,
//! )?;
//! let port = PortInput::new(PortKey::new(Proto::Tcp, 9100), usage, true);
//! let recommendations = plan(&policy, &[port], at("2026-02-09T00:00:00Z")?);
//! assert_eq!(recommendations[0].state, State::Abandoned);
//! assert_eq!(recommendations[0].action, Action::Close);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod classify;
mod clock;
mod finding;
pub mod forecast;
mod plan;
mod resolve;

pub use classify::{State, Thresholds, classify};
pub use clock::{Clock, ManualClock, SystemClock};
pub use finding::abandoned_findings;
pub use forecast::{ForecastEffect, ForecastNote};
pub use plan::{Action, Hold, PortInput, Recommendation, plan};
pub use resolve::{PortPolicy, allowed_ports};

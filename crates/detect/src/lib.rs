//! Port-scan detection over connection attempts, as pure logic: callers
//! turn what they observed (a Zeek `conn.log`, packets from a capture, the
//! agent's conntrack and NFLOG events) into [`Attempt`]s and feed them, in
//! time order, to a [`Detector`].
//!
//! - [`Trw`] is Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan,
//!   "Fast Portscan Detection Using Sequential Hypothesis Testing", IEEE
//!   S&P 2004): a sequential test over the outcomes of each source's
//!   first contacts, which decides after about four failures and ignores
//!   timing, so slow scans are caught as fast as quick ones.
//! - [`ZeekLike`] and [`CrowdSecLike`] are the fixed-threshold baselines
//!   (15 distinct ports in 5 minutes; 15 ports in a leaky bucket) the
//!   benchmark compares against.
//!
//! [`conn_log`], [`flow_csv`] and [`handshake`] turn recorded traffic into
//! attempts, [`packet`] one raw IP packet (the agent's NFLOG probes).
//! `docs/detection.md` explains the parameters.

mod activity;
mod attempt;
mod baseline;
pub mod conn_log;
mod detector;
pub mod flow_csv;
pub mod handshake;
pub mod packet;
mod trw;

pub use activity::{Action, Detection, ScanKind, Tier, summarize};
pub use attempt::{Attempt, Outcome, Probe, Transport};
pub use baseline::{CrowdSecLike, CrowdSecLikeConfig, ZeekLike, ZeekLikeConfig};
pub use detector::{Detector, detect_all};
pub use trw::{Trw, TrwConfig};

//! What a scan saw of a host from the outside, in the terms `check` needs
//! to join it with the inventory and the policy.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Proto;

/// Whether a port answered a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// Accepted a connection (or a UDP reply came back).
    Open,
    /// No answer, an ICMP unreachable, or UDP silence: something is in the way.
    Filtered,
    /// Reachable, but refused: nothing listens.
    Closed,
}

/// One scanned port of the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedPort {
    /// Protocol.
    pub protocol: Proto,
    /// Port.
    pub port: u16,
    /// What the scan saw.
    pub observed: Observed,
    /// The service identified on it, if any (e.g. `redis`).
    pub service: Option<String>,
    /// Product and version, if identified.
    pub product: Option<String>,
    /// Whether it answered without authentication, when tested.
    pub unauthenticated: Option<bool>,
}

/// A scan of one host, seen from one vantage point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanView {
    /// The address scanned.
    pub target: IpAddr,
    /// The address the probes came from, which decides the policy zone.
    pub source: Option<IpAddr>,
    /// Every scanned port.
    pub ports: Vec<ObservedPort>,
}

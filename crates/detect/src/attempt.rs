//! What every detector reads: one attempt by a source to reach a port.

use std::net::IpAddr;

use jiff::Timestamp;
use serde::Serialize;

/// The transport protocol of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// The packet that opened the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// A TCP SYN: an ordinary connection attempt (or a SYN scan).
    Syn,
    /// A bare FIN, not part of any connection (nmap -sF).
    Fin,
    /// A TCP segment with no flags at all (nmap -sN).
    Null,
    /// FIN, PSH and URG together (nmap -sX).
    Xmas,
    /// A bare ACK answered by a reset: no connection it could belong to
    /// (nmap -sA).
    Ack,
    /// A UDP datagram.
    Udp,
}

impl Probe {
    /// A probe that cannot open a connection: its only use is to learn
    /// how a port answers while avoiding logs of connection attempts.
    pub fn is_stealth(self) -> bool {
        matches!(self, Probe::Fin | Probe::Null | Probe::Xmas | Probe::Ack)
    }
}

/// How the target answered an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target accepted: a SYN-ACK (or a UDP reply).
    Established,
    /// The target accepted, and the connection was reset before any data
    /// (as a SYN scan does to an open port).
    Reset,
    /// The target refused: a reset in reply to the probe, or an ICMP
    /// unreachable.
    Rejected,
    /// No answer.
    Unanswered,
}

/// One attempt by `source` to reach `port` on `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When the opening packet was seen.
    pub at: Timestamp,
    /// Who tried.
    pub source: IpAddr,
    /// The address tried.
    pub destination: IpAddr,
    /// The port tried.
    pub port: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// The opening packet.
    pub probe: Probe,
    /// How the target answered.
    pub outcome: Outcome,
}

impl Attempt {
    /// Whether the attempt reached a service, in TRW's sense. A stealth
    /// probe never does, whatever the answer: it cannot open a connection.
    pub fn succeeded(&self) -> bool {
        !self.probe.is_stealth() && matches!(self.outcome, Outcome::Established | Outcome::Reset)
    }
}

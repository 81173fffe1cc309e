//! Attempts from packet headers, as a capture holds them: each opening
//! packet (a SYN, a stealth probe, a UDP datagram to a new 4-tuple) is
//! paired with what came back from the other side on the same 4-tuple.
//!
//! A SYN answered by SYN-ACK is accepted (reset if the opener then sends
//! RST, as a SYN scan does), by RST refused, by nothing unanswered. FIN,
//! NULL and Xmas segments opening no known connection are stealth probes;
//! a bare ACK is one only when the target answers it with RST (the target
//! knows no such connection), since a capture may start midway through a
//! real connection. A UDP datagram is accepted if anything comes back on
//! its 4-tuple. Retransmissions of an opening packet are the same attempt.

use std::collections::HashMap;
use std::net::SocketAddr;

use jiff::Timestamp;

use crate::attempt::{Attempt, Outcome, Probe, Transport};

/// TCP flag bits, as in the header.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// The headers of one captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Capture time.
    pub at: Timestamp,
    /// Sender address and port.
    pub from: SocketAddr,
    /// Receiver address and port.
    pub to: SocketAddr,
    /// TCP (with its flag byte) or UDP.
    pub segment: Segment,
}

/// The transport header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// A TCP segment with these flags (the low 6 bits of byte 13).
    Tcp(u8),
    /// A UDP datagram.
    Udp,
}

/// An attempt still being paired with its answer.
#[derive(Debug)]
struct Open {
    attempt: Attempt,
    /// A bare ACK counts only once answered by RST.
    needs_reset: bool,
}

/// Pairs opening packets with their answers; [`finish`](Self::finish)
/// returns the attempts in time order.
#[derive(Debug, Default)]
pub struct Handshakes {
    /// Keyed by (opener, target) 4-tuple.
    open: HashMap<(SocketAddr, SocketAddr), Open>,
}

impl Handshakes {
    /// No packets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet (in capture order).
    pub fn packet(&mut self, p: &PacketHeader) {
        if let Some(open) = self.open.get_mut(&(p.to, p.from)) {
            answer(open, p.segment);
            return;
        }
        if let Some(open) = self.open.get_mut(&(p.from, p.to)) {
            // The opener again: a retransmission, or for a SYN the reset
            // that tears a half-open scan connection down.
            if let Segment::Tcp(f) = p.segment
                && f & flags::RST != 0
                && open.attempt.outcome == Outcome::Established
            {
                open.attempt.outcome = Outcome::Reset;
            }
            return;
        }
        let Some((probe, transport)) = opening(p.segment) else {
            return;
        };
        let attempt = Attempt {
            at: p.at,
            source: p.from.ip(),
            destination: p.to.ip(),
            port: p.to.port(),
            transport,
            probe,
            outcome: Outcome::Unanswered,
        };
        let open = Open {
            attempt,
            needs_reset: probe == Probe::Ack,
        };
        self.open.insert((p.from, p.to), open);
    }

    /// Every attempt seen, in time order; what got no answer is unanswered.
    pub fn finish(self) -> Vec<Attempt> {
        let mut attempts: Vec<Attempt> = self
            .open
            .into_values()
            .filter(|o| !o.needs_reset)
            .map(|o| o.attempt)
            .collect();
        attempts.sort_by_key(|a| (a.at, a.source, a.port));
        attempts
    }
}

/// The probe a packet opens, if it can open one.
pub(crate) fn opening(segment: Segment) -> Option<(Probe, Transport)> {
    use flags::{ACK, FIN, PSH, RST, SYN, URG};
    let probe = match segment {
        Segment::Udp => return Some((Probe::Udp, Transport::Udp)),
        Segment::Tcp(f) if f & (SYN | ACK | RST) == SYN => Probe::Syn,
        Segment::Tcp(f) if f & (FIN | PSH | URG | SYN | ACK | RST) == FIN | PSH | URG => {
            Probe::Xmas
        }
        Segment::Tcp(f) if f & (FIN | SYN | ACK | RST) == FIN => Probe::Fin,
        Segment::Tcp(0) => Probe::Null,
        Segment::Tcp(f) if f & (SYN | ACK | RST | FIN) == ACK => Probe::Ack,
        Segment::Tcp(_) => return None,
    };
    Some((probe, Transport::Tcp))
}

/// Applies the target's answer to an open attempt.
fn answer(open: &mut Open, segment: Segment) {
    use flags::{ACK, RST, SYN};
    let attempt = &mut open.attempt;
    match segment {
        Segment::Udp => attempt.outcome = Outcome::Established,
        Segment::Tcp(f) if f & RST != 0 => {
            if attempt.outcome == Outcome::Unanswered {
                attempt.outcome = Outcome::Rejected;
            } else if attempt.outcome == Outcome::Established {
                attempt.outcome = Outcome::Reset;
            }
            open.needs_reset = false;
        }
        Segment::Tcp(f) if f & (SYN | ACK) == SYN | ACK && attempt.probe == Probe::Syn => {
            attempt.outcome = Outcome::Established;
        }
        Segment::Tcp(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::flags::{ACK, FIN, PSH, RST, SYN, URG};
    use super::*;

    const SCANNER: &str = "10.9.0.1:40000";
    const TARGET: &str = "10.9.0.2";

    fn packet(from: &str, to: &str, segment: Segment, ms: i64) -> PacketHeader {
        PacketHeader {
            at: Timestamp::from_millisecond(ms).unwrap(),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            segment,
        }
    }

    /// Feeds a probe to `port` and the target's `reply`, if any.
    fn exchange(h: &mut Handshakes, port: u16, probe: Segment, reply: Option<Segment>) {
        let target = format!("{TARGET}:{port}");
        h.packet(&packet(SCANNER, &target, probe, i64::from(port)));
        if let Some(reply) = reply {
            h.packet(&packet(&target, SCANNER, reply, i64::from(port) + 1));
        }
    }

    #[test]
    fn probes_are_paired_with_their_answers() {
        let mut h = Handshakes::new();
        exchange(&mut h, 1, Segment::Tcp(SYN), Some(Segment::Tcp(SYN | ACK)));
        exchange(&mut h, 2, Segment::Tcp(SYN), Some(Segment::Tcp(RST | ACK)));
        exchange(&mut h, 3, Segment::Tcp(SYN), None);
        exchange(&mut h, 4, Segment::Tcp(FIN), None);
        exchange(&mut h, 5, Segment::Tcp(0), Some(Segment::Tcp(RST | ACK)));
        exchange(&mut h, 6, Segment::Tcp(FIN | PSH | URG), None);
        exchange(&mut h, 7, Segment::Tcp(ACK), Some(Segment::Tcp(RST)));
        exchange(&mut h, 8, Segment::Tcp(ACK), None);
        exchange(&mut h, 9, Segment::Udp, Some(Segment::Udp));
        exchange(&mut h, 10, Segment::Udp, None);
        // The scanner resets the half-open connection on port 1.
        h.packet(&packet(
            SCANNER,
            &format!("{TARGET}:1"),
            Segment::Tcp(RST),
            20,
        ));
        let got: Vec<_> = h
            .finish()
            .iter()
            .map(|a| (a.port, a.probe, a.outcome))
            .collect();
        assert_eq!(
            got,
            [
                (1, Probe::Syn, Outcome::Reset),
                (2, Probe::Syn, Outcome::Rejected),
                (3, Probe::Syn, Outcome::Unanswered),
                (4, Probe::Fin, Outcome::Unanswered),
                (5, Probe::Null, Outcome::Rejected),
                (6, Probe::Xmas, Outcome::Unanswered),
                (7, Probe::Ack, Outcome::Rejected),
                (9, Probe::Udp, Outcome::Established),
                (10, Probe::Udp, Outcome::Unanswered),
            ]
        );
    }

    #[test]
    fn a_retransmitted_syn_is_one_attempt() {
        let mut h = Handshakes::new();
        exchange(&mut h, 22, Segment::Tcp(SYN), None);
        exchange(&mut h, 22, Segment::Tcp(SYN), Some(Segment::Tcp(SYN | ACK)));
        let attempts = h.finish();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome, Outcome::Established);
    }
}

//! An attempt from one raw IP packet, as the kernel hands the agent a
//! probe its scan chain logged over NFLOG: no link header, cut short after
//! the first bytes (the agent asks for ~128, enough for the IP and
//! transport headers), nothing paired with any answer — the caller knows
//! the outcome.
//!
//! IPv4 and IPv6 (extension headers skipped) carrying TCP or UDP. The
//! probe is read from the TCP flags by the same rules as in
//! [`crate::handshake`], so a capture and the agent name a probe alike.
//! Anything else — other protocols, non-first fragments, a segment that
//! can open no probe (an RST, a SYN-ACK), headers cut short — gives no
//! attempt.

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use jiff::Timestamp;

use crate::attempt::{Attempt, Outcome};
use crate::handshake::{Segment, opening};

/// Byte 13 of a TCP header holds the flags; the low six are the classic
/// ones ([`crate::handshake::flags`]).
const TCP_FLAGS_BYTE: usize = 13;
const TCP_FLAGS_MASK: u8 = 0x3f;

/// The attempt one raw IPv4 or IPv6 packet makes, seen at `at`, with the
/// `outcome` the caller knows. `None` for anything but a whole TCP or UDP
/// header behind a whole IP header (with its extension headers), and for
/// TCP segments that open no probe. Never panics.
pub fn attempt_from_ip(packet: &[u8], at: Timestamp, outcome: Outcome) -> Option<Attempt> {
    let sliced = LaxSlicedPacket::from_ip(packet).ok()?;
    let (source, destination) = match sliced.net? {
        LaxNetSlice::Ipv4(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        LaxNetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    let (segment, port) = match sliced.transport? {
        TransportSlice::Tcp(tcp) => (
            Segment::Tcp(tcp.header_slice()[TCP_FLAGS_BYTE] & TCP_FLAGS_MASK),
            tcp.destination_port(),
        ),
        TransportSlice::Udp(udp) => (Segment::Udp, udp.destination_port()),
        _ => return None,
    };
    let (probe, transport) = opening(segment)?;
    Some(Attempt {
        at,
        source,
        destination,
        port,
        transport,
        probe,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::attempt::{Probe, Transport};
    use crate::handshake::flags::{ACK, FIN, PSH, RST, SYN, URG};

    const V4_SOURCE: [u8; 4] = [10, 9, 0, 1];
    const V4_TARGET: [u8; 4] = [10, 9, 0, 2];
    const V6_SOURCE: &str = "fd00:9::1";
    const V6_TARGET: &str = "fd00:9::2";
    const TCP: u8 = 6;
    const UDP: u8 = 17;

    fn at() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    /// A 20-byte TCP header from port 40000 to `port` with `flags`.
    fn tcp(port: u16, flags: u8) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h[0..2].copy_from_slice(&40000u16.to_be_bytes());
        h[2..4].copy_from_slice(&port.to_be_bytes());
        h[12] = 5 << 4;
        h[13] = flags;
        h[14..16].copy_from_slice(&1024u16.to_be_bytes());
        h
    }

    /// An 8-byte UDP header from port 40000 to `port`, with `payload`.
    fn udp(port: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 8];
        h[0..2].copy_from_slice(&40000u16.to_be_bytes());
        h[2..4].copy_from_slice(&port.to_be_bytes());
        h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(payload);
        h
    }

    /// An IPv4 packet (no options) carrying `transport` as `protocol`.
    fn v4(protocol: u8, transport: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + transport.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&V4_SOURCE);
        p[16..20].copy_from_slice(&V4_TARGET);
        p.extend_from_slice(transport);
        p
    }

    /// An IPv6 packet carrying `transport`, behind a hop-by-hop options
    /// header when `hop_by_hop` (as MLD reports and jumbograms have).
    fn v6(protocol: u8, transport: &[u8], hop_by_hop: bool) -> Vec<u8> {
        let mut ext = Vec::new();
        let mut next = protocol;
        if hop_by_hop {
            // Next header, length 0 (8 bytes), PadN over the remaining 6.
            ext.extend_from_slice(&[protocol, 0, 1, 4, 0, 0, 0, 0]);
            next = 0;
        }
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((ext.len() + transport.len()) as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        let source: std::net::Ipv6Addr = V6_SOURCE.parse().unwrap();
        let target: std::net::Ipv6Addr = V6_TARGET.parse().unwrap();
        p[8..24].copy_from_slice(&source.octets());
        p[24..40].copy_from_slice(&target.octets());
        p.extend(ext);
        p.extend_from_slice(transport);
        p
    }

    fn probe_of(packet: &[u8]) -> Option<(Probe, Transport, u16)> {
        attempt_from_ip(packet, at(), Outcome::Rejected).map(|a| (a.probe, a.transport, a.port))
    }

    #[test]
    fn an_ipv4_syn_is_a_whole_attempt() {
        let attempt = attempt_from_ip(&v4(TCP, &tcp(8080, SYN)), at(), Outcome::Rejected);
        assert_eq!(
            attempt,
            Some(Attempt {
                at: at(),
                source: IpAddr::from(V4_SOURCE),
                destination: IpAddr::from(V4_TARGET),
                port: 8080,
                transport: Transport::Tcp,
                probe: Probe::Syn,
                outcome: Outcome::Rejected,
            })
        );
    }

    #[test]
    fn each_probe_kind_is_read_from_the_flags() {
        let cases = [
            (SYN, Some(Probe::Syn)),
            (FIN, Some(Probe::Fin)),
            (0, Some(Probe::Null)),
            (FIN | PSH | URG, Some(Probe::Xmas)),
            (ACK, Some(Probe::Ack)),
            (SYN | ACK, None),
            (RST, None),
            (RST | ACK, None),
        ];
        for (flags, probe) in cases {
            let got = probe_of(&v4(TCP, &tcp(22, flags))).map(|(p, _, _)| p);
            assert_eq!(got, probe, "flags {flags:#04x}");
        }
        assert_eq!(
            probe_of(&v4(UDP, &udp(53, b"query"))),
            Some((Probe::Udp, Transport::Udp, 53))
        );
    }

    #[test]
    fn ipv6_with_and_without_extension_headers() {
        for hop_by_hop in [false, true] {
            let a = attempt_from_ip(
                &v6(TCP, &tcp(443, FIN | PSH | URG), hop_by_hop),
                at(),
                Outcome::Unanswered,
            )
            .unwrap_or_else(|| panic!("hop-by-hop {hop_by_hop}"));
            assert_eq!(a.source, V6_SOURCE.parse::<IpAddr>().unwrap());
            assert_eq!(a.destination, V6_TARGET.parse::<IpAddr>().unwrap());
            assert_eq!((a.port, a.probe), (443, Probe::Xmas));
            assert_eq!(a.outcome, Outcome::Unanswered);
            let u = probe_of(&v6(UDP, &udp(123, &[0; 48]), hop_by_hop));
            assert_eq!(u, Some((Probe::Udp, Transport::Udp, 123)));
        }
    }

    #[test]
    fn a_packet_cut_after_its_headers_still_counts() {
        // NFLOG copies only the first bytes; the IP length says more.
        let whole = v4(UDP, &udp(161, &[7; 400]));
        assert_eq!(
            probe_of(&whole[..128]),
            Some((Probe::Udp, Transport::Udp, 161))
        );
    }

    #[test]
    fn truncated_or_foreign_packets_give_nothing() {
        let packets = [v4(TCP, &tcp(22, SYN)), v6(TCP, &tcp(22, SYN), true)];
        for packet in &packets {
            let header_end = packet.len();
            for cut in 0..header_end {
                assert_eq!(probe_of(&packet[..cut]), None, "cut at {cut}");
            }
        }
        let icmp_echo = v4(1, &[8, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(probe_of(&icmp_echo), None);
        assert_eq!(probe_of(&[]), None);
        assert_eq!(probe_of(&[0x45]), None);
        let mut non_first_fragment = v4(TCP, &tcp(22, SYN));
        non_first_fragment[6..8].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(probe_of(&non_first_fragment), None);
    }
}

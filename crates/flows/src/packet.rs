//! Parsing of sampled packet headers (sFlow raw packet header records and
//! IPFIX `dataLinkFrameSection`) down to the 5-tuple. Headers are cut at an
//! arbitrary length by the exporter, so every layer is optional: whatever
//! could be read is returned, and a short header is not an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::{array_at, be_u16_at};

/// What the outermost IP header and its transport header say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PacketInfo {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ip_protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

/// At most this many VLAN tags, MPLS labels or IPv6 extension headers are
/// walked; real traffic has a few, and the bound keeps hostile input cheap.
const MAX_LAYERS: usize = 8;

/// Parses an Ethernet II frame (with 802.1Q/802.1ad tags and MPLS labels).
pub(crate) fn parse_ethernet(frame: &[u8]) -> PacketInfo {
    ethernet(frame, 0)
}

/// How many Ethernet frames deep (Ethernet over MPLS pseudowires) to look.
const MAX_ETHERNET_NESTING: u8 = 2;

fn ethernet(frame: &[u8], depth: u8) -> PacketInfo {
    let mut ethertype = match be_u16_at(frame, 12) {
        Some(t) => t,
        None => return PacketInfo::default(),
    };
    let mut offset = 14usize;
    for _ in 0..MAX_LAYERS {
        match ethertype {
            // 802.1Q, 802.1ad (QinQ) and the pre-standard 0x9100 tag.
            0x8100 | 0x88a8 | 0x9100 => {
                ethertype = match be_u16_at(frame, offset + 2) {
                    Some(t) => t,
                    None => return PacketInfo::default(),
                };
                offset += 4;
            }
            _ => break,
        }
    }
    let rest = frame.get(offset..).unwrap_or_default();
    match ethertype {
        0x0800 => parse_ipv4(rest),
        0x86dd => parse_ipv6(rest),
        0x8847 | 0x8848 => parse_mpls(rest, depth),
        _ => PacketInfo::default(),
    }
}

/// Pops MPLS labels to the bottom of the stack and guesses the payload from
/// its first nibble, as routers do: 4 or 6 is IP; 0 is a pseudowire
/// control word (RFC 4385) followed by an Ethernet frame; anything else is
/// taken for an Ethernet pseudowire without control word.
fn parse_mpls(mut bytes: &[u8], depth: u8) -> PacketInfo {
    for _ in 0..MAX_LAYERS {
        let Some(label) = array_at::<4>(bytes, 0) else {
            return PacketInfo::default();
        };
        bytes = bytes.get(4..).unwrap_or_default();
        if label[2] & 1 == 1 {
            let nested = depth + 1;
            return match bytes.first().map(|b| b >> 4) {
                Some(4 | 6) => parse_ip(bytes),
                _ if nested > MAX_ETHERNET_NESTING => PacketInfo::default(),
                Some(0) => ethernet(bytes.get(4..).unwrap_or_default(), nested),
                Some(_) => ethernet(bytes, nested),
                None => PacketInfo::default(),
            };
        }
    }
    PacketInfo::default()
}

/// Parses an IP packet of either version, chosen by the version nibble.
pub(crate) fn parse_ip(packet: &[u8]) -> PacketInfo {
    match packet.first().map(|b| b >> 4) {
        Some(4) => parse_ipv4(packet),
        Some(6) => parse_ipv6(packet),
        _ => PacketInfo::default(),
    }
}

/// Parses an IPv4 header and, for a first (or only) fragment, its
/// transport header.
pub(crate) fn parse_ipv4(packet: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let (Some(first), Some(src), Some(dst)) = (
        packet.first(),
        array_at::<4>(packet, 12),
        array_at::<4>(packet, 16),
    ) else {
        return info;
    };
    if first >> 4 != 4 {
        return info;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 {
        return info;
    }
    info.src = Some(IpAddr::V4(Ipv4Addr::from(src)));
    info.dst = Some(IpAddr::V4(Ipv4Addr::from(dst)));
    info.ip_protocol = packet.get(9).copied().unwrap_or(0);
    let fragment_offset = be_u16_at(packet, 6).unwrap_or(0) & 0x1fff;
    if fragment_offset == 0 {
        parse_transport(&mut info, packet.get(header_len..).unwrap_or_default());
    }
    info
}

/// Parses an IPv6 header, walking the common extension headers to the
/// transport header.
pub(crate) fn parse_ipv6(packet: &[u8]) -> PacketInfo {
    let mut info = PacketInfo::default();
    let (Some(first), Some(next), Some(src), Some(dst)) = (
        packet.first(),
        packet.get(6),
        array_at::<16>(packet, 8),
        array_at::<16>(packet, 24),
    ) else {
        return info;
    };
    if first >> 4 != 6 {
        return info;
    }
    info.src = Some(IpAddr::V6(Ipv6Addr::from(src)));
    info.dst = Some(IpAddr::V6(Ipv6Addr::from(dst)));
    let mut next = *next;
    let mut rest = packet.get(40..).unwrap_or_default();
    for _ in 0..MAX_LAYERS {
        let len = match next {
            // Hop-by-hop, routing, destination options: (len + 1) × 8.
            0 | 43 | 60 => rest.get(1).map(|&l| (usize::from(l) + 1) * 8),
            // Fragment: fixed 8 bytes; later fragments carry no ports.
            44 => {
                let offset = be_u16_at(rest, 2).map(|v| v >> 3);
                if offset != Some(0) {
                    info.ip_protocol = rest.first().copied().unwrap_or(44);
                    return info;
                }
                Some(8)
            }
            // Authentication header: (len + 2) × 4.
            51 => rest.get(1).map(|&l| (usize::from(l) + 2) * 4),
            _ => break,
        };
        let (Some(len), Some(&following)) = (len, rest.first()) else {
            info.ip_protocol = next;
            return info;
        };
        next = following;
        rest = match rest.get(len..) {
            Some(r) => r,
            // The extension header is cut short: its next-header byte still
            // names the transport protocol, but there are no ports to read.
            None => {
                info.ip_protocol = next;
                return info;
            }
        };
    }
    info.ip_protocol = next;
    parse_transport(&mut info, rest);
    info
}

fn parse_transport(info: &mut PacketInfo, l4: &[u8]) {
    match info.ip_protocol {
        // TCP, UDP, DCCP, SCTP, UDP-Lite: ports lead the header.
        6 | 17 | 33 | 132 | 136 => {
            if let (Some(sp), Some(dp)) = (be_u16_at(l4, 0), be_u16_at(l4, 2)) {
                info.src_port = sp;
                info.dst_port = dp;
            }
            if info.ip_protocol == 6 {
                info.tcp_flags = be_u16_at(l4, 12).map(|v| v & 0x01ff);
            }
        }
        1 | 58 => {
            info.icmp_type = l4.first().copied();
            info.icmp_code = l4.get(1).copied();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_tcp() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[
            0x1f, 0x90, 0xc3, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12, 0, 0,
        ]);
        p
    }

    fn ethernet(tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for tag in tags {
            f.extend_from_slice(&tag.to_be_bytes());
            f.extend_from_slice(&[0, 7]);
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn qinq_ipv4_tcp() {
        let f = ethernet(&[0x88a8, 0x8100], 0x0800, &ipv4_tcp());
        let i = parse_ethernet(&f);
        assert_eq!(i.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(i.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(
            (i.ip_protocol, i.src_port, i.dst_port, i.tcp_flags),
            (6, 8080, 50000, Some(0x12))
        );
    }

    #[test]
    fn ipv6_with_extension_headers_and_udp() {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, 0 /* hop-by-hop */, 64];
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8].repeat(4));
        p.extend_from_slice(&[0xfe, 0x80, 0, 0].repeat(4));
        p.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]); // hop-by-hop → dest options
        p.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]); // dest options → UDP
        p.extend_from_slice(&[0, 53, 0x30, 0x39, 0, 8, 0, 0]);
        let i = parse_ip(&p);
        assert_eq!((i.ip_protocol, i.src_port, i.dst_port), (17, 53, 12345));
        // Cut anywhere: never panics, keeps what it could read.
        for n in 0..p.len() {
            let _ = parse_ip(&p[..n]);
        }
        let cut = parse_ip(&p[..50]);
        assert_eq!((cut.ip_protocol, cut.src_port), (17, 0));
    }

    #[test]
    fn mpls_and_icmp_and_fragments() {
        let mut icmp = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        icmp.extend_from_slice(&[8, 0, 0, 0]);
        let f = ethernet(&[], 0x8847, &[[0, 1, 0, 64], [0, 2, 1, 64]].concat());
        assert_eq!(parse_ethernet(&f).src, None, "label stack with no payload");
        let mut labels = vec![0, 1, 0, 64, 0, 2, 1, 64];
        labels.extend_from_slice(&icmp);
        let i = parse_ethernet(&ethernet(&[], 0x8847, &labels));
        assert_eq!(
            (i.ip_protocol, i.icmp_type, i.icmp_code),
            (1, Some(8), Some(0))
        );
        let mut frag = ipv4_tcp();
        frag[7] = 1; // fragment offset 1: no transport header
        let i = parse_ipv4(&frag);
        assert_eq!((i.ip_protocol, i.src_port), (6, 0));
    }
}

//! UDP payloads from packet captures, for replaying captured export traffic
//! (`flows decode --pcap`, the conformance tests). Reads classic pcap (both
//! byte orders, micro- and nanosecond timestamps) and pcapng (section
//! header, interface description, enhanced and simple packet blocks), over
//! Ethernet (with VLAN tags), Linux cooked capture v1 and v2, raw IP and
//! BSD loopback link types, IPv4 and IPv6.
//!
//! Packets that are not UDP, IP fragments and packets cut short by the
//! capture's snap length are skipped and counted by reason
//! ([`UdpDatagrams::skipped_by_reason`]). Errors say at which byte of the
//! file they are:
//!
//! - a file that ends inside a record ([`PcapError::Truncated`], as when
//!   the capturing process was killed mid-write) ends the iteration after
//!   every datagram before that record: a caller may keep those and say
//!   what was cut, as `flows decode` does;
//! - a link type this reader cannot find IP packets in
//!   ([`PcapError::UnknownLinkType`]) is an error rather than every packet
//!   skipped: for a classic pcap when the file is opened (its header gives
//!   the one link type), for pcapng at the first packet on such an
//!   interface;
//! - a record that contradicts itself ([`PcapError::Malformed`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bytes::{array_at, be_u16_at};

/// One UDP datagram found in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// Sender (the exporter).
    pub src: SocketAddr,
    /// Receiver (the collector's address and port).
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Why a capture file could not be read (or read to its end).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// Neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file")]
    NotPcap,
    /// The file ends inside a header or packet record: the capture was cut
    /// short. Every datagram before `offset` has been returned.
    #[error(
        "byte {offset}: cut short: the record there needs {needed} bytes, {available} are present"
    )]
    Truncated {
        /// Offset of the incomplete record.
        offset: usize,
        /// Bytes the record needs (as far as its header tells).
        needed: usize,
        /// Bytes the file has from `offset` on.
        available: usize,
    },
    /// A block or record length that cannot be right, or a packet naming an
    /// interface the file did not describe.
    #[error("byte {offset}: malformed capture record")]
    Malformed {
        /// Offset of the bad record.
        offset: usize,
    },
    /// Packets of a link type this reader cannot find IP packets in.
    #[error(
        "byte {offset}: link type {link}{} is not one portreeve reads packets from (it reads Ethernet, Linux cooked capture v1 and v2, raw IP and BSD loopback)",
        link_type_name(*link).map(|n| format!(" ({n})")).unwrap_or_default()
    )]
    UnknownLinkType {
        /// The link type (a `LINKTYPE_*` number).
        link: u32,
        /// Offset of the header field (classic pcap) or of the first packet
        /// block on an interface of that link type (pcapng).
        offset: usize,
    },
}

/// The `LINKTYPE_*` name of a few link types that are not read, for errors.
fn link_type_name(link: u32) -> Option<String> {
    Some(match link {
        6 => "IEEE802_5".into(),
        9 => "PPP".into(),
        50 => "PPP_HDLC".into(),
        51 => "PPP_ETHER".into(),
        105 => "IEEE802_11".into(),
        119 => "IEEE802_11_PRISM".into(),
        127 => "IEEE802_11_RADIOTAP".into(),
        147..=162 => format!("USER{}", link - 147),
        163 => "IEEE802_11_AVS".into(),
        187 => "BLUETOOTH_HCI_H4".into(),
        189 => "USB_LINUX".into(),
        192 => "PPI".into(),
        195 => "IEEE802_15_4_WITHFCS".into(),
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR".into(),
        215 => "IEEE802_15_4_NOFCS".into(),
        220 => "USB_LINUX_MMAPPED".into(),
        249 => "NETLINK".into(),
        _ => return None,
    })
}

/// Whether [`ip_in_frame`] knows where the IP packet is in frames of `link`.
fn known_link_type(link: u32) -> bool {
    matches!(link, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
}

/// Packets skipped so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not IPv4 or IPv6 carrying UDP (ARP, TCP, ICMP, …).
    pub not_udp: u64,
    /// IP fragments (the datagram is not whole in any one packet).
    pub fragments: u64,
    /// Cut short by the capture's snap length: the packet holds less than
    /// its IP or UDP header says.
    pub cut_by_snap_length: u64,
}

impl Skipped {
    /// Packets skipped for any reason.
    pub fn total(&self) -> u64 {
        self.not_udp + self.fragments + self.cut_by_snap_length
    }

    fn count(&mut self, why: Skip) {
        match why {
            Skip::NotUdp => self.not_udp += 1,
            Skip::Fragment => self.fragments += 1,
            Skip::CutShort => self.cut_by_snap_length += 1,
        }
    }
}

/// Why one packet holds no datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    NotUdp,
    Fragment,
    CutShort,
}

/// A captured frame: (timestamp µs, link type, bytes).
type Frame<'a> = (u64, u32, &'a [u8]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Classic {
        little: bool,
        nanos: bool,
        link: u32,
    },
    Ng {
        little: bool,
    },
}

/// Iterator over the UDP datagrams of a capture held in memory.
#[derive(Debug, Clone)]
pub struct UdpDatagrams<'a> {
    data: &'a [u8],
    offset: usize,
    format: Format,
    /// pcapng interfaces: (link type, timestamp units per second).
    interfaces: Vec<(u32, u64)>,
    skipped: Skipped,
    failed: bool,
}

/// Reads the UDP datagrams of a classic pcap or pcapng capture.
pub fn udp_datagrams(data: &[u8]) -> Result<UdpDatagrams<'_>, PcapError> {
    let magic = array_at::<4>(data, 0).ok_or(PcapError::NotPcap)?;
    let format = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => Format::Classic {
            little: true,
            nanos: false,
            link: 0,
        },
        [0xa1, 0xb2, 0xc3, 0xd4] => Format::Classic {
            little: false,
            nanos: false,
            link: 0,
        },
        [0x4d, 0x3c, 0xb2, 0xa1] => Format::Classic {
            little: true,
            nanos: true,
            link: 0,
        },
        [0xa1, 0xb2, 0x3c, 0x4d] => Format::Classic {
            little: false,
            nanos: true,
            link: 0,
        },
        [0x0a, 0x0d, 0x0d, 0x0a] => match array_at::<4>(data, 8) {
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => Format::Ng { little: true },
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => Format::Ng { little: false },
            _ => return Err(PcapError::NotPcap),
        },
        _ => return Err(PcapError::NotPcap),
    };
    let (format, offset) = match format {
        Format::Classic { little, nanos, .. } => {
            let link = read_u32(data, 20, little).ok_or(PcapError::Truncated {
                offset: 0,
                needed: 24,
                available: data.len(),
            })?;
            // The upper bits hold the FCS length and flags.
            let link = link & 0x0fff_ffff;
            if !known_link_type(link) {
                return Err(PcapError::UnknownLinkType { link, offset: 20 });
            }
            (
                Format::Classic {
                    little,
                    nanos,
                    link,
                },
                24,
            )
        }
        ng => (ng, 0),
    };
    Ok(UdpDatagrams {
        data,
        offset,
        format,
        interfaces: Vec::new(),
        skipped: Skipped::default(),
        failed: false,
    })
}

fn read_u32(data: &[u8], offset: usize, little: bool) -> Option<u32> {
    let b = array_at::<4>(data, offset)?;
    Some(if little {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    })
}

fn read_u16(data: &[u8], offset: usize, little: bool) -> Option<u16> {
    let b = array_at::<2>(data, offset)?;
    Some(if little {
        u16::from_le_bytes(b)
    } else {
        u16::from_be_bytes(b)
    })
}

impl<'a> UdpDatagrams<'a> {
    /// Packets skipped so far (not UDP, fragments, cut by the snap length).
    pub fn skipped(&self) -> u64 {
        self.skipped.total()
    }

    /// Packets skipped so far, by reason.
    pub fn skipped_by_reason(&self) -> Skipped {
        self.skipped
    }

    /// That the record at `at` needs `needed` bytes the file lacks.
    fn truncated(&self, at: usize, needed: usize) -> PcapError {
        PcapError::Truncated {
            offset: at,
            needed,
            available: self.data.len().saturating_sub(at),
        }
    }

    /// The next packet as (timestamp µs, link type, frame), `Ok(None)` at
    /// the end of the file.
    fn next_frame(&mut self) -> Result<Option<Frame<'a>>, PcapError> {
        loop {
            let at = self.offset;
            if at >= self.data.len() {
                return Ok(None);
            }
            match self.format {
                Format::Classic {
                    little,
                    nanos,
                    link,
                } => {
                    // The record header: seconds, fraction, captured
                    // length, original length.
                    if self.data.len() - at < 16 {
                        return Err(self.truncated(at, 16));
                    }
                    let secs = read_u32(self.data, at, little).ok_or(self.truncated(at, 16))?;
                    let frac = read_u32(self.data, at + 4, little).ok_or(self.truncated(at, 16))?;
                    let caplen =
                        read_u32(self.data, at + 8, little).ok_or(self.truncated(at, 16))? as usize;
                    let start = at + 16;
                    let frame = self
                        .data
                        .get(start..start.saturating_add(caplen))
                        .ok_or(self.truncated(at, caplen.saturating_add(16)))?;
                    self.offset = start + caplen;
                    let frac_us = if nanos {
                        u64::from(frac) / 1000
                    } else {
                        u64::from(frac)
                    };
                    return Ok(Some((u64::from(secs) * 1_000_000 + frac_us, link, frame)));
                }
                Format::Ng { little } => {
                    let block_type =
                        read_u32(self.data, at, little).ok_or(self.truncated(at, 12))?;
                    let len =
                        read_u32(self.data, at + 4, little).ok_or(self.truncated(at, 12))? as usize;
                    if len < 12 || len % 4 != 0 {
                        return Err(PcapError::Malformed { offset: at });
                    }
                    let block = self
                        .data
                        .get(at..at.saturating_add(len))
                        .ok_or(self.truncated(at, len))?;
                    self.offset = at + len;
                    let body = block.get(8..len - 4).unwrap_or_default();
                    match block_type {
                        // Section header: a new section may change byte order
                        // and restarts interface numbering.
                        0x0a0d_0d0a => {
                            let little = match array_at::<4>(body, 0) {
                                Some([0x4d, 0x3c, 0x2b, 0x1a]) => true,
                                Some([0x1a, 0x2b, 0x3c, 0x4d]) => false,
                                _ => return Err(PcapError::Malformed { offset: at }),
                            };
                            self.format = Format::Ng { little };
                            self.interfaces.clear();
                        }
                        // Interface description: link type and timestamp
                        // resolution (option if_tsresol, code 9).
                        1 => {
                            let link = read_u16(body, 0, little)
                                .ok_or(PcapError::Malformed { offset: at })?;
                            let mut units = 1_000_000u64;
                            let mut opt = 8usize;
                            while let (Some(code), Some(olen)) =
                                (read_u16(body, opt, little), read_u16(body, opt + 2, little))
                            {
                                if code == 0 {
                                    break;
                                }
                                if code == 9 {
                                    if let Some(&r) = body.get(opt + 4) {
                                        let exp = u32::from(r & 0x7f);
                                        units = if r & 0x80 == 0 {
                                            10u64.checked_pow(exp)
                                        } else {
                                            2u64.checked_pow(exp)
                                        }
                                        .unwrap_or(1_000_000)
                                        .max(1);
                                    }
                                }
                                opt += 4 + usize::from(olen).div_ceil(4) * 4;
                            }
                            self.interfaces.push((u32::from(link), units));
                        }
                        // Enhanced packet block.
                        6 => {
                            let malformed = PcapError::Malformed { offset: at };
                            let iface =
                                read_u32(body, 0, little).ok_or(malformed.clone())? as usize;
                            let high = read_u32(body, 4, little).ok_or(malformed.clone())?;
                            let low = read_u32(body, 8, little).ok_or(malformed.clone())?;
                            let caplen =
                                read_u32(body, 12, little).ok_or(malformed.clone())? as usize;
                            let frame = body
                                .get(20..20usize.saturating_add(caplen))
                                .ok_or(malformed.clone())?;
                            // A packet on an interface not described.
                            let &(link, units) = self.interfaces.get(iface).ok_or(malformed)?;
                            if !known_link_type(link) {
                                return Err(PcapError::UnknownLinkType { link, offset: at });
                            }
                            let ticks = u64::from(high) << 32 | u64::from(low);
                            let us =
                                u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(units))
                                    .unwrap_or(u64::MAX);
                            return Ok(Some((us, link, frame)));
                        }
                        // Simple packet block: interface 0, no timestamp.
                        3 => {
                            let malformed = PcapError::Malformed { offset: at };
                            let orig = read_u32(body, 0, little).ok_or(malformed.clone())? as usize;
                            let frame = body.get(4..).unwrap_or_default();
                            let frame = frame.get(..orig.min(frame.len())).unwrap_or_default();
                            let &(link, _) = self.interfaces.first().ok_or(malformed)?;
                            if !known_link_type(link) {
                                return Err(PcapError::UnknownLinkType { link, offset: at });
                            }
                            return Ok(Some((0, link, frame)));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl<'a> Iterator for UdpDatagrams<'a> {
    type Item = Result<UdpDatagram<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.next_frame() {
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Ok(Some((timestamp_us, link, frame))) => match udp_in_frame(link, frame) {
                    Ok((src, dst, payload)) => {
                        return Some(Ok(UdpDatagram {
                            timestamp_us,
                            src,
                            dst,
                            payload,
                        }));
                    }
                    Err(why) => self.skipped.count(why),
                },
            }
        }
    }
}

/// Finds the IP packet in a frame of the given link type.
fn ip_in_frame(link: u32, frame: &[u8]) -> Result<&[u8], Skip> {
    let cut = Skip::CutShort;
    let ip = |ethertype: u16| matches!(ethertype, 0x0800 | 0x86dd);
    match link {
        // Ethernet, skipping VLAN tags.
        1 => {
            let mut ethertype = be_u16_at(frame, 12).ok_or(cut)?;
            let mut offset = 14;
            for _ in 0..4 {
                if !matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                ethertype = be_u16_at(frame, offset + 2).ok_or(cut)?;
                offset += 4;
            }
            if !ip(ethertype) {
                return Err(Skip::NotUdp);
            }
            frame.get(offset..).ok_or(cut)
        }
        // Linux cooked capture v1: protocol at 14, header 16 bytes.
        113 => match be_u16_at(frame, 14).ok_or(cut)? {
            p if ip(p) => frame.get(16..).ok_or(cut),
            _ => Err(Skip::NotUdp),
        },
        // Linux cooked capture v2: protocol at 0, header 20 bytes.
        276 => match be_u16_at(frame, 0).ok_or(cut)? {
            p if ip(p) => frame.get(20..).ok_or(cut),
            _ => Err(Skip::NotUdp),
        },
        // Raw IP (LINKTYPE_RAW and its historical DLT numbers), IPv4, IPv6.
        101 | 12 | 14 | 228 | 229 => Ok(frame),
        // BSD loopback: a 4-byte address family, host or network order.
        0 | 108 => frame.get(4..).ok_or(cut),
        // Refused before any packet is read (see `known_link_type`).
        _ => Err(Skip::NotUdp),
    }
}

fn udp_in_frame(link: u32, frame: &[u8]) -> Result<(SocketAddr, SocketAddr, &[u8]), Skip> {
    let cut = Skip::CutShort;
    let packet = ip_in_frame(link, frame)?;
    let (src, dst, udp) = match packet.first().ok_or(cut)? >> 4 {
        4 => {
            let ihl = usize::from(packet.first().ok_or(cut)? & 0x0f) * 4;
            let total = usize::from(be_u16_at(packet, 2).ok_or(cut)?);
            let flags_frag = be_u16_at(packet, 6).ok_or(cut)?;
            // Fragments (more-fragments set or a non-zero offset) skipped.
            if flags_frag & 0x3fff != 0 {
                return Err(Skip::Fragment);
            }
            if *packet.get(9).ok_or(cut)? != 17 || ihl < 20 || total < ihl {
                return Err(Skip::NotUdp);
            }
            let src = IpAddr::V4(Ipv4Addr::from(array_at::<4>(packet, 12).ok_or(cut)?));
            let dst = IpAddr::V4(Ipv4Addr::from(array_at::<4>(packet, 16).ok_or(cut)?));
            (
                src,
                dst,
                packet.get(ihl..total.min(packet.len())).ok_or(cut)?,
            )
        }
        6 => {
            let src = IpAddr::V6(Ipv6Addr::from(array_at::<16>(packet, 8).ok_or(cut)?));
            let dst = IpAddr::V6(Ipv6Addr::from(array_at::<16>(packet, 24).ok_or(cut)?));
            let mut next = *packet.get(6).ok_or(cut)?;
            let mut rest = packet.get(40..).ok_or(cut)?;
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let len = (usize::from(*rest.get(1).ok_or(cut)?) + 1) * 8;
                        next = *rest.first().ok_or(cut)?;
                        rest = rest.get(len..).ok_or(cut)?;
                    }
                    _ => break,
                }
            }
            match next {
                17 => (src, dst, rest),
                44 => return Err(Skip::Fragment),
                _ => return Err(Skip::NotUdp),
            }
        }
        _ => return Err(Skip::NotUdp),
    };
    let sport = be_u16_at(udp, 0).ok_or(cut)?;
    let dport = be_u16_at(udp, 2).ok_or(cut)?;
    let len = usize::from(be_u16_at(udp, 4).ok_or(cut)?);
    if len < 8 {
        return Err(Skip::NotUdp);
    }
    // A payload shorter than the UDP length says was cut by the snap length.
    let payload = udp.get(8..len).ok_or(cut)?;
    Ok((
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        payload,
    ))
}

#[cfg(test)]
mod tests {
    use portreeve_testkit::capture;

    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = (28 + payload.len()) as u16;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0x30, 0x39, 0x08, 0x07]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    /// A classic pcap of `frames`, the nth at n seconds and 7 µs.
    fn classic(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let stamped: Vec<(u64, Vec<u8>)> = (1..)
            .map(|n| n * 1_000_000 + 7)
            .zip(frames.iter().cloned())
            .collect();
        capture::pcap(link, &stamped)
    }

    #[test]
    fn link_types() {
        let ip = ipv4_udp(b"hello");
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0, 0, 5, 0x08, 0]);
        eth.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0];
        sll2.resize(20, 0);
        sll2.extend_from_slice(&ip);
        for (link, frame) in [(1, eth), (113, sll), (276, sll2), (101, ip.clone())] {
            let file = classic(link, &[frame, vec![1, 2, 3]]);
            let mut it = udp_datagrams(&file).unwrap();
            let d = it.next().unwrap().unwrap();
            assert_eq!(d.payload, b"hello", "link type {link}");
            assert_eq!(d.src, "192.0.2.1:12345".parse().unwrap());
            assert_eq!(d.dst.port(), 2055);
            assert_eq!(d.timestamp_us, 1_000_007);
            assert!(it.next().is_none());
            assert_eq!(it.skipped(), 1);
        }
    }

    #[test]
    fn pcapng_enhanced_packets() {
        let ip = ipv4_udp(b"ng");
        let mut f = Vec::new();
        let block = capture::pcapng_block;
        // An interface with nanosecond resolution (option if_tsresol 9).
        block(
            &mut f,
            0x0a0d0d0a,
            &[
                0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        );
        block(
            &mut f,
            1,
            &[101, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
        );
        let mut epb = vec![0, 0, 0, 0, 0, 0, 0, 0];
        epb.extend_from_slice(&3_000_000_000u32.to_le_bytes());
        epb.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        epb.extend_from_slice(&ip);
        block(&mut f, 6, &epb);
        let all: Vec<_> = udp_datagrams(&f)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].payload, all[0].timestamp_us),
            (&b"ng"[..], 3_000_000)
        );
    }

    /// A pcapng of `frames` at time 0 on interface `iface`.
    fn pcapng(link: u16, iface: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let stamped: Vec<(u64, Vec<u8>)> = frames.iter().map(|f| (0, f.clone())).collect();
        capture::pcapng(link, iface, &stamped)
    }

    #[test]
    fn a_cut_short_last_record_ends_the_datagrams_before_it_and_says_what_is_missing() {
        let frames = [ipv4_udp(b"one"), ipv4_udp(b"two"), ipv4_udp(b"three")];
        for (file, before, header) in [
            (classic(101, &frames), classic(101, &frames[..2]), 16),
            (pcapng(101, 0, &frames), pcapng(101, 0, &frames[..2]), 12),
        ] {
            let last = before.len();
            let whole = file.len() - last;
            for cut in [
                last + 1,
                last + header / 2,
                last + header + 5,
                file.len() - 1,
            ] {
                let mut it = udp_datagrams(&file[..cut]).unwrap();
                let payloads: Vec<&[u8]> = it
                    .by_ref()
                    .map_while(Result::ok)
                    .map(|d| d.payload)
                    .collect();
                assert_eq!(payloads, [&b"one"[..], b"two"], "cut at {cut}");
                let items: Vec<_> = udp_datagrams(&file[..cut]).unwrap().collect();
                let error = items.last().unwrap().clone().unwrap_err();
                let PcapError::Truncated {
                    offset,
                    needed,
                    available,
                } = error
                else {
                    panic!("{error:?}")
                };
                assert_eq!((offset, available), (last, cut - last));
                // Where the header is whole, it says how long the record is.
                if cut - last >= header {
                    assert_eq!(needed, whole, "cut at {cut}");
                }
                assert!(it.next().is_none(), "nothing after the error");
            }
        }
    }

    #[test]
    fn unknown_link_types_are_errors_not_skipped_packets() {
        let frames = [ipv4_udp(b"x")];
        assert_eq!(
            udp_datagrams(&classic(147, &frames)).unwrap_err(),
            PcapError::UnknownLinkType {
                link: 147,
                offset: 20
            }
        );
        let e = udp_datagrams(&classic(127, &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "byte 20: link type 127 (IEEE802_11_RADIOTAP) is not one portreeve reads packets from (it reads Ethernet, Linux cooked capture v1 and v2, raw IP and BSD loopback)"
        );
        // pcapng: an interface of that type harms nothing until a packet
        // arrives on it (at byte 28 + 20).
        assert_eq!(udp_datagrams(&pcapng(147, 0, &[])).unwrap().count(), 0);
        let file = pcapng(147, 0, &frames);
        let items: Vec<_> = udp_datagrams(&file).unwrap().collect();
        assert_eq!(
            items,
            [Err(PcapError::UnknownLinkType {
                link: 147,
                offset: 48
            })]
        );
        // A packet on an interface the file never described is malformed.
        let file = pcapng(101, 1, &frames);
        let items: Vec<_> = udp_datagrams(&file).unwrap().collect();
        assert_eq!(items, [Err(PcapError::Malformed { offset: 48 })]);
    }

    #[test]
    fn skipped_packets_are_counted_by_reason() {
        let mut tcp = ipv4_udp(b"tcp");
        tcp[9] = 6;
        let mut fragment = ipv4_udp(b"fragment");
        fragment[6] = 0x20; // more fragments
        let mut snapped = ipv4_udp(b"cut by the snap length");
        snapped.truncate(snapped.len() - 4);
        let file = classic(
            101,
            &[tcp, fragment, snapped, vec![0x45], ipv4_udp(b"whole")],
        );
        let mut it = udp_datagrams(&file).unwrap();
        let payloads: Vec<_> = it.by_ref().map(|d| d.unwrap().payload).collect();
        assert_eq!(payloads, [b"whole"]);
        assert_eq!(
            it.skipped_by_reason(),
            Skipped {
                not_udp: 1,
                fragments: 1,
                cut_by_snap_length: 2,
            }
        );
        assert_eq!(it.skipped(), 4);
    }

    #[test]
    fn bad_files() {
        assert_eq!(udp_datagrams(b"nope").unwrap_err(), PcapError::NotPcap);
        let mut file = classic(1, &[ipv4_udp(b"x")]);
        file.truncate(file.len() - 1);
        let items: Vec<_> = udp_datagrams(&file).unwrap().collect();
        assert_eq!(
            items,
            vec![Err(PcapError::Truncated {
                offset: 24,
                needed: 16 + 29,
                available: 16 + 28,
            })]
        );
        // Every prefix of a good file reads without panicking.
        let file = classic(1, &[ipv4_udp(b"abc"), ipv4_udp(b"defg")]);
        for n in 0..file.len() {
            if let Ok(it) = udp_datagrams(&file[..n]) {
                let _ = it.count();
            }
        }
    }
}

//! UDP payloads from packet captures, for replaying captured export traffic
//! (`flows decode --pcap`, the conformance tests). Reads classic pcap (both
//! byte orders, micro- and nanosecond timestamps) and pcapng (section
//! header, interface description, enhanced and simple packet blocks), over
//! Ethernet (with VLAN tags), Linux cooked capture v1 and v2, raw IP and
//! BSD loopback link types, IPv4 and IPv6.
//!
//! Packets that are not UDP, IP fragments and packets cut short by the
//! capture's snap length are skipped and counted ([`UdpDatagrams::skipped`]);
//! only a malformed file structure is an error.

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

/// Why a capture file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// Neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file")]
    NotPcap,
    /// The file ends inside a header or packet record.
    #[error("capture truncated at byte {offset}")]
    Truncated {
        /// Offset of the incomplete record.
        offset: usize,
    },
    /// A block or record length that cannot be right.
    #[error("malformed capture record at byte {offset}")]
    Malformed {
        /// Offset of the bad record.
        offset: usize,
    },
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
    skipped: u64,
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
            let link = read_u32(data, 20, little).ok_or(PcapError::Truncated { offset: 0 })?;
            (
                Format::Classic {
                    little,
                    nanos,
                    link: link & 0x0fff_ffff,
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
        skipped: 0,
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
    /// Packets skipped so far (not UDP, fragments, cut short, unknown link
    /// type).
    pub fn skipped(&self) -> u64 {
        self.skipped
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
                    let truncated = PcapError::Truncated { offset: at };
                    let secs = read_u32(self.data, at, little).ok_or(truncated.clone())?;
                    let frac = read_u32(self.data, at + 4, little).ok_or(truncated.clone())?;
                    let caplen =
                        read_u32(self.data, at + 8, little).ok_or(truncated.clone())? as usize;
                    let start = at + 16;
                    let frame = self
                        .data
                        .get(start..start.saturating_add(caplen))
                        .ok_or(truncated)?;
                    self.offset = start + caplen;
                    let frac_us = if nanos {
                        u64::from(frac) / 1000
                    } else {
                        u64::from(frac)
                    };
                    return Ok(Some((u64::from(secs) * 1_000_000 + frac_us, link, frame)));
                }
                Format::Ng { little } => {
                    let block_type = read_u32(self.data, at, little)
                        .ok_or(PcapError::Truncated { offset: at })?;
                    let len = read_u32(self.data, at + 4, little)
                        .ok_or(PcapError::Truncated { offset: at })?
                        as usize;
                    if len < 12 || len % 4 != 0 {
                        return Err(PcapError::Malformed { offset: at });
                    }
                    let block = self
                        .data
                        .get(at..at.saturating_add(len))
                        .ok_or(PcapError::Truncated { offset: at })?;
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
                                .ok_or(malformed)?;
                            let Some(&(link, units)) = self.interfaces.get(iface) else {
                                self.skipped += 1;
                                continue;
                            };
                            let ticks = u64::from(high) << 32 | u64::from(low);
                            let us =
                                u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(units))
                                    .unwrap_or(u64::MAX);
                            return Ok(Some((us, link, frame)));
                        }
                        // Simple packet block: interface 0, no timestamp.
                        3 => {
                            let malformed = PcapError::Malformed { offset: at };
                            let orig = read_u32(body, 0, little).ok_or(malformed)? as usize;
                            let frame = body.get(4..).unwrap_or_default();
                            let frame = frame.get(..orig.min(frame.len())).unwrap_or_default();
                            let Some(&(link, _)) = self.interfaces.first() else {
                                self.skipped += 1;
                                continue;
                            };
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
                    Some((src, dst, payload)) => {
                        return Some(Ok(UdpDatagram {
                            timestamp_us,
                            src,
                            dst,
                            payload,
                        }));
                    }
                    None => self.skipped += 1,
                },
            }
        }
    }
}

/// Finds the IP packet in a frame of the given link type.
fn ip_in_frame(link: u32, frame: &[u8]) -> Option<&[u8]> {
    match link {
        // Ethernet, skipping VLAN tags.
        1 => {
            let mut ethertype = be_u16_at(frame, 12)?;
            let mut offset = 14;
            for _ in 0..4 {
                if !matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                    break;
                }
                ethertype = be_u16_at(frame, offset + 2)?;
                offset += 4;
            }
            matches!(ethertype, 0x0800 | 0x86dd).then(|| frame.get(offset..))?
        }
        // Linux cooked capture v1: protocol at 14, header 16 bytes.
        113 => matches!(be_u16_at(frame, 14)?, 0x0800 | 0x86dd).then(|| frame.get(16..))?,
        // Linux cooked capture v2: protocol at 0, header 20 bytes.
        276 => matches!(be_u16_at(frame, 0)?, 0x0800 | 0x86dd).then(|| frame.get(20..))?,
        // Raw IP (LINKTYPE_RAW and its historical DLT numbers), IPv4, IPv6.
        101 | 12 | 14 | 228 | 229 => Some(frame),
        // BSD loopback: a 4-byte address family, host or network order.
        0 | 108 => frame.get(4..),
        _ => None,
    }
}

fn udp_in_frame(link: u32, frame: &[u8]) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let packet = ip_in_frame(link, frame)?;
    let (src, dst, udp) = match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            let total = usize::from(be_u16_at(packet, 2)?);
            let flags_frag = be_u16_at(packet, 6)?;
            // Fragments (more-fragments set or a non-zero offset) skipped.
            if flags_frag & 0x3fff != 0 || *packet.get(9)? != 17 || ihl < 20 || total < ihl {
                return None;
            }
            let src = IpAddr::V4(Ipv4Addr::from(array_at::<4>(packet, 12)?));
            let dst = IpAddr::V4(Ipv4Addr::from(array_at::<4>(packet, 16)?));
            (src, dst, packet.get(ihl..total.min(packet.len()))?)
        }
        6 => {
            let src = IpAddr::V6(Ipv6Addr::from(array_at::<16>(packet, 8)?));
            let dst = IpAddr::V6(Ipv6Addr::from(array_at::<16>(packet, 24)?));
            let mut next = *packet.get(6)?;
            let mut rest = packet.get(40..)?;
            for _ in 0..8 {
                match next {
                    0 | 43 | 60 => {
                        let len = (usize::from(*rest.get(1)?) + 1) * 8;
                        next = *rest.first()?;
                        rest = rest.get(len..)?;
                    }
                    _ => break,
                }
            }
            if next != 17 {
                return None;
            }
            (src, dst, rest)
        }
        _ => return None,
    };
    let sport = be_u16_at(udp, 0)?;
    let dport = be_u16_at(udp, 2)?;
    let len = usize::from(be_u16_at(udp, 4)?);
    // A payload shorter than the UDP length says was cut by the snap length.
    let payload = udp.get(8..len)?;
    Some((
        SocketAddr::new(src, sport),
        SocketAddr::new(dst, dport),
        payload,
    ))
}

#[cfg(test)]
mod tests {
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

    fn classic(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
        ];
        f.extend_from_slice(&link.to_le_bytes());
        for (i, frame) in frames.iter().enumerate() {
            f.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            f.extend_from_slice(&7u32.to_le_bytes());
            f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            f.extend_from_slice(frame);
        }
        f
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
        let block = |f: &mut Vec<u8>, kind: u32, body: &[u8]| {
            let len = (12 + body.len().div_ceil(4) * 4) as u32;
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&len.to_le_bytes());
            f.extend_from_slice(body);
            f.resize(f.len() + (4 - body.len() % 4) % 4, 0);
            f.extend_from_slice(&len.to_le_bytes());
        };
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

    #[test]
    fn bad_files() {
        assert_eq!(udp_datagrams(b"nope").unwrap_err(), PcapError::NotPcap);
        let mut file = classic(1, &[ipv4_udp(b"x")]);
        file.truncate(file.len() - 1);
        let items: Vec<_> = udp_datagrams(&file).unwrap().collect();
        assert_eq!(items, vec![Err(PcapError::Truncated { offset: 24 })]);
        // Every prefix of a good file reads without panicking.
        let file = classic(1, &[ipv4_udp(b"abc"), ipv4_udp(b"defg")]);
        for n in 0..file.len() {
            if let Ok(it) = udp_datagrams(&file[..n]) {
                let _ = it.count();
            }
        }
    }
}

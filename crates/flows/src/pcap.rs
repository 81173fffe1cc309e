//! UDP payloads from packet captures, for replaying captured export traffic
//! (`flows decode --pcap`, the conformance tests). Reads classic pcap (both
//! byte orders, micro- and nanosecond timestamps) and pcapng (section
//! header, interface description, enhanced and simple packet blocks), over
//! Ethernet (with VLAN tags), Linux cooked capture v1 and v2, raw IP and
//! BSD loopback link types, IPv4 and IPv6. The capture's records and
//! blocks are parsed by `pcap-parser` (this module keeps where each record
//! starts, for errors), the frames by `etherparse`.
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

use std::net::{IpAddr, SocketAddr};

use etherparse::err::Layer;
use etherparse::err::packet::SliceError;
use etherparse::{EtherType, LenSource, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::Block;
use pcap_parser::nom;

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
        big: bool,
        nanos: bool,
        /// Records with the "modified" (Kuznetzov) 24-byte header.
        modified: bool,
        link: u32,
    },
    Ng {
        big: bool,
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

/// The pcapng section header block's type, which is also the file's magic.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads the UDP datagrams of a classic pcap or pcapng capture.
pub fn udp_datagrams(data: &[u8]) -> Result<UdpDatagrams<'_>, PcapError> {
    let magic = array_at::<4>(data, 0).ok_or(PcapError::NotPcap)?;
    let (format, offset) = if magic == PCAPNG_MAGIC {
        let big = match array_at::<4>(data, 8) {
            Some([0x4d, 0x3c, 0x2b, 0x1a]) => false,
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            _ => return Err(PcapError::NotPcap),
        };
        (Format::Ng { big }, 0)
    } else {
        let header = match pcap_parser::parse_pcap_header(data) {
            Ok((_, header)) => header,
            Err(nom::Err::Incomplete(_)) => {
                return Err(PcapError::Truncated {
                    offset: 0,
                    needed: 24,
                    available: data.len(),
                });
            }
            Err(_) => return Err(PcapError::NotPcap),
        };
        // The upper bits hold the FCS length and flags.
        let link = header.network.0 as u32 & 0x0fff_ffff;
        if !known_link_type(link) {
            return Err(PcapError::UnknownLinkType { link, offset: 20 });
        }
        let format = Format::Classic {
            big: header.is_bigendian(),
            nanos: header.is_nanosecond_precision(),
            modified: header.is_modified_format(),
            link,
        };
        (format, 24)
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

impl<'a> UdpDatagrams<'a> {
    /// Packets skipped so far (not UDP, fragments, cut by the snap length).
    pub fn skipped(&self) -> u64 {
        self.skipped.total()
    }

    /// Packets skipped so far, by reason.
    pub fn skipped_by_reason(&self) -> Skipped {
        self.skipped
    }

    /// The error for the record at `at` that `pcap-parser` could not
    /// parse: cut short (the file ends inside it) or malformed.
    fn parse_error(&self, at: usize, e: nom::Err<pcap_parser::PcapError<&[u8]>>) -> PcapError {
        let available = self.data.len() - at;
        match e {
            nom::Err::Incomplete(more) => {
                let more = match more {
                    nom::Needed::Size(n) => n.get(),
                    nom::Needed::Unknown => 1,
                };
                // pcap-parser asks first for a block type's fixed header;
                // where the length field is there, it says the whole size.
                let stated = self.record_length(at).unwrap_or(0);
                PcapError::Truncated {
                    offset: at,
                    needed: (available + more).max(stated),
                    available,
                }
            }
            nom::Err::Error(_) | nom::Err::Failure(_) => PcapError::Malformed { offset: at },
        }
    }

    /// The length the header of the record at `at` states, when the file
    /// holds that field: a classic record's 16-byte header plus its
    /// captured length, a pcapng block's total length.
    fn record_length(&self, at: usize) -> Option<usize> {
        let (field, big, extra) = match self.format {
            Format::Classic { big, modified, .. } => (at + 8, big, if modified { 24 } else { 16 }),
            Format::Ng { big } => (at + 4, big, 0),
        };
        let b = array_at::<4>(self.data, field)?;
        let n = if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        Some((n as usize).saturating_add(extra))
    }

    /// The next packet as (timestamp µs, link type, frame), `Ok(None)` at
    /// the end of the file.
    fn next_frame(&mut self) -> Result<Option<Frame<'a>>, PcapError> {
        loop {
            let at = self.offset;
            let Some(rest) = self.data.get(at..).filter(|r| !r.is_empty()) else {
                return Ok(None);
            };
            match self.format {
                Format::Classic {
                    big,
                    nanos,
                    modified,
                    link,
                } => {
                    let parsed = if modified {
                        pcap_parser::parse_pcap_frame_modified(rest)
                    } else if big {
                        pcap_parser::parse_pcap_frame_be(rest)
                    } else {
                        pcap_parser::parse_pcap_frame(rest)
                    };
                    let (after, record) = parsed.map_err(|e| self.parse_error(at, e))?;
                    self.offset = self.data.len() - after.len();
                    let frac_us = if nanos {
                        u64::from(record.ts_usec) / 1000
                    } else {
                        u64::from(record.ts_usec)
                    };
                    let us = u64::from(record.ts_sec) * 1_000_000 + frac_us;
                    return Ok(Some((us, link, record.data)));
                }
                Format::Ng { big } => {
                    let parsed = if big {
                        pcap_parser::parse_block_be(rest)
                    } else {
                        pcap_parser::parse_block_le(rest)
                    };
                    let (after, block) = parsed.map_err(|e| self.parse_error(at, e))?;
                    self.offset = self.data.len() - after.len();
                    if let Some(frame) = self.ng_frame(at, block)? {
                        return Ok(Some(frame));
                    }
                }
            }
        }
    }

    /// The packet in the pcapng block at `at`, if it holds one; section
    /// headers and interface descriptions update the state packets need.
    fn ng_frame(&mut self, at: usize, block: Block<'a>) -> Result<Option<Frame<'a>>, PcapError> {
        let malformed = PcapError::Malformed { offset: at };
        let known = |link: u32| {
            if known_link_type(link) {
                Ok(link)
            } else {
                Err(PcapError::UnknownLinkType { link, offset: at })
            }
        };
        match block {
            // A new section may change byte order and restarts interface
            // numbering.
            Block::SectionHeader(shb) => {
                self.format = Format::Ng {
                    big: shb.big_endian(),
                };
                self.interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let units = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                self.interfaces.push((idb.linktype.0 as u32, units));
            }
            Block::EnhancedPacket(epb) => {
                // A packet on an interface not described is malformed.
                let &(link, units) = self.interfaces.get(epb.if_id as usize).ok_or(malformed)?;
                let ticks = u64::from(epb.ts_high) << 32 | u64::from(epb.ts_low);
                let us = u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(units))
                    .unwrap_or(u64::MAX);
                // The data is padded to 32 bits; `PcapNGPacketBlock::packet_data`
                // trims it but borrows the block.
                let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                return Ok(Some((us, known(link)?, data)));
            }
            // Interface 0, no timestamp.
            Block::SimplePacket(spb) => {
                let &(link, _) = self.interfaces.first().ok_or(malformed)?;
                let data = spb.data.get(..spb.origlen as usize).unwrap_or(spb.data);
                return Ok(Some((0, known(link)?, data)));
            }
            _ => {}
        }
        Ok(None)
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

/// The frame's layers as etherparse slices them, from the link layer of
/// `link` on. A packet that ends before a header or before the length a
/// header states was cut short by the snap length; any other error is a
/// packet that is not well-formed UDP.
fn sliced(link: u32, frame: &[u8]) -> Result<SlicedPacket<'_>, Skip> {
    let after = |n: usize| frame.get(n..).ok_or(Skip::CutShort);
    let protocol_at = |n: usize| be_u16_at(frame, n).map(EtherType).ok_or(Skip::CutShort);
    match link {
        // Ethernet, VLAN tags included.
        1 => SlicedPacket::from_ethernet(frame),
        // Linux cooked capture v1: protocol at 14, header 16 bytes.
        113 => SlicedPacket::from_ether_type(protocol_at(14)?, after(16)?),
        // Linux cooked capture v2: protocol at 0, header 20 bytes.
        276 => SlicedPacket::from_ether_type(protocol_at(0)?, after(20)?),
        // BSD loopback: a 4-byte address family, then the IP packet.
        0 | 108 => SlicedPacket::from_ip(after(4)?),
        // Raw IP (LINKTYPE_RAW and its historical DLT numbers), IPv4, IPv6.
        101 | 12 | 14 | 228 | 229 => SlicedPacket::from_ip(frame),
        // Refused before any packet is read (see `known_link_type`).
        _ => return Err(Skip::NotUdp),
    }
    .map_err(|e| match e {
        // Short in a protocol other than UDP, or a UDP length field below
        // the UDP header's own size: not UDP either way.
        SliceError::Len(e)
            if matches!(
                e.layer,
                Layer::TcpHeader
                    | Layer::Icmpv4
                    | Layer::Icmpv4Timestamp
                    | Layer::Icmpv4TimestampReply
                    | Layer::Icmpv6
                    | Layer::Igmp
                    | Layer::Arp
            ) || e.len_source == LenSource::UdpHeaderLen =>
        {
            Skip::NotUdp
        }
        SliceError::Len(_) => Skip::CutShort,
        _ => Skip::NotUdp,
    })
}

/// The source and destination addresses of an IP packet that is not a
/// fragment.
fn ip_addresses(packet: &SlicedPacket<'_>) -> Result<(IpAddr, IpAddr), Skip> {
    let (src, dst, ip_payload) = match &packet.net {
        Some(NetSlice::Ipv4(ip)) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
            ip.payload(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
            ip.payload(),
        ),
        _ => return Err(Skip::NotUdp),
    };
    if ip_payload.fragmented {
        return Err(Skip::Fragment);
    }
    Ok((src, dst))
}

fn udp_in_frame(link: u32, frame: &[u8]) -> Result<(SocketAddr, SocketAddr, &[u8]), Skip> {
    let packet = sliced(link, frame)?;
    let (src, dst) = ip_addresses(&packet)?;
    match &packet.transport {
        Some(TransportSlice::Udp(udp)) => Ok((
            SocketAddr::new(src, udp.source_port()),
            SocketAddr::new(dst, udp.destination_port()),
            udp.payload(),
        )),
        _ => Err(Skip::NotUdp),
    }
}

/// The addresses, ports and TCP flags of one TCP or UDP packet in a
/// capture, for `portreeve detect --pcap`, which pairs probes with answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportHeader {
    /// Capture time, microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The TCP flags (FIN 0x01 … URG 0x20); `None` for UDP.
    pub tcp_flags: Option<u8>,
}

/// Iterator over the TCP and UDP headers of a capture held in memory;
/// other packets, fragments and packets cut short are skipped. It reads
/// records as [`UdpDatagrams`] does, with the same errors.
#[derive(Debug, Clone)]
pub struct TransportHeaders<'a>(UdpDatagrams<'a>);

/// Reads the TCP and UDP headers of a classic pcap or pcapng capture.
pub fn transport_headers(data: &[u8]) -> Result<TransportHeaders<'_>, PcapError> {
    udp_datagrams(data).map(TransportHeaders)
}

impl Iterator for TransportHeaders<'_> {
    type Item = Result<TransportHeader, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let records = &mut self.0;
        if records.failed {
            return None;
        }
        loop {
            match records.next_frame() {
                Ok(None) => return None,
                Err(e) => {
                    records.failed = true;
                    return Some(Err(e));
                }
                Ok(Some((timestamp_us, link, frame))) => {
                    if let Some(header) = transport_in_frame(timestamp_us, link, frame) {
                        return Some(Ok(header));
                    }
                }
            }
        }
    }
}

fn transport_in_frame(timestamp_us: u64, link: u32, frame: &[u8]) -> Option<TransportHeader> {
    let packet = sliced(link, frame).ok()?;
    let (src, dst) = ip_addresses(&packet).ok()?;
    let (src_port, dst_port, tcp_flags) = match &packet.transport {
        Some(TransportSlice::Udp(udp)) => (udp.source_port(), udp.destination_port(), None),
        Some(TransportSlice::Tcp(tcp)) => {
            let flags = [
                tcp.fin(),
                tcp.syn(),
                tcp.rst(),
                tcp.psh(),
                tcp.ack(),
                tcp.urg(),
            ]
            .iter()
            .enumerate()
            .fold(0u8, |acc, (bit, set)| acc | (u8::from(*set) << bit));
            (tcp.source_port(), tcp.destination_port(), Some(flags))
        }
        _ => return None,
    };
    Some(TransportHeader {
        timestamp_us,
        src: SocketAddr::new(src, src_port),
        dst: SocketAddr::new(dst, dst_port),
        tcp_flags,
    })
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

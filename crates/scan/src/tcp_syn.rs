//! The raw-socket SYN engine (`--syn`, needs CAP_NET_RAW): half-open probes
//! as nmap's `-sS` sends them.
//!
//! One SYN per probe goes out through a raw socket; answers come back
//! through the same socket (and ICMP errors through raw ICMP sockets). No
//! socket, descriptor or ephemeral port is spent per probe, which is what
//! makes it several times faster than connecting. A SYN-ACK is `open`, a
//! reset `closed`, an ICMP unreachable or silence after every retry
//! `filtered`. The local kernel answers the SYN-ACKs with resets, as it does
//! for nmap, so no connection is ever completed.
//!
//! Each probe's sequence number is a keyed hash of its destination, and an
//! answer only counts if it acknowledges exactly that number: stray or
//! forged packets cannot fake a result.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use etherparse::{
    Icmpv4Slice, Icmpv4Type, Icmpv6Slice, Icmpv6Type, Ipv4HeaderSlice, TcpHeader, TcpHeaderSlice,
};
use portreeve_core::Proto;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, Protocol, RecvFlags, SendFlags, SocketFlags, SocketType, ipproto,
};

use crate::engine::{ScanStats, port_result};
use crate::model::{PortResult, PortState, Reason};
use crate::target::{Target, route_source};
use crate::tcp_connect::TcpOptions;
use crate::timing::{RateLimit, RttEstimator, Window};

/// Why the SYN engine cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SynError {
    /// Raw sockets need CAP_NET_RAW.
    #[error("--syn needs raw sockets (CAP_NET_RAW; run as root), or scan without --syn: {0}")]
    Permission(Errno),
    /// The system refused a raw socket or a route for another reason.
    #[error("cannot open raw sockets: {0}")]
    Socket(Errno),
    /// No local address routes to a target.
    #[error("no route to {0}: {1}")]
    NoRoute(IpAddr, std::io::Error),
}

/// The largest window the SYN engine grows to: no descriptors limit it, so
/// this bounds the burst the network sees.
const MAX_WINDOW: usize = 32_768;

/// Raw sockets for one address family: TCP out and in, ICMP errors in.
struct Family {
    tcp: OwnedFd,
    icmp: OwnedFd,
}

/// Receive buffer of the raw sockets: thousands of answers can arrive
/// between two reads, and a full buffer drops them silently.
const RECV_BUFFER: usize = 16 << 20;

fn raw(family: AddressFamily, protocol: Protocol) -> Result<OwnedFd, SynError> {
    let fd = rustix::net::socket_with(
        family,
        SocketType::RAW,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        Some(protocol),
    )
    .map_err(|e| match e {
        Errno::PERM | Errno::ACCESS => SynError::Permission(e),
        e => SynError::Socket(e),
    })?;
    // Beyond net.core.rmem_max only with CAP_NET_ADMIN; fall back quietly.
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, RECV_BUFFER).is_err() {
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, RECV_BUFFER);
    }
    Ok(fd)
}

/// Whether raw sockets can be opened here.
pub fn available() -> bool {
    raw(AddressFamily::INET, ipproto::TCP).is_ok()
}

/// A probe: target index, port, attempt.
#[derive(Clone, Copy, Debug)]
struct Probe {
    target: usize,
    port: u16,
    attempt: u32,
}

/// Scans `ports` of every target with SYN probes.
pub fn scan(
    targets: &[Target],
    ports: &[u16],
    opts: &TcpOptions,
    report: &(dyn Fn(PortResult) + Sync),
) -> Result<ScanStats, SynError> {
    let needs_v4 = targets.iter().any(|t| t.address.is_ipv4());
    let needs_v6 = targets.iter().any(|t| t.address.is_ipv6());
    let v4 = if needs_v4 {
        Some(Family {
            tcp: raw(AddressFamily::INET, ipproto::TCP)?,
            icmp: raw(AddressFamily::INET, ipproto::ICMP)?,
        })
    } else {
        None
    };
    let v6 = if needs_v6 {
        Some(Family {
            tcp: raw(AddressFamily::INET6, ipproto::TCP)?,
            icmp: raw(AddressFamily::INET6, ipproto::ICMPV6)?,
        })
    } else {
        None
    };
    let sources = targets
        .iter()
        .map(|t| route_source(t.address).map_err(|e| SynError::NoRoute(t.address, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut key = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut key, rustix::rand::GetRandomFlags::empty());
    let key = u64::from_ne_bytes(key);
    // A source port outside the usual ephemeral range, so the local kernel's
    // resets never hit a real connection.
    let sport = 61_000 + u16::try_from(key % 4000).expect("below 4000");
    let engine = SynEngine {
        targets,
        ports,
        opts,
        v4,
        v6,
        sources,
        by_address: targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.address, i))
            .collect(),
        key,
        sport,
        in_flight: HashMap::new(),
        deadlines: BinaryHeap::new(),
        hosts: vec![
            RttEstimator::new(opts.initial_timeout, opts.min_timeout, opts.max_timeout);
            targets.len()
        ],
        window: Window::new(256, 16, MAX_WINDOW),
        retries: VecDeque::new(),
        next_item: 0,
        rate: RateLimit::new(opts.rate.map(f64::from)),
        stats: ScanStats::default(),
    };
    Ok(engine.run(report))
}

struct Sent {
    attempt: u32,
    sent: Instant,
}

struct SynEngine<'a> {
    targets: &'a [Target],
    ports: &'a [u16],
    opts: &'a TcpOptions,
    v4: Option<Family>,
    v6: Option<Family>,
    sources: Vec<IpAddr>,
    by_address: HashMap<IpAddr, usize>,
    key: u64,
    sport: u16,
    in_flight: HashMap<(usize, u16), Sent>,
    deadlines: BinaryHeap<Reverse<(Instant, usize, u16, u32)>>,
    hosts: Vec<RttEstimator>,
    window: Window,
    retries: VecDeque<Probe>,
    next_item: usize,
    rate: RateLimit,
    stats: ScanStats,
}

impl SynEngine<'_> {
    fn run(mut self, report: &(dyn Fn(PortResult) + Sync)) -> ScanStats {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create");
        for (i, fd) in [
            self.v4.as_ref().map(|f| &f.tcp),
            self.v4.as_ref().map(|f| &f.icmp),
            self.v6.as_ref().map(|f| &f.tcp),
            self.v6.as_ref().map(|f| &f.icmp),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(fd) = fd {
                epoll::add(&epoll, fd, EventData::new_u64(i as u64), EventFlags::IN)
                    .expect("epoll_ctl add");
            }
        }
        let total = self.targets.len() * self.ports.len();
        let mut events: Vec<epoll::Event> = Vec::with_capacity(8);
        let mut buf = vec![0u8; 65_536];
        loop {
            self.fill(total, &mut buf, report);
            if self.in_flight.is_empty() && self.retries.is_empty() && self.next_item >= total {
                break;
            }
            let wait = self
                .deadlines
                .peek()
                .map_or(Duration::from_millis(5), |Reverse((d, ..))| {
                    d.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(5));
            events.clear();
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: i64::from(wait.subsec_nanos()),
            };
            let _ = epoll::wait(
                &epoll,
                rustix::buffer::spare_capacity(&mut events),
                Some(&timeout),
            );
            // Drain every socket, whatever epoll said: answers must be read
            // before anything is declared silent.
            self.drain(&mut buf, report);
            self.expire(report);
        }
        self.stats
    }

    /// Sequence number of a probe: a keyed hash of its destination.
    fn cookie(&self, address: IpAddr, port: u16) -> u32 {
        let a: u128 = match address {
            IpAddr::V4(v) => u128::from(u32::from(v)),
            IpAddr::V6(v) => u128::from(v),
        };
        let mut h =
            self.key ^ (a as u64) ^ ((a >> 64) as u64).rotate_left(17) ^ (u64::from(port) << 32);
        // SplitMix64 finaliser: cheap, and every input bit affects the result.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (h ^ (h >> 31)) as u32
    }

    fn next_probe(&mut self, total: usize) -> Option<Probe> {
        if let Some(p) = self.retries.pop_front() {
            return Some(p);
        }
        (self.next_item < total).then(|| {
            let i = self.next_item;
            self.next_item += 1;
            Probe {
                target: i % self.targets.len(),
                port: self.ports[i / self.targets.len()],
                attempt: 0,
            }
        })
    }

    /// Probes sent between two reads of the answers.
    const BATCH: usize = 512;

    fn fill(&mut self, total: usize, buf: &mut [u8], report: &(dyn Fn(PortResult) + Sync)) {
        let mut since_drain = 0;
        self.rate.refill(Instant::now());
        while self.in_flight.len() < self.window.size() && self.rate.allows() {
            let Some(probe) = self.next_probe(total) else {
                return;
            };
            self.send(probe);
            self.rate.spend();
            since_drain += 1;
            if since_drain == Self::BATCH {
                since_drain = 0;
                self.drain(buf, report);
            }
        }
    }

    fn send(&mut self, probe: Probe) {
        let address = self.targets[probe.target].address;
        let seq = self.cookie(address, probe.port);
        let mut tcp = TcpHeader::new(self.sport, probe.port, seq, 1024);
        tcp.syn = true;
        let checksum = match (self.sources[probe.target], address) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                tcp.calc_checksum_ipv4_raw(s.octets(), d.octets(), &[])
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                tcp.calc_checksum_ipv6_raw(s.octets(), d.octets(), &[])
            }
            _ => unreachable!("a route's source has the target's family"),
        };
        tcp.checksum = checksum.expect("an empty payload always fits");
        let family = if address.is_ipv4() {
            self.v4.as_ref()
        } else {
            self.v6.as_ref()
        };
        let fd = &family.expect("sockets exist for every target family").tcp;
        // Raw IPv4/IPv6 sockets take the destination port as 0.
        let _ = rustix::net::sendto(
            fd,
            &tcp.to_bytes(),
            SendFlags::empty(),
            &SocketAddr::new(address, 0),
        );
        let now = Instant::now();
        self.stats.sent(probe.attempt);
        self.in_flight.insert(
            (probe.target, probe.port),
            Sent {
                attempt: probe.attempt,
                sent: now,
            },
        );
        self.deadlines.push(Reverse((
            now + self.hosts[probe.target].timeout(),
            probe.target,
            probe.port,
            probe.attempt,
        )));
        self.stats.peak_window = self.stats.peak_window.max(self.in_flight.len());
    }

    fn drain(&mut self, buf: &mut [u8], report: &(dyn Fn(PortResult) + Sync)) {
        let sockets: Vec<(bool, bool)> =
            [(true, false), (true, true), (false, false), (false, true)]
                .into_iter()
                .filter(|(v4, _)| {
                    if *v4 {
                        self.v4.is_some()
                    } else {
                        self.v6.is_some()
                    }
                })
                .collect();
        for (is_v4, is_icmp) in sockets {
            loop {
                let family = if is_v4 {
                    self.v4.as_ref()
                } else {
                    self.v6.as_ref()
                };
                let fam = family.expect("filtered above");
                let fd = if is_icmp { &fam.icmp } else { &fam.tcp };
                let (len, from) = match rustix::net::recvfrom(fd, &mut *buf, RecvFlags::DONTWAIT) {
                    Ok((_, len, from)) => (len, from),
                    Err(_) => break,
                };
                let packet = &buf[..len.min(buf.len())];
                let from = from
                    .and_then(|a| SocketAddr::try_from(a).ok())
                    .map(|a| a.ip());
                let answer = match (is_v4, is_icmp) {
                    (true, false) => parse_tcp_v4(packet),
                    (false, false) => {
                        from.and_then(|f| parse_tcp(packet).map(|(p, flags)| (f, p, flags)))
                    }
                    (true, true) => parse_icmp_v4(packet),
                    (false, true) => parse_icmp_v6(packet),
                };
                if let Some(a) = answer {
                    self.answer(a, report);
                }
            }
        }
    }

    /// An answer from `address`: for TCP, (their port = our probe's port,
    /// flags); for ICMP, the quoted probe's port and the reason.
    fn answer(
        &mut self,
        (address, (port, seq_or_ack), kind): (IpAddr, (u16, u32), Kind),
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let Some(&target) = self.by_address.get(&address) else {
            return;
        };
        let expected = self.cookie(address, port);
        let (state, reason) = match kind {
            Kind::SynAck { dport } | Kind::Rst { dport } if dport != self.sport => return,
            Kind::SynAck { .. } if seq_or_ack == expected.wrapping_add(1) => {
                (PortState::Open, Reason::SynAck)
            }
            Kind::Rst { .. } if seq_or_ack == expected.wrapping_add(1) => {
                (PortState::Closed, Reason::ConnRefused)
            }
            Kind::Unreachable { sport, reason }
                if sport == self.sport && seq_or_ack == expected =>
            {
                (PortState::Filtered, reason)
            }
            _ => return,
        };
        let Some(sent) = self.in_flight.remove(&(target, port)) else {
            return;
        };
        let rtt = sent.sent.elapsed();
        self.sample(target, rtt);
        // An earlier probe went unanswered, this one was answered: loss.
        let lost = sent.attempt > 0 && state != PortState::Filtered;
        if self.window.answered(lost, self.hosts[target].queued(rtt)) {
            self.stats.loss_events += 1;
        }
        self.emit(target, port, state, reason, Some(rtt), report);
    }

    /// A round-trip sample for a host. The host's first one replaces the
    /// initial guess with a measurement: its probes already in flight get
    /// deadlines from it too (the stale ones are skipped by attempt).
    fn sample(&mut self, target: usize, rtt: Duration) {
        if !self.hosts[target].sample(rtt) {
            return;
        }
        let timeout = self.hosts[target].timeout();
        for (&(t, port), sent) in &self.in_flight {
            if t == target {
                self.deadlines
                    .push(Reverse((sent.sent + timeout, t, port, sent.attempt)));
            }
        }
    }

    fn expire(&mut self, report: &(dyn Fn(PortResult) + Sync)) {
        let now = Instant::now();
        while let Some(&Reverse((deadline, target, port, attempt))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            // Stale when answered, or superseded by a retry.
            if self
                .in_flight
                .get(&(target, port))
                .is_none_or(|s| s.attempt != attempt)
            {
                continue;
            }
            self.in_flight.remove(&(target, port));
            self.window.completed();
            if attempt < self.opts.max_retries {
                self.retries.push_back(Probe {
                    target,
                    port,
                    attempt: attempt + 1,
                });
            } else {
                self.emit(
                    target,
                    port,
                    PortState::Filtered,
                    Reason::NoResponse,
                    None,
                    report,
                );
            }
        }
    }

    fn emit(
        &self,
        target: usize,
        port: u16,
        state: PortState,
        reason: Reason,
        rtt: Option<Duration>,
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let target = &self.targets[target];
        report(port_result(target, Proto::Tcp, port, state, reason, rtt));
    }
}

/// What came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A SYN-ACK to our port `dport`.
    SynAck { dport: u16 },
    /// A reset to our port `dport`.
    Rst { dport: u16 },
    /// An ICMP error quoting a probe sent from our port `sport`.
    Unreachable { sport: u16, reason: Reason },
}

type Answer = (IpAddr, (u16, u32), Kind);

/// A TCP segment after its IPv4 header (raw IPv4 sockets include it).
fn parse_tcp_v4(packet: &[u8]) -> Option<Answer> {
    let ip = Ipv4HeaderSlice::from_slice(packet).ok()?;
    let (port, flags) = parse_tcp(&packet[ip.slice().len()..])?;
    Some((IpAddr::V4(ip.source_addr()), port, flags))
}

/// Their port and acknowledgement number, and what kind of answer it is.
fn parse_tcp(segment: &[u8]) -> Option<((u16, u32), Kind)> {
    let tcp = TcpHeaderSlice::from_slice(segment).ok()?;
    let dport = tcp.destination_port();
    let kind = if tcp.syn() && tcp.ack() {
        Kind::SynAck { dport }
    } else if tcp.rst() {
        Kind::Rst { dport }
    } else {
        return None;
    };
    Some(((tcp.source_port(), tcp.acknowledgment_number()), kind))
}

/// From the TCP header an ICMP error quotes: (destination port, sequence
/// number, source port) of our probe.
fn quoted_probe(tcp: &[u8]) -> Option<(u16, u32, u16)> {
    if tcp.len() < 8 {
        return None;
    }
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    Some((dport, seq, sport))
}

fn parse_icmp_v4(packet: &[u8]) -> Option<Answer> {
    let ip = Ipv4HeaderSlice::from_slice(packet).ok()?;
    let icmp = Icmpv4Slice::from_slice(&packet[ip.slice().len()..]).ok()?;
    let Icmpv4Type::DestinationUnreachable(code) = icmp.icmp_type() else {
        return None;
    };
    use etherparse::icmpv4::DestUnreachableHeader as D;
    let reason = match code {
        D::Host | D::HostUnknown | D::Isolated | D::TosHost => Reason::HostUnreach,
        D::Network | D::NetworkUnknown | D::TosNetwork => Reason::NetUnreach,
        D::Port | D::Protocol => return None,
        _ => Reason::AdminProhibited,
    };
    let quoted = icmp.payload();
    let inner = Ipv4HeaderSlice::from_slice(quoted).ok()?;
    if inner.protocol() != etherparse::IpNumber::TCP {
        return None;
    }
    let (dport, seq, sport) = quoted_probe(&quoted[inner.slice().len()..])?;
    Some((
        IpAddr::V4(inner.destination_addr()),
        (dport, seq),
        Kind::Unreachable { sport, reason },
    ))
}

fn parse_icmp_v6(packet: &[u8]) -> Option<Answer> {
    let icmp = Icmpv6Slice::from_slice(packet).ok()?;
    let Icmpv6Type::DestinationUnreachable(code) = icmp.icmp_type() else {
        return None;
    };
    use etherparse::icmpv6::DestUnreachableCode as D;
    let reason = match code {
        D::Address => Reason::HostUnreach,
        D::NoRoute => Reason::NetUnreach,
        D::Port => return None,
        _ => Reason::AdminProhibited,
    };
    let quoted = icmp.payload();
    // The quoted IPv6 header is 40 bytes; next header must be TCP (6).
    if quoted.len() < 48 || quoted[6] != 6 {
        return None;
    }
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&quoted[24..40]);
    let (dport, seq, sport) = quoted_probe(&quoted[40..])?;
    Some((
        IpAddr::from(dst),
        (dport, seq),
        Kind::Unreachable { sport, reason },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_never_panic_on_garbage() {
        let mut seed = 0x1234_5678u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let _ = parse_tcp_v4(&bytes);
            let _ = parse_tcp(&bytes);
            let _ = parse_icmp_v4(&bytes);
            let _ = parse_icmp_v6(&bytes);
        }
    }

    #[test]
    fn a_syn_ack_is_read_back() {
        let mut h = TcpHeader::new(80, 61_234, 7, 1024);
        h.syn = true;
        h.ack = true;
        h.acknowledgment_number = 42;
        let bytes = h.to_bytes();
        assert_eq!(
            parse_tcp(&bytes),
            Some(((80, 42), Kind::SynAck { dport: 61_234 }))
        );
        let mut r = TcpHeader::new(81, 61_234, 0, 0);
        r.rst = true;
        r.ack = true;
        r.acknowledgment_number = 43;
        assert_eq!(
            parse_tcp(&r.to_bytes()),
            Some(((81, 43), Kind::Rst { dport: 61_234 }))
        );
        let plain = TcpHeader::new(80, 61_234, 7, 1024);
        assert_eq!(
            parse_tcp(&plain.to_bytes()),
            None,
            "neither SYN-ACK nor reset"
        );
    }
}

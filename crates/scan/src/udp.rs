//! The unprivileged UDP engine: one connected UDP socket per probe, many in
//! flight, driven by epoll — no raw sockets, no root.
//!
//! # How a port is judged
//!
//! Each probe is a fresh non-blocking socket `connect()`ed to target:port.
//! It sends the port's payload ([`crate::udp_payloads`]) or, when the port
//! has none, one empty datagram, and waits for the socket to become readable
//! or to carry an error. On a connected UDP socket the kernel matches ICMP
//! errors that come back to the socket and reports them as socket errors,
//! which gives nmap's `-sU` meanings:
//!
//! | what came back                                    | state           | reason             |
//! |---------------------------------------------------|-----------------|--------------------|
//! | a datagram                                        | `open`          | `udp-response`     |
//! | `ECONNREFUSED` (ICMP port unreachable)            | `closed`        | `port-unreach`     |
//! | `EHOSTUNREACH` / `EACCES` (ICMP administratively prohibited, host- or net-prohibited) | `filtered` | `admin-prohibited` |
//! | `ENETUNREACH` (ICMP network unknown or prohibited)| `filtered`      | `net-unreach`      |
//! | silence after every retry                         | `open\|filtered`| `no-response`      |
//!
//! A datagram is checked by the payload's validator (the DNS ID echoed, the
//! SNMP request-id, …); a reply is `open` either way, but only a valid one
//! names the service (`method` `probe:<service>`).
//!
//! Linux reports only "hard" ICMP errors on a connected UDP socket unless
//! `IP_RECVERR` is set, which this crate cannot do without unsafe code. The
//! hard ones are port unreachable, protocol unreachable and the
//! administrative codes (IPv4 codes 9, 10, 13–15; ICMPv6 codes 1, 5, 6) —
//! which is why `EHOSTUNREACH` from an ICMP error means
//! `admin-prohibited`. Plain host and network unreachable (IPv4 codes 0
//! and 1) are soft: such a port stays silent, and so `open|filtered` where
//! nmap's raw scan would say `filtered`.
//!
//! # Window and timing
//!
//! As in the TCP engine ([`crate::tcp_connect`]): per-host RFC 6298
//! round-trip estimates set the timeouts, and a window bounds the probes in
//! flight. The window grows with every completed probe and halves on
//! congestion — when, within one window of probes, two or more and over
//! 5 % of the answers came only to a retransmission.
//! Silence alone is not loss. (An ICMP error answering a
//! retransmission proves instead that the host's ICMP budget ran out; the
//! host's pacing handles that, below, without slowing other hosts through
//! the window.) Each probe is its own socket,
//! so every answer is an unambiguous RTT sample. Sockets are closed the
//! moment their probe is decided or times out; the file-descriptor limit
//! is raised and respected, and when the system refuses a socket or a port
//! (`EMFILE`, `ENFILE`, `ENOBUFS`, `EAGAIN`, `EADDRNOTAVAIL`) the window
//! shrinks to what fits instead of failing.
//!
//! # ICMP rate limiting
//!
//! Hosts rate-limit the ICMP errors that make a UDP port `closed`. Linux
//! limits them per destination (`net.ipv4.icmp_ratelimit`, 1000 ms: a token
//! bucket of one error per second with a burst of six) on top of a global
//! limit (`icmp_msgs_per_sec` 1000, burst 50). Measured between two network
//! namespaces (kernel 6.18, default sysctls): 20 closed ports probed at once
//! get 6 port-unreachables at once, then one per second. A fast UDP scan of
//! a Linux host therefore sees `port-unreach` for a few closed ports and
//! silence for the rest. This engine handles that explicitly, per host:
//!
//! 1. **Suspicion.** Once a host has returned any ICMP error, its silences
//!    are probably rate limiting: they are retransmitted after a backoff of
//!    at least 1 s, then 2 s (one token interval of the strictest common
//!    limiter, doubled per attempt) instead of at once, so the bucket can
//!    refill. Other hosts' silences are retransmitted at once, as in the
//!    TCP engine. `max_retries` still bounds every port.
//! 2. **Proof and pacing.** When a retransmission is answered by an ICMP
//!    error, the earlier probe's error was dropped: the host is rate
//!    limited. From then on its probes are paced by a token bucket that
//!    starts at the errors the host sent in the last second (less 10 %:
//!    Linux wants a hair more than a full interval per token), raised
//!    during the first second by errors for probes sent before pacing.
//! 3. **Adaptation.** A later proven drop of a probe sent at the current
//!    pace halves it (down to 0.5/s). The pace doubles once a second only
//!    when no drop has been proven for two seconds, the pace was what held
//!    probes back, and the errors coming back use under 40 % of the budget
//!    measured — the probes go mostly to silent ports, which spend none, so
//!    there is no reason to crawl through them. While errors come back near
//!    the budget the pace holds: probing above it would cost drops, and
//!    each drop costs a port one of its attempts.
//!
//! Measured on the namespaces above: portreeve found 20 of 20 closed ports
//! in 16.9 s and 30 of 30 in 28.0 s; nmap 7.93 found 30 of 30 in 25.6 s,
//! but only 13 of 20 (7 `open|filtered`) in 7.2 s in two runs. Scanning N
//! closed ports of a default Linux host takes about N − 6 seconds.
//! [`UdpOptions::defeat_icmp_ratelimit`] trades that accuracy for speed, as
//! nmap's `--defeat-icmp-ratelimit` does: no backoff and no pacing, so most
//! of those ports come out `open|filtered` (3 of 20 closed, in 0.6 s).
//!
//! # Workers
//!
//! Work is split across up to one worker per core, by host: each worker
//! owns its hosts outright (their round-trip estimates, ICMP budgets and
//! probe order), an epoll instance and its window. A host's ICMP budget is
//! one bucket in the host's kernel, so it must be paced by one worker; a
//! single host is scanned by a single thread, which sends far faster than
//! any host answers UDP.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use portreeve_core::Proto;
use rustix::event::epoll::{self, EventFlags};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, SocketType};

use crate::engine::{
    OpenFailure, ScanStats, drain_events, on_workers, open_probe_socket, out_of_resources,
    port_result, raise_fd_limit,
};
use crate::model::{PortResult, PortState, Reason, ServiceInfo};
use crate::slots::{InFlight, Slots};
use crate::target::Target;
use crate::timing::{RateLimit, RttEstimator, Window};
use crate::udp_payloads;

/// How a UDP scan probes.
#[derive(Clone, Debug)]
pub struct UdpOptions {
    /// Retransmissions of an unanswered probe before the port is
    /// `open|filtered`.
    pub max_retries: u32,
    /// Timeout before a host's round trip is known.
    pub initial_timeout: Duration,
    /// The shortest timeout, however fast the host answers.
    pub min_timeout: Duration,
    /// The longest timeout (`--max-rtt`).
    pub max_timeout: Duration,
    /// At most this many probes per second in all (`--rate`).
    pub rate: Option<u32>,
    /// Worker threads (at most one per target host is used).
    pub workers: usize,
    /// Do not wait for rate-limited ICMP errors (nmap's
    /// `--defeat-icmp-ratelimit`): no backoff and no pacing, so closed ports
    /// whose port-unreachable the host suppressed show as `open|filtered`.
    pub defeat_icmp_ratelimit: bool,
}

impl Default for UdpOptions {
    fn default() -> Self {
        UdpOptions {
            max_retries: 2,
            initial_timeout: Duration::from_millis(500),
            min_timeout: Duration::from_millis(50),
            max_timeout: Duration::from_secs(2),
            rate: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            defeat_icmp_ratelimit: false,
        }
    }
}

/// Scans UDP `ports` of every target; `report` receives each port's result
/// as soon as it is known (from any worker thread).
pub fn scan(
    targets: &[Target],
    ports: &[u16],
    opts: &UdpOptions,
    report: &(dyn Fn(PortResult) + Sync),
) -> ScanStats {
    if targets.is_empty() || ports.is_empty() {
        return ScanStats::default();
    }
    let workers = opts.workers.clamp(1, 64).min(targets.len());
    let sockets = raise_fd_limit() / workers;
    on_workers(workers, |w| {
        let mine = (w..targets.len()).step_by(workers);
        Worker::new(targets, mine, ports, opts, sockets, workers).run(report)
    })
}

/// One token interval of the strictest common ICMP limiter (Linux's
/// default `icmp_ratelimit`), and the window over which error arrivals are
/// counted.
const ICMP_PERIOD: Duration = Duration::from_secs(1);
/// The slowest pace for a rate-limited host, probes per second.
const MIN_PACE: f64 = 0.5;
/// The share of a host's measured ICMP error rate that probes are paced
/// at.
const PACE_MARGIN: f64 = 0.9;
/// The most error arrivals remembered per host.
const MAX_RECENT: usize = 1024;

/// One probe to send: the worker's host index, port, attempt (0 = first),
/// and when the previous attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    host: usize,
    port: u16,
    attempt: u32,
    previous: Option<Instant>,
}

/// What ended a probe.
enum Outcome<'b> {
    /// A datagram came back.
    Reply(&'b [u8]),
    /// An ICMP error came back, as the kernel reports it.
    Icmp(Errno),
    /// The local stack refused to send (no route, prohibited route, local
    /// firewall).
    Local(Errno),
}

/// One host, as its worker sees it.
struct Host {
    target: usize,
    /// The next port (index into the port list) never probed yet.
    next_port: usize,
    /// Retransmissions due now.
    retries: VecDeque<Probe>,
    /// In the ready queue or sleeping (waiting for a pacing token).
    scheduled: bool,
    rtt: RttEstimator,
    icmp: IcmpBudget,
}

/// What the scan has learned about one host's ICMP error budget.
#[derive(Clone, Debug, Default)]
struct IcmpBudget {
    /// ICMP errors received from the host.
    errors: u64,
    /// When the errors of the last [`ICMP_PERIOD`] arrived.
    recent: VecDeque<Instant>,
    /// Set once a dropped error is proven: probes to the host are paced.
    /// (Boxed: most hosts never need it, and every host carries this.)
    pace: Option<Box<Pace>>,
}

/// A token bucket for probes to one rate-limited host.
#[derive(Clone, Copy, Debug)]
struct Pace {
    /// Probes per second.
    rate: f64,
    /// The errors per second the host sent when pacing began.
    budget: f64,
    tokens: f64,
    refilled: Instant,
    /// When pacing began.
    since: Instant,
    /// The last decrease, if any.
    cut: Option<Instant>,
    /// The current measuring period: its start, probes sent and errors
    /// received in it.
    epoch: Instant,
    sent: u32,
    answered: u32,
}

impl IcmpBudget {
    /// Whether the host's silences may be rate limiting: it has sent ICMP
    /// errors before.
    fn suspect(&self) -> bool {
        self.errors > 0
    }

    /// Errors per second over the last period.
    fn measured(&mut self, now: Instant) -> f64 {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > ICMP_PERIOD)
        {
            self.recent.pop_front();
        }
        self.recent.len() as f64 / ICMP_PERIOD.as_secs_f64()
    }

    /// When the next probe may go: `None` for now.
    fn wait(&mut self, now: Instant) -> Option<Instant> {
        let pace = self.pace.as_mut()?;
        pace.refill(now);
        (pace.tokens < 1.0).then(|| now + Duration::from_secs_f64((1.0 - pace.tokens) / pace.rate))
    }

    /// A probe went to the host.
    fn sent(&mut self, now: Instant) {
        if let Some(pace) = &mut self.pace {
            pace.roll(now);
            pace.refill(now);
            pace.tokens -= 1.0;
            pace.sent += 1;
        }
    }

    /// An ICMP error arrived. `earlier`: when the previous attempt was
    /// sent, if this probe was a retransmission — whose error, then, was
    /// dropped.
    fn error(&mut self, now: Instant, earlier: Option<Instant>) {
        self.errors += 1;
        // Bounded: a host answering more than this a second is paced no
        // slower than that anyway.
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let measured = self.measured(now);
        let Some(pace) = &mut self.pace else {
            if earlier.is_some() {
                self.pace = Some(Box::new(Pace {
                    rate: (measured * PACE_MARGIN).max(MIN_PACE),
                    budget: measured,
                    tokens: 0.0,
                    refilled: now,
                    since: now,
                    cut: None,
                    epoch: now,
                    sent: 0,
                    answered: 0,
                }));
            }
            return;
        };
        pace.answered += 1;
        if now.saturating_duration_since(pace.since) <= ICMP_PERIOD {
            // The first period: errors for probes sent before pacing began
            // are still arriving, and show what the host sends when asked
            // for more than it will give. (Later, a period's count also
            // holds what the host's bucket saved up — Linux keeps up to six
            // — and would overstate it.)
            pace.budget = pace.budget.max(measured);
            pace.rate = pace.rate.max((measured * PACE_MARGIN).max(MIN_PACE));
        }
        // A drop proves the current rate too high only if the dropped probe
        // was sent at it: paced, and after the last cut.
        let at_current_rate =
            earlier.is_some_and(|t| t >= pace.since && pace.cut.is_none_or(|c| t >= c));
        if at_current_rate {
            pace.rate = (pace.rate / 2.0).max(MIN_PACE);
            pace.tokens = pace.tokens.min(1.0);
            pace.cut = Some(now);
            pace.epoch = now;
            pace.sent = 0;
            pace.answered = 0;
        } else {
            pace.roll(now);
        }
    }
}

impl Pace {
    fn refill(&mut self, now: Instant) {
        let burst = (self.rate / 20.0).max(1.0);
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.refilled).as_secs_f64() * self.rate)
            .min(burst);
        self.refilled = self.refilled.max(now);
    }

    /// Once a period, probe for a higher pace when it is safe and useful:
    /// no drop proven for two periods, the pace was what held probes back,
    /// and the errors that came back used well under half the host's
    /// budget — the probes went mostly to silent ports, which spend none. Then doubling keeps the demand within the
    /// budget. While errors come back near the budget, the pace holds:
    /// probing above it would cost drops, and every drop costs a port one
    /// of its attempts.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.epoch);
        if elapsed < ICMP_PERIOD {
            return;
        }
        let quiet =
            now.saturating_duration_since(self.cut.unwrap_or(self.since)) >= ICMP_PERIOD * 2;
        let secs = elapsed.as_secs_f64();
        // The pace must have been what held the probes back.
        let busy = f64::from(self.sent) >= self.rate * secs * 0.8;
        let spent = f64::from(self.answered) / secs;
        if quiet && busy && spent < self.budget * 0.4 {
            self.rate *= 2.0;
        }
        self.epoch = now;
        self.sent = 0;
        self.answered = 0;
    }
}

/// What a probe's socket is watched for: a datagram, or an ICMP error the
/// kernel reports as a socket error.
const INTEREST: EventFlags = EventFlags::IN.union(EventFlags::ERR);

struct Worker<'a> {
    targets: &'a [Target],
    ports: &'a [u16],
    opts: &'a UdpOptions,
    epoll: OwnedFd,
    /// The probes in flight; a probe's slot is its socket's epoll data.
    slots: Slots<InFlight<Probe>>,
    hosts: Vec<Host>,
    /// Hosts that may have a probe to send now, in turn.
    ready: VecDeque<usize>,
    /// Paced hosts waiting for a token: (when, host).
    sleeping: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Retransmissions waiting out their backoff: (due, probe).
    delayed: BinaryHeap<Reverse<(Instant, Probe)>>,
    window: Window,
    /// This worker's share of `--rate`.
    rate: RateLimit,
    stats: ScanStats,
}

impl<'a> Worker<'a> {
    fn new(
        targets: &'a [Target],
        mine: impl Iterator<Item = usize>,
        ports: &'a [u16],
        opts: &'a UdpOptions,
        sockets: usize,
        workers: usize,
    ) -> Self {
        let rtt = RttEstimator::new(opts.initial_timeout, opts.min_timeout, opts.max_timeout);
        let hosts: Vec<Host> = mine
            .map(|target| Host {
                target,
                next_port: 0,
                retries: VecDeque::new(),
                scheduled: true,
                rtt,
                icmp: IcmpBudget::default(),
            })
            .collect();
        Worker {
            targets,
            ports,
            opts,
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create"),
            slots: Slots::default(),
            ready: (0..hosts.len()).collect(),
            hosts,
            sleeping: BinaryHeap::new(),
            delayed: BinaryHeap::new(),
            window: Window::new(64, 8, sockets),
            rate: RateLimit::new(opts.rate.map(|r| f64::from(r) / workers as f64)),
            stats: ScanStats::default(),
        }
    }

    fn run(mut self, report: &(dyn Fn(PortResult) + Sync)) -> ScanStats {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(4096);
        // A second handle, so that draining can borrow `self` mutably.
        let epoll = self.epoll.try_clone().expect("dup of the epoll fd");
        loop {
            self.wake(Instant::now());
            self.fill(report);
            if self.slots.is_empty()
                && self.ready.is_empty()
                && self.sleeping.is_empty()
                && self.delayed.is_empty()
            {
                break;
            }
            let wait = self.next_wake(Instant::now());
            drain_events(&epoll, &mut events, wait, |slot| {
                self.complete(slot, report)
            });
            self.expire(report);
        }
        self.stats.peak_window = self.stats.peak_window.max(self.window.size());
        self.stats
    }

    /// How long to sleep: until the next deadline, backoff or pacing token,
    /// at most 10 ms.
    fn next_wake(&self, now: Instant) -> Duration {
        let tick = Duration::from_millis(10);
        let deadline = self.slots.next_deadline();
        let delayed = self.delayed.peek().map(|Reverse((t, _))| *t);
        let sleeping = self.sleeping.peek().map(|Reverse((t, _))| *t);
        [deadline, delayed, sleeping]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .fold(tick, Duration::min)
    }

    /// Moves retransmissions whose backoff is over into their hosts'
    /// queues, and wakes paced hosts whose token is due.
    fn wake(&mut self, now: Instant) {
        while let Some(&Reverse((due, probe))) = self.delayed.peek() {
            if due > now {
                break;
            }
            self.delayed.pop();
            self.hosts[probe.host].retries.push_back(probe);
            self.schedule(probe.host);
        }
        while let Some(&Reverse((due, host))) = self.sleeping.peek() {
            if due > now {
                break;
            }
            self.sleeping.pop();
            self.ready.push_back(host);
        }
    }

    /// Puts a host with new work in turn, unless it already is.
    fn schedule(&mut self, host: usize) {
        if !self.hosts[host].scheduled {
            self.hosts[host].scheduled = true;
            self.ready.push_back(host);
        }
    }

    /// Sends probes while the window and the rates allow, one host after
    /// another.
    fn fill(&mut self, report: &(dyn Fn(PortResult) + Sync)) {
        self.rate.refill(Instant::now());
        while self.slots.len() < self.window.size() && self.rate.allows() {
            let Some(h) = self.ready.pop_front() else {
                return;
            };
            let now = Instant::now();
            let host = &mut self.hosts[h];
            if host.retries.is_empty() && host.next_port >= self.ports.len() {
                // Nothing to send until a retransmission comes due.
                host.scheduled = false;
                continue;
            }
            if let Some(at) = host.icmp.wait(now) {
                self.sleeping.push(Reverse((at, h)));
                continue;
            }
            let probe = host.retries.pop_front().unwrap_or_else(|| {
                host.next_port += 1;
                Probe {
                    host: h,
                    port: self.ports[host.next_port - 1],
                    attempt: 0,
                    previous: None,
                }
            });
            if !self.send(probe, report) {
                // The system is out of sockets or ports: retry later.
                out_of_resources(&mut self.window, self.slots.len());
                self.hosts[h].retries.push_front(probe);
                self.ready.push_front(h);
                return;
            }
            self.hosts[h].icmp.sent(now);
            self.rate.spend();
            self.ready.push_back(h);
        }
    }

    /// Starts a probe. Returns false when the system refused for lack of
    /// resources.
    fn send(&mut self, probe: Probe, report: &(dyn Fn(PortResult) + Sync)) -> bool {
        let address = self.targets[self.hosts[probe.host].target].address;
        let sent = Instant::now();
        let fd = match open_probe_socket(address, SocketType::DGRAM) {
            Ok(fd) => fd,
            Err(OpenFailure::OutOfResources) => return false,
            // E.g. IPv6 disabled on this host: as the TCP engines do, the
            // probe fails locally rather than the scan aborting.
            Err(OpenFailure::Other(e)) => {
                self.stats.sent(probe.attempt);
                self.finish(probe, Outcome::Local(e), sent, report);
                return true;
            }
        };
        match rustix::net::connect(&fd, &SocketAddr::new(address, probe.port)) {
            Ok(()) => {}
            // No ephemeral port left.
            Err(Errno::ADDRNOTAVAIL | Errno::AGAIN) => return false,
            Err(e) => {
                self.stats.sent(probe.attempt);
                self.finish(probe, Outcome::Local(e), sent, report);
                return true;
            }
        }
        let datagrams = udp_payloads::payloads(probe.port);
        let empty: &[u8] = &[];
        let mut all = datagrams.iter().map(Vec::as_slice);
        let first = all.next().unwrap_or(empty);
        for (i, datagram) in std::iter::once(first).chain(all).enumerate() {
            match rustix::net::send(&fd, datagram, SendFlags::empty()) {
                Ok(_) => {}
                Err(Errno::AGAIN | Errno::NOBUFS | Errno::NOMEM) if i == 0 => {
                    return false;
                }
                // Later datagrams: the first one's answer may be here already
                // (on loopback ICMP errors arrive within the send).
                Err(Errno::AGAIN | Errno::NOBUFS | Errno::NOMEM) => break,
                Err(e) => {
                    self.stats.sent(probe.attempt);
                    let outcome = if i == 0 && e != Errno::CONNREFUSED {
                        Outcome::Local(e)
                    } else {
                        Outcome::Icmp(e)
                    };
                    self.finish(probe, outcome, sent, report);
                    return true;
                }
            }
        }
        self.stats.sent(probe.attempt);
        let deadline = sent + self.hosts[probe.host].rtt.timeout();
        let flight = InFlight { fd, probe, sent };
        self.slots.watch(&self.epoll, flight, deadline, INTEREST);
        self.stats.peak_window = self.stats.peak_window.max(self.slots.len());
        true
    }

    /// A socket is readable or has an error: read what came back.
    fn complete(&mut self, slot: usize, report: &(dyn Fn(PortResult) + Sync)) {
        let Some(flight) = self.slots.get(slot) else {
            return;
        };
        let mut buf = [0u8; 2048];
        let outcome = match rustix::net::recv(&flight.fd, &mut buf[..], RecvFlags::DONTWAIT) {
            Ok((n, _)) => Ok(n),
            Err(Errno::AGAIN | Errno::INTR) => match rustix::net::sockopt::socket_error(&flight.fd)
            {
                Ok(Err(e)) => Err(e),
                // Nothing after all: keep waiting.
                _ => return,
            },
            Err(e) => Err(e),
        };
        let InFlight { fd, probe, sent } = self.slots.take(slot).expect("slot checked");
        drop(fd);
        let outcome = match outcome {
            Ok(n) => Outcome::Reply(&buf[..n.min(buf.len())]),
            Err(e) => Outcome::Icmp(e),
        };
        self.finish(probe, outcome, sent, report);
    }

    /// Turns what came back into a result, or a retransmission.
    fn finish(
        &mut self,
        probe: Probe,
        outcome: Outcome<'_>,
        sent: Instant,
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let (state, reason, service) = match outcome {
            Outcome::Reply(data) => (
                PortState::Open,
                Reason::UdpResponse,
                udp_payloads::service_for_reply(probe.port, data).map(|name| ServiceInfo {
                    name: name.to_string(),
                    method: format!("probe:{name}"),
                    conf: ServiceInfo::CONF_IDENTIFIED,
                    ..ServiceInfo::default()
                }),
            ),
            Outcome::Icmp(e) => match e {
                Errno::CONNREFUSED => (PortState::Closed, Reason::PortUnreach, None),
                // On IPv4 only the administrative codes of host unreachable
                // are hard errors; on IPv6 those are EACCES.
                Errno::HOSTUNREACH | Errno::ACCESS | Errno::PERM => {
                    (PortState::Filtered, Reason::AdminProhibited, None)
                }
                Errno::NETUNREACH => (PortState::Filtered, Reason::NetUnreach, None),
                // Host unknown or isolated, protocol unreachable.
                Errno::HOSTDOWN | Errno::NONET | Errno::NOPROTOOPT => {
                    (PortState::Filtered, Reason::HostUnreach, None)
                }
                _ => {
                    self.silent(probe, sent, report);
                    return;
                }
            },
            Outcome::Local(e) => {
                let reason = match e {
                    // IPv6 (or IPv4) not available on this host at all.
                    Errno::NETUNREACH | Errno::AFNOSUPPORT => Reason::NetUnreach,
                    Errno::HOSTUNREACH => Reason::HostUnreach,
                    Errno::ACCESS | Errno::PERM => Reason::AdminProhibited,
                    // A blackhole route and the like: nothing will answer.
                    _ => {
                        self.silent(probe, sent, report);
                        return;
                    }
                };
                self.window.completed();
                self.emit(probe, PortState::Filtered, reason, None, None, report);
                return;
            }
        };
        let now = Instant::now();
        let rtt = now.duration_since(sent);
        let host = &mut self.hosts[probe.host];
        host.rtt.sample(rtt);
        if state != PortState::Open && !self.opts.defeat_icmp_ratelimit {
            // An ICMP error: the host's ICMP budget, not the path, decides
            // how many of these come back.
            host.icmp.error(now, probe.previous);
        }
        // An earlier probe went unanswered, this one was answered: loss.
        let lost = state == PortState::Open && probe.attempt > 0;
        if self.window.answered(lost, host.rtt.queued(rtt)) {
            self.stats.loss_events += 1;
        }
        self.emit(probe, state, reason, Some(rtt), service, report);
    }

    /// A probe went unanswered: retransmit (at once, or after a backoff
    /// when the host may be rate limiting its ICMP errors), or give up.
    fn silent(&mut self, probe: Probe, sent: Instant, report: &(dyn Fn(PortResult) + Sync)) {
        self.window.completed();
        if probe.attempt >= self.opts.max_retries {
            self.emit(
                probe,
                PortState::OpenFiltered,
                Reason::NoResponse,
                None,
                None,
                report,
            );
            return;
        }
        let next = Probe {
            attempt: probe.attempt + 1,
            previous: Some(sent),
            ..probe
        };
        let host = &self.hosts[probe.host];
        if !self.opts.defeat_icmp_ratelimit && host.icmp.suspect() {
            self.delayed.push(Reverse((
                Instant::now() + backoff(&host.rtt, probe.attempt),
                next,
            )));
        } else {
            self.hosts[probe.host].retries.push_back(next);
            self.schedule(probe.host);
        }
    }

    fn expire(&mut self, report: &(dyn Fn(PortResult) + Sync)) {
        let now = Instant::now();
        while let Some(InFlight { fd, probe, sent }) = self.slots.pop_expired(now) {
            drop(fd);
            self.silent(probe, sent, report);
        }
    }

    fn emit(
        &self,
        probe: Probe,
        state: PortState,
        reason: Reason,
        rtt: Option<Duration>,
        service: Option<ServiceInfo>,
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let target = &self.targets[self.hosts[probe.host].target];
        report(PortResult {
            service,
            ..port_result(target, Proto::Udp, probe.port, state, reason, rtt)
        });
    }
}

/// How long a silent probe of a host that sends ICMP errors waits before
/// its retransmission: the timeout doubled per attempt, but at least one
/// limiter token interval doubled per attempt, so the host's bucket can
/// refill.
fn backoff(rtt: &RttEstimator, attempt: u32) -> Duration {
    let doubling = 1u32 << attempt.min(8);
    (rtt.timeout() * doubling * 2).max(ICMP_PERIOD * doubling)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Linux's per-destination limiter: a bucket of `burst` tokens, one
    /// more every `period`.
    struct Limiter {
        tokens: f64,
        burst: f64,
        period: Duration,
        last: Duration,
    }

    impl Limiter {
        fn allow(&mut self, at: Duration) -> bool {
            self.tokens = (self.tokens
                + (at - self.last).as_secs_f64() / self.period.as_secs_f64())
            .min(self.burst);
            self.last = at;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    /// Drives an `IcmpBudget` against a limiter for `ports` (true: closed,
    /// false: silent), as the engine does: each tick it sends what is due
    /// and the pace allows, then handles what came back (1 ms round trip);
    /// silent probes are retried (up to `retries`) after the timeout and
    /// backoff. Returns (closed found, seconds taken, pace).
    fn simulate(ports: &[bool], retries: u32, limiter: &mut Limiter) -> (usize, f64, f64) {
        let base = Instant::now();
        let mut rtt = RttEstimator::new(MS * 500, MS * 50, MS * 2000);
        let mut budget = IcmpBudget::default();
        // (due, is closed, attempt, previous send), latest first.
        let closed = ports.iter().filter(|c| **c).count();
        let mut queue: Vec<(Duration, bool, u32, Option<Duration>)> = ports
            .iter()
            .rev()
            .map(|&c| (Duration::ZERO, c, 0, None))
            .collect();
        let mut answers: Vec<Option<Duration>> = Vec::new();
        let mut found = 0;
        let mut now = Duration::ZERO;
        while !queue.is_empty() || !answers.is_empty() {
            for previous in answers.drain(..) {
                rtt.sample(MS);
                budget.error(base + now, previous.map(|p| base + p));
                found += 1;
            }
            queue.sort_by_key(|q| Reverse(q.0));
            while queue.last().is_some_and(|q| q.0 <= now) && budget.wait(base + now).is_none() {
                let (_, is_closed, attempt, previous) = queue.pop().expect("checked");
                budget.sent(base + now);
                let answered = is_closed && limiter.allow(now);
                if trace() {
                    eprintln!(
                        "{:7.3} attempt {attempt} {} pace {:?}",
                        now.as_secs_f64(),
                        if answered { "error" } else { "silence" },
                        budget.pace.as_ref().map(|p| p.rate)
                    );
                }
                if answered {
                    answers.push(previous);
                } else if attempt < retries {
                    let wait = if budget.suspect() {
                        backoff(&rtt, attempt)
                    } else {
                        Duration::ZERO
                    };
                    queue.push((
                        now + rtt.timeout() + wait,
                        is_closed,
                        attempt + 1,
                        Some(now),
                    ));
                }
            }
            now += MS;
        }
        let pace = budget.pace.map_or(f64::INFINITY, |p| p.rate);
        eprintln!(
            "{found}/{closed} closed found in {:.1} s, pace {pace:.2}/s",
            now.as_secs_f64()
        );
        (found, now.as_secs_f64(), pace)
    }

    fn trace() -> bool {
        std::env::var_os("PORTREEVE_SIM_TRACE").is_some()
    }

    /// Linux's default: a token per second (and a jiffy), six at most.
    fn linux() -> Limiter {
        Limiter {
            tokens: 6.0,
            burst: 6.0,
            period: MS * 1001,
            last: Duration::ZERO,
        }
    }

    #[test]
    fn a_linux_limited_host_is_paced_to_its_icmp_budget() {
        let (found, secs, pace) = simulate(&[true; 30], 2, &mut linux());
        assert_eq!(found, 30, "every closed port found");
        assert!(
            (24.0..36.0).contains(&secs),
            "took {secs:.1} s (the budget allows ~25 s)"
        );
        assert!((0.5..=1.0).contains(&pace), "paced at {pace:.2}/s");
    }

    #[test]
    fn silent_ports_after_closed_ones_are_not_crawled_through() {
        let ports: Vec<bool> = (0..320).map(|i| i < 20).collect();
        let (found, secs, pace) = simulate(&ports, 2, &mut linux());
        assert_eq!(found, 20);
        assert!(secs < 40.0, "took {secs:.1} s");
        assert!(pace > 5.0, "paced at {pace:.2}/s");
    }

    #[test]
    fn closed_ports_among_silent_ones_are_still_found() {
        // Every fourth port closed.
        let ports: Vec<bool> = (0..200).map(|i| i % 4 == 0).collect();
        let (found, secs, _) = simulate(&ports, 2, &mut linux());
        assert!(
            found >= 48,
            "found {found} of 50 closed ports in {secs:.1} s"
        );
    }

    #[test]
    fn a_generous_limiter_is_barely_slowed() {
        // 200 errors per second (BSD's default).
        let mut bsd = Limiter {
            tokens: 200.0,
            burst: 200.0,
            period: MS * 5,
            last: Duration::ZERO,
        };
        let (found, secs, pace) = simulate(&[true; 1000], 2, &mut bsd);
        assert_eq!(found, 1000);
        assert!(secs < 9.0, "took {secs:.1} s (the budget allows ~4 s)");
        assert!(pace > 100.0, "paced at {pace:.2}/s");
    }

    #[test]
    fn pacing_starts_only_on_proof_and_speeds_up_through_silence() {
        let t0 = Instant::now();
        let mut b = IcmpBudget::default();
        b.error(t0, None);
        assert!(b.suspect());
        assert!(
            b.pace.is_none(),
            "an answer to a first probe proves nothing"
        );
        assert_eq!(b.wait(t0), None);
        // A retransmission answered: the first probe's error was dropped.
        b.error(t0 + MS * 1500, Some(t0 + MS * 200));
        let rate = b.pace.as_ref().unwrap().rate;
        assert_eq!(rate, 0.9, "one error in the last second, less the margin");
        assert!(b.wait(t0 + MS * 1500).is_some(), "no token yet");
        assert_eq!(b.wait(t0 + MS * 2700), None);
        // Probes sent into silence (no errors): the rate climbs fast.
        let mut t = t0 + MS * 2700;
        for _ in 0..30 {
            while b.wait(t).is_none() {
                b.sent(t);
            }
            t += MS * 100;
        }
        assert!(b.pace.as_ref().unwrap().rate > 1.5, "{:?}", b.pace);
        // A drop of a probe sent before the last cut does not cut again.
        let before = b.pace.as_ref().unwrap().rate;
        b.error(t, Some(t0));
        assert_eq!(b.pace.as_ref().unwrap().rate, before);
        b.error(t + MS, Some(t));
        assert!(b.pace.as_ref().unwrap().rate < before);
    }

    #[test]
    fn backoff_spans_a_limiter_token_and_doubles() {
        let fast = RttEstimator::new(MS * 50, MS * 50, MS * 2000);
        assert_eq!(backoff(&fast, 0), MS * 1000);
        assert_eq!(backoff(&fast, 1), MS * 2000);
        let slow = RttEstimator::new(MS * 800, MS * 50, MS * 2000);
        assert_eq!(backoff(&slow, 0), MS * 1600);
    }
}

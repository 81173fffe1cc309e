//! The unprivileged TCP engine: one non-blocking `connect()` per probe,
//! thousands in flight, driven by epoll.
//!
//! A completed handshake is `open`, a reset `closed`, silence after every
//! retry or an ICMP unreachable `filtered` — nmap's `-sT` meanings. Each
//! socket is closed with `SO_LINGER 0`, so nothing lingers in TIME_WAIT and
//! the ephemeral ports come back at once. The file-descriptor limit is
//! raised to its hard limit and respected: when the system refuses a socket
//! or a port, the window shrinks to what fits instead of failing.
//!
//! Work is split across one worker per core; each owns an epoll instance,
//! its share of the (port, host) sequence, its round-trip estimates and its
//! window.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use portreeve_core::Proto;
use rustix::event::epoll::{self, EventFlags};
use rustix::io::Errno;
use rustix::net::SocketType;

use crate::engine::{
    OpenFailure, ScanStats, drain_events, on_workers, open_probe_socket, out_of_resources,
    port_result, raise_fd_limit,
};
use crate::model::{PortResult, PortState, Reason};
use crate::slots::{InFlight, Slots};
use crate::target::Target;
use crate::timing::{RateLimit, RttEstimator, Window};

/// How a TCP scan probes.
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Retransmissions of an unanswered probe before the port is filtered.
    pub max_retries: u32,
    /// Timeout before a host's round trip is known.
    pub initial_timeout: Duration,
    /// The shortest timeout, however fast the host answers.
    pub min_timeout: Duration,
    /// The longest timeout (`--max-rtt`).
    pub max_timeout: Duration,
    /// At most this many probes per second in all (`--rate`).
    pub rate: Option<u32>,
    /// Worker threads.
    pub workers: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_retries: 2,
            initial_timeout: Duration::from_millis(500),
            min_timeout: Duration::from_millis(20),
            max_timeout: Duration::from_secs(2),
            rate: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Scans `ports` of every target with connect probes; `report` receives
/// each port's result as soon as it is known (from any worker thread).
pub fn scan(
    targets: &[Target],
    ports: &[u16],
    opts: &TcpOptions,
    report: &(dyn Fn(PortResult) + Sync),
) -> ScanStats {
    let workers = opts.workers.clamp(1, 64);
    let sockets = raise_fd_limit() / workers;
    let total = targets.len() * ports.len();
    on_workers(workers, |w| {
        Worker::new(targets, ports, opts, sockets, w, workers).run(total, report)
    })
}

/// One probe to send: target index, port, attempt (0 = first).
#[derive(Clone, Copy, Debug)]
struct Probe {
    target: usize,
    port: u16,
    attempt: u32,
}

/// What a connecting socket is watched for: writable once connected, an
/// error or hang-up once refused or unreachable.
const INTEREST: EventFlags = EventFlags::OUT
    .union(EventFlags::ERR)
    .union(EventFlags::HUP);

struct Worker<'a> {
    targets: &'a [Target],
    ports: &'a [u16],
    opts: &'a TcpOptions,
    epoll: OwnedFd,
    /// The probes in flight; a probe's slot is its socket's epoll data.
    slots: Slots<InFlight<Probe>>,
    hosts: Vec<RttEstimator>,
    window: Window,
    retries: VecDeque<Probe>,
    next_item: usize,
    step: usize,
    rate: RateLimit,
    stats: ScanStats,
}

impl<'a> Worker<'a> {
    fn new(
        targets: &'a [Target],
        ports: &'a [u16],
        opts: &'a TcpOptions,
        sockets: usize,
        id: usize,
        step: usize,
    ) -> Self {
        let rtt = RttEstimator::new(opts.initial_timeout, opts.min_timeout, opts.max_timeout);
        Worker {
            targets,
            ports,
            opts,
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create"),
            slots: Slots::default(),
            hosts: vec![rtt; targets.len()],
            window: Window::new(64, 8, sockets),
            retries: VecDeque::new(),
            next_item: id,
            step,
            rate: RateLimit::new(opts.rate.map(|r| f64::from(r) / step as f64)),
            stats: ScanStats::default(),
        }
    }

    fn run(mut self, total: usize, report: &(dyn Fn(PortResult) + Sync)) -> ScanStats {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(4096);
        // A second handle, so that draining can borrow `self` mutably.
        let epoll = self.epoll.try_clone().expect("dup of the epoll fd");
        loop {
            self.fill(total, report);
            if self.slots.is_empty() && self.retries.is_empty() && self.next_item >= total {
                break;
            }
            let now = Instant::now();
            let wait = self
                .slots
                .next_deadline()
                .map_or(Duration::from_millis(10), |d| {
                    d.saturating_duration_since(now)
                })
                .min(Duration::from_millis(10));
            drain_events(&epoll, &mut events, wait, |slot| {
                self.complete(slot, report)
            });
            self.expire(report);
        }
        self.stats.peak_window = self.stats.peak_window.max(self.window.size());
        self.stats
    }

    /// The next work item of this worker's share: hosts vary fastest, so
    /// consecutive probes go to different hosts.
    fn next_probe(&mut self, total: usize) -> Option<Probe> {
        if let Some(p) = self.retries.pop_front() {
            return Some(p);
        }
        if self.next_item >= total {
            return None;
        }
        let i = self.next_item;
        self.next_item += self.step;
        Some(Probe {
            target: i % self.targets.len(),
            port: self.ports[i / self.targets.len()],
            attempt: 0,
        })
    }

    /// Sends probes while the window and the rate allow.
    fn fill(&mut self, total: usize, report: &(dyn Fn(PortResult) + Sync)) {
        self.rate.refill(Instant::now());
        while self.slots.len() < self.window.size() && self.rate.allows() {
            let Some(probe) = self.next_probe(total) else {
                return;
            };
            if !self.send(probe, report) {
                // The system is out of sockets or ports: retry later.
                out_of_resources(&mut self.window, self.slots.len());
                self.retries.push_front(probe);
                return;
            }
            self.rate.spend();
        }
    }

    /// Starts a probe. Returns false when the system refused for lack of
    /// resources.
    fn send(&mut self, probe: Probe, report: &(dyn Fn(PortResult) + Sync)) -> bool {
        let address = self.targets[probe.target].address;
        let fd = match open_probe_socket(address, SocketType::STREAM) {
            Ok(fd) => fd,
            Err(OpenFailure::OutOfResources) => return false,
            // E.g. IPv6 disabled on this host: the target is unreachable.
            Err(OpenFailure::Other(_)) => {
                self.emit(probe, PortState::Filtered, Reason::NetUnreach, None, report);
                return true;
            }
        };
        self.stats.sent(probe.attempt);
        let sent = Instant::now();
        match rustix::net::connect(&fd, &SocketAddr::new(address, probe.port)) {
            Err(Errno::INPROGRESS) => {}
            // No ephemeral port left for this destination.
            Err(Errno::ADDRNOTAVAIL | Errno::AGAIN) => return false,
            Ok(()) => {
                let _ = rustix::net::sockopt::set_socket_linger(&fd, Some(Duration::ZERO));
                self.finish(probe, Ok(()), sent, report);
                return true;
            }
            Err(e) => {
                self.finish(probe, Err(e), sent, report);
                return true;
            }
        }
        let deadline = sent + self.hosts[probe.target].timeout();
        let flight = InFlight { fd, probe, sent };
        self.slots.watch(&self.epoll, flight, deadline, INTEREST);
        self.stats.peak_window = self.stats.peak_window.max(self.slots.len());
        true
    }

    fn complete(&mut self, slot: usize, report: &(dyn Fn(PortResult) + Sync)) {
        let Some(InFlight { fd, probe, sent }) = self.slots.take(slot) else {
            return;
        };
        let outcome = match rustix::net::sockopt::socket_error(&fd) {
            Ok(inner) => inner,
            Err(e) => Err(e),
        };
        if outcome.is_ok() {
            // Connected: close with a reset, so no TIME_WAIT keeps the port.
            // (A socket that never connected leaves nothing behind.)
            let _ = rustix::net::sockopt::set_socket_linger(&fd, Some(Duration::ZERO));
        }
        drop(fd);
        self.finish(probe, outcome, sent, report);
    }

    /// Turns a connect outcome into a result, or a retransmission.
    fn finish(
        &mut self,
        probe: Probe,
        outcome: Result<(), Errno>,
        sent: Instant,
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let (state, reason) = match outcome {
            Ok(()) => (PortState::Open, Reason::SynAck),
            Err(Errno::CONNREFUSED) => (PortState::Closed, Reason::ConnRefused),
            Err(Errno::HOSTUNREACH) => (PortState::Filtered, Reason::HostUnreach),
            Err(Errno::NETUNREACH) => (PortState::Filtered, Reason::NetUnreach),
            Err(Errno::ACCESS | Errno::PERM) => (PortState::Filtered, Reason::AdminProhibited),
            // The kernel gave up before we did (its own SYN retries): silence.
            Err(_) => {
                self.silent(probe, report);
                return;
            }
        };
        let rtt = sent.elapsed();
        self.sample(probe.target, rtt);
        // An earlier probe went unanswered, this one was answered: loss.
        let lost = probe.attempt > 0 && state != PortState::Filtered;
        if self
            .window
            .answered(lost, self.hosts[probe.target].queued(rtt))
        {
            self.stats.loss_events += 1;
        }
        self.emit(probe, state, reason, Some(rtt), report);
    }

    /// A probe went unanswered: retransmit, or give up.
    fn silent(&mut self, probe: Probe, report: &(dyn Fn(PortResult) + Sync)) {
        self.window.completed();
        if probe.attempt < self.opts.max_retries {
            self.retries.push_back(Probe {
                attempt: probe.attempt + 1,
                ..probe
            });
        } else {
            self.emit(probe, PortState::Filtered, Reason::NoResponse, None, report);
        }
    }

    /// A round-trip sample for a host. The host's first one replaces the
    /// initial guess (500 ms) with a measurement, often a hundred times
    /// shorter: its probes already in flight get deadlines from it too, so
    /// a probe lost early is retransmitted after a few round trips, not
    /// after the guess.
    fn sample(&mut self, target: usize, rtt: Duration) {
        if !self.hosts[target].sample(rtt) {
            return;
        }
        let timeout = self.hosts[target].timeout();
        self.slots
            .rearm(|f| (f.probe.target == target).then_some(f.sent + timeout));
    }

    fn expire(&mut self, report: &(dyn Fn(PortResult) + Sync)) {
        let now = Instant::now();
        while let Some(InFlight { fd, probe, .. }) = self.slots.pop_expired(now) {
            drop(fd);
            self.silent(probe, report);
        }
    }

    fn emit(
        &self,
        probe: Probe,
        state: PortState,
        reason: Reason,
        rtt: Option<Duration>,
        report: &(dyn Fn(PortResult) + Sync),
    ) {
        let target = &self.targets[probe.target];
        report(port_result(
            target,
            Proto::Tcp,
            probe.port,
            state,
            reason,
            rtt,
        ));
    }
}

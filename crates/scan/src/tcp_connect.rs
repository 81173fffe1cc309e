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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use portreeve_core::Proto;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use rustix::net::SocketType;

use crate::engine::{OpenFailure, ScanStats, drain_events, open_probe_socket, raise_fd_limit};
use crate::model::{PortResult, PortState, Reason};
use crate::target::Target;
use crate::timing::{RttEstimator, Window};

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
    let stats: Vec<ScanStats> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    Worker::new(targets, ports, opts, sockets, w, workers).run(total, report)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan worker panicked"))
            .collect()
    });
    ScanStats::sum(stats)
}

/// One probe to send: target index, port, attempt (0 = first).
#[derive(Clone, Copy, Debug)]
struct Probe {
    target: usize,
    port: u16,
    attempt: u32,
}

struct InFlight {
    fd: OwnedFd,
    probe: Probe,
    sent: Instant,
}

struct Worker<'a> {
    targets: &'a [Target],
    ports: &'a [u16],
    opts: &'a TcpOptions,
    epoll: OwnedFd,
    slots: Vec<Option<InFlight>>,
    free: Vec<usize>,
    /// Deadlines of in-flight probes: (deadline, slot, serial). Entries of
    /// slots that completed meanwhile are stale and skipped by serial.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    serials: Vec<u64>,
    hosts: Vec<RttEstimator>,
    window: Window,
    retries: VecDeque<Probe>,
    next_item: usize,
    step: usize,
    in_flight: usize,
    tokens: f64,
    last_refill: Instant,
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
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BinaryHeap::new(),
            serials: Vec::new(),
            hosts: vec![rtt; targets.len()],
            window: Window::new(64, 8, sockets),
            retries: VecDeque::new(),
            next_item: id,
            step,
            in_flight: 0,
            tokens: 0.0,
            last_refill: Instant::now(),
            stats: ScanStats::default(),
        }
    }

    fn run(mut self, total: usize, report: &(dyn Fn(PortResult) + Sync)) -> ScanStats {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(4096);
        // A second handle, so that draining can borrow `self` mutably.
        let epoll = self.epoll.try_clone().expect("dup of the epoll fd");
        loop {
            self.fill(total, report);
            if self.in_flight == 0 && self.retries.is_empty() && self.next_item >= total {
                break;
            }
            let now = Instant::now();
            let wait = self
                .deadlines
                .peek()
                .map_or(Duration::from_millis(10), |Reverse((d, _, _))| {
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
        if let Some(rate) = self.opts.rate {
            let now = Instant::now();
            let per_worker = f64::from(rate) / self.step as f64;
            self.tokens = (self.tokens
                + now.duration_since(self.last_refill).as_secs_f64() * per_worker)
                .min(per_worker.max(1.0));
            self.last_refill = now;
        }
        while self.in_flight < self.window.size() {
            if self.opts.rate.is_some() && self.tokens < 1.0 {
                return;
            }
            let Some(probe) = self.next_probe(total) else {
                return;
            };
            if !self.send(probe, report) {
                // The system is out of sockets or ports: retry later.
                self.retries.push_front(probe);
                return;
            }
            if self.opts.rate.is_some() {
                self.tokens -= 1.0;
            }
        }
    }

    /// Starts a probe. Returns false when the system refused for lack of
    /// resources (the window has been capped).
    fn send(&mut self, probe: Probe, report: &(dyn Fn(PortResult) + Sync)) -> bool {
        let address = self.targets[probe.target].address;
        let fd = match open_probe_socket(address, SocketType::STREAM) {
            Ok(fd) => fd,
            Err(OpenFailure::OutOfResources) => return self.out_of_resources(),
            // E.g. IPv6 disabled on this host: the target is unreachable.
            Err(OpenFailure::Other(_)) => {
                self.emit(probe, PortState::Filtered, Reason::NetUnreach, None, report);
                return true;
            }
        };
        self.stats.probes += 1;
        if probe.attempt > 0 {
            self.stats.retries += 1;
        }
        let sent = Instant::now();
        match rustix::net::connect(&fd, &SocketAddr::new(address, probe.port)) {
            Err(Errno::INPROGRESS) => {}
            // No ephemeral port left for this destination.
            Err(Errno::ADDRNOTAVAIL | Errno::AGAIN) => return self.out_of_resources(),
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
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.serials.push(0);
            self.slots.len() - 1
        });
        epoll::add(
            &self.epoll,
            &fd,
            EventData::new_u64(slot as u64),
            EventFlags::OUT | EventFlags::ERR | EventFlags::HUP,
        )
        .expect("epoll_ctl add");
        self.serials[slot] += 1;
        let deadline = sent + self.hosts[probe.target].timeout();
        self.deadlines
            .push(Reverse((deadline, slot, self.serials[slot])));
        self.slots[slot] = Some(InFlight { fd, probe, sent });
        self.in_flight += 1;
        self.stats.peak_window = self.stats.peak_window.max(self.in_flight);
        true
    }

    /// The system refused a socket or a port: the window shrinks to what is
    /// in flight now. With nothing in flight there is nothing to wait for,
    /// so give the system a moment (closed sockets free their ports). Always
    /// false: the probe is to be retried.
    fn out_of_resources(&mut self) -> bool {
        self.window.cap(self.in_flight);
        if self.in_flight == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn complete(&mut self, slot: usize, report: &(dyn Fn(PortResult) + Sync)) {
        let Some(InFlight { fd, probe, sent }) = self.slots[slot].take() else {
            return;
        };
        self.release(slot);
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

    fn release(&mut self, slot: usize) {
        self.serials[slot] += 1;
        self.free.push(slot);
        self.in_flight -= 1;
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
        let first = !self.hosts[target].is_measured();
        self.hosts[target].sample(rtt);
        if !first {
            return;
        }
        let timeout = self.hosts[target].timeout();
        for (slot, in_flight) in self.slots.iter().enumerate() {
            if let Some(f) = in_flight.as_ref().filter(|f| f.probe.target == target) {
                self.deadlines
                    .push(Reverse((f.sent + timeout, slot, self.serials[slot])));
            }
        }
    }

    fn expire(&mut self, report: &(dyn Fn(PortResult) + Sync)) {
        let now = Instant::now();
        while let Some(&Reverse((deadline, slot, serial))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if self.serials[slot] != serial {
                continue;
            }
            if let Some(InFlight { fd, probe, .. }) = self.slots[slot].take() {
                self.release(slot);
                drop(fd);
                self.silent(probe, report);
            }
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
        let t = &self.targets[probe.target];
        report(PortResult {
            address: t.address,
            hostname: t.hostname.clone(),
            protocol: Proto::Tcp,
            port: probe.port,
            state,
            reason,
            rtt_us: rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            service: None,
        });
    }
}

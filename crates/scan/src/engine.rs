//! What every probing engine shares: counters, worker threads, the
//! file-descriptor budget, probe sockets and how a result is reported.

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use portreeve_core::Proto;

use crate::model::{PortResult, PortState, Reason};
use crate::target::Target;
use crate::timing::Window;

/// Counters of a finished scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Probes sent, retransmissions included.
    pub probes: u64,
    /// Retransmissions.
    pub retries: u64,
    /// Times the window halved on proven loss.
    pub loss_events: u64,
    /// The largest window reached.
    pub peak_window: usize,
}

/// Runs `work(w)` for each worker `w` in `0..workers`, each on a thread of
/// its own, and adds up their counters.
pub(crate) fn on_workers(workers: usize, work: impl Fn(usize) -> ScanStats + Sync) -> ScanStats {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|w| scope.spawn(move || work(w))).collect();
        ScanStats::sum(
            handles
                .into_iter()
                .map(|h| h.join().expect("scan worker panicked")),
        )
    })
}

/// Raises the soft file-descriptor limit to the hard limit and returns how
/// many sockets may be open at once (leaving room for everything else).
pub fn raise_fd_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    if let Some(hard) = current.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(64)
        .max(16)
}

/// Why a probe socket could not be opened.
pub(crate) enum OpenFailure {
    /// Out of descriptors or memory: wait and retry with fewer in flight.
    OutOfResources,
    /// Anything else, e.g. IPv6 disabled on this host.
    Other(rustix::io::Errno),
}

/// A non-blocking, close-on-exec socket of `kind` for a probe to `address`.
pub(crate) fn open_probe_socket(
    address: IpAddr,
    kind: rustix::net::SocketType,
) -> Result<OwnedFd, OpenFailure> {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketFlags};
    let family = if address.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    rustix::net::socket_with(
        family,
        kind,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| match e {
        Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM => OpenFailure::OutOfResources,
        other => OpenFailure::Other(other),
    })
}

/// The system refused a socket or a port: the window shrinks to the
/// `in_flight` probes that fit. With nothing in flight there is nothing to
/// wait for, so give the system a moment (closed sockets free their ports)
/// before the probe is retried.
pub(crate) fn out_of_resources(window: &mut Window, in_flight: usize) {
    window.cap(in_flight);
    if in_flight == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The result every engine reports for `port` of `target`: no service,
/// the round trip (if answered) in microseconds.
pub(crate) fn port_result(
    target: &Target,
    protocol: Proto,
    port: u16,
    state: PortState,
    reason: Reason,
    rtt: Option<Duration>,
) -> PortResult {
    PortResult {
        address: target.address,
        hostname: target.hostname.clone(),
        protocol,
        port,
        state,
        reason,
        rtt_us: rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        service: None,
    }
}

/// Waits up to `wait` (under a second) for socket events, then takes every
/// ready event before returning, calling `ready` with each event's slot.
/// Draining all of them before the caller expires anything matters: an
/// answer waiting in the queue must not be mistaken for silence.
pub(crate) fn drain_events(
    epoll: &impl rustix::fd::AsFd,
    events: &mut Vec<rustix::event::epoll::Event>,
    wait: Duration,
    mut ready: impl FnMut(usize),
) {
    let mut wait_for = Some(rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(wait.subsec_nanos()),
    });
    loop {
        events.clear();
        let _ = rustix::event::epoll::wait(
            epoll,
            rustix::buffer::spare_capacity(events),
            wait_for.as_ref(),
        );
        for ev in events.iter() {
            ready(usize::try_from(ev.data.u64()).expect("slot fits usize"));
        }
        if events.len() < events.capacity() {
            return;
        }
        wait_for = Some(rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        });
    }
}

impl ScanStats {
    /// A probe went out; `attempt` 0 is the first, later ones are
    /// retransmissions.
    pub(crate) fn sent(&mut self, attempt: u32) {
        self.probes += 1;
        if attempt > 0 {
            self.retries += 1;
        }
    }

    /// The counters of several workers together.
    pub fn sum(all: impl IntoIterator<Item = ScanStats>) -> ScanStats {
        all.into_iter()
            .fold(ScanStats::default(), |a, s| ScanStats {
                probes: a.probes + s.probes,
                retries: a.retries + s.retries,
                loss_events: a.loss_events + s.loss_events,
                peak_window: a.peak_window + s.peak_window,
            })
    }
}

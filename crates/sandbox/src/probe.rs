//! Probing: does a connection from a source reach its target? TCP: the
//! handshake completes within the timeout. UDP: the datagram comes back
//! (the replica echoes it) within the timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portreeve_core::Proto;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use socket2::{Domain, Socket, Type};

use crate::plan::Shot;

/// How long a TCP probe waits for the handshake, which the kernels of
/// both sides complete without waiting for any process: far beyond any
/// answer over a veth link, and what a dropped SYN costs.
const TCP_TIMEOUT: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 400_000_000,
};

/// How long a UDP probe waits for its echo, which the replica's server
/// thread must be scheduled to send: longer, for a loaded host.
const UDP_TIMEOUT: Duration = Duration::from_secs(1);

/// How many times a UDP probe sends its datagram within [`UDP_TIMEOUT`]:
/// a datagram or its echo lost to a full socket buffer on a busy host is
/// not a verdict (seen about once in 40 runs with one datagram).
const UDP_TRIES: u32 = 3;

/// How many probes are in flight at once.
const POOL: usize = 128;

/// What a UDP probe sends and expects back.
const PAYLOAD: &[u8] = b"portreeve sandbox probe";

/// Whether each of `shots` reaches its target, in order, probed by a
/// bounded pool of threads started from the calling thread (and so in its
/// namespace).
pub(crate) fn all(shots: &[&Shot]) -> Vec<bool> {
    let next = AtomicUsize::new(0);
    let mut reached = vec![false; shots.len()];
    let results: Vec<Vec<(usize, bool)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..POOL.min(shots.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(shot) = shots.get(i) else {
                            return done;
                        };
                        done.push((i, reaches(shot).unwrap_or(false)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in results.into_iter().flatten() {
        reached[i] = r;
    }
    reached
}

/// Whether `shot` reaches its target; an error (a source that cannot be
/// bound) counts as not reaching.
fn reaches(shot: &Shot) -> io::Result<bool> {
    let from = SocketAddr::new(shot.source, 0);
    let kind = match shot.protocol {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
    };
    let socket = Socket::new(Domain::for_address(from), kind, None)?;
    socket.bind(&from.into())?;
    match shot.protocol {
        Proto::Tcp => {
            // The kernel times the wait, and the socket's own state is the
            // answer: a prober descheduled past the timeout on a busy host
            // still sees a handshake that completed.
            socket.set_nonblocking(true)?;
            let in_progress = Some(rustix::io::Errno::INPROGRESS.raw_os_error());
            if let Err(e) = socket.connect(&shot.target.into())
                && e.raw_os_error() != in_progress
            {
                return Ok(false);
            }
            poll(
                &mut [PollFd::new(&socket, PollFlags::OUT)],
                Some(&TCP_TIMEOUT),
            )?;
            Ok(socket.peer_addr().is_ok())
        }
        Proto::Udp => {
            // Not connected: the echo of a wildcard socket comes from
            // whichever address the replica routes from, not necessarily
            // the target. Nothing else sends to this socket's port.
            let socket = std::net::UdpSocket::from(socket);
            socket.set_read_timeout(Some(UDP_TIMEOUT / UDP_TRIES))?;
            let mut echo = [0u8; PAYLOAD.len() + 1];
            for _ in 0..UDP_TRIES {
                socket.send_to(PAYLOAD, shot.target)?;
                if socket.recv(&mut echo).is_ok_and(|n| echo[..n] == *PAYLOAD) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

//! The replica's listeners: sockets bound inside the replica namespace
//! (a socket belongs to the namespace it was made in, whichever thread
//! uses it later), served by one thread until dropped. TCP connections are
//! accepted and closed; UDP datagrams are echoed to their sender.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use portreeve_core::Proto;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use socket2::{Domain, Socket, Type};

use crate::SandboxError;
use crate::namespace::Namespace;
use crate::plan::Listener;

/// How long the serving thread waits for traffic before it looks whether
/// it should stop.
const STOP_CHECK: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 50_000_000,
};

/// A bound socket being served.
enum Served {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// The listeners of a replica, served until dropped.
pub(crate) struct Replica {
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl Replica {
    /// Binds `listeners` inside `ns` and starts serving them.
    pub(crate) fn start(ns: &Namespace, listeners: &[Listener]) -> Result<Replica, SandboxError> {
        let sockets = ns
            .run(|| listeners.iter().map(bind).collect::<io::Result<Vec<_>>>())
            .map_err(|e| SandboxError::io("binding the replica's listeners".into(), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("sandbox-replica".into())
                .spawn(move || serve(&sockets, &stop))
                .map_err(|e| SandboxError::io("starting the replica's server".into(), e))?
        };
        Ok(Replica {
            stop,
            server: Some(server),
        })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// `l` bound (and listening, for TCP) in the calling thread's namespace,
/// non-blocking. Freebind, so that an address the host listens on without
/// holding it binds here too; address reuse, so that a wildcard binds
/// beside a specific address on the same port where the host's did.
fn bind(l: &Listener) -> io::Result<Served> {
    let at = SocketAddr::new(l.address, l.port);
    let kind = match l.protocol {
        Proto::Tcp => Type::STREAM,
        Proto::Udp => Type::DGRAM,
    };
    let socket = Socket::new(Domain::for_address(at), kind, None)?;
    socket.set_reuse_address(true)?;
    if at.is_ipv6() {
        socket.set_only_v6(l.v6only)?;
        socket.set_freebind_v6(true)?;
    } else {
        socket.set_freebind_v4(true)?;
    }
    socket
        .bind(&at.into())
        .map_err(|e| io::Error::new(e.kind(), format!("{at}/{}: {e}", l.protocol)))?;
    socket.set_nonblocking(true)?;
    Ok(match l.protocol {
        Proto::Tcp => {
            socket.listen(crate::namespace::MAX_BACKLOG)?;
            Served::Tcp(socket.into())
        }
        Proto::Udp => Served::Udp(socket.into()),
    })
}

/// Accepts and closes every connection and echoes every datagram until
/// `stop` is set.
fn serve(sockets: &[Served], stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|s| match s {
                Served::Tcp(l) => PollFd::new(l, PollFlags::IN),
                Served::Udp(u) => PollFd::new(u, PollFlags::IN),
            })
            .collect();
        if poll(&mut fds, Some(&STOP_CHECK)).unwrap_or(0) == 0 {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        for (socket, _) in sockets.iter().zip(ready).filter(|(_, r)| *r) {
            match socket {
                Served::Tcp(l) => while l.accept().is_ok() {},
                Served::Udp(u) => {
                    while let Ok((n, from)) = u.recv_from(&mut buf) {
                        let _ = u.send_to(&buf[..n], from);
                    }
                }
            }
        }
    }
}

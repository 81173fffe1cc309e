//! Socket I/O for the probes: connections to the one target, with timeouts,
//! and reads that stop as soon as the protocol parser has a whole message.
//!
//! Everything here talks only to the address a [`Session`] was made for.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::model::ServiceInfo;

use super::parse::Parsed;

/// The most any probe reads from one reply.
pub(crate) const MAX_REPLY: usize = 64 * 1024;

/// A byte stream to the target: plain TCP, or TLS over it.
pub(crate) trait Stream: Read + Write {
    /// Sets the read and write timeout of the underlying socket.
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let t = Some(timeout.max(Duration::from_millis(1)));
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
}

/// What a probe found.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The service, identified.
    Found(ServiceInfo),
    /// Something answered, but not in this probe's protocol: the bytes, for
    /// the caller to recognise.
    Other(Vec<u8>),
    /// The answer says the port speaks TLS (e.g. an HTTP server's "plain
    /// HTTP request sent to HTTPS port"), with what was learnt meanwhile.
    WantsTls(Option<ServiceInfo>),
    /// No answer: silence, or the connection closed.
    Nothing,
    /// The port no longer accepts connections: stop probing.
    Unreachable,
}

/// Connections to one target, sharing a deadline for the whole
/// identification.
#[derive(Debug)]
pub(crate) struct Session {
    /// The one address this session ever connects to.
    pub(crate) addr: SocketAddr,
    /// Per connection attempt and per reply.
    pub(crate) timeout: Duration,
    deadline: Instant,
    idle: Option<TcpStream>,
    /// Whether any connection succeeded.
    pub(crate) connected: bool,
}

impl Session {
    pub(crate) fn new(addr: SocketAddr, timeout: Duration, budget: Duration) -> Session {
        Session {
            addr,
            timeout,
            deadline: Instant::now() + budget,
            idle: None,
            connected: false,
        }
    }

    /// A connection: the idle one, if a banner wait left one unused, or a
    /// fresh one.
    pub(crate) fn connect(&mut self) -> io::Result<TcpStream> {
        if let Some(s) = self.idle.take() {
            return Ok(s);
        }
        let mut s = TcpStream::connect_timeout(&self.addr, self.timeout)?;
        self.connected = true;
        s.set_timeout(self.timeout)?;
        let _ = s.set_nodelay(true);
        Ok(s)
    }

    /// Keeps an unused, still-open connection for the next probe (which
    /// must expect nothing of it but to be fresh).
    pub(crate) fn keep_idle(&mut self, s: TcpStream) {
        self.idle = Some(s);
    }

    /// Whether the identification has used up its time.
    pub(crate) fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The `Host` header value for this target.
    pub(crate) fn host_header(&self) -> String {
        let ip = match self.addr.ip() {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => format!("[{a}]"),
        };
        match self.addr.port() {
            80 | 443 => ip,
            p => format!("{ip}:{p}"),
        }
    }
}

/// What a read produced.
#[derive(Debug)]
pub(crate) enum Reply<T> {
    /// A whole message the parser understood.
    Parsed(T),
    /// Bytes the parser rejected, or an incomplete message at the end.
    Other(Vec<u8>),
    /// Nothing at all.
    Nothing,
}

impl<T> Reply<T> {
    /// A verdict for a reply that was not a whole message.
    pub(crate) fn into_verdict(self, found: impl FnOnce(T) -> Verdict) -> Verdict {
        match self {
            Reply::Parsed(v) => found(v),
            Reply::Other(b) => Verdict::Other(b),
            Reply::Nothing => Verdict::Nothing,
        }
    }
}

/// Reads until `parse` has a whole message or rejects the bytes, the peer
/// closes, `timeout` passes, or `cap` bytes arrive. `parse` gets the bytes so
/// far and whether no more will come.
pub(crate) fn receive<S: Stream + ?Sized, T>(
    stream: &mut S,
    timeout: Duration,
    cap: usize,
    mut parse: impl FnMut(&[u8], bool) -> Parsed<T>,
) -> Reply<T> {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        let ended = if left.is_zero() || buf.len() >= cap || stream.set_timeout(left).is_err() {
            true
        } else {
            match stream.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    buf.truncate(cap);
                    false
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                Err(_) => true,
            }
        };
        if buf.is_empty() {
            if ended {
                return Reply::Nothing;
            }
            continue;
        }
        match parse(&buf, ended) {
            Parsed::Done(v) => return Reply::Parsed(v),
            Parsed::Invalid => return Reply::Other(buf),
            Parsed::Incomplete if ended => return Reply::Other(buf),
            Parsed::Incomplete => {}
        }
    }
}

/// Sends `request`, then [`receive`]s the reply. A failed write is
/// [`Reply::Nothing`].
pub(crate) fn exchange<S: Stream + ?Sized, T>(
    stream: &mut S,
    request: &[u8],
    timeout: Duration,
    parse: impl FnMut(&[u8], bool) -> Parsed<T>,
) -> Reply<T> {
    if stream.set_timeout(timeout).is_err()
        || stream.write_all(request).is_err()
        || stream.flush().is_err()
    {
        return Reply::Nothing;
    }
    receive(stream, timeout, MAX_REPLY, parse)
}

/// Closes a plain connection in both directions, ignoring errors.
pub(crate) fn close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}

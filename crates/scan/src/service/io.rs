//! Socket I/O for the probes: connections to the one target, with
//! deadlines, and reads that stop as soon as the protocol parser has a whole
//! message.
//!
//! # Deadlines
//!
//! Time is bounded at three levels, and every bound is a deadline, not a
//! timeout that restarts with each read: a peer that sends a byte now and
//! then, forever, gains nothing.
//!
//! - A [`Session`] (one port's identification) ends `PORT_BUDGET` service
//!   timeouts after it began.
//! - Each probe ([`Session::begin_probe`]) ends `PROBE_BUDGET` service
//!   timeouts after it began, or at the session's end if that comes first.
//! - Each step — a connection attempt, the writing of a request, a reply
//!   ([`receive`]), a TLS handshake — ends one service timeout after it
//!   began (or at the probe's end if that comes first).
//!
//! A [`Conn`] carries its probe's deadline and the current step's, and
//! before every read and write sets the socket's timeout to the time left
//! until the earlier of the two; once that has passed, reads and writes
//! fail with [`io::ErrorKind::TimedOut`] without touching the socket. TLS
//! runs over a [`Conn`] too, so the handshake and rustls's own read loops
//! (which read until a whole record has arrived) are bounded the same way.
//!
//! Everything here talks only to the address a [`Session`] was made for.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::model::ServiceInfo;

use super::parse::Parsed;

/// The most any probe reads from one reply.
pub(crate) const MAX_REPLY: usize = 64 * 1024;

/// A byte stream to the target: plain TCP, or TLS over it.
pub(crate) trait Stream: Read + Write {
    /// Ends the current step at `deadline`: no read or write waits past it,
    /// and those after it fail. It never extends the probe's deadline.
    fn set_deadline(&mut self, deadline: Instant);
}

/// A TCP connection to the target whose every read and write ends by the
/// deadline of the probe that made it and of the current step.
#[derive(Debug)]
pub(crate) struct Conn {
    sock: TcpStream,
    /// The probe's end.
    probe_end: Instant,
    /// The current step's end.
    step_end: Instant,
    /// Bytes the peer sent on this connection.
    received: usize,
    /// Whether the peer has closed it (an end of stream, a reset, a broken
    /// pipe).
    hung_up: bool,
    /// The session's record of how connections ended.
    log: Arc<HangUps>,
}

/// How a session's connections ended, for nmap's `tcpwrapped`: a port
/// that accepts every connection and closes it before saying a word.
#[derive(Debug, Default)]
struct HangUps {
    /// Connections opened.
    opened: AtomicUsize,
    /// Connections the peer closed before sending a byte.
    silent: AtomicUsize,
    /// Whether the peer sent anything on any connection.
    spoke: AtomicBool,
}

impl HangUps {
    /// Every connection was closed by the peer before it sent anything.
    fn only_hung_up(&self) -> bool {
        let opened = self.opened.load(Ordering::Relaxed);
        opened > 0
            && self.silent.load(Ordering::Relaxed) == opened
            && !self.spoke.load(Ordering::Relaxed)
    }
}

impl Conn {
    /// Notes what a read or write says about the peer: that it spoke, or
    /// that it closed the connection.
    fn note<T>(&mut self, result: &io::Result<T>, got: impl FnOnce(&T) -> usize) {
        let closed = match result {
            Ok(v) => {
                let n = got(v);
                self.received += n;
                if n > 0 {
                    self.log.spoke.store(true, Ordering::Relaxed);
                }
                n == 0
            }
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        };
        if closed && !self.hung_up {
            self.hung_up = true;
            if self.received == 0 {
                self.log.silent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The time left, or `TimedOut` when there is none.
    fn left(&self) -> io::Result<Duration> {
        let left = self
            .step_end
            .min(self.probe_end)
            .saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::ErrorKind::TimedOut.into())
        } else {
            Ok(left)
        }
    }
}

impl Stream for Conn {
    fn set_deadline(&mut self, deadline: Instant) {
        self.step_end = deadline;
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.set_read_timeout(Some(self.left()?))?;
        let result = self.sock.read(buf);
        // An empty buffer reads 0 without meaning the end of the stream.
        if !buf.is_empty() {
            self.note(&result, |&n| n);
        }
        result
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(Some(self.left()?))?;
        let result = self.sock.write(buf);
        // A write that succeeds says nothing about the peer.
        if result.is_err() {
            self.note(&result, |_| 0);
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
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
/// identification, and one for each probe.
#[derive(Debug)]
pub(crate) struct Session {
    /// The one address this session ever connects to.
    pub(crate) addr: SocketAddr,
    /// The service timeout: the length of one step (a connection attempt,
    /// a request, a reply, a TLS handshake).
    pub(crate) timeout: Duration,
    /// The length of one probe.
    probe_budget: Duration,
    /// The end of the whole identification.
    deadline: Instant,
    /// The end of the current probe.
    probe_end: Instant,
    idle: Option<Conn>,
    /// Whether any connection succeeded.
    pub(crate) connected: bool,
    /// How the connections ended.
    hang_ups: Arc<HangUps>,
}

impl Session {
    /// A session that ends `budget` from now, whose probes last at most
    /// `probe_budget` each and whose steps `timeout` each.
    pub(crate) fn new(
        addr: SocketAddr,
        timeout: Duration,
        probe_budget: Duration,
        budget: Duration,
    ) -> Session {
        let now = Instant::now();
        let deadline = now + budget;
        Session {
            addr,
            timeout,
            probe_budget,
            deadline,
            probe_end: deadline.min(now + probe_budget),
            idle: None,
            connected: false,
            hang_ups: Arc::default(),
        }
    }

    /// Starts the next probe: its connections end `probe_budget` from now,
    /// or when the session does.
    pub(crate) fn begin_probe(&mut self) {
        self.probe_end = self.deadline.min(Instant::now() + self.probe_budget);
    }

    /// A connection: the idle one, if a banner wait left one unused, or a
    /// fresh one. Either is bound by the current probe's deadline, and its
    /// first step is one service timeout.
    pub(crate) fn connect(&mut self) -> io::Result<Conn> {
        let now = Instant::now();
        let step_end = now + self.timeout;
        if let Some(mut c) = self.idle.take() {
            c.probe_end = self.probe_end;
            c.step_end = step_end;
            return Ok(c);
        }
        let left = self.probe_end.saturating_duration_since(now);
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let sock = TcpStream::connect_timeout(&self.addr, self.timeout.min(left))?;
        self.connected = true;
        self.hang_ups.opened.fetch_add(1, Ordering::Relaxed);
        let _ = sock.set_nodelay(true);
        Ok(Conn {
            sock,
            probe_end: self.probe_end,
            step_end,
            received: 0,
            hung_up: false,
            log: Arc::clone(&self.hang_ups),
        })
    }

    /// Whether the peer closed every connection before sending a byte: what
    /// nmap calls `tcpwrapped` (a TCP wrapper or firewall that accepts and
    /// then refuses, or a service that serves only some clients).
    pub(crate) fn only_hung_up(&self) -> bool {
        self.hang_ups.only_hung_up()
    }

    /// Keeps an unused, still-open connection for the next probe (which
    /// must expect nothing of it but to be fresh).
    pub(crate) fn keep_idle(&mut self, c: Conn) {
        self.idle = Some(c);
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
/// closes, `timeout` passes (or the probe's deadline, if sooner), or `cap`
/// bytes arrive. `parse` gets the bytes so far and whether no more will
/// come.
pub(crate) fn receive<S: Stream + ?Sized, T>(
    stream: &mut S,
    timeout: Duration,
    cap: usize,
    mut parse: impl FnMut(&[u8], bool) -> Parsed<T>,
) -> Reply<T> {
    // The stream enforces the deadline on each read, including the reads a
    // TLS stream makes inside one `read` until a whole record is in.
    stream.set_deadline(Instant::now() + timeout);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let ended = if buf.len() >= cap {
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

/// Sends `request` (within `timeout`), then [`receive`]s the reply. A
/// failed write is [`Reply::Nothing`].
pub(crate) fn exchange<S: Stream + ?Sized, T>(
    stream: &mut S,
    request: &[u8],
    timeout: Duration,
    parse: impl FnMut(&[u8], bool) -> Parsed<T>,
) -> Reply<T> {
    stream.set_deadline(Instant::now() + timeout);
    if stream.write_all(request).is_err() || stream.flush().is_err() {
        return Reply::Nothing;
    }
    receive(stream, timeout, MAX_REPLY, parse)
}

/// Closes a plain connection in both directions, ignoring errors.
pub(crate) fn close(conn: &Conn) {
    let _ = conn.sock.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener};

    /// A server on 127.0.0.1 (of the calling thread's namespace: each test
    /// runs in one of its own) that sends every connection a byte each
    /// 50 ms, for ten seconds.
    fn dripper() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(10);
                    while Instant::now() < until && conn.write_all(b"x").is_ok() {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                });
            }
        });
        addr
    }

    /// A parser that always wants more.
    fn never_done(_: &[u8], _: bool) -> Parsed<()> {
        Parsed::Incomplete
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_reply_ends_at_its_step_deadline_however_the_peer_drips() {
        portreeve_testkit::in_fresh_netns(
            "a_reply_ends_at_its_step_deadline_however_the_peer_drips",
            || {
                let mut session = Session::new(dripper(), MS * 300, MS * 5000, MS * 10_000);
                session.begin_probe();
                let mut c = session.connect().unwrap();
                let started = Instant::now();
                let reply = receive(&mut c, MS * 300, MAX_REPLY, never_done);
                let took = started.elapsed();
                assert!(
                    matches!(reply, Reply::Other(ref b) if !b.is_empty()),
                    "{reply:?}"
                );
                assert!(took >= MS * 250 && took < MS * 800, "{took:?}");
            },
        );
    }

    #[test]
    fn the_probe_deadline_cuts_every_step_short() {
        portreeve_testkit::in_fresh_netns("the_probe_deadline_cuts_every_step_short", || {
            let mut session = Session::new(dripper(), MS * 1000, MS * 300, MS * 10_000);
            session.begin_probe();
            let mut c = session.connect().unwrap();
            let started = Instant::now();
            let reply = exchange(&mut c, b"hello", MS * 1000, never_done);
            let took = started.elapsed();
            assert!(matches!(reply, Reply::Other(_)), "{reply:?}");
            assert!(took >= MS * 200 && took < MS * 800, "{took:?}");
            // Past the probe's deadline nothing waits: reads, writes and new
            // connections fail at once.
            c.set_deadline(Instant::now() + MS * 1000);
            let mut byte = [0u8; 1];
            let err = c.read(&mut byte).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert_eq!(c.write(b"x").unwrap_err().kind(), io::ErrorKind::TimedOut);
            assert_eq!(
                session.connect().unwrap_err().kind(),
                io::ErrorKind::TimedOut
            );
            // The next probe starts afresh.
            session.begin_probe();
            assert!(session.connect().is_ok());
        });
    }

    #[test]
    fn the_session_deadline_bounds_every_probe() {
        portreeve_testkit::in_fresh_netns("the_session_deadline_bounds_every_probe", || {
            let mut session = Session::new(dripper(), MS * 1000, MS * 1000, MS * 200);
            session.begin_probe();
            let mut c = session.connect().unwrap();
            let started = Instant::now();
            let reply = receive(&mut c, MS * 1000, MAX_REPLY, never_done);
            assert!(matches!(reply, Reply::Other(_)), "{reply:?}");
            assert!(started.elapsed() < MS * 700, "{:?}", started.elapsed());
            assert!(session.expired());
            session.begin_probe();
            assert!(session.connect().is_err());
        });
    }
}

//! Service identification (`--service`): what answers on an open TCP port.
//!
//! [`identify`] connects to the port and first waits for a greeting — SSH,
//! SMTP, FTP, POP3, IMAP, MySQL and VNC servers speak first — unless the
//! port number says the protocol is one where the client speaks first.
//! Without a greeting it sends probes, each on a new connection, in an
//! order the port suggests (6379 → Redis first), then HTTP and TLS, then
//! the rest: Redis, Memcached, ZooKeeper, PostgreSQL, RDP, MongoDB, Kafka.
//! Any answer that is another protocol's greeting is recognised as such; an
//! answer that is a TLS record moves the TLS probe forward. Inside TLS the
//! same identification runs again (greeting, then HTTP).
//!
//! Every probe was written for portreeve from the protocols' specifications
//! and vendors' documentation. They only read: no password is ever tried,
//! and the access checks (`unauthenticated`) are read-only requests (Redis
//! `PING`/`INFO`, Memcached `stats`, MongoDB `listDatabases`, etcd one key,
//! Docker `/version`, ZooKeeper `srvr`) or the logins that need none
//! (anonymous FTP, MySQL's `root` with an empty password, PostgreSQL's
//! startup for user `portreeve`), each followed at once by a quit. Traffic
//! goes only to the address given.
//!
//! # Names
//!
//! Service names are nmap's where nmap has one: `http`, `ssh`, `smtp`,
//! `ftp`, `pop3`, `imap`, `mysql`, `postgresql`, `redis`, `mongodb`,
//! `memcache`, `zookeeper`, `docker`, `etcd-client`, `ms-wbt-server` (RDP),
//! `vnc`, plus `kafka`. HTTP over TLS is `https`, any other protocol over
//! TLS `ssl/NAME`, and TLS with nothing recognisable inside `ssl`.
//! Elasticsearch and OpenSearch are, as in nmap, `http` with the product
//! `Elasticsearch`/`OpenSearch`.
//!
//! `method` says how: `banner` (the server's greeting), `probe:NAME` (the
//! answer to that probe), or `port` (nothing intelligible answered; the
//! name is the port's usual service, a guess), or `hangup` (the port
//! closed every connection before saying anything; the name is nmap's
//! `tcpwrapped`). `conf` rates it on nmap's scale: 10 for an answer, 3 for
//! a guess, 8 for `tcpwrapped`, as nmap rates them.
//!
//! Greetings are read as leniently as nmap reads them: a line may end in a
//! lone CR, and a greeting cut short (the server closed, or sent no more
//! before the timeout) is still matched.
//!
//! # Time
//!
//! With `T` the service timeout ([`ServiceOptions::timeout`]), every bound
//! below is a hard deadline, whatever the peer sends and however slowly: a
//! server that sends one byte just before each read would time out gains
//! nothing.
//!
//! - each step — a connection attempt, writing a request, waiting for a
//!   reply, a whole TLS handshake — ends within `T`;
//! - each probe (the greeting wait with its follow-up, or one probe with
//!   every connection and request it makes, TLS included) ends within
//!   [`PROBE_BUDGET`] × `T`;
//! - the identification of one port ends within [`PORT_BUDGET`] × `T`.
//!
//! No connection attempt, read or write waits past the deadline that
//! applies to it (the socket's timeout is set to the time left before each
//! one, see the `io` module), so only the time to parse and return what
//! was read is added.
//!
//! [`identify_all`] therefore takes at most `ceil(ports / workers)` ×
//! [`PORT_BUDGET`] × `T`.

mod banner;
mod bson;
mod docker;
mod elasticsearch;
mod etcd;
mod every_parser;
mod ftp;
mod hints;
mod http;
mod imap;
mod io;
mod kafka;
mod memcached;
mod mongodb;
mod mysql;
mod parse;
mod pop3;
mod postgres;
mod product;
mod rdp;
mod redis;
mod reply;
#[cfg(test)]
mod robustness;
mod smtp;
mod split_reads;
mod ssh;
mod tls;
mod vnc;
mod web;
mod zookeeper;

#[doc(hidden)]
pub use every_parser::parse_everything;
#[doc(hidden)]
pub use split_reads::replies_read_alike;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::model::ServiceInfo;

use io::{MAX_REPLY, Reply, Session, Verdict};

/// How many service timeouts one probe may take in all: room for the
/// longest, HTTP's four requests (`/`, `/version` and etcd's two key
/// reads), each answered within a service timeout.
pub const PROBE_BUDGET: u32 = 4;

/// How many service timeouts the identification of one port may take in
/// all: enough for the greeting wait and every probe to meet silence.
pub const PORT_BUDGET: u32 = 12;

/// How identification runs.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    /// The service timeout: the deadline for each connection attempt, each
    /// request and reply, and each TLS handshake. Each probe ends within
    /// [`PROBE_BUDGET`] times this, and the identification of one port
    /// within [`PORT_BUDGET`] times this, whatever the peer sends.
    pub timeout: Duration,
    /// Ports identified at once by [`identify_all`].
    pub workers: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            timeout: Duration::from_secs(2),
            workers: 32,
        }
    }
}

/// The probes, in the order tried after the port's own suggestions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    Http,
    Tls,
    Redis,
    Memcached,
    Zookeeper,
    Postgres,
    Rdp,
    Mongodb,
    Kafka,
}

impl Probe {
    /// Every probe; the cheap ones (answered or refused at once) first.
    pub(crate) const ALL: [Probe; 9] = [
        Probe::Http,
        Probe::Tls,
        Probe::Redis,
        Probe::Memcached,
        Probe::Zookeeper,
        Probe::Postgres,
        Probe::Rdp,
        Probe::Mongodb,
        Probe::Kafka,
    ];

    fn run(self, session: &mut Session, expect_http: bool) -> Verdict {
        match self {
            Probe::Http => web::probe(session),
            Probe::Tls => tls::probe(session, expect_http),
            Probe::Redis => redis::probe(session),
            Probe::Memcached => memcached::probe(session),
            Probe::Zookeeper => zookeeper::probe(session),
            Probe::Postgres => postgres::probe(session),
            Probe::Rdp => rdp::probe(session),
            Probe::Mongodb => mongodb::probe(session),
            Probe::Kafka => kafka::probe(session),
        }
    }
}

/// Identifies the service on an open TCP port of `address`. `None` when the
/// port does not accept a connection, or nothing answered intelligibly and
/// the port has no usual service. Returns within [`PORT_BUDGET`] service
/// timeouts (see [Time](self#time)). The result's `conf` rates its
/// `method` as nmap does (see [`ServiceInfo::conf_for`]).
pub fn identify(address: IpAddr, port: u16, opts: &ServiceOptions) -> Option<ServiceInfo> {
    let mut info = identify_unrated(address, port, opts)?;
    info.conf = ServiceInfo::conf_for(&info.method);
    Some(info)
}

/// [`identify`], before the result is rated.
fn identify_unrated(address: IpAddr, port: u16, opts: &ServiceOptions) -> Option<ServiceInfo> {
    let timeout = opts.timeout.max(Duration::from_millis(10));
    let mut session = Session::new(
        SocketAddr::new(address, port),
        timeout,
        timeout * PROBE_BUDGET,
        timeout * PORT_BUDGET,
    );
    let plan = hints::plan(port);
    if plan.wait_for_banner {
        session.begin_probe();
        let mut s = session.connect().ok()?;
        let greeting = io::receive(&mut s, timeout, MAX_REPLY, |b, end| {
            banner::parse(b, end, port)
        });
        match greeting {
            Reply::Parsed(b) => return Some(banner::follow_up(&mut s, b, port, timeout)),
            Reply::Other(bytes) => return Some(unrecognised(port, &bytes)),
            // The connection may have been closed: the probes start afresh.
            Reply::Nothing => io::close(&s),
        }
    }
    let mut queue: VecDeque<Probe> = plan.probes.iter().copied().collect();
    let mut learnt: Option<ServiceInfo> = None;
    while let Some(probe) = queue.pop_front() {
        if session.expired() {
            break;
        }
        session.begin_probe();
        match probe.run(&mut session, plan.expect_http) {
            Verdict::Found(info) => return Some(info),
            Verdict::WantsTls(info) => {
                learnt = learnt.or(info);
                move_to_front(&mut queue, Probe::Tls);
            }
            Verdict::Other(bytes) => {
                if let Some(info) = banner::unsolicited(&bytes, port) {
                    return Some(info);
                }
                if tls::looks_like_tls(&bytes) {
                    move_to_front(&mut queue, Probe::Tls);
                }
            }
            Verdict::Nothing => {}
            Verdict::Unreachable => break,
        }
    }
    if !session.connected {
        return None;
    }
    if learnt.is_none() && session.only_hung_up() {
        return Some(tcpwrapped());
    }
    learnt.or_else(|| guessed(port))
}

/// A port that closed every connection before saying anything, named as
/// nmap names it: whatever the port number suggests, nothing there serves
/// us.
fn tcpwrapped() -> ServiceInfo {
    ServiceInfo {
        name: "tcpwrapped".into(),
        method: ServiceInfo::HANG_UP.into(),
        ..ServiceInfo::default()
    }
}

fn move_to_front(queue: &mut VecDeque<Probe>, probe: Probe) {
    if let Some(i) = queue.iter().position(|&p| p == probe) {
        queue.remove(i);
        queue.push_front(probe);
    }
}

/// The port's usual service, when nothing said more.
fn guessed(port: u16) -> Option<ServiceInfo> {
    hints::guess(port).map(|name| ServiceInfo {
        name: name.into(),
        method: ServiceInfo::GUESS.into(),
        ..ServiceInfo::default()
    })
}

/// A greeting no parser knows: the port's usual name (or `unknown`), and
/// the greeting itself when it is text.
fn unrecognised(port: u16, bytes: &[u8]) -> ServiceInfo {
    let printable = bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    let text = (printable * 10 >= bytes.len() * 9)
        .then(|| parse::non_empty(bytes, 80))
        .flatten();
    match guessed(port) {
        Some(info) => ServiceInfo {
            extra: text,
            ..info
        },
        None => ServiceInfo {
            name: "unknown".into(),
            extra: text,
            method: "banner".into(),
            ..ServiceInfo::default()
        },
    }
}

/// Identifies many ports at once on `opts.workers` threads; the results
/// are in the order of `targets`.
pub fn identify_all(targets: &[(IpAddr, u16)], opts: &ServiceOptions) -> Vec<Option<ServiceInfo>> {
    let results: Vec<Mutex<Option<ServiceInfo>>> =
        targets.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = opts.workers.clamp(1, targets.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(address, port)) = targets.get(i) else {
                        break;
                    };
                    let info = identify(address, port, opts);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = info;
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Names the service on every open TCP port of `results`, in place. UDP
/// services are named by the UDP engine from the reply to its payload, so
/// they are left as they are; so is a port nothing could be learnt from.
/// Returns how many ports were asked.
pub fn identify_open(results: &mut [crate::PortResult], opts: &ServiceOptions) -> usize {
    use crate::PortState;
    use portreeve_core::Proto;
    let open: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.protocol == Proto::Tcp && r.state == PortState::Open)
        .map(|(i, _)| i)
        .collect();
    let endpoints: Vec<(IpAddr, u16)> = open
        .iter()
        .map(|&i| (results[i].address, results[i].port))
        .collect();
    for (&i, info) in open.iter().zip(identify_all(&endpoints, opts)) {
        if info.is_some() {
            results[i].service = info;
        }
    }
    open.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecognised_greetings() {
        let t = unrecognised(23, b"\xff\xfd\x18\xff\xfd\x20");
        assert_eq!(
            (t.name.as_str(), t.method.as_str(), t.extra),
            ("telnet", "port", None)
        );
        let u = unrecognised(40000, b"HELLO from a custom daemon\r\n");
        assert_eq!(u.name, "unknown");
        assert_eq!(u.extra.as_deref(), Some("HELLO from a custom daemon"));
    }

    #[test]
    fn a_port_that_only_hangs_up_is_tcpwrapped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Closes each connection as soon as it is accepted (more than one
        // identification makes).
        std::thread::spawn(move || listener.incoming().take(64).for_each(drop));
        let opts = ServiceOptions {
            timeout: Duration::from_millis(300),
            workers: 1,
        };
        let info = identify(addr.ip(), addr.port(), &opts).unwrap();
        assert_eq!(
            (info.name.as_str(), info.method.as_str(), info.conf),
            ("tcpwrapped", "hangup", 8)
        );
    }

    #[test]
    fn queue_order() {
        let mut q: VecDeque<Probe> = Probe::ALL.into_iter().collect();
        move_to_front(&mut q, Probe::Kafka);
        assert_eq!(q[0], Probe::Kafka);
        assert_eq!(q.len(), Probe::ALL.len());
    }
}

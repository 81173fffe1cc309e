//! Hostile peers cannot stall service identification: a server that sends
//! the start of a message and then one byte now and then, forever, still
//! gets its port identified within the documented bound (each probe at
//! most [`PROBE_BUDGET`] service timeouts, the whole port at most
//! [`PORT_BUDGET`]).
//!
//! The servers are threads of this test listening on 127.0.0.1 in a network
//! namespace the test creates (so the tests need root); nothing else is
//! contacted. Identification runs on a thread of its own, so a
//! regression fails the test at [`OUTER_LIMIT`] instead of hanging it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portreeve_scan::ServiceInfo;
use portreeve_scan::service::{PORT_BUDGET, PROBE_BUDGET, ServiceOptions, identify};
use portreeve_testkit::in_fresh_netns;

/// The service timeout of these tests.
const TIMEOUT: Duration = Duration::from_secs(1);

/// How often the servers send their next byte: well inside [`TIMEOUT`], so
/// a timeout that restarts with every read never expires.
const DRIP: Duration = Duration::from_millis(300);

/// How long a test waits for identification before it calls it stalled.
const OUTER_LIMIT: Duration = Duration::from_secs(8);

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// When a dripping server starts to send.
#[derive(Clone, Copy)]
enum Start {
    /// As soon as the connection is accepted (a greeting).
    AtOnce,
    /// Once the client has sent something (an answer to any probe).
    WhenSpokenTo,
    /// After a completed TLS handshake (plaintext probes get a TLS alert,
    /// as from any TLS server).
    InsideTls,
}

/// A server on 127.0.0.1 that sends `prefix`, then one byte every
/// [`DRIP`] (or `every`) for a minute, on every connection. Stops when dropped.
struct Dripper {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Dripper {
    fn start(prefix: &'static [u8], start: Start) -> Dripper {
        Dripper::start_every(prefix, start, DRIP)
    }

    fn start_every(prefix: &'static [u8], start: Start, every: Duration) -> Dripper {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let stopped = Arc::clone(&stopped);
                        std::thread::spawn(move || drip(conn, prefix, start, every, &stopped));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Dripper { port, stop }
    }
}

impl Drop for Dripper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn drip(mut conn: TcpStream, prefix: &[u8], start: Start, every: Duration, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    match start {
        Start::AtOnce => {}
        Start::WhenSpokenTo => {
            let mut first = [0u8; 1];
            if !matches!(conn.read(&mut first), Ok(1)) {
                return;
            }
        }
        Start::InsideTls => {
            let mut first = [0u8; 1];
            match conn.peek(&mut first) {
                Ok(1) if first[0] == 0x16 => {}
                Ok(1) => {
                    // A fatal `decode_error` alert.
                    let _ = conn.write_all(b"\x15\x03\x03\x00\x02\x02\x32");
                    return;
                }
                _ => return,
            }
            let mut tls = rustls::ServerConnection::new(tls_config()).expect("TLS server");
            while tls.is_handshaking() {
                if tls.complete_io(&mut conn).is_err() {
                    return;
                }
            }
        }
    }
    if conn.write_all(prefix).is_err() {
        return;
    }
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        if conn.write_all(b"x").is_err() {
            return;
        }
    }
}

/// A TLS server configuration with a self-signed test certificate
/// (`openssl req -x509 -newkey ec -subj /CN=portreeve-dripper`).
fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = CertificateDer::from(include_bytes!("testdata/dripper-cert.der").to_vec());
    let key = PrivatePkcs8KeyDer::from(include_bytes!("testdata/dripper-key.der").to_vec());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], PrivateKeyDer::Pkcs8(key))
        .expect("test certificate");
    Arc::new(config)
}

/// Identifies `port` on 127.0.0.1 with [`TIMEOUT`]; fails if that takes
/// longer than `bound`, or stalls past [`OUTER_LIMIT`].
fn identify_within(port: u16, bound: Duration) -> Option<ServiceInfo> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let opts = ServiceOptions {
            timeout: TIMEOUT,
            ..ServiceOptions::default()
        };
        let _ = tx.send(identify(LOCALHOST, port, &opts));
    });
    let limit = OUTER_LIMIT.max(bound + Duration::from_secs(1));
    let info = match rx.recv_timeout(limit) {
        Ok(info) => info,
        Err(_) => panic!(
            "identification of a dripping server still running after {:?} \
             (bound {bound:?}): a peer can stall it",
            started.elapsed()
        ),
    };
    let elapsed = started.elapsed();
    eprintln!("identified in {elapsed:?}: {info:?}");
    assert!(
        elapsed <= bound,
        "identification took {elapsed:?}, more than {bound:?}"
    );
    info
}

/// Slack for scheduling on a busy machine.
const SLACK: Duration = Duration::from_millis(750);

#[test]
fn budgets_are_documented_multiples() {
    assert_eq!((PROBE_BUDGET, PORT_BUDGET), (4, 12), "docs/scan.md says so");
}

/// A TLS record header in answer to the ClientHello (and to every other
/// probe), then a byte every 300 ms of a 16 KiB record: the TLS handshake
/// gets one service timeout, and the plaintext probes that follow each get
/// theirs. Before the handshake had a deadline this held the port for as
/// long as the server kept dripping.
#[test]
fn tls_handshake_dripper_is_cut_off() {
    in_fresh_netns("tls_handshake_dripper_is_cut_off", || {
        let server = Dripper::start(b"\x16\x03\x03\x40\x00", Start::WhenSpokenTo);
        // The greeting wait (silence, one service timeout), the TLS handshake
        // (one), and the plaintext probes that follow (each answered at once
        // with the record, which no parser takes for its own).
        identify_within(server.port, TIMEOUT * 4 + SLACK);
    });
}

/// The same record header sent at once: it is taken as the port's
/// greeting, whose wait is one service timeout.
#[test]
fn tls_greeting_dripper_is_cut_off() {
    in_fresh_netns("tls_greeting_dripper_is_cut_off", || {
        let server = Dripper::start(b"\x16\x03\x03\x40\x00", Start::AtOnce);
        identify_within(server.port, TIMEOUT * PROBE_BUDGET + SLACK);
    });
}

/// A TLS server that completes the handshake, then sends an application
/// data record header and a byte every 200 ms (faster than the 250 ms
/// greeting wait inside TLS): every read inside TLS is bounded too, not
/// only the handshake. Before, one read of the TLS stream went on for as
/// long as the record kept growing.
#[test]
fn dripper_inside_tls_is_cut_off() {
    in_fresh_netns("dripper_inside_tls_is_cut_off", || {
        let server = Dripper::start_every(
            b"\x17\x03\x03\x40\x00",
            Start::InsideTls,
            Duration::from_millis(200),
        );
        // The greeting wait (silence), the HTTP probe (a TLS alert), then the
        // TLS probe: handshake, greeting wait and `GET /` inside TLS.
        let info = identify_within(server.port, TIMEOUT * 4 + SLACK).expect("a TLS port");
        assert_eq!(info.name, "ssl");
        let tls = info.tls.expect("the TLS session is reported");
        assert_eq!(tls.subject.as_deref(), Some("CN=portreeve-dripper"));
    });
}

/// A greeting that never ends its line (`220 ` and a byte every 300 ms):
/// the greeting wait is one service timeout.
#[test]
fn banner_dripper_is_cut_off() {
    in_fresh_netns("banner_dripper_is_cut_off", || {
        let server = Dripper::start(b"220 ", Start::AtOnce);
        let info = identify_within(server.port, TIMEOUT * PROBE_BUDGET + SLACK);
        assert!(info.is_some(), "the port answered: it is reported");
    });
}

/// The same line as the answer to every probe: each plaintext probe's
/// reply, and the port as a whole, are bounded.
#[test]
fn reply_dripper_is_cut_off() {
    in_fresh_netns("reply_dripper_is_cut_off", || {
        let server = Dripper::start(b"220 ", Start::WhenSpokenTo);
        identify_within(server.port, TIMEOUT * 4 + SLACK);
    });
}

//! The `/metrics` endpoint under hostile and careless clients: idle
//! connections, a client that drips its request a byte at a time, more
//! connections than the endpoint serves at once, and a stop with clients
//! still attached. Every connection goes to an endpoint bound on
//! `127.0.0.1:0` in a network namespace the test creates (so the tests need
//! root); nothing leaves that namespace's loopback.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portreeve_agent::metrics::{Endpoint, MAX_CONNECTIONS, Metrics};
use portreeve_testkit::in_fresh_netns;

const SCRAPE: &str = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// An endpoint on a free loopback port, with `portreeve_agent_up` set.
fn endpoint() -> (Endpoint, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    metrics.up.set(1);
    let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    (endpoint, metrics)
}

/// `n` connections that send nothing.
fn idle(address: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect()
}

/// Sends `request` and reads the whole reply, giving up after `limit`.
fn get(address: SocketAddr, request: &str, limit: Duration) -> io::Result<String> {
    let start = Instant::now();
    let mut s = TcpStream::connect(address)?;
    s.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete reply within {limit:?}"),
            ));
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn idle_connections_do_not_delay_a_scrape() {
    in_fresh_netns("idle_connections_do_not_delay_a_scrape", || {
        let (endpoint, _metrics) = endpoint();
        let _idle = idle(endpoint.address, 20);
        // Let the endpoint take the idle connections before the scrape.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        let reply = get(endpoint.address, SCRAPE, Duration::from_secs(3));
        let took = start.elapsed();
        let reply = reply.unwrap_or_else(|e| panic!("scrape behind 20 idle connections: {e}"));
        assert!(
            took < Duration::from_secs(1),
            "scrape took {took:?} behind 20 idle connections"
        );
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("portreeve_agent_up 1\n"), "{reply}");
        endpoint.stop();
    });
}

#[test]
fn a_dripping_client_is_cut_off_at_the_deadline() {
    in_fresh_netns("a_dripping_client_is_cut_off_at_the_deadline", || {
        let (endpoint, _metrics) = endpoint();
        let start = Instant::now();
        let mut client = TcpStream::connect(endpoint.address).unwrap();
        let mut reader = client.try_clone().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let dripping = done.clone();
        let drip = std::thread::spawn(move || {
            let _ = client.write_all(b"GET /metrics HTTP/1.1\r\nX-Drip: ");
            // One byte every 0.5 s, never finishing the head, for up to 6 s.
            for _ in 0..12 {
                if dripping.load(Ordering::Relaxed) || client.write_all(b"a").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        reader
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 1024];
        let end = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        let took = start.elapsed();
        done.store(true, Ordering::Relaxed);
        drip.join().unwrap();
        match end {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the dripping client was not cut off after {took:?}: {e}"),
        }
        assert!(
            took <= Duration::from_millis(2500),
            "the dripping client was cut off only after {took:?}"
        );
        assert!(
            took >= Duration::from_millis(1500),
            "cut off after {took:?}, before its 2 s were up"
        );
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
            "{reply}"
        );
        endpoint.stop();
    });
}

#[test]
fn beyond_the_bound_a_connection_is_refused_and_service_resumes() {
    in_fresh_netns(
        "beyond_the_bound_a_connection_is_refused_and_service_resumes",
        || {
            let (endpoint, _metrics) = endpoint();
            let held = idle(endpoint.address, MAX_CONNECTIONS);
            // Accepted in order: these take every slot before the probe arrives.
            std::thread::sleep(Duration::from_millis(200));
            let start = Instant::now();
            let refused = get(endpoint.address, SCRAPE, Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("a connection beyond the bound: {e}"));
            let took = start.elapsed();
            assert!(
                refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
                "{refused}"
            );
            assert!(took < Duration::from_millis(500), "the 503 took {took:?}");

            // Once the idle connections close, their slots free and scrapes work.
            drop(held);
            let start = Instant::now();
            let reply = loop {
                let reply = get(endpoint.address, SCRAPE, Duration::from_secs(1)).unwrap();
                if reply.starts_with("HTTP/1.1 200 OK\r\n")
                    || start.elapsed() > Duration::from_secs(1)
                {
                    break reply;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
            assert!(reply.contains("portreeve_agent_up 1\n"), "{reply}");
            assert!(
                reply.contains("portreeve_metrics_requests_rejected_total 1\n"),
                "{reply}"
            );
            endpoint.stop();
        },
    );
}

#[test]
fn stop_returns_promptly_with_idle_clients_attached() {
    in_fresh_netns("stop_returns_promptly_with_idle_clients_attached", || {
        let (endpoint, _metrics) = endpoint();
        let _idle = idle(endpoint.address, 10);
        let mut half = TcpStream::connect(endpoint.address).unwrap();
        half.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        std::thread::spawn(move || {
            endpoint.stop();
            let _ = tx.send(());
        });
        let stopped = rx.recv_timeout(Duration::from_secs(3));
        let took = start.elapsed();
        assert!(stopped.is_ok(), "stop() had not returned after {took:?}");
        assert!(
            took < Duration::from_secs(1),
            "stop() took {took:?} with idle clients"
        );
    });
}

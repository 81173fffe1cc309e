//! Which members of a backup pool take connections now: a breaker sends
//! new connections only to those, and with none it does not overflow at
//! all (its clients are better served by the overloaded primary than by
//! nobody).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The members of `pool` that accepted a TCP connection within `timeout`,
/// in pool order. Every member is tried at once, so a check takes at most
/// about `timeout` however many are down. The connection is closed at
/// once; a member sees one accepted-and-closed connection per check.
pub fn healthy(pool: &[SocketAddr], timeout: Duration) -> Vec<SocketAddr> {
    std::thread::scope(|scope| {
        let checks: Vec<_> = pool
            .iter()
            .map(|member| scope.spawn(move || TcpStream::connect_timeout(member, timeout).is_ok()))
            .collect();
        pool.iter()
            .zip(checks)
            .filter_map(|(member, check)| check.join().unwrap_or(false).then_some(*member))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use portreeve_testkit::{Netns, privileged};

    use super::*;

    #[test]
    fn only_members_that_accept_are_healthy_and_the_check_takes_one_timeout() {
        if !privileged(
            "only_members_that_accept_are_healthy_and_the_check_takes_one_timeout",
            &["ip", "python3"],
        ) {
            return;
        }
        let ns = Netns::new(); // 10.99.0.1/24 on d0; nobody holds 10.99.0.2
        let _up = ns.listen(&["tcp4:10.99.0.1:8080", "tcp6:[2001:db8:99::1]:8080"], 0);
        let pool: Vec<SocketAddr> = [
            "10.99.0.1:8080",
            "10.99.0.1:8081", // refused: nothing listens
            "10.99.0.2:8080", // silent: no such host
            "[2001:db8:99::1]:8080",
            "10.99.0.2:8081",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let timeout = Duration::from_millis(400);
        let (found, took) = ns.run(|| {
            let started = Instant::now();
            (healthy(&pool, timeout), started.elapsed())
        });
        assert_eq!(found, [pool[0], pool[3]]);
        assert!(took < timeout * 2, "two silent members took {took:?}");
    }
}

//! What feeds the scan watch: connection attempts from conntrack's new
//! connections (judged against the latest listener reading) and from the
//! scan chain's NFLOG group, through one bounded queue whose overflow is
//! counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::StateDir;
use portreeve_core::{ListeningSocket, Proto};
use portreeve_detect::{Attempt, Outcome, Probe, Transport};
use portreeve_policy::ScanAction;
use prometheus_client::metrics::counter::Counter;

use super::ROUND;
use crate::conntrack::NewConnection;
use crate::metrics::Metrics;
use crate::nflog::Nflog;
use crate::policy_cache::PolicyCache;

/// A sender of attempts to the scan watch that counts what the full queue
/// refused.
#[derive(Clone)]
pub(crate) struct Feed {
    queue: SyncSender<Attempt>,
    dropped: Counter,
}

impl Feed {
    pub(crate) fn new(queue: SyncSender<Attempt>, metrics: &Metrics) -> Feed {
        let dropped = metrics
            .queue_dropped
            .get_or_create(&[("queue", "scan".into())])
            .clone();
        Feed { queue, dropped }
    }

    /// Queues `attempt`, or counts it dropped; false once the scan watch
    /// is gone.
    pub(crate) fn send(&self, attempt: Attempt) -> bool {
        match self.queue.try_send(attempt) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped.inc();
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The NFLOG reader's thread, until `stop`: while the policy in effect
/// says `[detection] scan` is not `"off"`, it holds a subscription to the
/// policy's `log_group` (following it when the group changes) and feeds
/// the probes the scan chain logs there to the watch. A group that cannot
/// be bound (another reader holds it; no CAP_NET_ADMIN) is logged and
/// tried again after [`NFLOG_RETRY`].
pub(crate) fn read_nflog(state: &StateDir, feed: Feed, metrics: &Metrics, stop: &AtomicBool) {
    let mut policy = PolicyCache::in_effect();
    let mut subscribed: Option<(u16, Nflog)> = None;
    let mut failed: Option<(u16, Instant)> = None;
    let mut next_look = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_look {
            next_look = Instant::now() + ROUND;
            let wanted = policy
                .get(state)
                .map(|p| &p.policy.detection)
                .filter(|d| d.scan != ScanAction::Off)
                .map(|d| d.log_group);
            if subscribed.as_ref().map(|(g, _)| *g) != wanted {
                subscribed = None;
            }
            let retry =
                |(group, at): (u16, Instant)| Some(group) != wanted || at.elapsed() >= NFLOG_RETRY;
            if let Some(group) = wanted
                && subscribed.is_none()
                && failed.is_none_or(retry)
            {
                match Nflog::subscribe(group) {
                    Ok(nflog) => {
                        tracing::info!(group, "reading the scan chain's probes from NFLOG");
                        subscribed = Some((group, nflog));
                        failed = None;
                    }
                    Err(e) => {
                        tracing::warn!(group, error = %e, "cannot read the scan chain's NFLOG group: the agent sees only conntrack's connections");
                        metrics.count_error("scan");
                        failed = Some((group, Instant::now()));
                    }
                }
            }
        }
        let Some((group, nflog)) = &mut subscribed else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        match nflog.next_batch() {
            Ok(batch) => {
                for a in batch {
                    if !feed.send(a) {
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(group = *group, error = %e, "reading NFLOG failed");
                metrics.count_error("scan");
                failed = Some((*group, Instant::now()));
                subscribed = None;
            }
        }
    }
}

/// How long a failed NFLOG subscription waits before it is tried again.
const NFLOG_RETRY: Duration = Duration::from_secs(30);

/// The listeners of one reading, by protocol and port.
#[derive(Default)]
pub(crate) struct Listening {
    bound: HashMap<(Proto, u16), Vec<(IpAddr, bool)>>,
}

impl Listening {
    pub(crate) fn of(sockets: &[ListeningSocket]) -> Listening {
        let mut bound: HashMap<(Proto, u16), Vec<(IpAddr, bool)>> = HashMap::new();
        for s in sockets {
            bound
                .entry((s.protocol, s.port))
                .or_default()
                .push((s.address, s.dual_stack));
        }
        Listening { bound }
    }

    /// Whether a socket accepts `protocol` to `destination`:`port`: one
    /// bound to that address, or a wildcard of its family (an IPv6
    /// wildcard that is dual-stack takes IPv4 too).
    pub(crate) fn holds(&self, protocol: Proto, destination: IpAddr, port: u16) -> bool {
        self.bound.get(&(protocol, port)).is_some_and(|sockets| {
            sockets.iter().any(|&(address, dual_stack)| {
                address == destination
                    || (address.is_unspecified()
                        && (address.is_ipv4() == destination.is_ipv4()
                            || (dual_stack && destination.is_ipv4())))
            })
        })
    }
}

/// The attempt a new connection conntrack reported at `at` stands for:
/// established when a listener holds its port, else rejected (the kernel
/// answered a reset, or ICMP port unreachable).
pub(crate) fn attempt_of(c: &NewConnection, at: Timestamp, listening: &Listening) -> Attempt {
    let (transport, probe) = match c.protocol {
        Proto::Tcp => (Transport::Tcp, Probe::Syn),
        Proto::Udp => (Transport::Udp, Probe::Udp),
    };
    let outcome = if listening.holds(c.protocol, c.destination, c.port) {
        Outcome::Established
    } else {
        Outcome::Rejected
    };
    Attempt {
        at,
        source: c.source,
        destination: c.destination,
        port: c.port,
        transport,
        probe,
        outcome,
    }
}

/// Turns conntrack's new connections into attempts for the scan watch,
/// judged against the latest listener reading (indexed again only when a
/// new reading comes).
pub(crate) struct ConntrackTee {
    feed: Feed,
    reading: Option<Arc<Vec<ListeningSocket>>>,
    listening: Listening,
}

impl ConntrackTee {
    pub(crate) fn new(feed: Feed) -> ConntrackTee {
        ConntrackTee {
            feed,
            reading: None,
            listening: Listening::default(),
        }
    }

    /// Queues the attempts `batch` stands for, by the reading `latest`.
    pub(crate) fn send(
        &mut self,
        batch: &[NewConnection],
        latest: Option<Arc<Vec<ListeningSocket>>>,
    ) {
        let same = match (&self.reading, &latest) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.listening = latest
                .as_deref()
                .map_or_else(Listening::default, |s| Listening::of(s));
            self.reading = latest;
        }
        let at = Timestamp::now();
        for c in batch {
            self.feed.send(attempt_of(c, at, &self.listening));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_testkit::listening_socket;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn connection(protocol: Proto, destination: &str, port: u16) -> NewConnection {
        NewConnection {
            protocol,
            source: ip("10.9.0.2"),
            destination: ip(destination),
            port,
        }
    }

    #[test]
    fn a_new_connection_is_established_only_where_a_listener_takes_it() {
        let web = listening_socket(8080);
        let ssh = ListeningSocket {
            address: ip("::"),
            dual_stack: true,
            ..listening_socket(22)
        };
        let dns = ListeningSocket {
            protocol: Proto::Udp,
            address: ip("10.0.0.1"),
            ..listening_socket(53)
        };
        let v6_only = ListeningSocket {
            address: ip("::"),
            ..listening_socket(9090)
        };
        let listening = Listening::of(&[web, ssh, dns, v6_only]);
        let outcome = |protocol, destination, port| {
            attempt_of(&connection(protocol, destination, port), at(0), &listening).outcome
        };
        use Outcome::{Established, Rejected};
        assert_eq!(outcome(Proto::Tcp, "10.0.0.9", 8080), Established);
        assert_eq!(
            outcome(Proto::Tcp, "10.0.0.9", 8081),
            Rejected,
            "no listener"
        );
        assert_eq!(outcome(Proto::Udp, "10.0.0.9", 8080), Rejected, "TCP only");
        assert_eq!(outcome(Proto::Tcp, "fd00::1", 8080), Rejected, "IPv4 only");
        assert_eq!(
            outcome(Proto::Tcp, "10.0.0.9", 22),
            Established,
            "dual-stack"
        );
        assert_eq!(outcome(Proto::Tcp, "fd00::1", 22), Established);
        assert_eq!(outcome(Proto::Tcp, "10.0.0.9", 9090), Rejected, "IPv6 only");
        assert_eq!(outcome(Proto::Udp, "10.0.0.1", 53), Established);
        assert_eq!(
            outcome(Proto::Udp, "10.0.0.2", 53),
            Rejected,
            "bound elsewhere"
        );

        let udp = attempt_of(&connection(Proto::Udp, "10.0.0.1", 53), at(7), &listening);
        assert_eq!(
            (udp.transport, udp.probe, udp.source, udp.at),
            (Transport::Udp, Probe::Udp, ip("10.9.0.2"), at(7))
        );
    }
}

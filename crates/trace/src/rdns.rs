//! Reverse DNS (PTR) through the system resolver, with a timeout.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dns_lookup::LookupErrorKind;

use crate::TraceError;
use crate::worker::{Pending, Workers};

/// PTR lookups through `getnameinfo`, so the host's own resolver
/// configuration (`/etc/hosts`, `/etc/resolv.conf`, nsswitch) applies.
#[derive(Debug)]
pub struct ReverseDns {
    timeout: Duration,
    workers: Workers,
}

/// A lookup under way.
pub(crate) struct PendingName {
    pending: Pending<Result<Option<String>, TraceError>>,
    started: Instant,
    timeout: Duration,
}

impl ReverseDns {
    /// Lookups that give up after `timeout`, with at most `max_outstanding`
    /// resolver calls still running (given up on or not) at any time.
    pub fn new(timeout: Duration, max_outstanding: usize) -> ReverseDns {
        ReverseDns {
            timeout,
            workers: Workers::new("reverse DNS", max_outstanding),
        }
    }

    /// The name `addr` points back to, `None` when it has none, or an error
    /// when the resolver fails or gives no answer within the timeout.
    pub fn lookup(&self, addr: IpAddr) -> Result<Option<String>, TraceError> {
        self.start(addr)?.finish(None)
    }

    /// Starts a lookup of `addr` on a worker thread.
    pub(crate) fn start(&self, addr: IpAddr) -> Result<PendingName, TraceError> {
        let pending = self.workers.spawn(move || resolve(addr))?;
        Ok(PendingName {
            pending,
            started: Instant::now(),
            timeout: self.timeout,
        })
    }
}

impl PendingName {
    /// Waits for the answer until the lookup's own timeout, or until the
    /// `budget` deadline (an enrichment's, and its length) if that comes
    /// first.
    pub(crate) fn finish(
        self,
        budget: Option<(Instant, Duration)>,
    ) -> Result<Option<String>, TraceError> {
        let own = self.started + self.timeout;
        let (until, late) = match budget {
            Some((deadline, budget)) if deadline < own => (
                deadline,
                TraceError::OverBudget {
                    what: "reverse DNS",
                    budget,
                },
            ),
            _ => (own, TraceError::DnsTimeout(self.timeout)),
        };
        self.pending.wait_until(until).unwrap_or(Err(late))
    }
}

/// One `getnameinfo` call with `NI_NAMEREQD`: "no such name" is an answer
/// (`None`), anything else that fails is an error.
fn resolve(addr: IpAddr) -> Result<Option<String>, TraceError> {
    match dns_lookup::lookup_addr(&addr) {
        Ok(name) => Ok(Some(name.trim_end_matches('.').to_owned())),
        Err(e) => match e.kind() {
            LookupErrorKind::NoName | LookupErrorKind::NoData => Ok(None),
            LookupErrorKind::Again => Err(TraceError::DnsFailed(
                "the resolver gave no answer (temporary failure)".into(),
            )),
            LookupErrorKind::Fail => Err(TraceError::DnsFailed(
                "the resolver reported a permanent failure".into(),
            )),
            LookupErrorKind::System => {
                Err(TraceError::DnsFailed(std::io::Error::from(e).to_string()))
            }
            _ => Err(TraceError::DnsFailed(
                "the resolver could not look the address up".into(),
            )),
        },
    }
}

//! Networks already fetched, kept until their time to live runs out.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::RdapNetwork;

/// At most this many networks are kept; the oldest go first.
const CAPACITY: usize = 4096;

/// Fetched networks keyed by their range: any address inside one is
/// answered from here until it expires.
#[derive(Debug)]
pub(crate) struct NetworkCache {
    ttl: Duration,
    entries: Mutex<Vec<(Instant, RdapNetwork)>>,
}

impl NetworkCache {
    pub(crate) fn new(ttl: Duration) -> NetworkCache {
        NetworkCache {
            ttl,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The unexpired network holding `addr`, if one was fetched.
    pub(crate) fn get(&self, addr: IpAddr) -> Option<RdapNetwork> {
        let now = Instant::now();
        self.lock()
            .iter()
            .find(|(expires, network)| *expires > now && network.holds(addr))
            .map(|(_, network)| network.clone())
    }

    /// Keeps `network` for the time to live, dropping expired entries (and
    /// the oldest, past the capacity).
    pub(crate) fn put(&self, network: RdapNetwork) {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|(expires, _)| *expires > now);
        if entries.len() >= CAPACITY {
            entries.remove(0);
        }
        entries.push((now + self.ttl, network));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Instant, RdapNetwork)>> {
        // A panic elsewhere cannot leave the list half-changed: use it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

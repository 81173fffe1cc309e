//! The flow sink: where aggregates from collectors, captures and Zeek logs
//! end up — merged into the agent's store by the one merge rule of
//! [`FlowAggregate::merge`] — and, from the agent's collector, the new
//! connections flow records showed per client and local port, which also
//! feed each port's usage (last access, connections, distinct sources).

use std::collections::{BTreeMap, BTreeSet};

use portreeve_core::PortKey;
use portreeve_flows::FlowAggregate;
use portreeve_store::{SourceUpdate, SqliteStore, Store, UsageUpdate, WriteBatch};

use crate::error::AppError;
use crate::state_dir::StateDir;

/// Writes aggregates into the agent's store, opened at the first write
/// that has something to store (so a run that receives nothing creates no
/// store) and kept open for the next flushes: a sink lives on one thread
/// (a collector's) and has its own connection.
pub struct FlowSink<'a> {
    state: &'a StateDir,
    store: Option<SqliteStore>,
    /// The per-source record's bound ([`SqliteStore::set_max_sources`]).
    max_sources: u64,
}

impl<'a> FlowSink<'a> {
    /// A sink into `state`'s store.
    pub fn new(state: &'a StateDir) -> FlowSink<'a> {
        FlowSink::bounded(state, portreeve_store::DEFAULT_MAX_SOURCES)
    }

    /// A sink into `state`'s store whose per-source record holds
    /// `max_sources` rows before folding new sources into networks.
    pub fn bounded(state: &'a StateDir, max_sources: u64) -> FlowSink<'a> {
        FlowSink {
            state,
            store: None,
            max_sources,
        }
    }

    /// Merges `aggregates` into the stored ones, in one transaction.
    pub fn store(&mut self, aggregates: &[FlowAggregate]) -> Result<(), AppError> {
        self.store_with_sources(aggregates, &[])
    }

    /// Merges `aggregates`, and `sources` (new connections to this host's
    /// ports, [`WriteBatch::sources`]) with the port usage they add up to,
    /// in one transaction. Only sources of ports that listen (in the
    /// agent's last listener snapshot) are kept: a flow record of a
    /// refused connection — a scanner's probe — is no use of a port.
    pub fn store_with_sources(
        &mut self,
        aggregates: &[FlowAggregate],
        sources: &[SourceUpdate],
    ) -> Result<(), AppError> {
        if aggregates.is_empty() && sources.is_empty() {
            return Ok(());
        }
        let store = match &mut self.store {
            Some(store) => store,
            None => {
                let mut store = self.state.open_store()?;
                store.set_max_sources(self.max_sources);
                self.store.insert(store)
            }
        };
        let fail = AppError::store(self.state.store_file());
        let sources = if sources.is_empty() {
            Vec::new()
        } else {
            let listening: BTreeSet<PortKey> = match store.listeners() {
                Ok(listeners) => listeners
                    .iter()
                    .map(|l| PortKey::new(l.protocol, l.port))
                    .collect(),
                Err(e) => return Err(fail(e)),
            };
            sources
                .iter()
                .filter(|s| listening.contains(&s.key))
                .copied()
                .collect()
        };
        store
            .write(&WriteBatch {
                flows: aggregates.to_vec(),
                usage: port_usage(&sources),
                sources,
                ..WriteBatch::default()
            })
            .map_err(fail)
    }
}

/// Each port's usage as `sources` add up to: their connections, the
/// latest last seen as the last access, and the single addresses among
/// them as distinct sources (a folded network is not one).
fn port_usage(sources: &[SourceUpdate]) -> Vec<UsageUpdate> {
    let mut ports: BTreeMap<PortKey, UsageUpdate> = BTreeMap::new();
    for s in sources {
        let u = ports.entry(s.key).or_insert_with(|| UsageUpdate {
            last_access: Some(s.last_seen),
            ..UsageUpdate::seen(s.key, s.first_seen)
        });
        u.seen_at = u.seen_at.min(s.first_seen);
        u.last_access = u.last_access.max(Some(s.last_seen));
        u.connections = u.connections.saturating_add(s.connections);
        if s.source.prefix_len() == s.source.max_prefix_len() {
            u.sources.push(s.source.addr());
        }
    }
    ports.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_add_up_to_port_usage() {
        let at = |m: i64| {
            "2026-12-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap()
                + jiff::SignedDuration::from_mins(m)
        };
        let key = PortKey::new(portreeve_core::Proto::Tcp, 443);
        let from = |source: &str, connections, first, last| SourceUpdate {
            source: source.parse().unwrap(),
            key,
            connections,
            first_seen: at(first),
            last_seen: at(last),
        };
        let usage = port_usage(&[
            from("192.0.2.7/32", 2, 5, 9),
            from("192.0.2.8/32", 1, 3, 4),
            from("198.51.100.0/24", 4, 6, 7),
        ]);
        assert_eq!(usage.len(), 1);
        let u = &usage[0];
        assert_eq!((u.key, u.connections), (key, 7));
        assert_eq!((u.seen_at, u.last_access), (at(3), Some(at(9))));
        assert_eq!(
            u.sources,
            [
                "192.0.2.7".parse::<std::net::IpAddr>().unwrap(),
                "192.0.2.8".parse().unwrap()
            ]
        );
    }
}

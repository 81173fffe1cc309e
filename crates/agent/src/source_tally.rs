//! Who uses which local port, from flow records: each record that runs
//! from a client to a server port on one of this host's addresses counts
//! as one new connection from that client, tallied between flushes and
//! handed to the store as [`SourceUpdate`]s.
//!
//! Only the client-to-server record of a connection counts: NetFlow v5/v9
//! records are one-way, so a connection is two records, and its reply runs
//! from the server. sFlow exports sampled packets, not connections: each
//! sample that runs to the server counts, so sFlow's counts are samples.
//! Records about other hosts' servers (a router exporting a whole network)
//! are not this host's use and are skipped. A record's time is when it was
//! received, not the exporter's clock.
//!
//! Memory: at most [`MAX_SOURCES`] (client, port) entries one by one
//! between flushes; past it, further clients are tallied in their /24 or
//! /64, as the store folds them past its own bound.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_core::{PortKey, source_network};
use portreeve_flows::{FlowRecord, ServerSide, server_side};
use portreeve_store::SourceUpdate;

/// (client, port) entries tallied one by one between flushes.
pub const MAX_SOURCES: usize = 50_000;

/// Per-(client, local port) new connections seen in flow records since the
/// last [`SourceTally::take`].
#[derive(Debug, Default)]
pub struct SourceTally {
    entries: HashMap<(IpNet, PortKey), SourceUpdate>,
    /// Whether each server address seen since the last take is this
    /// namespace's own.
    local: HashMap<IpAddr, bool>,
}

impl SourceTally {
    /// Counts `record` when it runs from a client to a local server port.
    pub fn add(&mut self, record: &FlowRecord) {
        let (Some(client), Some(server), Some(protocol)) =
            (record.src_addr, record.dst_addr, record.protocol())
        else {
            return;
        };
        if server_side(record) != ServerSide::Dst
            || !*self
                .local
                .entry(server)
                .or_insert_with(|| crate::daemon::is_local(server))
        {
            return;
        }
        let key = PortKey::new(protocol, record.dst_port);
        let at = received_at(record);
        let client = IpNet::from(client);
        let source =
            if self.entries.len() < MAX_SOURCES || self.entries.contains_key(&(client, key)) {
                client
            } else {
                source_network(client)
            };
        let e = self.entries.entry((source, key)).or_insert(SourceUpdate {
            source,
            key,
            connections: 0,
            first_seen: at,
            last_seen: at,
        });
        e.connections += 1;
        e.first_seen = e.first_seen.min(at);
        e.last_seen = e.last_seen.max(at);
    }

    /// Everything tallied since the last take.
    pub fn take(&mut self) -> Vec<SourceUpdate> {
        self.local.clear();
        std::mem::take(&mut self.entries).into_values().collect()
    }
}

fn received_at(record: &FlowRecord) -> Timestamp {
    i64::try_from(record.received_ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or_else(Timestamp::now)
}

#[cfg(test)]
mod tests {
    use portreeve_core::Proto;
    use portreeve_flows::FlowSource;

    use super::*;

    fn record(src: &str, sport: u16, dst: &str, dport: u16) -> FlowRecord {
        let mut r = FlowRecord::new(
            FlowSource::NetflowV5,
            "127.0.0.1".parse().unwrap(),
            0,
            1_765_000_000_000,
        );
        r.src_addr = Some(src.parse().unwrap());
        r.dst_addr = Some(dst.parse().unwrap());
        r.ip_protocol = 6;
        (r.src_port, r.dst_port) = (sport, dport);
        r
    }

    #[test]
    fn client_to_local_server_records_count_and_replies_and_other_hosts_do_not() {
        let mut tally = SourceTally::default();
        // A connection to this host's 127.0.0.1:8080, as two one-way records.
        tally.add(&record("127.0.0.9", 50000, "127.0.0.1", 8080));
        tally.add(&record("127.0.0.1", 8080, "127.0.0.9", 50000));
        tally.add(&record("127.0.0.9", 50001, "127.0.0.1", 8080));
        // A server elsewhere (documentation address, never local).
        tally.add(&record("127.0.0.9", 50002, "192.0.2.80", 80));
        let updates = tally.take();
        assert_eq!(updates.len(), 1, "{updates:?}");
        let u = updates[0];
        assert_eq!(u.source.to_string(), "127.0.0.9/32");
        assert_eq!(u.key, PortKey::new(Proto::Tcp, 8080));
        assert_eq!(u.connections, 2);
        assert!(tally.take().is_empty());
    }
}

//! Flow telemetry for portreeve: which server ports the network uses, from
//! the flow records routers, switches and sensors export.
//!
//! The principal type in this crate is a [`Decoder`], which turns NetFlow
//! v5, NetFlow v9, IPFIX and sFlow v5 export datagrams into
//! [`FlowRecord`]s, and is configured by a [`DecoderConfig`]. An
//! [`Aggregator`] folds records into one [`FlowAggregate`] per
//! [`ServerPort`] (a server's address and a TCP or UDP
//! [`PortKey`](portreeve_core::PortKey)): who used which server port,
//! when, and how much. [`FlowAggregate::merge`] is the one rule for adding
//! up two aggregates of a port, used by the aggregator, the agent's
//! collector and the agent's store alike.
//!
//! ```rust
//! use portreeve_core::{PortKey, Proto};
//! use portreeve_flows::{Aggregator, Decoder, ServerPort};
//!
//! /// A NetFlow v5 record (48 bytes): 3 packets, 180 bytes.
//! fn record(src: [u8; 4], src_port: u16, dst: [u8; 4], dst_port: u16, ip_protocol: u8) -> Vec<u8> {
//!     let mut r = vec![0; 48];
//!     r[0..4].copy_from_slice(&src);
//!     r[4..8].copy_from_slice(&dst);
//!     r[16..20].copy_from_slice(&3u32.to_be_bytes());
//!     r[20..24].copy_from_slice(&180u32.to_be_bytes());
//!     r[32..34].copy_from_slice(&src_port.to_be_bytes());
//!     r[34..36].copy_from_slice(&dst_port.to_be_bytes());
//!     r[38] = ip_protocol;
//!     r
//! }
//!
//! // A 24-byte header (version 5, three records), then the records: a
//! // client's connection to 443/tcp, the server's answer, and a ping.
//! let mut datagram = vec![0, 5, 0, 3];
//! datagram.resize(24, 0);
//! datagram.extend(record([198, 51, 100, 7], 51000, [192, 0, 2, 10], 443, 6));
//! datagram.extend(record([192, 0, 2, 10], 443, [198, 51, 100, 7], 51000, 6));
//! datagram.extend(record([198, 51, 100, 7], 0, [192, 0, 2, 10], 0, 1));
//!
//! let mut decoder = Decoder::default();
//! let mut records = Vec::new();
//! let exporter = "192.0.2.1:2055".parse()?;
//! let received_ms = 1_700_000_000_000;
//! assert_eq!(decoder.decode(exporter, &datagram, received_ms, &mut records)?, 3);
//! assert_eq!(records[0].protocol(), Some(Proto::Tcp));
//! assert_eq!((records[2].ip_protocol, records[2].protocol()), (1, None));
//!
//! let mut aggregator = Aggregator::default();
//! aggregator.add_all(&records);
//! // Both directions count for the server's port; the ping for no port.
//! let https = ServerPort::new("192.0.2.10".parse()?, PortKey::new(Proto::Tcp, 443));
//! let usage = aggregator.get(&https).expect("443/tcp was used");
//! assert_eq!((usage.flows, usage.packets, usage.bytes), (2, 6, 360));
//! assert_eq!((usage.clients, usage.clients_exact), (1, true));
//! assert_eq!(aggregator.other_protocol_records(), 1);
//! assert_eq!(aggregator.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate is a pure core: it never opens a socket or a file (the one
//! exception, [`BatchReceiver`], reads [`DatagramBatch`]es from a socket
//! the caller opened). The collector hands [`Decoder::decode`] each UDP
//! payload together with the exporter's address and the receive time; the
//! decoder keeps the per-exporter template and sampling state that NetFlow
//! v9 and IPFIX need and appends plain [`FlowRecord`]s to a caller-owned
//! buffer, so the hot path performs no per-record allocation.
//!
//! Exporters are untrusted: every datagram may be truncated, inconsistent or
//! hostile. Decoding never panics, drops a bad datagram as a whole (records
//! already appended for it are taken back), counts the drop by
//! [`DropReason`] in [`Counters`], logs at a limited rate, and keeps memory
//! bounded with caps on exporters, templates (per exporter and in all),
//! samplers and aggregation keys. Evictions are counted, and the
//! aggregates of evicted keys are handed back to the caller
//! ([`Aggregator::take_evicted`]) to be stored, not lost.
//!
//! [`pcap`] extracts UDP payloads from capture files (for replaying
//! captures of export traffic) and [`zeek`] reads `conn.log` in TSV or JSON.

mod aggregate;
mod bytes;
mod decoder;
mod error;
mod netflow;
mod packet;
pub mod pcap;
mod receive;
mod record;
mod sampling;
mod sflow;
pub mod zeek;

pub use aggregate::{
    Aggregator, AggregatorConfig, BYTES_PER_EVICTED, BYTES_PER_KEY, FlowAggregate, ServerPort,
    server_side,
};
pub use decoder::{Decoder, DecoderConfig};
pub use error::{Counters, DecodeError, DropReason, ReasonCounts};
pub use receive::{BatchReceiver, DatagramBatch};
pub use record::{Direction, FlowRecord, FlowSource, ServerSide};

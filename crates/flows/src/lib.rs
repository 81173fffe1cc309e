//! Flow telemetry for portreeve: decoding NetFlow v5, NetFlow v9, IPFIX and
//! sFlow v5 export datagrams, reading Zeek `conn.log` files, and folding the
//! resulting flow records into per-port usage (who talked to which server
//! port, when, and how much).
//!
//! The crate is a pure core: it never opens a socket or a file (the one
//! exception, [`BatchReceiver`], reads [`Batch`]es of datagrams from a socket
//! the caller opened). The
//! collector hands [`Decoder::decode`] each UDP payload together with the
//! exporter's address and the receive time; the decoder keeps the
//! per-exporter template and sampling state that NetFlow v9 and IPFIX need
//! and appends plain [`FlowRecord`]s to a caller-owned buffer, so the hot
//! path performs no per-record allocation. [`Aggregator`] turns records into
//! [`PortUsage`] rows keyed by (server address, protocol, port).
//!
//! Exporters are untrusted: every datagram may be truncated, inconsistent or
//! hostile. Decoding never panics, drops a bad datagram as a whole (records
//! already appended for it are taken back), counts the drop by
//! [`DropReason`] in [`Counters`], logs at a limited rate, and keeps memory
//! bounded with caps on exporters, templates, samplers and aggregation keys
//! (evictions are counted too).
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
mod sflow;
pub mod zeek;

pub use aggregate::{AggregateKey, Aggregator, AggregatorConfig, PortUsage, server_side};
pub use decoder::{Decoder, DecoderConfig};
pub use error::{Counters, DecodeError, DropReason, ReasonCounts};
pub use receive::{Batch, BatchReceiver};
pub use record::{Direction, FlowRecord, FlowSource, ServerSide};

//! The one record type every source produces. It is plain `Copy` data (no
//! heap), so decoders can append millions of them per second into a reused
//! buffer, and it serializes to the stable JSON of `flows decode --format
//! jsonl`.

use std::net::IpAddr;

use portreeve_core::Proto;
use serde::Serialize;

/// TCP's IANA protocol number.
pub(crate) const IP_PROTOCOL_TCP: u8 = 6;
/// UDP's IANA protocol number.
pub(crate) const IP_PROTOCOL_UDP: u8 = 17;

/// Which export protocol a record was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowSource {
    /// Cisco NetFlow version 5 (fixed record layout).
    NetflowV5,
    /// NetFlow version 9 (RFC 3954).
    NetflowV9,
    /// IPFIX (RFC 7011), export protocol version 10.
    Ipfix,
    /// sFlow version 5 (one record per packet sample).
    Sflow5,
    /// A Zeek `conn.log` entry.
    Zeek,
}

/// Which way the exporter saw the flow cross the observation point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Entering the observed interface.
    Ingress,
    /// Leaving the observed interface.
    Egress,
}

/// Which endpoint of a record is the server, when the source knows it (Zeek
/// knows who initiated a connection; flow exporters mostly do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerSide {
    /// The source address and port are the server's.
    Src,
    /// The destination address and port are the server's.
    Dst,
}

/// One flow (or, for sFlow, one sampled packet) as reported by an exporter.
///
/// Counters are as exported, *not* scaled: `sampling_rate` says by how much
/// they must be multiplied to estimate the real traffic (see
/// [`scaled_packets`](Self::scaled_packets)). Times are Unix milliseconds.
/// Fields an exporter did not send are `None` (or 0 for ports and the
/// IP protocol, as on the wire).
///
/// The record keeps the exported IANA protocol number, [`ip_protocol`](Self::ip_protocol):
/// exporters report every IP protocol, portreeve governs the ports of two.
/// [`protocol`](Self::protocol) says which of those the record is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// The export protocol.
    pub source: FlowSource,
    /// The address the export datagram came from (for Zeek, unspecified).
    pub exporter: IpAddr,
    /// NetFlow v9 source id, IPFIX observation domain, sFlow sub-agent id,
    /// or for NetFlow v5 `engine_type << 8 | engine_id`.
    pub observation_domain: u32,
    /// The sFlow agent address from the datagram header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<IpAddr>,
    /// When the datagram was received (or the Zeek connection started).
    pub received_ms: u64,
    /// Source address, if exported.
    pub src_addr: Option<IpAddr>,
    /// Destination address, if exported.
    pub dst_addr: Option<IpAddr>,
    /// The IANA protocol number of the IP payload, as exported (6 TCP,
    /// 17 UDP, 1 ICMP, 58 ICMPv6, 50 ESP, …); 0 if not exported.
    pub ip_protocol: u8,
    /// Source transport port (0 when none).
    pub src_port: u16,
    /// Destination transport port (0 when none; some exporters put ICMP
    /// type·256+code here).
    pub dst_port: u16,
    /// ICMP/ICMPv6 type, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP/ICMPv6 code, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Packets, unscaled.
    pub packets: u64,
    /// Bytes (IP layer for flow exporters, frame length for sFlow), unscaled.
    pub bytes: u64,
    /// One in how many packets was sampled; 1 when unsampled or unknown.
    pub sampling_rate: u32,
    /// Flow start, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// Flow end, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
    /// Cumulative TCP flags, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_flags: Option<u16>,
    /// Flow direction at the observation point, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Input interface index, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_interface: Option<u32>,
    /// Output interface index, if exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_interface: Option<u32>,
    /// Which side is the server, when the source knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_side: Option<ServerSide>,
}

impl FlowRecord {
    /// A record with only its provenance filled in.
    pub fn new(
        source: FlowSource,
        exporter: IpAddr,
        observation_domain: u32,
        received_ms: u64,
    ) -> Self {
        Self {
            source,
            exporter,
            observation_domain,
            agent: None,
            received_ms,
            src_addr: None,
            dst_addr: None,
            ip_protocol: 0,
            src_port: 0,
            dst_port: 0,
            icmp_type: None,
            icmp_code: None,
            packets: 0,
            bytes: 0,
            sampling_rate: 1,
            start_ms: None,
            end_ms: None,
            tcp_flags: None,
            direction: None,
            input_interface: None,
            output_interface: None,
            server_side: None,
        }
    }

    /// The transport protocol, when it is one whose ports portreeve
    /// governs: TCP or UDP. `None` for every other IP protocol (ICMP, ESP,
    /// GRE, SCTP, …) and when the exporter did not say.
    pub fn protocol(&self) -> Option<Proto> {
        match self.ip_protocol {
            IP_PROTOCOL_TCP => Some(Proto::Tcp),
            IP_PROTOCOL_UDP => Some(Proto::Udp),
            _ => None,
        }
    }

    /// Estimated real packets: `packets × sampling_rate` (saturating).
    pub fn scaled_packets(&self) -> u64 {
        self.packets
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }

    /// Estimated real bytes: `bytes × sampling_rate` (saturating).
    pub fn scaled_bytes(&self) -> u64 {
        self.bytes
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }
}

//! sFlow version 5 (sflow.org, "sFlow Version 5", 2004). sFlow exports
//! packet samples rather than flows: each flow sample carries one sampled
//! packet's header plus the rate it was sampled at, and becomes one
//! [`FlowRecord`] with `packets = 1` and `bytes` = the frame length, both
//! to be multiplied by `sampling_rate`. Counter samples and records of
//! other enterprises are skipped by their length. sFlow is stateless, so no
//! per-exporter memory is kept.
//!
//! All structures are XDR: big-endian 32-bit words, opaque data padded to a
//! multiple of four, every sample and record prefixed by its length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::Cursor;
use crate::decoder::Context;
use crate::error::DecodeError;
use crate::netflow::fill_from_packet;
use crate::packet::{parse_ethernet, parse_ipv4, parse_ipv6};
use crate::record::{FlowRecord, FlowSource};

/// Smallest possible sample or record: format and length words.
const MIN_ITEM: usize = 8;

pub(crate) fn decode(cx: &mut Context<'_>, datagram: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor::new(datagram);
    let version = c.u32("sFlow header")?;
    if version != 5 {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let agent = read_address(&mut c)?;
    let sub_agent = c.u32("sFlow header")?;
    let _sequence = c.u32("sFlow header")?;
    let _uptime = c.u32("sFlow header")?;
    let samples = c.u32("sFlow header")?;
    if samples as usize > c.remaining() / MIN_ITEM {
        return Err(DecodeError::BadLength(
            "sFlow sample count exceeds the datagram",
        ));
    }
    let blank = FlowRecord {
        agent: Some(agent),
        ..FlowRecord::new(FlowSource::Sflow5, cx.exporter, sub_agent, cx.now_ms)
    };
    for _ in 0..samples {
        let (format, body) = element(
            &mut c,
            "sample header",
            "sample runs past the end of the datagram",
        )?;
        match format {
            1 => flow_sample(cx, blank, body, false)?,
            3 => flow_sample(cx, blank, body, true)?,
            // Counter samples (2, 4) and anything of another enterprise.
            _ => cx.counters.samples_skipped += 1,
        }
    }
    Ok(())
}

/// One sFlow element — a sample in a datagram, a record in a sample: its
/// format and its body, which must fit in what is left (`overrun` says
/// what when it does not).
fn element<'a>(
    c: &mut Cursor<'a>,
    header: &'static str,
    overrun: &'static str,
) -> Result<(u32, &'a [u8]), DecodeError> {
    let format = c.u32(header)?;
    let len = c.u32(header)? as usize;
    let body = c
        .take(len, header)
        .map_err(|_| DecodeError::BadLength(overrun))?;
    Ok((format, body))
}

fn read_address(c: &mut Cursor<'_>) -> Result<IpAddr, DecodeError> {
    match c.u32("agent address type")? {
        1 => Ok(IpAddr::V4(Ipv4Addr::from(c.array::<4>("agent address")?))),
        2 => Ok(IpAddr::V6(Ipv6Addr::from(c.array::<16>("agent address")?))),
        _ => Err(DecodeError::Invalid("sFlow agent address type")),
    }
}

/// Interface values: in compact samples the top two bits are a format
/// (0 = ifIndex); in expanded ones the format is a separate word.
fn interface(format: u32, value: u32) -> Option<u32> {
    (format == 0).then_some(value)
}

fn flow_sample(
    cx: &mut Context<'_>,
    blank: FlowRecord,
    body: &[u8],
    expanded: bool,
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(body);
    let _sequence = c.u32("flow sample")?;
    if expanded {
        c.skip(8, "flow sample source id")?;
    } else {
        c.skip(4, "flow sample source id")?;
    }
    let rate = c.u32("flow sample")?;
    let _pool = c.u32("flow sample")?;
    let _drops = c.u32("flow sample")?;
    let (input, output) = if expanded {
        let in_format = c.u32("flow sample")?;
        let in_value = c.u32("flow sample")?;
        let out_format = c.u32("flow sample")?;
        let out_value = c.u32("flow sample")?;
        (
            interface(in_format, in_value),
            interface(out_format, out_value),
        )
    } else {
        let input = c.u32("flow sample")?;
        let output = c.u32("flow sample")?;
        (
            interface(input >> 30, input & 0x3fff_ffff),
            interface(output >> 30, output & 0x3fff_ffff),
        )
    };
    let records = c.u32("flow sample")?;
    if records as usize > c.remaining() / MIN_ITEM {
        return Err(DecodeError::BadLength(
            "flow record count exceeds the sample",
        ));
    }
    let mut rec = blank;
    rec.sampling_rate = rate.max(1);
    rec.input_interface = input;
    rec.output_interface = output;
    rec.packets = 1;
    let mut frame_length = None;
    for _ in 0..records {
        let (format, data) = element(
            &mut c,
            "flow record header",
            "flow record runs past its sample",
        )?;
        let mut d = Cursor::new(data);
        match format {
            // Raw packet header.
            1 => {
                let header_protocol = d.u32("raw packet header")?;
                let length = d.u32("raw packet header")?;
                let _stripped = d.u32("raw packet header")?;
                let header_len = d.u32("raw packet header")? as usize;
                let header = d.take(header_len, "raw packet header bytes")?;
                let info = match header_protocol {
                    1 => parse_ethernet(header),
                    11 => parse_ipv4(header),
                    12 => parse_ipv6(header),
                    _ => Default::default(),
                };
                fill_from_packet(&mut rec, &info);
                frame_length = frame_length.or(Some(length));
            }
            // Sampled IPv4 / IPv6: the exporter's own decoding.
            3 | 4 => {
                let length = d.u32("sampled IP")?;
                let ip_protocol = d.u32("sampled IP")?;
                let (src, dst) = if format == 3 {
                    (
                        IpAddr::V4(Ipv4Addr::from(d.array::<4>("sampled IPv4")?)),
                        IpAddr::V4(Ipv4Addr::from(d.array::<4>("sampled IPv4")?)),
                    )
                } else {
                    (
                        IpAddr::V6(Ipv6Addr::from(d.array::<16>("sampled IPv6")?)),
                        IpAddr::V6(Ipv6Addr::from(d.array::<16>("sampled IPv6")?)),
                    )
                };
                let src_port = d.u32("sampled IP")?;
                let dst_port = d.u32("sampled IP")?;
                let tcp_flags = d.u32("sampled IP")?;
                let info = crate::packet::PacketInfo {
                    src: Some(src),
                    dst: Some(dst),
                    ip_protocol: ip_protocol as u8,
                    src_port: src_port as u16,
                    dst_port: dst_port as u16,
                    tcp_flags: (ip_protocol == 6).then_some(tcp_flags as u16),
                    icmp_type: None,
                    icmp_code: None,
                };
                fill_from_packet(&mut rec, &info);
                frame_length = frame_length.or(Some(length));
            }
            // Switch, router, gateway data and everything else.
            _ => {}
        }
    }
    rec.bytes = u64::from(frame_length.unwrap_or(0));
    cx.out.push(rec);
    Ok(())
}

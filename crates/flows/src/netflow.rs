//! NetFlow v5 (Cisco's fixed layout), NetFlow v9 (RFC 3954) and IPFIX
//! (RFC 7011, information elements from RFC 7012 / the IANA registry).
//!
//! v9 and IPFIX are template-based: an exporter first describes its records
//! (templates, options templates) and then sends data sets that reference
//! them by id. Templates live in [`ExporterState`], keyed by (protocol
//! version, observation domain, template id) under the exporter's address.
//! A datagram is first walked once to check its set framing, so that a
//! zero-length or overlong set drops it before any state changes; then each
//! set is processed in order, which lets a datagram carry a template and the
//! data that uses it.
//!
//! Only the information elements portreeve needs are interpreted; every
//! other field — unknown, enterprise-specific, or of an unexpected size — is
//! skipped by its length.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::{Cursor, be_uint};
use crate::decoder::{Context, DecoderConfig};
use crate::error::{Counters, DecodeError, DropReason};
use crate::packet::{PacketInfo, parse_ethernet, parse_ip};
use crate::record::{Direction, FlowRecord, FlowSource};
use crate::sampling::{Lookup, Samplers, Sampling};

/// IPFIX's marker for a variable-length field (RFC 7011 §7).
const VARLEN: u16 = 0xffff;
/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// What portreeve does with an information element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Skip,
    /// A number, kept until the record is complete (see [`Num`]).
    Num(Num),
    /// An address, kept until the record is complete.
    Addr(Addr),
    FrameSection,
    IpHeaderSection,
}

/// Numeric elements. They are kept in [`Acc`] and only turned into the
/// record's fields in [`Acc::finish`], because their meaning depends on the
/// record's other fields (which counter wins, how times and sampling are
/// expressed), and because storing a number by its slot, without a branch
/// per element kind, is what makes decoding fast. The discriminant is the
/// slot in `Acc::nums` and the bit in `Acc::has`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Num {
    Bytes,
    Packets,
    OutBytes,
    OutPackets,
    TotalBytes,
    TotalPackets,
    Protocol,
    TcpFlags,
    SrcPort,
    DstPort,
    InIf,
    OutIf,
    Direction,
    StartSec,
    EndSec,
    StartMs,
    EndMs,
    /// NTP timestamps (IPFIX dateTimeMicro/Nanoseconds): 8 bytes only.
    StartNtp,
    EndNtp,
    FirstUptime,
    LastUptime,
    StartDeltaUs,
    EndDeltaUs,
    SysInitMs,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    IpVersion,
    FrameSize,
    SamplingInterval,
    SamplerId,
    SamplerRandomInterval,
    PacketInterval,
    PacketSpace,
    SamplingSize,
    SamplingPopulation,
}

impl Num {
    const COUNT: usize = Num::SamplingPopulation as usize + 1;
    /// The bits of every sampling parameter.
    const SAMPLING: u64 = (1 << Num::SamplingInterval as u64)
        | (1 << Num::SamplerId as u64)
        | (1 << Num::SamplerRandomInterval as u64)
        | (1 << Num::PacketInterval as u64)
        | (1 << Num::PacketSpace as u64)
        | (1 << Num::SamplingSize as u64)
        | (1 << Num::SamplingPopulation as u64);

    fn bit(self) -> u64 {
        1 << self as u64
    }

    /// Whether a value of `len` bytes can mean anything for this element
    /// (an NTP timestamp of another length cannot).
    fn fits(self, len: usize) -> bool {
        !matches!(self, Num::StartNtp | Num::EndNtp) || len == 8
    }
}

/// Address elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
}

/// Maps an IANA information element id (shared by v9 for ids < 128 and used
/// with IPFIX meaning by v9 exporters above) to its [`Kind`].
fn kind_of(id: u16) -> Kind {
    let num = Kind::Num;
    match id {
        1 => num(Num::Bytes),
        2 => num(Num::Packets),
        4 => num(Num::Protocol),
        6 => num(Num::TcpFlags),
        7 => num(Num::SrcPort),
        8 => Kind::Addr(Addr::SrcV4),
        10 | 252 => num(Num::InIf),
        11 => num(Num::DstPort),
        12 => Kind::Addr(Addr::DstV4),
        14 | 253 => num(Num::OutIf),
        21 => num(Num::LastUptime),
        22 => num(Num::FirstUptime),
        23 => num(Num::OutBytes),
        24 => num(Num::OutPackets),
        27 => Kind::Addr(Addr::SrcV6),
        28 => Kind::Addr(Addr::DstV6),
        32 | 139 => num(Num::IcmpTypeCode),
        34 => num(Num::SamplingInterval),
        48 | 302 => num(Num::SamplerId),
        50 => num(Num::SamplerRandomInterval),
        60 => num(Num::IpVersion),
        61 => num(Num::Direction),
        85 => num(Num::TotalBytes),
        86 => num(Num::TotalPackets),
        150 => num(Num::StartSec),
        151 => num(Num::EndSec),
        152 => num(Num::StartMs),
        153 => num(Num::EndMs),
        154 | 156 => num(Num::StartNtp),
        155 | 157 => num(Num::EndNtp),
        158 => num(Num::StartDeltaUs),
        159 => num(Num::EndDeltaUs),
        160 => num(Num::SysInitMs),
        176 | 178 => num(Num::IcmpType),
        177 | 179 => num(Num::IcmpCode),
        305 => num(Num::PacketInterval),
        306 => num(Num::PacketSpace),
        309 => num(Num::SamplingSize),
        310 => num(Num::SamplingPopulation),
        312 => num(Num::FrameSize),
        313 => Kind::IpHeaderSection,
        315 => Kind::FrameSection,
        _ => Kind::Skip,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    kind: Kind,
    /// Length on the wire, or [`VARLEN`].
    len: u16,
}

/// Where a fixed-length record carries an element portreeve reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed<K> {
    kind: K,
    offset: usize,
    len: usize,
}

/// How to read a record of a template without variable-length fields:
/// every record has the same length, so each element read has a fixed
/// place, and the numbers (most of a record) are read in a loop without a
/// branch on their kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FixedLayout {
    nums: Box<[Placed<Num>]>,
    /// Addresses and packet sections.
    others: Box<[Placed<Kind>]>,
}

/// A compiled template or options template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    fields: Box<[Field]>,
    /// The shortest possible record: fixed lengths plus one length byte per
    /// variable-length field. Always ≥ 1, so record loops always advance.
    min_len: usize,
    /// When no field has a variable length (always in v9), every record is
    /// `min_len` bytes, read by this layout.
    fixed: Option<FixedLayout>,
    options: bool,
}

impl Template {
    fn new(fields: Vec<Field>, min_len: usize, options: bool) -> Template {
        let fixed = fields.iter().all(|f| f.len != VARLEN).then(|| {
            let (mut nums, mut others) = (Vec::new(), Vec::new());
            let mut offset = 0;
            for f in &fields {
                let len = usize::from(f.len);
                match f.kind {
                    Kind::Skip => {}
                    Kind::Num(n) if !n.fits(len) => {}
                    Kind::Num(kind) => nums.push(Placed { kind, offset, len }),
                    kind => others.push(Placed { kind, offset, len }),
                }
                offset += len;
            }
            FixedLayout {
                nums: nums.into_boxed_slice(),
                others: others.into_boxed_slice(),
            }
        });
        Template {
            fields: fields.into_boxed_slice(),
            min_len,
            fixed,
            options,
        }
    }
}

/// (export protocol version, observation domain, template id).
pub(crate) type TemplateKey = (u16, u32, u16);

/// Everything remembered about one exporter.
#[derive(Debug, Default)]
pub(crate) struct ExporterState {
    /// Templates with the decoder tick at which each was last (re)defined.
    pub(crate) templates: HashMap<TemplateKey, (Template, u64), foldhash::fast::RandomState>,
    /// Sampling rates learned from options data.
    pub(crate) samplers: Samplers,
    /// Decoder tick of the last datagram from this exporter.
    pub(crate) last_seen: u64,
}

impl ExporterState {
    fn insert_template(
        &mut self,
        key: TemplateKey,
        template: Template,
        tick: u64,
        config: &DecoderConfig,
        counters: &mut Counters,
    ) {
        if let Some(slot) = self.templates.get_mut(&key) {
            *slot = (template, tick);
            counters.templates_refreshed += 1;
            return;
        }
        if self.templates.len() >= config.max_templates_per_exporter {
            // Full: evict the template defined longest ago. A linear scan,
            // but only when the cap is hit, and the map is small by design.
            let oldest = self
                .templates
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.templates.remove(&oldest);
                counters.templates_evicted += 1;
            }
        }
        if config.max_templates_per_exporter > 0 {
            self.templates.insert(key, (template, tick));
            counters.templates_added += 1;
        }
    }
}

// ---------------------------------------------------------------- NetFlow v5

const V5_HEADER: usize = 24;
const V5_RECORD: usize = 48;
/// Cisco's documented maximum number of records in one v5 datagram.
const V5_MAX_RECORDS: u16 = 30;

pub(crate) fn decode_v5(cx: &mut Context<'_>, datagram: &[u8]) -> Result<(), DecodeError> {
    let mut c = Cursor::new(datagram);
    let _version = c.u16("v5 header")?;
    let count = c.u16("v5 header")?;
    let sys_uptime = c.u32("v5 header")?;
    let unix_secs = c.u32("v5 header")?;
    let unix_nsecs = c.u32("v5 header")?;
    let _sequence = c.u32("v5 header")?;
    let engine_type = c.u8("v5 header")?;
    let engine_id = c.u8("v5 header")?;
    let sampling = c.u16("v5 header")?;
    if count > V5_MAX_RECORDS {
        return Err(DecodeError::BadLength("v5 record count above 30"));
    }
    if datagram.len() < V5_HEADER + V5_RECORD * usize::from(count) {
        return Err(DecodeError::Truncated("v5 records"));
    }
    let export_ms = u64::from(unix_secs) * 1000 + u64::from(unix_nsecs) / 1_000_000;
    // The low 14 bits are the interval; the top two the sampling mode.
    let rate = u32::from(sampling & 0x3fff).max(1);
    let domain = u32::from(engine_type) << 8 | u32::from(engine_id);
    for _ in 0..count {
        let r: [u8; V5_RECORD] = c.array("v5 record")?;
        let mut rec = FlowRecord::new(FlowSource::NetflowV5, cx.exporter, domain, cx.now_ms);
        let u16_at = |o: usize| u16::from_be_bytes([r[o], r[o + 1]]);
        let u32_at = |o: usize| u32::from_be_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
        rec.src_addr = Some(IpAddr::V4(Ipv4Addr::from(u32_at(0))));
        rec.dst_addr = Some(IpAddr::V4(Ipv4Addr::from(u32_at(4))));
        rec.input_interface = Some(u32::from(u16_at(12)));
        rec.output_interface = Some(u32::from(u16_at(14)));
        rec.packets = u64::from(u32_at(16));
        rec.bytes = u64::from(u32_at(20));
        rec.start_ms = uptime_to_unix(export_ms, sys_uptime, u32_at(24));
        rec.end_ms = uptime_to_unix(export_ms, sys_uptime, u32_at(28));
        rec.src_port = u16_at(32);
        rec.dst_port = u16_at(34);
        rec.tcp_flags = Some(u16::from(r[37]));
        rec.ip_protocol = r[38];
        rec.sampling_rate = rate;
        cx.out.push(rec);
    }
    Ok(())
}

/// Converts a time `t` on the exporter's uptime clock (ms) to Unix ms,
/// given the export time and the uptime at export.
///
/// The uptime is 32 bits and wraps every 2^32 ms (49.7 days), so a flow
/// that began before a wrap has a larger uptime than the export. The
/// distance is therefore taken modulo 2^32 and read as signed (serial
/// number arithmetic, RFC 1982): `t` up to 2^31 ms (24.8 days) before the
/// export uptime is in the past; `t` less than 2^31 ms after it lies after
/// the export (the exporter stamped its header before its last records, or
/// the export time was cut to the second) and is kept there. No flow lasts
/// anywhere near 24.8 days before it is exported, so nothing real is lost.
fn uptime_to_unix(export_ms: u64, uptime_at_export: u32, t: u32) -> Option<u64> {
    let age = uptime_at_export.wrapping_sub(t) as i32;
    export_ms.checked_add_signed(-i64::from(age))
}

// ------------------------------------------------------ NetFlow v9 and IPFIX

/// What the message header of a v9 or IPFIX datagram says.
#[derive(Debug, Clone, Copy)]
struct Header {
    version: u16,
    domain: u32,
    export_ms: u64,
    /// v9 only: the exporter's uptime at export, for FIRST/LAST_SWITCHED.
    sys_uptime: Option<u32>,
}

impl Header {
    fn ipfix(&self) -> bool {
        self.version == 10
    }

    fn source(&self) -> FlowSource {
        if self.ipfix() {
            FlowSource::Ipfix
        } else {
            FlowSource::NetflowV9
        }
    }
}

pub(crate) fn decode_v9(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    datagram: &[u8],
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(datagram);
    let version = c.u16("v9 header")?;
    let _count = c.u16("v9 header")?;
    let sys_uptime = c.u32("v9 header")?;
    let unix_secs = c.u32("v9 header")?;
    let _sequence = c.u32("v9 header")?;
    let source_id = c.u32("v9 header")?;
    let header = Header {
        version,
        domain: source_id,
        export_ms: u64::from(unix_secs) * 1000,
        sys_uptime: Some(sys_uptime),
    };
    decode_sets(cx, state, header, c.rest())
}

pub(crate) fn decode_ipfix(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    datagram: &[u8],
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(datagram);
    let version = c.u16("IPFIX header")?;
    let length = usize::from(c.u16("IPFIX header")?);
    let export_time = c.u32("IPFIX header")?;
    let _sequence = c.u32("IPFIX header")?;
    let domain = c.u32("IPFIX header")?;
    if length < 16 {
        return Err(DecodeError::BadLength(
            "IPFIX message length below its header",
        ));
    }
    // The message length bounds the sets; a shorter datagram is truncated,
    // anything after the message is ignored.
    let body = datagram
        .get(16..length)
        .ok_or(DecodeError::Truncated("IPFIX message"))?;
    let header = Header {
        version,
        domain,
        export_ms: u64::from(export_time) * 1000,
        sys_uptime: None,
    };
    decode_sets(cx, state, header, body)
}

/// Splits the body into `(set id, set contents)`, stopping at trailing
/// padding shorter than a set header.
fn sets(body: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    let mut c = Cursor::new(body);
    std::iter::from_fn(move || {
        if c.remaining() < 4 {
            return None;
        }
        let result = (|| {
            let id = c.u16("set header")?;
            let len = usize::from(c.u16("set header")?);
            if len == 0 {
                return Err(DecodeError::ZeroLengthSet);
            }
            if len < 4 {
                return Err(DecodeError::BadLength("set length below its header"));
            }
            let contents = c
                .take(len - 4, "set")
                .map_err(|_| DecodeError::BadLength("set runs past the end of the datagram"))?;
            Ok((id, contents))
        })();
        if result.is_err() {
            // Stop after the first framing error.
            c = Cursor::new(&[]);
        }
        Some(result)
    })
}

fn decode_sets(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    header: Header,
    body: &[u8],
) -> Result<(), DecodeError> {
    // Framing pass: reject the datagram before touching any state.
    for set in sets(body) {
        set?;
    }
    let (template_set, options_set) = if header.ipfix() { (2, 3) } else { (0, 1) };
    for set in sets(body) {
        let (id, contents) = set?;
        if id == template_set {
            decode_template_set(cx, state, header, contents, false)?;
        } else if id == options_set {
            decode_template_set(cx, state, header, contents, true)?;
        } else if id >= 256 {
            decode_data_set(cx, state, header, id, contents)?;
        }
        // Ids 2..=255 in v9 and 0, 1, 4..=255 in IPFIX are reserved: skip.
    }
    Ok(())
}

fn decode_template_set(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    header: Header,
    contents: &[u8],
    options: bool,
) -> Result<(), DecodeError> {
    let mut c = Cursor::new(contents);
    // Records until only padding (zero bytes, RFC 7011 §3.3.1) remains.
    while c.remaining() >= 4 && c.rest().iter().any(|&b| b != 0) {
        let id = c.u16("template header")?;
        let second = c.u16("template header")?;
        if header.ipfix() && second == 0 {
            withdraw(cx, state, header, id, options)?;
            continue;
        }
        let (field_count, scope_count) = if !options {
            (second, 0)
        } else if header.ipfix() {
            (second, c.u16("options template header")?)
        } else {
            // v9 options: scope and option lengths in bytes, 4 per field.
            let option_len = c.u16("options template header")?;
            if second % 4 != 0 || option_len % 4 != 0 {
                return Err(DecodeError::BadTemplate(
                    "v9 options lengths not multiples of 4",
                ));
            }
            let count = (u32::from(second) + u32::from(option_len)) / 4;
            (u16::try_from(count).unwrap_or(u16::MAX), second / 4)
        };
        if id < 256 {
            return Err(DecodeError::BadTemplate("template id below 256"));
        }
        if usize::from(field_count) > cx.config.max_template_fields {
            return Err(DecodeError::TooManyFields {
                template_id: id,
                count: field_count,
                limit: cx.config.max_template_fields,
            });
        }
        if options && header.ipfix() && (scope_count == 0 || scope_count > field_count) {
            return Err(DecodeError::BadTemplate(
                "options template scope count out of range",
            ));
        }
        let mut fields = Vec::with_capacity(usize::from(field_count));
        let mut min_len = 0usize;
        for _ in 0..field_count {
            let raw_id = c.u16("template field")?;
            let len = c.u16("template field")?;
            let enterprise = header.ipfix() && raw_id & 0x8000 != 0;
            if enterprise {
                c.skip(4, "template field enterprise number")?;
            }
            let len = if !header.ipfix() && len == VARLEN {
                // v9 has no variable-length fields: a 65535-byte field
                // cannot fit in a datagram's set anyway.
                return Err(DecodeError::BadTemplate("v9 field of length 65535"));
            } else {
                len
            };
            min_len += if len == VARLEN { 1 } else { usize::from(len) };
            let kind = if enterprise {
                Kind::Skip
            } else {
                kind_of(raw_id)
            };
            fields.push(Field { kind, len });
        }
        if min_len == 0 {
            return Err(DecodeError::BadTemplate(
                "template describes an empty record",
            ));
        }
        let template = Template::new(fields, min_len, options);
        let key = (header.version, header.domain, id);
        state.insert_template(key, template, cx.tick, cx.config, cx.counters);
    }
    Ok(())
}

/// IPFIX template withdrawal (RFC 7011 §8.1): a record with field count 0.
/// Id 2 in a template set (3 in an options template set) withdraws all of
/// that kind for the observation domain.
fn withdraw(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    header: Header,
    id: u16,
    options: bool,
) -> Result<(), DecodeError> {
    let all = if options { 3 } else { 2 };
    if id != all && id < 256 {
        return Err(DecodeError::BadTemplate(
            "withdrawal of a reserved template id",
        ));
    }
    let before = state.templates.len();
    if id == all {
        state.templates.retain(|&(v, d, _), (t, _)| {
            !(v == header.version && d == header.domain && t.options == options)
        });
    } else {
        state.templates.remove(&(header.version, header.domain, id));
    }
    let removed = before - state.templates.len();
    cx.counters.templates_withdrawn += removed as u64;
    Ok(())
}

fn decode_data_set(
    cx: &mut Context<'_>,
    state: &mut ExporterState,
    header: Header,
    id: u16,
    contents: &[u8],
) -> Result<(), DecodeError> {
    let ExporterState {
        templates,
        samplers,
        ..
    } = state;
    let Some((template, _)) = templates.get(&(header.version, header.domain, id)) else {
        cx.counters.sets_dropped.add(DropReason::NoTemplate);
        cx.log_drop(&DecodeError::NoTemplate { template_id: id });
        return Ok(());
    };
    let blank = FlowRecord::new(header.source(), cx.exporter, header.domain, cx.now_ms);
    // The lookup of the last sampler id: records of a data set nearly
    // always name the same sampler, and no sampler is learned while a data
    // set is read.
    let mut last_lookup: Option<(Option<u64>, Lookup)> = None;
    let mut take = |acc: &Acc<'_>| {
        let sampling = acc.sampling();
        if template.options {
            cx.counters.options_records += 1;
            if let Some(rate) = sampling.rate() {
                let key = (header.domain, sampling.sampler);
                let cap = cx.config.max_samplers_per_exporter;
                if samplers.learn(key, rate, cx.tick, cap) {
                    cx.counters.samplers_evicted += 1;
                }
            }
        } else {
            let rate = sampling.rate().or_else(|| {
                let lookup = match last_lookup {
                    Some((id, lookup)) if id == sampling.sampler => lookup,
                    _ => {
                        let lookup = samplers.lookup(header.domain, sampling.sampler);
                        last_lookup = Some((sampling.sampler, lookup));
                        lookup
                    }
                };
                if lookup.unknown_sampler {
                    cx.counters.unknown_sampler_records += 1;
                }
                lookup.rate
            });
            cx.out.push(blank);
            if let Some(r) = cx.out.last_mut() {
                acc.finish(r, header, rate.unwrap_or(1));
            }
        }
    };
    let mut acc = Acc::new();
    if let Some(fixed) = &template.fixed {
        // Whatever is left after the last whole record is shorter than a
        // record: padding, as in the general loop below.
        for record in contents.chunks_exact(template.min_len) {
            acc.reset();
            for p in fixed.nums.iter() {
                acc.store(p.kind, be_uint(&record[p.offset..p.offset + p.len]));
            }
            for p in fixed.others.iter() {
                acc.apply(p.kind, &record[p.offset..p.offset + p.len]);
            }
            take(&acc);
        }
        return Ok(());
    }
    let mut c = Cursor::new(contents);
    while c.remaining() >= template.min_len {
        acc.reset();
        if read_record(&mut c, template, &mut acc).is_err() {
            if c.rest().iter().all(|&b| b == 0) {
                break; // padding after the last record
            }
            return Err(DecodeError::BadLength("data record overruns its set"));
        }
        take(&acc);
    }
    Ok(())
}

/// Reads one data record field by field. On error the cursor may have moved
/// past part of the record; the caller decides whether that was padding.
fn read_record<'a>(
    c: &mut Cursor<'a>,
    template: &Template,
    acc: &mut Acc<'a>,
) -> Result<(), DecodeError> {
    let mut probe = c.clone();
    for field in template.fields.iter() {
        let len = if field.len == VARLEN {
            match probe.u8("variable-length field")? {
                255 => usize::from(probe.u16("variable-length field")?),
                short => usize::from(short),
            }
        } else {
            usize::from(field.len)
        };
        let value = probe.take(len, "data record")?;
        if field.kind != Kind::Skip {
            acc.apply(field.kind, value);
        }
    }
    *c = probe;
    Ok(())
}

/// The elements that can give one end of a flow.
struct TimeElements {
    ms: Num,
    ntp: Num,
    sec: Num,
    uptime: Num,
    delta_us: Num,
}

const START: TimeElements = TimeElements {
    ms: Num::StartMs,
    ntp: Num::StartNtp,
    sec: Num::StartSec,
    uptime: Num::FirstUptime,
    delta_us: Num::StartDeltaUs,
};

const END: TimeElements = TimeElements {
    ms: Num::EndMs,
    ntp: Num::EndNtp,
    sec: Num::EndSec,
    uptime: Num::LastUptime,
    delta_us: Num::EndDeltaUs,
};

/// Bits of `Acc::addresses`.
const SRC_V4: u8 = 1;
const DST_V4: u8 = 2;
const SRC_V6: u8 = 4;
const DST_V6: u8 = 8;

/// A record being assembled from its fields. One is reused for every
/// record of a set ([`reset`](Self::reset) forgets the last one): it is
/// kept flat, with presence bits instead of `Option`s, because clearing
/// and filling it is most of the cost of decoding.
struct Acc<'a> {
    /// Values of [`Num`] elements; only those whose bit is in `has` count.
    /// Where an element occurs twice in a template, the last one counts.
    nums: [u64; Num::COUNT],
    has: u64,
    /// Which of the addresses below were exported (`SRC_V4`…).
    addresses: u8,
    src_v4: [u8; 4],
    dst_v4: [u8; 4],
    src_v6: [u8; 16],
    dst_v6: [u8; 16],
    frame: Option<&'a [u8]>,
    ip_section: Option<&'a [u8]>,
}

/// Milliseconds since the Unix epoch from a 64-bit NTP timestamp.
fn ntp_to_ms(ntp: u64) -> Option<u64> {
    let secs = (ntp >> 32).checked_sub(NTP_UNIX_OFFSET)?;
    let frac_ms = ((ntp & 0xffff_ffff) * 1000) >> 32;
    Some(secs * 1000 + frac_ms)
}

impl<'a> Acc<'a> {
    fn new() -> Self {
        Self {
            nums: [0; Num::COUNT],
            has: 0,
            addresses: 0,
            src_v4: [0; 4],
            dst_v4: [0; 4],
            src_v6: [0; 16],
            dst_v6: [0; 16],
            frame: None,
            ip_section: None,
        }
    }

    /// Forgets the last record: values are left in place but no longer
    /// marked present.
    fn reset(&mut self) {
        self.has = 0;
        self.addresses = 0;
        self.frame = None;
        self.ip_section = None;
    }

    fn num(&self, n: Num) -> Option<u64> {
        (self.has & n.bit() != 0).then(|| self.nums[n as usize])
    }

    #[inline(always)]
    fn store(&mut self, n: Num, value: u64) {
        self.nums[n as usize] = value;
        self.has |= n.bit();
    }

    /// Keeps an address field if it has the right length (a malformed one
    /// leaves an earlier value of the same element in place).
    fn address<const N: usize>(slot: &mut [u8; N], present: &mut u8, bit: u8, v: &[u8]) {
        if let Ok(a) = <[u8; N]>::try_from(v) {
            *slot = a;
            *present |= bit;
        }
    }

    fn apply(&mut self, kind: Kind, v: &'a [u8]) {
        match kind {
            Kind::Skip => {}
            Kind::Num(n) => {
                if n.fits(v.len()) {
                    self.store(n, be_uint(v));
                }
            }
            Kind::Addr(Addr::SrcV4) => {
                Self::address(&mut self.src_v4, &mut self.addresses, SRC_V4, v)
            }
            Kind::Addr(Addr::DstV4) => {
                Self::address(&mut self.dst_v4, &mut self.addresses, DST_V4, v)
            }
            Kind::Addr(Addr::SrcV6) => {
                Self::address(&mut self.src_v6, &mut self.addresses, SRC_V6, v)
            }
            Kind::Addr(Addr::DstV6) => {
                Self::address(&mut self.dst_v6, &mut self.addresses, DST_V6, v)
            }
            Kind::FrameSection => self.frame = Some(v),
            Kind::IpHeaderSection => self.ip_section = Some(v),
        }
    }

    /// The record's sampling parameters.
    fn sampling(&self) -> Sampling {
        if self.has & Num::SAMPLING == 0 {
            return Sampling::default();
        }
        Sampling {
            interval: self.num(Num::SamplingInterval),
            random_interval: self.num(Num::SamplerRandomInterval),
            packet_interval: self.num(Num::PacketInterval),
            packet_space: self.num(Num::PacketSpace),
            size: self.num(Num::SamplingSize),
            population: self.num(Num::SamplingPopulation),
            sampler: self.num(Num::SamplerId),
        }
    }

    /// The exported (source, destination) addresses of one family.
    fn pair(&self, v6: bool) -> (Option<IpAddr>, Option<IpAddr>) {
        let has = |bit| self.addresses & bit != 0;
        if v6 {
            (
                has(SRC_V6).then(|| IpAddr::V6(Ipv6Addr::from(self.src_v6))),
                has(DST_V6).then(|| IpAddr::V6(Ipv6Addr::from(self.dst_v6))),
            )
        } else {
            (
                has(SRC_V4).then(|| IpAddr::V4(Ipv4Addr::from(self.src_v4))),
                has(DST_V4).then(|| IpAddr::V4(Ipv4Addr::from(self.dst_v4))),
            )
        }
    }

    /// One end of the flow from whichever elements the record carries:
    /// absolute times, the most precise first, then the exporter's 32-bit
    /// uptime (v9's header gives the uptime at export; for IPFIX it is the
    /// export time less systemInitTimeMilliseconds, cut to 32 bits as the
    /// device's own counter wraps while its boot time stays), then a delta
    /// before the export time.
    fn time(&self, end: &TimeElements, header: Header) -> Option<u64> {
        let uptime_at_export = header.sys_uptime.or_else(|| {
            let init = self.num(Num::SysInitMs)?;
            Some(header.export_ms.wrapping_sub(init) as u32)
        });
        let uptime = |t: u64| uptime_to_unix(header.export_ms, uptime_at_export?, t as u32);
        self.num(end.ms)
            .or_else(|| self.num(end.ntp).and_then(ntp_to_ms))
            .or_else(|| self.num(end.sec).map(|s| s.saturating_mul(1000)))
            .or_else(|| self.num(end.uptime).and_then(uptime))
            .or_else(|| {
                Some(
                    header
                        .export_ms
                        .saturating_sub(self.num(end.delta_us)? / 1000),
                )
            })
    }

    /// Completes `r`, which holds the record's provenance (exporter,
    /// domain, receive time) and is filled in place: a flow record is
    /// large, and copying it around was a noticeable part of decoding.
    fn finish(&self, r: &mut FlowRecord, header: Header, rate: u32) {
        let unset = |(s, d): (Option<IpAddr>, Option<IpAddr>)| {
            s.is_none_or(|a| a.is_unspecified()) && d.is_none_or(|a| a.is_unspecified())
        };
        let (v4, v6) = (self.pair(false), self.pair(true));
        let (src, dst) = match self.num(Num::IpVersion) {
            Some(4) => v4,
            Some(6) => v6,
            _ if unset(v4) && !unset(v6) => v6,
            _ if v4.0.is_some() || v4.1.is_some() => v4,
            _ => v6,
        };
        r.src_addr = src;
        r.dst_addr = dst;
        r.ip_protocol = self.num(Num::Protocol).unwrap_or(0) as u8;
        r.src_port = self.num(Num::SrcPort).unwrap_or(0) as u16;
        r.dst_port = self.num(Num::DstPort).unwrap_or(0) as u16;
        r.tcp_flags = self.num(Num::TcpFlags).map(|f| f as u16);
        r.input_interface = self.num(Num::InIf).and_then(|i| u32::try_from(i).ok());
        r.output_interface = self.num(Num::OutIf).and_then(|i| u32::try_from(i).ok());
        r.direction = match self.num(Num::Direction) {
            Some(0) => Some(Direction::Ingress),
            Some(1) => Some(Direction::Egress),
            _ => None,
        };
        let type_code = self.num(Num::IcmpTypeCode);
        r.icmp_type = self
            .num(Num::IcmpType)
            .or(type_code.map(|tc| tc >> 8))
            .map(|t| t as u8);
        r.icmp_code = self.num(Num::IcmpCode).or(type_code).map(|c| c as u8);
        let sampled_packet = match (self.frame, self.ip_section) {
            (Some(frame), _) => Some(parse_ethernet(frame)),
            (None, Some(ip)) => Some(parse_ip(ip)),
            (None, None) => None,
        };
        let packets = self
            .num(Num::Packets)
            .or(self.num(Num::OutPackets))
            .or(self.num(Num::TotalPackets));
        let bytes = self
            .num(Num::Bytes)
            .or(self.num(Num::OutBytes))
            .or(self.num(Num::TotalBytes));
        r.packets = packets.unwrap_or(0);
        r.bytes = bytes.unwrap_or(0);
        if let Some(info) = sampled_packet {
            // A PSAMP-style record describes one sampled packet.
            fill_from_packet(r, &info);
            if packets.is_none() {
                r.packets = 1;
            }
            if bytes.is_none() {
                let section_len = self.frame.or(self.ip_section).map_or(0, |s| s.len() as u64);
                r.bytes = self.num(Num::FrameSize).unwrap_or(section_len);
            }
        }
        r.start_ms = self.time(&START, header);
        r.end_ms = self.time(&END, header);
        r.sampling_rate = rate.max(1);
    }
}

/// Fills what the exporter's own fields left empty from a sampled packet.
pub(crate) fn fill_from_packet(r: &mut FlowRecord, info: &PacketInfo) {
    r.src_addr = r.src_addr.or(info.src);
    r.dst_addr = r.dst_addr.or(info.dst);
    if r.ip_protocol == 0 {
        r.ip_protocol = info.ip_protocol;
    }
    if r.src_port == 0 && r.dst_port == 0 {
        r.src_port = info.src_port;
        r.dst_port = info.dst_port;
    }
    r.tcp_flags = r.tcp_flags.or(info.tcp_flags);
    r.icmp_type = r.icmp_type.or(info.icmp_type);
    r.icmp_code = r.icmp_code.or(info.icmp_code);
}

#[cfg(test)]
mod tests {
    //! Flow times on the exporter's 32-bit millisecond uptime clock, which
    //! wraps every 2^32 ms (49.7 days).

    use crate::decoder::Decoder;

    /// The export time every datagram below carries (whole seconds).
    const EXPORT_SECS: u32 = 1_700_000_000;
    const EXPORT_MS: u64 = EXPORT_SECS as u64 * 1000;
    const WRAP: u64 = 1 << 32;

    /// Decodes one datagram that must be accepted with one record, and
    /// returns that record's (start, end).
    fn times(datagram: &[u8]) -> (Option<u64>, Option<u64>) {
        let mut out = Vec::new();
        let exporter = "192.0.2.9:2055".parse().unwrap();
        let decoded = Decoder::default().decode(exporter, datagram, EXPORT_MS, &mut out);
        assert_eq!(decoded, Ok(1), "{datagram:02x?}");
        (out[0].start_ms, out[0].end_ms)
    }

    /// Set id and length, then the contents.
    fn set(id: u16, contents: &[u8]) -> Vec<u8> {
        let len = u16::try_from(contents.len() + 4).unwrap();
        [&id.to_be_bytes()[..], &len.to_be_bytes(), contents].concat()
    }

    /// A template set's contents: template 256 of (element id, length)
    /// fields — a 5-tuple, then `times`.
    fn template(times: &[(u16, u16)]) -> Vec<u8> {
        let tuple = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1)];
        let fields: Vec<(u16, u16)> = tuple.iter().chain(times).copied().collect();
        let mut t = [256u16.to_be_bytes(), (fields.len() as u16).to_be_bytes()].concat();
        for (id, len) in fields {
            t.extend_from_slice(&id.to_be_bytes());
            t.extend_from_slice(&len.to_be_bytes());
        }
        t
    }

    /// A record of [`template`]: 10.0.0.1:50000 → 10.0.0.2:443 TCP, then
    /// the time fields' bytes.
    fn record(times: &[u8]) -> Vec<u8> {
        [
            &[10, 0, 0, 1, 10, 0, 0, 2, 0xc3, 0x50, 0x01, 0xbb, 6][..],
            times,
        ]
        .concat()
    }

    /// A NetFlow v9 datagram whose header says the exporter's uptime is
    /// `uptime` ms, carrying a template with FIRST_SWITCHED (22) and
    /// LAST_SWITCHED (21) and one record of it.
    fn v9(uptime: u32, first: u32, last: u32) -> Vec<u8> {
        let mut m = [9u16.to_be_bytes(), 2u16.to_be_bytes()].concat();
        for word in [uptime, EXPORT_SECS, 1, 0] {
            m.extend_from_slice(&word.to_be_bytes());
        }
        m.extend(set(0, &template(&[(22, 4), (21, 4)])));
        let times = [first.to_be_bytes(), last.to_be_bytes()].concat();
        m.extend(set(256, &record(&times)));
        m
    }

    /// An IPFIX message with systemInitTimeMilliseconds (160) `init`, and
    /// flowStartSysUpTime (22) / flowEndSysUpTime (21) `first` and `last`.
    fn ipfix(init: u64, first: u32, last: u32) -> Vec<u8> {
        let template = set(2, &template(&[(160, 8), (22, 4), (21, 4)]));
        let times = [
            &init.to_be_bytes()[..],
            &first.to_be_bytes(),
            &last.to_be_bytes(),
        ]
        .concat();
        let data = set(256, &record(&times));
        let len = (16 + template.len() + data.len()) as u16;
        let mut m = [10u16.to_be_bytes(), len.to_be_bytes()].concat();
        for word in [EXPORT_SECS, 1, 0] {
            m.extend_from_slice(&word.to_be_bytes());
        }
        [m, template, data].concat()
    }

    /// A NetFlow v5 datagram (export time with no fraction of a second)
    /// with one record.
    fn v5(uptime: u32, first: u32, last: u32) -> Vec<u8> {
        let mut m = [5u16.to_be_bytes(), 1u16.to_be_bytes()].concat();
        for word in [uptime, EXPORT_SECS, 0, 1, 0] {
            m.extend_from_slice(&word.to_be_bytes());
        }
        let mut r = [0u8; 48];
        r[24..28].copy_from_slice(&first.to_be_bytes());
        r[28..32].copy_from_slice(&last.to_be_bytes());
        m.extend_from_slice(&r);
        m
    }

    fn before_export(ms: u64) -> Option<u64> {
        Some(EXPORT_MS - ms)
    }

    fn after_export(ms: u64) -> Option<u64> {
        Some(EXPORT_MS + ms)
    }

    /// The uptime at export has just wrapped (1 s); the flow started 5 s
    /// before the wrap and ended 0.5 s after it, so its LAST_SWITCHED is
    /// below its FIRST_SWITCHED. The same flow without a wrap, or just
    /// before one, comes out the same.
    #[test]
    fn uptime_times_across_the_wrap() {
        let expected = (before_export(6_000), before_export(500));
        assert_eq!(times(&v9(60_000, 54_000, 59_500)), expected);
        assert_eq!(times(&v5(60_000, 54_000, 59_500)), expected);
        assert_eq!(times(&ipfix(EXPORT_MS - 60_000, 54_000, 59_500)), expected);
        let up = u32::MAX - 100;
        assert_eq!(times(&v9(up, up - 6_000, up - 500)), expected);

        let first = (WRAP - 5_000) as u32;
        assert_eq!(times(&v5(1_000, first, 500)), expected);
        assert_eq!(times(&v9(1_000, first, 500)), expected);
        // Both ends before the wrap, the export after it.
        let last = (WRAP - 1_000) as u32;
        assert_eq!(
            times(&v9(1_000, first, last)),
            (before_export(6_000), before_export(2_000))
        );
    }

    #[test]
    fn ipfix_uptime_times_after_the_wrap() {
        let init = EXPORT_MS - (WRAP + 10_000);
        assert_eq!(
            times(&ipfix(init, 4_000, 9_500)),
            (before_export(6_000), before_export(500))
        );
    }

    /// A time after the header's uptime (the exporter stamped the header
    /// before its last records, or the IPFIX export time is cut to the
    /// second) lies after the export, also across the wrap — not 49.7
    /// days before it.
    #[test]
    fn uptime_times_after_the_export() {
        let up = (WRAP - 200) as u32;
        assert_eq!(
            times(&v9(up, up - 1_000, 300)),
            (before_export(1_000), after_export(500))
        );
        assert_eq!(
            times(&v5(up, up - 1_000, 300)),
            (before_export(1_000), after_export(500))
        );
        // IPFIX: the device booted 60.25 s before the export second, the
        // flow ended 0.1 s after it.
        let init = EXPORT_MS - 60_250;
        assert_eq!(
            times(&ipfix(init, 50_250, 60_350)),
            (before_export(10_000), after_export(100))
        );
    }
}

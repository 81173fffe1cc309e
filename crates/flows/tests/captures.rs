//! Decoding of real NetFlow v5/v9, IPFIX and sFlow captures (from
//! `../shared/testdata/flows`), checked record by record against tshark's
//! independent decoding of the same bytes.
//!
//! Template-based captures come in parts (`*-template.pcap` before
//! `*-data.pcap`); each scenario lists its files in feeding order, portreeve
//! decodes them in that order through one [`Decoder`], and tshark reads the
//! same files concatenated with `mergecap -a` so that it knows the templates
//! too. Skips through the testkit (with the reason) when the captures or
//! tshark are missing, and fails instead under `PORTREEVE_REQUIRE_PRIVILEGED=1`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use portreeve_flows::{Decoder, DropReason, FlowRecord, pcap};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[path = "support/exports.rs"]
mod exports;
use exports::*;

fn testdata() -> PathBuf {
    portreeve_testkit::testdata("flows")
}

/// Whether `test` can run: the captures are there and tshark and mergecap
/// installed. Skips through the testkit otherwise (a failure in CI).
fn available(test: &str) -> bool {
    portreeve_testkit::skip_unless(
        test,
        testdata().is_dir(),
        format_args!("{} is absent", testdata().display()),
    ) && portreeve_testkit::require_programs(test, &["tshark", "mergecap"])
}

/// JSON with object key order and duplicate keys preserved (tshark repeats
/// keys such as `ip.addr`, and the order of protocol layers matters).
#[derive(Debug, Clone)]
enum J {
    Str(String),
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Other,
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<J, E> {
                Ok(J::Str(v))
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_u64<E>(self, v: u64) -> Result<J, E> {
                Ok(J::Str(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<J, E> {
                Ok(J::Str(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<J, E> {
                Ok(J::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry()? {
                    v.push((k, x));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl J {
    fn entries(&self) -> &[(String, J)] {
        match self {
            J::Obj(v) => v,
            _ => &[],
        }
    }
    fn get(&self, key: &str) -> Option<&J> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    fn num(&self, key: &str) -> Option<u64> {
        self.str(key)?.parse().ok()
    }
    fn addr(&self, key: &str) -> Option<IpAddr> {
        self.str(key)?.parse().ok()
    }
}

/// What tshark says one record contains.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    ip_protocol: u8,
    src_port: u16,
    dst_port: u16,
    packets: u64,
    bytes: u64,
    sampling_rate: Option<u32>,
    /// False when tshark could not dissect a sampled frame down to IP (it
    /// stopped at a raw `data` layer): then only counters are compared.
    tuple_known: bool,
}

impl Expected {
    fn of(r: &FlowRecord) -> Self {
        Expected {
            src: r.src_addr,
            dst: r.dst_addr,
            ip_protocol: r.ip_protocol,
            src_port: r.src_port,
            dst_port: r.dst_port,
            packets: r.packets,
            bytes: r.bytes,
            sampling_rate: Some(r.sampling_rate),
            tuple_known: true,
        }
    }
}

/// The 5-tuple of a packet dissected by tshark (a `*_tree` of layers): the
/// first IP layer's addresses, and the transport ports and protocol when
/// the transport header directly follows that IP layer (a tunnelled inner
/// header is not what portreeve reports).
fn dissected(tree: &J) -> (Option<IpAddr>, Option<IpAddr>, u8, u16, u16) {
    let layers = tree.entries();
    let Some(ip_at) = layers.iter().position(|(k, _)| k == "ip" || k == "ipv6") else {
        return (None, None, 0, 0, 0);
    };
    let (kind, ip) = &layers[ip_at];
    let (src, dst, mut proto) = if kind == "ip" {
        (
            ip.addr("ip.src"),
            ip.addr("ip.dst"),
            ip.num("ip.proto").unwrap_or(0) as u8,
        )
    } else {
        (
            ip.addr("ipv6.src"),
            ip.addr("ipv6.dst"),
            ip.num("ipv6.nxt").unwrap_or(0) as u8,
        )
    };
    let (mut sport, mut dport) = (0, 0);
    if let Some((next, l4)) = layers.get(ip_at + 1) {
        let ports = |p: &str| {
            (
                l4.num(&format!("{p}.srcport")).unwrap_or(0) as u16,
                l4.num(&format!("{p}.dstport")).unwrap_or(0) as u16,
            )
        };
        match next.as_str() {
            "tcp" => (proto, (sport, dport)) = (6, ports("tcp")),
            "udp" => (proto, (sport, dport)) = (17, ports("udp")),
            "icmp" => proto = 1,
            "icmpv6" => proto = 58,
            _ => {}
        }
    }
    (src, dst, proto, sport, dport)
}

fn run_tshark(files: &[PathBuf], decode_as: &str) -> J {
    let dir = std::env::temp_dir().join(format!("portreeve-flows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let merged = dir.join(format!(
        "{}.pcap",
        files[0].file_stem().unwrap().to_string_lossy()
    ));
    let status = Command::new("mergecap")
        .arg("-a")
        .arg("-w")
        .arg(&merged)
        .args(files)
        .status()
        .unwrap();
    assert!(status.success(), "mergecap failed");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&merged)
        .args(["-d", decode_as, "-T", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&merged);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn layers(packet: &J) -> &J {
    packet
        .get("_source")
        .and_then(|s| s.get("layers"))
        .expect("tshark packet layers")
}

/// What tshark's decoding of options data says about sampling: rates by
/// (observation domain, sampler or selector id, or none), the last
/// definition winning.
#[derive(Default)]
struct TsharkSamplers(HashMap<(u64, Option<u64>), u32>);

impl TsharkSamplers {
    /// The rate for `id` in `domain`, else the one every other domain
    /// that defines `id` agrees on.
    fn rate(&self, domain: u64, id: Option<u64>) -> Option<u32> {
        if let Some(rate) = self.0.get(&(domain, id)) {
            return Some(*rate);
        }
        let mut rates = self
            .0
            .iter()
            .filter(|((_, i), _)| *i == id)
            .map(|(_, r)| *r);
        let first = rates.next()?;
        rates.all(|r| r == first).then_some(first)
    }
}

/// The sampler (48) or selector (302) id a record names.
fn sampler_id(flow: &J) -> Option<u64> {
    flow.num("cflow.sampler_id")
        .or_else(|| flow.num("cflow.selector_id"))
}

/// Records tshark finds in NetFlow/IPFIX packets, options data excluded
/// but used to work out the sampling rate each data record should carry;
/// also how many data records name a sampler id options data had not
/// defined before them.
fn tshark_netflow(json: &J) -> (Vec<Expected>, u64, u64) {
    let J::Arr(packets) = json else {
        panic!("tshark output is not an array")
    };
    let mut options_templates: Vec<u64> = Vec::new();
    let mut samplers = TsharkSamplers::default();
    let mut expected = Vec::new();
    let mut no_template = 0;
    let mut unknown_samplers = 0;
    for packet in packets {
        let Some(cflow) = layers(packet).get("cflow") else {
            continue;
        };
        let domain = cflow
            .num("cflow.source_id")
            .or_else(|| cflow.num("cflow.od_id"))
            .unwrap_or(0);
        for (key, value) in cflow.entries() {
            if key.starts_with("pdu ") {
                expected.push(flow_expectation(value, None));
                continue;
            }
            if !(key.starts_with("FlowSet ") || key.starts_with("Set ")) {
                continue;
            }
            if let Some((_, ids)) = key.split_once("(Options Template): ") {
                options_templates.extend(
                    ids.split([',', ' '])
                        .filter_map(|i| i.trim().parse::<u64>().ok()),
                );
                continue;
            }
            let set_id = key
                .split_once("[id=")
                .and_then(|(_, r)| r.split(']').next())
                .and_then(|i| i.parse().ok());
            let options = set_id.is_some_and(|id| options_templates.contains(&id));
            if value
                .entries()
                .iter()
                .any(|(k, _)| k.ends_with("no template found"))
            {
                no_template += 1;
            }
            for (name, flow) in value.entries() {
                if !name.starts_with("Flow ") {
                    continue;
                }
                let id = sampler_id(flow);
                if options {
                    if let Some(rate) = sampling(flow) {
                        samplers.0.insert((domain, id), rate);
                    }
                    continue;
                }
                let mut learned = None;
                if sampling(flow).is_none() {
                    let by_id = id.and_then(|id| samplers.rate(domain, Some(id)));
                    if id.is_some() && by_id.is_none() {
                        unknown_samplers += 1;
                    }
                    learned = by_id.or_else(|| samplers.rate(domain, None));
                }
                expected.push(flow_expectation(flow, learned));
            }
        }
    }
    (expected, no_template, unknown_samplers)
}

/// The multiplier a record states itself, from tshark's decoding of it:
/// samplingInterval (34) or samplerRandomInterval (50) N; else
/// samplingPacketInterval/Space (305/306) (I + S) / I; else
/// samplingSize/Population (309/310) N / n (RFC 5477), ratios rounded to
/// the nearest whole number and at least 1. Zero intervals and sizes state
/// nothing.
fn sampling(flow: &J) -> Option<u32> {
    let positive = |key: &str| flow.num(key).filter(|&v| v > 0);
    let ratio = |num: u64, den: u64| (num as f64 / den as f64).round().max(1.0) as u32;
    if let Some(n) = positive("cflow.sampling_interval") {
        return Some(n as u32);
    }
    if let Some(n) = positive("cflow.sampler_random_interval") {
        return Some(n as u32);
    }
    if let Some(i) = positive("cflow.sampling_packet_interval") {
        let space = flow.num("cflow.sampling_packet_space").unwrap_or(0);
        return Some(ratio(i + space, i));
    }
    let size = positive("cflow.sampling_size")?;
    Some(ratio(flow.num("cflow.sampling_population")?, size))
}

fn flow_expectation(flow: &J, learned_rate: Option<u32>) -> Expected {
    let v4 = (flow.addr("cflow.srcaddr"), flow.addr("cflow.dstaddr"));
    let v6 = (flow.addr("cflow.srcaddrv6"), flow.addr("cflow.dstaddrv6"));
    let unset = |(s, d): (Option<IpAddr>, Option<IpAddr>)| {
        s.is_none_or(|a| a.is_unspecified()) && d.is_none_or(|a| a.is_unspecified())
    };
    let (mut src, mut dst) = match flow.num("cflow.ip_version") {
        Some(4) => v4,
        Some(6) => v6,
        _ if unset(v4) && !unset(v6) => v6,
        _ if v4.0.is_some() || v4.1.is_some() => v4,
        _ => v6,
    };
    let mut ip_protocol = flow.num("cflow.protocol").unwrap_or(0) as u8;
    let mut src_port = flow.num("cflow.srcport").unwrap_or(0) as u16;
    let mut dst_port = flow.num("cflow.dstport").unwrap_or(0) as u16;
    let mut packets = flow.num("cflow.packets").unwrap_or(0);
    let mut bytes = flow.num("cflow.octets").unwrap_or(0);
    if let Some(tree) = flow.get("cflow.data_link_frame_section_tree") {
        let (s, d, p, sp, dp) = dissected(tree);
        src = src.or(s);
        dst = dst.or(d);
        if ip_protocol == 0 {
            ip_protocol = p;
        }
        if src_port == 0 && dst_port == 0 {
            (src_port, dst_port) = (sp, dp);
        }
        if flow.get("cflow.packets").is_none() {
            packets = 1;
        }
        if flow.get("cflow.octets").is_none() {
            bytes = flow.num("cflow.data_link_frame_size").unwrap_or(0);
        }
    }
    let rate = sampling(flow).or(learned_rate).unwrap_or(1);
    // tshark's Ethernet-pseudowire heuristic sometimes misses the control
    // word (when the inner MAC starts with 0x02) and then shows raw data.
    let tuple_known = flow
        .get("cflow.data_link_frame_section_tree")
        .is_none_or(|t| {
            t.get("data").is_none() || t.get("ip").is_some() || t.get("ipv6").is_some()
        });
    Expected {
        src,
        dst,
        ip_protocol,
        src_port,
        dst_port,
        packets,
        bytes,
        sampling_rate: Some(rate),
        tuple_known,
    }
}

fn tshark_sflow(json: &J) -> Vec<Expected> {
    let J::Arr(packets) = json else {
        panic!("tshark output is not an array")
    };
    let mut expected = Vec::new();
    for packet in packets {
        let Some(sflow) = layers(packet).get("sflow") else {
            continue;
        };
        for (key, sample) in sflow.entries() {
            if !(key.starts_with("Flow sample") || key.starts_with("Expanded flow sample")) {
                continue;
            }
            let rate = sample
                .num("sflow.flow_sample.sampling_rate")
                .map(|r| r.max(1) as u32);
            let mut e = Expected {
                src: None,
                dst: None,
                ip_protocol: 0,
                src_port: 0,
                dst_port: 0,
                packets: 1,
                bytes: 0,
                sampling_rate: rate,
                tuple_known: true,
            };
            if let Some(raw) = sample.get("Raw packet header") {
                (e.src, e.dst, e.ip_protocol, e.src_port, e.dst_port) = raw
                    .get("sflow_245.header_tree")
                    .map(dissected)
                    .unwrap_or_default();
                e.bytes = raw.num("sflow_245.header.frame_length").unwrap_or(0);
            }
            expected.push(e);
        }
    }
    expected
}

fn decode_files(files: &[PathBuf]) -> (Decoder, Vec<FlowRecord>, u16) {
    let mut decoder = Decoder::default();
    let mut records = Vec::new();
    let mut port = 0;
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        for d in pcap::udp_datagrams(&bytes).unwrap() {
            let d = d.unwrap();
            port = d.dst.port();
            decoder
                .decode(d.src, d.payload, d.timestamp_us / 1000, &mut records)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
    (decoder, records, port)
}

/// Compares record by record; returns (records compared, records whose
/// 5-tuple tshark could not determine).
fn compare(name: &str, ours: &[FlowRecord], theirs: &[Expected]) -> (usize, usize) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{name}: record count differs from tshark's"
    );
    assert!(!ours.is_empty(), "{name}: no records");
    let mut undetermined = 0;
    for (i, (r, e)) in ours.iter().zip(theirs).enumerate() {
        let mut got = Expected::of(r);
        if e.sampling_rate.is_none() {
            got.sampling_rate = None;
        }
        if !e.tuple_known {
            undetermined += 1;
            assert!(
                got.src.is_some(),
                "{name}: record {i}: portreeve should dissect what tshark did not"
            );
            (
                got.src,
                got.dst,
                got.ip_protocol,
                got.src_port,
                got.dst_port,
            ) = (e.src, e.dst, e.ip_protocol, e.src_port, e.dst_port);
            got.tuple_known = false;
        }
        assert_eq!(&got, e, "{name}: record {i} differs from tshark's decoding");
    }
    (ours.len(), undetermined)
}

const NETFLOW: &[&[&str]] = &[
    &["nfv5.pcap"],
    &[
        "options-template.pcap",
        "options-data.pcap",
        "template.pcap",
        "data.pcap",
    ],
    &["data+templates.pcap"],
    &["datalink-template.pcap", "datalink-data.pcap"],
    &[
        "ethernet-over-mpls-with-control-word-template.pcap",
        "ethernet-over-mpls-with-control-word-data.pcap",
    ],
    &["icmp-template.pcap", "icmp-data.pcap"],
    &["ipfix-srv6-template.pcap", "ipfix-srv6-data.pcap"],
    &["ipfixprobe-templates.pcap", "ipfixprobe-data.pcap"],
    &["juniper-cpid-template.pcap", "juniper-cpid-data.pcap"],
    &["mpls.pcap"],
    &[
        "multiplesamplingrates-options-template.pcap",
        "multiplesamplingrates-options-data.pcap",
        "multiplesamplingrates-template.pcap",
        "multiplesamplingrates-data.pcap",
    ],
    &["nat.pcap"],
    &["physicalinterfaces.pcap"],
    &["samplingrate-template.pcap", "samplingrate-data.pcap"],
];

fn pcaps_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    names
}

#[test]
fn netflow_and_ipfix_captures_match_tshark() {
    if !available("netflow_and_ipfix_captures_match_tshark") {
        return;
    }
    let dir = testdata().join("netflow");
    let mut covered: Vec<String> = NETFLOW
        .iter()
        .flat_map(|s| s.iter().map(|f| f.to_string()))
        .collect();
    covered.sort();
    assert_eq!(
        covered,
        pcaps_in(&dir),
        "every capture belongs to exactly one scenario"
    );
    let mut total = 0;
    let mut sampled = 0;
    for scenario in NETFLOW {
        let files: Vec<PathBuf> = scenario.iter().map(|f| dir.join(f)).collect();
        let (decoder, records, port) = decode_files(&files);
        assert_eq!(
            decoder.counters().datagrams_dropped.total(),
            0,
            "{scenario:?}"
        );
        let (expected, no_template, unknown_samplers) =
            tshark_netflow(&run_tshark(&files, &format!("udp.port=={port},cflow")));
        assert_eq!(
            decoder.counters().unknown_sampler_records,
            unknown_samplers,
            "{scenario:?}: records naming an undefined sampler"
        );
        // Some exporters send data ahead of its template; both decoders
        // must skip the same sets.
        let skipped = decoder.counters().sets_dropped;
        assert_eq!(
            skipped.get(DropReason::NoTemplate),
            no_template,
            "{scenario:?}: data before template"
        );
        assert_eq!(skipped.total(), no_template, "{scenario:?}");
        let (n, undetermined) = compare(scenario.last().unwrap(), &records, &expected);
        sampled += records.iter().filter(|r| r.sampling_rate > 1).count();
        eprintln!(
            "{:<60} {n:>3} records match tshark ({undetermined} without a tshark 5-tuple)",
            scenario.join(" + ")
        );
        total += n;
    }
    eprintln!(
        "netflow/ipfix: {total} records in {} scenarios, {sampled} sampled",
        NETFLOW.len()
    );
    assert!(sampled > 0, "some captures carry sampling rates");
}

#[test]
fn sflow_captures_match_tshark() {
    if !available("sflow_captures_match_tshark") {
        return;
    }
    let dir = testdata().join("sflow");
    let mut total = 0;
    for name in pcaps_in(&dir) {
        let files = vec![dir.join(&name)];
        let (decoder, records, port) = decode_files(&files);
        assert_eq!(decoder.counters().datagrams_dropped.total(), 0, "{name}");
        let expected = tshark_sflow(&run_tshark(&files, &format!("udp.port=={port},sflow")));
        let (n, undetermined) = compare(&name, &records, &expected);
        assert_eq!(undetermined, 0);
        eprintln!("{name:<60} {n:>3} records match tshark");
        total += n;
    }
    eprintln!("sflow: {total} records");
}

/// Data sent before its template is skipped and counted, and decodes once
/// the template has arrived: the order the README prescribes matters.
#[test]
fn data_before_template_in_real_captures() {
    if !available("data_before_template_in_real_captures") {
        return;
    }
    let dir = testdata().join("netflow");
    let (mut decoder, records, _) = decode_files(&[dir.join("icmp-data.pcap")]);
    assert!(records.is_empty());
    assert_eq!(
        decoder.counters().sets_dropped.get(DropReason::NoTemplate),
        1
    );
    let mut out = Vec::new();
    let mut last = 0;
    for file in ["icmp-template.pcap", "icmp-data.pcap"] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        for d in pcap::udp_datagrams(&bytes).unwrap() {
            let d = d.unwrap();
            last = decoder.decode(d.src, d.payload, 0, &mut out).unwrap();
        }
    }
    assert_eq!(
        last, 2,
        "the data packet decodes once its template is known"
    );
    assert_eq!(
        decoder.counters().sets_dropped.get(DropReason::NoTemplate),
        1
    );
}

/// One way of stating sampling, as an exporter would send it.
struct SampledExport {
    name: &'static str,
    datagrams: Vec<Vec<u8>>,
    /// The multiplier each data record must get, in order: written down
    /// here so that a model of tshark's output that found no sampling at
    /// all could not pass.
    rates: &'static [u32],
    /// Data records naming a sampler id undefined when they arrived.
    unknown_samplers: u64,
}

/// Template fields of a flow: 5-tuple, then octets (1) and packets (2).
const FLOW: &[(u16, u16, Option<u32>)] = &[
    (8, 4, None),
    (12, 4, None),
    (7, 2, None),
    (11, 2, None),
    (4, 1, None),
    (1, 4, None),
    (2, 4, None),
];

/// A data template: [`FLOW`] then `extra` (ie, length) fields.
fn flow_template(id: u16, extra: &[(u16, u16)]) -> Vec<u8> {
    let extra: Vec<_> = extra.iter().map(|&(ie, len)| (ie, len, None)).collect();
    template(id, &[FLOW, &extra].concat())
}

/// A record of [`flow_template`]: flow `n` (a distinct source port and
/// counters), then the extra fields' bytes.
fn flow(n: u16, extra: &[&[u8]]) -> Vec<u8> {
    let mut r = vec![10, 0, 0, 1, 10, 0, 0, 2];
    r.extend_from_slice(&be16(50_000 + n));
    r.extend_from_slice(&be16(443));
    r.push(6);
    r.extend_from_slice(&be32(1_000 * u32::from(n) + 40));
    r.extend_from_slice(&be32(u32::from(n) + 2));
    r.extend(extra.iter().copied().flatten());
    r
}

fn sampled_exports() -> Vec<SampledExport> {
    let system = [(1, 4)]; // v9 scope System
    vec![
        SampledExport {
            name: "v9: SAMPLING_INTERVAL/ALGORITHM (34/35) in the data",
            datagrams: vec![v9(
                0,
                &[
                    (0, flow_template(256, &[(34, 4), (35, 1)])),
                    (
                        256,
                        [
                            flow(1, &[&be32(100), &[2]]),
                            flow(2, &[&be32(0), &[2]]),
                            flow(3, &[&be32(1), &[1]]),
                        ]
                        .concat(),
                    ),
                ],
            )],
            rates: &[100, 1, 1],
            unknown_samplers: 0,
        },
        SampledExport {
            name: "v9: options 34/35 without a sampler id (exporter-wide)",
            datagrams: vec![v9(
                0,
                &[
                    (1, v9_options_template(257, &system, &[(34, 4), (35, 1)])),
                    (257, [&be32(0)[..], &be32(500), &[2], &[0, 0, 0]].concat()),
                    (0, flow_template(256, &[])),
                    (256, [flow(1, &[]), flow(2, &[])].concat()),
                ],
            )],
            rates: &[500, 500],
            unknown_samplers: 0,
        },
        SampledExport {
            // Cisco IOS XE's layout: sampler options under source id 6,
            // flows under 256, each flow naming its sampler.
            name: "v9: samplers 48/49/50 in options under another source id",
            datagrams: vec![
                v9(
                    6,
                    &[
                        (
                            1,
                            v9_options_template(257, &system, &[(48, 1), (49, 1), (50, 4)]),
                        ),
                        (
                            257,
                            [
                                &be32(0)[..],
                                &[1, 2],
                                &be32(10),
                                &be32(0),
                                &[2, 2],
                                &be32(100),
                            ]
                            .concat(),
                        ),
                    ],
                ),
                v9(
                    256,
                    &[
                        (0, flow_template(256, &[(48, 1)])),
                        (
                            256,
                            [flow(1, &[&[1]]), flow(2, &[&[2]]), flow(3, &[&[3]])].concat(),
                        ),
                    ],
                ),
            ],
            rates: &[10, 100, 1],
            unknown_samplers: 1,
        },
        SampledExport {
            // The record that came first keeps 1 (counted); those after
            // the definition get its rate.
            name: "v9: a sampler defined after data naming it",
            datagrams: vec![
                v9(
                    0,
                    &[(0, flow_template(256, &[(48, 1)])), (256, flow(1, &[&[5]]))],
                ),
                v9(
                    0,
                    &[
                        (1, v9_options_template(257, &system, &[(48, 1), (50, 4)])),
                        (257, [&be32(0)[..], &[5], &be32(50), &[0, 0, 0]].concat()),
                        (256, flow(2, &[&[5]])),
                    ],
                ),
            ],
            rates: &[1, 50],
            unknown_samplers: 1,
        },
        SampledExport {
            name: "IPFIX: 34, 305/306 and 309/310 in the data",
            datagrams: vec![ipfix(
                1,
                &[
                    (
                        2,
                        [
                            flow_template(256, &[(34, 4)]),
                            flow_template(257, &[(305, 4), (306, 4)]),
                            flow_template(258, &[(309, 4), (310, 4)]),
                        ]
                        .concat(),
                    ),
                    (256, flow(1, &[&be32(64)])),
                    (
                        257,
                        [
                            flow(2, &[&be32(1), &be32(99)]),
                            flow(3, &[&be32(3), &be32(5)]),
                        ]
                        .concat(),
                    ),
                    (
                        258,
                        [
                            flow(4, &[&be32(1), &be32(1000)]),
                            flow(5, &[&be32(3), &be32(8)]),
                            flow(6, &[&be32(0), &be32(8)]),
                        ]
                        .concat(),
                    ),
                ],
            )],
            rates: &[64, 100, 3, 1000, 3, 1],
            unknown_samplers: 0,
        },
        SampledExport {
            name: "IPFIX: selectors (302) with 305/306 in options, 64-bit ids",
            datagrams: vec![ipfix(
                1,
                &[
                    (
                        3,
                        ipfix_options_template(259, &[(302, 8)], &[(305, 4), (306, 4)]),
                    ),
                    (
                        259,
                        [
                            &7u64.to_be_bytes()[..],
                            &be32(1),
                            &be32(9),
                            &(1u64 << 32 | 7).to_be_bytes(),
                            &be32(1),
                            &be32(49),
                        ]
                        .concat(),
                    ),
                    (2, flow_template(256, &[(302, 8)])),
                    (
                        256,
                        [
                            flow(1, &[&7u64.to_be_bytes()]),
                            flow(2, &[&(1u64 << 32 | 7).to_be_bytes()]),
                        ]
                        .concat(),
                    ),
                ],
            )],
            rates: &[10, 50],
            unknown_samplers: 0,
        },
        SampledExport {
            name: "IPFIX: samplers (48) with 309/310 or 50 in options",
            datagrams: vec![ipfix(
                1,
                &[
                    (
                        3,
                        [
                            ipfix_options_template(259, &[(48, 1)], &[(309, 4), (310, 4)]),
                            ipfix_options_template(260, &[(48, 1)], &[(50, 4)]),
                        ]
                        .concat(),
                    ),
                    (259, [&[1][..], &be32(2), &be32(201)].concat()),
                    (260, [&[2][..], &be32(20)].concat()),
                    (2, flow_template(256, &[(48, 1)])),
                    (256, [flow(1, &[&[1]]), flow(2, &[&[2]])].concat()),
                ],
            )],
            rates: &[101, 20],
            unknown_samplers: 0,
        },
        SampledExport {
            name: "IPFIX: options 34 scoped to the observation domain (149)",
            datagrams: vec![ipfix(
                1,
                &[
                    (3, ipfix_options_template(259, &[(149, 4)], &[(34, 4)])),
                    (259, [be32(1), be32(256)].concat()),
                    (2, flow_template(256, &[])),
                    (256, [flow(1, &[]), flow(2, &[])].concat()),
                ],
            )],
            rates: &[256, 256],
            unknown_samplers: 0,
        },
    ]
}

/// Every way exporters state sampling, in datagrams written to a capture
/// and decoded by portreeve and by tshark: each record's packets and bytes
/// times portreeve's multiplier must equal tshark's raw counts times the
/// multiplier worked out from tshark's decoding of the sampling fields.
#[test]
fn sampling_stated_every_way_matches_tshark() {
    let test = "sampling_stated_every_way_matches_tshark";
    if !portreeve_testkit::require_programs(test, &["tshark", "mergecap"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("portreeve-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Every export is checked, and the test fails at the end naming each
    // that disagreed.
    let failed: Vec<&str> = sampled_exports()
        .iter()
        .enumerate()
        .filter(|(i, export)| {
            std::panic::catch_unwind(|| check_sampled_export(&dir, *i, export)).is_err()
        })
        .map(|(_, export)| export.name)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "disagreed with tshark: {failed:#?}");
}

/// Writes `export` to a capture in `dir`, decodes it with portreeve and
/// tshark, and asserts that they agree (see the test above).
fn check_sampled_export(dir: &Path, i: usize, export: &SampledExport) {
    let frames: Vec<(u64, Vec<u8>)> = export
        .datagrams
        .iter()
        .enumerate()
        .map(|(n, d)| {
            (
                (u64::from(EXPORT_SECS) + n as u64) * 1_000_000,
                raw_ip_udp(d),
            )
        })
        .collect();
    let file = dir.join(format!("sampled-{i}.pcap"));
    std::fs::write(&file, portreeve_testkit::capture::pcap(101, &frames)).unwrap();
    let files = [file];
    let (decoder, records, _) = decode_files(&files);
    let (expected, no_template, unknown_samplers) =
        tshark_netflow(&run_tshark(&files, "udp.port==2055,cflow"));
    std::fs::remove_file(&files[0]).unwrap();
    let name = export.name;
    assert_eq!(no_template, 0, "{name}");
    compare(name, &records, &expected);
    for (r, e) in records.iter().zip(&expected) {
        let rate = u64::from(e.sampling_rate.unwrap());
        assert_eq!(
            (r.scaled_packets(), r.scaled_bytes()),
            (e.packets * rate, e.bytes * rate),
            "{name}: {r:?}"
        );
    }
    let rates: Vec<u32> = records.iter().map(|r| r.sampling_rate).collect();
    assert_eq!(rates, export.rates, "{name}: multipliers");
    assert_eq!(
        (decoder.counters().unknown_sampler_records, unknown_samplers),
        (export.unknown_samplers, export.unknown_samplers),
        "{name}: records naming an undefined sampler (portreeve, tshark)"
    );
    eprintln!(
        "{name:<62} {} records match tshark: {rates:?}",
        records.len()
    );
}

/// Ethernet frames of TCP segments from 10.0.0.2 to 10.0.0.1: for each
/// server port, three connections of 40 segments carrying 10, 11, …
/// bytes. Checksums are left at 0 (softflowd does not check them).
fn tcp_traffic() -> Vec<(u64, Vec<u8>)> {
    let mut frames = Vec::new();
    for port in [8080u16, 9090] {
        for conn in 0..3u16 {
            for i in 0..40u16 {
                let mut tcp = [be16(40_000 + conn), be16(port)].concat();
                tcp.extend_from_slice(&be32(u32::from(i)));
                tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0x03, 0xe8, 0, 0, 0, 0]);
                tcp.resize(tcp.len() + 10 + usize::from(i), b'x');
                let mut frame = vec![0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x00, 0x45, 0];
                frame.extend_from_slice(&be16(20 + tcp.len() as u16));
                frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1]);
                frame.extend_from_slice(&tcp);
                let micros = (u64::from(EXPORT_SECS) * 1_000 + frames.len() as u64) * 1_000;
                frames.push((micros, frame));
            }
        }
    }
    frames
}

/// A real exporter stating sampling: softflowd (Debian's) sampling 1 in
/// 10 packets of a capture states it in options data — NetFlow v9 as
/// SAMPLING_INTERVAL/ALGORITHM (34/35) scoped to an interface, IPFIX as
/// samplingPacketInterval/Space (305/306) scoped to its metering process.
/// What it sends, received on the loopback of a namespace of the test's
/// own, is decoded by portreeve and tshark as in the test above.
#[test]
fn softflowd_sampling_matches_tshark() {
    let test = "softflowd_sampling_matches_tshark";
    if !portreeve_testkit::privileged(test, &["ip", "softflowd", "timeout", "tshark", "mergecap"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("portreeve-softflowd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("traffic.pcap");
    std::fs::write(&input, portreeve_testkit::capture::pcap(1, &tcp_traffic())).unwrap();
    // softflowd 1.1.0 hangs when its control-socket path is long.
    let (pid_file, control) = (
        format!("/tmp/p{}", std::process::id()),
        format!("/tmp/s{}", std::process::id()),
    );
    let ns = portreeve_testkit::Netns::bare();
    let mut failed = Vec::new();
    for version in ["9", "10"] {
        let mut datagrams = ns.run(|| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let collector = socket.local_addr().unwrap().to_string();
            let mut softflowd = Command::new("timeout")
                .args(["10", "softflowd", "-r"])
                .arg(&input)
                .args(["-n", &collector, "-v", version, "-s", "10", "-d"])
                .args(["-p", &pid_file, "-c", &control])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            assert!(
                softflowd.wait().unwrap().success(),
                "softflowd -v {version}"
            );
            socket.set_nonblocking(true).unwrap();
            let mut datagrams = Vec::new();
            let mut buf = [0u8; 65_535];
            while let Ok(n) = socket.recv(&mut buf) {
                datagrams.push(buf[..n].to_vec());
            }
            datagrams
        });
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&control);
        if version == "9" {
            // softflowd 1.1.0's v9 header Count covers only the template
            // and options records, not the flows in the same datagram, and
            // tshark stops reading at that count: raised to the largest,
            // tshark reads every set, as portreeve does (it goes by the
            // sets' lengths, never the count).
            for d in &mut datagrams {
                d[2..4].copy_from_slice(&be16(u16::MAX));
            }
        }
        let export = SampledExport {
            name: if version == "9" {
                "softflowd -s 10 -v 9"
            } else {
                "softflowd -s 10 -v 10"
            },
            datagrams,
            // Six one-way flows, every one sampled 1 in 10.
            rates: &[10; 6],
            unknown_samplers: 0,
        };
        if std::panic::catch_unwind(|| check_sampled_export(&dir, 100, &export)).is_err() {
            failed.push(export.name);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "disagreed with tshark: {failed:#?}");
}

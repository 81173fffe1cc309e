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

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/flows")
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

/// Records tshark finds in NetFlow/IPFIX packets, options data excluded
/// but used to work out the sampling rate each data record should carry.
fn tshark_netflow(json: &J) -> (Vec<Expected>, u64) {
    let J::Arr(packets) = json else {
        panic!("tshark output is not an array")
    };
    let mut options_templates: Vec<u64> = Vec::new();
    let mut rates: HashMap<Option<u64>, u32> = HashMap::new();
    let mut expected = Vec::new();
    let mut no_template = 0;
    for packet in packets {
        let Some(cflow) = layers(packet).get("cflow") else {
            continue;
        };
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
                if options {
                    if let Some(rate) = sampling(flow) {
                        rates.insert(flow.num("cflow.sampler_id"), rate);
                    }
                } else {
                    let learned = flow
                        .num("cflow.sampler_id")
                        .and_then(|id| rates.get(&Some(id)))
                        .or_else(|| rates.get(&None))
                        .copied();
                    expected.push(flow_expectation(flow, learned));
                }
            }
        }
    }
    (expected, no_template)
}

fn sampling(flow: &J) -> Option<u32> {
    if let Some(i) = flow.num("cflow.sampling_interval").filter(|&i| i > 0) {
        return Some(i as u32);
    }
    if let Some(i) = flow.num("cflow.sampler_random_interval").filter(|&i| i > 0) {
        return Some(i as u32);
    }
    let interval = flow
        .num("cflow.sampling_packet_interval")
        .filter(|&i| i > 0)?;
    let space = flow.num("cflow.sampling_packet_space").unwrap_or(0);
    Some(((interval + space) / interval) as u32)
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
        let (expected, no_template) =
            tshark_netflow(&run_tshark(&files, &format!("udp.port=={port},cflow")));
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

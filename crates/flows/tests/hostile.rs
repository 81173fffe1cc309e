//! Hand-built NetFlow v5/v9, IPFIX and sFlow datagrams, good and hostile:
//! every malformation the collector must survive is dropped whole, counted
//! under its reason, and never panics; templates, withdrawal, refresh,
//! variable-length and enterprise fields, sampling options and the caps
//! behave as RFC 3954 / RFC 7011 and the sFlow v5 specification say.

use std::net::{IpAddr, SocketAddr};

use portreeve_flows::{DecodeError, Decoder, DecoderConfig, DropReason, FlowRecord, FlowSource};

#[path = "support/exports.rs"]
mod exports;
use exports::*;

const EXPORTER: &str = "192.0.2.9:4739";

fn exporter() -> SocketAddr {
    EXPORTER.parse().unwrap()
}

fn decode(d: &mut Decoder, datagram: &[u8]) -> (Result<usize, DecodeError>, Vec<FlowRecord>) {
    let mut out = Vec::new();
    let r = d.decode(exporter(), datagram, 1_700_000_000_000, &mut out);
    (r, out)
}

/// Decodes a datagram that must be accepted (templates, withdrawals).
fn feed(d: &mut Decoder, datagram: &[u8]) {
    let (r, _) = decode(d, datagram);
    assert!(r.is_ok(), "{r:?}");
}

/// Decodes into a buffer already holding a record, checking that a failed
/// datagram leaves the buffer exactly as it was.
fn expect_drop(d: &mut Decoder, datagram: &[u8], reason: DropReason) {
    let sentinel = FlowRecord::new(FlowSource::Zeek, "0.0.0.0".parse().unwrap(), 0, 0);
    let mut out = vec![sentinel];
    let before = d.counters().datagrams_dropped.get(reason);
    let err = d
        .decode(exporter(), datagram, 0, &mut out)
        .expect_err("must be dropped");
    assert_eq!(err.reason(), reason, "{err}");
    assert_eq!(
        out,
        vec![sentinel],
        "records of a dropped datagram were left behind"
    );
    assert_eq!(d.counters().datagrams_dropped.get(reason), before + 1);
}

#[test]
fn ipfix_template_then_data_in_one_message() {
    let mut d = Decoder::default();
    let msg = ipfix(
        7,
        &[
            (2, template(256, BASIC)),
            (
                256,
                [
                    basic_record([10, 0, 0, 1], [10, 0, 0, 2], 40000, 443, 3, 180),
                    basic_record([10, 0, 0, 2], [10, 0, 0, 1], 443, 40000, 2, 90),
                ]
                .concat(),
            ),
        ],
    );
    let (r, out) = decode(&mut d, &msg);
    assert_eq!(r, Ok(2));
    let f = &out[0];
    assert_eq!(f.source, FlowSource::Ipfix);
    assert_eq!(f.observation_domain, 7);
    assert_eq!(f.exporter, "192.0.2.9".parse::<IpAddr>().unwrap());
    assert_eq!(
        (
            f.src_port,
            f.dst_port,
            f.ip_protocol,
            f.packets,
            f.bytes,
            f.sampling_rate
        ),
        (40000, 443, 6, 3, 180, 1)
    );
    assert_eq!(f.dst_addr, Some("10.0.0.2".parse().unwrap()));
    assert_eq!(d.counters().templates_added, 1);
    assert_eq!(d.counters().records, 2);
}

#[test]
fn data_before_its_template_is_skipped_and_counted() {
    let mut d = Decoder::default();
    let data = ipfix(
        1,
        &[(300, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 1, 1))],
    );
    let (r, out) = decode(&mut d, &data);
    assert_eq!((r, out.len()), (Ok(0), 0));
    assert_eq!(d.counters().sets_dropped.get(DropReason::NoTemplate), 1);
    assert_eq!(d.counters().datagrams_ok, 1, "the datagram itself was fine");
    feed(&mut d, &ipfix(1, &[(2, template(300, BASIC))]));
    assert_eq!(decode(&mut d, &data).0, Ok(1));
    // Templates are per observation domain.
    let other_domain = ipfix(
        2,
        &[(300, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 1, 1))],
    );
    assert_eq!(decode(&mut d, &other_domain).0, Ok(0));
    assert_eq!(d.counters().sets_dropped.get(DropReason::NoTemplate), 2);
}

#[test]
fn variable_length_and_enterprise_fields() {
    let mut d = Decoder::default();
    let fields = [
        (8, 4, None),
        (0x8000 | 100, 0xffff, Some(9)), // enterprise 9, variable length: skipped
        (82, 0xffff, None),              // interfaceName, variable length: skipped
        (0x8000 | 5, 2, Some(29305)),    // enterprise fixed length: skipped
        (12, 4, None),
        (11, 2, None),
        (2, 8, None),
    ];
    let mut rec = vec![10, 1, 1, 1];
    rec.extend_from_slice(&[3, b'a', b'b', b'c']); // short varlen: 3 bytes
    rec.push(255); // long varlen: 255 then a u16 length
    rec.extend_from_slice(&be16(300));
    rec.extend_from_slice(&[b'x'; 300]);
    rec.extend_from_slice(&[0xee, 0xee]);
    rec.extend_from_slice(&[10, 2, 2, 2]);
    rec.extend_from_slice(&be16(22));
    rec.extend_from_slice(&7u64.to_be_bytes());
    let mut second = vec![10, 1, 1, 3, 0, 0]; // both variable fields empty
    second.extend_from_slice(&[0xee, 0xee, 10, 2, 2, 4]);
    second.extend_from_slice(&be16(80));
    second.extend_from_slice(&9u64.to_be_bytes());
    let msg = ipfix(
        1,
        &[
            (2, template(400, &fields)),
            (400, [rec, second, vec![0, 0, 0]].concat()),
        ],
    );
    let (r, out) = decode(&mut d, &msg);
    assert_eq!(r, Ok(2), "zero padding after the records is allowed");
    assert_eq!(
        (out[0].src_addr, out[0].dst_port, out[0].packets),
        (Some("10.1.1.1".parse().unwrap()), 22, 7)
    );
    assert_eq!(
        (out[1].dst_addr, out[1].dst_port, out[1].packets),
        (Some("10.2.2.4".parse().unwrap()), 80, 9)
    );
    // A variable-length field running past its set drops the datagram.
    let mut bad = vec![10, 1, 1, 1, 200];
    bad.extend_from_slice(&[1; 20]);
    expect_drop(&mut d, &ipfix(1, &[(400, bad)]), DropReason::BadLength);
}

#[test]
fn template_withdrawal_and_withdraw_all() {
    let mut d = Decoder::default();
    let data = |id| {
        (
            id,
            basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1000, 80, 1, 60),
        )
    };
    feed(
        &mut d,
        &ipfix(
            1,
            &[(2, [template(256, BASIC), template(257, BASIC)].concat())],
        ),
    );
    assert_eq!(d.template_count(exporter().ip()), 2);
    assert_eq!(decode(&mut d, &ipfix(1, &[data(256)])).0, Ok(1));
    // Withdraw 256: a template record with field count 0.
    feed(&mut d, &ipfix(1, &[(2, template(256, &[]))]));
    assert_eq!(d.counters().templates_withdrawn, 1);
    assert_eq!(decode(&mut d, &ipfix(1, &[data(256)])).0, Ok(0));
    assert_eq!(d.counters().sets_dropped.get(DropReason::NoTemplate), 1);
    assert_eq!(decode(&mut d, &ipfix(1, &[data(257)])).0, Ok(1));
    // Withdraw all data templates of the domain: id 2, count 0.
    feed(&mut d, &ipfix(1, &[(2, template(2, &[]))]));
    assert_eq!(d.template_count(exporter().ip()), 0);
    assert_eq!(d.counters().templates_withdrawn, 2);
    assert_eq!(d.counters().templates, 0);
    // Withdrawing a reserved id other than "all" is malformed.
    expect_drop(
        &mut d,
        &ipfix(1, &[(2, template(100, &[]))]),
        DropReason::BadTemplate,
    );
}

#[test]
fn template_refresh_replaces_the_definition() {
    let mut d = Decoder::default();
    feed(&mut d, &v9(3, &[(0, template(260, BASIC))]));
    let rec = basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1000, 80, 1, 60);
    assert_eq!(
        decode(&mut d, &v9(3, &[(260, rec.clone())])).1[0].dst_port,
        80
    );
    // Same id, new layout: ports swapped, addresses dropped.
    feed(
        &mut d,
        &v9(3, &[(0, template(260, &[(11, 2, None), (7, 2, None)]))]),
    );
    assert_eq!(d.counters().templates_refreshed, 1);
    assert_eq!(d.counters().templates_added, 1);
    let (r, out) = decode(&mut d, &v9(3, &[(260, [be16(53), be16(5353)].concat())]));
    assert_eq!(r, Ok(1));
    assert_eq!(
        (out[0].dst_port, out[0].src_port, out[0].src_addr),
        (53, 5353, None)
    );
}

#[test]
fn zero_length_and_bad_length_sets() {
    let mut d = Decoder::default();
    feed(&mut d, &ipfix(1, &[(2, template(256, BASIC))]));
    let good = basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1000, 80, 1, 60);
    // A good data set followed by a set of length 0: nothing survives.
    let mut msg = ipfix(1, &[(256, good.clone())]);
    msg.extend_from_slice(&[1, 0, 0, 0, 0xaa, 0xbb]);
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&be16(len));
    expect_drop(&mut d, &msg, DropReason::ZeroLengthSet);
    // Same in v9.
    let mut m9 = v9(1, &[]);
    m9.extend_from_slice(&[1, 4, 0, 0]);
    expect_drop(&mut d, &m9, DropReason::ZeroLengthSet);
    // Set length below its own header.
    let mut msg = ipfix(1, &[]);
    msg.extend_from_slice(&[1, 0, 0, 3, 0]);
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&be16(len));
    expect_drop(&mut d, &msg, DropReason::BadLength);
    // Set length past the end of the message.
    let mut msg = ipfix(1, &[(256, good.clone())]);
    msg[18..20].copy_from_slice(&be16(500));
    expect_drop(&mut d, &msg, DropReason::BadLength);
    // IPFIX message length longer than the datagram, or shorter than 16.
    let mut msg = ipfix(1, &[(256, good.clone())]);
    msg[2..4].copy_from_slice(&be16(1000));
    expect_drop(&mut d, &msg, DropReason::Truncated);
    msg[2..4].copy_from_slice(&be16(8));
    expect_drop(&mut d, &msg, DropReason::BadLength);
    // Trailing bytes after the IPFIX message are ignored.
    let mut msg = ipfix(1, &[(256, good)]);
    msg.extend_from_slice(&[0xff; 7]);
    assert_eq!(decode(&mut d, &msg).0, Ok(1));
}

#[test]
fn template_with_65535_fields() {
    let mut d = Decoder::default();
    for msg in [
        ipfix(
            1,
            &[(2, [be16(256), be16(65535), be16(8), be16(4)].concat())],
        ),
        v9(
            1,
            &[(0, [be16(256), be16(65535), be16(8), be16(4)].concat())],
        ),
        ipfix(
            1,
            &[(
                3,
                [be16(256), be16(65535), be16(1), be16(8), be16(4)].concat(),
            )],
        ),
    ] {
        expect_drop(&mut d, &msg, DropReason::TooManyFields);
    }
    assert_eq!(d.template_count(exporter().ip()), 0);
    // Within the cap but longer than the set: truncated.
    let mut small = Decoder::new(DecoderConfig {
        max_template_fields: 65535,
        ..Default::default()
    });
    expect_drop(
        &mut small,
        &ipfix(
            1,
            &[(2, [be16(256), be16(65535), be16(8), be16(4)].concat())],
        ),
        DropReason::Truncated,
    );
}

#[test]
fn bad_templates() {
    let mut d = Decoder::default();
    expect_drop(
        &mut d,
        &ipfix(1, &[(2, template(255, BASIC))]),
        DropReason::BadTemplate,
    );
    // Every field zero-length: records would never advance.
    expect_drop(
        &mut d,
        &ipfix(1, &[(2, template(256, &[(8, 0, None), (12, 0, None)]))]),
        DropReason::BadTemplate,
    );
    // Options template whose scope count exceeds its field count.
    let opt = [be16(256), be16(1), be16(2), be16(149), be16(4)].concat();
    expect_drop(&mut d, &ipfix(1, &[(3, opt)]), DropReason::BadTemplate);
    // v9 options template with lengths that are not multiples of 4.
    let opt9 = [be16(256), be16(3), be16(4), be16(1), be16(4)].concat();
    expect_drop(&mut d, &v9(1, &[(1, opt9)]), DropReason::BadTemplate);
}

#[test]
fn truncated_headers_and_versions() {
    let mut d = Decoder::default();
    expect_drop(&mut d, &[], DropReason::Truncated);
    expect_drop(&mut d, &[0, 5, 0], DropReason::Truncated);
    expect_drop(&mut d, &[0, 9, 0, 1, 0, 0], DropReason::Truncated);
    expect_drop(&mut d, &[0, 10, 0, 16, 0, 0, 0, 0], DropReason::Truncated);
    expect_drop(&mut d, &[0, 0, 0, 5, 0, 0], DropReason::Truncated);
    expect_drop(&mut d, &[0, 7, 0, 0], DropReason::UnsupportedVersion);
    expect_drop(
        &mut d,
        &[0, 0, 0, 4, 0, 0, 0, 1],
        DropReason::UnsupportedVersion,
    );
    assert_eq!(
        DecodeError::UnsupportedVersion(7).to_string(),
        "unsupported export protocol version 7"
    );
}

fn v5(count: u16, records: usize, sampling: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&be16(5));
    m.extend_from_slice(&be16(count));
    m.extend_from_slice(&be32(100_000)); // uptime
    m.extend_from_slice(&be32(1_700_000_000));
    m.extend_from_slice(&be32(500_000_000));
    m.extend_from_slice(&be32(1));
    m.extend_from_slice(&[1, 2]);
    m.extend_from_slice(&be16(sampling));
    for i in 0..records {
        let mut r = vec![0u8; 48];
        r[0..4].copy_from_slice(&[10, 0, 0, i as u8]);
        r[4..8].copy_from_slice(&[10, 9, 9, 9]);
        r[16..20].copy_from_slice(&be32(5));
        r[20..24].copy_from_slice(&be32(500));
        r[24..28].copy_from_slice(&be32(90_000)); // started 10 s before export
        r[28..32].copy_from_slice(&be32(99_000));
        r[32..34].copy_from_slice(&be16(50000));
        r[34..36].copy_from_slice(&be16(22));
        r[37] = 0x12;
        r[38] = 6;
        m.extend_from_slice(&r);
    }
    m
}

#[test]
fn netflow_v5() {
    let mut d = Decoder::default();
    let (r, out) = decode(&mut d, &v5(2, 2, 0x4000 | 100));
    assert_eq!(r, Ok(2));
    let f = &out[1];
    assert_eq!(f.source, FlowSource::NetflowV5);
    assert_eq!(f.observation_domain, 0x0102);
    assert_eq!(
        (f.src_addr, f.dst_port, f.ip_protocol, f.tcp_flags),
        (Some("10.0.0.1".parse().unwrap()), 22, 6, Some(0x12))
    );
    assert_eq!(
        (f.packets, f.bytes, f.sampling_rate, f.scaled_bytes()),
        (5, 500, 100, 50_000)
    );
    assert_eq!(
        (f.start_ms, f.end_ms),
        (
            Some(1_700_000_000_500 - 10_000),
            Some(1_700_000_000_500 - 1_000)
        )
    );
    expect_drop(&mut d, &v5(2, 1, 0), DropReason::Truncated);
    expect_drop(&mut d, &v5(31, 31, 0), DropReason::BadLength);
}

/// One valid datagram of each protocol (templates included where needed);
/// the NetFlow v5 one with sampling field `v5_sampling`.
fn valid_datagrams(v5_sampling: u16) -> [Vec<u8>; 4] {
    [
        v5(3, 3, v5_sampling),
        ipfix(
            1,
            &[
                (2, template(256, BASIC)),
                (256, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4)),
            ],
        ),
        v9(
            1,
            &[
                (0, template(256, BASIC)),
                (256, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4)),
            ],
        ),
        sflow_datagram(),
    ]
}

#[test]
fn every_prefix_of_good_datagrams_is_handled() {
    let mut d = Decoder::default();
    let good = valid_datagrams(0);
    for datagram in &good {
        assert!(decode(&mut d, datagram).0.is_ok());
        for n in 0..datagram.len() {
            let (r, out) = decode(&mut d, &datagram[..n]);
            if r.is_err() {
                assert!(out.is_empty());
            }
        }
    }
}

#[test]
fn v9_sampling_from_options_data() {
    let mut d = Decoder::default();
    // Options template 257: scope System (type 1, 4 bytes); options
    // FLOW_SAMPLER_ID (48, 1), FLOW_SAMPLER_RANDOM_INTERVAL (50, 4).
    let opt = [
        be16(257),
        be16(4),
        be16(8),
        be16(1),
        be16(4),
        be16(48),
        be16(1),
        be16(50),
        be16(4),
    ]
    .concat();
    let mut opt_data = Vec::new();
    for (sampler, interval) in [(1u8, 1000u32), (2, 50)] {
        opt_data.extend_from_slice(&be32(0));
        opt_data.push(sampler);
        opt_data.extend_from_slice(&be32(interval));
    }
    opt_data.extend_from_slice(&[0, 0]); // padding
    let mut tpl = BASIC.to_vec();
    tpl.push((48, 1, None));
    let rec = |sampler: u8| {
        [
            basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4),
            vec![sampler],
        ]
        .concat()
    };
    let msg = v9(
        5,
        &[
            (1, opt),
            (257, opt_data),
            (0, template(258, &tpl)),
            (258, [rec(1), rec(2), rec(3)].concat()),
        ],
    );
    let (r, out) = decode(&mut d, &msg);
    assert_eq!(r, Ok(3));
    assert_eq!(d.counters().options_records, 2);
    assert_eq!(
        d.learned_sampling_rate(exporter().ip(), 5, Some(1)),
        Some(1000)
    );
    let rates: Vec<u32> = out.iter().map(|r| r.sampling_rate).collect();
    assert_eq!(
        rates,
        vec![1000, 50, 1],
        "an unknown sampler id gets no rate"
    );
    assert_eq!(out[0].scaled_packets(), 3000);
    // Sampling interval inside the data record itself (field 34).
    let tpl34 = [BASIC, &[(34, 4, None)]].concat();
    let msg = v9(
        6,
        &[
            (0, template(259, &tpl34)),
            (
                259,
                [
                    basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4),
                    be32(64).to_vec(),
                ]
                .concat(),
            ),
        ],
    );
    assert_eq!(decode(&mut d, &msg).1[0].sampling_rate, 64);
}

#[test]
fn ipfix_sampling_packet_interval_and_space() {
    let mut d = Decoder::default();
    // Options template: scope observationDomainId (149); options
    // samplingPacketInterval (305), samplingPacketSpace (306).
    let opt = [
        be16(256),
        be16(3),
        be16(1),
        be16(149),
        be16(4),
        be16(305),
        be16(4),
        be16(306),
        be16(4),
    ]
    .concat();
    let data = [be32(1), be32(1), be32(999)].concat();
    let msg = ipfix(
        1,
        &[
            (3, opt),
            (256, data),
            (2, template(257, BASIC)),
            (257, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4)),
        ],
    );
    let (r, out) = decode(&mut d, &msg);
    assert_eq!(r, Ok(1));
    assert_eq!(out[0].sampling_rate, 1000);
    assert_eq!(
        d.learned_sampling_rate(exporter().ip(), 1, None),
        Some(1000)
    );
    // Options templates are withdrawn with id 3.
    feed(&mut d, &ipfix(1, &[(3, template(3, &[]))]));
    assert_eq!(d.template_count(exporter().ip()), 1);
}

#[test]
fn caps_evict_and_count() {
    let config = DecoderConfig {
        max_exporters: 2,
        max_templates_per_exporter: 2,
        max_samplers_per_exporter: 1,
        ..Default::default()
    };
    let mut d = Decoder::new(config);
    for id in [256, 257, 258] {
        feed(&mut d, &ipfix(1, &[(2, template(id, BASIC))]));
    }
    assert_eq!(d.template_count(exporter().ip()), 2);
    assert_eq!(d.counters().templates_evicted, 1);
    let rec = |id| {
        ipfix(
            1,
            &[(id, basic_record([1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 3, 4))],
        )
    };
    assert_eq!(
        decode(&mut d, &rec(256)).0,
        Ok(0),
        "the oldest template went"
    );
    assert_eq!(decode(&mut d, &rec(258)).0, Ok(1));
    // A third exporter evicts the least recently heard one (this one is
    // more recent than the second, which is heard from next).
    let mut out = Vec::new();
    for e in ["192.0.2.10:1", "192.0.2.11:1"] {
        d.decode(
            e.parse().unwrap(),
            &ipfix(1, &[(2, template(256, BASIC))]),
            0,
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(d.counters().exporters_evicted, 1);
    assert_eq!(
        d.template_count(exporter().ip()),
        0,
        "the first exporter was least recent"
    );
    assert_eq!(d.counters().exporters, 2);
    assert_eq!(d.counters().templates, 2);
}

/// A flood from spoofed sources: 3,000 addresses, each defining 32
/// templates (96,000 templates). The
/// default caps hold: at most 65,536 templates (and 4,096 exporters) are
/// kept, the exporters heard from least recently forgotten and counted, and
/// the latest exporter's templates work.
#[test]
fn spoofed_exporters_stay_within_the_caps() {
    let mut d = Decoder::default();
    let fields: Vec<(u16, u16, Option<u32>)> = (0..8).map(|i| (1000 + i, 4, None)).collect();
    let sets: Vec<(u16, Vec<u8>)> = (0..32).map(|i| (2, template(256 + i, &fields))).collect();
    let flood = ipfix(1, &sets);
    let source = |i: u32| SocketAddr::new(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 4739);
    let mut out = Vec::new();
    for i in 0..3_000u32 {
        d.decode(source(i), &flood, 1_700_000_000_000, &mut out)
            .unwrap();
        let c = d.counters();
        assert!(c.exporters <= 4096, "{} exporters", c.exporters);
        assert!(c.templates <= 65_536, "{} templates", c.templates);
    }
    let c = d.counters();
    assert_eq!(c.templates_added, 96_000);
    assert_eq!(c.templates, 65_536 / 32 * 32, "held: as many as fit");
    assert_eq!(c.exporters, 65_536 / 32);
    assert_eq!(c.exporters_evicted, 3_000 - 65_536 / 32);
    // The last source heard from keeps its templates.
    assert_eq!(d.template_count(source(2_999).ip()), 32);

    // With smaller caps, the per-exporter cap binds first.
    let mut d = Decoder::new(DecoderConfig {
        max_exporters: 64,
        max_templates_per_exporter: 4,
        max_templates: 100,
        ..Default::default()
    });
    for i in 0..1_000u32 {
        let spoofed = SocketAddr::new(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 4739);
        d.decode(spoofed, &flood, 1_700_000_000_000, &mut out)
            .unwrap();
        let c = d.counters();
        assert!(c.exporters <= 25 && c.templates <= 100, "{c:?}");
    }
}

#[test]
fn drop_logging_is_rate_limited() {
    let mut d = Decoder::new(DecoderConfig {
        logs_per_second: 2,
        ..Default::default()
    });
    let mut out = Vec::new();
    for i in 0..10 {
        let _ = d.decode(exporter(), &[0, 7], 5_000 + i, &mut out);
    }
    assert_eq!(d.counters().logs_suppressed, 8);
    let _ = d.decode(exporter(), &[0, 7], 6_000, &mut out);
    assert_eq!(
        d.counters().logs_suppressed,
        8,
        "a new second, a new allowance"
    );
    assert_eq!(
        d.counters()
            .datagrams_dropped
            .get(DropReason::UnsupportedVersion),
        11
    );
}

/// An sFlow v5 datagram: a counter sample (skipped) and an expanded flow
/// sample with a raw Ethernet/802.1Q/IPv4/UDP header, 1 in 512.
fn sflow_datagram() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&be32(5));
    m.extend_from_slice(&be32(1));
    m.extend_from_slice(&[198, 51, 100, 1]);
    m.extend_from_slice(&be32(3)); // sub-agent
    m.extend_from_slice(&be32(1));
    m.extend_from_slice(&be32(1000));
    m.extend_from_slice(&be32(2));
    // Counter sample: skipped by length.
    m.extend_from_slice(&be32(2));
    m.extend_from_slice(&be32(8));
    m.extend_from_slice(&[0xcc; 8]);
    // Raw packet header record.
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x81, 0, 0, 10, 0x08, 0]);
    frame.extend_from_slice(&[
        0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 5, 10, 0, 0, 6,
    ]);
    frame.extend_from_slice(&[0xd4, 0x31, 0, 53, 0, 40, 0, 0]);
    frame.extend_from_slice(&[0, 0]); // pad to a multiple of 4
    let mut raw = Vec::new();
    raw.extend_from_slice(&be32(1)); // Ethernet
    raw.extend_from_slice(&be32(78)); // frame length
    raw.extend_from_slice(&be32(4));
    raw.extend_from_slice(&be32(frame.len() as u32 - 2));
    raw.extend_from_slice(&frame);
    let mut sample = Vec::new();
    sample.extend_from_slice(&be32(9)); // sequence
    sample.extend_from_slice(&be32(0));
    sample.extend_from_slice(&be32(17)); // source id type, index
    sample.extend_from_slice(&be32(512)); // sampling rate
    sample.extend_from_slice(&be32(100_000));
    sample.extend_from_slice(&be32(0));
    sample.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 7]);
    sample.extend_from_slice(&be32(2)); // records
    sample.extend_from_slice(&be32(1001)); // extended switch: skipped
    sample.extend_from_slice(&be32(4));
    sample.extend_from_slice(&[0; 4]);
    sample.extend_from_slice(&be32(1));
    sample.extend_from_slice(&be32(raw.len() as u32));
    sample.extend_from_slice(&raw);
    m.extend_from_slice(&be32(3));
    m.extend_from_slice(&be32(sample.len() as u32));
    m.extend_from_slice(&sample);
    m
}

#[test]
fn sflow_samples() {
    let mut d = Decoder::default();
    let (r, out) = decode(&mut d, &sflow_datagram());
    assert_eq!(r, Ok(1));
    let s = &out[0];
    assert_eq!(s.source, FlowSource::Sflow5);
    assert_eq!(
        (s.agent, s.observation_domain),
        (Some("198.51.100.1".parse().unwrap()), 3)
    );
    assert_eq!(
        (s.src_addr, s.dst_addr),
        (
            Some("10.0.0.5".parse().unwrap()),
            Some("10.0.0.6".parse().unwrap())
        )
    );
    assert_eq!((s.ip_protocol, s.src_port, s.dst_port), (17, 54321, 53));
    assert_eq!(
        (s.packets, s.bytes, s.sampling_rate, s.scaled_bytes()),
        (1, 78, 512, 78 * 512)
    );
    assert_eq!((s.input_interface, s.output_interface), (Some(4), Some(7)));
    assert_eq!(d.counters().samples_skipped, 1);
    // Unknown agent address type.
    let mut bad = sflow_datagram();
    bad[7] = 3;
    expect_drop(&mut d, &bad, DropReason::Invalid);
    // A sample count the datagram cannot hold.
    let mut bad = sflow_datagram();
    bad[24..28].copy_from_slice(&be32(u32::MAX));
    expect_drop(&mut d, &bad, DropReason::BadLength);
    // A sample length past the end.
    let mut bad = sflow_datagram();
    bad[32..36].copy_from_slice(&be32(4096));
    expect_drop(&mut d, &bad, DropReason::BadLength);
}

/// A small deterministic fuzz pass, so `cargo test` alone exercises random
/// mutations of valid datagrams (cargo-fuzz does far more, see fuzz/).
#[test]
fn random_mutations_never_panic() {
    let mut d = Decoder::new(DecoderConfig {
        max_templates_per_exporter: 8,
        ..Default::default()
    });
    let seeds = valid_datagrams(7);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::new();
    for i in 0..40_000 {
        let mut m = seeds[i % seeds.len()].clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
        }
        out.clear();
        if d.decode(exporter(), &m, 0, &mut out).is_err() {
            assert!(out.is_empty());
        }
    }
    assert!(d.template_count(exporter().ip()) <= 8);
}

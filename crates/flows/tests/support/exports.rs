//! NetFlow v9 and IPFIX export datagrams built byte by byte, for the tests
//! of the decoder (`hostile.rs`) and of its agreement with tshark
//! (`captures.rs`).

#![allow(dead_code)] // Each test binary uses a different part.

pub fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

pub fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// The export time every datagram carries (whole seconds).
pub const EXPORT_SECS: u32 = 1_700_000_000;

/// Sets as they go on the wire: id, length, contents.
fn sets_bytes(sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, contents) in sets {
        body.extend_from_slice(&be16(*id));
        body.extend_from_slice(&be16((contents.len() + 4) as u16));
        body.extend_from_slice(contents);
    }
    body
}

/// An IPFIX message (version 10) with a correct length field.
pub fn ipfix(domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let body = sets_bytes(sets);
    let mut m = Vec::new();
    m.extend_from_slice(&be16(10));
    m.extend_from_slice(&be16((16 + body.len()) as u16));
    m.extend_from_slice(&be32(EXPORT_SECS));
    m.extend_from_slice(&be32(1));
    m.extend_from_slice(&be32(domain));
    m.extend_from_slice(&body);
    m
}

/// A NetFlow v9 datagram.
pub fn v9(source_id: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&be16(9));
    m.extend_from_slice(&be16(sets.len() as u16));
    m.extend_from_slice(&be32(60_000)); // uptime ms
    m.extend_from_slice(&be32(EXPORT_SECS));
    m.extend_from_slice(&be32(1));
    m.extend_from_slice(&be32(source_id));
    m.extend_from_slice(&sets_bytes(sets));
    m
}

/// A template record: id, count, then (ie, len[, enterprise]) fields.
pub fn template(id: u16, fields: &[(u16, u16, Option<u32>)]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&be16(id));
    t.extend_from_slice(&be16(fields.len() as u16));
    for (ie, len, ent) in fields {
        t.extend_from_slice(&be16(*ie));
        t.extend_from_slice(&be16(*len));
        if let Some(e) = ent {
            t.extend_from_slice(&be32(*e));
        }
    }
    t
}

/// (type, length) pairs as a template lists them.
fn field_specs(fields: &[(u16, u16)]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|(ie, len)| [be16(*ie), be16(*len)].concat())
        .collect()
}

/// A v9 options template record (RFC 3954 §6.1): id, the scope and option
/// lengths in bytes, then the scope fields (type 1 is System) and the
/// option fields.
pub fn v9_options_template(id: u16, scope: &[(u16, u16)], options: &[(u16, u16)]) -> Vec<u8> {
    [
        &be16(id)[..],
        &be16(4 * scope.len() as u16),
        &be16(4 * options.len() as u16),
        &field_specs(scope),
        &field_specs(options),
    ]
    .concat()
}

/// An IPFIX options template record (RFC 7011 §3.4.2.2): id, field count,
/// scope field count, then the scope fields first.
pub fn ipfix_options_template(id: u16, scope: &[(u16, u16)], options: &[(u16, u16)]) -> Vec<u8> {
    [
        &be16(id)[..],
        &be16((scope.len() + options.len()) as u16),
        &be16(scope.len() as u16),
        &field_specs(scope),
        &field_specs(options),
    ]
    .concat()
}

/// The 5-tuple + counters template used throughout.
pub const BASIC: &[(u16, u16, Option<u32>)] = &[
    (8, 4, None),
    (12, 4, None),
    (7, 2, None),
    (11, 2, None),
    (4, 1, None),
    (2, 4, None),
    (1, 4, None),
];

/// A record of [`BASIC`] (TCP).
pub fn basic_record(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    packets: u32,
    bytes: u32,
) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&src);
    r.extend_from_slice(&dst);
    r.extend_from_slice(&be16(sport));
    r.extend_from_slice(&be16(dport));
    r.push(6);
    r.extend_from_slice(&be32(packets));
    r.extend_from_slice(&be32(bytes));
    r
}

/// `payload` in an IPv4 UDP packet from 192.0.2.1:50000 to 192.0.2.2:2055
/// (pcap link type 101, raw IP; the checksums are left at 0, which IPv4
/// allows for UDP and tshark does not verify by default).
pub fn raw_ip_udp(payload: &[u8]) -> Vec<u8> {
    let total = (28 + payload.len()) as u16;
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&be16(total));
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(&be16(50_000));
    f.extend_from_slice(&be16(2055));
    f.extend_from_slice(&be16((8 + payload.len()) as u16));
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

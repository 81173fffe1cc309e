//! UDP probe payloads: for well-known UDP services, a request the service
//! answers, so an open port proves itself with a reply instead of staying
//! `open|filtered`; and for each, a check that a reply has the protocol's
//! shape, which names the service.
//!
//! Every packet is built here, from its protocol's specification, by the
//! small encoders of this module (DNS wire format, BER for SNMP, and so on);
//! no other scanner's payload bytes are used. Each request carries an
//! identifier that a genuine reply echoes (DNS ID, SNMP request-id, NTP
//! transmit timestamp, IKE SPI, RPC XID, …), and the validator checks it.
//! A reply that fails its validator still makes the port `open` — something
//! answered — it just does not name the service.
//!
//! | port  | service        | request                                          | a reply must                                   |
//! |-------|----------------|--------------------------------------------------|------------------------------------------------|
//! | 53    | `domain`       | `version.bind` CH TXT, RD=0 (RFC 1035, 4892)     | echo the ID, have QR set                       |
//! | 69    | `tftp`         | RRQ for a random file name, octet (RFC 1350)     | be DATA or ERROR                               |
//! | 111   | `rpcbind`      | ONC RPC NULL call to program 100000 v2 (RFC 5531)| echo the XID, be a REPLY                       |
//! | 123   | `ntp`          | NTPv4 client-mode request (RFC 5905)             | be server mode, echo our transmit timestamp    |
//! | 137   | `netbios-ns`   | NBSTAT query for `*` (RFC 1002)                  | echo the ID, be a response                     |
//! | 161   | `snmp`         | GetRequest sysDescr.0, community `public`, v2c then v1 (RFC 3416, 1157) | be a GetResponse with our request-id |
//! | 500   | `isakmp`       | IKEv2 IKE_SA_INIT (RFC 7296)                     | echo our initiator SPI                         |
//! | 1194  | `openvpn`      | P_CONTROL_HARD_RESET_CLIENT_V2                   | be a server hard reset acknowledging our session |
//! | 1900  | `upnp`         | SSDP M-SEARCH `ssdp:all` (UPnP Device Architecture) | be an HTTP/1.x response                     |
//! | 3702  | `ws-discovery` | WS-Discovery Probe (SOAP 1.2)                    | be a SOAP envelope relating to our MessageID   |
//! | 5060  | `sip`          | OPTIONS (RFC 3261)                               | be a SIP/2.0 response                          |
//! | 5353  | `mdns`         | PTR `_services._dns-sd._udp.local` (RFC 6762/6763) | echo the ID (or 0), have QR set              |
//! | 5683  | `coap`         | CON GET `/.well-known/core` (RFC 7252, 6690)     | be an ACK or RST with our message ID           |
//! | 11211 | `memcache`     | UDP frame header + `version\r\n`                 | echo the request ID, be a memcached reply      |
//!
//! Choices worth knowing:
//!
//! - **DNS** asks `version.bind` in class CHAOS rather than `.` NS: every
//!   DNS server answers it somehow (the version, REFUSED or NOTIMP — any of
//!   them proves a DNS server), it does not send a recursive resolver out
//!   to the internet on our behalf (recursion is not requested, and servers
//!   answer `version.bind` themselves), and when answered it names the
//!   product and version for service identification.
//! - **memcached** gets `version`, not `stats`: memcached over UDP is a
//!   notorious amplifier, and a scanner should not be the one to trigger a
//!   large reply.
//! - **SNMP** sends a v2c GetRequest and then a v1 one on the same socket;
//!   an agent answers whichever version it speaks.
//! - **IKE** speaks IKEv2 (IKEv1 is obsolete, RFC 9395): one proposal
//!   (AES-CBC-128, HMAC-SHA2-256, group 14) with a key-exchange value and
//!   nonce. A responder answers with its own SA, INVALID_KE_PAYLOAD,
//!   NO_PROPOSAL_CHOSEN or a COOKIE request — all echo our SPI.
//! - **TFTP** replies come from a fresh server port (the server's new
//!   transfer identifier). The connected-socket engine cannot see those, so
//!   an open TFTP server stays `open|filtered` there; the payload and
//!   validator are kept for engines that can.
//! - **WireGuard** (51820) has no payload: a WireGuard peer never answers a
//!   packet it cannot authenticate, by design, so it is `open|filtered`
//!   whatever is sent. A closed port still answers port-unreachable.
//! - **QUIC** (443) and **DHCP** (67) are not probed: a valid QUIC Initial
//!   needs real TLS and packet protection, and DHCP is a broadcast protocol.

use std::sync::LazyLock;

/// DNS header ID of the `version.bind` query.
const DNS_ID: u16 = 0x7072;
/// DNS header ID of the mDNS query (legacy unicast replies echo it).
const MDNS_ID: u16 = 0x7073;
/// NetBIOS name-service transaction ID.
const NBNS_ID: u16 = 0x7074;
/// SNMP request-ids, one per version.
const SNMP_V2C_ID: i64 = 0x7072_0002;
const SNMP_V1_ID: i64 = 0x7072_0001;
/// NTP transmit timestamp of the request; a server copies it into the
/// reply's origin timestamp.
const NTP_NONCE: [u8; 8] = *b"portreev";
/// memcached UDP frame request ID.
const MEMCACHE_ID: u16 = 0x7075;
/// IKE initiator SPI.
const IKE_SPI: [u8; 8] = *b"prtreeve";
/// ONC RPC transaction ID.
const RPC_XID: u32 = 0x7072_7463;
/// CoAP message ID.
const COAP_MID: u16 = 0x7076;
/// OpenVPN client session ID.
const OPENVPN_SESSION: [u8; 8] = *b"portreve";
/// WS-Discovery MessageID.
const WSD_MESSAGE_ID: &str = "urn:uuid:7072742d-7265-4576-a500-706f72747265";

/// One service's probe: the datagrams to send and how to recognise its reply.
struct Probe {
    port: u16,
    service: &'static str,
    datagrams: Vec<Vec<u8>>,
    reply: fn(&[u8]) -> bool,
}

static PROBES: LazyLock<Vec<Probe>> = LazyLock::new(|| {
    vec![
        Probe {
            port: 53,
            service: "domain",
            datagrams: vec![dns_version_bind()],
            reply: |r| dns_reply(r, &[DNS_ID]),
        },
        Probe {
            port: 69,
            service: "tftp",
            datagrams: vec![tftp_read_request()],
            reply: tftp_reply,
        },
        Probe {
            port: 111,
            service: "rpcbind",
            datagrams: vec![rpc_null_call()],
            reply: rpc_reply,
        },
        Probe {
            port: 123,
            service: "ntp",
            datagrams: vec![ntp_client_request()],
            reply: ntp_reply,
        },
        Probe {
            port: 137,
            service: "netbios-ns",
            datagrams: vec![netbios_nbstat()],
            reply: netbios_reply,
        },
        Probe {
            port: 161,
            service: "snmp",
            datagrams: vec![
                snmp_get(1, "public", SNMP_V2C_ID, SYS_DESCR),
                snmp_get(0, "public", SNMP_V1_ID, SYS_DESCR),
            ],
            reply: snmp_reply,
        },
        Probe {
            port: 500,
            service: "isakmp",
            datagrams: vec![ike_sa_init()],
            reply: ike_reply,
        },
        Probe {
            port: 1194,
            service: "openvpn",
            datagrams: vec![openvpn_hard_reset()],
            reply: openvpn_reply,
        },
        Probe {
            port: 1900,
            service: "upnp",
            datagrams: vec![ssdp_msearch()],
            reply: ssdp_reply,
        },
        Probe {
            port: 3702,
            service: "ws-discovery",
            datagrams: vec![ws_discovery_probe()],
            reply: ws_discovery_reply,
        },
        Probe {
            port: 5060,
            service: "sip",
            datagrams: vec![sip_options()],
            reply: sip_reply,
        },
        Probe {
            port: 5353,
            service: "mdns",
            datagrams: vec![mdns_services_query()],
            reply: |r| dns_reply(r, &[MDNS_ID, 0]),
        },
        Probe {
            port: 5683,
            service: "coap",
            datagrams: vec![coap_well_known_core()],
            reply: coap_reply,
        },
        Probe {
            port: 11211,
            service: "memcache",
            datagrams: vec![memcache_version()],
            reply: memcache_reply,
        },
    ]
});

fn find(port: u16) -> Option<&'static Probe> {
    PROBES.iter().find(|p| p.port == port)
}

/// Every datagram to send to `port`, in order (empty when the port has no
/// payload: send one empty datagram then).
pub fn payloads(port: u16) -> &'static [Vec<u8>] {
    find(port).map_or(&[], |p| p.datagrams.as_slice())
}

/// The (first) payload for `port`, if it has one.
pub fn payload(port: u16) -> Option<&'static [u8]> {
    payloads(port).first().map(Vec::as_slice)
}

/// The nmap service name a reply on `port` proves, when it has the shape
/// of a reply to this module's request (identifiers echoed and all).
pub fn service_for_reply(port: u16, reply: &[u8]) -> Option<&'static str> {
    find(port).filter(|p| (p.reply)(reply)).map(|p| p.service)
}

/// The ports that have a payload, ascending.
pub fn ports() -> impl Iterator<Item = u16> {
    PROBES.iter().map(|p| p.port)
}

// ---------------------------------------------------------------------------
// DNS (RFC 1035), mDNS (RFC 6762), NetBIOS (RFC 1002)

const DNS_TYPE_PTR: u16 = 12;
const DNS_TYPE_TXT: u16 = 16;
const DNS_CLASS_IN: u16 = 1;
const DNS_CLASS_CH: u16 = 3;

/// Appends `name` in DNS wire format: length-prefixed labels, then the root.
fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).expect("DNS labels are at most 63 bytes"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// A DNS message header with one question and no records.
fn dns_header(id: u16, flags: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&[0; 6]); // ANCOUNT, NSCOUNT, ARCOUNT
    m
}

fn dns_query(id: u16, name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    // Flags 0: a standard query (opcode 0), recursion not desired.
    let mut m = dns_header(id, 0);
    dns_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    m
}

fn dns_version_bind() -> Vec<u8> {
    dns_query(DNS_ID, "version.bind", DNS_TYPE_TXT, DNS_CLASS_CH)
}

fn mdns_services_query() -> Vec<u8> {
    dns_query(
        MDNS_ID,
        "_services._dns-sd._udp.local",
        DNS_TYPE_PTR,
        DNS_CLASS_IN,
    )
}

/// A DNS response (QR set, opcode QUERY) with one of `ids`.
fn dns_reply(r: &[u8], ids: &[u16]) -> bool {
    r.len() >= 12
        && ids.contains(&u16::from_be_bytes([r[0], r[1]]))
        && r[2] & 0x80 != 0
        && (r[2] >> 3) & 0x0f == 0
}

/// The first-level encoding of a NetBIOS name (RFC 1001 §14.1): each of
/// the 16 bytes as two letters `A`+nibble, as one 32-byte DNS label.
fn netbios_name(name: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(34);
    out.push(32);
    for b in name {
        out.push(b'A' + (b >> 4));
        out.push(b'A' + (b & 0x0f));
    }
    out.push(0);
    out
}

fn netbios_nbstat() -> Vec<u8> {
    // Unicast (B flag clear) name query, no recursion.
    let mut m = dns_header(NBNS_ID, 0);
    let mut star = [0u8; 16];
    star[0] = b'*';
    m.extend_from_slice(&netbios_name(&star));
    m.extend_from_slice(&0x0021u16.to_be_bytes()); // NBSTAT
    m.extend_from_slice(&DNS_CLASS_IN.to_be_bytes());
    m
}

fn netbios_reply(r: &[u8]) -> bool {
    r.len() >= 12 && u16::from_be_bytes([r[0], r[1]]) == NBNS_ID && r[2] & 0x80 != 0
}

// ---------------------------------------------------------------------------
// NTP (RFC 5905)

fn ntp_client_request() -> Vec<u8> {
    let mut m = vec![0u8; 48];
    m[0] = 4 << 3 | 3; // LI 0, version 4, mode 3 (client)
    m[40..48].copy_from_slice(&NTP_NONCE); // transmit timestamp
    m
}

fn ntp_reply(r: &[u8]) -> bool {
    r.len() >= 48
        && r[0] & 0x07 == 4
        && (1..=4).contains(&((r[0] >> 3) & 0x07))
        && r[24..32] == NTP_NONCE
}

// ---------------------------------------------------------------------------
// BER (ITU-T X.690), for SNMP

const BER_INTEGER: u8 = 0x02;
const BER_OCTET_STRING: u8 = 0x04;
const BER_NULL: u8 = 0x05;
const BER_OID: u8 = 0x06;
const BER_SEQUENCE: u8 = 0x30;
const SNMP_GET_REQUEST: u8 = 0xa0;
const SNMP_GET_RESPONSE: u8 = 0xa2;
/// sysDescr.0 (RFC 1213).
const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];

/// A TLV with a definite length (short form below 128, long form above).
fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// An INTEGER in the fewest two's-complement bytes.
fn ber_int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    ber(BER_INTEGER, &bytes[start..])
}

/// An OBJECT IDENTIFIER: the first two arcs as 40·a + b, then each arc in
/// base 128 with the high bit marking continuation.
fn ber_oid(arcs: &[u32]) -> Vec<u8> {
    let mut content = Vec::new();
    let mut push = |mut v: u32| {
        let mut digits = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            digits.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        content.extend(digits.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push(a);
    }
    ber(BER_OID, &content)
}

/// Reads one TLV: (tag, content, rest). Definite lengths only.
fn ber_read(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn ber_read_int(content: &[u8]) -> Option<i64> {
    if content.is_empty() || content.len() > 8 {
        return None;
    }
    let fill = if content[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut bytes = [fill; 8];
    bytes[8 - content.len()..].copy_from_slice(content);
    Some(i64::from_be_bytes(bytes))
}

/// An SNMP GetRequest for one variable (version 0 = v1, 1 = v2c).
fn snmp_get(version: i64, community: &str, request_id: i64, oid: &[u32]) -> Vec<u8> {
    let varbind = ber(BER_SEQUENCE, &[ber_oid(oid), ber(BER_NULL, &[])].concat());
    let pdu = ber(
        SNMP_GET_REQUEST,
        &[
            ber_int(request_id),
            ber_int(0), // error-status
            ber_int(0), // error-index
            ber(BER_SEQUENCE, &varbind),
        ]
        .concat(),
    );
    ber(
        BER_SEQUENCE,
        &[
            ber_int(version),
            ber(BER_OCTET_STRING, community.as_bytes()),
            pdu,
        ]
        .concat(),
    )
}

fn snmp_reply(r: &[u8]) -> bool {
    let parse = || -> Option<bool> {
        let (tag, msg, _) = ber_read(r)?;
        if tag != BER_SEQUENCE {
            return None;
        }
        let (tag, version, rest) = ber_read(msg)?;
        if tag != BER_INTEGER {
            return None;
        }
        let expected = match ber_read_int(version)? {
            0 => SNMP_V1_ID,
            1 => SNMP_V2C_ID,
            _ => return None,
        };
        let (tag, _community, rest) = ber_read(rest)?;
        if tag != BER_OCTET_STRING {
            return None;
        }
        let (tag, pdu, _) = ber_read(rest)?;
        if tag != SNMP_GET_RESPONSE {
            return None;
        }
        let (tag, id, _) = ber_read(pdu)?;
        Some(tag == BER_INTEGER && ber_read_int(id)? == expected)
    };
    parse() == Some(true)
}

// ---------------------------------------------------------------------------
// memcached (protocol.txt, "UDP protocol")

fn memcache_version() -> Vec<u8> {
    let mut m = Vec::with_capacity(17);
    m.extend_from_slice(&MEMCACHE_ID.to_be_bytes()); // request ID
    m.extend_from_slice(&0u16.to_be_bytes()); // sequence number
    m.extend_from_slice(&1u16.to_be_bytes()); // datagrams in this message
    m.extend_from_slice(&0u16.to_be_bytes()); // reserved
    m.extend_from_slice(b"version\r\n");
    m
}

fn memcache_reply(r: &[u8]) -> bool {
    r.len() > 8
        && u16::from_be_bytes([r[0], r[1]]) == MEMCACHE_ID
        && [&b"VERSION "[..], b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR"]
            .iter()
            .any(|p| r[8..].starts_with(p))
}

// ---------------------------------------------------------------------------
// SSDP (UPnP Device Architecture 1.1 §1.3.2), SIP (RFC 3261),
// WS-Discovery (OASIS WS-Discovery 1.0, SOAP 1.2)

fn ssdp_msearch() -> Vec<u8> {
    b"M-SEARCH * HTTP/1.1\r\n\
      HOST: 239.255.255.250:1900\r\n\
      MAN: \"ssdp:discover\"\r\n\
      MX: 1\r\n\
      ST: ssdp:all\r\n\
      \r\n"
        .to_vec()
}

fn ssdp_reply(r: &[u8]) -> bool {
    r.len() >= 12 && r[..7].eq_ignore_ascii_case(b"HTTP/1.") && r[8] == b' '
}

fn sip_options() -> Vec<u8> {
    b"OPTIONS sip:probe@portreeve.invalid SIP/2.0\r\n\
      Via: SIP/2.0/UDP portreeve.invalid;branch=z9hG4bK-portreeve-1;rport\r\n\
      Max-Forwards: 70\r\n\
      From: <sip:scanner@portreeve.invalid>;tag=portreeve\r\n\
      To: <sip:probe@portreeve.invalid>\r\n\
      Call-ID: portreeve-probe@portreeve.invalid\r\n\
      CSeq: 1 OPTIONS\r\n\
      Accept: application/sdp\r\n\
      Content-Length: 0\r\n\
      \r\n"
        .to_vec()
}

fn sip_reply(r: &[u8]) -> bool {
    r.len() >= 12
        && r[..8].eq_ignore_ascii_case(b"SIP/2.0 ")
        && r[8..11].iter().all(u8::is_ascii_digit)
}

fn ws_discovery_probe() -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05-soap-envelope\" \
xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
xmlns:wsd=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\">\
<soap:Header>\
<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>\
<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>\
<wsa:MessageID>{WSD_MESSAGE_ID}</wsa:MessageID>\
</soap:Header>\
<soap:Body><wsd:Probe/></soap:Body>\
</soap:Envelope>"
    )
    .into_bytes()
}

fn ws_discovery_reply(r: &[u8]) -> bool {
    let has = |needle: &[u8]| r.windows(needle.len()).any(|w| w == needle);
    has(b"Envelope") && has(WSD_MESSAGE_ID.as_bytes())
}

// ---------------------------------------------------------------------------
// IKEv2 (RFC 7296)

const IKE_PAYLOAD_SA: u8 = 33;
const IKE_PAYLOAD_KE: u8 = 34;
const IKE_PAYLOAD_NONCE: u8 = 40;
const IKE_SA_INIT: u8 = 34;
const IKE_DH_GROUP_14: u16 = 14;

/// A transform substructure: (type, id, attributes).
fn ike_transform(last: bool, kind: u8, id: u16, attributes: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + attributes.len()).expect("transform fits");
    let mut t = vec![if last { 0 } else { 3 }, 0];
    t.extend_from_slice(&len.to_be_bytes());
    t.extend_from_slice(&[kind, 0]);
    t.extend_from_slice(&id.to_be_bytes());
    t.extend_from_slice(attributes);
    t
}

/// A generic payload: header (next payload, flags, length) and body.
fn ike_payload(next: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(4 + body.len()).expect("payload fits");
    let mut p = vec![next, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// Deterministic filler bytes (splitmix64): key-exchange value and nonce.
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_be_bytes());
    }
    out.truncate(len);
    out
}

fn ike_sa_init() -> Vec<u8> {
    let key_length_128 = [0x80, 14, 0, 128]; // attribute TV: Key Length = 128
    let transforms = [
        ike_transform(false, 1, 12, &key_length_128), // ENCR_AES_CBC
        ike_transform(false, 2, 5, &[]),              // PRF_HMAC_SHA2_256
        ike_transform(false, 3, 12, &[]),             // AUTH_HMAC_SHA2_256_128
        ike_transform(true, 4, IKE_DH_GROUP_14, &[]), // 2048-bit MODP
    ]
    .concat();
    let proposal_len = u16::try_from(8 + transforms.len()).expect("proposal fits");
    let mut proposal = vec![0, 0]; // last proposal, reserved
    proposal.extend_from_slice(&proposal_len.to_be_bytes());
    proposal.extend_from_slice(&[1, 1, 0, 4]); // #1, protocol IKE, no SPI, 4 transforms
    proposal.extend_from_slice(&transforms);

    // A public value below the group's prime (whose top bits are all ones).
    let mut ke_value = filler(0x6b65, 256);
    ke_value[0] &= 0x7f;
    let mut ke = IKE_DH_GROUP_14.to_be_bytes().to_vec();
    ke.extend_from_slice(&[0, 0]);
    ke.extend_from_slice(&ke_value);

    let body = [
        ike_payload(IKE_PAYLOAD_KE, &proposal),
        ike_payload(IKE_PAYLOAD_NONCE, &ke),
        ike_payload(0, &filler(0x6e6f, 32)),
    ]
    .concat();
    let mut m = Vec::with_capacity(28 + body.len());
    m.extend_from_slice(&IKE_SPI); // initiator SPI
    m.extend_from_slice(&[0; 8]); // responder SPI
    m.extend_from_slice(&[IKE_PAYLOAD_SA, 0x20, IKE_SA_INIT, 0x08]); // version 2.0, initiator
    m.extend_from_slice(&0u32.to_be_bytes()); // message ID
    let len = u32::try_from(28 + body.len()).expect("message fits");
    m.extend_from_slice(&len.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

fn ike_reply(r: &[u8]) -> bool {
    r.len() >= 28 && r[..8] == IKE_SPI && matches!(r[17] >> 4, 1 | 2)
}

// ---------------------------------------------------------------------------
// ONC RPC (RFC 5531), TFTP (RFC 1350), CoAP (RFC 7252), OpenVPN

fn rpc_null_call() -> Vec<u8> {
    let words: [u32; 10] = [
        RPC_XID, // transaction ID
        0,       // message type: CALL
        2,       // RPC version
        100_000, // program: portmapper / rpcbind
        2,       // program version
        0,       // procedure: NULL
        0,       // credential flavour: AUTH_NONE
        0,       // credential length
        0,       // verifier flavour: AUTH_NONE
        0,       // verifier length
    ];
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn rpc_reply(r: &[u8]) -> bool {
    r.len() >= 24 && r[..4] == RPC_XID.to_be_bytes() && r[4..8] == 1u32.to_be_bytes()
}

static TFTP_FILE: LazyLock<String> = LazyLock::new(|| {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let noise = filler(nanos ^ u64::from(std::process::id()), 8);
    let hex: String = noise.iter().map(|b| format!("{b:02x}")).collect();
    format!("portreeve-{hex}")
});

fn tftp_read_request() -> Vec<u8> {
    let mut m = 1u16.to_be_bytes().to_vec(); // RRQ
    m.extend_from_slice(TFTP_FILE.as_bytes());
    m.push(0);
    m.extend_from_slice(b"octet");
    m.push(0);
    m
}

fn tftp_reply(r: &[u8]) -> bool {
    r.len() >= 4 && r[0] == 0 && matches!(r[1], 3 | 5)
}

fn coap_well_known_core() -> Vec<u8> {
    let mut m = vec![0x40, 0x01]; // version 1, confirmable, no token; GET
    m.extend_from_slice(&COAP_MID.to_be_bytes());
    m.push(0xb0 | 11); // option 11 (Uri-Path), length 11
    m.extend_from_slice(b".well-known");
    m.push(0x04); // option delta 0 (Uri-Path again), length 4
    m.extend_from_slice(b"core");
    m
}

fn coap_reply(r: &[u8]) -> bool {
    r.len() >= 4
        && r[0] >> 6 == 1
        && matches!((r[0] >> 4) & 3, 2 | 3)
        && r[2..4] == COAP_MID.to_be_bytes()
}

fn openvpn_hard_reset() -> Vec<u8> {
    let mut m = vec![7 << 3]; // P_CONTROL_HARD_RESET_CLIENT_V2, key id 0
    m.extend_from_slice(&OPENVPN_SESSION);
    m.push(0); // no acknowledgements
    m.extend_from_slice(&0u32.to_be_bytes()); // message packet-id
    m
}

fn openvpn_reply(r: &[u8]) -> bool {
    // P_CONTROL_HARD_RESET_SERVER_V2, acknowledging our session somewhere
    // after its own (before or after a tls-auth HMAC).
    r.len() >= 14 && r[0] >> 3 == 8 && r[9..].windows(8).any(|w| w == OPENVPN_SESSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], i: usize) -> u16 {
        u16::from_be_bytes([b[i], b[i + 1]])
    }

    /// Walks a DNS question section: (name labels, qtype, qclass, bytes used).
    fn dns_question(b: &[u8]) -> (Vec<String>, u16, u16, usize) {
        let mut i = 12;
        let mut labels = Vec::new();
        while b[i] != 0 {
            let n = usize::from(b[i]);
            assert!(n <= 63, "label length");
            labels.push(String::from_utf8(b[i + 1..i + 1 + n].to_vec()).unwrap());
            i += 1 + n;
        }
        i += 1;
        (labels, u16_at(b, i), u16_at(b, i + 2), i + 4)
    }

    /// Every TLV well formed, nested constructed types included; returns
    /// the leaves' (tag, content) in order.
    fn ber_walk(mut b: &[u8], leaves: &mut Vec<(u8, Vec<u8>)>) {
        while !b.is_empty() {
            let (tag, content, rest) = ber_read(b).expect("well-formed TLV");
            if tag & 0x20 != 0 {
                ber_walk(content, leaves);
            } else {
                leaves.push((tag, content.to_vec()));
            }
            b = rest;
        }
    }

    #[test]
    fn every_payload_port_has_a_datagram_and_ports_are_unique() {
        let mut ports: Vec<u16> = ports().collect();
        assert!(ports.len() >= 14);
        for &p in &ports {
            assert!(payload(p).is_some_and(|d| !d.is_empty()), "port {p}");
            assert!(payloads(p).iter().all(|d| d.len() <= 1200), "fits any path");
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), PROBES.len());
        assert_eq!(payload(51820), None, "WireGuard never answers");
        assert!(payloads(9).is_empty());
        assert_eq!(service_for_reply(9, b"anything"), None);
    }

    #[test]
    fn dns_asks_version_bind_in_chaos_without_recursion() {
        let q = payload(53).unwrap();
        assert_eq!(u16_at(q, 0), DNS_ID);
        assert_eq!(u16_at(q, 2), 0, "standard query, RD clear");
        assert_eq!(
            [u16_at(q, 4), u16_at(q, 6), u16_at(q, 8), u16_at(q, 10)],
            [1, 0, 0, 0]
        );
        let (labels, qtype, qclass, used) = dns_question(q);
        assert_eq!(labels, ["version", "bind"]);
        assert_eq!((qtype, qclass), (16, 3));
        assert_eq!(used, q.len());
    }

    #[test]
    fn dns_replies_must_echo_the_id_and_be_responses() {
        let q = payload(53).unwrap();
        let mut refused = q.to_vec();
        refused[2] = 0x80; // QR
        refused[3] = 0x05; // REFUSED
        assert_eq!(service_for_reply(53, &refused), Some("domain"));
        let mut answer = q.to_vec();
        answer[2] = 0x84; // QR, AA
        answer[7] = 1; // ANCOUNT 1
        answer.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 3, 0, 0, 0, 0, 0, 6, 5]);
        answer.extend_from_slice(b"9.18.");
        assert_eq!(service_for_reply(53, &answer), Some("domain"));
        assert_eq!(service_for_reply(53, q), None, "a query echoed is no reply");
        let mut wrong_id = refused.clone();
        wrong_id[1] ^= 1;
        assert_eq!(service_for_reply(53, &wrong_id), None);
        assert_eq!(service_for_reply(53, &refused[..11]), None);
    }

    #[test]
    fn mdns_asks_for_the_service_list() {
        let q = payload(5353).unwrap();
        assert_eq!(u16_at(q, 0), MDNS_ID);
        assert_eq!(u16_at(q, 4), 1);
        let (labels, qtype, qclass, used) = dns_question(q);
        assert_eq!(labels, ["_services", "_dns-sd", "_udp", "local"]);
        assert_eq!((qtype, qclass), (12, 1));
        assert_eq!(used, q.len());
        let mut reply = q.to_vec();
        reply[2] = 0x84;
        assert_eq!(service_for_reply(5353, &reply), Some("mdns"));
        reply[0..2].copy_from_slice(&[0, 0]);
        assert_eq!(
            service_for_reply(5353, &reply),
            Some("mdns"),
            "multicast-style ID 0"
        );
        reply[0..2].copy_from_slice(&[1, 2]);
        assert_eq!(service_for_reply(5353, &reply), None);
    }

    #[test]
    fn netbios_asks_nbstat_for_star() {
        let q = payload(137).unwrap();
        assert_eq!(q.len(), 50);
        assert_eq!(u16_at(q, 0), NBNS_ID);
        assert_eq!(u16_at(q, 2), 0, "unicast query");
        assert_eq!(u16_at(q, 4), 1);
        assert_eq!(q[12], 32);
        assert_eq!(&q[13..15], b"CK", "'*' = 0x2A");
        assert!(q[15..45].iter().all(|&b| b == b'A'), "NUL padding");
        assert_eq!(q[45], 0);
        assert_eq!((u16_at(q, 46), u16_at(q, 48)), (0x21, 1));
        let mut reply = q.to_vec();
        reply[2] = 0x84;
        reply[7] = 1;
        assert_eq!(service_for_reply(137, &reply), Some("netbios-ns"));
        assert_eq!(service_for_reply(137, q), None);
    }

    #[test]
    fn ntp_is_a_v4_client_request_and_replies_echo_its_timestamp() {
        let q = payload(123).unwrap();
        assert_eq!(q.len(), 48);
        assert_eq!(q[0] >> 6, 0, "LI");
        assert_eq!((q[0] >> 3) & 7, 4, "version");
        assert_eq!(q[0] & 7, 3, "client mode");
        assert_eq!(&q[40..48], &NTP_NONCE);
        let mut reply = vec![0u8; 48];
        reply[0] = 4 << 3 | 4; // server
        reply[1] = 2; // stratum
        reply[24..32].copy_from_slice(&NTP_NONCE);
        assert_eq!(service_for_reply(123, &reply), Some("ntp"));
        reply[24] ^= 1;
        assert_eq!(service_for_reply(123, &reply), None, "origin mismatch");
        assert_eq!(service_for_reply(123, q), None, "client mode");
    }

    #[test]
    fn ber_encoder_follows_x690() {
        assert_eq!(ber_int(0), [2, 1, 0]);
        assert_eq!(ber_int(127), [2, 1, 0x7f]);
        assert_eq!(ber_int(128), [2, 2, 0, 0x80]);
        assert_eq!(ber_int(-1), [2, 1, 0xff]);
        assert_eq!(ber_int(-129), [2, 2, 0xff, 0x7f]);
        assert_eq!(ber_oid(SYS_DESCR), [6, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(
            ber_oid(&[1, 3, 6, 1, 4, 1, 311]),
            [6, 7, 0x2b, 6, 1, 4, 1, 0x82, 0x37]
        );
        let long = ber(4, &[0u8; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 1, 44]);
        let (tag, content, rest) = ber_read(&long).unwrap();
        assert_eq!((tag, content.len(), rest.len()), (4, 300, 0));
        for v in [0, 1, -1, 127, 128, 255, 256, -128, -129, i64::MAX, i64::MIN] {
            let enc = ber_int(v);
            assert_eq!(ber_read_int(ber_read(&enc).unwrap().1), Some(v));
        }
        assert_eq!(ber_read(&[0x30, 5, 1]), None, "truncated");
        assert_eq!(ber_read(&[0x30, 0x80]), None, "indefinite length");
    }

    #[test]
    fn snmp_sends_v2c_then_v1_get_sysdescr_public() {
        let both = payloads(161);
        assert_eq!(both.len(), 2);
        for (msg, (version, id)) in both.iter().zip([(1, SNMP_V2C_ID), (0, SNMP_V1_ID)]) {
            let (tag, _, rest) = ber_read(msg).unwrap();
            assert_eq!((tag, rest.len()), (0x30, 0), "one message, nothing after");
            let mut leaves = Vec::new();
            ber_walk(msg, &mut leaves);
            let expect: Vec<(u8, Vec<u8>)> = vec![
                (2, vec![version]),
                (4, b"public".to_vec()),
                (2, ber_int(id)[2..].to_vec()),
                (2, vec![0]),
                (2, vec![0]),
                (6, vec![0x2b, 6, 1, 2, 1, 1, 1, 0]),
                (5, vec![]),
            ];
            assert_eq!(leaves, expect);
            // The PDU is a GetRequest.
            let (_, inner, _) = ber_read(msg).unwrap();
            let (_, _, rest) = ber_read(inner).unwrap();
            let (_, _, rest) = ber_read(rest).unwrap();
            assert_eq!(rest[0], 0xa0);
        }
    }

    /// A GetResponse carrying sysDescr, built as an agent would.
    fn snmp_response(version: i64, id: i64, tag: u8) -> Vec<u8> {
        let varbind = ber(
            BER_SEQUENCE,
            &[ber_oid(SYS_DESCR), ber(BER_OCTET_STRING, b"Linux box 6.1")].concat(),
        );
        let pdu = ber(
            tag,
            &[
                ber_int(id),
                ber_int(0),
                ber_int(0),
                ber(BER_SEQUENCE, &varbind),
            ]
            .concat(),
        );
        ber(
            BER_SEQUENCE,
            &[ber_int(version), ber(BER_OCTET_STRING, b"public"), pdu].concat(),
        )
    }

    #[test]
    fn snmp_replies_must_be_get_responses_with_our_request_id() {
        assert_eq!(
            service_for_reply(161, &snmp_response(1, SNMP_V2C_ID, 0xa2)),
            Some("snmp")
        );
        assert_eq!(
            service_for_reply(161, &snmp_response(0, SNMP_V1_ID, 0xa2)),
            Some("snmp")
        );
        assert_eq!(
            service_for_reply(161, &snmp_response(0, SNMP_V2C_ID, 0xa2)),
            None,
            "request-id of the other version"
        );
        assert_eq!(
            service_for_reply(161, &snmp_response(1, SNMP_V2C_ID, 0xa0)),
            None,
            "a request is no reply"
        );
        let r = snmp_response(1, SNMP_V2C_ID, 0xa2);
        assert_eq!(service_for_reply(161, &r[..r.len() - 3]), None, "truncated");
    }

    #[test]
    fn memcache_asks_version_in_a_udp_frame() {
        let q = payload(11211).unwrap();
        assert_eq!(
            (u16_at(q, 0), u16_at(q, 2), u16_at(q, 4), u16_at(q, 6)),
            (MEMCACHE_ID, 0, 1, 0)
        );
        assert_eq!(&q[8..], b"version\r\n");
        let mut reply = q[..8].to_vec();
        reply.extend_from_slice(b"VERSION 1.6.21\r\n");
        assert_eq!(service_for_reply(11211, &reply), Some("memcache"));
        reply[1] ^= 1;
        assert_eq!(service_for_reply(11211, &reply), None);
        assert_eq!(service_for_reply(11211, q), None, "a request is no reply");
    }

    #[test]
    fn ssdp_sip_and_ws_discovery_are_well_formed_text() {
        let ssdp = std::str::from_utf8(payload(1900).unwrap()).unwrap();
        assert!(ssdp.starts_with("M-SEARCH * HTTP/1.1\r\n"));
        assert!(ssdp.contains("\r\nMAN: \"ssdp:discover\"\r\n"));
        assert!(ssdp.contains("\r\nST: ssdp:all\r\n"));
        assert!(
            ssdp.ends_with("\r\n\r\n") && !ssdp.contains("\n ") && !ssdp.contains("\r\n\r\n\r\n")
        );
        assert_eq!(
            service_for_reply(1900, b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n"),
            Some("upnp")
        );
        assert_eq!(service_for_reply(1900, ssdp.as_bytes()), None);

        let sip = std::str::from_utf8(payload(5060).unwrap()).unwrap();
        assert!(sip.starts_with("OPTIONS sip:"));
        assert!(sip.ends_with("Content-Length: 0\r\n\r\n"));
        for header in [
            "Via:",
            "From:",
            "To:",
            "Call-ID:",
            "CSeq: 1 OPTIONS",
            "Max-Forwards:",
        ] {
            assert!(sip.contains(&format!("\r\n{header}")), "{header}");
        }
        assert!(sip.contains("branch=z9hG4bK"), "RFC 3261 magic cookie");
        assert_eq!(
            service_for_reply(5060, b"SIP/2.0 200 OK\r\nAllow: INVITE\r\n\r\n"),
            Some("sip")
        );
        assert_eq!(service_for_reply(5060, sip.as_bytes()), None);

        let wsd = std::str::from_utf8(payload(3702).unwrap()).unwrap();
        assert!(wsd.starts_with("<?xml"));
        assert!(wsd.contains("<wsd:Probe/>") && wsd.contains(WSD_MESSAGE_ID));
        assert_eq!(
            wsd.matches("<soap:").count(),
            wsd.matches("</soap:").count(),
            "every element closed"
        );
        let matches = format!(
            "<s:Envelope><s:Header><a:RelatesTo>{WSD_MESSAGE_ID}</a:RelatesTo></s:Header>\
             <s:Body><d:ProbeMatches/></s:Body></s:Envelope>"
        );
        assert_eq!(
            service_for_reply(3702, matches.as_bytes()),
            Some("ws-discovery")
        );
        assert_eq!(service_for_reply(3702, b"<s:Envelope/>"), None);
    }

    #[test]
    fn ike_sa_init_is_a_consistent_ikev2_message() {
        let m = payload(500).unwrap();
        assert_eq!(&m[..8], &IKE_SPI);
        assert_eq!(&m[8..16], &[0; 8], "responder SPI unknown yet");
        assert_eq!(m[16], IKE_PAYLOAD_SA);
        assert_eq!(m[17], 0x20, "version 2.0");
        assert_eq!(m[18], IKE_SA_INIT);
        assert_eq!(m[19], 0x08, "initiator");
        assert_eq!(
            u32::from_be_bytes(m[24..28].try_into().unwrap()) as usize,
            m.len()
        );
        // Walk the payload chain: SA → KE → Nonce → end, lengths adding up.
        let mut next = m[16];
        let mut at = 28;
        let mut seen = Vec::new();
        while next != 0 {
            seen.push(next);
            let len = usize::from(u16_at(m, at + 2));
            let body = &m[at + 4..at + len];
            match next {
                IKE_PAYLOAD_SA => {
                    assert_eq!(usize::from(u16_at(body, 2)), body.len(), "one proposal");
                    assert_eq!(&body[4..8], &[1, 1, 0, 4]);
                    let mut t = 8;
                    let mut kinds = Vec::new();
                    while t < body.len() {
                        kinds.push((body[t + 4], u16_at(body, t + 6)));
                        let more = body[t] == 3;
                        t += usize::from(u16_at(body, t + 2));
                        assert_eq!(more, t < body.len());
                    }
                    assert_eq!(kinds, [(1, 12), (2, 5), (3, 12), (4, 14)]);
                }
                IKE_PAYLOAD_KE => {
                    assert_eq!(u16_at(body, 0), 14);
                    assert_eq!(body.len(), 4 + 256, "2048-bit public value");
                    assert!(body[4] < 0x80, "below the prime");
                }
                IKE_PAYLOAD_NONCE => assert!((16..=256).contains(&body.len())),
                other => panic!("unexpected payload {other}"),
            }
            next = m[at];
            at += len;
        }
        assert_eq!(seen, [33, 34, 40]);
        assert_eq!(at, m.len());

        let mut reply = m[..28].to_vec();
        reply[8..16].copy_from_slice(b"respndr!");
        reply[19] = 0x20; // response
        assert_eq!(service_for_reply(500, &reply), Some("isakmp"));
        reply[0] ^= 1;
        assert_eq!(service_for_reply(500, &reply), None);
    }

    #[test]
    fn rpc_null_call_and_reply() {
        let q = payload(111).unwrap();
        let words: Vec<u32> = q
            .chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(words, [RPC_XID, 0, 2, 100000, 2, 0, 0, 0, 0, 0]);
        let mut reply = RPC_XID.to_be_bytes().to_vec();
        for w in [1u32, 0, 0, 0, 0] {
            // REPLY, MSG_ACCEPTED, verifier AUTH_NONE, SUCCESS
            reply.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(service_for_reply(111, &reply), Some("rpcbind"));
        assert_eq!(service_for_reply(111, q), None);
    }

    #[test]
    fn tftp_reads_a_random_file() {
        let q = payload(69).unwrap();
        assert_eq!(u16_at(q, 0), 1, "RRQ");
        let fields: Vec<&[u8]> = q[2..].split(|&b| b == 0).collect();
        assert_eq!(fields.len(), 3, "file NUL mode NUL");
        assert!(fields[0].starts_with(b"portreeve-") && fields[0].len() == 26);
        assert_eq!(fields[1], b"octet");
        assert!(fields[2].is_empty());
        assert_eq!(
            service_for_reply(69, b"\0\x05\0\x01File not found\0"),
            Some("tftp")
        );
        assert_eq!(service_for_reply(69, q), None);
    }

    #[test]
    fn coap_gets_well_known_core() {
        let q = payload(5683).unwrap();
        assert_eq!(q[0], 0x40, "version 1, CON, no token");
        assert_eq!(q[1], 0x01, "GET");
        assert_eq!(u16_at(q, 2), COAP_MID);
        // Options: (delta, length, value).
        let mut i = 4;
        let mut number = 0;
        let mut path = Vec::new();
        while i < q.len() {
            let (delta, len) = (q[i] >> 4, usize::from(q[i] & 0x0f));
            assert!(delta < 13 && len < 13, "no extended forms needed");
            number += delta;
            assert_eq!(number, 11, "Uri-Path");
            path.push(std::str::from_utf8(&q[i + 1..i + 1 + len]).unwrap());
            i += 1 + len;
        }
        assert_eq!(path, [".well-known", "core"]);
        let mut ack = vec![0x60, 0x45]; // ACK, 2.05 Content
        ack.extend_from_slice(&COAP_MID.to_be_bytes());
        assert_eq!(service_for_reply(5683, &ack), Some("coap"));
        assert_eq!(service_for_reply(5683, q), None, "CON is a request");
    }

    #[test]
    fn openvpn_hard_reset_and_server_reply() {
        let q = payload(1194).unwrap();
        assert_eq!(q.len(), 14);
        assert_eq!(q[0] >> 3, 7, "P_CONTROL_HARD_RESET_CLIENT_V2");
        assert_eq!(q[0] & 7, 0, "key id");
        assert_eq!(&q[1..9], &OPENVPN_SESSION);
        assert_eq!(q[9], 0, "no acks");
        let mut reply = vec![8 << 3];
        reply.extend_from_slice(b"srvsessn");
        reply.push(1); // one ack
        reply.extend_from_slice(&0u32.to_be_bytes());
        reply.extend_from_slice(&OPENVPN_SESSION);
        reply.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(service_for_reply(1194, &reply), Some("openvpn"));
        reply[0] = 7 << 3;
        assert_eq!(service_for_reply(1194, &reply), None);
    }
}

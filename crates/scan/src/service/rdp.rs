//! RDP ([MS-RDPBCGR] §2.2.1.1–2): an X.224 Connection Request in a TPKT
//! (RFC 1006) carrying an `RDP_NEG_REQ` that offers TLS and CredSSP. An
//! X.224 Connection Confirm back is an RDP server; its `RDP_NEG_RSP` says
//! which security it chose (CredSSP means Network Level Authentication:
//! credentials before any desktop).

use crate::model::ServiceInfo;

use super::io::{Session, Verdict, exchange};
use super::parse::{Cursor, Parsed};

const PROTOCOL_SSL: u32 = 0x1;
const PROTOCOL_HYBRID: u32 = 0x2;

/// The Connection Request.
pub(crate) fn request() -> Vec<u8> {
    let mut m = vec![
        0x03, 0x00, 0x00, 0x13, // TPKT: version 3, length 19
        0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224 CR, LI 14
        0x01, 0x00, 0x08, 0x00, // RDP_NEG_REQ, flags, length 8
    ];
    m.extend_from_slice(&(PROTOCOL_SSL | PROTOCOL_HYBRID).to_le_bytes());
    m
}

/// What the Connection Confirm said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// No negotiation data: an old server, standard RDP security.
    Legacy,
    /// `RDP_NEG_RSP` with the selected protocol.
    Selected(u32),
    /// `RDP_NEG_FAILURE` with its code.
    Failure(u32),
}

/// Parses the Connection Confirm.
pub(crate) fn parse(buf: &[u8]) -> Parsed<Confirm> {
    let mut c = Cursor::new(buf);
    let (Some(version), Some(_reserved), Some(len)) = (c.u8(), c.u8(), c.be_u16()) else {
        return if buf.first().is_none_or(|&v| v == 3) {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    };
    if version != 3 || !(11..=512).contains(&len) {
        return Parsed::Invalid;
    }
    let Some(tpdu) = buf.get(4..usize::from(len)) else {
        return Parsed::Incomplete;
    };
    let mut c = Cursor::new(tpdu);
    let (Some(li), Some(code)) = (c.u8(), c.u8()) else {
        return Parsed::Invalid;
    };
    // CC is 0xD0 (the low nibble is the credit); the header is 7 bytes.
    if code & 0xf0 != 0xd0 || usize::from(li) + 1 > tpdu.len() || li < 6 {
        return Parsed::Invalid;
    }
    let Some(_) = c.skip(5) else {
        return Parsed::Invalid;
    };
    let Some(kind) = c.u8() else {
        return Parsed::Done(Confirm::Legacy);
    };
    let (Some(_flags), Some(8), Some(value)) = (c.u8(), c.le_u16(), c.le_u32()) else {
        return Parsed::Invalid;
    };
    match kind {
        0x02 => Parsed::Done(Confirm::Selected(value)),
        0x03 => Parsed::Done(Confirm::Failure(value)),
        _ => Parsed::Invalid,
    }
}

/// The service described by the confirm.
pub(crate) fn describe(confirm: &Confirm) -> ServiceInfo {
    let security = match confirm {
        Confirm::Legacy | Confirm::Selected(0) => "standard RDP security".to_string(),
        Confirm::Selected(1) => "TLS".to_string(),
        Confirm::Selected(2) => "CredSSP (NLA)".to_string(),
        Confirm::Selected(8) => "CredSSP with Early User Auth".to_string(),
        Confirm::Selected(p) => format!("protocol {p:#x}"),
        Confirm::Failure(1) => "requires TLS".to_string(),
        Confirm::Failure(2 | 5) => "requires CredSSP (NLA)".to_string(),
        Confirm::Failure(f) => format!("negotiation failure {f}"),
    };
    ServiceInfo {
        name: "ms-wbt-server".into(),
        extra: Some(format!("security: {security}")),
        ..ServiceInfo::default()
    }
}

/// The probe.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    exchange(&mut s, &request(), session.timeout, |b, _| parse(b)).into_verdict(|c| {
        let mut info = describe(&c);
        info.method = "probe:rdp".into();
        Verdict::Found(info)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let r = request();
        assert_eq!(r.len(), 19);
        assert_eq!(usize::from(r[4]) + 5, r.len());
    }

    #[test]
    fn confirms() {
        let nla = b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00";
        assert_eq!(parse(nla), Parsed::Done(Confirm::Selected(2)));
        assert_eq!(
            describe(&Confirm::Selected(2)).extra.as_deref(),
            Some("security: CredSSP (NLA)")
        );
        let fail = b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x03\x00\x08\x00\x05\x00\x00\x00";
        assert_eq!(parse(fail), Parsed::Done(Confirm::Failure(5)));
        let legacy = b"\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00";
        assert_eq!(parse(legacy), Parsed::Done(Confirm::Legacy));
        assert_eq!(parse(&nla[..10]), Parsed::Incomplete);
        assert_eq!(parse(b"\x03"), Parsed::Incomplete);
        assert_eq!(parse(b"HTTP/1.1 400"), Parsed::Invalid);
        assert_eq!(
            parse(b"\x03\x00\x00\x0b\x06\xe0\x00\x00\x12\x34\x00"),
            Parsed::Invalid
        );
        assert_eq!(describe(&Confirm::Legacy).name, "ms-wbt-server");
    }
}

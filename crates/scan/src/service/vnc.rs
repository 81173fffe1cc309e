//! VNC: the RFB protocol (RFC 6143). The server speaks first with its
//! version (`RFB 003.008\n`); after the client answers with a version, a
//! 3.7+ server lists its security types (3.3 servers pick one). Type 1,
//! "None", lets anyone in.

use std::time::Duration;

use crate::model::ServiceInfo;

use super::io::{Reply, Stream, exchange};
use super::parse::{Cursor, Parsed, clean_text};

/// The server's protocol version, `(major, minor)`.
pub(crate) fn parse_banner(buf: &[u8]) -> Parsed<(u16, u16)> {
    const SHAPE: &[u8] = b"RFB 000.000\n";
    if buf.len() < SHAPE.len() {
        let plausible = buf.iter().zip(SHAPE).all(|(&b, &s)| match s {
            b'0' => b.is_ascii_digit(),
            _ => b == s,
        });
        return if plausible {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    }
    let number = |r: std::ops::Range<usize>| -> Option<u16> {
        std::str::from_utf8(buf.get(r)?).ok()?.parse().ok()
    };
    match (&buf[..4], number(4..7), buf[7], number(8..11), buf[11]) {
        (b"RFB ", Some(major), b'.', Some(minor), b'\n') => Parsed::Done((major, minor)),
        _ => Parsed::Invalid,
    }
}

/// What the client answers: the server's version, or 3.8 if it is newer
/// (or a vendor's oddity such as Apple's 3.889).
pub(crate) fn client_version((major, minor): (u16, u16)) -> &'static [u8] {
    match (major, minor) {
        (3, 3) => b"RFB 003.003\n",
        (3, 7) => b"RFB 003.007\n",
        (3, 4..=6) => b"RFB 003.003\n",
        _ => b"RFB 003.008\n",
    }
}

/// The security handshake's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// Types offered (3.7+) or chosen (3.3).
    Types(Vec<u8>),
    /// The server refused the connection, with its reason.
    Refused(String),
}

/// Parses the security types (3.7+: count, types; count 0: reason) or the
/// one type a 3.3 server decided (a 32-bit number; 0: reason).
pub(crate) fn parse_security(buf: &[u8], v33: bool) -> Parsed<Security> {
    let mut c = Cursor::new(buf);
    let count = if v33 {
        match c.be_u32() {
            None => return Parsed::Incomplete,
            Some(0) => 0,
            Some(t) => {
                return u8::try_from(t)
                    .map_or(Parsed::Invalid, |t| Parsed::Done(Security::Types(vec![t])));
            }
        }
    } else {
        match c.u8() {
            None => return Parsed::Incomplete,
            Some(n) => usize::from(n),
        }
    };
    if count == 0 {
        return match c.be_u32() {
            None => Parsed::Incomplete,
            Some(n) if n > 4096 => Parsed::Invalid,
            Some(n) => match c.take(n as usize) {
                None => Parsed::Incomplete,
                Some(r) => Parsed::Done(Security::Refused(clean_text(r, 120))),
            },
        };
    }
    match c.take(count) {
        None => Parsed::Incomplete,
        Some(t) => Parsed::Done(Security::Types(t.to_vec())),
    }
}

/// The name of a security type (RFC 6143 §7.1.2 and the IANA registry).
fn type_name(t: u8) -> String {
    match t {
        1 => "None".into(),
        2 => "VNC Authentication".into(),
        5 => "RA2".into(),
        6 => "RA2ne".into(),
        16 => "Tight".into(),
        18 => "TLS".into(),
        19 => "VeNCrypt".into(),
        22 => "xvp".into(),
        30 => "Apple Remote Desktop".into(),
        other => format!("type {other}"),
    }
}

/// The service as the banner alone describes it.
pub(crate) fn describe((major, minor): (u16, u16)) -> ServiceInfo {
    ServiceInfo {
        name: "vnc".into(),
        product: Some("VNC".into()),
        version: Some(format!("{major}.{minor}")),
        ..ServiceInfo::default()
    }
}

/// Adds what the security handshake says to `info`.
pub(crate) fn apply_security(info: &mut ServiceInfo, security: &Security) {
    match security {
        Security::Types(types) => {
            let names: Vec<String> = types.iter().map(|&t| type_name(t)).collect();
            info.extra = Some(format!("security: {}", names.join(", ")));
            info.unauthenticated = Some(types.contains(&1));
        }
        Security::Refused(reason) => {
            info.extra = Some(format!("refused: {reason}"));
            info.unauthenticated = Some(false);
        }
    }
}

/// Answers the server's version and reads its security types.
pub(crate) fn negotiate<S: Stream + ?Sized>(
    stream: &mut S,
    version: (u16, u16),
    timeout: Duration,
    info: &mut ServiceInfo,
) {
    let answer = client_version(version);
    let v33 = answer == b"RFB 003.003\n";
    if let Reply::Parsed(sec) = exchange(stream, answer, timeout, |b, _| parse_security(b, v33)) {
        apply_security(info, &sec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner() {
        assert_eq!(parse_banner(b"RFB 003.008\n"), Parsed::Done((3, 8)));
        assert_eq!(parse_banner(b"RFB 003.889\n"), Parsed::Done((3, 889)));
        assert_eq!(parse_banner(b"RFB 00"), Parsed::Incomplete);
        assert_eq!(parse_banner(b"RFX"), Parsed::Invalid);
        assert_eq!(parse_banner(b"RFB 003.00x\n"), Parsed::Invalid);
        let info = describe((3, 8));
        assert_eq!(info.version.as_deref(), Some("3.8"));
        assert_eq!(client_version((3, 889)), b"RFB 003.008\n");
        assert_eq!(client_version((3, 3)), b"RFB 003.003\n");
    }

    #[test]
    fn security() {
        let s = parse_security(b"\x02\x01\x02", false).done().unwrap();
        assert_eq!(s, Security::Types(vec![1, 2]));
        let mut info = describe((3, 8));
        apply_security(&mut info, &s);
        assert_eq!(info.unauthenticated, Some(true));
        assert_eq!(
            info.extra.as_deref(),
            Some("security: None, VNC Authentication")
        );
        let s = parse_security(b"\x01\x02", false).done().unwrap();
        apply_security(&mut info, &s);
        assert_eq!(info.unauthenticated, Some(false));
        assert_eq!(
            parse_security(b"\x00\x00\x00\x00\x03bye", false),
            Parsed::Done(Security::Refused("bye".into()))
        );
        assert_eq!(
            parse_security(b"\x00\x00\x00\x01", true),
            Parsed::Done(Security::Types(vec![1]))
        );
        assert_eq!(parse_security(b"\x03\x01", false), Parsed::Incomplete);
        assert_eq!(
            parse_security(b"\x00\xff\xff\xff\xff", false),
            Parsed::Invalid
        );
    }
}

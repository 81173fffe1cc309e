//! MySQL and MariaDB: the server's first packet, which it sends unasked —
//! the initial handshake (`Protocol::HandshakeV10`: protocol 10, the
//! NUL-terminated server version, connection id, capabilities, the
//! authentication plugin), or an error packet (`0xff`, e.g. "Host … is not
//! allowed to connect"). After a handshake, [`empty_password_login`] tells
//! whether `root` gets in without a password.

use std::time::Duration;

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{Reply, Stream, exchange};
use super::parse::{Cursor, Parsed, clean_text, leading_version, non_empty};

/// The capability flag for `CLIENT_PLUGIN_AUTH`: the handshake names its
/// authentication plugin.
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;

/// Parses the first packet a MySQL-protocol server sends.
pub(crate) fn parse_greeting(buf: &[u8]) -> Parsed<ServiceInfo> {
    let mut c = Cursor::new(buf);
    let Some(len) = c.take(3) else {
        return Parsed::Incomplete;
    };
    let len = usize::from(len[0]) | usize::from(len[1]) << 8 | usize::from(len[2]) << 16;
    if !(6..=2048).contains(&len) {
        return Parsed::Invalid;
    }
    match c.u8() {
        None => return Parsed::Incomplete,
        Some(0) => {}
        Some(_) => return Parsed::Invalid,
    }
    match c.rest().first() {
        Some(10 | 0xff) => {}
        Some(_) => return Parsed::Invalid,
        None => return Parsed::Incomplete,
    }
    let Some(payload) = c.take(len) else {
        return Parsed::Incomplete;
    };
    match payload[0] {
        10 => handshake(&payload[1..]).map_or(Parsed::Invalid, Parsed::Done),
        _ => error(&payload[1..]).map_or(Parsed::Invalid, Parsed::Done),
    }
}

fn handshake(p: &[u8]) -> Option<ServiceInfo> {
    let mut c = Cursor::new(p);
    let version = c.cstr()?;
    if version.is_empty() || !version.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let version = String::from_utf8_lossy(version).into_owned();
    let _connection_id = c.le_u32()?;
    c.skip(8 + 1)?; // auth-plugin-data part 1, filler
    let caps_low = c.le_u16();
    let mut plugin = None;
    if let Some(low) = caps_low {
        // charset, status, capabilities (upper), auth data length, reserved
        let upper = c.skip(1 + 2).and_then(|()| c.le_u16());
        let auth_len = c.u8();
        if let (Some(high), Some(auth_len), Some(())) = (upper, auth_len, c.skip(10)) {
            let caps = u32::from(low) | u32::from(high) << 16;
            let part2 = usize::from(auth_len).saturating_sub(8).max(13);
            if caps & CLIENT_PLUGIN_AUTH != 0 && c.skip(part2).is_some() {
                plugin = c.cstr().or(Some(c.rest())).and_then(|n| non_empty(n, 40));
            }
        }
    }
    let mut info = describe(&version);
    let detail = [info.extra.take(), plugin.map(|p| format!("auth {p}"))]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    info.extra = (!detail.is_empty()).then_some(detail);
    Some(info)
}

/// Product and version from a server version string: MariaDB announces
/// itself (`5.5.5-10.11.6-MariaDB-0+deb12u1`, the `5.5.5-` prefix kept for
/// old clients), MySQL does not (`8.0.36-0ubuntu0.22.04.1`).
fn describe(version: &str) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: "mysql".into(),
        ..ServiceInfo::default()
    };
    if let Some(at) = version.find("-MariaDB") {
        let v = version[..at]
            .strip_prefix("5.5.5-")
            .unwrap_or(&version[..at]);
        let suffix = version[at + "-MariaDB".len()..].trim_start_matches('-');
        info.product = Some("MariaDB".into());
        info.version = Some(clean_text(v.as_bytes(), 40));
        info.extra = non_empty(suffix.as_bytes(), 40);
        info.cpe = Some(cpe::application(
            "mariadb",
            "mariadb",
            info.version.as_deref(),
        ));
    } else {
        let v = leading_version(version).unwrap_or(version);
        let suffix = version[v.len()..].trim_start_matches('-');
        info.product = Some("MySQL".into());
        info.version = Some(clean_text(v.as_bytes(), 40));
        info.extra = non_empty(suffix.as_bytes(), 40);
        info.cpe = Some(cpe::application("oracle", "mysql", info.version.as_deref()));
    }
    info
}

/// An error packet instead of a handshake: the server refuses us before any
/// login, so nothing is reachable without credentials.
fn error(p: &[u8]) -> Option<ServiceInfo> {
    let mut c = Cursor::new(p);
    let code = c.le_u16()?;
    let message = clean_text(c.rest(), 120);
    let mut info = ServiceInfo {
        name: "mysql".into(),
        unauthenticated: Some(false),
        extra: Some(format!("error {code}: {message}")),
        ..ServiceInfo::default()
    };
    if message.contains("MariaDB") {
        info.product = Some("MariaDB".into());
    } else if message.contains("MySQL") {
        info.product = Some("MySQL".into());
    }
    Some(info)
}

/// Capabilities of the login: `CLIENT_LONG_PASSWORD`, `CLIENT_PROTOCOL_41`,
/// `CLIENT_SECURE_CONNECTION` (a length-prefixed auth response) and
/// `CLIENT_PLUGIN_AUTH`.
const LOGIN_CAPABILITIES: u32 = 0x0000_0001 | 0x0000_0200 | 0x0000_8000 | CLIENT_PLUGIN_AUTH;

/// The user tried: the administrator account every server is installed
/// with. An anonymous account (user `''`) matches it too, so both are
/// covered by one attempt.
const LOGIN_USER: &[u8] = b"root";

/// One packet of the client/server protocol: 3-byte length, sequence id.
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small packets only");
    let mut out = len.to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// `HandshakeResponse41` for `root` with an empty password: an empty auth
/// response, which is what every password plugin expects for an empty
/// password.
pub(crate) fn login_request() -> Vec<u8> {
    let mut p = LOGIN_CAPABILITIES.to_le_bytes().to_vec();
    p.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
    p.push(45); // utf8mb4
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(LOGIN_USER);
    p.push(0);
    p.push(0); // auth response length: no password
    p.extend_from_slice(b"mysql_native_password\0");
    packet(1, &p)
}

/// What the server answered to a login step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoginReply {
    /// `OK`: logged in.
    Ok,
    /// `ERR`: refused.
    Err,
    /// `AuthSwitchRequest`: answer for another plugin, next with this
    /// sequence id.
    Switch(u8),
    /// Anything else (more authentication data, a plugin we cannot speak).
    Other,
}

/// Parses one server packet after the login request.
pub(crate) fn parse_login_reply(buf: &[u8]) -> Parsed<LoginReply> {
    let mut c = Cursor::new(buf);
    let (Some(len), Some(seq)) = (c.take(3), c.u8()) else {
        return Parsed::Incomplete;
    };
    let len = usize::from(len[0]) | usize::from(len[1]) << 8 | usize::from(len[2]) << 16;
    if len == 0 || len > 65_536 {
        return Parsed::Invalid;
    }
    let Some(payload) = c.take(len) else {
        return Parsed::Incomplete;
    };
    Parsed::Done(match payload[0] {
        0x00 => LoginReply::Ok,
        0xff => LoginReply::Err,
        0xfe => LoginReply::Switch(seq.wrapping_add(1)),
        _ => LoginReply::Other,
    })
}

/// Logs in as `root` with an empty password on the connection whose
/// handshake was just read, and quits: `Some(true)` when the server lets it
/// in, `Some(false)` when it refuses, `None` when it asks for something an
/// empty password cannot give. A server that switches the authentication
/// plugin gets the empty password again, in the new plugin's terms (an
/// empty response).
pub(crate) fn empty_password_login<S: Stream + ?Sized>(
    stream: &mut S,
    timeout: Duration,
) -> Option<bool> {
    let mut reply = exchange(stream, &login_request(), timeout, |b, _| {
        parse_login_reply(b)
    });
    if let Reply::Parsed(LoginReply::Switch(seq)) = reply {
        reply = exchange(stream, &packet(seq, &[]), timeout, |b, _| {
            parse_login_reply(b)
        });
    }
    match reply {
        Reply::Parsed(LoginReply::Ok) => {
            let _ = stream.write_all(&packet(0, &[0x01])); // COM_QUIT
            Some(true)
        }
        Reply::Parsed(LoginReply::Err) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A MySQL 8.0 handshake, as a server sends it.
    pub(crate) fn greeting(version: &str) -> Vec<u8> {
        let mut p = vec![10];
        p.extend_from_slice(version.as_bytes());
        p.push(0);
        p.extend_from_slice(&42u32.to_le_bytes());
        p.extend_from_slice(b"abcdefgh\0");
        p.extend_from_slice(&0xffffu16.to_le_bytes());
        p.push(0xff); // charset
        p.extend_from_slice(&2u16.to_le_bytes()); // status
        p.extend_from_slice(&0xdfffu16.to_le_bytes()); // caps high (PLUGIN_AUTH)
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"ijklmnopqrst\0");
        p.extend_from_slice(b"caching_sha2_password\0");
        let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(0);
        out.extend(p);
        out
    }

    #[test]
    fn mysql() {
        let info = parse_greeting(&greeting("8.0.36-0ubuntu0.22.04.1"))
            .done()
            .unwrap();
        assert_eq!(info.name, "mysql");
        assert_eq!(info.product.as_deref(), Some("MySQL"));
        assert_eq!(info.version.as_deref(), Some("8.0.36"));
        assert_eq!(
            info.extra.as_deref(),
            Some("0ubuntu0.22.04.1; auth caching_sha2_password")
        );
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:oracle:mysql:8.0.36:*:*:*:*:*:*:*")
        );
    }

    #[test]
    fn mariadb() {
        let info = parse_greeting(&greeting("5.5.5-10.11.6-MariaDB-0+deb12u1"))
            .done()
            .unwrap();
        assert_eq!(info.product.as_deref(), Some("MariaDB"));
        assert_eq!(info.version.as_deref(), Some("10.11.6"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:mariadb:mariadb:10.11.6:*:*:*:*:*:*:*")
        );
        let new = parse_greeting(&greeting("11.4.2-MariaDB")).done().unwrap();
        assert_eq!(new.version.as_deref(), Some("11.4.2"));
    }

    #[test]
    fn refused() {
        let msg = b"\xffj\x04Host '10.0.0.2' is not allowed to connect to this MySQL server";
        let mut b = (msg.len() as u32).to_le_bytes()[..3].to_vec();
        b.push(0);
        b.extend_from_slice(msg);
        let info = parse_greeting(&b).done().unwrap();
        assert_eq!(info.unauthenticated, Some(false));
        assert_eq!(info.product.as_deref(), Some("MySQL"));
        assert!(info.extra.unwrap().starts_with("error 1130: Host"));
    }

    #[test]
    fn login() {
        let req = login_request();
        assert_eq!(usize::from(req[0]) + 4, req.len(), "length in the header");
        assert_eq!(req[3], 1, "the answer to the greeting (sequence 0)");
        assert!(
            req.windows(6).any(|w| w == b"root\0\0"),
            "root, no password"
        );
        assert_eq!(
            parse_login_reply(&packet(2, &[0, 0, 0, 2, 0, 0, 0])),
            Parsed::Done(LoginReply::Ok)
        );
        assert_eq!(
            parse_login_reply(&packet(2, b"\xff\x15\x04#28000Access denied")),
            Parsed::Done(LoginReply::Err)
        );
        assert_eq!(
            parse_login_reply(&packet(2, b"\xfecaching_sha2_password\0abc\0")),
            Parsed::Done(LoginReply::Switch(3))
        );
        assert_eq!(
            parse_login_reply(&packet(2, &[1, 4])),
            Parsed::Done(LoginReply::Other)
        );
        assert_eq!(parse_login_reply(&[7, 0, 0, 2, 0]), Parsed::Incomplete);
        assert_eq!(parse_login_reply(&[0, 0, 0, 2]), Parsed::Invalid);
    }

    #[test]
    fn partial_and_wrong() {
        let g = greeting("8.0.36");
        assert_eq!(parse_greeting(&g[..2]), Parsed::Incomplete);
        assert_eq!(parse_greeting(&g[..20]), Parsed::Incomplete);
        assert_eq!(parse_greeting(b"SSH-2.0-OpenSSH\r\n"), Parsed::Invalid);
        assert_eq!(
            parse_greeting(b"\x05\x00\x00\x00\x0a\x00\x00\x00\x00"),
            Parsed::Invalid
        );
    }
}

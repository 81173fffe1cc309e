//! MySQL and MariaDB: the server's first packet, which it sends unasked —
//! the initial handshake (`Protocol::HandshakeV10`: protocol 10, the
//! NUL-terminated server version, connection id, capabilities, the
//! authentication plugin), or an error packet (`0xff`, e.g. "Host … is not
//! allowed to connect").

use crate::cpe;
use crate::model::ServiceInfo;

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

//! PostgreSQL's frontend/backend protocol 3.0: an `SSLRequest` (answered by
//! one byte, `S` or `N`), then a `StartupMessage` for user `portreeve`. The
//! server answers with an authentication request (which method it wants;
//! `AuthenticationOk` means no password at all, and then it reports its
//! version) or an error. No password is ever tried.

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{self, Reply, Session, Verdict, exchange};
use super::parse::{Cursor, Parsed, clean_text, leading_version, non_empty};

/// `SSLRequest`: length 8, code 80877103.
pub(crate) const SSL_REQUEST: &[u8] = &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// `StartupMessage`, protocol 3.0, user `portreeve`.
pub(crate) fn startup_message() -> Vec<u8> {
    let mut body = 0x0003_0000u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0portreeve\0application_name\0portreeve\0\0");
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

/// `Terminate`.
const TERMINATE: &[u8] = &[b'X', 0, 0, 0, 4];

/// Parses the answer to `SSLRequest`: whether the server offers TLS.
pub(crate) fn parse_ssl_answer(buf: &[u8]) -> Parsed<bool> {
    match buf {
        [] => Parsed::Incomplete,
        [b'S'] => Parsed::Done(true),
        [b'N'] => Parsed::Done(false),
        _ => Parsed::Invalid,
    }
}

/// An `ErrorResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PgError {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// What the startup exchange said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Startup {
    /// The authentication request's code (0: no password needed).
    pub(crate) auth: Option<u32>,
    /// SASL mechanisms offered (code 10).
    pub(crate) sasl: Vec<String>,
    /// `ParameterStatus` values (sent after `AuthenticationOk`).
    pub(crate) params: Vec<(String, String)>,
    /// The error, if the server refused.
    pub(crate) error: Option<PgError>,
}

/// Parses the server's messages after `StartupMessage`, until it waits for
/// a password, is ready for queries, or reports an error.
pub(crate) fn parse_startup(buf: &[u8]) -> Parsed<Startup> {
    let mut c = Cursor::new(buf);
    let mut out = Startup::default();
    for _ in 0..256 {
        let Some(kind) = c.u8() else {
            return Parsed::Incomplete;
        };
        if !matches!(kind, b'R' | b'E' | b'N' | b'S' | b'K' | b'Z' | b'v') {
            return Parsed::Invalid;
        }
        let Some(len) = c.be_u32() else {
            return Parsed::Incomplete;
        };
        if !(4..=65536).contains(&len) {
            // Servers speaking protocol 2 send `E` and a bare message.
            return if kind == b'E' && buf.get(1..6) == Some(b"FATAL") {
                out.error = Some(PgError {
                    code: String::new(),
                    message: clean_text(&buf[1..], 120),
                });
                Parsed::Done(out)
            } else {
                Parsed::Invalid
            };
        }
        let Some(body) = c.take(len as usize - 4) else {
            return Parsed::Incomplete;
        };
        let mut b = Cursor::new(body);
        match kind {
            b'R' => {
                let Some(code) = b.be_u32() else {
                    return Parsed::Invalid;
                };
                out.auth = Some(code);
                if code == 10 {
                    while let Some(m) = b.cstr().filter(|m| !m.is_empty()) {
                        out.sasl.push(clean_text(m, 40));
                    }
                }
                if code != 0 {
                    return Parsed::Done(out);
                }
            }
            b'E' => {
                let mut e = PgError::default();
                while let Some(field) = b.u8().filter(|&f| f != 0) {
                    let Some(value) = b.cstr() else { break };
                    match field {
                        b'C' => e.code = clean_text(value, 10),
                        b'M' => e.message = clean_text(value, 120),
                        _ => {}
                    }
                }
                out.error = Some(e);
                return Parsed::Done(out);
            }
            b'S' => {
                if let (Some(k), Some(v)) = (b.cstr(), b.cstr()) {
                    out.params.push((clean_text(k, 60), clean_text(v, 120)));
                }
            }
            b'Z' => return Parsed::Done(out),
            _ => {}
        }
        if out.auth.is_none() && kind != b'N' && kind != b'v' {
            // Anything but a notice before authentication is not PostgreSQL.
            return Parsed::Invalid;
        }
    }
    Parsed::Invalid
}

/// The name of an authentication request code.
fn auth_name(code: u32, sasl: &[String]) -> String {
    match code {
        0 => "none (trust)".into(),
        2 => "Kerberos V5".into(),
        3 => "cleartext password".into(),
        5 => "MD5".into(),
        7 => "GSSAPI".into(),
        9 => "SSPI".into(),
        10 if !sasl.is_empty() => sasl.join(", "),
        10 => "SASL".into(),
        n => format!("method {n}"),
    }
}

/// The service the startup exchange describes.
pub(crate) fn describe(startup: &Startup, ssl: Option<bool>) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: "postgresql".into(),
        product: Some("PostgreSQL".into()),
        ..ServiceInfo::default()
    };
    let mut extra = Vec::new();
    if let Some(code) = startup.auth {
        info.unauthenticated = Some(code == 0);
        extra.push(format!("auth {}", auth_name(code, &startup.sasl)));
    }
    if let Some(e) = &startup.error {
        extra.push(format!("error {}: {}", e.code, e.message));
    }
    if let Some((_, v)) = startup.params.iter().find(|(k, _)| k == "server_version") {
        // `16.2 (Debian 16.2-1.pgdg120+2)`
        let number = leading_version(v);
        info.version = number.map(str::to_string);
        let rest = number.map_or(v.as_str(), |n| &v[n.len()..]);
        if let Some(detail) = non_empty(rest.trim().trim_matches(['(', ')']).as_bytes(), 60) {
            extra.push(detail);
        }
    }
    if ssl == Some(true) {
        extra.push("SSL supported".into());
    }
    info.extra = (!extra.is_empty()).then(|| extra.join("; "));
    info.cpe = Some(cpe::application(
        "postgresql",
        "postgresql",
        info.version.as_deref(),
    ));
    info
}

/// The probe.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    let timeout = session.timeout;
    let ssl = match exchange(&mut s, SSL_REQUEST, timeout, |b, _| parse_ssl_answer(b)) {
        Reply::Parsed(ssl) => ssl,
        other => return other.into_verdict(|_| Verdict::Nothing),
    };
    if ssl {
        // The server now expects a TLS handshake: start over in plain text.
        io::close(&s);
        s = match session.connect() {
            Ok(s) => s,
            Err(_) => return Verdict::Unreachable,
        };
    }
    let startup = match exchange(&mut s, &startup_message(), timeout, |b, _| parse_startup(b)) {
        Reply::Parsed(st) => st,
        other => return other.into_verdict(|_| Verdict::Nothing),
    };
    if startup.auth == Some(0) {
        let _ = std::io::Write::write_all(&mut s, TERMINATE);
    }
    let mut info = describe(&startup, Some(ssl));
    info.method = "probe:postgresql".into();
    Verdict::Found(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn requests() {
        let s = startup_message();
        assert_eq!(
            u32::from_be_bytes(s[..4].try_into().unwrap()) as usize,
            s.len()
        );
        assert_eq!(&s[4..8], &[0, 3, 0, 0]);
        assert_eq!(parse_ssl_answer(b"S"), Parsed::Done(true));
        assert_eq!(parse_ssl_answer(b"N"), Parsed::Done(false));
        assert_eq!(parse_ssl_answer(b"HTTP"), Parsed::Invalid);
    }

    #[test]
    fn password_wanted() {
        let mut b = 10u32.to_be_bytes().to_vec();
        b.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let st = parse_startup(&msg(b'R', &b)).done().unwrap();
        assert_eq!(st.sasl, vec!["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
        let info = describe(&st, Some(true));
        assert_eq!(info.unauthenticated, Some(false));
        assert_eq!(
            info.extra.as_deref(),
            Some("auth SCRAM-SHA-256-PLUS, SCRAM-SHA-256; SSL supported")
        );
        let md5 = parse_startup(&msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]))
            .done()
            .unwrap();
        assert_eq!(md5.auth, Some(5));
    }

    #[test]
    fn trust() {
        let mut buf = msg(b'R', &[0, 0, 0, 0]);
        buf.extend(msg(
            b'S',
            b"server_version\x0016.2 (Debian 16.2-1.pgdg120+2)\0",
        ));
        buf.extend(msg(b'S', b"server_encoding\0UTF8\0"));
        buf.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
        let before_ready = buf.len();
        buf.extend(msg(b'Z', b"I"));
        assert_eq!(parse_startup(&buf[..before_ready]), Parsed::Incomplete);
        let st = parse_startup(&buf).done().unwrap();
        let info = describe(&st, Some(false));
        assert_eq!(info.unauthenticated, Some(true));
        assert_eq!(info.version.as_deref(), Some("16.2"));
        assert_eq!(
            info.extra.as_deref(),
            Some("auth none (trust); Debian 16.2-1.pgdg120+2")
        );
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:postgresql:postgresql:16.2:*:*:*:*:*:*:*")
        );
    }

    #[test]
    fn errors() {
        let e = msg(
            b'E',
            b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host \"10.0.0.2\"\0\0",
        );
        let st = parse_startup(&e).done().unwrap();
        assert_eq!(st.error.as_ref().unwrap().code, "28000");
        let info = describe(&st, None);
        assert_eq!(info.unauthenticated, None);
        assert!(info.extra.unwrap().starts_with("error 28000: no pg_hba"));
        let v2 = parse_startup(b"EFATAL:  unsupported frontend protocol\n\0");
        assert!(matches!(v2, Parsed::Done(Startup { error: Some(_), .. })));
        assert_eq!(parse_startup(b"HTTP/1.1 400"), Parsed::Invalid);
        assert_eq!(parse_startup(&msg(b'S', b"a\0b\0")), Parsed::Invalid);
        assert_eq!(parse_startup(b"R\0\0"), Parsed::Incomplete);
    }
}

//! POP3: the server's greeting (RFC 1939 §4), `+OK …`.

use crate::model::ServiceInfo;

use super::parse::{Parsed, lines, non_empty};
use super::product::{self, Known};

/// The POP3 servers a greeting may name, in the order they are looked for.
const SERVERS: &[Known] = &[
    Known::new("dovecot", "Dovecot pop3d").cpe("dovecot", "dovecot"),
    Known::new("cyrus", "Cyrus pop3d")
        .cpe("cyrusimap", "cyrus_imap")
        .version_after("pop3 v"),
];

/// Parses a POP3 greeting.
pub(crate) fn parse_banner(buf: &[u8]) -> Parsed<ServiceInfo> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if b"+OK ".starts_with(&buf[..buf.len().min(4)]) && buf.len() < 1024 {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    };
    let Some(line) = lines(&buf[..nl]).next() else {
        return Parsed::Invalid;
    };
    let Some(text) = line.strip_prefix(b"+OK") else {
        return Parsed::Invalid;
    };
    if !matches!(text.first(), None | Some(b' ')) {
        return Parsed::Invalid;
    }
    let text = String::from_utf8_lossy(text);
    let mut info = ServiceInfo {
        name: "pop3".into(),
        ..ServiceInfo::default()
    };
    if !product::name(&mut info, &text, SERVERS) {
        // Strip the APOP timestamp `<…>`: it changes with every connection.
        let plain = text.split('<').next().unwrap_or_default();
        info.extra = non_empty(plain.as_bytes(), 80);
    }
    Parsed::Done(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        let d = parse_banner(b"+OK Dovecot (Debian) ready.\r\n")
            .done()
            .unwrap();
        assert_eq!(d.name, "pop3");
        assert_eq!(d.product.as_deref(), Some("Dovecot pop3d"));
        let c = parse_banner(b"+OK h Cyrus POP3 v3.6.1 server ready <1.2@h>\r\n")
            .done()
            .unwrap();
        assert_eq!(c.version.as_deref(), Some("3.6.1"));
        let g = parse_banner(b"+OK POP3 ready <123.456@host>\r\n")
            .done()
            .unwrap();
        assert_eq!(g.extra.as_deref(), Some("POP3 ready"));
        assert_eq!(parse_banner(b"+O"), Parsed::Incomplete);
        assert_eq!(parse_banner(b"+OKAY\r\n"), Parsed::Invalid);
        assert_eq!(parse_banner(b"* OK imap\r\n"), Parsed::Invalid);
    }
}

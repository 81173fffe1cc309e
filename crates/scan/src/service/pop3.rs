//! POP3: the server's greeting (RFC 1939 §4), `+OK …`.

use crate::model::ServiceInfo;

use super::parse::{Parsed, first_line, non_empty};
use super::product::{self, Known};

/// The POP3 servers a greeting may name, in the order they are looked for.
const SERVERS: &[Known] = &[
    Known::new("dovecot", "Dovecot pop3d").cpe("dovecot", "dovecot"),
    Known::new("cyrus", "Cyrus pop3d")
        .cpe("cyrusimap", "cyrus_imap")
        .version_after("pop3 v"),
    Known::new("qpopper", "Qpopper pop3d")
        .cpe("qualcomm", "qpopper")
        .version_after("qpopper (version"),
    Known::new("microsoft exchange", "Microsoft Exchange pop3d"),
];

/// Parses a POP3 greeting; `ended` when no more will come. The line may
/// end in a lone CR, or be cut short (see [`first_line`]).
pub(crate) fn parse_banner(buf: &[u8], ended: bool) -> Parsed<ServiceInfo> {
    let Some((line, _)) = first_line(buf, ended) else {
        return if b"+OK ".starts_with(&buf[..buf.len().min(4)]) && buf.len() < 1024 {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
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
        let d = parse_banner(b"+OK Dovecot (Debian) ready.\r\n", false)
            .done()
            .unwrap();
        assert_eq!(d.name, "pop3");
        assert_eq!(d.product.as_deref(), Some("Dovecot pop3d"));
        let c = parse_banner(b"+OK h Cyrus POP3 v3.6.1 server ready <1.2@h>\r\n", false)
            .done()
            .unwrap();
        assert_eq!(c.version.as_deref(), Some("3.6.1"));
        let g = parse_banner(b"+OK POP3 ready <123.456@host>\r\n", false)
            .done()
            .unwrap();
        assert_eq!(g.extra.as_deref(), Some("POP3 ready"));
        assert_eq!(parse_banner(b"+O", false), Parsed::Incomplete);
        assert_eq!(parse_banner(b"+OKAY\r\n", false), Parsed::Invalid);
        assert_eq!(parse_banner(b"* OK imap\r\n", false), Parsed::Invalid);
    }

    #[test]
    fn more_servers() {
        let q = parse_banner(b"+OK Qpopper (version 4.1.0) at h starting.\r\n", false);
        let q = q.done().unwrap();
        assert_eq!(q.product.as_deref(), Some("Qpopper pop3d"));
        assert_eq!(q.version.as_deref(), Some("4.1.0"));
        let x = parse_banner(
            b"+OK The Microsoft Exchange POP3 service is ready.\r\n",
            false,
        );
        assert_eq!(
            x.done().unwrap().product.as_deref(),
            Some("Microsoft Exchange pop3d")
        );
    }

    #[test]
    fn odd_line_ends_and_cut_greetings() {
        let cr = parse_banner(b"+OK Dovecot ready.\r", false).done().unwrap();
        assert_eq!(cr.product.as_deref(), Some("Dovecot pop3d"));
        assert_eq!(parse_banner(b"+OK Dovecot", false), Parsed::Incomplete);
        let cut = parse_banner(b"+OK Dovecot", true).done().unwrap();
        assert_eq!(cut.name, "pop3");
        assert_eq!(parse_banner(b"+O", true), Parsed::Invalid);
    }
}

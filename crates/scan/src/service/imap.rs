//! IMAP: the server's greeting (RFC 9051 §7.1), `* OK …`, `* PREAUTH …`
//! (already logged in: no credentials needed) or `* BYE …`.

use crate::model::ServiceInfo;

use super::parse::{Parsed, first_line, non_empty};
use super::product::{self, Known};

/// The IMAP servers a greeting may name, in the order they are looked for.
const SERVERS: &[Known] = &[
    Known::new("dovecot", "Dovecot imapd").cpe("dovecot", "dovecot"),
    Known::new("cyrus", "Cyrus imapd")
        .cpe("cyrusimap", "cyrus_imap")
        .version_after("imap v"),
    Known::new("courier-imap", "Courier Imapd"),
    Known::new("microsoft exchange", "Microsoft Exchange imapd"),
];

/// Parses an IMAP greeting; `ended` when no more will come. The line may
/// end in a lone CR, or be cut short (see [`first_line`]).
pub(crate) fn parse_banner(buf: &[u8], ended: bool) -> Parsed<ServiceInfo> {
    let Some((line, _)) = first_line(buf, ended) else {
        let head = &buf[..buf.len().min(4)];
        return if (b"* OK".starts_with(head)
            || b"* PR".starts_with(head)
            || b"* BY".starts_with(head))
            && buf.len() < 4096
        {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    };
    let (text, preauth) = if let Some(t) = line.strip_prefix(b"* OK") {
        (t, false)
    } else if let Some(t) = line.strip_prefix(b"* PREAUTH") {
        (t, true)
    } else if let Some(t) = line.strip_prefix(b"* BYE") {
        (t, false)
    } else {
        return Parsed::Invalid;
    };
    if !matches!(text.first(), None | Some(b' ')) {
        return Parsed::Invalid;
    }
    let text = String::from_utf8_lossy(text);
    // Drop a response code such as `[CAPABILITY …]`.
    let human = match (text.find('['), text.find(']')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], &text[b + 1..]),
        _ => text.to_string(),
    };
    let mut info = ServiceInfo {
        name: "imap".into(),
        unauthenticated: preauth.then_some(true),
        ..ServiceInfo::default()
    };
    if !product::name(&mut info, &human, SERVERS) {
        info.extra = non_empty(human.as_bytes(), 80);
    }
    Parsed::Done(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings() {
        let d = parse_banner(
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
              STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
            false,
        )
        .done()
        .unwrap();
        assert_eq!(d.name, "imap");
        assert_eq!(d.product.as_deref(), Some("Dovecot imapd"));
        assert_eq!(d.unauthenticated, None);
        let c = parse_banner(b"* OK h Cyrus IMAP v3.6.1-Debian server ready\r\n", false)
            .done()
            .unwrap();
        assert_eq!(c.version.as_deref(), Some("3.6.1"));
        let p = parse_banner(b"* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n", false)
            .done()
            .unwrap();
        assert_eq!(p.unauthenticated, Some(true));
        assert_eq!(p.extra.as_deref(), Some("ready"));
        assert_eq!(parse_banner(b"* O", false), Parsed::Incomplete);
        assert_eq!(parse_banner(b"+OK pop\r\n", false), Parsed::Invalid);
        assert_eq!(parse_banner(b"* OKAY\r\n", false), Parsed::Invalid);
    }

    #[test]
    fn exchange() {
        let x = parse_banner(
            b"* OK The Microsoft Exchange IMAP4 service is ready.\r\n",
            false,
        );
        assert_eq!(
            x.done().unwrap().product.as_deref(),
            Some("Microsoft Exchange imapd")
        );
    }

    #[test]
    fn odd_line_ends_and_cut_greetings() {
        let cr = parse_banner(b"* OK h Cyrus IMAP v3.6.1 server ready\r", false);
        assert_eq!(cr.done().unwrap().version.as_deref(), Some("3.6.1"));
        assert_eq!(
            parse_banner(b"* OK [CAPABILITY IMAP4rev1] Dovecot", false),
            Parsed::Incomplete
        );
        let cut = parse_banner(b"* OK [CAPABILITY IMAP4rev1] Dovecot", true);
        assert_eq!(
            cut.done().unwrap().product.as_deref(),
            Some("Dovecot imapd")
        );
        assert_eq!(parse_banner(b"* O", true), Parsed::Invalid);
    }
}

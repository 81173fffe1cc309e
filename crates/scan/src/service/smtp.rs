//! SMTP: the server's greeting (RFC 5321 §4.3.1), `220 host ESMTP …`, and
//! the reply to `EHLO` when a bare `220` could also be FTP.

use crate::model::ServiceInfo;

use super::parse::{contains_ci, non_empty};
use super::product::{self, Known};
use super::reply::NumericReply;

/// What we send to tell SMTP from FTP after an ambiguous `220`.
pub(crate) const EHLO: &[u8] = b"EHLO portreeve.invalid\r\n";

/// Recognises an SMTP greeting: a 220 (ready) or 554 (refused) that names
/// SMTP or a known mail server.
pub(crate) fn recognise(reply: &NumericReply) -> Option<ServiceInfo> {
    if !matches!(reply.code, 220 | 554 | 421) {
        return None;
    }
    let text = reply.text();
    let known = ["SMTP", "Postfix", "Exim", "Sendmail", "OpenSMTPD"];
    if !known
        .iter()
        .any(|k| contains_ci(text.as_bytes(), k.as_bytes()))
    {
        return None;
    }
    Some(describe(&text))
}

/// The mail servers a greeting may name, in the order they are looked for.
const SERVERS: &[Known] = &[
    Known::new("postfix", "Postfix smtpd").cpe("postfix", "postfix"),
    Known::new("exim", "Exim smtpd")
        .cpe("exim", "exim")
        .version_after("exim"),
    // `Sendmail 8.17.1.9/8.17.1.9`: the version ends at the slash.
    Known::new("sendmail", "Sendmail")
        .cpe("sendmail", "sendmail")
        .version_after("sendmail"),
    Known::new("opensmtpd", "OpenSMTPD").cpe("openbsd", "opensmtpd"),
    Known::new("microsoft esmtp", "Microsoft ESMTP"),
];

/// An SMTP server described from its greeting text.
pub(crate) fn describe(text: &str) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: "smtp".into(),
        // The first word of a greeting is the host name the server announces.
        extra: text
            .split_whitespace()
            .next()
            .filter(|w| !w.eq_ignore_ascii_case("ESMTP") && !w.eq_ignore_ascii_case("SMTP"))
            .and_then(|w| non_empty(w.as_bytes(), 80)),
        ..ServiceInfo::default()
    };
    product::name(&mut info, text, SERVERS);
    info
}

/// Whether the reply to `EHLO` is SMTP's: a 250, or a 5xx that still talks
/// of EHLO/HELO. FTP servers answer "500 unknown command".
pub(crate) fn is_ehlo_reply(reply: &NumericReply) -> bool {
    reply.code == 250 || (reply.code >= 500 && contains_ci(reply.text().as_bytes(), b"HELO"))
}

#[cfg(test)]
mod tests {
    use super::super::reply::parse;
    use super::*;

    fn greet(b: &[u8]) -> Option<ServiceInfo> {
        recognise(&parse(b, false).done().unwrap())
    }

    #[test]
    fn greetings() {
        let p = greet(b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n").unwrap();
        assert_eq!(p.name, "smtp");
        assert_eq!(p.product.as_deref(), Some("Postfix smtpd"));
        assert_eq!(p.extra.as_deref(), Some("mail.example.org"));
        assert_eq!(
            p.cpe.as_deref(),
            Some("cpe:2.3:a:postfix:postfix:*:*:*:*:*:*:*:*")
        );
        let e = greet(b"220 mx ESMTP Exim 4.96 Tue, 02 Jan 2024 10:00:00 +0000\r\n").unwrap();
        assert_eq!(e.product.as_deref(), Some("Exim smtpd"));
        assert_eq!(e.version.as_deref(), Some("4.96"));
        let s = greet(b"220 h.example ESMTP Sendmail 8.17.1.9/8.17.1.9; Tue\r\n").unwrap();
        assert_eq!(s.version.as_deref(), Some("8.17.1.9"));
        let m = greet(b"220-h ESMTP\r\n220 ready\r\n").unwrap();
        assert_eq!(m.product, None);
        assert!(greet(b"220 (vsFTPd 3.0.3)\r\n").is_none());
        assert!(greet(b"250 ESMTP\r\n").is_none());
    }

    #[test]
    fn ehlo_replies() {
        let ok = parse(b"250-h\r\n250-PIPELINING\r\n250 8BITMIME\r\n", false);
        assert!(is_ehlo_reply(&ok.done().unwrap()));
        let ftp = parse(b"500 Unknown command.\r\n", false);
        assert!(!is_ehlo_reply(&ftp.done().unwrap()));
    }
}

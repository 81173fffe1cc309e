//! FTP: the server's greeting (RFC 959 §5.4), `220 …` (or `120`, `421`),
//! and whether it lets anyone in anonymously (RFC 1635).

use std::time::Duration;

use crate::model::ServiceInfo;

use super::PROBE_BUDGET;
use super::io::{Reply, Stream, exchange};
use super::parse::{contains_ci, non_empty};
use super::product::{self, Known};
use super::reply::{self, NumericReply};

/// Recognises an FTP greeting that names FTP or a known FTP server (older
/// FileZilla servers greet with `220-FileZilla Server version 0.9.60 beta`,
/// without the word FTP).
pub(crate) fn recognise(reply: &NumericReply) -> Option<ServiceInfo> {
    if !matches!(reply.code, 220 | 120 | 421) {
        return None;
    }
    let text = reply.text();
    let names_a_server = SERVERS
        .iter()
        .any(|k| contains_ci(text.as_bytes(), k.needle().as_bytes()));
    (contains_ci(text.as_bytes(), b"FTP") || names_a_server).then(|| describe(&text))
}

/// The FTP servers a greeting may name, in the order they are looked for.
const SERVERS: &[Known] = &[
    Known::new("vsftpd", "vsftpd")
        .cpe("beasts", "vsftpd")
        .version_after("vsftpd"),
    Known::new("proftpd", "ProFTPD")
        .cpe("proftpd", "proftpd")
        .version_after("proftpd"),
    Known::new("pure-ftpd", "Pure-FTPd").cpe("pureftpd", "pure-ftpd"),
    // `FileZilla Server version 0.9.60 beta` before 1.0, `FileZilla Server
    // 1.7.3` since.
    Known::new("filezilla server version", "FileZilla ftpd")
        .cpe("filezilla-project", "filezilla_server")
        .version_after("filezilla server version"),
    Known::new("filezilla server", "FileZilla ftpd")
        .cpe("filezilla-project", "filezilla_server")
        .version_after("filezilla server"),
    Known::new("microsoft ftp", "Microsoft ftpd"),
];

/// An FTP server described from its greeting text.
pub(crate) fn describe(text: &str) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: "ftp".into(),
        ..ServiceInfo::default()
    };
    if !product::name(&mut info, text, SERVERS) {
        info.extra = non_empty(text.as_bytes(), 80);
    }
    info
}

/// Logs in as `anonymous`, the login RFC 1635 defines for access without
/// an account (its password is by convention an e-mail address, checked by
/// no server), then quits: `Some(true)` when the server accepts it,
/// `Some(false)` when it refuses, `None` when the replies say neither.
///
/// The answer to `PASS` may take the rest of the probe's time, not one
/// service timeout: servers delay a refused login on purpose (vsftpd on
/// Debian answers `530` after 3 s: PAM's 2 s, then its own 1 s).
pub(crate) fn anonymous_login<S: Stream + ?Sized>(
    stream: &mut S,
    timeout: Duration,
) -> Option<bool> {
    let user = match exchange(stream, b"USER anonymous\r\n", timeout, reply::parse) {
        Reply::Parsed(r) => r,
        _ => return None,
    };
    let verdict = if user.code == 331 {
        let refusal_delay = timeout * (PROBE_BUDGET - 1);
        match exchange(stream, b"PASS portreeve@\r\n", refusal_delay, reply::parse) {
            Reply::Parsed(r) => login_verdict(r.code),
            _ => None,
        }
    } else {
        login_verdict(user.code)
    };
    let _ = stream.write_all(b"QUIT\r\n");
    verdict
}

/// What a reply to `USER` or `PASS` says about the login: 230 logged in;
/// 530 refused, or 332 an account is wanted as well.
fn login_verdict(code: u16) -> Option<bool> {
    match code {
        230 => Some(true),
        530 | 332 => Some(false),
        _ => None,
    }
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
        let v = greet(b"220 (vsFTPd 3.0.3)\r\n").unwrap();
        assert_eq!(v.name, "ftp");
        assert_eq!(v.product.as_deref(), Some("vsftpd"));
        assert_eq!(v.version.as_deref(), Some("3.0.3"));
        assert_eq!(
            v.cpe.as_deref(),
            Some("cpe:2.3:a:beasts:vsftpd:3.0.3:*:*:*:*:*:*:*")
        );
        let p = greet(b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.1]\r\n").unwrap();
        assert_eq!(p.product.as_deref(), Some("ProFTPD"));
        assert_eq!(p.version.as_deref(), Some("1.3.8"));
        let pure = greet(
            b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n\
              220-You are user number 1 of 50 allowed.\r\n220 Bye\r\n",
        )
        .unwrap();
        assert_eq!(pure.product.as_deref(), Some("Pure-FTPd"));
        let plain = greet(b"220 Welcome to the FTP service.\r\n").unwrap();
        assert_eq!(plain.extra.as_deref(), Some("Welcome to the FTP service."));
        assert!(greet(b"220 mx ESMTP Postfix\r\n").is_none());
        let old =
            greet(b"220-FileZilla Server version 0.9.60 beta\r\n220 Please visit\r\n").unwrap();
        assert_eq!(old.product.as_deref(), Some("FileZilla ftpd"));
        assert_eq!(old.version.as_deref(), Some("0.9.60"));
    }
}

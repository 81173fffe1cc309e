//! Servers that speak first: whatever arrives before we send anything is
//! matched against every greeting we know (SSH, MySQL, VNC, SMTP, FTP,
//! POP3, IMAP), then completed where the greeting alone is not enough
//! (VNC's security types; a bare `220` that SMTP and FTP share).

use std::time::Duration;

use crate::model::ServiceInfo;

use super::io::{Reply, Stream, exchange};
use super::parse::Parsed;
use super::reply::{self, NumericReply};
use super::{ftp, hints, imap, mysql, pop3, smtp, ssh, vnc};

/// A recognised greeting.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Banner {
    /// Identified from the greeting alone.
    Known(Box<ServiceInfo>),
    /// An RFB version: VNC, security types still to learn.
    Vnc((u16, u16)),
    /// A three-digit reply that names neither SMTP nor FTP.
    Numeric(NumericReply),
}

/// Matches the first bytes a server sent against every known greeting.
pub(crate) fn parse(buf: &[u8], ended: bool, port: u16) -> Parsed<Banner> {
    let candidates = [
        ssh::parse_banner(buf, ended).map(known),
        mysql::parse_greeting(buf).map(known),
        vnc::parse_banner(buf).map(Banner::Vnc),
        pop3::parse_banner(buf, ended).map(known),
        imap::parse_banner(buf, ended).map(known),
        reply::parse(buf, ended).map(|r| numeric(r, port)),
    ];
    let mut incomplete = false;
    for c in candidates {
        match c {
            Parsed::Done(b) => return Parsed::Done(b),
            Parsed::Incomplete => incomplete = true,
            Parsed::Invalid => {}
        }
    }
    if incomplete && !ended {
        Parsed::Incomplete
    } else {
        Parsed::Invalid
    }
}

fn known(info: ServiceInfo) -> Banner {
    Banner::Known(Box::new(info))
}

fn numeric(r: NumericReply, port: u16) -> Banner {
    if let Some(info) = smtp::recognise(&r).or_else(|| ftp::recognise(&r)) {
        return known(info);
    }
    // No keyword: the port may still say which.
    match hints::guess(port) {
        Some("smtp" | "submission" | "smtps") => known(smtp::describe(&r.text())),
        Some("ftp" | "ftps") => known(ftp::describe(&r.text())),
        _ => Banner::Numeric(r),
    }
}

/// Completes a greeting on its connection: VNC's security types, or `EHLO`
/// to tell SMTP from FTP; then, for FTP and MySQL, whether the logins that
/// need no credentials (anonymous FTP, MySQL's `root` with an empty
/// password) get in.
pub(crate) fn follow_up<S: Stream + ?Sized>(
    stream: &mut S,
    banner: Banner,
    port: u16,
    timeout: Duration,
) -> ServiceInfo {
    let mut info = match banner {
        Banner::Known(info) => *info,
        Banner::Vnc(version) => {
            let mut info = vnc::describe(version);
            vnc::negotiate(stream, version, timeout, &mut info);
            info
        }
        Banner::Numeric(greeting) => match exchange(stream, smtp::EHLO, timeout, reply::parse) {
            Reply::Parsed(r) if smtp::is_ehlo_reply(&r) => smtp::describe(&greeting.text()),
            Reply::Parsed(_) => ftp::describe(&greeting.text()),
            _ => unsure(&greeting, port),
        },
    };
    if info.unauthenticated.is_none() {
        info.unauthenticated = match info.name.as_str() {
            "ftp" => ftp::anonymous_login(stream, timeout),
            "mysql" => mysql::empty_password_login(stream, timeout),
            _ => None,
        };
    }
    info.method = "banner".into();
    info
}

/// A greeting that came as the answer to another probe: what it says
/// without further questions.
pub(crate) fn unsolicited(bytes: &[u8], port: u16) -> Option<ServiceInfo> {
    let mut info = match parse(bytes, true, port).done()? {
        Banner::Known(info) => *info,
        Banner::Vnc(version) => vnc::describe(version),
        Banner::Numeric(greeting) => unsure(&greeting, port),
    };
    info.method = "banner".into();
    Some(info)
}

fn unsure(greeting: &NumericReply, port: u16) -> ServiceInfo {
    ServiceInfo {
        name: hints::guess(port).unwrap_or("unknown").into(),
        extra: super::parse::non_empty(greeting.text().as_bytes(), 80),
        ..ServiceInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(b: &[u8], port: u16) -> ServiceInfo {
        match parse(b, false, port) {
            Parsed::Done(Banner::Known(i)) => *i,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_greeting() {
        assert_eq!(known(b"SSH-2.0-OpenSSH_9.2p1\r\n", 2222).name, "ssh");
        assert_eq!(known(&mysql::tests::greeting("8.0.36"), 1).name, "mysql");
        assert_eq!(known(b"+OK ready\r\n", 1).name, "pop3");
        assert_eq!(known(b"* OK ready\r\n", 1).name, "imap");
        assert_eq!(known(b"220 x ESMTP\r\n", 1).name, "smtp");
        assert_eq!(known(b"220 FTP ready\r\n", 1).name, "ftp");
        assert_eq!(known(b"220 ready\r\n", 25).name, "smtp");
        assert_eq!(known(b"220 ready\r\n", 21).name, "ftp");
        assert!(matches!(
            parse(b"220 ready\r\n", false, 2525),
            Parsed::Done(Banner::Numeric(_))
        ));
        assert_eq!(
            parse(b"RFB 003.008\n", false, 1),
            Parsed::Done(Banner::Vnc((3, 8)))
        );
    }

    #[test]
    fn waiting_and_unknown() {
        assert_eq!(parse(b"SSH-2.0-Op", false, 22), Parsed::Incomplete);
        // Cut short, it is still SSH (as nmap names it).
        assert!(matches!(
            parse(b"SSH-2.0-Op", true, 22),
            Parsed::Done(Banner::Known(i)) if i.name == "ssh"
        ));
        assert_eq!(parse(b"\xff\xfb\x01", false, 23), Parsed::Invalid);
        assert_eq!(unsolicited(b"\xff\xfb\x01", 23), None);
        let u = unsolicited(b"SSH-2.0-x\r\n", 80).unwrap();
        assert_eq!((u.name.as_str(), u.method.as_str()), ("ssh", "banner"));
        let n = unsolicited(b"220 hi\r\n", 2525).unwrap();
        assert_eq!(n.name, "unknown");
    }
}

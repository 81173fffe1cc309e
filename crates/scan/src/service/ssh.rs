//! SSH: the server's identification string (RFC 4253 §4.2),
//! `SSH-protoversion-softwareversion SP comments CR LF`, sent before
//! anything else.
//!
//! The RFC lets a server send other lines first; they are not waited for.
//! Whether they arrive in the same read as the identification string is up
//! to TCP, so taking them when they do would name one server differently
//! from scan to scan; refusing them at once keeps a greeting that is not
//! SSH from holding the scan up until the timeout.
//!
//! Servers and middleboxes are less tidy than the RFC, and nmap names what
//! they send anyway, so this parser does too: a line may end in a lone CR,
//! and a string cut short (the peer closed, or sent nothing more before the
//! timeout) is still SSH. A cut string names its software and version only
//! when it got as far as a version (`OpenSSH_9.2p1`); where it was cut is
//! not known, so anything less names no product.

use crate::cpe;
use crate::model::ServiceInfo;

use super::parse::{Parsed, clean_text, first_line, non_empty};

/// The longest identification string, CR LF included (RFC 4253 §4.2).
const MAX_LINE: usize = 255;

/// Parses the identification string out of a server's first bytes;
/// `ended` when no more will come.
pub(crate) fn parse_banner(buf: &[u8], ended: bool) -> Parsed<ServiceInfo> {
    if !b"SSH-".starts_with(&buf[..buf.len().min(4)]) {
        return Parsed::Invalid;
    }
    match first_line(buf, ended) {
        Some((line, whole)) if line.len() < MAX_LINE => line
            .strip_prefix(b"SSH-")
            .and_then(|id| identification(id, whole))
            .map_or(Parsed::Invalid, Parsed::Done),
        Some(_) => Parsed::Invalid,
        None if buf.len() >= MAX_LINE => Parsed::Invalid,
        None => Parsed::Incomplete,
    }
}

/// `protoversion-softwareversion[ comments]`, after `SSH-`; `whole` when
/// its line end came.
fn identification(id: &[u8], whole: bool) -> Option<ServiceInfo> {
    let text = String::from_utf8_lossy(id);
    let (proto, rest) = text.split_once('-')?;
    if !matches!(proto, "2.0" | "1.99" | "1.5") {
        return None;
    }
    let reached_version = rest
        .split_once('_')
        .is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()));
    if !whole && !rest.contains(' ') && !reached_version {
        return Some(ServiceInfo {
            name: "ssh".into(),
            ..ServiceInfo::default()
        });
    }
    let (software, comments) = match rest.split_once(' ') {
        Some((s, c)) => (s, Some(c)),
        None => (rest, None),
    };
    let mut info = ServiceInfo {
        name: "ssh".into(),
        extra: comments.and_then(|c| non_empty(c.as_bytes(), 80)),
        ..ServiceInfo::default()
    };
    // `NAME_VERSION` as most servers write it, else `NAME-VERSION`
    // (`Cisco-1.25`).
    let (name, version) = match software.split_once('_').or_else(|| {
        software
            .rsplit_once('-')
            .filter(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
    }) {
        Some((n, v)) => (n, Some(v)),
        None => (software, None),
    };
    let version = version.map(|v| clean_text(v.as_bytes(), 40));
    let (product, vendor) = match name {
        "OpenSSH" => ("OpenSSH", Some(("openbsd", "openssh"))),
        "dropbear" => (
            "Dropbear sshd",
            Some(("dropbear_ssh_project", "dropbear_ssh")),
        ),
        "libssh" => ("libssh", Some(("libssh", "libssh"))),
        "Cisco" => ("Cisco SSH", None),
        other => {
            info.product = non_empty(other.as_bytes(), 40);
            info.version = version;
            return Some(info);
        }
    };
    info.product = Some(product.into());
    info.cpe = vendor.map(|(v, p)| cpe::application(v, p, version.as_deref()));
    info.version = version;
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssh_debian() {
        let info = parse_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", false)
            .done()
            .unwrap();
        assert_eq!(info.name, "ssh");
        assert_eq!(info.product.as_deref(), Some("OpenSSH"));
        assert_eq!(info.version.as_deref(), Some("9.2p1"));
        assert_eq!(info.extra.as_deref(), Some("Debian-2+deb12u3"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*")
        );
    }

    #[test]
    fn others() {
        let d = parse_banner(b"SSH-2.0-dropbear_2022.83\r\n", false)
            .done()
            .unwrap();
        assert_eq!(d.product.as_deref(), Some("Dropbear sshd"));
        assert_eq!(d.version.as_deref(), Some("2022.83"));
        let c = parse_banner(b"SSH-1.99-Cisco-1.25\n", false)
            .done()
            .unwrap();
        assert_eq!(c.product.as_deref(), Some("Cisco SSH"));
        assert_eq!(c.version.as_deref(), Some("1.25"));
        assert_eq!(c.cpe, None);
        // Lines before the identification string are not waited for.
        assert_eq!(
            parse_banner(b"Welcome\r\nSSH-2.0-Go\r\n", false),
            Parsed::Invalid
        );
    }

    #[test]
    fn odd_line_ends_and_cut_strings() {
        let cr = parse_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r", false);
        assert_eq!(cr.done().unwrap().version.as_deref(), Some("9.2p1"));
        // Cut after the version: the product and version that came.
        let cut = parse_banner(b"SSH-2.0-OpenSSH_9.2p1", true).done().unwrap();
        assert_eq!(
            (
                cut.name.as_str(),
                cut.product.as_deref(),
                cut.version.as_deref()
            ),
            ("ssh", Some("OpenSSH"), Some("9.2p1"))
        );
        // Cut before it: SSH, but no product made of a fragment.
        let short = parse_banner(b"SSH-2.0-Op", true).done().unwrap();
        assert_eq!((short.name.as_str(), short.product), ("ssh", None));
        assert_eq!(parse_banner(b"SSH-2.0", true), Parsed::Invalid);
        assert_eq!(parse_banner(b"SSH-9.9-x", true), Parsed::Invalid);
    }

    #[test]
    fn partial_and_wrong() {
        assert_eq!(parse_banner(b"SSH-2.0-Open", false), Parsed::Incomplete);
        assert_eq!(parse_banner(b"SS", false), Parsed::Incomplete);
        assert_eq!(parse_banner(b"220 smtp", false), Parsed::Invalid);
        assert_eq!(parse_banner(b"SSH-3.0-x\r\n", false), Parsed::Invalid);
        assert_eq!(parse_banner(b"hello\r\n", false), Parsed::Invalid);
        let long = [&b"SSH-2.0-"[..], &[b'x'; 300]].concat();
        assert_eq!(parse_banner(&long[..254], false), Parsed::Incomplete);
        assert_eq!(parse_banner(&long[..255], false), Parsed::Invalid);
    }
}

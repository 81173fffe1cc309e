//! Memcached's text protocol: `version` → `VERSION 1.6.18`, and `stats`
//! answered without authentication means anyone who reaches the port can
//! read and write the cache.

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{Reply, Session, Verdict, exchange};
use super::parse::{Parsed, clean_text, find, leading_version};

/// The request for the version.
pub(crate) const VERSION: &[u8] = b"version\r\n";
/// The request for statistics.
pub(crate) const STATS: &[u8] = b"stats\r\n";

/// The longest `version` reply line taken, `\r\n` included.
const MAX_VERSION_LINE: usize = 202;

/// Parses the reply to `version`: the version string. A line that has not
/// ended within [`MAX_VERSION_LINE`] bytes is refused however it arrives,
/// so the verdict does not depend on where TCP cut it.
pub(crate) fn parse_version(buf: &[u8]) -> Parsed<String> {
    const PREFIX: &[u8] = b"VERSION ";
    if buf.len() < PREFIX.len() {
        return if PREFIX.starts_with(buf) {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    }
    if !buf.starts_with(PREFIX) {
        return Parsed::Invalid;
    }
    match find(buf, b"\r\n") {
        Some(eol) if eol + 2 <= MAX_VERSION_LINE => {
            let v = clean_text(&buf[PREFIX.len()..eol], 40);
            if v.is_empty() {
                Parsed::Invalid
            } else {
                Parsed::Done(v)
            }
        }
        Some(_) => Parsed::Invalid,
        None if buf.len() >= MAX_VERSION_LINE => Parsed::Invalid,
        None => Parsed::Incomplete,
    }
}

/// What `stats` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stats {
    /// `STAT …` lines up to `END`: no authentication.
    Open,
    /// An error instead (`CLIENT_ERROR unauthenticated`, `ERROR`).
    Refused,
}

/// Parses the reply to `stats`.
pub(crate) fn parse_stats(buf: &[u8]) -> Parsed<Stats> {
    if buf.starts_with(b"STAT ") {
        if buf.ends_with(b"END\r\n") {
            Parsed::Done(Stats::Open)
        } else {
            Parsed::Incomplete
        }
    } else if buf.starts_with(b"CLIENT_ERROR")
        || buf.starts_with(b"ERROR")
        || buf.starts_with(b"SERVER_ERROR")
    {
        Parsed::Done(Stats::Refused)
    } else if b"STAT ".starts_with(buf)
        || b"CLIENT_ERROR".starts_with(buf)
        || b"ERROR".starts_with(buf)
        || b"SERVER_ERROR".starts_with(buf)
    {
        Parsed::Incomplete
    } else {
        Parsed::Invalid
    }
}

/// The service for a version string.
pub(crate) fn describe(version: &str) -> ServiceInfo {
    let v = leading_version(version);
    ServiceInfo {
        name: "memcache".into(),
        product: Some("Memcached".into()),
        version: Some(version.to_string()),
        cpe: Some(cpe::application("memcached", "memcached", v)),
        ..ServiceInfo::default()
    }
}

/// The probe: `version`, then `stats` on the same connection.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    let timeout = session.timeout;
    let version = match exchange(&mut s, VERSION, timeout, |b, _| parse_version(b)) {
        Reply::Parsed(v) => v,
        other => return other.into_verdict(|_| Verdict::Nothing),
    };
    let mut info = describe(&version);
    info.unauthenticated = match exchange(&mut s, STATS, timeout, |b, _| parse_stats(b)) {
        Reply::Parsed(Stats::Open) => Some(true),
        Reply::Parsed(Stats::Refused) => Some(false),
        _ => None,
    };
    info.method = "probe:memcached".into();
    Verdict::Found(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version() {
        assert_eq!(
            parse_version(b"VERSION 1.6.18\r\n"),
            Parsed::Done("1.6.18".into())
        );
        assert_eq!(parse_version(b"VERS"), Parsed::Incomplete);
        assert_eq!(parse_version(b"VERSION 1.6"), Parsed::Incomplete);
        assert_eq!(parse_version(b"-ERR unknown command\r\n"), Parsed::Invalid);
        assert_eq!(parse_version(b"VERSION \r\n"), Parsed::Invalid);
        let info = describe("1.6.18");
        assert_eq!(info.name, "memcache");
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:memcached:memcached:1.6.18:*:*:*:*:*:*:*")
        );
    }

    #[test]
    fn stats() {
        let s = b"STAT pid 1\r\nSTAT uptime 10\r\nSTAT version 1.6.18\r\nEND\r\n";
        assert_eq!(parse_stats(s), Parsed::Done(Stats::Open));
        assert_eq!(parse_stats(&s[..20]), Parsed::Incomplete);
        assert_eq!(
            parse_stats(b"CLIENT_ERROR unauthenticated\r\n"),
            Parsed::Done(Stats::Refused)
        );
        assert_eq!(parse_stats(b"HTTP/1.1"), Parsed::Invalid);
        assert_eq!(parse_stats(b"ST"), Parsed::Incomplete);
    }
}

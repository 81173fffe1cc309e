//! Apache ZooKeeper's four-letter words: `srvr` (server details, in the
//! default allow-list since 3.5) and `ruok` (`imok`). A server that answers
//! `srvr` tells anyone its version, mode and node count.

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{Reply, Session, Verdict, exchange};
use super::parse::{Parsed, clean_text, leading_version, lines};

/// Server details.
pub(crate) const SRVR: &[u8] = b"srvr";
/// Are you ok?
pub(crate) const RUOK: &[u8] = b"ruok";

/// What `srvr` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Srvr {
    /// The details: version and mode.
    Details {
        version: Option<String>,
        mode: Option<String>,
    },
    /// "srvr is not executed because it is not in the whitelist."
    NotAllowed,
}

/// Parses the answer to `srvr`; the server closes the connection after it.
pub(crate) fn parse_srvr(buf: &[u8], ended: bool) -> Parsed<Srvr> {
    const HEAD: &[u8] = b"Zookeeper version: ";
    const REFUSED: &[u8] = b"srvr is not executed";
    if buf.starts_with(REFUSED) {
        return Parsed::Done(Srvr::NotAllowed);
    }
    if !buf.starts_with(HEAD) {
        let n = buf.len();
        return if !ended && (HEAD.starts_with(buf) || REFUSED.get(..n) == Some(buf)) {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    }
    // The first line is the version; the answer is whole once a `Mode: `
    // line has ended (or the server closed). Later lines cannot change
    // either, so the verdict does not depend on where TCP cut the answer.
    let ended_lines = buf.split(|&b| b == b'\n').count() - 1;
    let usable = if ended { ended_lines + 1 } else { ended_lines };
    let mode_line = lines(buf)
        .take(usable.min(50))
        .find_map(|line| line.strip_prefix(b"Mode: "));
    if mode_line.is_none() && !ended {
        return Parsed::Incomplete;
    }
    let first = lines(buf).next().unwrap_or_default();
    let version =
        leading_version(&String::from_utf8_lossy(&first[HEAD.len()..])).map(str::to_string);
    let mode = mode_line
        .map(|m| clean_text(m, 30))
        .filter(|m| !m.is_empty());
    Parsed::Done(Srvr::Details { version, mode })
}

/// Parses the answer to `ruok`.
pub(crate) fn parse_ruok(buf: &[u8]) -> Parsed<()> {
    match buf {
        b"imok" => Parsed::Done(()),
        b if b"imok".starts_with(b) => Parsed::Incomplete,
        _ => Parsed::Invalid,
    }
}

/// The service described by `srvr`'s answer.
pub(crate) fn describe(srvr: &Srvr) -> ServiceInfo {
    let mut info = ServiceInfo {
        name: "zookeeper".into(),
        product: Some("Apache ZooKeeper".into()),
        ..ServiceInfo::default()
    };
    match srvr {
        Srvr::Details { version, mode } => {
            info.version = version.clone();
            info.extra = mode.as_ref().map(|m| format!("mode {m}"));
            info.unauthenticated = Some(true);
        }
        Srvr::NotAllowed => info.extra = Some("srvr not allowed".into()),
    }
    info.cpe = Some(cpe::application(
        "apache",
        "zookeeper",
        info.version.as_deref(),
    ));
    info
}

/// The probe: `srvr`, then, on ZooKeeper's ports, `ruok` on a new
/// connection if `srvr` got nothing.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    let timeout = session.timeout;
    let found = |mut info: ServiceInfo| {
        info.method = "probe:zookeeper".into();
        Verdict::Found(info)
    };
    match exchange(&mut s, SRVR, timeout, parse_srvr) {
        Reply::Parsed(srvr) => return found(describe(&srvr)),
        Reply::Other(b) => return Verdict::Other(b),
        // Only worth another connection where ZooKeeper is expected.
        Reply::Nothing if !matches!(session.addr.port(), 2181 | 2182) => return Verdict::Nothing,
        Reply::Nothing => {}
    }
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    exchange(&mut s, RUOK, timeout, |b, _| parse_ruok(b)).into_verdict(|()| {
        let mut info = describe(&Srvr::NotAllowed);
        info.extra = Some("ruok: imok".into());
        found(info)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRVR_REPLY: &[u8] =
        b"Zookeeper version: 3.8.4-9316c2a7a97e1666d8f4593f34dd6fc36ecc436c, \
        built on 2024-02-12 22:16 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\n\
        Connections: 1\nOutstanding: 0\nZxid: 0x0\nMode: standalone\nNode count: 5\n";

    #[test]
    fn srvr() {
        let s = parse_srvr(SRVR_REPLY, false).done().unwrap();
        let info = describe(&s);
        assert_eq!(info.name, "zookeeper");
        assert_eq!(info.version.as_deref(), Some("3.8.4"));
        assert_eq!(info.extra.as_deref(), Some("mode standalone"));
        assert_eq!(info.unauthenticated, Some(true));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:apache:zookeeper:3.8.4:*:*:*:*:*:*:*")
        );
        assert_eq!(parse_srvr(&SRVR_REPLY[..40], false), Parsed::Incomplete);
        assert!(matches!(
            parse_srvr(&SRVR_REPLY[..40], true),
            Parsed::Done(_)
        ));
        let refused = b"srvr is not executed because it is not in the whitelist.\n";
        assert_eq!(parse_srvr(refused, false), Parsed::Done(Srvr::NotAllowed));
        assert_eq!(parse_srvr(b"srvr is", false), Parsed::Incomplete);
        assert_eq!(parse_srvr(b"-ERR", false), Parsed::Invalid);
    }

    #[test]
    fn ruok() {
        assert_eq!(parse_ruok(b"imok"), Parsed::Done(()));
        assert_eq!(parse_ruok(b"im"), Parsed::Incomplete);
        assert_eq!(parse_ruok(b"nope"), Parsed::Invalid);
    }
}

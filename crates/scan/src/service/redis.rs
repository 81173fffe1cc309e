//! Redis (and compatible servers such as Valkey): RESP replies to `PING`
//! (`+PONG`: no password needed; `-NOAUTH`: one is) and, when open, to
//! `INFO server` for the version.

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{Reply, Session, Verdict, exchange};
use super::parse::{Parsed, clean_text, find, lines, non_empty};

/// `PING` as a RESP array.
pub(crate) const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
/// `INFO server` as a RESP array.
pub(crate) const INFO_SERVER: &[u8] = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";

/// One RESP2 reply (nested arrays are skipped over, not kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resp {
    /// `+text`
    Simple(String),
    /// `-text`
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$n` data, `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n`, with the number of elements.
    Array(i64),
}

/// Parses one reply.
pub(crate) fn parse(buf: &[u8]) -> Parsed<Resp> {
    parse_at(buf, 0).map(|(r, _)| r)
}

/// The longest RESP line taken, `\r\n` included.
const MAX_LINE: usize = 4096;

/// One reply at the start of `buf`, and its length. A line must end in
/// `\r\n` within [`MAX_LINE`] bytes, with no bare `\n` before: one that
/// does not is refused however it arrives, so the verdict does not depend
/// on where TCP cut it.
fn parse_at(buf: &[u8], depth: u8) -> Parsed<(Resp, usize)> {
    let Some(&kind) = buf.first() else {
        return Parsed::Incomplete;
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') || depth > 8 {
        return Parsed::Invalid;
    }
    let Some(eol) = find(buf, b"\r\n") else {
        return if buf.len() >= MAX_LINE || buf.contains(&b'\n') {
            Parsed::Invalid
        } else {
            Parsed::Incomplete
        };
    };
    let line = &buf[1..eol];
    if eol + 2 > MAX_LINE || line.contains(&b'\n') {
        return Parsed::Invalid;
    }
    let after = eol + 2;
    let number = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match kind {
        b'+' => Parsed::Done((Resp::Simple(clean_text(line, 200)), after)),
        b'-' => Parsed::Done((Resp::Error(clean_text(line, 200)), after)),
        b':' => number().map_or(Parsed::Invalid, |n| Parsed::Done((Resp::Integer(n), after))),
        b'$' => match number() {
            Some(-1) => Parsed::Done((Resp::Bulk(None), after)),
            Some(n @ 0..=1_048_576) => {
                let n = n as usize;
                match buf.get(after..after + n + 2) {
                    Some(data) if data.ends_with(b"\r\n") => {
                        Parsed::Done((Resp::Bulk(Some(data[..n].to_vec())), after + n + 2))
                    }
                    Some(_) => Parsed::Invalid,
                    None => Parsed::Incomplete,
                }
            }
            _ => Parsed::Invalid,
        },
        _ => match number() {
            Some(n @ -1..=1024) => {
                let mut at = after;
                for _ in 0..n.max(0) {
                    match parse_at(&buf[at..], depth + 1) {
                        Parsed::Done((_, len)) => at += len,
                        Parsed::Incomplete => return Parsed::Incomplete,
                        Parsed::Invalid => return Parsed::Invalid,
                    }
                }
                Parsed::Done((Resp::Array(n), at))
            }
            _ => Parsed::Invalid,
        },
    }
}

/// What the answer to `PING` says: a Redis, and whether it needs a password.
/// `None` when it is not Redis's answer.
pub(crate) fn from_ping(reply: &Resp) -> Option<ServiceInfo> {
    let mut info = ServiceInfo {
        name: "redis".into(),
        product: Some("Redis key-value store".into()),
        ..ServiceInfo::default()
    };
    match reply {
        Resp::Simple(s) if s == "PONG" => info.unauthenticated = Some(true),
        Resp::Error(e) if e.starts_with("NOAUTH") || e.starts_with("WRONGPASS") => {
            info.unauthenticated = Some(false);
        }
        // Redis before 6 answered a missing password this way.
        Resp::Error(e) if e == "ERR operation not permitted" => {
            info.unauthenticated = Some(false);
        }
        Resp::Error(e) if e.starts_with("DENIED") => {
            info.unauthenticated = Some(false);
            info.extra = Some("protected mode".into());
        }
        _ => return None,
    }
    Some(info)
}

/// Adds what `INFO server` says: `redis_version` (or Valkey's
/// `valkey_version`), `redis_mode`.
pub(crate) fn apply_info(info: &mut ServiceInfo, text: &[u8]) {
    let mut fields = std::collections::HashMap::new();
    for line in lines(text).take(200) {
        let line = String::from_utf8_lossy(line);
        if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.trim().to_string(), clean_text(v.as_bytes(), 60));
        }
    }
    let valkey = fields.get("server_name").is_some_and(|n| n == "valkey");
    if valkey {
        info.product = Some("Valkey".into());
        info.version = fields.get("valkey_version").cloned();
    } else {
        info.version = fields.get("redis_version").cloned();
        info.cpe = Some(cpe::application("redis", "redis", info.version.as_deref()));
    }
    info.version = info.version.take().filter(|v| !v.is_empty());
    if let Some(mode) = fields
        .get("redis_mode")
        .and_then(|m| non_empty(m.as_bytes(), 30))
    {
        info.extra = Some(format!("mode {mode}"));
    }
}

/// The probe: `PING`, then `INFO server` when no password is needed.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    let timeout = session.timeout;
    let reply = exchange(&mut s, PING, timeout, |b, _| parse(b));
    let mut info = match reply {
        Reply::Parsed(r) => match from_ping(&r) {
            Some(info) => info,
            // RESP, but not an answer Redis gives to PING.
            None => return Verdict::Nothing,
        },
        other => return other.into_verdict(|_| Verdict::Nothing),
    };
    if info.unauthenticated == Some(true) {
        if let Reply::Parsed(Resp::Bulk(Some(text))) =
            exchange(&mut s, INFO_SERVER, timeout, |b, _| parse(b))
        {
            apply_info(&mut info, &text);
        }
    } else {
        info.cpe = Some(cpe::application("redis", "redis", None));
    }
    info.method = "probe:redis".into();
    Verdict::Found(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse(b"+PONG\r\n"),
            Parsed::Done(Resp::Simple("PONG".into()))
        );
        assert_eq!(parse(b"+PON"), Parsed::Incomplete);
        assert_eq!(parse(b":42\r\n"), Parsed::Done(Resp::Integer(42)));
        assert_eq!(
            parse(b"$3\r\nabc\r\n"),
            Parsed::Done(Resp::Bulk(Some(b"abc".to_vec())))
        );
        assert_eq!(parse(b"$3\r\nab"), Parsed::Incomplete);
        assert_eq!(parse(b"$3\r\nabcd\r\n"), Parsed::Invalid);
        assert_eq!(parse(b"$-1\r\n"), Parsed::Done(Resp::Bulk(None)));
        assert_eq!(
            parse(b"*2\r\n:1\r\n$1\r\nx\r\n"),
            Parsed::Done(Resp::Array(2))
        );
        assert_eq!(parse(b"*2\r\n:1\r\n"), Parsed::Incomplete);
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n"), Parsed::Invalid);
        assert_eq!(parse(b"$99999999999\r\n"), Parsed::Invalid);
    }

    #[test]
    fn ping_answers() {
        let open = from_ping(&Resp::Simple("PONG".into())).unwrap();
        assert_eq!(open.unauthenticated, Some(true));
        let closed = from_ping(&Resp::Error("NOAUTH Authentication required.".into())).unwrap();
        assert_eq!(closed.unauthenticated, Some(false));
        let denied = from_ping(&Resp::Error(
            "DENIED Redis is running in protected mode because protected mode is enabled".into(),
        ))
        .unwrap();
        assert_eq!(denied.extra.as_deref(), Some("protected mode"));
        assert!(from_ping(&Resp::Error("ERR unknown command".into())).is_none());
        assert!(from_ping(&Resp::Simple("OK".into())).is_none());
    }

    #[test]
    fn info_server() {
        let text = b"# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\
            redis_mode:standalone\r\nos:Linux 6.1.0 x86_64\r\n";
        let mut info = from_ping(&Resp::Simple("PONG".into())).unwrap();
        apply_info(&mut info, text);
        assert_eq!(info.version.as_deref(), Some("7.0.15"));
        assert_eq!(info.extra.as_deref(), Some("mode standalone"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:redis:redis:7.0.15:*:*:*:*:*:*:*")
        );
        let mut v = from_ping(&Resp::Simple("PONG".into())).unwrap();
        apply_info(
            &mut v,
            b"redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n",
        );
        assert_eq!(v.product.as_deref(), Some("Valkey"));
        assert_eq!(v.version.as_deref(), Some("8.0.1"));
        assert_eq!(v.cpe, None);
    }
}

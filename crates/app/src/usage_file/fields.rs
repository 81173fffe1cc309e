//! Recorded uses read quickly in the form `usage --by-source --format json`
//! writes them.
//!
//! A million lines hold a million sources and two million timestamps; the
//! general parsers (serde_json's map of fields, ipnet's, which allocates
//! per address, jiff's, which accepts every RFC 3339 and ISO 8601 variant)
//! took half of `simulate`'s time. Each function here takes a fast path
//! for the one form portreeve writes and hands anything else to the
//! general parser, so the result — value or error — is always the general
//! parser's.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::civil::Date;
use portreeve_core::{Proto, SourceUse};

/// A line exactly as `usage --by-source --format json` writes it —
/// `{"source":"…","protocol":"tcp","port":22,"connections":3,
/// "first_seen":"…","last_seen":"…"}`, no spaces, strings without escapes,
/// the protocol `tcp` or `udp`, numbers plain — with every field read
/// without fault by the fast paths below; `None` for any other line, which
/// serde_json then reads (and judges) in full.
pub fn canonical_line(line: &str) -> Option<SourceUse> {
    let rest = line.strip_prefix(r#"{"source":""#)?;
    let (source, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","protocol":""#)?;
    let (protocol, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","port":"#)?;
    let (port, rest) = rest.split_once(',')?;
    let rest = rest.strip_prefix(r#""connections":"#)?;
    let (connections, rest) = rest.split_once(',')?;
    let rest = rest.strip_prefix(r#""first_seen":""#)?;
    let (first_seen, rest) = rest.split_once('"')?;
    let rest = rest.strip_prefix(r#","last_seen":""#)?;
    let (last_seen, rest) = rest.split_once('"')?;
    if rest != "}" {
        return None;
    }
    Some(SourceUse {
        source: network_fast(source)?,
        protocol: match protocol {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            _ => return None,
        },
        port: plain_number(port)?,
        connections: plain_number(connections)?,
        first_seen: timestamp_fast(first_seen)?,
        last_seen: timestamp_fast(last_seen)?,
    })
}

/// A JSON number that is a plain decimal (no sign, no leading zero, no
/// fraction or exponent) and fits `T`.
fn plain_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    plain.then(|| text.parse().ok()).flatten()
}

/// `text` as a network (`192.0.2.7/32`, `2001:db8::/64`), as
/// [`IpNet`]'s `FromStr` reads it.
pub fn network(text: &str) -> Result<IpNet, ipnet::AddrParseError> {
    network_fast(text).map_or_else(|| text.parse(), Ok)
}

/// An address std reads and a prefix of plain decimal digits (no sign, no
/// leading zero) that fits the family; `None` for anything else.
fn network_fast(text: &str) -> Option<IpNet> {
    let (addr, prefix) = text.split_once('/')?;
    let plain = !prefix.is_empty()
        && prefix.len() <= 3
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    if !plain {
        return None;
    }
    IpNet::new(addr.parse::<IpAddr>().ok()?, prefix.parse().ok()?).ok()
}

/// `text` as a timestamp, as jiff's `Timestamp::from_str` reads it.
pub fn timestamp(text: &str) -> Result<Timestamp, jiff::Error> {
    timestamp_fast(text).map_or_else(|| text.parse(), Ok)
}

/// `YYYY-MM-DDTHH:MM:SSZ` with a valid date and a time before 24:00:00 (no
/// leap second); `None` for anything else.
fn timestamp_fast(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() != 20 || [b[4], b[7], b[10], b[13], b[16], b[19]] != *b"--T::Z" {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date = Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    let midnight = date.duration_since(Date::constant(1970, 1, 1)).as_secs();
    Timestamp::from_second(midnight + hour * 3_600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form, the fast one and the others, reads as the general
    /// parser reads it: the same value, or an error where it errs.
    #[test]
    fn networks_read_as_ipnet_reads_them() {
        for text in [
            "192.0.2.7/32",
            "10.1.2.0/24",
            "0.0.0.0/0",
            "2001:db8:17:3c6a::a61c/128",
            "2001:db8::/64",
            "::ffff:192.0.2.1/128",
            "::/0",
            "192.0.2.7/33",
            "2001:db8::/129",
            "192.0.2.7/032",
            "192.0.2.7/+24",
            "192.0.2.7/",
            "192.0.2.7",
            "192.0.2.07/32",
            "192.0.2.7/24 ",
            "garbage",
            "",
        ] {
            let general = text.parse::<IpNet>();
            assert_eq!(network(text).ok(), general.ok(), "{text:?}");
        }
        assert!(network_fast("192.0.2.7/32").is_some());
        assert!(network_fast("2001:db8::/64").is_some());
    }

    #[test]
    fn timestamps_read_as_jiff_reads_them() {
        for text in [
            "2026-11-09T12:00:00Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2024-02-29T08:30:15Z",
            "2100-03-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-30T21:59:59Z",
            "9999-12-31T23:59:59Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T23:59:60Z",
            "2026-12-01T23:60:00Z",
            "2026-12-01T12:00:00+02:00",
            "2026-12-01T12:00:00.5Z",
            "2026-12-01t12:00:00z",
            "2026-12-01 12:00:00Z",
            "2026-1a-01T12:00:00Z",
            "+2026-12-01T12:00:00Z",
            "",
        ] {
            let general = text.parse::<Timestamp>().ok();
            assert_eq!(timestamp(text).ok(), general, "{text:?}");
            if let Some(fast) = timestamp_fast(text) {
                assert_eq!(Some(fast), general, "{text:?}");
            }
        }
        assert!(timestamp_fast("2026-11-09T12:00:00Z").is_some());
        assert!(timestamp_fast("1969-12-31T23:59:59Z").is_some());
    }
}

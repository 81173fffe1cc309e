//! ArcSight Common Event Format (CEF) messages, the body of the syslog sink.
//!
//! `CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension`. The
//! header's fields escape `\` and `|`; the extension is `key=value` pairs
//! separated by spaces whose values escape `\` and `=` and write line breaks
//! as `\n`/`\r`, so a hostile string in an alert (an evidence line, an
//! operator's reason) can neither end a field nor forge another key.

use std::fmt::Write as _;

use crate::alert::{Alert, BlockEvent, ScanKind};

/// How many ports `cs3` lists before it summarises the rest: a full-range
/// scan has 65535 of them, and a syslog message should fit a datagram.
pub const MAX_LISTED_PORTS: usize = 100;

/// The CEF line for `alert`; `version` is portreeve's version.
pub fn format(alert: &Alert, version: &str) -> String {
    let mut line = String::from("CEF:0|portreeve|portreeve|");
    for field in [
        version,
        alert.signature_id(),
        &alert.title(),
        &alert.severity().cef().to_string(),
    ] {
        line.push_str(&escape_header(field));
        line.push('|');
    }
    let ext: Vec<String> = extensions(alert)
        .into_iter()
        .map(|(key, value)| format!("{key}={}", escape_extension(&value)))
        .collect();
    line.push_str(&ext.join(" "));
    line
}

/// The extension pairs, in a fixed order.
fn extensions(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut ext = vec![("rt", alert.time().as_millisecond().to_string())];
    match alert {
        Alert::Detection(d) => {
            ext.push(("src", d.source.to_string()));
            if let [port] = d.ports[..] {
                ext.push(("dpt", port.to_string()));
            }
            if d.kind == ScanKind::Udp {
                ext.push(("proto", "UDP".to_owned()));
            }
            ext.push(("act", d.action.name().to_owned()));
            ext.push(("cnt", d.attempts.to_string()));
            ext.push(("start", d.first_seen.as_millisecond().to_string()));
            ext.push(("end", d.last_seen.as_millisecond().to_string()));
            ext.push(("cs1Label", "kind".to_owned()));
            ext.push(("cs1", d.kind.name().to_owned()));
            ext.push(("cs2Label", "tier".to_owned()));
            ext.push(("cs2", d.tier.name().to_owned()));
            ext.push(("cs3Label", "ports".to_owned()));
            ext.push(("cs3", port_list(&d.ports)));
            if !d.evidence.is_empty() {
                ext.push(("cs4Label", "evidence".to_owned()));
                ext.push(("cs4", d.evidence.join("\n")));
            }
        }
        Alert::Block(b) => {
            if let Some(host) = b.host() {
                ext.push(("src", host.to_string()));
            }
            ext.push((
                "act",
                match b.event {
                    BlockEvent::Block => "block",
                    BlockEvent::Unblock => "unblock",
                    BlockEvent::Expiry => "expire",
                }
                .to_owned(),
            ));
            ext.push(("suser", b.actor.clone()));
            ext.push(("reason", b.reason.clone()));
            ext.push(("cs5Label", "target".to_owned()));
            ext.push(("cs5", b.target.to_string()));
            if let Some(ttl) = b.ttl_seconds {
                ext.push(("cn1Label", "ttlSeconds".to_owned()));
                ext.push(("cn1", ttl.to_string()));
            }
        }
        Alert::UsageAnomaly(u) => {
            ext.push(("dpt", u.port.to_string()));
            ext.push(("proto", u.protocol.as_str().to_ascii_uppercase()));
            ext.push(("cnt", u.observed.to_string()));
            ext.push(("start", u.start.as_millisecond().to_string()));
            ext.push(("end", u.end().as_millisecond().to_string()));
            ext.push(("cs1Label", "kind".to_owned()));
            ext.push(("cs1", u.kind.as_str().to_owned()));
            ext.push(("cn1Label", "expectedLow".to_owned()));
            ext.push(("cn1", u.expected_low.to_string()));
            ext.push(("cn2Label", "expectedHigh".to_owned()));
            ext.push(("cn2", u.expected_high.to_string()));
        }
    }
    ext.push(("msg", alert.message()));
    ext
}

/// `22,80,443`, or the first [`MAX_LISTED_PORTS`] and `+N more`.
fn port_list(ports: &[u16]) -> String {
    let mut out = String::new();
    for (i, port) in ports.iter().take(MAX_LISTED_PORTS).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{port}");
    }
    if ports.len() > MAX_LISTED_PORTS {
        let _ = write!(out, ",+{} more", ports.len() - MAX_LISTED_PORTS);
    }
    out
}

/// A header field: `\` and `|` escaped with a backslash; a header cannot
/// hold a line break, so one becomes a space.
pub fn escape_header(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An extension value: `\` and `=` escaped with a backslash, line breaks
/// written as `\n` and `\r`. A `|` needs no escape here.
pub fn escape_extension(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn header_escapes_pipe_and_backslash_and_flattens_line_breaks() {
        assert_eq!(escape_header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(escape_header("two\nlines\r"), "two lines ");
        assert_eq!(escape_header("a=b"), "a=b");
    }

    #[test]
    fn extension_escapes_equals_backslash_and_line_breaks_but_not_pipe() {
        assert_eq!(escape_extension(r"k=v\x"), r"k\=v\\x");
        assert_eq!(escape_extension("one\ntwo\r"), r"one\ntwo\r");
        assert_eq!(escape_extension("a|b"), "a|b");
    }

    #[test]
    fn detection_line_has_header_and_standard_keys() {
        let line = format(&examples::detection(), "0.1.0");
        assert_eq!(
            line,
            "CEF:0|portreeve|portreeve|0.1.0|portscan.vertical|Port scan (vertical)|8|\
             rt=1780000005000 src=192.0.2.7 act=block cnt=5 start=1780000000000 \
             end=1780000005000 cs1Label=kind cs1=vertical cs2Label=tier cs2=kernel \
             cs3Label=ports cs3=22,23,80,443,8080 cs4Label=evidence \
             cs4=5 closed ports in 5s\\nthreshold\\=5 \
             msg=vertical port scan from 192.0.2.7 (kernel tier): 5 ports in 5 attempts, blocked"
        );
    }

    #[test]
    fn hostile_reason_cannot_forge_a_key_or_a_field() {
        let mut block = examples::block();
        block.reason = "x act=allow\nsrc=10.0.0.1 | y\\".to_owned();
        let line = format(&Alert::Block(block), "1|2");
        assert!(line.starts_with("CEF:0|portreeve|portreeve|1\\|2|block|Source blocked|5|"));
        assert!(
            line.contains(r"reason=x act\=allow\nsrc\=10.0.0.1 | y\\ "),
            "{line}"
        );
        assert_eq!(line.matches(" act=").count(), 1, "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn usage_anomaly_line_names_port_hour_count_and_expected_range() {
        let line = format(&examples::usage_anomaly(), "0.1.0");
        assert_eq!(
            line,
            "CEF:0|portreeve|portreeve|0.1.0|usage-anomaly|Usage anomaly (burst)|5|\
             rt=1779998400000 dpt=8080 proto=TCP cnt=240 start=1779998400000 \
             end=1780002000000 cs1Label=kind cs1=burst cn1Label=expectedLow cn1=10 \
             cn2Label=expectedHigh cn2=25 \
             msg=8080/tcp: 240 new connections in the hour from 2026-05-28T20:00:00Z, \
             10 to 25 expected: a burst many times the usual"
        );
    }

    #[test]
    fn long_port_lists_are_summarised() {
        let ports: Vec<u16> = (1..=150).collect();
        let list = port_list(&ports);
        assert!(list.starts_with("1,2,3,"));
        assert!(list.ends_with(",100,+50 more"), "{list}");
    }
}

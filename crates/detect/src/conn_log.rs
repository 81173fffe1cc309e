//! Attempts from a Zeek `conn.log`, tab-separated (with `#separator`,
//! `#fields` and `#unset_field` headers) or JSON lines; the format is
//! recognised line by line (a line starting with `{` is JSON).
//!
//! A record's `conn_state` gives the outcome: `S0`, `SH`, `RSTOS0` and
//! `OTH` were unanswered, `REJ` refused, `RSTO`/`RSTR` accepted then
//! reset, the rest (`SF`, `S1`, `S2`, `S3`, `SHR`, `RSTRH`) accepted. Its
//! `history` gives the probe (upper case is the originator, lower case the
//! responder): a SYN (`S`) is an ordinary attempt; without one, an
//! originator FIN (`F`) is a FIN probe, a bare ACK (`A`) answered by a
//! reset (`r`) an ACK probe, and a history with no originator flag at all
//! a NULL probe; without a history (no column, or unset) a TCP record is
//! an ordinary attempt judged by `conn_state` alone.
//! Zeek's history has no letter for PSH or URG, so Xmas probes read as
//! FIN probes (both are stealth). Midstream records (data without a SYN)
//! and ICMP are not attempts and are skipped. A UDP record is accepted
//! when the responder sent anything back.

use std::io::BufRead;
use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::Value;

use crate::attempt::{Attempt, Outcome, Probe, Transport};

/// A bad line in a `conn.log`.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ConnLogError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// Column positions from a `#fields` header.
#[derive(Debug, Clone)]
struct Columns {
    count: usize,
    ts: usize,
    orig_h: usize,
    resp_h: usize,
    resp_p: usize,
    proto: usize,
    conn_state: usize,
    history: Option<usize>,
}

/// One record's fields, from either format.
struct Record<'a> {
    ts: &'a str,
    orig_h: &'a str,
    resp_h: &'a str,
    resp_p: &'a str,
    proto: &'a str,
    conn_state: &'a str,
    /// `None` when the log has no history column or the value is unset.
    history: Option<&'a str>,
}

/// Reads every attempt in a `conn.log`, in time order. Stops at the first
/// bad line.
pub fn read(reader: impl BufRead) -> Result<Vec<Attempt>, ConnLogError> {
    let mut separator = "\t".to_owned();
    let mut unset = "-".to_owned();
    let mut columns: Option<Columns> = None;
    let mut attempts = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index as u64 + 1;
        let located = |problem: String| ConnLogError {
            line: number,
            problem,
        };
        let line = line.map_err(|e| located(format!("read error: {e}")))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let attempt = if let Some(header) = line.strip_prefix('#') {
            header_line(header, &mut separator, &mut unset, &mut columns).map_err(located)?;
            None
        } else if line.starts_with('{') {
            json_attempt(line).map_err(located)?
        } else {
            let cols = columns.as_ref().ok_or_else(|| {
                located("data before the #fields header (is this a Zeek conn.log?)".into())
            })?;
            tsv_attempt(line, cols, &separator, &unset).map_err(located)?
        };
        attempts.extend(attempt);
    }
    attempts.sort_by_key(|a: &Attempt| a.at);
    Ok(attempts)
}

fn header_line(
    header: &str,
    separator: &mut String,
    unset: &mut String,
    columns: &mut Option<Columns>,
) -> Result<(), String> {
    if let Some(value) = header.strip_prefix("separator ") {
        *separator = unescape(value);
        if separator.is_empty() {
            return Err("empty #separator".into());
        }
        return Ok(());
    }
    let Some((key, value)) = header.split_once(separator.as_str()) else {
        return Ok(());
    };
    match key {
        "unset_field" => *unset = value.to_owned(),
        "fields" => {
            let names: Vec<&str> = value.split(separator.as_str()).collect();
            let find = |name: &str| names.iter().position(|n| *n == name);
            let need =
                |name: &str| find(name).ok_or(format!("the #fields header has no {name} column"));
            *columns = Some(Columns {
                count: names.len(),
                ts: need("ts")?,
                orig_h: need("id.orig_h")?,
                resp_h: need("id.resp_h")?,
                resp_p: need("id.resp_p")?,
                proto: need("proto")?,
                conn_state: need("conn_state")?,
                history: find("history"),
            });
        }
        _ => {}
    }
    Ok(())
}

/// Decodes the `\xHH` escapes of the `#separator` header.
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn tsv_attempt(
    line: &str,
    cols: &Columns,
    separator: &str,
    unset: &str,
) -> Result<Option<Attempt>, String> {
    let values: Vec<&str> = line.split(separator).collect();
    if values.len() < cols.count {
        return Err(format!(
            "{} columns where the #fields header has {}",
            values.len(),
            cols.count
        ));
    }
    let get = |i: usize| values.get(i).copied().filter(|v| *v != unset).unwrap_or("");
    attempt(&Record {
        ts: get(cols.ts),
        orig_h: get(cols.orig_h),
        resp_h: get(cols.resp_h),
        resp_p: get(cols.resp_p),
        proto: get(cols.proto),
        conn_state: get(cols.conn_state),
        history: cols.history.map(get).filter(|h| !h.is_empty()),
    })
}

fn json_attempt(line: &str) -> Result<Option<Attempt>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("a JSON line that is not an object")?;
    // Numbers are kept as their text, so timestamps and ports go through
    // the same parsing as the TSV columns.
    let texts: Vec<String> = [
        "ts",
        "id.orig_h",
        "id.resp_h",
        "id.resp_p",
        "proto",
        "conn_state",
        "history",
    ]
    .iter()
    .map(|key| match object.get(*key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    })
    .collect();
    attempt(&Record {
        ts: &texts[0],
        orig_h: &texts[1],
        resp_h: &texts[2],
        resp_p: &texts[3],
        proto: &texts[4],
        conn_state: &texts[5],
        history: Some(texts[6].as_str()).filter(|h| !h.is_empty()),
    })
}

fn attempt(r: &Record<'_>) -> Result<Option<Attempt>, String> {
    let transport = match r.proto {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        _ => return Ok(None),
    };
    let bad = |field: &str, value: &str| {
        format!(
            "bad {field} value {:?}",
            value.chars().take(80).collect::<String>()
        )
    };
    let at = timestamp(r.ts).ok_or_else(|| bad("ts", r.ts))?;
    let source: IpAddr = r.orig_h.parse().map_err(|_| bad("id.orig_h", r.orig_h))?;
    let destination: IpAddr = r.resp_h.parse().map_err(|_| bad("id.resp_h", r.resp_h))?;
    let port: u16 = r.resp_p.parse().map_err(|_| bad("id.resp_p", r.resp_p))?;
    let history = r.history.map(|h| h.trim_start_matches('^'));
    let (probe, outcome) = match transport {
        Transport::Udp => {
            let answered =
                history.is_some_and(|h| h.contains('d')) || matches!(r.conn_state, "SF" | "S1");
            let outcome = if answered {
                Outcome::Established
            } else {
                Outcome::Unanswered
            };
            (Probe::Udp, outcome)
        }
        // Without a history, conn_state is all there is: an attempt.
        Transport::Tcp => match history.map_or(Some(Probe::Syn), tcp_probe) {
            Some(Probe::Syn) => (Probe::Syn, syn_outcome(r.conn_state)),
            Some(probe) => {
                let reset = history.is_some_and(|h| h.contains('r'));
                let outcome = if reset {
                    Outcome::Rejected
                } else {
                    Outcome::Unanswered
                };
                (probe, outcome)
            }
            None => return Ok(None),
        },
    };
    Ok(Some(Attempt {
        at,
        source,
        destination,
        port,
        transport,
        probe,
        outcome,
    }))
}

/// The opening probe a TCP history shows, `None` for midstream traffic. A
/// history with no originator flag at all (only the responder's reset,
/// say) is a NULL probe.
fn tcp_probe(history: &str) -> Option<Probe> {
    let originator = |c: char| history.contains(c);
    if originator('S') {
        Some(Probe::Syn)
    } else if originator('D') {
        None
    } else if originator('F') {
        Some(Probe::Fin)
    } else if originator('A') {
        // A bare ACK is a probe only if nothing knew its connection.
        history.contains('r').then_some(Probe::Ack)
    } else if history.chars().any(|c| c.is_ascii_uppercase()) {
        None
    } else {
        Some(Probe::Null)
    }
}

fn syn_outcome(conn_state: &str) -> Outcome {
    match conn_state {
        "REJ" => Outcome::Rejected,
        "RSTO" | "RSTR" => Outcome::Reset,
        "SF" | "S1" | "S2" | "S3" | "SHR" | "RSTRH" => Outcome::Established,
        _ => Outcome::Unanswered,
    }
}

/// Epoch seconds with a decimal fraction (exact to the nanosecond), or an
/// ISO 8601 instant.
fn timestamp(text: &str) -> Option<Timestamp> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !whole.is_empty() && digits(whole) && digits(fraction) {
        let seconds: i64 = whole.parse().ok()?;
        let mut nanos = 0i32;
        for (i, b) in fraction.bytes().take(9).enumerate() {
            nanos += i32::from(b - b'0') * 10i32.pow(8 - i as u32);
        }
        return Timestamp::new(seconds, nanos).ok();
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "#separator \\x09\n#unset_field\t-\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\thistory\n";

    fn read_str(text: &str) -> Result<Vec<Attempt>, ConnLogError> {
        read(text.as_bytes())
    }

    #[test]
    fn tsv_states_and_histories_become_probes_and_outcomes() {
        let log = format!(
            "{HEADER}\
             1700000000.5\tC1\t10.0.0.1\t40000\t10.0.0.2\t22\ttcp\tSF\tShADadFf\n\
             1700000001\tC2\t10.0.0.1\t40001\t10.0.0.2\t23\ttcp\tREJ\tSr\n\
             1700000002\tC3\t10.0.0.1\t40002\t10.0.0.2\t24\ttcp\tS0\tS\n\
             1700000003\tC4\t10.0.0.1\t40003\t10.0.0.2\t25\ttcp\tOTH\tFr\n\
             1700000004\tC5\t10.0.0.1\t40004\t10.0.0.2\t26\ttcp\tOTH\tDd\n\
             1700000005\tC6\t10.0.0.1\t40005\t10.0.0.2\t53\tudp\tS0\tD\n\
             1700000006\tC7\t10.0.0.1\t8\t10.0.0.2\t0\ticmp\tOTH\t-\n"
        );
        let got: Vec<_> = read_str(&log)
            .unwrap()
            .iter()
            .map(|a| (a.port, a.probe, a.outcome))
            .collect();
        assert_eq!(
            got,
            [
                (22, Probe::Syn, Outcome::Established),
                (23, Probe::Syn, Outcome::Rejected),
                (24, Probe::Syn, Outcome::Unanswered),
                (25, Probe::Fin, Outcome::Rejected),
                (53, Probe::Udp, Outcome::Unanswered),
            ]
        );
    }

    #[test]
    fn without_a_history_tcp_records_are_attempts() {
        let log = "#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n\
                   1700000000\t10.0.0.1\t10.0.0.2\t22\ttcp\tREJ\n\
                   1700000001\t10.0.0.1\t10.0.0.2\t80\ttcp\tSF\n";
        let got: Vec<_> = read_str(log)
            .unwrap()
            .iter()
            .map(|a| (a.probe, a.outcome))
            .collect();
        assert_eq!(
            got,
            [
                (Probe::Syn, Outcome::Rejected),
                (Probe::Syn, Outcome::Established)
            ]
        );
    }

    #[test]
    fn json_lines_read_like_tsv() {
        let log = r#"{"ts":1700000000.25,"id.orig_h":"2001:db8::1","id.orig_p":5,"id.resp_h":"2001:db8::2","id.resp_p":443,"proto":"tcp","conn_state":"RSTO","history":"ShR"}"#;
        let a = read_str(log).unwrap()[0];
        assert_eq!((a.port, a.outcome), (443, Outcome::Reset));
        assert_eq!(a.at, Timestamp::new(1_700_000_000, 250_000_000).unwrap());
    }

    #[test]
    fn errors_name_the_line() {
        let log = format!("{HEADER}1700000000\tC1\t10.0.0.1\t1\tnot-an-ip\t22\ttcp\tS0\tS\n");
        let e = read_str(&log).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().contains("id.resp_h"), "{e}");
        let e = read_str("1700000000\t10.0.0.1\n").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        let e = read_str("#fields\tts\tid.orig_h\n").unwrap_err();
        assert!(e.to_string().contains("id.resp_h"), "{e}");
    }
}

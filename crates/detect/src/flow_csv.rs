//! Attempts from flow records as nfdump prints them in CSV (`nfdump -r
//! FILE -o csv`): one line per *unidirectional* flow, the two directions of
//! a connection in two records, each with the TCP flags seen in its
//! direction OR-ed together.
//!
//! Flows say less than packets, so the two directions are read together:
//!
//! - the *opener* of a TCP pair is the side whose flow has a SYN without an
//!   ACK, or failing that the only side with a SYN, or a stealth side
//!   (FIN, NULL or Xmas flags without ACK, which no TCP stack sends in a
//!   connection); when both sides have SYN and ACK (a completed handshake)
//!   it is the side whose flow began first, and at the same time (nfdump
//!   prints whole seconds) the side with the higher port;
//! - the opener's probe: a SYN, or FIN, NULL, Xmas as its flags say, or a
//!   bare ACK answered by a bare RST (nmap -sA); other flows without a SYN
//!   are midstream and skipped;
//! - the outcome: the other side's SYN-ACK means accepted (reset if either
//!   side also sent a RST), its RST without SYN-ACK refused, no reverse
//!   flow unanswered;
//! - a UDP flow is answered when the reverse flow exists; which side opened
//!   a UDP pair is guessed as for TCP pairs, by time and then port.
//!
//! A flow with a SYN and an ACK but no reverse flow (one direction not
//! observed) tells nothing about the outcome and is skipped, as is a lone
//! ACK or RST. Records of the same 5-tuple are merged (flags OR-ed, the
//! earliest start kept): a flow exporter splits long or retransmitted
//! flows. ICMP and other protocols are skipped, so a UDP probe refused by
//! ICMP port unreachable reads as unanswered (failed either way).
//!
//! The columns are found by name from nfdump's header line (`ts`, `sa`,
//! `da`, `sp`, `dp`, `pr`, `flg`); without one (`nfdump -q`) nfdump 1.7's
//! layout is assumed. `ts` is read as UTC: nfdump prints local time, so run
//! it with `TZ=UTC`. nfdump's `Summary` trailer ends the records.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::attempt::{Attempt, Outcome, Probe, Transport};
use crate::handshake::flags::{ACK, FIN, PSH, RST, SYN, URG};

/// A bad line in a flow CSV.
#[derive(Debug, thiserror::Error)]
#[error("line {line}{}: {problem}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct FlowCsvError {
    /// 1-based line number.
    pub line: u64,
    /// 1-based column (field) number, when one field is at fault.
    pub column: Option<usize>,
    /// What is wrong.
    pub problem: String,
}

/// The fields an attempt is made of, by position in a line.
#[derive(Debug, Clone, Copy)]
struct Columns {
    ts: usize,
    sa: usize,
    da: usize,
    sp: usize,
    dp: usize,
    pr: usize,
    flg: usize,
}

impl Columns {
    /// nfdump 1.7's CSV layout (`ts,te,td,sa,da,sp,dp,pr,flg,…`), for
    /// output without a header.
    const NFDUMP_1_7: Columns = Columns {
        ts: 0,
        sa: 3,
        da: 4,
        sp: 5,
        dp: 6,
        pr: 7,
        flg: 8,
    };

    fn from_header(names: &[&str]) -> Result<Columns, String> {
        let need = |name: &str| {
            names
                .iter()
                .position(|n| n.trim() == name)
                .ok_or(format!("the header has no {name} column"))
        };
        Ok(Columns {
            ts: need("ts")?,
            sa: need("sa")?,
            da: need("da")?,
            sp: need("sp")?,
            dp: need("dp")?,
            pr: need("pr")?,
            flg: need("flg")?,
        })
    }

    /// How many fields a record must have.
    fn needed(&self) -> usize {
        [
            self.ts, self.sa, self.da, self.sp, self.dp, self.pr, self.flg,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
            + 1
    }
}

/// Which way a flow went: protocol, sender, receiver.
type Key = (Transport, SocketAddr, SocketAddr);

/// One direction of a conversation, merged over its records.
#[derive(Debug, Clone, Copy)]
struct Flow {
    /// When its first record began.
    at: Timestamp,
    /// Every TCP flag seen in this direction (0 for UDP).
    flags: u8,
}

/// Reads every attempt in nfdump CSV output, in time order (file order
/// within the same second). Stops at the first bad line.
pub fn read(reader: impl BufRead) -> Result<Vec<Attempt>, FlowCsvError> {
    let mut columns: Option<Columns> = None;
    let mut order: Vec<Key> = Vec::new();
    let mut flows: HashMap<Key, Flow> = HashMap::new();
    for (index, line) in reader.lines().enumerate() {
        let number = index as u64 + 1;
        let located = |column: Option<usize>, problem: String| FlowCsvError {
            line: number,
            column,
            problem,
        };
        let line = line.map_err(|e| located(None, format!("read error: {e}")))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if line.trim() == "Summary" {
            break;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if columns.is_none() && fields.iter().any(|f| f.trim() == "ts") {
            columns = Some(Columns::from_header(&fields).map_err(|p| located(None, p))?);
            continue;
        }
        let cols = *columns.get_or_insert(Columns::NFDUMP_1_7);
        let Some((key, flow)) = record(&fields, cols).map_err(|(c, p)| located(c, p))? else {
            continue;
        };
        match flows.get_mut(&key) {
            Some(seen) => {
                seen.flags |= flow.flags;
                seen.at = seen.at.min(flow.at);
            }
            None => {
                order.push(key);
                flows.insert(key, flow);
            }
        }
    }
    let mut attempts = Vec::new();
    let mut paired: HashSet<Key> = HashSet::new();
    for key in order {
        if paired.contains(&key) {
            continue;
        }
        let (transport, from, to) = key;
        let reverse = (transport, to, from);
        let flow = flows[&key];
        let attempt = match flows.get(&reverse) {
            Some(&back) => {
                paired.insert(reverse);
                let (opener, answer, opener_key) = if opens_first((key, flow), (reverse, back)) {
                    (flow, back, key)
                } else {
                    (back, flow, reverse)
                };
                attempt(opener_key, opener, Some(answer))
            }
            None => attempt(key, flow, None),
        };
        attempts.extend(attempt);
    }
    attempts.sort_by_key(|a: &Attempt| a.at);
    Ok(attempts)
}

/// What is wrong with a record: the 1-based column at fault, if one is, and
/// the problem.
type BadRecord = (Option<usize>, String);

/// One record's direction and flow; `None` for protocols other than TCP and
/// UDP.
fn record(fields: &[&str], cols: Columns) -> Result<Option<(Key, Flow)>, BadRecord> {
    if fields.len() < cols.needed() {
        return Err((
            None,
            format!(
                "{} fields, fewer than the {} a flow record needs",
                fields.len(),
                cols.needed()
            ),
        ));
    }
    let field = |i: usize| fields[i].trim();
    let bad = |i: usize, name: &str, what: &str| {
        (Some(i + 1), format!("{name}: {:?} is not {what}", field(i)))
    };
    let transport = match field(cols.pr).to_ascii_uppercase().as_str() {
        "TCP" | "6" => Transport::Tcp,
        "UDP" | "17" => Transport::Udp,
        "" => return Err(bad(cols.pr, "pr", "a protocol")),
        _ => return Ok(None),
    };
    let address = |i: usize, name: &str| {
        field(i)
            .parse::<IpAddr>()
            .map_err(|_| bad(i, name, "an IP address"))
    };
    let port = |i: usize, name: &str| field(i).parse::<u16>().map_err(|_| bad(i, name, "a port"));
    let from = SocketAddr::new(address(cols.sa, "sa")?, port(cols.sp, "sp")?);
    let to = SocketAddr::new(address(cols.da, "da")?, port(cols.dp, "dp")?);
    let at = timestamp(field(cols.ts)).ok_or_else(|| {
        bad(
            cols.ts,
            "ts",
            "a time (YYYY-MM-DD HH:MM:SS[.fff], as nfdump prints it)",
        )
    })?;
    let flags = match transport {
        Transport::Tcp => {
            tcp_flags(field(cols.flg)).ok_or_else(|| bad(cols.flg, "flg", "TCP flags"))?
        }
        Transport::Udp => 0,
    };
    Ok(Some(((transport, from, to), Flow { at, flags })))
}

/// A time as nfdump prints it, in UTC.
fn timestamp(text: &str) -> Option<Timestamp> {
    let civil: DateTime = text.parse().ok()?;
    TimeZone::UTC.to_timestamp(civil).ok()
}

/// nfdump's flag string, one position per flag from CWR down to FIN
/// (`CEUAPRSF`), `.` for a flag not seen; CWR and ECE are dropped.
fn tcp_flags(text: &str) -> Option<u8> {
    const LETTERS: &[u8; 8] = b"CEUAPRSF";
    let bytes = text.as_bytes();
    if bytes.len() != LETTERS.len() {
        return None;
    }
    let mut flags = 0u8;
    for (i, (&got, &letter)) in bytes.iter().zip(LETTERS).enumerate() {
        if got == letter {
            flags |= 1 << (7 - i);
        } else if got != b'.' {
            return None;
        }
    }
    Some(flags & 0x3f)
}

/// Whether flow `a` opened the conversation rather than its reverse `b`.
fn opens_first(a: (Key, Flow), b: (Key, Flow)) -> bool {
    let ((_, a_from, _), a) = a;
    let ((_, b_from, _), b) = b;
    let syn_only = |f: u8| f & (SYN | ACK) == SYN;
    let syn = |f: u8| f & SYN != 0;
    let stealth = |f: u8| stealth_probe(f).is_some();
    for clue in [syn_only, syn, stealth] {
        if clue(a.flags) != clue(b.flags) {
            return clue(a.flags);
        }
    }
    if a.flags & (SYN | ACK | RST) == ACK && b.flags == RST {
        return true;
    }
    if b.flags & (SYN | ACK | RST) == ACK && a.flags == RST {
        return false;
    }
    if a.at != b.at {
        return a.at < b.at;
    }
    a_from.port() >= b_from.port()
}

/// The stealth probe a flow's flags are, if they are one: FIN, NULL or
/// Xmas, with no ACK, SYN or RST.
fn stealth_probe(flags: u8) -> Option<Probe> {
    match flags {
        0 => Some(Probe::Null),
        FIN => Some(Probe::Fin),
        f if f == FIN | PSH | URG => Some(Probe::Xmas),
        _ => None,
    }
}

/// The attempt the opener's flow `opener` (direction `key`) made, judged by
/// the reverse flow `answer`, if it is an attempt at all.
fn attempt(key: Key, opener: Flow, answer: Option<Flow>) -> Option<Attempt> {
    let (transport, from, to) = key;
    let (probe, outcome) = match transport {
        Transport::Udp => (
            Probe::Udp,
            if answer.is_some() {
                Outcome::Established
            } else {
                Outcome::Unanswered
            },
        ),
        Transport::Tcp => tcp_attempt(opener.flags, answer.map(|a| a.flags))?,
    };
    Some(Attempt {
        at: opener.at,
        source: from.ip(),
        destination: to.ip(),
        port: to.port(),
        transport,
        probe,
        outcome,
    })
}

/// The probe and outcome of a TCP opener's flags, answered by `answer`.
fn tcp_attempt(opener: u8, answer: Option<u8>) -> Option<(Probe, Outcome)> {
    let probe = if opener & SYN != 0 {
        // A SYN and an ACK with no reverse flow: the handshake's answer was
        // not observed, so the outcome is unknown.
        if opener & ACK != 0 && answer.is_none() {
            return None;
        }
        Probe::Syn
    } else if let Some(probe) = stealth_probe(opener) {
        probe
    } else if opener & (ACK | RST) == ACK && answer == Some(RST) {
        Probe::Ack
    } else {
        return None;
    };
    let outcome = match answer {
        None => Outcome::Unanswered,
        Some(back) if probe == Probe::Syn && back & (SYN | ACK) == SYN | ACK => {
            if (opener | back) & RST != 0 {
                Outcome::Reset
            } else {
                Outcome::Established
            }
        }
        Some(back) if back & RST != 0 => Outcome::Rejected,
        Some(_) => Outcome::Unanswered,
    };
    Some((probe, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt\n";

    /// One record in nfdump 1.7's layout (first columns only).
    fn flow(second: u32, from: &str, to: &str, pr: &str, flg: &str) -> String {
        let (sa, sp) = from.rsplit_once(':').unwrap();
        let (da, dp) = to.rsplit_once(':').unwrap();
        format!(
            "2024-05-01 10:00:{second:02},2024-05-01 10:00:{second:02},0.000,{sa},{da},{sp},{dp},{pr},{flg},0,0,1,40\n"
        )
    }

    fn read_str(text: &str) -> Result<Vec<Attempt>, FlowCsvError> {
        read(text.as_bytes())
    }

    fn summary(attempts: &[Attempt]) -> Vec<(String, u16, Probe, Outcome)> {
        attempts
            .iter()
            .map(|a| (a.source.to_string(), a.port, a.probe, a.outcome))
            .collect()
    }

    #[test]
    fn the_two_directions_tell_the_outcome() {
        let s = "10.0.0.9";
        let mut csv = HEADER.to_owned();
        // Refused: SYN, RST-ACK back.
        csv += &flow(1, "10.0.0.9:40000", "10.0.0.1:21", "TCP", "......S.");
        csv += &flow(1, "10.0.0.1:21", "10.0.0.9:40000", "TCP", "...A.R..");
        // SYN scan of an open port: SYN-ACK back, then the scanner's RST
        // (answer listed first, as exporters often do).
        csv += &flow(2, "10.0.0.1:22", "10.0.0.9:40000", "TCP", "...A..S.");
        csv += &flow(2, "10.0.0.9:40000", "10.0.0.1:22", "TCP", ".....RS.");
        // No answer at all.
        csv += &flow(3, "10.0.0.9:40000", "10.0.0.1:23", "TCP", "......S.");
        // FIN probe refused, NULL and Xmas unanswered.
        csv += &flow(4, "10.0.0.9:40001", "10.0.0.1:24", "TCP", ".......F");
        csv += &flow(4, "10.0.0.1:24", "10.0.0.9:40001", "TCP", "...A.R..");
        csv += &flow(5, "10.0.0.9:40001", "10.0.0.1:25", "TCP", "........");
        csv += &flow(6, "10.0.0.9:40001", "10.0.0.1:26", "TCP", "..U.P..F");
        // ACK probe: a bare ACK answered by a bare RST.
        csv += &flow(7, "10.0.0.9:40002", "10.0.0.1:27", "TCP", "...A....");
        csv += &flow(7, "10.0.0.1:27", "10.0.0.9:40002", "TCP", ".....R..");
        // UDP answered, and not.
        csv += &flow(8, "10.0.0.9:40003", "10.0.0.1:53", "UDP", "........");
        csv += &flow(8, "10.0.0.1:53", "10.0.0.9:40003", "UDP", "........");
        csv += &flow(9, "10.0.0.9:40003", "10.0.0.1:54", "UDP", "........");
        let attempts = read_str(&csv).unwrap();
        assert_eq!(
            summary(&attempts),
            vec![
                (s.into(), 21, Probe::Syn, Outcome::Rejected),
                (s.into(), 22, Probe::Syn, Outcome::Reset),
                (s.into(), 23, Probe::Syn, Outcome::Unanswered),
                (s.into(), 24, Probe::Fin, Outcome::Rejected),
                (s.into(), 25, Probe::Null, Outcome::Unanswered),
                (s.into(), 26, Probe::Xmas, Outcome::Unanswered),
                (s.into(), 27, Probe::Ack, Outcome::Rejected),
                (s.into(), 53, Probe::Udp, Outcome::Established),
                (s.into(), 54, Probe::Udp, Outcome::Unanswered),
            ]
        );
        assert_eq!(attempts[0].destination.to_string(), "10.0.0.1");
        assert_eq!(
            attempts[0].at,
            "2024-05-01T10:00:01Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn a_completed_connection_is_opened_by_the_earlier_or_higher_port_side() {
        let mut csv = HEADER.to_owned();
        // Both sides SYN, ACK, PSH, FIN: the same second, so the port decides.
        csv += &flow(1, "10.0.0.1:8080", "10.0.0.7:51000", "TCP", "...AP.SF");
        csv += &flow(1, "10.0.0.7:51000", "10.0.0.1:8080", "TCP", "...AP.SF");
        // A client on a low port, seen a second earlier than the answer.
        csv += &flow(2, "10.0.0.7:900", "10.0.0.1:2049", "TCP", "...AP.SF");
        csv += &flow(3, "10.0.0.1:2049", "10.0.0.7:900", "TCP", "...AP.SF");
        let attempts = read_str(&csv).unwrap();
        assert_eq!(
            summary(&attempts),
            vec![
                ("10.0.0.7".into(), 8080, Probe::Syn, Outcome::Established),
                ("10.0.0.7".into(), 2049, Probe::Syn, Outcome::Established),
            ]
        );
    }

    #[test]
    fn what_is_not_an_attempt_is_skipped() {
        let mut csv = HEADER.to_owned();
        // Midstream data without a SYN, both ways.
        csv += &flow(1, "10.0.0.7:51000", "10.0.0.1:443", "TCP", "...AP...");
        csv += &flow(1, "10.0.0.1:443", "10.0.0.7:51000", "TCP", "...AP...");
        // A handshake seen in one direction only; a lone RST; ICMP.
        csv += &flow(2, "10.0.0.7:51001", "10.0.0.1:443", "TCP", "...AP.SF");
        csv += &flow(3, "10.0.0.1:9", "10.0.0.7:1", "TCP", "...A.R..");
        csv += &flow(4, "10.0.0.1:0", "10.0.0.7:771", "ICMP", "........");
        // Retransmitted SYNs in two records: one attempt.
        csv += &flow(5, "10.0.0.8:40000", "10.0.0.1:25", "TCP", "......S.");
        csv += &flow(6, "10.0.0.8:40000", "10.0.0.1:25", "TCP", "......S.");
        let attempts = read_str(&csv).unwrap();
        assert_eq!(
            summary(&attempts),
            vec![("10.0.0.8".into(), 25, Probe::Syn, Outcome::Unanswered)]
        );
    }

    #[test]
    fn nfdump_output_with_its_summary_or_without_a_header_reads() {
        let record = flow(1, "10.0.0.9:40000", "10.0.0.1:21", "TCP", "......S.");
        let with_summary = format!(
            "{HEADER}{record}\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,40,1,0,0,40\n"
        );
        assert_eq!(read_str(&with_summary).unwrap().len(), 1);
        assert_eq!(read_str(&record).unwrap().len(), 1);
        // The columns are found by name.
        let reordered = "pr,flg,sp,dp,sa,da,ts\nTCP,......S.,40000,21,2001:db8::9,2001:db8::1,2024-05-01 10:00:01.250\n";
        let a = read_str(reordered).unwrap();
        assert_eq!(a[0].source.to_string(), "2001:db8::9");
        assert_eq!(
            a[0].at,
            "2024-05-01T10:00:01.25Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn bad_input_names_its_line_and_column() {
        let good = flow(1, "10.0.0.9:40000", "10.0.0.1:21", "TCP", "......S.");
        let cases = [
            (
                flow(1, "10.0.0.999:40000", "10.0.0.1:21", "TCP", "......S."),
                Some(4),
                "sa: \"10.0.0.999\" is not an IP address",
            ),
            (
                flow(1, "10.0.0.9:70000", "10.0.0.1:21", "TCP", "......S."),
                Some(6),
                "sp: \"70000\" is not a port",
            ),
            (
                flow(1, "10.0.0.9:4", "10.0.0.1:21", "TCP", "..S....."),
                Some(9),
                "flg: \"..S.....\" is not TCP flags",
            ),
            (
                good.replace("2024-05-01 10:00:01,", "yesterday,"),
                Some(1),
                "ts: \"yesterday\" is not a time",
            ),
            (
                "2024-05-01 10:00:01,x\n".to_owned(),
                None,
                "2 fields, fewer than the 9",
            ),
        ];
        for (line, column, problem) in cases {
            let e = read_str(&format!("{HEADER}{good}{line}")).unwrap_err();
            assert_eq!((e.line, e.column), (3, column), "{e}");
            assert!(e.problem.starts_with(problem), "{e}");
        }
        let e = read_str("ts,sa,da,sp,dp,pr\n").unwrap_err();
        assert_eq!(e.to_string(), "line 1: the header has no flg column");
        let e = read_str(&format!("{HEADER}{}", good.replace("TCP", ""))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2, column 8: pr: \"\" is not a protocol"
        );
    }
}

//! Recorded use from a file: JSON lines of [`SourceUse`], one per line, as
//! `usage --by-source --format json` lists them one by one. `recommend` and
//! `simulate` read it with `--usage FILE`, so a pipeline can judge a policy
//! against use recorded elsewhere (or generated, for a benchmark).

use std::borrow::Cow;
use std::path::Path;

use jiff::Timestamp;
use portreeve_core::{Proto, SourceUse};

use crate::error::AppError;
use crate::state_dir::StateDir;

mod fields;

/// The use last seen at or after `since`: from `file` when given, else
/// what the agent recorded in `state`.
pub fn load(
    state: &StateDir,
    file: Option<&Path>,
    since: Timestamp,
) -> Result<Vec<SourceUse>, AppError> {
    let mut uses = match file {
        Some(path) => read(path)?,
        None => crate::usage::by_source(state, Some(since))?,
    };
    uses.retain(|u| u.last_seen >= since);
    Ok(uses)
}

/// Reads `path` (`-`: standard input): one JSON [`SourceUse`] a line; blank
/// lines are skipped. A line that is not one is an error naming its number.
pub fn read(path: &Path) -> Result<Vec<SourceUse>, AppError> {
    let text = crate::input::read_text(path, "usage file")
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    parse(&crate::input::origin(path), &text)
}

/// Parses JSON lines of [`SourceUse`]; `origin` names the text in errors.
///
/// A million lines take most of `simulate`'s time, so the text is cut at
/// line ends into one piece per core and the pieces are read at once; the
/// error reported is the one on the first bad line, as reading in order
/// would report it.
pub fn parse(origin: &str, text: &str) -> Result<Vec<SourceUse>, AppError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces = pieces(text, cores);
    let read: Vec<Result<Vec<SourceUse>, (usize, String)>> = std::thread::scope(|scope| {
        let readers: Vec<_> = pieces
            .iter()
            .map(|piece| scope.spawn(|| parse_piece(piece)))
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("a usage file reader panicked"))
            .collect()
    });
    // The first piece's uses are kept where they are and the others'
    // appended: copying all of them again took a tenth of a second.
    let mut uses = Vec::new();
    let mut lines_before = 0;
    for (piece, result) in pieces.iter().zip(read) {
        match result {
            Ok(read) if uses.is_empty() => uses = read,
            Ok(mut read) => uses.append(&mut read),
            Err((line, e)) => {
                return Err(AppError::Invalid(format!(
                    "{origin}:{}: not a recorded use (a JSON object with source, protocol, port, connections, first_seen, last_seen): {e}",
                    lines_before + line + 1
                )));
            }
        }
        lines_before += piece.bytes().filter(|&b| b == b'\n').count();
    }
    Ok(uses)
}

/// `text` cut into about `n` pieces of whole lines (each but the last
/// ending with its line end).
fn pieces(text: &str, n: usize) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(n);
    let mut rest = text;
    for left in (1..n).rev() {
        let Some(end) = rest[rest.len() / (left + 1)..]
            .find('\n')
            .map(|at| rest.len() / (left + 1) + at + 1)
        else {
            break;
        };
        let (piece, after) = rest.split_at(end);
        pieces.push(piece);
        rest = after;
    }
    pieces.push(rest);
    pieces
}

/// The uses on `piece`'s lines, or the first bad line's index in `piece`
/// and what is wrong with it.
fn parse_piece(piece: &str) -> Result<Vec<SourceUse>, (usize, String)> {
    piece
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_line(line).map_err(|e| (i, e)))
        .collect()
}

/// One line as [`SourceUse`]'s own `Deserialize` reads it: the line as
/// `usage --by-source --format json` writes it is read by
/// [`fields::canonical_line`], any other by [`parse_json_line`].
fn parse_line(line: &str) -> Result<SourceUse, String> {
    fields::canonical_line(line).map_or_else(|| parse_json_line(line), Ok)
}

/// One line read by serde_json: the same fields as [`SourceUse`]'s (others
/// ignored), with the source and the timestamps read by [`fields`] from the
/// text as it stands in the line.
fn parse_json_line(line: &str) -> Result<SourceUse, String> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        source: Cow<'a, str>,
        protocol: Proto,
        port: u16,
        connections: u64,
        #[serde(borrow)]
        first_seen: Cow<'a, str>,
        #[serde(borrow)]
        last_seen: Cow<'a, str>,
    }
    let raw: Line<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let field = |name: &str, e: &dyn std::fmt::Display| format!("{name}: {e}");
    Ok(SourceUse {
        source: fields::network(&raw.source).map_err(|e| field("source", &e))?,
        protocol: raw.protocol,
        port: raw.port,
        connections: raw.connections,
        first_seen: fields::timestamp(&raw.first_seen).map_err(|e| field("first_seen", &e))?,
        last_seen: fields::timestamp(&raw.last_seen).map_err(|e| field("last_seen", &e))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_names_the_bad_one() {
        let line = r#"{"source":"10.0.0.1/32","protocol":"tcp","port":22,"connections":3,"first_seen":"2026-12-01T00:00:00Z","last_seen":"2026-12-02T00:00:00Z"}"#;
        let uses = parse("u.jsonl", &format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[0].port, 22);
        assert_eq!(uses[0].connections, 3);
        let err = parse("u.jsonl", &format!("{line}\n{{\"source\":1}}\n")).unwrap_err();
        assert!(
            err.to_string().starts_with("u.jsonl:2: not a recorded use"),
            "{err}"
        );
    }

    const LINE: &str = r#"{"source":"2001:db8::7/128","protocol":"udp","port":53,"connections":1,"first_seen":"2026-12-01T00:00:00Z","last_seen":"2026-12-02T00:00:00Z"}"#;

    /// Forty lines, blank ones among them, cut into every number of pieces
    /// from one to more than there are lines: the same uses in the same
    /// order, and a bad line is named by its number in the whole text.
    #[test]
    fn pieces_read_as_the_whole_and_name_the_first_bad_line() {
        let lines: Vec<String> = (0..40)
            .map(|i| match i % 7 {
                3 => String::new(),
                _ => LINE.replace(":53,", &format!(":{i},")),
            })
            .collect();
        let text = lines.join("\n");
        let whole = parse_piece(&text).unwrap();
        assert_eq!(whole.len(), 34);
        for n in 1..=45 {
            let pieces = pieces(&text, n);
            assert_eq!(pieces.concat(), text, "{n} pieces");
            let read: Vec<SourceUse> = pieces
                .iter()
                .flat_map(|p| parse_piece(p).unwrap())
                .collect();
            assert_eq!(read, whole, "{n} pieces");
        }
        let mut bad = lines.clone();
        bad[29] = LINE.replace("udp", "sctp");
        bad[35] = "{".into();
        let err = parse("u.jsonl", &bad.join("\n")).unwrap_err().to_string();
        assert!(err.starts_with("u.jsonl:30: not a recorded use"), "{err}");
    }

    /// The fast reading of the canonical line gives what serde_json gives,
    /// and every other form — spaces, other field orders, escapes, other
    /// protocols, numbers serde_json rejects or that overflow — is left to
    /// serde_json.
    #[test]
    fn the_canonical_line_reads_as_serde_json_reads_it() {
        let v4 = LINE.replace("2001:db8::7/128", "192.0.2.0/24");
        assert_eq!(fields::canonical_line(LINE), parse_json_line(LINE).ok());
        assert_eq!(fields::canonical_line(&v4), parse_json_line(&v4).ok());
        assert!(fields::canonical_line(LINE).is_some());
        let others = [
            LINE.replace(",", ", "),
            LINE.replace(
                r#""protocol":"udp","port":53"#,
                r#""port":53,"protocol":"udp""#,
            ),
            LINE.replace("}", r#","extra":1}"#),
            LINE.replace("2001:db8::7/128", r"2001:db8::7\/128"),
            LINE.replace("udp", "sctp"),
            LINE.replace("udp", "UDP"),
            LINE.replace(":53,", ":053,"),
            LINE.replace(":53,", ":-53,"),
            LINE.replace(":53,", ":53.0,"),
            LINE.replace(":53,", ":65536,"),
            LINE.replace(":1,", ":18446744073709551616,"),
            LINE.replace(":1,", ":0,"),
            LINE.replace("T00:00:00Z", "T00:00:00+00:00"),
            LINE.replace("}", "} "),
            LINE.replace("}", ""),
        ];
        for line in others {
            let json = parse_json_line(&line).ok();
            assert_eq!(parse_line(&line).ok(), json, "{line}");
            if let Some(fast) = fields::canonical_line(&line) {
                assert_eq!(Some(fast), json, "{line}");
            }
        }
    }

    /// Each field is checked: a bad source or timestamp names the field
    /// and its line; a string with JSON escapes is read as its text.
    #[test]
    fn a_bad_field_is_named_with_its_line() {
        let cases = [
            (LINE.replace("2001:db8::7/128", "2001:db8::7"), "source"),
            (LINE.replace("2001:db8::7/128", "10.0.0.300/32"), "source"),
            (LINE.replace("2026-12-01T00", "2026-12-32T00"), "first_seen"),
            (LINE.replace("2026-12-02T00", "yesterday T00"), "last_seen"),
        ];
        for (line, field) in cases {
            let err = parse("u.jsonl", &format!("{LINE}\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("u.jsonl:2: not a recorded use") && err.contains(field),
                "{err}"
            );
        }
        let escaped = LINE.replace("2001:db8::7/128", r"2001:db8::7\/128");
        assert_eq!(parse("u", &escaped).unwrap(), parse("u", LINE).unwrap());
    }
}

//! Located errors in policy files.

use std::fmt;
use std::ops::Range;

/// One thing wrong with a policy file, located precisely enough for an editor
/// to jump to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Byte range of the offending text in the source.
    pub span: Range<usize>,
    /// 1-based line of the start of `span`.
    pub line: u32,
    /// 1-based column (in characters) of the start of `span`.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

/// Every error found in one policy file, with the text they point into so a
/// caller can render snippets. Validation continues past the first error so a
/// user fixes a file in one round, not one error per run; a TOML syntax error
/// stops parsing and is reported alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyErrors {
    /// The file name as the user gave it.
    pub file: String,
    /// The policy text. For a file that is not UTF-8, its bytes with each
    /// invalid sequence replaced by U+FFFD, so spans still point into it.
    pub source: String,
    /// At least one error, in source order.
    pub errors: Vec<PolicyError>,
}

impl std::error::Error for PolicyErrors {}

impl PolicyErrors {
    /// The error for a file that is not UTF-8: located at its first invalid
    /// byte (`error` is what [`std::str::from_utf8`] said about `bytes`),
    /// with the line and the column in characters before it. The source
    /// kept for snippets has each invalid sequence replaced by U+FFFD; the
    /// span covers the first replacement.
    pub fn not_utf8(file: &str, bytes: &[u8], error: std::str::Utf8Error) -> PolicyErrors {
        let at = error.valid_up_to().min(bytes.len());
        let hex = |bad: &[u8]| {
            bad.iter()
                .map(|b| format!("0x{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let message = match error.error_len() {
            Some(n) => {
                let bad = &bytes[at..(at + n).min(bytes.len())];
                let (noun, verb) = if bad.len() == 1 {
                    ("byte", "is")
                } else {
                    ("bytes", "are")
                };
                format!(
                    "the file is not valid UTF-8: {noun} {} {verb} not part of a valid character",
                    hex(bad)
                )
            }
            None => format!(
                "the file is not valid UTF-8: it ends in the middle of a character (byte {})",
                hex(&bytes[at..])
            ),
        };
        let source = String::from_utf8_lossy(bytes).into_owned();
        let mut sink = ErrorSink::new(&source);
        sink.push(
            at..at + char::REPLACEMENT_CHARACTER.len_utf8(),
            message,
            Some(
                "policies are UTF-8 text: re-save the file as UTF-8 (from Latin-1: `iconv -f latin1 -t utf-8`)"
                    .to_string(),
            ),
        );
        sink.into_errors(file)
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, e.line, e.column, e.message)?;
            if let Some(hint) = &e.hint {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

/// Collects errors against one source text, computing line and column.
pub(crate) struct ErrorSink<'a> {
    source: &'a str,
    lines: LineIndex,
    errors: Vec<PolicyError>,
    /// Items cut from the document after an error (see `parse::recover`),
    /// and the tables they were cut from.
    cuts: Vec<(Range<usize>, Range<usize>)>,
}

impl<'a> ErrorSink<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        ErrorSink {
            source,
            lines: LineIndex::new(source),
            errors: Vec::new(),
            cuts: Vec::new(),
        }
    }

    /// Records an error at `span`, unless `span` holds an item already cut
    /// for an error or is the table it was cut from: a table that lost a
    /// misspelt or mistyped key looks empty or incomplete, and saying so
    /// as well is only noise.
    pub(crate) fn push(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        if self.cuts.iter().any(|(item, table)| {
            (span.start <= item.start && item.end <= span.end) || span == *table
        }) {
            return;
        }
        let (line, column) = self.line_column(span.start);
        self.errors.push(PolicyError {
            span,
            line,
            column,
            message: message.into(),
            hint,
        });
    }

    /// 1-based line and character column of byte `offset` in the source.
    pub(crate) fn line_column(&self, offset: usize) -> (u32, u32) {
        self.lines.line_column(self.source, offset)
    }

    /// Notes that the item at `item` was cut from the table at `table`
    /// after the error just pushed; errors over either are consequences
    /// from now on.
    pub(crate) fn mark_cut(&mut self, item: Range<usize>, table: Range<usize>) {
        self.cuts.push((item, table));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Errors recorded so far.
    pub(crate) fn len(&self) -> usize {
        self.errors.len()
    }

    pub(crate) fn into_errors(mut self, file: &str) -> PolicyErrors {
        self.errors.sort_by_key(|e| e.span.start);
        PolicyErrors {
            file: file.to_string(),
            source: self.source.to_string(),
            errors: self.errors,
        }
    }
}

/// Where each line of a source text starts, so locating an offset costs a
/// binary search and a scan of one line, not a scan of the whole text
/// before it: a policy locates every rule, and scanning from the start for
/// each one made parsing quadratic in the number of rules.
pub(crate) struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and character column of byte `offset` in `source` (the
    /// text this index was built from). An offset past the end, or inside a
    /// character, is located at the end.
    pub(crate) fn line_column(&self, source: &str, offset: usize) -> (u32, u32) {
        let offset = if source.is_char_boundary(offset) {
            offset
        } else {
            source.len()
        };
        // The number of line starts at or before `offset`, which is at least
        // one (the first line starts at 0): that is the 1-based line.
        let line = self.starts.partition_point(|&start| start <= offset);
        let column = source[self.starts[line - 1]..offset].chars().count() + 1;
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(column).unwrap_or(u32::MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let s = "a = 1\nbé = 2\n";
        let lines = LineIndex::new(s);
        let line_column = |offset| lines.line_column(s, offset);
        assert_eq!(line_column(0), (1, 1));
        assert_eq!(line_column(4), (1, 5));
        assert_eq!(line_column(5), (1, 6));
        assert_eq!(line_column(6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_column(10), (2, 4));
        // Inside 'é', or past the end: the end.
        assert_eq!(line_column(8), (3, 1));
        assert_eq!(line_column(999), (3, 1));
    }
}

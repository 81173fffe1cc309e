//! Text from users and files, made safe to print on a terminal.
//!
//! A `--reason`, a rule name, a process name or a policy line can carry
//! bytes a terminal obeys rather than shows: ESC starts sequences that
//! recolour the screen, retitle the window or move the cursor; BEL rings;
//! a newline or carriage return forges a line of output. Everything
//! portreeve prints for people — every table cell, every error message and
//! every line of a policy snippet — goes through [`escape_with`], which
//! shows such characters as visible text instead:
//!
//! | character                               | shown as             |
//! |-----------------------------------------|----------------------|
//! | ESC (U+001B)                            | `\e`                 |
//! | newline, carriage return, tab           | `\n`, `\r`, `\t`     |
//! | other C0 controls (U+0000–U+001F), DEL  | `\x07`, `\x7f`, …    |
//! | C1 controls (U+0080–U+009F)             | `\u{9b}`, …          |
//! | bidirectional overrides and isolates, line and paragraph separators | `\u{202e}`, … |
//!
//! Everything else, backslashes included, is shown as itself, so text
//! without such characters prints unchanged. [`Layout::Lines`] keeps the
//! line structure of multi-line text (newlines, CRLF, tabs) for messages
//! and source snippets. JSON output is not escaped here: serde escapes it
//! by JSON's rules and keeps the exact text.

use std::borrow::Cow;
use std::fmt::Write;

/// What of a text's layout to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One line (a table cell, a one-line message): newlines and tabs are
    /// escaped too.
    OneLine,
    /// Several lines: newlines, a carriage return before a newline, and
    /// tabs are kept.
    Lines,
}

/// Whether `c` is shown escaped, whatever the layout.
fn hostile(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Whether `c`, followed by `next`, is kept as layout.
fn kept(c: char, next: Option<char>, layout: Layout) -> bool {
    layout == Layout::Lines
        && match c {
            '\n' | '\t' => true,
            '\r' => next == Some('\n'),
            _ => false,
        }
}

/// Escapes `text` for `layout`, calling `at(i, j)` for every character: it
/// starts at byte `i` of `text` and at byte `j` of the result. The one
/// rule every printer uses; see the module documentation.
pub fn escape_with(text: &str, layout: Layout, mut at: impl FnMut(usize, usize)) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        at(i, out.len());
        let next = chars.peek().map(|&(_, c)| c);
        if !hostile(c) || kept(c, next, layout) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\u{1b}' => out.write_str(r"\e"),
            '\n' => out.write_str(r"\n"),
            '\r' => out.write_str(r"\r"),
            '\t' => out.write_str(r"\t"),
            c if u32::from(c) < 0x80 => write!(out, r"\x{:02x}", u32::from(c)),
            c => write!(out, r"\u{{{:x}}}", u32::from(c)),
        };
    }
    out
}

/// `text` escaped for `layout`; borrowed when nothing needed escaping.
pub fn escape(text: &str, layout: Layout) -> Cow<'_, str> {
    let mut chars = text.chars().peekable();
    let clean = std::iter::from_fn(|| {
        let c = chars.next()?;
        Some(!hostile(c) || kept(c, chars.peek().copied(), layout))
    })
    .all(|ok| ok);
    if clean {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(escape_with(text, layout, |_, _| {}))
    }
}

/// `text` as one line: for table cells and one-line messages.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, Layout::OneLine)
}

/// `text` keeping its lines: for multi-line messages.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, Layout::Lines)
}

/// `text` keeping its lines, with where each byte offset of `text` went:
/// `offsets[i]` is the offset in the result of byte `i` (and
/// `offsets[text.len()]` the result's length), so spans into `text` can be
/// moved onto the result.
pub fn lines_with_offsets(text: &str) -> (String, Vec<usize>) {
    let mut offsets = vec![0; text.len() + 1];
    let mut starts = Vec::with_capacity(text.len());
    let out = escape_with(text, Layout::Lines, |i, j| starts.push((i, j)));
    starts.push((text.len(), out.len()));
    for pair in starts.windows(2) {
        let ((i, j), (next_i, next_j)) = (pair[0], pair[1]);
        for (k, offset) in offsets[i..next_i].iter_mut().enumerate() {
            // Inside a character kept as is, the same distance in; inside
            // an escape (ASCII), clamped to it.
            *offset = (j + k).min(next_j);
        }
    }
    offsets[text.len()] = out.len();
    (out, offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_obeyed() {
        assert_eq!(
            one_line("\u{1b}]0;pwned\u{7}\u{1b}[31mred\nsecond\tline\r"),
            r"\e]0;pwned\x07\e[31mred\nsecond\tline\r"
        );
        assert_eq!(one_line("\0\u{7f}\u{9b}\u{85}"), r"\x00\x7f\u{9b}\u{85}");
        assert_eq!(one_line("a\u{202e}b\u{2066}c"), r"a\u{202e}b\u{2066}c");
    }

    #[test]
    fn clean_text_is_borrowed_unchanged() {
        for text in ["", "café — 10.0.0.0/8", r"C:\path\e", "日本語"] {
            assert!(matches!(one_line(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn lines_keep_their_layout() {
        assert_eq!(lines("a\n\tb\r\nc\rd\u{1b}"), "a\n\tb\r\nc\\rd\\e");
        assert!(matches!(lines("a\n\tb\r\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn offsets_follow_each_character() {
        let text = "a\u{1b}bé\u{9b}c\n";
        let (out, offsets) = lines_with_offsets(text);
        assert_eq!(out, "a\\ebé\\u{9b}c\n");
        for (i, c) in text.char_indices() {
            let j = offsets[i];
            if hostile(c) && c != '\n' {
                assert!(out[j..].starts_with('\\'), "{c:?}");
            } else {
                assert!(out[j..].starts_with(c), "{c:?}");
            }
        }
        assert_eq!(offsets[text.len()], out.len());
        // Inside `é` (two bytes), one byte in.
        assert_eq!(offsets[5], offsets[4] + 1);
    }
}

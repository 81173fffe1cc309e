//! Three-digit replies, the format SMTP (RFC 5321 §4.2) and FTP (RFC 959
//! §4.2) share: `220 text`, or a multi-line `220-text … 220 text`.

use super::parse::{Parsed, clean_text, lines};

/// A whole reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NumericReply {
    /// The reply code.
    pub(crate) code: u16,
    /// The text of each line, without the code.
    pub(crate) lines: Vec<String>,
}

impl NumericReply {
    /// All lines, joined by spaces.
    pub(crate) fn text(&self) -> String {
        self.lines.join(" ")
    }
}

/// The code and separator at the start of a line (`b' '`, `b'-'`, or `0` for
/// a bare code).
fn code_of(line: &[u8]) -> Option<(u16, u8)> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match line.get(3) {
        None => Some((code, 0)),
        Some(&sep @ (b' ' | b'-')) => Some((code, sep)),
        Some(_) => None,
    }
}

/// Parses one reply. At the end of input, a reply whose last line has not
/// come is taken as it is.
pub(crate) fn parse(buf: &[u8], ended: bool) -> Parsed<NumericReply> {
    let last_nl = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => i,
        None if ended => buf.len(),
        None => {
            let head = &buf[..buf.len().min(4)];
            let plausible = head.iter().take(3).all(u8::is_ascii_digit)
                && head.get(3).is_none_or(|&b| b == b' ' || b == b'-');
            return if plausible && buf.len() < 1024 {
                Parsed::Incomplete
            } else {
                Parsed::Invalid
            };
        }
    };
    let mut it = lines(&buf[..last_nl]);
    let Some(first) = it.next() else {
        return Parsed::Invalid;
    };
    let Some((code, sep)) = code_of(first) else {
        return Parsed::Invalid;
    };
    let mut reply = NumericReply {
        code,
        lines: vec![clean_text(first.get(4..).unwrap_or(&[]), 200)],
    };
    if sep != b'-' {
        return Parsed::Done(reply);
    }
    for line in it.take(100) {
        let text = clean_text(line.get(4..).unwrap_or(&[]), 200);
        match code_of(line) {
            Some((c, b' ' | 0)) if c == code => {
                reply.lines.push(text);
                return Parsed::Done(reply);
            }
            Some((c, b'-')) if c == code => reply.lines.push(text),
            // RFC 959 allows free text lines inside a multi-line reply.
            _ => reply.lines.push(clean_text(line, 200)),
        }
    }
    if ended || reply.lines.len() > 100 {
        Parsed::Done(reply)
    } else {
        Parsed::Incomplete
    }
}

/// The word after `keyword` (matched ignoring case) in `text`.
pub(crate) fn word_after<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(&keyword.to_ascii_lowercase())? + keyword.len();
    text.get(at..)?
        .split_whitespace()
        .next()
        .map(|w| w.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ',' | ';')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let r = parse(b"220 mail.example ESMTP Postfix\r\n", false)
            .done()
            .unwrap();
        assert_eq!(r.code, 220);
        assert_eq!(r.text(), "mail.example ESMTP Postfix");
        let m = b"220-first\r\nfree text\r\n220-second\r\n220 last\r\n";
        let r = parse(m, false).done().unwrap();
        assert_eq!(r.lines, vec!["first", "free text", "second", "last"]);
        assert_eq!(parse(&m[..20], false), Parsed::Incomplete);
        assert!(matches!(parse(&m[..20], true), Parsed::Done(_)));
        let r = parse(b"250\r\n", false).done().unwrap();
        assert_eq!((r.code, r.text().as_str()), (250, ""));
    }

    #[test]
    fn not_a_reply() {
        assert_eq!(parse(b"22", false), Parsed::Incomplete);
        assert_eq!(parse(b"220 no end yet", false), Parsed::Incomplete);
        assert_eq!(parse(b"HTTP/1.1", false), Parsed::Invalid);
        assert_eq!(parse(b"SSH-2.0-x\r\n", false), Parsed::Invalid);
        assert_eq!(parse(b"999 no\r\n", false), Parsed::Invalid);
        assert_eq!(parse(b"220x\r\n", false), Parsed::Invalid);
        assert_eq!(parse(b"", true), Parsed::Invalid);
    }

    #[test]
    fn words() {
        assert_eq!(word_after("x ESMTP Exim 4.96 Mon", "exim"), Some("4.96"));
        assert_eq!(word_after("(vsFTPd 3.0.3)", "vsftpd"), Some("3.0.3"));
        assert_eq!(word_after("Exim", "exim"), None);
    }
}

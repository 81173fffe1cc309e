//! Small, panic-free tools shared by the protocol parsers: the three-way
//! parse result, a bounds-checked byte cursor, and text clean-up.

/// What a parser makes of the bytes received so far.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Parsed<T> {
    /// A complete message of the protocol.
    Done(T),
    /// Could still become one: read more.
    Incomplete,
    /// Not this protocol.
    Invalid,
}

impl<T> Parsed<T> {
    /// Maps the value of a complete message.
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Parsed::Done(v) => Parsed::Done(f(v)),
            Parsed::Incomplete => Parsed::Incomplete,
            Parsed::Invalid => Parsed::Invalid,
        }
    }

    /// The value, if complete.
    pub(crate) fn done(self) -> Option<T> {
        match self {
            Parsed::Done(v) => Some(v),
            _ => None,
        }
    }
}

/// A cursor over untrusted bytes: every read is bounds-checked and returns
/// `None` past the end instead of panicking.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread bytes.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    pub(crate) fn be_u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn be_i16(&mut self) -> Option<i16> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn be_u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn be_i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn le_u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn le_u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn le_i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_le_bytes)
    }

    pub(crate) fn le_i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    pub(crate) fn le_u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn le_f64(&mut self) -> Option<f64> {
        self.array().map(f64::from_le_bytes)
    }

    /// A NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let nul = rest.iter().position(|&b| b == 0)?;
        self.pos += nul + 1;
        Some(&rest[..nul])
    }
}

/// Untrusted text made safe to show: control characters dropped, runs of
/// white space collapsed, at most `max` characters.
pub(crate) fn clean_text(bytes: &[u8], max: usize) -> String {
    let lossy = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut space = false;
    for c in lossy.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if out.chars().count() >= max {
            break;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// Like [`clean_text`], `None` when nothing is left.
pub(crate) fn non_empty(bytes: &[u8], max: usize) -> Option<String> {
    let s = clean_text(bytes, max);
    (!s.is_empty()).then_some(s)
}

/// The lines of `bytes` (split on `\n`, a trailing `\r` removed).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// The first line of a greeting, without its line end, and whether that
/// end came. A line ends at `\n` (`\r\n`) or at a lone `\r`, which some
/// servers send instead. Once the peer has stopped sending (`ended`: it
/// closed, or the wait for more ran out) whatever came is the line, cut
/// short: a greeting cut after its version still names its sender. `None`
/// while more may come.
pub(crate) fn first_line(buf: &[u8], ended: bool) -> Option<(&[u8], bool)> {
    match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
        Some(end) => Some((&buf[..end], true)),
        None => ended.then_some((buf, false)),
    }
}

/// Whether `hay` contains `needle`, ignoring ASCII case.
pub(crate) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The position of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The leading version-like part of `s`: digits and dots (`3.8.4-abc` →
/// `3.8.4`), `None` when it does not start with a digit.
pub(crate) fn leading_version(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let v = s[..end].trim_end_matches('.');
    (!v.is_empty() && v.starts_with(|c: char| c.is_ascii_digit())).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reads_stop_at_the_end() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.be_u16(), Some(0x0102));
        assert_eq!(c.be_u16(), None);
        assert_eq!(c.u8(), Some(3));
        assert_eq!(c.u8(), None);
        assert_eq!(c.take(usize::MAX), None);
        let mut c = Cursor::new(b"ab\0cd");
        assert_eq!(c.cstr(), Some(&b"ab"[..]));
        assert_eq!(c.cstr(), None);
        assert_eq!(c.rest(), b"cd");
    }

    #[test]
    fn text_is_cleaned() {
        assert_eq!(clean_text(b"  a\x01b \r\n c\t", 10), "ab c");
        assert_eq!(clean_text(b"abcdef", 3), "abc");
        assert_eq!(clean_text(b"\xff\xfe", 10), "\u{fffd}\u{fffd}");
        assert_eq!(non_empty(b" \r\n", 5), None);
    }

    #[test]
    fn helpers() {
        assert!(contains_ci(b"xx ESMTP yy", b"esmtp"));
        assert!(!contains_ci(b"xx", b""));
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(leading_version("3.8.4-9316c2"), Some("3.8.4"));
        assert_eq!(leading_version("v3"), None);
        assert_eq!(leading_version("7."), Some("7"));
        let l: Vec<&[u8]> = lines(b"a\r\nb\nc").collect();
        assert_eq!(l, vec![&b"a"[..], b"b", b"c"]);
    }
}

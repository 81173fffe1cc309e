//! Bounds-checked big-endian reading. Every decoder reads through these
//! helpers instead of indexing, so a short or lying datagram becomes a
//! [`DecodeError`] rather than a panic.

use crate::error::DecodeError;

/// A forward-only reader over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes the next `n` bytes, or reports what was being read.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.buf.split_at_checked(n) {
            Some((head, tail)) => {
                self.buf = tail;
                Ok(head)
            }
            None => Err(DecodeError::Truncated(what)),
        }
    }

    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        match self.buf.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.buf = tail;
                Ok(*head)
            }
            None => Err(DecodeError::Truncated(what)),
        }
    }
}

/// Reads an unsigned big-endian integer of any length (IPFIX reduced-size
/// encoding, RFC 7011 §6.2). Longer values keep their low 64 bits.
pub(crate) fn be_uint(bytes: &[u8]) -> u64 {
    // The common widths without a loop: this runs for nearly every field
    // of every flow record.
    match *bytes {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => {
            let tail = bytes.len().saturating_sub(8);
            bytes
                .get(tail..)
                .unwrap_or_default()
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
        }
    }
}

/// `u16` at `offset`, if the slice is long enough.
pub(crate) fn be_u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    array_at::<2>(bytes, offset).map(u16::from_be_bytes)
}

/// Fixed-size array at `offset`, if the slice is long enough.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_size_integers() {
        assert_eq!(be_uint(&[]), 0);
        assert_eq!(be_uint(&[1, 2]), 0x0102);
        assert_eq!(be_uint(&[0xff; 9]), u64::MAX);
        assert_eq!(be_uint(&[9, 0, 0, 0, 0, 0, 0, 0, 1]), 1);
    }

    #[test]
    fn cursor_reports_truncation() {
        let mut c = Cursor::new(&[1, 2, 3]);
        assert_eq!(c.u16("a"), Ok(0x0102));
        assert_eq!(c.u16("b"), Err(DecodeError::Truncated("b")));
        assert_eq!(c.u8("c"), Ok(3));
        assert_eq!(c.remaining(), 0);
        assert_eq!(be_u16_at(&[1], 0), None);
        assert_eq!(be_u16_at(&[1, 2], usize::MAX), None);
    }
}

//! A minimal BSON (bsonspec.org, version 1.1) encoder and decoder: enough
//! to build MongoDB commands and read their replies. Decoding untrusted
//! bytes never panics; unknown element types end the document with an
//! error.

use super::parse::Cursor;

/// A BSON value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bson {
    Double(f64),
    String(String),
    Document(Document),
    Array(Vec<Bson>),
    Binary(u8, Vec<u8>),
    ObjectId([u8; 12]),
    Bool(bool),
    DateTime(i64),
    Null,
    Int32(i32),
    Timestamp(u64),
    Int64(i64),
    Decimal128([u8; 16]),
    /// Types read but not kept (undefined, regex, code, min/max key, …).
    Other(u8),
}

impl Bson {
    /// The value as a number, whatever its numeric type.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            Bson::Double(d) => Some(d),
            Bson::Int32(i) => Some(f64::from(i)),
            Bson::Int64(i) => Some(i as f64),
            Bson::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Bson::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A document: keys in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Document(pub(crate) Vec<(String, Bson)>);

impl Document {
    /// The first value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Bson> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Builder-style insertion.
    pub(crate) fn with(mut self, key: &str, value: Bson) -> Self {
        self.0.push((key.to_string(), value));
        self
    }

    /// The encoded document.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; 4];
        for (k, v) in &self.0 {
            encode_element(&mut out, k, v);
        }
        out.push(0);
        let len = out.len() as i32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        out
    }
}

fn encode_element(out: &mut Vec<u8>, key: &str, v: &Bson) {
    let tag = match v {
        Bson::Double(_) => 0x01,
        Bson::String(_) => 0x02,
        Bson::Document(_) => 0x03,
        Bson::Array(_) => 0x04,
        Bson::Binary(..) => 0x05,
        Bson::ObjectId(_) => 0x07,
        Bson::Bool(_) => 0x08,
        Bson::DateTime(_) => 0x09,
        Bson::Null | Bson::Other(_) => 0x0a,
        Bson::Int32(_) => 0x10,
        Bson::Timestamp(_) => 0x11,
        Bson::Int64(_) => 0x12,
        Bson::Decimal128(_) => 0x13,
    };
    out.push(tag);
    // Keys are C strings: an interior NUL would end them early.
    out.extend(key.bytes().filter(|&b| b != 0));
    out.push(0);
    match v {
        Bson::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        Bson::String(s) => {
            out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        Bson::Document(d) => out.extend(d.encode()),
        Bson::Array(items) => {
            let d = Document(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v.clone()))
                    .collect(),
            );
            out.extend(d.encode());
        }
        Bson::Binary(sub, data) => {
            out.extend_from_slice(&(data.len() as i32).to_le_bytes());
            out.push(*sub);
            out.extend_from_slice(data);
        }
        Bson::ObjectId(id) => out.extend_from_slice(id),
        Bson::Bool(b) => out.push(u8::from(*b)),
        Bson::DateTime(t) | Bson::Int64(t) => out.extend_from_slice(&t.to_le_bytes()),
        Bson::Null | Bson::Other(_) => {}
        Bson::Int32(i) => out.extend_from_slice(&i.to_le_bytes()),
        Bson::Timestamp(t) => out.extend_from_slice(&t.to_le_bytes()),
        Bson::Decimal128(d) => out.extend_from_slice(d),
    }
}

/// Why a document could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BsonError;

const MAX_DEPTH: u8 = 32;

/// Decodes one document at the start of `buf`, returning it and its length.
pub(crate) fn decode(buf: &[u8]) -> Result<(Document, usize), BsonError> {
    decode_at(buf, 0)
}

fn decode_at(buf: &[u8], depth: u8) -> Result<(Document, usize), BsonError> {
    if depth > MAX_DEPTH {
        return Err(BsonError);
    }
    let mut c = Cursor::new(buf);
    let len = c.le_i32().ok_or(BsonError)?;
    let len = usize::try_from(len).map_err(|_| BsonError)?;
    if len < 5 || len > buf.len() || buf[len - 1] != 0 {
        return Err(BsonError);
    }
    let mut c = Cursor::new(&buf[4..len - 1]);
    let mut doc = Document::default();
    while c.remaining() > 0 {
        let tag = c.u8().ok_or(BsonError)?;
        let key = String::from_utf8_lossy(c.cstr().ok_or(BsonError)?).into_owned();
        let value = match tag {
            0x01 => Bson::Double(c.le_f64().ok_or(BsonError)?),
            0x02 | 0x0d | 0x0e => {
                let n = c.le_i32().ok_or(BsonError)?;
                let n = usize::try_from(n).map_err(|_| BsonError)?;
                let s = c.take(n).ok_or(BsonError)?;
                let s = s.strip_suffix(&[0]).ok_or(BsonError)?;
                let s = String::from_utf8_lossy(s).into_owned();
                if tag == 0x02 {
                    Bson::String(s)
                } else {
                    Bson::Other(tag)
                }
            }
            0x03 | 0x04 => {
                let (d, n) = decode_at(c.rest(), depth + 1)?;
                c.skip(n).ok_or(BsonError)?;
                if tag == 0x03 {
                    Bson::Document(d)
                } else {
                    Bson::Array(d.0.into_iter().map(|(_, v)| v).collect())
                }
            }
            0x05 => {
                let n = c.le_i32().ok_or(BsonError)?;
                let n = usize::try_from(n).map_err(|_| BsonError)?;
                let sub = c.u8().ok_or(BsonError)?;
                Bson::Binary(sub, c.take(n).ok_or(BsonError)?.to_vec())
            }
            0x06 | 0x0a | 0x7f | 0xff => {
                if tag == 0x0a {
                    Bson::Null
                } else {
                    Bson::Other(tag)
                }
            }
            0x07 => {
                let id = c.take(12).ok_or(BsonError)?;
                Bson::ObjectId(id.try_into().map_err(|_| BsonError)?)
            }
            0x08 => match c.u8().ok_or(BsonError)? {
                0 => Bson::Bool(false),
                1 => Bson::Bool(true),
                _ => return Err(BsonError),
            },
            0x09 => Bson::DateTime(c.le_i64().ok_or(BsonError)?),
            0x0b => {
                c.cstr().ok_or(BsonError)?;
                c.cstr().ok_or(BsonError)?;
                Bson::Other(tag)
            }
            0x0c => {
                let n = c.le_i32().ok_or(BsonError)?;
                let n = usize::try_from(n).map_err(|_| BsonError)?;
                c.skip(n).ok_or(BsonError)?;
                c.skip(12).ok_or(BsonError)?;
                Bson::Other(tag)
            }
            0x0f => {
                // Code with scope: total length covers everything.
                let n = c.le_i32().ok_or(BsonError)?;
                let n = usize::try_from(n).map_err(|_| BsonError)?;
                c.skip(n.checked_sub(4).ok_or(BsonError)?)
                    .ok_or(BsonError)?;
                Bson::Other(tag)
            }
            0x10 => Bson::Int32(c.le_i32().ok_or(BsonError)?),
            0x11 => Bson::Timestamp(c.le_u64().ok_or(BsonError)?),
            0x12 => Bson::Int64(c.le_i64().ok_or(BsonError)?),
            0x13 => {
                let d = c.take(16).ok_or(BsonError)?;
                Bson::Decimal128(d.try_into().map_err(|_| BsonError)?)
            }
            _ => return Err(BsonError),
        };
        doc.0.push((key, value));
    }
    Ok((doc, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        // bsonspec.org: {"hello": "world"}
        let bytes = b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00";
        let doc = Document::default().with("hello", Bson::String("world".into()));
        assert_eq!(doc.encode(), bytes);
        assert_eq!(decode(bytes), Ok((doc, bytes.len())));
    }

    #[test]
    fn round_trip() {
        let inner = Document::default().with("number", Bson::String("7.0.5".into()));
        let doc = Document::default()
            .with("ok", Bson::Double(1.0))
            .with("maxWireVersion", Bson::Int32(21))
            .with("n", Bson::Int64(-5))
            .with("ismaster", Bson::Bool(true))
            .with("v", Bson::Document(inner))
            .with("a", Bson::Array(vec![Bson::Int32(1), Bson::Null]))
            .with("id", Bson::ObjectId([7; 12]))
            .with("t", Bson::DateTime(1_700_000_000_000))
            .with("ts", Bson::Timestamp(9))
            .with("bin", Bson::Binary(0, vec![1, 2]))
            .with("dec", Bson::Decimal128([1; 16]));
        let bytes = doc.encode();
        let (back, len) = decode(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(back, doc);
        assert_eq!(
            back.get("maxWireVersion").and_then(Bson::as_f64),
            Some(21.0)
        );
        assert_eq!(back.get("ok").and_then(Bson::as_f64), Some(1.0));
    }

    #[test]
    fn rejects_bad_documents() {
        assert_eq!(decode(b""), Err(BsonError));
        assert_eq!(decode(b"\x05\x00\x00\x00\x01"), Err(BsonError));
        assert_eq!(decode(b"\xff\xff\xff\xff\x00"), Err(BsonError));
        assert_eq!(decode(b"\x08\x00\x00\x00\x10a\x00\x00"), Err(BsonError));
        assert_eq!(decode(b"\x0a\x00\x00\x00\x02a\x00\x00\x00"), Err(BsonError));
        assert!(decode(b"\x05\x00\x00\x00\x00").is_ok());
        // Nesting beyond the limit.
        let mut deep = Document::default();
        for _ in 0..40 {
            deep = Document::default().with("d", Bson::Document(deep));
        }
        assert_eq!(decode(&deep.encode()), Err(BsonError));
    }
}

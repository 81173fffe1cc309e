//! MongoDB's wire protocol: commands to the `admin` database as `OP_MSG`
//! (MongoDB 3.6+), falling back to `OP_QUERY` on `admin.$cmd` for older
//! servers. `hello` (or the older `isMaster`) identifies it, `buildInfo`
//! gives the version (both allowed before authentication), and
//! `listDatabases` succeeding means the data is open to anyone.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::cpe;
use crate::model::ServiceInfo;

use super::bson::{self, Bson, Document};
use super::io::{Reply, Session, Stream, Verdict, exchange};
use super::parse::{Cursor, Parsed, clean_text};

const OP_REPLY: i32 = 1;
const OP_QUERY: i32 = 2004;
const OP_MSG: i32 = 2013;
const MAX_MESSAGE: usize = 1 << 20;

static NEXT_REQUEST: AtomicI32 = AtomicI32::new(1);

/// `{name: 1, …extra, $db: "admin"}`.
pub(crate) fn command(name: &str, extra: &[(&str, Bson)]) -> Document {
    let mut d = Document::default().with(name, Bson::Int32(1));
    for (k, v) in extra {
        d = d.with(k, v.clone());
    }
    d
}

fn header(body_len: usize, request_id: i32, op: i32) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + body_len);
    m.extend_from_slice(&((16 + body_len) as i32).to_le_bytes());
    m.extend_from_slice(&request_id.to_le_bytes());
    m.extend_from_slice(&0i32.to_le_bytes());
    m.extend_from_slice(&op.to_le_bytes());
    m
}

/// An `OP_MSG` with one body section.
pub(crate) fn op_msg(request_id: i32, cmd: &Document) -> Vec<u8> {
    let cmd = cmd.clone().with("$db", Bson::String("admin".into()));
    let doc = cmd.encode();
    let mut m = header(4 + 1 + doc.len(), request_id, OP_MSG);
    m.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    m.push(0); // section kind 0: body
    m.extend(doc);
    m
}

/// An `OP_QUERY` on `admin.$cmd`, as servers before 3.6 expect commands.
pub(crate) fn op_query(request_id: i32, cmd: &Document) -> Vec<u8> {
    let doc = cmd.encode();
    let ns = b"admin.$cmd\0";
    let mut m = header(4 + ns.len() + 8 + doc.len(), request_id, OP_QUERY);
    m.extend_from_slice(&0i32.to_le_bytes()); // flags
    m.extend_from_slice(ns);
    m.extend_from_slice(&0i32.to_le_bytes()); // numberToSkip
    m.extend_from_slice(&(-1i32).to_le_bytes()); // numberToReturn
    m.extend(doc);
    m
}

/// Parses a reply (`OP_MSG` or `OP_REPLY`) to request `request_id`: its
/// first document.
pub(crate) fn parse_reply(buf: &[u8], request_id: i32) -> Parsed<Document> {
    let mut c = Cursor::new(buf);
    let Some(len) = c.le_i32() else {
        return Parsed::Incomplete;
    };
    let Ok(len) = usize::try_from(len) else {
        return Parsed::Invalid;
    };
    if !(16 + 5..=MAX_MESSAGE).contains(&len) {
        return Parsed::Invalid;
    }
    let (Some(_id), Some(response_to), Some(op)) = (c.le_i32(), c.le_i32(), c.le_i32()) else {
        return Parsed::Incomplete;
    };
    if response_to != request_id || !matches!(op, OP_MSG | OP_REPLY) {
        return Parsed::Invalid;
    }
    if buf.len() < len {
        return Parsed::Incomplete;
    }
    let mut body = Cursor::new(&buf[16..len]);
    let doc_bytes = if op == OP_MSG {
        let (Some(_flags), Some(0)) = (body.le_u32(), body.u8()) else {
            return Parsed::Invalid;
        };
        body.rest()
    } else {
        // responseFlags, cursorID, startingFrom, numberReturned
        if body.skip(4 + 8 + 4).is_none() || body.le_i32().is_none_or(|n| n < 1) {
            return Parsed::Invalid;
        }
        body.rest()
    };
    bson::decode(doc_bytes).map_or(Parsed::Invalid, |(d, _)| Parsed::Done(d))
}

/// Whether a command reply says `ok: 1`.
pub(crate) fn ok(doc: &Document) -> bool {
    doc.get("ok").and_then(Bson::as_f64) == Some(1.0)
}

/// The service described by the handshake reply and `buildInfo`.
pub(crate) fn describe(hello: &Document, build: Option<&Document>) -> ServiceInfo {
    let version = build
        .and_then(|b| b.get("version"))
        .and_then(Bson::as_str)
        .map(|v| clean_text(v.as_bytes(), 40))
        .filter(|v| !v.is_empty());
    let mut extra = Vec::new();
    if hello.get("msg").and_then(Bson::as_str) == Some("isdbgrid") {
        extra.push("mongos".to_string());
    }
    if let Some(set) = hello.get("setName").and_then(Bson::as_str) {
        extra.push(format!("replica set {}", clean_text(set.as_bytes(), 40)));
    }
    if let Some(w) = hello.get("maxWireVersion").and_then(Bson::as_f64) {
        extra.push(format!("wire version {w}"));
    }
    ServiceInfo {
        name: "mongodb".into(),
        product: Some("MongoDB".into()),
        cpe: Some(cpe::application("mongodb", "mongodb", version.as_deref())),
        version,
        extra: (!extra.is_empty()).then(|| extra.join("; ")),
        ..ServiceInfo::default()
    }
}

/// Whether a handshake reply is MongoDB's.
pub(crate) fn is_hello(doc: &Document) -> bool {
    ok(doc)
        && (doc.get("maxWireVersion").is_some()
            || doc.get("ismaster").is_some()
            || doc.get("isWritablePrimary").is_some())
}

/// What `listDatabases` says about access without credentials.
pub(crate) fn access(reply: &Document) -> Option<bool> {
    if ok(reply) {
        return Some(true);
    }
    // 13: Unauthorized; 18: AuthenticationFailed.
    match reply.get("code").and_then(Bson::as_f64) {
        Some(c) if c == 13.0 || c == 18.0 => Some(false),
        _ => None,
    }
}

fn run<S: Stream + ?Sized>(
    s: &mut S,
    cmd: &Document,
    legacy: bool,
    session: &Session,
) -> Reply<Document> {
    let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
    let msg = if legacy {
        op_query(id, cmd)
    } else {
        op_msg(id, cmd)
    };
    exchange(s, &msg, session.timeout, |b, _| parse_reply(b, id))
}

/// The probe.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let mut last = Verdict::Nothing;
    for legacy in [false, true] {
        let Ok(mut s) = session.connect() else {
            return Verdict::Unreachable;
        };
        let mut hello = run(&mut s, &command("hello", &[]), legacy, session);
        if matches!(&hello, Reply::Parsed(d) if !ok(d)) {
            // Before 4.4.2 the command was called `isMaster`.
            hello = run(&mut s, &command("isMaster", &[]), legacy, session);
        }
        let hello = match hello {
            Reply::Parsed(d) if is_hello(&d) => d,
            Reply::Parsed(_) => return Verdict::Nothing,
            // An old server closes the connection on an unknown opcode.
            Reply::Nothing => continue,
            Reply::Other(b) => {
                last = Verdict::Other(b);
                continue;
            }
        };
        let build = run(&mut s, &command("buildInfo", &[]), legacy, session);
        let build = match build {
            Reply::Parsed(d) if ok(&d) => Some(d),
            _ => None,
        };
        let mut info = describe(&hello, build.as_ref());
        let list = command("listDatabases", &[("nameOnly", Bson::Bool(true))]);
        if let Reply::Parsed(d) = run(&mut s, &list, legacy, session) {
            info.unauthenticated = access(&d);
        }
        info.method = "probe:mongodb".into();
        return Verdict::Found(info);
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_msg(response_to: i32, doc: &Document) -> Vec<u8> {
        let d = doc.encode();
        let mut m = header(5 + d.len(), 99, OP_MSG);
        m[8..12].copy_from_slice(&response_to.to_le_bytes());
        m.extend_from_slice(&0u32.to_le_bytes());
        m.push(0);
        m.extend(d);
        m
    }

    #[test]
    fn requests() {
        let m = op_msg(7, &command("hello", &[]));
        assert_eq!(
            i32::from_le_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(i32::from_le_bytes(m[12..16].try_into().unwrap()), OP_MSG);
        let (doc, _) = bson::decode(&m[21..]).unwrap();
        assert_eq!(doc.get("hello"), Some(&Bson::Int32(1)));
        assert_eq!(doc.get("$db").and_then(Bson::as_str), Some("admin"));
        let q = op_query(8, &command("isMaster", &[]));
        assert_eq!(
            i32::from_le_bytes(q[..4].try_into().unwrap()) as usize,
            q.len()
        );
        assert_eq!(&q[20..31], b"admin.$cmd\0");
    }

    #[test]
    fn replies() {
        let hello = Document::default()
            .with("isWritablePrimary", Bson::Bool(true))
            .with("maxWireVersion", Bson::Int32(21))
            .with("ok", Bson::Double(1.0));
        let bytes = reply_msg(5, &hello);
        let doc = parse_reply(&bytes, 5).done().unwrap();
        assert!(is_hello(&doc));
        assert_eq!(parse_reply(&bytes, 6), Parsed::Invalid);
        assert_eq!(parse_reply(&bytes[..30], 5), Parsed::Incomplete);
        let build = Document::default()
            .with("version", Bson::String("7.0.5".into()))
            .with("ok", Bson::Double(1.0));
        let info = describe(&doc, Some(&build));
        assert_eq!(info.name, "mongodb");
        assert_eq!(info.version.as_deref(), Some("7.0.5"));
        assert_eq!(info.extra.as_deref(), Some("wire version 21"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:mongodb:mongodb:7.0.5:*:*:*:*:*:*:*")
        );
        // OP_REPLY
        let d = hello.encode();
        let mut r = header(20 + d.len(), 1, OP_REPLY);
        r[8..12].copy_from_slice(&3i32.to_le_bytes());
        r.extend_from_slice(&[0; 16]);
        r.extend_from_slice(&1i32.to_le_bytes());
        r.extend(d);
        assert!(is_hello(&parse_reply(&r, 3).done().unwrap()));
    }

    #[test]
    fn access_answers() {
        let open = Document::default().with("ok", Bson::Double(1.0));
        assert_eq!(access(&open), Some(true));
        let denied = Document::default()
            .with("ok", Bson::Double(0.0))
            .with(
                "errmsg",
                Bson::String("command listDatabases requires authentication".into()),
            )
            .with("code", Bson::Int32(13))
            .with("codeName", Bson::String("Unauthorized".into()));
        assert_eq!(access(&denied), Some(false));
        assert_eq!(access(&Document::default()), None);
    }
}

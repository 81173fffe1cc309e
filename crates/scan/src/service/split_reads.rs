//! The property the `service_replies` fuzz target and its replay test hold
//! every streaming reply parser to: identification must not depend on how
//! the peer's bytes are cut into reads.
//!
//! [`receive`](super::io::receive) hands a parser the bytes so far after
//! every read and stops at the first verdict (a whole message, or "not this
//! protocol"). Where TCP cuts a reply is up to the network and the peer's
//! writes, so two things must hold for every cut, the whole reply being
//! the last:
//!
//! - a refusal is final: bytes refused as a prefix are not recognised once
//!   more has come, or a reply arriving in pieces would go unrecognised
//!   while the same reply in one piece is recognised;
//! - a complete message stays what it is: more bytes after it do not make
//!   it another message.
//!
//! A parser may still refuse bytes after a complete message (the answer to
//! PostgreSQL's `SSLRequest` is one byte, and a longer one is not that
//! answer): only the cut decides then, not the parser.

use std::fmt::Debug;

use super::parse::Parsed;
use super::*;

/// Most cut points tried per reply; longer replies are cut at evenly spaced
/// points, so that one fuzz input costs a bounded number of parses.
const MAX_CUTS: usize = 512;

/// Asserts, for every streaming parser of server replies, that its
/// verdicts on the prefixes of `reply` and on all of it agree as the module
/// says. Panics, naming the parser and the cuts, when they do not.
pub fn replies_read_alike(reply: &[u8]) {
    for port in [21, 25, 2525] {
        read_alike("greeting", reply, |b, end| banner::parse(b, end, port));
    }
    read_alike("numeric reply", reply, reply::parse);
    read_alike("http response", reply, http::parse_response);
    read_alike("zookeeper srvr", reply, zookeeper::parse_srvr);
    read_alike("zookeeper ruok", reply, |b, _| zookeeper::parse_ruok(b));
    read_alike("redis", reply, |b, _| redis::parse(b));
    read_alike("memcached version", reply, |b, _| {
        memcached::parse_version(b)
    });
    read_alike("memcached stats", reply, |b, _| memcached::parse_stats(b));
    read_alike("postgres ssl", reply, |b, _| postgres::parse_ssl_answer(b));
    read_alike("postgres startup", reply, |b, _| postgres::parse_startup(b));
    read_alike("mongodb", reply, |b, _| mongodb::parse_reply(b, 1));
    read_alike("kafka", reply, |b, _| kafka::parse(b));
    read_alike("rdp", reply, |b, _| rdp::parse(b));
    read_alike("vnc security 3.3", reply, |b, _| {
        vnc::parse_security(b, true)
    });
    read_alike("vnc security", reply, |b, _| vnc::parse_security(b, false));
}

/// What `receive` makes of `reply` arriving in one read, the peer then
/// falling silent or closing: the verdict on the bytes, or on the bytes
/// with no more to come; a reply still incomplete then is not this
/// protocol's.
fn verdict_on_all<T>(reply: &[u8], parse: &impl Fn(&[u8], bool) -> Parsed<T>) -> Parsed<T> {
    match parse(reply, false) {
        Parsed::Incomplete => match parse(reply, true) {
            Parsed::Incomplete => Parsed::Invalid,
            decided => decided,
        },
        decided => decided,
    }
}

fn read_alike<T: PartialEq + Debug>(
    name: &str,
    reply: &[u8],
    parse: impl Fn(&[u8], bool) -> Parsed<T>,
) {
    if reply.is_empty() {
        return;
    }
    let step = reply.len().div_ceil(MAX_CUTS);
    let cuts = (1..reply.len())
        .step_by(step)
        .map(|cut| (cut, parse(&reply[..cut], false)));
    let whole = (reply.len(), verdict_on_all(reply, &parse));
    let mut refused_at = None;
    let mut message: Option<(usize, T)> = None;
    for (cut, verdict) in cuts.chain([whole]) {
        match verdict {
            Parsed::Incomplete => {}
            Parsed::Invalid => refused_at = refused_at.or(Some(cut)),
            Parsed::Done(v) => {
                if let Some(refused) = refused_at {
                    panic!("{name}: refused after {refused} bytes, recognised after {cut}: {v:?}");
                }
                match &message {
                    Some((first_cut, first)) => assert_eq!(
                        first, &v,
                        "{name}: the message complete after {first_cut} bytes is another after {cut}"
                    ),
                    None => message = Some((cut, v)),
                }
            }
        }
    }
}

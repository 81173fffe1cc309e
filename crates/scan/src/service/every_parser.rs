//! One entry point into every parser of server replies, for fuzzing.

use super::http::{self, Response};
use super::reply::NumericReply;
use super::*;

/// Runs every parser of server replies on `b` and discards the results:
/// the input of the `service_replies` fuzz target and of the robustness
/// tests, which only care that nothing panics.
pub fn parse_everything(b: &[u8]) {
    for ended in [false, true] {
        let _ = banner::parse(b, ended, 25);
        let _ = banner::parse(b, ended, 2525);
        let _ = reply::parse(b, ended);
        let _ = http::parse_response(b, ended);
        let _ = zookeeper::parse_srvr(b, ended);
        let _ = ssh::parse_banner(b, ended);
        let _ = pop3::parse_banner(b, ended);
        let _ = imap::parse_banner(b, ended);
    }
    let _ = banner::unsolicited(b, 21);
    let _ = mysql::parse_greeting(b);
    let _ = vnc::parse_banner(b);
    let _ = vnc::parse_security(b, false);
    let _ = vnc::parse_security(b, true);
    let _ = http::decode_chunked(b);
    let _ = http::title(b);
    let text = String::from_utf8_lossy(b);
    let _ = http::server_software(&text);
    let _ = smtp::describe(&text);
    let _ = ftp::describe(&text);
    let _ = reply::word_after(&text, "exim");
    let numeric = NumericReply {
        code: 220,
        lines: vec![text.to_string()],
    };
    let _ = smtp::recognise(&numeric);
    let _ = ftp::recognise(&numeric);
    let _ = redis::parse(b);
    let mut info = crate::model::ServiceInfo::default();
    redis::apply_info(&mut info, b);
    let _ = memcached::parse_version(b);
    let _ = memcached::parse_stats(b);
    let _ = postgres::parse_ssl_answer(b);
    let _ = postgres::parse_startup(b);
    let _ = bson::decode(b);
    let _ = mongodb::parse_reply(b, 1);
    let _ = kafka::parse(b);
    let _ = zookeeper::parse_ruok(b);
    let _ = rdp::parse(b);
    let _ = tls::certificate_summary(b);
    let _ = tls::looks_like_tls(b);
    for status in [200, 401, 404] {
        let resp = Response {
            status,
            headers: vec![
                ("Server".into(), text.to_string()),
                ("X-elastic-product".into(), "Elasticsearch".into()),
                ("Api-Version".into(), "1".into()),
            ],
            body: b.to_vec(),
        };
        let _ = elasticsearch::recognise(&resp);
        let _ = docker::recognise(&resp);
        let _ = etcd::recognise(&resp);
        let _ = etcd::access(&resp);
        let _ = http::describe(&resp);
        let _ = http::wants_tls(&resp);
    }
}

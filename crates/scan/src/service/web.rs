//! The HTTP probe: what answers over HTTP, plain or inside TLS. `GET /`
//! tells a web server (product from `Server`, page title) or Elasticsearch;
//! an answer that hints at an API (404 at the root, a Docker header, or a
//! Docker/etcd port) is followed by `GET /version` for the Docker Engine
//! API and etcd, and etcd by a read of one key.

use crate::model::ServiceInfo;

use super::http::{self, Response};
use super::io::{Reply, Session, Verdict, exchange};
use super::{docker, elasticsearch, etcd};

/// Sends one request and reads the response (each on its own connection,
/// since requests say `Connection: close`).
pub(crate) trait HttpClient {
    fn send(&mut self, request: &[u8]) -> Reply<Response>;
    fn session(&self) -> &Session;
}

/// HTTP over plain TCP.
struct PlainHttp<'a> {
    session: &'a mut Session,
}

impl HttpClient for PlainHttp<'_> {
    fn send(&mut self, request: &[u8]) -> Reply<Response> {
        let Ok(mut s) = self.session.connect() else {
            return Reply::Nothing;
        };
        exchange(&mut s, request, self.session.timeout, http::parse_response)
    }

    fn session(&self) -> &Session {
        self.session
    }
}

fn get(client: &mut dyn HttpClient, path: &str) -> Reply<Response> {
    let host = client.session().host_header();
    client.send(&http::request("GET", path, &host, None))
}

/// Identifies what answers HTTP through `client`. Names are the plain
/// ones (`http`, `docker`, …); TLS adds its own prefix.
pub(crate) fn identify(client: &mut dyn HttpClient) -> Verdict {
    let root = match get(client, "/") {
        Reply::Parsed(r) => r,
        Reply::Other(b) => return Verdict::Other(b),
        Reply::Nothing => return Verdict::Nothing,
    };
    let found = |mut info: ServiceInfo| {
        info.method = "probe:http".into();
        Verdict::Found(info)
    };
    if http::wants_tls(&root) {
        return Verdict::WantsTls(Some(ServiceInfo {
            method: "probe:http".into(),
            ..http::describe(&root)
        }));
    }
    if let Some(info) = elasticsearch::recognise(&root) {
        return found(info);
    }
    let port = client.session().addr.port();
    let api_port = matches!(port, 2375 | 2376 | 2379 | 2380 | 4243);
    let version = match root.status == 404 || docker::hinted(&root) || api_port {
        true => get(client, "/version"),
        false => Reply::Nothing,
    };
    if let Reply::Parsed(v) = version {
        if let Some(info) = docker::recognise(&v) {
            return found(info);
        }
        if let Some(mut info) = etcd::recognise(&v) {
            info.unauthenticated = etcd_access(client);
            return found(info);
        }
    }
    found(http::describe(&root))
}

/// Reads one key through the v3 gateway, or the v2 API when there is no
/// gateway.
fn etcd_access(client: &mut dyn HttpClient) -> Option<bool> {
    let host = client.session().host_header();
    let v3 = http::request("POST", "/v3/kv/range", &host, Some(etcd::RANGE_BODY));
    let v3 = match client.send(&v3) {
        Reply::Parsed(r) => r,
        _ => return None,
    };
    if v3.status != 404 {
        return etcd::access(&v3);
    }
    match get(client, "/v2/keys") {
        Reply::Parsed(r) => etcd::access(&r),
        _ => None,
    }
}

/// The plain-HTTP probe.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    // Probe the connection first so a closed port stops everything.
    match session.connect() {
        Ok(s) => session.keep_idle(s),
        Err(_) => return Verdict::Unreachable,
    }
    identify(&mut PlainHttp { session })
}

//! etcd: `GET /version` answers `{"etcdserver":"3.5.12","etcdcluster":
//! "3.5.0"}`. Whether the keys are open is asked with a read of one key
//! through the v3 JSON gateway (`POST /v3/kv/range`), or the v2 API
//! (`GET /v2/keys`) on servers without the gateway.
//!
//! The service is named `etcd-client`, nmap's name for the client port.

use serde_json::Value;

use crate::cpe;
use crate::model::ServiceInfo;

use super::http::Response;
use super::parse::{clean_text, contains_ci};

/// The v3 range request: key `portreeve` (base64), read only.
pub(crate) const RANGE_BODY: &[u8] = br#"{"key":"cG9ydHJlZXZl"}"#;

/// Recognises the answer to `GET /version`.
pub(crate) fn recognise(resp: &Response) -> Option<ServiceInfo> {
    if resp.status != 200 {
        return None;
    }
    let j = resp.json()?;
    let server = j.get("etcdserver").and_then(Value::as_str)?;
    let version = clean_text(server.as_bytes(), 40);
    Some(ServiceInfo {
        name: "etcd-client".into(),
        product: Some("etcd".into()),
        cpe: Some(cpe::application("etcd", "etcd", Some(&version))),
        extra: j
            .get("etcdcluster")
            .and_then(Value::as_str)
            .map(|c| format!("cluster version {}", clean_text(c.as_bytes(), 20))),
        version: Some(version).filter(|v| !v.is_empty()),
        ..ServiceInfo::default()
    })
}

/// What a key read says about access: `Some(true)` when it worked without
/// credentials, `Some(false)` when the server asked for them, `None` when
/// the API is not there (404) or the answer is unclear.
pub(crate) fn access(resp: &Response) -> Option<bool> {
    let auth_error = [
        &b"user name is empty"[..],
        b"invalid auth token",
        b"permission denied",
        b"Insufficient credentials",
    ]
    .iter()
    .any(|m| contains_ci(&resp.body, m));
    match resp.status {
        200 => {
            let j = resp.json()?;
            (j.get("header").is_some() || j.get("action").is_some() || j.get("node").is_some())
                .then_some(true)
        }
        401 | 403 => Some(false),
        _ if auth_error => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::http::parse_response;
    use super::*;

    fn resp(raw: &[u8]) -> Response {
        parse_response(raw, true).done().unwrap()
    }

    #[test]
    fn version() {
        let r =
            resp(b"HTTP/1.1 200 OK\r\n\r\n{\"etcdserver\":\"3.5.12\",\"etcdcluster\":\"3.5.0\"}");
        let info = recognise(&r).unwrap();
        assert_eq!(info.name, "etcd-client");
        assert_eq!(info.version.as_deref(), Some("3.5.12"));
        assert_eq!(info.extra.as_deref(), Some("cluster version 3.5.0"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:etcd:etcd:3.5.12:*:*:*:*:*:*:*")
        );
        assert!(recognise(&resp(b"HTTP/1.1 404 Not Found\r\n\r\n404 page not found\n")).is_none());
    }

    #[test]
    fn access_answers() {
        let open =
            resp(b"HTTP/1.1 200 OK\r\n\r\n{\"header\":{\"cluster_id\":\"1\",\"revision\":\"1\"}}");
        assert_eq!(access(&open), Some(true));
        let v2 = resp(b"HTTP/1.1 200 OK\r\n\r\n{\"action\":\"get\",\"node\":{\"dir\":true}}");
        assert_eq!(access(&v2), Some(true));
        let closed = resp(
            b"HTTP/1.1 400 Bad Request\r\n\r\n{\"error\":\"etcdserver: user name is empty\",\"code\":3}",
        );
        assert_eq!(access(&closed), Some(false));
        assert_eq!(
            access(&resp(b"HTTP/1.1 401 Unauthorized\r\n\r\n")),
            Some(false)
        );
        assert_eq!(access(&resp(b"HTTP/1.1 404 Not Found\r\n\r\n")), None);
        assert_eq!(access(&resp(b"HTTP/1.1 200 OK\r\n\r\n{}")), None);
    }
}

//! The Docker Engine API (and Podman's compatible one): `GET /version`
//! answers JSON with `Version` and `ApiVersion`. Reaching it without
//! credentials is root on the host.

use serde_json::Value;

use crate::cpe;
use crate::model::ServiceInfo;

use super::http::Response;
use super::parse::{clean_text, contains_ci};

/// Whether a response hints at the Docker API (its `Server` or
/// `Api-Version` header), so `/version` is worth asking.
pub(crate) fn hinted(resp: &Response) -> bool {
    resp.header("Api-Version").is_some()
        || resp
            .header("Server")
            .is_some_and(|s| s.starts_with("Docker/") || s.starts_with("Libpod/"))
}

/// Recognises the answer to `GET /version`.
pub(crate) fn recognise(resp: &Response) -> Option<ServiceInfo> {
    let mut info = ServiceInfo {
        name: "docker".into(),
        ..ServiceInfo::default()
    };
    if matches!(resp.status, 401 | 403) && hinted(resp) {
        info.product = Some("Docker".into());
        info.unauthenticated = Some(false);
        return Some(info);
    }
    if resp.status != 200 {
        return None;
    }
    let j = resp.json()?;
    let version = j.get("Version").and_then(Value::as_str)?;
    let api = j.get("ApiVersion").and_then(Value::as_str)?;
    let platform = j
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let podman = contains_ci(platform.as_bytes(), b"podman")
        || j.get("Components")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter().any(|c| {
                    c.get("Name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| contains_ci(n.as_bytes(), b"podman"))
                })
            });
    let version = clean_text(version.as_bytes(), 40);
    let mut extra = format!("API {}", clean_text(api.as_bytes(), 10));
    if let (Some(os), Some(arch)) = (
        j.get("Os").and_then(Value::as_str),
        j.get("Arch").and_then(Value::as_str),
    ) {
        extra.push_str(&format!(
            ", {}/{}",
            clean_text(os.as_bytes(), 20),
            clean_text(arch.as_bytes(), 20)
        ));
    }
    if podman {
        info.product = Some("Podman".into());
        info.cpe = Some(cpe::application("podman_project", "podman", Some(&version)));
    } else {
        info.product = Some("Docker".into());
        info.cpe = Some(cpe::application("docker", "docker", Some(&version)));
    }
    info.version = Some(version).filter(|v| !v.is_empty());
    info.extra = Some(extra);
    info.unauthenticated = Some(true);
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::super::http::parse_response;
    use super::*;

    #[test]
    fn version() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nServer: Docker/24.0.7 (linux)\r\n\r\n\
              {\"Platform\":{\"Name\":\"Docker Engine - Community\"},\"Version\":\"24.0.7\",\
              \"ApiVersion\":\"1.43\",\"MinAPIVersion\":\"1.12\",\"Os\":\"linux\",\"Arch\":\"amd64\"}",
            true,
        )
        .done()
        .unwrap();
        assert!(hinted(&r));
        let info = recognise(&r).unwrap();
        assert_eq!(info.name, "docker");
        assert_eq!(info.product.as_deref(), Some("Docker"));
        assert_eq!(info.version.as_deref(), Some("24.0.7"));
        assert_eq!(info.extra.as_deref(), Some("API 1.43, linux/amd64"));
        assert_eq!(info.unauthenticated, Some(true));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:docker:docker:24.0.7:*:*:*:*:*:*:*")
        );
        let p = parse_response(
            b"HTTP/1.1 200 OK\r\n\r\n{\"Components\":[{\"Name\":\"Podman Engine\"}],\
              \"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\"}",
            true,
        )
        .done()
        .unwrap();
        assert_eq!(recognise(&p).unwrap().product.as_deref(), Some("Podman"));
        let etcd = parse_response(b"HTTP/1.1 200 OK\r\n\r\n{\"etcdserver\":\"3.5.12\"}", true);
        assert!(recognise(&etcd.done().unwrap()).is_none());
    }
}

//! Elasticsearch and OpenSearch: the REST API's root (`GET /`) answers
//! with the node's JSON (`version.number`, `cluster_name`, `tagline`), or
//! 401 when security is on.
//!
//! Like nmap, we name the service `http` and put Elasticsearch in the
//! product: it is an HTTP API, and the product is what tells the risk.

use serde_json::Value;

use crate::cpe;
use crate::model::ServiceInfo;

use super::http::Response;
use super::parse::{clean_text, contains_ci};

/// Recognises the root answer of Elasticsearch or OpenSearch.
pub(crate) fn recognise(resp: &Response) -> Option<ServiceInfo> {
    let json = resp.json();
    let header_says = resp
        .header("X-elastic-product")
        .is_some_and(|p| p.eq_ignore_ascii_case("Elasticsearch"));
    let mut product = None;
    let mut info = ServiceInfo {
        name: "http".into(),
        ..ServiceInfo::default()
    };
    if let Some(j) = json.as_ref().filter(|_| resp.status == 200) {
        let number = j.pointer("/version/number").and_then(Value::as_str);
        let tagline = j.get("tagline").and_then(Value::as_str).unwrap_or("");
        let distribution = j.pointer("/version/distribution").and_then(Value::as_str);
        if distribution == Some("opensearch") || tagline.contains("OpenSearch") {
            product = Some("OpenSearch");
        } else if tagline == "You Know, for Search" || header_says {
            product = Some("Elasticsearch");
        }
        if product.is_some() {
            info.version = number.map(|n| clean_text(n.as_bytes(), 40));
            info.extra = j
                .get("cluster_name")
                .and_then(Value::as_str)
                .map(|c| format!("cluster {}", clean_text(c.as_bytes(), 60)));
            info.unauthenticated = Some(true);
        }
    } else if matches!(resp.status, 401 | 403) {
        let realm = resp.header("WWW-Authenticate").unwrap_or("");
        if contains_ci(realm.as_bytes(), b"OpenSearch") {
            product = Some("OpenSearch");
        } else if header_says
            || realm.contains("realm=\"security\"")
            || contains_ci(&resp.body, b"security_exception")
        {
            product = Some("Elasticsearch");
        }
        info.unauthenticated = Some(false);
    }
    let product = product?;
    info.product = Some(product.into());
    if product == "Elasticsearch" {
        info.cpe = Some(cpe::application(
            "elastic",
            "elasticsearch",
            info.version.as_deref(),
        ));
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::super::http::parse_response;
    use super::*;

    fn resp(raw: &[u8]) -> Response {
        parse_response(raw, true).done().unwrap()
    }

    #[test]
    fn open_node() {
        let r = resp(
            b"HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n\
              content-type: application/json\r\n\r\n\
              {\"name\":\"n1\",\"cluster_name\":\"prod\",\"cluster_uuid\":\"x\",\
              \"version\":{\"number\":\"8.11.1\",\"build_flavor\":\"default\",\
              \"lucene_version\":\"9.8.0\"},\"tagline\":\"You Know, for Search\"}",
        );
        let info = recognise(&r).unwrap();
        assert_eq!(info.name, "http");
        assert_eq!(info.product.as_deref(), Some("Elasticsearch"));
        assert_eq!(info.version.as_deref(), Some("8.11.1"));
        assert_eq!(info.extra.as_deref(), Some("cluster prod"));
        assert_eq!(info.unauthenticated, Some(true));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:elastic:elasticsearch:8.11.1:*:*:*:*:*:*:*")
        );
    }

    #[test]
    fn secured_and_opensearch() {
        let r = resp(
            b"HTTP/1.1 401 Unauthorized\r\n\
              WWW-Authenticate: Basic realm=\"security\" charset=\"UTF-8\"\r\n\r\n\
              {\"error\":{\"root_cause\":[{\"type\":\"security_exception\"}]},\"status\":401}",
        );
        let info = recognise(&r).unwrap();
        assert_eq!(info.unauthenticated, Some(false));
        assert_eq!(info.version, None);
        let o = resp(
            b"HTTP/1.1 200 OK\r\n\r\n{\"cluster_name\":\"c\",\"version\":{\"distribution\":\
              \"opensearch\",\"number\":\"2.11.0\"},\"tagline\":\"The OpenSearch Project: \
              https://opensearch.org/\"}",
        );
        let info = recognise(&o).unwrap();
        assert_eq!(info.product.as_deref(), Some("OpenSearch"));
        assert_eq!(info.cpe, None);
        assert!(recognise(&resp(b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}")).is_none());
        assert!(recognise(&resp(b"HTTP/1.1 401 No\r\n\r\n")).is_none());
    }
}

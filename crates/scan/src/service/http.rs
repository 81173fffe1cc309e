//! HTTP/1.x messages (RFC 9112): the requests the probes send, the
//! responses they parse (status, headers, body with `Content-Length` or
//! chunked coding), and what a response says about the server: its
//! `Server` header and the page's `<title>`.

use crate::cpe;
use crate::model::ServiceInfo;

use super::parse::{Parsed, clean_text, contains_ci, find, leading_version, non_empty};

/// The most header bytes we accept before giving up on a response.
const MAX_HEAD: usize = 32 * 1024;

/// An HTTP request, closing the connection after the response.
pub(crate) fn request(method: &str, path: &str, host: &str, json_body: Option<&[u8]>) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: portreeve\r\n\
         Accept: */*\r\nConnection: close\r\n"
    )
    .into_bytes();
    if let Some(body) = json_body {
        r.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        r.extend_from_slice(body);
    } else {
        r.extend_from_slice(b"\r\n");
    }
    r
}

/// A parsed response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Response {
    /// The status code.
    pub(crate) status: u16,
    /// Header fields in order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, with any chunked coding removed (possibly truncated).
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (ignoring case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is.
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Parses a response; at the end of input, takes a truncated body as it is.
pub(crate) fn parse_response(buf: &[u8], ended: bool) -> Parsed<Response> {
    parse_at_depth(buf, ended, 0)
}

fn parse_at_depth(buf: &[u8], ended: bool, depth: u8) -> Parsed<Response> {
    const MAGIC: &[u8] = b"HTTP/";
    if buf.len() < MAGIC.len() {
        return if MAGIC.starts_with(buf) && !ended {
            Parsed::Incomplete
        } else {
            Parsed::Invalid
        };
    }
    if !buf.starts_with(MAGIC) {
        return Parsed::Invalid;
    }
    let (head, raw_body) = match (find(buf, b"\r\n\r\n"), find(buf, b"\n\n")) {
        (Some(a), Some(b)) if b + 2 < a + 4 => (&buf[..b], &buf[b + 2..]),
        (Some(a), _) => (&buf[..a], &buf[a + 4..]),
        (None, Some(b)) => (&buf[..b], &buf[b + 2..]),
        (None, None) if ended || buf.len() > MAX_HEAD => (buf, &[][..]),
        (None, None) => return Parsed::Incomplete,
    };
    let mut lines = super::parse::lines(head);
    let Some(status_line) = lines.next() else {
        return Parsed::Invalid;
    };
    let mut parts = status_line.splitn(3, |&b| b == b' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Parsed::Invalid;
    };
    let status = match (version, code) {
        (b"HTTP/1.0" | b"HTTP/1.1" | b"HTTP/0.9", c)
            if c.len() == 3 && c.iter().all(u8::is_ascii_digit) =>
        {
            c.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
        }
        _ => return Parsed::Invalid,
    };
    let headers: Vec<(String, String)> = lines
        .take(200)
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = clean_text(&l[..colon], 100);
            let value = clean_text(&l[colon + 1..], 1000);
            (!name.is_empty()).then_some((name, value))
        })
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) && status != 101 && depth < 4 {
        // An interim response; the real one follows.
        return match raw_body.is_empty() {
            true if !ended => Parsed::Incomplete,
            _ => parse_at_depth(raw_body, ended, depth + 1),
        };
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Parsed::Done(resp);
    }
    let chunked = resp
        .header("Transfer-Encoding")
        .is_some_and(|v| contains_ci(v.as_bytes(), b"chunked"));
    let length = resp
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    if chunked {
        match decode_chunked(raw_body) {
            (body, true) => resp.body = body,
            (body, false) if ended => resp.body = body,
            _ => return Parsed::Incomplete,
        }
    } else if let Some(n) = length {
        if raw_body.len() < n && !ended {
            return Parsed::Incomplete;
        }
        resp.body = raw_body[..n.min(raw_body.len())].to_vec();
    } else if ended {
        resp.body = raw_body.to_vec();
    } else {
        return Parsed::Incomplete;
    }
    Parsed::Done(resp)
}

/// Removes chunked transfer coding: the data so far, and whether the last
/// (zero-size) chunk was seen.
pub(crate) fn decode_chunked(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return (out, false);
        };
        raw = &raw[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if take < size || raw.len() < size + 2 {
            return (out, false);
        }
        raw = &raw[size + 2..];
    }
}

/// The text of the page's `<title>`, entities for `& < > " '` decoded.
pub(crate) fn title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body
        .iter()
        .take(MAX_HEAD * 2)
        .map(u8::to_ascii_lowercase)
        .collect();
    let open = find(&lower, b"<title")?;
    let start = open + lower[open..].iter().position(|&b| b == b'>')? + 1;
    let len = find(&lower[start..], b"</title").unwrap_or(lower.len() - start);
    let raw = clean_text(&body[start..start + len], 150);
    let decoded = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (!decoded.is_empty()).then_some(decoded)
}

/// What a `Server` header says: product, version, comment and CPE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Software {
    pub(crate) product: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) comment: Option<String>,
    pub(crate) cpe: Option<String>,
}

/// Reads a `Server` header such as `nginx/1.22.1`, `Apache/2.4.57
/// (Debian)` or `Jetty(9.4.53.v20231009)`.
pub(crate) fn server_software(value: &str) -> Software {
    let value = value.trim();
    let first = value.split_whitespace().next().unwrap_or("");
    let (name, version) = if let Some((n, v)) = first.split_once('/') {
        (n, Some(v))
    } else if let Some((n, v)) = first.split_once('(') {
        (n, Some(v.trim_end_matches(')')))
    } else {
        (first, None)
    };
    let version = version
        .filter(|v| !v.is_empty())
        .map(|v| clean_text(v.as_bytes(), 40));
    let comment = value.find('(').filter(|&i| i > first.len()).and_then(|i| {
        let rest = &value[i + 1..];
        non_empty(rest.split(')').next().unwrap_or("").as_bytes(), 60)
    });
    let known: Option<(&str, &str, &str)> = match name.to_ascii_lowercase().as_str() {
        "nginx" => Some(("nginx", "f5", "nginx")),
        "apache" => Some(("Apache httpd", "apache", "http_server")),
        "lighttpd" => Some(("lighttpd", "lighttpd", "lighttpd")),
        "microsoft-iis" => Some((
            "Microsoft IIS httpd",
            "microsoft",
            "internet_information_services",
        )),
        "openresty" => Some(("OpenResty web app server", "openresty", "openresty")),
        "caddy" => Some(("Caddy httpd", "caddyserver", "caddy")),
        "jetty" => Some(("Jetty", "eclipse", "jetty")),
        "werkzeug" => Some(("Werkzeug httpd", "palletsprojects", "werkzeug")),
        "gunicorn" => Some(("Gunicorn", "gunicorn", "gunicorn")),
        "envoy" => Some(("Envoy proxy", "envoyproxy", "envoy")),
        _ => None,
    };
    // Apache's `Apache-Coyote/1.1` and similar carry a protocol version, not
    // the product's; a version must at least start with a digit.
    let version = version.filter(|v| leading_version(v).is_some());
    match known {
        Some((product, vendor, cpe_product)) => Software {
            product: Some(product.into()),
            cpe: Some(cpe::application(vendor, cpe_product, version.as_deref())),
            version,
            comment,
        },
        None => Software {
            product: non_empty(name.as_bytes(), 60),
            version,
            comment,
            cpe: None,
        },
    }
}

/// A web server described by its response: `http`, product from
/// `Server`, the page title as detail.
pub(crate) fn describe(resp: &Response) -> ServiceInfo {
    let sw = resp
        .header("Server")
        .map(server_software)
        .unwrap_or_default();
    ServiceInfo {
        name: "http".into(),
        product: sw.product,
        version: sw.version,
        extra: title(&resp.body).or(sw.comment),
        cpe: sw.cpe,
        ..ServiceInfo::default()
    }
}

/// Whether the server says it wanted TLS on this port (nginx, Apache and Go
/// answer a plain request on a TLS port with a 400 that says so).
pub(crate) fn wants_tls(resp: &Response) -> bool {
    resp.status == 400
        && [
            &b"plain HTTP request was sent to HTTPS port"[..],
            b"speaking plain HTTP to an SSL-enabled server",
            b"sent an HTTP request to an HTTPS server",
        ]
        .iter()
        .any(|m| contains_ci(&resp.body, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
        Content-Type: text/html\r\nContent-Length: 60\r\nConnection: close\r\n\r\n\
        <html><head><title>Welcome &amp; hi</title></head></html>\n\n\n";

    #[test]
    fn nginx_page() {
        let r = parse_response(NGINX, false).done().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("server"), Some("nginx/1.22.1"));
        assert_eq!(r.body.len(), 60);
        let info = describe(&r);
        assert_eq!(info.name, "http");
        assert_eq!(info.product.as_deref(), Some("nginx"));
        assert_eq!(info.version.as_deref(), Some("1.22.1"));
        assert_eq!(info.extra.as_deref(), Some("Welcome & hi"));
        assert_eq!(
            info.cpe.as_deref(),
            Some("cpe:2.3:a:f5:nginx:1.22.1:*:*:*:*:*:*:*")
        );
        assert_eq!(parse_response(&NGINX[..100], false), Parsed::Incomplete);
        assert!(matches!(
            parse_response(&NGINX[..130], true),
            Parsed::Done(_)
        ));
        assert_eq!(parse_response(b"HTT", false), Parsed::Incomplete);
        assert_eq!(parse_response(b"SSH-2.0-x\r\n", false), Parsed::Invalid);
        assert_eq!(
            parse_response(b"HTTP/2 200\r\n\r\n", false),
            Parsed::Invalid
        );
    }

    #[test]
    fn chunked_and_interim() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\
            Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let r = parse_response(raw, false).done().unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
        assert_eq!(r.json().unwrap()["a"], 1);
        assert_eq!(decode_chunked(b"4\r\nab"), (b"ab".to_vec(), false));
        assert_eq!(decode_chunked(b"zz\r\n"), (vec![], false));
        let close = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(parse_response(close, false), Parsed::Incomplete);
        assert_eq!(
            parse_response(close, true).done().unwrap().body,
            b"until close"
        );
        let bare_lf = b"HTTP/1.0 404 Not Found\nServer: x\n\n";
        assert_eq!(parse_response(bare_lf, true).done().unwrap().status, 404);
    }

    #[test]
    fn servers() {
        let a = server_software("Apache/2.4.57 (Debian)");
        assert_eq!(a.product.as_deref(), Some("Apache httpd"));
        assert_eq!(a.version.as_deref(), Some("2.4.57"));
        assert_eq!(a.comment.as_deref(), Some("Debian"));
        assert_eq!(
            a.cpe.as_deref(),
            Some("cpe:2.3:a:apache:http_server:2.4.57:*:*:*:*:*:*:*")
        );
        let j = server_software("Jetty(9.4.53.v20231009)");
        assert_eq!(j.version.as_deref(), Some("9.4.53.v20231009"));
        let c = server_software("Apache-Coyote/1.1");
        assert_eq!(c.product.as_deref(), Some("Apache-Coyote"));
        let u = server_software("BaseHTTP/0.6 Python/3.11.7");
        assert_eq!(u.product.as_deref(), Some("BaseHTTP"));
        assert_eq!(u.version.as_deref(), Some("0.6"));
        assert_eq!(server_software("Caddy").version, None);
        assert_eq!(server_software("").product, None);
    }

    #[test]
    fn titles_and_tls_hints() {
        assert_eq!(
            title(b"<TITLE lang=en>\n A  b </TITLE>"),
            Some("A b".into())
        );
        assert_eq!(title(b"<title>"), None);
        assert_eq!(title(b"no title"), None);
        let r = parse_response(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 60\r\n\r\n\
              The plain HTTP request was sent to HTTPS port. Use https!!",
            true,
        )
        .done()
        .unwrap();
        assert!(wants_tls(&r));
        let req = request("POST", "/v3/kv/range", "10.0.0.1:2379", Some(b"{}"));
        assert!(req.starts_with(b"POST /v3/kv/range HTTP/1.1\r\nHost: 10.0.0.1:2379\r\n"));
        assert!(req.ends_with(b"Content-Length: 2\r\n\r\n{}"));
    }
}

//! The web console: static HTML, CSS and JavaScript modules from
//! `crates/server/console/`, compiled into the binary and served at
//! `/console/` (`/` redirects there). The pages ask the API with the
//! token the operator pastes; nothing here reads the database or a token.
//!
//! Every answer carries a Content-Security-Policy that lets the page load
//! only its own scripts and styles and talk only to this server, so data
//! from the API that slipped into markup could still run nothing, and no
//! other origin may frame it (docs/console.md).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The policy every console answer carries: this origin's scripts,
/// styles and API only; no inline script, no plugins, no framing, no
/// form posts, no `<base>`.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One file of the console: its path under `/console/`, its content type,
/// its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file under `crates/server/console/` (a test checks none is left
/// out).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/merkle.js", JS),
    asset!("js/pages/overview.js", JS),
    asset!("js/pages/host.js", JS),
    asset!("js/pages/findings.js", JS),
    asset!("js/pages/access.js", JS),
    asset!("js/pages/ledger.js", JS),
    asset!("js/pages/policies.js", JS),
];

/// The console's routes, for any router state.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|| async { serve("index.html") }))
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
}

/// The asset at `path`, or a plain 404, with the console's headers.
fn serve(path: &str) -> Response {
    let mut response = match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, HeaderValue::from_static(HTML))],
            "not found",
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // A new binary's console is used at once, not a cached old one.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ] {
        headers.insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_is_served_with_its_type() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let relative = path.strip_prefix(&root).unwrap();
                    on_disk.push(relative.to_str().unwrap().to_owned());
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "ASSETS and crates/server/console/ differ");
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                other => panic!("{}: no type for {other:?}", asset.path),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    #[test]
    fn no_asset_loads_anything_from_elsewhere() {
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap();
            for outside in ["http://", "https://", "//fonts.", "@import"] {
                assert!(!text.contains(outside), "{} has {outside}", asset.path);
            }
            assert!(
                !text.contains("innerHTML") && !text.contains("insertAdjacentHTML"),
                "{} parses text as HTML",
                asset.path
            );
        }
    }
}

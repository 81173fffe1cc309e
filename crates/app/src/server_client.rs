//! A reader of the fleet server's API (`/api/v1`, docs/server.md) for the
//! use cases that work on the whole fleet: the fleet's report and its
//! evidence pack.
//!
//! Blocking (ureq), as every other use case here is: a report waits for
//! its answers anyway. Only the server named is asked — the environment's
//! proxy variables are ignored — and a request that takes longer than
//! two minutes fails rather than hanging the command.

use std::time::Duration;

use portreeve_ledger::Bundle;
use portreeve_ledger::bundle::BUNDLE_FORMAT;
use portreeve_ledger::note::{Checkpoint, Note, VerifierKey};
use portreeve_server::ledger::{LedgerPage, MAX_PAGE};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read: a large fleet's host list is big, but an
/// answer larger than this is not one the API gives.
const MAX_ANSWER_BYTES: u64 = 512 * 1024 * 1024;

/// A client of one fleet server, with the bearer token it reads as (a
/// `viewer` token suffices for everything read here).
pub struct ServerClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl ServerClient {
    /// A client of the server at `base` (`http://HOST:PORT` or
    /// `https://…`), reading with `token`. Refuses a URL that is not
    /// http(s), and an empty token, before anything is sent.
    pub fn new(base: &str, token: &str) -> Result<ServerClient, AppError> {
        let base = base.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || base
                .split_once("://")
                .is_some_and(|(_, rest)| rest.is_empty())
        {
            return Err(AppError::Invalid(format!(
                "the server URL `{base}` is not http://HOST:PORT or https://HOST:PORT"
            )));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AppError::Invalid(
                "the server token is empty: give a token of role viewer or above".to_owned(),
            ));
        }
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .proxy(None)
            .http_status_as_error(false)
            .user_agent(concat!("portreeve/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(ServerClient {
            base: base.to_owned(),
            token: token.to_owned(),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// The server's base URL, as the report names it.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET {base}{path}` (path starting `/api/v1/`, query included) as
    /// JSON of type `T`.
    ///
    /// A server that cannot be reached, or answers 5xx, is
    /// [`AppError::Server`]; a refused token (401, 403) or request (4xx) is
    /// [`AppError::Invalid`] with the server's own message, since the
    /// operator's token or URL is at fault.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AppError> {
        self.answer(path, false)?.ok_or_else(|| {
            AppError::Invalid(format!(
                "{}{path}: the server refused the request (404): not found",
                self.base
            ))
        })
    }

    /// As [`ServerClient::get`], but `None` when the server answers 404:
    /// for a path an older server does not serve, which the caller notes
    /// rather than fails on.
    pub fn get_if_served<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, AppError> {
        self.answer(path, true)
    }

    /// The answer to `GET {base}{path}`; `None` for a 404 when
    /// `missing_ok`.
    fn answer<T: DeserializeOwned>(
        &self,
        path: &str,
        missing_ok: bool,
    ) -> Result<Option<T>, AppError> {
        let url = format!("{}{path}", self.base);
        let unreachable = |why: String| AppError::Server(format!("{url}: {why}"));
        let mut answer = self
            .agent
            .get(&url)
            .header("authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?;
        match status {
            200 => serde_json::from_str(&text).map(Some).map_err(|e| {
                unreachable(format!(
                    "the answer is not the JSON this portreeve reads: {e}"
                ))
            }),
            404 if missing_ok => Ok(None),
            401 | 403 => Err(AppError::Invalid(format!(
                "{url}: the server refused the token ({status}): {}",
                error_message(&text)
            ))),
            400..=499 if status != 429 => Err(AppError::Invalid(format!(
                "{url}: the server refused the request ({status}): {}",
                error_message(&text)
            ))),
            _ => Err(unreachable(format!(
                "the server answered {status}: {}",
                error_message(&text)
            ))),
        }
    }
}

impl ServerClient {
    /// The server's whole ledger as a [`Bundle`] (entries as their exact
    /// stored text, and every distinct checkpoint the pages came with), and
    /// the key the server states for it — unverified: the caller checks
    /// the bundle against that key or one the operator gave.
    ///
    /// Pages of `GET /api/v1/ledger` are read until the entries reach the
    /// size of the checkpoint the last page came with, which then covers
    /// every entry read. Entries appended while reading only make later
    /// pages' checkpoints larger: the ledger only grows, so what was read
    /// first is a prefix of it.
    pub fn ledger_bundle(&self) -> Result<(Bundle, VerifierKey), AppError> {
        bundle_from_pages(|after| {
            self.get(&format!("/api/v1/ledger?after={after}&limit={MAX_PAGE}"))
        })
        .map_err(|e| match e {
            AppError::Server(why) => AppError::Server(format!("{}: {why}", self.base)),
            other => other,
        })
    }
}

/// The ledger [`ServerClient::ledger_bundle`] reads, from pages
/// `fetch(after)` gives: from index 0 until the entries reach the size of
/// the checkpoint the last page came with. A page that skips or repeats an
/// index, a key that changes between pages, and a checkpoint or key that
/// is not one are [`AppError::Server`].
pub(crate) fn bundle_from_pages(
    mut fetch: impl FnMut(usize) -> Result<LedgerPage, AppError>,
) -> Result<(Bundle, VerifierKey), AppError> {
    let wrong = |why: String| AppError::Server(format!("the ledger: {why}"));
    let mut entries: Vec<String> = Vec::new();
    let mut checkpoints: Vec<String> = Vec::new();
    let mut stated: Option<String> = None;
    loop {
        let after = entries.len();
        let page = fetch(after)?;
        if let Some(earlier) = stated.as_ref().filter(|k| **k != page.key) {
            return Err(wrong(format!(
                "the server stated another key while it was read ({earlier}, then {})",
                page.key
            )));
        }
        for (due, e) in (after as u64..).zip(&page.entries) {
            if e.index != due {
                return Err(wrong(format!(
                    "the page after {after} holds entry {} where {due} was due",
                    e.index
                )));
            }
        }
        let got = page.entries.len();
        entries.extend(page.entries.into_iter().map(|e| e.line));
        if !checkpoints.contains(&page.checkpoint) {
            checkpoints.push(page.checkpoint);
        }
        stated = Some(page.key);
        if got == 0 || entries.len() as u64 >= page.size {
            break;
        }
    }
    let stated = stated.expect("one page was read at least");
    let key: VerifierKey = stated.trim().parse().map_err(|e| {
        wrong(format!(
            "the key the server states is not a verifier key: {e}"
        ))
    })?;
    let latest = checkpoints.last().expect("every page has a checkpoint");
    let checkpoint = Note::parse(latest)
        .ok()
        .and_then(|n| Checkpoint::parse_text(&n.text).ok())
        .ok_or_else(|| wrong("its checkpoint is not a signed checkpoint note".into()))?;
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        version: 1,
        origin: checkpoint.origin,
        log_key: key.to_string(),
        entries,
        checkpoints,
    };
    Ok((bundle, key))
}

/// The message of the server's `{"error": {"message": …}}`, or the start
/// of the text.
fn error_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_and_real_tokens_are_taken() {
        assert!(ServerClient::new("http://127.0.0.1:8440/", "prt_x").is_ok());
        assert_eq!(
            ServerClient::new("http://127.0.0.1:8440/", "prt_x")
                .unwrap()
                .base(),
            "http://127.0.0.1:8440"
        );
        for bad in ["127.0.0.1:8440", "ftp://h", "http://", ""] {
            let e = ServerClient::new(bad, "prt_x").err().expect(bad);
            assert!(e.is_input(), "{bad}: {e}");
        }
        assert!(ServerClient::new("http://h:1", "  ").is_err());
    }

    #[test]
    fn the_servers_own_message_is_quoted() {
        assert_eq!(
            error_message(r#"{"error":{"status":401,"message":"the token is unknown"}}"#),
            "the token is unknown"
        );
        assert_eq!(error_message("plain"), "plain");
    }
}

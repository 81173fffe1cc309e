//! OIDC sign-in for people: an `Authorization: Bearer` that is a JWT is an
//! ID token from the configured issuer, verified against the keys the
//! issuer publishes (its JWKS), and its role comes from one string claim.
//!
//! The keys are fetched when the server starts (discovery, then
//! `jwks_uri`), again every `jwks_refresh`, and again when a token names a
//! key id the server does not have — at most once every
//! [`MIN_REFETCH`], so tokens with made-up key ids cannot make the server
//! hammer the issuer. A failed refresh keeps the keys it had.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::{Principal, Role};

/// How long one request to the issuer may take, connection to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// The shortest time between two fetches of the JWKS for unknown key ids.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// The signature algorithms accepted. Not HS256 and its kin: their key is
/// a shared secret, which a public JWKS must never be mistaken for.
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// `[oidc]` in server.toml, or `--oidc-issuer` and `--oidc-audience`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer's URL, exactly as its tokens' `iss` says it.
    pub issuer: String,
    /// The client id the tokens must be for (one of their `aud`).
    pub audience: String,
    /// The string claim naming the holder's role (`viewer`, …).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// How often the issuer's keys are fetched again, e.g. `1h`, `15m`.
    #[serde(default = "default_jwks_refresh", deserialize_with = "interval")]
    pub jwks_refresh: Duration,
}

impl OidcConfig {
    /// `issuer` and `audience` with every other setting at its default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> OidcConfig {
        OidcConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            role_claim: default_role_claim(),
            jwks_refresh: default_jwks_refresh(),
        }
    }
}

fn default_role_claim() -> String {
    "portreeve_role".to_owned()
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(3600)
}

/// A duration written as jiff reads it (`1h`, `90s`, `PT15M`), at least 1s.
fn interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|s| Duration::try_from(s).ok())
        .filter(|s| *s >= Duration::from_secs(1))
        .ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a duration of 1s or more"))
        })
}

/// The issuer could not be reached or did not answer as OIDC says.
#[derive(Debug, thiserror::Error)]
#[error("OIDC issuer {url}: {why}")]
pub struct DiscoveryError {
    url: String,
    why: String,
}

/// Why an ID token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// It failed a check (401); the check it failed, in words.
    Invalid(String),
    /// It is valid but names no role portreeve knows (403).
    NoRole(String),
}

/// The part of the discovery document used.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Verifies ID tokens from one issuer, keeping its keys current.
pub struct OidcVerifier {
    config: OidcConfig,
    jwks_uri: String,
    keys: RwLock<JwkSet>,
    /// When the JWKS was last fetched for an unknown key id.
    last_refetch: Mutex<Instant>,
}

impl OidcVerifier {
    /// Reads the issuer's discovery document and its JWKS, and starts the
    /// periodic refresh (it ends when the verifier is dropped).
    pub async fn discover(config: OidcConfig) -> Result<Arc<OidcVerifier>, DiscoveryError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = fetch_json(url).await?;
        if discovery.issuer != config.issuer {
            return Err(DiscoveryError {
                url: config.issuer.clone(),
                why: format!(
                    "its discovery document names the issuer `{}`, not this one",
                    discovery.issuer
                ),
            });
        }
        let keys: JwkSet = fetch_json(discovery.jwks_uri.clone()).await?;
        let verifier = Arc::new(OidcVerifier {
            config,
            jwks_uri: discovery.jwks_uri,
            keys: RwLock::new(keys),
            last_refetch: Mutex::new(Instant::now()),
        });
        tokio::spawn(refresh_periodically(
            Arc::downgrade(&verifier),
            verifier.config.jwks_refresh,
        ));
        Ok(verifier)
    }

    /// The role and name (`email`, else `sub`) of a valid ID token, or the
    /// check it failed.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let invalid = |why: &str| Rejection::Invalid(format!("the ID token {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            invalid("has a header that is not JSON or names an algorithm not accepted (RS256, ES256, EdDSA)")
        })?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(invalid(
                "is signed with an algorithm not accepted (RS256, ES256, EdDSA)",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("names no key (`kid`) in its header"))?;
        let key = self
            .key(&kid)
            .await
            .ok_or_else(|| invalid("names a key (`kid`) the issuer does not publish"))?;
        if key.alg.is_some_and(|alg| alg != header.alg) {
            return Err(invalid("names an algorithm its key is not for"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key.decoding,
            &validation,
        )
        .map_err(|e| invalid(&failed_check(e.kind(), &self.config)))?
        .claims;
        let now = jsonwebtoken::get_current_timestamp();
        match claims.get("iat") {
            None => {}
            Some(iat) if iat.as_u64().is_some_and(|t| t <= now + LEEWAY_SECS) => {}
            Some(_) => return Err(invalid("was issued in the future (`iat`)")),
        }
        let role = role_of(&claims, &self.config.role_claim)?;
        let name = ["email", "sub"]
            .iter()
            .find_map(|claim| claims.get(*claim).and_then(serde_json::Value::as_str))
            .ok_or_else(|| invalid("has neither an `email` nor a `sub` claim"))?;
        Ok(Principal {
            role,
            name: name.to_owned(),
        })
    }

    /// The key `kid` names, fetching the JWKS again (rate-limited) when it
    /// is not among those held.
    async fn key(&self, kid: &str) -> Option<UsableKey> {
        if let Some(key) = self.held(kid).await {
            return Some(key);
        }
        let mut last = self.last_refetch.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.held(kid).await {
            return Some(key);
        }
        if last.elapsed() < MIN_REFETCH {
            return None;
        }
        *last = Instant::now();
        self.refresh().await;
        self.held(kid).await
    }

    /// `kid`'s key among those held.
    async fn held(&self, kid: &str) -> Option<UsableKey> {
        usable(&*self.keys.read().await, kid)
    }

    /// Fetches the JWKS again; on failure keeps the keys held and logs why.
    async fn refresh(&self) {
        match fetch_json::<JwkSet>(self.jwks_uri.clone()).await {
            Ok(keys) => *self.keys.write().await = keys,
            Err(e) => tracing::warn!("keeping the OIDC keys held: {e}"),
        }
    }
}

/// A key from the JWKS, ready to verify with.
struct UsableKey {
    decoding: DecodingKey,
    alg: Option<Algorithm>,
}

/// `kid`'s key in `keys`, if there is one this crate can use.
fn usable(keys: &JwkSet, kid: &str) -> Option<UsableKey> {
    let jwk = keys.find(kid)?;
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| Algorithm::try_from(a).ok());
    Some(UsableKey { decoding, alg })
}

/// Which check a token failed, in words for its holder.
fn failed_check(kind: &ErrorKind, config: &OidcConfig) -> String {
    match kind {
        ErrorKind::InvalidSignature => "has a signature that does not verify".to_owned(),
        ErrorKind::ExpiredSignature => "has expired (`exp`)".to_owned(),
        ErrorKind::ImmatureSignature => "is not valid yet (`nbf`)".to_owned(),
        ErrorKind::InvalidIssuer => format!("is not from the issuer {} (`iss`)", config.issuer),
        ErrorKind::InvalidAudience => {
            format!("is not for the audience {} (`aud`)", config.audience)
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("has no `{claim}` claim"),
        ErrorKind::InvalidAlgorithm => "names an algorithm its key is not for".to_owned(),
        _ => "is malformed".to_owned(),
    }
}

/// The role `claim` names in `claims`: 403 when it is missing or unknown.
fn role_of(
    claims: &serde_json::Map<String, serde_json::Value>,
    claim: &str,
) -> Result<Role, Rejection> {
    let name = claims
        .get(claim)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            Rejection::NoRole(format!("the ID token has no `{claim}` claim naming a role"))
        })?;
    name.parse::<Role>().map_err(|_| {
        Rejection::NoRole(format!(
            "the ID token's `{claim}` names no role portreeve knows"
        ))
    })
}

tokio::task_local! {
    /// The verifier of the server answering this request, set around each
    /// request by [`layer`]. A task-local rather than router state so that
    /// the API's handlers and their `authorise` calls need not carry it.
    static SIGN_IN: Option<Arc<OidcVerifier>>;
}

/// `router` with `verifier` (or no OIDC sign-in) in effect for each request.
pub(crate) fn layer(router: axum::Router, verifier: Option<Arc<OidcVerifier>>) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            SIGN_IN.scope(verifier.clone(), next.run(request))
        },
    ))
}

/// The verifier in effect for the request being answered, if any.
pub(crate) fn current() -> Option<Arc<OidcVerifier>> {
    SIGN_IN.try_with(Clone::clone).ok().flatten()
}

/// Fetches the JWKS every `every` while the verifier lives.
async fn refresh_periodically(verifier: Weak<OidcVerifier>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match verifier.upgrade() {
            Some(v) => v.refresh().await,
            None => return,
        }
    }
}

/// `url`'s body as JSON of type `T`, with a timeout and a size limit.
async fn fetch_json<T: serde::de::DeserializeOwned + Send + 'static>(
    url: String,
) -> Result<T, DiscoveryError> {
    let failed = |url: &str, why: String| DiscoveryError {
        url: url.to_owned(),
        why,
    };
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(FETCH_TIMEOUT))
            .build()
            .into();
        let text = agent
            .get(&url)
            .call()
            .and_then(|mut r| {
                r.body_mut()
                    .with_config()
                    .limit(MAX_DOCUMENT_BYTES)
                    .read_to_string()
            })
            .map_err(|e| failed(&url, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| failed(&url, format!("not the JSON expected: {e}")))
    })
    .await
    .map_err(|e| failed("", e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn the_role_claim_names_a_role_or_the_token_gets_403() {
        let c = claims(serde_json::json!({"portreeve_role": "viewer", "groups": ["x"]}));
        assert_eq!(role_of(&c, "portreeve_role"), Ok(Role::Viewer));
        assert!(matches!(role_of(&c, "role"), Err(Rejection::NoRole(_))));
        let c = claims(serde_json::json!({"portreeve_role": "root"}));
        assert!(matches!(
            role_of(&c, "portreeve_role"),
            Err(Rejection::NoRole(_))
        ));
        let c = claims(serde_json::json!({"portreeve_role": ["viewer"]}));
        assert!(matches!(
            role_of(&c, "portreeve_role"),
            Err(Rejection::NoRole(_))
        ));
    }

    #[test]
    fn the_config_defaults_and_refuses_unknown_fields_and_bad_intervals() {
        let config: OidcConfig =
            serde_json::from_value(serde_json::json!({"issuer": "http://i", "audience": "a"}))
                .unwrap();
        assert_eq!(config, OidcConfig::new("http://i", "a"));
        let config: OidcConfig = serde_json::from_value(serde_json::json!(
            {"issuer": "http://i", "audience": "a", "role_claim": "r", "jwks_refresh": "15m"}
        ))
        .unwrap();
        assert_eq!(
            (config.role_claim.as_str(), config.jwks_refresh),
            ("r", Duration::from_secs(900))
        );
        for bad in [
            serde_json::json!({"issuer": "http://i", "audience": "a", "groups": "g"}),
            serde_json::json!({"issuer": "http://i", "audience": "a", "jwks_refresh": "soon"}),
            serde_json::json!({"issuer": "http://i", "audience": "a", "jwks_refresh": "0s"}),
        ] {
            assert!(serde_json::from_value::<OidcConfig>(bad).is_err());
        }
    }
}

//! OIDC sign-in on `portreeve server`: the test runs its own issuer (a
//! discovery document and a JWKS of keys it made with openssl) on the
//! loopback of a namespace it created, starts the server there with
//! `--oidc-issuer`, mints ID tokens, and asks `GET /api/v1/hosts` with them.
//! Run on SQLite and, where reachable, PostgreSQL.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::fleet_server::{RunningServer, TestDatabase, create_token, on_each_database};
use support::testkit::http::{Reply, Server};
use support::{Home, Netns, assert_exit, testkit};

/// The client id the server is started with.
const AUDIENCE: &str = "portreeve-console";

/// A signing key the test made, and its public half as the issuer
/// publishes it.
struct IssuerKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    public: Jwk,
}

impl IssuerKey {
    /// A new key from `openssl genpkey` (RS256: RSA 2048; ES256: P-256;
    /// EdDSA: Ed25519).
    fn generate(alg: Algorithm, kid: &str) -> IssuerKey {
        let options: &[&str] = match alg {
            Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Algorithm::EdDSA => &["-algorithm", "ED25519"],
            other => panic!("no key for {other:?}"),
        };
        let out = support::run(Command::new("openssl").arg("genpkey").args(options));
        support::assert_ok(&out);
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&out.stdout),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&out.stdout),
            _ => EncodingKey::from_ed_pem(&out.stdout),
        }
        .unwrap();
        let mut public = Jwk::from_encoding_key(&encoding, alg).unwrap();
        public.common.key_id = Some(kid.to_owned());
        IssuerKey {
            alg,
            kid: kid.to_owned(),
            encoding,
            public,
        }
    }

    /// `claims` signed by this key, its `kid` in the header.
    fn sign(&self, claims: &Value) -> String {
        let header = Header {
            kid: Some(self.kid.clone()),
            ..Header::new(self.alg)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The test's OIDC issuer, serving from inside a namespace.
struct Issuer {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    _server: Server,
}

impl Issuer {
    /// Starts on `ns`'s loopback publishing `keys`. Its discovery document
    /// is at `URL/.well-known/openid-configuration`; one under
    /// `URL/liar/…` names another issuer than itself.
    fn start(ns: &Netns, keys: &[&IssuerKey]) -> Issuer {
        let keys = Arc::new(Mutex::new(JwkSet {
            keys: keys.iter().map(|k| k.public.clone()).collect(),
        }));
        let published = Arc::clone(&keys);
        let server = ns.run(move || {
            Server::start(move |request, base| match request.path.as_str() {
                "/.well-known/openid-configuration" => Reply::ok(
                    "application/json",
                    json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string(),
                ),
                "/liar/.well-known/openid-configuration" => Reply::ok(
                    "application/json",
                    json!({"issuer": "https://elsewhere.invalid", "jwks_uri": format!("{base}/jwks")})
                        .to_string(),
                ),
                "/jwks" => Reply::ok(
                    "application/json",
                    serde_json::to_string(&*published.lock().unwrap()).unwrap(),
                ),
                _ => Reply::status("404 Not Found", "text/plain", "no"),
            })
        });
        Issuer {
            url: server.base_url.clone(),
            keys,
            _server: server,
        }
    }

    /// Publishes `keys` instead of what it published.
    fn rotate_to(&self, keys: &[&IssuerKey]) {
        self.keys.lock().unwrap().keys = keys.iter().map(|k| k.public.clone()).collect();
    }

    /// Claims of a valid viewer's ID token from this issuer.
    fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": "alice",
            "iat": now, "exp": now + 300, "portreeve_role": "viewer",
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `claims` with `changes` merged over them (a null removes the claim).
fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A token of three parts: `header` and `claims` as JSON, and `signature`.
fn hand_made(header: Value, claims: &Value, signature: &str) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{signature}", part(&header), part(claims))
}

/// Asserts `token` gets `status` on `GET /api/v1/hosts` with a message
/// containing `says`, which does not repeat the token.
fn assert_refused(server: &RunningServer, token: &str, status: u16, says: &str) {
    let (got, head, body) = server.get("/api/v1/hosts", Some(token));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        (got, body["error"]["status"].as_u64()),
        (status, Some(status as u64)),
        "{body}"
    );
    assert!(message.contains(says), "expected {says:?} in {message:?}");
    assert!(
        !body.to_string().contains(token),
        "the token is echoed: {body}"
    );
    if status == 401 {
        assert!(head.contains("www-authenticate: bearer"), "{head}");
    }
}

fn start_server(home: &Home, db: &TestDatabase, ns: Netns, issuer: &Issuer) -> RunningServer {
    RunningServer::start_with(
        home,
        db,
        ns,
        "127.0.0.1:0",
        &["--oidc-issuer", &issuer.url, "--oidc-audience", AUDIENCE],
    )
}

#[test]
fn id_tokens_from_the_issuer_sign_people_in_and_every_failed_check_is_refused() {
    let test = "id_tokens_from_the_issuer_sign_people_in_and_every_failed_check_is_refused";
    if !testkit::require_programs(test, &["openssl"]) {
        return;
    }
    let rsa = IssuerKey::generate(Algorithm::RS256, "rsa-1");
    let ec = IssuerKey::generate(Algorithm::ES256, "ec-1");
    let ed = IssuerKey::generate(Algorithm::EdDSA, "ed-1");
    let stranger = IssuerKey::generate(Algorithm::RS256, "rsa-1");
    let rotated = IssuerKey::generate(Algorithm::ES256, "ec-2");
    on_each_database(test, |home, db| {
        let ns = Netns::bare();
        let issuer = Issuer::start(&ns, &[&rsa, &ec, &ed]);
        let server = start_server(home, db, ns, &issuer);
        let valid = issuer.claims();

        // Valid: RS256, ES256 and EdDSA, `aud` a string or a list holding ours.
        for token in [
            rsa.sign(&valid),
            ec.sign(&valid),
            ed.sign(&valid),
            rsa.sign(&with(&valid, json!({"aud": ["other", AUDIENCE]}))),
        ] {
            let (status, _, body) = server.get("/api/v1/hosts", Some(&token));
            assert_eq!((status, body), (200, json!([])));
        }
        // `prt_` tokens work as before, beside ID tokens.
        let viewer = create_token(home, db, &["--role", "viewer"]);
        assert_eq!(server.get("/api/v1/hosts", Some(&viewer)).0, 200);

        // Each check, failed: 401 naming it.
        let wrong_issuer = with(&valid, json!({"iss": "http://127.0.0.1:1"}));
        assert_refused(&server, &rsa.sign(&wrong_issuer), 401, "`iss`");
        let wrong_audience = with(&valid, json!({"aud": "someone-else"}));
        assert_refused(&server, &rsa.sign(&wrong_audience), 401, "`aud`");
        let no_audience = with(&valid, json!({"aud": null}));
        assert_refused(&server, &rsa.sign(&no_audience), 401, "no `aud`");
        let expired = with(&valid, json!({"exp": now() - 3600}));
        assert_refused(&server, &rsa.sign(&expired), 401, "expired");
        let not_yet = with(&valid, json!({"nbf": now() + 3600}));
        assert_refused(&server, &ec.sign(&not_yet), 401, "`nbf`");
        let from_the_future = with(&valid, json!({"iat": now() + 3600}));
        assert_refused(&server, &ec.sign(&from_the_future), 401, "`iat`");
        // Signed by a key the issuer never published, under a published kid.
        assert_refused(&server, &stranger.sign(&valid), 401, "signature");
        // A published signature over other claims.
        let genuine = rsa.sign(&valid);
        let signature = genuine.rsplit('.').next().unwrap();
        let admin = with(&valid, json!({"portreeve_role": "admin"}));
        let forged = hand_made(json!({"alg": "RS256", "kid": "rsa-1"}), &admin, signature);
        assert_refused(&server, &forged, 401, "signature");
        // A kid the issuer does not publish (it refetches, then refuses).
        assert_refused(&server, &rotated.sign(&valid), 401, "`kid`");
        // Unsigned, and HMAC keyed with something public: refused outright.
        let unsigned = hand_made(json!({"alg": "none", "kid": "rsa-1"}), &admin, "");
        assert_refused(&server, &unsigned, 401, "algorithm");
        let hmac = jsonwebtoken::encode(
            &Header {
                kid: Some("rsa-1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &admin,
            &EncodingKey::from_secret(b"public").unwrap(),
        )
        .unwrap();
        assert_refused(&server, &hmac, 401, "algorithm");

        // Valid, but no role portreeve knows, or one that may not read: 403.
        let no_role = with(&valid, json!({"portreeve_role": null}));
        assert_refused(&server, &rsa.sign(&no_role), 403, "no `portreeve_role`");
        let unknown_role = with(&valid, json!({"portreeve_role": "superuser"}));
        assert_refused(&server, &rsa.sign(&unknown_role), 403, "no role");
        let enroll = with(&valid, json!({"portreeve_role": "enroll"}));
        assert_refused(&server, &rsa.sign(&enroll), 403, "`enroll`");
        // An ID token does not enroll hosts, even an admin's.
        let auth = format!("Bearer {}", rsa.sign(&admin));
        let (status, _, body) = server.send(
            "POST",
            "/api/v1/enroll",
            &[("Authorization", &auth)],
            br#"{"host_name": "web-1", "public_key": "AAAA"}"#,
        );
        assert_eq!(status, 403, "{body}");
        // An ID token's principal is its `email`, else its `sub`: the name
        // a fleet policy's proposer (and the server's ledger) know it by.
        for (claims, name) in [
            (
                json!({"portreeve_role": "operator", "email": "alice@example.org"}),
                "alice@example.org",
            ),
            (json!({"portreeve_role": "operator"}), "alice"),
        ] {
            let auth = format!("Bearer {}", rsa.sign(&with(&valid, claims)));
            let (status, _, body) = server.send(
                "POST",
                "/api/v1/policies",
                &[("Authorization", &auth)],
                br#"{"name": "web", "text": "version = 1\n"}"#,
            );
            assert_eq!((status, &body["proposer"]), (201, &json!(name)), "{body}");
        }

        // The issuer rotates to a new key: the server fetches it on the
        // first token that names it (at most once every 2 s).
        issuer.rotate_to(&[&rotated]);
        let after_rotation = rotated.sign(&valid);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, _, body) = server.get("/api/v1/hosts", Some(&after_rotation));
            if status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the new key was not picked up: {body}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        server.stop();
    });
}

#[test]
fn a_server_without_oidc_refuses_id_tokens_and_a_lying_issuer_stops_the_start() {
    let test = "a_server_without_oidc_refuses_id_tokens_and_a_lying_issuer_stops_the_start";
    if !testkit::require_programs(test, &["openssl"]) || !testkit::privileged(test, &["ip"]) {
        return;
    }
    let key = IssuerKey::generate(Algorithm::ES256, "ec-1");
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let ns = Netns::bare();
    let issuer = Issuer::start(&ns, &[&key]);

    // The discovery document names another issuer: no server.
    let liar = format!("{}/liar", issuer.url);
    let out = home.run_in(
        &ns,
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--oidc-issuer",
            &liar,
            "--oidc-audience",
            AUDIENCE,
        ],
    );
    assert_exit(&out, 3, "names the issuer `https://elsewhere.invalid`");

    let server = RunningServer::start_in(&home, &db, ns, "127.0.0.1:0");
    let token = key.sign(&issuer.claims());
    assert_refused(&server, &token, 401, "OIDC sign-in is not configured");
    server.stop();
}

//! TLS: a handshake with rustls that accepts any certificate (we identify,
//! we do not trust), recording the negotiated version, ALPN and the leaf
//! certificate; then whatever speaks inside (HTTP, or a protocol that
//! greets first) is identified over it.
//!
//! No SNI is sent: the target is an address, and rustls sends no SNI for
//! addresses.
//!
//! TLS runs over a deadline-bound [`Conn`]: the handshake as a whole gets
//! one service timeout, and every read inside TLS (rustls reads until a
//! whole record is in) ends by the deadline of its step, so a server that
//! announces a long record and sends it a byte at a time cannot hold the
//! probe.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, StreamOwned};

use crate::model::{ServiceInfo, TlsInfo};

use super::banner;
use super::http::{self, Response};
use super::io::{Conn, MAX_REPLY, Reply, Session, Stream, Verdict, exchange, receive};
use super::web::{self, HttpClient};

/// A TLS connection to the target.
pub(crate) type TlsStream = StreamOwned<ClientConnection, Conn>;

impl Stream for TlsStream {
    fn set_deadline(&mut self, deadline: Instant) {
        self.sock.set_deadline(deadline);
    }
}

/// Accepts every certificate, but checks handshake signatures against the
/// certificate's key, as the protocol requires.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration offering `h2` and `http/1.1` (`offer_h2`), or
/// only `http/1.1`.
fn config(offer_h2: bool) -> Option<Arc<ClientConfig>> {
    static CONFIGS: OnceLock<Option<[Arc<ClientConfig>; 2]>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let make = |alpn: &[&[u8]]| -> Option<Arc<ClientConfig>> {
            let verifier = AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            };
            let mut c =
                ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
                    .with_protocol_versions(rustls::ALL_VERSIONS)
                    .ok()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth();
            c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            c.resumption = rustls::client::Resumption::disabled();
            Some(Arc::new(c))
        };
        Some([make(&[b"h2", b"http/1.1"])?, make(&[b"http/1.1"])?])
    });
    configs
        .as_ref()
        .map(|[h2, h1]| Arc::clone(if offer_h2 { h2 } else { h1 }))
}

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// No TCP connection.
    Connect,
    /// The peer does not speak TLS, or broke off the handshake (with what
    /// it revealed before, if it sent its certificate).
    Failed(Option<Box<TlsInfo>>),
}

/// Connects and completes a TLS handshake within one service timeout
/// (whatever the server sends meanwhile). A handshake that fails after the
/// server sent its certificate (e.g. it demands a client certificate) still
/// reports what it revealed.
pub(crate) fn handshake(
    session: &mut Session,
    offer_h2: bool,
) -> Result<(TlsStream, TlsInfo), HandshakeError> {
    let mut sock = session.connect().map_err(|_| HandshakeError::Connect)?;
    let config = config(offer_h2).ok_or(HandshakeError::Failed(None))?;
    let name = ServerName::IpAddress(session.addr.ip().into());
    let mut conn = ClientConnection::new(config, name).map_err(|_| HandshakeError::Failed(None))?;
    // Every read and write of the handshake fails once this has passed.
    sock.set_deadline(Instant::now() + session.timeout);
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            let partial = conn
                .peer_certificates()
                .is_some()
                .then(|| Box::new(describe(&conn)));
            return Err(HandshakeError::Failed(partial));
        }
    }
    let info = describe(&conn);
    Ok((StreamOwned::new(conn, sock), info))
}

/// What a connection negotiated.
fn describe(conn: &ClientConnection) -> TlsInfo {
    let mut info = TlsInfo {
        version: conn
            .protocol_version()
            .map(version_name)
            .unwrap_or_default(),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        ..TlsInfo::default()
    };
    if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
        let (subject, issuer, not_after) = certificate_summary(leaf.as_ref());
        info.subject = subject;
        info.issuer = issuer;
        info.not_after = not_after;
    }
    info
}

/// A version as OpenSSL and nmap name it (`TLSv1.3`).
pub(crate) fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        ProtocolVersion::TLSv1_1 => "TLSv1.1".into(),
        ProtocolVersion::TLSv1_0 => "TLSv1.0".into(),
        other => other.as_str().map_or_else(
            || format!("TLS version 0x{:04x}", u16::from(other)),
            str::to_string,
        ),
    }
}

/// Subject, issuer and expiry (RFC 3339) of a DER certificate.
pub(crate) fn certificate_summary(der: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let not_after = jiff::Timestamp::from_second(cert.validity().not_after.timestamp())
                .ok()
                .map(|t| t.to_string());
            (
                Some(cert.subject().to_string()).filter(|s| !s.is_empty()),
                Some(cert.issuer().to_string()).filter(|s| !s.is_empty()),
                not_after,
            )
        }
        Err(_) => (None, None, None),
    }
}

/// Whether bytes a server sent to a plaintext probe are a TLS record
/// (handshake or alert, versions SSL 3.0 to TLS 1.3): it wants TLS.
pub(crate) fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0..=4, ..])
}

/// The service name for `inner` spoken over TLS: `https` for HTTP,
/// `ssl/NAME` for the rest, as nmap writes tunnels.
pub(crate) fn tunnel_name(inner: &str) -> String {
    match inner {
        "http" | "https" => "https".into(),
        n if n.starts_with("ssl/") || n == "ssl" => n.into(),
        n => format!("ssl/{n}"),
    }
}

/// HTTP over TLS: the first request may use the connection that recorded
/// the handshake, the rest each get a new connection offering only
/// `http/1.1` (we do not speak HTTP/2).
struct TlsHttp<'a> {
    session: &'a mut Session,
    first: Option<TlsStream>,
}

impl HttpClient for TlsHttp<'_> {
    fn send(&mut self, request: &[u8]) -> Reply<Response> {
        let stream = match self.first.take() {
            Some(s) => Some(s),
            None => handshake(self.session, false).ok().map(|(s, _)| s),
        };
        let Some(mut stream) = stream else {
            return Reply::Nothing;
        };
        let timeout = self.session.timeout;
        let reply = exchange(&mut stream, request, timeout, http::parse_response);
        stream.conn.send_close_notify();
        let _ = stream.conn.complete_io(&mut stream.sock);
        reply
    }

    fn session(&self) -> &Session {
        self.session
    }
}

/// The TLS probe. `expect_http` skips waiting for a greeting inside TLS
/// (on ports such as 443, where HTTP is all but certain).
pub(crate) fn probe(session: &mut Session, expect_http: bool) -> Verdict {
    let (mut stream, tls) = match handshake(session, true) {
        Ok(v) => v,
        Err(HandshakeError::Connect) => return Verdict::Unreachable,
        Err(HandshakeError::Failed(Some(tls))) => {
            return Verdict::Found(ServiceInfo {
                name: "ssl".into(),
                extra: Some("handshake refused (client certificate required?)".into()),
                tls: Some(*tls),
                method: "probe:tls".into(),
                ..ServiceInfo::default()
            });
        }
        Err(HandshakeError::Failed(None)) => return Verdict::Nothing,
    };
    let timeout = session.timeout;
    let found = |inner: ServiceInfo, tls: TlsInfo| {
        Verdict::Found(ServiceInfo {
            name: tunnel_name(&inner.name),
            tls: Some(tls),
            method: "probe:tls".into(),
            ..inner
        })
    };
    if !expect_http {
        let wait = (timeout / 4).min(Duration::from_millis(500));
        let port = session.addr.port();
        match receive(&mut stream, wait, MAX_REPLY, |b, end| {
            banner::parse(b, end, port)
        }) {
            Reply::Parsed(b) => {
                let info = banner::follow_up(&mut stream, b, port, timeout);
                return found(info, tls);
            }
            Reply::Other(_) => {
                return found(
                    ServiceInfo {
                        name: "ssl".into(),
                        ..ServiceInfo::default()
                    },
                    tls,
                );
            }
            Reply::Nothing => {}
        }
    }
    let h2 = tls.alpn.as_deref() == Some("h2");
    let mut client = TlsHttp {
        session,
        // After `h2` was agreed, HTTP/1.1 on that connection would be wrong.
        first: (!h2).then_some(stream),
    };
    match web::identify(&mut client) {
        Verdict::Found(inner) => found(inner, tls),
        _ if h2 => found(
            ServiceInfo {
                name: "http".into(),
                ..ServiceInfo::default()
            },
            tls,
        ),
        _ => found(
            ServiceInfo {
                name: "ssl".into(),
                ..ServiceInfo::default()
            },
            tls,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_records() {
        assert_eq!(tunnel_name("http"), "https");
        assert_eq!(tunnel_name("imap"), "ssl/imap");
        assert_eq!(tunnel_name("ssl"), "ssl");
        assert!(looks_like_tls(b"\x15\x03\x01\x00\x02\x02\x46"));
        assert!(!looks_like_tls(b"HTTP/1.1 400"));
        assert!(!looks_like_tls(b"\x15\x03"));
        assert_eq!(version_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
        assert!(config(true).is_some() && config(false).is_some());
    }

    #[test]
    fn certificate() {
        // `openssl req -x509 -newkey ec … -subj /CN=portreeve-unit/O=portreeve`
        let (subject, issuer, not_after) = certificate_summary(include_bytes!("testdata/leaf.der"));
        assert_eq!(subject.as_deref(), Some("CN=portreeve-unit, O=portreeve"));
        assert_eq!(issuer, subject);
        assert_eq!(not_after.as_deref(), Some("2036-11-26T06:24:28Z"));
    }

    #[test]
    fn garbage_certificate() {
        assert_eq!(certificate_summary(b"\x30\x03\x02\x01"), (None, None, None));
    }
}

//! A minimal HTTP/1.1 client for one server: keep-alive connections in a
//! pool that grows on demand. A request never waits for a free connection
//! (one is opened instead), so the client adds no queue of its own and the
//! latency measured is the server's (and the loopback's).

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An HTTP client for the server at one `host:port`.
pub struct Client {
    authority: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// A request that got no HTTP answer (connection refused or reset).
#[derive(Debug)]
pub struct TransportError(pub String);

impl Client {
    /// A client for `server`, `http://HOST:PORT` (plain HTTP only: the
    /// benchmark runs on loopback).
    pub fn new(server: &str) -> Result<Client, String> {
        let authority = server
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| format!("--server `{server}` is not http://HOST:PORT"))?;
        Ok(Client {
            authority: authority.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// `POST path` with `headers` and `body`: the status and the answer's
    /// body, read to the end.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", &self.authority)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| TransportError(e.to_string()))?;
        let mut sender = self.connection().await?;
        let answer = sender
            .send_request(request)
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| TransportError(e.to_string()))?
            .to_bytes();
        self.idle.lock().expect("pool lock").push(sender);
        Ok((status, body))
    }

    /// An idle connection that is still open, or a new one.
    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        loop {
            let idle = self.idle.lock().expect("pool lock").pop();
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => break,
            }
        }
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| TransportError(format!("connect {}: {e}", self.authority)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| TransportError(e.to_string()))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is
            // dropped; either way the pool no longer holds it.
            let _closed = connection.await;
        });
        Ok(sender)
    }
}

//! A minimal HTTP/1.1 server on 127.0.0.1 for tests of clients: each
//! connection on a thread of its own, one request per connection, answered
//! by the test's handler and recorded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target, e.g. `/ip/192.0.2.1`.
    pub path: String,
    /// Header names in lower case, with their values.
    pub headers: Vec<(String, String)>,
    /// The body, as long as `Content-Length` said.
    pub body: Vec<u8>,
}

/// The answer to a request: a status line's code and reason, and a body.
pub struct Reply {
    /// E.g. `"200 OK"`.
    pub status: String,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: String,
}

impl Reply {
    /// `200 OK` with a JSON body of `content_type`.
    pub fn ok(content_type: &str, body: impl Into<String>) -> Reply {
        Reply::status("200 OK", content_type, body)
    }

    /// Any status, e.g. `"404 Not Found"`.
    pub fn status(status: &str, content_type: &str, body: impl Into<String>) -> Reply {
        Reply {
            status: status.to_owned(),
            content_type: content_type.to_owned(),
            body: body.into(),
        }
    }
}

/// A running server; it lives as long as the test process.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts a server answering every request with `handler`'s reply;
    /// `handler` gets the base URL too, for answers that link back.
    pub fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test HTTP server");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, base, handler) = (Arc::clone(&requests), base_url.clone(), Arc::new(handler));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, base, handler) = (Arc::clone(&seen), base.clone(), Arc::clone(&handler));
                std::thread::spawn(move || {
                    let Some(request) = read_request(&stream) else {
                        return;
                    };
                    seen.lock().expect("requests").push(request.clone());
                    answer(stream, &handler(&request, &base));
                });
            }
        });
        Server { base_url, requests }
    }

    /// The requests received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? <= 2 {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn answer(mut stream: TcpStream, reply: &Reply) {
    let _ = write!(
        stream,
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    );
}

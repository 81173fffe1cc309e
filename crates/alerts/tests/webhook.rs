//! The webhook sink against an HTTP receiver this test runs on 127.0.0.1:
//! retries on 5xx with growing backoff, no retry on 4xx, timeouts, and the
//! queue bound.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use portreeve_alerts::{Alerts, AlertsConfig, WebhookConfig, examples};
use support::{stats, wait_until};

/// What the receiver does with a request.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    /// Read the request and never answer.
    Silence,
}

/// One request as received.
struct Request {
    at: Instant,
    line: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 server on 127.0.0.1: answers each request with the
/// next scripted reply (200 once the script is used up), one connection at
/// a time, and records what it got.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(script: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&requests);
        thread::spawn(move || {
            let mut script = script.into_iter();
            let mut silenced = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                record.lock().unwrap().push(request);
                match script.next().unwrap_or(Reply::Status(200)) {
                    Reply::Status(code) => {
                        let head = format!(
                            "HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(head.as_bytes());
                    }
                    Reply::Silence => silenced.push(stream),
                }
            }
        });
        Receiver { url, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let at = Instant::now();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        at,
        line: line.trim_end().to_owned(),
        headers,
        body,
    })
}

fn webhook(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.to_owned(),
        name: None,
        bearer_token: None,
        headers: BTreeMap::new(),
        timeout: SignedDuration::from_secs(2),
        retries: 4,
        backoff: SignedDuration::from_millis(100),
        max_backoff: SignedDuration::from_secs(1),
        queue: 16,
    }
}

fn start(webhook: WebhookConfig) -> Alerts {
    Alerts::start(&AlertsConfig {
        webhook: vec![webhook],
        ..AlertsConfig::default()
    })
    .unwrap()
}

#[test]
fn server_errors_are_retried_with_growing_backoff_until_accepted() {
    let receiver = Receiver::start(vec![Reply::Status(503), Reply::Status(503)]);
    let mut config = webhook(&receiver.url);
    config.bearer_token = Some("t0ken".to_owned());
    config
        .headers
        .insert("X-Portreeve-Test".to_owned(), "yes".to_owned());
    let alerts = start(config);
    alerts.send(examples::detection());
    wait_until(Duration::from_secs(10), "delivery", || {
        stats(&alerts, 0).delivered == 1
    });

    let requests = receiver.requests.lock().unwrap();
    assert_eq!(requests.len(), 3, "two 503s and the accepted third");
    let first_wait = requests[1].at - requests[0].at;
    let second_wait = requests[2].at - requests[1].at;
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(200), "{second_wait:?}");
    assert!(
        second_wait > first_wait,
        "{first_wait:?} then {second_wait:?}"
    );
    for request in requests.iter() {
        assert_eq!(request.line, "POST /hook HTTP/1.1");
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["authorization"], "Bearer t0ken");
        assert_eq!(request.headers["x-portreeve-test"], "yes");
    }
    let body: serde_json::Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(body["source"], "portreeve");
    assert_eq!(body["severity"], "high");
    assert_eq!(body["alert"]["type"], "detection");
    assert_eq!(body["alert"]["source"], "192.0.2.7");
    assert_eq!(body["alert"]["kind"], "vertical");
    assert_eq!(body["alert"]["action"], "block");
    assert_eq!(
        body["alert"]["ports"],
        serde_json::json!([22, 23, 80, 443, 8080])
    );
    assert_eq!(body["alert"]["first_seen"], "2026-05-28T20:26:40Z");
    assert_eq!(
        stats(&alerts, 0),
        portreeve_alerts::SinkStats {
            delivered: 1,
            failed: 0,
            dropped: 0,
            queued: 0
        }
    );
}

#[test]
fn client_errors_are_not_retried() {
    let receiver = Receiver::start(vec![Reply::Status(400)]);
    let alerts = start(webhook(&receiver.url));
    alerts.send(examples::detection());
    wait_until(Duration::from_secs(5), "the failure", || {
        stats(&alerts, 0).failed == 1
    });
    // Longer than the first backoff: a retry would have arrived by now.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count(), 1);
    assert_eq!(stats(&alerts, 0).delivered, 0);
}

#[test]
fn silent_receiver_times_out_and_a_full_queue_drops_the_oldest() {
    let receiver = Receiver::start(vec![Reply::Silence; 3]);
    let mut config = webhook(&receiver.url);
    config.timeout = SignedDuration::from_millis(300);
    config.retries = 0;
    config.queue = 1;
    let alerts = start(config);
    let started = Instant::now();
    alerts.send(examples::detection());
    wait_until(Duration::from_secs(5), "the first request", || {
        receiver.count() == 1
    });
    // The worker waits on the first; the queue holds one, so the second is
    // pushed out by the third.
    alerts.send(examples::detection());
    alerts.send(portreeve_alerts::Alert::Block(examples::block()));
    assert_eq!(stats(&alerts, 0).dropped, 1);
    wait_until(Duration::from_secs(5), "two timeouts", || {
        stats(&alerts, 0).failed == 2
    });
    assert!(started.elapsed() >= Duration::from_millis(600));
    let requests = receiver.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let last: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(last["alert"]["type"], "block", "the newest alert was kept");
    assert_eq!(stats(&alerts, 0).delivered, 0);
}

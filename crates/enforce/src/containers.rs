//! The containers behind published ports, from the container runtime that
//! published them: Docker's API on `/var/run/docker.sock`, or Podman's
//! Docker-compatible API on `/run/podman/podman.sock`.
//!
//! Both answer `GET /containers/json` with each running container's name,
//! image, labels and published ports (`PublicPort`, `Type`). The question is
//! asked over the unix socket with plain HTTP/1.0 (the runtimes then answer
//! without chunked encoding and close the connection), with a short
//! timeout; a runtime that is absent or does not answer names nothing, and
//! the published port keeps only its DNAT target.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::published::PublishedPort;

/// The runtimes asked, with their API sockets.
const RUNTIMES: [(&str, &str); 2] = [
    ("docker", "/var/run/docker.sock"),
    ("podman", "/run/podman/podman.sock"),
];

/// How long one runtime may take to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The labels naming a container's compose project.
const PROJECT_LABELS: [&str; 2] = ["com.docker.compose.project", "io.podman.compose.project"];

/// A container a runtime reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `docker` or `podman`.
    pub runtime: String,
    /// The container's name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its compose project, when a label names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The ports it publishes: (protocol, public port).
    #[serde(skip)]
    pub publishes: Vec<(String, u16)>,
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} container {}, image {}",
            self.runtime, self.name, self.image
        )?;
        if let Some(p) = &self.project {
            write!(f, ", compose project {p}")?;
        }
        Ok(())
    }
}

/// Names, on each of `ports`, the container that publishes it, where a
/// runtime answers.
pub fn attach(ports: &mut [PublishedPort]) {
    if ports.is_empty() {
        return;
    }
    let containers: Vec<Container> = RUNTIMES
        .iter()
        .filter_map(|(runtime, socket)| {
            let body = get(socket, "/containers/json")
                .inspect_err(|e| tracing::debug!("{runtime} at {socket}: {e}"))
                .ok()?;
            serde_json::from_str::<Value>(&body)
                .ok()
                .map(|v| from_listing(runtime, &v))
        })
        .flatten()
        .collect();
    for p in ports.iter_mut() {
        p.container = containers
            .iter()
            .find(|c| {
                c.publishes.iter().any(|(proto, port)| {
                    *proto == p.protocol.to_string() && p.ports.contains(*port)
                })
            })
            .cloned();
    }
}

/// The containers of a `GET /containers/json` answer.
pub fn from_listing(runtime: &str, listing: &Value) -> Vec<Container> {
    listing
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Container {
            runtime: runtime.to_string(),
            name: c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: c["Image"].as_str().unwrap_or_default().to_string(),
            project: PROJECT_LABELS
                .iter()
                .find_map(|l| c["Labels"][l].as_str())
                .map(str::to_string),
            publishes: c["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let port = u16::try_from(p["PublicPort"].as_u64()?).ok()?;
                    Some((p["Type"].as_str()?.to_string(), port))
                })
                .collect(),
        })
        .collect()
}

/// The body of an HTTP/1.0 `GET path` over the unix socket `socket`.
fn get(socket: &str, path: &str) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.take(16 << 20).read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1) != Some("200") {
        return Err(std::io::Error::other(format!(
            "answered {}",
            head.lines().next().unwrap_or_default()
        )));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_runtime_listing_names_containers_and_their_published_ports() {
        // The fields of Docker's `GET /containers/json` that are read.
        let listing = json!([
            {"Names": ["/shop-web-1"], "Image": "nginx:1.25",
             "Labels": {"com.docker.compose.project": "shop"},
             "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                       {"PrivatePort": 443, "Type": "tcp"}]},
            {"Names": ["/lonely"], "Image": "redis", "Labels": {}, "Ports": []}
        ]);
        let got = from_listing("docker", &listing);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].to_string(),
            "docker container shop-web-1, image nginx:1.25, compose project shop"
        );
        assert_eq!(got[0].publishes, [("tcp".to_string(), 8080)]);
        assert_eq!(got[1].to_string(), "docker container lonely, image redis");
        assert!(got[1].publishes.is_empty());
    }
}

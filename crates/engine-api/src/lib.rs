//! The container runtimes' Engine API, as portreeve asks it: Docker's on
//! `/var/run/docker.sock` (or the `unix://` socket `DOCKER_HOST` names, as
//! the docker client reads it) and Podman's Docker-compatible one on
//! `/run/podman/podman.sock`. Two requests are used, by the inventory (who
//! owns a socket) and by enforcement (who publishes a port):
//! `GET /containers/{id}/json` (inspect, read by [`from_inspect`]) and
//! `GET /containers/json` (the running containers, read by
//! [`from_listing`]). containerd and CRI-O speak gRPC, not this API, and
//! are not asked.
//!
//! The client is hand-written: a blocking HTTP/1.0 GET over a
//! [`UnixStream`] with a short timeout. That is all portreeve ever sends,
//! and hyper with hyperlocal (and the async runtime they need) would be a
//! large dependency tree for one request in a tool that is otherwise
//! synchronous. HTTP/1.0 makes both runtimes answer without chunked
//! encoding and close the connection, so the body is simply what follows
//! the header. Every failure — no socket, permission denied, a timeout, an
//! unknown container, a body that does not parse — is an answer of
//! nothing (logged at debug level): a runtime that does not answer names
//! no container and never fails the caller.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portreeve_core::ContainerInfo;
use serde_json::Value;

/// The most of an answer that is read (a listing of thousands of
/// containers fits).
const MAX_ANSWER: u64 = 16 << 20;

/// Labels naming a container's compose project, Docker's then podman-compose's.
const PROJECT_LABELS: [&str; 2] = ["com.docker.compose.project", "io.podman.compose.project"];

/// Docker's socket where `DOCKER_HOST` names none.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Podman's (rootful) API socket.
const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

/// One runtime's API socket.
#[derive(Debug)]
pub struct Endpoint {
    /// `docker` or `podman`.
    pub runtime: &'static str,
    /// Its API socket.
    pub socket: PathBuf,
    /// How long it may take to accept, and to answer, a request.
    timeout: Duration,
    /// Connecting or reading failed once: not asked again.
    unreachable: bool,
}

/// This host's runtimes, Docker's then Podman's, each given `timeout` per
/// request. Docker's socket is the one `DOCKER_HOST` names when that is a
/// `unix://` address (other schemes, TCP and SSH, are not spoken here).
pub fn endpoints(timeout: Duration) -> Vec<Endpoint> {
    let docker = match std::env::var("DOCKER_HOST") {
        Ok(host) => match host.strip_prefix("unix://") {
            Some(path) => PathBuf::from(path),
            None => {
                tracing::debug!("DOCKER_HOST={host} is not a unix socket; not asked");
                PathBuf::from(DOCKER_SOCKET)
            }
        },
        Err(_) => PathBuf::from(DOCKER_SOCKET),
    };
    let endpoint = |runtime, socket| Endpoint {
        runtime,
        socket,
        timeout,
        unreachable: false,
    };
    vec![
        endpoint("docker", docker),
        endpoint("podman", PathBuf::from(PODMAN_SOCKET)),
    ]
}

impl Endpoint {
    /// The parsed JSON answer to `GET path`, or `None` (and a debug line)
    /// if there is none. A runtime that cannot be reached is marked so and
    /// not asked again; one that answers, even 404, is asked the next time.
    pub fn ask(&mut self, path: &str) -> Option<Value> {
        if self.unreachable {
            return None;
        }
        match get(&self.socket, path, self.timeout) {
            Ok(Answer::Ok(body)) => serde_json::from_str(&body)
                .inspect_err(|e| tracing::debug!("{}: {path}: {e}", self.runtime))
                .ok(),
            Ok(Answer::Refused(status)) => {
                tracing::debug!("{} answered {path} with {status}", self.runtime);
                None
            }
            Err(e) => {
                tracing::debug!("{} at {}: {e}", self.runtime, self.socket.display());
                self.unreachable = true;
                None
            }
        }
    }

    /// Whether connecting or reading failed once, so it is no longer asked.
    pub fn is_unreachable(&self) -> bool {
        self.unreachable
    }
}

/// A runtime's answer: the body of a 200, or the status line of anything
/// else.
enum Answer {
    Ok(String),
    Refused(String),
}

/// `GET path` over HTTP/1.0 on the unix socket `socket`.
fn get(socket: &Path, path: &str, timeout: Duration) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.") {
        return Err(std::io::Error::other(format!("not HTTP: {status:?}")));
    }
    Ok(if status.split_whitespace().nth(1) == Some("200") {
        Answer::Ok(body.to_string())
    } else {
        Answer::Refused(status.to_string())
    })
}

/// A container from an inspect answer (`GET /containers/{id}/json`):
/// `Name`, `Config.Image`, `Config.Labels`.
pub fn from_inspect(runtime: &str, c: &Value) -> Option<ContainerInfo> {
    let name = c["Name"].as_str()?.trim_start_matches('/');
    Some(described(
        runtime,
        name,
        &c["Config"]["Image"],
        &c["Config"]["Labels"],
    ))
}

/// A running container, as a listing (`GET /containers/json`) gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its runtime id (`Id`).
    pub id: String,
    /// What it is: `Names`, `Image`, `Labels`.
    pub info: ContainerInfo,
    /// Its addresses on its networks (`NetworkSettings.Networks.*`:
    /// `IPAddress`, `GlobalIPv6Address`).
    pub addresses: Vec<IpAddr>,
    /// The ports it publishes on the host (`Ports`: `Type`, `PublicPort`),
    /// as (protocol, port).
    pub publishes: Vec<(String, u16)>,
}

/// The containers of a listing; entries without `Id` or `Names` are
/// skipped.
pub fn from_listing(runtime: &str, listing: &Value) -> Vec<Listed> {
    let containers = listing.as_array().map(Vec::as_slice).unwrap_or_default();
    containers
        .iter()
        .filter_map(|c| {
            let id = c["Id"].as_str()?.to_string();
            let name = c["Names"][0].as_str()?.trim_start_matches('/');
            let addresses = c["NetworkSettings"]["Networks"]
                .as_object()
                .into_iter()
                .flat_map(|networks| networks.values())
                .flat_map(|n| [&n["IPAddress"], &n["GlobalIPv6Address"]])
                .filter_map(|a| a.as_str()?.parse().ok())
                .collect();
            let publishes = c["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let port = u16::try_from(p["PublicPort"].as_u64()?).ok()?;
                    Some((p["Type"].as_str()?.to_string(), port))
                })
                .collect();
            Some(Listed {
                id,
                info: described(runtime, name, &c["Image"], &c["Labels"]),
                addresses,
                publishes,
            })
        })
        .collect()
}

fn described(runtime: &str, name: &str, image: &Value, labels: &Value) -> ContainerInfo {
    let label = |key: &str| labels[key].as_str().map(str::to_string);
    ContainerInfo {
        runtime: runtime.to_string(),
        name: name.to_string(),
        image: image.as_str().unwrap_or_default().to_string(),
        project: PROJECT_LABELS.iter().find_map(|k| label(k)),
        pod: label("io.kubernetes.pod.name"),
        pod_namespace: label("io.kubernetes.pod.namespace"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inspect_answer_names_the_container() {
        // The fields of Docker's `GET /containers/{id}/json` that are read.
        let answer = json!({
            "Id": "4f2c", "Name": "/shop-web-1", "Image": "sha256:9a2b",
            "Config": {"Image": "nginx:1.25",
                       "Labels": {"com.docker.compose.project": "shop",
                                  "com.docker.compose.service": "web"}}
        });
        let c = from_inspect("docker", &answer).unwrap();
        assert_eq!(c.to_string(), "shop-web-1 (nginx:1.25, compose shop)");
        assert_eq!(c.runtime, "docker");
        assert_eq!(
            from_inspect("docker", &json!({"message": "No such container"})),
            None
        );
    }

    #[test]
    fn kubernetes_labels_name_the_pod() {
        let answer = json!({
            "Name": "/k8s_web_web-7f_default_1", "Config": {"Image": "nginx",
            "Labels": {"io.kubernetes.pod.name": "web-7f",
                       "io.kubernetes.pod.namespace": "default"}}
        });
        let c = from_inspect("docker", &answer).unwrap();
        assert_eq!(
            c.to_string(),
            "k8s_web_web-7f_default_1 (nginx, pod default/web-7f)"
        );
    }

    #[test]
    fn a_listing_gives_each_container_its_addresses() {
        let listing = json!([
            {"Id": "aa", "Names": ["/shop-web-1"], "Image": "nginx:1.25",
             "Labels": {"io.podman.compose.project": "shop"},
             "NetworkSettings": {"Networks": {
                 "bridge": {"IPAddress": "172.17.0.2", "GlobalIPv6Address": ""},
                 "shop_default": {"IPAddress": "172.18.0.5",
                                  "GlobalIPv6Address": "fd00::5"}}}},
            {"Id": "bb", "Names": ["/host-net"], "Image": "redis", "Labels": {},
             "NetworkSettings": {"Networks": {"host": {"IPAddress": ""}}}}
        ]);
        let got = from_listing("podman", &listing);
        assert_eq!(got.len(), 2);
        let addresses: Vec<IpAddr> = ["172.17.0.2", "172.18.0.5", "fd00::5"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(got[0].addresses, addresses);
        assert_eq!(got[0].id, "aa");
        assert_eq!(got[0].info.project.as_deref(), Some("shop"));
        assert!(got[1].addresses.is_empty());
    }

    #[test]
    fn a_listing_gives_each_container_its_published_ports() {
        // The fields of Docker's `GET /containers/json` that are read.
        let listing = json!([
            {"Id": "aa", "Names": ["/shop-web-1"], "Image": "nginx:1.25",
             "Labels": {"com.docker.compose.project": "shop"},
             "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                       {"PrivatePort": 443, "Type": "tcp"}]},
            {"Id": "bb", "Names": ["/lonely"], "Image": "redis", "Labels": {}, "Ports": []},
            {"Names": ["/no-id"], "Image": "redis"}
        ]);
        let got = from_listing("docker", &listing);
        assert_eq!(got.len(), 2, "the entry without an id is skipped");
        assert_eq!(got[0].info.name, "shop-web-1");
        assert_eq!(got[0].publishes, [("tcp".to_string(), 8080)]);
        assert!(got[1].publishes.is_empty());
    }

    #[test]
    fn an_absent_runtime_answers_nothing_and_is_not_asked_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = endpoints(Duration::from_secs(1)).remove(0);
        e.socket = dir.path().join("absent.sock");
        assert_eq!(e.ask("/containers/json"), None);
        assert!(e.is_unreachable());
    }
}

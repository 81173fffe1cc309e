//! Container names from the runtimes' APIs: Docker's Engine API on
//! `/var/run/docker.sock` (or the `unix://` socket `DOCKER_HOST` names, as
//! the docker client reads it), and Podman's Docker-compatible API on
//! `/run/podman/podman.sock`.
//!
//! Two requests are used: `GET /containers/{id}/json` (inspect) for a
//! process whose cgroup names a container, and `GET /containers/json` (the
//! running containers, with their addresses) for a port proxy whose
//! command line names only the container's address. containerd and CRI-O
//! speak gRPC, not this API, and are not asked.
//!
//! The client is a plain blocking HTTP/1.0 request over a
//! [`UnixStream`] with a short timeout: one GET per container does not
//! justify an async HTTP stack (hyper and a runtime) in a tool that is
//! otherwise synchronous, and HTTP/1.0 makes both runtimes answer without
//! chunked encoding and close the connection, so the body is simply what
//! follows the header. Every failure — no socket, permission denied, a
//! timeout, an unknown container, a body that does not parse — leaves the
//! container unnamed (its id from the cgroup stays) and never fails the
//! inventory. A runtime that cannot be reached once is not asked again in
//! the same run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use portreeve_core::ContainerInfo;
use serde_json::Value;

/// How long one runtime may take to accept, and to answer, a request.
const TIMEOUT: Duration = Duration::from_secs(1);

/// The most of an answer that is read (a listing of thousands of
/// containers fits).
const MAX_ANSWER: u64 = 16 << 20;

/// Labels naming a container's compose project, Docker's then podman-compose's.
const PROJECT_LABELS: [&str; 2] = ["com.docker.compose.project", "io.podman.compose.project"];

/// One runtime's API socket.
struct Endpoint {
    runtime: &'static str,
    socket: PathBuf,
    /// Connecting or reading failed once in this run: not asked again.
    unreachable: bool,
    /// Its running containers, once listed: addresses, id, description.
    listing: Option<Vec<(Vec<IpAddr>, String, ContainerInfo)>>,
}

/// The runtimes of this host, asked lazily and remembered for one
/// inventory.
pub(crate) struct Runtimes {
    endpoints: Vec<Endpoint>,
    inspected: HashMap<String, Option<ContainerInfo>>,
}

impl Runtimes {
    /// The usual sockets, Docker's replaced by `DOCKER_HOST` when that is a
    /// `unix://` address (other schemes, TCP and SSH, are not spoken here).
    pub(crate) fn from_env() -> Runtimes {
        let docker = match std::env::var("DOCKER_HOST") {
            Ok(host) => match host.strip_prefix("unix://") {
                Some(path) => PathBuf::from(path),
                None => {
                    tracing::debug!("DOCKER_HOST={host} is not a unix socket; not asked");
                    PathBuf::from("/var/run/docker.sock")
                }
            },
            Err(_) => PathBuf::from("/var/run/docker.sock"),
        };
        let endpoint = |runtime, socket| Endpoint {
            runtime,
            socket,
            unreachable: false,
            listing: None,
        };
        Runtimes {
            endpoints: vec![
                endpoint("docker", docker),
                endpoint("podman", PathBuf::from("/run/podman/podman.sock")),
            ],
            inspected: HashMap::new(),
        }
    }

    /// The container with runtime id `id`, from the first runtime that knows
    /// it. Only 64-hex-digit ids are asked about (an LXC name is not a
    /// Docker container, and nothing else reaches the request path).
    pub(crate) fn container(&mut self, id: &str) -> Option<ContainerInfo> {
        if !(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
            return None;
        }
        if let Some(known) = self.inspected.get(id) {
            return known.clone();
        }
        let path = format!("/containers/{id}/json");
        let found = self.endpoints.iter_mut().find_map(|e| {
            let answer = e.ask(&path)?;
            from_inspect(e.runtime, &answer)
        });
        self.inspected.insert(id.to_string(), found.clone());
        found
    }

    /// The running container that has address `address` on one of its
    /// networks, with its id.
    pub(crate) fn container_at(&mut self, address: IpAddr) -> Option<(String, ContainerInfo)> {
        self.endpoints.iter_mut().find_map(|e| {
            if e.listing.is_none() {
                let listing = e.ask("/containers/json")?;
                e.listing = Some(from_listing(e.runtime, &listing));
            }
            e.listing
                .as_ref()?
                .iter()
                .find(|(addresses, _, _)| addresses.contains(&address))
                .map(|(_, id, info)| (id.clone(), info.clone()))
        })
    }
}

impl Endpoint {
    /// The parsed JSON answer to `GET path`, or `None` (and a debug line)
    /// if there is none. A runtime that cannot be reached is marked so; one
    /// that answers, even 404, is asked again for the next container.
    fn ask(&mut self, path: &str) -> Option<Value> {
        if self.unreachable {
            return None;
        }
        match get(&self.socket, path) {
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
}

/// A runtime's answer: the body of a 200, or the status line of anything
/// else.
enum Answer {
    Ok(String),
    Refused(String),
}

/// `GET path` over HTTP/1.0 on the unix socket `socket`.
fn get(socket: &std::path::Path, path: &str) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
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
fn from_inspect(runtime: &str, c: &Value) -> Option<ContainerInfo> {
    let name = c["Name"].as_str()?.trim_start_matches('/');
    Some(described(
        runtime,
        name,
        &c["Config"]["Image"],
        &c["Config"]["Labels"],
    ))
}

/// The containers of a listing (`GET /containers/json`): `Id`, `Names`,
/// `Image`, `Labels`, and the addresses of
/// `NetworkSettings.Networks.*` (`IPAddress`, `GlobalIPv6Address`).
fn from_listing(runtime: &str, listing: &Value) -> Vec<(Vec<IpAddr>, String, ContainerInfo)> {
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
            let info = described(runtime, name, &c["Image"], &c["Labels"]);
            Some((addresses, id, info))
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
        assert_eq!(got[0].0, addresses);
        assert_eq!(got[0].1, "aa");
        assert_eq!(got[0].2.project.as_deref(), Some("shop"));
        assert!(got[1].0.is_empty());
    }

    #[test]
    fn an_absent_runtime_names_nothing_and_is_not_asked_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut runtimes = Runtimes::from_env();
        for e in &mut runtimes.endpoints {
            e.socket = dir.path().join("absent.sock");
        }
        assert_eq!(runtimes.container(&"a".repeat(64)), None);
        assert!(runtimes.endpoints.iter().all(|e| e.unreachable));
        assert_eq!(runtimes.container_at("172.17.0.2".parse().unwrap()), None);
        // Not a runtime id: never put in a request path, so not remembered.
        assert_eq!(runtimes.container("../../version"), None);
        assert!(!runtimes.inspected.contains_key("../../version"));
    }
}

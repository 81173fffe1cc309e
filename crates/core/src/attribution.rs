//! Who really owns a socket when the process holding it is only a
//! go-between: the container a runtime names, the container a port proxy
//! forwards to, or systemd holding a socket for a socket-activated service.
//!
//! The inventory fills these in from the container runtimes' APIs and from
//! the proxies' command lines; every field is optional and left out of JSON
//! when empty, so documents written before these existed still read.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What portreeve learned about a socket-holding process beyond its own
/// `/proc/PID` entries. Flattened into the process's JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The process's container as its runtime describes it, when the
    /// runtime's API answered for the cgroup's container id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// The process is a port proxy (`docker-proxy`, `rootlessport`,
    /// `rootlesskit`) that accepts connections for a container: where it
    /// forwards them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_for: Option<ProxyTarget>,
    /// The process is systemd (PID 1 or a `systemd --user` manager), which
    /// holds listening sockets for socket units and hands them to the
    /// services it starts: not the socket's real owner when another process
    /// holds the socket too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub socket_activator: bool,
}

/// A container, as a runtime's API (Docker's Engine API, or Podman's
/// Docker-compatible one) describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// The runtime that answered: `docker` or `podman`.
    pub runtime: String,
    /// The container's name, without Docker's leading `/`.
    pub name: String,
    /// The image it was created from, as given (`nginx:1.25`).
    pub image: String,
    /// Its compose project (label `com.docker.compose.project` or
    /// `io.podman.compose.project`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Its Kubernetes pod (label `io.kubernetes.pod.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Its pod's Kubernetes namespace (label `io.kubernetes.pod.namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_namespace: Option<String>,
}

impl fmt::Display for ContainerInfo {
    /// `web-1 (nginx:1.25, compose shop)`, `web (nginx, pod default/web-7f)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.name, self.image)?;
        if let Some(project) = &self.project {
            write!(f, ", compose {project}")?;
        }
        match (&self.pod_namespace, &self.pod) {
            (Some(ns), Some(pod)) => write!(f, ", pod {ns}/{pod}")?,
            (None, Some(pod)) => write!(f, ", pod {pod}")?,
            _ => {}
        }
        f.write_str(")")
    }
}

/// Where a port proxy sends the connections it accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTarget {
    /// The proxy: `docker-proxy`, `rootlessport` or `rootlesskit`.
    pub proxy: String,
    /// The container's address, when the proxy's command line says it
    /// (docker-proxy's `-container-ip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// The container's port (docker-proxy's `-container-port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The runtime's id of the container at `address`, when a runtime named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// That container, as the runtime describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
}

impl fmt::Display for ProxyTarget {
    /// `container web-1 (nginx:1.25), published by docker-proxy`, else
    /// `published by docker-proxy for 172.17.0.2:80`, else
    /// `published by rootlessport`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.container {
            return write!(f, "container {c}, published by {}", self.proxy);
        }
        write!(f, "published by {}", self.proxy)?;
        match (self.address, self.port) {
            (Some(IpAddr::V6(a)), Some(p)) => write!(f, " for [{a}]:{p}"),
            (Some(a), Some(p)) => write!(f, " for {a}:{p}"),
            (Some(a), None) => write!(f, " for {a}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ContainerInfo {
        ContainerInfo {
            runtime: "docker".into(),
            name: "web-1".into(),
            image: "nginx:1.25".into(),
            project: Some("shop".into()),
            ..ContainerInfo::default()
        }
    }

    #[test]
    fn containers_read_as_name_image_and_grouping() {
        assert_eq!(web().to_string(), "web-1 (nginx:1.25, compose shop)");
        let pod = ContainerInfo {
            project: None,
            pod: Some("web-7f".into()),
            pod_namespace: Some("default".into()),
            ..web()
        };
        assert_eq!(pod.to_string(), "web-1 (nginx:1.25, pod default/web-7f)");
    }

    #[test]
    fn proxies_name_their_container_else_their_target() {
        let mut t = ProxyTarget {
            proxy: "docker-proxy".into(),
            address: Some("172.17.0.2".parse().unwrap()),
            port: Some(80),
            ..ProxyTarget::default()
        };
        assert_eq!(t.to_string(), "published by docker-proxy for 172.17.0.2:80");
        t.address = Some("fd00::2".parse().unwrap());
        assert_eq!(t.to_string(), "published by docker-proxy for [fd00::2]:80");
        t.container = Some(web());
        assert_eq!(
            t.to_string(),
            "container web-1 (nginx:1.25, compose shop), published by docker-proxy"
        );
        let rootless = ProxyTarget {
            proxy: "rootlessport".into(),
            ..ProxyTarget::default()
        };
        assert_eq!(rootless.to_string(), "published by rootlessport");
    }

    #[test]
    fn old_documents_without_attribution_still_read() {
        let old = r#"{"pid": 7, "name": "nginx", "exe": null, "cmdline": [],
                      "systemd_unit": null, "container_id": null}"#;
        let p: crate::ProcessInfo = serde_json::from_str(old).unwrap();
        assert_eq!(p.attribution, Attribution::default());
        let written = serde_json::to_value(&p).unwrap();
        assert_eq!(
            written,
            serde_json::from_str::<serde_json::Value>(old).unwrap()
        );
    }

    #[test]
    fn attribution_is_written_into_the_process_and_read_back() {
        let p = crate::ProcessInfo {
            pid: 7,
            name: "docker-proxy".into(),
            exe: None,
            cmdline: vec![],
            systemd_unit: None,
            container_id: None,
            attribution: Attribution {
                proxy_for: Some(ProxyTarget {
                    proxy: "docker-proxy".into(),
                    address: Some("172.17.0.2".parse().unwrap()),
                    port: Some(80),
                    container_id: Some("c0ffee".into()),
                    container: Some(web()),
                }),
                ..Attribution::default()
            },
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["proxy_for"]["container"]["project"], "shop");
        assert_eq!(v.get("socket_activator"), None);
        assert_eq!(serde_json::from_value::<crate::ProcessInfo>(v).unwrap(), p);
    }
}

//! The containers behind published ports, from the container runtime that
//! published them ([`portreeve_engine_api`]: Docker's API, or Podman's
//! Docker-compatible one).
//!
//! Both answer `GET /containers/json` with each running container's name,
//! image, labels and published ports (`PublicPort`, `Type`). A runtime that
//! is absent or does not answer within a short timeout names nothing, and
//! the published port keeps only its DNAT target.

use std::time::Duration;

use portreeve_engine_api::{Listed, endpoints, from_listing};
use serde::Serialize;

use crate::published::PublishedPort;

/// How long one runtime may take to answer.
const TIMEOUT: Duration = Duration::from_secs(2);

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
    let containers: Vec<Container> = endpoints(TIMEOUT)
        .iter_mut()
        .filter_map(|e| {
            let listing = e.ask("/containers/json")?;
            Some(from_listing(e.runtime, &listing))
        })
        .flatten()
        .map(Container::from)
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

impl From<Listed> for Container {
    fn from(listed: Listed) -> Container {
        Container {
            runtime: listed.info.runtime,
            name: listed.info.name,
            image: listed.info.image,
            project: listed.info.project,
            publishes: listed.publishes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_says_its_runtime_name_image_and_project() {
        let listed = |project: Option<&str>| Listed {
            id: "aa".into(),
            info: portreeve_core::ContainerInfo {
                runtime: "docker".into(),
                name: "shop-web-1".into(),
                image: "nginx:1.25".into(),
                project: project.map(str::to_string),
                ..Default::default()
            },
            addresses: Vec::new(),
            publishes: vec![("tcp".into(), 8080)],
        };
        let c = Container::from(listed(Some("shop")));
        assert_eq!(
            c.to_string(),
            "docker container shop-web-1, image nginx:1.25, compose project shop"
        );
        assert_eq!(c.publishes, [("tcp".to_string(), 8080)]);
        assert_eq!(
            Container::from(listed(None)).to_string(),
            "docker container shop-web-1, image nginx:1.25"
        );
    }
}

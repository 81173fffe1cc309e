//! Container names from the runtimes' APIs ([`portreeve_engine_api`]):
//! inspect for a process whose cgroup names a container, and the listing
//! of running containers, with their addresses, for a port proxy whose
//! command line names only the container's address.
//!
//! Every failure leaves the container unnamed (its id from the cgroup
//! stays) and never fails the inventory. A runtime that cannot be reached
//! once is not asked again in the same run, and each answer is remembered
//! for the rest of it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use portreeve_core::ContainerInfo;
use portreeve_engine_api::{Endpoint, Listed, endpoints, from_inspect, from_listing};

/// How long one runtime may take to accept, and to answer, a request.
const TIMEOUT: Duration = Duration::from_secs(1);

/// One runtime, with its running containers once listed.
struct Asked {
    endpoint: Endpoint,
    listing: Option<Vec<Listed>>,
}

/// The runtimes of this host, asked lazily and remembered for one
/// inventory.
pub(crate) struct Runtimes {
    runtimes: Vec<Asked>,
    inspected: HashMap<String, Option<ContainerInfo>>,
}

impl Runtimes {
    /// Docker's and Podman's sockets (Docker's as `DOCKER_HOST` names it).
    pub(crate) fn from_env() -> Runtimes {
        Runtimes {
            runtimes: endpoints(TIMEOUT)
                .into_iter()
                .map(|endpoint| Asked {
                    endpoint,
                    listing: None,
                })
                .collect(),
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
        let found = self.runtimes.iter_mut().find_map(|r| {
            let answer = r.endpoint.ask(&path)?;
            from_inspect(r.endpoint.runtime, &answer)
        });
        self.inspected.insert(id.to_string(), found.clone());
        found
    }

    /// The running container that has address `address` on one of its
    /// networks, with its id.
    pub(crate) fn container_at(&mut self, address: IpAddr) -> Option<(String, ContainerInfo)> {
        self.runtimes.iter_mut().find_map(|r| {
            if r.listing.is_none() {
                let listing = r.endpoint.ask("/containers/json")?;
                r.listing = Some(from_listing(r.endpoint.runtime, &listing));
            }
            r.listing
                .as_ref()?
                .iter()
                .find(|c| c.addresses.contains(&address))
                .map(|c| (c.id.clone(), c.info.clone()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_runtime_names_nothing_and_is_not_asked_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut runtimes = Runtimes::from_env();
        for r in &mut runtimes.runtimes {
            r.endpoint.socket = dir.path().join("absent.sock");
        }
        assert_eq!(runtimes.container(&"a".repeat(64)), None);
        assert!(
            runtimes
                .runtimes
                .iter()
                .all(|r| r.endpoint.is_unreachable())
        );
        assert_eq!(runtimes.container_at("172.17.0.2".parse().unwrap()), None);
        // Not a runtime id: never put in a request path, so not remembered.
        assert_eq!(runtimes.container("../../version"), None);
        assert!(!runtimes.inspected.contains_key("../../version"));
    }
}

//! Finding a socket's real owner when the process holding it is a
//! go-between: naming a container through its runtime, following a port
//! proxy to the container it serves, and putting systemd behind the service
//! it activated.

use std::sync::Arc;

use portreeve_core::ProcessInfo;

use crate::engine_api::Runtimes;
use crate::proxies::proxy_target;

/// Adds to `p` what the runtimes and its command line say about whom it
/// holds sockets for.
pub(crate) fn attribute(mut p: ProcessInfo, runtimes: &mut Runtimes) -> ProcessInfo {
    if let Some(id) = &p.container_id {
        p.attribution.container = runtimes.container(id);
    }
    if let Some(mut target) = proxy_target(&p.name, &p.cmdline) {
        if let Some((id, container)) = target.address.and_then(|a| runtimes.container_at(a)) {
            target.container_id = Some(id);
            target.container = Some(container);
        }
        p.attribution.proxy_for = Some(target);
    }
    p.attribution.socket_activator = is_socket_activator(&p);
    p
}

/// systemd, as PID 1 or as a user's `systemd --user` manager, is the only
/// process that holds listening sockets for others: those of its socket
/// units, which it passes to the services it starts (`sd_listen_fds`). Both
/// run with the name `systemd`.
fn is_socket_activator(p: &ProcessInfo) -> bool {
    p.name == "systemd"
}

/// Puts a socket's holders in the order tables and policy read them: the
/// real owners, by pid, then the socket activators, so the first process of
/// a socket-activated listener is the service and not systemd.
pub(crate) fn real_owners_first(holders: &mut [Arc<ProcessInfo>]) {
    holders.sort_by_key(|p| (p.attribution.socket_activator, p.pid));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, name: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            name: name.into(),
            exe: None,
            cmdline: vec![name.into()],
            systemd_unit: None,
            container_id: None,
            attribution: Default::default(),
        }
    }

    #[test]
    fn systemd_goes_behind_the_service_it_activated() {
        let mut runtimes = Runtimes::from_env();
        let mut holders: Vec<Arc<ProcessInfo>> = [(1, "systemd"), (812, "cupsd"), (640, "cupsd")]
            .into_iter()
            .map(|(pid, name)| Arc::new(attribute(process(pid, name), &mut runtimes)))
            .collect();
        real_owners_first(&mut holders);
        let order: Vec<(u32, bool)> = holders
            .iter()
            .map(|p| (p.pid, p.attribution.socket_activator))
            .collect();
        assert_eq!(order, [(640, false), (812, false), (1, true)]);
    }
}

//! What a process's cgroup path says about it: its systemd unit and its
//! container.
//!
//! Pure functions over the text of `/proc/PID/cgroup`, so every runtime's
//! naming scheme is unit-tested without that runtime installed.

/// The identity a cgroup path reveals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CgroupIdentity {
    /// Innermost systemd unit (`.service`, `.scope`, `.socket`, …), not a slice.
    pub unit: Option<String>,
    /// Container id (64 hex digits for Docker, containerd, CRI-O, Podman; the
    /// container name for LXC).
    pub container_id: Option<String>,
}

/// Parses the contents of `/proc/PID/cgroup`. The unified hierarchy (`0::`)
/// is preferred; on cgroup v1 hosts the `name=systemd` hierarchy is used for
/// the unit and any hierarchy for the container.
pub(crate) fn parse_cgroup(contents: &str) -> CgroupIdentity {
    let mut unified = None;
    let mut systemd_v1 = None;
    let mut container_id = None;
    for line in contents.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            unified = Some(path);
        } else if controllers == "name=systemd" {
            systemd_v1 = Some(path);
        }
        if container_id.is_none() {
            container_id = container_in(path);
        }
    }
    let unit_path = [unified, systemd_v1]
        .into_iter()
        .flatten()
        .find(|p| *p != "/");
    CgroupIdentity {
        unit: unit_path.and_then(innermost_unit),
        container_id,
    }
}

const UNIT_SUFFIXES: [&str; 5] = [".service", ".scope", ".socket", ".mount", ".swap"];

/// The last path component that names a systemd unit other than a slice.
fn innermost_unit(path: &str) -> Option<String> {
    path.rsplit('/')
        .find(|c| {
            UNIT_SUFFIXES
                .iter()
                .any(|s| c.ends_with(s) && c.len() > s.len())
        })
        .map(str::to_string)
}

/// The container id in a cgroup path, in any of the forms runtimes use:
/// `docker-ID.scope`, `/docker/ID`, `cri-containerd-ID.scope`,
/// `crio-ID.scope`, `libpod-ID.scope`, `/kubepods/…/podUID/ID`,
/// `/lxc.payload.NAME` or `/lxc/NAME`.
fn container_in(path: &str) -> Option<String> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in components.iter().enumerate() {
        for prefix in ["docker-", "cri-containerd-", "crio-", "libpod-", "cri-o-"] {
            if let Some(rest) = c.strip_prefix(prefix) {
                let id = rest.strip_suffix(".scope").unwrap_or(rest);
                if is_container_hex(id) {
                    return Some(id.to_string());
                }
            }
        }
        if let Some(name) = c.strip_prefix("lxc.payload.") {
            return Some(name.to_string());
        }
        let parent = i.checked_sub(1).map(|j| components[j]);
        let under_runtime =
            matches!(parent, Some("docker")) || parent.is_some_and(|p| p.starts_with("pod"));
        if (under_runtime && is_container_hex(c)) || parent == Some("lxc") {
            return Some((*c).to_string());
        }
    }
    None
}

fn is_container_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e9a1c2b7d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    #[test]
    fn systemd_service_on_unified_hierarchy() {
        let id = parse_cgroup("0::/system.slice/nginx.service\n");
        assert_eq!(id.unit.as_deref(), Some("nginx.service"));
        assert_eq!(id.container_id, None);
    }

    #[test]
    fn user_services_and_session_scopes() {
        let id = parse_cgroup(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service\n",
        );
        assert_eq!(id.unit.as_deref(), Some("syncthing.service"));
        let id = parse_cgroup("0::/user.slice/user-1000.slice/session-4.scope\n");
        assert_eq!(id.unit.as_deref(), Some("session-4.scope"));
    }

    #[test]
    fn root_cgroup_has_no_unit() {
        let id = parse_cgroup("0::/\n");
        assert_eq!(id, CgroupIdentity::default());
    }

    #[test]
    fn cgroup_v1_uses_name_systemd() {
        let text =
            "12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n0::/\n";
        assert_eq!(parse_cgroup(text).unit.as_deref(), Some("ssh.service"));
    }

    #[test]
    fn docker_with_systemd_and_cgroupfs_drivers() {
        let id = parse_cgroup(&format!("0::/system.slice/docker-{ID}.scope\n"));
        assert_eq!(id.container_id.as_deref(), Some(ID));
        assert_eq!(id.unit, Some(format!("docker-{ID}.scope")));
        let id = parse_cgroup(&format!("4:memory:/docker/{ID}\n0::/\n"));
        assert_eq!(id.container_id.as_deref(), Some(ID));
    }

    #[test]
    fn kubernetes_containerd_crio_and_podman() {
        for path in [
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/cri-containerd-{ID}.scope"
            ),
            format!("/kubepods/burstable/pod0b1c2d3e-aaaa-bbbb-cccc-123456789abc/{ID}"),
            format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"),
            format!("/machine.slice/libpod-{ID}.scope/container"),
        ] {
            let id = parse_cgroup(&format!("0::{path}\n"));
            assert_eq!(id.container_id.as_deref(), Some(ID), "{path}");
        }
    }

    #[test]
    fn lxc_containers_are_named() {
        assert_eq!(
            parse_cgroup("0::/lxc.payload.web01/init.scope\n")
                .container_id
                .as_deref(),
            Some("web01")
        );
        assert_eq!(
            parse_cgroup("3:cpu:/lxc/db02\n").container_id.as_deref(),
            Some("db02")
        );
    }

    #[test]
    fn garbage_yields_nothing() {
        assert_eq!(
            parse_cgroup("nonsense\n::\n0::/docker/xyz\n"),
            CgroupIdentity::default()
        );
    }
}

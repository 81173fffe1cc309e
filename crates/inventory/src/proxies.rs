//! Port proxies: processes that hold a host port only to forward its
//! connections to a container, so the listener's real owner is the
//! container, not them.
//!
//! - `docker-proxy` (Docker's userland proxy, one process per published
//!   port). Docker's port mapper (moby, `libnetwork/portmapper`) starts it
//!   as `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080
//!   -container-ip 172.17.0.2 -container-port 80`, and newer versions add
//!   `-use-listen-fd`. It parses them with Go's `flag` package, which also
//!   accepts `--name value` and `-name=value`, so all three shapes are read
//!   here.
//! - `rootlessport` (rootless Podman). Podman re-executes itself through
//!   `/proc/self/exe` with `argv[0]` set to `rootlessport` (so its `comm` is
//!   `exe`) and passes the port mappings on a pipe, not the command line:
//!   only the proxy, not its target, can be told.
//! - `rootlesskit` (rootless Docker): its built-in port driver listens on
//!   the host for the daemon inside its namespace; its command line names
//!   no container either.
//!
//! Pure functions over the process name and command line, so each shape is
//! unit-tested without the programs installed.

use std::net::IpAddr;

use portreeve_core::ProxyTarget;

/// Whether the process named `name` (`/proc/PID/comm`) with command line
/// `cmdline` is a port proxy, and where it forwards to as far as its
/// command line says.
pub(crate) fn proxy_target(name: &str, cmdline: &[String]) -> Option<ProxyTarget> {
    let program = cmdline.first().map(|a| basename(a)).unwrap_or_default();
    let proxy = ["docker-proxy", "rootlessport", "rootlesskit"]
        .into_iter()
        .find(|p| name == *p || program == *p)?;
    let mut target = ProxyTarget {
        proxy: proxy.to_string(),
        ..ProxyTarget::default()
    };
    if proxy == "docker-proxy" {
        target.address = flag(cmdline, "container-ip").and_then(|v| v.parse::<IpAddr>().ok());
        target.port = flag(cmdline, "container-port").and_then(|v| v.parse().ok());
    }
    Some(target)
}

/// The value of Go-style flag `name` in `args`: `-name value`,
/// `--name value`, `-name=value` or `--name=value`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, arg)| {
        let bare = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
        match bare.split_once('=') {
            Some((n, value)) if n == name => Some(value),
            None if bare == name => args.get(i + 1).map(String::as_str),
            _ => None,
        }
    })
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn docker_proxy_argv_names_the_container_address() {
        // As Docker's port mapper starts it, with the proxy's full path.
        let cmd = argv(
            "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
             -container-ip 172.17.0.2 -container-port 80",
        );
        let t = proxy_target("docker-proxy", &cmd).unwrap();
        assert_eq!(t.proxy, "docker-proxy");
        assert_eq!(t.address, Some("172.17.0.2".parse().unwrap()));
        assert_eq!(t.port, Some(80));
    }

    #[test]
    fn docker_proxy_flags_parse_in_every_go_flag_shape() {
        // IPv6 mapping, `=` forms and the newer `-use-listen-fd` switch.
        let cmd = argv(
            "/usr/libexec/docker/docker-proxy -proto=tcp --host-ip :: -host-port=8443 \
             -container-ip=fd00:d0c::2 --container-port 443 -use-listen-fd",
        );
        let t = proxy_target("docker-proxy", &cmd).unwrap();
        assert_eq!(t.address, Some("fd00:d0c::2".parse().unwrap()));
        assert_eq!(t.port, Some(443));
    }

    #[test]
    fn a_mangled_docker_proxy_argv_keeps_only_what_parses() {
        let cmd = argv("docker-proxy -container-ip not-an-address -container-port");
        let t = proxy_target("docker-proxy", &cmd).unwrap();
        assert_eq!((t.address, t.port), (None, None));
    }

    #[test]
    fn rootless_proxies_are_known_by_argv0_or_name() {
        // Podman's re-exec: comm is `exe`, argv[0] is `rootlessport`.
        let t = proxy_target("exe", &argv("rootlessport")).unwrap();
        assert_eq!(t.proxy, "rootlessport");
        assert_eq!(t.address, None);
        let kit = argv(
            "rootlesskit --net=slirp4netns --mtu=65520 --port-driver=builtin \
             --copy-up=/etc --copy-up=/run --propagation=rslave \
             /usr/bin/dockerd-rootless.sh",
        );
        assert_eq!(
            proxy_target("rootlesskit", &kit).unwrap().proxy,
            "rootlesskit"
        );
    }

    #[test]
    fn other_processes_are_not_proxies() {
        assert_eq!(proxy_target("nginx", &argv("nginx: master process")), None);
        // A script that merely mentions the flags is not docker-proxy.
        assert_eq!(
            proxy_target("python3", &argv("python3 -container-ip 10.0.0.1")),
            None
        );
        assert_eq!(proxy_target("kworker/0:1", &[]), None);
    }
}

//! The sandbox's network namespaces: made with `ip netns add`, set up with
//! `ip -n NAME`, joined through [`portreeve_inventory::run_in`], and
//! deleted when dropped.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::SandboxError;
use crate::names::{self, RUN_NETNS};

/// One namespace the sandbox made, deleted when dropped.
pub(crate) struct Namespace {
    name: String,
}

impl Namespace {
    /// A fresh namespace with loopback up. IPv6 addresses skip duplicate
    /// address detection there, so that every address works at once.
    fn create() -> Result<Namespace, SandboxError> {
        let name = names::fresh();
        ip(&["netns", "add", &name], None)?;
        let ns = Namespace { name };
        ns.set("net/ipv6/conf/default/accept_dad", "0")?;
        ns.batch(&["link set lo up".to_string()])?;
        Ok(ns)
    }

    /// Sets the sysctl `key` (under `/proc/sys/`) of this namespace: a
    /// thread that joined it reads and writes its own namespace's values.
    fn set(&self, key: &str, value: &str) -> Result<(), SandboxError> {
        self.run(|| std::fs::write(format!("/proc/sys/{key}"), value))
            .map_err(|e| SandboxError::io(format!("setting {key} in {}", self.name), e))
    }

    /// Its name under `/run/netns`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a thread that has joined this namespace: sockets it
    /// opens, threads it starts and programs it runs live here.
    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        portreeve_inventory::run_in(&PathBuf::from(RUN_NETNS).join(&self.name), f)
    }

    /// `ip` commands run inside this namespace by one `ip -batch`.
    fn batch(&self, commands: &[String]) -> Result<(), SandboxError> {
        let input = commands.join("\n") + "\n";
        ip(&["-n", &self.name, "-batch", "-"], Some(&input))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// `ip netns del NAME`, logged if it fails.
pub(crate) fn delete(name: &str) {
    if let Err(e) = ip(&["netns", "del", name], None) {
        tracing::warn!(netns = name, error = %e, "cannot delete a sandbox namespace");
    }
}

/// Runs `ip ARGS`, with `input` on its standard input.
fn ip(args: &[&str], input: Option<&str>) -> Result<(), SandboxError> {
    let failed = |e| SandboxError::io(format!("running ip {}", args.join(" ")), e);
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).map_err(failed)?;
    }
    let out = child.wait_with_output().map_err(failed)?;
    if out.status.success() {
        return Ok(());
    }
    Err(SandboxError::Ip {
        args: args.join(" "),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The two ends of the link's own addresses, through which each side
/// routes everything to the other: with a gateway, a side keeps one
/// neighbour entry for the link however many addresses the other holds.
/// (The kernel's neighbour table is shared by every namespace; an entry per
/// probed source would fill it for the whole host.)
const REPLICA_LINK: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(169, 254, 70, 1),
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x70, 1),
);
const CLIENT_LINK: (Ipv4Addr, Ipv6Addr) = (
    Ipv4Addr::new(169, 254, 70, 2),
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x70, 2),
);

/// The longest accept queue the replica's listeners get.
pub(crate) const MAX_BACKLOG: i32 = 65_535;

/// A replica and a client namespace joined by a veth pair, `r0` in the
/// replica and `c0` in the client, each routing everything over it: any
/// address on one side reaches any on the other, and nothing else exists.
pub(crate) struct Pod {
    /// Where the host's listeners and firewall are mirrored.
    pub replica: Namespace,
    /// Where the recorded sources connect from.
    pub client: Namespace,
}

impl Pod {
    /// `replica` addresses on `r0`, `client` addresses on `c0`, all as
    /// single addresses (/32, /128).
    pub(crate) fn build(replica: &[IpAddr], client: &[IpAddr]) -> Result<Pod, SandboxError> {
        let pod = Pod {
            replica: Namespace::create()?,
            client: Namespace::create()?,
        };
        // Every probe's handshake completes in the kernel, whether or not
        // the replica's server has had the processor to accept the ones
        // before: queues long enough for every pair.
        pod.replica
            .set("net/core/somaxconn", &MAX_BACKLOG.to_string())?;
        let link = format!(
            "link add r0 type veth peer name c0 netns {}",
            pod.client.name()
        );
        pod.replica.batch(&[link])?;
        pod.replica
            .batch(&side("r0", REPLICA_LINK, CLIENT_LINK, replica))?;
        pod.client
            .batch(&side("c0", CLIENT_LINK, REPLICA_LINK, client))?;
        Ok(pod)
    }
}

/// The commands that put the link address `own` and `addresses` on
/// `dev`, bring it up and route everything over it through `peer`.
fn side(
    dev: &str,
    own: (Ipv4Addr, Ipv6Addr),
    peer: (Ipv4Addr, Ipv6Addr),
    addresses: &[IpAddr],
) -> Vec<String> {
    let link = [IpAddr::V4(own.0), IpAddr::V6(own.1)];
    let mut commands: Vec<String> = link
        .iter()
        .chain(addresses.iter().filter(|a| !link.contains(a)))
        .map(|a| match a {
            IpAddr::V4(a) => format!("address add {a}/32 dev {dev}"),
            IpAddr::V6(a) => format!("address add {a}/128 dev {dev} nodad"),
        })
        .collect();
    commands.push(format!("link set {dev} up"));
    commands.push(format!(
        "route add 0.0.0.0/0 via {} dev {dev} onlink",
        peer.0
    ));
    commands.push(format!("route add ::/0 via {} dev {dev}", peer.1));
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_holds_single_addresses_and_routes_both_families_through_its_peer() {
        let addresses = [
            "10.0.0.5".parse().unwrap(),
            "2001:db8::5".parse().unwrap(),
            IpAddr::V4(CLIENT_LINK.0),
        ];
        assert_eq!(
            side("c0", CLIENT_LINK, REPLICA_LINK, &addresses),
            [
                "address add 169.254.70.2/32 dev c0",
                "address add fe80::70:2/128 dev c0 nodad",
                "address add 10.0.0.5/32 dev c0",
                "address add 2001:db8::5/128 dev c0 nodad",
                "link set c0 up",
                "route add 0.0.0.0/0 via 169.254.70.1 dev c0 onlink",
                "route add ::/0 via fe80::70:1 dev c0",
            ]
        );
    }
}

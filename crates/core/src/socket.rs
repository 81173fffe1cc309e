//! Listening sockets as the kernel reports them, with their owners.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Proto;
use crate::attribution::Attribution;

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The lower-case name used in policies and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which local addresses a socket is bound to, the first question in judging
/// who can reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindScope {
    /// 127.0.0.0/8, ::1 or an IPv4-mapped loopback address: reachable only from
    /// this host (and its network namespace).
    Loopback,
    /// One particular non-loopback address.
    Specific,
    /// 0.0.0.0 or `::`: every address of the host, present and future.
    Wildcard,
}

impl BindScope {
    /// Classifies a local bind address.
    pub fn of(addr: IpAddr) -> BindScope {
        let addr = unmap(addr);
        if addr.is_loopback() {
            BindScope::Loopback
        } else if addr.is_unspecified() {
            BindScope::Wildcard
        } else {
            BindScope::Specific
        }
    }

    /// The lower-case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            BindScope::Loopback => "loopback",
            BindScope::Specific => "specific",
            BindScope::Wildcard => "wildcard",
        }
    }
}

impl fmt::Display for BindScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `::ffff:a.b.c.d` is an IPv4 address in IPv6 clothing; judge it as IPv4.
fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `addr` is a globally routable unicast address, i.e. one the whole
/// Internet might reach. Private (RFC 1918, ULA), shared (CGNAT), link-local,
/// documentation, multicast and reserved ranges are not.
pub(crate) fn is_publicly_routable(addr: IpAddr) -> bool {
    match unmap(addr) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o1, o2, o3, _] = a.octets();
    let cgnat = o1 == 100 && (64..128).contains(&o2);
    let documentation = matches!((o1, o2, o3), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
    let benchmarking = o1 == 198 && (o2 == 18 || o2 == 19);
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || cgnat
        || documentation
        || benchmarking
        || o1 == 0
        || o1 >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s0 = a.segments()[0];
    let unique_local = (s0 & 0xfe00) == 0xfc00;
    let link_local = (s0 & 0xffc0) == 0xfe80;
    let documentation = s0 == 0x2001 && a.segments()[1] == 0x0db8;
    // Global unicast is 2000::/3; everything else is special-purpose.
    let global_unicast = (s0 & 0xe000) == 0x2000;
    global_unicast && !unique_local && !link_local && !documentation
}

/// A network namespace, identified as the kernel does: by the inode of its
/// `nsfs` file (`/proc/PID/ns/net`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetnsRef {
    /// Inode number of the namespace, as in `ls -L -i /proc/PID/ns/net`.
    pub inode: u64,
    /// Name under `/run/netns` (as `ip netns` shows it), `host` for the
    /// namespace of PID 1, or null when it has neither.
    pub name: Option<String>,
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "net:[{}]", self.inode),
        }
    }
}

/// A process that holds a socket open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id, in the PID namespace portreeve runs in.
    pub pid: u32,
    /// Short process name (`/proc/PID/comm`, at most 15 bytes).
    pub name: String,
    /// Executable path (`/proc/PID/exe`), when readable.
    pub exe: Option<String>,
    /// Command line, one element per argument; empty for kernel threads or
    /// when unreadable.
    pub cmdline: Vec<String>,
    /// Innermost systemd unit of the process's cgroup, e.g. `nginx.service`.
    pub systemd_unit: Option<String>,
    /// Container id (Docker, containerd, CRI-O, Podman, LXC) from the cgroup
    /// path.
    pub container_id: Option<String>,
    /// The container a runtime names, the container a port proxy serves, or
    /// that this is systemd holding sockets for socket units.
    #[serde(flatten)]
    pub attribution: Attribution,
}

/// Whether the owners of a socket were found, and if not, why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerStatus {
    /// At least one owning process was found.
    Known,
    /// No owner was found and some processes' file descriptors could not be
    /// read (not root, or a sandbox or LSM hides them): one of those
    /// processes may hold it.
    PermissionDenied,
    /// Every process was examined and none holds the socket: it belongs to
    /// the kernel (NFS, WireGuard, …), to a process in a PID namespace
    /// portreeve cannot see, or its process exited during the scan.
    NoProcess,
}

impl OwnerStatus {
    /// A short explanation for tables and reports.
    pub fn explain(self) -> &'static str {
        match self {
            OwnerStatus::Known => "owner known",
            OwnerStatus::PermissionDenied => {
                "owner unknown: some processes' descriptors could not be read (permission denied)"
            }
            OwnerStatus::NoProcess => {
                "owner unknown: no visible process holds it (kernel socket, other PID namespace, or exited)"
            }
        }
    }
}

/// A listening TCP socket or a bound, unconnected UDP socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListeningSocket {
    /// Transport protocol.
    pub protocol: Proto,
    /// Address family of the socket itself (a dual-stack socket is `ipv6`).
    pub family: Family,
    /// Local address the socket is bound to.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Device the socket is bound to with `SO_BINDTODEVICE`, if any.
    pub interface: Option<String>,
    /// Loopback, one specific address, or all of them.
    pub scope: BindScope,
    /// An IPv6 wildcard socket with `IPV6_V6ONLY` off, which accepts IPv4 too.
    pub dual_stack: bool,
    /// Owning user id, as the kernel recorded it at socket creation.
    pub uid: u32,
    /// User name for `uid`, when the user database knows it.
    pub user: Option<String>,
    /// Socket inode (the `socket:[N]` of `/proc/PID/fd`).
    pub inode: u64,
    /// Network namespace the socket lives in.
    pub netns: NetnsRef,
    /// Whether `processes` is complete, and why not if not.
    pub owner_status: OwnerStatus,
    /// Every process holding the socket open, by pid. Shared: a server with
    /// thousands of sockets has one record, not thousands of copies.
    pub processes: Vec<Arc<ProcessInfo>>,
}

impl ListeningSocket {
    /// `addr:port` in the usual notation: `0.0.0.0:22`, `[::]:22`,
    /// `127.0.0.1%lo:53` when bound to a device.
    pub fn endpoint(&self) -> String {
        let device = self
            .interface
            .as_deref()
            .map(|d| format!("%{d}"))
            .unwrap_or_default();
        match self.address {
            IpAddr::V4(a) => format!("{a}{device}:{}", self.port),
            IpAddr::V6(a) => format!("[{a}{device}]:{}", self.port),
        }
    }

    /// Whether anything beyond this host can reach the socket: true unless it
    /// is bound to loopback.
    pub fn is_exposed(&self) -> bool {
        self.scope != BindScope::Loopback
    }

    /// Whether the bound address is publicly routable (or a wildcard, which
    /// includes any public address the host has or will have).
    pub fn is_public(&self) -> bool {
        self.scope == BindScope::Wildcard || is_publicly_routable(self.address)
    }

    /// The address families whose clients can connect: both for a dual-stack
    /// socket, IPv4 for an IPv4-mapped bind, otherwise the socket's own.
    pub fn accepted_families(&self) -> &'static [Family] {
        match (self.family, self.address) {
            (Family::Ipv4, _) => &[Family::Ipv4],
            (Family::Ipv6, _) if self.dual_stack => &[Family::Ipv4, Family::Ipv6],
            (Family::Ipv6, IpAddr::V6(a)) if a.to_ipv4_mapped().is_some() => &[Family::Ipv4],
            (Family::Ipv6, _) => &[Family::Ipv6],
        }
    }

    /// A human name for what owns the socket: for a port proxy, the
    /// container it publishes (or its target); else the container, by the
    /// name its runtime gives it or by id; else the systemd unit; else the
    /// process name; `None` when no owner is known. The container comes
    /// before the unit because a container's unit is only the runtime's
    /// wrapper scope (`docker-<id>.scope`).
    pub fn service_label(&self) -> Option<String> {
        let p = self.processes.first()?;
        Some(if let Some(proxy) = &p.attribution.proxy_for {
            proxy.to_string()
        } else if let Some(container) = &p.attribution.container {
            format!("container {container}")
        } else if let Some(id) = &p.container_id {
            format!("container {}", short_id(id))
        } else if let Some(unit) = &p.systemd_unit {
            unit.clone()
        } else {
            p.name.clone()
        })
    }
}

/// Container ids are 64 hex digits; 12 is what `docker ps` shows.
fn short_id(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(family: Family, address: &str, dual_stack: bool) -> ListeningSocket {
        let address: IpAddr = address.parse().unwrap();
        ListeningSocket {
            protocol: Proto::Tcp,
            family,
            address,
            port: 80,
            interface: None,
            scope: BindScope::of(address),
            dual_stack,
            uid: 0,
            user: None,
            inode: 1,
            netns: NetnsRef {
                inode: 1,
                name: None,
            },
            owner_status: OwnerStatus::NoProcess,
            processes: vec![],
        }
    }

    #[test]
    fn classifies_bind_scope() {
        for (a, scope) in [
            ("127.0.0.1", BindScope::Loopback),
            ("127.0.0.53", BindScope::Loopback),
            ("::1", BindScope::Loopback),
            ("::ffff:127.0.0.1", BindScope::Loopback),
            ("0.0.0.0", BindScope::Wildcard),
            ("::", BindScope::Wildcard),
            ("10.1.2.3", BindScope::Specific),
            ("fe80::1", BindScope::Specific),
        ] {
            assert_eq!(BindScope::of(a.parse().unwrap()), scope, "{a}");
        }
    }

    #[test]
    fn public_addresses_exclude_private_and_special_ranges() {
        for a in ["8.8.8.8", "2a00:1450::1", "::ffff:1.1.1.1"] {
            assert!(is_publicly_routable(a.parse().unwrap()), "{a}");
        }
        for a in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "192.0.2.1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::1",
            "224.0.0.1",
        ] {
            assert!(!is_publicly_routable(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn dual_stack_accepts_both_families() {
        assert_eq!(
            sock(Family::Ipv6, "::", true).accepted_families(),
            [Family::Ipv4, Family::Ipv6]
        );
        assert_eq!(
            sock(Family::Ipv6, "::", false).accepted_families(),
            [Family::Ipv6]
        );
        assert_eq!(
            sock(Family::Ipv6, "::ffff:10.0.0.1", false).accepted_families(),
            [Family::Ipv4]
        );
        assert_eq!(
            sock(Family::Ipv4, "0.0.0.0", false).accepted_families(),
            [Family::Ipv4]
        );
    }

    #[test]
    fn endpoint_brackets_ipv6_and_shows_device() {
        let mut s = sock(Family::Ipv6, "::1", false);
        assert_eq!(s.endpoint(), "[::1]:80");
        s.interface = Some("lo".into());
        assert_eq!(s.endpoint(), "[::1%lo]:80");
        assert_eq!(
            sock(Family::Ipv4, "0.0.0.0", false).endpoint(),
            "0.0.0.0:80"
        );
    }

    #[test]
    fn service_label_prefers_container_then_unit_then_name() {
        let mut s = sock(Family::Ipv4, "0.0.0.0", false);
        assert_eq!(s.service_label(), None);
        let mut p = ProcessInfo {
            pid: 7,
            name: "redis-server".into(),
            exe: None,
            cmdline: vec![],
            systemd_unit: None,
            container_id: None,
            attribution: Default::default(),
        };
        s.processes = vec![Arc::new(p.clone())];
        assert_eq!(s.service_label().unwrap(), "redis-server");
        p.systemd_unit = Some("redis.service".into());
        s.processes = vec![Arc::new(p.clone())];
        assert_eq!(s.service_label().unwrap(), "redis.service");
        p.container_id = Some("a".repeat(64));
        s.processes = vec![Arc::new(p)];
        assert_eq!(
            s.service_label().unwrap(),
            format!("container {}", "a".repeat(12))
        );
    }
}

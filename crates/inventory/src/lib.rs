//! The host's own view of its open ports: every listening TCP socket and
//! every bound UDP socket, with the processes, services and containers that
//! own them, in one network namespace or all of them.
//!
//! The principal type in this crate is an [`Inventory`], which [`collect`]
//! takes as [`Options`] say: the host's name, the namespaces examined, and
//! one [`ListeningSocket`] per socket, in a stable order. A failure is an
//! [`InventoryError`] saying which step failed.
//!
//! Sockets come from the kernel through NETLINK_SOCK_DIAG, owners from
//! `/proc/PID/fd` and each process's cgroup (systemd unit, container), other
//! namespaces from `/proc` and `/run/netns`. Containers are named, and port
//! proxies followed to their containers, by Docker's or Podman's API when
//! its socket answers; without one, the ids and addresses stay. No external
//! program is run, and nothing on the host is changed. A socket whose owner
//! cannot be found is kept and says why ([`OwnerStatus`]); nothing is
//! dropped for lack of an owner. Unprivileged, the caller's own namespace
//! is listed in full, but other users' processes cannot be named, and
//! [`Options::all_netns`] needs root (entering a namespace needs
//! CAP_SYS_ADMIN). Judging the sockets is
//! `portreeve-policy`'s job, not this crate's.
//!
//! # Example
//!
//! ```
//! use portreeve_inventory::{Options, collect};
//!
//! // This network namespace; works without root.
//! let inventory = collect(Options::default())?;
//! println!("{}: {} listening sockets", inventory.host, inventory.sockets.len());
//! assert_eq!(inventory.namespaces.len(), 1);
//! # Ok::<(), portreeve_inventory::InventoryError>(())
//! ```

mod addresses;
mod attribution;
mod cgroup;
mod engine_api;
mod netns;
mod owners;
mod proxies;
mod sockdiag;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use portreeve_core::{BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, ProcessInfo};
use rustix::net::{AddressFamily, SocketType};

use crate::sockdiag::KernelSocket;

pub use addresses::{connected_networks, host_addresses};
pub use netns::run_in;
pub use sockdiag::TcpConnection;

/// What to collect.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Every network namespace on the host, not only the caller's.
    pub all_netns: bool,
}

/// The listening sockets of a host.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The host's name (`uname -n`).
    pub host: String,
    /// Namespaces that were examined.
    pub namespaces: Vec<NetnsRef>,
    /// The sockets, ordered by namespace, protocol, port and address.
    pub sockets: Vec<ListeningSocket>,
}

/// Why an inventory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The kernel refused or failed the sock_diag dump.
    #[error("cannot list sockets through NETLINK_SOCK_DIAG{}: {source}", netns_suffix(.netns))]
    SockDiag {
        /// The namespace being listed, when not the caller's own.
        netns: Option<String>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Entering another namespace needs CAP_SYS_ADMIN.
    #[error(
        "cannot enter network namespace {netns} ({path}): {source}; --all-netns needs root (CAP_SYS_ADMIN)"
    )]
    EnterNamespace {
        /// The namespace.
        netns: String,
        /// The path used to join it.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The caller's own namespace could not be identified.
    #[error("cannot identify the current network namespace: {0}")]
    CurrentNamespace(#[source] io::Error),
    /// The interfaces' addresses could not be read (`getifaddrs`).
    #[error("cannot list this host's interface addresses: {0}")]
    Addresses(#[source] io::Error),
}

fn netns_suffix(netns: &Option<String>) -> String {
    netns
        .as_ref()
        .map(|n| format!(" in netns {n}"))
        .unwrap_or_default()
}

/// Takes the inventory.
pub fn collect(options: Options) -> Result<Inventory, InventoryError> {
    let names = netns::names();
    let per_namespace = if options.all_netns {
        collect_all_namespaces(&names)?
    } else {
        let current = netns::current(&names).map_err(InventoryError::CurrentNamespace)?;
        let sockets = sockdiag::dump_listening().map_err(|source| InventoryError::SockDiag {
            netns: None,
            source,
        })?;
        let ifnames = interface_names(&sockets);
        vec![(current, sockets, ifnames)]
    };

    let wanted: HashSet<u64> = per_namespace
        .iter()
        .flat_map(|(_, socks, _)| socks.iter().map(|s| s.inode))
        .collect();
    let owner_map = owners::find_owners(&wanted);
    let mut processes: HashMap<u32, Option<Arc<ProcessInfo>>> = HashMap::new();
    let mut runtimes = engine_api::Runtimes::from_env();
    let mut users = UserNames::default();

    let mut sockets = Vec::new();
    let mut namespaces = Vec::new();
    for (netns, kernel_sockets, ifnames) in per_namespace {
        for k in kernel_sockets {
            let mut procs: Vec<Arc<ProcessInfo>> = owner_map
                .pids_by_inode
                .get(&k.inode)
                .into_iter()
                .flatten()
                .filter_map(|&pid| {
                    processes
                        .entry(pid)
                        .or_insert_with(|| {
                            owners::process_info(pid)
                                .map(|p| Arc::new(attribution::attribute(p, &mut runtimes)))
                        })
                        .clone()
                })
                .collect();
            attribution::real_owners_first(&mut procs);
            let owner_status = if !procs.is_empty() {
                OwnerStatus::Known
            } else if owner_map.permission_denied {
                OwnerStatus::PermissionDenied
            } else {
                OwnerStatus::NoProcess
            };
            sockets.push(ListeningSocket {
                protocol: k.protocol,
                family: k.family,
                address: k.address,
                port: k.port,
                interface: (k.ifindex != 0).then(|| {
                    ifnames
                        .get(&k.ifindex)
                        .cloned()
                        .unwrap_or_else(|| format!("if{}", k.ifindex))
                }),
                scope: BindScope::of(k.address),
                dual_stack: is_dual_stack(&k),
                uid: k.uid,
                user: users.name(k.uid),
                inode: k.inode,
                netns: netns.clone(),
                owner_status,
                processes: procs,
            });
        }
        namespaces.push(netns);
    }
    sockets.sort_by(|a, b| {
        (
            &a.netns.name,
            a.netns.inode,
            a.protocol,
            a.port,
            a.address,
            a.inode,
        )
            .cmp(&(
                &b.netns.name,
                b.netns.inode,
                b.protocol,
                b.port,
                b.address,
                b.inode,
            ))
    });
    Ok(Inventory {
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        namespaces,
        sockets,
    })
}

/// Every established TCP connection in the caller's network namespace:
/// what the lock-out guard reads to find the SSH sessions a ruleset would
/// cut.
pub fn established_tcp() -> Result<Vec<TcpConnection>, InventoryError> {
    sockdiag::dump_established_tcp().map_err(|source| InventoryError::SockDiag {
        netns: None,
        source,
    })
}

type Namespaced = (NetnsRef, Vec<KernelSocket>, HashMap<u32, String>);

fn collect_all_namespaces(
    names: &BTreeMap<u64, String>,
) -> Result<Vec<Namespaced>, InventoryError> {
    let mut out = Vec::new();
    for ns in netns::discover(names) {
        let label = ns.netns.to_string();
        let result = netns::run_in(&ns.path, || {
            let sockets = sockdiag::dump_listening()?;
            let ifnames = interface_names(&sockets);
            Ok((sockets, ifnames))
        });
        match result {
            Ok((sockets, ifnames)) => out.push((ns.netns, sockets, ifnames)),
            Err(source) if matches!(source.raw_os_error(), Some(e) if e == rustix::io::Errno::PERM.raw_os_error() || e == rustix::io::Errno::ACCESS.raw_os_error()) =>
            {
                return Err(InventoryError::EnterNamespace {
                    netns: label,
                    path: ns.path,
                    source,
                });
            }
            // The last process of a namespace can exit while we walk
            // (ENOENT, ESRCH), and `ip netns delete` unmounts the name before
            // it unlinks it: in between, the path is a plain file and
            // setns(2) answers EINVAL.
            Err(e) if is_vanished(&e) => {
                tracing::debug!("netns {label} vanished during the walk: {e}");
            }
            Err(source) => {
                return Err(InventoryError::SockDiag {
                    netns: Some(label),
                    source,
                });
            }
        }
    }
    Ok(out)
}

/// Whether joining a namespace failed because it went away during the walk.
fn is_vanished(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::NOENT, Errno::SRCH, Errno::INVAL]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Names of the devices sockets are bound to, looked up in the calling
/// thread's namespace (interface indexes are per namespace).
fn interface_names(sockets: &[KernelSocket]) -> HashMap<u32, String> {
    let indexes: HashSet<u32> = sockets
        .iter()
        .map(|s| s.ifindex)
        .filter(|&i| i != 0)
        .collect();
    if indexes.is_empty() {
        return HashMap::new();
    }
    let Ok(probe) = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None) else {
        return HashMap::new();
    };
    indexes
        .into_iter()
        .filter_map(|i| {
            rustix::net::netdevice::index_to_name(&probe, i)
                .ok()
                .map(|n| (i, n))
        })
        .collect()
}

/// An IPv6 wildcard socket without `IPV6_V6ONLY` accepts IPv4 as well.
fn is_dual_stack(k: &KernelSocket) -> bool {
    k.family == Family::Ipv6 && k.address.is_unspecified() && k.v6only == Some(false)
}

/// Caches uid → user name lookups (each may consult NSS).
#[derive(Default)]
struct UserNames(HashMap<u32, Option<String>>);

impl UserNames {
    fn name(&mut self, uid: u32) -> Option<String> {
        self.0
            .entry(uid)
            .or_insert_with(|| {
                uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned())
            })
            .clone()
    }
}

//! The networks this host is connected to: the prefixes of the addresses on
//! its interfaces that are up, in the caller's network namespace.
//!
//! `policy init` offers them as the `private` zone, so that a starter policy
//! admits the networks the host actually sits on rather than all of RFC
//! 1918. Addresses come from `getifaddrs(3)` (the kernel's netlink view), not
//! from running `ip`.

use std::net::IpAddr;

use ipnet::{IpNet, ipv4_mask_to_prefix, ipv6_mask_to_prefix};
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::SockaddrStorage;

use crate::InventoryError;

/// The networks of the global-scope addresses on interfaces that are up,
/// normalised to their network address (`10.81.0.1/24` gives
/// `10.81.0.0/24`), sorted, each once. Loopback and link-local addresses
/// are left out: they reach no other host, or none beyond the link.
pub fn connected_networks() -> Result<Vec<IpNet>, InventoryError> {
    let mut nets: Vec<IpNet> = getifaddrs()
        .map_err(|e| InventoryError::Addresses(e.into()))?
        .filter(|a| a.flags.contains(InterfaceFlags::IFF_UP))
        .filter(|a| !a.flags.contains(InterfaceFlags::IFF_LOOPBACK))
        .filter_map(|a| {
            let (address, prefix) = address_and_prefix(a.address?, a.netmask?)?;
            global_network(address, prefix)
        })
        .collect();
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// Every address on this host's interfaces, whatever their state or
/// scope, each once: the addresses a block must never name.
pub fn host_addresses() -> Result<Vec<IpAddr>, InventoryError> {
    let mut addresses: Vec<IpAddr> = getifaddrs()
        .map_err(|e| InventoryError::Addresses(e.into()))?
        .filter_map(|a| {
            let a = a.address?;
            let v4 = a.as_sockaddr_in().map(|a| IpAddr::from(a.ip()));
            v4.or_else(|| a.as_sockaddr_in6().map(|a| IpAddr::from(a.ip())))
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// An interface address and its prefix length, for IPv4 and IPv6 only.
fn address_and_prefix(address: SockaddrStorage, netmask: SockaddrStorage) -> Option<(IpAddr, u8)> {
    if let (Some(a), Some(m)) = (address.as_sockaddr_in(), netmask.as_sockaddr_in()) {
        return Some((a.ip().into(), ipv4_mask_to_prefix(m.ip()).ok()?));
    }
    let (a, m) = (address.as_sockaddr_in6()?, netmask.as_sockaddr_in6()?);
    Some((a.ip().into(), ipv6_mask_to_prefix(m.ip()).ok()?))
}

/// The network of `address`/`prefix`, unless the address is not of global
/// scope (loopback, link-local, unspecified or multicast).
fn global_network(address: IpAddr, prefix: u8) -> Option<IpNet> {
    let local = match address {
        IpAddr::V4(a) => a.is_loopback() || a.is_link_local() || a.is_unspecified(),
        IpAddr::V6(a) => {
            a.is_loopback() || a.is_unicast_link_local() || a.is_unspecified() || a.is_multicast()
        }
    };
    if local {
        return None;
    }
    IpNet::new(address, prefix).ok().map(|n| n.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(address: &str, prefix: u8) -> Option<String> {
        global_network(address.parse().unwrap(), prefix).map(|n| n.to_string())
    }

    #[test]
    fn global_addresses_give_their_network() {
        assert_eq!(network("10.81.0.1", 24).as_deref(), Some("10.81.0.0/24"));
        assert_eq!(network("fd81::1", 64).as_deref(), Some("fd81::/64"));
        assert_eq!(
            network("203.0.113.9", 32).as_deref(),
            Some("203.0.113.9/32")
        );
    }

    #[test]
    fn loopback_and_link_local_addresses_give_none() {
        for (address, prefix) in [
            ("127.0.0.1", 8),
            ("::1", 128),
            ("169.254.3.4", 16),
            ("fe80::1", 64),
            ("0.0.0.0", 0),
        ] {
            assert_eq!(network(address, prefix), None, "{address}/{prefix}");
        }
    }

    #[test]
    fn this_namespace_lists_no_loopback_network() {
        let nets = connected_networks().unwrap();
        assert!(nets.iter().all(|n| !n.addr().is_loopback()), "{nets:?}");
    }
}

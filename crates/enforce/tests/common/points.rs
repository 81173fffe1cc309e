//! Points of the address and port spaces: numbers, and the boundaries of
//! ranges and networks.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Each range's first and last port and the ports just outside it.
pub fn boundary_ports(ranges: impl Iterator<Item = (u16, u16)>) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    for (a, b) in ranges {
        out.extend(
            [a.checked_sub(1), Some(a), Some(b), b.checked_add(1)]
                .into_iter()
                .flatten(),
        );
    }
    out.remove(&0);
    out
}

/// Each network's first and last address and the addresses just outside it.
pub fn boundary_addresses(nets: impl Iterator<Item = IpNet>) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    for n in nets {
        let (first, last) = (bits(n.network()), bits(n.broadcast()));
        let v4 = n.addr().is_ipv4();
        let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
        for b in [
            first.checked_sub(1),
            Some(first),
            Some(last),
            last.checked_add(1),
        ]
        .into_iter()
        .flatten()
        .filter(|&b| b <= max)
        {
            out.insert(address(v4, b));
        }
    }
    out
}

/// An address as a number.
pub fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

/// The address `b` of the family (`b` must fit).
pub fn address(v4: bool, b: u128) -> IpAddr {
    if v4 {
        Ipv4Addr::from(u32::try_from(b).expect("an IPv4 address")).into()
    } else {
        Ipv6Addr::from(b).into()
    }
}

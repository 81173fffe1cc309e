//! Address ranges of one family as integers, and the fewest CIDR blocks
//! that cover a range: how the outside world is split into the classes of
//! addresses that policies treat alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4: addresses 0 to 2³²−1.
    V4,
    /// IPv6: addresses 0 to 2¹²⁸−1.
    V6,
}

impl Family {
    /// Both, in output order.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// Address bits.
    pub fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The highest address.
    pub fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// `addr` as an integer within its family.
pub fn to_int(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn to_addr(family: Family, value: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(
            u32::try_from(value).expect("an IPv4 address fits 32 bits"),
        )),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// The family and the first and last address of `net`.
pub fn bounds(net: &IpNet) -> (Family, u128, u128) {
    let family = Family::of(net.addr());
    (family, to_int(net.network()), to_int(net.broadcast()))
}

/// The fewest CIDR blocks that together are exactly `first..=last`.
pub fn cover(family: Family, mut first: u128, last: u128) -> Vec<IpNet> {
    let bits = family.bits();
    let mut blocks = Vec::new();
    while first <= last {
        // The largest block that starts at `first` (aligned) and ends by `last`.
        let mut size_bits = first.trailing_zeros().min(bits);
        while first | low_mask(size_bits) > last {
            size_bits -= 1;
        }
        let prefix = u8::try_from(bits - size_bits).expect("a prefix fits u8");
        blocks.push(IpNet::new(to_addr(family, first), prefix).expect("a valid prefix"));
        let end = first | low_mask(size_bits);
        if end == family.max() {
            break;
        }
        first = end + 1;
    }
    blocks
}

/// The lowest `bits` bits set.
fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[IpNet]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    fn range(a: &str, b: &str) -> (Family, u128, u128) {
        let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
        (Family::of(a), to_int(a), to_int(b))
    }

    #[test]
    fn whole_spaces_are_one_block() {
        assert_eq!(nets(&cover(Family::V4, 0, Family::V4.max())), ["0.0.0.0/0"]);
        assert_eq!(nets(&cover(Family::V6, 0, u128::MAX)), ["::/0"]);
    }

    #[test]
    fn an_unaligned_range_takes_the_fewest_blocks() {
        let (f, a, b) = range("10.0.0.1", "10.0.0.6");
        assert_eq!(
            nets(&cover(f, a, b)),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let (f, a, b) = range("0.0.0.0", "9.255.255.255");
        assert_eq!(nets(&cover(f, a, b)), ["0.0.0.0/5", "8.0.0.0/7"]);
    }

    #[test]
    fn bounds_ignore_host_bits() {
        let net: IpNet = "192.168.1.77/24".parse().unwrap();
        assert_eq!(bounds(&net), range("192.168.1.0", "192.168.1.255"));
    }
}

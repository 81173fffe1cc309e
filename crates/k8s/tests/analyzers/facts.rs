//! The common form both analyzers' answers are brought to: facts "from
//! this party to that party, on this protocol, these ports are allowed",
//! where a party is a pod or a range of outside addresses.

use std::fmt;
use std::net::IpAddr;

/// The transport protocols NetworkPolicy ports name.
pub const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

/// The ports a NetworkPolicy can name: port 0 is no port (portreeve's "all
/// ports" starts at 0, NCA's at 1; neither allows anything on 0 that
/// matters), so comparisons stay within these.
pub const FIRST_PORT: u16 = 1;

/// A contiguous range of addresses of one family, as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddressRange {
    /// 4 or 6.
    pub family: u8,
    /// The first address.
    pub first: u128,
    /// The last address.
    pub last: u128,
}

impl AddressRange {
    /// The range from `first` to `last`, which must be of one family.
    pub fn new(first: IpAddr, last: IpAddr) -> AddressRange {
        let (family, first, last) = match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (4, u32::from(a).into(), u32::from(b).into()),
            (IpAddr::V6(a), IpAddr::V6(b)) => (6, u128::from(a), u128::from(b)),
            _ => panic!("address range {first}-{last} mixes IPv4 and IPv6"),
        };
        assert!(first <= last, "empty address range");
        AddressRange {
            family,
            first,
            last,
        }
    }

    /// Whether `self` holds `other` entirely.
    pub fn covers(&self, other: &AddressRange) -> bool {
        self.family == other.family && self.first <= other.first && other.last <= self.last
    }

    /// The highest address of `family`.
    pub fn family_last(family: u8) -> u128 {
        if family == 4 {
            u32::MAX.into()
        } else {
            u128::MAX
        }
    }

    fn address(&self, value: u128) -> IpAddr {
        if self.family == 4 {
            IpAddr::V4(u32::try_from(value).expect("an IPv4 address").into())
        } else {
            IpAddr::V6(value.into())
        }
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.address(self.first),
            self.address(self.last)
        )
    }
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// A pod (or a workload's pods), `namespace/name`.
    Pod(String),
    /// Addresses outside the cluster's pods.
    Outside(AddressRange),
}

impl Party {
    /// A pod `namespace/name`, or a CIDR block of outside addresses.
    pub fn parse(text: &str) -> Party {
        match text.parse::<ipnet::IpNet>() {
            Ok(net) => Party::Outside(AddressRange::new(net.network(), net.broadcast())),
            Err(_) => Party::Pod(text.to_owned()),
        }
    }

    /// Whether this party of a fact includes `other`, a party of the
    /// comparison (a pod, or one address class).
    pub fn covers(&self, other: &Party) -> bool {
        match (self, other) {
            (Party::Pod(a), Party::Pod(b)) => a == b,
            (Party::Outside(a), Party::Outside(b)) => a.covers(b),
            _ => false,
        }
    }
}

impl Party {
    /// Whether the two share a pod or an address.
    pub fn overlaps(&self, other: &Party) -> bool {
        match (self, other) {
            (Party::Pod(a), Party::Pod(b)) => a == b,
            (Party::Outside(a), Party::Outside(b)) => {
                a.family == b.family && a.first <= b.last && b.first <= a.last
            }
            _ => false,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Pod(id) => f.write_str(id),
            Party::Outside(range) => write!(f, "{range}"),
        }
    }
}

/// `from` may open `ports` (inclusive ranges) of `to` on `protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The source.
    pub from: Party,
    /// The destination.
    pub to: Party,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: &'static str,
    /// Allowed destination ports.
    pub ports: Vec<(u16, u16)>,
}

impl Fact {
    /// Whether this fact allows `from` to reach `port` of `to` on `protocol`.
    pub fn allows(&self, from: &Party, to: &Party, protocol: &str, port: u16) -> bool {
        self.protocol == protocol
            && self.from.covers(from)
            && self.to.covers(to)
            && self
                .ports
                .iter()
                .any(|&(first, last)| first <= port && port <= last)
    }
}

impl Fact {
    /// Whether some connection is allowed by both `self` and `other`.
    pub fn overlaps(&self, other: &Fact) -> bool {
        self.protocol == other.protocol
            && self.from.overlaps(&other.from)
            && self.to.overlaps(&other.to)
            && self
                .ports
                .iter()
                .any(|&(a, b)| other.ports.iter().any(|&(c, d)| a <= d && c <= b))
    }
}

/// The protocol named `name` as one of [`PROTOCOLS`], if it is one.
pub fn protocol(name: &str) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .copied()
        .find(|p| p.eq_ignore_ascii_case(name))
}

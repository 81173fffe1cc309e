//! What to scan: targets as people write them — addresses, CIDRs, ranges,
//! host names — expanded into addresses before any probe is sent, so a bad
//! target fails the whole scan up front.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

use ipnet::IpNet;

/// The most addresses one scan may expand to (an IPv4 /8).
pub const MAX_ADDRESSES: u128 = 1 << 24;

/// A target as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// `192.0.2.7`, `2001:db8::7`.
    Address(IpAddr),
    /// `192.0.2.0/24` (every address, network and broadcast included, as
    /// nmap does).
    Network(IpNet),
    /// `192.0.2.1-20` or `192.0.2.1-192.0.2.20`, inclusive.
    Range(IpAddr, IpAddr),
    /// A host name, resolved before scanning.
    Name(String),
}

/// One address to scan.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// The address.
    pub address: IpAddr,
    /// The name it was given as, if any.
    pub hostname: Option<String>,
}

/// A target that cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an address, network, range or host name.
    #[error(
        "`{0}` is not a target: expected an address, CIDR (10.0.0.0/24), range (10.0.0.1-20) or host name"
    )]
    Syntax(String),
    /// A CIDR with an impossible prefix.
    #[error(
        "`{spec}` is not a network: prefix length {prefix} exceeds {max} for an {family} address"
    )]
    Prefix {
        /// As written.
        spec: String,
        /// The prefix.
        prefix: String,
        /// The family's maximum.
        max: u8,
        /// `IPv4` or `IPv6`.
        family: &'static str,
    },
    /// A range that runs backwards or mixes families.
    #[error("`{0}` is not a range: it must run from a lower to a higher address of one family")]
    Range(String),
    /// Too many addresses.
    #[error("`{spec}` holds {count} addresses; at most {MAX_ADDRESSES} can be scanned at once")]
    TooMany {
        /// As written.
        spec: String,
        /// How many.
        count: u128,
    },
    /// A host name that does not resolve.
    #[error("cannot resolve `{name}`: {reason}")]
    Unresolvable {
        /// The name.
        name: String,
        /// The resolver's answer.
        reason: String,
    },
    /// Nothing left to scan.
    #[error("no targets to scan (none given, or all excluded)")]
    Empty,
}

/// Parses one target as written.
pub fn parse_spec(text: &str) -> Result<TargetSpec, TargetError> {
    let t = text.trim();
    if let Ok(a) = t.parse::<IpAddr>() {
        return Ok(TargetSpec::Address(a));
    }
    if let Some((addr, prefix)) = t.split_once('/') {
        let a: IpAddr = addr.parse().map_err(|_| TargetError::Syntax(text.into()))?;
        let max = if a.is_ipv4() { 32 } else { 128 };
        let p: u8 =
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| TargetError::Prefix {
                    spec: text.into(),
                    prefix: prefix.into(),
                    max,
                    family: if a.is_ipv4() { "IPv4" } else { "IPv6" },
                })?;
        return Ok(TargetSpec::Network(
            IpNet::new(a, p).expect("prefix checked").trunc(),
        ));
    }
    if let Some((from, to)) = t.split_once('-')
        && let Ok(start) = from.parse::<IpAddr>()
    {
        let end = range_end(start, to).ok_or_else(|| TargetError::Range(text.into()))?;
        if end < start {
            return Err(TargetError::Range(text.into()));
        }
        return Ok(TargetSpec::Range(start, end));
    }
    if is_host_name(t) {
        return Ok(TargetSpec::Name(t.to_string()));
    }
    Err(TargetError::Syntax(text.into()))
}

/// The end of a range: a full address of the same family, or (IPv4) the
/// last octet, or (IPv6) the last group in hex.
fn range_end(start: IpAddr, to: &str) -> Option<IpAddr> {
    if let Ok(end) = to.parse::<IpAddr>() {
        return (end.is_ipv4() == start.is_ipv4()).then_some(end);
    }
    match start {
        IpAddr::V4(s) => {
            let last: u8 = to.parse().ok()?;
            let [a, b, c, _] = s.octets();
            Some(IpAddr::V4(Ipv4Addr::new(a, b, c, last)))
        }
        IpAddr::V6(s) => {
            let last = u16::from_str_radix(to, 16).ok()?;
            let mut g = s.segments();
            g[7] = last;
            Some(IpAddr::V6(Ipv6Addr::from(g)))
        }
    }
}

/// RFC 1123 host names: dot-separated labels of letters, digits and
/// hyphens, not starting or ending with a hyphen.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// How many addresses a spec covers (names count as one).
fn count(spec: &TargetSpec) -> u128 {
    match spec {
        TargetSpec::Address(_) | TargetSpec::Name(_) => 1,
        TargetSpec::Network(n) => 1u128 << (n.max_prefix_len() - n.prefix_len()),
        TargetSpec::Range(a, b) => as_u128(*b) - as_u128(*a) + 1,
    }
}

fn as_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(
            u32::try_from(v).expect("IPv4 range stays within 32 bits"),
        ))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

/// The local address the kernel would send from to reach `to` (a route
/// lookup: connecting a UDP socket sends nothing).
pub fn route_source(to: IpAddr) -> std::io::Result<IpAddr> {
    let bind = if to.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    };
    let s = std::net::UdpSocket::bind((bind, 0))?;
    s.connect((to, 9))?;
    Ok(s.local_addr()?.ip())
}

/// Resolves a host name to its first address (as nmap does), IPv4 first.
pub fn resolve(name: &str) -> Result<IpAddr, TargetError> {
    let addrs: Vec<IpAddr> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| TargetError::Unresolvable {
            name: name.into(),
            reason: e.to_string(),
        })?
        .map(|sa| sa.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| TargetError::Unresolvable {
            name: name.into(),
            reason: "no addresses".into(),
        })
}

/// Expands specs into distinct addresses, minus the excluded ones, in the
/// order given. `resolve` turns host names into addresses.
pub fn expand(
    specs: &[TargetSpec],
    exclude: &[TargetSpec],
    resolve: impl Fn(&str) -> Result<IpAddr, TargetError>,
) -> Result<Vec<Target>, TargetError> {
    let mut total: u128 = 0;
    for s in specs {
        total += count(s);
        if total > MAX_ADDRESSES {
            return Err(TargetError::TooMany {
                spec: describe(s),
                count: count(s),
            });
        }
    }
    // Excluded ranges as (first, last, is IPv4), and resolved names.
    let mut excluded: Vec<(u128, u128, bool)> = Vec::new();
    let mut excluded_names: BTreeSet<IpAddr> = BTreeSet::new();
    for e in exclude {
        match e {
            TargetSpec::Name(n) => {
                excluded_names.insert(resolve(n)?);
            }
            other => {
                let (lo, hi) = bounds(other);
                excluded.push((lo, hi, family_of(other)));
            }
        }
    }
    let is_excluded = |a: IpAddr| {
        let v = as_u128(a);
        excluded_names.contains(&a)
            || excluded
                .iter()
                .any(|&(lo, hi, v4)| v4 == a.is_ipv4() && lo <= v && v <= hi)
    };

    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in specs {
        let mut push = |address: IpAddr, hostname: Option<String>| {
            if !is_excluded(address) && seen.insert(address) {
                out.push(Target { address, hostname });
            }
        };
        match s {
            TargetSpec::Name(n) => push(resolve(n)?, Some(n.clone())),
            other => {
                let (lo, hi) = bounds(other);
                let v4 = family_of(other);
                for v in lo..=hi {
                    push(from_u128(v, v4), None);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(TargetError::Empty);
    }
    Ok(out)
}

fn bounds(spec: &TargetSpec) -> (u128, u128) {
    match spec {
        TargetSpec::Address(a) => (as_u128(*a), as_u128(*a)),
        TargetSpec::Network(n) => (as_u128(n.network()), as_u128(n.broadcast())),
        TargetSpec::Range(a, b) => (as_u128(*a), as_u128(*b)),
        TargetSpec::Name(_) => unreachable!("names are resolved, not bounded"),
    }
}

fn family_of(spec: &TargetSpec) -> bool {
    match spec {
        TargetSpec::Address(a) | TargetSpec::Range(a, _) => a.is_ipv4(),
        TargetSpec::Network(n) => matches!(n, IpNet::V4(_)),
        TargetSpec::Name(_) => true,
    }
}

fn describe(spec: &TargetSpec) -> String {
    match spec {
        TargetSpec::Address(a) => a.to_string(),
        TargetSpec::Network(n) => n.to_string(),
        TargetSpec::Range(a, b) => format!("{a}-{b}"),
        TargetSpec::Name(n) => n.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(specs: &[&str], exclude: &[&str]) -> Result<Vec<String>, TargetError> {
        let s: Vec<TargetSpec> = specs.iter().map(|t| parse_spec(t).unwrap()).collect();
        let e: Vec<TargetSpec> = exclude.iter().map(|t| parse_spec(t).unwrap()).collect();
        let fake = |n: &str| match n {
            "db.example" => Ok("192.0.2.50".parse().unwrap()),
            _ => Err(TargetError::Unresolvable {
                name: n.into(),
                reason: "NXDOMAIN".into(),
            }),
        };
        expand(&s, &e, fake).map(|v| v.into_iter().map(|t| t.address.to_string()).collect())
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse_spec("192.0.2.7").unwrap(),
            TargetSpec::Address("192.0.2.7".parse().unwrap())
        );
        assert_eq!(
            parse_spec("192.0.2.9/24").unwrap(),
            TargetSpec::Network("192.0.2.0/24".parse().unwrap())
        );
        assert_eq!(
            parse_spec("10.0.0.1-20").unwrap(),
            TargetSpec::Range("10.0.0.1".parse().unwrap(), "10.0.0.20".parse().unwrap())
        );
        assert_eq!(
            parse_spec("2001:db8::1-ff").unwrap(),
            TargetSpec::Range(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::ff".parse().unwrap()
            )
        );
        assert_eq!(
            parse_spec("web-01.example.com").unwrap(),
            TargetSpec::Name("web-01.example.com".into())
        );
    }

    #[test]
    fn rejects_bad_targets_with_reasons() {
        assert!(matches!(
            parse_spec("10.0.0.0/33"),
            Err(TargetError::Prefix { max: 32, .. })
        ));
        assert!(matches!(
            parse_spec("2001:db8::/129"),
            Err(TargetError::Prefix { max: 128, .. })
        ));
        assert!(matches!(
            parse_spec("10.0.0.20-10"),
            Err(TargetError::Range(_))
        ));
        assert!(matches!(
            parse_spec("10.0.0.1-2001:db8::1"),
            Err(TargetError::Range(_))
        ));
        assert!(matches!(
            parse_spec("not a host!"),
            Err(TargetError::Syntax(_))
        ));
        assert!(matches!(
            parse_spec("-bad.example"),
            Err(TargetError::Syntax(_))
        ));
        assert!(
            addrs(&["2001:db8::/64"], &[])
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
    }

    #[test]
    fn expands_in_order_without_duplicates_and_honours_excludes() {
        assert_eq!(
            addrs(&["10.0.0.1-4", "10.0.0.3", "db.example"], &["10.0.0.2"]).unwrap(),
            ["10.0.0.1", "10.0.0.3", "10.0.0.4", "192.0.2.50"]
        );
        assert_eq!(
            addrs(&["192.0.2.0/30"], &[]).unwrap().len(),
            4,
            "network and broadcast included"
        );
        assert_eq!(
            addrs(&["192.0.2.0/30"], &["192.0.2.0/31", "db.example"]).unwrap(),
            ["192.0.2.2", "192.0.2.3"]
        );
        assert!(matches!(
            addrs(&["10.0.0.1"], &["10.0.0.0/24"]),
            Err(TargetError::Empty)
        ));
        assert!(matches!(
            addrs(&["nowhere.invalid"], &[]),
            Err(TargetError::Unresolvable { .. })
        ));
    }

    #[test]
    fn exclusions_do_not_cross_families() {
        // ::/0 as a number range covers small values that equal IPv4 ones.
        assert_eq!(addrs(&["0.0.0.1"], &["::/96"]).unwrap(), ["0.0.0.1"]);
    }
}

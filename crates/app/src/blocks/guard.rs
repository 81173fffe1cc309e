//! The sources a block must never name: cutting them could lock the
//! operator out or cut the host off from itself, whatever the policy says.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::SignedDuration;
use portreeve_policy::Policy;

/// The widest IPv4 network a block may name: a shorter prefix is almost
/// certainly a typo, and would cut a sixteenth of a million hosts or more.
pub const WIDEST_V4: u8 = 8;
/// The widest IPv6 network a block may name (a regional registry's
/// allocation).
pub const WIDEST_V6: u8 = 32;

/// What a block must leave alone on this host.
#[derive(Debug)]
pub struct Protected<'a> {
    /// The policy in effect: its management zone, `[detection]
    /// never_block` zones and `max_block_ttl`.
    pub policy: &'a Policy,
    /// The sources of SSH sessions open now.
    pub sessions: Vec<IpAddr>,
    /// The host's own addresses.
    pub host: Vec<IpAddr>,
}

impl Protected<'_> {
    /// Why blocking `source` for `ttl` is refused, if it is.
    pub fn check(&self, source: IpNet, ttl: SignedDuration) -> Result<(), String> {
        let max = self.policy.detection.max_block_ttl;
        if !ttl.is_positive() {
            return Err("the TTL must be positive".into());
        }
        if ttl > max {
            return Err(format!(
                "a TTL of {ttl:#} exceeds the {max:#} that the policy's [detection] max_block_ttl allows"
            ));
        }
        let widest = if source.addr().is_ipv4() {
            WIDEST_V4
        } else {
            WIDEST_V6
        };
        if source.prefix_len() < widest {
            return Err(format!(
                "{source} is wider than /{widest}, the widest network a block may name"
            ));
        }
        if let Some(why) = self.never_blocked(source) {
            return Err(format!("{source} is never blocked: it covers {why}"));
        }
        Ok(())
    }

    /// What `source` covers that is never blocked, in words.
    fn never_blocked(&self, source: IpNet) -> Option<String> {
        let address = |what: &str, a: &IpAddr| source.contains(a).then(|| format!("{what} {a}"));
        if source.addr().is_loopback() || source.contains(&IpNet::from(loopback(source))) {
            return Some("loopback".into());
        }
        if let Some(why) = self
            .sessions
            .iter()
            .find_map(|a| address("the SSH session from", a))
        {
            return Some(why);
        }
        if let Some(why) = self
            .host
            .iter()
            .find_map(|a| address("this host's address", a))
        {
            return Some(why);
        }
        let management = self.policy.enforce.management_zone.iter();
        let zones = management.map(|z| (z, "the management zone")).chain(
            self.policy
                .detection
                .never_block
                .iter()
                .map(|z| (z, "the never_block zone")),
        );
        for (name, role) in zones {
            let Some(zone) = self.policy.zone(name) else {
                continue;
            };
            if let Some(net) = zone
                .networks
                .iter()
                .find(|n| n.contains(&source) || source.contains(*n))
            {
                return Some(format!("{role} `{name}` ({net})"));
            }
        }
        None
    }
}

/// The loopback address of `source`'s family.
fn loopback(source: IpNet) -> IpAddr {
    match source {
        IpNet::V4(_) => IpAddr::from([127, 0, 0, 1]),
        IpNet::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(extra: &str) -> Policy {
        portreeve_policy::parse_policy(
            "t.toml",
            &format!(
                "[zones]\nmgmt = [\"192.0.2.0/24\"]\noffice = [\"198.51.100.0/24\"]\n\
                 [enforce]\nmanagement_zone = \"mgmt\"\n{extra}"
            ),
        )
        .unwrap()
    }

    fn check(p: &Policy, source: &str, ttl_s: i64) -> Result<(), String> {
        let protected = Protected {
            policy: p,
            sessions: vec!["203.0.113.5".parse().unwrap()],
            host: vec!["10.0.0.1".parse().unwrap()],
        };
        let source = portreeve_enforce::grants::parse_source(source).unwrap();
        protected.check(source, SignedDuration::from_secs(ttl_s))
    }

    #[test]
    fn an_ordinary_source_within_the_cap_is_blocked() {
        let p = policy("");
        assert_eq!(check(&p, "203.0.113.9", 600), Ok(()));
        assert_eq!(check(&p, "2001:db8:1::/48", 24 * 3600), Ok(()));
    }

    #[test]
    fn the_way_in_and_the_host_itself_are_never_blocked() {
        let p = policy("");
        let refused = |source: &str| check(&p, source, 600).unwrap_err();
        assert_eq!(
            refused("192.0.2.7"),
            "192.0.2.7/32 is never blocked: it covers the management zone `mgmt` (192.0.2.0/24)"
        );
        assert!(
            refused("192.0.0.0/16").contains("management zone"),
            "a wider network covers it"
        );
        assert!(refused("203.0.113.0/24").contains("the SSH session from 203.0.113.5"));
        assert!(refused("10.0.0.1").contains("this host's address 10.0.0.1"));
        assert!(refused("127.0.0.1").contains("loopback"));
        assert!(refused("::1").contains("loopback"));
        assert!(refused("10.0.0.0/7").contains("wider than /8"));
        assert!(refused("2001:db8::/31").contains("wider than /32"));
        assert_eq!(
            check(&p, "198.51.100.7", 600),
            Ok(()),
            "office is blockable"
        );
    }

    #[test]
    fn the_ttl_is_capped_by_the_policy() {
        let p = policy("");
        assert_eq!(
            check(&p, "203.0.113.9", 24 * 3600 + 1).unwrap_err(),
            "a TTL of 24h 1s exceeds the 24h that the policy's [detection] max_block_ttl allows"
        );
    }
}

//! Which sources a rule should admit, given the sources seen using it: the
//! tightest of an existing zone and the observed sources aggregated at a
//! prefix, never wider than what the rule admits today.

use ipnet::IpNet;
use portreeve_policy::Zone;

/// Past this many aggregated networks the use is broad: listing them would
/// not make a reviewable zone, so a zone (or the rule's own) is kept.
pub(crate) const MAX_NETWORKS: usize = 32;

/// Where a rule's sources go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Narrowing {
    /// The rule's zones stay as written: already the tightest, or the
    /// sources are too spread to narrow.
    Unchanged,
    /// Narrowed to this existing zone.
    Zone(String),
    /// Narrowed to these networks (a new zone holds them).
    Networks(Vec<IpNet>),
}

/// The prefixes sources are aggregated at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefixes {
    /// For IPv4 sources (0–32).
    pub v4: u8,
    /// For IPv6 sources (0–128).
    pub v6: u8,
}

impl Default for Prefixes {
    /// /24 and /64: a subnet, the unit addresses are handed out in.
    fn default() -> Self {
        Prefixes { v4: 24, v6: 64 }
    }
}

/// The sources a rule admitting `reach` (its zones' networks, in its
/// families) should admit, `observed` being the sources seen using it (each
/// inside `reach`) and `rule_zones` its zones. Whatever is chosen covers
/// every observed source and lies inside `reach`.
pub fn narrow(
    observed: &[IpNet],
    reach: &[IpNet],
    zones: &[Zone],
    rule_zones: &[String],
    prefixes: Prefixes,
) -> Narrowing {
    let aggregated = aggregate(observed, reach, prefixes);
    let zone = zones
        .iter()
        .filter(|z| covers(&z.networks, observed) && within(&z.networks, reach))
        .min_by_key(|z| size(&z.networks));
    let chosen = match zone {
        Some(z) if size(&z.networks) <= size(&aggregated) => Narrowing::Zone(z.name.clone()),
        _ if aggregated.len() <= MAX_NETWORKS => Narrowing::Networks(aggregated),
        Some(z) => Narrowing::Zone(z.name.clone()),
        None => Narrowing::Unchanged,
    };
    match chosen {
        Narrowing::Zone(name) if rule_zones.len() == 1 && rule_zones[0] == name => {
            Narrowing::Unchanged
        }
        other => other,
    }
}

/// Each observed source widened to its prefix, clipped to the network of
/// `reach` that holds it (so a host zone stays a host), then merged.
fn aggregate(observed: &[IpNet], reach: &[IpNet], prefixes: Prefixes) -> Vec<IpNet> {
    let widened: Vec<IpNet> = observed
        .iter()
        .map(|&source| {
            let wide = widen(source, prefixes);
            match reach.iter().find(|n| n.contains(&source)) {
                Some(&holder) if !holder.contains(&wide) => holder,
                _ => wide,
            }
        })
        .collect();
    IpNet::aggregate(&widened)
}

/// `source` widened to the prefix of its family; one already wider stays.
fn widen(source: IpNet, prefixes: Prefixes) -> IpNet {
    let prefix = match source {
        IpNet::V4(_) => prefixes.v4,
        IpNet::V6(_) => prefixes.v6,
    };
    if source.prefix_len() <= prefix {
        return source;
    }
    IpNet::new(source.addr(), prefix).map_or(source, |n| n.trunc())
}

/// Whether every one of `sources` lies inside one of `networks`.
pub(crate) fn covers(networks: &[IpNet], sources: &[IpNet]) -> bool {
    sources
        .iter()
        .all(|s| networks.iter().any(|n| n.contains(s)))
}

/// Whether every one of `networks` lies inside `reach`.
fn within(networks: &[IpNet], reach: &[IpNet]) -> bool {
    covers(reach, networks)
}

/// How many addresses `networks` hold together (saturating: `::/0` is
/// simply the most).
fn size(networks: &[IpNet]) -> u128 {
    networks
        .iter()
        .map(|n| {
            let host_bits = u32::from(n.max_prefix_len() - n.prefix_len());
            1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
        })
        .fold(0, u128::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn zone(name: &str, list: &[&str]) -> Zone {
        Zone {
            name: name.into(),
            networks: nets(list),
            namespaces: Vec::new(),
        }
    }

    fn zones() -> Vec<Zone> {
        vec![
            zone("public", &["0.0.0.0/0", "::/0"]),
            zone("private", &["10.0.0.0/8"]),
            zone("office", &["10.1.0.0/16"]),
            zone("monitoring", &["10.20.0.5/32", "10.20.0.6/32"]),
        ]
    }

    #[test]
    fn the_smallest_covering_zone_wins_over_wider_aggregates() {
        // Sources spread over the office /16: their /24s (3 of them) hold
        // fewer addresses than the office zone, so the /24s win…
        let observed = nets(&["10.1.1.1/32", "10.1.2.1/32", "10.1.3.1/32"]);
        let got = narrow(
            &observed,
            &nets(&["10.0.0.0/8"]),
            &zones(),
            &["private".into()],
            Prefixes::default(),
        );
        assert_eq!(
            got,
            Narrowing::Networks(nets(&["10.1.1.0/24", "10.1.2.0/23"]))
        );
        // …but at /8 the office zone is the tighter.
        let got = narrow(
            &observed,
            &nets(&["10.0.0.0/8"]),
            &zones(),
            &["private".into()],
            Prefixes { v4: 8, v6: 64 },
        );
        assert_eq!(got, Narrowing::Zone("office".into()));
    }

    #[test]
    fn a_host_zone_is_not_widened_to_the_prefix() {
        let observed = nets(&["10.20.0.5/32", "10.20.0.6/32"]);
        let got = narrow(
            &observed,
            &nets(&["0.0.0.0/0"]),
            &zones(),
            &["public".into()],
            Prefixes::default(),
        );
        assert_eq!(got, Narrowing::Zone("monitoring".into()));
        // Already the rule's zone: nothing to change.
        let got = narrow(
            &observed,
            &nets(&["10.20.0.5/32", "10.20.0.6/32"]),
            &zones(),
            &["monitoring".into()],
            Prefixes::default(),
        );
        assert_eq!(got, Narrowing::Unchanged);
        // One of the two hosts seen: clipped to that host, not its /24.
        let got = narrow(
            &nets(&["10.20.0.5/32"]),
            &nets(&["10.20.0.5/32", "10.20.0.6/32"]),
            &zones(),
            &["monitoring".into()],
            Prefixes::default(),
        );
        assert_eq!(got, Narrowing::Networks(nets(&["10.20.0.5/32"])));
    }

    #[test]
    fn ipv6_sources_aggregate_at_their_own_prefix() {
        let observed = nets(&["2001:db8:1:2::7/128", "2001:db8:1:2::9/128"]);
        let got = narrow(
            &observed,
            &nets(&["::/0"]),
            &zones(),
            &["public".into()],
            Prefixes::default(),
        );
        assert_eq!(got, Narrowing::Networks(nets(&["2001:db8:1:2::/64"])));
    }

    #[test]
    fn broad_use_keeps_the_rule_s_zone() {
        // 40 sources in 40 different /16s of the public internet.
        let observed: Vec<IpNet> = (0..40)
            .map(|i| format!("198.{i}.0.1/32").parse().unwrap())
            .collect();
        let got = narrow(
            &observed,
            &nets(&["0.0.0.0/0", "::/0"]),
            &zones(),
            &["public".into()],
            Prefixes::default(),
        );
        assert_eq!(got, Narrowing::Unchanged);
    }
}

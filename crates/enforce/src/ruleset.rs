//! The compiled ruleset: a policy resolved into exactly what the firewall
//! matches on, independent of nftables syntax.
//!
//! The compilation does what nftables cannot do for us. A packet-path lookup
//! in a set of `(source, protocol, port)` boxes costs the same whatever the
//! number of elements — but the kernel refuses overlapping boxes, and
//! policies overlap all the time (`public` contains `private`; one rule
//! allows 8000-8100, another 8080). So the allowances of all rules and zones
//! are normalised here into disjoint boxes, with every source list
//! aggregated to its minimal set of CIDRs.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portreeve_core::{Family, PortKey, PortRange, Proto};
use portreeve_policy::{Detection, Enforcement, Limits, Policy};

use crate::overflow::OverflowNat;

/// The firewall a policy compiles to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    /// Where the policy came from, for the ruleset's header comment.
    pub origin: String,
    /// Every zone's networks, aggregated.
    pub zones: Vec<ZoneNets>,
    /// Disjoint IPv4 allowances.
    pub allowed_v4: Vec<Allowance<Ipv4Net>>,
    /// Disjoint IPv6 allowances.
    pub allowed_v6: Vec<Allowance<Ipv6Net>>,
    /// Banned ports, disjoint per protocol.
    pub banned: Vec<PortSpan>,
    /// Per-rule limits; their port spans never overlap between rules.
    pub limits: Vec<PortLimits>,
    /// Default action, logging, ICMP and DHCP essentials.
    pub enforcement: Enforcement,
    /// Scan detection: what the kernel tier counts and does.
    pub detection: Detection,
    /// Ports whose new connections go to a backup pool. Not compiled from
    /// the policy (empty from [`Ruleset::compile`]): the tripped breakers
    /// the caller knows of set it.
    pub overflows: Vec<OverflowNat>,
}

/// A zone's networks by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneNets {
    /// Zone name.
    pub name: String,
    /// IPv4 networks, aggregated.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 networks, aggregated.
    pub v6: Vec<Ipv6Net>,
}

/// Sources in `source` may open connections to `ports`/`proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Allowance<N> {
    /// Source network.
    pub source: N,
    /// Protocol.
    pub protocol: Proto,
    /// Destination ports.
    pub ports: PortRange,
}

/// A protocol and a port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortSpan {
    /// Protocol.
    pub protocol: Proto,
    /// Ports.
    pub ports: PortRange,
}

/// The limits of one rule on its ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortLimits {
    /// The rule's name.
    pub rule: String,
    /// The ports the limits apply to.
    pub spans: Vec<PortSpan>,
    /// The limits.
    pub limits: Limits,
}

impl PortLimits {
    /// The protocols of the limited ports, each once, in [`Proto::ALL`] order.
    pub fn protocols(&self) -> Vec<Proto> {
        Proto::ALL
            .into_iter()
            .filter(|p| self.spans.iter().any(|s| s.protocol == *p))
            .collect()
    }
}

/// A policy that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Two rules limit the same port differently; the firewall cannot apply
    /// both.
    #[error(
        "rules `{first}` and `{second}` both set limits on {span}: a port can have one set of limits (move them to one rule)"
    )]
    OverlappingLimits {
        /// The first rule.
        first: String,
        /// The second rule.
        second: String,
        /// Where they overlap, e.g. `8080/tcp`.
        span: String,
    },
}

impl Ruleset {
    /// Compiles `policy`. Rules with a `grant` stay closed: grants open them.
    pub fn compile(policy: &Policy) -> Result<Ruleset, CompileError> {
        let zones: Vec<ZoneNets> = policy
            .zones
            .iter()
            .map(|z| {
                let (v4, v6) = split_families(z.networks.iter().copied());
                ZoneNets {
                    name: z.name.clone(),
                    v4: Ipv4Net::aggregate(&v4),
                    v6: Ipv6Net::aggregate(&v6),
                }
            })
            .collect();

        let mut wanted_v4: BTreeMap<Proto, Vec<(Ipv4Net, PortRange)>> = BTreeMap::new();
        let mut wanted_v6: BTreeMap<Proto, Vec<(Ipv6Net, PortRange)>> = BTreeMap::new();
        for rule in policy.rules.iter().filter(|r| r.grant.is_none()) {
            for zone in zones.iter().filter(|z| rule.zones.contains(&z.name)) {
                for &proto in &rule.protocols {
                    for &ports in &rule.ports {
                        if rule.families.contains(&Family::Ipv4) {
                            let v = wanted_v4.entry(proto).or_default();
                            v.extend(zone.v4.iter().map(|n| (*n, ports)));
                        }
                        if rule.families.contains(&Family::Ipv6) {
                            let v = wanted_v6.entry(proto).or_default();
                            v.extend(zone.v6.iter().map(|n| (*n, ports)));
                        }
                    }
                }
            }
        }
        let allowed_v4 = wanted_v4
            .into_iter()
            .flat_map(|(proto, w)| disjoint_boxes(w, Ipv4Net::aggregate, proto))
            .collect();
        let allowed_v6 = wanted_v6
            .into_iter()
            .flat_map(|(proto, w)| disjoint_boxes(w, Ipv6Net::aggregate, proto))
            .collect();

        let banned = merge_spans(policy.banned.iter().flat_map(|b| {
            b.protocols.iter().map(move |&protocol| PortSpan {
                protocol,
                ports: b.ports,
            })
        }));

        let limits: Vec<PortLimits> = policy
            .rules
            .iter()
            .filter_map(|r| {
                let limits = r.limits?;
                let spans = merge_spans(r.protocols.iter().flat_map(|&protocol| {
                    r.ports
                        .iter()
                        .map(move |&ports| PortSpan { protocol, ports })
                }));
                Some(PortLimits {
                    rule: r.name.clone(),
                    spans,
                    limits,
                })
            })
            .collect();
        check_limit_overlaps(&limits)?;

        Ok(Ruleset {
            origin: policy.origin.clone(),
            zones,
            allowed_v4,
            allowed_v6,
            banned,
            limits,
            enforcement: policy.enforce.clone(),
            detection: policy.detection.clone(),
            overflows: Vec::new(),
        })
    }
}

fn split_families(nets: impl Iterator<Item = IpNet>) -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for n in nets {
        match n {
            IpNet::V4(n) => v4.push(n),
            IpNet::V6(n) => v6.push(n),
        }
    }
    (v4, v6)
}

/// Turns possibly overlapping `(network, ports)` allowances of one protocol
/// into disjoint boxes.
///
/// A sweep over the port axis: the ports are cut wherever some allowance
/// starts or ends; within each piece the allowed networks are the same, so
/// they are aggregated once; neighbouring pieces with the same networks are
/// joined again. Cost is O(n log n) plus the aggregation of each piece.
fn disjoint_boxes<N: Copy + Ord>(
    wanted: Vec<(N, PortRange)>,
    aggregate: fn(&Vec<N>) -> Vec<N>,
    proto: Proto,
) -> Vec<Allowance<N>> {
    // Events: at port p, these networks start or stop being allowed.
    let mut starts: BTreeMap<u32, Vec<N>> = BTreeMap::new();
    let mut ends: BTreeMap<u32, Vec<N>> = BTreeMap::new();
    for (net, ports) in &wanted {
        starts
            .entry(u32::from(ports.start()))
            .or_default()
            .push(*net);
        ends.entry(u32::from(ports.end()) + 1)
            .or_default()
            .push(*net);
    }
    let mut cuts: Vec<u32> = starts.keys().chain(ends.keys()).copied().collect();
    cuts.sort_unstable();
    cuts.dedup();

    let mut active: BTreeMap<N, usize> = BTreeMap::new();
    // (first port, last port, aggregated networks) of each piece.
    let mut pieces: Vec<(u32, u32, Vec<N>)> = Vec::new();
    for window in cuts.windows(2) {
        let (from, to) = (window[0], window[1]);
        for net in ends.get(&from).into_iter().flatten() {
            if let Some(count) = active.get_mut(net) {
                *count -= 1;
                if *count == 0 {
                    active.remove(net);
                }
            }
        }
        for net in starts.get(&from).into_iter().flatten() {
            *active.entry(*net).or_default() += 1;
        }
        if active.is_empty() {
            continue;
        }
        let nets = aggregate(&active.keys().copied().collect());
        match pieces.last_mut() {
            Some(last) if last.1 + 1 == from && last.2 == nets => last.1 = to - 1,
            _ => pieces.push((from, to - 1, nets)),
        }
    }
    pieces
        .into_iter()
        .flat_map(|(from, to, nets)| {
            let ports =
                PortRange::new(i64::from(from), i64::from(to)).expect("pieces lie within 1-65535");
            nets.into_iter().map(move |source| Allowance {
                source,
                protocol: proto,
                ports,
            })
        })
        .collect()
}

/// Merges overlapping and adjacent spans of the same protocol.
fn merge_spans(spans: impl Iterator<Item = PortSpan>) -> Vec<PortSpan> {
    let mut spans: Vec<PortSpan> = spans.collect();
    spans.sort();
    let mut out: Vec<PortSpan> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last)
                if last.protocol == s.protocol
                    && u32::from(s.ports.start()) <= u32::from(last.ports.end()) + 1 =>
            {
                let end = last.ports.end().max(s.ports.end());
                last.ports = PortRange::new(last.ports.start().into(), end.into())
                    .expect("merged range is valid");
            }
            _ => out.push(s),
        }
    }
    out
}

fn check_limit_overlaps(limits: &[PortLimits]) -> Result<(), CompileError> {
    for (i, a) in limits.iter().enumerate() {
        for b in &limits[i + 1..] {
            for sa in &a.spans {
                if let Some(sb) = b
                    .spans
                    .iter()
                    .find(|sb| sb.protocol == sa.protocol && sb.ports.overlaps(sa.ports))
                {
                    let from = sa.ports.start().max(sb.ports.start());
                    let to = sa.ports.end().min(sb.ports.end());
                    let span =
                        PortRange::new(from.into(), to.into()).expect("overlap is a valid range");
                    return Err(CompileError::OverlappingLimits {
                        first: a.rule.clone(),
                        second: b.rule.clone(),
                        span: format!("{span}/{}", sa.protocol),
                    });
                }
            }
        }
    }
    Ok(())
}

impl Ruleset {
    /// Takes `closed` ports out of every allowance and limit, as a reclaim
    /// does: the rule stays in the policy, but the firewall lets nobody in
    /// on those ports until the reclaim is undone. A range is cut around
    /// each closed port, so neighbouring ports stay open.
    pub fn close_ports(&mut self, closed: &[PortKey]) {
        if closed.is_empty() {
            return;
        }
        let cut = |proto: Proto, range: PortRange| -> Vec<PortRange> {
            let mut pieces = vec![range];
            for key in closed.iter().filter(|k| k.protocol == proto) {
                pieces = pieces
                    .into_iter()
                    .flat_map(|r| without_port(r, key.port))
                    .collect();
            }
            pieces
        };
        self.allowed_v4 = cut_allowances(&self.allowed_v4, &cut);
        self.allowed_v6 = cut_allowances(&self.allowed_v6, &cut);
        for l in &mut self.limits {
            l.spans = l
                .spans
                .iter()
                .flat_map(|s| {
                    cut(s.protocol, s.ports)
                        .into_iter()
                        .map(move |ports| PortSpan { ports, ..*s })
                })
                .collect();
        }
        self.limits.retain(|l| !l.spans.is_empty());
    }
}

/// What the policy does to new connections to a port published by DNAT
/// (judged by the forward chain with the same sets as the input chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishedVerdict {
    /// Every port of the range is banned.
    Banned,
    /// Every port is allowed, from the sources the policy's rules name.
    Allowed,
    /// Some ports of the range are allowed.
    PartlyAllowed,
    /// No port is allowed.
    Closed,
}

impl std::fmt::Display for PublishedVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublishedVerdict::Banned => "banned by the policy",
            PublishedVerdict::Allowed => "allowed by the policy",
            PublishedVerdict::PartlyAllowed => "partly allowed by the policy",
            PublishedVerdict::Closed => "closed by the policy",
        })
    }
}

impl Ruleset {
    /// What the policy does to new connections to the published `ports`.
    pub fn published_judgement(&self, protocol: Proto, ports: PortRange) -> PublishedVerdict {
        let banned = |port| {
            self.banned
                .iter()
                .any(|b| b.protocol == protocol && b.ports.contains(port))
        };
        let allowed = |port| {
            let v4 = self.allowed_v4.iter().map(|a| (a.protocol, a.ports));
            let v6 = self.allowed_v6.iter().map(|a| (a.protocol, a.ports));
            v4.chain(v6).any(|(p, r)| p == protocol && r.contains(port)) && !banned(port)
        };
        let range = ports.start()..=ports.end();
        if range.clone().all(banned) {
            PublishedVerdict::Banned
        } else if range.clone().all(allowed) {
            PublishedVerdict::Allowed
        } else if range.into_iter().any(allowed) {
            PublishedVerdict::PartlyAllowed
        } else {
            PublishedVerdict::Closed
        }
    }
}

/// `allowances` with each one's ports replaced by the pieces `cut` leaves.
fn cut_allowances<N: Copy>(
    allowances: &[Allowance<N>],
    cut: &impl Fn(Proto, PortRange) -> Vec<PortRange>,
) -> Vec<Allowance<N>> {
    allowances
        .iter()
        .flat_map(|a| {
            cut(a.protocol, a.ports)
                .into_iter()
                .map(move |ports| Allowance { ports, ..*a })
        })
        .collect()
}

/// `range` without `port`: zero, one or two ranges.
fn without_port(range: PortRange, port: u16) -> Vec<PortRange> {
    if !range.contains(port) {
        return vec![range];
    }
    let mut out = Vec::with_capacity(2);
    if port > range.start() {
        out.push(
            PortRange::new(range.start().into(), i64::from(port) - 1).expect("a valid lower piece"),
        );
    }
    if port < range.end() {
        out.push(
            PortRange::new(i64::from(port) + 1, range.end().into()).expect("a valid upper piece"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_a_port_cuts_it_out_of_ranges_and_limits() {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            "[zones]\nlan = [\"10.0.0.0/8\", \"fd00::/8\"]\n\
             [[rule]]\nname = \"app\"\nports = [\"8000-8010\"]\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
             limits = { new_per_second = 10 }\n\
             [[rule]]\nname = \"dns\"\nport = 53\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\n",
        )
        .unwrap();
        let mut r = Ruleset::compile(&policy).unwrap();
        r.close_ports(&[
            PortKey::new(Proto::Tcp, 8000),
            PortKey::new(Proto::Tcp, 8005),
            PortKey::new(Proto::Udp, 53),
        ]);
        let v4: Vec<String> = r
            .allowed_v4
            .iter()
            .map(|a| format!("{}/{}", a.ports, a.protocol))
            .collect();
        assert_eq!(v4, ["53/tcp", "8001-8004/tcp", "8006-8010/tcp"]);
        assert_eq!(r.allowed_v6.len(), 3, "both families");
        let spans: Vec<String> = r.limits[0]
            .spans
            .iter()
            .map(|s| s.ports.to_string())
            .collect();
        assert_eq!(spans, ["8001-8004", "8006-8010"]);
        r.close_ports(&[PortKey::new(Proto::Tcp, 53)]);
        assert!(r.allowed_v4.iter().all(|a| a.ports.to_string() != "53"));
    }

    #[test]
    fn published_ports_are_judged_in_words() {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            "[zones]\nlan = [\"10.0.0.0/8\"]\nv6 = [\"fd00::/8\"]\n\
             [[rule]]\nports = [\"8000-8010\"]\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
             [[rule]]\nport = 9000\nprotocol = \"udp\"\nzones = [\"v6\"]\n",
        )
        .unwrap();
        let r = Ruleset::compile(&policy).unwrap();
        let said = |proto, a: u16, b: u16| r.published_judgement(proto, ports(a, b)).to_string();
        assert_eq!(said(Proto::Tcp, 8080, 8080), "closed by the policy");
        assert_eq!(said(Proto::Tcp, 8000, 8010), "allowed by the policy");
        assert_eq!(said(Proto::Tcp, 8005, 8020), "partly allowed by the policy");
        assert_eq!(said(Proto::Udp, 8005, 8005), "closed by the policy");
        assert_eq!(
            said(Proto::Udp, 9000, 9000),
            "allowed by the policy",
            "IPv6 only"
        );
        assert_eq!(said(Proto::Tcp, 23, 23), "banned by the policy");
    }

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ports(a: u16, b: u16) -> PortRange {
        PortRange::new(a.into(), b.into()).unwrap()
    }

    fn boxes(wanted: &[(&str, u16, u16)]) -> Vec<(String, String)> {
        let w = wanted
            .iter()
            .map(|(n, a, b)| (net(n), ports(*a, *b)))
            .collect();
        disjoint_boxes(w, Ipv4Net::aggregate, Proto::Tcp)
            .into_iter()
            .map(|a| (a.source.to_string(), a.ports.to_string()))
            .collect()
    }

    #[test]
    fn contained_networks_disappear() {
        assert_eq!(
            boxes(&[("0.0.0.0/0", 22, 22), ("10.0.0.0/8", 22, 22)]),
            [("0.0.0.0/0".into(), "22".into())]
        );
    }

    #[test]
    fn sibling_networks_merge() {
        assert_eq!(
            boxes(&[("10.0.0.0/9", 80, 80), ("10.128.0.0/9", 80, 80)]),
            [("10.0.0.0/8".into(), "80".into())]
        );
    }

    #[test]
    fn overlapping_port_ranges_are_cut_into_disjoint_pieces() {
        let got = boxes(&[("10.0.0.0/8", 8000, 8100), ("192.0.2.0/24", 8080, 8080)]);
        assert_eq!(
            got,
            [
                ("10.0.0.0/8".to_string(), "8000-8079".to_string()),
                ("10.0.0.0/8".into(), "8080".into()),
                ("192.0.2.0/24".into(), "8080".into()),
                ("10.0.0.0/8".into(), "8081-8100".into()),
            ]
        );
    }

    #[test]
    fn adjacent_pieces_with_the_same_sources_join() {
        assert_eq!(
            boxes(&[("10.0.0.0/8", 100, 199), ("10.0.0.0/8", 200, 300)]),
            [("10.0.0.0/8".into(), "100-300".into())]
        );
    }

    #[test]
    fn disjoint_output_never_overlaps() {
        let wanted: Vec<(String, u16, u16)> = (0..200u16)
            .map(|i| {
                (
                    format!("10.{}.0.0/16", i % 7),
                    1000 + (i * 37) % 500,
                    1000 + (i * 37) % 500 + i % 13,
                )
            })
            .collect();
        let w: Vec<(&str, u16, u16)> = wanted
            .iter()
            .map(|(n, a, b)| (n.as_str(), *a, *b))
            .collect();
        let out = disjoint_boxes(
            w.iter().map(|(n, a, b)| (net(n), ports(*a, *b))).collect(),
            Ipv4Net::aggregate,
            Proto::Tcp,
        );
        for (i, x) in out.iter().enumerate() {
            for y in &out[i + 1..] {
                let nets_overlap = x.source.contains(&y.source) || y.source.contains(&x.source);
                assert!(
                    !(nets_overlap && x.ports.overlaps(y.ports)),
                    "{x:?} overlaps {y:?}"
                );
            }
        }
        // And every wanted (network, port) is still allowed.
        for (n, a, b) in &w {
            for p in [*a, *b] {
                let n = net(n);
                assert!(
                    out.iter()
                        .any(|x| x.source.contains(&n) && x.ports.contains(p)),
                    "{n} {p} lost"
                );
            }
        }
    }

    #[test]
    fn two_rules_may_not_limit_the_same_port() {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            "[zones]\nall = [\"0.0.0.0/0\"]\n\
             [[rule]]\nname = \"a\"\nports = [\"8000-8100\"]\nprotocol = \"tcp\"\nzones = [\"all\"]\nlimits = { new_per_second = 5 }\n\
             [[rule]]\nname = \"b\"\nport = 8080\nprotocol = [\"udp\", \"tcp\"]\nzones = [\"all\"]\nlimits = { new_per_second = 9 }\n",
        )
        .unwrap();
        let err = Ruleset::compile(&policy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rules `a` and `b` both set limits on 8080/tcp: a port can have one set of limits (move them to one rule)"
        );
    }

    #[test]
    fn spans_merge_when_they_touch() {
        let merged = merge_spans(
            [
                PortSpan {
                    protocol: Proto::Tcp,
                    ports: ports(512, 513),
                },
                PortSpan {
                    protocol: Proto::Tcp,
                    ports: ports(514, 514),
                },
                PortSpan {
                    protocol: Proto::Udp,
                    ports: ports(514, 514),
                },
            ]
            .into_iter(),
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].ports.to_string(), "512-514");
    }
}

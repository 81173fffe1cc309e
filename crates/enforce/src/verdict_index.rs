//! [`Ruleset::network_verdict`] answered in logarithmic time, for asking it
//! about very many sources at once (`simulate` replays every recorded
//! source against two rulesets).
//!
//! `network_verdict` filters and aggregates the allowances on every call,
//! which is right for the lock-out guard's handful of questions and far too
//! slow for a million. The index does that work once: per family and
//! protocol, the port axis is cut wherever some allowance starts or ends;
//! each piece keeps the aggregated networks allowed on all its ports, sorted.
//! A question is then a table look-up for the piece and a binary search for
//! the network that could contain the source. Bans are a bit per port.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portreeve_core::Proto;

use crate::ruleset::{Allowance, Ruleset};
use crate::verdict::Verdict;

/// A ruleset's verdicts, precomputed: [`VerdictIndex::verdict`] always
/// answers what [`Ruleset::network_verdict`] answers.
#[derive(Clone, Debug)]
pub struct VerdictIndex {
    /// Per protocol ([`Proto::ALL`] order), one bit per banned port.
    banned: Vec<PortBits>,
    /// Per protocol, the IPv4 allowances by port piece.
    v4: Vec<Pieces<Ipv4Net>>,
    /// Per protocol, the IPv6 allowances by port piece.
    v6: Vec<Pieces<Ipv6Net>>,
}

/// One bit per port 0-65535.
#[derive(Clone, Debug)]
struct PortBits(Vec<u64>);

/// The port axis cut into pieces wherever some allowance starts or ends;
/// within a piece the same sources are allowed on every port: the piece's
/// networks, aggregated, so disjoint, and sorted.
///
/// Laid out for a million questions in no particular order: a port finds
/// its piece in one table look-up rather than a binary search, and all the
/// pieces' networks lie in one vector (a piece's are
/// `nets[offsets[i]..offsets[i + 1]]`), so a question touches three
/// places in memory, not twenty.
#[derive(Clone, Debug)]
struct Pieces<N> {
    /// Per port 0-65535, the index of its piece.
    piece: Vec<u32>,
    /// Where each piece's networks start in `nets`, and where the last
    /// one's end.
    offsets: Vec<u32>,
    nets: Vec<N>,
}

impl VerdictIndex {
    /// Indexes `ruleset` (its allowances need not be disjoint).
    pub fn new(ruleset: &Ruleset) -> VerdictIndex {
        VerdictIndex {
            banned: Proto::ALL
                .iter()
                .map(|&p| {
                    let mut bits = PortBits(vec![0; 1024]);
                    for b in ruleset.banned.iter().filter(|b| b.protocol == p) {
                        for port in b.ports.start()..=b.ports.end() {
                            bits.set(port);
                        }
                    }
                    bits
                })
                .collect(),
            v4: Proto::ALL
                .iter()
                .map(|&p| Pieces::new(&ruleset.allowed_v4, p, Ipv4Net::aggregate))
                .collect(),
            v6: Proto::ALL
                .iter()
                .map(|&p| Pieces::new(&ruleset.allowed_v6, p, Ipv6Net::aggregate))
                .collect(),
        }
    }

    /// What happens to new connections from every address of `sources` to
    /// `port`/`proto`: the same as [`Ruleset::network_verdict`].
    pub fn verdict(&self, sources: IpNet, proto: Proto, port: u16) -> Verdict {
        if crate::verdict::arrives_on_loopback(sources) {
            return Verdict::Accepted;
        }
        let p = usize::from(proto == Proto::Udp);
        if self.banned[p].get(port) {
            return Verdict::Banned;
        }
        let accepted = match sources {
            IpNet::V4(n) => self.v4[p].covers(n, port, |a, b| a.contains(b)),
            IpNet::V6(n) => self.v6[p].covers(n, port, |a, b| a.contains(b)),
        };
        if accepted {
            Verdict::Accepted
        } else {
            Verdict::NotAllowed
        }
    }
}

impl PortBits {
    fn set(&mut self, port: u16) {
        self.0[usize::from(port / 64)] |= 1 << (port % 64);
    }

    fn get(&self, port: u16) -> bool {
        self.0[usize::from(port / 64)] & (1 << (port % 64)) != 0
    }
}

impl<N: Copy + Ord + NetStart> Pieces<N> {
    fn new(allowed: &[Allowance<N>], proto: Proto, aggregate: fn(&Vec<N>) -> Vec<N>) -> Pieces<N> {
        let mine: Vec<&Allowance<N>> = allowed.iter().filter(|a| a.protocol == proto).collect();
        let mut starts: Vec<u32> = mine
            .iter()
            .flat_map(|a| [u32::from(a.ports.start()), u32::from(a.ports.end()) + 1])
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let mut members: Vec<Vec<N>> = vec![Vec::new(); starts.len()];
        for a in &mine {
            let first = starts.partition_point(|&s| s < u32::from(a.ports.start()));
            let past = starts.partition_point(|&s| s <= u32::from(a.ports.end()));
            for piece in &mut members[first..past] {
                piece.push(a.source);
            }
        }
        // Piece 0: the ports below the first start, where nothing is allowed.
        let mut offsets = vec![0, 0];
        let mut nets = Vec::new();
        for m in members {
            let mut piece = aggregate(&m);
            piece.sort_by_key(|n| n.start());
            nets.extend(piece);
            offsets.push(u32::try_from(nets.len()).expect("fewer than 2^32 networks"));
        }
        let mut piece = vec![0; 1 << 16];
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(1 << 16, |&e| e.min(1 << 16));
            let index = u32::try_from(i + 1).expect("at most 65537 pieces");
            piece[start as usize..end as usize].fill(index);
        }
        Pieces {
            piece,
            offsets,
            nets,
        }
    }

    /// Whether one network allowed on `port` contains all of `net` (the
    /// aggregation joined those that only cover it together).
    fn covers(&self, net: N, port: u16, contains: fn(&N, &N) -> bool) -> bool {
        let piece = self.piece[usize::from(port)] as usize;
        let nets = &self.nets[self.offsets[piece] as usize..self.offsets[piece + 1] as usize];
        // The networks are disjoint: only the last one starting at or
        // before `net` can contain it.
        let candidates = nets.partition_point(|n| n.start() <= net.start());
        candidates
            .checked_sub(1)
            .is_some_and(|i| contains(&nets[i], &net))
    }
}

/// A network's first address as a number, for ordering disjoint networks.
trait NetStart {
    fn start(&self) -> u128;
}

impl NetStart for Ipv4Net {
    fn start(&self) -> u128 {
        u128::from(u32::from(self.network()))
    }
}

impl NetStart for Ipv6Net {
    fn start(&self) -> u128 {
        u128::from(self.network())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::PortSpan;
    use portreeve_core::PortRange;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A network near 10.0.0.0/24 or 2001:db8::/120 (so that random
    /// networks overlap, nest and abut), now and then a very wide one.
    fn net() -> impl Strategy<Value = IpNet> {
        let v4 = (0u32..512, 20u8..=32).prop_map(|(b, len)| {
            IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + b), len)
                    .unwrap()
                    .trunc(),
            )
        });
        let v6 = (0u128..512, 116u8..=128).prop_map(|(b, len)| {
            let base = u128::from("2001:db8::".parse::<Ipv6Addr>().unwrap());
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base + b), len).unwrap().trunc())
        });
        // Loopback sources and networks, and ones straddling the edge.
        let loopback = prop_oneof![
            (0u32..4, 6u8..=32).prop_map(|(b, len)| IpNet::V4(
                Ipv4Net::new(Ipv4Addr::from(0x7f00_0000 + b), len)
                    .unwrap()
                    .trunc()
            )),
            (126u8..=128)
                .prop_map(|len| IpNet::V6(Ipv6Net::new(Ipv6Addr::LOCALHOST, len).unwrap().trunc())),
        ];
        prop_oneof![
            6 => v4,
            6 => v6,
            1 => loopback,
            1 => (0u8..=8).prop_map(|len| IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, len).unwrap().trunc())),
            1 => (0u8..=8).prop_map(|len| IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, len).unwrap().trunc())),
        ]
    }

    fn proto() -> impl Strategy<Value = Proto> {
        prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]
    }

    /// A port range among the first few dozen ports, or every port.
    fn ports() -> impl Strategy<Value = PortRange> {
        prop_oneof![
            20 => (1u16..40, 0u16..6).prop_map(|(a, span)| PortRange::new(a.into(), (a + span).into()).unwrap()),
            1 => Just(PortRange::new(1, 65535).unwrap()),
        ]
    }

    /// Any ruleset: overlapping allowances of both families, bans.
    fn ruleset() -> impl Strategy<Value = Ruleset> {
        let allowance = (net(), proto(), ports());
        let ban = (proto(), ports()).prop_map(|(protocol, ports)| PortSpan { protocol, ports });
        (
            prop::collection::vec(allowance, 0..24),
            prop::collection::vec(ban, 0..3),
        )
            .prop_map(|(allowances, banned)| {
                let mut r = Ruleset::compile(&portreeve_policy::baseline()).unwrap();
                r.allowed_v4.clear();
                r.allowed_v6.clear();
                for (source, protocol, ports) in allowances {
                    match source {
                        IpNet::V4(source) => r.allowed_v4.push(Allowance {
                            source,
                            protocol,
                            ports,
                        }),
                        IpNet::V6(source) => r.allowed_v6.push(Allowance {
                            source,
                            protocol,
                            ports,
                        }),
                    }
                }
                r.banned = banned;
                r
            })
    }

    fn question() -> impl Strategy<Value = (IpNet, Proto, u16)> {
        (
            net(),
            proto(),
            prop_oneof![5 => 0u16..48, 1 => any::<u16>()],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// The index agrees with the lock-out guard's evaluation on random
        /// rulesets, sources (addresses and networks) and ports.
        #[test]
        fn agrees_with_network_verdict(
            ruleset in ruleset(),
            questions in prop::collection::vec(question(), 1..64),
        ) {
            let index = VerdictIndex::new(&ruleset);
            for (source, proto, port) in questions {
                prop_assert_eq!(
                    index.verdict(source, proto, port),
                    ruleset.network_verdict(source, proto, port),
                    "{} {}/{}", source, port, proto
                );
            }
        }

        /// The same on rulesets compiled from policies, with the boundaries
        /// of their disjoint boxes asked about.
        #[test]
        fn agrees_on_compiled_policies(
            rules in prop::collection::vec((net(), proto(), 1u16..40, 0u16..6), 1..8),
            questions in prop::collection::vec(question(), 1..32),
        ) {
            // Without the built-in bans, which the random ports would hit.
            let mut toml = String::from("[banned]\ninclude_defaults = false\n[zones]\n");
            for (i, (n, ..)) in rules.iter().enumerate() {
                toml.push_str(&format!("z{i} = [\"{n}\"]\n"));
            }
            for (i, (_, p, port, span)) in rules.iter().enumerate() {
                toml.push_str(&format!(
                    "[[rule]]\nname = \"r{i}\"\nport = \"{port}-{}\"\nprotocol = \"{p}\"\nzones = [\"z{i}\"]\n",
                    port + span
                ));
            }
            let policy = portreeve_policy::parse_policy("p.toml", &toml).unwrap();
            let ruleset = Ruleset::compile(&policy).unwrap();
            let index = VerdictIndex::new(&ruleset);
            let edges = ruleset.allowed_v4.iter().map(|a| (IpNet::V4(a.source), a.protocol, a.ports))
                .chain(ruleset.allowed_v6.iter().map(|a| (IpNet::V6(a.source), a.protocol, a.ports)))
                .flat_map(|(n, p, r)| [(n, p, r.start() - 1), (n, p, r.start()), (n, p, r.end()), (n, p, r.end().saturating_add(1))]);
            for (source, proto, port) in questions.into_iter().chain(edges) {
                prop_assert_eq!(
                    index.verdict(source, proto, port),
                    ruleset.network_verdict(source, proto, port),
                    "{} {}/{}\n{}", source, port, proto, toml
                );
            }
        }
    }
}

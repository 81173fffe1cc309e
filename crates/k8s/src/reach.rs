//! Every allowed connection: pod to pod, outside address class to pod, and
//! pod to outside address class, each with its protocol and port ranges.
//!
//! A connection between two pods needs the source's egress and the
//! destination's ingress; a pod always reaches itself. Outside addresses
//! are split into the classes the ipBlocks in play tell apart (see
//! [`partition`]), each written as the fewest CIDR blocks.

use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::analysis::{Analysis, Party};
use crate::cidr::{self, Family};
use crate::model::{Cluster, Direction, Protocol};
use crate::ports::ProtocolPorts;

pub mod json;

/// One end of a reported connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A pod, `namespace/name` (shared: a pod is in many records).
    Pod(Arc<str>),
    /// Addresses outside the cluster's pods.
    Cidr(IpNet),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod(id) => f.write_str(id),
            Endpoint::Cidr(net) => write!(f, "{net}"),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Connections from `from` to `to` on `protocol` allowed on `ports`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Record {
    /// The source.
    pub from: Endpoint,
    /// The destination.
    pub to: Endpoint,
    /// The protocol.
    pub protocol: Protocol,
    /// Allowed destination ports as inclusive `[first, last]` ranges, ascending.
    pub ports: Vec<[u16; 2]>,
}

/// Every allowed connection in `cluster`, sorted by source, destination and
/// protocol (pods before address blocks, IPv4 before IPv6). Records are
/// made in that order, so nothing is sorted afterwards.
pub fn reach(cluster: &Cluster) -> Vec<Record> {
    let mut records = Vec::new();
    reach_with(cluster, |c| records.push(c.to_record()));
    debug_assert!(records.is_sorted());
    records
}

/// One allowed connection as [`reach_with`] hands it over: borrowed, so
/// that listing millions of them allocates nothing per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// The source.
    pub from: &'a Endpoint,
    /// The destination.
    pub to: &'a Endpoint,
    /// The protocol.
    pub protocol: Protocol,
    /// Allowed destination ports as inclusive ranges, ascending; never empty.
    pub ports: &'a [(u16, u16)],
}

impl Connection<'_> {
    /// The same connection as an owned [`Record`].
    pub fn to_record(&self) -> Record {
        Record {
            from: self.from.clone(),
            to: self.to.clone(),
            protocol: self.protocol,
            ports: self.ports.iter().map(|&(a, b)| [a, b]).collect(),
        }
    }
}

/// Calls `visit` with every allowed connection in `cluster`, in the order
/// [`reach`] lists them, keeping none: what a writer streaming millions of
/// connections uses.
pub fn reach_with(cluster: &Cluster, mut visit: impl FnMut(Connection<'_>)) {
    let walk = Walk::new(cluster);
    let pods: Vec<Endpoint> = cluster
        .pods
        .iter()
        .map(|p| Endpoint::Pod(p.id().into()))
        .collect();
    let blocks: Vec<Endpoint> = walk.blocks.iter().map(|&net| Endpoint::Cidr(net)).collect();
    let endpoint = |end: End| match end {
        End::Pod(i) => &pods[i],
        End::Block(i) => &blocks[i],
    };
    walk.each(|from, to, ports| {
        for protocol in Protocol::ALL {
            let set = ports.of(protocol);
            if !set.is_empty() {
                visit(Connection {
                    from: endpoint(from),
                    to: endpoint(to),
                    protocol,
                    ports: set.ranges(),
                });
            }
        }
    });
}

/// One end of a connection as [`Walk::each`] names it.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The pod at this index of `Cluster::pods`.
    Pod(usize),
    /// The outside block at this index of [`Walk::blocks`].
    Block(usize),
}

/// The cluster compiled and its outside split into classes, ready to be
/// walked connection by connection.
struct Walk<'c> {
    analysis: Analysis<'c>,
    /// Classes of outside addresses pods may open (egress).
    outbound: Vec<AddressClass>,
    /// Classes of outside addresses that may open pods (ingress).
    inbound: Vec<AddressClass>,
    /// Every block of `outbound`'s classes, then every block of `inbound`'s:
    /// what [`End::Block`] indexes, so that each is formatted only once.
    blocks: Vec<IpNet>,
}

impl<'c> Walk<'c> {
    fn new(cluster: &'c Cluster) -> Walk<'c> {
        let analysis = Analysis::new(cluster);
        let outbound = partition(&analysis, Direction::Egress);
        let inbound = partition(&analysis, Direction::Ingress);
        let blocks = outbound
            .iter()
            .chain(&inbound)
            .flat_map(|class| class.nets.iter().copied())
            .collect();
        Walk {
            analysis,
            outbound,
            inbound,
            blocks,
        }
    }

    /// Calls `visit` with every (source, destination) and the ports allowed
    /// between them (perhaps none), in [`reach`]'s order.
    fn each(&self, mut visit: impl FnMut(End, End, &ProtocolPorts)) {
        let pods = self.analysis.cluster.pods.len();
        let outbound_blocks: usize = self.outbound.iter().map(|c| c.nets.len()).sum();
        let mut pair = PairPorts::default();
        for src in 0..pods {
            for dst in 0..pods {
                let ports = if src == dst {
                    self.analysis.everything()
                } else {
                    pair.between(&self.analysis, src, dst)
                };
                visit(End::Pod(src), End::Pod(dst), ports);
            }
            let mut block = 0;
            for class in &self.outbound {
                for _ in &class.nets {
                    visit(End::Pod(src), End::Block(block), &class.reach[src]);
                    block += 1;
                }
            }
        }
        let mut block = outbound_blocks;
        for class in &self.inbound {
            for _ in &class.nets {
                for dst in 0..pods {
                    visit(End::Block(block), End::Pod(dst), &class.reach[dst]);
                }
                block += 1;
            }
        }
    }
}

/// Scratch sets for the ports one pod may open on another, reused from
/// pair to pair: a million pairs then allocate nothing.
#[derive(Default)]
struct PairPorts {
    egress: ProtocolPorts,
    ingress: ProtocolPorts,
    both: ProtocolPorts,
}

impl PairPorts {
    /// What the source's egress and the destination's ingress both allow.
    /// The ingress side first: it is the one that denies most pairs.
    fn between<'a>(
        &'a mut self,
        analysis: &'a Analysis<'_>,
        src: usize,
        dst: usize,
    ) -> &'a ProtocolPorts {
        let ingress = analysis
            .allowed_into(Direction::Ingress, dst, Party::Pod(src), &mut self.ingress)
            .unwrap_or(&self.ingress);
        if ingress.is_empty() {
            return ingress;
        }
        let egress = analysis
            .allowed_into(Direction::Egress, src, Party::Pod(dst), &mut self.egress)
            .unwrap_or(&self.egress);
        if egress.is_all() {
            ingress
        } else if ingress.is_all() {
            egress
        } else {
            ingress.intersect_into(egress, &mut self.both);
            &self.both
        }
    }
}

/// Outside addresses that every pod treats alike in one direction.
#[derive(Debug)]
pub struct AddressClass {
    /// The class, as the fewest CIDR blocks, ascending.
    pub nets: Vec<IpNet>,
    /// Per pod: what the class may open on it (ingress), or what the pod
    /// may open on the class (egress).
    pub reach: Vec<ProtocolPorts>,
}

/// The outside address space split at every ipBlock boundary into atoms
/// (ranges no block or except cuts), adjacent atoms that every pod treats
/// alike merged into one class; classes ascend, IPv4 before IPv6.
///
/// What a pod's side allows an address depends only on which of its rules
/// admit the address, so from one atom to the next only the pods with a
/// rule whose blocks begin or end there are asked again.
pub fn partition(analysis: &Analysis<'_>, direction: Direction) -> Vec<AddressClass> {
    let pods = analysis.cluster.pods.len();
    // The rules of this direction that govern some pod, and those pods.
    let mut governed: Vec<Vec<usize>> = vec![Vec::new(); analysis.rules.len()];
    for pod in 0..pods {
        for &r in &analysis.side(direction, pod).rules {
            governed[r].push(pod);
        }
    }
    let rules: Vec<usize> = (0..governed.len())
        .filter(|&r| !governed[r].is_empty())
        .collect();
    let cuts = analysis.block_cuts();
    let mut classes = Vec::new();
    for family in Family::ALL {
        let mut starts: Vec<u128> = cuts
            .iter()
            .filter(|(f, _)| *f == family)
            .map(|&(_, a)| a)
            .chain(std::iter::once(0))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        let admits = |r: usize, first: u128| {
            analysis.rule_admits(&analysis.rules[r], Party::Address(family, first))
        };
        let ask = |pod: usize, first: u128| {
            analysis
                .allowed(direction, pod, Party::Address(family, first))
                .into_owned()
        };
        // The class being grown (first and last address, reach), and
        // which of `rules` admit its last atom.
        let mut start = 0;
        let mut end = 0;
        let mut reach: Vec<ProtocolPorts> = (0..pods).map(|p| ask(p, 0)).collect();
        let mut admitted: Vec<bool> = rules.iter().map(|&r| admits(r, 0)).collect();
        let mut asked = vec![false; pods];
        for (i, &first) in starts.iter().enumerate() {
            let last = starts.get(i + 1).map_or(family.max(), |next| next - 1);
            // The pods with a rule that admits this atom and not the last, or
            // the other way round, and what they now allow.
            let mut changed: Vec<(usize, ProtocolPorts)> = Vec::new();
            for (k, &r) in rules.iter().enumerate() {
                let now = admits(r, first);
                if now == admitted[k] {
                    continue;
                }
                admitted[k] = now;
                for &pod in &governed[r] {
                    if !asked[pod] {
                        asked[pod] = true;
                        let ports = ask(pod, first);
                        if ports != reach[pod] {
                            changed.push((pod, ports));
                        }
                    }
                }
            }
            asked.fill(false);
            if i > 0 && !changed.is_empty() {
                let mut next = reach.clone();
                for (pod, ports) in changed {
                    next[pod] = ports;
                }
                classes.push(AddressClass {
                    nets: cidr::cover(family, start, end),
                    reach: std::mem::replace(&mut reach, next),
                });
                start = first;
            }
            end = last;
        }
        classes.push(AddressClass {
            nets: cidr::cover(family, start, end),
            reach,
        });
    }
    classes
}

//! Every allowed connection: pod to pod, outside address class to pod, and
//! pod to outside address class, each with its protocol and port ranges.
//!
//! A connection between two pods needs the source's egress and the
//! destination's ingress; a pod always reaches itself. Outside addresses
//! are split into the classes the ipBlocks in play tell apart (see
//! [`partition`]), each written as the fewest CIDR blocks.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

use crate::analysis::{Analysis, Party};
use crate::cidr::{self, Family};
use crate::model::{Cluster, Direction, Protocol};
use crate::ports::ProtocolPorts;

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
    let analysis = Analysis::new(cluster);
    let ids: Vec<Endpoint> = cluster
        .pods
        .iter()
        .map(|p| Endpoint::Pod(p.id().into()))
        .collect();
    let inbound = partition(&analysis, Direction::Ingress);
    let outbound = partition(&analysis, Direction::Egress);
    let mut records = Vec::new();
    for (src, from) in ids.iter().enumerate() {
        for (dst, to) in ids.iter().enumerate() {
            let ports = if src == dst {
                Cow::Borrowed(analysis.everything())
            } else {
                both(
                    analysis.allowed(Direction::Egress, src, Party::Pod(dst)),
                    analysis.allowed(Direction::Ingress, dst, Party::Pod(src)),
                )
            };
            push(&mut records, from, to, &ports);
        }
        for class in &outbound {
            for net in &class.nets {
                push(&mut records, from, &Endpoint::Cidr(*net), &class.reach[src]);
            }
        }
    }
    for class in &inbound {
        for net in &class.nets {
            for (dst, to) in ids.iter().enumerate() {
                push(&mut records, &Endpoint::Cidr(*net), to, &class.reach[dst]);
            }
        }
    }
    debug_assert!(records.is_sorted());
    records
}

/// The ports both sides allow, without copying when one side allows all.
fn both<'a>(a: Cow<'a, ProtocolPorts>, b: Cow<'a, ProtocolPorts>) -> Cow<'a, ProtocolPorts> {
    if a.is_all() {
        b
    } else if b.is_all() {
        a
    } else {
        Cow::Owned(a.intersection(&b))
    }
}

/// One record per protocol with ports.
fn push(records: &mut Vec<Record>, from: &Endpoint, to: &Endpoint, ports: &ProtocolPorts) {
    for protocol in Protocol::ALL {
        let set = ports.of(protocol);
        if !set.is_empty() {
            records.push(Record {
                from: from.clone(),
                to: to.clone(),
                protocol,
                ports: set.ranges().iter().map(|&(a, b)| [a, b]).collect(),
            });
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
/// Atoms inside the same blocks are treated alike without asking each pod;
/// only where the blocks differ are the pods' answers compared.
pub fn partition(analysis: &Analysis<'_>, direction: Direction) -> Vec<AddressClass> {
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
        // The class being grown: first and last address, the blocks its
        // last atom is in, and its reach.
        let mut current: Option<(u128, u128, Vec<usize>, Vec<ProtocolPorts>)> = None;
        for (i, &first) in starts.iter().enumerate() {
            let last = starts.get(i + 1).map_or(family.max(), |next| next - 1);
            let blocks = analysis.blocks_holding(family, first);
            if let Some((_, end, seen_blocks, _)) = &mut current
                && *seen_blocks == blocks
            {
                *end = last;
                continue;
            }
            let reach: Vec<ProtocolPorts> = (0..analysis.cluster.pods.len())
                .map(|p| {
                    analysis
                        .allowed(direction, p, Party::Address(family, first))
                        .into_owned()
                })
                .collect();
            current = match current {
                Some((start, _, _, seen)) if seen == reach => Some((start, last, blocks, reach)),
                Some((start, end, _, seen)) => {
                    classes.push(AddressClass {
                        nets: cidr::cover(family, start, end),
                        reach: seen,
                    });
                    Some((first, last, blocks, reach))
                }
                None => Some((first, last, blocks, reach)),
            };
        }
        if let Some((start, end, _, reach)) = current {
            classes.push(AddressClass {
                nets: cidr::cover(family, start, end),
                reach,
            });
        }
    }
    classes
}

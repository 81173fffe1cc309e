//! Two analyzers' facts compared on every (source, destination, protocol,
//! port) of a universe that makes the comparison exact.
//!
//! Outside addresses are split into classes at every boundary either side
//! draws (the start of every range and the address after its end); within
//! a class both answers are constant, so each class is one party. Ports
//! are the fixed [`COMMON_PORTS`] plus every range bound either side
//! names, with its neighbours: two sets of ranges that differ anywhere
//! differ at one of those.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{AddressRange, FIRST_PORT, Fact, PROTOCOLS, Party};

/// Ports always compared, whatever the case names.
pub const COMMON_PORTS: [u16; 6] = [1, 22, 80, 443, 5432, 65535];

/// A tuple on which the two answers differ.
#[derive(Debug)]
pub struct Difference {
    /// The source.
    pub from: Party,
    /// The destination.
    pub to: Party,
    /// The protocol.
    pub protocol: &'static str,
    /// Universe ports the first answer allows and the second does not.
    pub only_first: Vec<u16>,
    /// Universe ports the second answer allows and the first does not.
    pub only_second: Vec<u16>,
}

/// What comparing one case found.
pub struct Outcome {
    /// How many (source, destination, protocol, port) tuples were compared.
    pub tuples: usize,
    /// Where the answers differ, by source, destination and protocol.
    pub differences: Vec<Difference>,
}

/// Compares the answers `first` and `second` (say NCA's and portreeve's)
/// over `pods` (and every pod either side names) and the outside address
/// classes. A pod's connections to itself are left out: NCA does not list
/// them (nca_agreement checks them on portreeve's side alone).
pub fn compare(pods: &[String], first: &[Fact], second: &[Fact]) -> Outcome {
    let all: Vec<&Fact> = first.iter().chain(second).collect();
    let mut pod_parties: BTreeSet<Party> = pods.iter().cloned().map(Party::Pod).collect();
    for fact in &all {
        for party in [&fact.from, &fact.to] {
            if let Party::Pod(_) = party {
                pod_parties.insert(party.clone());
            }
        }
    }
    let classes = address_classes(&all);
    let ports = port_universe(&all);

    let mut pairs: Vec<(Party, Party)> = Vec::new();
    for a in &pod_parties {
        for b in &pod_parties {
            if a != b {
                pairs.push((a.clone(), b.clone()));
            }
        }
        for class in &classes {
            pairs.push((class.clone(), a.clone()));
            pairs.push((a.clone(), class.clone()));
        }
    }

    let mut tuples = 0;
    let mut differences = Vec::new();
    for (from, to) in pairs {
        let first = about(first, &from, &to);
        let second = about(second, &from, &to);
        for protocol in PROTOCOLS {
            let allows = |facts: &[&Fact], port: u16| {
                facts.iter().any(|f| f.allows(&from, &to, protocol, port))
            };
            let mut only_first = Vec::new();
            let mut only_second = Vec::new();
            for &port in &ports {
                tuples += 1;
                match (allows(&first, port), allows(&second, port)) {
                    (true, false) => only_first.push(port),
                    (false, true) => only_second.push(port),
                    _ => {}
                }
            }
            if !only_first.is_empty() || !only_second.is_empty() {
                differences.push(Difference {
                    from: from.clone(),
                    to: to.clone(),
                    protocol,
                    only_first,
                    only_second,
                });
            }
        }
    }
    Outcome {
        tuples,
        differences,
    }
}

/// The facts whose parties include `from` and `to`.
fn about<'a>(facts: &'a [Fact], from: &Party, to: &Party) -> Vec<&'a Fact> {
    facts
        .iter()
        .filter(|f| f.from.covers(from) && f.to.covers(to))
        .collect()
}

/// The classes of outside addresses neither answer tells apart, per
/// family, each as the range it spans.
fn address_classes(facts: &[&Fact]) -> Vec<Party> {
    let mut starts: BTreeMap<u8, BTreeSet<u128>> = BTreeMap::new();
    for family in [4, 6] {
        starts.entry(family).or_default().insert(0);
    }
    for fact in facts {
        for party in [&fact.from, &fact.to] {
            if let Party::Outside(range) = party {
                let family = starts.entry(range.family).or_default();
                family.insert(range.first);
                if range.last < AddressRange::family_last(range.family) {
                    family.insert(range.last + 1);
                }
            }
        }
    }
    let mut classes = Vec::new();
    for (family, starts) in starts {
        let starts: Vec<u128> = starts.into_iter().collect();
        for (i, &first) in starts.iter().enumerate() {
            let last = starts
                .get(i + 1)
                .map_or(AddressRange::family_last(family), |next| next - 1);
            classes.push(Party::Outside(AddressRange {
                family,
                first,
                last,
            }));
        }
    }
    classes
}

fn port_universe(facts: &[&Fact]) -> Vec<u16> {
    let mut ports: BTreeSet<u16> = COMMON_PORTS.into_iter().collect();
    for fact in facts {
        for &(first, last) in &fact.ports {
            for port in [
                first.checked_sub(1),
                Some(first),
                Some(last),
                last.checked_add(1),
            ]
            .into_iter()
            .flatten()
            {
                if port >= FIRST_PORT {
                    ports.insert(port);
                }
            }
        }
    }
    ports.into_iter().collect()
}

//! Sets of ports as sorted, disjoint, non-adjacent inclusive ranges: what a
//! rule allows is a few ranges, never 65,536 booleans, so unions and
//! intersections cost as much as the ranges involved.

use crate::model::Protocol;

/// A set of ports.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl Clone for PortSet {
    fn clone(&self) -> PortSet {
        PortSet {
            ranges: self.ranges.clone(),
        }
    }

    /// Reuses this set's buffer (the derived one would allocate anew).
    fn clone_from(&mut self, source: &PortSet) {
        self.ranges.clone_from(&source.ranges);
    }
}

impl PortSet {
    /// No port.
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    /// Every port, 1 to 65535: port 0 is reserved in TCP, UDP and SCTP
    /// alike, and Kubernetes refuses it in a NetworkPolicy.
    pub fn all() -> PortSet {
        PortSet::range(1, u16::MAX)
    }

    /// The ports `first..=last` (empty when `last < first`).
    pub fn range(first: u16, last: u16) -> PortSet {
        let ranges = if first <= last {
            vec![(first, last)]
        } else {
            Vec::new()
        };
        PortSet { ranges }
    }

    /// Whether it has no port.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether it has `port`.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// Its ranges, ascending.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Adds `other`'s ports.
    pub fn union_with(&mut self, other: &PortSet) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            // Reuses this set's buffer: scratch sets in hot loops stay put.
            self.ranges.clone_from(&other.ranges);
            return;
        }
        let mut all: Vec<(u16, u16)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        all.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.ranges = merged;
    }

    /// The ports in both.
    pub fn intersection(&self, other: &PortSet) -> PortSet {
        let mut both = PortSet::empty();
        self.intersect_into(other, &mut both);
        both
    }

    /// Makes `out` the ports in both, reusing its buffer.
    pub fn intersect_into(&self, other: &PortSet, out: &mut PortSet) {
        out.ranges.clear();
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a1, b1) = self.ranges[i];
            let (a2, b2) = other.ranges[j];
            let (a, b) = (a1.max(a2), b1.min(b2));
            if a <= b {
                out.ranges.push((a, b));
            }
            if b1 < b2 { i += 1 } else { j += 1 }
        }
    }
}

/// A port set per protocol, indexed by [`Protocol::index`].
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct ProtocolPorts(pub [PortSet; 3]);

impl Clone for ProtocolPorts {
    fn clone(&self) -> ProtocolPorts {
        ProtocolPorts(self.0.clone())
    }

    /// Reuses the sets' buffers.
    fn clone_from(&mut self, source: &ProtocolPorts) {
        self.0.clone_from(&source.0);
    }
}

impl ProtocolPorts {
    /// Every port of every protocol.
    pub fn all() -> ProtocolPorts {
        ProtocolPorts([PortSet::all(), PortSet::all(), PortSet::all()])
    }

    /// The ports of `protocol`.
    pub fn of(&self, protocol: Protocol) -> &PortSet {
        &self.0[protocol.index()]
    }

    /// The ports of `protocol`, to change.
    pub fn of_mut(&mut self, protocol: Protocol) -> &mut PortSet {
        &mut self.0[protocol.index()]
    }

    /// Whether every protocol has every port.
    pub fn is_all(&self) -> bool {
        self.0.iter().all(|s| s.ranges == [(1, u16::MAX)])
    }

    /// Whether no protocol has a port.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(PortSet::is_empty)
    }

    /// Adds `other`'s ports, protocol by protocol.
    pub fn union_with(&mut self, other: &ProtocolPorts) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            mine.union_with(theirs);
        }
    }

    /// The ports in both, protocol by protocol.
    pub fn intersection(&self, other: &ProtocolPorts) -> ProtocolPorts {
        let mut both = ProtocolPorts::default();
        self.intersect_into(other, &mut both);
        both
    }

    /// Makes `out` the ports in both, protocol by protocol, reusing its buffers.
    pub fn intersect_into(&self, other: &ProtocolPorts, out: &mut ProtocolPorts) {
        for ((mine, theirs), both) in self.0.iter().zip(&other.0).zip(&mut out.0) {
            mine.intersect_into(theirs, both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u16, u16)]) -> PortSet {
        let mut s = PortSet::empty();
        for &(a, b) in ranges {
            s.union_with(&PortSet::range(a, b));
        }
        s
    }

    #[test]
    fn union_merges_overlapping_and_adjacent_ranges() {
        let s = set(&[(80, 80), (81, 90), (100, 200), (150, 300), (65535, 65535)]);
        assert_eq!(s.ranges(), &[(80, 90), (100, 300), (65535, 65535)]);
    }

    #[test]
    fn intersection_keeps_only_common_ports() {
        let a = set(&[(1, 100), (200, 300)]);
        let b = set(&[(50, 250), (300, 400)]);
        assert_eq!(
            a.intersection(&b).ranges(),
            &[(50, 100), (200, 250), (300, 300)]
        );
        assert!(a.intersection(&PortSet::empty()).is_empty());
        assert_eq!(PortSet::all().intersection(&a), a);
    }

    #[test]
    fn a_reversed_range_is_empty() {
        assert!(PortSet::range(10, 9).is_empty());
        assert!(set(&[(0, 65535)]).contains(65535));
    }
}

//! The policies compiled against the cluster's pods: for every pod and
//! direction, the policies that isolate it and the rules that apply to it,
//! each rule's peers as a set of pod indexes plus address blocks, and its
//! ports as port sets. Reachability and explanations both ask this.

use std::borrow::Cow;

use crate::model::{Cluster, Direction, Peer, Pod, PolicyPort, PortRef, Protocol};
use crate::ports::{PortSet, ProtocolPorts};
use crate::selector::LabelSelector;

/// One end of a connection as the analysis sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The pod at this index of `Cluster::pods`.
    Pod(usize),
    /// An address outside the cluster's pods (as a family and integer).
    Address(crate::cidr::Family, u128),
}

/// A rule with its peers and ports resolved as far as the source allows.
#[derive(Debug)]
pub struct CompiledRule {
    /// Index of its policy in `Cluster::policies`.
    pub policy: usize,
    /// Ingress or egress.
    pub direction: Direction,
    /// Its index among the policy's rules of that direction.
    pub index: usize,
    peers: Peers,
    ports: RulePorts,
}

#[derive(Debug)]
enum Peers {
    /// No `from`/`to`: every pod and every address.
    Everyone,
    /// The pods with these indexes, and the addresses in these blocks.
    Some { pods: Bitset, blocks: Vec<Block> },
}

/// An ipBlock as integer ranges: `first..=last` less the `except` ranges.
#[derive(Debug)]
struct Block {
    family: crate::cidr::Family,
    first: u128,
    last: u128,
    except: Vec<(u128, u128)>,
}

impl Block {
    fn contains(&self, family: crate::cidr::Family, addr: u128) -> bool {
        family == self.family
            && (self.first..=self.last).contains(&addr)
            && !self.except.iter().any(|&(a, b)| (a..=b).contains(&addr))
    }
}

/// A rule's ports: numbers and ranges already as sets; names resolved
/// against the destination pod when asked.
#[derive(Debug)]
struct RulePorts {
    numeric: ProtocolPorts,
    named: Vec<(Protocol, String)>,
}

impl RulePorts {
    fn of(ports: Option<&[PolicyPort]>) -> RulePorts {
        let Some(ports) = ports else {
            return RulePorts {
                numeric: ProtocolPorts::all(),
                named: Vec::new(),
            };
        };
        let mut numeric = ProtocolPorts::default();
        let mut named = Vec::new();
        for p in ports {
            let set = match (&p.port, p.end_port) {
                (None, _) => PortSet::all(),
                (Some(PortRef::Number(n)), end) => PortSet::range(*n, end.unwrap_or(*n)),
                (Some(PortRef::Name(name)), _) => {
                    named.push((p.protocol, name.clone()));
                    continue;
                }
            };
            numeric.of_mut(p.protocol).union_with(&set);
        }
        RulePorts { numeric, named }
    }

    /// The ports allowed to `destination`: named ports resolve to that
    /// pod's container ports of the same name and protocol, and to nothing
    /// for an address outside the cluster. Borrowed when there are no names.
    fn resolve(&self, destination: Option<&Pod>) -> Cow<'_, ProtocolPorts> {
        if self.named.is_empty() {
            return Cow::Borrowed(&self.numeric);
        }
        let mut ports = self.numeric.clone();
        if let Some(pod) = destination {
            for (protocol, name) in &self.named {
                for c in &pod.ports {
                    if c.protocol == *protocol && c.name.as_deref() == Some(name.as_str()) {
                        ports
                            .of_mut(*protocol)
                            .union_with(&PortSet::range(c.port, c.port));
                    }
                }
            }
        }
        Cow::Owned(ports)
    }
}

/// A fixed-size set of pod indexes.
#[derive(Debug, Clone)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(size: usize) -> Bitset {
        Bitset(vec![0; size.div_ceil(64)])
    }
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// What governs one pod in one direction.
#[derive(Debug, Default)]
pub struct Side {
    /// Policies selecting the pod with this direction in `policyTypes`
    /// (indexes into `Cluster::policies`); none: the pod is not isolated.
    pub isolating: Vec<usize>,
    /// Indexes into `Analysis::rules` of those policies' rules.
    pub rules: Vec<usize>,
    /// For ingress, each of `rules`' ports with names resolved against this
    /// pod (`None`: the rule names no port), computed once.
    resolved: Vec<Option<ProtocolPorts>>,
}

/// The compiled cluster.
#[derive(Debug)]
pub struct Analysis<'c> {
    /// The cluster analysed.
    pub cluster: &'c Cluster,
    /// Every rule of every policy.
    pub rules: Vec<CompiledRule>,
    /// Per pod: its ingress side.
    pub ingress: Vec<Side>,
    /// Per pod: its egress side.
    pub egress: Vec<Side>,
    /// Every port of every protocol, lent out for sides no policy isolates.
    all: ProtocolPorts,
    /// No port, lent out for isolated sides no rule opens to a peer.
    none: ProtocolPorts,
}

impl<'c> Analysis<'c> {
    /// Compiles `cluster`'s policies.
    pub fn new(cluster: &'c Cluster) -> Analysis<'c> {
        let n = cluster.pods.len();
        let mut analysis = Analysis {
            cluster,
            rules: Vec::new(),
            ingress: (0..n).map(|_| Side::default()).collect(),
            egress: (0..n).map(|_| Side::default()).collect(),
            all: ProtocolPorts::all(),
            none: ProtocolPorts::default(),
        };
        for (p, policy) in cluster.policies.iter().enumerate() {
            let selected: Vec<usize> = cluster
                .pods
                .iter()
                .enumerate()
                .filter(|(_, pod)| {
                    pod.namespace == policy.namespace && policy.pod_selector.matches(&pod.labels)
                })
                .map(|(i, _)| i)
                .collect();
            for &direction in &policy.policy_types {
                let first_rule = analysis.rules.len();
                for (index, rule) in policy.rules(direction).iter().enumerate() {
                    analysis.rules.push(CompiledRule {
                        policy: p,
                        direction,
                        index,
                        peers: analysis.peers(&policy.namespace, rule.peers.as_deref()),
                        ports: RulePorts::of(rule.ports.as_deref()),
                    });
                }
                for &pod in &selected {
                    for r in first_rule..analysis.rules.len() {
                        let resolved = match (direction, &analysis.rules[r].ports) {
                            (Direction::Ingress, ports) if !ports.named.is_empty() => {
                                Some(ports.resolve(Some(&cluster.pods[pod])).into_owned())
                            }
                            _ => None,
                        };
                        let side = analysis.side_mut(direction, pod);
                        side.rules.push(r);
                        side.resolved.push(resolved);
                    }
                    analysis.side_mut(direction, pod).isolating.push(p);
                }
            }
        }
        analysis
    }

    fn side_mut(&mut self, direction: Direction, pod: usize) -> &mut Side {
        match direction {
            Direction::Ingress => &mut self.ingress[pod],
            Direction::Egress => &mut self.egress[pod],
        }
    }

    /// The side of `pod` for `direction`.
    pub fn side(&self, direction: Direction, pod: usize) -> &Side {
        match direction {
            Direction::Ingress => &self.ingress[pod],
            Direction::Egress => &self.egress[pod],
        }
    }

    fn peers(&self, policy_namespace: &str, peers: Option<&[Peer]>) -> Peers {
        let Some(peers) = peers else {
            return Peers::Everyone;
        };
        let mut pods = Bitset::new(self.cluster.pods.len());
        let mut blocks = Vec::new();
        for peer in peers {
            match peer {
                Peer::Pods {
                    namespaces,
                    pods: selector,
                } => {
                    for (i, pod) in self.cluster.pods.iter().enumerate() {
                        if self.namespace_matches(
                            policy_namespace,
                            namespaces.as_ref(),
                            &pod.namespace,
                        ) && selector.matches(&pod.labels)
                        {
                            pods.insert(i);
                        }
                    }
                }
                Peer::IpBlock { cidr, except } => {
                    let (family, first, last) = crate::cidr::bounds(cidr);
                    let except = except
                        .iter()
                        .map(|e| {
                            let (_, a, b) = crate::cidr::bounds(e);
                            (a, b)
                        })
                        .collect();
                    blocks.push(Block {
                        family,
                        first,
                        last,
                        except,
                    });
                }
            }
        }
        Peers::Some { pods, blocks }
    }

    /// Whether a peer's namespace part admits a pod in `namespace`: the
    /// policy's own namespace without a selector, else the selected ones.
    fn namespace_matches(
        &self,
        policy_namespace: &str,
        selector: Option<&LabelSelector>,
        namespace: &str,
    ) -> bool {
        match selector {
            None => namespace == policy_namespace,
            Some(s) => self
                .cluster
                .namespaces
                .get(namespace)
                .is_some_and(|labels| s.matches(labels)),
        }
    }

    /// Every port of every protocol.
    pub fn everything(&self) -> &ProtocolPorts {
        &self.all
    }

    /// Whether `rule`'s peers include `party`.
    pub fn rule_admits(&self, rule: &CompiledRule, party: Party) -> bool {
        match (&rule.peers, party) {
            (Peers::Everyone, _) => true,
            (Peers::Some { pods, .. }, Party::Pod(i)) => pods.contains(i),
            (Peers::Some { blocks, .. }, Party::Address(family, addr)) => {
                blocks.iter().any(|b| b.contains(family, addr))
            }
        }
    }

    /// The ports `rule` allows towards `destination`.
    pub fn rule_ports<'a>(
        &'a self,
        rule: &'a CompiledRule,
        destination: Party,
    ) -> Cow<'a, ProtocolPorts> {
        match destination {
            Party::Pod(i) => rule.ports.resolve(Some(&self.cluster.pods[i])),
            Party::Address(..) => rule.ports.resolve(None),
        }
    }

    /// What `pod`'s `direction` side allows with `peer` (the source for
    /// ingress, the destination for egress): everything when no policy
    /// isolates it, else the union of the rules that admit the peer.
    /// Borrowed unless several rules add up or names had to be resolved.
    pub fn allowed(&self, direction: Direction, pod: usize, peer: Party) -> Cow<'_, ProtocolPorts> {
        let mut sum = ProtocolPorts::default();
        match self.allowed_into(direction, pod, peer, &mut sum) {
            Some(ports) => Cow::Borrowed(ports),
            None => Cow::Owned(sum),
        }
    }

    /// [`Analysis::allowed`] without allocating in a loop: the answer when
    /// it is one rule's (or all or nothing), else `None` and the answer is
    /// left in `sum`, whose buffers are reused from call to call.
    pub fn allowed_into<'a>(
        &'a self,
        direction: Direction,
        pod: usize,
        peer: Party,
        sum: &mut ProtocolPorts,
    ) -> Option<&'a ProtocolPorts> {
        let side = self.side(direction, pod);
        if side.isolating.is_empty() {
            return Some(&self.all);
        }
        // The answer so far: `Some` while it is one borrowed set, `None`
        // once it is being added up in `sum`.
        let mut single: Option<&'a ProtocolPorts> = Some(&self.none);
        for (&r, resolved) in side.rules.iter().zip(&side.resolved) {
            let rule = &self.rules[r];
            if !self.rule_admits(rule, peer) {
                continue;
            }
            let these: Cow<'a, ProtocolPorts> = match (resolved, direction) {
                (Some(resolved), _) => Cow::Borrowed(resolved),
                (None, Direction::Ingress) => Cow::Borrowed(&rule.ports.numeric),
                (None, Direction::Egress) => self.rule_ports(rule, peer),
            };
            single = match (single, these) {
                (Some(so_far), Cow::Borrowed(these)) if so_far.is_empty() => Some(these),
                (Some(so_far), these) => {
                    sum.clone_from(so_far);
                    sum.union_with(&these);
                    None
                }
                (None, these) => {
                    sum.union_with(&these);
                    None
                }
            };
        }
        single
    }

    /// Every ipBlock boundary of every rule, per family: the first address
    /// of each block and except, and the address after its last.
    pub fn block_cuts(&self) -> Vec<(crate::cidr::Family, u128)> {
        let mut cuts = Vec::new();
        for rule in &self.rules {
            if let Peers::Some { blocks, .. } = &rule.peers {
                for b in blocks {
                    for (first, last) in
                        std::iter::once((b.first, b.last)).chain(b.except.iter().copied())
                    {
                        cuts.push((b.family, first));
                        if last < b.family.max() {
                            cuts.push((b.family, last + 1));
                        }
                    }
                }
            }
        }
        cuts
    }
}

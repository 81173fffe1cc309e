//! What is questionable about a cluster's network exposure, as facts:
//! namespaces whose pods no policy isolates, pod ports that addresses
//! outside the cluster may open, ports published beyond the pod network,
//! and NetworkPolicies (or their rules and named ports) that do nothing.
//!
//! Pure and unjudged: which ports are risky, and how much, is the risk
//! catalogue's business (`portreeve-app` turns facts into findings).

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::analysis::{Analysis, CompiledRule, Party};
use crate::cidr::{self, Family};
use crate::model::{Cluster, Direction, Pod, PortRef, Protocol, Service};
use crate::reach::partition;

/// One questionable thing about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Pods of `namespace` that no NetworkPolicy isolates for ingress
    /// (indexes into `Cluster::pods`, never empty).
    NamespaceNotIsolated {
        /// The namespace.
        namespace: String,
        /// Its pods that accept every port from everyone.
        pods: Vec<usize>,
    },
    /// A port the pod serves that addresses outside the cluster's pods may
    /// open under the pod's ingress policies.
    ReachableFromOutside {
        /// Index into `Cluster::pods`.
        pod: usize,
        /// The port's protocol.
        protocol: Protocol,
        /// The port.
        port: u16,
        /// The outside addresses that may open it, as CIDR blocks.
        from: Vec<IpNet>,
    },
    /// A pod port published beyond the pod network.
    Published(Publication),
    /// A NetworkPolicy whose podSelector matches no pod of its namespace.
    PolicySelectsNothing {
        /// Index into `Cluster::policies`.
        policy: usize,
    },
    /// A rule of a policy that selects pods, which can never allow anything.
    RuleNeverMatches {
        /// Index into `Cluster::policies`.
        policy: usize,
        /// Ingress or egress.
        direction: Direction,
        /// Index among the policy's rules of that direction.
        index: usize,
        /// Why.
        reason: NeverMatches,
    },
    /// A named port of a rule that names no container port (with that
    /// protocol) of the pods the rule's ports apply to: the policy's own pods
    /// for ingress, the rule's destination pods for egress.
    NamedPortUnresolved {
        /// Index into `Cluster::policies`.
        policy: usize,
        /// Ingress or egress.
        direction: Direction,
        /// Index among the policy's rules of that direction.
        index: usize,
        /// The port's protocol.
        protocol: Protocol,
        /// The name.
        name: String,
    },
}

/// Why a rule never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeverMatches {
    /// Its peers select no pod and hold no address.
    NoPeer,
    /// Its ports resolve to no port on any pod (or address) it could apply
    /// to: every entry is a name nothing declares.
    NoPort,
}

/// A pod port that something publishes beyond the pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// What publishes it.
    pub by: Publisher,
    /// How, each way it is published.
    pub ways: Vec<Way>,
    /// The port's protocol.
    pub protocol: Protocol,
    /// The pods' port (a Service's target port, resolved).
    pub port: u16,
    /// The pods serving it (indexes into `Cluster::pods`): a Service's
    /// selected pods whose target port resolves to `port`, or the pod
    /// itself. A Service with a numeric target port may have none yet.
    pub pods: Vec<usize>,
}

/// What publishes a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    /// The Service at this index of `Cluster::services`.
    Service(usize),
    /// The pod at this index of `Cluster::pods`.
    Pod(usize),
}

/// One way a port is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Way {
    /// On every node, by a NodePort Service (the port when written; the API
    /// server allocates one otherwise).
    NodePort(Option<u16>),
    /// By a LoadBalancer Service (with its node port when written).
    LoadBalancer(Option<u16>),
    /// On a Service's external IP, at the Service's port.
    ExternalIp {
        /// The address.
        ip: String,
        /// The Service's port.
        port: u16,
    },
    /// On the node's address, by a container's `hostPort`.
    HostPort(u16),
    /// On the node's address, because the pod shares the node's network.
    HostNetwork,
}

/// Every fact about `cluster`, grouped by kind in the order of [`Fact`],
/// each group in the cluster's order.
pub fn lint(cluster: &Cluster) -> Vec<Fact> {
    let analysis = Analysis::new(cluster);
    let mut facts = not_isolated(&analysis);
    facts.extend(reachable_from_outside(&analysis));
    facts.extend(published(cluster).into_iter().map(Fact::Published));
    facts.extend(idle_policies(&analysis));
    facts
}

/// [`Fact::NamespaceNotIsolated`] for every namespace with such pods.
fn not_isolated(analysis: &Analysis<'_>) -> Vec<Fact> {
    let mut open: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, pod) in analysis.cluster.pods.iter().enumerate() {
        if analysis.side(Direction::Ingress, i).isolating.is_empty() {
            open.entry(pod.namespace.as_str()).or_default().push(i);
        }
    }
    open.into_iter()
        .map(|(namespace, pods)| Fact::NamespaceNotIsolated {
            namespace: namespace.to_string(),
            pods,
        })
        .collect()
}

/// [`Fact::ReachableFromOutside`] for every served port of every pod that
/// some class of outside addresses may open.
fn reachable_from_outside(analysis: &Analysis<'_>) -> Vec<Fact> {
    let classes = partition(analysis, Direction::Ingress);
    let mut facts = Vec::new();
    for (pod, _) in analysis.cluster.pods.iter().enumerate() {
        for (protocol, port) in served_ports(analysis.cluster, pod) {
            let from = merged(
                classes
                    .iter()
                    .filter(|c| c.reach[pod].of(protocol).contains(port))
                    .flat_map(|c| c.nets.iter()),
            );
            if !from.is_empty() {
                facts.push(Fact::ReachableFromOutside {
                    pod,
                    protocol,
                    port,
                    from,
                });
            }
        }
    }
    facts
}

/// `nets` as the fewest CIDR blocks: classes are cut where any pod tells
/// addresses apart, so one pod's reachable classes are often adjacent.
fn merged<'a>(nets: impl Iterator<Item = &'a IpNet>) -> Vec<IpNet> {
    let mut ranges: Vec<(Family, u128, u128)> = nets.map(cidr::bounds).collect();
    ranges.sort_unstable();
    let mut joined: Vec<(Family, u128, u128)> = Vec::new();
    for (family, first, last) in ranges {
        match joined.last_mut() {
            Some((f, _, end)) if *f == family && first <= end.saturating_add(1) => {
                *end = (*end).max(last);
            }
            _ => joined.push((family, first, last)),
        }
    }
    joined
        .into_iter()
        .flat_map(|(family, first, last)| cidr::cover(family, first, last))
        .collect()
}

/// The ports pod `i` is known to serve: its containers' ports, and the
/// target ports of the Services that select it.
pub fn served_ports(cluster: &Cluster, i: usize) -> BTreeSet<(Protocol, u16)> {
    let pod = &cluster.pods[i];
    let mut ports: BTreeSet<(Protocol, u16)> =
        pod.ports.iter().map(|c| (c.protocol, c.port)).collect();
    for service in cluster.services.iter().filter(|s| selects(s, pod)) {
        for p in &service.ports {
            if let Some(port) = target_port(pod, &p.target, p.protocol) {
                ports.insert((p.protocol, port));
            }
        }
    }
    ports
}

/// Whether `service` sends to `pod`: same namespace, and a selector whose
/// every label the pod carries.
fn selects(service: &Service, pod: &Pod) -> bool {
    service.namespace == pod.namespace
        && service
            .selector
            .as_ref()
            .is_some_and(|s| s.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
}

/// A Service's target port on `pod`: the number, or the pod's container
/// port of that name and protocol.
fn target_port(pod: &Pod, target: &PortRef, protocol: Protocol) -> Option<u16> {
    match target {
        PortRef::Number(n) => Some(*n),
        PortRef::Name(name) => pod
            .ports
            .iter()
            .find(|c| c.protocol == protocol && c.name.as_deref() == Some(name.as_str()))
            .map(|c| c.port),
    }
}

/// Every port published beyond the pod network: by Services of type
/// NodePort or LoadBalancer or with externalIPs, by hostPorts, and every
/// declared port of a pod on the node's network.
fn published(cluster: &Cluster) -> Vec<Publication> {
    let mut out = Vec::new();
    for (s, service) in cluster.services.iter().enumerate() {
        for p in &service.ports {
            let mut ways = Vec::new();
            match service.service_type.as_str() {
                "NodePort" => ways.push(Way::NodePort(p.node_port)),
                "LoadBalancer" => ways.push(Way::LoadBalancer(p.node_port)),
                _ => {}
            }
            ways.extend(service.external_ips.iter().map(|ip| Way::ExternalIp {
                ip: ip.clone(),
                port: p.port,
            }));
            if ways.is_empty() {
                continue;
            }
            // Pods may resolve a named target port differently: one
            // publication per resolved port.
            let mut by_port: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
            if let PortRef::Number(n) = p.target {
                by_port.insert(n, Vec::new());
            }
            for (i, pod) in cluster.pods.iter().enumerate() {
                if selects(service, pod)
                    && let Some(port) = target_port(pod, &p.target, p.protocol)
                {
                    by_port.entry(port).or_default().push(i);
                }
            }
            out.extend(by_port.into_iter().map(|(port, pods)| Publication {
                by: Publisher::Service(s),
                ways: ways.clone(),
                protocol: p.protocol,
                port,
                pods,
            }));
        }
    }
    for (i, pod) in cluster.pods.iter().enumerate() {
        for c in &pod.ports {
            let ways: Vec<Way> = c
                .host_port
                .map(Way::HostPort)
                .into_iter()
                .chain(pod.host_network.then_some(Way::HostNetwork))
                .collect();
            if !ways.is_empty() {
                out.push(Publication {
                    by: Publisher::Pod(i),
                    ways,
                    protocol: c.protocol,
                    port: c.port,
                    pods: vec![i],
                });
            }
        }
    }
    out
}

/// Policies that select nothing, and the rules and named ports of the
/// others that can never match.
fn idle_policies(analysis: &Analysis<'_>) -> Vec<Fact> {
    let cluster = analysis.cluster;
    let selected: Vec<Vec<usize>> = cluster
        .policies
        .iter()
        .map(|policy| {
            (0..cluster.pods.len())
                .filter(|&i| {
                    let pod = &cluster.pods[i];
                    pod.namespace == policy.namespace && policy.pod_selector.matches(&pod.labels)
                })
                .collect()
        })
        .collect();
    let mut facts: Vec<Fact> = selected
        .iter()
        .enumerate()
        .filter(|(_, pods)| pods.is_empty())
        .map(|(policy, _)| Fact::PolicySelectsNothing { policy })
        .collect();
    // Every address a rule's blocks can start holding at, and one more for
    // rules without peers: a rule holds some address only if it holds one
    // of these.
    let mut probes = analysis.block_cuts();
    probes.push((Family::V4, 0));
    for rule in &analysis.rules {
        let own = &selected[rule.policy];
        if own.is_empty() {
            continue;
        }
        let peer_pods: Vec<usize> = (0..cluster.pods.len())
            .filter(|&i| analysis.rule_admits(rule, Party::Pod(i)))
            .collect();
        let holds_address = probes
            .iter()
            .any(|&(f, a)| analysis.rule_admits(rule, Party::Address(f, a)));
        // The parties whose ports the rule's ports are resolved against.
        let destinations: Vec<Party> = match rule.direction {
            Direction::Ingress => own.iter().map(|&i| Party::Pod(i)).collect(),
            Direction::Egress => peer_pods.iter().map(|&i| Party::Pod(i)).collect(),
        };
        let reason = if peer_pods.is_empty() && !holds_address {
            Some(NeverMatches::NoPeer)
        } else {
            let outside = (rule.direction == Direction::Egress && holds_address)
                .then_some(Party::Address(Family::V4, 0));
            let any_port = destinations
                .iter()
                .chain(outside.as_ref())
                .any(|&d| !analysis.rule_ports(rule, d).is_empty());
            (!any_port).then_some(NeverMatches::NoPort)
        };
        if let Some(reason) = reason {
            facts.push(Fact::RuleNeverMatches {
                policy: rule.policy,
                direction: rule.direction,
                index: rule.index,
                reason,
            });
        }
        facts.extend(unresolved_names(cluster, rule, &destinations));
    }
    facts
}

/// [`Fact::NamedPortUnresolved`] for each named port of `rule` that no pod
/// among `destinations` declares.
fn unresolved_names(cluster: &Cluster, rule: &CompiledRule, destinations: &[Party]) -> Vec<Fact> {
    let written = &cluster.policies[rule.policy].rules(rule.direction)[rule.index];
    let declares = |protocol: Protocol, name: &str| {
        destinations.iter().any(|d| match d {
            Party::Pod(i) => cluster.pods[*i]
                .ports
                .iter()
                .any(|c| c.protocol == protocol && c.name.as_deref() == Some(name)),
            Party::Address(..) => false,
        })
    };
    written
        .ports
        .iter()
        .flatten()
        .filter_map(|p| match &p.port {
            Some(PortRef::Name(name)) if !declares(p.protocol, name) => {
                Some(Fact::NamedPortUnresolved {
                    policy: rule.policy,
                    direction: rule.direction,
                    index: rule.index,
                    protocol: p.protocol,
                    name: name.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::read_str;

    fn facts(yaml: &str) -> (Cluster, Vec<Fact>) {
        let cluster = read_str("test.yaml", yaml).unwrap();
        let facts = lint(&cluster);
        (cluster, facts)
    }

    const DB: &str = r#"
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec:
  containers:
  - name: redis
    ports: [{name: redis, containerPort: 6379}]
---
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers:
  - name: web
    ports: [{name: http, containerPort: 8080}]
"#;

    #[test]
    fn unisolated_pods_are_reachable_from_everywhere() {
        let (cluster, facts) = facts(DB);
        assert!(facts.contains(&Fact::NamespaceNotIsolated {
            namespace: "shop".into(),
            pods: vec![0, 1],
        }));
        let db = cluster.pods.iter().position(|p| p.name == "db").unwrap();
        let outside: Vec<&Fact> = facts
            .iter()
            .filter(|f| matches!(f, Fact::ReachableFromOutside { pod, .. } if *pod == db))
            .collect();
        assert_eq!(outside.len(), 1, "{facts:#?}");
        let Fact::ReachableFromOutside {
            protocol,
            port,
            from,
            ..
        } = outside[0]
        else {
            unreachable!()
        };
        assert_eq!((*protocol, *port), (Protocol::Tcp, 6379));
        let from: Vec<String> = from.iter().map(ToString::to_string).collect();
        assert_eq!(from, ["0.0.0.0/0", "::/0"]);
    }

    #[test]
    fn a_default_deny_with_an_allow_from_pods_keeps_outsiders_out() {
        let yaml = format!(
            "{DB}---\n{}",
            r#"
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}}
---
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{port: redis}]
"#
        );
        let (_, facts) = facts(&yaml);
        assert!(
            !facts
                .iter()
                .any(|f| matches!(f, Fact::NamespaceNotIsolated { .. }))
        );
        let from: Vec<String> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::ReachableFromOutside {
                    from, port: 6379, ..
                } => Some(from),
                _ => None,
            })
            .flatten()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            from,
            [
                "10.0.0.0/16",
                "10.2.0.0/15",
                "10.4.0.0/14",
                "10.8.0.0/13",
                "10.16.0.0/12",
                "10.32.0.0/11",
                "10.64.0.0/10",
                "10.128.0.0/9"
            ]
        );
        assert!(
            !facts.iter().any(|f| matches!(
                f,
                Fact::RuleNeverMatches { .. }
                    | Fact::NamedPortUnresolved { .. }
                    | Fact::PolicySelectsNothing { .. }
            )),
            "{facts:#?}"
        );
    }

    #[test]
    fn classes_another_pod_tells_apart_are_merged_for_this_one() {
        let yaml = format!(
            "{DB}---\n{}",
            r#"
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 192.0.2.0/24}}]}]
"#
        );
        let (_, facts) = facts(&yaml);
        let from: Vec<String> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::ReachableFromOutside {
                    port: 6379, from, ..
                } => Some(from),
                _ => None,
            })
            .flatten()
            .map(ToString::to_string)
            .collect();
        // db is open to everyone, although web splits the outside in three.
        assert_eq!(from, ["0.0.0.0/0", "::/0"]);
    }

    #[test]
    fn services_host_ports_and_host_network_publish() {
        let (_, facts) = facts(
            r#"
kind: Deployment
metadata: {name: cache, namespace: shop}
spec:
  template:
    metadata: {labels: {app: cache}}
    spec:
      hostNetwork: true
      containers:
      - name: redis
        ports: [{name: redis, containerPort: 6379, hostPort: 16379}]
---
kind: Service
metadata: {name: cache, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: cache}
  externalIPs: [192.0.2.7]
  ports: [{port: 80, targetPort: redis, nodePort: 30079}]
---
kind: Service
metadata: {name: internal, namespace: shop}
spec:
  selector: {app: cache}
  ports: [{port: 6379}]
"#,
        );
        let published: Vec<&Publication> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::Published(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(published.len(), 2, "{published:#?}");
        assert_eq!(published[0].by, Publisher::Service(0));
        assert_eq!(
            published[0].ways,
            [
                Way::LoadBalancer(Some(30079)),
                Way::ExternalIp {
                    ip: "192.0.2.7".into(),
                    port: 80
                }
            ]
        );
        assert_eq!(
            (published[0].port, published[0].pods.as_slice()),
            (6379, &[0][..])
        );
        assert_eq!(published[1].by, Publisher::Pod(0));
        assert_eq!(published[1].ways, [Way::HostPort(16379), Way::HostNetwork]);
    }

    #[test]
    fn idle_policies_rules_and_names_are_told_apart() {
        let yaml = format!(
            "{DB}---\n{}",
            r#"
kind: NetworkPolicy
metadata: {name: nobody, namespace: shop}
spec:
  podSelector: {matchLabels: {app: gone}}
  ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}]}]
---
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: typo}}}, {namespaceSelector: {matchLabels: {team: none}}}]
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: metrics}, {port: redis, protocol: UDP}]
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: metrics}, {port: redis}]
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http}, {port: redis}]
"#
        );
        let (cluster, facts) = facts(&yaml);
        let db = cluster
            .policies
            .iter()
            .position(|p| p.name == "db")
            .unwrap();
        let nobody = 1 - db;
        assert!(facts.contains(&Fact::PolicySelectsNothing { policy: nobody }));
        let never: Vec<(Direction, usize, NeverMatches)> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::RuleNeverMatches {
                    policy,
                    direction,
                    index,
                    reason,
                } => {
                    assert_eq!(*policy, db, "no rule of a policy selecting nothing");
                    Some((*direction, *index, *reason))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            never,
            [
                (Direction::Ingress, 0, NeverMatches::NoPeer),
                (Direction::Ingress, 1, NeverMatches::NoPort),
                (Direction::Ingress, 3, NeverMatches::NoPeer),
            ]
        );
        let names: Vec<(Direction, usize, Protocol, &str)> = facts
            .iter()
            .filter_map(|f| match f {
                Fact::NamedPortUnresolved {
                    direction,
                    index,
                    protocol,
                    name,
                    ..
                } => Some((*direction, *index, *protocol, name.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            names,
            [
                (Direction::Ingress, 1, Protocol::Tcp, "metrics"),
                (Direction::Ingress, 1, Protocol::Udp, "redis"),
                (Direction::Ingress, 2, Protocol::Tcp, "metrics"),
                (Direction::Egress, 0, Protocol::Tcp, "redis"),
            ]
        );
    }
}

//! The cluster as the manifests describe it, with the API server's defaults
//! applied (namespace `default`, protocol TCP, `policyTypes`), so that
//! reachability never has to re-derive them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::selector::LabelSelector;

/// Labels of a namespace or pod.
pub type Labels = BTreeMap<String, String>;

/// The label every namespace carries with its own name (the API server sets
/// it), so that `namespaceSelector` can name namespaces.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Everything read from the manifests.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Namespaces by name: the declared ones and every one a pod or policy
    /// lives in, each with its labels (always `kubernetes.io/metadata.name`).
    pub namespaces: BTreeMap<String, Labels>,
    /// Pods, and one pod for each workload's pod template, sorted by
    /// `namespace/name`.
    pub pods: Vec<Pod>,
    /// Services.
    pub services: Vec<Service>,
    /// Ingresses.
    pub ingresses: Vec<Ingress>,
    /// NetworkPolicies, sorted by namespace and name.
    pub policies: Vec<NetworkPolicy>,
    /// Objects of kinds this crate does not read, skipped.
    pub ignored: usize,
    /// The file each object was read from (`-` for standard input), by
    /// (kind, namespace, name): kind `Namespace` (namespace empty),
    /// `Pod` (pods and workload templates alike), `Service`, `Ingress` or
    /// `NetworkPolicy`. Namespaces that are only referenced have none.
    pub sources: BTreeMap<(String, String, String), String>,
}

impl Cluster {
    /// The file the object `kind` `namespace/name` was read from (see
    /// [`Cluster::sources`]).
    pub fn source(&self, kind: &str, namespace: &str, name: &str) -> Option<&str> {
        self.sources
            .get(&(kind.to_string(), namespace.to_string(), name.to_string()))
            .map(String::as_str)
    }
}

/// A transport protocol NetworkPolicy ports name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    /// TCP (the default everywhere).
    #[serde(rename = "TCP")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// Every protocol, in output order.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Position in [`Protocol::ALL`], for per-protocol arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The protocol Kubernetes spells `name` (`TCP`, `UDP`, `SCTP`; case-insensitive).
    pub fn parse(name: &str) -> Option<Protocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a policy governs traffic of the pods it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Direction {
    /// Traffic to the selected pods.
    Ingress,
    /// Traffic from the selected pods.
    Egress,
}

/// A pod, or the pod template of a workload (named after the workload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// Its namespace.
    pub namespace: String,
    /// Its name (a workload's name for a template).
    pub name: String,
    /// The kind it was read from: `Pod`, `Deployment`, ….
    pub kind: String,
    /// Its labels.
    pub labels: Labels,
    /// Its containers' declared ports, which named policy ports resolve to.
    pub ports: Vec<ContainerPort>,
    /// Whether it shares the node's network (`hostNetwork: true`).
    pub host_network: bool,
    /// Its addresses (`status.podIP`, `status.podIPs`), as `kubectl get -o
    /// json` reports them for a running pod; none for templates.
    pub ips: Vec<IpAddr>,
}

impl Pod {
    /// `namespace/name`, as reports name it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A port a container declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// Its name, which policies may use instead of the number.
    pub name: Option<String>,
    /// `containerPort`.
    pub port: u16,
    /// `hostPort`, when the port is also opened on the node.
    pub host_port: Option<u16>,
    /// Its protocol.
    pub protocol: Protocol,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    /// The pods it sends to (none: no selector).
    pub selector: Option<Labels>,
    /// Its ports.
    pub ports: Vec<ServicePort>,
    /// `externalIPs`.
    pub external_ips: Vec<String>,
}

/// A port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Its name.
    pub name: Option<String>,
    /// The port the service listens on.
    pub port: u16,
    /// The pods' port, a number or a container port name (default: `port`).
    pub target: PortRef,
    /// The port on every node, for NodePort and LoadBalancer services.
    pub node_port: Option<u16>,
    /// Its protocol.
    pub protocol: Protocol,
}

/// An Ingress: the services it sends outside traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingress {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Backend services (default backend and every path's), by name and port.
    pub backends: Vec<(String, Option<PortRef>)>,
}

/// A port given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A container port name.
    Name(String),
}

/// A NetworkPolicy, with `policyTypes` defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The pods of its namespace it applies to.
    pub pod_selector: LabelSelector,
    /// The directions it isolates: as written, else Ingress, plus Egress
    /// when it has egress rules (the API server's default).
    pub policy_types: Vec<Direction>,
    /// Ingress rules, in order (rule indexes in explanations count from 0).
    pub ingress: Vec<Rule>,
    /// Egress rules, in order.
    pub egress: Vec<Rule>,
}

impl NetworkPolicy {
    /// `namespace/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether it isolates the pods it selects for `direction`.
    pub fn isolates(&self, direction: Direction) -> bool {
        self.policy_types.contains(&direction)
    }

    /// Its rules for `direction`.
    pub fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// One ingress or egress rule: traffic with any of `peers` on any of `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `from` / `to`; `None` when missing or empty: every peer, inside the
    /// cluster or outside.
    pub peers: Option<Vec<Peer>>,
    /// `ports`; `None` when missing or empty: every port of every protocol.
    pub ports: Option<Vec<PolicyPort>>,
}

/// A peer of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Pods chosen by selectors.
    Pods {
        /// `namespaceSelector`; `None`: the policy's own namespace.
        namespaces: Option<LabelSelector>,
        /// `podSelector`; missing means every pod.
        pods: LabelSelector,
    },
    /// Addresses outside the cluster's pods.
    IpBlock {
        /// `cidr`.
        cidr: IpNet,
        /// `except`: sub-ranges left out.
        except: Vec<IpNet>,
    },
}

/// One entry of a rule's `ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPort {
    /// `protocol` (default TCP).
    pub protocol: Protocol,
    /// `port`; `None`: every port of the protocol.
    pub port: Option<PortRef>,
    /// `endPort`: with a numeric `port`, the range's last port.
    pub end_port: Option<u16>,
}

//! NetworkPolicies as written for `kubectl apply`: the serde shapes of the
//! `networking.k8s.io/v1` objects portreeve produces (rendered from a
//! portreeve policy, or recommended from observed flows), and their YAML and
//! JSON texts.
//!
//! Only ingress policies are produced, so only the fields they need exist;
//! empty lists and selectors are left out the way `kubectl` prints them,
//! except the empty `podSelector: {}`, which means every pod.
//!
//! ```
//! use portreeve_k8s::write::{NetworkPolicyDoc, PeerDoc, PortDoc, IngressRuleDoc, LabelSelectorDoc, to_yaml};
//! use portreeve_k8s::Protocol;
//!
//! let deny = NetworkPolicyDoc::default_deny("shop");
//! let allow = NetworkPolicyDoc::ingress(
//!     "shop",
//!     "allow-web-to-db",
//!     LabelSelectorDoc::labels([("app", "db")]),
//!     vec![IngressRuleDoc {
//!         from: vec![PeerDoc::namespace("web"), PeerDoc::ip_block("10.0.0.0/8".parse().unwrap())],
//!         ports: vec![PortDoc::range(Protocol::Tcp, 5432, 5432)],
//!     }],
//! );
//! let text = to_yaml(&[deny, allow]);
//! let cluster = portreeve_k8s::manifest::read_str("out.yaml", &text).unwrap();
//! assert_eq!(cluster.policies.len(), 2);
//! ```

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::{NAMESPACE_NAME_LABEL, Protocol};

/// The API version of the NetworkPolicies written.
pub const API_VERSION: &str = "networking.k8s.io/v1";

/// The name of the default-deny policy [`NetworkPolicyDoc::default_deny`]
/// writes in each namespace.
pub const DEFAULT_DENY_NAME: &str = "default-deny-ingress";

/// One NetworkPolicy object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyDoc {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always `NetworkPolicy`.
    pub kind: String,
    /// Name, namespace, labels.
    pub metadata: MetadataDoc,
    /// What it selects and allows.
    pub spec: NetworkPolicySpecDoc,
}

/// `metadata` of a written object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataDoc {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels` (left out when empty), e.g. who produced it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `spec` of a NetworkPolicy that governs ingress only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpecDoc {
    /// The pods of the namespace it applies to (`{}`: all).
    pub pod_selector: LabelSelectorDoc,
    /// Always `["Ingress"]`: written out so nobody relies on the default.
    pub policy_types: Vec<String>,
    /// Allowed ingress; none (left out): the selected pods accept nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRuleDoc>,
}

/// One ingress rule: traffic from any of `from` to any of `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRuleDoc {
    /// Sources; empty (left out): every source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<PeerDoc>,
    /// Ports; empty (left out): every port of every protocol.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortDoc>,
}

/// One source of an ingress rule: pods by selectors, or an address block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerDoc {
    /// Pods (of the policy's namespace unless `namespace_selector` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelectorDoc>,
    /// Namespaces whose pods (all, or those of `pod_selector`) are sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelectorDoc>,
    /// Addresses; never together with the selectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlockDoc>,
}

impl PeerDoc {
    /// Every pod of the namespace named `namespace` (selected by the
    /// `kubernetes.io/metadata.name` label the API server sets).
    pub fn namespace(namespace: &str) -> PeerDoc {
        PeerDoc {
            pod_selector: None,
            namespace_selector: Some(LabelSelectorDoc::labels([(
                NAMESPACE_NAME_LABEL,
                namespace,
            )])),
            ip_block: None,
        }
    }

    /// The pods with `pods` labels: in the namespace named `namespace`, or
    /// in the policy's own namespace when `None`.
    pub fn pods(namespace: Option<&str>, pods: LabelSelectorDoc) -> PeerDoc {
        PeerDoc {
            pod_selector: Some(pods),
            namespace_selector: namespace
                .map(|ns| LabelSelectorDoc::labels([(NAMESPACE_NAME_LABEL, ns)])),
            ip_block: None,
        }
    }

    /// The addresses of `cidr`, written in its canonical network form
    /// (host bits cleared, as the API server requires).
    pub fn ip_block(cidr: IpNet) -> PeerDoc {
        PeerDoc {
            pod_selector: None,
            namespace_selector: None,
            ip_block: Some(IpBlockDoc {
                cidr: cidr.trunc().to_string(),
                except: Vec::new(),
            }),
        }
    }
}

/// `ipBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpBlockDoc {
    /// The block, `address/prefix`.
    pub cidr: String,
    /// Sub-blocks left out (left out when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// One entry of a rule's `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDoc {
    /// `TCP`, `UDP` or `SCTP`, always written.
    pub protocol: Protocol,
    /// The port, or the first of a range; `None`: every port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortValueDoc>,
    /// The last port of a range (only with a numeric `port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}

impl PortDoc {
    /// Ports `first..=last` of `protocol`: one port when they are equal,
    /// `port` + `endPort` otherwise, no port at all for `1..=65535`.
    pub fn range(protocol: Protocol, first: u16, last: u16) -> PortDoc {
        let (port, end_port) = match (first, last) {
            (1, 65535) => (None, None),
            _ if first == last => (Some(PortValueDoc::Number(first)), None),
            _ => (Some(PortValueDoc::Number(first)), Some(last)),
        };
        PortDoc {
            protocol,
            port,
            end_port,
        }
    }
}

/// A port by number or by a container port's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PortValueDoc {
    /// A number.
    Number(u16),
    /// A container port name.
    Name(String),
}

/// A label selector: `matchLabels`, and the `matchExpressions` a
/// recommendation needs to tell a workload from one whose labels include
/// all of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorDoc {
    /// Every key must carry exactly this value; empty (`{}`): everything.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Every one must hold as well (left out when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<RequirementDoc>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementDoc {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values of `In` and `NotIn` (left out when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl From<&crate::selector::LabelSelector> for LabelSelectorDoc {
    fn from(selector: &crate::selector::LabelSelector) -> LabelSelectorDoc {
        use crate::selector::Operator;
        let requirement = |r: &crate::selector::Requirement| {
            let (operator, values) = match &r.operator {
                Operator::In(values) => ("In", values.clone()),
                Operator::NotIn(values) => ("NotIn", values.clone()),
                Operator::Exists => ("Exists", Vec::new()),
                Operator::DoesNotExist => ("DoesNotExist", Vec::new()),
            };
            RequirementDoc {
                key: r.key.clone(),
                operator: operator.to_string(),
                values,
            }
        };
        LabelSelectorDoc {
            match_labels: selector.match_labels.clone(),
            match_expressions: selector.match_expressions.iter().map(requirement).collect(),
        }
    }
}

impl LabelSelectorDoc {
    /// The selector matching objects with all of `labels`.
    pub fn labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> LabelSelectorDoc {
        LabelSelectorDoc {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }
}

impl NetworkPolicyDoc {
    /// A policy in `namespace` named `name` allowing `ingress` to the pods
    /// `pods` selects (and, as every ingress policy, isolating them).
    pub fn ingress(
        namespace: &str,
        name: &str,
        pods: LabelSelectorDoc,
        ingress: Vec<IngressRuleDoc>,
    ) -> NetworkPolicyDoc {
        NetworkPolicyDoc {
            api_version: API_VERSION.to_string(),
            kind: "NetworkPolicy".to_string(),
            metadata: MetadataDoc {
                name: name.to_string(),
                namespace: namespace.to_string(),
                labels: BTreeMap::new(),
            },
            spec: NetworkPolicySpecDoc {
                pod_selector: pods,
                policy_types: vec!["Ingress".to_string()],
                ingress,
            },
        }
    }

    /// [`DEFAULT_DENY_NAME`] in `namespace`: every pod isolated for ingress,
    /// nothing allowed, so only other policies' rules let traffic in.
    pub fn default_deny(namespace: &str) -> NetworkPolicyDoc {
        NetworkPolicyDoc::ingress(
            namespace,
            DEFAULT_DENY_NAME,
            LabelSelectorDoc::default(),
            Vec::new(),
        )
    }

    /// The same policy with the label `key: value` in its metadata.
    pub fn with_label(mut self, key: &str, value: &str) -> NetworkPolicyDoc {
        self.metadata
            .labels
            .insert(key.to_string(), value.to_string());
        self
    }
}

/// `policies` as YAML documents separated by `---`, ready for `kubectl
/// apply -f`; the empty string for none.
pub fn to_yaml(policies: &[NetworkPolicyDoc]) -> String {
    policies
        .iter()
        .map(|p| serde_yaml_ng::to_string(p).expect("NetworkPolicy documents serialise"))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// `policies` as one JSON `v1` `List` object (pretty, newline-terminated),
/// which `kubectl apply -f` and `portreeve k8s reach` both read.
pub fn to_json(policies: &[NetworkPolicyDoc]) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'static str,
        kind: &'static str,
        items: &'a [NetworkPolicyDoc],
    }
    let list = List {
        api_version: "v1",
        kind: "List",
        items: policies,
    };
    let mut text = serde_json::to_string_pretty(&list).expect("NetworkPolicy lists serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::read_str;
    use crate::model::{Peer, PortRef};

    fn sample() -> Vec<NetworkPolicyDoc> {
        vec![
            NetworkPolicyDoc::default_deny("shop"),
            NetworkPolicyDoc::ingress(
                "shop",
                "db",
                LabelSelectorDoc::labels([("app", "db")]),
                vec![IngressRuleDoc {
                    from: vec![
                        PeerDoc::namespace("web"),
                        PeerDoc::pods(None, LabelSelectorDoc::labels([("app", "api")])),
                        PeerDoc::ip_block("2001:db8::1/64".parse().unwrap()),
                    ],
                    ports: vec![
                        PortDoc::range(Protocol::Tcp, 5432, 5432),
                        PortDoc::range(Protocol::Udp, 6000, 6010),
                        PortDoc::range(Protocol::Tcp, 1, 65535),
                    ],
                }],
            )
            .with_label("app.kubernetes.io/managed-by", "portreeve"),
        ]
    }

    #[test]
    fn yaml_reads_back_as_the_same_policies() {
        let cluster = read_str("out.yaml", &to_yaml(&sample())).unwrap();
        let [db, deny] = &cluster.policies[..] else {
            panic!("two policies expected: {:?}", cluster.policies)
        };
        assert_eq!(
            (deny.name.as_str(), deny.ingress.len()),
            ("default-deny-ingress", 0)
        );
        assert!(deny.pod_selector.match_labels.is_empty());
        let rule = &db.ingress[0];
        let peers = rule.peers.as_ref().unwrap();
        assert!(matches!(&peers[0], Peer::Pods { namespaces: Some(ns), .. }
            if ns.match_labels.get(NAMESPACE_NAME_LABEL).map(String::as_str) == Some("web")));
        assert!(matches!(&peers[1], Peer::Pods { namespaces: None, pods }
            if pods.match_labels.get("app").map(String::as_str) == Some("api")));
        assert!(
            matches!(&peers[2], Peer::IpBlock { cidr, .. } if cidr.to_string() == "2001:db8::/64")
        );
        let ports = rule.ports.as_ref().unwrap();
        assert_eq!(ports[0].port, Some(PortRef::Number(5432)));
        assert_eq!(ports[0].end_port, None);
        assert_eq!(
            (ports[1].protocol, ports[1].end_port),
            (Protocol::Udp, Some(6010))
        );
        assert_eq!(ports[2].port, None);
    }

    #[test]
    fn json_is_a_list_that_reads_back() {
        let text = to_json(&sample());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["kind"], "List");
        assert_eq!(
            value["items"][1]["spec"]["ingress"][0]["ports"][1]["endPort"],
            6010
        );
        let from_json = read_str("out.json", &text).unwrap().policies;
        let from_yaml = read_str("out.yaml", &to_yaml(&sample())).unwrap().policies;
        assert_eq!(from_json, from_yaml);
    }

    #[test]
    fn selectors_with_expressions_read_back_unchanged() {
        let written = read_str(
            "in.yaml",
            "kind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  podSelector:\n    matchLabels: {app: web}\n    matchExpressions:\n    - {key: track, operator: DoesNotExist}\n    - {key: tier, operator: In, values: [a, b]}\n    - {key: env, operator: NotIn, values: [dev]}\n    - {key: team, operator: Exists}\n",
        )
        .unwrap()
        .policies[0]
            .pod_selector
            .clone();
        let doc = NetworkPolicyDoc::ingress("n", "p", LabelSelectorDoc::from(&written), Vec::new());
        let back = read_str("out.yaml", &to_yaml(&[doc])).unwrap();
        assert_eq!(back.policies[0].pod_selector, written);
    }

    #[test]
    fn default_deny_writes_the_empty_pod_selector_and_no_rules() {
        let text = to_yaml(&[NetworkPolicyDoc::default_deny("web")]);
        assert!(text.contains("podSelector: {}"), "{text}");
        assert!(!text.contains("ingress:"), "{text}");
    }
}

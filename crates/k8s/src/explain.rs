//! Why one connection is allowed or denied: for the source's egress and
//! the destination's ingress, the policies that isolate the pod and the
//! rules that admit the connection.

use std::net::IpAddr;

use serde::Serialize;

use crate::analysis::{Analysis, Party};
use crate::cidr::{Family, to_int};
use crate::model::{Cluster, Direction, Protocol};

/// The verdict on one connection and its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The source: `namespace/pod` or an address.
    pub from: String,
    /// The destination.
    pub to: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port.
    pub port: u16,
    /// Whether the connection is allowed.
    pub allowed: bool,
    /// Why, in one sentence.
    pub reason: String,
    /// The source pod's egress (absent for an outside source).
    pub egress: Option<SideVerdict>,
    /// The destination pod's ingress (absent for an outside destination).
    pub ingress: Option<SideVerdict>,
}

/// One pod's side of the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideVerdict {
    /// The pod, `namespace/name`.
    pub pod: String,
    /// Whether the side lets the connection through.
    pub allowed: bool,
    /// Policies that isolate the pod in this direction (`namespace/name`);
    /// empty: not isolated, everything passes.
    pub isolated_by: Vec<String>,
    /// The rules that admit the connection.
    pub allowed_by: Vec<RuleRef>,
}

/// A rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// The policy, `namespace/name`.
    pub policy: String,
    /// `ingress` or `egress`.
    pub direction: &'static str,
    /// The rule's index in the policy's `ingress` or `egress` list, from 0.
    pub rule: usize,
}

/// A connection end that names nothing in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// Neither a known pod nor an address.
    #[error("{0:?} is neither a pod (namespace/name) of the manifests nor an IP address")]
    Unknown(String),
    /// Both ends outside the cluster: no policy is involved.
    #[error("both ends are outside the cluster; NetworkPolicies govern pods only")]
    BothOutside,
}

/// Why `from` may or may not open `protocol`/`port` on `to`; each a pod
/// (`namespace/name`) or an IP address outside the cluster's pods.
pub fn explain(
    cluster: &Cluster,
    from: &str,
    to: &str,
    protocol: Protocol,
    port: u16,
) -> Result<Explanation, ExplainError> {
    let analysis = Analysis::new(cluster);
    let (src, dst) = (party(cluster, from)?, party(cluster, to)?);
    let egress = match src {
        Party::Pod(p) => Some(side(&analysis, Direction::Egress, p, dst, protocol, port)),
        Party::Address(..) => None,
    };
    let ingress = match dst {
        Party::Pod(p) => Some(side(&analysis, Direction::Ingress, p, src, protocol, port)),
        Party::Address(..) => None,
    };
    if egress.is_none() && ingress.is_none() {
        return Err(ExplainError::BothOutside);
    }
    let itself = matches!((src, dst), (Party::Pod(a), Party::Pod(b)) if a == b);
    let passes = |s: &Option<SideVerdict>| s.as_ref().is_none_or(|s| s.allowed);
    let allowed = itself || (passes(&egress) && passes(&ingress));
    let reason = if itself {
        "a pod may always reach itself".to_string()
    } else {
        reason(egress.as_ref(), ingress.as_ref())
    };
    Ok(Explanation {
        from: from.to_string(),
        to: to.to_string(),
        protocol,
        port,
        allowed,
        reason,
        egress,
        ingress,
    })
}

fn party(cluster: &Cluster, name: &str) -> Result<Party, ExplainError> {
    if let Some(i) = cluster.pods.iter().position(|p| p.id() == name) {
        return Ok(Party::Pod(i));
    }
    name.parse::<IpAddr>()
        .map(|addr| Party::Address(Family::of(addr), to_int(addr)))
        .map_err(|_| ExplainError::Unknown(name.to_string()))
}

fn side(
    analysis: &Analysis<'_>,
    direction: Direction,
    pod: usize,
    peer: Party,
    protocol: Protocol,
    port: u16,
) -> SideVerdict {
    let cluster = analysis.cluster;
    let s = analysis.side(direction, pod);
    let destination = match direction {
        Direction::Ingress => Party::Pod(pod),
        Direction::Egress => peer,
    };
    let allowed_by: Vec<RuleRef> = s
        .rules
        .iter()
        .map(|&r| &analysis.rules[r])
        .filter(|rule| {
            analysis.rule_admits(rule, peer)
                && analysis
                    .rule_ports(rule, destination)
                    .of(protocol)
                    .contains(port)
        })
        .map(|rule| RuleRef {
            policy: cluster.policies[rule.policy].id(),
            direction: match direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            },
            rule: rule.index,
        })
        .collect();
    SideVerdict {
        pod: cluster.pods[pod].id(),
        allowed: s.isolating.is_empty() || !allowed_by.is_empty(),
        isolated_by: s
            .isolating
            .iter()
            .map(|&p| cluster.policies[p].id())
            .collect(),
        allowed_by,
    }
}

/// The sentence: the first side that denies, else what allowed each side.
fn reason(egress: Option<&SideVerdict>, ingress: Option<&SideVerdict>) -> String {
    let sides = [("egress", egress), ("ingress", ingress)];
    for (what, s) in sides {
        if let Some(s) = s.filter(|s| !s.allowed) {
            let whose = if s.isolated_by.len() == 1 {
                "its"
            } else {
                "their"
            };
            return format!(
                "denied: {}'s {what} is isolated by {} and none of {whose} rules allows it",
                s.pod,
                s.isolated_by.join(", ")
            );
        }
    }
    let parts: Vec<String> = sides
        .iter()
        .filter_map(|(what, s)| s.map(|s| (what, s)))
        .map(|(what, s)| {
            if s.isolated_by.is_empty() {
                format!("{}'s {what} is not isolated", s.pod)
            } else {
                let rules: Vec<String> = s
                    .allowed_by
                    .iter()
                    .map(|r| format!("{} {}[{}]", r.policy, r.direction, r.rule))
                    .collect();
                format!("{}'s {what} is allowed by {}", s.pod, rules.join(", "))
            }
        })
        .collect();
    format!("allowed: {}", parts.join("; "))
}

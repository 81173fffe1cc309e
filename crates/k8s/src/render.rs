//! A portreeve policy as NetworkPolicies: what `portreeve render --target
//! kubernetes` writes.
//!
//! Every namespace a pod rule names gets a default deny, so that only the
//! rules let traffic in; every pod rule becomes one ingress policy selecting
//! its pods, from its zones — their networks as `ipBlock`s (sources outside
//! the cluster's pods), their namespaces as `namespaceSelector`s on
//! `kubernetes.io/metadata.name` — on its ports and protocols. Rules without
//! pods govern hosts and are left out (counted, so the caller can say so).

use std::collections::BTreeSet;

use ipnet::IpNet;
use portreeve_core::{Family, Proto};
use portreeve_policy::{PodRule, Policy};

use crate::model::Protocol;
use crate::write::{IngressRuleDoc, LabelSelectorDoc, NetworkPolicyDoc, PeerDoc, PortDoc};

/// The label every rendered policy carries, so that `kubectl get -l` (or
/// `apply --prune -l`) finds exactly portreeve's policies.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "portreeve");

/// What a policy renders to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The default denies (by namespace), then one policy per pod rule, in
    /// the policy's order.
    pub policies: Vec<NetworkPolicyDoc>,
    /// Rules without `pods`, which only a host firewall enforces.
    pub host_rules: usize,
}

/// `policy`'s pod rules as NetworkPolicies.
pub fn render(policy: &Policy) -> Rendered {
    let namespaces: BTreeSet<&str> = policy
        .pod_rules
        .iter()
        .map(|r| r.pods.namespace.as_str())
        .collect();
    let mut policies: Vec<NetworkPolicyDoc> = namespaces
        .into_iter()
        .map(NetworkPolicyDoc::default_deny)
        .collect();
    let mut names: BTreeSet<(String, String)> = BTreeSet::new();
    for rule in &policy.pod_rules {
        let name = unique_name(&mut names, &rule.pods.namespace, &rule.rule.name);
        policies.push(rule_policy(policy, rule, &name));
    }
    Rendered {
        policies: policies
            .into_iter()
            .map(|p| p.with_label(MANAGED_BY.0, MANAGED_BY.1))
            .collect(),
        host_rules: policy.rules.len(),
    }
}

/// The ingress policy of one pod rule, named `name`.
fn rule_policy(policy: &Policy, rule: &PodRule, name: &str) -> NetworkPolicyDoc {
    let zones: Vec<_> = rule
        .rule
        .zones
        .iter()
        .filter_map(|z| policy.zone(z))
        .collect();
    let blocks = zones
        .iter()
        .flat_map(|zone| &zone.networks)
        .filter(|net| rule.rule.families.contains(&family(net)))
        .map(|net| PeerDoc::ip_block(*net));
    let namespaces = zones
        .iter()
        .flat_map(|zone| &zone.namespaces)
        .map(|ns| PeerDoc::namespace(ns));
    // Zones may share a network or namespace: each peer once, in order.
    let mut from: Vec<PeerDoc> = Vec::new();
    for peer in blocks.chain(namespaces) {
        if !from.contains(&peer) {
            from.push(peer);
        }
    }
    let ports = rule
        .rule
        .protocols
        .iter()
        .flat_map(|proto| {
            rule.rule
                .ports
                .iter()
                .map(|range| PortDoc::range(protocol(*proto), range.start(), range.end()))
        })
        .collect();
    // An empty `from` would mean every source: a rule whose zones give no
    // peer allows nothing. (Validation refuses such rules; this holds for
    // policies built otherwise too, as the mistake would open everything.)
    let ingress = if from.is_empty() {
        Vec::new()
    } else {
        vec![IngressRuleDoc { from, ports }]
    };
    NetworkPolicyDoc::ingress(
        &rule.pods.namespace,
        name,
        LabelSelectorDoc::labels(rule.pods.labels.clone()),
        ingress,
    )
}

fn family(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::Ipv4,
        IpNet::V6(_) => Family::Ipv6,
    }
}

fn protocol(proto: Proto) -> Protocol {
    match proto {
        Proto::Tcp => Protocol::Tcp,
        Proto::Udp => Protocol::Udp,
    }
}

/// The longest object name the API server takes (a DNS subdomain).
const MAX_NAME: usize = 253;

/// `portreeve-RULE`, the rule's name as a DNS subdomain (lower case, runs
/// of other characters as one `-`), made unique in `namespace` with a
/// numeric suffix when two rule names spell the same.
fn unique_name(taken: &mut BTreeSet<(String, String)>, namespace: &str, rule: &str) -> String {
    let mut base = String::from("portreeve-");
    for c in rule.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    base.truncate(MAX_NAME - 8);
    let base = base.trim_end_matches('-').to_string();
    let mut name = base.clone();
    for n in 2.. {
        if taken.insert((namespace.to_string(), name.clone())) {
            break;
        }
        name = format!("{base}-{n}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::read_str;
    use crate::write::to_yaml;

    fn rendered(text: &str) -> Rendered {
        render(&portreeve_policy::parse_policy("p.toml", text).unwrap())
    }

    const POLICY: &str = r#"
[zones]
office = ["192.0.2.0/24", "2001:db8::/48"]
web = { namespaces = ["web"] }
also-web = { namespaces = ["web"] }

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "Shop DB"
ports = [5432, "7000-7010"]
protocol = ["tcp", "udp"]
zones = ["office", "web", "also-web"]
pods = { namespace = "shop", labels = { app = "db" } }

[[rule]]
name = "shop.db"
port = 443
protocol = "tcp"
family = "ipv6"
zones = ["office"]
pods = { namespace = "shop" }
"#;

    #[test]
    fn each_pod_rule_becomes_an_ingress_policy_behind_a_default_deny() {
        let out = rendered(POLICY);
        assert_eq!(out.host_rules, 1);
        let names: Vec<&str> = out
            .policies
            .iter()
            .map(|p| p.metadata.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "default-deny-ingress",
                "portreeve-shop-db",
                "portreeve-shop-db-2"
            ]
        );
        let db = &out.policies[1];
        let rule = &db.spec.ingress[0];
        let peers: Vec<String> = rule
            .from
            .iter()
            .map(|p| serde_json::to_string(p).unwrap())
            .collect();
        assert_eq!(
            peers,
            [
                r#"{"ipBlock":{"cidr":"192.0.2.0/24"}}"#,
                r#"{"ipBlock":{"cidr":"2001:db8::/48"}}"#,
                r#"{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"web"}}}"#,
            ]
        );
        assert_eq!(rule.ports.len(), 4);
        assert_eq!(rule.ports[3], PortDoc::range(Protocol::Udp, 7000, 7010));
        // The IPv6-only rule keeps only the IPv6 network.
        assert_eq!(out.policies[2].spec.ingress[0].from.len(), 1);
        let cluster = read_str("r.yaml", &to_yaml(&out.policies)).unwrap();
        assert_eq!(cluster.policies.len(), 3);
    }

    #[test]
    fn a_rule_whose_zones_give_no_source_allows_nothing_rather_than_everything() {
        // Validation refuses a family none of the zones' networks has; a
        // policy built some other way must still not open everything.
        let mut policy = portreeve_policy::parse_policy(
            "p.toml",
            "[zones]\noffice = [\"192.0.2.0/24\"]\n[[rule]]\nport = 80\nprotocol = \"tcp\"\nzones = [\"office\"]\npods = { namespace = \"shop\" }\n",
        )
        .unwrap();
        policy.pod_rules[0].rule.families = vec![Family::Ipv6];
        let out = render(&policy);
        assert_eq!(out.policies[1].metadata.name, "portreeve-rule-1");
        assert!(out.policies[1].spec.ingress.is_empty());
    }
}

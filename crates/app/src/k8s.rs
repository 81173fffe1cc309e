//! `k8s check`: a cluster's manifests judged as `check` judges a host —
//! the facts [`portreeve_k8s::lint`] finds, turned into findings PR015 to
//! PR020 with the risk catalogue's severities, the policy's
//! `min_severity`, `risky_severity` and accepted risks.

use std::path::PathBuf;

use portreeve_core::{Finding, FindingKind, Proto, ResourceRef, Severity};
use portreeve_k8s::lint::{self, Fact, NeverMatches, Publication, Publisher, Way};
use portreeve_k8s::model::NetworkPolicy;
use portreeve_k8s::{Cluster, Direction, Protocol, manifest};
use portreeve_policy::Policy;
use portreeve_policy::catalogue::{self, CatalogueEntry};

use crate::check::{Summary, settle, today};
use crate::counted;
use crate::error::AppError;
use crate::policy::LoadedPolicy;

/// What `k8s check` found.
#[derive(Debug, Clone)]
pub struct K8sCheckReport {
    /// The policy judged by (its catalogue thresholds and accepted risks).
    pub policy: LoadedPolicy,
    /// The cluster as read from the manifests.
    pub cluster: Cluster,
    /// Findings at or above the policy's `min_severity`, most severe first;
    /// those an accepted risk covers are marked `accepted`.
    pub findings: Vec<Finding>,
    /// Their counts (no sockets: `listeners` and `exposed` are 0).
    pub summary: Summary,
}

/// Reads the manifests at `paths` (files, directories, `-`) and judges
/// them by `policy`. Bad manifests are [`AppError::Invalid`], located.
pub fn check(policy: LoadedPolicy, paths: &[PathBuf]) -> Result<K8sCheckReport, AppError> {
    let cluster = manifest::read_paths(paths).map_err(|e| AppError::Invalid(e.to_string()))?;
    let mut findings = findings(&policy.policy, &cluster);
    settle(&policy.policy, &mut findings, today());
    let summary = Summary::of(&[], &findings);
    Ok(K8sCheckReport {
        policy,
        cluster,
        findings,
        summary,
    })
}

/// Every finding about `cluster` under `policy`, before `min_severity` and
/// accepted risks are applied.
pub fn findings(policy: &Policy, cluster: &Cluster) -> Vec<Finding> {
    let judge = Judge { policy, cluster };
    lint::lint(cluster)
        .iter()
        .filter_map(|fact| judge.finding(fact))
        .collect()
}

/// How many items evidence lists before `… and N more`.
const SHOWN: usize = 20;

/// Turns facts about one cluster into findings.
struct Judge<'a> {
    policy: &'a Policy,
    cluster: &'a Cluster,
}

impl Judge<'_> {
    fn finding(&self, fact: &Fact) -> Option<Finding> {
        match fact {
            Fact::NamespaceNotIsolated { namespace, pods } => {
                Some(self.namespace_open(namespace, pods))
            }
            Fact::ReachableFromOutside {
                pod,
                protocol,
                port,
                from,
            } => self.reachable(*pod, *protocol, *port, from),
            Fact::Published(publication) => self.published(publication),
            Fact::PolicySelectsNothing { policy } => Some(self.selects_nothing(*policy)),
            Fact::RuleNeverMatches {
                policy,
                direction,
                index,
                reason,
            } => Some(self.never_matches(*policy, *direction, *index, *reason)),
            Fact::NamedPortUnresolved {
                policy,
                direction,
                index,
                protocol,
                name,
            } => Some(self.unresolved(*policy, *direction, *index, *protocol, name)),
        }
    }

    /// The catalogue's entry for a port, when it is at least the policy's
    /// `risky_severity` (SCTP ports are not catalogued).
    fn risky(&self, protocol: Protocol, port: u16) -> Option<&'static CatalogueEntry> {
        let proto = match protocol {
            Protocol::Tcp => Proto::Tcp,
            Protocol::Udp => Proto::Udp,
            Protocol::Sctp => return None,
        };
        catalogue::lookup(proto, port).filter(|e| e.severity >= self.policy.defaults.risky_severity)
    }

    fn namespace_open(&self, namespace: &str, pods: &[usize]) -> Finding {
        let kind = FindingKind::K8sNamespaceWithoutDefaultDeny;
        let evidence = listed(pods.iter().map(|&i| {
            format!(
                "{} accepts every port: no NetworkPolicy selects it for ingress",
                self.pod_name(i)
            )
        }));
        Finding {
            message: format!(
                "namespace {namespace} has no default deny: {} {} every port from everyone",
                counted(pods.len(), "pod"),
                if pods.len() == 1 { "accepts" } else { "accept" }
            ),
            rationale: kind.description().to_string(),
            remediation: "Add a default deny to the namespace (podSelector: {}, policyTypes: \
                          [Ingress]) and allow what its pods need."
                .into(),
            ..new_finding(
                kind,
                format!("k8s|namespace|{namespace}"),
                Severity::Medium,
                ResourceRef {
                    kind: "Namespace".into(),
                    namespace: None,
                    name: namespace.to_string(),
                    file: self.file("Namespace", "", namespace),
                },
                evidence,
            )
        }
    }

    fn reachable(
        &self,
        pod: usize,
        protocol: Protocol,
        port: u16,
        from: &[ipnet::IpNet],
    ) -> Option<Finding> {
        let entry = self.risky(protocol, port)?;
        let kind = FindingKind::K8sRiskyPodReachable;
        let p = &self.cluster.pods[pod];
        let mut evidence = listed(from.iter().map(|net| format!("reachable from {net}")));
        evidence.push(catalogued(entry, protocol, port));
        Some(Finding {
            message: format!(
                "{} {}: {} ({port}/{}) can be reached from outside the cluster",
                p.kind,
                p.id(),
                entry.service,
                lower(protocol)
            ),
            rationale: entry.rationale.into(),
            remediation: format!(
                "Narrow the pod's ingress rules to the pods, namespaces or networks that need \
                 the service. {}",
                entry.remediation
            ),
            ..new_finding(
                kind,
                format!("k8s|pod|{}|{}|{port}", p.id(), lower(protocol)),
                entry.severity,
                self.pod_resource(pod),
                evidence,
            )
        })
    }

    fn published(&self, publication: &Publication) -> Option<Finding> {
        let Publication {
            by,
            ways,
            protocol,
            port,
            pods,
        } = publication;
        let entry = self.risky(*protocol, *port)?;
        let kind = FindingKind::K8sRiskyServiceExposed;
        let (resource, key_kind) = match *by {
            Publisher::Service(s) => {
                let service = &self.cluster.services[s];
                let resource = ResourceRef {
                    kind: "Service".into(),
                    namespace: Some(service.namespace.clone()),
                    name: service.name.clone(),
                    file: self.file("Service", &service.namespace, &service.name),
                };
                (resource, "service")
            }
            Publisher::Pod(i) => (self.pod_resource(i), "pod"),
        };
        let id = format!(
            "{}/{}",
            resource.namespace.as_deref().unwrap_or_default(),
            resource.name
        );
        let how: Vec<String> = ways.iter().map(way_text).collect();
        let mut evidence: Vec<String> = how.iter().map(|w| format!("published {w}")).collect();
        evidence.extend(listed(
            pods.iter()
                .map(|&i| format!("served by {}", self.pod_name(i))),
        ));
        evidence.push(catalogued(entry, *protocol, *port));
        Some(Finding {
            message: format!(
                "{resource} publishes {} ({port}/{}) {}",
                entry.service,
                lower(*protocol),
                how.join(", ")
            ),
            rationale: entry.rationale.into(),
            remediation: format!(
                "Make the Service a ClusterIP one behind an authenticated ingress, drop the \
                 hostPort or hostNetwork, or firewall the node port. {}",
                entry.remediation
            ),
            ..new_finding(
                kind,
                format!("k8s|{key_kind}|{id}|{}|{port}", lower(*protocol)),
                entry.severity,
                resource,
                evidence,
            )
        })
    }

    fn selects_nothing(&self, policy: usize) -> Finding {
        let kind = FindingKind::K8sPolicySelectsNothing;
        let p = &self.cluster.policies[policy];
        Finding {
            message: format!("NetworkPolicy {} selects no pod", p.id()),
            rationale: kind.description().to_string(),
            remediation: "Fix the podSelector's labels, or delete the policy.".into(),
            ..new_finding(
                kind,
                format!("k8s|networkpolicy|{}", p.id()),
                Severity::Low,
                self.policy_resource(p),
                vec![format!(
                    "no pod or workload template in namespace {} matches its podSelector",
                    p.namespace
                )],
            )
        }
    }

    fn never_matches(
        &self,
        policy: usize,
        direction: Direction,
        index: usize,
        reason: NeverMatches,
    ) -> Finding {
        let kind = FindingKind::K8sRuleNeverMatches;
        let p = &self.cluster.policies[policy];
        let why = match (reason, direction) {
            (NeverMatches::NoPeer, Direction::Ingress) => {
                "its `from` selects no pod and holds no address"
            }
            (NeverMatches::NoPeer, Direction::Egress) => {
                "its `to` selects no pod and holds no address"
            }
            (NeverMatches::NoPort, _) => {
                "its ports are names that no pod the rule applies to declares"
            }
        };
        Finding {
            message: format!(
                "{} rule {index} of NetworkPolicy {} never matches: {why}",
                direction_name(direction),
                p.id()
            ),
            rationale: kind.description().to_string(),
            remediation: "Correct the rule's selectors or ports, or remove the rule.".into(),
            ..new_finding(
                kind,
                format!(
                    "k8s|networkpolicy|{}|{}|{index}",
                    p.id(),
                    direction_name(direction)
                ),
                Severity::Low,
                self.policy_resource(p),
                vec![format!(
                    "spec.{}[{index}]: {why}",
                    direction_name(direction)
                )],
            )
        }
    }

    fn unresolved(
        &self,
        policy: usize,
        direction: Direction,
        index: usize,
        protocol: Protocol,
        name: &str,
    ) -> Finding {
        let kind = FindingKind::K8sNamedPortUnresolved;
        let p = &self.cluster.policies[policy];
        let whose = match direction {
            Direction::Ingress => "the pods the policy selects",
            Direction::Egress => "the pods the rule sends to",
        };
        Finding {
            message: format!(
                "{} rule {index} of NetworkPolicy {} names port {name}/{}, which none of {whose} declares",
                direction_name(direction),
                p.id(),
                lower(protocol)
            ),
            rationale: kind.description().to_string(),
            remediation: "Name the container port, or write the port number.".into(),
            ..new_finding(
                kind,
                format!(
                    "k8s|networkpolicy|{}|{}|{index}|{name}/{}",
                    p.id(),
                    direction_name(direction),
                    lower(protocol)
                ),
                Severity::Low,
                self.policy_resource(p),
                vec![format!(
                    "spec.{}[{index}].ports: no container port named {name} with protocol {protocol} among {whose}",
                    direction_name(direction)
                )],
            )
        }
    }

    fn file(&self, kind: &str, namespace: &str, name: &str) -> Option<String> {
        self.cluster
            .source(kind, namespace, name)
            .map(str::to_string)
    }

    /// `Deployment shop/web`.
    fn pod_name(&self, i: usize) -> String {
        let p = &self.cluster.pods[i];
        format!("{} {}", p.kind, p.id())
    }

    fn pod_resource(&self, i: usize) -> ResourceRef {
        let p = &self.cluster.pods[i];
        ResourceRef {
            kind: p.kind.clone(),
            namespace: Some(p.namespace.clone()),
            name: p.name.clone(),
            file: self.file("Pod", &p.namespace, &p.name),
        }
    }

    fn policy_resource(&self, p: &NetworkPolicy) -> ResourceRef {
        ResourceRef {
            kind: "NetworkPolicy".into(),
            namespace: Some(p.namespace.clone()),
            name: p.name.clone(),
            file: self.file("NetworkPolicy", &p.namespace, &p.name),
        }
    }
}

/// A finding about `resource` keyed by `key` (docs/findings.md,
/// "Fingerprints"); callers fill in message, rationale and remediation.
fn new_finding(
    kind: FindingKind,
    key: String,
    severity: Severity,
    resource: ResourceRef,
    evidence: Vec<String>,
) -> Finding {
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, &key),
        severity,
        message: String::new(),
        socket: None,
        service: None,
        pids: Vec::new(),
        rule: None,
        resource: Some(resource),
        evidence,
        rationale: String::new(),
        remediation: String::new(),
        reach: None,
        accepted: None,
    }
}

/// The first [`SHOWN`] items, then `… and N more`.
fn listed(items: impl ExactSizeIterator<Item = String>) -> Vec<String> {
    let total = items.len();
    let mut out: Vec<String> = items.take(SHOWN).collect();
    if total > SHOWN {
        out.push(format!("… and {} more", total - SHOWN));
    }
    out
}

/// `catalogue: Redis, critical (6379/tcp)`.
fn catalogued(entry: &CatalogueEntry, protocol: Protocol, port: u16) -> String {
    format!(
        "catalogue: {}, {} ({port}/{})",
        entry.service,
        entry.severity,
        lower(protocol)
    )
}

/// `by NodePort 30079`, `on external IP 192.0.2.7:80`, ….
fn way_text(way: &Way) -> String {
    match way {
        Way::NodePort(Some(p)) => format!("by NodePort {p}"),
        Way::NodePort(None) => "by NodePort (allocated)".into(),
        Way::LoadBalancer(Some(p)) => format!("by LoadBalancer (node port {p})"),
        Way::LoadBalancer(None) => "by LoadBalancer".into(),
        Way::ExternalIp { ip, port } => format!("on external IP {ip}:{port}"),
        Way::HostPort(p) => format!("on the node's hostPort {p}"),
        Way::HostNetwork => "on the node's network (hostNetwork)".into(),
    }
}

/// `tcp`, `udp`, `sctp`: as fingerprint keys and messages write protocols.
fn lower(protocol: Protocol) -> String {
    protocol.as_str().to_ascii_lowercase()
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = r#"
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db}}
spec:
  containers:
  - name: redis
    ports: [{name: redis, containerPort: 6379}]
---
kind: Pod
metadata: {name: ssh, namespace: shop, labels: {app: ssh}}
spec:
  containers:
  - name: ssh
    ports: [{containerPort: 22}]
"#;

    fn judged(policy: &Policy) -> Vec<Finding> {
        findings(policy, &manifest::read_str("c.yaml", CLUSTER).unwrap())
    }

    #[test]
    fn risky_ports_take_the_catalogue_severity_and_pinned_keys() {
        let found = judged(&portreeve_policy::baseline());
        let redis = found
            .iter()
            .find(|f| f.kind == FindingKind::K8sRiskyPodReachable)
            .expect("redis is reachable from outside");
        assert_eq!(redis.severity, Severity::Critical);
        assert_eq!(
            redis.fingerprint,
            Finding::fingerprint_of(redis.kind, "k8s|pod|shop/db|tcp|6379")
        );
        assert_eq!(
            redis.resource.as_ref().unwrap().file.as_deref(),
            Some("c.yaml")
        );
        // SSH is catalogued below the baseline's risky_severity (high).
        assert_eq!(
            found
                .iter()
                .filter(|f| f.kind == FindingKind::K8sRiskyPodReachable)
                .count(),
            1
        );
        let ns = found
            .iter()
            .find(|f| f.kind == FindingKind::K8sNamespaceWithoutDefaultDeny)
            .unwrap();
        assert_eq!(
            ns.fingerprint, "e99addd91b1d70dc",
            "the pinned k8s|namespace|shop"
        );
        assert!(found.iter().all(|f| !f.evidence.is_empty()));
    }

    #[test]
    fn risky_severity_lowers_the_bar() {
        let policy = portreeve_policy::parse_policy(
            "p.toml",
            "version = 1\n[defaults]\nrisky_severity = \"low\"\n",
        )
        .unwrap();
        let reachable: Vec<String> = judged(&policy)
            .into_iter()
            .filter(|f| f.kind == FindingKind::K8sRiskyPodReachable)
            .map(|f| f.fingerprint)
            .collect();
        let expected: Vec<String> = ["k8s|pod|shop/db|tcp|6379", "k8s|pod|shop/ssh|tcp|22"]
            .iter()
            .map(|key| Finding::fingerprint_of(FindingKind::K8sRiskyPodReachable, key))
            .collect();
        assert_eq!(reachable, expected);
    }

    #[test]
    fn host_ports_and_external_ips_are_keyed_by_what_publishes_them() {
        let cluster = manifest::read_str(
            "p.yaml",
            r#"
kind: DaemonSet
metadata: {name: pg, namespace: data}
spec:
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers:
      - name: pg
        ports: [{name: pg, containerPort: 5432, hostPort: 5432}, {containerPort: 8443, hostPort: 8443}]
---
kind: Service
metadata: {name: pg, namespace: data}
spec:
  selector: {app: pg}
  externalIPs: [192.0.2.9]
  ports: [{port: 15432, targetPort: pg}]
"#,
        )
        .unwrap();
        let published: Vec<(String, Severity, String)> =
            findings(&portreeve_policy::baseline(), &cluster)
                .into_iter()
                .filter(|f| f.kind == FindingKind::K8sRiskyServiceExposed)
                .map(|f| (f.fingerprint, f.severity, f.resource.unwrap().to_string()))
                .collect();
        let key = |k: &str| Finding::fingerprint_of(FindingKind::K8sRiskyServiceExposed, k);
        // 8443 (HTTPS alternate) is below the baseline's risky_severity.
        assert_eq!(
            published,
            [
                (
                    key("k8s|service|data/pg|tcp|5432"),
                    Severity::High,
                    "Service data/pg".to_string()
                ),
                (
                    key("k8s|pod|data/pg|tcp|5432"),
                    Severity::High,
                    "DaemonSet data/pg".to_string()
                ),
            ]
        );
    }
}

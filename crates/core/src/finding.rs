//! Findings: what `portreeve check` reports.

use std::fmt;
use std::net::IpAddr;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::{BindScope, Exposure, Family, ListeningSocket, NetnsRef, Proto, Severity};

/// The kinds of finding `check` can report. Each has a stable code (`PR001`…)
/// and name that never change meaning once released; new kinds get new codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// A non-loopback listener no policy rule allows.
    ListenerNotAllowed,
    /// A banned port listening on a non-loopback address.
    BannedPort,
    /// A catalogued risky service bound to a wildcard or public address,
    /// although a rule allows the port.
    RiskyExposure,
    /// The approval of a rule has expired.
    ApprovalExpired,
    /// The approval of a rule expires soon.
    ApprovalExpiring,
    /// A rule allows a port on which nothing listens.
    StaleRule,
    /// A listener accepts an address family its rule does not intend,
    /// typically IPv4 through a dual-stack `::` socket.
    UnintendedFamily,
    /// A rule names a service identity but the socket's owner could not be
    /// determined, so the binding cannot be verified.
    OwnerUnverified,
    /// A scan reached a risky service.
    ReachableRiskyService,
    /// A scan found a service that answers without authentication.
    UnauthenticatedService,
    /// A scan reached a port the policy does not allow from the scan's
    /// source (or bans).
    ReachableAgainstPolicy,
    /// A scan reached a port on which nothing listens on the host: NAT, a
    /// proxy or container port publishing forwards it elsewhere.
    ReachableWithoutListener,
    /// A listening or allowed port has had no new connection for the
    /// policy's `abandoned_after`, and the policy would have it closed.
    AbandonedPort,
    /// portreeve's table in the kernel is not the ruleset portreeve
    /// installed: something changed it by hand.
    TableDrift,
    /// A Kubernetes namespace without a default deny: some of its pods accept traffic no NetworkPolicy names.
    K8sNamespaceWithoutDefaultDeny,
    /// A Kubernetes pod can be reached from outside the cluster on a risky port.
    K8sRiskyPodReachable,
    /// A risky service of a Kubernetes pod is exposed beyond the cluster network by NodePort, LoadBalancer, externalIPs, hostPort or hostNetwork.
    K8sRiskyServiceExposed,
    /// A Kubernetes NetworkPolicy selects no pod.
    K8sPolicySelectsNothing,
    /// A rule of a Kubernetes NetworkPolicy can never match.
    K8sRuleNeverMatches,
    /// A named port in a Kubernetes NetworkPolicy resolves on no pod.
    K8sNamedPortUnresolved,
    /// A cloud security group opens a risky port to the whole internet.
    CloudRiskyOpening,
    /// A cloud security group opens an overly wide port range.
    CloudWidePortRange,
    /// What listens (a package of this host, or a product a scan named) is
    /// affected by a published advisory.
    KnownVulnerability,
    /// A port's connections in one hour are implausible against its own
    /// hourly history (the agent's usage anomalies).
    UsageAnomaly,
}

impl FindingKind {
    /// Every kind, in code order.
    pub const ALL: [FindingKind; 24] = [
        FindingKind::ListenerNotAllowed,
        FindingKind::BannedPort,
        FindingKind::RiskyExposure,
        FindingKind::ApprovalExpired,
        FindingKind::ApprovalExpiring,
        FindingKind::StaleRule,
        FindingKind::UnintendedFamily,
        FindingKind::OwnerUnverified,
        FindingKind::ReachableRiskyService,
        FindingKind::UnauthenticatedService,
        FindingKind::ReachableAgainstPolicy,
        FindingKind::ReachableWithoutListener,
        FindingKind::AbandonedPort,
        FindingKind::TableDrift,
        FindingKind::K8sNamespaceWithoutDefaultDeny,
        FindingKind::K8sRiskyPodReachable,
        FindingKind::K8sRiskyServiceExposed,
        FindingKind::K8sPolicySelectsNothing,
        FindingKind::K8sRuleNeverMatches,
        FindingKind::K8sNamedPortUnresolved,
        FindingKind::CloudRiskyOpening,
        FindingKind::CloudWidePortRange,
        FindingKind::KnownVulnerability,
        FindingKind::UsageAnomaly,
    ];

    /// The anchor of the kind's section in docs/findings.md, whose heading
    /// is `PR001 \`listener-not-allowed\``: `pr001-listener-not-allowed`.
    pub fn docs_anchor(self) -> String {
        format!("{}-{}", self.code().to_ascii_lowercase(), self.name())
    }

    /// The stable code, e.g. `PR001`.
    pub fn code(self) -> &'static str {
        match self {
            FindingKind::ListenerNotAllowed => "PR001",
            FindingKind::BannedPort => "PR002",
            FindingKind::RiskyExposure => "PR003",
            FindingKind::ApprovalExpired => "PR004",
            FindingKind::ApprovalExpiring => "PR005",
            FindingKind::StaleRule => "PR006",
            FindingKind::UnintendedFamily => "PR007",
            FindingKind::OwnerUnverified => "PR008",
            FindingKind::ReachableRiskyService => "PR009",
            FindingKind::UnauthenticatedService => "PR010",
            FindingKind::ReachableAgainstPolicy => "PR011",
            FindingKind::ReachableWithoutListener => "PR012",
            FindingKind::AbandonedPort => "PR013",
            FindingKind::TableDrift => "PR014",
            FindingKind::K8sNamespaceWithoutDefaultDeny => "PR015",
            FindingKind::K8sRiskyPodReachable => "PR016",
            FindingKind::K8sRiskyServiceExposed => "PR017",
            FindingKind::K8sPolicySelectsNothing => "PR018",
            FindingKind::K8sRuleNeverMatches => "PR019",
            FindingKind::K8sNamedPortUnresolved => "PR020",
            FindingKind::CloudRiskyOpening => "PR021",
            FindingKind::CloudWidePortRange => "PR022",
            FindingKind::KnownVulnerability => "PR023",
            FindingKind::UsageAnomaly => "PR024",
        }
    }

    /// The stable kebab-case name, e.g. `listener-not-allowed`.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::ListenerNotAllowed => "listener-not-allowed",
            FindingKind::BannedPort => "banned-port",
            FindingKind::RiskyExposure => "risky-exposure",
            FindingKind::ApprovalExpired => "approval-expired",
            FindingKind::ApprovalExpiring => "approval-expiring",
            FindingKind::StaleRule => "stale-rule",
            FindingKind::UnintendedFamily => "unintended-address-family",
            FindingKind::OwnerUnverified => "owner-unverified",
            FindingKind::ReachableRiskyService => "reachable-risky-service",
            FindingKind::UnauthenticatedService => "unauthenticated-service",
            FindingKind::ReachableAgainstPolicy => "reachable-against-policy",
            FindingKind::ReachableWithoutListener => "reachable-without-listener",
            FindingKind::AbandonedPort => "abandoned-port",
            FindingKind::TableDrift => "table-drift",
            FindingKind::K8sNamespaceWithoutDefaultDeny => "k8s-namespace-without-default-deny",
            FindingKind::K8sRiskyPodReachable => "k8s-risky-pod-reachable",
            FindingKind::K8sRiskyServiceExposed => "k8s-risky-service-exposed",
            FindingKind::K8sPolicySelectsNothing => "k8s-policy-selects-no-pod",
            FindingKind::K8sRuleNeverMatches => "k8s-rule-never-matches",
            FindingKind::K8sNamedPortUnresolved => "k8s-named-port-unresolved",
            FindingKind::CloudRiskyOpening => "cloud-risky-opening",
            FindingKind::CloudWidePortRange => "cloud-wide-port-range",
            FindingKind::KnownVulnerability => "known-vulnerability",
            FindingKind::UsageAnomaly => "usage-anomaly",
        }
    }

    /// One sentence saying what the kind means, for rule catalogues such as
    /// SARIF's `tool.driver.rules`.
    pub fn description(self) -> &'static str {
        match self {
            FindingKind::ListenerNotAllowed => {
                "A socket listens on a non-loopback address but no policy rule allows its port."
            }
            FindingKind::BannedPort => {
                "A port on the policy's banned list listens on a non-loopback address."
            }
            FindingKind::RiskyExposure => {
                "A service known to be risky when exposed is bound to a wildcard or public address, although a rule allows its port."
            }
            FindingKind::ApprovalExpired => "The approval of a policy rule has expired.",
            FindingKind::ApprovalExpiring => "The approval of a policy rule expires soon.",
            FindingKind::StaleRule => "A policy rule allows a port on which nothing listens.",
            FindingKind::UnintendedFamily => {
                "A listener accepts an address family (typically IPv4 through a dual-stack socket) that its rule does not intend."
            }
            FindingKind::OwnerUnverified => {
                "A rule binds a port to a service identity, but the socket's owner could not be determined."
            }
            FindingKind::ReachableRiskyService => {
                "A scan from outside reached a service known to be risky when exposed."
            }
            FindingKind::UnauthenticatedService => {
                "A scan found a service that serves data or commands without authentication."
            }
            FindingKind::ReachableAgainstPolicy => {
                "A scan reached a port the policy does not allow from the scan's source network."
            }
            FindingKind::ReachableWithoutListener => {
                "A scan reached a port with no listener on the host: NAT, a proxy or container publishing forwards it."
            }
            FindingKind::AbandonedPort => {
                "A listening or allowed port has had no new connection for the policy's abandoned threshold; the policy would have it closed."
            }
            FindingKind::TableDrift => {
                "portreeve's firewall table in the kernel differs from the ruleset portreeve installed: it was changed outside portreeve."
            }
            FindingKind::K8sNamespaceWithoutDefaultDeny => {
                "A Kubernetes namespace has pods that no NetworkPolicy isolates for ingress, so every pod and outside address that can route to them reaches every port."
            }
            FindingKind::K8sRiskyPodReachable => {
                "A Kubernetes pod can be reached from addresses outside the cluster on a port the risk catalogue names, as its NetworkPolicies allow."
            }
            FindingKind::K8sRiskyServiceExposed => {
                "A Kubernetes Service (NodePort, LoadBalancer, externalIPs) or a pod's hostPort or hostNetwork publishes a port the risk catalogue names beyond the pod network."
            }
            FindingKind::K8sPolicySelectsNothing => {
                "A Kubernetes NetworkPolicy's podSelector matches no pod in its namespace, so it neither isolates nor allows anything."
            }
            FindingKind::K8sRuleNeverMatches => {
                "A rule of a Kubernetes NetworkPolicy can never allow anything: its peers select no pod and no address, or its ports resolve on none of the pods it applies to."
            }
            FindingKind::K8sNamedPortUnresolved => {
                "A named port in a Kubernetes NetworkPolicy names no container port (with that protocol) of any pod the rule applies to."
            }
            FindingKind::CloudRiskyOpening => {
                "A cloud security group or firewall rule opens a port the risk catalogue names to 0.0.0.0/0 or ::/0."
            }
            FindingKind::CloudWidePortRange => {
                "A cloud security group or firewall rule opens a wide port range (or every port) to addresses beyond its own network."
            }
            FindingKind::KnownVulnerability => {
                "A package that owns a listening socket, or a product a scan identified, is at a version a published advisory names as affected."
            }
            FindingKind::UsageAnomaly => {
                "A port saw a number of connections in one hour that its own hourly history makes implausible: a burst, use at an hour never used, or a quiet port suddenly busy."
            }
        }
    }

    /// Looks a kind up by its code or name.
    pub fn from_code_or_name(s: &str) -> Option<FindingKind> {
        FindingKind::ALL
            .into_iter()
            .find(|k| k.code().eq_ignore_ascii_case(s) || k.name() == s)
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// Where in a policy file something was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyLocation {
    /// The policy file as given on the command line, or `<built-in baseline>`.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for PolicyLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The policy rule a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyRuleRef {
    /// The rule's `name`, or `rule #N` (1-based) for an unnamed rule.
    pub name: String,
    /// Where the rule starts in the policy file.
    pub location: PolicyLocation,
}

/// The socket a finding is about, without its owners (reported separately
/// as `service` and `pids`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketRef {
    /// Transport protocol.
    pub protocol: Proto,
    /// Socket address family.
    pub family: Family,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// `addr:port` as written by humans, e.g. `[::]:443`.
    pub endpoint: String,
    /// Bind scope.
    pub scope: BindScope,
    /// Whether an IPv6 wildcard socket also accepts IPv4.
    pub dual_stack: bool,
    /// Network namespace.
    pub netns: NetnsRef,
    /// Socket inode.
    pub inode: u64,
}

impl From<&ListeningSocket> for SocketRef {
    fn from(s: &ListeningSocket) -> Self {
        SocketRef {
            protocol: s.protocol,
            family: s.family,
            address: s.address,
            port: s.port,
            endpoint: s.endpoint(),
            scope: s.scope,
            dual_stack: s.dual_stack,
            netns: s.netns.clone(),
            inode: s.inode,
        }
    }
}

/// An object a finding is about that is neither a socket of this host nor a
/// policy rule: a Kubernetes resource read from manifests, or a cloud
/// security group read from a provider's API output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    /// Its kind as its API names it: `Namespace`, `Pod`, `Deployment`,
    /// `Service`, `NetworkPolicy`, `SecurityGroup`, `Firewall`.
    pub kind: String,
    /// Its Kubernetes namespace, or the VPC or network that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name (for a security group, its id).
    pub name: String,
    /// The file it was read from (`-` for standard input), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One problem `check` found, with everything needed to act on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem this is; serialised as `id` (code) and `name`.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// A digest of the kind and the object it is about (socket or rule) that
    /// stays the same across runs, so dashboards can track and suppress a
    /// finding over time. Owners and inodes are left out: a restarted service
    /// is the same exposure.
    pub fingerprint: String,
    /// How urgent it is.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// The socket concerned, if the finding is about one.
    pub socket: Option<SocketRef>,
    /// Owning service (unit, container or process name), when known.
    pub service: Option<String>,
    /// Pids holding the socket.
    pub pids: Vec<u32>,
    /// The policy rule concerned, if any.
    pub rule: Option<PolicyRuleRef>,
    /// The object off this host the finding is about (a Kubernetes resource,
    /// a cloud security group), for findings about something other than a
    /// socket of this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// Observed facts that support the finding.
    pub evidence: Vec<String>,
    /// Why it matters.
    pub rationale: String,
    /// What to do about it.
    pub remediation: String,
    /// Where the socket can be reached from, which the severity reflects
    /// (socket findings of a live check only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<Exposure>,
    /// The policy's accepted risk covering this finding, while it lasts.
    /// An accepted finding is shown but counts toward no total, threshold
    /// or monitoring state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
}

/// An exception in the policy (`[[accepted_risk]]`) that covers a finding
/// until it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    /// Who answers for the risk.
    pub owner: String,
    /// Why it is accepted.
    pub reason: String,
    /// The last day the acceptance holds.
    pub expires: jiff::civil::Date,
    /// Where the exception is written.
    pub location: PolicyLocation,
}

impl Serialize for FindingKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("id", self.code())?;
        map.serialize_entry("name", self.name())?;
        map.end()
    }
}

impl Finding {
    /// The stable fingerprint of a finding of `kind` about the object
    /// described by `key` (e.g. `tcp|0.0.0.0|6379||host`): the first 8
    /// bytes of SHA-256 over the code, a zero byte and the key, in
    /// lower-case hex. The formula is a published contract
    /// (docs/findings.md, "Fingerprints") that dashboards key on, so its
    /// tests pin values computed outside Rust.
    pub fn fingerprint_of(kind: FindingKind, key: &str) -> String {
        let digest = Sha256::new()
            .chain_update(kind.code())
            .chain_update([0])
            .chain_update(key)
            .finalize();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The fingerprint key of a socket: protocol, address, port, device and
    /// namespace name (inode numbers change across reboots, names do not).
    pub fn socket_key(s: &ListeningSocket) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            s.protocol,
            s.address,
            s.port,
            s.interface.as_deref().unwrap_or(""),
            s.netns.name.as_deref().unwrap_or("")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let mut codes: Vec<_> = FindingKind::ALL.iter().map(|k| k.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), FindingKind::ALL.len());
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::from_code_or_name(k.code()), Some(k));
            assert_eq!(FindingKind::from_code_or_name(k.name()), Some(k));
        }
        assert_eq!(FindingKind::from_code_or_name("PR999"), None);
    }

    /// Pinned values of the documented formula (docs/findings.md,
    /// "Fingerprints"): the first 8 bytes of SHA-256 over the code, a zero
    /// byte and the key, in hex. Each expected value was computed once
    /// outside Rust with coreutils, by the command in its comment, so a
    /// change to the hash, the separator, the truncation, the hex case or a
    /// key's layout fails here instead of silently re-keying every
    /// dashboard's findings. Between them the cases cover every input of the
    /// formula: each key form of the table (socket, rule, port use, table,
    /// scan), both address families, an IPv4-mapped address, an interface
    /// and a namespace name present and absent, a port range, both
    /// protocols and `tcp+udp`, an unnamed rule, and one key under two codes.
    #[test]
    fn fingerprints_follow_the_documented_formula() {
        use FindingKind::*;
        let pinned = [
            // printf 'PR001\0%s' 'tcp|0.0.0.0|6379||host' | sha256sum | cut -c1-16
            (
                ListenerNotAllowed,
                "tcp|0.0.0.0|6379||host",
                "7658c21701a126d2",
            ),
            // printf 'PR002\0%s' 'tcp|0.0.0.0|6379||host' | sha256sum | cut -c1-16
            (BannedPort, "tcp|0.0.0.0|6379||host", "ba2bbe2f4146fd6f"),
            // printf 'PR007\0%s' 'tcp|::|9100||host' | sha256sum | cut -c1-16
            (UnintendedFamily, "tcp|::|9100||host", "09c7693909c7474c"),
            // printf 'PR002\0%s' 'udp|192.0.2.10|161|eth0|blue' | sha256sum | cut -c1-16
            (
                BannedPort,
                "udp|192.0.2.10|161|eth0|blue",
                "4f87a8474f92b4c7",
            ),
            // printf 'PR008\0%s' 'udp|fe80::1|4789|vxlan0|' | sha256sum | cut -c1-16
            (
                OwnerUnverified,
                "udp|fe80::1|4789|vxlan0|",
                "fea2f1bd37466fcd",
            ),
            // printf 'PR003\0%s' 'tcp|::ffff:192.0.2.7|5432||' | sha256sum | cut -c1-16
            (
                RiskyExposure,
                "tcp|::ffff:192.0.2.7|5432||",
                "c450934468766cb3",
            ),
            // printf 'PR004\0%s' 'rule|ssh|22/tcp' | sha256sum | cut -c1-16
            (ApprovalExpired, "rule|ssh|22/tcp", "b3f32eb7c47fd342"),
            // printf 'PR005\0%s' 'rule|web|80/tcp, 443/tcp' | sha256sum | cut -c1-16
            (
                ApprovalExpiring,
                "rule|web|80/tcp, 443/tcp",
                "e286b5a2c9954bf4",
            ),
            // printf 'PR006\0%s' 'rule|dns|53/tcp+udp' | sha256sum | cut -c1-16
            (StaleRule, "rule|dns|53/tcp+udp", "5ffb6f2652a6282c"),
            // printf 'PR006\0%s' 'rule|rule #3|8000-8100/udp' | sha256sum | cut -c1-16
            (StaleRule, "rule|rule #3|8000-8100/udp", "2493857b4e0cb2cf"),
            // printf 'PR009\0%s' 'scan|192.0.2.10|tcp|5432' | sha256sum | cut -c1-16
            (
                ReachableRiskyService,
                "scan|192.0.2.10|tcp|5432",
                "bd85f6d89c7cd91b",
            ),
            // printf 'PR010\0%s' 'scan|192.0.2.10|tcp|6379' | sha256sum | cut -c1-16
            (
                UnauthenticatedService,
                "scan|192.0.2.10|tcp|6379",
                "459939c5f152ddfd",
            ),
            // printf 'PR011\0%s' 'scan|2001:db8::10|udp|161' | sha256sum | cut -c1-16
            (
                ReachableAgainstPolicy,
                "scan|2001:db8::10|udp|161",
                "195bfc2e6865dc74",
            ),
            // printf 'PR012\0%s' 'scan|192.0.2.10|tcp|8080' | sha256sum | cut -c1-16
            (
                ReachableWithoutListener,
                "scan|192.0.2.10|tcp|8080",
                "fe3bc952d58e9794",
            ),
            // printf 'PR013\0%s' 'tcp|7070' | sha256sum | cut -c1-16
            (AbandonedPort, "tcp|7070", "dd5e3e7cd1c56cda"),
            // printf 'PR013\0%s' 'udp|5353' | sha256sum | cut -c1-16
            (AbandonedPort, "udp|5353", "e9ff3ec076528307"),
            // printf 'PR014\0%s' 'table|inet|portreeve' | sha256sum | cut -c1-16
            (TableDrift, "table|inet|portreeve", "14d175344f4d4400"),
            // printf 'PR015\0%s' 'k8s|namespace|shop' | sha256sum | cut -c1-16
            (
                K8sNamespaceWithoutDefaultDeny,
                "k8s|namespace|shop",
                "e99addd91b1d70dc",
            ),
            // printf 'PR016\0%s' 'k8s|pod|shop/db|tcp|6379' | sha256sum | cut -c1-16
            (
                K8sRiskyPodReachable,
                "k8s|pod|shop/db|tcp|6379",
                "65aeb4dd0240db5a",
            ),
            // printf 'PR017\0%s' 'k8s|service|shop/redis|tcp|6379' | sha256sum | cut -c1-16
            (
                K8sRiskyServiceExposed,
                "k8s|service|shop/redis|tcp|6379",
                "5f8b4fc36afe86f5",
            ),
            // printf 'PR018\0%s' 'k8s|networkpolicy|shop/db' | sha256sum | cut -c1-16
            (
                K8sPolicySelectsNothing,
                "k8s|networkpolicy|shop/db",
                "f3f3a287014c2997",
            ),
            // printf 'PR019\0%s' 'k8s|networkpolicy|shop/db|ingress|0' | sha256sum | cut -c1-16
            (
                K8sRuleNeverMatches,
                "k8s|networkpolicy|shop/db|ingress|0",
                "a92462720940ede2",
            ),
            // printf 'PR020\0%s' 'k8s|networkpolicy|shop/db|ingress|0|metrics/tcp' | sha256sum | cut -c1-16
            (
                K8sNamedPortUnresolved,
                "k8s|networkpolicy|shop/db|ingress|0|metrics/tcp",
                "78dfe7c4c14a91c8",
            ),
            // printf 'PR021\0%s' 'cloud|sg-0123|tcp|6379-6379|0.0.0.0/0' | sha256sum | cut -c1-16
            (
                CloudRiskyOpening,
                "cloud|sg-0123|tcp|6379-6379|0.0.0.0/0",
                "bd9cef8d5bbda156",
            ),
            // printf 'PR022\0%s' 'cloud|sg-0123|tcp|0-65535|0.0.0.0/0' | sha256sum | cut -c1-16
            (
                CloudWidePortRange,
                "cloud|sg-0123|tcp|0-65535|0.0.0.0/0",
                "4e6da35ddc226aba",
            ),
            // printf 'PR023\0%s' 'vuln|openssh|DSA-5586-1' | sha256sum | cut -c1-16
            (
                KnownVulnerability,
                "vuln|openssh|DSA-5586-1",
                "5797b57d3e27a86d",
            ),
            // printf 'PR023\0%s' 'scan|192.0.2.10|tcp|22|DSA-5586-1' | sha256sum | cut -c1-16
            (
                KnownVulnerability,
                "scan|192.0.2.10|tcp|22|DSA-5586-1",
                "f67617050ae68b4a",
            ),
            // printf 'PR024\0%s' 'anomaly|tcp|7070|2026-12-07T09:00:00Z' | sha256sum | cut -c1-16
            (
                UsageAnomaly,
                "anomaly|tcp|7070|2026-12-07T09:00:00Z",
                "59870faa4d9d52bf",
            ),
        ];
        for (kind, key, expected) in pinned {
            assert_eq!(
                Finding::fingerprint_of(kind, key),
                expected,
                "{} over {key:?}",
                kind.code()
            );
        }
        // Every kind is pinned at least once.
        for kind in FindingKind::ALL {
            assert!(pinned.iter().any(|(k, _, _)| *k == kind), "{kind} unpinned");
        }
    }

    /// The socket key is written as documented: protocol, address in its
    /// usual text form, port, `SO_BINDTODEVICE` device and namespace name,
    /// joined by `|`, absent ones empty; owners, uid, inode and the
    /// namespace's inode stay out.
    #[test]
    fn socket_keys_follow_the_documented_layout() {
        use std::sync::Arc;

        use crate::{OwnerStatus, ProcessInfo};
        let socket =
            |protocol, address: &str, port, interface: Option<&str>, netns: Option<&str>| {
                let address: IpAddr = address.parse().unwrap();
                ListeningSocket {
                    protocol,
                    family: if address.is_ipv4() {
                        Family::Ipv4
                    } else {
                        Family::Ipv6
                    },
                    address,
                    port,
                    interface: interface.map(str::to_string),
                    scope: BindScope::of(address),
                    dual_stack: false,
                    uid: 0,
                    user: None,
                    inode: 1,
                    netns: NetnsRef {
                        inode: 4026531840,
                        name: netns.map(str::to_string),
                    },
                    owner_status: OwnerStatus::NoProcess,
                    processes: Vec::new(),
                }
            };
        let cases = [
            (
                socket(Proto::Tcp, "0.0.0.0", 6379, None, Some("host")),
                "tcp|0.0.0.0|6379||host",
            ),
            (
                socket(Proto::Tcp, "::", 9100, None, Some("host")),
                "tcp|::|9100||host",
            ),
            (
                socket(Proto::Udp, "192.0.2.10", 161, Some("eth0"), Some("blue")),
                "udp|192.0.2.10|161|eth0|blue",
            ),
            (
                socket(Proto::Udp, "fe80::1", 4789, Some("vxlan0"), None),
                "udp|fe80::1|4789|vxlan0|",
            ),
            (
                socket(Proto::Tcp, "::ffff:192.0.2.7", 5432, None, None),
                "tcp|::ffff:192.0.2.7|5432||",
            ),
        ];
        for (s, key) in &cases {
            assert_eq!(Finding::socket_key(s), *key);
        }
        // What the key leaves out does not move the fingerprint.
        let mut restarted = cases[0].0.clone();
        restarted.inode = 99;
        restarted.uid = 1000;
        restarted.netns.inode = 4026532000;
        restarted.owner_status = OwnerStatus::Known;
        restarted.processes = vec![Arc::new(ProcessInfo {
            pid: 2230,
            name: "redis-server".into(),
            exe: None,
            cmdline: Vec::new(),
            systemd_unit: Some("redis.service".into()),
            container_id: None,
            attribution: Default::default(),
        })];
        assert_eq!(Finding::socket_key(&restarted), cases[0].1);
    }

    #[test]
    fn kind_serialises_as_id_and_name() {
        let v = serde_json::to_value(FindingKind::StaleRule).unwrap();
        assert_eq!(v, serde_json::json!({"id": "PR006", "name": "stale-rule"}));
    }
}

//! SARIF 2.1.0, so findings show up in code-scanning dashboards (GitHub code
//! scanning, GitLab, DefectDojo, SonarQube) next to those of other tools.
//!
//! Each finding kind is a SARIF rule; each finding is a result whose logical
//! location is the socket (`host/netns/proto/endpoint`) and, when the finding
//! is about a rule in a policy file, whose physical location is that rule's
//! line and column. The stable fingerprint becomes a partial fingerprint so
//! dashboards track a finding across runs. A finding the policy accepts
//! carries an `external` suppression (the exception lives outside the
//! scanned artifact's code) whose justification names owner, reason and
//! expiry, so dashboards show it as suppressed rather than open.

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portreeve_core::{Acceptance, Finding, FindingKind, Severity};
use serde_json::json;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultLevel, Run, Sarif, Suppression, Tool, ToolComponent,
};

/// The schema URI SARIF consumers expect in `$schema`.
const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF levels: only errors and warnings block a pull request by default.
fn level(s: Severity) -> ResultLevel {
    match s {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Info => ResultLevel::Note,
    }
}

/// GitHub ranks security results by `security-severity`, a CVSS-like score.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn text(s: impl Into<String>) -> Message {
    Message::builder().text(s.into()).build()
}

fn bag(entries: impl IntoIterator<Item = (&'static str, serde_json::Value)>) -> PropertyBag {
    PropertyBag::builder()
        .additional_properties(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        )
        .build()
}

fn rule(kind: FindingKind) -> ReportingDescriptor {
    ReportingDescriptor::builder()
        .id(kind.code())
        .name(kind.name())
        .short_description(
            MultiformatMessageString::builder()
                .text(kind.description())
                .build(),
        )
        .full_description(
            MultiformatMessageString::builder()
                .text(format!("{} {}", kind.description(), guidance(kind).fires))
                .build(),
        )
        .help(help(kind))
        .help_uri(help_uri(kind))
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level(default_severity(kind))))
                .build(),
        )
        .properties(bag([
            ("tags", json!(["security", "network", "ports"])),
            // GitHub reads `security-severity` from rules, not results.
            (
                "security-severity",
                json!(security_severity(default_severity(kind))),
            ),
        ]))
        .build()
}

/// What a kind's rule says beyond its one-line description: when it fires
/// and what to do about it, condensed from its section of docs/findings.md,
/// so a dashboard can explain a rule without the reader leaving it.
struct Guidance {
    /// When the kind fires, for `fullDescription`.
    fires: &'static str,
    /// The usual remediation, for `help`.
    fix: &'static str,
}

fn guidance(kind: FindingKind) -> Guidance {
    let (fires, fix) = match kind {
        FindingKind::ListenerNotAllowed => (
            "It fires for an exposed socket whose port is not banned when no rule covers its protocol and port, or when the covering rules name another service. Its severity comes from the risk catalogue, graded by where the socket can be reached from.",
            "Bind the service to loopback or a private address, stop it, or add a policy rule with an owner and a reason. When rules cover the port but name another service, fix the rule's `service` or find out what took over the port.",
        ),
        FindingKind::BannedPort => (
            "No rule can allow a banned port; the built-in bans (Telnet, the r-services and others) apply unless the policy turns them off. Its severity is the catalogue's, but at least high.",
            "Stop the service or bind it to 127.0.0.1 or ::1. If the port really must listen, remove it from the policy's banned list first.",
        ),
        FindingKind::RiskyExposure => (
            "It fires when the catalogue grades the service at or above the policy's `risky_severity` and the socket is bound to a wildcard (0.0.0.0, ::) or a publicly routable address; private, link-local and reserved addresses are not public. Its severity is the catalogue's, graded by reach.",
            "Bind the service to a private or loopback address, require authentication, or firewall it to the clients that need it.",
        ),
        FindingKind::ApprovalExpired => (
            "The expiry date is the rule's `expires`, or `approved_on` plus the policy's approval validity; the rule keeps allowing its ports until someone acts.",
            "Re-approve the rule with a new `expires` (or `approved_on`), or remove it and close the port.",
        ),
        FindingKind::ApprovalExpiring => (
            "It fires when the rule expires today or within the policy's `expiry_warning_days` (default 14).",
            "Review the rule and extend its `expires`, or plan its removal.",
        ),
        FindingKind::StaleRule => (
            "Any socket counts, loopback ones included, whoever owns it; the built-in baseline does not report stale rules.",
            "Remove the rule, or keep it and note why (a service started on demand, a standby).",
        ),
        FindingKind::UnintendedFamily => (
            "A rule intends its `family`, or the families of its zones' networks; firewall rules and reviews written for one family silently miss the other.",
            "For unintended IPv4, set IPV6_V6ONLY on the socket or bind an IPv6 address; for unintended IPv6, bind an IPv4 address instead of [::]; or widen the rule's `family`.",
        ),
        FindingKind::OwnerUnverified => (
            "Without a known owning process the binding cannot be checked, so an impostor on the port would pass unnoticed.",
            "Run portreeve as root so it can read every process's descriptors; if no process holds the socket, find what created it (a kernel tunnel, NFS, another PID namespace) and bind the rule to what can be verified, or drop its `service`.",
        ),
        FindingKind::ReachableRiskyService => (
            "A rule allows the port from the scan's source zone, but the catalogue rates the service at or above the policy's `risky_severity`: the network's view of PR003.",
            "Bind the service to a private or loopback address, require authentication, or firewall it to the clients that need it.",
        ),
        FindingKind::UnauthenticatedService => (
            "Service identification got data out of the service without credentials (Redis PING, MongoDB listDatabases, a password-less PostgreSQL startup and the like): anyone who reaches it can read or change its data.",
            "Require authentication (Redis ACLs, Elasticsearch security, MongoDB --auth, TLS client certificates for Docker and etcd) and firewall the service to the clients that need it.",
        ),
        FindingKind::ReachableAgainstPolicy => (
            "The port answered the scan although it is banned or no rule allows it from the zone of the scan's source: a port the firewall was meant to close, or one a NAT or container publishing opens.",
            "Close it in the firewall (`portreeve apply`), stop the service, or add a rule for the zone that should reach it.",
        ),
        FindingKind::ReachableWithoutListener => (
            "These are the ports `ss` cannot explain, and input filtering may not cover them (Docker's DNAT happens before the input hook).",
            "Find the forwarding rule (`portreeve plan`, `docker ps`, `nft list ruleset`) and close it, or allow the port deliberately.",
        ),
        FindingKind::AbandonedPort => (
            "Last access comes from the agent's conntrack record and the kernel's `seen` set; ports held open (`keep = true`, the management SSH port, `reclaim = \"off\"`) are never reported.",
            "Run `portreeve reclaim --apply` to remove the port from the enforced ruleset (undone by `portreeve reclaim --undo ID`), stop the service, or mark the rule `keep = true` if it must stay open though unused.",
        ),
        FindingKind::TableDrift => (
            "An element, rule or chain of `table inet portreeve` was changed by hand or by another tool; grants, blocks, counters and usage records change by design and do not count.",
            "Run `portreeve apply` to install the policy in effect again; to keep the change, write it into the policy and apply that.",
        ),
        FindingKind::K8sNamespaceWithoutDefaultDeny => (
            "It fires for a namespace with at least one pod that no NetworkPolicy selects with policy type Ingress; without isolation, Kubernetes lets every pod in the cluster and every address that routes to the pod network open every port.",
            "Add a default-deny NetworkPolicy to the namespace (`podSelector: {}`, `policyTypes: [Ingress]`) and allow what its pods need; `portreeve render --target kubernetes` writes one per namespace.",
        ),
        FindingKind::K8sRiskyPodReachable => (
            "It fires when the NetworkPolicies in effect allow some address outside the cluster's pods to open a port of a pod that the risk catalogue names; the severity is the catalogue's. Whether packets from there arrive depends on routing and the Services in front of the pod.",
            "Narrow the pod's ingress rules to the pods or namespaces that need the service, or to the ipBlocks of the networks that should reach it.",
        ),
        FindingKind::K8sRiskyServiceExposed => (
            "It fires for a Service of type NodePort or LoadBalancer, or with externalIPs, whose target port on a selected pod is a risky service, and for a pod that publishes such a port with hostPort or shares the node's network (hostNetwork); the severity is the catalogue's.",
            "Make the Service a ClusterIP one and reach it through an authenticated ingress, drop the hostPort, or restrict who reaches the node port with NetworkPolicies and the cloud's firewall.",
        ),
        FindingKind::K8sPolicySelectsNothing => (
            "It fires when a NetworkPolicy's podSelector matches no pod or workload template in its namespace in the manifests read; the policy is harmless today but may isolate pods that arrive later.",
            "Fix the podSelector's labels, or delete the policy if its workload is gone.",
        ),
        FindingKind::K8sRuleNeverMatches => (
            "It fires for an ingress or egress rule whose peers match no pod, namespace or address, or whose ports resolve on none of the pods the rule applies to: the rule allows nothing, which usually hides a typo in a label or a port.",
            "Correct the rule's selectors or ports, or remove the rule.",
        ),
        FindingKind::K8sNamedPortUnresolved => (
            "It fires for a named port in a rule that no container port of the pods concerned carries with that name and protocol; Kubernetes then allows nothing on it, silently.",
            "Name the container port in the pod template, or write the port number in the policy.",
        ),
        FindingKind::CloudRiskyOpening => (
            "It fires for an ingress permission from 0.0.0.0/0 or ::/0 whose ports include a port the risk catalogue names at or above the policy's `risky_severity`; the severity is the catalogue's.",
            "Restrict the permission to the networks that need the service (a VPN, a bastion's security group) or remove it.",
        ),
        FindingKind::CloudWidePortRange => (
            "It fires for an ingress permission from outside the group's own network that opens every protocol or a range of more than 100 ports.",
            "Open only the ports the instances serve, each in its own permission.",
        ),
        FindingKind::KnownVulnerability => (
            "It fires for an OSV advisory whose affected ranges, judged in the package's own version order (dpkg's for Debian and Ubuntu), include the installed version of a package that owns a listening socket, or the version a scan read from a service's banner. The severity is the advisory's CVSS base score (or the distribution's urgency), one level higher when the port is reachable from everywhere.",
            "Upgrade the package to the fixed version the finding names (`apt-get install --only-upgrade PACKAGE`) and restart the service; where no fix exists, narrow who reaches the port.",
        ),
        FindingKind::UsageAnomaly => (
            "It fires in the agent, once an hour has closed, for a port whose connections in that hour its own hourly history makes implausible: many times the usual at that hour (a burst), use at an hour of its cycle never used before, or a port without a cycle suddenly busy. The finding stays for 24 hours. Its severity is medium for a burst or a quiet port turned busy, low for use at an unused hour.",
            "Find out who connected in that hour (the agent's flow records, the service's own logs); if the traffic is expected, nothing needs doing and the finding ages out after a day, otherwise narrow who reaches the port.",
        ),
    };
    Guidance { fires, fix }
}

/// The rule's help: the remediation, and in Markdown also a link to the
/// kind's full documentation.
fn help(kind: FindingKind) -> MultiformatMessageString {
    let fix = guidance(kind).fix;
    MultiformatMessageString::builder()
        .text(fix)
        .markdown(format!(
            "{fix}\n\nSee [{} `{}`]({}).",
            kind.code(),
            kind.name(),
            help_uri(kind)
        ))
        .build()
}

/// The kind's section of docs/findings.md in the repository named in
/// Cargo.toml, at the tag of this version, so the page matches the binary.
fn help_uri(kind: FindingKind) -> String {
    format!(
        "{}/blob/v{}/docs/findings.md#{}",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION"),
        kind.docs_anchor()
    )
}

/// The severity a kind usually has, for the rule's default level.
fn default_severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::BannedPort
        | FindingKind::ApprovalExpired
        | FindingKind::UnauthenticatedService
        | FindingKind::TableDrift
        | FindingKind::K8sRiskyServiceExposed
        | FindingKind::CloudRiskyOpening
        | FindingKind::KnownVulnerability => Severity::High,
        FindingKind::ListenerNotAllowed
        | FindingKind::RiskyExposure
        | FindingKind::UnintendedFamily
        | FindingKind::ReachableRiskyService
        | FindingKind::ReachableAgainstPolicy
        | FindingKind::ReachableWithoutListener
        | FindingKind::AbandonedPort
        | FindingKind::K8sNamespaceWithoutDefaultDeny
        | FindingKind::K8sRiskyPodReachable
        | FindingKind::CloudWidePortRange
        | FindingKind::UsageAnomaly => Severity::Medium,
        FindingKind::ApprovalExpiring
        | FindingKind::StaleRule
        | FindingKind::OwnerUnverified
        | FindingKind::K8sPolicySelectsNothing
        | FindingKind::K8sRuleNeverMatches
        | FindingKind::K8sNamedPortUnresolved => Severity::Low,
    }
}

fn result(f: &Finding, host: &str, policy_origin: &str) -> SarifResult {
    let mut location = Location::builder().build();
    if let Some(s) = &f.socket {
        let netns = s
            .netns
            .name
            .clone()
            .unwrap_or_else(|| format!("net:[{}]", s.netns.inode));
        location.logical_locations = Some(vec![
            LogicalLocation::builder()
                .name(format!("{}/{}", s.endpoint, s.protocol))
                .fully_qualified_name(format!("{host}/{netns}/{}/{}", s.protocol, s.endpoint))
                .kind("resource")
                .build(),
        ]);
    }
    if let Some(r) = &f.resource {
        location.logical_locations = Some(vec![
            LogicalLocation::builder()
                .name(r.name.clone())
                .fully_qualified_name(r.to_string())
                .kind("resource")
                .build(),
        ]);
    }
    // Code-scanning services reject results without a file location, so
    // every result points into a file: the manifest or API output a
    // resource was read from, else the policy: at the rule concerned, or at
    // the top of the file when no rule accounts for the socket.
    let (line, column) = f
        .rule
        .as_ref()
        .map_or((1, 1), |r| (r.location.line, r.location.column));
    let artifact = f
        .resource
        .as_ref()
        .and_then(|r| r.file.as_deref())
        .unwrap_or(policy_origin);
    location.physical_location = Some(
        PhysicalLocation::builder()
            .artifact_location(
                ArtifactLocation::builder()
                    .uri(artifact_uri(artifact))
                    .build(),
            )
            .region(
                Region::builder()
                    .start_line(i64::from(line))
                    .start_column(i64::from(column))
                    .build(),
            )
            .build(),
    );
    let mut result = SarifResult::builder()
        .rule_id(f.kind.code())
        .level(level(f.severity))
        .message(text(&f.message))
        .locations(vec![location])
        .partial_fingerprints(BTreeMap::from([(
            "portreeve/v1".to_string(),
            f.fingerprint.clone(),
        )]))
        .properties(bag([
            ("severity", json!(f.severity)),
            ("security-severity", json!(security_severity(f.severity))),
            ("service", json!(f.service)),
            ("pids", json!(f.pids)),
            ("evidence", json!(f.evidence)),
            ("rationale", json!(f.rationale)),
            ("remediation", json!(f.remediation)),
        ]))
        .build();
    result.suppressions = f.accepted.as_ref().map(|a| vec![suppression(a)]);
    result
}

/// An accepted risk as SARIF sees it: suppressed from outside the analysed
/// artifact (`external`), with who, why and until when as justification.
fn suppression(a: &Acceptance) -> Suppression {
    Suppression::builder()
        .kind(json!("external"))
        .status(json!("accepted"))
        .justification(format!(
            "accepted by {} until {} ({}): {}",
            a.owner, a.expires, a.location, a.reason
        ))
        .build()
}

/// The policy file as a SARIF artifact URI: relative paths stay relative (to
/// the repository a CI job runs in), absolute ones become `file://` URIs, and
/// the built-in baseline gets a stable stand-in name. Anything but unreserved
/// characters and `/` is percent-encoded (RFC 3986).
fn artifact_uri(policy_origin: &str) -> String {
    if policy_origin == portreeve_policy::BASELINE_ORIGIN {
        return BASELINE_ARTIFACT.to_string();
    }
    let path = utf8_percent_encode(policy_origin, PATH_ESCAPES).to_string();
    if policy_origin.starts_with('/') {
        format!("file://{path}")
    } else {
        path
    }
}

/// Characters escaped in a path: all but RFC 3986 unreserved ones and `/`.
const PATH_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The artifact name results carry when the built-in baseline was used.
const BASELINE_ARTIFACT: &str = "portreeve-baseline.toml";

/// The SARIF log of one check run against the policy from `policy_origin`.
pub fn render(findings: &[Finding], host: &str, policy_origin: &str) -> String {
    let driver = ToolComponent::builder()
        .name("portreeve")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(FindingKind::ALL.into_iter().map(rule).collect::<Vec<_>>())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .invocations(vec![
            Invocation::builder().execution_successful(true).build(),
        ])
        .results(
            findings
                .iter()
                .map(|f| result(f, host, policy_origin))
                .collect::<Vec<_>>(),
        )
        .build();
    let log = Sarif::builder()
        .schema(SCHEMA_URI)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build();
    let mut s = serde_json::to_string_pretty(&log).expect("SARIF serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule explains itself: a full description that says more than
    /// the short one, help in text and Markdown, and a help URI that is
    /// absolute (SARIF requires it) and ends at the kind's own heading in
    /// docs/findings.md.
    #[test]
    fn every_rule_carries_full_description_help_and_help_uri() {
        let findings_md = include_str!("../../../../docs/findings.md");
        for kind in FindingKind::ALL {
            let rule = serde_json::to_value(rule(kind)).unwrap();
            let full = rule["fullDescription"]["text"].as_str().unwrap_or_default();
            assert!(
                full.starts_with(kind.description()) && full.len() > kind.description().len() + 40,
                "{kind}: {rule:#}"
            );
            let help_text = rule["help"]["text"].as_str().unwrap_or_default();
            assert!(help_text.len() > 40, "{kind}: {rule:#}");
            let uri = rule["helpUri"].as_str().unwrap_or_default();
            assert!(uri.starts_with("https://"), "{kind}: {uri:?}");
            let markdown = rule["help"]["markdown"].as_str().unwrap_or_default();
            assert!(
                markdown.starts_with(help_text) && markdown.contains(&format!("]({uri})")),
                "{kind}: {markdown:?}"
            );
            let anchor = uri.rsplit_once('#').map_or("", |(_, a)| a);
            let heading = format!("### {} `{}`", kind.code(), kind.name());
            assert_eq!(
                anchor,
                format!("{}-{}", kind.code().to_ascii_lowercase(), kind.name()),
                "{kind}"
            );
            assert!(findings_md.contains(&heading), "no {heading:?} for {uri}");
        }
    }

    /// A rule's default level is the level of its usual severity, the same
    /// mapping results use for their own severity.
    #[test]
    fn levels_follow_severity() {
        for (severity, want) in [
            (Severity::Critical, ResultLevel::Error),
            (Severity::High, ResultLevel::Error),
            (Severity::Medium, ResultLevel::Warning),
            (Severity::Low, ResultLevel::Note),
            (Severity::Info, ResultLevel::Note),
        ] {
            assert_eq!(json!(level(severity)), json!(want), "{severity:?}");
        }
        for kind in FindingKind::ALL {
            let rule = serde_json::to_value(rule(kind)).unwrap();
            assert_eq!(
                rule["defaultConfiguration"]["level"],
                json!(level(default_severity(kind))),
                "{kind}"
            );
        }
    }

    #[test]
    fn artifact_uris_are_uri_references() {
        assert_eq!(
            artifact_uri("policy/web 01#2?.toml"),
            "policy/web%2001%232%3F.toml"
        );
        assert_eq!(artifact_uri("règles.toml"), "r%C3%A8gles.toml");
        assert_eq!(
            artifact_uri("/etc/portreeve/policy.toml"),
            "file:///etc/portreeve/policy.toml"
        );
        assert_eq!(
            artifact_uri(portreeve_policy::BASELINE_ORIGIN),
            BASELINE_ARTIFACT
        );
    }
}

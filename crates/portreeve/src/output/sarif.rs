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

/// The severity a kind usually has, for the rule's default level.
fn default_severity(kind: FindingKind) -> Severity {
    match kind {
        FindingKind::BannedPort
        | FindingKind::ApprovalExpired
        | FindingKind::UnauthenticatedService
        | FindingKind::TableDrift => Severity::High,
        FindingKind::ListenerNotAllowed
        | FindingKind::RiskyExposure
        | FindingKind::UnintendedFamily
        | FindingKind::ReachableRiskyService
        | FindingKind::ReachableAgainstPolicy
        | FindingKind::ReachableWithoutListener
        | FindingKind::AbandonedPort => Severity::Medium,
        FindingKind::ApprovalExpiring | FindingKind::StaleRule | FindingKind::OwnerUnverified => {
            Severity::Low
        }
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
    // Code-scanning services reject results without a file location, so
    // every result points into the policy: at the rule concerned, or at the
    // top of the file when no rule accounts for the socket.
    let (line, column) = f
        .rule
        .as_ref()
        .map_or((1, 1), |r| (r.location.line, r.location.column));
    location.physical_location = Some(
        PhysicalLocation::builder()
            .artifact_location(
                ArtifactLocation::builder()
                    .uri(artifact_uri(policy_origin))
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

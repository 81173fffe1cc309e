//! Cloud check: AWS security groups (as `aws ec2 describe-security-groups`
//! reports them) judged with the same findings machinery as `check`.
//!
//! portreeve-cloud says which permissions admit the whole internet and which
//! are wide; this module weighs them: an internet-wide permission becomes
//! PR021 when its ports hold a service the risk catalogue rates at or above
//! the policy's `risky_severity` (the most severe one sets the finding's
//! severity), a wide one PR022. The policy's `min_severity` and accepted
//! risks then apply as in `check`.

use std::path::Path;

use portreeve_cloud::describe::{self, Group, Protocol};
use portreeve_cloud::judge::{self, Fact};
use portreeve_core::{Finding, FindingKind, Proto, ResourceRef, Severity};
use portreeve_policy::catalogue::{self, CatalogueEntry};

use crate::check::{self, Summary};
use crate::error::AppError;
use crate::input;
use crate::policy::LoadedPolicy;

/// PR022's severity (docs/findings.md).
const WIDE_SEVERITY: Severity = Severity::Medium;

/// What a cloud check found.
#[derive(Debug, Clone)]
pub struct CloudReport {
    /// The policy whose thresholds and accepted risks applied.
    pub policy: LoadedPolicy,
    /// Security groups judged.
    pub groups: usize,
    /// Ingress permissions judged.
    pub permissions: usize,
    /// Findings at or above `min_severity`, most severe first.
    pub findings: Vec<Finding>,
    /// Their counts (`listeners` and `exposed` are 0: no sockets here).
    pub summary: Summary,
}

/// Reads `aws ec2 describe-security-groups` output at `path` (`-`:
/// standard input) and judges it under `policy`. A document that is not
/// one is [`AppError::Invalid`], located.
pub fn check_aws_file(policy: LoadedPolicy, path: &Path) -> Result<CloudReport, AppError> {
    let file = input::origin(path);
    let text = input::read_text(path, "describe-security-groups output")
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let groups = describe::read(&text, &file).map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(check_aws(policy, &groups, &file))
}

/// Judges `groups`, read from `file`, under `policy`.
pub fn check_aws(policy: LoadedPolicy, groups: &[Group], file: &str) -> CloudReport {
    let facts = judge::judge(groups);
    let risky = policy.policy.defaults.risky_severity;
    let mut findings: Vec<Finding> = facts
        .open_to_world
        .iter()
        .filter_map(|fact| risky_opening(fact, risky, file))
        .chain(facts.wide.iter().map(|fact| wide_range(fact, file)))
        .collect();
    check::settle(&policy.policy, &mut findings, check::today());
    let summary = Summary::of(&[], &findings);
    CloudReport {
        policy,
        groups: groups.len(),
        permissions: groups.iter().map(|g| g.permissions.len()).sum(),
        findings,
        summary,
    }
}

/// The catalogued services at or above `risky` among `fact`'s ports, with
/// the first such port of each, most severe first.
fn risky_services(fact: &Fact, risky: Severity) -> Vec<(&'static CatalogueEntry, Proto, u16)> {
    let protocols: &[Proto] = match fact.protocol {
        Protocol::All => &Proto::ALL,
        Protocol::Tcp => &[Proto::Tcp],
        Protocol::Udp => &[Proto::Udp],
        Protocol::Other(_) => &[],
    };
    let mut found = Vec::new();
    for entry in catalogue::entries().iter().filter(|e| e.severity >= risky) {
        let hit = protocols.iter().find_map(|&proto| {
            entry
                .transport
                .includes(proto)
                .then(|| {
                    entry
                        .ports
                        .iter()
                        .find(|&&(a, b)| a <= fact.last && b >= fact.first)
                        .map(|&(a, _)| (proto, a.max(fact.first)))
                })
                .flatten()
        });
        if let Some((proto, port)) = hit {
            found.push((entry, proto, port));
        }
    }
    found.sort_by_key(|(entry, _, _)| std::cmp::Reverse(entry.severity));
    found
}

fn risky_opening(fact: &Fact, risky: Severity, file: &str) -> Option<Finding> {
    let services = risky_services(fact, risky);
    let (worst, _, _) = *services.first()?;
    let names: Vec<&str> = services.iter().map(|(e, _, _)| e.service).collect();
    let shown = match names.len() {
        1..=3 => names.join(", "),
        n => format!("{} and {} more", names[..3].join(", "), n - 3),
    };
    let mut evidence = vec![permission_evidence(fact)];
    evidence.extend(
        services
            .iter()
            .map(|(e, proto, port)| format!("{port}/{proto}: {} ({})", e.service, e.severity)),
    );
    let kind = FindingKind::CloudRiskyOpening;
    Some(Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, &fact.key()),
        severity: worst.severity,
        message: format!(
            "{} opens {} to {}: {shown}",
            group_label(fact),
            fact.ports_label(),
            fact.source
        ),
        resource: Some(resource(fact, file)),
        evidence,
        rationale: worst.rationale.to_string(),
        remediation: format!(
            "Restrict the permission to the networks that need the service, or remove it. {}",
            worst.remediation
        ),
        ..blank(kind)
    })
}

fn wide_range(fact: &Fact, file: &str) -> Finding {
    let kind = FindingKind::CloudWidePortRange;
    let size = match fact.protocol {
        Protocol::All => "every protocol and port".to_string(),
        _ => format!("{} ports", u32::from(fact.last) - u32::from(fact.first) + 1),
    };
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, &fact.key()),
        severity: WIDE_SEVERITY,
        message: format!(
            "{} opens {} ({size}) to {}",
            group_label(fact),
            fact.ports_label(),
            fact.source
        ),
        resource: Some(resource(fact, file)),
        evidence: vec![permission_evidence(fact)],
        rationale: "A wide opening admits whatever listens on the group's instances, now or \
                    later, including services nobody meant to publish."
            .to_string(),
        remediation: "Open only the ports the instances serve, to the networks that need them."
            .to_string(),
        ..blank(kind)
    }
}

/// A finding about no socket, rule or process.
fn blank(kind: FindingKind) -> Finding {
    Finding {
        kind,
        fingerprint: String::new(),
        severity: Severity::Info,
        message: String::new(),
        socket: None,
        service: None,
        pids: Vec::new(),
        rule: None,
        resource: None,
        evidence: Vec::new(),
        rationale: String::new(),
        remediation: String::new(),
        reach: None,
        accepted: None,
    }
}

/// `security group sg-0123 (web)`.
fn group_label(fact: &Fact) -> String {
    match &fact.group_name {
        Some(name) => format!("security group {} ({name})", fact.group),
        None => format!("security group {}", fact.group),
    }
}

/// `ingress permission tcp 6379-6379 from 0.0.0.0/0`.
fn permission_evidence(fact: &Fact) -> String {
    format!(
        "ingress permission {} {}-{} from {}",
        fact.protocol.key(),
        fact.first,
        fact.last,
        fact.source
    )
}

fn resource(fact: &Fact, file: &str) -> ResourceRef {
    ResourceRef {
        kind: "SecurityGroup".to_string(),
        namespace: fact.vpc.clone(),
        name: fact.group.clone(),
        file: Some(file.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_cloud::describe::Permission;

    fn groups(permissions: Vec<(Protocol, u16, u16, &str)>) -> Vec<Group> {
        vec![Group {
            id: "sg-0123".into(),
            name: Some("web".into()),
            vpc: Some("vpc-1".into()),
            permissions: permissions
                .into_iter()
                .map(|(protocol, first, last, source)| Permission {
                    protocol,
                    first,
                    last,
                    sources: vec![source.parse().unwrap()],
                })
                .collect(),
        }]
    }

    #[test]
    fn risky_ports_open_to_the_world_take_the_catalogue_severity() {
        let report = check_aws(
            LoadedPolicy::baseline(),
            &groups(vec![
                (Protocol::Tcp, 6379, 6379, "0.0.0.0/0"),
                (Protocol::Tcp, 443, 443, "0.0.0.0/0"),
                (Protocol::Tcp, 6379, 6379, "10.0.0.0/8"),
            ]),
            "sg.json",
        );
        assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
        let f = &report.findings[0];
        assert_eq!(f.kind, FindingKind::CloudRiskyOpening);
        // The pinned value of docs/findings.md's example key.
        assert_eq!(f.fingerprint, "bd9cef8d5bbda156");
        assert_eq!(
            Some(f.severity),
            catalogue::lookup(Proto::Tcp, 6379).map(|e| e.severity)
        );
        assert!(f.message.contains("Redis"), "{}", f.message);
        let r = f.resource.as_ref().unwrap();
        assert_eq!(
            (r.kind.as_str(), r.name.as_str()),
            ("SecurityGroup", "sg-0123")
        );
        assert_eq!(report.summary.findings, 1);
    }

    #[test]
    fn every_protocol_to_the_world_is_both_risky_and_wide() {
        let report = check_aws(
            LoadedPolicy::baseline(),
            &groups(vec![(Protocol::All, 0, 65535, "::/0")]),
            "sg.json",
        );
        let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::CloudRiskyOpening,
                FindingKind::CloudWidePortRange
            ]
        );
        assert_eq!(report.findings[0].severity, Severity::Critical);
        assert!(
            report.findings[0].message.contains("more"),
            "{}",
            report.findings[0].message
        );
        assert_eq!(report.findings[1].severity, WIDE_SEVERITY);
    }
}

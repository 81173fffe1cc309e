//! Judging an inventory against a policy: the heart of `portreeve check`.
//!
//! Evaluation is a pure function of the policy, the sockets, the catalogue
//! and today's date, so every finding kind is unit-tested without a host.
//!
//! Each exposed socket gets at most one *exposure* finding, the first that
//! applies of: banned port (PR002), not allowed (PR001), risky although
//! allowed (PR003). Reporting a banned Redis as also "not allowed" and "risky"
//! would bury the one action that matters under three rows. Rule-level checks
//! (expiry, staleness, address family, unverifiable owner) come on top.
//!
//! Where it is known what stands in front of the sockets ([`Protection`]),
//! every socket finding says where the socket is reachable from, and the
//! exposure findings (PR001, PR003) are graded by it (see
//! [`Exposure::grade`]).

use jiff::civil::Date;
use portreeve_core::{
    Breadth, Exposure, Family, Finding, FindingKind, ListeningSocket, OwnerStatus, PolicyRuleRef,
    Severity, SocketRef,
};

use crate::catalogue::{self, CatalogueEntry};
use crate::exposure::{Protection, exposure};
use crate::model::{Policy, Rule};

/// Everything `check` found, most severe first, not knowing what stands in
/// front of the sockets: graded as reachable from wherever they listen.
pub fn evaluate(policy: &Policy, sockets: &[ListeningSocket], today: Date) -> Vec<Finding> {
    evaluate_behind(policy, sockets, today, None)
}

/// [`evaluate`], with each socket's reach judged behind `protection`
/// when given.
pub fn evaluate_behind(
    policy: &Policy,
    sockets: &[ListeningSocket],
    today: Date,
    protection: Option<&Protection>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for socket in sockets.iter().filter(|s| s.is_exposed()) {
        let reach = protection.map(|p| exposure(policy, socket, p));
        let first = findings.len();
        judge_socket(policy, socket, reach.as_ref(), &mut findings);
        for f in &mut findings[first..] {
            f.reach.clone_from(&reach);
        }
    }
    for rule in &policy.rules {
        judge_rule(policy, rule, sockets, today, &mut findings);
    }
    findings.retain(|f| f.severity >= policy.defaults.min_severity);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| sort_key(a).cmp(&sort_key(b)))
    });
    findings
}

fn sort_key(f: &Finding) -> (u16, String, String) {
    match &f.socket {
        Some(s) => (s.port, s.endpoint.clone(), s.protocol.to_string()),
        None => (
            0,
            String::new(),
            f.rule.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
        ),
    }
}

fn rule_ref(rule: &Rule) -> PolicyRuleRef {
    PolicyRuleRef {
        name: rule.name.clone(),
        location: rule.location.clone(),
    }
}

/// Builds a finding about `socket`.
fn socket_finding(
    kind: FindingKind,
    severity: Severity,
    socket: &ListeningSocket,
    rule: Option<&Rule>,
    message: String,
    evidence: Vec<String>,
    advice: (String, String),
) -> Finding {
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, &Finding::socket_key(socket)),
        severity,
        message,
        socket: Some(SocketRef::from(socket)),
        service: socket.service_label(),
        pids: socket.processes.iter().map(|p| p.pid).collect(),
        rule: rule.map(rule_ref),
        resource: None,
        evidence,
        rationale: advice.0,
        remediation: advice.1,
        reach: None,
        accepted: None,
    }
}

/// Facts every socket finding starts from: where it listens and who owns it.
fn socket_evidence(s: &ListeningSocket) -> Vec<String> {
    let mut e = vec![format!(
        "{}/{} listens on {} ({} bind{}) in netns {}",
        s.port,
        s.protocol,
        s.endpoint(),
        s.scope,
        if s.dual_stack {
            ", dual-stack: accepts IPv4 and IPv6"
        } else {
            ""
        },
        s.netns
    )];
    match s.processes.as_slice() {
        [] => e.push(s.owner_status.explain().to_string()),
        procs => e.push(format!(
            "held by {}",
            procs
                .iter()
                .map(|p| format!("{} (pid {})", p.name, p.pid))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    e
}

/// What the catalogue says about a port, or a generic explanation.
fn catalogue_advice(entry: Option<&CatalogueEntry>, generic: (&str, &str)) -> (String, String) {
    match entry {
        Some(e) => (
            format!("{}: {}", e.service, e.rationale),
            e.remediation.to_string(),
        ),
        None => (generic.0.to_string(), generic.1.to_string()),
    }
}

/// `base` graded by where the socket is reachable from, when known.
fn graded(base: Severity, reach: Option<&Exposure>) -> Severity {
    reach.map_or(base, |r| r.grade(base))
}

/// The evidence line saying where the socket is reachable from.
fn reach_evidence(reach: Option<&Exposure>, evidence: &mut Vec<String>) {
    if let Some(r) = reach {
        evidence.push(format!("reachable from: {r}"));
    }
}

fn judge_socket(
    policy: &Policy,
    s: &ListeningSocket,
    reach: Option<&Exposure>,
    out: &mut Vec<Finding>,
) {
    let entry = catalogue::lookup(s.protocol, s.port);
    // Messages lead with the endpoint and end with what the catalogue calls
    // the service: "0.0.0.0:6379/tcp listens … — Redis".
    let place = format!("{}/{}", s.endpoint(), s.protocol);
    let known_as = entry.map_or_else(String::new, |e| format!(" — {}", e.service));

    if let Some(ban) = policy.banned_entry(s.protocol, s.port) {
        let mut evidence = socket_evidence(s);
        evidence.push(match &ban.location {
            Some(loc) => format!("{}/{} is banned at {loc}", ban.ports, s.protocol),
            None => format!(
                "{}/{} is on the built-in banned list",
                ban.ports, s.protocol
            ),
        });
        let severity = entry.map_or(Severity::High, |e| e.severity.max(Severity::High));
        out.push(socket_finding(
            FindingKind::BannedPort,
            severity,
            s,
            None,
            format!("{place} listens on a banned port{known_as}"),
            evidence,
            catalogue_advice(
                entry,
                (
                    "The policy bans this port on every non-loopback address.",
                    "Stop the service or bind it to 127.0.0.1/::1.",
                ),
            ),
        ));
        return;
    }

    let covering: Vec<&Rule> = policy
        .rules
        .iter()
        .filter(|r| r.covers(s.protocol, s.port))
        .collect();
    let owner_known = !s.processes.is_empty();
    let allowing = covering.iter().copied().find(|r| match &r.service {
        None => true,
        Some(id) => !owner_known || s.processes.iter().any(|p| id.matches(p)),
    });

    let Some(rule) = allowing else {
        let mut evidence = socket_evidence(s);
        if covering.is_empty() {
            evidence.push(format!(
                "no rule in {} allows {}/{}",
                policy.origin, s.port, s.protocol
            ));
        }
        for r in &covering {
            let id = r.service.as_ref().map(|i| i.describe()).unwrap_or_default();
            evidence.push(format!(
                "rule `{}` ({}) allows {}/{} only for {id}",
                r.name, r.location, s.port, s.protocol
            ));
        }
        reach_evidence(reach, &mut evidence);
        let severity = graded(
            entry.map_or(policy.defaults.unknown_port_severity, |e| e.severity),
            reach,
        );
        let message = if covering.is_empty() {
            format!("{place} listens but no rule allows it{known_as}")
        } else {
            format!("{place} is held by a service its rule does not name{known_as}")
        };
        out.push(socket_finding(
            FindingKind::ListenerNotAllowed,
            severity,
            s,
            covering.first().copied(),
            message,
            evidence,
            catalogue_advice(
                entry,
                (
                    "Every listener reachable from the network is attack surface; the policy does not account for this one.",
                    "Bind it to loopback, stop it, or add a rule with an owner and a reason.",
                ),
            ),
        ));
        return;
    };

    if rule.service.is_some() && !owner_known {
        let mut evidence = socket_evidence(s);
        evidence.push(format!(
            "rule `{}` requires {}",
            rule.name,
            rule.service
                .as_ref()
                .map(|i| i.describe())
                .unwrap_or_default()
        ));
        out.push(socket_finding(
            FindingKind::OwnerUnverified,
            Severity::Low,
            s,
            Some(rule),
            format!("{place}: cannot verify who owns it"),
            evidence,
            (
                "The rule binds this port to a service, but the socket's owner is unknown, so an impostor would pass unnoticed.".into(),
                match s.owner_status {
                    OwnerStatus::PermissionDenied => "Run portreeve as root (and outside any sandbox or LSM policy that hides processes) so it can read every process's file descriptors.".into(),
                    _ => "No visible process holds the socket: find what created it (a kernel tunnel or NFS, `ip -d link`; a process in another PID namespace) and bind the rule to what can be verified, or drop its `service`.".into(),
                },
            ),
        ));
    }

    if let Some(e) = entry
        && e.severity >= policy.defaults.risky_severity
        && s.is_public()
    {
        let mut evidence = socket_evidence(s);
        evidence.push(format!(
            "allowed by rule `{}` ({})",
            rule.name, rule.location
        ));
        reach_evidence(reach, &mut evidence);
        let message = match reach {
            Some(r) if r.breadth() != Breadth::Everywhere => {
                format!("{place} serves a risky service, reachable from {r}{known_as}")
            }
            _ => format!(
                "{place} exposes a risky service on {}{known_as}",
                if s.scope == portreeve_core::BindScope::Wildcard {
                    "every address"
                } else {
                    "a public address"
                }
            ),
        };
        out.push(socket_finding(
            FindingKind::RiskyExposure,
            graded(e.severity, reach),
            s,
            Some(rule),
            message,
            evidence,
            (
                format!("{}: {}", e.service, e.rationale),
                e.remediation.to_string(),
            ),
        ));
    }

    let unintended: Vec<Family> = s
        .accepted_families()
        .iter()
        .copied()
        .filter(|f| !rule.families.contains(f))
        .collect();
    if !unintended.is_empty() {
        let names: Vec<String> = unintended.iter().map(|f| f.to_string()).collect();
        let intended: Vec<String> = rule.families.iter().map(|f| f.to_string()).collect();
        let mut evidence = socket_evidence(s);
        evidence.push(format!(
            "rule `{}` intends {} only",
            rule.name,
            if intended.is_empty() {
                "no family".to_string()
            } else {
                intended.join(" and ")
            }
        ));
        out.push(socket_finding(
            FindingKind::UnintendedFamily,
            Severity::Medium,
            s,
            Some(rule),
            format!(
                "{place} also accepts {} clients, which rule `{}` does not intend",
                names.join(" and "),
                rule.name
            ),
            evidence,
            family_advice(s, &unintended),
        ));
    }
}

/// Why an unintended family matters and how to drop it, which depends on
/// which family slipped in.
fn family_advice(s: &ListeningSocket, unintended: &[Family]) -> (String, String) {
    let rationale = if s.dual_stack {
        "A dual-stack socket accepts IPv4 as well as IPv6; firewall rules and reviews written for one family silently miss the other."
    } else {
        "The listener accepts an address family its rule was not written for; firewall rules and reviews written for one family miss the other."
    };
    let remediation = if unintended.contains(&Family::Ipv4) {
        "Set IPV6_V6ONLY on the socket (e.g. `ipv6only=on` in nginx, net.ipv6.bindv6only=1), bind an IPv6 address, or widen the rule's `family`."
    } else {
        "Bind an IPv4 address (e.g. 0.0.0.0 instead of [::]) so the service stops accepting IPv6, or widen the rule's `family`."
    };
    (rationale.to_string(), remediation.to_string())
}

fn rule_finding(
    kind: FindingKind,
    severity: Severity,
    rule: &Rule,
    message: String,
    evidence: Vec<String>,
    advice: (&str, &str),
) -> Finding {
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(
            kind,
            &format!("rule|{}|{}", rule.name, rule.ports_label()),
        ),
        severity,
        message,
        socket: None,
        service: None,
        pids: Vec::new(),
        rule: Some(rule_ref(rule)),
        resource: None,
        evidence,
        rationale: advice.0.to_string(),
        remediation: advice.1.to_string(),
        reach: None,
        accepted: None,
    }
}

/// `1 day`, `3 days`.
fn day_count(days: i32) -> String {
    if days == 1 {
        "1 day".to_string()
    } else {
        format!("{days} days")
    }
}

fn judge_rule(
    policy: &Policy,
    rule: &Rule,
    sockets: &[ListeningSocket],
    today: Date,
    out: &mut Vec<Finding>,
) {
    if let Some(expires) = rule.expires {
        let approval = match (&rule.approved_by, rule.approved_on) {
            (Some(by), Some(on)) => format!("approved by {by} on {on}"),
            (Some(by), None) => format!("approved by {by}"),
            (None, Some(on)) => format!("approved on {on}"),
            (None, None) => "approval".to_string(),
        };
        let days_left = (expires - today).get_days();
        if expires < today {
            out.push(rule_finding(
                FindingKind::ApprovalExpired,
                Severity::High,
                rule,
                format!(
                    "approval of rule `{}` ({}) expired on {expires}",
                    rule.name,
                    rule.ports_label()
                ),
                vec![format!("{approval}; expired {} ago", day_count(-days_left))],
                (
                    "An opening nobody has re-approved is an opening nobody is answerable for.",
                    "Re-approve the rule with a new `expires`, or remove it and close the port.",
                ),
            ));
        } else if days_left
            <= i32::try_from(policy.defaults.expiry_warning_days).unwrap_or(i32::MAX)
        {
            out.push(rule_finding(
                FindingKind::ApprovalExpiring,
                Severity::Low,
                rule,
                format!(
                    "approval of rule `{}` ({}) expires on {expires}, {}",
                    rule.name,
                    rule.ports_label(),
                    if days_left == 0 {
                        "today".to_string()
                    } else {
                        format!("in {}", day_count(days_left))
                    }
                ),
                vec![approval],
                (
                    "Approvals lapse so that openings are reviewed; this one is due.",
                    "Review the rule and extend `expires`, or plan its removal.",
                ),
            ));
        }
    }

    if policy.defaults.report_stale_rules
        && !sockets.iter().any(|s| rule.covers(s.protocol, s.port))
    {
        out.push(rule_finding(
            FindingKind::StaleRule,
            Severity::Low,
            rule,
            format!("rule `{}` allows {} but nothing listens there", rule.name, rule.ports_label()),
            vec![format!("no listening socket on {} in the inventory", rule.ports_label())],
            (
                "An allowance with no listener is an opening waiting for whatever binds the port next.",
                "Remove the rule, or note why it must stay (e.g. a service started on demand).",
            ),
        ));
    }
}

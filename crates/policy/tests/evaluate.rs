//! `evaluate`: every finding kind, and the rules that decide between them.

mod common;

use std::sync::Arc;

use common::{dual_stack, owned_by, socket, without_owner};
use jiff::civil::{Date, date};
use portreeve_core::{Finding, FindingKind, OwnerStatus, Proto, Severity};
use portreeve_policy::{evaluate, parse_policy};

const TODAY: Date = date(2026, 11, 29);

fn policy(rules: &str) -> portreeve_policy::Policy {
    let src = format!(
        "[zones]\npublic = [\"0.0.0.0/0\", \"::/0\"]\nprivate = [\"10.0.0.0/8\"]\nv6 = [\"2001:db8::/32\"]\n{rules}"
    );
    parse_policy("test.toml", &src).unwrap_or_else(|e| panic!("{e}"))
}

fn kinds(findings: &[Finding]) -> Vec<(FindingKind, u16)> {
    findings
        .iter()
        .map(|f| (f.kind, f.socket.as_ref().map_or(0, |s| s.port)))
        .collect()
}

#[test]
fn baseline_flags_everything_but_ssh_https_dns_and_loopback() {
    let b = portreeve_policy::baseline();
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 22),
        socket(Proto::Tcp, "0.0.0.0", 443),
        socket(Proto::Udp, "0.0.0.0", 53),
        socket(Proto::Tcp, "127.0.0.1", 5432),
        socket(Proto::Tcp, "0.0.0.0", 6379),
        socket(Proto::Tcp, "10.1.2.3", 47123),
    ];
    let findings = evaluate(&b, &sockets, TODAY);
    assert_eq!(
        kinds(&findings),
        [
            (FindingKind::ListenerNotAllowed, 6379),
            (FindingKind::ListenerNotAllowed, 47123)
        ]
    );
    // Severity from the catalogue for Redis, the default for an unknown port.
    assert_eq!(findings[0].severity, Severity::Critical);
    assert!(findings[0].rationale.contains("Redis"));
    assert_eq!(findings[1].severity, Severity::Medium);
    assert_eq!(findings[0].pids, [100]);
    assert_eq!(findings[0].service.as_deref(), Some("daemon.service"));
}

#[test]
fn banned_port_wins_over_not_allowed_and_risky() {
    let b = portreeve_policy::baseline();
    let findings = evaluate(&b, &[socket(Proto::Tcp, "0.0.0.0", 23)], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::BannedPort, 23)]);
    assert_eq!(findings[0].severity, Severity::Critical);
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("built-in banned list"))
    );
    // Loopback is fine even for a banned port.
    assert!(evaluate(&b, &[socket(Proto::Tcp, "127.0.0.1", 23)], TODAY).is_empty());
}

#[test]
fn user_bans_cite_their_location() {
    let p = policy("[banned]\nports = [\"8080/tcp\"]\n");
    let findings = evaluate(&p, &[socket(Proto::Tcp, "10.0.0.5", 8080)], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::BannedPort, 8080)]);
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("banned at test.toml:6:")),
        "{:?}",
        findings[0].evidence
    );
    assert!(findings[0].severity >= Severity::High);
}

#[test]
fn risky_service_on_a_wildcard_is_reported_even_when_allowed() {
    let p = policy(
        "[[rule]]\nname = \"cache\"\nport = 6379\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\n",
    );
    let wildcard = evaluate(&p, &[socket(Proto::Tcp, "0.0.0.0", 6379)], TODAY);
    assert_eq!(kinds(&wildcard), [(FindingKind::RiskyExposure, 6379)]);
    assert_eq!(wildcard[0].rule.as_ref().unwrap().name, "cache");
    // Bound to a private address: allowed and not public, so nothing.
    assert!(evaluate(&p, &[socket(Proto::Tcp, "10.0.0.7", 6379)], TODAY).is_empty());
    // Bound to a public address: risky again.
    let public = evaluate(&p, &[socket(Proto::Tcp, "8.8.4.4", 6379)], TODAY);
    assert_eq!(kinds(&public), [(FindingKind::RiskyExposure, 6379)]);
}

/// Behind portreeve's firewall a socket reaches only its rules' zones, and
/// the exposure findings are graded by that; without a verified firewall
/// nothing changes but the reason given.
#[test]
fn exposure_findings_are_graded_by_reach_behind_the_firewall() {
    use portreeve_policy::{Protection, evaluate_behind};
    let p = policy(
        "[[rule]]\nname = \"cache\"\nport = 6379\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\n",
    );
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 6379),
        socket(Proto::Tcp, "0.0.0.0", 11211),
    ];
    let netns = sockets[0].netns.inode;
    let guarded = evaluate_behind(&p, &sockets, TODAY, Some(&Protection::Enforced { netns }));
    let by_port = |port: u16| {
        guarded
            .iter()
            .find(|f| f.socket.as_ref().unwrap().port == port)
            .unwrap()
    };
    let redis = by_port(6379);
    assert_eq!(redis.kind, FindingKind::RiskyExposure);
    assert_eq!(
        redis.severity,
        Severity::Medium,
        "critical from a private zone"
    );
    assert!(
        redis
            .message
            .contains("reachable from private (10.0.0.0/8)"),
        "{}",
        redis.message
    );
    assert!(
        redis
            .evidence
            .contains(&"reachable from: private (10.0.0.0/8)".to_string())
    );
    // No rule: the firewall admits nobody to memcached.
    let memcached = by_port(11211);
    assert_eq!(memcached.kind, FindingKind::ListenerNotAllowed);
    assert_eq!(memcached.severity, Severity::Low);

    let open = evaluate_behind(
        &p,
        &sockets,
        TODAY,
        Some(&Protection::Unverified(
            "no portreeve ruleset is live".into(),
        )),
    );
    assert_eq!(open[0].severity, Severity::Critical);
    assert_eq!(
        open[0].reach.as_ref().unwrap().to_string(),
        "everywhere (no portreeve ruleset is live)"
    );
}

#[test]
fn risky_threshold_is_configurable() {
    let p = policy(
        "[defaults]\nrisky_severity = \"critical\"\n[[rule]]\nport = 3306\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\n",
    );
    // MySQL is high, below the critical threshold.
    assert!(evaluate(&p, &[socket(Proto::Tcp, "0.0.0.0", 3306)], TODAY).is_empty());
}

#[test]
fn service_binding_mismatch_is_not_allowed() {
    let p = policy(
        "[[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\nservice = { process = \"nginx\" }\n",
    );
    let ok = evaluate(
        &p,
        &[owned_by(
            socket(Proto::Tcp, "0.0.0.0", 443),
            "nginx",
            "nginx.service",
        )],
        TODAY,
    );
    assert!(ok.is_empty(), "{ok:?}");
    let impostor = evaluate(
        &p,
        &[owned_by(
            socket(Proto::Tcp, "0.0.0.0", 443),
            "haproxy",
            "haproxy.service",
        )],
        TODAY,
    );
    assert_eq!(kinds(&impostor), [(FindingKind::ListenerNotAllowed, 443)]);
    assert!(impostor[0].message.contains("does not name"));
    assert!(
        impostor[0]
            .evidence
            .iter()
            .any(|e| e.contains("only for process nginx"))
    );
}

#[test]
fn unit_binding_accepts_bare_service_names() {
    let p = policy(
        "[[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\nservice = { unit = \"app\" }\n",
    );
    let s = owned_by(socket(Proto::Tcp, "10.0.0.1", 8080), "java", "app.service");
    assert!(evaluate(&p, &[s], TODAY).is_empty());
}

#[test]
fn unknown_owner_of_a_bound_rule_is_unverified_not_a_violation() {
    let p = policy(
        "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\nservice = { process = \"nginx\" }\n",
    );
    let findings = evaluate(
        &p,
        &[without_owner(
            socket(Proto::Tcp, "0.0.0.0", 443),
            OwnerStatus::PermissionDenied,
        )],
        TODAY,
    );
    assert_eq!(kinds(&findings), [(FindingKind::OwnerUnverified, 443)]);
    assert!(
        findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("permission denied"))
    );
}

#[test]
fn dual_stack_listener_under_an_ipv6_only_rule() {
    let p = policy("[[rule]]\nname = \"api\"\nport = 8443\nprotocol = \"tcp\"\nzones = [\"v6\"]\n");
    let findings = evaluate(&p, &[dual_stack(8443)], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::UnintendedFamily, 8443)]);
    assert!(
        findings[0].message.contains("ipv4"),
        "{}",
        findings[0].message
    );
    assert!(findings[0].remediation.contains("IPV6_V6ONLY"));
    // The same rule is satisfied by a v6-only socket…
    assert!(evaluate(&p, &[socket(Proto::Tcp, "::", 8443)], TODAY).is_empty());
    // …and a rule intending both families accepts the dual-stack one.
    let both = policy("[[rule]]\nport = 8443\nprotocol = \"tcp\"\nzones = [\"public\"]\n");
    assert!(evaluate(&both, &[dual_stack(8443)], TODAY).is_empty());
}

#[test]
fn ipv4_only_rule_and_an_ipv6_listener() {
    let p = policy("[[rule]]\nport = 8443\nprotocol = \"tcp\"\nzones = [\"private\"]\n");
    let findings = evaluate(&p, &[socket(Proto::Tcp, "::", 8443)], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::UnintendedFamily, 8443)]);
}

#[test]
fn approvals_expire_and_warn_before() {
    let p = policy(concat!(
        "[defaults]\nexpiry_warning_days = 10\napproval_validity_days = 30\n",
        "[[rule]]\nname = \"old\"\nport = 8001\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\nexpires = 2026-11-28\napproved_by = \"alice\"\n",
        "[[rule]]\nname = \"soon\"\nport = 8002\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\nexpires = 2026-12-09\n",
        "[[rule]]\nname = \"derived\"\nport = 8003\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\napproved_on = 2026-10-01\n",
        "[[rule]]\nname = \"fine\"\nport = 8004\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\nexpires = 2026-12-10\n",
    ));
    let sockets: Vec<_> = (8001..=8004)
        .map(|p| socket(Proto::Tcp, "10.0.0.1", p))
        .collect();
    let findings = evaluate(&p, &sockets, TODAY);
    let got: Vec<(FindingKind, &str)> = findings
        .iter()
        .map(|f| (f.kind, f.rule.as_ref().unwrap().name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (FindingKind::ApprovalExpired, "derived"),
            (FindingKind::ApprovalExpired, "old"),
            (FindingKind::ApprovalExpiring, "soon"),
        ]
    );
    assert!(
        findings[1].evidence[0].contains("approved by alice; expired 1 day ago"),
        "{:?}",
        findings[1].evidence
    );
    assert!(findings[2].message.contains("in 10 days"));
}

#[test]
fn stale_rules_are_reported_unless_disabled() {
    let rule = "[[rule]]\nname = \"legacy\"\nports = [\"9000-9010\"]\nprotocol = \"tcp\"\nzones = [\"private\"]\n";
    let p = policy(rule);
    let findings = evaluate(&p, &[socket(Proto::Udp, "10.0.0.1", 9005)], TODAY);
    assert!(
        kinds(&findings).contains(&(FindingKind::StaleRule, 0)),
        "udp does not satisfy a tcp rule"
    );
    // A loopback listener counts as something listening.
    assert!(
        !kinds(&evaluate(
            &p,
            &[socket(Proto::Tcp, "127.0.0.1", 9005)],
            TODAY
        ))
        .contains(&(FindingKind::StaleRule, 0))
    );
    let quiet = policy(&format!("[defaults]\nreport_stale_rules = false\n{rule}"));
    assert!(evaluate(&quiet, &[], TODAY).is_empty());
}

#[test]
fn min_severity_filters_and_order_is_most_severe_first() {
    let b = portreeve_policy::baseline();
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 47123),
        socket(Proto::Tcp, "0.0.0.0", 23),
        socket(Proto::Tcp, "0.0.0.0", 80),
    ];
    let all = evaluate(&b, &sockets, TODAY);
    let severities: Vec<Severity> = all.iter().map(|f| f.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(severities, sorted);
    assert_eq!(all.len(), 3);

    let strict = policy("[defaults]\nmin_severity = \"high\"\n");
    let high_only = evaluate(&strict, &sockets, TODAY);
    assert!(high_only.iter().all(|f| f.severity >= Severity::High));
    assert_eq!(kinds(&high_only), [(FindingKind::BannedPort, 23)]);
}

#[test]
fn fingerprints_ignore_owner_and_inode_but_not_endpoint() {
    let b = portreeve_policy::baseline();
    let a = evaluate(&b, &[socket(Proto::Tcp, "0.0.0.0", 6379)], TODAY);
    let mut restarted = owned_by(
        socket(Proto::Tcp, "0.0.0.0", 6379),
        "redis",
        "redis.service",
    );
    restarted.inode = 999;
    let b2 = evaluate(&b, &[restarted], TODAY);
    assert_eq!(a[0].fingerprint, b2[0].fingerprint);
    let other = evaluate(&b, &[socket(Proto::Tcp, "10.0.0.1", 6379)], TODAY);
    assert_ne!(a[0].fingerprint, other[0].fingerprint);
}

#[test]
fn family_advice_names_the_family_that_slipped_in() {
    // IPv4-only rule, dual-stack socket: IPv6 is the unintended family.
    let p = policy("[[rule]]\nport = 9100\nprotocol = \"tcp\"\nzones = [\"private\"]\n");
    let findings = evaluate(&p, &[dual_stack(9100)], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::UnintendedFamily, 9100)]);
    assert!(
        findings[0].message.contains("ipv6 clients"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[0].remediation.starts_with("Bind an IPv4 address"),
        "{}",
        findings[0].remediation
    );
}

#[test]
fn unverified_owner_advice_depends_on_why_it_is_unknown() {
    let p = policy(
        "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\nservice = { process = \"nginx\" }\n",
    );
    let kernel = without_owner(socket(Proto::Tcp, "0.0.0.0", 443), OwnerStatus::NoProcess);
    let findings = evaluate(&p, &[kernel], TODAY);
    assert_eq!(kinds(&findings), [(FindingKind::OwnerUnverified, 443)]);
    assert!(
        !findings[0].remediation.contains("root"),
        "{}",
        findings[0].remediation
    );
    let denied = evaluate(
        &p,
        &[without_owner(
            socket(Proto::Tcp, "0.0.0.0", 443),
            OwnerStatus::PermissionDenied,
        )],
        TODAY,
    );
    assert!(denied[0].remediation.contains("as root"));
}

#[test]
fn container_bindings_match_ids_prefixes_and_names() {
    let id =
        "3F4E9A1C2B7D8E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F".to_ascii_lowercase();
    let in_container = |container: &str| {
        let mut s = socket(Proto::Tcp, "10.0.0.1", 8080);
        Arc::make_mut(&mut s.processes[0]).container_id = Some(container.to_string());
        s
    };
    for (binding, container, allowed) in [
        ("3F4E9A1C2B7D", id.as_str(), true), // docker ps prefix, any case
        (id.as_str(), id.as_str(), true),
        ("3f4e9a1c2b7e", id.as_str(), false),
        ("3f4e9a", id.as_str(), false), // too short a prefix to trust
        ("web01", "web01", true),       // LXC names
        ("cafe", "cafe", true),         // even when they look like hex
        ("web01", "web011", false),     // names never prefix-match
        ("webserver-prod", "webserver-prod-old", false),
    ] {
        let p = policy(&format!(
            "[[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"private\"]\nfamily = \"ipv4\"\nservice = {{ container = \"{binding}\" }}\n"
        ));
        let findings = evaluate(&p, &[in_container(container)], TODAY);
        assert_eq!(
            findings.is_empty(),
            allowed,
            "{binding} vs {container}: {findings:?}"
        );
    }
}

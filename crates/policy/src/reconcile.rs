//! Joining the inside-out view (what listens), the outside-in view (what a
//! scan reached) and the policy (what should be reachable, from where).
//!
//! The two views disagree exactly where trouble hides: a port reachable
//! with no local listener is forwarded somewhere (NAT, a proxy, container
//! publishing) that `ss` cannot explain; a listener the scan cannot reach is
//! protected by a firewall, which is good to know when judging it.

use std::net::IpAddr;

use portreeve_core::{
    BindScope, Finding, FindingKind, ListeningSocket, Observed, ObservedPort, Proto, ScanView,
    Severity, SocketRef,
};
use serde::Serialize;

use crate::catalogue;
use crate::model::Policy;

/// Whether the host listens on a scanned port, for the scanned address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Listening {
    /// A socket accepts connections on the scanned address.
    Yes,
    /// Only on loopback: the scan should not reach it.
    LoopbackOnly,
    /// No socket on that port.
    No,
}

/// The joined verdict for one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    /// Listening and the scan reached it.
    Reachable,
    /// Listening, but the scan was filtered: a firewall protects it.
    ListeningButFiltered,
    /// The scan reached it, but nothing listens here: something forwards it.
    ReachableWithoutListener,
    /// Listening but refused from outside (bound elsewhere, or a reject).
    ListeningButClosed,
}

/// One port where the views meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinedPort {
    /// Protocol.
    pub protocol: Proto,
    /// Port.
    pub port: u16,
    /// What listens on the host.
    pub listening: Listening,
    /// What the scan saw.
    pub observed: Observed,
    /// The two together.
    pub reachability: Reachability,
    /// The owning service (inventory) or the identified one (scan).
    pub service: Option<String>,
}

/// The result of joining both views with the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciliation {
    /// Every port where something listens or the scan got in.
    pub ports: Vec<JoinedPort>,
    /// What is wrong with them.
    pub findings: Vec<Finding>,
}

/// Joins `sockets` (the host's inventory) with `view` (a scan of it) under
/// `policy`.
pub fn reconcile(policy: &Policy, sockets: &[ListeningSocket], view: &ScanView) -> Reconciliation {
    let mut ports = Vec::new();
    let mut findings = Vec::new();
    for observed in &view.ports {
        let local: Vec<&ListeningSocket> = sockets
            .iter()
            .filter(|s| s.protocol == observed.protocol && s.port == observed.port)
            .collect();
        let serving: Option<&ListeningSocket> =
            local.iter().copied().find(|s| serves(s, view.target));
        let listening = match (serving, local.is_empty()) {
            (Some(_), _) => Listening::Yes,
            (None, false) if local.iter().all(|s| s.scope == BindScope::Loopback) => {
                Listening::LoopbackOnly
            }
            _ => Listening::No,
        };
        let reachability = match (listening, observed.observed) {
            (Listening::Yes, Observed::Open) => Reachability::Reachable,
            (Listening::Yes, Observed::Filtered) => Reachability::ListeningButFiltered,
            (Listening::Yes, Observed::Closed) => Reachability::ListeningButClosed,
            (_, Observed::Open) => Reachability::ReachableWithoutListener,
            _ => continue,
        };
        let service = serving
            .and_then(|s| s.service_label())
            .or_else(|| observed.service.clone());
        if observed.observed == Observed::Open {
            judge(policy, view, observed, serving, reachability, &mut findings);
        }
        ports.push(JoinedPort {
            protocol: observed.protocol,
            port: observed.port,
            listening,
            observed: observed.observed,
            reachability,
            service,
        });
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.message.cmp(&b.message))
    });
    Reconciliation { ports, findings }
}

/// Whether a listening socket accepts connections to `target`.
fn serves(s: &ListeningSocket, target: IpAddr) -> bool {
    if s.address == target {
        return true;
    }
    s.scope == BindScope::Wildcard
        && s.accepted_families()
            .iter()
            .any(|f| (*f == portreeve_core::Family::Ipv4) == target.is_ipv4())
}

fn judge(
    policy: &Policy,
    view: &ScanView,
    p: &ObservedPort,
    serving: Option<&ListeningSocket>,
    reachability: Reachability,
    out: &mut Vec<Finding>,
) {
    let entry = catalogue::lookup(p.protocol, p.port);
    let place = format!("{}:{}/{}", bracketed(view.target), p.port, p.protocol);
    let from = view
        .source
        .map_or_else(|| "the scanner".to_string(), |s| s.to_string());
    let known_as = entry.map_or_else(String::new, |e| format!(" — {}", e.service));
    let mut evidence = vec![format!("a scan from {from} reached {place}")];
    if let Some(s) = serving {
        evidence.push(format!(
            "listening socket {} ({})",
            s.endpoint(),
            s.owner_status.explain()
        ));
    }
    if let Some(service) = &p.service {
        evidence.push(format!(
            "identified as {service}{}",
            p.product
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        ));
    }
    let finding = |kind: FindingKind,
                   severity: Severity,
                   message: String,
                   evidence: Vec<String>,
                   advice: (String, String)| Finding {
        kind,
        fingerprint: Finding::fingerprint_of(
            kind,
            &format!("scan|{}|{}|{}", view.target, p.protocol, p.port),
        ),
        severity,
        message,
        socket: serving.map(SocketRef::from),
        service: serving
            .and_then(|s| s.service_label())
            .or_else(|| p.service.clone()),
        pids: serving
            .map(|s| s.processes.iter().map(|p| p.pid).collect())
            .unwrap_or_default(),
        rule: None,
        resource: None,
        evidence,
        rationale: advice.0,
        remediation: advice.1,
        reach: None,
        accepted: None,
    };
    let advice = || {
        entry.map_or_else(
            || {
                (
                    "A port reachable from the network is attack surface.".to_string(),
                    "Close it in the firewall, bind the service to loopback, or allow it in the policy for this source.".to_string(),
                )
            },
            |e| (format!("{}: {}", e.service, e.rationale), e.remediation.to_string()),
        )
    };

    // Reachable against the policy: banned, or no rule allows it from the
    // scan's source. This takes precedence over "risky but allowed".
    let banned = policy.banned_entry(p.protocol, p.port).is_some();
    let source_zones: Vec<&str> = policy
        .zones
        .iter()
        .filter(|z| {
            view.source
                .is_none_or(|src| z.networks.iter().any(|n| n.contains(&src)))
        })
        .map(|z| z.name.as_str())
        .collect();
    let allowed = policy
        .rules
        .iter()
        .filter(|r| r.grant.is_none() && r.covers(p.protocol, p.port))
        .any(|r| r.zones.iter().any(|z| source_zones.contains(&z.as_str())));
    if banned || !allowed {
        let mut ev = evidence.clone();
        ev.push(if banned {
            format!("{}/{} is banned", p.port, p.protocol)
        } else if view.source.is_some() {
            format!(
                "no rule of {} allows {}/{} from {from} (zones: {})",
                policy.origin,
                p.port,
                p.protocol,
                if source_zones.is_empty() {
                    "none".to_string()
                } else {
                    source_zones.join(", ")
                }
            )
        } else {
            format!(
                "no rule of {} allows {}/{}",
                policy.origin, p.port, p.protocol
            )
        });
        let base = entry.map_or(policy.defaults.unknown_port_severity, |e| e.severity);
        let severity = if banned {
            base.max(Severity::High)
        } else {
            base
        };
        out.push(finding(
            FindingKind::ReachableAgainstPolicy,
            severity,
            format!("{place} is reachable from {from}, which the policy does not allow{known_as}"),
            ev,
            advice(),
        ));
    } else if let Some(e) = entry.filter(|e| e.severity >= policy.defaults.risky_severity) {
        out.push(finding(
            FindingKind::ReachableRiskyService,
            e.severity,
            format!("{place} exposes a risky service to {from}{known_as}"),
            evidence.clone(),
            advice(),
        ));
    }

    if p.unauthenticated == Some(true) {
        let severity = entry.map_or(Severity::High, |e| e.severity.max(Severity::High));
        let what = p.service.clone().unwrap_or_else(|| "the service".into());
        let mut ev = evidence.clone();
        ev.push(format!(
            "{what} answered a data request without credentials"
        ));
        out.push(finding(
            FindingKind::UnauthenticatedService,
            severity,
            format!("{place} serves {what} to anyone who reaches it, without authentication"),
            ev,
            (
                "Anyone who can reach it can read or change its data, and often run commands.".into(),
                "Require authentication (e.g. requirepass/ACLs, TLS client certificates) and firewall it to the clients that need it.".into(),
            ),
        ));
    }

    if reachability == Reachability::ReachableWithoutListener {
        let mut ev = evidence;
        ev.push(format!(
            "no socket on this host listens on {}/{} for {}",
            p.port, p.protocol, view.target
        ));
        out.push(finding(
            FindingKind::ReachableWithoutListener,
            Severity::Medium,
            format!("{place} answers, but nothing on this host listens there: it is forwarded elsewhere"),
            ev,
            (
                "NAT, a proxy or container port publishing (Docker -p, kube-proxy) makes ports reachable that the host's own view cannot explain, and that input filtering may not cover.".into(),
                "Find the forwarding rule (`portreeve plan` lists DNAT tables; `docker ps`, `iptables -t nat -S`) and close or allow it deliberately.".into(),
            ),
        ));
    }
}

fn bracketed(a: IpAddr) -> String {
    match a {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

//! Abandoned ports as `check` findings (PR013): the lifecycle's verdict
//! where operators already look, and in the agent's findings metric.

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{Finding, FindingKind, ListeningSocket, Severity, SocketRef};
use portreeve_policy::Policy;

use crate::{Action, Recommendation, State};

/// A finding for every abandoned port the policy would have closed (a
/// recommendation, or a close the agent has not carried out yet). Ports
/// held open (`keep`, management SSH, `reclaim = "off"`) get none. The
/// finding names a socket listening on the port, if any. Like every
/// finding, none below the policy's `min_severity`.
pub fn abandoned_findings(
    policy: &Policy,
    recs: &[Recommendation],
    sockets: &[ListeningSocket],
) -> Vec<Finding> {
    recs.iter()
        .filter(|r| r.state == State::Abandoned && r.action != Action::None)
        .map(|r| finding(r, sockets))
        .filter(|f| f.severity >= policy.defaults.min_severity)
        .collect()
}

fn finding(r: &Recommendation, sockets: &[ListeningSocket]) -> Finding {
    let kind = FindingKind::AbandonedPort;
    let socket = sockets
        .iter()
        .find(|s| s.protocol == r.key.protocol && s.port == r.key.port);
    let thresholds = &r.policy.thresholds;
    let last = match r.last_access {
        Some(t) => format!("last new connection {} ({} ago)", rfc3339(t), days(r.idle)),
        None => format!(
            "no new connection seen since {} ({} ago)",
            rfc3339(r.idle_since),
            days(r.idle)
        ),
    };
    let what = if r.action == Action::Close {
        "the policy closes it (`reclaim = \"close\"`)"
    } else {
        "the policy recommends closing it"
    };
    let mut evidence = vec![
        last,
        format!(
            "abandoned after {} unused (dormant after {})",
            days(thresholds.abandoned_after),
            days(thresholds.dormant_after)
        ),
        if r.listening {
            "listening now".to_string()
        } else {
            "nothing listens on it now".to_string()
        },
    ];
    if let Some(forecast) = &r.forecast {
        evidence.push(format!("forecast: {}", forecast.why));
    }
    if !r.policy.rules.is_empty() {
        evidence.push(format!("allowed by rule(s) {}", r.policy.rules.join(", ")));
    }
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, &format!("{}|{}", r.key.protocol, r.key.port)),
        severity: Severity::Medium,
        message: format!(
            "{} has been unused for {}: abandoned; {what}",
            r.key,
            days(r.idle)
        ),
        socket: socket.map(SocketRef::from),
        service: socket.and_then(ListeningSocket::service_label),
        pids: socket.map_or_else(Vec::new, |s| s.processes.iter().map(|p| p.pid).collect()),
        rule: None,
        resource: None,
        evidence,
        rationale: "An open port nobody uses is attack surface without a purpose: whatever \
                    answers there is unwatched, and nothing breaks when it closes."
            .into(),
        remediation: "Run `portreeve reclaim --apply` to remove it from the enforced ruleset \
                      (undone by `portreeve reclaim --undo ID`), stop the service, or mark \
                      its rule `keep = true` if it must stay open."
            .into(),
        reach: None,
        accepted: None,
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A duration for people: whole days when over a day, else h/m/s.
pub(crate) fn days(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

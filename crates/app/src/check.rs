//! Check: judge listening sockets against a policy and the risk catalogue,
//! optionally joined with a scan of this host from the outside, and record
//! the outcome.

use std::collections::BTreeMap;
use std::sync::Mutex;

use portreeve_core::{
    Finding, FindingKind, ListeningSocket, Observed, ObservedPort, Proto, ScanView, Severity,
};
use portreeve_ledger::{Draft, digest};
use portreeve_policy::{JoinedPort, Protection};
use portreeve_scan::tcp_connect::TcpOptions;
use portreeve_scan::{PortResult, PortState, ports, service, target, tcp_connect, tcp_syn};
use serde::Serialize;

use crate::actor::Actor;
use crate::counted;
use crate::error::AppError;
use crate::policy::LoadedPolicy;
use crate::reclaim;
use crate::record::record;
use crate::state_dir::StateDir;

/// Which sockets to judge.
#[derive(Debug, Clone)]
pub enum Sockets {
    /// This host's, read now (`all_netns`: every network namespace).
    Live {
        /// Read every namespace.
        all_netns: bool,
    },
    /// A saved inventory of `host`.
    Saved {
        /// The host it was taken on.
        host: String,
        /// Its sockets.
        sockets: Vec<ListeningSocket>,
    },
}

/// A scan of this host from here, to join with what listens.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// This host's address as the network sees it.
    pub target: String,
    /// Ports to probe (nmap syntax); default: every listening and allowed
    /// TCP port plus the top 1000.
    pub ports: Option<String>,
    /// Half-open SYN probes.
    pub syn: bool,
}

/// What `check` is asked.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    /// The policy to judge against.
    pub policy: LoadedPolicy,
    /// The sockets.
    pub sockets: Sockets,
    /// Also scan from the outside.
    pub scan: Option<ScanRequest>,
    /// Append a summary to the ledger.
    pub record: bool,
}

/// Counts of a check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Sockets judged.
    pub listeners: usize,
    /// Of which bound to a non-loopback address.
    pub exposed: usize,
    /// Findings reported and not accepted.
    pub findings: usize,
    /// Of those, per severity, every severity present.
    pub by_severity: BTreeMap<Severity, usize>,
    /// The most severe of those, if any.
    pub highest: Option<Severity>,
    /// Findings the policy's accepted risks cover: shown, not counted.
    pub accepted: usize,
}

impl Summary {
    /// Counts `findings` over `sockets`; accepted findings only as such.
    pub fn of(sockets: &[ListeningSocket], findings: &[Finding]) -> Summary {
        let mut by_severity: BTreeMap<Severity, usize> =
            Severity::ALL.iter().map(|s| (*s, 0)).collect();
        let open: Vec<&Finding> = findings.iter().filter(|f| f.accepted.is_none()).collect();
        for f in &open {
            *by_severity.entry(f.severity).or_default() += 1;
        }
        Summary {
            listeners: sockets.len(),
            exposed: sockets.iter().filter(|s| s.is_exposed()).count(),
            findings: open.len(),
            by_severity,
            highest: open.iter().map(|f| f.severity).max(),
            accepted: findings.len() - open.len(),
        }
    }

    /// `2 high, 1 medium` (non-zero counts, most severe first), or `none`.
    pub fn severity_breakdown(&self) -> String {
        let parts: Vec<String> = self
            .by_severity
            .iter()
            .rev()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// What a check found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The host judged.
    pub host: String,
    /// The sockets judged.
    pub sockets: Vec<ListeningSocket>,
    /// The policy judged against.
    pub policy: LoadedPolicy,
    /// Findings at or above the policy's `min_severity`, most severe first;
    /// those an accepted risk covers are marked `accepted`.
    pub findings: Vec<Finding>,
    /// Their counts.
    pub summary: Summary,
    /// With a scan: every port where something listens or the scan got in,
    /// both views joined.
    pub reachability: Option<Vec<JoinedPort>>,
}

/// Judges the request's sockets; records a summary if asked.
pub fn check(
    state: &StateDir,
    request: CheckRequest,
    actor: &Actor,
) -> Result<CheckReport, AppError> {
    let policy = request.policy;
    let live = matches!(request.sockets, Sockets::Live { .. });
    let (host, sockets) = match request.sockets {
        Sockets::Live { all_netns } => {
            let inv = portreeve_inventory::collect(portreeve_inventory::Options { all_netns })?;
            (inv.host, inv.sockets)
        }
        Sockets::Saved { host, sockets } => (host, sockets),
    };
    let today = today();
    // This host's firewall and records say nothing about a saved
    // inventory's host.
    let drift = live.then(|| state.firewall().table_drift());
    let protection = drift.as_ref().map(|d| protection(state, &policy, d));
    let mut findings =
        portreeve_policy::evaluate_behind(&policy.policy, &sockets, today, protection.as_ref());
    if let Some(drift) = &drift {
        findings.extend(reclaim::abandoned_findings(state, &policy, &sockets)?);
        findings.extend(table_drift_finding(drift));
    }
    let reachability = match &request.scan {
        Some(scan) => {
            let view = scan_view(scan, &sockets, &policy.policy)?;
            let joined = portreeve_policy::reconcile(&policy.policy, &sockets, &view);
            findings.extend(joined.findings);
            Some(joined.ports)
        }
        None => None,
    };
    settle(&policy.policy, &mut findings, today);
    let summary = Summary::of(&sockets, &findings);
    let report = CheckReport {
        host,
        sockets,
        policy,
        findings,
        summary,
        reachability,
    };
    if request.record {
        record_summary(state, &report, actor)?;
    }
    Ok(report)
}

/// The last steps of judging, the same for `check` and the agent's
/// findings gauge: findings below the policy's `min_severity` left out,
/// those an accepted risk covers on `today` marked, most severe first.
pub fn settle(
    policy: &portreeve_policy::Policy,
    findings: &mut Vec<Finding>,
    today: jiff::civil::Date,
) {
    findings.retain(|f| f.severity >= policy.defaults.min_severity);
    portreeve_policy::accept(policy, findings, today);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
}

/// How portreeve's table in the kernel differs from the live generation's
/// ruleset, as [`Firewall::table_drift`](crate::state_dir::Firewall) says.
pub type TableDrift = Result<Option<Vec<String>>, portreeve_enforce::EnforceError>;

/// What stands in front of this host's sockets: portreeve's firewall, when
/// the live generation enforces the very policy judged and the kernel's
/// table (whose `drift` is given) is still that generation's ruleset;
/// otherwise nothing that `check` may count on, and why.
pub fn protection(state: &StateDir, policy: &LoadedPolicy, drift: &TableDrift) -> Protection {
    let in_effect = match policy.effect() {
        Some(_) => Some(policy.digest.clone()),
        None => match crate::policy::in_effect(state) {
            Ok(p) => p.map(|p| p.digest),
            Err(e) => {
                return Protection::Unverified(format!("cannot read the policy in effect: {e}"));
            }
        },
    };
    match in_effect {
        None => return Protection::Unverified("no portreeve ruleset is live".into()),
        Some(d) if d != policy.digest => {
            return Protection::Unverified(
                "the live portreeve ruleset enforces another policy than the one judged".into(),
            );
        }
        Some(_) => {}
    }
    match drift {
        Ok(Some(d)) if d.is_empty() => {}
        Ok(Some(_)) => {
            return Protection::Unverified(
                "portreeve's table was changed outside portreeve".into(),
            );
        }
        Ok(None) => {
            return Protection::Unverified("portreeve's table is not in the kernel".into());
        }
        Err(e) => {
            return Protection::Unverified(format!("cannot read portreeve's table: {e}"));
        }
    }
    match own_netns() {
        Ok(netns) => Protection::Enforced { netns },
        Err(e) => Protection::Unverified(format!(
            "cannot tell which network namespace the firewall guards: {e}"
        )),
    }
}

/// The inode of the network namespace this process (and so the firewall
/// it reads) is in.
fn own_netns() -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino())
}

/// PR014 when portreeve's table in the kernel is not the ruleset it
/// installed. Comparing needs root; where it cannot be done, a warning and
/// no finding (a check must not fail for it).
fn table_drift_finding(drift: &TableDrift) -> Option<Finding> {
    let differences = match drift {
        Ok(Some(d)) if !d.is_empty() => d,
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot compare portreeve's table with the kernel");
            return None;
        }
    };
    let kind = FindingKind::TableDrift;
    let shown = 20;
    let mut evidence: Vec<String> = differences.iter().take(shown).cloned().collect();
    if differences.len() > shown {
        evidence.push(format!("… and {} more", differences.len() - shown));
    }
    Some(Finding {
        kind,
        fingerprint: Finding::fingerprint_of(kind, "table|inet|portreeve"),
        severity: Severity::High,
        message: format!(
            "portreeve's table was changed outside portreeve: {}",
            counted(differences.len(), "difference")
        ),
        socket: None,
        service: None,
        pids: Vec::new(),
        rule: None,
        resource: None,
        evidence,
        rationale: "The firewall no longer enforces the policy in effect: an element added by \
                    hand opens a port to someone the policy does not name, and nothing in the \
                    ledger says who or why."
            .into(),
        remediation: "`portreeve plan` shows the differences; `portreeve apply` puts the \
                      ruleset back. To keep a change, write it into the policy and apply that."
            .into(),
        reach: None,
        accepted: None,
    })
}

/// Today's date in the local time zone, which approvals expire by.
pub fn today() -> jiff::civil::Date {
    jiff::ZonedDateTime::now().date()
}

/// Appends the check's outcome to the ledger: counts per severity in the
/// object, and the digest of the findings (as JSON) so that the full report
/// kept elsewhere can be matched to the entry.
fn record_summary(state: &StateDir, report: &CheckReport, actor: &Actor) -> Result<(), AppError> {
    let s = &report.summary;
    let mut draft = Draft::new(
        "check",
        actor.as_str(),
        format!(
            "{} on {} ({} exposed) of {} against {}{}{}",
            counted(s.findings, "finding"),
            counted(s.listeners, "listener"),
            s.exposed,
            report.host,
            report.policy.policy.origin,
            if s.findings == 0 {
                String::new()
            } else {
                format!(": {}", s.severity_breakdown())
            },
            accepted_summary(&report.findings)
        ),
    );
    draft.after = Some(digest(
        &serde_json::to_vec(&report.findings).expect("findings serialise"),
    ));
    draft.policy = Some(report.policy.digest.clone());
    record(state, draft, "the check ran").map(|_| ())
}

/// `; accepted: PR003 6379/tcp (by data-team until 2027-01-31), …`, or
/// nothing: the ledger names every acceptance a check relied on.
fn accepted_summary(findings: &[Finding]) -> String {
    let accepted: Vec<String> = findings
        .iter()
        .filter_map(|f| {
            let a = f.accepted.as_ref()?;
            let what = match &f.socket {
                Some(s) => format!("{} {}/{}", f.kind.code(), s.port, s.protocol),
                None => format!("{} {}", f.kind.code(), f.fingerprint),
            };
            Some(format!("{what} (by {} until {})", a.owner, a.expires))
        })
        .collect();
    if accepted.is_empty() {
        String::new()
    } else {
        format!("; accepted: {}", accepted.join(", "))
    }
}

/// Scans `request.target` (one host) from here and names what answers on
/// each open port: the outside view `check` joins with the sockets.
pub fn scan_view(
    request: &ScanRequest,
    sockets: &[ListeningSocket],
    policy: &portreeve_policy::Policy,
) -> Result<ScanView, AppError> {
    let spec = target::parse_spec(&request.target).map_err(|e| AppError::Invalid(e.to_string()))?;
    let targets = target::expand(&[spec], &[], target::resolve)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let [target] = targets.as_slice() else {
        return Err(AppError::Invalid(format!(
            "--scan takes one host (this one, as the network sees it); `{}` is {}",
            request.target,
            counted(targets.len(), "address")
        )));
    };
    let ports: Vec<u16> = match &request.ports {
        Some(p) => {
            ports::parse_ports(p).map_err(|e| AppError::Invalid(format!("--scan-ports {e}")))?
        }
        None => {
            let mut all: Vec<u16> = ports::top_ports(1000);
            all.extend(
                sockets
                    .iter()
                    .filter(|s| s.protocol == Proto::Tcp && s.is_exposed())
                    .map(|s| s.port),
            );
            for rule in policy
                .rules
                .iter()
                .filter(|r| r.protocols.contains(&Proto::Tcp))
            {
                all.extend(rule.ports.iter().flat_map(|r| r.start()..=r.end()));
            }
            all.sort_unstable();
            all.dedup();
            all
        }
    };
    let results: Mutex<Vec<PortResult>> = Mutex::new(Vec::new());
    let report = |r: PortResult| {
        results
            .lock()
            .expect("no panics while holding the lock")
            .push(r)
    };
    let targets = std::slice::from_ref(target);
    if request.syn {
        tcp_syn::scan(targets, &ports, &TcpOptions::default(), &report)?;
    } else {
        tcp_connect::scan(targets, &ports, &TcpOptions::default(), &report);
    }
    let mut results = results.into_inner().expect("workers joined");
    // What answers decides two findings (a risky service under another
    // port, a service open to anyone), so check always asks.
    service::identify_open(&mut results, &service::ServiceOptions::default());
    let mut observed: Vec<ObservedPort> = results
        .into_iter()
        .map(|r| ObservedPort {
            protocol: r.protocol,
            port: r.port,
            observed: match r.state {
                PortState::Open => Observed::Open,
                PortState::Closed => Observed::Closed,
                PortState::Filtered | PortState::OpenFiltered => Observed::Filtered,
            },
            // A name from the port number alone is no identification:
            // the policy already judges the port by its number.
            service: r
                .service
                .as_ref()
                .filter(|s| !s.is_guess())
                .map(|s| s.name.clone()),
            product: r.service.as_ref().and_then(|s| {
                s.product.as_ref().map(|p| {
                    format!("{p} {}", s.version.as_deref().unwrap_or(""))
                        .trim()
                        .to_string()
                })
            }),
            unauthenticated: r.service.as_ref().and_then(|s| s.unauthenticated),
        })
        .collect();
    observed.sort_by_key(|p| (p.protocol, p.port));
    Ok(ScanView {
        target: target.address,
        source: target::route_source(target.address).ok(),
        ports: observed,
    })
}

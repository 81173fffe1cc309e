//! The fleet's report: what the fleet server knows of every host — their
//! listeners, findings most severe first, each port's lifecycle, drift in
//! the period, grants and blocks, the fleet policies with their approvals
//! and assignments — and the server's own ledger, verified here against
//! its signed checkpoint, with its entries in the period.
//!
//! It is built on the operator's side from the server's read API
//! (docs/server.md) through a [`ServerClient`], with a `viewer` token: no
//! endpoint exists for it, so a report never shows what the API would not,
//! and the server's answers are embedded as the server's own types (one
//! definition of each row). Building it changes nothing on the server.
//!
//! With a framework, each host that has pushed is assessed with
//! [`compliance::assess`] on the facts its pushes gave the server, and each
//! control is then judged for the fleet: see [`fleet_controls`].

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use portreeve_core::{Finding, FindingKind, Severity};
use portreeve_ledger::note::VerifierKey;
use portreeve_ledger::verify::Trust;
use portreeve_ledger::{Bundle, Entry};
use portreeve_server::hosts::{HostSummary, Listener, SeverityCounts};
use portreeve_server::policy::{Assignment, PolicyVersion};
use portreeve_server::{FleetBlock, FleetCounts, FleetDrift, FleetFinding, FleetGrant, FleetPort};
use serde::Serialize;

use super::{Period, ReportRequest, Verification};
use crate::compliance::{self, ControlResult, Facts, Framework, Status};
use crate::error::AppError;
use crate::server_client::ServerClient;

/// `kind` of a fleet report document.
pub const FLEET_KIND: &str = "portreeve.fleet-report";
/// Its schema version (docs/schema/fleet-report.v1.json).
pub const FLEET_SCHEMA_VERSION: u32 = 1;

/// The most drift events `GET /api/v1/drift` answers at once; it has no
/// cursor, so a period holding more is reported as cut.
const DRIFT_LIMIT: usize = 1000;

/// The most changes `GET /api/v1/findings/history` answers at once, the
/// newest; a period holding more is reported as cut, as the drift.
const HISTORY_LIMIT: usize = 10_000;

/// The fleet's report, as `report --server URL --format json` writes it
/// (docs/report.md, "The fleet's report").
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// Always [`FLEET_KIND`].
    pub kind: &'static str,
    /// [`FLEET_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The portreeve that wrote it.
    pub portreeve_version: &'static str,
    /// The machine it was built on, as every document's envelope names it
    /// (docs/json.md); the fleet's hosts are [`FleetReport::hosts`].
    pub host: String,
    /// The server asked (its base URL).
    pub server: String,
    /// When it was built (RFC 3339, UTC, seconds).
    pub generated_at: String,
    /// The period drift and ledger entries are taken from.
    pub period: Period,
    /// Every enrolled host, by name, as `GET /api/v1/hosts` lists it.
    pub hosts: Vec<HostSummary>,
    /// Every host's open findings as last pushed, most severe first.
    pub findings: Vec<ReportedFinding>,
    /// The fleet's open findings by severity at the end of each day (UTC)
    /// from the period's start (else the server's first record) to today:
    /// the sum of each host's counts as it last pushed them by then.
    /// Empty from a server that keeps no such history.
    pub findings_over_time: Vec<DayFindings>,
    /// Every host's ports and their lifecycle states, by host and port.
    pub lifecycle: Vec<FleetPort>,
    /// Drift events in the period, newest first.
    pub drift: Vec<FleetDrift>,
    /// Grants the hosts hold now (unexpired).
    pub grants: Vec<FleetGrant>,
    /// Blocks the hosts hold now (unlifted).
    pub blocks: Vec<FleetBlock>,
    /// The fleet policies: every version with its approvals, and the
    /// assignments.
    pub policies: FleetPolicies,
    /// The server's ledger: whether it verifies, and its entries in the
    /// period.
    pub ledger: FleetLedger,
    /// What the report could not cover, and why.
    pub notes: Vec<String>,
    /// The framework assessed, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
    /// Its controls judged for the fleet, in the order of its mapping,
    /// when a framework was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<FleetControl>>,
}

/// One open finding of one host, with what this portreeve knows of its
/// kind. The remediation is the agent's, as pushed; an older agent pushes
/// none, and the kind's documentation, which `docs` points to, has it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedFinding {
    /// The finding as the server lists it (host, code, severity, port,
    /// message, remediation).
    #[serde(flatten)]
    pub finding: FleetFinding,
    /// The kind's name (`listener-not-allowed`); `None` for a code this
    /// portreeve does not know (a newer agent's).
    pub name: Option<&'static str>,
    /// Where the kind, its rationale and its remediation are documented
    /// (`docs/findings.md#pr001-listener-not-allowed`); `None` with `name`.
    pub docs: Option<String>,
}

/// The fleet's open findings at the end of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayFindings {
    /// The day, UTC (`2026-12-07`).
    pub day: String,
    /// Every host's findings as it last pushed them by the day's end,
    /// summed, by severity.
    #[serde(flatten)]
    pub counts: SeverityCounts,
}

/// The fleet policies as the server lists them.
#[derive(Debug, Clone, Serialize)]
pub struct FleetPolicies {
    /// Every version, newest first, with its approvals and whether it is
    /// approved (and signed).
    pub versions: Vec<PolicyVersion>,
    /// Which hosts and groups are assigned which policy.
    pub assignments: Vec<Assignment>,
}

/// The server's ledger, as read page by page from `GET /api/v1/ledger`.
#[derive(Debug, Clone, Serialize)]
pub struct FleetLedger {
    /// The verification of every entry against the signed checkpoints the
    /// pages came with, with [`FleetLedger::key`].
    pub verification: Verification,
    /// The log's verifier key the checkpoints were checked with.
    pub key: String,
    /// Where that key came from: `operator` (`--log-key`, obtained out of
    /// band) or `server` (the one the server's answer states — which shows
    /// the ledger is intact as served, not that it is the server's).
    pub key_source: KeySource,
    /// Entries in the whole ledger.
    pub total_entries: usize,
    /// Every entry in the period, oldest first.
    pub entries: Vec<Entry>,
}

/// Who gave the ledger's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// The operator, with `--log-key`.
    Operator,
    /// The server, in its answer.
    Server,
}

/// One control judged for the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetControl {
    /// The control's id in its framework.
    pub id: String,
    /// What it asks, in portreeve's words.
    pub title: String,
    /// Where it is defined.
    pub source: String,
    /// The fleet's outcome: `fail` if any host fails; else `manual` if any
    /// host is manual or a host could not be judged; else `pass` if any
    /// host passes (the others not applicable); else `not-applicable`.
    pub status: Status,
    /// What the outcome rests on: which hosts fail or need a person, and
    /// their evidence, each line naming its host.
    pub evidence: Vec<String>,
    /// Each judged host's outcome, by host name.
    pub hosts: Vec<HostControl>,
}

/// One host's outcome of a control.
#[derive(Debug, Clone, Serialize)]
pub struct HostControl {
    /// Its id.
    pub host_id: String,
    /// Its name.
    pub host_name: String,
    /// Its outcome.
    pub status: Status,
    /// What the outcome rests on, as for a host's own report.
    pub evidence: Vec<String>,
}

/// Builds the fleet's report from the server `client` reads, trusting
/// the ledger key the server states (the report says so).
pub fn build_fleet(
    client: &ServerClient,
    request: &ReportRequest,
) -> Result<FleetReport, AppError> {
    let (bundle, stated) = client.ledger_bundle()?;
    build_fleet_over(client, request, &bundle, stated, None)
}

/// As [`build_fleet`], verifying the server's ledger with `log_key`
/// (obtained out of band, `<state>/server/ledger/log.pub`) instead of the
/// key the server states.
pub fn build_fleet_trusting(
    client: &ServerClient,
    request: &ReportRequest,
    log_key: &VerifierKey,
) -> Result<FleetReport, AppError> {
    let (bundle, stated) = client.ledger_bundle()?;
    build_fleet_over(client, request, &bundle, stated, Some(log_key))
}

/// The fleet's report over the server's ledger as already read
/// ([`ServerClient::ledger_bundle`]: `bundle`, and the key the server
/// `stated`), verified with `log_key` when given: the evidence pack reads
/// the ledger once for both its bundle and its report.
pub(crate) fn build_fleet_over(
    client: &ServerClient,
    request: &ReportRequest,
    bundle: &Bundle,
    stated: VerifierKey,
    log_key: Option<&VerifierKey>,
) -> Result<FleetReport, AppError> {
    let now = Timestamp::now();
    let since = request.since;
    let mut notes = Vec::new();

    let hosts: Vec<HostSummary> = client.get("/api/v1/hosts")?;
    let mut findings: Vec<FleetFinding> = client.get("/api/v1/findings")?;
    findings.sort_by(|a, b| {
        (
            severity_rank(&a.severity),
            &a.host.host_name,
            &a.code,
            a.port,
        )
            .cmp(&(
                severity_rank(&b.severity),
                &b.host.host_name,
                &b.code,
                b.port,
            ))
    });
    let findings: Vec<ReportedFinding> = findings.into_iter().map(ReportedFinding::of).collect();
    let unknown: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.name.is_none())
        .map(|f| f.finding.code.as_str())
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "finding codes this portreeve does not know (a newer agent's): {}; \
             they are listed but judged by no control",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if findings.iter().any(|f| f.finding.remediation.is_none()) {
        notes.push(
            "some findings were pushed without a remediation (by an older agent): the \
             documentation of their kind in docs/findings.md has it"
                .to_owned(),
        );
    }
    let findings_over_time = match history(client, since, &mut notes)? {
        Some(history) => over_time(&history, since, now),
        None => {
            notes.push(
                "findings over time: the server keeps no history of findings (it is older \
                 than this portreeve)"
                    .to_owned(),
            );
            Vec::new()
        }
    };
    let lifecycle: Vec<FleetPort> = client.get("/api/v1/lifecycle")?;
    let drift = drift(client, since, &mut notes)?;
    let grants: Vec<FleetGrant> = client.get("/api/v1/grants")?;
    let blocks: Vec<FleetBlock> = client.get("/api/v1/blocks")?;
    let policies = FleetPolicies {
        versions: client.get("/api/v1/policies")?,
        assignments: client.get("/api/v1/assignments")?,
    };
    let ledger = verified(bundle, stated, since, log_key);
    if ledger.key_source == KeySource::Server {
        notes.push(
            "the server's ledger was verified with the key the server states: this shows it \
             is intact as served; give --log-key (the server's <state>/server/ledger/log.pub) \
             to show it is the server's"
                .to_owned(),
        );
    }
    notes.push(
        "grants and blocks are those the hosts hold now, as last pushed; their history is in \
         each host's own ledger"
            .to_owned(),
    );
    notes.push(
        "exposure by zone, owners beyond the process and container names, and connections \
         per hour are judged on each host and not pushed: see each host's own `portreeve \
         report`"
            .to_owned(),
    );
    notes.push(
        "findings over time: each day counts every host's findings as it last pushed them by \
         the day's end (UTC); the server records them from its first push after its upgrade to \
         a version that keeps them"
            .to_owned(),
    );

    let controls = request.framework.map(|framework| {
        notes.push(
            "compliance: each host is judged on what it pushed; the server does not verify \
             hosts' ledgers (only that their checkpoints never went backwards), and a \
             listener counts as a container's when the agent named its container or a \
             container runtime's port proxy holds it"
                .to_owned(),
        );
        let assessed = assess_hosts(framework, now, &hosts, &findings, &lifecycle, &policies);
        let unjudged: Vec<&str> = hosts
            .iter()
            .filter(|h| !h.revoked && h.last_seen.is_none())
            .map(|h| h.name.as_str())
            .collect();
        fleet_controls(framework, &assessed, &unjudged)
    });

    Ok(FleetReport {
        kind: FLEET_KIND,
        schema_version: FLEET_SCHEMA_VERSION,
        portreeve_version: env!("CARGO_PKG_VERSION"),
        host: portreeve_ledger::store::host_name(),
        server: client.base().to_owned(),
        generated_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        period: Period { since, until: now },
        hosts,
        findings,
        findings_over_time,
        lifecycle,
        drift,
        grants,
        blocks,
        policies,
        ledger,
        notes,
        framework: request.framework,
        controls,
    })
}

impl ReportedFinding {
    fn of(finding: FleetFinding) -> ReportedFinding {
        let kind = FindingKind::from_code_or_name(&finding.code);
        ReportedFinding {
            name: kind.map(FindingKind::name),
            docs: kind.map(docs_of),
            finding,
        }
    }
}

/// The section of docs/findings.md that documents `kind`.
fn docs_of(kind: FindingKind) -> String {
    format!("docs/findings.md#{}", kind.docs_anchor())
}

/// 0 for critical up to 4 for info (and 5 for a severity not known), so
/// that sorting puts the gravest first.
fn severity_rank(severity: &str) -> usize {
    severity
        .parse::<Severity>()
        .map_or(Severity::ALL.len(), |s| {
            Severity::ALL.len() - 1 - s as usize
        })
}

/// The drift events at or after `since`, newest first: the API answers at
/// most [`DRIFT_LIMIT`] and has no cursor, so a full answer is noted as
/// possibly cut.
fn drift(
    client: &ServerClient,
    since: Option<Timestamp>,
    notes: &mut Vec<String>,
) -> Result<Vec<FleetDrift>, AppError> {
    let mut path = format!("/api/v1/drift?limit={DRIFT_LIMIT}");
    if let Some(since) = since {
        // Whole seconds, rounded down: the server keeps seconds, and the
        // events are filtered again below.
        path.push_str(&format!("&since={}", since.strftime("%Y-%m-%dT%H:%M:%SZ")));
    }
    let events: Vec<FleetDrift> = client.get(&path)?;
    if events.len() >= DRIFT_LIMIT {
        notes.push(format!(
            "drift: the server answers at most the newest {DRIFT_LIMIT} events; older ones in \
             the period are not listed (give a later --since)"
        ));
    }
    Ok(events
        .into_iter()
        .filter(|e| since.is_none_or(|s| e.at.parse::<Timestamp>().is_ok_and(|at| at >= s)))
        .collect())
}

/// Each change in each host's findings' counts from `since` on, with each
/// host's standing as it opens, oldest first; `None` from a server that
/// does not serve the history (404). The API answers at most
/// [`HISTORY_LIMIT`] changes, the newest, so a full answer is noted as
/// possibly cut.
fn history(
    client: &ServerClient,
    since: Option<Timestamp>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<FleetCounts>>, AppError> {
    let mut path = format!("/api/v1/findings/history?limit={HISTORY_LIMIT}");
    if let Some(since) = since {
        // Whole seconds, rounded down, as for the drift.
        path.push_str(&format!("&since={}", since.strftime("%Y-%m-%dT%H:%M:%SZ")));
    }
    let Some(rows) = client.get_if_served::<Vec<FleetCounts>>(&path)? else {
        return Ok(None);
    };
    let in_period = rows
        .iter()
        .filter(|r| since.is_none_or(|s| r.at.parse::<Timestamp>().is_ok_and(|at| at >= s)))
        .count();
    if in_period >= HISTORY_LIMIT {
        notes.push(format!(
            "findings over time: the server answers at most the newest {HISTORY_LIMIT} changes; \
             the earliest days of the period may be missing hosts' changes (give a later --since)"
        ));
    }
    Ok(Some(rows))
}

/// The fleet's findings at the end of each day (UTC) from `since`'s day
/// (else the first change's) to `now`'s: each host's last counts at or
/// before the day's end, summed. `history` is oldest first, as the server
/// answers it; a host counts nothing before its first change.
fn over_time(
    history: &[FleetCounts],
    since: Option<Timestamp>,
    now: Timestamp,
) -> Vec<DayFindings> {
    let day = |t: Timestamp| TimeZone::UTC.to_datetime(t).date();
    let mut changes: Vec<(Timestamp, &FleetCounts)> = history
        .iter()
        .filter_map(|r| Some((r.at.parse::<Timestamp>().ok()?, r)))
        .collect();
    changes.sort_by_key(|(at, _)| *at);
    let Some(&(first, _)) = changes.first() else {
        return Vec::new();
    };
    let mut d = since.map_or(day(first), day);
    let last = day(now);
    let mut current: BTreeMap<&str, &SeverityCounts> = BTreeMap::new();
    let mut next = changes.iter().peekable();
    let mut out = Vec::new();
    while d <= last {
        let Ok(tomorrow) = d.tomorrow() else { break };
        let Ok(end) =
            TimeZone::UTC.to_timestamp(tomorrow.to_datetime(jiff::civil::Time::midnight()))
        else {
            break;
        };
        while let Some((_, row)) = next.next_if(|(at, _)| *at < end) {
            current.insert(&row.host.host_id, &row.counts);
        }
        let mut counts = SeverityCounts::default();
        for c in current.values() {
            counts.critical += c.critical;
            counts.high += c.high;
            counts.medium += c.medium;
            counts.low += c.low;
            counts.info += c.info;
        }
        out.push(DayFindings {
            day: d.to_string(),
            counts,
        });
        d = tomorrow;
    }
    out
}

/// `bundle` verified with `log_key`, else the key the server `stated`,
/// and its entries at or after `since`.
fn verified(
    bundle: &Bundle,
    stated: VerifierKey,
    since: Option<Timestamp>,
    log_key: Option<&VerifierKey>,
) -> FleetLedger {
    let (key, key_source) = match log_key {
        Some(k) => (k.clone(), KeySource::Operator),
        None => (stated, KeySource::Server),
    };
    let trust = Trust {
        log: key.clone(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    let verification = Verification::of(bundle.verify(&trust));
    // Lines that do not parse are the verification's to report.
    let all: Vec<Entry> = bundle
        .entries
        .iter()
        .filter_map(|l| Entry::parse(l.as_bytes()).ok())
        .collect();
    FleetLedger {
        verification,
        key: key.to_string(),
        key_source,
        total_entries: bundle.entries.len(),
        entries: all
            .into_iter()
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .collect(),
    }
}

/// One host's controls, judged.
#[derive(Debug, Clone)]
struct HostAssessment {
    host_id: String,
    host_name: String,
    controls: Vec<ControlResult>,
}

/// Assesses every host that is not revoked and has pushed, on the facts
/// its pushes gave the server.
fn assess_hosts(
    framework: Framework,
    now: Timestamp,
    hosts: &[HostSummary],
    findings: &[ReportedFinding],
    lifecycle: &[FleetPort],
    policies: &FleetPolicies,
) -> Vec<HostAssessment> {
    hosts
        .iter()
        .filter(|h| !h.revoked && h.last_seen.is_some())
        .map(|h| {
            let facts = host_facts(now, h, findings, lifecycle, policies);
            HostAssessment {
                host_id: h.id.clone(),
                host_name: h.name.clone(),
                controls: compliance::assess(framework, &facts),
            }
        })
        .collect()
}

/// The process names of container runtimes' port proxies: a listener one
/// of them holds publishes a container's port.
const CONTAINER_PROXIES: [&str; 3] = ["docker-proxy", "rootlessport", "rootlesskit"];

/// What the server knows of `host`, as compliance facts:
///
/// - findings: its pushed findings of kinds this portreeve knows;
/// - listeners: its pushed listeners; container listeners: those whose
///   container the agent named, or that a container runtime's port proxy
///   holds (a finding on such a port gets the label a host's own check
///   gives it);
/// - a policy is in effect when the host last reported a fleet policy
///   `applied` or `confirmed`, approved when that version (name, number
///   and digest) is approved on the server — hosts only get approved,
///   signed versions, but the digest is checked all the same;
/// - default deny holds when a policy is in effect and the host pushed no
///   PR014 table-drift finding (its check compares the table with the one
///   portreeve wrote);
/// - the ledger is known not to verify when the server flagged the host's
///   checkpoints inconsistent, and is otherwise unknown (the server does
///   not verify hosts' ledgers);
/// - the usage record was examined when the host pushed its ports'
///   lifecycle, which comes from it.
fn host_facts(
    now: Timestamp,
    host: &HostSummary,
    findings: &[ReportedFinding],
    lifecycle: &[FleetPort],
    policies: &FleetPolicies,
) -> Facts {
    // The service label a host's own check gives a container's socket:
    // `container NAME` when the agent named its container, `published by
    // PROXY` when a runtime's port proxy holds it.
    let container_label = |l: &Listener| -> Option<String> {
        if let Some(name) = l.container.as_deref().filter(|c| !c.is_empty()) {
            return Some(format!("container {name}"));
        }
        l.process
            .as_deref()
            .filter(|p| {
                p.split(',')
                    .any(|name| CONTAINER_PROXIES.contains(&name.trim()))
            })
            .map(|p| format!("published by {p}"))
    };
    let proxy_of = |port: Option<i64>| -> Option<String> {
        let port = port?;
        host.listeners
            .iter()
            .filter(|l| i64::from(l.port) == port)
            .find_map(container_label)
    };
    let own: Vec<Finding> = findings
        .iter()
        .filter(|f| f.finding.host.host_id == host.id)
        .filter_map(|f| {
            let kind = FindingKind::from_code_or_name(&f.finding.code)?;
            let severity = f.finding.severity.parse().unwrap_or(Severity::Info);
            Some(compliance::pushed_finding(
                kind,
                severity,
                &f.finding.message,
                proxy_of(f.finding.port),
            ))
        })
        .collect();
    let applied = host
        .policy
        .applied
        .as_ref()
        .filter(|a| a.state == "applied" || a.state == "confirmed");
    let approved = applied.is_some_and(|a| {
        policies.versions.iter().any(|v| {
            v.name == a.name && v.version == a.version && v.sha256 == a.sha256 && v.approved
        })
    });
    let table_drift = own.iter().any(|f| f.kind == FindingKind::TableDrift);
    Facts {
        listeners: host.listeners.len(),
        container_listeners: host
            .listeners
            .iter()
            .filter(|l| container_label(l).is_some())
            .count(),
        policy_in_effect: applied.is_some(),
        policy_approved: approved,
        default_deny: applied.is_some() && !table_drift,
        last_policy_change: applied.map(|a| a.at),
        ledger_verified: host.ledger_inconsistent.then_some(false),
        examined: compliance::Examined {
            usage: lifecycle.iter().any(|p| p.host.host_id == host.id),
            ..compliance::Examined::default()
        },
        findings: own,
        ..Facts::new(now)
    }
}

/// Each control judged for the fleet from each host's result (`assessed`,
/// every host assessed with the same framework, so their controls line
/// up), `unjudged` naming the hosts that could not be assessed (never
/// pushed):
///
/// - `fail` when any host fails; the evidence names them and gives each
///   one's failing evidence;
/// - else `manual` when any host is manual, or some host was not judged
///   (the fleet's pass would rest on hosts not looked at), or no host was;
/// - else `pass` when some host passes (the rest not applicable);
/// - else `not-applicable`: it applies to no host.
fn fleet_controls(
    framework: Framework,
    assessed: &[HostAssessment],
    unjudged: &[&str],
) -> Vec<FleetControl> {
    // The controls' ids, titles and sources, in the mapping's order.
    let template = compliance::assess(framework, &Facts::new(Timestamp::UNIX_EPOCH));
    template
        .iter()
        .enumerate()
        .map(|(i, control)| {
            let hosts: Vec<HostControl> = assessed
                .iter()
                .map(|a| {
                    let r = &a.controls[i];
                    HostControl {
                        host_id: a.host_id.clone(),
                        host_name: a.host_name.clone(),
                        status: r.status,
                        evidence: r.evidence.clone(),
                    }
                })
                .collect();
            let named = |status: Status| -> Vec<&HostControl> {
                hosts.iter().filter(|h| h.status == status).collect()
            };
            let names = |of: &[&HostControl]| {
                of.iter()
                    .map(|h| h.host_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (failing, manual, passing) = (
                named(Status::Fail),
                named(Status::Manual),
                named(Status::Pass),
            );
            let mut evidence = Vec::new();
            let status = if !failing.is_empty() {
                evidence.push(format!(
                    "fails on {} of {}: {}",
                    failing.len(),
                    crate::counted(hosts.len(), "host"),
                    names(&failing)
                ));
                for h in &failing {
                    evidence.extend(h.evidence.iter().map(|e| format!("{}: {e}", h.host_name)));
                }
                Status::Fail
            } else if !manual.is_empty() || !unjudged.is_empty() || hosts.is_empty() {
                if hosts.is_empty() && unjudged.is_empty() {
                    evidence.push("no host has pushed to the server: nothing to judge".to_owned());
                }
                if !manual.is_empty() {
                    evidence.push(format!(
                        "needs a person on {} of {}: {}",
                        manual.len(),
                        crate::counted(hosts.len(), "host"),
                        names(&manual)
                    ));
                    for h in &manual {
                        evidence.extend(
                            h.evidence
                                .iter()
                                .filter(|e| !e.starts_with("note: "))
                                .map(|e| format!("{}: {e}", h.host_name)),
                        );
                    }
                }
                if !unjudged.is_empty() {
                    evidence.push(format!(
                        "not judged, having never pushed: {}",
                        unjudged.join(", ")
                    ));
                }
                Status::Manual
            } else if !passing.is_empty() {
                evidence.push(format!(
                    "passes on {} of {}{}",
                    passing.len(),
                    crate::counted(hosts.len(), "host"),
                    if passing.len() < hosts.len() {
                        format!(" (not applicable to the others: {})", {
                            let na = named(Status::NotApplicable);
                            names(&na)
                        })
                    } else {
                        String::new()
                    }
                ));
                // What every passing host's pass rests on alike (the rest
                // differs per host, and is in `hosts`).
                let (first, rest) = passing.split_first().expect("not empty");
                evidence.extend(
                    first
                        .evidence
                        .iter()
                        .filter(|e| !e.starts_with("note: "))
                        .filter(|e| rest.iter().all(|h| h.evidence.contains(e)))
                        .map(|e| format!("every host: {e}")),
                );
                Status::Pass
            } else {
                evidence.push(format!(
                    "applies to none of the {}",
                    crate::counted(hosts.len(), "host")
                ));
                Status::NotApplicable
            };
            // The control's caveat, once for the fleet.
            if let Some(note) = assessed.first().and_then(|a| {
                a.controls[i]
                    .evidence
                    .iter()
                    .find(|e| e.starts_with("note: "))
            }) {
                evidence.push(note.clone());
            }
            FleetControl {
                id: control.id.clone(),
                title: control.title.clone(),
                source: control.source.clone(),
                status,
                evidence,
                hosts,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use portreeve_server::ledger::LedgerPage;
    use serde_json::{Value, json};

    use super::*;
    use crate::server_client::bundle_from_pages;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    /// A host as `GET /api/v1/hosts` lists it: pushed, with `listeners`
    /// (port, process) and the fleet policy `applied` (name, version,
    /// digest), if any.
    fn host(
        id: &str,
        name: &str,
        listeners: &[(u16, &str)],
        applied: Option<(&str, u64, &str)>,
    ) -> HostSummary {
        serde_json::from_value(json!({
            "id": id, "name": name, "last_seen": "2026-12-07T11:59:00Z",
            "enrolled_at": "2026-12-01T00:00:00Z", "revoked": false,
            "ledger_inconsistent": false,
            "listeners": listeners.iter().map(|(port, process)| json!({
                "port": port, "protocol": "tcp", "address": "0.0.0.0", "process": process,
            })).collect::<Vec<_>>(),
            "findings_by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
            "policy": {
                "assigned": applied.map(|(n, v, _)| json!({"name": n, "version": v})),
                "applied": applied.map(|(n, v, digest)| json!({
                    "name": n, "version": v, "sha256": digest, "generation": 2,
                    "state": "confirmed", "message": null, "at": "2026-12-05T00:00:00Z",
                })),
            },
        }))
        .unwrap()
    }

    fn finding(host: &HostSummary, code: &str, severity: &str, port: u16) -> ReportedFinding {
        ReportedFinding::of(
            serde_json::from_value(json!({
                "host_id": host.id, "host_name": host.name, "code": code,
                "severity": severity, "port": port, "message": format!("{code} on {port}"),
            }))
            .unwrap(),
        )
    }

    /// Version 1 of `web`, approved, with digest `sha256:aa`.
    fn policies() -> FleetPolicies {
        FleetPolicies {
            versions: vec![
                serde_json::from_value(json!({
                    "name": "web", "version": 1, "sha256": "sha256:aa", "proposer": "alice",
                    "reason": "baseline", "created_at": "2026-12-04T00:00:00Z",
                    "approvals": [{"by": "bob", "at": "2026-12-04T01:00:00Z", "reason": "ok"}],
                    "approved": true, "signature": "c2ln",
                }))
                .unwrap(),
            ],
            assignments: Vec::new(),
        }
    }

    fn control<'a>(controls: &'a [FleetControl], id: &str) -> &'a FleetControl {
        controls.iter().find(|c| c.id == id).expect(id)
    }

    #[test]
    fn a_control_fails_for_the_fleet_when_one_host_fails_and_names_it() {
        let web = host(
            "a1",
            "web-1",
            &[(443, "nginx")],
            Some(("web", 1, "sha256:aa")),
        );
        let db = host(
            "b2",
            "db-1",
            &[(6379, "redis-server")],
            Some(("web", 1, "sha256:aa")),
        );
        let findings = vec![finding(&db, "PR001", "high", 6379)];
        let assessed = assess_hosts(
            Framework::PciDss,
            now(),
            &[web, db],
            &findings,
            &[],
            &policies(),
        );
        let controls = fleet_controls(Framework::PciDss, &assessed, &[]);
        let c = control(&controls, "1.2.5");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.evidence[0], "fails on 1 of 2 hosts: db-1");
        assert!(
            c.evidence
                .iter()
                .any(|e| e.starts_with("db-1: PR001 listener-not-allowed: PR001 on 6379")),
            "{:?}",
            c.evidence
        );
        assert!(!c.evidence.iter().any(|e| e.starts_with("web-1")));
        let by_host: Vec<(&str, Status)> = c
            .hosts
            .iter()
            .map(|h| (h.host_name.as_str(), h.status))
            .collect();
        assert_eq!(by_host, [("web-1", Status::Pass), ("db-1", Status::Fail)]);
        // 1.2.6 (risky services) fails on neither host: a pass for the
        // fleet, with what every host's pass rests on.
        let c = control(&controls, "1.2.6");
        assert_eq!(c.status, Status::Pass, "{:?}", c.evidence);
        assert!(
            c.evidence
                .iter()
                .any(|e| e.starts_with("every host: not examined: PR009")),
            "{:?}",
            c.evidence
        );
        // Egress is never judged: manual, whatever the hosts.
        assert_eq!(control(&controls, "1.3.2").status, Status::Manual);
        // Both run an approved fleet policy with no table drift pushed.
        let c = control(&controls, "1.4.1");
        assert_eq!(c.status, Status::Pass, "{:?}", c.evidence);
        assert_eq!(c.evidence[0], "passes on 2 of 2 hosts");
    }

    #[test]
    fn a_host_not_judged_keeps_the_fleet_from_passing() {
        let web = host(
            "a1",
            "web-1",
            &[(443, "nginx")],
            Some(("web", 1, "sha256:aa")),
        );
        let assessed = assess_hosts(Framework::PciDss, now(), &[web], &[], &[], &policies());
        let controls = fleet_controls(Framework::PciDss, &assessed, &["new-1"]);
        let c = control(&controls, "1.4.1");
        assert_eq!(c.hosts[0].status, Status::Pass);
        assert_eq!(c.status, Status::Manual);
        assert!(
            c.evidence
                .contains(&"not judged, having never pushed: new-1".to_owned())
        );
        // No host at all: every control needs a person.
        let controls = fleet_controls(Framework::PciDss, &[], &[]);
        assert!(!controls.is_empty());
        assert!(controls.iter().all(|c| c.status == Status::Manual));
    }

    #[test]
    fn container_controls_apply_only_to_hosts_publishing_containers() {
        let web = host(
            "a1",
            "web-1",
            &[(443, "nginx")],
            Some(("web", 1, "sha256:aa")),
        );
        let shop = host(
            "c3",
            "shop-1",
            &[(8080, "docker-proxy")],
            Some(("web", 1, "sha256:aa")),
        );
        let findings = vec![finding(&shop, "PR001", "high", 8080)];
        let facts = host_facts(now(), &shop, &findings, &[], &policies());
        assert_eq!(facts.container_listeners, 1);
        assert_eq!(
            facts.findings[0].service.as_deref(),
            Some("published by docker-proxy")
        );
        // A listener whose container the agent named counts without a
        // proxy, labelled as the host's own check labels it.
        let mut named = host("d4", "app-1", &[(9000, "gunicorn")], None);
        named.listeners[0].container = Some("shop-api".to_owned());
        let on_it = vec![finding(&named, "PR001", "high", 9000)];
        let facts = host_facts(now(), &named, &on_it, &[], &policies());
        assert_eq!(facts.container_listeners, 1);
        assert_eq!(
            facts.findings[0].service.as_deref(),
            Some("container shop-api")
        );
        assert!(compliance::names_container("container shop-api"));
        let assessed = assess_hosts(
            Framework::Cis,
            now(),
            &[web, shop],
            &findings,
            &[],
            &policies(),
        );
        let controls = fleet_controls(Framework::Cis, &assessed, &[]);
        let container = controls
            .iter()
            .find(|c| {
                c.hosts
                    .iter()
                    .any(|h| h.host_name == "web-1" && h.status == Status::NotApplicable)
            })
            .expect("a container control");
        assert_eq!(container.status, Status::Fail, "{:?}", container.evidence);
        assert!(container.evidence[0].ends_with(": shop-1"));
    }

    #[test]
    fn a_hosts_facts_come_from_what_it_pushed() {
        let mut web = host(
            "a1",
            "web-1",
            &[(443, "nginx")],
            Some(("web", 1, "sha256:aa")),
        );
        let facts = host_facts(now(), &web, &[], &[], &policies());
        assert!(facts.policy_in_effect && facts.policy_approved && facts.default_deny);
        assert_eq!(
            facts.last_policy_change,
            Some("2026-12-05T00:00:00Z".parse().unwrap())
        );
        assert_eq!(facts.ledger_verified, None);
        assert!(!facts.examined.usage);
        // A digest the server never approved is no approved policy.
        let other = host("a1", "web-1", &[], Some(("web", 1, "sha256:bb")));
        assert!(!host_facts(now(), &other, &[], &[], &policies()).policy_approved);
        // Table drift pushed: no default deny. A forked ledger: known bad.
        web.ledger_inconsistent = true;
        let drift = vec![finding(&web, "PR014", "high", 0)];
        let lifecycle: Vec<FleetPort> = vec![
            serde_json::from_value(json!({
                "host_id": "a1", "host_name": "web-1", "port": 443, "protocol": "tcp",
                "state": "active", "last_used": null,
            }))
            .unwrap(),
        ];
        let facts = host_facts(now(), &web, &drift, &lifecycle, &policies());
        assert!(!facts.default_deny);
        assert_eq!(facts.ledger_verified, Some(false));
        assert!(facts.examined.usage);
        // Another host's findings are not this one's.
        let db = host("b2", "db-1", &[], None);
        let facts = host_facts(now(), &db, &drift, &[], &policies());
        assert!(facts.findings.is_empty() && !facts.policy_in_effect);
    }

    /// A page of `ledger` as the server answers `after`/`limit`: at most
    /// `limit` entries from `after` on, with the latest checkpoint.
    fn page(ledger: &portreeve_ledger::Ledger, after: usize, limit: usize) -> LedgerPage {
        let note = ledger.checkpoint().unwrap();
        let size = ledger.size().unwrap();
        let count = (limit as u64).min(size.saturating_sub(after as u64));
        let lines = ledger.entry_lines(after as u64, count).unwrap();
        serde_json::from_value(json!({
            "size": size,
            "checkpoint": note.to_string(),
            "key": ledger.verifier().to_string(),
            "entries": (after..).zip(lines).map(|(index, line)| {
                let line = String::from_utf8(line).unwrap();
                json!({
                    "index": index, "leaf_hash": "", "entry": serde_json::from_str::<Value>(&line).unwrap(),
                    "line": line,
                })
            }).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn append(ledger: &portreeve_ledger::Ledger, n: usize) {
        for i in 0..n {
            ledger
                .append(portreeve_ledger::Draft::new(
                    "server.token.create",
                    "root",
                    format!("token t{i}"),
                ))
                .unwrap();
        }
    }

    #[test]
    fn the_ledger_is_read_to_the_end_while_it_grows_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = portreeve_ledger::Ledger::open(&dir.path().join("ledger")).unwrap();
        append(&ledger, 5);
        let mut asked = Vec::new();
        let (read, stated) = bundle_from_pages(|after| {
            asked.push(after);
            let p = page(&ledger, after, 2);
            // Two more changes land while the first pages are read.
            if after == 2 {
                append(&ledger, 2);
            }
            Ok(p)
        })
        .unwrap();
        assert_eq!(asked, [0, 2, 4, 6]);
        assert_eq!(read.entries.len(), 7);
        assert_eq!(read.checkpoints.len(), 2);
        let key = ledger.verifier();
        let facts = verified(&read, stated, None, Some(&key));
        assert!(facts.verification.verified, "{:?}", facts.verification);
        assert_eq!(facts.verification.entries, Some(7));
        assert_eq!(facts.key_source, KeySource::Operator);
        assert_eq!(facts.entries.len(), 7);

        // A line changed in transit no longer verifies, with either key.
        let (mut read, stated) = bundle_from_pages(|after| Ok(page(&ledger, after, 3))).unwrap();
        read.entries[4] = read.entries[4].replace("token t", "token x");
        let facts = verified(&read, stated, None, None);
        assert_eq!(facts.key_source, KeySource::Server);
        assert!(!facts.verification.verified);
        assert!(facts.verification.problem.is_some());

        // A page that skips an entry is refused.
        let skipped = bundle_from_pages(|after| {
            let mut p = page(&ledger, after, 3);
            if after == 3 {
                p.entries.remove(0);
            }
            Ok(p)
        });
        assert!(matches!(skipped, Err(AppError::Server(m)) if m.contains("where 3 was due")));
    }

    #[test]
    fn an_empty_ledger_verifies_with_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = portreeve_ledger::Ledger::open(&dir.path().join("ledger")).unwrap();
        let (read, stated) = bundle_from_pages(|after| Ok(page(&ledger, after, 2))).unwrap();
        let facts = verified(&read, stated, None, None);
        assert!(facts.verification.verified, "{:?}", facts.verification);
        assert_eq!(facts.total_entries, 0);
    }

    #[test]
    fn findings_point_to_their_kinds_documentation() {
        let web = host("a1", "web-1", &[], None);
        let f = finding(&web, "PR001", "high", 22);
        assert_eq!(f.name, Some("listener-not-allowed"));
        assert_eq!(
            f.docs.as_deref(),
            Some("docs/findings.md#pr001-listener-not-allowed")
        );
        let unknown = finding(&web, "PR999", "low", 22);
        assert_eq!((unknown.name, unknown.docs), (None, None));
        let mut ranks: Vec<&str> = vec!["info", "bogus", "critical", "low", "high", "medium"];
        ranks.sort_by_key(|s| severity_rank(s));
        assert_eq!(
            ranks,
            ["critical", "high", "medium", "low", "info", "bogus"]
        );
    }

    /// A change in `host`'s counts (critical, high, low) at `at`.
    fn change(host: &str, at: &str, (critical, high, low): (u64, u64, u64)) -> FleetCounts {
        serde_json::from_value(json!({
            "host_id": host, "host_name": host, "at": at,
            "counts": {"critical": critical, "high": high, "medium": 0, "low": low, "info": 0},
        }))
        .unwrap()
    }

    #[test]
    fn each_day_sums_every_hosts_last_counts_by_its_end() {
        let history = [
            // Before the period: a's standing as it opens.
            change("a", "2026-12-01T10:00:00Z", (1, 0, 0)),
            change("b", "2026-12-05T08:00:00Z", (0, 2, 0)),
            // Two changes of a on one day: the later one counts.
            change("a", "2026-12-05T09:00:00Z", (0, 1, 0)),
            change("a", "2026-12-05T23:59:59Z", (0, 0, 3)),
        ];
        let since: Timestamp = "2026-12-04T06:00:00Z".parse().unwrap();
        let days = over_time(&history, Some(since), now());
        let got: Vec<(&str, u64, u64, u64)> = days
            .iter()
            .map(|d| {
                let c = &d.counts;
                (d.day.as_str(), c.critical, c.high, c.low)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-12-04", 1, 0, 0),
                ("2026-12-05", 0, 2, 3),
                ("2026-12-06", 0, 2, 3),
                ("2026-12-07", 0, 2, 3),
            ]
        );
        // No period: from the first change's day.
        assert_eq!(over_time(&history, None, now()).len(), 7);
        assert_eq!(over_time(&[], Some(since), now()), []);
    }
}

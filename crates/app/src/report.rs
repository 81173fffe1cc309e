//! The report of this host: one document an auditor or a manager reads —
//! the inventory with owners and containers, findings by severity with
//! their remediation, exposure by zone, each port's lifecycle and what was
//! reclaimed, grants and blocks, every ledger entry in the period with its
//! approval, and whether the ledger verifies — as JSON ([`Report`]) or as
//! one self-contained HTML page ([`html`]).
//!
//! Every fact is gathered through the use cases the commands use
//! ([`crate::check::check`], [`crate::reclaim::lifecycle`],
//! [`crate::forecast::history`], the ledger's own verification), never
//! judged again here, so a report cannot disagree with `check`,
//! `lifecycle` or `ledger verify` run at the same moment. Building a report
//! changes nothing: no ledger, store or directory is created, and nothing
//! is recorded.
//!
//! This is the report of the host portreeve runs on; the fleet's report,
//! read from the fleet server, is [`build_fleet`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::Timestamp;
use portreeve_core::{Exposure, Finding, ListeningSocket, Severity};
use portreeve_ledger::bundle::verify_dir;
use portreeve_ledger::{Entry, Tamper, Trust, Verified, store};
use portreeve_lifecycle::State;
use portreeve_store::Store;
use serde::Serialize;

use crate::actor::Actor;
use crate::check::{self, CheckRequest, Sockets, Summary};
use crate::compliance::{self, ControlResult, Examined, Facts, Framework};
use crate::error::AppError;
use crate::policy::{self, LoadedPolicy};
use crate::reclaim;
use crate::state_dir::StateDir;
use crate::vulns::{Subject, VulnsRequest};

mod fleet;
mod fleet_html;
mod html;
mod page;
pub mod pdf;
mod svg;

pub(crate) use fleet::build_fleet_over;
pub use fleet::{
    FLEET_KIND, FLEET_SCHEMA_VERSION, FleetControl, FleetLedger, FleetPolicies, FleetReport,
    HostControl, KeySource, ReportedFinding, build_fleet, build_fleet_trusting,
};
pub use fleet_html::fleet_html;
pub use html::html;
pub use page::escape;

/// `kind` of a report document.
pub const KIND: &str = "portreeve.report";
/// Its schema version (docs/schema/report.v1.json).
pub const SCHEMA_VERSION: u32 = 1;

/// The ledger actions about grants, listed under grants.
const GRANT_ACTIONS: [&str; 3] = ["grant", "revoke", crate::grants::EXPIRED];
/// The ledger actions about blocks, listed under blocks.
const BLOCK_ACTIONS: [&str; 4] = [
    "block",
    "unblock",
    crate::blocks::SCAN_BLOCK,
    crate::blocks::EXPIRED,
];

/// What a report is asked to cover.
#[derive(Debug, Clone, Default)]
pub struct ReportRequest {
    /// The start of the period: ledger entries, grants, blocks, reclaims,
    /// check runs and connections before it are left out; `None` for
    /// everything recorded.
    pub since: Option<Timestamp>,
    /// A compliance framework to assess the host against: the report then
    /// carries each of its controls, judged ([`crate::compliance`]).
    pub framework: Option<Framework>,
    /// Findings of other sources to judge by the same policy and include,
    /// beside the check of this host's listeners.
    pub include: Include,
}

/// The sources of findings besides this host's listeners a report can
/// include, each judged as its own command judges it (`k8s check`,
/// `cloud check`, `vulns`). Only a source included counts as examined in
/// a compliance assessment: without it, the absence of its findings
/// proves nothing, and the controls that need it stay `manual`.
#[derive(Debug, Clone, Default)]
pub struct Include {
    /// Kubernetes manifests (files or directories), as `k8s check
    /// --manifests` reads them; empty: none.
    pub kubernetes: Vec<PathBuf>,
    /// `aws ec2 describe-security-groups` output, as `cloud check --aws`
    /// reads it.
    pub aws: Option<PathBuf>,
    /// Judge the packages of this host's listeners against OSV advisories,
    /// as `vulns` does.
    pub vulnerabilities: bool,
    /// The advisories for that: a zip archive, a directory or one OSV JSON
    /// file; `None`: those `vulns update` imported.
    pub osv: Option<PathBuf>,
}

/// The report, as `report --format json` writes it: the envelope every
/// portreeve document starts with, then the facts (docs/report.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`KIND`].
    pub kind: &'static str,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The portreeve that wrote it.
    pub portreeve_version: &'static str,
    /// The host reported on.
    pub host: String,
    /// When it was built (RFC 3339, UTC, seconds).
    pub generated_at: String,
    /// The period the records cover.
    pub period: Period,
    /// The policy the host was judged by.
    pub policy: PolicyFacts,
    /// The counts `check` gives.
    pub summary: Summary,
    /// Every listening socket, with its owners and where it is reachable
    /// from.
    pub listeners: Vec<Listener>,
    /// The findings `check` gives, most severe first.
    pub findings: Vec<Finding>,
    /// Which zones reach which ports; one row for ports reachable from
    /// everywhere.
    pub exposure: Vec<ZoneReach>,
    /// Each port's lifecycle state and the reclaims in the period.
    pub lifecycle: Lifecycle,
    /// The ledger's grant, revoke and grant-expiry entries in the period.
    pub grants: Vec<Entry>,
    /// The ledger's block, unblock, automatic block and block-expiry
    /// entries in the period.
    pub blocks: Vec<Entry>,
    /// The ledger: whether it verifies, and every entry in the period.
    pub ledger: LedgerFacts,
    /// Each recorded check (`check --record`) in the period, oldest first.
    pub findings_over_time: Vec<CheckRun>,
    /// New connections per port and hour in the period, from the agent's
    /// hourly history.
    pub connections: Vec<PortConnections>,
    /// The sources of findings included besides this host's listeners
    /// (`report --k8s-manifests`, `--aws`, `--vulns`), in that order.
    pub sources: Vec<Source>,
    /// What the report could not cover, and why (no ledger, no agent
    /// store, …).
    pub notes: Vec<String>,
    /// The framework assessed, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<Framework>,
    /// Its controls, judged from the facts above, in the order of its
    /// mapping, when a framework was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controls: Option<Vec<ControlResult>>,
}

/// One source of findings a report included besides the host's listeners.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `kubernetes`, `aws` or `vulnerabilities`.
    pub name: &'static str,
    /// What was read, in words (`4 pods in 2 namespaces from deploy/`).
    pub what: String,
    /// The findings it gave, at or above the policy's `min_severity`.
    pub findings: usize,
}

/// The period a report covers.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    /// Its start, if one was asked for.
    pub since: Option<Timestamp>,
    /// Its end: when the report was built.
    pub until: Timestamp,
}

/// The policy judged by.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFacts {
    /// Where its text came from (a path, `<built-in baseline>`).
    pub origin: String,
    /// `sha256:<hex>` of its text.
    pub digest: String,
    /// Whether it is the policy in effect (its ruleset is live); else the
    /// default file or the baseline stands in, nothing being applied.
    pub in_effect: bool,
    /// The live generation, for the policy in effect.
    pub generation: Option<u64>,
    /// That generation's status (`applied`, `pending`, `confirmed`, …).
    pub status: Option<String>,
    /// When the policy was applied.
    pub applied_at: Option<Timestamp>,
    /// Who applied it.
    pub applied_by: Option<String>,
    /// The approval it was applied on (`proposal N`), if any.
    pub approval: Option<String>,
}

impl PolicyFacts {
    fn of(p: &LoadedPolicy) -> PolicyFacts {
        let effect = p.effect();
        PolicyFacts {
            origin: p.policy.origin.clone(),
            digest: p.digest.clone(),
            in_effect: effect.is_some(),
            generation: effect.map(|e| e.generation),
            status: effect.map(|e| e.status.to_string()),
            applied_at: effect.map(|e| e.applied_at),
            applied_by: effect.map(|e| e.applied_by.clone()),
            approval: effect.and_then(|e| e.approval.clone()),
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: portreeve_core::Proto,
    /// The address it is bound to.
    pub address: String,
    /// Its port.
    pub port: u16,
    /// `address:port` as usually written.
    pub endpoint: String,
    /// The network namespace it is in.
    pub netns: String,
    /// The user owning it, by name when known, else by uid.
    pub user: String,
    /// The processes holding it.
    pub owners: Vec<Owner>,
    /// Where it can be reached from.
    pub reach: Exposure,
}

/// A process holding a socket.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its short name.
    pub name: String,
    /// Its systemd unit, if any.
    pub unit: Option<String>,
    /// Its container: the runtime's name for it, else the cgroup's id.
    pub container: Option<String>,
}

/// A zone and the ports it reaches; or (`zone` absent) the ports nothing
/// verifiable protects, reachable from everywhere.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ZoneReach {
    /// The zone's name in the policy; absent for "everywhere".
    pub zone: Option<String>,
    /// Its networks the firewall admits.
    pub networks: Vec<String>,
    /// Whether some of them span the internet.
    pub wide: bool,
    /// The ports it reaches (`22/tcp`), in order.
    pub ports: Vec<String>,
    /// For "everywhere": why no firewall protection is assumed.
    pub why: Vec<String>,
}

/// The lifecycle of this host's ports.
#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    /// Ports per state; every state present.
    pub counts: BTreeMap<&'static str, usize>,
    /// Every listening, allowed or used port.
    pub ports: Vec<LifecyclePort>,
    /// Reclaims made in the period (undone or not).
    pub reclaimed: Vec<Reclaimed>,
}

/// One port's lifecycle, as `lifecycle` gives it.
#[derive(Debug, Clone, Serialize)]
pub struct LifecyclePort {
    /// `22/tcp`.
    pub port: String,
    /// `active`, `dormant`, `abandoned` or `reclaimed`.
    pub state: &'static str,
    /// Whether something listens on it.
    pub listening: bool,
    /// Its last new connection, if ever.
    pub last_access: Option<Timestamp>,
    /// The recommended action.
    pub action: String,
    /// The processes listening on it, comma-separated.
    pub owner: Option<String>,
}

/// A port closed by a reclaim.
#[derive(Debug, Clone, Serialize)]
pub struct Reclaimed {
    /// The reclaim's id (`reclaim --undo ID`).
    pub id: i64,
    /// `22/tcp`.
    pub port: String,
    /// When it was closed.
    pub at: Timestamp,
    /// When it was reopened, if it was.
    pub undone_at: Option<Timestamp>,
}

/// The ledger.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerFacts {
    /// Whether this host has a ledger.
    pub present: bool,
    /// What `portreeve ledger verify` says of it (with the stored log key
    /// and no witnesses), when present.
    pub verification: Option<Verification>,
    /// Entries in the whole ledger.
    pub total_entries: usize,
    /// Every entry in the period, oldest first.
    pub entries: Vec<Entry>,
}

/// The outcome of verifying the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Whether every entry, checkpoint signature and consistency proof
    /// checked out.
    pub verified: bool,
    /// Entries checked (when verified).
    pub entries: Option<u64>,
    /// Checkpoints checked (when verified).
    pub checkpoints: Option<usize>,
    /// Entries after the latest signed checkpoint (when verified).
    pub unsigned_tail: Option<u64>,
    /// Entries carrying an identity's verified attestation.
    pub attested: Option<u64>,
    /// What is wrong, when not verified, with the position or checkpoint.
    pub problem: Option<String>,
}

impl Verification {
    /// What a verification of a ledger gave, as reports carry it.
    fn of(outcome: Result<Verified, Tamper>) -> Verification {
        match outcome {
            Ok(v) => Verification {
                verified: true,
                entries: Some(v.entries),
                checkpoints: Some(v.checkpoints),
                unsigned_tail: Some(v.unsigned_tail),
                attested: Some(v.attested),
                problem: None,
            },
            Err(t) => Verification {
                verified: false,
                entries: None,
                checkpoints: None,
                unsigned_tail: None,
                attested: None,
                problem: Some(t.to_string()),
            },
        }
    }
}

/// One recorded check: its counts, read from its ledger entry.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    /// The entry's position in the ledger.
    pub index: u64,
    /// When the check ran.
    pub time: Timestamp,
    /// Findings counted (accepted ones left out).
    pub findings: usize,
    /// Of those, per severity (severities with none left out).
    pub by_severity: BTreeMap<Severity, usize>,
}

/// One port's new connections per hour.
#[derive(Debug, Clone, Serialize)]
pub struct PortConnections {
    /// `443/tcp`.
    pub port: String,
    /// The start of the first hour counted.
    pub first_hour: Timestamp,
    /// New connections in each hour from `first_hour` on.
    pub hourly: Vec<u64>,
    /// Their sum.
    pub total: u64,
}

/// Builds the report of this host (its current network namespace) from
/// `state`, judged by the policy in effect (else the default file, else the
/// baseline), as `check` and `lifecycle` judge it. Records nothing.
pub fn build(state: &StateDir, request: &ReportRequest) -> Result<Report, AppError> {
    let now = Timestamp::now();
    let since = request.since;
    let in_period = |t: Timestamp| since.is_none_or(|s| t >= s);
    let mut notes = Vec::new();

    let loaded = policy::for_judging(state, None)?;
    let checked = check::check(
        state,
        CheckRequest {
            policy: loaded.clone(),
            sockets: Sockets::Live { all_netns: false },
            scan: None,
            record: false,
        },
        // Not recorded: no actor is named anywhere.
        &Actor::of_this_process(),
    )?;
    let (included, sources, examined) = included(state, &loaded, &request.include)?;
    let drift = state.firewall().table_drift();
    let protection = check::protection(state, &loaded, &drift);
    let reaches: Vec<Exposure> = checked
        .sockets
        .iter()
        .map(|s| portreeve_policy::exposure(&loaded.policy, s, &protection))
        .collect();
    let listeners = checked
        .sockets
        .iter()
        .zip(&reaches)
        .map(|(s, reach)| listener(s, reach.clone()))
        .collect();
    let exposure = by_zone(&checked.sockets, &reaches);

    let plan = reclaim::lifecycle(state, loaded.clone(), &checked.sockets, now)?;
    let mut counts: BTreeMap<&'static str, usize> = [
        State::Active,
        State::Dormant,
        State::Abandoned,
        State::Reclaimed,
    ]
    .into_iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    for r in &plan.ports {
        *counts.entry(r.state.as_str()).or_default() += 1;
    }
    let ports = plan
        .ports
        .iter()
        .map(|r| LifecyclePort {
            port: r.key.to_string(),
            state: r.state.as_str(),
            listening: r.listening,
            last_access: r.last_access,
            action: r.action.to_string(),
            owner: plan.owners.get(&r.key).cloned(),
        })
        .collect();

    let (reclaimed, connections) = if state.has_store() {
        let reclaims = state.with_store(|s| s.reclaims())?;
        let reclaimed = reclaims
            .into_iter()
            .filter(|r| in_period(r.at))
            .map(|r| Reclaimed {
                id: r.id,
                port: r.key.to_string(),
                at: r.at,
                undone_at: r.undone_at,
            })
            .collect();
        (reclaimed, connections(state, since, now, &mut notes)?)
    } else {
        notes.push(format!(
            "no agent store in {}: no usage history, connections or reclaims to report \
             (`portreeve agent` records them)",
            state.root().display()
        ));
        (Vec::new(), Vec::new())
    };

    let ledger = ledger_facts(state, since, &mut notes)?;
    let of_actions = |actions: &[&str]| -> Vec<Entry> {
        ledger
            .entries
            .iter()
            .filter(|e| actions.contains(&e.action.as_str()))
            .cloned()
            .collect()
    };
    let grants = of_actions(&GRANT_ACTIONS);
    let blocks = of_actions(&BLOCK_ACTIONS);
    let findings_over_time = ledger
        .entries
        .iter()
        .filter(|e| e.action == "check")
        .filter_map(check_run)
        .collect();
    let mut findings = checked.findings.clone();
    findings.extend(included.iter().cloned());
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
    let summary = Summary::of(&checked.sockets, &findings);
    let controls = request.framework.map(|framework| {
        let mut facts = Facts::of_check(
            now,
            &checked,
            &drift,
            ledger.verification.as_ref().map(|v| v.verified),
            state.has_store(),
        );
        facts.findings.extend(included);
        facts.examined.kubernetes = examined.kubernetes;
        facts.examined.cloud = examined.cloud;
        facts.examined.vulnerabilities = examined.vulnerabilities;
        compliance::assess(framework, &facts)
    });

    Ok(Report {
        kind: KIND,
        schema_version: SCHEMA_VERSION,
        portreeve_version: env!("CARGO_PKG_VERSION"),
        host: checked.host,
        generated_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        period: Period { since, until: now },
        policy: PolicyFacts::of(&loaded),
        summary,
        listeners,
        findings,
        exposure,
        lifecycle: Lifecycle {
            counts,
            ports,
            reclaimed,
        },
        grants,
        blocks,
        ledger,
        findings_over_time,
        connections,
        sources,
        notes,
        framework: request.framework,
        controls,
    })
}

/// The findings of the sources `include` names, judged by `policy` as
/// their own commands judge them, what each source read, and which were
/// examined.
fn included(
    state: &StateDir,
    policy: &LoadedPolicy,
    include: &Include,
) -> Result<(Vec<Finding>, Vec<Source>, Examined), AppError> {
    let mut findings = Vec::new();
    let mut sources = Vec::new();
    let mut examined = Examined::default();
    if !include.kubernetes.is_empty() {
        let k8s = crate::k8s::check(policy.clone(), &include.kubernetes)?;
        sources.push(Source {
            name: "kubernetes",
            what: format!(
                "{} pods in {} namespaces, {} NetworkPolicies, from {}",
                k8s.cluster.pods.len(),
                k8s.cluster.namespaces.len(),
                k8s.cluster.policies.len(),
                joined(&include.kubernetes)
            ),
            findings: k8s.findings.len(),
        });
        findings.extend(k8s.findings);
        examined.kubernetes = true;
    }
    if let Some(aws) = &include.aws {
        let cloud = crate::cloud::check_aws_file(policy.clone(), aws)?;
        sources.push(Source {
            name: "aws",
            what: format!(
                "{} security groups with {} ingress permissions, from {}",
                cloud.groups,
                cloud.permissions,
                aws.display()
            ),
            findings: cloud.findings.len(),
        });
        findings.extend(cloud.findings);
        examined.cloud = true;
    }
    if include.vulnerabilities || include.osv.is_some() {
        let vulns = crate::vulns::vulns(
            state,
            VulnsRequest {
                policy: policy.clone(),
                subject: Subject::Host { all_netns: false },
                osv: include.osv.clone(),
                ecosystem: None,
            },
        )?;
        sources.push(Source {
            name: "vulnerabilities",
            what: format!(
                "{} packages against {}",
                vulns.packages.len(),
                vulns.source.path
            ),
            findings: vulns.findings.len(),
        });
        findings.extend(vulns.findings);
        examined.vulnerabilities = true;
    }
    Ok((findings, sources, examined))
}

/// Paths as a comma-separated list.
fn joined(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn listener(s: &ListeningSocket, reach: Exposure) -> Listener {
    Listener {
        protocol: s.protocol,
        address: s.address.to_string(),
        port: s.port,
        endpoint: s.endpoint(),
        netns: s.netns.to_string(),
        user: s.user.clone().unwrap_or_else(|| s.uid.to_string()),
        owners: s
            .processes
            .iter()
            .map(|p| Owner {
                pid: p.pid,
                name: p.name.clone(),
                unit: p.systemd_unit.clone(),
                container: p
                    .attribution
                    .container
                    .as_ref()
                    .map(|c| c.name.clone())
                    .or_else(|| p.container_id.clone()),
            })
            .collect(),
        reach,
    }
}

/// Groups the ports by the zones that reach them: one row per zone, in
/// the order zones first appear, then one for ports reachable from
/// everywhere. Loopback sockets reach nobody and are left out.
fn by_zone(sockets: &[ListeningSocket], reaches: &[Exposure]) -> Vec<ZoneReach> {
    let mut zones: Vec<ZoneReach> = Vec::new();
    let mut everywhere: BTreeSet<String> = BTreeSet::new();
    let mut why: BTreeSet<String> = BTreeSet::new();
    for (s, reach) in sockets.iter().zip(reaches) {
        let port = format!("{}/{}", s.port, s.protocol);
        match reach {
            Exposure::Local => {}
            Exposure::Everywhere { why: w } => {
                everywhere.insert(port);
                why.insert(w.clone());
            }
            Exposure::Zones { from, wide } => {
                for z in from {
                    let row = match zones
                        .iter_mut()
                        .position(|r| r.zone.as_ref() == Some(&z.zone))
                    {
                        Some(i) => &mut zones[i],
                        None => {
                            zones.push(ZoneReach {
                                zone: Some(z.zone.clone()),
                                networks: Vec::new(),
                                wide: false,
                                ports: Vec::new(),
                                why: Vec::new(),
                            });
                            zones.last_mut().expect("pushed")
                        }
                    };
                    for n in &z.networks {
                        if !row.networks.contains(n) {
                            row.networks.push(n.clone());
                        }
                    }
                    row.wide |= *wide;
                    if !row.ports.contains(&port) {
                        row.ports.push(port.clone());
                    }
                }
            }
        }
    }
    for z in &mut zones {
        z.ports.sort_by_key(|p| port_order(p));
    }
    if !everywhere.is_empty() {
        let mut ports: Vec<String> = everywhere.into_iter().collect();
        ports.sort_by_key(|p| port_order(p));
        zones.push(ZoneReach {
            zone: None,
            networks: Vec::new(),
            wide: true,
            ports,
            why: why.into_iter().collect(),
        });
    }
    zones
}

/// `22/tcp` sorts by number, then protocol.
fn port_order(port: &str) -> (u32, String) {
    let (n, proto) = port.split_once('/').unwrap_or((port, ""));
    (n.parse().unwrap_or(u32::MAX), proto.to_string())
}

/// The ledger's verification and its entries in the period; a host
/// without a ledger gives a note, not an error. The ledger is read as it
/// lies on disk, never opened for appending (nor created).
fn ledger_facts(
    state: &StateDir,
    since: Option<Timestamp>,
    notes: &mut Vec<String>,
) -> Result<LedgerFacts, AppError> {
    if !state.has_ledger() {
        notes.push(format!(
            "no ledger in {}: nothing has been recorded on this host yet",
            state.ledger_dir().display()
        ));
        return Ok(LedgerFacts {
            present: false,
            verification: None,
            total_entries: 0,
            entries: Vec::new(),
        });
    }
    let dir = state.existing_ledger_dir()?;
    // As `portreeve ledger verify` does without --key or --witness.
    let trust = Trust {
        log: store::stored_verifier(&dir)?,
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    let verification = Verification::of(verify_dir(&dir, &trust)?);
    let bytes = store::entries_bytes(&dir)?;
    // Lines that do not parse are the verification's to report.
    let all: Vec<Entry> = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| Entry::parse(line).ok())
        .collect();
    let total_entries = all.len();
    Ok(LedgerFacts {
        present: true,
        verification: Some(verification),
        total_entries,
        entries: all
            .into_iter()
            .filter(|e| since.is_none_or(|s| e.time >= s))
            .collect(),
    })
}

/// The counts of a `check` entry, read back from its object as `check
/// --record` writes it: `N findings on … against ORIGIN: 2 high, 1 medium`
/// (and `; accepted: …` after). `None` for an object in another form.
fn check_run(entry: &Entry) -> Option<CheckRun> {
    let object = entry.object.as_str();
    let (count, _) = object.split_once(' ')?;
    let findings: usize = count.parse().ok()?;
    let mut by_severity = BTreeMap::new();
    if findings > 0 {
        let counted = match object.rfind("; accepted: ") {
            Some(i) => &object[..i],
            None => object,
        };
        let (_, breakdown) = counted.rsplit_once(": ")?;
        for part in breakdown.split(", ") {
            let (n, severity) = part.split_once(' ')?;
            let severity: Severity = severity.parse().ok()?;
            by_severity.insert(severity, n.parse().ok()?);
        }
        if by_severity.values().sum::<usize>() != findings {
            return None;
        }
    }
    Some(CheckRun {
        index: entry.index,
        time: entry.time,
        findings,
        by_severity,
    })
}

/// Each port's new connections per hour in the period (the agent's whole
/// history without `since`), ports without any left out.
fn connections(
    state: &StateDir,
    since: Option<Timestamp>,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Result<Vec<PortConnections>, AppError> {
    if state.with_store(|s| s.usage())?.is_empty() {
        notes.push("the agent's store holds no port history yet".into());
        return Ok(Vec::new());
    }
    let history = match crate::forecast::history(state, now) {
        Ok(h) => h,
        // No hour recorded yet: nothing to chart, which is not a failure.
        Err(AppError::Invalid(why)) => {
            notes.push(why);
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let from = since.map(crate::forecast::hour_of);
    let mut out: Vec<PortConnections> = history
        .ports
        .iter()
        .filter_map(|p| {
            let first = from.map_or(p.series.first(), |f| f.max(p.series.first()));
            let hourly: Vec<u64> = (first..p.series.end()).map(|h| p.series.count(h)).collect();
            let total: u64 = hourly.iter().sum();
            (total > 0).then(|| PortConnections {
                port: format!("{}/{}", p.port, p.protocol),
                first_hour: crate::forecast::start_of(first),
                hourly,
                total,
            })
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then(a.port.cmp(&b.port)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(object: &str) -> Entry {
        portreeve_ledger::Draft::new("check", "root", object).into_entry(
            4,
            "h",
            Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn a_recorded_check_gives_its_counts_per_severity() {
        let run = check_run(&entry(
            "3 findings on 5 listeners (2 exposed) of web-1 against /etc/a: b.toml: 2 high, 1 medium; accepted: PR003 6379/tcp (by x until 2027-01-31)",
        ))
        .unwrap();
        assert_eq!(run.findings, 3);
        assert_eq!(run.by_severity[&Severity::High], 2);
        assert_eq!(run.by_severity[&Severity::Medium], 1);
        let none = check_run(&entry(
            "0 findings on 1 listener (0 exposed) of h against <built-in baseline>",
        ))
        .unwrap();
        assert_eq!(none.findings, 0);
        assert!(none.by_severity.is_empty());
    }

    #[test]
    fn a_check_entry_in_another_form_is_left_out() {
        assert!(check_run(&entry("something else")).is_none());
        // Counts that do not add up are not believed.
        assert!(check_run(&entry("3 findings on 1 listener of h against p: 1 high")).is_none());
    }

    #[test]
    fn a_state_directory_without_ledger_or_store_still_gives_a_report_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state"));
        let report = build(&state, &ReportRequest::default()).unwrap();
        assert!(!report.ledger.present);
        assert!(report.ledger.verification.is_none());
        assert!(report.notes.iter().any(|n| n.starts_with("no ledger")));
        assert!(report.notes.iter().any(|n| n.starts_with("no agent store")));
        assert_eq!(report.kind, KIND);
        assert_eq!(report.lifecycle.counts.len(), 4);
        // Reading created nothing.
        assert!(!dir.path().join("state").exists());
        let page = html(&report);
        assert!(page.contains("No ledger"), "{page}");
        assert!(report.controls.is_none() && !page.contains("id=\"controls\""));
    }

    #[test]
    fn a_framework_adds_its_controls_judged_from_the_same_facts() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state"));
        let request = ReportRequest {
            framework: Some(Framework::PciDss),
            ..ReportRequest::default()
        };
        let report = build(&state, &request).unwrap();
        let controls = report.controls.as_ref().unwrap();
        assert!(!controls.is_empty());
        assert_eq!(report.framework, Some(Framework::PciDss));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["framework"], "pci-dss");
        let page = html(&report);
        assert!(page.contains("id=\"controls\""));
        assert!(page.matches("<tr><td>").count() >= controls.len());
    }

    #[test]
    fn hostile_names_stay_text_and_the_page_links_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state"));
        let mut report = build(&state, &ReportRequest::default()).unwrap();
        let hostile = "<script>alert(1)</script>";
        report.host = format!("{hostile}\"'");
        report.listeners.push(Listener {
            protocol: portreeve_core::Proto::Tcp,
            address: "0.0.0.0".into(),
            port: 4444,
            endpoint: "0.0.0.0:4444".into(),
            netns: hostile.into(),
            user: hostile.into(),
            owners: vec![Owner {
                pid: 1,
                name: hostile.into(),
                unit: Some("<img onerror=alert(1)>".into()),
                container: Some("\" onmouseover=\"x".into()),
            }],
            reach: Exposure::Everywhere {
                why: hostile.into(),
            },
        });
        report.notes.push(hostile.into());
        report.connections.push(PortConnections {
            port: hostile.into(),
            first_hour: Timestamp::UNIX_EPOCH,
            hourly: vec![1, 5, 0],
            total: 6,
        });
        let page = html(&report);
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("\" onmouseover"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // Nothing to fetch: no URL, no link, no source.
        for needle in ["http://", "https://", "href=", "src=", "url("] {
            assert!(!page.contains(needle), "{needle} in {page}");
        }
        assert!(page.contains("id=\"chart-severity\""));
        assert!(page.contains("id=\"chart-lifecycle\""));
        assert!(page.contains("id=\"chart-connections\""));
    }
}

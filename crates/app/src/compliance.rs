//! Compliance mapping: which of portreeve's facts and findings evidence or
//! violate which controls of a framework — PCI DSS v4.0, MLPS 2.0
//! (GB/T 22239-2019), the CIS Benchmarks, NIST SP 800-53 Rev. 5 — and the
//! pass or fail that follows for one host.
//!
//! The mapping is data, not code: one TOML file per framework under
//! `crates/app/compliance/`, embedded when portreeve is built. An auditor
//! reads exactly what a control is judged on, and a change to the mapping
//! is a reviewable change of a data file rather than of logic. Each control
//! names where it is defined (document and section) and is summarised in
//! our own words; no standard's text is copied. This module only knows the
//! small vocabulary those files are written in (docs/compliance.md):
//!
//! - `require`: facts that must hold (`policy-in-effect`,
//!   `policy-approved`, `default-deny`, `ledger-verified`);
//! - `fail_on`: finding codes any open finding of which fails the control;
//! - `max_review_age_days`: how long ago the policy in effect may have been
//!   applied or reviewed;
//! - `applies_to`: `containers` or `kubernetes` for controls that only
//!   apply when this host has containers or a cluster was examined;
//! - `manual`: what portreeve cannot judge, so that a control nothing fails
//!   is `manual` rather than `pass`;
//! - `note`: a caveat every result of the control carries.
//!
//! A control fails when anything it is judged on fails; otherwise it is
//! manual when part of it cannot be judged (a `manual` part, or a fact that
//! is unknown); otherwise it passes. An accepted finding (the policy's
//! `[[accepted_risk]]`) fails nothing, as it counts toward no total
//! elsewhere, but is listed in the evidence for the assessor to weigh.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use jiff::Timestamp;
use portreeve_core::{Finding, FindingKind};
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

use crate::check::{CheckReport, TableDrift};

/// A framework portreeve maps its facts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Framework {
    /// PCI DSS v4.0, requirement 1 (network security controls).
    PciDss,
    /// MLPS 2.0 (China's GB/T 22239-2019), level 3.
    Mlps2,
    /// CIS Benchmarks: Debian/Ubuntu Linux, Docker, Kubernetes.
    Cis,
    /// NIST SP 800-53 Rev. 5.
    Nist80053,
}

impl Framework {
    /// Every framework, in the order `--framework` documents them.
    pub const ALL: [Framework; 4] = [
        Framework::PciDss,
        Framework::Mlps2,
        Framework::Cis,
        Framework::Nist80053,
    ];

    /// The name `--framework` takes and reports carry: `pci-dss`, `mlps2`,
    /// `cis`, `nist-800-53`.
    pub fn as_str(self) -> &'static str {
        match self {
            Framework::PciDss => "pci-dss",
            Framework::Mlps2 => "mlps2",
            Framework::Cis => "cis",
            Framework::Nist80053 => "nist-800-53",
        }
    }

    /// The document (and version) the framework's controls are cited from.
    pub fn document(self) -> &'static str {
        &mapping(self).document
    }

    /// The mapping's file, as named in errors, and its embedded text.
    fn data(self) -> (&'static str, &'static str) {
        match self {
            Framework::PciDss => (
                "crates/app/compliance/pci-dss.toml",
                include_str!("../compliance/pci-dss.toml"),
            ),
            Framework::Mlps2 => (
                "crates/app/compliance/mlps2.toml",
                include_str!("../compliance/mlps2.toml"),
            ),
            Framework::Cis => (
                "crates/app/compliance/cis.toml",
                include_str!("../compliance/cis.toml"),
            ),
            Framework::Nist80053 => (
                "crates/app/compliance/nist-800-53.toml",
                include_str!("../compliance/nist-800-53.toml"),
            ),
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Framework {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A framework name `--framework` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown framework `{0}`: expected pci-dss, mlps2, cis or nist-800-53")]
pub struct UnknownFramework(pub String);

impl FromStr for Framework {
    type Err = UnknownFramework;

    fn from_str(s: &str) -> Result<Framework, UnknownFramework> {
        Framework::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFramework(s.to_string()))
    }
}

/// What an assessment judges a host on. Whoever builds it (the report)
/// gathers these through the service layer; nothing here re-checks the
/// host, so a report and its controls never disagree.
#[derive(Debug, Clone)]
pub struct Facts {
    /// When the facts were gathered; review ages are counted to it.
    pub now: Timestamp,
    /// Every finding of the report, accepted ones included (they are
    /// listed, not counted). A check of this host's listeners against the
    /// policy is always part of them; the other sources only when
    /// [`Facts::examined`] says so.
    pub findings: Vec<Finding>,
    /// Listening sockets judged against the policy (as `check` counts
    /// them).
    pub listeners: usize,
    /// Of those, the ones a container owns or that publish a container's
    /// port (their service label satisfies [`names_container`]). Zero makes
    /// container controls not applicable.
    pub container_listeners: usize,
    /// Whether a policy is in effect: portreeve's ruleset is installed.
    pub policy_in_effect: bool,
    /// Whether the policy in effect was installed on an approved proposal
    /// (change control), rather than applied without one.
    pub policy_approved: bool,
    /// Whether inbound connections no rule allows are denied: true when the
    /// policy in effect is installed and its table in the kernel is exactly
    /// the one portreeve wrote, as portreeve's input chain ends by dropping
    /// or rejecting whatever no rule accepted.
    pub default_deny: bool,
    /// When the policy in effect was last applied or reviewed; `None` when
    /// none ever was.
    pub last_policy_change: Option<Timestamp>,
    /// Whether the ledger verified (signatures, chain, checkpoint): `None`
    /// when it was not verified for these facts, which leaves controls that
    /// need it `manual`.
    pub ledger_verified: Option<bool>,
    /// Which sources of findings besides the host check were examined.
    pub examined: Examined,
}

impl Facts {
    /// Facts of a host where nothing is known yet at `now`: no policy, no
    /// findings, nothing examined beyond the host.
    pub fn new(now: Timestamp) -> Facts {
        Facts {
            now,
            findings: Vec::new(),
            listeners: 0,
            container_listeners: 0,
            policy_in_effect: false,
            policy_approved: false,
            default_deny: false,
            last_policy_change: None,
            ledger_verified: None,
            examined: Examined::default(),
        }
    }

    /// The facts of a live check of this host: `checked` (with its scan,
    /// if any), the drift of portreeve's table `drift` as the check saw it,
    /// whether the ledger verified, and whether the agent's record of
    /// connections exists (the check's PR013 findings come from it).
    ///
    /// Default deny holds only when the policy in effect is installed and
    /// its table is exactly the one portreeve wrote: a table that is gone,
    /// changed, or that could not be read vouches for nothing.
    pub fn of_check(
        now: Timestamp,
        checked: &CheckReport,
        drift: &TableDrift,
        ledger_verified: Option<bool>,
        usage_recorded: bool,
    ) -> Facts {
        let effect = checked.policy.effect();
        let table_intact = matches!(drift, Ok(Some(differences)) if differences.is_empty());
        Facts {
            now,
            findings: checked.findings.clone(),
            listeners: checked.summary.listeners,
            container_listeners: checked
                .sockets
                .iter()
                .filter(|s| s.service_label().is_some_and(|l| names_container(&l)))
                .count(),
            policy_in_effect: effect.is_some(),
            policy_approved: effect.is_some_and(|e| e.approval.is_some()),
            default_deny: effect.is_some() && table_intact,
            last_policy_change: effect.map(|e| e.applied_at),
            ledger_verified,
            examined: Examined {
                scan: checked.reachability.is_some(),
                usage: usage_recorded,
                ..Examined::default()
            },
        }
    }
}

/// A finding as a host pushed it to the fleet server, for judging that
/// host in the fleet's report: a push carries the kind, severity and
/// message only, so the rest is empty rather than made up — no
/// fingerprint, socket, rationale or remediation (docs/findings.md has
/// the kind's), and never accepted (a push does not say). `service` is
/// what the fleet knows of the owner, e.g. `published by docker-proxy`,
/// which container controls read ([`names_container`]).
pub fn pushed_finding(
    kind: FindingKind,
    severity: portreeve_core::Severity,
    message: &str,
    service: Option<String>,
) -> Finding {
    Finding {
        kind,
        fingerprint: String::new(),
        severity,
        message: message.to_owned(),
        socket: None,
        service,
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

/// The sources of findings an assessment includes besides the check of
/// this host's listeners. The absence of a finding only counts as evidence
/// when its source was examined; otherwise the result says it was not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Examined {
    /// A scan from outside (PR009–PR012).
    pub scan: bool,
    /// The agent's record of connections per port (PR013).
    pub usage: bool,
    /// A Kubernetes cluster's manifests (PR015–PR020).
    pub kubernetes: bool,
    /// Cloud security groups (PR021, PR022).
    pub cloud: bool,
    /// Known vulnerabilities of what listens (PR023).
    pub vulnerabilities: bool,
}

/// Where findings of a kind come from, so that an assessment can say when
/// the absence of one proves nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Host,
    Scan,
    Usage,
    /// The agent's usage anomalies, which no report examines yet: only a
    /// finding present counts.
    Anomalies,
    Kubernetes,
    Cloud,
    Vulnerabilities,
}

impl Origin {
    fn of(kind: FindingKind) -> Origin {
        use FindingKind::*;
        match kind {
            ListenerNotAllowed | BannedPort | RiskyExposure | ApprovalExpired
            | ApprovalExpiring | StaleRule | UnintendedFamily | OwnerUnverified | TableDrift => {
                Origin::Host
            }
            ReachableRiskyService
            | UnauthenticatedService
            | ReachableAgainstPolicy
            | ReachableWithoutListener => Origin::Scan,
            AbandonedPort => Origin::Usage,
            UsageAnomaly => Origin::Anomalies,
            K8sNamespaceWithoutDefaultDeny
            | K8sRiskyPodReachable
            | K8sRiskyServiceExposed
            | K8sPolicySelectsNothing
            | K8sRuleNeverMatches
            | K8sNamedPortUnresolved => Origin::Kubernetes,
            CloudRiskyOpening | CloudWidePortRange => Origin::Cloud,
            KnownVulnerability => Origin::Vulnerabilities,
        }
    }

    fn examined(self, facts: &Facts) -> bool {
        let e = &facts.examined;
        match self {
            Origin::Host => true,
            Origin::Scan => e.scan,
            Origin::Usage => e.usage,
            Origin::Anomalies => false,
            Origin::Kubernetes => e.kubernetes,
            Origin::Cloud => e.cloud,
            Origin::Vulnerabilities => e.vulnerabilities,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Origin::Host => "the check of this host",
            Origin::Scan => "a scan from outside",
            Origin::Usage => "the agent's record of connections",
            Origin::Anomalies => "the agent's usage anomalies",
            Origin::Kubernetes => "a Kubernetes cluster's manifests",
            Origin::Cloud => "cloud security groups",
            Origin::Vulnerabilities => "known vulnerabilities",
        }
    }
}

/// Whether a socket's service label (as inventories and findings write it)
/// names a container: `container web-1 (…)`, a container id, or a port
/// proxy publishing one (`… published by docker-proxy`).
pub fn names_container(service_label: &str) -> bool {
    service_label.starts_with("container ")
        || service_label.starts_with("published by ")
        || service_label.contains(", published by ")
}

/// The outcome of one control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Everything the control is judged on holds.
    Pass,
    /// Something the control is judged on does not hold; the evidence says
    /// what.
    Fail,
    /// The control does not apply to this host (no containers, no cluster
    /// examined).
    NotApplicable,
    /// Nothing portreeve judged fails, but part of the control needs a
    /// person: the evidence says which part.
    Manual,
}

impl Status {
    /// `pass`, `fail`, `not-applicable`, `manual`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not-applicable",
            Status::Manual => "manual",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One control of a framework, judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlResult {
    /// The control's id in its framework (`1.2.5`, `SC-7(5)`), or for CIS,
    /// whose numbers vary by version, portreeve's stable name of the item.
    pub id: String,
    /// What the control asks, in portreeve's words.
    pub title: String,
    /// The outcome.
    pub status: Status,
    /// What the outcome rests on, one fact or finding per line.
    pub evidence: Vec<String>,
    /// Where the control is defined (document and section), cited.
    pub source: String,
}

/// Judges `facts` against every control of `framework`, in the order of
/// its mapping file.
pub fn assess(framework: Framework, facts: &Facts) -> Vec<ControlResult> {
    mapping(framework)
        .controls
        .iter()
        .map(|c| c.judge(facts))
        .collect()
}

/// A mapping file that does not hold together; located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct MappingError {
    /// The mapping file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A framework's mapping, parsed and checked.
#[derive(Debug)]
struct Mapping {
    document: String,
    controls: Vec<Control>,
}

/// The embedded mappings, parsed once. The files are part of the build and
/// the tests parse every one, so an invalid one is a defect of portreeve
/// itself, not an input error.
static MAPPINGS: LazyLock<Vec<Mapping>> = LazyLock::new(|| {
    Framework::ALL
        .into_iter()
        .map(|f| {
            let (file, text) = f.data();
            parse(f, file, text)
                .unwrap_or_else(|e| panic!("embedded compliance mapping is invalid: {e}"))
        })
        .collect()
});

fn mapping(framework: Framework) -> &'static Mapping {
    let i = Framework::ALL
        .iter()
        .position(|f| *f == framework)
        .expect("every framework is in ALL");
    &MAPPINGS[i]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    framework: Spanned<String>,
    document: String,
    control: Vec<RawControl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: Spanned<String>,
    title: String,
    source: String,
    #[serde(default)]
    require: Vec<Requirement>,
    #[serde(default)]
    fail_on: Vec<Spanned<String>>,
    max_review_age_days: Option<u32>,
    #[serde(default)]
    applies_to: Scope,
    manual: Option<String>,
    note: Option<String>,
}

/// A fact a control requires to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Requirement {
    PolicyInEffect,
    PolicyApproved,
    DefaultDeny,
    LedgerVerified,
}

/// What a control is about: the host (always applicable), its containers,
/// or a Kubernetes cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Scope {
    #[default]
    Host,
    Containers,
    Kubernetes,
}

#[derive(Debug)]
struct Control {
    id: String,
    title: String,
    source: String,
    require: Vec<Requirement>,
    fail_on: Vec<FindingKind>,
    max_review_age_days: Option<u32>,
    applies_to: Scope,
    manual: Option<String>,
    note: Option<String>,
}

fn parse(framework: Framework, file: &str, text: &str) -> Result<Mapping, MappingError> {
    let located = |offset: usize, message: String| {
        let before = &text[..offset.min(text.len())];
        MappingError {
            file: file.to_string(),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
            message,
        }
    };
    let raw: RawMapping = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        located(offset, e.message().trim().to_string())
    })?;
    if raw.framework.get_ref() != framework.as_str() {
        return Err(located(
            raw.framework.span().start,
            format!(
                "this file maps `{}`, but it is the file of `{framework}`",
                raw.framework.get_ref()
            ),
        ));
    }
    let mut controls: Vec<Control> = Vec::with_capacity(raw.control.len());
    for c in raw.control {
        let id_at = c.id.span().start;
        let id = c.id.into_inner();
        if controls.iter().any(|seen| seen.id == id) {
            return Err(located(id_at, format!("control `{id}` is mapped twice")));
        }
        let mut fail_on = Vec::with_capacity(c.fail_on.len());
        for code in &c.fail_on {
            let kind = FindingKind::from_code_or_name(code.get_ref()).ok_or_else(|| {
                located(
                    code.span().start,
                    format!("`{}` is not a finding code", code.get_ref()),
                )
            })?;
            fail_on.push(kind);
        }
        if c.require.is_empty()
            && fail_on.is_empty()
            && c.max_review_age_days.is_none()
            && c.manual.is_none()
        {
            return Err(located(
                id_at,
                format!(
                    "control `{id}` is judged on nothing: give it require, fail_on, max_review_age_days or manual"
                ),
            ));
        }
        controls.push(Control {
            id,
            title: c.title,
            source: c.source,
            require: c.require,
            fail_on,
            max_review_age_days: c.max_review_age_days,
            applies_to: c.applies_to,
            manual: c.manual,
            note: c.note,
        });
    }
    Ok(Mapping {
        document: raw.document,
        controls,
    })
}

/// What judging a control found so far.
#[derive(Default)]
struct Verdict {
    failed: bool,
    unknown: bool,
    evidence: Vec<String>,
}

impl Verdict {
    fn holds(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    fn fails(&mut self, line: impl Into<String>) {
        self.failed = true;
        self.evidence.push(line.into());
    }

    fn unknown(&mut self, line: impl Into<String>) {
        self.unknown = true;
        self.evidence.push(line.into());
    }
}

/// How many findings of one control are listed before the rest are only
/// counted: enough to act on, short enough to read in a report.
const LISTED_FINDINGS: usize = 10;

impl Control {
    fn judge(&self, facts: &Facts) -> ControlResult {
        let mut v = Verdict::default();
        let applicable = match self.applies_to {
            Scope::Host => true,
            Scope::Containers => facts.container_listeners > 0,
            Scope::Kubernetes => facts.examined.kubernetes,
        };
        let status = if !applicable {
            v.holds(match self.applies_to {
                Scope::Containers => {
                    "no listener of this host belongs to a container or publishes one's port"
                }
                _ => "no Kubernetes cluster's manifests were examined",
            });
            Status::NotApplicable
        } else {
            for r in &self.require {
                requirement(*r, facts, &mut v);
            }
            if let Some(days) = self.max_review_age_days {
                review_age(days, facts, &mut v);
            }
            self.findings(facts, &mut v);
            if let Some(manual) = &self.manual {
                v.unknown(format!("manual: {manual}"));
            }
            if v.failed {
                Status::Fail
            } else if v.unknown {
                Status::Manual
            } else {
                Status::Pass
            }
        };
        if let Some(note) = &self.note {
            v.holds(format!("note: {note}"));
        }
        ControlResult {
            id: self.id.clone(),
            title: self.title.clone(),
            status,
            evidence: v.evidence,
            source: self.source.clone(),
        }
    }

    /// Fails on every open finding of the control's kinds (about a
    /// container, for container controls), lists accepted ones, and says
    /// which kinds' absence is evidence and which were not examined.
    fn findings(&self, facts: &Facts, v: &mut Verdict) {
        if self.fail_on.is_empty() {
            return;
        }
        let relevant: Vec<&Finding> = facts
            .findings
            .iter()
            .filter(|f| self.fail_on.contains(&f.kind))
            .filter(|f| {
                self.applies_to != Scope::Containers
                    || f.kind == FindingKind::ReachableWithoutListener
                    || f.service.as_deref().is_some_and(names_container)
            })
            .collect();
        let (open, accepted): (Vec<&Finding>, Vec<&Finding>) =
            relevant.into_iter().partition(|f| f.accepted.is_none());
        for f in open.iter().take(LISTED_FINDINGS) {
            v.fails(format!("{}: {}", f.kind, f.message));
        }
        if open.len() > LISTED_FINDINGS {
            v.fails(format!("… and {} more", open.len() - LISTED_FINDINGS));
        }
        for f in &accepted {
            if let Some(a) = &f.accepted {
                v.holds(format!(
                    "accepted risk, not counted: {}: {} (owner {}, until {}: {})",
                    f.kind, f.message, a.owner, a.expires, a.reason
                ));
            }
        }
        let examined = |k: &&FindingKind| {
            Origin::of(**k).examined(facts) || facts.findings.iter().any(|f| f.kind == **k)
        };
        let (seen, unseen): (Vec<&FindingKind>, Vec<&FindingKind>) =
            self.fail_on.iter().partition(examined);
        let clear: Vec<String> = seen
            .iter()
            .filter(|k| !open.iter().any(|f| f.kind == ***k))
            .map(|k| k.to_string())
            .collect();
        if !clear.is_empty() {
            let among = match self.applies_to {
                Scope::Host => format!(
                    "among {} judged",
                    crate::counted(facts.listeners, "listener")
                ),
                Scope::Containers => format!(
                    "among {} judged",
                    crate::counted(facts.container_listeners, "container listener")
                ),
                Scope::Kubernetes => "in the cluster's manifests examined".to_string(),
            };
            v.holds(format!("no open finding of {} ({among})", clear.join(", ")));
        }
        let mut origins: Vec<Origin> = Vec::new();
        for k in &unseen {
            let origin = Origin::of(**k);
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        for origin in origins {
            let kinds: Vec<String> = unseen
                .iter()
                .filter(|k| Origin::of(***k) == origin)
                .map(|k| k.to_string())
                .collect();
            v.holds(format!(
                "not examined: {} (needs {})",
                kinds.join(", "),
                origin.name()
            ));
        }
        // Nothing the control is judged on was looked at: its pass would
        // rest on nothing.
        if seen.is_empty() && self.require.is_empty() && self.max_review_age_days.is_none() {
            v.unknown("none of this control's findings were examined for this report");
        }
    }
}

fn requirement(r: Requirement, facts: &Facts, v: &mut Verdict) {
    match r {
        Requirement::PolicyInEffect if facts.policy_in_effect => {
            v.holds("a policy is in effect: portreeve's ruleset is installed")
        }
        Requirement::PolicyInEffect => {
            v.fails("no policy is in effect: portreeve's ruleset is not installed")
        }
        Requirement::PolicyApproved if facts.policy_in_effect && facts.policy_approved => {
            v.holds("the policy in effect was installed on an approved proposal")
        }
        Requirement::PolicyApproved if facts.policy_in_effect => {
            v.fails("the policy in effect was installed without a recorded approval")
        }
        Requirement::PolicyApproved => v.fails("no policy is in effect, so none was approved"),
        Requirement::DefaultDeny if facts.default_deny => {
            v.holds("inbound connections no rule allows are dropped or rejected")
        }
        Requirement::DefaultDeny => v.fails(
            "inbound connections no rule allows are not denied: no portreeve ruleset is in effect, or its table was changed",
        ),
        Requirement::LedgerVerified => match facts.ledger_verified {
            Some(true) => v.holds("the ledger verifies: every change is signed and chained"),
            Some(false) => v.fails("the ledger does not verify: changes may have been altered"),
            None => v.unknown("the ledger was not verified for this report"),
        },
    }
}

fn review_age(max_days: u32, facts: &Facts, v: &mut Verdict) {
    let Some(at) = facts.last_policy_change else {
        v.fails("no policy was ever applied, so none was reviewed");
        return;
    };
    let days = facts.now.duration_since(at).as_secs().max(0) / 86_400;
    let line = format!(
        "the policy in effect was last applied or reviewed at {at}, {}",
        crate::counted(usize::try_from(days).unwrap_or(usize::MAX), "day")
    );
    if days > i64::from(max_days) {
        v.fails(format!("{line} ago: more than {max_days}"));
    } else {
        v.holds(format!("{line} ago: within {max_days}"));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use portreeve_core::{Acceptance, PolicyLocation, Severity};

    use super::*;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    fn finding(kind: FindingKind, message: &str, service: Option<&str>) -> Finding {
        Finding {
            kind,
            fingerprint: Finding::fingerprint_of(kind, message),
            severity: Severity::High,
            message: message.to_string(),
            socket: None,
            service: service.map(str::to_string),
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

    /// A host as it should be: an approved policy applied 30 days ago,
    /// default deny, a verified ledger, nothing found.
    fn clean() -> Facts {
        Facts {
            listeners: 3,
            policy_in_effect: true,
            policy_approved: true,
            default_deny: true,
            last_policy_change: Some(now() - jiff::SignedDuration::from_hours(24 * 30)),
            ledger_verified: Some(true),
            ..Facts::new(now())
        }
    }

    /// A host that went wrong: a redis nobody allowed, the table changed by
    /// hand (so no default deny), a policy applied 200 days ago without an
    /// approval, a ledger that does not verify.
    fn neglected() -> Facts {
        Facts {
            findings: vec![
                finding(
                    FindingKind::ListenerNotAllowed,
                    "redis-server listens on 0.0.0.0:6379/tcp; no rule allows it",
                    Some("redis-server.service"),
                ),
                finding(
                    FindingKind::TableDrift,
                    "table inet portreeve differs from the installed ruleset",
                    None,
                ),
            ],
            listeners: 4,
            policy_in_effect: true,
            policy_approved: false,
            default_deny: false,
            last_policy_change: Some(now() - jiff::SignedDuration::from_hours(24 * 200)),
            ledger_verified: Some(false),
            ..Facts::new(now())
        }
    }

    fn statuses(framework: Framework, facts: &Facts) -> BTreeMap<String, Status> {
        assess(framework, facts)
            .into_iter()
            .map(|r| (r.id, r.status))
            .collect()
    }

    fn expect(pairs: &[(&str, Status)]) -> BTreeMap<String, Status> {
        pairs.iter().map(|(id, s)| (id.to_string(), *s)).collect()
    }

    use Status::{Fail, Manual, NotApplicable as Na, Pass};

    #[test]
    fn every_mapping_file_parses_and_names_real_findings() {
        for f in Framework::ALL {
            let (file, text) = f.data();
            let mapping = parse(f, file, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(!mapping.controls.is_empty(), "{file} maps no control");
            let cited = match f {
                Framework::PciDss => "PCI DSS v4.0, requirement ",
                Framework::Mlps2 => "GB/T 22239-2019, ",
                Framework::Cis => "CIS ",
                Framework::Nist80053 => "NIST SP 800-53 Rev. 5, ",
            };
            for c in &mapping.controls {
                assert!(
                    c.source.starts_with(cited),
                    "{file}: {}: {}",
                    c.id,
                    c.source
                );
                assert!(!c.title.is_empty(), "{file}: {} has no title", c.id);
            }
            for c in &mapping.controls {
                for k in &c.fail_on {
                    assert_eq!(FindingKind::from_code_or_name(k.code()), Some(*k));
                }
            }
        }
    }

    #[test]
    fn the_controls_the_issue_names_are_mapped() {
        let ids = |f: Framework| -> Vec<String> {
            mapping(f).controls.iter().map(|c| c.id.clone()).collect()
        };
        for id in [
            "1.2.5", "1.2.7", "1.2.8", "1.3.1", "1.3.2", "1.4.1", "1.4.2", "1.4.3", "1.4.4",
        ] {
            assert!(ids(Framework::PciDss).contains(&id.to_string()), "{id}");
        }
        for id in ["SC-7", "SC-7(5)", "CM-7", "CM-7(1)"] {
            assert!(ids(Framework::Nist80053).contains(&id.to_string()), "{id}");
        }
        for id in ["8.1.3.2 a)", "8.1.4.4 b)"] {
            assert!(ids(Framework::Mlps2).contains(&id.to_string()), "{id}");
        }
        for id in [
            "linux-firewall-default-deny",
            "linux-firewall-loopback",
            "linux-firewall-open-ports",
            "linux-approved-services",
            "docker-needed-ports",
            "kubernetes-5.3.2",
        ] {
            assert!(ids(Framework::Cis).contains(&id.to_string()), "{id}");
        }
    }

    #[test]
    fn framework_names_round_trip_and_unknown_ones_are_refused() {
        for f in Framework::ALL {
            assert_eq!(f.as_str().parse::<Framework>(), Ok(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
            assert!(!f.document().is_empty());
        }
        let err = "pci".parse::<Framework>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown framework `pci`: expected pci-dss, mlps2, cis or nist-800-53"
        );
    }

    fn parse_err(text: &str) -> MappingError {
        parse(Framework::Cis, "cis.toml", text).unwrap_err()
    }

    #[test]
    fn bad_mapping_files_are_refused_at_the_line_at_fault() {
        let head = "framework = \"cis\"\ndocument = \"d\"\n\n[[control]]\nid = \"a\"\ntitle = \"t\"\nsource = \"s\"\n";
        let e = parse_err(&format!("{head}fail_on = [\"PR001\", \"PR999\"]\n"));
        assert_eq!((e.line, e.column), (8, 21), "{e}");
        assert!(
            e.to_string()
                .starts_with("cis.toml:8:21: `PR999` is not a finding code")
        );

        let e = parse_err(&format!("{head}require = [\"policy-signed\"]\n"));
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("policy-signed"), "{e}");

        let e = parse_err(&format!(
            "{head}fail_on = [\"PR001\"]\nseverity = \"high\"\n"
        ));
        assert_eq!(e.line, 9, "{e}");
        assert!(e.message.contains("severity"), "{e}");

        let e = parse_err(head);
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("judged on nothing"), "{e}");

        let twice = format!(
            "{head}manual = \"m\"\n\n[[control]]\nid = \"a\"\ntitle = \"t\"\nsource = \"s\"\nmanual = \"m\"\n"
        );
        let e = parse_err(&twice);
        assert_eq!(e.line, 11, "{e}");
        assert!(e.message.contains("mapped twice"), "{e}");

        let e = parse(
            Framework::PciDss,
            "pci-dss.toml",
            &format!("{head}manual = \"m\"\n"),
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (1, 13), "{e}");
        assert!(e.message.contains("file of `pci-dss`"), "{e}");
    }

    #[test]
    fn pci_dss_clean_and_neglected_hosts() {
        assert_eq!(
            statuses(Framework::PciDss, &clean()),
            expect(&[
                ("1.2.2", Pass),
                ("1.2.5", Pass),
                ("1.2.6", Pass),
                ("1.2.7", Pass),
                ("1.2.8", Pass),
                ("1.3.1", Pass),
                ("1.3.2", Manual),
                ("1.4.1", Pass),
                ("1.4.2", Pass),
                ("1.4.3", Manual),
                ("1.4.4", Manual),
            ])
        );
        assert_eq!(
            statuses(Framework::PciDss, &neglected()),
            expect(&[
                ("1.2.2", Fail),
                ("1.2.5", Fail),
                ("1.2.6", Pass),
                ("1.2.7", Fail),
                ("1.2.8", Fail),
                ("1.3.1", Fail),
                ("1.3.2", Manual),
                ("1.4.1", Fail),
                ("1.4.2", Fail),
                ("1.4.3", Manual),
                ("1.4.4", Manual),
            ])
        );
    }

    #[test]
    fn mlps2_clean_and_neglected_hosts() {
        // Without the agent's usage or a vulnerability check, the items
        // judged only on them cannot pass.
        assert_eq!(
            statuses(Framework::Mlps2, &clean()),
            expect(&[
                ("8.1.3.1 a)", Pass),
                ("8.1.3.2 a)", Pass),
                ("8.1.3.2 b)", Pass),
                ("8.1.3.2 c)", Pass),
                ("8.1.3.2 d)", Pass),
                ("8.1.4.3 c)", Manual),
                ("8.1.4.4 b)", Pass),
                ("8.1.4.4 c)", Manual),
                ("8.1.4.4 e)", Manual),
                ("8.1.10 change", Pass),
            ])
        );
        let mut facts = neglected();
        facts.examined.vulnerabilities = true;
        facts.findings.push(finding(
            FindingKind::KnownVulnerability,
            "openssh 1:9.2p1-2 is affected by DSA-0000-1",
            Some("ssh.service"),
        ));
        assert_eq!(
            statuses(Framework::Mlps2, &facts),
            expect(&[
                ("8.1.3.1 a)", Fail),
                ("8.1.3.2 a)", Fail),
                ("8.1.3.2 b)", Pass),
                ("8.1.3.2 c)", Fail),
                ("8.1.3.2 d)", Fail),
                ("8.1.4.3 c)", Fail),
                ("8.1.4.4 b)", Fail),
                ("8.1.4.4 c)", Manual),
                ("8.1.4.4 e)", Fail),
                ("8.1.10 change", Fail),
            ])
        );
    }

    #[test]
    fn cis_clean_and_neglected_hosts() {
        assert_eq!(
            statuses(Framework::Cis, &clean()),
            expect(&[
                ("linux-firewall-default-deny", Manual),
                ("linux-firewall-loopback", Manual),
                ("linux-firewall-open-ports", Pass),
                ("linux-approved-services", Pass),
                ("docker-needed-ports", Na),
                ("kubernetes-5.3.1", Na),
                ("kubernetes-5.3.2", Na),
            ])
        );
        assert_eq!(
            statuses(Framework::Cis, &neglected()),
            expect(&[
                ("linux-firewall-default-deny", Fail),
                ("linux-firewall-loopback", Manual),
                ("linux-firewall-open-ports", Fail),
                ("linux-approved-services", Fail),
                ("docker-needed-ports", Na),
                ("kubernetes-5.3.1", Na),
                ("kubernetes-5.3.2", Na),
            ])
        );
    }

    #[test]
    fn nist_800_53_clean_and_neglected_hosts() {
        let mut facts = clean();
        facts.examined.usage = true;
        facts.examined.vulnerabilities = true;
        assert_eq!(
            statuses(Framework::Nist80053, &facts),
            expect(&[
                ("SC-7", Pass),
                ("SC-7(5)", Pass),
                ("CM-3", Pass),
                ("CM-7", Pass),
                ("CM-7(1)", Pass),
                ("RA-5", Pass),
            ])
        );
        assert_eq!(
            statuses(Framework::Nist80053, &neglected()),
            expect(&[
                ("SC-7", Fail),
                ("SC-7(5)", Fail),
                ("CM-3", Fail),
                ("CM-7", Fail),
                ("CM-7(1)", Fail),
                ("RA-5", Manual),
            ])
        );
    }

    #[test]
    fn a_fresh_host_fails_what_needs_a_policy() {
        let results = assess(Framework::PciDss, &Facts::new(now()));
        let r = results.iter().find(|r| r.id == "1.2.7").unwrap();
        assert_eq!(r.status, Fail);
        assert_eq!(
            r.evidence,
            [
                "no policy is in effect: portreeve's ruleset is not installed",
                "no policy was ever applied, so none was reviewed",
                "no open finding of PR004 approval-expired (among 0 listeners judged)",
            ]
        );
        assert_eq!(r.source, "PCI DSS v4.0, requirement 1.2.7");
    }

    #[test]
    fn review_age_is_judged_against_six_months() {
        let mut facts = clean();
        facts.last_policy_change = Some(now() - jiff::SignedDuration::from_hours(24 * 183));
        let r = &assess(Framework::PciDss, &facts)[3];
        assert_eq!((r.id.as_str(), r.status), ("1.2.7", Pass));
        assert!(
            r.evidence
                .contains(&"the policy in effect was last applied or reviewed at 2026-06-07T12:00:00Z, 183 days ago: within 183".to_string()),
            "{:?}",
            r.evidence
        );
        facts.last_policy_change = Some(now() - jiff::SignedDuration::from_hours(24 * 184));
        let r = &assess(Framework::PciDss, &facts)[3];
        assert_eq!(r.status, Fail, "{:?}", r.evidence);
    }

    #[test]
    fn failing_evidence_names_each_finding_and_accepted_ones_do_not_fail() {
        let mut facts = clean();
        let mut redis = finding(
            FindingKind::ListenerNotAllowed,
            "redis-server listens on 0.0.0.0:6379/tcp; no rule allows it",
            None,
        );
        facts.findings.push(redis.clone());
        let r = &assess(Framework::Cis, &facts)[2];
        assert_eq!(
            (r.id.as_str(), r.status),
            ("linux-firewall-open-ports", Fail)
        );
        assert!(r.evidence.contains(
            &"PR001 listener-not-allowed: redis-server listens on 0.0.0.0:6379/tcp; no rule allows it"
                .to_string()
        ));
        assert!(r.evidence.contains(
            &"no open finding of PR002 banned-port (among 3 listeners judged)".to_string()
        ));

        redis.accepted = Some(Acceptance {
            owner: "ops@example.org".into(),
            reason: "cache for the batch job until it moves".into(),
            expires: jiff::civil::date(2027, 1, 31),
            location: PolicyLocation {
                file: "/etc/portreeve/policy.toml".into(),
                line: 40,
                column: 1,
            },
        });
        facts.findings = vec![redis];
        let r = &assess(Framework::Cis, &facts)[2];
        assert_eq!(r.status, Pass, "{:?}", r.evidence);
        assert!(r.evidence.iter().any(|e| {
            e.starts_with(
                "accepted risk, not counted: PR001 listener-not-allowed: redis-server"
            ) && e.ends_with(
                "(owner ops@example.org, until 2027-01-31: cache for the batch job until it moves)"
            )
        }));
    }

    #[test]
    fn long_lists_of_findings_are_cut_and_counted() {
        let mut facts = clean();
        for port in 0..13 {
            facts.findings.push(finding(
                FindingKind::BannedPort,
                &format!("port {port} is banned"),
                None,
            ));
        }
        let r = &assess(Framework::Cis, &facts)[2];
        assert_eq!(r.status, Fail);
        assert_eq!(
            r.evidence
                .iter()
                .filter(|e| e.starts_with("PR002 banned-port: "))
                .count(),
            LISTED_FINDINGS
        );
        assert!(r.evidence.contains(&"… and 3 more".to_string()));
    }

    #[test]
    fn container_controls_judge_only_container_findings() {
        let mut facts = clean();
        facts.findings.push(finding(
            FindingKind::ListenerNotAllowed,
            "sshd listens on 0.0.0.0:2222/tcp; no rule allows it",
            Some("ssh.service"),
        ));
        let docker = |facts: &Facts| {
            assess(Framework::Cis, facts)
                .into_iter()
                .find(|r| r.id == "docker-needed-ports")
                .unwrap()
        };
        assert_eq!(docker(&facts).status, Na);

        facts.container_listeners = 2;
        let r = docker(&facts);
        assert_eq!(r.status, Pass, "{:?}", r.evidence);
        assert!(
            r.evidence
                .iter()
                .any(|e| e.contains("among 2 container listeners"))
        );

        facts.findings.push(finding(
            FindingKind::ListenerNotAllowed,
            "docker-proxy listens on 0.0.0.0:8080/tcp; no rule allows it",
            Some("container web-1 (nginx:1.25), published by docker-proxy"),
        ));
        let r = docker(&facts);
        assert_eq!(r.status, Fail);
        assert!(r.evidence.iter().any(|e| e.contains("8080")));
        assert!(!r.evidence.iter().any(|e| e.contains("2222")));
    }

    #[test]
    fn kubernetes_controls_apply_once_a_cluster_is_examined() {
        let mut facts = clean();
        facts.examined.kubernetes = true;
        let k8s = |facts: &Facts| -> Vec<Status> {
            assess(Framework::Cis, facts)
                .into_iter()
                .filter(|r| r.id.starts_with("kubernetes-"))
                .map(|r| r.status)
                .collect()
        };
        assert_eq!(k8s(&facts), [Manual, Pass]);
        let r = assess(Framework::Cis, &facts).pop().unwrap();
        assert_eq!(
            r.evidence,
            [
                "no open finding of PR015 k8s-namespace-without-default-deny, \
              PR018 k8s-policy-selects-no-pod (in the cluster's manifests examined)"
            ]
        );
        facts.findings.push(finding(
            FindingKind::K8sNamespaceWithoutDefaultDeny,
            "namespace shop has pods no NetworkPolicy isolates",
            None,
        ));
        assert_eq!(k8s(&facts), [Manual, Fail]);
    }

    #[test]
    fn unexamined_sources_are_said_and_an_unknown_ledger_is_manual() {
        let mut facts = clean();
        facts.ledger_verified = None;
        let results = assess(Framework::Nist80053, &facts);
        let cm3 = results.iter().find(|r| r.id == "CM-3").unwrap();
        assert_eq!(cm3.status, Manual);
        assert!(
            cm3.evidence
                .contains(&"the ledger was not verified for this report".to_string())
        );
        let cm7 = results.iter().find(|r| r.id == "CM-7").unwrap();
        assert_eq!(cm7.status, Pass);
        assert!(
            cm7.evidence.contains(
                &"not examined: PR013 abandoned-port (needs the agent's record of connections)"
                    .to_string()
            )
        );
    }

    #[test]
    fn results_serialise_as_reports_carry_them() {
        let r = &assess(Framework::PciDss, &clean())[1];
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["id"], "1.2.5");
        assert_eq!(json["status"], "pass");
        assert_eq!(json["source"], "PCI DSS v4.0, requirement 1.2.5");
        assert!(json["evidence"].is_array());
        assert_eq!(serde_json::to_value(Na).unwrap(), "not-applicable");
    }

    fn a_check(policy: crate::policy::LoadedPolicy) -> CheckReport {
        use std::sync::Arc;

        use portreeve_core::{Attribution, ContainerInfo, ProcessInfo};
        let mut web = portreeve_testkit::listening_socket(8080);
        web.processes = vec![Arc::new(ProcessInfo {
            pid: 4242,
            name: "nginx".into(),
            exe: None,
            cmdline: Vec::new(),
            systemd_unit: Some("docker-0123.scope".into()),
            container_id: None,
            attribution: Attribution {
                container: Some(ContainerInfo {
                    runtime: "docker".into(),
                    name: "web-1".into(),
                    image: "nginx:1.25".into(),
                    ..ContainerInfo::default()
                }),
                ..Attribution::default()
            },
        })];
        let sockets = vec![portreeve_testkit::listening_socket(22), web];
        let findings = vec![finding(
            FindingKind::ListenerNotAllowed,
            "nginx listens on 0.0.0.0:8080/tcp; no rule allows it",
            Some("container web-1 (nginx:1.25)"),
        )];
        CheckReport {
            host: "web1".into(),
            summary: crate::check::Summary::of(&sockets, &findings),
            sockets,
            policy,
            findings,
            reachability: None,
        }
    }

    #[test]
    fn facts_of_a_check_without_a_policy_in_effect() {
        let checked = a_check(crate::policy::LoadedPolicy::baseline());
        let facts = Facts::of_check(now(), &checked, &Ok(None), None, false);
        assert!(!facts.policy_in_effect && !facts.policy_approved && !facts.default_deny);
        assert_eq!(facts.last_policy_change, None);
        assert_eq!((facts.listeners, facts.container_listeners), (2, 1));
        assert_eq!(facts.findings, checked.findings);
        assert_eq!(facts.examined, Examined::default());
        let docker = assess(Framework::Cis, &facts)
            .into_iter()
            .find(|r| r.id == "docker-needed-ports")
            .unwrap();
        assert_eq!(docker.status, Fail, "{:?}", docker.evidence);
    }

    #[test]
    fn facts_of_a_check_under_an_approved_policy_in_effect() {
        use crate::policy::{Effect, LoadedPolicy, PolicySource};
        let applied_at: Timestamp = "2026-10-01T08:00:00Z".parse().unwrap();
        let baseline = LoadedPolicy::baseline();
        let in_effect = |approval: Option<&str>| {
            let effect = Effect {
                generation: 3,
                status: portreeve_enforce::generations::Status::Confirmed,
                origin: "/etc/portreeve/policy.toml".into(),
                applied_in: 3,
                applied_at,
                applied_by: "root".into(),
                approval: approval.map(str::to_string),
            };
            LoadedPolicy::parse(
                "/etc/portreeve/policy.toml",
                baseline.text.clone(),
                PolicySource::InEffect(effect),
            )
            .unwrap()
        };
        let checked = a_check(in_effect(Some("proposal 7")));
        let facts = Facts::of_check(now(), &checked, &Ok(Some(Vec::new())), Some(true), true);
        assert!(facts.policy_in_effect && facts.policy_approved && facts.default_deny);
        assert_eq!(facts.last_policy_change, Some(applied_at));
        assert_eq!(facts.ledger_verified, Some(true));
        assert!(facts.examined.usage && !facts.examined.scan);

        // A changed table, a vanished one or one that could not be read
        // vouches for no default deny.
        for drift in [Ok(Some(vec!["rule added by hand".to_string()])), Ok(None)] {
            assert!(!Facts::of_check(now(), &checked, &drift, None, false).default_deny);
        }
        let unread: TableDrift = Err(portreeve_enforce::EnforceError::NotApplied);
        assert!(!Facts::of_check(now(), &checked, &unread, None, false).default_deny);

        let unapproved = a_check(in_effect(None));
        let facts = Facts::of_check(now(), &unapproved, &Ok(Some(Vec::new())), None, false);
        assert!(facts.policy_in_effect && !facts.policy_approved);
    }

    /// docs/compliance.md lists every control with its source, so the
    /// document an auditor reads cannot drift from the data portreeve
    /// judges by.
    #[test]
    fn the_documentation_lists_every_control_and_its_source() {
        let docs = include_str!("../../../docs/compliance.md");
        for f in Framework::ALL {
            for c in &mapping(f).controls {
                let row = format!("| `{}` |", c.id);
                let line = docs
                    .lines()
                    .find(|l| l.starts_with(&row))
                    .unwrap_or_else(|| panic!("docs/compliance.md has no row for {f} {}", c.id));
                assert!(
                    line.contains(&c.source),
                    "docs/compliance.md cites {f} {} differently from the data:\n{line}",
                    c.id
                );
            }
        }
    }
}

//! The JSON documents portreeve writes and reads: a stable contract,
//! documented in `docs/json.md` with JSON Schemas in `docs/schema/`.
//!
//! Every document starts with `kind` and `schema_version`. Within a schema
//! version fields are only ever added, never renamed, removed or retyped.

use portreeve_app::check::Summary;
use portreeve_core::{Finding, ListeningSocket, NetnsRef};
use serde::{Deserialize, Serialize};

/// The schema version of the inventory and check documents.
pub const SCHEMA_VERSION: u32 = 1;

/// Documents whose schema changed in a way that could not be made by adding
/// fields, with their current version; every other kind is at version 1.
/// docs/json.md lists what changed in each.
const BUMPED: &[(&str, u32)] = &[
    // 2: `proto` became `protocol`; drift's `netns` became an object with
    // the namespace's name, as in the inventory.
    ("portreeve.drift", 2),
    ("portreeve.lifecycle", 2),
];

/// The schema version of documents of `kind`.
pub fn schema_version(kind: &str) -> u32 {
    BUMPED
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(SCHEMA_VERSION, |&(_, v)| v)
}
/// `kind` of an inventory document.
pub const INVENTORY_KIND: &str = "portreeve.inventory";
/// `kind` of a check report.
pub const CHECK_KIND: &str = "portreeve.check";

/// The fields every document starts with.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// What the document is, e.g. `portreeve.inventory`.
    pub kind: &'static str,
    /// Schema version.
    pub schema_version: u32,
    /// Version of portreeve that wrote it.
    pub portreeve_version: &'static str,
    /// Host name.
    pub host: &'a str,
    /// RFC 3339 time the document describes.
    pub generated_at: String,
}

impl<'a> Envelope<'a> {
    /// An envelope for a document of `kind` about `host`, written now.
    pub fn new(kind: &'static str, host: &'a str) -> Self {
        Envelope {
            kind,
            schema_version: schema_version(kind),
            portreeve_version: env!("CARGO_PKG_VERSION"),
            host,
            generated_at: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        }
    }
}

/// Writes a listing document: the envelope of `kind` about this host, plus
/// `fields` (name → value), as JSON on standard output.
/// The members are written in name order, as a JSON object's are, by
/// reference: `simulate`'s lists run to tens of thousands of objects, and
/// copying them into one document took a tenth of a second.
pub fn emit_listing(kind: &'static str, fields: &[(&str, serde_json::Value)]) {
    let host = host_name();
    let envelope = serde_json::to_value(Envelope::new(kind, &host)).expect("envelopes serialise");
    let mut doc: std::collections::BTreeMap<&str, &serde_json::Value> = envelope
        .as_object()
        .expect("an envelope is an object")
        .iter()
        .map(|(name, value)| (name.as_str(), value))
        .collect();
    for (name, value) in fields {
        doc.insert(name, value);
    }
    super::emit_json(&doc);
}

/// `value` as a JSON value (portreeve's types always serialise).
pub fn to_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("portreeve's documents serialise")
}

/// This host's name (`uname -n`).
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// `portreeve inventory --format json`.
#[derive(Debug, Serialize)]
pub struct InventoryDocument<'a> {
    /// Kind `portreeve.inventory`, version, host, time.
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    /// Namespaces examined.
    pub namespaces: &'a [NetnsRef],
    /// The sockets.
    pub sockets: &'a [ListeningSocket],
    /// Ports DNAT rules publish to containers or other hosts.
    pub published: &'a [portreeve_enforce::published::PublishedPort],
}

/// What `check --inventory FILE` reads back from an inventory document.
#[derive(Debug, Deserialize)]
pub struct SavedInventory {
    /// Must be `portreeve.inventory`.
    pub kind: String,
    /// Must be a version this build reads.
    pub schema_version: u32,
    /// Host the inventory was taken on.
    pub host: String,
    /// The sockets.
    pub sockets: Vec<ListeningSocket>,
}

/// `portreeve check --format json`.
#[derive(Debug, Serialize)]
pub struct CheckDocument<'a> {
    /// Kind `portreeve.check`, version, host, time.
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    /// The policy judged against.
    pub policy: super::policy::PolicyInfo<'a>,
    /// Counts.
    pub summary: Summary,
    /// The findings, most severe first.
    pub findings: &'a [Finding],
    /// With `--scan`: every port where something listens or the scan got
    /// in, with both views joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachability: Option<&'a [portreeve_policy::JoinedPort]>,
    /// A check of this host (not of a saved inventory): the ports DNAT
    /// rules publish, each with what the policy judged does to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Vec<JudgedPublished<'a>>>,
}

/// `check`'s summary without its socket counts, for reports about things
/// other than this host's sockets (`k8s check`, `cloud check`).
#[derive(Debug, Serialize)]
pub struct FindingCounts<'a> {
    /// Findings reported and not accepted.
    pub findings: usize,
    /// Of those, per severity.
    pub by_severity: &'a std::collections::BTreeMap<portreeve_core::Severity, usize>,
    /// The most severe of those, if any.
    pub highest: Option<portreeve_core::Severity>,
    /// Findings an accepted risk covers.
    pub accepted: usize,
}

impl<'a> FindingCounts<'a> {
    /// The counts of `summary`.
    pub fn of(summary: &'a Summary) -> FindingCounts<'a> {
        FindingCounts {
            findings: summary.findings,
            by_severity: &summary.by_severity,
            highest: summary.highest,
            accepted: summary.accepted,
        }
    }
}

/// A port published by DNAT and what the policy does to it.
#[derive(Debug, Serialize)]
pub struct JudgedPublished<'a> {
    /// The port, its DNAT rule and where it leads.
    #[serde(flatten)]
    pub port: &'a portreeve_enforce::published::PublishedPort,
    /// `allowed`, `partly_allowed`, `closed` or `banned`; absent when the
    /// policy does not compile to a ruleset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<portreeve_enforce::PublishedVerdict>,
}

/// `kind` of `apply --format json`'s document.
pub const APPLY_KIND: &str = "portreeve.apply";
/// `kind` of `confirm --format json`'s document.
pub const CONFIRM_KIND: &str = "portreeve.confirm";
/// `kind` of `rollback --format json`'s document.
pub const ROLLBACK_KIND: &str = "portreeve.rollback";
/// `kind` of `grant --format json`'s document.
pub const GRANT_KIND: &str = "portreeve.grant";
/// `kind` of `usage --by-source --format json`'s document.
pub const USAGE_BY_SOURCE_KIND: &str = "portreeve.usage-by-source";
/// `kind` of `revoke --format json`'s document.
pub const REVOKE_KIND: &str = "portreeve.revoke";

/// `kind` of `identity new --format json`'s document.
pub const IDENTITY_KIND: &str = "portreeve.identity";
/// `kind` of `propose --format json`'s document.
pub const PROPOSAL_KIND: &str = "portreeve.proposal";
/// `kind` of `approve --format json`'s document.
pub const APPROVAL_KIND: &str = "portreeve.approval";

/// `kind` of a `plan --format json` document.
pub const PLAN_KIND: &str = "portreeve.plan";

/// `portreeve plan --format json`: what `apply` would change, and what else
/// decides traffic.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    /// Kind `portreeve.plan`, version, host, time.
    #[serde(flatten)]
    pub envelope: Envelope<'a>,
    /// The candidate policy.
    pub policy: super::policy::PolicyInfo<'a>,
    /// The live generation, if any.
    pub live_generation: Option<u64>,
    /// Whether applying would change the firewall (what `--exit-code`
    /// reports).
    pub changes: bool,
    /// What applying changes, in words: ports opening and closing to
    /// zones, grants carried over.
    pub summary: &'a [portreeve_app::plan_summary::SummaryLine],
    /// The ruleset lines applying would add and remove.
    pub diff: PlanDiff<'a>,
    /// A generation is recorded as live but its table is not in the kernel.
    pub table_missing: bool,
    /// How the table in the kernel differs from the live generation's
    /// ruleset, one line each.
    pub drift: &'a [String],
    /// Management paths the ruleset would cut: apply would refuse it.
    pub lockouts: Vec<PlanLockout<'a>>,
    /// The text report's lines on other firewalls, headings included.
    pub other_firewalls: Vec<&'a str>,
    /// One line per port published by DNAT, with what the candidate does
    /// to it.
    pub published: Vec<&'a str>,
}

/// The changed lines of a unified diff, without their `+`/`-` marks.
#[derive(Debug, Serialize)]
pub struct PlanDiff<'a> {
    /// Lines only the candidate's ruleset has.
    pub added: Vec<&'a str>,
    /// Lines only the live ruleset has.
    pub removed: Vec<&'a str>,
}

impl<'a> PlanDiff<'a> {
    /// The changed lines of `unified` (empty when it is empty). The file
    /// headers (`---`, `+++`) come before the first hunk and are skipped.
    pub fn of(unified: &'a str) -> PlanDiff<'a> {
        let mut diff = PlanDiff {
            added: Vec::new(),
            removed: Vec::new(),
        };
        for line in unified.lines().skip_while(|l| !l.starts_with("@@")) {
            if let Some(added) = line.strip_prefix('+') {
                diff.added.push(added);
            } else if let Some(removed) = line.strip_prefix('-') {
                diff.removed.push(removed);
            }
        }
        diff
    }
}

/// A management path the candidate would cut.
#[derive(Debug, Serialize)]
pub struct PlanLockout<'a> {
    /// The source that would lose access (`0.0.0.0/0`: every source).
    pub source: String,
    /// The TCP port it would lose.
    pub port: u16,
    /// `banned` or `not_allowed`.
    pub verdict: &'static str,
    /// Where the path comes from.
    pub why: &'a str,
}

impl<'a> PlanLockout<'a> {
    /// The JSON form of `l`.
    pub fn of(l: &'a portreeve_enforce::guard::Lockout) -> PlanLockout<'a> {
        use portreeve_enforce::Verdict;
        PlanLockout {
            source: l.source.to_string(),
            port: l.port,
            verdict: match l.verdict {
                Verdict::Accepted => "accepted",
                Verdict::Banned => "banned",
                Verdict::NotAllowed => "not_allowed",
            },
            why: &l.why,
        }
    }
}

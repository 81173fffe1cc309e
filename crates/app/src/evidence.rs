//! Evidence packs: one directory that an auditor verifies offline, on a
//! machine without portreeve's state, with nothing but the files in it and
//! a copy of the log's public key obtained some other way.
//!
//! A pack is of this host ([`export`]) or of the fleet a server governs
//! ([`export_fleet`]); both are written by one writer and have one layout.
//! A pack holds a ledger as `ledger.bundle` (this host's, the bytes
//! `portreeve ledger export` writes; or the server's, built from its
//! `GET /api/v1/ledger` pages) and the log's public key as `log.pub`; for
//! every entry the latest signed checkpoint covers, an inclusion proof
//! `proofs/entry-N.json` (what `portreeve ledger prove --index N --size S`
//! prints) tying that change to the checkpoint; the policy in effect —
//! this host's as `policy/in-effect.toml`, byte for byte the text that was
//! applied, with the proposal it was installed on (and its approvals) when
//! there was one; the fleet's as `policy/NAME-vN.toml` and `.json`, each
//! version assigned to hosts or groups with its record and approvals —;
//! the report ([`crate::report`]) as `report.html` and `report.json`;
//! `evidence.json` saying what is where; and `MANIFEST`, the SHA-256 of
//! every other file in `sha256sum` format, so `sha256sum -c MANIFEST`
//! works without portreeve.
//!
//! The MANIFEST only shows that files were not changed by accident: whoever
//! changes a file can change the MANIFEST too. What cannot be forged without
//! the log's signing key is the chain [`verify`] walks: the bundle's signed
//! checkpoint, each proof up to that checkpoint's root from the exact entry
//! text, and each policy text's digest recorded by a ledger entry.
//!
//! A pack is written into a fresh sibling `DIR.tmp-XXXXXX` and renamed to
//! `DIR` only when every file is written and flushed, so an export that
//! fails leaves no half-written pack behind; it refuses a `DIR` that exists
//! and is not empty.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use portreeve_enforce::generations::Status;
use portreeve_ledger::Bundle;
use portreeve_ledger::note::VerifierKey;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::report::{self, ReportRequest};
use crate::state_dir::StateDir;
use crate::{change, policy};

mod fleet;
mod pack;
mod verify;

pub use fleet::export_fleet;
pub use verify::{Verification, verify};

use pack::{Contents, SignedLedger, check_target, pretty};

/// The `kind` of `evidence.json`.
pub const PACK_KIND: &str = "portreeve.evidence-pack";
/// The file listing every other file's SHA-256.
pub const MANIFEST: &str = "MANIFEST";
/// The file describing the pack.
pub const DESCRIPTION: &str = "evidence.json";
/// The exported ledger.
pub const BUNDLE: &str = "ledger.bundle";
/// The log's public key.
pub const LOG_KEY: &str = "log.pub";
/// The policy in effect, as applied.
pub const POLICY: &str = "policy/in-effect.toml";
/// The report, as one self-contained HTML page.
pub const REPORT_HTML: &str = "report.html";
/// The report as JSON (`portreeve.report`).
pub const REPORT_JSON: &str = "report.json";

/// `evidence.json`: what is in the pack and where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Description {
    /// Always [`PACK_KIND`].
    pub kind: String,
    /// Version of this layout (1).
    pub version: u32,
    /// When the pack was written.
    pub created: Timestamp,
    /// Whose pack it is: this host's or the fleet's. Packs written before
    /// the fleet's existed have no `scope` and are the host's.
    #[serde(default)]
    pub scope: Scope,
    /// The ledger's origin: the host's log, or the server's.
    pub origin: String,
    /// The ledger part.
    pub ledger: LedgerPart,
    /// The host's policy in effect when the pack was written; `None` when
    /// none was (nothing applied, or removed with `rollback --to 0`), and
    /// in a fleet's pack, whose policies are in [`Description::fleet`].
    pub policy: Option<PolicyPart>,
    /// A fleet pack's server, key and policies; absent from a host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetPart>,
    /// One inclusion proof per entry the checkpoint covers, in index order.
    pub proofs: Vec<ProofPart>,
    /// The report (this host's or the fleet's) when the pack was written.
    pub report: ReportPart,
}

/// Whose pack it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This host's: its own ledger and policy.
    #[default]
    Host,
    /// The fleet's, read from a server: the server's ledger and the fleet's
    /// policies.
    Fleet,
}

impl Scope {
    /// `host` or `fleet`, as `evidence.json` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Host => "host",
            Scope::Fleet => "fleet",
        }
    }
}

/// What a fleet pack holds beyond the ledger: where it came from, how its
/// key was checked, and the fleet's policies in effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetPart {
    /// The server's URL the pack was read from.
    pub server: String,
    /// Whether the key the server stated was checked, at export, against
    /// one the operator gave (`--key`); `false`: the server's word alone.
    pub key_matched_operator: bool,
    /// Each policy version assigned to hosts or groups, by name and version.
    pub policies: Vec<FleetPolicyPart>,
}

/// One policy version in effect in the fleet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetPolicyPart {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// `sha256:<hex>` of the text: the digest the server's ledger records
    /// when the version is proposed and approved.
    pub sha256: String,
    /// The text's file, `policy/NAME-vN.toml`.
    pub text: String,
    /// The version's record as the server holds it (proposer, approvals,
    /// signature), `policy/NAME-vN.json`.
    pub record: String,
    /// What it is assigned to: `host ID` or `group NAME` (a target
    /// assigned "the latest approved version" is listed with the version
    /// that was latest at export).
    pub assigned_to: Vec<String>,
}

/// Where the ledger is, and the checkpoint every proof is against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerPart {
    /// The bundle's file name.
    pub bundle: String,
    /// The log key's file name.
    pub key: String,
    /// Entries in the bundle.
    pub entries: u64,
    /// Size of the latest signed checkpoint in the bundle.
    pub checkpoint_size: u64,
    /// Its root hash, standard base64 (as in the checkpoint note).
    pub checkpoint_root: String,
}

/// The policy in effect and how it came to be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyPart {
    /// Its file in the pack.
    pub file: String,
    /// `sha256:<hex>` of the text: the digest the ledger's entries record.
    pub sha256: String,
    /// The live generation.
    pub generation: u64,
    /// Its status (`pending`, `applied`, `confirmed`).
    pub status: Status,
    /// Where the text came from when it was applied.
    pub origin: String,
    /// The generation that installed it.
    pub applied_in: u64,
    /// When.
    pub applied_at: Timestamp,
    /// By whom.
    pub applied_by: String,
    /// The approval it was installed on (`proposal N`), if any.
    pub approval: Option<String>,
    /// That proposal's record (with every approval and its signature) and
    /// text, when it was installed on one.
    pub proposal: Option<ProposalPart>,
}

/// A proposal's files in the pack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposalPart {
    /// Its number.
    pub id: u64,
    /// The proposal as stored, with its approvals (JSON).
    pub record: String,
    /// The text it proposed.
    pub text: String,
}

/// One proof and the entry it proves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofPart {
    /// The entry's index.
    pub index: u64,
    /// What it records (`apply`, `grant`, `block`, …).
    pub action: String,
    /// On what.
    pub object: String,
    /// When.
    pub time: Timestamp,
    /// The proof's file.
    pub file: String,
}

/// The report's files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportPart {
    /// The self-contained HTML document.
    pub html: String,
    /// The same report as JSON (`portreeve.report`, or the fleet's
    /// `portreeve.fleet-report`).
    pub json: String,
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The pack.
    pub dir: PathBuf,
    /// What it holds.
    pub description: Description,
    /// Every file, relative to `dir`, MANIFEST last.
    pub files: Vec<String>,
    /// The log's public key (also in `log.pub`).
    pub log_key: VerifierKey,
}

/// Writes the evidence pack of this host into `dir`, which must not exist
/// or be empty.
///
/// Reads the report and the policy in effect first, then signs a
/// checkpoint if entries were appended after the latest one (as `portreeve
/// ledger checkpoint` does), then exports the ledger: every change the
/// report lists, and the entry that applied the policy, are then in the
/// bundle and covered by a signature. A ledger that does not verify
/// against its own key is refused: the pack would promise what it cannot
/// keep.
pub fn export(state: &StateDir, dir: &Path) -> Result<Exported, AppError> {
    check_target(dir)?;
    let ledger = state.existing_ledger()?;
    let report = report::build(state, &ReportRequest::default())?;
    let mut files = Vec::new();
    let policy = match policy::in_effect(state)? {
        None => None,
        Some(p) => {
            let effect = p
                .effect()
                .cloned()
                .expect("the policy in effect says how it came to be");
            files.push((POLICY.into(), p.text.clone().into_bytes()));
            let proposal = match approval_proposal(effect.approval.as_deref()) {
                None => None,
                Some(id) => {
                    let (record, text) = change::proposal(state, id)?;
                    let part = ProposalPart {
                        id,
                        record: format!("policy/proposal-{id}.json"),
                        text: format!("policy/proposal-{id}.toml"),
                    };
                    files.push((part.record.clone(), pretty(&record)));
                    files.push((part.text.clone(), text.into_bytes()));
                    Some(part)
                }
            };
            Some(PolicyPart {
                file: POLICY.into(),
                sha256: p.digest.clone(),
                generation: effect.generation,
                status: effect.status,
                origin: effect.origin,
                applied_in: effect.applied_in,
                applied_at: effect.applied_at,
                applied_by: effect.applied_by,
                approval: effect.approval,
                proposal,
            })
        }
    };

    ledger.checkpoint()?;
    let signed = SignedLedger::check(Bundle::export(ledger)?, ledger.verifier(), |t| {
        AppError::Integrity(format!(
            "the ledger does not verify ({t}); `portreeve ledger verify` shows where, and no evidence pack is written for it"
        ))
    })?;
    let contents = Contents {
        scope: Scope::Host,
        policy,
        fleet: None,
        files,
        report: (report::html(&report), pretty(&report)),
    };
    pack::write(dir, signed, contents)
}

/// The proposal number in an approval reference (`proposal N`).
fn approval_proposal(approval: Option<&str>) -> Option<u64> {
    approval?.strip_prefix("proposal ")?.parse().ok()
}

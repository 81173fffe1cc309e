//! Evidence packs: one directory that an auditor verifies offline, on a
//! machine without portreeve's state, with nothing but the files in it and
//! a copy of the log's public key obtained some other way.
//!
//! A pack holds the ledger as `ledger.bundle` (the bytes `portreeve ledger
//! export` writes) and the log's public key as `log.pub` (what `portreeve
//! ledger key` prints); for every entry the latest signed checkpoint covers,
//! an inclusion proof `proofs/entry-N.json` (what `portreeve ledger prove
//! --index N --size S` prints) tying that change to the checkpoint; the
//! policy in effect as `policy/in-effect.toml`, byte for byte the text that
//! was applied, with the proposal it was installed on (and its approvals)
//! when there was one; this host's report ([`crate::report`]) as
//! `report.html` and `report.json`; `evidence.json` saying what is where; and `MANIFEST`, the SHA-256 of every other file in
//! `sha256sum` format, so `sha256sum -c MANIFEST` works without portreeve.
//!
//! The MANIFEST only shows that files were not changed by accident: whoever
//! changes a file can change the MANIFEST too. What cannot be forged without
//! the log's signing key is the chain [`verify`] walks: the bundle's signed
//! checkpoint, each proof up to that checkpoint's root from the exact entry
//! text, and the policy text's digest recorded by a ledger entry.
//!
//! [`export`] writes into a fresh sibling `DIR.tmp-XXXXXX` and renames it to
//! `DIR` only when every file is written and flushed, so an export that
//! fails leaves no half-written pack behind; it refuses a `DIR` that exists
//! and is not empty.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use jiff::Timestamp;
use portreeve_enforce::generations::Status;
use portreeve_ledger::merkle::{self, InclusionProofDoc};
use portreeve_ledger::note::{Checkpoint, Note, VerifierKey};
use portreeve_ledger::{Bundle, Entry, Trust, Verified, digest};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::report::{self, ReportRequest};
use crate::state_dir::StateDir;
use crate::{change, policy};

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
    /// The host whose ledger this is (the ledger's origin).
    pub origin: String,
    /// The ledger part.
    pub ledger: LedgerPart,
    /// The policy in effect when the pack was written; `None` when none
    /// was (nothing applied, or removed with `rollback --to 0`).
    pub policy: Option<PolicyPart>,
    /// One inclusion proof per entry the checkpoint covers, in index order.
    pub proofs: Vec<ProofPart>,
    /// The report of the host when the pack was written.
    pub report: ReportPart,
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
    /// The same report as JSON (`portreeve.report`).
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
    let mut policy_files = Vec::new();
    let policy = match policy::in_effect(state)? {
        None => None,
        Some(p) => {
            let effect = p
                .effect()
                .cloned()
                .expect("the policy in effect says how it came to be");
            policy_files.push((POLICY.into(), p.text.clone().into_bytes()));
            let proposal = match approval_proposal(effect.approval.as_deref()) {
                None => None,
                Some(id) => {
                    let (record, text) = change::proposal(state, id)?;
                    let part = ProposalPart {
                        id,
                        record: format!("policy/proposal-{id}.json"),
                        text: format!("policy/proposal-{id}.toml"),
                    };
                    policy_files.push((part.record.clone(), pretty(&record)));
                    policy_files.push((part.text.clone(), text.into_bytes()));
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
    let bundle = Bundle::export(ledger)?;
    let key = ledger.verifier();
    let trust = Trust {
        log: key.clone(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    let verified = bundle.verify(&trust).map_err(|t| {
        AppError::Integrity(format!(
            "the ledger does not verify ({t}); `portreeve ledger verify` shows where, and no evidence pack is written for it"
        ))
    })?;
    let latest = verified.latest.clone().ok_or_else(|| {
        AppError::Integrity("the ledger has no signed checkpoint to prove entries against".into())
    })?;

    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            BUNDLE.into(),
            serde_json::to_vec(&bundle).expect("a bundle serialises"),
        ),
        (LOG_KEY.into(), format!("{key}\n").into_bytes()),
        (REPORT_HTML.into(), report::html(&report).into_bytes()),
        (REPORT_JSON.into(), pretty(&report)),
    ];
    files.append(&mut policy_files);

    let mut proofs = Vec::new();
    for (index, line) in (0..latest.size).zip(&bundle.entries) {
        let entry = Entry::parse(line.as_bytes()).map_err(|e| {
            AppError::Integrity(format!("ledger entry {index} does not parse: {e}"))
        })?;
        let proof = ledger.prove_inclusion(index, Some(latest.size))?;
        if proof.root != latest.root {
            return Err(AppError::Integrity(format!(
                "the ledger's tree gives another root at size {} than its signed checkpoint",
                latest.size
            )));
        }
        let file = format!("proofs/entry-{index}.json");
        files.push((file.clone(), pretty(&proof)));
        proofs.push(ProofPart {
            index,
            action: entry.action,
            object: entry.object,
            time: entry.time,
            file,
        });
    }

    let description = Description {
        kind: PACK_KIND.into(),
        version: 1,
        created: Timestamp::now(),
        origin: bundle.origin.clone(),
        ledger: LedgerPart {
            bundle: BUNDLE.into(),
            key: LOG_KEY.into(),
            entries: bundle.entries.len() as u64,
            checkpoint_size: latest.size,
            checkpoint_root: base64(&latest.root),
        },
        policy,
        proofs,
        report: ReportPart {
            html: REPORT_HTML.into(),
            json: REPORT_JSON.into(),
        },
    };
    files.push((DESCRIPTION.into(), pretty(&description)));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let manifest: String = files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect();
    files.push((MANIFEST.into(), manifest.into_bytes()));

    write_pack(dir, &files)?;
    Ok(Exported {
        dir: dir.to_path_buf(),
        description,
        files: files.into_iter().map(|(name, _)| name).collect(),
        log_key: key,
    })
}

/// The proposal number in an approval reference (`proposal N`).
fn approval_proposal(approval: Option<&str>) -> Option<u64> {
    approval?.strip_prefix("proposal ")?.parse().ok()
}

fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("it serialises");
    bytes.push(b'\n');
    bytes
}

fn base64(hash: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    let d = digest(bytes);
    d.strip_prefix("sha256:").unwrap_or(&d).to_string()
}

/// Refuses a target that exists and is not an empty directory, before
/// anything is read or written.
fn check_target(dir: &Path) -> Result<(), AppError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(AppError::Invalid(format!(
                    "{} is not empty: an evidence pack is written only into a new or empty directory, so nothing in it is mistaken for part of the pack",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = parent_of(dir);
            if parent.is_dir() {
                Ok(())
            } else {
                Err(AppError::Invalid(format!(
                    "{}: its parent directory {} does not exist",
                    dir.display(),
                    parent.display()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(AppError::Invalid(format!(
            "{} exists and is not a directory",
            dir.display()
        ))),
        Err(e) => Err(AppError::io(dir)(e)),
    }
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `files` into a fresh `DIR.tmp-XXXXXX` beside `dir`, flushes
/// them, and renames it to `dir` (which rename(2) allows over an empty
/// directory). On any error the temporary directory is removed.
fn write_pack(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), AppError> {
    let parent = parent_of(dir);
    let name = dir
        .file_name()
        .ok_or_else(|| AppError::Invalid(format!("{}: not a directory name", dir.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}.tmp-", name.to_string_lossy()))
        .tempdir_in(&parent)
        .map_err(AppError::io(&parent))?;
    for (rel, bytes) in files {
        let path = tmp.path().join(rel);
        let folder = path.parent().expect("a file in the pack has a folder");
        std::fs::create_dir_all(folder).map_err(AppError::io(folder))?;
        let mut file = std::fs::File::create(&path).map_err(AppError::io(&path))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(AppError::io(&path))?;
    }
    for folder in ["policy", "proofs", ""] {
        let path = tmp.path().join(folder);
        if path.is_dir() {
            sync_dir(&path)?;
        }
    }
    std::fs::rename(tmp.path(), dir).map_err(|e| {
        AppError::Invalid(format!(
            "cannot move the finished pack to {}: {e} (nothing was written there)",
            dir.display()
        ))
    })?;
    // Renamed: nothing is left at the temporary path to remove.
    let _ = tmp.keep();
    sync_dir(&parent)
}

fn sync_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AppError::io(dir))
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The ledger's verification, when the bundle verified.
    pub ledger: Option<Verified>,
    /// Files whose SHA-256 matched the MANIFEST.
    pub files: usize,
    /// Proofs that verified against the signed checkpoint.
    pub proofs: usize,
    /// Whether the policy text's digest is recorded in the ledger.
    pub policy: Option<String>,
    /// Everything wrong, each naming its file; empty when the pack holds.
    pub problems: Vec<String>,
}

impl Verification {
    /// Whether nothing was wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the pack in `dir` against `key` (the log's public key, which
/// the auditor should have obtained independently of the pack; `None`
/// takes the pack's own `log.pub`): every file against the MANIFEST, the
/// bundle's entries and signed checkpoints, each proof from its entry's
/// exact text up to the signed checkpoint's root, and the policy text
/// against the digest the ledger recorded for it.
///
/// A pack that cannot be read as one (no MANIFEST, no `evidence.json`) is
/// an error; anything found wrong inside it is a problem in the result.
pub fn verify(dir: &Path, key: Option<&VerifierKey>) -> Result<Verification, AppError> {
    let mut v = Verification {
        ledger: None,
        files: 0,
        proofs: 0,
        policy: None,
        problems: Vec::new(),
    };
    check_manifest(dir, &mut v)?;

    let description: Description = read_json(dir, DESCRIPTION)?;
    if description.kind != PACK_KIND || description.version != 1 {
        return Err(AppError::Invalid(format!(
            "{}: not a version-1 {PACK_KIND} (kind {:?}, version {})",
            dir.join(DESCRIPTION).display(),
            description.kind,
            description.version
        )));
    }
    let key = match key {
        Some(k) => k.clone(),
        None => read_text(dir, LOG_KEY)?.trim().parse().map_err(|e| {
            AppError::Invalid(format!(
                "{}: not a verifier key: {e}",
                dir.join(LOG_KEY).display()
            ))
        })?,
    };
    let bundle: Bundle = serde_json::from_str(&read_text(dir, BUNDLE)?).map_err(|e| {
        AppError::Invalid(format!(
            "{}: not a ledger bundle: {e}",
            dir.join(BUNDLE).display()
        ))
    })?;
    let trust = Trust {
        log: key,
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    let checkpoint = match bundle.verify(&trust) {
        Ok(verified) => {
            let latest = verified.latest.clone();
            v.ledger = Some(verified);
            latest
        }
        Err(t) => {
            v.problems
                .push(format!("{BUNDLE}: ledger verification failed: {t}"));
            // Proofs are still checked against the checkpoint the bundle
            // claims, so that every problem is reported at once; none of
            // them counts while the bundle itself does not verify.
            claimed_checkpoint(&bundle)
        }
    };
    match checkpoint {
        Some(c) => check_proofs(dir, &description, &bundle, &c, &mut v),
        None => v.problems.push(format!(
            "{BUNDLE}: no signed checkpoint to check proofs against"
        )),
    }
    if let Some(p) = &description.policy {
        check_policy(dir, p, &bundle, &mut v);
    }
    Ok(v)
}

/// The largest checkpoint the bundle holds, signatures unchecked.
fn claimed_checkpoint(bundle: &Bundle) -> Option<Checkpoint> {
    bundle
        .checkpoints
        .iter()
        .filter_map(|n| Note::parse(n).ok())
        .filter_map(|n| Checkpoint::parse_text(&n.text).ok())
        .max_by_key(|c| c.size)
}

/// A file of the pack: one that cannot be read makes the directory not a
/// pack, which is the input's fault.
fn read_text(dir: &Path, rel: &str) -> Result<String, AppError> {
    let path = dir.join(rel);
    std::fs::read_to_string(&path)
        .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, rel: &str) -> Result<T, AppError> {
    let path = dir.join(rel);
    serde_json::from_str(&read_text(dir, rel)?).map_err(|e| {
        AppError::Invalid(format!(
            "{}:{}:{}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

/// Every file listed must be there with its hash, and every file there
/// must be listed.
fn check_manifest(dir: &Path, v: &mut Verification) -> Result<(), AppError> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        AppError::Invalid(format!(
            "{}: {e} (is {} an evidence pack?)",
            manifest_path.display(),
            dir.display()
        ))
    })?;
    let mut listed = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let (hash, rel) = line.split_once("  ").ok_or_else(|| {
            AppError::Invalid(format!(
                "{}:{}: expected `SHA256  FILE`",
                manifest_path.display(),
                n + 1
            ))
        })?;
        let inside = Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) || !inside {
            return Err(AppError::Invalid(format!(
                "{}:{}: expected a SHA-256 in hex and a path inside the pack",
                manifest_path.display(),
                n + 1
            )));
        }
        listed.push(rel.to_string());
        match std::fs::read(dir.join(rel)) {
            Ok(bytes) if sha256_hex(&bytes) == hash => v.files += 1,
            Ok(_) => v.problems.push(format!(
                "{rel}: its SHA-256 does not match the MANIFEST: it was changed after export"
            )),
            Err(e) => v
                .problems
                .push(format!("{rel}: listed in the MANIFEST, {e}")),
        }
    }
    let mut present = Vec::new();
    walk(dir, dir, &mut present)?;
    for rel in present {
        if rel != MANIFEST && !listed.contains(&rel) {
            v.problems.push(format!(
                "{rel}: not listed in the MANIFEST: it was added after export"
            ));
        }
    }
    Ok(())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), AppError> {
    for entry in std::fs::read_dir(dir).map_err(AppError::io(dir))? {
        let entry = entry.map_err(AppError::io(dir))?;
        let path = entry.path();
        // Not followed: a symbolic link in a pack is a file of its own
        // (unlisted), never a way into a loop or out of the pack.
        let is_dir = entry.file_type().map_err(AppError::io(&path))?.is_dir();
        if is_dir {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Each proof must start from the leaf hash of its entry's exact text in
/// the bundle and end at the signed checkpoint's root; every entry the
/// checkpoint covers must have one.
fn check_proofs(
    dir: &Path,
    description: &Description,
    bundle: &Bundle,
    checkpoint: &Checkpoint,
    v: &mut Verification,
) {
    if description.ledger.checkpoint_size != checkpoint.size
        || description.ledger.checkpoint_root != base64(&checkpoint.root)
    {
        v.problems.push(format!(
            "{DESCRIPTION}: names a checkpoint of size {} with root {}, but the bundle's signed checkpoint has size {} and root {}",
            description.ledger.checkpoint_size,
            description.ledger.checkpoint_root,
            checkpoint.size,
            base64(&checkpoint.root)
        ));
    }
    if description.proofs.len() as u64 != checkpoint.size {
        v.problems.push(format!(
            "{DESCRIPTION}: lists {} proofs, but the signed checkpoint covers {} entries",
            description.proofs.len(),
            checkpoint.size
        ));
    }
    for part in &description.proofs {
        let file = &part.file;
        // Only the pack's own layout is read: no path from evidence.json
        // leads anywhere else.
        if *file != format!("proofs/entry-{}.json", part.index) {
            v.problems.push(format!(
                "{DESCRIPTION}: the proof of entry {} is named {file:?}, not proofs/entry-{}.json",
                part.index, part.index
            ));
            continue;
        }
        let proof: InclusionProofDoc = match read_json(dir, file) {
            Ok(p) => p,
            Err(e) => {
                v.problems.push(e.to_string());
                continue;
            }
        };
        let Some(entry) = usize::try_from(part.index)
            .ok()
            .and_then(|i| bundle.entries.get(i))
        else {
            v.problems.push(format!(
                "{file}: proves entry {}, which is not in {BUNDLE}",
                part.index
            ));
            continue;
        };
        let problem = if proof.leaf_idx != part.index {
            Some(format!(
                "proves entry {}, not entry {} as {DESCRIPTION} says",
                proof.leaf_idx, part.index
            ))
        } else if proof.leaf_hash != merkle::leaf_hash(entry.as_bytes()) {
            Some(format!(
                "its leaf hash is not that of entry {} in {BUNDLE}",
                part.index
            ))
        } else if proof.tree_size != checkpoint.size || proof.root != checkpoint.root {
            Some(format!(
                "it is for a tree of {} entries with root {}, not the signed checkpoint (size {}, root {})",
                proof.tree_size,
                base64(&proof.root),
                checkpoint.size,
                base64(&checkpoint.root)
            ))
        } else {
            proof
                .verify()
                .err()
                .map(|e| format!("it does not verify: {e}"))
        };
        match problem {
            Some(p) => v.problems.push(format!("{file}: {p}")),
            None => v.proofs += 1,
        }
    }
}

/// The policy text must have the digest `evidence.json` gives, and that
/// digest must be recorded as the policy in effect by an entry of the
/// signed ledger; the proposal it was installed on must hold the same text.
fn check_policy(dir: &Path, part: &PolicyPart, bundle: &Bundle, v: &mut Verification) {
    let layout = part.file == POLICY
        && part.proposal.as_ref().is_none_or(|p| {
            p.record == format!("policy/proposal-{}.json", p.id)
                && p.text == format!("policy/proposal-{}.toml", p.id)
        });
    if !layout {
        v.problems.push(format!(
            "{DESCRIPTION}: names policy files outside the pack's layout ({POLICY}, policy/proposal-N.json and .toml)"
        ));
        return;
    }
    let text = match std::fs::read(dir.join(&part.file)) {
        Ok(t) => t,
        Err(e) => {
            v.problems.push(format!("{}: {e}", part.file));
            return;
        }
    };
    let actual = digest(&text);
    if actual != part.sha256 {
        v.problems.push(format!(
            "{}: its digest is {actual}, not {} as {DESCRIPTION} records: the text was changed",
            part.file, part.sha256
        ));
        return;
    }
    let recorded = bundle
        .entries
        .iter()
        .filter_map(|line| Entry::parse(line.as_bytes()).ok())
        .find(|e| e.policy.as_deref() == Some(actual.as_str()));
    match recorded {
        Some(e) => v.policy = Some(format!("{actual} (ledger entry {}, {})", e.index, e.action)),
        None => v.problems.push(format!(
            "{}: its digest {actual} is recorded by no entry of {BUNDLE}: this is not a policy the ledger shows in effect",
            part.file
        )),
    }
    if let Some(p) = &part.proposal {
        match std::fs::read(dir.join(&p.text)) {
            Ok(t) if digest(&t) == actual => {}
            Ok(_) => v.problems.push(format!(
                "{}: proposal {} holds another text than {}",
                p.text, p.id, part.file
            )),
            Err(e) => v.problems.push(format!("{}: {e}", p.text)),
        }
        match read_json::<change::Proposal>(dir, &p.record) {
            Ok(record) => check_approvals(p, &record, &actual, bundle, v),
            Err(e) => v.problems.push(e.to_string()),
        }
    }
}

/// The proposal and each approval in its record must be the ledger
/// entries they name: `policy.propose` / `policy.approve` of this proposal
/// and this text, by the identity the record names. (The ledger's
/// verification has already checked every identity's signature on them.)
fn check_approvals(
    part: &ProposalPart,
    record: &change::Proposal,
    policy: &str,
    bundle: &Bundle,
    v: &mut Verification,
) {
    let object = format!("proposal {}", part.id);
    let entry = |index: u64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| bundle.entries.get(i))
            .and_then(|line| Entry::parse(line.as_bytes()).ok())
    };
    let mut claims = vec![(
        "policy.propose",
        record.proposer.as_str(),
        record.ledger_index,
    )];
    claims.extend(
        record
            .approvals
            .iter()
            .map(|a| ("policy.approve", a.identity.as_str(), a.ledger_index)),
    );
    for (action, actor, index) in claims {
        let holds = entry(index).is_some_and(|e| {
            e.action == action
                && e.actor == actor
                && e.object == object
                && e.after.as_deref() == Some(policy)
        });
        if !holds {
            v.problems.push(format!(
                "{}: says {actor}'s {action} of {object} is ledger entry {index}, but {BUNDLE} holds no such entry there",
                part.record
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_target_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("pack");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("notes.txt"), "mine").unwrap();
        let err = check_target(&target).unwrap_err();
        assert!(err.is_input(), "{err}");
        assert!(err.to_string().contains("is not empty"), "{err}");
        assert_eq!(std::fs::read(target.join("notes.txt")).unwrap(), b"mine");
    }

    #[test]
    fn a_pack_is_renamed_into_place_whole_over_an_empty_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("pack");
        std::fs::create_dir(&target).unwrap();
        let files = vec![
            ("a".to_string(), b"1".to_vec()),
            ("proofs/entry-0.json".to_string(), b"{}".to_vec()),
        ];
        write_pack(&target, &files).unwrap();
        assert_eq!(std::fs::read(target.join("a")).unwrap(), b"1");
        assert_eq!(
            std::fs::read(target.join("proofs/entry-0.json")).unwrap(),
            b"{}"
        );
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("pack")]);
    }

    #[test]
    fn a_write_that_fails_halfway_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("pack");
        // `a` is written as a file, so the folder `a/` cannot be made.
        let files = vec![
            ("a".to_string(), b"1".to_vec()),
            ("a/b".to_string(), b"2".to_vec()),
        ];
        assert!(write_pack(&target, &files).is_err());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn manifest_lines_that_leave_the_pack_are_located_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let hash = sha256_hex(b"x");
        std::fs::write(
            tmp.path().join(MANIFEST),
            format!("{hash}  ok\n{hash}  ../outside\n"),
        )
        .unwrap();
        let mut v = Verification {
            ledger: None,
            files: 0,
            proofs: 0,
            policy: None,
            problems: Vec::new(),
        };
        let err = check_manifest(tmp.path(), &mut v).unwrap_err().to_string();
        assert!(err.contains("MANIFEST:2:"), "{err}");
    }
}

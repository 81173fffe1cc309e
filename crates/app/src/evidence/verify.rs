//! `evidence verify`: the checks an auditor runs on a pack, host's or
//! fleet's, with nothing but the pack and the log's key.

use std::path::{Component, Path};

use portreeve_ledger::merkle::{self, InclusionProofDoc};
use portreeve_ledger::note::{Checkpoint, Note, VerifierKey};
use portreeve_ledger::{Bundle, Entry, Trust, Verified, digest};

use super::pack::{base64, sha256_hex};
use super::{
    BUNDLE, DESCRIPTION, Description, LOG_KEY, MANIFEST, PACK_KIND, POLICY, PolicyPart,
    ProposalPart, Scope, fleet,
};
use crate::change;
use crate::error::AppError;

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Whose pack it is, as its `evidence.json` says.
    pub scope: Scope,
    /// A fleet pack's server.
    pub server: Option<String>,
    /// The ledger's verification, when the bundle verified.
    pub ledger: Option<Verified>,
    /// Files whose SHA-256 matched the MANIFEST.
    pub files: usize,
    /// Proofs that verified against the signed checkpoint.
    pub proofs: usize,
    /// A host pack's policy in effect, when its digest is recorded in the
    /// ledger (the digest and the entry).
    pub policy: Option<String>,
    /// A fleet pack's policy versions whose digests the ledger records as
    /// proposed and approved (each with its entries).
    pub policies: Vec<String>,
    /// Everything wrong, each naming its file; empty when the pack holds.
    pub problems: Vec<String>,
}

impl Verification {
    fn new() -> Verification {
        Verification {
            scope: Scope::Host,
            server: None,
            ledger: None,
            files: 0,
            proofs: 0,
            policy: None,
            policies: Vec::new(),
            problems: Vec::new(),
        }
    }

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
    let mut v = Verification::new();
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
    v.scope = description.scope;
    v.server = description.fleet.as_ref().map(|f| f.server.clone());
    let scoped = match description.scope {
        Scope::Host => description.fleet.is_none(),
        Scope::Fleet => description.fleet.is_some() && description.policy.is_none(),
    };
    if !scoped {
        v.problems.push(format!(
            "{DESCRIPTION}: its scope is {}, but it describes {}",
            description.scope.as_str(),
            if description.fleet.is_some() {
                "a fleet's policies"
            } else {
                "a host's policy, or no fleet"
            }
        ));
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
    if let Some(f) = &description.fleet {
        fleet::check_policies(dir, f, &bundle, &mut v);
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

pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    rel: &str,
) -> Result<T, AppError> {
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
    use super::super::pack::{self, SignedLedger};
    use super::*;
    use portreeve_ledger::{Draft, Ledger};

    /// A host pack of a real two-entry ledger, written by the pack writer
    /// into `dir`.
    fn host_pack(dir: &Path) {
        let state = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&state.path().join("ledger")).unwrap();
        for object in ["port 22", "port 443"] {
            ledger.append(Draft::new("grant", "root", object)).unwrap();
        }
        ledger.checkpoint().unwrap();
        let signed =
            SignedLedger::check(Bundle::export(&ledger).unwrap(), ledger.verifier(), |t| {
                AppError::Integrity(t.to_string())
            })
            .unwrap();
        let contents = pack::Contents {
            scope: Scope::Host,
            policy: None,
            fleet: None,
            files: Vec::new(),
            report: ("<!DOCTYPE html>".into(), b"{}".to_vec()),
        };
        pack::write(dir, signed, contents).unwrap();
    }

    /// Replaces `rel` in the pack with `bytes`, and its MANIFEST line.
    fn rewrite(dir: &Path, rel: &str, bytes: &[u8]) {
        std::fs::write(dir.join(rel), bytes).unwrap();
        let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
        let updated: String = manifest
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((_, name)) if name == rel => format!("{}  {rel}\n", sha256_hex(bytes)),
                _ => format!("{l}\n"),
            })
            .collect();
        std::fs::write(dir.join(MANIFEST), updated).unwrap();
    }

    #[test]
    fn a_host_pack_written_before_scopes_existed_still_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pack");
        host_pack(&dir);
        let mut description: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(DESCRIPTION)).unwrap()).unwrap();
        assert_eq!(description["scope"], "host");
        assert!(description.get("fleet").is_none());
        // As written before fleet packs: no `scope` at all.
        description.as_object_mut().unwrap().remove("scope");
        rewrite(
            &dir,
            DESCRIPTION,
            &serde_json::to_vec_pretty(&description).unwrap(),
        );
        let v = verify(&dir, None).unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
        assert_eq!((v.scope, v.proofs, v.server), (Scope::Host, 2, None));
    }

    #[test]
    fn a_pack_whose_scope_contradicts_its_contents_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pack");
        host_pack(&dir);
        let mut description: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(DESCRIPTION)).unwrap()).unwrap();
        description["scope"] = "fleet".into();
        rewrite(
            &dir,
            DESCRIPTION,
            &serde_json::to_vec_pretty(&description).unwrap(),
        );
        let v = verify(&dir, None).unwrap();
        assert_eq!(
            v.problems,
            ["evidence.json: its scope is fleet, but it describes a host's policy, or no fleet"]
        );
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
        let mut v = Verification::new();
        let err = check_manifest(tmp.path(), &mut v).unwrap_err().to_string();
        assert!(err.contains("MANIFEST:2:"), "{err}");
    }
}

//! The one writer of evidence packs, for this host's and the fleet's
//! alike: the ledger bundle that verified, its key, one inclusion proof per
//! entry its signed checkpoint covers, the files of the pack's scope,
//! `evidence.json` and the `MANIFEST`, written into a temporary sibling
//! directory and renamed into place whole.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use jiff::Timestamp;
use portreeve_ledger::merkle::{InclusionProofDoc, MemoryTree, leaf_hash};
use portreeve_ledger::note::{Checkpoint, VerifierKey};
use portreeve_ledger::{Bundle, Entry, Tamper, Trust, digest};
use serde::Serialize;

use super::{
    BUNDLE, DESCRIPTION, Description, Exported, FleetPart, LOG_KEY, LedgerPart, MANIFEST,
    PACK_KIND, PolicyPart, ProofPart, REPORT_HTML, REPORT_JSON, ReportPart, Scope,
};
use crate::error::AppError;

/// Files of a pack: each path relative to the pack, and its bytes.
pub(super) type Files = Vec<(String, Vec<u8>)>;

/// A ledger bundle that verified against its log key, with the latest
/// signed checkpoint every proof of the pack is against.
pub(super) struct SignedLedger {
    pub bundle: Bundle,
    pub key: VerifierKey,
    pub latest: Checkpoint,
}

impl SignedLedger {
    /// Verifies `bundle` against `key`; a bundle that does not verify is
    /// refused with the error `refuse` makes of what is wrong: a pack of
    /// it would promise what it cannot keep. So is one without a signed
    /// checkpoint, which leaves nothing to prove entries against.
    pub fn check(
        bundle: Bundle,
        key: VerifierKey,
        refuse: impl FnOnce(Tamper) -> AppError,
    ) -> Result<SignedLedger, AppError> {
        let trust = Trust {
            log: key.clone(),
            witnesses: Vec::new(),
            min_witnesses: 0,
        };
        let verified = bundle.verify(&trust).map_err(refuse)?;
        let latest = verified.latest.ok_or_else(|| {
            AppError::Integrity(
                "the ledger has no signed checkpoint to prove entries against".into(),
            )
        })?;
        Ok(SignedLedger {
            bundle,
            key,
            latest,
        })
    }
}

/// What a pack holds beside its ledger: whose it is, its policy part,
/// and its report.
pub(super) struct Contents {
    /// This host's or the fleet's.
    pub scope: Scope,
    /// A host's policy in effect.
    pub policy: Option<PolicyPart>,
    /// A fleet's server, key check and policies.
    pub fleet: Option<FleetPart>,
    /// The policy files `policy` or `fleet` name.
    pub files: Files,
    /// The report, as HTML and as JSON.
    pub report: (String, Vec<u8>),
}

/// Writes the pack into `dir` (checked with [`check_target`] before
/// anything was read): `ledger` as the bundle, its key and the proofs,
/// then the files of `contents`, then `evidence.json` describing all of
/// them, then the MANIFEST over all of them.
pub(super) fn write(
    dir: &Path,
    ledger: SignedLedger,
    contents: Contents,
) -> Result<Exported, AppError> {
    let SignedLedger {
        bundle,
        key,
        latest,
    } = ledger;
    let Contents {
        scope,
        policy,
        fleet,
        mut files,
        report: (html, json),
    } = contents;
    files.push((REPORT_HTML.into(), html.into_bytes()));
    files.push((REPORT_JSON.into(), json));
    files.push((
        BUNDLE.into(),
        serde_json::to_vec(&bundle).expect("a bundle serialises"),
    ));
    files.push((LOG_KEY.into(), format!("{key}\n").into_bytes()));

    // The tree is rebuilt from the bundle's exact entry texts: the proofs
    // are then of what the pack holds, whoever kept the ledger.
    let covered = usize::try_from(latest.size).unwrap_or(usize::MAX);
    let tree = MemoryTree::from_leaves(
        bundle
            .entries
            .iter()
            .take(covered)
            .map(|line| leaf_hash(line.as_bytes())),
    );
    let mut proofs = Vec::new();
    for (index, line) in (0..latest.size).zip(&bundle.entries) {
        let entry = Entry::parse(line.as_bytes()).map_err(|e| {
            AppError::Integrity(format!("ledger entry {index} does not parse: {e}"))
        })?;
        let proof = InclusionProofDoc::generate(&tree, index, latest.size).map_err(|e| {
            AppError::Integrity(format!("no inclusion proof of ledger entry {index}: {e}"))
        })?;
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
        scope,
        origin: bundle.origin.clone(),
        ledger: LedgerPart {
            bundle: BUNDLE.into(),
            key: LOG_KEY.into(),
            entries: bundle.entries.len() as u64,
            checkpoint_size: latest.size,
            checkpoint_root: base64(&latest.root),
        },
        policy,
        fleet,
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

    write_files(dir, &files)?;
    Ok(Exported {
        dir: dir.to_path_buf(),
        description,
        files: files.into_iter().map(|(name, _)| name).collect(),
        log_key: key,
    })
}

/// Pretty JSON with a final newline, as every JSON file of a pack is.
pub(super) fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("it serialises");
    bytes.push(b'\n');
    bytes
}

/// A hash in standard base64, as checkpoint notes write roots.
pub(super) fn base64(hash: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hash)
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    let d = digest(bytes);
    d.strip_prefix("sha256:").unwrap_or(&d).to_string()
}

/// Refuses a target that exists and is not an empty directory, before
/// anything is read or written.
pub(super) fn check_target(dir: &Path) -> Result<(), AppError> {
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
fn write_files(dir: &Path, files: &Files) -> Result<(), AppError> {
    let parent = parent_of(dir);
    let name = dir
        .file_name()
        .ok_or_else(|| AppError::Invalid(format!("{}: not a directory name", dir.display())))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}.tmp-", name.to_string_lossy()))
        .tempdir_in(&parent)
        .map_err(AppError::io(&parent))?;
    let mut folders = vec![tmp.path().to_path_buf()];
    for (rel, bytes) in files {
        let path = tmp.path().join(rel);
        let folder = path.parent().expect("a file in the pack has a folder");
        std::fs::create_dir_all(folder).map_err(AppError::io(folder))?;
        if !folders.iter().any(|f| f == folder) {
            folders.push(folder.to_path_buf());
        }
        let mut file = std::fs::File::create(&path).map_err(AppError::io(&path))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(AppError::io(&path))?;
    }
    // Deepest first, the pack's own folder last.
    for folder in folders.iter().rev() {
        sync_dir(folder)?;
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
            ("policy/web-v1.toml".to_string(), b"x".to_vec()),
        ];
        write_files(&target, &files).unwrap();
        assert_eq!(std::fs::read(target.join("a")).unwrap(), b"1");
        assert_eq!(
            std::fs::read(target.join("proofs/entry-0.json")).unwrap(),
            b"{}"
        );
        assert_eq!(
            std::fs::read(target.join("policy/web-v1.toml")).unwrap(),
            b"x"
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
        assert!(write_files(&target, &files).is_err());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}

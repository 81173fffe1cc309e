//! An exported ledger: everything an auditor needs to verify it offline,
//! with nothing but the log's public key obtained some other way.

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::store::{self, Ledger, LedgerError};
use crate::verify::{Tamper, Trust, Verified, verify, verify_with_copies};

/// The `format` value of a bundle.
pub const BUNDLE_FORMAT: &str = "portreeve.ledger-bundle";

/// Entries and checkpoints exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Bundle version (1).
    pub version: u32,
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key, for reference only: a verifier must obtain
    /// the key independently, or the bundle proves nothing.
    pub log_key: String,
    /// Every entry, as its canonical JSON text.
    pub entries: Vec<String>,
    /// Every stored checkpoint note, in stored order.
    pub checkpoints: Vec<String>,
}

impl Bundle {
    /// Exports `ledger` as it is now.
    pub fn export(ledger: &Ledger) -> Result<Bundle, LedgerError> {
        // Read together under the lock: every checkpoint then covers only
        // entries that are in the file, and none is half-written.
        let (checkpoints, bytes) = ledger.checkpoints_and_entries()?;
        let text = String::from_utf8(bytes).map_err(|e| LedgerError::Invalid {
            path: ledger.dir().join("entries.jsonl"),
            message: format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
        })?;
        Ok(Bundle {
            format: BUNDLE_FORMAT.into(),
            version: 1,
            origin: ledger.origin(),
            log_key: ledger.verifier().to_string(),
            entries: text.lines().map(str::to_string).collect(),
            checkpoints,
        })
    }

    /// Verifies the bundle against `trust` (whose log key the auditor
    /// obtained independently).
    pub fn verify(&self, trust: &Trust) -> Result<Verified, Tamper> {
        if self.format != BUNDLE_FORMAT || self.version != 1 {
            return Err(Tamper {
                position: None,
                checkpoint: None,
                message: format!(
                    "not a version-1 {BUNDLE_FORMAT} (format {:?}, version {})",
                    self.format, self.version
                ),
            });
        }
        let lines: Vec<&[u8]> = self.entries.iter().map(|e| e.as_bytes()).collect();
        verify(&lines, &self.checkpoints, trust, &|_| None)
    }
}

/// Verifies the ledger in directory `dir` as it lies on disk, without
/// opening it for appending (which a damaged ledger would refuse): its
/// entries, its checkpoints, and the copies of the latest checkpoint.
pub fn verify_dir(dir: &Path, trust: &Trust) -> Result<Result<Verified, Tamper>, LedgerError> {
    let contents = store::read_contents(dir)?;
    // A final piece without its newline is an append in progress.
    let mut lines: Vec<&[u8]> = contents.entries.split(|&b| b == b'\n').collect();
    lines.pop();
    Ok(verify_with_copies(
        &lines,
        &contents.checkpoints,
        &contents.copies,
        trust,
        &store::recorded_leaves(dir),
    ))
}

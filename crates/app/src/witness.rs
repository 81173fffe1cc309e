//! Witnessing: a witness countersigns this host's latest ledger checkpoint
//! only after checking that the log did not go backwards, did not change
//! its key, and is consistent with the last checkpoint it signed.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use portreeve_ledger::merkle;
use portreeve_ledger::note::{Checkpoint, KeyKind, Note, SignerKey};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state_dir::StateDir;

/// What a witness remembers per log: the last checkpoint it signed, and
/// the log key it first saw (pinned, so a swapped key is noticed).
#[derive(Serialize, Deserialize, Default)]
struct WitnessState {
    logs: BTreeMap<String, Witnessed>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Witnessed {
    log_key: String,
    size: u64,
    root: String,
}

/// Countersigns the ledger's latest checkpoint with the witness key in
/// `key_file`, remembering what it signed in `memory`; returns the
/// checkpoint with every signature it now carries.
pub fn cosign(state: &StateDir, key_file: &Path, memory: &Path) -> Result<Note, AppError> {
    let key_text = std::fs::read_to_string(key_file).map_err(|e| {
        AppError::Invalid(format!(
            "cannot read witness key {}: {e}",
            key_file.display()
        ))
    })?;
    let key: SignerKey = key_text.trim().parse().map_err(|e| {
        AppError::Invalid(format!("{}: not a private key: {e}", key_file.display()))
    })?;
    if key.kind() != KeyKind::Cosigner {
        return Err(AppError::Invalid(format!(
            "{} is not a witness (cosigner) key; create one with `portreeve ledger witness-key`",
            key_file.display()
        )));
    }
    let mut remembered: WitnessState = match std::fs::read(memory) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            AppError::Invalid(format!("{}: not a witness state: {e}", memory.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WitnessState::default(),
        Err(e) => return Err(AppError::io(memory)(e)),
    };

    let ledger = state.existing_ledger()?;
    let log_key = ledger.verifier();
    let note = ledger.checkpoint()?;
    let own = |e: String| AppError::Integrity(format!("the log's own checkpoint: {e}"));
    note.verify(std::slice::from_ref(&log_key))
        .map_err(|e| own(e.to_string()))?;
    let checkpoint = Checkpoint::parse_text(&note.text).map_err(|e| own(e.to_string()))?;
    let refuse = |why: String| {
        AppError::Integrity(format!(
            "refusing to cosign {} at size {}: {why}",
            checkpoint.origin, checkpoint.size
        ))
    };
    if let Some(last) = remembered.logs.get(&checkpoint.origin) {
        if last.log_key != log_key.to_string() {
            return Err(refuse(format!(
                "the log's key changed from {} to {log_key}",
                last.log_key
            )));
        }
        if checkpoint.size < last.size {
            return Err(refuse(format!(
                "this witness already signed size {}: the log went backwards",
                last.size
            )));
        }
        let proof = ledger.prove_consistency(last.size, checkpoint.size)?;
        let root1 = root_from_base64(&last.root).map_err(refuse)?;
        merkle::verify_consistency(
            last.size,
            checkpoint.size,
            &proof.proof,
            &root1,
            &checkpoint.root,
        )
        .map_err(|e| {
            refuse(format!(
                "not consistent with size {} signed before: {e}",
                last.size
            ))
        })?;
    }
    let mut cosigned = Note {
        text: note.text.clone(),
        signatures: Vec::new(),
    };
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    cosigned
        .cosign(&key, now)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    ledger.store_note(&cosigned)?;
    remembered.logs.insert(
        checkpoint.origin.clone(),
        Witnessed {
            log_key: log_key.to_string(),
            size: checkpoint.size,
            root: BASE64.encode(checkpoint.root),
        },
    );
    let bytes = serde_json::to_vec_pretty(&remembered).expect("a witness state serialises");
    std::fs::write(memory, bytes).map_err(AppError::io(memory))?;
    let mut all = note;
    all.signatures
        .retain(|s| !cosigned.signatures[0].name.eq(&s.name));
    all.signatures.extend(cosigned.signatures);
    Ok(all)
}

fn root_from_base64(text: &str) -> Result<merkle::Hash, String> {
    BASE64
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("the witness state's root {text:?} is not a base64 SHA-256 hash"))
}

//! The ledger's readers: signed notes, checkpoints and keys, entries and
//! exported bundles, and the files of its own directory.

use std::path::Path;
use std::sync::LazyLock;

use portreeve_ledger::bundle::verify_dir;
use portreeve_ledger::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey, VerifierKey};
use portreeve_ledger::{Bundle, Draft, Entry, Ledger, Trust};

/// Keys whose names fuzzed signature lines may hit, so that verification
/// of known keys (not only the skipping of unknown ones) runs too.
static KEYS: LazyLock<Vec<VerifierKey>> = LazyLock::new(|| {
    [
        ("a", KeyKind::NoteSigner, 1),
        ("a", KeyKind::Cosigner, 1),
        ("w", KeyKind::Cosigner, 2),
    ]
    .into_iter()
    .map(|(name, kind, seed)| {
        SignerKey::from_seed(KeyName::new(name).unwrap(), kind, &[seed; 32]).verifier()
    })
    .collect()
});

/// The readers of signed notes, checkpoints, key names and keys. Notes and
/// checkpoints come from logs and witnesses on the network, and keys from
/// configuration files people edit: no input may panic, and whatever is
/// accepted must write back byte for byte as it was read, since signatures
/// and key IDs are over exact bytes and two encodings of one value would
/// let a peer show different bytes while claiming the same thing.
pub fn signed_note(data: &[u8]) {
    if let Ok(note) = Note::from_bytes(data) {
        assert_eq!(
            note.to_string().as_bytes(),
            data,
            "note does not round-trip"
        );
        // Verification of a parsed note may fail, but must not panic.
        let _ = note.verify(&KEYS);
        if let Ok(checkpoint) = Checkpoint::parse_text(&note.text) {
            assert_eq!(
                checkpoint.to_text(),
                note.text,
                "checkpoint text does not round-trip"
            );
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = Checkpoint::parse_text(text) {
        assert_eq!(checkpoint.to_text(), text, "checkpoint does not round-trip");
        checkpoint
            .check()
            .expect("a parsed checkpoint passes check()");
        assert_eq!(
            checkpoint
                .to_note()
                .expect("a parsed checkpoint makes a note")
                .text,
            text
        );
    }
    if let Ok(key) = text.parse::<VerifierKey>() {
        assert_eq!(key.to_string(), text, "verifier key does not round-trip");
    }
    if let Ok(key) = text.parse::<SignerKey>() {
        assert_eq!(key.to_string(), text, "signer key does not round-trip");
        let verifier = key.verifier();
        assert_eq!(verifier.key_id(), key.key_id());
        assert_eq!(
            verifier.to_string().parse::<VerifierKey>().as_ref(),
            Ok(&verifier)
        );
    }
    if let Ok(name) = text.parse::<KeyName>() {
        assert_eq!(name.as_str(), text);
    }
}

/// What `ledger verify --bundle` reads from an auditor's file and what the
/// ledger reads back from disk. Entry lines must parse only in their
/// canonical form (and then write back byte for byte); bundles must verify
/// or be refused with a located error, never panic.
pub fn ledger_records(data: &[u8]) {
    if let Ok(entry) = Entry::parse(data) {
        assert_eq!(
            entry.to_canonical(),
            data,
            "an entry parsed from non-canonical bytes"
        );
        let _ = entry.verify_attestation();
    }
    if let Ok(bundle) = serde_json::from_slice::<Bundle>(data) {
        let key = SignerKey::from_seed(
            "fuzz/portreeve".parse().unwrap(),
            KeyKind::NoteSigner,
            &[7; 32],
        );
        let trust = Trust {
            log: key.verifier(),
            witnesses: Vec::new(),
            min_witnesses: 0,
        };
        if let Err(t) = bundle.verify(&trust) {
            assert!(!t.message.is_empty());
        }
    }
}

/// A ledger of a few entries with checkpoints, made once; every input works
/// on a copy of it.
struct Template {
    _dir: tempfile::TempDir,
    files: Vec<(String, Vec<u8>)>,
    trust: Trust,
}

static TEMPLATE: LazyLock<Template> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(&path).unwrap();
    for i in 0..5 {
        ledger
            .append(Draft::new("grant", "alice", format!("port {i}")))
            .unwrap();
        ledger.checkpoint().unwrap();
    }
    let trust = Trust {
        log: ledger.verifier(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    drop(ledger);
    let files = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    Template {
        _dir: dir,
        files,
        trust,
    }
});

/// Header bytes of `tree.bin` that hold the copy (see the ledger's store).
const TREE_HEADER: usize = 4096;

fn copy_template(to: &Path) {
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(to)
        .unwrap();
    for (name, bytes) in &TEMPLATE.files {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

/// What the ledger reads back from its own directory, where a local root
/// may have put anything: the copy of the latest checkpoint
/// (`checkpoint.latest`), the header of the tree cache (`tree.bin`), and the
/// tail of `checkpoints.jsonl`. The first input byte picks the file, the
/// rest replaces it (or its header). Verifying and opening must not panic;
/// a refusal must say what it refuses; and nothing may be signed over a
/// ledger that `verify` does not accept.
pub fn ledger_files(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("ledger");
    copy_template(&dir);
    match which % 3 {
        0 => std::fs::write(dir.join("checkpoint.latest"), bytes).unwrap(),
        1 => {
            let mut tree = std::fs::read(dir.join("tree.bin")).unwrap();
            let n = bytes.len().min(TREE_HEADER).min(tree.len());
            tree[..n].copy_from_slice(&bytes[..n]);
            std::fs::write(dir.join("tree.bin"), tree).unwrap();
        }
        _ => {
            let mut checkpoints = std::fs::read(dir.join("checkpoints.jsonl")).unwrap();
            let keep = checkpoints.len() / 2;
            checkpoints.truncate(keep);
            checkpoints.extend_from_slice(bytes);
            std::fs::write(dir.join("checkpoints.jsonl"), checkpoints).unwrap();
        }
    }
    let verified = match verify_dir(&dir, &TEMPLATE.trust) {
        Ok(Ok(_)) => true,
        Ok(Err(tamper)) => {
            assert!(!tamper.message.is_empty());
            false
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    };
    match Ledger::open(&dir).and_then(|ledger| {
        ledger.append(Draft::new("grant", "mallory", "after the change"))?;
        ledger.checkpoint()
    }) {
        Ok(_) => assert!(verified, "signed over a ledger that does not verify"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

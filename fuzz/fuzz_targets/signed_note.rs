//! Fuzzes the readers of signed notes, checkpoints, key names and keys.
//! Notes and checkpoints come from logs and witnesses on the network, and
//! keys from configuration files people edit: no input may panic, and
//! whatever is accepted must write back byte for byte as it was read, since
//! signatures and key IDs are over exact bytes and two encodings of one
//! value would let a peer show different bytes while claiming the same
//! thing.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portreeve_ledger::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey, VerifierKey};

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

fuzz_target!(|data: &[u8]| {
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
});

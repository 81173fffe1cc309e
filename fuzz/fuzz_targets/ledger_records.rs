//! Fuzz target: what `ledger verify --bundle` reads from an auditor's file
//! and what the ledger reads back from disk. Entry lines must parse only in
//! their canonical form (and then write back byte for byte); bundles must
//! verify or be refused with a located error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portreeve_ledger::note::{KeyKind, SignerKey};
use portreeve_ledger::{Bundle, Entry, Trust};

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::parse(data) {
        assert_eq!(entry.to_canonical(), data, "an entry parsed from non-canonical bytes");
        let _ = entry.verify_attestation();
    }
    if let Ok(bundle) = serde_json::from_slice::<Bundle>(data) {
        let key = SignerKey::from_seed("fuzz/portreeve".parse().unwrap(), KeyKind::NoteSigner, &[7; 32]);
        let trust = Trust {
            log: key.verifier(),
            witnesses: Vec::new(),
            min_witnesses: 0,
        };
        if let Err(t) = bundle.verify(&trust) {
            assert!(!t.message.is_empty());
        }
    }
});

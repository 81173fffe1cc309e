//! The ledger under failing flushes and damaged caches: an append whose
//! flush fails is not acknowledged, the handle acknowledges nothing after
//! it, and a reopened ledger carries on; a subtree cache (`tree.bin`,
//! `tree.head`) that is damaged or stale is rebuilt from the entries when
//! the ledger is opened.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use portreeve_ledger::merkle::{self, MemoryTree};
use portreeve_ledger::store::PERSIST_EVERY;
use portreeve_ledger::{Draft, Ledger, LedgerError, Trust};

fn draft(i: u64) -> Draft {
    Draft::new("grant", "alice", format!("entry {i}"))
}

/// Verifies the whole directory from nothing but its files; returns how
/// many entries it holds.
fn verified_entries(dir: &Path, ledger: &Ledger) -> u64 {
    let trust = Trust {
        log: ledger.verifier(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    };
    portreeve_ledger::bundle::verify_dir(dir, &trust)
        .unwrap()
        .unwrap_or_else(|t| panic!("verification failed: {t}"))
        .entries
}

/// A tree over the entries file's lines, built from the bytes alone.
fn reference(dir: &Path) -> MemoryTree {
    let bytes = fs::read(dir.join("entries.jsonl")).unwrap();
    MemoryTree::from_leaves(
        bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(merkle::leaf_hash),
    )
}

#[test]
fn a_failed_flush_is_not_acknowledged_sticks_and_a_reopened_ledger_recovers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.append_all((0..3).map(draft).collect()).unwrap();
        ledger.checkpoint().unwrap();
    }
    let failing = Arc::new(AtomicBool::new(true));
    let flushes = Arc::new(AtomicU64::new(0));
    let ledger = {
        let (failing, flushes) = (failing.clone(), flushes.clone());
        Ledger::open_with_flush(
            dir.path(),
            Box::new(move |file: &fs::File| {
                flushes.fetch_add(1, Ordering::SeqCst);
                if failing.load(Ordering::SeqCst) {
                    Err(io::Error::other("injected: the disk failed the flush"))
                } else {
                    file.sync_data()
                }
            }),
        )
        .unwrap()
    };
    // The append waits for its flush, which fails: not acknowledged.
    let err = ledger.append(draft(3)).unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
    // The disk works again, but what this handle wrote is of unknown
    // state: it acknowledges nothing more, appends or checkpoints, and
    // does not even try to flush.
    failing.store(false, Ordering::SeqCst);
    let err = ledger.append(draft(4)).unwrap_err();
    assert!(err.to_string().contains("injected"), "sticky: {err}");
    assert!(matches!(ledger.checkpoint(), Err(LedgerError::Io { .. })));
    assert_eq!(
        flushes.load(Ordering::SeqCst),
        1,
        "no flush after the failure"
    );
    drop(ledger);

    // Reopened, the ledger opens, verifies and appends again.
    let ledger = Ledger::open(dir.path()).unwrap();
    let before = ledger.size().unwrap();
    assert!(
        (3..=5).contains(&before),
        "the acknowledged 3, and at most the 2 written without acknowledgement: {before}"
    );
    let appended = ledger.append(draft(5)).unwrap();
    assert_eq!(appended.index, before);
    ledger.checkpoint().unwrap();
    assert_eq!(verified_entries(dir.path(), &ledger), before + 1);
}

/// A ledger past the first fsynced extent of its subtree cache, closed.
fn cached_ledger(dir: &Path, entries: u64) {
    let ledger = Ledger::open(dir).unwrap();
    let mut next = 0;
    while next < entries {
        let n = (entries - next).min(PERSIST_EVERY);
        ledger
            .append_all((next..next + n).map(draft).collect())
            .unwrap();
        ledger.checkpoint().unwrap();
        next += n;
    }
    assert!(dir.join("tree.head").exists());
}

/// The ledger's roots and proofs agree with a tree built from the entries
/// alone, at several sizes.
#[track_caller]
fn assert_proofs_match(dir: &Path, ledger: &Ledger) {
    let reference = reference(dir);
    let n = reference.size();
    for size in [1, PERSIST_EVERY - 1, PERSIST_EVERY, PERSIST_EVERY + 1, n] {
        assert_eq!(
            ledger.root_at(size).unwrap(),
            merkle::root(&reference, size).unwrap(),
            "root at {size}"
        );
        for index in [0, 1, size / 2, size - 1].into_iter().filter(|&i| i < size) {
            let doc = ledger.prove_inclusion(index, Some(size)).unwrap();
            assert_eq!(
                doc.proof,
                merkle::inclusion_proof(&reference, index, size).unwrap(),
                "inclusion of {index} in {size}"
            );
        }
    }
}

/// The leaves `tree.head` says the cache covers.
fn head_leaves(dir: &Path) -> u64 {
    let head: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("tree.head")).unwrap()).unwrap();
    head["leaves"].as_u64().unwrap()
}

#[test]
fn a_damaged_subtree_cache_is_rebuilt_from_the_entries_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let n = PERSIST_EVERY + 300;
    cached_ledger(dir.path(), n);
    let tree = dir.path().join("tree.bin");
    let good = fs::read(&tree).unwrap();
    // Every cached hash after the header overwritten.
    let mut damaged = good.clone();
    for b in &mut damaged[4096..] {
        *b ^= 0x5a;
    }
    fs::write(&tree, &damaged).unwrap();

    let ledger = Ledger::open(dir.path()).unwrap();
    assert_proofs_match(dir.path(), &ledger);
    // The next append writes the rebuilt cache back.
    ledger.append(draft(n)).unwrap();
    ledger.checkpoint().unwrap();
    let rebuilt = fs::read(&tree).unwrap();
    assert_eq!(
        rebuilt[4096..good.len().min(rebuilt.len())],
        good[4096..good.len().min(rebuilt.len())],
        "the cached hashes are the entries' again"
    );
    assert_eq!(head_leaves(dir.path()), n + 1);
    drop(ledger);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_proofs_match(dir.path(), &ledger);
    assert_eq!(verified_entries(dir.path(), &ledger), n + 1);

    // A cache cut short, and a head that is not JSON: the same.
    fs::write(&tree, &good[..4096 + 64]).unwrap();
    fs::write(dir.path().join("tree.head"), b"{ not json").unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_proofs_match(dir.path(), &ledger);
    ledger.append(draft(n + 1)).unwrap();
    assert_eq!(head_leaves(dir.path()), n + 2);
}

#[test]
fn a_stale_subtree_cache_is_brought_up_to_date_on_open() {
    let dir = tempfile::tempdir().unwrap();
    cached_ledger(dir.path(), PERSIST_EVERY);
    let head = dir.path().join("tree.head");
    let stale = fs::read(&head).unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger
            .append_all((PERSIST_EVERY..2 * PERSIST_EVERY + 10).map(draft).collect())
            .unwrap();
        ledger.checkpoint().unwrap();
    }
    assert_eq!(head_leaves(dir.path()), 2 * PERSIST_EVERY);
    // A head from before (restored from a backup, say): the cache beyond
    // it is hashed again from the entries.
    fs::write(&head, &stale).unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_proofs_match(dir.path(), &ledger);
    ledger.append(draft(2 * PERSIST_EVERY + 10)).unwrap();
    assert_eq!(head_leaves(dir.path()), 2 * PERSIST_EVERY + 11);
    drop(ledger);

    // A head from another ledger altogether: its root matches nothing
    // here, so the cache is not used.
    let other = tempfile::tempdir().unwrap();
    cached_ledger(other.path(), PERSIST_EVERY + 5);
    fs::copy(other.path().join("tree.head"), &head).unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_proofs_match(dir.path(), &ledger);
    assert_eq!(
        verified_entries(dir.path(), &ledger),
        2 * PERSIST_EVERY + 11
    );
}

//! The ledger on disk: numbering, reopening, proofs against an independent
//! in-memory tree, group commit across threads, and repair of torn tails.

use std::fs;
use std::io::Write;
use std::path::Path;

use portreeve_ledger::merkle::{self, MemoryTree};
use portreeve_ledger::store::PERSIST_EVERY;
use portreeve_ledger::{Draft, Ledger, LedgerError, Trust};

fn draft(i: usize) -> Draft {
    let mut d = Draft::new(
        "grant",
        "alice",
        format!("{}/tcp from 10.0.0.0/24", 1000 + i),
    );
    d.reason = Some(format!("test entry {i}"));
    d
}

/// The lines of the entries file, and an in-memory tree over them built
/// from nothing but the bytes.
fn reference(dir: &Path) -> (Vec<Vec<u8>>, MemoryTree) {
    let bytes = fs::read(dir.join("entries.jsonl")).unwrap();
    let lines: Vec<Vec<u8>> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let tree = MemoryTree::from_leaves(lines.iter().map(|l| merkle::leaf_hash(l)));
    (lines, tree)
}

fn trust(ledger: &Ledger) -> Trust {
    Trust {
        log: ledger.verifier(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    }
}

#[test]
fn appends_are_numbered_durable_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        for i in 0..10 {
            let a = ledger.append(draft(i)).unwrap();
            assert_eq!(a.index, i as u64);
            assert_eq!(a.entry.index, i as u64);
        }
        ledger.checkpoint().unwrap();
    }
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.size().unwrap(), 10);
    let (lines, tree) = reference(dir.path());
    assert_eq!(lines.len(), 10);
    assert_eq!(ledger.root_at(10).unwrap(), tree.root());
    assert_eq!(ledger.append(draft(10)).unwrap().index, 10);
    let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust(&ledger))
        .unwrap()
        .unwrap();
    assert_eq!(verified.entries, 11);
    assert_eq!(verified.unsigned_tail, 1);
}

#[test]
fn proofs_match_an_independent_tree_across_the_cache_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let n = PERSIST_EVERY as usize + 700;
    {
        let ledger = Ledger::open(dir.path()).unwrap();
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            ledger
                .append_all(chunk.iter().map(|&i| draft(i)).collect())
                .unwrap();
        }
    }
    assert!(
        dir.path().join("tree.head").exists(),
        "{n} entries persist the subtree cache"
    );
    // Reopened: the cache is read back and the tail re-hashed.
    let ledger = Ledger::open(dir.path()).unwrap();
    let (_, reference) = reference(dir.path());
    assert_eq!(reference.size(), n as u64);
    let sizes = [1, 2, 3, 100, 4095, 4096, 4097, 4500, n as u64];
    for &size in &sizes {
        assert_eq!(
            ledger.root_at(size).unwrap(),
            merkle::root(&reference, size).unwrap()
        );
        for index in [0, size / 3, size - 1] {
            let doc = ledger.prove_inclusion(index, Some(size)).unwrap();
            assert_eq!(
                doc.proof,
                merkle::inclusion_proof(&reference, index, size).unwrap(),
                "inclusion of {index} in {size}"
            );
            doc.verify().unwrap();
        }
        for &size1 in &sizes {
            if size1 <= size {
                let doc = ledger.prove_consistency(size1, size).unwrap();
                assert_eq!(
                    doc.proof,
                    merkle::consistency_proof(&reference, size1, size).unwrap()
                );
                doc.verify().unwrap();
            }
        }
    }
    assert!(matches!(
        ledger.prove_inclusion(n as u64, None),
        Err(LedgerError::Request(_))
    ));
    assert!(matches!(
        ledger.prove_consistency(1, n as u64 + 1),
        Err(LedgerError::Request(_))
    ));
}

#[test]
fn concurrent_appenders_share_commits_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let per_thread = 300;
    let mut indices: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let ledger = &ledger;
                s.spawn(move || {
                    (0..per_thread)
                        .map(|i| ledger.append(draft(t * 1000 + i)).unwrap().index)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    indices.sort_unstable();
    assert_eq!(indices, (0..8 * per_thread as u64).collect::<Vec<_>>());
    ledger.checkpoint().unwrap();
    let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust(&ledger))
        .unwrap()
        .unwrap();
    assert_eq!(verified.entries, 8 * per_thread as u64);
}

#[test]
fn two_handles_on_one_directory_take_turns() {
    // Two opens stand for two processes: each must see the other's appends.
    let dir = tempfile::tempdir().unwrap();
    let a = Ledger::open(dir.path()).unwrap();
    let b = Ledger::open(dir.path()).unwrap();
    for i in 0..20 {
        let which = if i % 3 == 0 { &a } else { &b };
        assert_eq!(which.append(draft(i)).unwrap().index, i as u64);
    }
    assert_eq!(a.size().unwrap(), 20);
    // A handle that wrote the last entries' neighbours but not all of them
    // still signs only what is on disk, and returns.
    let note = a.checkpoint().unwrap();
    assert!(note.text.contains("\n20\n"), "{}", note.text);
    let (_, tree) = reference(dir.path());
    assert_eq!(b.root_at(20).unwrap(), tree.root());
}

/// A ledger of five entries, closed.
fn five_entries() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    for i in 0..5 {
        ledger.append(draft(i)).unwrap();
    }
    dir
}

fn append_raw(dir: &Path, bytes: &[u8]) {
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("entries.jsonl"))
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn a_torn_tail_is_cut_and_appending_resumes() {
    let dir = five_entries();
    let good = fs::metadata(dir.path().join("entries.jsonl"))
        .unwrap()
        .len();
    append_raw(dir.path(), br#"{"action":"grant","actor":"al"#);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.size().unwrap(), 5);
    assert_eq!(
        fs::metadata(dir.path().join("entries.jsonl"))
            .unwrap()
            .len(),
        good
    );
    assert_eq!(ledger.append(draft(5)).unwrap().index, 5);
}

#[test]
fn a_nul_filled_tail_from_a_power_loss_is_cut() {
    let dir = five_entries();
    let good = fs::metadata(dir.path().join("entries.jsonl"))
        .unwrap()
        .len();
    append_raw(dir.path(), &[0u8; 700]);
    append_raw(dir.path(), b"\n");
    append_raw(dir.path(), &[0u8; 300]);
    let ledger = Ledger::open(dir.path()).unwrap();
    assert_eq!(ledger.size().unwrap(), 5);
    assert_eq!(
        fs::metadata(dir.path().join("entries.jsonl"))
            .unwrap()
            .len(),
        good
    );
}

#[test]
fn corruption_in_the_middle_is_reported_never_truncated() {
    let dir = five_entries();
    let path = dir.path().join("entries.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"this is\": not json";
    let broken = lines.join("\n") + "\n";
    fs::write(&path, &broken).unwrap();
    match Ledger::open(dir.path()) {
        Err(LedgerError::Corrupt { position, line, .. }) => {
            assert_eq!((position, line), (2, 3));
        }
        Err(other) => panic!("expected corruption at position 2, got {other}"),
        Ok(_) => panic!("a corrupt ledger opened for appending"),
    }
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        broken,
        "nothing was cut"
    );
}

#[test]
fn opening_a_new_ledger_from_many_processes_at_once_makes_one_key() {
    // Separate opens stand for processes started together on a new
    // ledger: they must agree on one log key, or each would sign with its
    // own and the public key would match only one of them.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let dir = dir.path();
                    s.spawn(move || Ledger::open(dir).unwrap().verifier().to_string())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
        let ledger = Ledger::open(dir.path()).unwrap();
        assert_eq!(ledger.verifier().to_string(), keys[0]);
    }
}

#[test]
fn a_public_key_from_another_ledger_is_refused_on_open() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    Ledger::open(ours.path()).unwrap().append(draft(0)).unwrap();
    let their_key = Ledger::open(theirs.path()).unwrap().verifier().to_string();
    let public = ours.path().join("log.pub");
    fs::copy(theirs.path().join("log.pub"), &public).unwrap();

    // Verification trusting this log.pub would check the wrong key: the
    // ledger does not open, and the file it refused is left as it was.
    match Ledger::open(ours.path()) {
        Err(LedgerError::Invalid { path, message }) => {
            assert_eq!(path, public);
            assert!(
                message.contains("is not the public half of log.key"),
                "{message}"
            );
        }
        Err(other) => panic!("expected the key pair to be refused, got {other}"),
        Ok(_) => panic!("a ledger whose log.pub is another log's opened"),
    }
    assert_eq!(fs::read_to_string(&public).unwrap().trim(), their_key);
}

//! Tampering with any entry or checkpoint makes verification fail and name
//! the first bad position — for every position, every kind of change, in
//! place and in an exported bundle.

use std::fs;
use std::path::Path;

use portreeve_ledger::note::{KeyKind, SignerKey};
use portreeve_ledger::{Bundle, Draft, Ledger, Tamper, Trust};

const ENTRIES: usize = 20;
/// A checkpoint is signed after every this many entries.
const EVERY: usize = 5;

/// A ledger of 20 entries with a checkpoint after every 5, in `dir`.
fn build(dir: &Path) -> Ledger {
    let ledger = Ledger::open(dir).unwrap();
    for i in 0..ENTRIES {
        let mut d = Draft::new(
            "grant",
            "alice",
            format!("{}/tcp from 10.0.0.{i}/32", 8000 + i),
        );
        d.reason = Some(format!("entry {i}"));
        ledger.append(d).unwrap();
        if (i + 1) % EVERY == 0 {
            ledger.checkpoint().unwrap();
        }
    }
    ledger
}

fn trust(ledger: &Ledger) -> Trust {
    Trust {
        log: ledger.verifier(),
        witnesses: Vec::new(),
        min_witnesses: 0,
    }
}

fn lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    fs::write(dir.join("entries.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// Verifies `dir` as it lies on disk.
fn verify_in_place(dir: &Path, trust: &Trust) -> Result<u64, Tamper> {
    portreeve_ledger::bundle::verify_dir(dir, trust)
        .unwrap()
        .map(|v| v.entries)
}

/// Runs `tamper` on a fresh copy of the ledger for every position and
/// checks that verification fails naming `expected(position)`.
fn each_position(
    what: &str,
    positions: std::ops::Range<usize>,
    tamper: impl Fn(&mut Vec<String>, usize),
    expected: impl Fn(usize) -> Option<u64>,
) {
    for p in positions {
        let dir = tempfile::tempdir().unwrap();
        let ledger = build(dir.path());
        let trust = trust(&ledger);
        drop(ledger);
        assert_eq!(verify_in_place(dir.path(), &trust), Ok(ENTRIES as u64));
        let mut l = lines(dir.path());
        tamper(&mut l, p);
        write_lines(dir.path(), &l);
        let err = verify_in_place(dir.path(), &trust)
            .expect_err(&format!("{what} at {p} went unnoticed"));
        assert_eq!(
            err.position,
            expected(p),
            "{what} at {p}: named {:?}: {err}",
            err.position
        );
    }
}

#[test]
fn editing_any_entry_is_found_at_its_position() {
    each_position(
        "editing",
        0..ENTRIES,
        |l, p| l[p] = l[p].replace("\"reason\":\"entry", "\"reason\":\"ENTRY"),
        |p| Some(p as u64),
    );
}

#[test]
fn deleting_any_entry_is_found_at_its_position() {
    each_position(
        "deleting",
        0..ENTRIES,
        |l, p| {
            l.remove(p);
        },
        |p| Some(p as u64),
    );
}

#[test]
fn reordering_entries_is_found_at_the_first_moved_one() {
    each_position(
        "swapping",
        0..ENTRIES - 1,
        |l, p| l.swap(p, p + 1),
        |p| Some(p as u64),
    );
}

#[test]
fn inserting_an_entry_is_found_where_it_was_put() {
    each_position(
        "inserting",
        0..ENTRIES,
        |l, p| {
            // A well-formed entry claiming position p.
            let forged = l[p].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
            l.insert(p, forged);
        },
        // The forged entry parses and claims its place, but its hash is not
        // the one the cache recorded for that position when it was appended.
        |p| Some(p as u64),
    );
}

#[test]
fn the_subtree_cache_names_an_edited_entry_exactly() {
    // With more entries than the cache's first fsync, the leaf hashes
    // recorded at append time name the edited entry itself.
    let n = portreeve_ledger::store::PERSIST_EVERY as usize + 10;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let drafts: Vec<Draft> = (0..n)
        .map(|i| Draft::new("grant", "alice", format!("entry {i}")))
        .collect();
    ledger.append_all(drafts).unwrap();
    ledger.checkpoint().unwrap();
    let trust = trust(&ledger);
    drop(ledger);
    for p in [0usize, 1, 777, 4095] {
        let mut l = lines(dir.path());
        let original = l[p].clone();
        l[p] = l[p].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
        write_lines(dir.path(), &l);
        let err = verify_in_place(dir.path(), &trust).expect_err("an edit went unnoticed");
        assert_eq!(err.position, Some(p as u64), "{err}");
        assert!(
            err.message.contains("changed after it was appended"),
            "{err}"
        );
        l[p] = original;
        write_lines(dir.path(), &l);
    }
}

#[test]
fn truncating_signed_entries_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path());
    let trust = trust(&ledger);
    drop(ledger);
    let mut l = lines(dir.path());
    l.truncate(17);
    write_lines(dir.path(), &l);
    let err = verify_in_place(dir.path(), &trust).unwrap_err();
    assert_eq!(err.position, Some(17), "{err}");
    assert!(err.message.contains("removed"), "{err}");
}

fn checkpoint_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("checkpoints.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn replacing_a_checkpoint_is_found_and_named() {
    for c in 0..ENTRIES / EVERY {
        // A different root under the old signature.
        let dir = tempfile::tempdir().unwrap();
        let ledger = build(dir.path());
        let trust = trust(&ledger);
        drop(ledger);
        let mut cps = checkpoint_lines(dir.path());
        let mut v: serde_json::Value = serde_json::from_str(&cps[c]).unwrap();
        let note = v["note"].as_str().unwrap().to_string();
        let mut note_lines: Vec<&str> = note.split('\n').collect();
        let forged_root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        note_lines[2] = forged_root;
        v["note"] = note_lines.join("\n").into();
        cps[c] = v.to_string();
        fs::write(dir.path().join("checkpoints.jsonl"), cps.join("\n") + "\n").unwrap();
        let err = verify_in_place(dir.path(), &trust).unwrap_err();
        assert_eq!(err.checkpoint, Some(c + 1), "{err}");

        // A checkpoint properly signed by another key.
        let dir = tempfile::tempdir().unwrap();
        let ledger = build(dir.path());
        let trust_real = self::trust(&ledger);
        drop(ledger);
        let other = tempfile::tempdir().unwrap();
        let impostor = build(other.path());
        let mut cps = checkpoint_lines(dir.path());
        cps[c] = checkpoint_lines(other.path())[c].clone();
        fs::write(dir.path().join("checkpoints.jsonl"), cps.join("\n") + "\n").unwrap();
        drop(impostor);
        let err = verify_in_place(dir.path(), &trust_real).unwrap_err();
        assert_eq!(err.checkpoint, Some(c + 1), "{err}");
    }
    // Checkpoints stored out of order.
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path());
    let trust = trust(&ledger);
    drop(ledger);
    let mut cps = checkpoint_lines(dir.path());
    cps.swap(1, 2);
    fs::write(dir.path().join("checkpoints.jsonl"), cps.join("\n") + "\n").unwrap();
    let err = verify_in_place(dir.path(), &trust).unwrap_err();
    assert_eq!(err.checkpoint, Some(3), "{err}");
}

#[test]
fn bundles_verify_offline_and_only_with_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path());
    let bundle = Bundle::export(&ledger).unwrap();
    let text = serde_json::to_string(&bundle).unwrap();
    let read: Bundle = serde_json::from_str(&text).unwrap();
    let verified = read.verify(&trust(&ledger)).unwrap();
    assert_eq!(verified.entries, ENTRIES as u64);
    assert_eq!(verified.latest.unwrap().size, ENTRIES as u64);

    let stranger = SignerKey::generate(ledger.verifier().name().clone(), KeyKind::NoteSigner)
        .unwrap()
        .verifier();
    let err = read
        .verify(&Trust {
            log: stranger,
            witnesses: Vec::new(),
            min_witnesses: 0,
        })
        .unwrap_err();
    assert_eq!(err.checkpoint, Some(1), "{err}");

    let mut edited = read.clone();
    edited.entries.remove(9);
    assert_eq!(
        edited.verify(&trust(&ledger)).unwrap_err().position,
        Some(9)
    );
}

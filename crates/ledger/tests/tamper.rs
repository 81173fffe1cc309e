//! Tampering with any entry or checkpoint makes verification fail and name
//! the first bad position — for every position, every kind of change, in
//! place and in an exported bundle.

use std::fs;
use std::path::Path;

use portreeve_ledger::note::{KeyKind, SignerKey};
use portreeve_ledger::store::MAX_UNSIGNED;
use portreeve_ledger::{Bundle, Draft, Ledger, LedgerError, Tamper, Trust};

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

// ---------------------------------------------------------------------
// A history without its checkpoints (issue 12): whoever can write the
// ledger's files but does not hold the log's key must not be able to
// rewrite or cut it by removing the checkpoints that would contradict it.
// For each case `ledger verify` fails AND the next append refuses, leaving
// the files as they were.
// ---------------------------------------------------------------------

/// The files an append could change, to show a refusal changed nothing.
fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    ["entries.jsonl", "checkpoints.jsonl"]
        .iter()
        .map(|name| (name.to_string(), fs::read(dir.join(name)).ok()))
        .collect()
}

/// Opens the ledger and appends and signs one entry; returns why that was
/// refused, and checks that the refusal changed nothing.
fn append_refused(dir: &Path, what: &str) -> LedgerError {
    let before = snapshot(dir);
    let outcome = Ledger::open(dir).and_then(|ledger| {
        ledger.append(Draft::new("grant", "mallory", "after the tampering"))?;
        ledger.checkpoint()
    });
    let err = match outcome {
        Ok(note) => panic!("{what}: appended and signed over it:\n{}", note.text),
        Err(e) => e,
    };
    assert!(
        matches!(err, LedgerError::Tampered { .. }),
        "{what}: refused for another reason: {err}"
    );
    assert_eq!(snapshot(dir), before, "{what}: the refusal changed files");
    err
}

fn remove_if_there(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// A fresh 20-entry ledger (checkpoints at 5, 10, 15, 20) and its trust.
fn fresh() -> (tempfile::TempDir, Trust) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path());
    let trust = trust(&ledger);
    drop(ledger);
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(ENTRIES as u64));
    (dir, trust)
}

#[test]
fn editing_an_entry_and_deleting_the_checkpoints_is_found_and_refused() {
    for p in [0usize, 7, 19] {
        let (dir, trust) = fresh();
        let mut l = lines(dir.path());
        l[p] = l[p].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
        write_lines(dir.path(), &l);
        fs::remove_file(dir.path().join("checkpoints.jsonl")).unwrap();
        let err = verify_in_place(dir.path(), &trust).expect_err(&format!(
            "entry {p} edited and the checkpoints deleted: verified"
        ));
        assert_eq!(err.position, Some(p as u64), "{err}");
        let refused = append_refused(dir.path(), &format!("entry {p} edited"));
        eprintln!("edited {p}: verify: {err}\n  append: {refused}");
    }
}

#[test]
fn cutting_the_last_entries_and_their_checkpoints_is_found_and_refused() {
    for cut in [1usize, 4, 5, 6, 12, 20] {
        let (dir, trust) = fresh();
        let keep = ENTRIES - cut;
        let mut l = lines(dir.path());
        l.truncate(keep);
        if keep == 0 {
            fs::write(dir.path().join("entries.jsonl"), "").unwrap();
        } else {
            write_lines(dir.path(), &l);
        }
        // Only the checkpoints that still match stay.
        let cps: Vec<String> = checkpoint_lines(dir.path())
            .into_iter()
            .filter(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let size: usize = v["note"]
                    .as_str()
                    .unwrap()
                    .lines()
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                size <= keep
            })
            .collect();
        fs::write(
            dir.path().join("checkpoints.jsonl"),
            cps.iter().map(|c| format!("{c}\n")).collect::<String>(),
        )
        .unwrap();
        let err = verify_in_place(dir.path(), &trust).expect_err(&format!(
            "the last {cut} entries and their checkpoints cut: verified"
        ));
        assert_eq!(err.position, Some(keep as u64), "{err}");
        let refused = append_refused(dir.path(), &format!("{cut} entries cut"));
        eprintln!("cut {cut}: verify: {err}\n  append: {refused}");
    }
}

#[test]
fn deleting_the_checkpoints_alone_is_found_and_refused() {
    let (dir, trust) = fresh();
    fs::remove_file(dir.path().join("checkpoints.jsonl")).unwrap();
    let err = verify_in_place(dir.path(), &trust).expect_err("checkpoints deleted: verified");
    let refused = append_refused(dir.path(), "checkpoints deleted");
    eprintln!("verify: {err}\n  append: {refused}");
    // Emptying the file, or cutting its last lines, is the same.
    let (dir, trust) = fresh();
    fs::write(dir.path().join("checkpoints.jsonl"), "").unwrap();
    verify_in_place(dir.path(), &trust).expect_err("checkpoints emptied: verified");
    append_refused(dir.path(), "checkpoints emptied");
    let (dir, trust) = fresh();
    let cps = checkpoint_lines(dir.path());
    fs::write(
        dir.path().join("checkpoints.jsonl"),
        cps[..2].join("\n") + "\n",
    )
    .unwrap();
    verify_in_place(dir.path(), &trust).expect_err("last checkpoints cut: verified");
    append_refused(dir.path(), "last checkpoints cut");
}

#[test]
fn replacing_the_subtree_cache_is_found_and_refused() {
    // An older copy of the cache, taken after 10 entries.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let trust = trust(&ledger);
    for i in 0..ENTRIES {
        ledger
            .append(Draft::new("grant", "alice", format!("entry {i}")))
            .unwrap();
        if (i + 1) % EVERY == 0 {
            ledger.checkpoint().unwrap();
        }
        if i + 1 == 10 {
            fs::copy(
                dir.path().join("tree.bin"),
                dir.path().join("old-tree.bin.saved"),
            )
            .unwrap();
        }
    }
    drop(ledger);
    fs::rename(
        dir.path().join("old-tree.bin.saved"),
        dir.path().join("tree.bin"),
    )
    .unwrap();
    let err = verify_in_place(dir.path(), &trust).expect_err("an older tree.bin: verified");
    let refused = append_refused(dir.path(), "an older tree.bin");
    eprintln!("older tree.bin: verify: {err}\n  append: {refused}");

    // An empty one, and one of another ledger of the same shape.
    let (dir, trust) = fresh();
    fs::write(dir.path().join("tree.bin"), "").unwrap();
    verify_in_place(dir.path(), &trust).expect_err("an empty tree.bin: verified");
    append_refused(dir.path(), "an empty tree.bin");
    let (dir, trust) = fresh();
    let (other, _) = fresh();
    fs::copy(other.path().join("tree.bin"), dir.path().join("tree.bin")).unwrap();
    verify_in_place(dir.path(), &trust).expect_err("another ledger's tree.bin: verified");
    append_refused(dir.path(), "another ledger's tree.bin");

    // An edited entry, the checkpoints deleted, and a cache built over the
    // forged entries (by a ledger with a key of its own).
    let (dir, trust) = fresh();
    let mut l = lines(dir.path());
    l[3] = l[3].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
    write_lines(dir.path(), &l);
    fs::remove_file(dir.path().join("checkpoints.jsonl")).unwrap();
    let forger = tempfile::tempdir().unwrap();
    fs::copy(
        dir.path().join("entries.jsonl"),
        forger.path().join("entries.jsonl"),
    )
    .unwrap();
    let forged = Ledger::open(forger.path()).unwrap();
    forged.checkpoint().unwrap();
    drop(forged);
    for name in ["tree.bin", "tree.head"] {
        remove_if_there(&dir.path().join(name));
        if forger.path().join(name).exists() {
            fs::copy(forger.path().join(name), dir.path().join(name)).unwrap();
        }
    }
    let err = verify_in_place(dir.path(), &trust).expect_err("a forged cache: verified");
    let refused = append_refused(dir.path(), "a forged cache");
    eprintln!("forged cache: verify: {err}\n  append: {refused}");
}

#[test]
fn a_running_writer_refuses_after_its_history_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = build(dir.path());
    let mut l = lines(dir.path());
    l.truncate(15);
    write_lines(dir.path(), &l);
    let cps = checkpoint_lines(dir.path());
    fs::write(
        dir.path().join("checkpoints.jsonl"),
        cps[..3].join("\n") + "\n",
    )
    .unwrap();
    for name in ["tree.bin", "tree.head", "checkpoint.latest"] {
        remove_if_there(&dir.path().join(name));
    }
    let err = ledger
        .append(Draft::new("grant", "mallory", "into the cut"))
        .expect_err("a writer reused a position it had already given out");
    assert!(matches!(err, LedgerError::Tampered { .. }), "{err}");
    eprintln!("running writer: {err}");
    assert_eq!(lines(dir.path()).len(), 15);
}

#[test]
fn an_unsigned_history_longer_than_one_append_is_found_and_refused() {
    // Every copy of every checkpoint deleted: with more entries than one
    // append may leave unsigned, the entries alone do not verify.
    let n = MAX_UNSIGNED as usize + 10;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let trust = trust(&ledger);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        ledger
            .append_all(
                chunk
                    .iter()
                    .map(|i| Draft::new("grant", "alice", format!("entry {i}")))
                    .collect(),
            )
            .unwrap();
        ledger.checkpoint().unwrap();
    }
    drop(ledger);
    for name in [
        "checkpoints.jsonl",
        "checkpoint.latest",
        "tree.bin",
        "tree.head",
    ] {
        remove_if_there(&dir.path().join(name));
    }
    let err = verify_in_place(dir.path(), &trust).expect_err("an unsigned history: verified");
    assert_eq!(err.position, Some(0), "{err}");
    let refused = append_refused(dir.path(), "an unsigned history");
    eprintln!("unsigned: verify: {err}\n  append: {refused}");
}

#[test]
fn what_cannot_be_told_from_an_interrupted_append_is_accepted() {
    // The limit of what the files alone can show (docs/ledger.md): every
    // record of every checkpoint deleted from a ledger no longer than one
    // append looks like a ledger whose only append was interrupted.
    // Witnesses and exported checkpoints are what notice this.
    let (dir, trust) = fresh();
    for name in [
        "checkpoints.jsonl",
        "checkpoint.latest",
        "tree.bin",
        "tree.head",
    ] {
        remove_if_there(&dir.path().join(name));
    }
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(ENTRIES as u64));
}

#[test]
fn a_fresh_ledger_and_an_interrupted_append_verify_and_append() {
    let (dir, trust) = fresh();
    let ledger = Ledger::open(dir.path()).unwrap();
    // An append whose process died before it signed its checkpoint.
    ledger
        .append(Draft::new("grant", "alice", "interrupted"))
        .unwrap();
    drop(ledger);
    let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust)
        .unwrap()
        .unwrap();
    assert_eq!((verified.entries, verified.unsigned_tail), (21, 1));
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.append(Draft::new("grant", "alice", "next")).unwrap();
    ledger.checkpoint().unwrap();
    drop(ledger);
    let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust)
        .unwrap()
        .unwrap();
    assert_eq!((verified.entries, verified.unsigned_tail), (22, 0));
}

#[test]
fn appends_that_never_sign_are_signed_for() {
    // A writer that never signs still leaves at most one append's worth
    // of entries without a checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let trust = trust(&ledger);
    let n = 3 * MAX_UNSIGNED as usize + 17;
    for chunk in (0..n).collect::<Vec<_>>().chunks(700) {
        ledger
            .append_all(
                chunk
                    .iter()
                    .map(|i| Draft::new("grant", "alice", format!("entry {i}")))
                    .collect(),
            )
            .unwrap();
    }
    // And one append larger than that.
    ledger
        .append_all(
            (0..5000)
                .map(|i| Draft::new("grant", "alice", format!("big {i}")))
                .collect(),
        )
        .unwrap();
    drop(ledger);
    let verified = portreeve_ledger::bundle::verify_dir(dir.path(), &trust)
        .unwrap()
        .unwrap();
    assert_eq!(verified.entries, n as u64 + 5000);
    assert!(verified.unsigned_tail <= MAX_UNSIGNED, "{verified:?}");
}

#[test]
fn a_crash_between_a_checkpoint_and_its_copies_is_accepted_and_repaired() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let trust = trust(&ledger);
    ledger.append(Draft::new("grant", "alice", "one")).unwrap();
    ledger.checkpoint().unwrap();
    // The copies as they were before the next checkpoint.
    let latest = fs::read(dir.path().join("checkpoint.latest")).unwrap();
    let mut header = vec![0u8; 4096];
    fs::File::open(dir.path().join("tree.bin"))
        .unwrap()
        .read_exact_at(&mut header, 0)
        .unwrap();
    ledger.append(Draft::new("grant", "alice", "two")).unwrap();
    ledger.checkpoint().unwrap();
    drop(ledger);
    // The process stopped after storing the checkpoint, before its copies.
    fs::write(dir.path().join("checkpoint.latest"), &latest).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("tree.bin"))
        .unwrap()
        .write_all_at(&header, 0)
        .unwrap();
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(2));
    // The next writer brings the copies up to date.
    drop(Ledger::open(dir.path()).unwrap());
    assert_ne!(
        fs::read(dir.path().join("checkpoint.latest")).unwrap(),
        latest
    );
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(2));

    // The first checkpoint, stored before any copy was written.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path()).unwrap();
    let trust = self::trust(&ledger);
    ledger.append(Draft::new("grant", "alice", "one")).unwrap();
    ledger.checkpoint().unwrap();
    drop(ledger);
    fs::remove_file(dir.path().join("checkpoint.latest")).unwrap();
    fs::write(dir.path().join("tree.bin"), "").unwrap();
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(1));
    let ledger = Ledger::open(dir.path()).unwrap();
    ledger.append(Draft::new("grant", "alice", "two")).unwrap();
    ledger.checkpoint().unwrap();
    drop(ledger);
    assert_eq!(verify_in_place(dir.path(), &trust), Ok(2));
}

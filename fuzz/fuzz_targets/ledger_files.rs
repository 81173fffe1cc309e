//! Fuzzes what the ledger reads back from its own directory, where a local
//! root may have put anything: the copy of the latest checkpoint
//! (`checkpoint.latest`), the header of the tree cache (`tree.bin`), and the
//! tail of `checkpoints.jsonl`. The first input byte picks the file, the
//! rest replaces it (or its header). Verifying and opening must not panic;
//! a refusal must say what it refuses; and nothing may be signed over a
//! ledger that `verify` does not accept.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portreeve_ledger::bundle::verify_dir;
use portreeve_ledger::{Draft, Ledger, Trust};

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
        ledger.append(Draft::new("grant", "alice", &format!("port {i}"))).unwrap();
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
    Template { _dir: dir, files, trust }
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

fuzz_target!(|data: &[u8]| {
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
});

//! Replays every committed fuzz input through its target's property: the
//! seed corpora (`fuzz/corpus/TARGET/`) and the inputs that once broke a
//! property (`fuzz/regressions/TARGET/`, each named for what it broke).
//! This is how those inputs keep being checked without cargo-fuzz.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use portreeve_fuzz_props::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly under `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `property` on every file of `fuzz/KIND/TARGET/`; returns how many
/// ran and the failures, one line each.
fn replay(kind: &str) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, property) in TARGETS {
        for file in files(&fuzz_dir().join(kind).join(name)) {
            let input = std::fs::read(&file).unwrap();
            ran += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| property(&input))) {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let file = file.file_name().unwrap().to_string_lossy();
                failures.push(format!("fuzz/{kind}/{name}/{file}: {why}"));
            }
        }
    }
    (ran, failures)
}

#[test]
fn every_fuzz_target_has_its_property_and_a_seed_corpus() {
    let mut targets: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    let names: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(targets, names);
    for name in names {
        assert!(
            !files(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name} has no seeds"
        );
    }
}

#[test]
fn seed_corpora_hold_their_properties() {
    let (ran, failures) = replay("corpus");
    assert!(ran > 0, "no seeds found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn regressions_stay_fixed() {
    let (_, failures) = replay("regressions");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

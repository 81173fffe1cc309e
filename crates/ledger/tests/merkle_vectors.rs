//! The transparency-dev/merkle proof vectors (`testdata/inclusion/**` and
//! `testdata/consistency/**`, kept in `../shared/testdata/merkle`) against
//! portreeve's verifier and generator.
//!
//! Every vector says with `wantErr` whether verification must fail; a vector
//! whose hashes do not even decode (empty, truncated, not 32 bytes) counts as
//! a failure to verify. The happy-path vectors are trees over RFC 6962's
//! reference leaves (and one tree of the single entry `data`), so their
//! proofs are also regenerated with portreeve's generator and compared.
//!
//! The `subtree*` folders use a different scheme and are not run.
//!
//! Skips through the testkit when the data is absent (a failure under
//! `PORTREEVE_REQUIRE_PRIVILEGED=1`).

use std::fs;
use std::path::{Path, PathBuf};

use portreeve_ledger::merkle::{
    ConsistencyProofDoc, Hash, InclusionProofDoc, MemoryTree, Subtrees, consistency_proof,
    inclusion_proof, leaf_hash, root, verify_consistency,
};
use serde_json::Value;

/// RFC 6962's reference leaves, the tree all numbered vector folders use.
const RFC_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];

/// The one vector our typed API cannot express: `wantErr: false` with roots
/// that are the 12-byte strings "don't care 2" (Go compares equal-size roots
/// byte for byte, whatever their length; our `Hash` is 32 bytes, so these do
/// not decode). Checked specially in [`check_divergence`].
const EQUAL_SIZES_NON_HASH_ROOTS: &str =
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

/// The vectors' directory, or `None` (the test skipped through the
/// testkit, a failure in CI) when it is absent.
fn data_dir(test: &str) -> Option<PathBuf> {
    let dir = portreeve_testkit::testdata("merkle");
    portreeve_testkit::skip_unless(
        test,
        dir.is_dir(),
        format_args!("{} is absent", dir.display()),
    )
    .then_some(dir)
}

/// All `*.json` files below `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Trees the happy-path vectors may be over.
fn known_trees() -> Vec<MemoryTree> {
    vec![
        MemoryTree::from_leaves(RFC_LEAVES.iter().map(|e| leaf_hash(e))),
        MemoryTree::from_leaves([leaf_hash(b"data")]),
    ]
}

fn tree_root(t: &MemoryTree, size: u64) -> Option<Hash> {
    (size <= t.size()).then(|| root(t, size).unwrap())
}

#[derive(Default)]
struct Stats {
    happy: usize,
    want_err: usize,
    rejected_by_decoding: usize,
    rejected_by_verifier: usize,
    regenerated: usize,
}

/// The outcome of one vector: `Ok(())` if it verified, else why not.
fn outcome<T: serde::de::DeserializeOwned>(
    v: &Value,
    verify: impl Fn(&T) -> Result<(), String>,
) -> (Option<T>, Result<(), String>) {
    match serde_json::from_value::<T>(v.clone()) {
        Err(e) => (None, Err(format!("does not decode: {e}"))),
        Ok(doc) => {
            let r = verify(&doc);
            (Some(doc), r)
        }
    }
}

/// The happy vector with 12-byte roots: assert exactly the divergence we
/// expect, so a change in the data or in our decoder shows up.
fn check_divergence(name: &str, v: &Value, failures: &mut Vec<String>) {
    let want_err = v["wantErr"].as_bool();
    let equal_roots = v["root1"] == v["root2"];
    let sizes_equal = v["size1"] == v["size2"];
    let decoded = serde_json::from_value::<ConsistencyProofDoc>(v.clone());
    let decode_err = decoded.as_ref().err().map(ToString::to_string);
    if want_err != Some(false)
        || !equal_roots
        || !sizes_equal
        || !decode_err
            .as_deref()
            .is_some_and(|e| e.contains("32 bytes, got 12"))
    {
        failures.push(format!(
            "{name}: expected the known divergence (wantErr false, equal sizes, equal 12-byte roots \
             that do not decode), got wantErr {want_err:?}, decode {decode_err:?}"
        ));
        return;
    }
    // What the vector means does hold for real hashes: equal sizes, equal
    // roots and an empty proof verify.
    let size = v["size1"].as_u64().unwrap();
    let h = leaf_hash(b"stand-in root");
    if let Err(e) = verify_consistency(size, size, &[], &h, &h) {
        failures.push(format!(
            "{name}: equal sizes and roots with 32-byte hashes: {e}"
        ));
    }
}

#[test]
fn transparency_dev_vectors() {
    let Some(dir) = data_dir("transparency_dev_vectors") else {
        return;
    };
    let trees = known_trees();
    let mut failures = Vec::new();
    let mut inclusion = Stats::default();
    let mut consistency = Stats::default();

    for kind in ["inclusion", "consistency"] {
        for path in json_files(&dir.join(kind)) {
            let name = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want_err = v["wantErr"]
                .as_bool()
                .unwrap_or_else(|| panic!("{name}: no boolean wantErr"));
            let stats = if kind == "inclusion" {
                &mut inclusion
            } else {
                &mut consistency
            };
            if want_err {
                stats.want_err += 1;
            } else {
                stats.happy += 1;
            }
            if name == EQUAL_SIZES_NON_HASH_ROOTS {
                check_divergence(&name, &v, &mut failures);
                continue;
            }

            let result = if kind == "inclusion" {
                let (doc, r) = outcome::<InclusionProofDoc>(&v, |d| {
                    d.verify().map_err(|e| format!("rejected: {e}"))
                });
                if let (Some(d), Ok(())) = (&doc, &r) {
                    regenerate_inclusion(&name, d, &trees, stats, &mut failures);
                }
                (doc.is_some(), r)
            } else {
                let (doc, r) = outcome::<ConsistencyProofDoc>(&v, |d| {
                    d.verify().map_err(|e| format!("rejected: {e}"))
                });
                if let (Some(d), Ok(())) = (&doc, &r) {
                    regenerate_consistency(&name, d, &trees, stats, &mut failures);
                }
                (doc.is_some(), r)
            };
            match (want_err, result) {
                (false, (_, Ok(()))) => {}
                (false, (_, Err(why))) => failures.push(format!("{name}: should verify but {why}")),
                (true, (_, Ok(()))) => {
                    failures.push(format!("{name}: wantErr is true but it verified"))
                }
                (true, (decoded, Err(_))) => {
                    if decoded {
                        stats.rejected_by_verifier += 1;
                    } else {
                        stats.rejected_by_decoding += 1;
                    }
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (kind, s) in [("inclusion", &inclusion), ("consistency", &consistency)] {
        assert!(s.happy > 0 && s.want_err > 0, "{kind}: no vectors ran");
        // The verifier itself (not only the decoder) must do the rejecting.
        assert!(
            s.rejected_by_verifier > 0,
            "{kind}: no wantErr vector reached the verifier"
        );
        assert_eq!(
            s.rejected_by_decoding + s.rejected_by_verifier,
            s.want_err,
            "{kind}: every wantErr vector is rejected one way or the other"
        );
    }
    // Every happy-path vector (but the one that cannot decode) is over a
    // tree we know, and our generator reproduced its proof.
    assert_eq!(
        inclusion.regenerated, inclusion.happy,
        "inclusion proofs regenerated"
    );
    assert_eq!(
        consistency.regenerated,
        consistency.happy - 1,
        "consistency proofs regenerated"
    );
}

fn regenerate_inclusion(
    name: &str,
    d: &InclusionProofDoc,
    trees: &[MemoryTree],
    stats: &mut Stats,
    failures: &mut Vec<String>,
) {
    let tree = trees.iter().find(|t| {
        tree_root(t, d.tree_size) == Some(d.root)
            && t.subtree(0, d.leaf_idx).ok() == Some(d.leaf_hash)
    });
    let Some(tree) = tree else {
        failures.push(format!("{name}: happy path is not over a known tree"));
        return;
    };
    match inclusion_proof(tree, d.leaf_idx, d.tree_size) {
        Ok(p) if p == d.proof => stats.regenerated += 1,
        Ok(_) => failures.push(format!(
            "{name}: our inclusion proof differs from the vector's"
        )),
        Err(e) => failures.push(format!("{name}: generating the proof failed: {e}")),
    }
}

fn regenerate_consistency(
    name: &str,
    d: &ConsistencyProofDoc,
    trees: &[MemoryTree],
    stats: &mut Stats,
    failures: &mut Vec<String>,
) {
    let tree = trees
        .iter()
        .find(|t| tree_root(t, d.size1) == Some(d.root1) && tree_root(t, d.size2) == Some(d.root2));
    let Some(tree) = tree else {
        failures.push(format!("{name}: happy path is not over a known tree"));
        return;
    };
    match consistency_proof(tree, d.size1, d.size2) {
        Ok(p) if p == d.proof => stats.regenerated += 1,
        Ok(_) => failures.push(format!(
            "{name}: our consistency proof differs from the vector's"
        )),
        Err(e) => failures.push(format!("{name}: generating the proof failed: {e}")),
    }
}

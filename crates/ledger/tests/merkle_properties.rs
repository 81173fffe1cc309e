//! Properties of the Merkle tree code over random trees: every generated
//! proof verifies against the roots that `CompactTree` and `root()` compute,
//! and tampering with any part of a proof or of what it is checked against
//! makes verification fail.
//!
//! One thing that does *not* hold, and is tested as such: an inclusion or
//! consistency proof does not by itself bind the (new) tree size. The
//! verifier takes the size to decide the path's shape, and for neighbouring
//! sizes with the same shape the same proof reproduces the same root (see
//! `same_root_other_size_can_verify`). That is inherent in RFC 9162; the size
//! and root must come from the same signed checkpoint. Size changes are
//! therefore checked against the roots of the changed size, which is the
//! claim a forger would need.

use portreeve_ledger::merkle::{
    CompactTree, ConsistencyProofDoc, Hash, InclusionProofDoc, MemoryTree, ProofError,
    consistency_proof, empty_root, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;
use std::collections::HashMap;

/// A tree of `n` pseudo-random leaves, distinct per seed.
fn tree(seed: u64, n: u64) -> MemoryTree {
    MemoryTree::from_leaves((0..n).map(|i| {
        let mut entry = [0u8; 16];
        entry[..8].copy_from_slice(&seed.to_le_bytes());
        entry[8..].copy_from_slice(&i.to_le_bytes());
        leaf_hash(&entry)
    }))
}

/// Roots of the prefixes of `t` of the `wanted` sizes (all at most
/// `t.size()`), computed by `CompactTree` while pushing the leaves, each
/// checked against `root()`.
fn prefix_roots(t: &MemoryTree, wanted: &[u64]) -> HashMap<u64, Hash> {
    let mut out = HashMap::new();
    let mut compact = CompactTree::new();
    for size in 0..=t.size() {
        if wanted.contains(&size) {
            let r = compact.root();
            assert_eq!(root(t, size).unwrap(), r, "root() vs CompactTree at {size}");
            out.insert(size, r);
        }
        if size < t.size() {
            compact.push(leaf(t, size), |_, _, _| {});
        }
    }
    assert_eq!(compact.root(), t.root());
    out
}

/// Roots of every prefix of `t`.
fn all_roots(t: &MemoryTree) -> HashMap<u64, Hash> {
    prefix_roots(t, &(0..=t.size()).collect::<Vec<_>>())
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut h = *h;
    h[bit / 8 % 32] ^= 1 << (bit % 8);
    h
}

fn leaf(t: &MemoryTree, i: u64) -> Hash {
    portreeve_ledger::merkle::Subtrees::subtree(t, 0, i).unwrap()
}

/// All the tampering checks for one inclusion proof; `roots` covers sizes
/// up to at least `size + 1`. Returns a description of the first tampering
/// that still verified.
fn inclusion_tamper(
    t: &MemoryTree,
    roots: &HashMap<u64, Hash>,
    index: u64,
    size: u64,
    bit: usize,
) -> Result<(), String> {
    let proof = inclusion_proof(t, index, size).map_err(|e| e.to_string())?;
    let (lh, r) = (leaf(t, index), roots[&size]);
    verify_inclusion(&lh, index, size, &proof, &r).map_err(|e| format!("genuine proof: {e}"))?;
    let must_fail = |what: &str, res: Result<(), ProofError>| match res {
        Ok(()) => Err(format!("{what} still verified ({index} in {size})")),
        Err(_) => Ok(()),
    };
    for i in 0..proof.len() {
        let mut p = proof.clone();
        p[i] = flip(&p[i], bit + 37 * i);
        must_fail(
            "flipped proof hash",
            verify_inclusion(&lh, index, size, &p, &r),
        )?;
    }
    must_fail(
        "flipped root",
        verify_inclusion(&lh, index, size, &proof, &flip(&r, bit)),
    )?;
    must_fail(
        "flipped leaf",
        verify_inclusion(&flip(&lh, bit), index, size, &proof, &r),
    )?;
    must_fail(
        "index + 1",
        verify_inclusion(&lh, index + 1, size, &proof, &r),
    )?;
    if index > 0 {
        must_fail(
            "index - 1",
            verify_inclusion(&lh, index - 1, size, &proof, &r),
        )?;
    }
    let r_up = roots[&(size + 1)];
    must_fail(
        "size + 1",
        verify_inclusion(&lh, index, size + 1, &proof, &r_up),
    )?;
    let r_down = roots[&(size - 1)];
    must_fail(
        "size - 1",
        verify_inclusion(&lh, index, size - 1, &proof, &r_down),
    )?;
    // Dropping or adding a hash.
    if !proof.is_empty() {
        let p = &proof[..proof.len() - 1];
        must_fail("truncated proof", verify_inclusion(&lh, index, size, p, &r))?;
    }
    let mut p = proof.clone();
    p.push(r);
    must_fail("extended proof", verify_inclusion(&lh, index, size, &p, &r))?;
    Ok(())
}

/// All the tampering checks for one consistency proof; `roots` covers sizes
/// up to at least `size2 + 1`.
fn consistency_tamper(
    t: &MemoryTree,
    roots: &HashMap<u64, Hash>,
    size1: u64,
    size2: u64,
    bit: usize,
) -> Result<(), String> {
    let proof = consistency_proof(t, size1, size2).map_err(|e| e.to_string())?;
    let (r1, r2) = (roots[&size1], roots[&size2]);
    verify_consistency(size1, size2, &proof, &r1, &r2)
        .map_err(|e| format!("genuine proof {size1} -> {size2}: {e}"))?;
    let must_fail = |what: &str, res: Result<(), ProofError>| match res {
        Ok(()) => Err(format!("{what} still verified ({size1} -> {size2})")),
        Err(_) => Ok(()),
    };
    for i in 0..proof.len() {
        let mut p = proof.clone();
        p[i] = flip(&p[i], bit + 37 * i);
        must_fail(
            "flipped proof hash",
            verify_consistency(size1, size2, &p, &r1, &r2),
        )?;
    }
    must_fail(
        "flipped root1",
        verify_consistency(size1, size2, &proof, &flip(&r1, bit), &r2),
    )?;
    let flipped_r2 = verify_consistency(size1, size2, &proof, &r1, &flip(&r2, bit));
    if size1 == 0 && size2 > 0 {
        // By design: the empty tree is a prefix of every tree, and nothing
        // about root2 is claimed or checked.
        flipped_r2.map_err(|e| format!("0 -> {size2} must accept any root2: {e}"))?;
    } else {
        must_fail("flipped root2", flipped_r2)?;
    }
    // size1 +- 1 with the same roots.
    must_fail(
        "size1 + 1",
        verify_consistency(size1 + 1, size2, &proof, &r1, &r2),
    )?;
    if size1 > 0 {
        must_fail(
            "size1 - 1",
            verify_consistency(size1 - 1, size2, &proof, &r1, &r2),
        )?;
    }
    // size2 +- 1 with the new size's own root (the claim a forger needs).
    if size1 > 0 {
        let r_up = roots[&(size2 + 1)];
        must_fail(
            "size2 + 1",
            verify_consistency(size1, size2 + 1, &proof, &r1, &r_up),
        )?;
        let r_down = roots[&(size2 - 1)];
        must_fail(
            "size2 - 1",
            verify_consistency(size1, size2 - 1, &proof, &r1, &r_down),
        )?;
    }
    if !proof.is_empty() {
        let p = &proof[..proof.len() - 1];
        must_fail(
            "truncated proof",
            verify_consistency(size1, size2, p, &r1, &r2),
        )?;
    }
    let mut p = proof.clone();
    p.push(r2);
    must_fail(
        "extended proof",
        verify_consistency(size1, size2, &p, &r1, &r2),
    )?;
    Ok(())
}

/// Tree sizes: mostly 1..=300, sometimes larger.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 1..=300u64, 1 => 301..=4000u64]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_resist_tampering(
        seed in any::<u64>(),
        (size, index) in size().prop_flat_map(|n| (Just(n), 0..n)),
        bit in 0..256usize,
    ) {
        let t = tree(seed, size + 1);
        let roots = prefix_roots(&t, &[size - 1, size, size + 1]);
        prop_assert_eq!(inclusion_tamper(&t, &roots, index, size, bit), Ok(()));
        // The proof document carries the same and survives JSON.
        let doc = InclusionProofDoc::generate(&t, index, size).unwrap();
        prop_assert_eq!(doc.root, roots[&size]);
        prop_assert!(doc.verify().is_ok());
        let back: InclusionProofDoc =
            serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn consistency_proofs_verify_and_resist_tampering(
        seed in any::<u64>(),
        (size2, size1) in size().prop_flat_map(|n| (Just(n), 0..=n)),
        bit in 0..256usize,
    ) {
        let t = tree(seed, size2 + 1);
        let roots = prefix_roots(&t, &[size1, size2.saturating_sub(1), size2, size2 + 1]);
        prop_assert_eq!(consistency_tamper(&t, &roots, size1, size2, bit), Ok(()));
        let doc = ConsistencyProofDoc::generate(&t, size1, size2).unwrap();
        prop_assert!(doc.verify().is_ok());
        let back: ConsistencyProofDoc =
            serde_json::from_str(&serde_json::to_string(&doc).unwrap()).unwrap();
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn post_order_matches_push_order(seed in any::<u64>(), n in 1..=600u64) {
        // Every node CompactTree::push reports lands at the next position,
        // and it is the same hash MemoryTree serves for that subtree.
        let t = tree(seed, n);
        let mut compact = CompactTree::new();
        let mut next = 0u64;
        for i in 0..n {
            let mut bad = None;
            compact.push(leaf(&t, i), |level, index, hash| {
                let pos = portreeve_ledger::merkle::post_order_position(level, index);
                if pos != next || t.nodes()[pos as usize] != *hash {
                    bad = Some((level, index, pos, next));
                }
                next += 1;
            });
            prop_assert_eq!(bad, None);
        }
        prop_assert_eq!(next, portreeve_ledger::merkle::post_order_len(n));
        prop_assert_eq!(next, t.nodes().len() as u64);
        prop_assert_eq!(portreeve_ledger::merkle::leaves_for_post_order_len(next), Some(n));
    }
}

/// Exhaustive over all small trees, every single bit of every hash involved.
#[test]
fn small_trees_exhaustively() {
    let t = tree(7, 34);
    let roots = all_roots(&t);
    for size in 1..=33u64 {
        for index in 0..size {
            for bit in [0, 77, 150, 255] {
                inclusion_tamper(&t, &roots, index, size, bit).unwrap();
            }
        }
        for size1 in 0..=size {
            for bit in [0, 77, 150, 255] {
                consistency_tamper(&t, &roots, size1, size, bit).unwrap();
            }
        }
    }
    // Every single bit, for one proof of each kind.
    let t = tree(8, 12);
    let roots = all_roots(&t);
    for bit in 0..256 {
        inclusion_tamper(&t, &roots, 6, 11, bit).unwrap();
        consistency_tamper(&t, &roots, 5, 11, bit).unwrap();
    }
}

/// The limit of what a proof proves, spelled out: with the *same* root, a
/// neighbouring size whose path has the same shape verifies. Leaf 0 of a
/// 5-leaf tree has the path (leaf 1, node 2..4, leaf 4); read as a 6-leaf
/// tree the verifier takes the last hash for node 4..6 and reproduces the
/// same root. Likewise 4 -> 5 read as 4 -> 6. Callers must take size and
/// root from one signed checkpoint.
#[test]
fn same_root_other_size_can_verify() {
    let t = tree(9, 8);
    let roots = all_roots(&t);
    let proof = inclusion_proof(&t, 0, 5).unwrap();
    assert_eq!(
        verify_inclusion(&leaf(&t, 0), 0, 6, &proof, &roots[&5]),
        Ok(())
    );
    // Against the real 6-leaf root it fails, as it must.
    assert!(verify_inclusion(&leaf(&t, 0), 0, 6, &proof, &roots[&6]).is_err());
    let proof = consistency_proof(&t, 4, 5).unwrap();
    assert_eq!(
        verify_consistency(4, 6, &proof, &roots[&4], &roots[&5]),
        Ok(())
    );
    assert!(verify_consistency(4, 6, &proof, &roots[&4], &roots[&6]).is_err());
}

#[test]
fn empty_and_single_leaf_trees() {
    let t = tree(1, 1);
    let roots = all_roots(&t);
    assert_eq!(roots[&0], empty_root());
    assert_eq!(roots[&1], leaf(&t, 0));
    assert!(inclusion_proof(&t, 0, 1).unwrap().is_empty());
    assert_eq!(
        inclusion_proof(&t, 1, 1).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    verify_consistency(0, 0, &[], &empty_root(), &empty_root()).unwrap();
    verify_consistency(0, 1, &[], &empty_root(), &roots[&1]).unwrap();
    verify_consistency(1, 1, &[], &roots[&1], &roots[&1]).unwrap();
}

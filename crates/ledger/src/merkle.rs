//! The ledger's Merkle tree: RFC 9162 (Certificate Transparency 2.0, §2.1),
//! which keeps the tree of RFC 6962 — SHA-256, leaf hashes prefixed with
//! 0x00 and node hashes with 0x01.
//!
//! Why this shape: a Merkle tree lets anyone holding a signed root check that
//! an entry is in the log (an *inclusion proof*) and that a later log still
//! contains an earlier one unchanged (a *consistency proof*), each with
//! O(log n) hashes. Using exactly the RFC's tree means existing tooling and
//! published test vectors (transparency-dev/merkle) can check portreeve's
//! ledger, and portreeve's verifier can check theirs.
//!
//! Storage model: the tree of `n` leaves is fully determined by the hashes of
//! its *complete* (perfect) subtrees, addressed as `(level, index)` — level 0
//! holds leaf hashes, and `(level, index)` covers leaves
//! `[index << level, (index + 1) << level)`. Those never change once written,
//! so an append-only file can store them in post-order (a Merkle Mountain
//! Range, see [`post_order_position`]). Everything else — roots of any size,
//! the right-edge nodes that proofs need — is folded on demand from
//! O(log n) of them through the [`Subtrees`] trait.
//!
//! Building: [`CompactTree`] keeps only the right edge (one hash per set bit
//! of the size), so appending or re-verifying a million entries costs about
//! two SHA-256 compressions per entry and no allocation.

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 output: every leaf, node and root hash in the tree.
pub type Hash = [u8; 32];

/// Domain-separation prefix of leaf hashes (RFC 9162 §2.1.1). It makes a leaf
/// hash never equal a node hash, so nobody can pass an inner node off as an
/// entry (second-preimage attack on the tree).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of node hashes (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// The most peaks a tree can have: one per bit of a `u64` size. Reserving
/// this up front is what keeps [`CompactTree::push`] allocation-free.
const MAX_PEAKS: usize = u64::BITS as usize;

/// Hash of a log entry as a leaf: `SHA-256(0x00 || entry)`.
///
/// The prefix separates leaves from inner nodes (see RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// Hash of an inner node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer and one `digest` call: this is the hot path of
    // building and verifying the tree, and avoids three `update` calls.
    let mut buf = [0u8; 65];
    buf[0] = NODE_PREFIX;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// Root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
///
/// It is a constant rather than a computation so that callers can compare
/// against it freely.
pub fn empty_root() -> Hash {
    // e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855
    [
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]
}

/// Standard base64 of a hash, as used in proof documents and error messages
/// (the form people paste from checkpoints and CT tooling).
fn b64(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// Source of the hashes of complete (perfect) subtrees: level 0 = leaf
/// hashes; `(level, index)` covers leaves `[index << level, (index+1) << level)`.
///
/// Why a trait: storage keeps only these hashes (they never change once the
/// subtree is full), on disk or in memory, and the proof generators below
/// need nothing else. Implementations may fail (I/O), hence `io::Result`; a
/// request for a subtree that is not complete in the stored tree is a caller
/// bug and should be reported as [`io::ErrorKind::InvalidInput`].
pub trait Subtrees {
    /// Hash of complete subtree `(level, index)`.
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash>;
}

impl<T: Subtrees + ?Sized> Subtrees for &T {
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
        (**self).subtree(level, index)
    }
}

/// Largest power of two strictly less than `n` (`n >= 2`): the split point
/// `k` of RFC 9162 §2.1.1, as its base-2 logarithm.
fn split_level(n: u64) -> u32 {
    debug_assert!(n >= 2);
    63 - (n - 1).leading_zeros()
}

/// Hash of the RFC 9162 tree node over leaves `[start, end)`, folded from
/// complete subtrees.
///
/// Every node of an RFC 9162 tree is either perfect or lies on the right edge
/// of the tree; in both cases `start` is a multiple of the largest power of
/// two not above `end - start`, so the range splits into the perfect
/// subtrees given by the bits of its length (biggest first), and the node
/// hash is their right fold. That is at most 64 `subtree` calls and no
/// allocation.
fn range_hash(s: &impl Subtrees, start: u64, end: u64) -> io::Result<Hash> {
    debug_assert!(start < end);
    let len = end - start;
    debug_assert!(start.trailing_zeros() >= 63 - len.leading_zeros());
    let mut acc: Option<Hash> = None;
    // Smallest (rightmost) peak first, so the fold needs no buffer.
    let mut bits = len;
    while bits != 0 {
        let level = bits.trailing_zeros();
        bits &= bits - 1;
        // Leaves covered by the bigger peaks to the left of this one.
        let offset = start + bits;
        let peak = s.subtree(level, offset >> level)?;
        acc = Some(match acc {
            None => peak,
            Some(right) => node_hash(&peak, &right),
        });
    }
    Ok(acc.expect("range is not empty"))
}

/// Root of the tree of the first `size` leaves (`MTH(D[0:size])` of
/// RFC 9162 §2.1.1), from at most 64 complete-subtree hashes.
///
/// Why not keep roots: storage holds only complete subtrees; any earlier
/// tree's root is recomputable from them, which is what lets a log serve
/// consistency proofs from any old size.
pub fn root(s: &impl Subtrees, size: u64) -> io::Result<Hash> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(s, 0, size)
}

/// An `io::Error` of kind `InvalidInput` carrying a [`ProofError`], so a
/// caller can downcast it to the specific reason.
fn invalid_input(e: ProofError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// RFC 9162 inclusion proof (`PATH(m, D[n])`, §2.1.3.1) of leaf `index` in
/// the tree of `size` leaves, ordered from the leaf upwards.
///
/// Cost: O(log n) `subtree` calls — every sibling on the path is a complete
/// subtree except at most one right-edge node (the first time the path turns
/// left), which is folded from O(log n) complete subtrees.
///
/// Errors: kind `InvalidInput` (wrapping [`ProofError::IndexBeyondSize`]) if
/// `index >= size`; otherwise whatever `s` returns.
pub fn inclusion_proof(s: &impl Subtrees, index: u64, size: u64) -> io::Result<Vec<Hash>> {
    if index >= size {
        return Err(invalid_input(ProofError::IndexBeyondSize { index, size }));
    }
    // Walk the RFC's recursion top-down over the node [lo, hi) that contains
    // the leaf, collecting the sibling at each split; the proof lists them
    // bottom-up, hence the final reverse.
    let mut path = Vec::with_capacity(inclusion_proof_len(index, size));
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let level = split_level(hi - lo);
        let mid = lo + (1u64 << level);
        if index < mid {
            path.push(range_hash(s, mid, hi)?);
            hi = mid;
        } else {
            path.push(s.subtree(level, lo >> level)?);
            lo = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 consistency proof (`PROOF(m, D[n])`, §2.1.4.1) between the trees
/// of `size1 <= size2` leaves.
///
/// Empty when `size1 == size2` (same tree) or `size1 == 0` (the empty tree is
/// a prefix of every tree; there is nothing to prove). Cost: O(log n)
/// `subtree` calls, as for [`inclusion_proof`].
///
/// Errors: kind `InvalidInput` (wrapping
/// [`ProofError::Size1GreaterThanSize2`]) if `size1 > size2`; otherwise
/// whatever `s` returns.
pub fn consistency_proof(s: &impl Subtrees, size1: u64, size2: u64) -> io::Result<Vec<Hash>> {
    if size1 > size2 {
        return Err(invalid_input(ProofError::Size1GreaterThanSize2 {
            size1,
            size2,
        }));
    }
    if size1 == 0 || size1 == size2 {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], complete) of the RFC, unrolled: `complete` stays
    // true while the node is still a node of the old tree's own structure
    // (only left turns so far), in which case the verifier already knows its
    // hash (root1) and it is left out.
    let mut path = Vec::with_capacity(consistency_proof_len(size1, size2));
    let (mut lo, mut hi) = (0u64, size2);
    let mut complete = true;
    while size1 != hi {
        let level = split_level(hi - lo);
        let mid = lo + (1u64 << level);
        if size1 <= mid {
            path.push(range_hash(s, mid, hi)?);
            hi = mid;
        } else {
            path.push(s.subtree(level, lo >> level)?);
            lo = mid;
            complete = false;
        }
    }
    if !complete {
        path.push(range_hash(s, lo, hi)?);
    }
    path.reverse();
    Ok(path)
}

/// Bit length of `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// Length of the inclusion proof of leaf `index` in a tree of `size`
/// leaves (`index < size`).
///
/// Below the level where the paths to `index` and to the last leaf
/// `size - 1` part, the leaf sits in a perfect subtree and has one sibling per
/// level (`inner`); above it, the path runs along the right edge and has a
/// sibling exactly where a left peak hangs off, one per set bit of
/// `index >> inner`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// Length of the consistency proof between sizes `0 < size1 < size2`.
///
/// The proof is the inclusion path of leaf `size1 - 1` in the new tree, cut
/// below the biggest perfect subtree that ends at `size1` (the verifier
/// starts from that subtree's hash), plus that hash itself unless it is the
/// whole old tree (`size1` a power of two, when it is `root1`).
fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    let shift = size1.trailing_zeros();
    let last = size1 - 1;
    let inner = bit_len(last ^ (size2 - 1));
    let border = last.checked_shr(inner).unwrap_or(0).count_ones();
    let seed = usize::from(!size1.is_power_of_two());
    (inner - shift + border) as usize + seed
}

/// Why a proof (or a compact tree's state) was rejected.
///
/// Each variant says what was wrong and with which values, because a failed
/// proof in a transparency log is either a bug or an attack, and whoever
/// investigates needs the numbers and hashes (base64, as in checkpoints).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is beyond the tree size {size} (must be < size)")]
    IndexBeyondSize {
        /// The leaf index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// The proof does not have the number of hashes the sizes imply.
    #[error("wrong proof length: expected {expected} hashes, got {got}")]
    WrongProofLength {
        /// Number of hashes RFC 9162 prescribes for these sizes.
        expected: usize,
        /// Number of hashes in the proof.
        got: usize,
    },
    /// An inclusion proof led to a different root than the one given.
    #[error("root mismatch: the proof computes {}, expected {}", b64(.computed), b64(.expected))]
    RootMismatch {
        /// Root computed from leaf hash and proof.
        computed: Hash,
        /// Root given by the caller.
        expected: Hash,
    },
    /// A consistency proof does not reproduce the old tree's root.
    #[error(
        "first root mismatch: the proof computes {} for the old tree, expected {}",
        b64(.computed), b64(.expected)
    )]
    FirstRootMismatch {
        /// Old root computed from the proof.
        computed: Hash,
        /// `root1` given by the caller.
        expected: Hash,
    },
    /// A consistency proof does not lead to the new tree's root.
    #[error(
        "second root mismatch: the proof computes {} for the new tree, expected {}",
        b64(.computed), b64(.expected)
    )]
    SecondRootMismatch {
        /// New root computed from the proof.
        computed: Hash,
        /// `root2` given by the caller.
        expected: Hash,
    },
    /// Consistency was asked for from a bigger tree to a smaller one.
    #[error("size1 {size1} is greater than size2 {size2}: a log cannot shrink")]
    Size1GreaterThanSize2 {
        /// The old size given.
        size1: u64,
        /// The new size given.
        size2: u64,
    },
    /// The sizes admit only an empty proof, but hashes were given.
    #[error("non-empty proof ({got} hashes) where none is allowed: {reason}")]
    UnexpectedProof {
        /// Number of hashes in the proof.
        got: usize,
        /// Why the proof must be empty.
        reason: &'static str,
    },
    /// Two trees of the same size claim different roots.
    #[error(
        "trees of the same size {size} must have the same root, got root1 {} and root2 {}",
        b64(.root1), b64(.root2)
    )]
    SameSizeRootsDiffer {
        /// The common size.
        size: u64,
        /// `root1` given.
        root1: Hash,
        /// `root2` given.
        root2: Hash,
    },
    /// A root given for the empty tree is not SHA-256 of the empty string.
    #[error(
        "the empty tree's root must be {} (SHA-256 of nothing), got {}",
        b64(&empty_root()), b64(.got)
    )]
    NotEmptyRoot {
        /// The root given for size 0.
        got: Hash,
    },
    /// A compact tree's peaks do not fit its size.
    #[error("a tree of size {size} has {expected} peaks (one per set bit of the size), got {got}")]
    WrongPeakCount {
        /// The size given.
        size: u64,
        /// `size.count_ones()`.
        expected: u32,
        /// Number of peaks given.
        got: usize,
    },
}

/// Checks an RFC 9162 inclusion proof (verification algorithm of §2.1.3.2):
/// that `leaf` is leaf number `index` of the tree of `size` leaves whose root
/// is `root`.
///
/// The proof length is checked first against the length the sizes imply, so
/// truncated or padded proofs are rejected with [`ProofError::WrongProofLength`]
/// rather than as a root mismatch.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexBeyondSize { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    let wrong_len = ProofError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_len);
    }
    // fn: the node's index on its level; sn: the last node's index on it.
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(wrong_len);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // On the right edge with no left sibling at these levels: climb
            // past the levels where the node is its parent's only child.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_len);
    }
    if r != *root {
        return Err(ProofError::RootMismatch {
            computed: r,
            expected: *root,
        });
    }
    Ok(())
}

/// Checks an RFC 9162 consistency proof (verification algorithm of
/// §2.1.4.2): that the tree of `size1` leaves with root `root1` is a prefix
/// of the tree of `size2` leaves with root `root2`.
///
/// Edge cases, which the RFC's algorithm leaves to the caller:
/// - `size1 > size2` is an error (a log cannot shrink);
/// - `size1 == size2` needs an empty proof and `root1 == root2` (and, for
///   size 0, both must be [`empty_root`]);
/// - `size1 == 0 < size2` needs an empty proof and `root1 == empty_root()`;
///   it then succeeds **without proving anything about `root2`**, because the
///   empty tree is a prefix of every tree. (transparency-dev/merkle rejects
///   this case instead; accepting it lets a verifier start from an empty log.)
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 });
    }
    if size1 == size2 || size1 == 0 {
        if !proof.is_empty() {
            let reason = if size1 == size2 {
                "size1 == size2, the trees must be identical"
            } else {
                "size1 == 0, the empty tree is a prefix of every tree"
            };
            return Err(ProofError::UnexpectedProof {
                got: proof.len(),
                reason,
            });
        }
        if size1 == 0 && *root1 != empty_root() {
            return Err(ProofError::NotEmptyRoot { got: *root1 });
        }
        if size1 == size2 && root1 != root2 {
            return Err(ProofError::SameSizeRootsDiffer {
                size: size1,
                root1: *root1,
                root2: *root2,
            });
        }
        return Ok(());
    }

    let expected = consistency_proof_len(size1, size2);
    let wrong_len = ProofError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_len);
    }
    // When size1 is a power of two the old tree is itself the perfect subtree
    // the path starts from, and the RFC prepends root1 to the path; we start
    // from it directly instead of copying the proof.
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    // Skip the levels inside the perfect subtree that ends at size1.
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if sn == 0 {
            return Err(wrong_len);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            // A left sibling: part of both the old and the new tree.
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            // A right sibling: appended after size1, only in the new tree.
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(wrong_len);
    }
    if fr != *root1 {
        return Err(ProofError::FirstRootMismatch {
            computed: fr,
            expected: *root1,
        });
    }
    if sr != *root2 {
        return Err(ProofError::SecondRootMismatch {
            computed: sr,
            expected: *root2,
        });
    }
    Ok(())
}

/// The right edge of a tree: the roots of its perfect subtrees ("peaks"),
/// biggest first — one per set bit of the size.
///
/// Why: it is all the state needed to append leaves and compute the root,
/// O(log n) hashes, so a writer restarts from a checkpoint-sized state and a
/// verifier can replay a million entries without holding the tree.
#[derive(PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    peaks: Vec<Hash>,
}

impl fmt::Debug for CompactTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactTree")
            .field("size", &self.size)
            .field("peaks", &self.peaks.iter().map(b64).collect::<Vec<_>>())
            .finish()
    }
}

impl Clone for CompactTree {
    /// Keeps room for 64 peaks, so pushes on the clone stay allocation-free
    /// too (a derived clone would shrink the capacity to the length).
    fn clone(&self) -> Self {
        let mut peaks = Vec::with_capacity(MAX_PEAKS);
        peaks.extend_from_slice(&self.peaks);
        Self {
            size: self.size,
            peaks,
        }
    }
}

impl Default for CompactTree {
    fn default() -> Self {
        Self::new()
    }
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self {
            size: 0,
            peaks: Vec::with_capacity(MAX_PEAKS),
        }
    }

    /// A tree of `size` leaves from its peaks, biggest first (as returned by
    /// [`CompactTree::peaks`]); fails if there is not exactly one peak per
    /// set bit of `size`.
    ///
    /// The peaks cannot be checked otherwise: a wrong peak shows up only as a
    /// root that does not match a signed checkpoint.
    pub fn from_peaks(size: u64, mut peaks: Vec<Hash>) -> Result<Self, ProofError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(ProofError::WrongPeakCount {
                size,
                expected: size.count_ones(),
                got: peaks.len(),
            });
        }
        peaks.reserve(MAX_PEAKS - peaks.len());
        Ok(Self { size, peaks })
    }

    /// The compact tree of the first `size` leaves of `s`, from its
    /// `size.count_ones()` peak subtrees — how a writer resumes from storage.
    pub fn from_subtrees(s: &impl Subtrees, size: u64) -> io::Result<Self> {
        let mut peaks = Vec::with_capacity(MAX_PEAKS);
        let mut start = 0u64;
        for level in (0..u64::BITS).rev() {
            if size >> level & 1 == 1 {
                peaks.push(s.subtree(level, start >> level)?);
                start += 1u64 << level;
            }
        }
        Ok(Self { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees, biggest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Adds a leaf hash; calls `completed(level, index, hash)` for the leaf
    /// (level 0) and for every subtree it completes, in post-order (children
    /// before parent) — the order in which [`post_order_position`] lays them
    /// out, so a storage layer can append them to a file as they come.
    ///
    /// Allocation-free: the peak list has room for 64 peaks from the start.
    /// Amortised cost is one node hash per leaf.
    ///
    /// # Panics
    /// If the tree already has `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let index = self.size;
        completed(0, index, &leaf);
        let mut hash = leaf;
        let mut level = 0u32;
        // Each trailing one bit of the old size is a peak of the same size as
        // the subtree being carried up: merge them, like binary addition.
        let mut carry = index;
        while carry & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit of size");
            hash = node_hash(&left, &hash);
            level += 1;
            carry >>= 1;
            completed(level, index >> level, &hash);
        }
        self.peaks.push(hash);
        self.size = index.checked_add(1).expect("tree size overflows u64");
    }

    /// Root of the tree (`MTH` of RFC 9162 §2.1.1): the peaks folded from the
    /// right, or [`empty_root`] for the empty tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Position in post-order storage of complete subtree `(level, index)`.
///
/// Post-order (a Merkle Mountain Range) is the order in which
/// [`CompactTree::push`] completes nodes, so the storage file is
/// append-only. The node is completed by the push of its last leaf,
/// `((index + 1) << level) - 1`; before that push the file holds
/// `post_order_len(last_leaf)` nodes, and the push writes the leaf and then
/// one node per level up to this one. Hence
/// `post_order_len(last_leaf) + level`.
///
/// Valid for nodes whose leaves fit below 2⁶³ (the result must fit in u64).
pub fn post_order_position(level: u32, index: u64) -> u64 {
    let last_leaf = ((index + 1) << level) - 1;
    post_order_len(last_leaf) + u64::from(level)
}

/// Number of stored nodes for `leaves` leaves: `2n - popcount(n)` — each
/// leaf adds itself plus one node per subtree it completes, and a perfect
/// subtree of 2^k leaves has 2^(k+1) - 1 nodes.
///
/// The result fits in a `u64` up to `leaves = 2⁶³` (giving `u64::MAX`);
/// beyond that it overflows (a panic in debug builds).
pub fn post_order_len(leaves: u64) -> u64 {
    // n + (n - popcount(n)) rather than 2n - popcount(n): the same value, but
    // no intermediate overflow at n = 2^63.
    leaves + (leaves - u64::from(leaves.count_ones()))
}

/// The inverse of [`post_order_len`]: the number of leaves whose post-order
/// storage has exactly `nodes` nodes, or `None` if no leaf count gives that
/// length — which is how a storage layer detects a file cut off mid-append.
pub fn leaves_for_post_order_len(nodes: u64) -> Option<u64> {
    // 2n - popcount(n) = nodes, and popcount(n) <= 64, so n = (nodes + p) / 2
    // for the p in 0..=64 that equals popcount(n). post_order_len is strictly
    // increasing, so at most one candidate fits.
    (0..=u64::from(u64::BITS)).find_map(|p| {
        let twice = u128::from(nodes) + u128::from(p);
        if twice % 2 != 0 {
            return None;
        }
        let n = u64::try_from(twice / 2).ok()?;
        (u64::from(n.count_ones()) == p).then_some(n)
    })
}

/// A [`Subtrees`] over an in-memory `Vec<Hash>` in post-order — the same
/// layout as the on-disk file, for tests and small trees.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    nodes: Vec<Hash>,
    compact: CompactTree,
}

impl fmt::Debug for MemoryTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTree")
            .field("size", &self.compact.size())
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaf hashes, in order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push_leaf(leaf);
        }
        tree
    }

    /// Appends a leaf hash, storing it and every subtree it completes.
    pub fn push_leaf(&mut self, leaf: Hash) {
        let nodes = &mut self.nodes;
        self.compact.push(leaf, |_, _, hash| nodes.push(*hash));
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.compact.size()
    }

    /// Root of the whole tree.
    pub fn root(&self) -> Hash {
        self.compact.root()
    }

    /// The compact tree (right edge) of the whole tree.
    pub fn compact(&self) -> &CompactTree {
        &self.compact
    }

    /// All stored nodes, in post-order.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }
}

impl Subtrees for MemoryTree {
    fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
        let size = self.compact.size();
        // Complete iff its last leaf exists: (index + 1) << level <= size.
        if level >= u64::BITS || index >= size >> level {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "subtree (level {level}, index {index}) is not complete in a tree of {size} leaves"
                ),
            ));
        }
        let pos = post_order_position(level, index);
        usize::try_from(pos)
            .ok()
            .and_then(|p| self.nodes.get(p))
            .copied()
            .ok_or_else(|| io::Error::other(format!("post-order position {pos} out of range")))
    }
}

/// serde `with` module for one [`Hash`](type@Hash) as a standard base64 string.
///
/// Decoding fails (as a serde error, never a panic) on bad base64 and on any
/// length other than 32 bytes.
pub mod base64_hash {
    use super::{Hash, STANDARD};
    use base64::Engine as _;
    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    /// Writes the hash as standard base64.
    pub fn serialize<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(hash))
    }

    /// Reads a standard base64 string of exactly 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
        deserializer.deserialize_str(HashVisitor)
    }

    pub(super) struct HashVisitor;

    impl Visitor<'_> for HashVisitor {
        type Value = Hash;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a SHA-256 hash as a standard base64 string")
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<Hash, E> {
            let bytes = STANDARD
                .decode(v)
                .map_err(|e| E::custom(format_args!("invalid base64 in hash: {e}")))?;
            Hash::try_from(bytes.as_slice()).map_err(|_| {
                E::custom(format_args!(
                    "a hash must be 32 bytes, got {} bytes",
                    bytes.len()
                ))
            })
        }
    }
}

/// serde `with` module for a `Vec<`[`Hash`](type@Hash)`>` as an array of standard base64
/// strings. `null` reads as an empty list, because Go's encoding/json (used by
/// the transparency-dev test vectors) writes empty proofs that way.
pub mod base64_hashes {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Item(#[serde(with = "super::base64_hash")] Hash);

    /// Writes the hashes as an array of standard base64 strings.
    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(hashes.iter().map(|h| Item(*h)))
    }

    /// Reads an array of standard base64 strings (or `null`), each exactly
    /// 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        let items = Option::<Vec<Item>>::deserialize(deserializer)?;
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(|Item(h)| h)
            .collect())
    }
}

/// A self-contained inclusion proof, in the JSON shape of the
/// transparency-dev/merkle test vectors (`leafIdx`, `treeSize`, `root`,
/// `leafHash`, `proof`; hashes in standard base64), so proofs can be handed
/// to people and tools outside portreeve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProofDoc {
    /// Index of the leaf (0-based).
    pub leaf_idx: u64,
    /// Size of the tree the proof is for.
    pub tree_size: u64,
    /// Root of that tree.
    #[serde(with = "base64_hash")]
    pub root: Hash,
    /// Leaf hash ([`leaf_hash`] of the entry).
    #[serde(with = "base64_hash")]
    pub leaf_hash: Hash,
    /// The audit path, from the leaf upwards.
    #[serde(with = "base64_hashes", default)]
    pub proof: Vec<Hash>,
}

impl InclusionProofDoc {
    /// Builds the proof of leaf `leaf_idx` in the tree of `tree_size` leaves.
    pub fn generate(s: &impl Subtrees, leaf_idx: u64, tree_size: u64) -> io::Result<Self> {
        let proof = inclusion_proof(s, leaf_idx, tree_size)?;
        Ok(Self {
            leaf_idx,
            tree_size,
            root: root(s, tree_size)?,
            leaf_hash: s.subtree(0, leaf_idx)?,
            proof,
        })
    }

    /// Checks the proof with [`verify_inclusion`].
    pub fn verify(&self) -> Result<(), ProofError> {
        verify_inclusion(
            &self.leaf_hash,
            self.leaf_idx,
            self.tree_size,
            &self.proof,
            &self.root,
        )
    }
}

/// A self-contained consistency proof, in the JSON shape of the
/// transparency-dev/merkle test vectors (`size1`, `size2`, `root1`, `root2`,
/// `proof`; hashes in standard base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistencyProofDoc {
    /// Size of the old tree.
    pub size1: u64,
    /// Size of the new tree.
    pub size2: u64,
    /// Root of the old tree.
    #[serde(with = "base64_hash")]
    pub root1: Hash,
    /// Root of the new tree.
    #[serde(with = "base64_hash")]
    pub root2: Hash,
    /// The consistency proof.
    #[serde(with = "base64_hashes", default)]
    pub proof: Vec<Hash>,
}

impl ConsistencyProofDoc {
    /// Builds the proof between the trees of `size1 <= size2` leaves.
    pub fn generate(s: &impl Subtrees, size1: u64, size2: u64) -> io::Result<Self> {
        let proof = consistency_proof(s, size1, size2)?;
        Ok(Self {
            size1,
            size2,
            root1: root(s, size1)?,
            root2: root(s, size2)?,
            proof,
        })
    }

    /// Checks the proof with [`verify_consistency`].
    pub fn verify(&self) -> Result<(), ProofError> {
        verify_consistency(
            self.size1,
            self.size2,
            &self.proof,
            &self.root1,
            &self.root2,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// RFC 6962's reference leaves (the tree of the transparency-dev vectors).
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

    /// Roots of the first 1..=8 RFC leaves, as published with RFC 6962 test
    /// data (hex).
    const RFC_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Straightforward recursive MTH of RFC 9162 §2.1.1, over entries.
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => Sha256::digest(b"").into(),
            1 => {
                let mut buf = vec![0u8];
                buf.extend_from_slice(&d[0]);
                Sha256::digest(&buf).into()
            }
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                let mut buf = vec![1u8];
                buf.extend_from_slice(&mth(&d[..k]));
                buf.extend_from_slice(&mth(&d[k..]));
                Sha256::digest(&buf).into()
            }
        }
    }

    /// Largest power of two strictly below n (n >= 2), the simple way.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// Recursive PATH(m, D[n]) of RFC 9162 §2.1.3.1.
    fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = split(d.len());
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// Recursive SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1.
    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        if m == d.len() {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = split(d.len());
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// Entries: the RFC leaves, then distinct generated ones.
    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| match RFC_LEAVES.get(i) {
                Some(e) => e.to_vec(),
                None => format!("entry {i}").into_bytes(),
            })
            .collect()
    }

    fn tree_of(d: &[Vec<u8>]) -> MemoryTree {
        MemoryTree::from_leaves(d.iter().map(|e| leaf_hash(e)))
    }

    /// Counts `subtree` calls, to check the proof cost bound.
    struct Counting<'a> {
        inner: &'a MemoryTree,
        calls: Cell<u64>,
    }

    impl Subtrees for Counting<'_> {
        fn subtree(&self, level: u32, index: u64) -> io::Result<Hash> {
            self.calls.set(self.calls.get() + 1);
            self.inner.subtree(level, index)
        }
    }

    #[test]
    fn constants_and_primitives() {
        assert_eq!(empty_root(), <Hash>::from(Sha256::digest(b"")));
        assert_eq!(mth(&[]), empty_root());
        // Leaf and node hashes are domain-separated as the RFC says.
        let mut buf = vec![0u8];
        buf.extend_from_slice(b"abc");
        assert_eq!(leaf_hash(b"abc"), <Hash>::from(Sha256::digest(&buf)));
        let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
        let mut buf = vec![1u8];
        buf.extend_from_slice(&l);
        buf.extend_from_slice(&r);
        assert_eq!(node_hash(&l, &r), <Hash>::from(Sha256::digest(&buf)));
        assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
    }

    #[test]
    fn roots_of_rfc_tree_match_published_values() {
        let d = entries(8);
        let tree = tree_of(&d);
        for n in 1..=8 {
            assert_eq!(
                hex(&mth(&d[..n])),
                RFC_ROOTS[n - 1],
                "reference MTH, size {n}"
            );
            assert_eq!(
                hex(&root(&tree, n as u64).unwrap()),
                RFC_ROOTS[n - 1],
                "size {n}"
            );
        }
        assert_eq!(root(&tree, 0).unwrap(), empty_root());
    }

    #[test]
    fn roots_of_small_trees_match_reference() {
        let d = entries(70);
        let tree = tree_of(&d);
        let mut compact = CompactTree::new();
        assert_eq!(compact.root(), mth(&[]));
        for n in 0..=70usize {
            let want = mth(&d[..n]);
            assert_eq!(root(&tree, n as u64).unwrap(), want, "root(), size {n}");
            assert_eq!(compact.root(), want, "CompactTree::root, size {n}");
            assert_eq!(compact.size(), n as u64);
            assert_eq!(compact.peaks().len(), n.count_ones() as usize);
            let resumed = CompactTree::from_subtrees(&tree, n as u64).unwrap();
            assert_eq!(resumed, compact, "from_subtrees, size {n}");
            let rebuilt = CompactTree::from_peaks(n as u64, compact.peaks().to_vec()).unwrap();
            assert_eq!(rebuilt.root(), want);
            if let Some(e) = d.get(n) {
                compact.push(leaf_hash(e), |_, _, _| {});
            }
        }
    }

    #[test]
    fn proofs_match_recursive_reference() {
        let d = entries(40);
        let tree = tree_of(&d);
        for n in 1..=40usize {
            for m in 0..n {
                let got = inclusion_proof(&tree, m as u64, n as u64).unwrap();
                assert_eq!(got, path(m, &d[..n]), "inclusion {m} in {n}");
                let leaf = leaf_hash(&d[m]);
                verify_inclusion(&leaf, m as u64, n as u64, &got, &mth(&d[..n])).unwrap();
            }
            for m in 0..=n {
                let got = consistency_proof(&tree, m as u64, n as u64).unwrap();
                let want = if m == 0 {
                    Vec::new()
                } else {
                    subproof(m, &d[..n], true)
                };
                assert_eq!(got, want, "consistency {m} -> {n}");
                verify_consistency(m as u64, n as u64, &got, &mth(&d[..m]), &mth(&d[..n])).unwrap();
            }
        }
    }

    #[test]
    fn proof_generation_needs_few_subtree_calls() {
        let tree = MemoryTree::from_leaves((0..5000u32).map(|i| leaf_hash(&i.to_be_bytes())));
        let counting = Counting {
            inner: &tree,
            calls: Cell::new(0),
        };
        let mut worst = 0;
        for &n in &[1u64, 2, 3, 1023, 1024, 1025, 4095, 4097, 4999, 5000] {
            for &m in &[
                0u64, 1, 2, 511, 1000, 1023, 1024, 3000, 4094, 4095, 4096, 4998, 4999,
            ] {
                if m < n {
                    counting.calls.set(0);
                    inclusion_proof(&counting, m, n).unwrap();
                    worst = worst.max(counting.calls.get());
                }
                if m <= n {
                    counting.calls.set(0);
                    consistency_proof(&counting, m, n).unwrap();
                    worst = worst.max(counting.calls.get());
                }
            }
        }
        // log2(5000) < 13: one sibling per level plus one folded right edge.
        assert!(worst <= 2 * 13 + 1, "worst case {worst} subtree calls");
    }

    #[test]
    fn generator_rejects_bad_arguments() {
        let tree = tree_of(&entries(5));
        let e = inclusion_proof(&tree, 5, 5).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("beyond"), "{e}");
        let e = inclusion_proof(&tree, 0, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = consistency_proof(&tree, 3, 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string().contains("size1 3 is greater than size2 2"),
            "{e}"
        );
        assert!(consistency_proof(&tree, 0, 5).unwrap().is_empty());
        assert!(consistency_proof(&tree, 5, 5).unwrap().is_empty());
        // Asking beyond the stored tree surfaces the storage error.
        assert_eq!(
            inclusion_proof(&tree, 0, 6).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(tree.subtree(3, 0).is_err());
        assert!(tree.subtree(2, 0).is_ok());
        assert!(tree.subtree(64, 0).is_err());
        assert!(tree.subtree(0, u64::MAX).is_err());
    }

    #[test]
    fn verify_edge_cases() {
        let e = empty_root();
        let x = leaf_hash(b"x");
        let y = leaf_hash(b"y");
        assert_eq!(
            verify_inclusion(&x, 0, 0, &[], &e),
            Err(ProofError::IndexBeyondSize { index: 0, size: 0 })
        );
        verify_inclusion(&x, 0, 1, &[], &x).unwrap();
        assert_eq!(
            verify_inclusion(&x, 0, 1, &[y], &x),
            Err(ProofError::WrongProofLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            verify_inclusion(&x, 0, 1, &[], &y),
            Err(ProofError::RootMismatch {
                computed: x,
                expected: y
            })
        );
        verify_consistency(0, 0, &[], &e, &e).unwrap();
        verify_consistency(0, 7, &[], &e, &x).unwrap();
        verify_consistency(3, 3, &[], &x, &x).unwrap();
        assert!(matches!(
            verify_consistency(0, 0, &[], &x, &x),
            Err(ProofError::NotEmptyRoot { .. })
        ));
        assert!(matches!(
            verify_consistency(0, 2, &[], &x, &y),
            Err(ProofError::NotEmptyRoot { .. })
        ));
        assert!(matches!(
            verify_consistency(0, 2, &[x], &e, &y),
            Err(ProofError::UnexpectedProof { got: 1, .. })
        ));
        assert!(matches!(
            verify_consistency(2, 2, &[x], &y, &y),
            Err(ProofError::UnexpectedProof { got: 1, .. })
        ));
        assert!(matches!(
            verify_consistency(2, 2, &[], &x, &y),
            Err(ProofError::SameSizeRootsDiffer { size: 2, .. })
        ));
        assert_eq!(
            verify_consistency(3, 2, &[], &x, &y),
            Err(ProofError::Size1GreaterThanSize2 { size1: 3, size2: 2 })
        );
        assert_eq!(
            verify_consistency(1, 2, &[], &x, &y),
            Err(ProofError::WrongProofLength {
                expected: 1,
                got: 0
            })
        );
        // Messages carry base64 hashes.
        let msg = verify_inclusion(&x, 0, 1, &[], &y).unwrap_err().to_string();
        assert!(msg.contains(&b64(&x)) && msg.contains(&b64(&y)), "{msg}");
        let msg = verify_consistency(0, 0, &[], &x, &x)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
            "{msg}"
        );
    }

    #[test]
    fn post_order_positions_follow_push_order() {
        let mut compact = CompactTree::new();
        let mut next = 0u64;
        for i in 0..3000u64 {
            compact.push(leaf_hash(&i.to_le_bytes()), |level, index, _| {
                assert_eq!(
                    post_order_position(level, index),
                    next,
                    "({level}, {index})"
                );
                next += 1;
            });
            assert_eq!(post_order_len(i + 1), next, "length after {} leaves", i + 1);
            assert_eq!(leaves_for_post_order_len(next), Some(i + 1));
        }
        // Small layout spelled out: 0 1 [2] 3 4 [5] [6] 7 ...
        let want = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (pos, (level, index)) in want.into_iter().enumerate() {
            assert_eq!(post_order_position(level, index), pos as u64);
        }
    }

    #[test]
    fn post_order_len_inverse() {
        let mut expected = Vec::new();
        for n in 0..5000u64 {
            expected.push(post_order_len(n));
        }
        for nodes in 0..=*expected.last().unwrap() {
            let want = expected.binary_search(&nodes).ok().map(|n| n as u64);
            assert_eq!(leaves_for_post_order_len(nodes), want, "{nodes} nodes");
        }
        // Truncated-file lengths: 3 leaves = 4 nodes, 4 leaves = 7 nodes.
        assert_eq!(leaves_for_post_order_len(5), None);
        assert_eq!(leaves_for_post_order_len(6), None);
        let big = (1u64 << 62) + 12345;
        assert_eq!(leaves_for_post_order_len(post_order_len(big)), Some(big));
        assert_eq!(leaves_for_post_order_len(post_order_len(big) + 1), None);
        // The largest representable length: 2^63 leaves.
        assert_eq!(post_order_len(1 << 63), u64::MAX);
        assert_eq!(leaves_for_post_order_len(u64::MAX), Some(1 << 63));
        assert_eq!(leaves_for_post_order_len(u64::MAX - 1), None);
    }

    #[test]
    fn compact_tree_reports_completed_nodes() {
        let d = entries(13);
        let tree = tree_of(&d);
        let mut compact = CompactTree::new();
        for (i, e) in d.iter().enumerate() {
            let mut seen = Vec::new();
            compact.push(leaf_hash(e), |level, index, hash| {
                seen.push((level, index));
                let start = (index << level) as usize;
                let end = ((index + 1) << level) as usize;
                assert_eq!(*hash, mth(&d[start..end]), "({level}, {index})");
            });
            // Leaf first, then one node per trailing one bit of i.
            assert_eq!(seen.len() as u32, 1 + (i as u64).trailing_ones());
            assert_eq!(seen[0], (0, i as u64));
        }
        assert_eq!(compact.root(), tree.root());
        assert_eq!(
            CompactTree::from_peaks(13, vec![empty_root(); 2]),
            Err(ProofError::WrongPeakCount {
                size: 13,
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn push_never_reallocates() {
        // The peak buffer is reserved once, whichever way the tree was made,
        // so pushes never touch the allocator.
        let mut grown = CompactTree::new();
        for i in 0..3u32 {
            grown.push(leaf_hash(&i.to_be_bytes()), |_, _, _| {});
        }
        let trees = [
            CompactTree::new(),
            CompactTree::from_peaks(3, grown.peaks().to_vec()).unwrap(),
            grown.clone(),
        ];
        for mut t in trees {
            let ptr = t.peaks().as_ptr();
            for i in 0..4096u32 {
                t.push(leaf_hash(&i.to_be_bytes()), |_, _, _| {});
                assert_eq!(t.peaks().as_ptr(), ptr, "peaks moved at push {i}");
            }
        }
    }

    #[test]
    fn proof_docs_round_trip_and_reject_malformed_hashes() {
        let tree = tree_of(&entries(8));
        let doc = InclusionProofDoc::generate(&tree, 5, 8).unwrap();
        doc.verify().unwrap();
        let json = serde_json::to_string(&doc).unwrap();
        assert!(
            json.contains("\"leafIdx\":5") && json.contains("\"treeSize\":8"),
            "{json}"
        );
        assert!(json.contains("\"leafHash\":"), "{json}");
        let back: InclusionProofDoc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);

        let doc = ConsistencyProofDoc::generate(&tree, 3, 8).unwrap();
        doc.verify().unwrap();
        let json = serde_json::to_string(&doc).unwrap();
        let back: ConsistencyProofDoc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, doc);

        let good = b64(&empty_root());
        let cases = [
            ("\"\"", "32 bytes, got 0"),
            ("\"ZG9uJ3QgY2FyZSAy\"", "32 bytes, got 12"),
            ("\"not base64!\"", "invalid base64"),
            (
                "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\"",
                "invalid base64",
            ),
            ("17", "invalid type"),
        ];
        for (bad, msg) in cases {
            let json =
                format!(r#"{{"size1":1,"size2":1,"root1":{bad},"root2":"{good}","proof":[]}}"#);
            let err = serde_json::from_str::<ConsistencyProofDoc>(&json).unwrap_err();
            assert!(err.to_string().contains(msg), "{bad}: {err}");
            let json = format!(
                r#"{{"size1":1,"size2":1,"root1":"{good}","root2":"{good}","proof":["{good}",{bad}]}}"#
            );
            let err = serde_json::from_str::<ConsistencyProofDoc>(&json).unwrap_err();
            assert!(err.to_string().contains(msg), "proof {bad}: {err}");
        }
        // Go writes empty proofs as null.
        let json =
            format!(r#"{{"size1":1,"size2":1,"root1":"{good}","root2":"{good}","proof":null}}"#);
        let doc: ConsistencyProofDoc = serde_json::from_str(&json).unwrap();
        assert!(doc.proof.is_empty());
        doc.verify().unwrap();
    }
}

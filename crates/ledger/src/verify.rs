//! Full verification of a ledger: every entry, the tree, every checkpoint.
//!
//! The tree is recomputed from the entries alone and every signed
//! checkpoint's root is compared with the root at its size; as all roots
//! come from one recomputed tree, checkpoints that all match are also all
//! consistent with each other. A failure names the first bad position: the
//! first entry that does not parse, is out of place, or no longer hashes
//! to what was recorded when it was appended.
//!
//! Two more rules make the checkpoints hard to remove unnoticed (see
//! [`crate::store`] for the reasoning):
//!
//! - **Every entry is covered, but for one append.** At most
//!   [`MAX_UNSIGNED`] entries may follow the latest checkpoint: the ledger
//!   never lets more accumulate ([`crate::Ledger::append_all`] signs a
//!   checkpoint before it would), so more means checkpoints were removed or
//!   entries were added by something other than the ledger.
//! - **The latest checkpoint has copies.** In a ledger directory the latest
//!   signed checkpoint is also kept in `checkpoint.latest` and in the
//!   header of `tree.bin` ([`LatestCopy`]). Each copy must carry the log's
//!   signature, match the entries like any checkpoint, and be the latest
//!   checkpoint of `checkpoints.jsonl` or the one before it (a crash
//!   between writing the checkpoint and its copies leaves them one
//!   behind). A copy that `checkpoints.jsonl` lacks means checkpoints were
//!   removed; a copy older than that, or none, means the copy was.
//!
//! An exported bundle has no copies; the first rule still applies to it.

use std::collections::BTreeSet;

use crate::entry::Entry;
use crate::merkle::{self, CompactTree, Hash};
use crate::note::{Checkpoint, Note, VerifierKey};
use crate::store::MAX_UNSIGNED;

/// What a verifier trusts: the log's key, and the witnesses it knows.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The log's verifier key.
    pub log: VerifierKey,
    /// Witnesses' cosigner keys.
    pub witnesses: Vec<VerifierKey>,
    /// How many of `witnesses` must have cosigned a checkpoint.
    pub min_witnesses: usize,
}

/// A ledger that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Distinct checkpoints checked.
    pub checkpoints: usize,
    /// The largest checkpoint.
    pub latest: Option<Checkpoint>,
    /// Entries after the largest checkpoint (not yet covered by a signature).
    pub unsigned_tail: u64,
    /// The largest checkpoint cosigned by at least `min_witnesses` of the
    /// trusted witnesses, and by whom.
    pub witnessed: Option<(u64, Vec<String>)>,
    /// Entries carrying an identity's attestation (all verified).
    pub attested: u64,
}

/// Where and how a ledger fails verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location(*.position, *.checkpoint))]
pub struct Tamper {
    /// The first bad entry position, when it can be named.
    pub position: Option<u64>,
    /// The stored checkpoint (1-based, in stored order) involved, if any.
    pub checkpoint: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn location(position: Option<u64>, checkpoint: Option<usize>) -> String {
    match (position, checkpoint) {
        (Some(p), _) => format!("position {p}: "),
        (None, Some(c)) => format!("checkpoint {c}: "),
        (None, None) => String::new(),
    }
}

/// A copy of the latest signed checkpoint kept outside `checkpoints.jsonl`,
/// as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCopy {
    /// The file that keeps it (`checkpoint.latest`, `tree.bin`).
    pub file: String,
    /// The signed note it holds, if any.
    pub note: Option<String>,
    /// Whether the file holds something that is not a whole copy (a torn
    /// write, or someone else's bytes).
    pub damaged: bool,
}

/// Where a signed checkpoint was found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `checkpoints.jsonl`, this line (1-based).
    Stored(usize),
    /// A copy of the latest one, in this file.
    Copy(String),
}

impl Source {
    fn number(&self) -> Option<usize> {
        match self {
            Source::Stored(n) => Some(*n),
            Source::Copy(_) => None,
        }
    }

    fn name(&self) -> String {
        match self {
            Source::Stored(n) => format!("checkpoint {n}"),
            Source::Copy(file) => format!("the copy of the latest checkpoint in {file}"),
        }
    }
}

/// A signed checkpoint as found in the store.
struct Signed {
    source: Source,
    checkpoint: Checkpoint,
    witnesses: BTreeSet<String>,
}

/// Verifies `lines` (the entries, without newlines) against the stored
/// checkpoint notes, as for an exported bundle (no copies; see
/// [`verify_with_copies`]).
pub fn verify(
    lines: &[&[u8]],
    notes: &[String],
    trust: &Trust,
    recorded_leaf: &dyn Fn(u64) -> Option<Hash>,
) -> Result<Verified, Tamper> {
    verify_with_copies(lines, notes, &[], trust, recorded_leaf)
}

/// Verifies `lines` (the entries, without newlines) against the stored
/// checkpoint notes and the `copies` of the latest one. `recorded_leaf`
/// returns, where known, the leaf hash recorded when an entry was appended;
/// it only helps name the position.
pub fn verify_with_copies(
    lines: &[&[u8]],
    notes: &[String],
    copies: &[LatestCopy],
    trust: &Trust,
    recorded_leaf: &dyn Fn(u64) -> Option<Hash>,
) -> Result<Verified, Tamper> {
    let stored = read_checkpoints(notes, trust)?;
    let held = read_copies(copies, trust)?;
    let (leaves, first_bad_line, attested) = hash_lines(lines);
    let n = lines.len() as u64;

    // Compare every checkpoint's root, copies included, with the
    // recomputed tree.
    let mut by_size: Vec<&Signed> = stored.iter().chain(held.iter()).collect();
    by_size.sort_by_key(|s| s.checkpoint.size);
    let mut tree = CompactTree::new();
    let mut matched = 0u64;
    let mut next = by_size.iter().peekable();
    let mut mismatch: Option<Tamper> = None;
    'outer: for (i, leaf) in leaves.iter().enumerate() {
        while let Some(s) = next.peek() {
            if s.checkpoint.size != i as u64 {
                break;
            }
            if tree.root() != s.checkpoint.root {
                mismatch = Some(locate(matched, s, &leaves, recorded_leaf));
                break 'outer;
            }
            matched = s.checkpoint.size;
            next.next();
        }
        tree.push(*leaf, |_, _, _| {});
    }
    if mismatch.is_none() {
        for s in next {
            if s.checkpoint.size > n {
                mismatch = Some(Tamper {
                    position: Some(n),
                    checkpoint: s.source.number(),
                    message: format!(
                        "missing: {} covers {} entries but the ledger has only {n}; entries from position {n} on were removed",
                        s.source.name(),
                        s.checkpoint.size
                    ),
                });
                break;
            }
            if tree.root() != s.checkpoint.root {
                mismatch = Some(locate(matched, s, &leaves, recorded_leaf));
                break;
            }
            matched = s.checkpoint.size;
        }
    }

    // The earliest problem wins: a bad line before a bad root is the cause.
    let earliest = match (first_bad_line, mismatch) {
        (Some(line), Some(m)) => Some(if m.position.is_some_and(|p| p < line_position(&line)) {
            m
        } else {
            line
        }),
        (line, m) => line.or(m),
    };
    if let Some(t) = earliest {
        return Err(t);
    }
    check_copies(&stored, &held, copies)?;

    // Every entry is covered, but for what one interrupted append leaves.
    let latest = stored.last().map(|s| s.checkpoint.clone());
    let covered = latest.as_ref().map_or(0, |c| c.size);
    if n - covered > MAX_UNSIGNED {
        return Err(Tamper {
            position: Some(covered),
            checkpoint: None,
            message: format!(
                "no checkpoint covers the {} entries from position {covered} on, more than the {MAX_UNSIGNED} an interrupted append can leave: checkpoints were removed, or entries were added by something other than the ledger",
                n - covered
            ),
        });
    }

    let witnessed = stored
        .iter()
        .rev()
        .find(|s| s.witnesses.len() >= trust.min_witnesses.max(1))
        .map(|s| (s.checkpoint.size, s.witnesses.iter().cloned().collect()));
    if trust.min_witnesses > 0 && witnessed.is_none() {
        return Err(Tamper {
            position: None,
            checkpoint: None,
            message: format!(
                "no checkpoint is cosigned by {} of the {} trusted witnesses",
                trust.min_witnesses,
                trust.witnesses.len()
            ),
        });
    }
    Ok(Verified {
        entries: n,
        checkpoints: stored.len(),
        unsigned_tail: n - covered,
        latest,
        witnessed,
        attested,
    })
}

fn line_position(t: &Tamper) -> u64 {
    t.position.unwrap_or(0)
}

/// Names the entry that broke checkpoint `s`, whose predecessor at size
/// `from` matched: the first entry after `from` whose hash differs from
/// the one recorded at append time, else the range.
fn locate(
    from: u64,
    s: &Signed,
    leaves: &[Hash],
    recorded_leaf: &dyn Fn(u64) -> Option<Hash>,
) -> Tamper {
    let to = s.checkpoint.size.min(leaves.len() as u64);
    for i in from..to {
        if let Some(recorded) = recorded_leaf(i)
            && recorded != leaves[i as usize]
        {
            return Tamper {
                position: Some(i),
                checkpoint: s.source.number(),
                message: format!(
                    "entry {i} was changed after it was appended: it no longer hashes to what was recorded then, and {} (size {}) does not match",
                    s.source.name(),
                    s.checkpoint.size
                ),
            };
        }
    }
    Tamper {
        position: None,
        checkpoint: s.source.number(),
        message: format!(
            "the entries at positions {from} to {} do not match {} (size {}): one of them was changed, or the checkpoint was replaced",
            to.saturating_sub(1),
            s.source.name(),
            s.checkpoint.size
        ),
    }
}

/// Parses and hashes every line, on every CPU. Returns the leaf hashes,
/// the first line that is not a valid entry in its place, and how many
/// entries carry a (verified) attestation.
fn hash_lines(lines: &[&[u8]]) -> (Vec<Hash>, Option<Tamper>, u64) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = lines.len().div_ceil(threads).max(1024);
    let results: Vec<(Vec<Hash>, Option<Tamper>, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    let base = (c * chunk) as u64;
                    let mut leaves = Vec::with_capacity(part.len());
                    let mut bad = None;
                    let mut attested = 0;
                    for (i, line) in part.iter().enumerate() {
                        let position = base + i as u64;
                        leaves.push(merkle::leaf_hash(line));
                        if bad.is_some() {
                            continue;
                        }
                        match check_line(line, position) {
                            Ok(true) => attested += 1,
                            Ok(false) => {}
                            Err(message) => {
                                bad = Some(Tamper {
                                    position: Some(position),
                                    checkpoint: None,
                                    message,
                                })
                            }
                        }
                    }
                    (leaves, bad, attested)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a hashing thread panicked"))
            .collect()
    });
    let mut leaves = Vec::with_capacity(lines.len());
    let mut first_bad = None;
    let mut attested = 0;
    for (l, bad, a) in results {
        leaves.extend(l);
        attested += a;
        if first_bad.is_none() {
            first_bad = bad;
        }
    }
    (leaves, first_bad, attested)
}

/// Checks one line; `Ok(true)` when it carries a verified attestation.
fn check_line(line: &[u8], position: u64) -> Result<bool, String> {
    let entry = Entry::parse(line).map_err(|e| format!("entry is unreadable: {e}"))?;
    if entry.index != position {
        return Err(format!(
            "expected entry {position} here but found entry {}: entries were deleted, inserted or reordered",
            entry.index
        ));
    }
    entry
        .verify_attestation()
        .map(|k| k.is_some())
        .map_err(|e| e.to_string())
}

/// Reads and checks the stored checkpoint notes: each must parse, be for
/// this log, and carry the log's valid signature (or, for a stored
/// cosignature, repeat a checkpoint that does); sizes may only grow in
/// stored order, and one size has one root.
fn read_checkpoints(notes: &[String], trust: &Trust) -> Result<Vec<Signed>, Tamper> {
    let mut keys = vec![trust.log.clone()];
    keys.extend(trust.witnesses.iter().cloned());
    let mut signed: Vec<Signed> = Vec::new();
    for (i, text) in notes.iter().enumerate() {
        let number = i + 1;
        let fail = |message: String| Tamper {
            position: None,
            checkpoint: Some(number),
            message,
        };
        let note = Note::parse(text).map_err(|e| fail(format!("cannot be read: {e}")))?;
        let checkpoint = Checkpoint::parse_text(&note.text)
            .map_err(|e| fail(format!("is not a checkpoint: {e}")))?;
        if checkpoint.origin != trust.log.name().to_string() {
            return Err(fail(format!(
                "is for log {:?}, not {:?}",
                checkpoint.origin,
                trust.log.name().to_string()
            )));
        }
        let log_signed = note.signatures.iter().any(|s| s.is_from(&trust.log));
        let earlier = signed.iter().position(|s| s.checkpoint == checkpoint);
        if !log_signed && earlier.is_none() {
            return Err(fail(
                "is not signed by the log's key (and repeats no signed checkpoint)".into(),
            ));
        }
        let verified = if note
            .signatures
            .iter()
            .any(|s| keys.iter().any(|k| s.is_from(k)))
        {
            note.verify(&keys)
                .map_err(|e| fail(format!("signature check failed: {e}")))?
        } else {
            Vec::new()
        };
        let witnesses: BTreeSet<String> = verified
            .iter()
            .filter(|v| trust.witnesses.contains(&v.key))
            .map(|v| v.key.name().to_string())
            .collect();
        if let Some(j) = earlier {
            signed[j].witnesses.extend(witnesses);
            continue;
        }
        if let Some(prev) = signed.last() {
            if checkpoint.size < prev.checkpoint.size {
                return Err(fail(format!(
                    "size {} is smaller than {}'s {} stored before it: checkpoints were reordered or replaced",
                    checkpoint.size,
                    prev.source.name(),
                    prev.checkpoint.size
                )));
            }
            if checkpoint.size == prev.checkpoint.size {
                return Err(fail(format!(
                    "contradicts {}: same size {}, different root",
                    prev.source.name(),
                    checkpoint.size
                )));
            }
        }
        signed.push(Signed {
            source: Source::Stored(number),
            checkpoint,
            witnesses,
        });
    }
    Ok(signed)
}

/// Reads the copies of the latest checkpoint: each one that holds a note
/// must be a checkpoint of this log carrying its valid signature.
fn read_copies(copies: &[LatestCopy], trust: &Trust) -> Result<Vec<Signed>, Tamper> {
    let mut held = Vec::new();
    for copy in copies {
        let Some(text) = &copy.note else { continue };
        let fail = |why: String| Tamper {
            position: None,
            checkpoint: None,
            message: format!(
                "{} holds a copy of the latest checkpoint that is not this log's: {why}",
                copy.file
            ),
        };
        let note = Note::parse(text).map_err(|e| fail(format!("it cannot be read: {e}")))?;
        note.verify(std::slice::from_ref(&trust.log))
            .map_err(|e| fail(format!("its signature does not verify: {e}")))?;
        let checkpoint = Checkpoint::parse_text(&note.text)
            .map_err(|e| fail(format!("it is not a checkpoint: {e}")))?;
        if checkpoint.origin != trust.log.name().to_string() {
            return Err(fail(format!("it is for log {:?}", checkpoint.origin)));
        }
        held.push(Signed {
            source: Source::Copy(copy.file.clone()),
            checkpoint,
            witnesses: BTreeSet::new(),
        });
    }
    Ok(held)
}

/// Checks that every copy is of the latest stored checkpoint or the one
/// before it (their roots have been checked against the entries already).
fn check_copies(stored: &[Signed], held: &[Signed], copies: &[LatestCopy]) -> Result<(), Tamper> {
    let latest = stored.last().map(|s| &s.checkpoint);
    let previous = stored.len().checked_sub(2).map(|i| &stored[i].checkpoint);
    let fail = |message: String| {
        Err(Tamper {
            position: None,
            checkpoint: None,
            message,
        })
    };
    for copy in copies {
        let file = &copy.file;
        let size = held
            .iter()
            .find(|s| s.source == Source::Copy(file.clone()))
            .map(|s| s.checkpoint.size);
        let lacks = |size: u64| {
            fail(format!(
                "{file} keeps a copy of the checkpoint of size {size}, which checkpoints.jsonl lacks ({}): checkpoints were removed",
                latest.map_or("it holds none".to_string(), |l| format!(
                    "its latest is of size {}",
                    l.size
                )),
            ))
        };
        let Some(latest) = latest else {
            match size {
                Some(size) => return lacks(size),
                None => continue,
            }
        };
        match size {
            Some(size) if size == latest.size => {}
            // One behind: the process that stored the latest checkpoint
            // stopped before it wrote the copies.
            Some(size) if previous.is_some_and(|p| p.size == size) => {}
            Some(size) if stored.iter().all(|s| s.checkpoint.size != size) => return lacks(size),
            Some(size) => {
                return fail(format!(
                    "{file} keeps a copy of the checkpoint of size {size}, older than the last two in checkpoints.jsonl (the latest is of size {}): it was replaced by an old copy",
                    latest.size
                ));
            }
            // The first checkpoint, stored before its copies were written.
            None if stored.len() == 1 => {}
            None => {
                return fail(format!(
                    "{file} keeps no copy of the latest checkpoint (size {}){}, though checkpoints.jsonl holds {} checkpoints: the copy was removed or replaced",
                    latest.size,
                    if copy.damaged {
                        "; what it holds is damaged"
                    } else {
                        ""
                    },
                    stored.len()
                ));
            }
        }
    }
    Ok(())
}

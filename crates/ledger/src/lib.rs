//! portreeve's ledger: an append-only record of every port change that
//! nobody can rewrite unnoticed.
//!
//! The principal type in this crate is a [`Ledger`]: a directory opened for
//! appending, holding the log's signing key. A caller describes an action as
//! a [`Draft`] (what, by whom, on what, with before/after digests and the
//! policy in effect); [`Ledger::append`] makes it an [`Entry`] and returns
//! only once it is durable. [`Ledger::checkpoint`] signs the current head of
//! the log as a C2SP checkpoint ([`note`]), which witnesses can countersign,
//! and a [`Bundle`] exports entries and checkpoints so that anyone holding
//! the log's public key can check them offline against a [`Trust`], getting
//! [`Verified`] or the first [`Tamper`]ed position.
//! A [`Follower`] reads the entries appended since it last looked, from
//! where it stopped, for a reader that looks often (the agent's alerts).
//!
//! It is a transparency log in the manner of Certificate Transparency and
//! Sigstore: entries are canonical JSON records ([`entry`]), an RFC 9162
//! Merkle tree is kept over them ([`merkle`]), and the files and their
//! durability rules are described in [`store`]. The ledger records what it
//! is told; it does not decide what is worth recording, never repairs or
//! truncates an entry that does not parse (it refuses to append instead),
//! and never trusts its own caches when verifying ([`verify`]). It keeps
//! the latest signed checkpoint in three places and will not append to, or
//! sign over, entries that contradict any of them, so that removing the
//! checkpoints does not turn an edited or cut history into a signed one
//! ([`store`] says what that does and does not stop).
//!
//! # Example
//!
//! ```
//! use portreeve_ledger::{Bundle, Draft, Ledger, Trust, digest};
//!
//! let dir = tempfile::tempdir()?;
//! let ledger = Ledger::open(dir.path())?;
//!
//! let mut draft = Draft::new("apply", "alice", "generation 1");
//! draft.policy = Some(digest(b"[zones]\n"));
//! let appended = ledger.append(draft)?;
//! assert_eq!(appended.index, 0);
//!
//! // Sign the head, and check the signature with the log's public key.
//! let checkpoint = ledger.checkpoint()?;
//! assert_eq!(checkpoint.verify(&[ledger.verifier()])?.len(), 1);
//!
//! // What an auditor does with an export and a key obtained independently.
//! let trust = Trust { log: ledger.verifier(), witnesses: vec![], min_witnesses: 0 };
//! let verified = Bundle::export(&ledger)?.verify(&trust)?;
//! assert_eq!((verified.entries, verified.unsigned_tail), (1, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bundle;
mod copies;
pub mod entry;
mod files;
pub mod follow;
mod lines;
pub mod merkle;
pub mod note;
pub mod store;
pub mod verify;

pub use bundle::Bundle;
pub use entry::{Draft, Entry, digest};
pub use follow::Follower;
pub use store::{Appended, Ledger, LedgerError};
pub use verify::{LatestCopy, Tamper, Trust, Verified};

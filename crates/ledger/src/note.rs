//! C2SP signed notes, checkpoints, Ed25519 keys and witness cosignatures.
//!
//! The ledger publishes each head of its Merkle tree as a [checkpoint]
//! wrapped in a [signed note], and lets witnesses countersign it with
//! [cosignatures]. These are public formats rather than something of our
//! own because the point of a transparency log is that *other people's*
//! tools can check it: Go's `sumdb/note`, the witnesses of the public
//! witness network and any C2SP-speaking monitor read exactly these bytes.
//! Everything here is therefore written to the letter of the specifications
//! and checked against vectors published by other implementations
//! (`tests/note_interop.rs`).
//!
//! # Trust model
//!
//! The text of a note means nothing until [`Note::verify`] has succeeded
//! against keys that the caller trusts for reasons of its own. Parsing
//! ([`Note::parse`]) only checks the syntax, so that a bad note can be
//! reported precisely; it says nothing about who wrote it. Verification
//! follows the signed-note rules: signatures from keys the caller does not
//! know are ignored (that is how a log rotates keys and how witnesses add
//! cosignatures without breaking old clients), a known key whose signature
//! fails rejects the whole note, and a note with no verified signature from
//! a known key is rejected.
//!
//! # Keys
//!
//! A key is identified by its name and a 4-byte key ID derived from the
//! name, the signature type and the public key. Two kinds are supported
//! ([`KeyKind`]): plain Ed25519 note signatures (type 0x01), which the log
//! uses on its own checkpoints, and timestamped Ed25519 cosignatures (type
//! 0x04), which witnesses use. The kinds are kept apart on purpose: a
//! cosignature is a statement about consistency *at a time*, and must never
//! be mistaken for the log's own signature or the other way round. Keys
//! are written in the text encodings of Go's `sumdb/note` ([`VerifierKey`]
//! and [`SignerKey`] implement `Display` and `FromStr`), so a key made here
//! can be pasted into a Go witness configuration and back.
//!
//! # Example
//!
//! ```
//! use portreeve_ledger::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey};
//!
//! let log = SignerKey::generate(KeyName::new("example.com/log")?, KeyKind::NoteSigner)?;
//! let witness = SignerKey::generate(KeyName::new("witness.example/w1")?, KeyKind::Cosigner)?;
//!
//! let checkpoint = Checkpoint {
//!     origin: "example.com/log".into(),
//!     size: 3,
//!     root: [7; 32],
//!     extensions: vec![],
//! };
//! let mut note = checkpoint.to_note()?;
//! note.sign(&log)?;
//! note.cosign(&witness, 1_700_000_000)?;
//!
//! // What goes over the wire, and what a client does with it.
//! let wire = note.to_string();
//! let received = Note::parse(&wire)?;
//! let verified = received.verify(&[log.verifier(), witness.verifier()])?;
//! assert_eq!(verified.len(), 2);
//! assert_eq!(verified[1].timestamp, Some(1_700_000_000));
//! assert_eq!(Checkpoint::parse_text(&received.text)?, checkpoint);
//! # Ok::<(), portreeve_ledger::note::NoteError>(())
//! ```
//!
//! [checkpoint]: https://c2sp.org/tlog-checkpoint
//! [signed note]: https://c2sp.org/signed-note
//! [cosignatures]: https://c2sp.org/tlog-cosignature

mod checkpoint;
mod error;
mod key;
mod signed;
#[cfg(test)]
mod tests;

pub use checkpoint::Checkpoint;
pub use error::{KeyEncoding, KeyError, KeyNameError, NoteError, SignatureProblem};
pub use key::{KeyKind, KeyName, SignerKey, VerifierKey};
pub use signed::{MAX_NOTE_SIZE, MAX_SIGNATURES, Note, NoteSignature, VerifiedNote};

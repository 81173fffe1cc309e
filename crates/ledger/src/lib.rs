//! portreeve's ledger: an append-only record of every port change that
//! nobody can rewrite unnoticed.
//!
//! It is a transparency log in the manner of Certificate Transparency and
//! Sigstore: entries are canonical JSON records ([`entry`]), an RFC 9162
//! Merkle tree is kept over them ([`merkle`]), and its heads are published
//! as signed C2SP checkpoints that witnesses can countersign ([`note`]).
//! Appends are durable before they are acknowledged ([`store`]), and anyone
//! holding the log's public key can check an exported copy offline
//! ([`bundle`], [`verify`]).

pub mod bundle;
pub mod entry;
pub mod merkle;
pub mod note;
pub mod store;
pub mod verify;

pub use bundle::Bundle;
pub use entry::{Draft, Entry, digest};
pub use store::{Appended, Ledger, LedgerError};
pub use verify::{Tamper, Trust, Verified};

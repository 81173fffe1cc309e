//! The errors of the note module.
//!
//! Every message says what is wrong and where: a line number within the
//! note (counting from 1, text lines first, then the blank line, then the
//! signature lines), a signature number, or the field of a key. Notes and
//! keys are pasted around by people, and "malformed note" alone leaves them
//! to diff bytes by hand. Messages about signer keys never quote the key
//! data, since that is a secret.

use std::fmt;

use super::key::KeyKind;

/// Longest piece of input quoted back in an error message. Notes can be a
/// megabyte long; an error that echoes all of it helps nobody.
const MAX_QUOTED: usize = 64;

/// Cuts `s` to at most [`MAX_QUOTED`] characters for quoting in an error.
pub(super) fn snippet(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Renders a list of keys for [`NoteError::NoVerifiedSignature`].
fn key_list(keys: &[String]) -> String {
    if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.join(", ")
    }
}

/// Everything that can go wrong reading, writing, signing or verifying a
/// note, a checkpoint or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note (or checkpoint text) is longer than [`MAX_NOTE_SIZE`]
    /// bytes. The cap keeps a hostile peer from making us hash and store
    /// arbitrary amounts of data.
    ///
    /// [`MAX_NOTE_SIZE`]: super::MAX_NOTE_SIZE
    #[error("note is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// Line (from 1) holding the first invalid byte.
        line: usize,
    },
    /// A control character other than newline, which signed notes forbid
    /// so that what a person sees is what was signed.
    #[error(
        "line {line}, column {column}: control character U+{code:04X}; only newline may appear"
    )]
    ControlCharacter {
        /// Line of the character, from 1.
        line: usize,
        /// Column of the character, from 1, counted in characters.
        column: usize,
        /// The character.
        code: u8,
    },
    /// The note, note text or checkpoint text does not end with a newline.
    #[error("{what} does not end with a newline")]
    MissingFinalNewline {
        /// Which input: "note", "note text" or "checkpoint text".
        what: &'static str,
    },
    /// There is no blank line, so there are no signatures.
    #[error("no blank line separates the note text from its signatures")]
    MissingBlankLine,
    /// The last blank line is the last line: the note is unsigned.
    #[error("line {line}: the blank line is not followed by any signature line")]
    NoSignatures {
        /// Line of the blank line.
        line: usize,
    },
    /// More signature lines than [`MAX_SIGNATURES`].
    ///
    /// [`MAX_SIGNATURES`]: super::MAX_SIGNATURES
    #[error("note has {count} signatures, over the limit of {max}")]
    TooManySignatures {
        /// How many the note has (or would have).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A signature line does not start with an em dash and a space.
    #[error("line {line}: signature line does not start with \"— \" (em dash U+2014, space)")]
    SignaturePrefix {
        /// Line of the signature line.
        line: usize,
    },
    /// A signature line has a key name but nothing after it.
    #[error("line {line}: signature line has no space between the key name and the signature")]
    SignatureMissingSpace {
        /// Line of the signature line.
        line: usize,
    },
    /// The key name of a signature line is not a valid key name.
    #[error("line {line}: {problem}")]
    SignatureKeyName {
        /// Line of the signature line.
        line: usize,
        /// What is wrong with the name.
        problem: KeyNameError,
    },
    /// The signature of a signature line is not canonical standard base64.
    #[error("line {line}: signature is not valid base64")]
    SignatureBase64 {
        /// Line of the signature line.
        line: usize,
    },
    /// The signature is too short to hold a key ID and a signature.
    #[error(
        "line {line}: signature is {len} bytes; it needs a 4-byte key ID and at least 1 signature byte"
    )]
    SignatureTooShort {
        /// Line of the signature line.
        line: usize,
        /// Decoded length in bytes.
        len: usize,
    },
    /// A key name given on its own is not valid.
    #[error("{0}")]
    KeyName(KeyNameError),
    /// A verifier or signer key string is not valid.
    #[error("{encoding}: {problem}")]
    Key {
        /// Which encoding was being read.
        encoding: KeyEncoding,
        /// What is wrong with it.
        problem: KeyError,
    },
    /// The operating system gave no randomness for a new key.
    #[error("cannot generate a key: no randomness from the operating system: {0}")]
    Entropy(String),
    /// A key of one kind was used where the other kind is needed.
    #[error("key {key} is a {actual} key, but {operation} needs a {expected} key")]
    WrongKeyKind {
        /// The key, as `name+keyid`.
        key: String,
        /// Its kind.
        actual: KeyKind,
        /// The operation that refused it.
        operation: &'static str,
        /// The kind that operation needs.
        expected: KeyKind,
    },
    /// A cosignature timestamp above 2^63 - 1, which tlog-cosignature
    /// forbids.
    #[error("cosignature timestamp {timestamp} is above 2^63-1")]
    TimestampOutOfRange {
        /// The timestamp.
        timestamp: u64,
    },
    /// [`Note::cosign`] was asked to cosign a note whose text is not a
    /// checkpoint. A witness key vouches for checkpoints only; signing
    /// anything else with it would let that statement be passed off as a
    /// cosignature.
    ///
    /// [`Note::cosign`]: super::Note::cosign
    #[error("only checkpoints can be cosigned, and the note text is not one: {0}")]
    NotACheckpoint(Box<NoteError>),
    /// A signature from a known key is invalid, which rejects the note.
    #[error("signature {number} (key {key}, line {line}): {problem}")]
    BadSignature {
        /// Number of the signature in the note, from 1.
        number: usize,
        /// Line of the signature in the serialized note.
        line: usize,
        /// The key, as `name+keyid`.
        key: String,
        /// What is wrong.
        problem: SignatureProblem,
    },
    /// Several different known keys share the name and key ID of a
    /// signature, so it cannot be told which one should verify it.
    #[error(
        "several different known keys are {key} (same name and key ID); cannot tell which one signed"
    )]
    AmbiguousKey {
        /// The key, as `name+keyid`.
        key: String,
    },
    /// No signature of the note is from a known key.
    #[error("none of the note's {} signature(s) is from a known key (signed by: {})", .signers.len(), key_list(.signers))]
    NoVerifiedSignature {
        /// The keys that did sign, as `name+keyid`.
        signers: Vec<String>,
    },
    /// A checkpoint lacks one of its three mandatory lines.
    #[error(
        "line {line}: missing the {what} line; a checkpoint has origin, tree size and root hash lines"
    )]
    CheckpointMissingLine {
        /// Line where it was expected.
        line: usize,
        /// Which line: "tree size" or "root hash".
        what: &'static str,
    },
    /// A checkpoint line is empty; tlog-checkpoint forbids empty lines.
    #[error("line {line}: {what} line is empty")]
    CheckpointEmptyLine {
        /// The empty line.
        line: usize,
        /// Which line: "origin", "tree size", "root hash" or "extension".
        what: &'static str,
    },
    /// A field of a checkpoint being written contains a newline, which
    /// would split it into several lines and change the checkpoint.
    #[error("line {line}: {what} contains a newline; it must be a single line")]
    CheckpointLineBreak {
        /// The line the field goes on.
        line: usize,
        /// Which field: "origin" or "extension".
        what: &'static str,
    },
    /// The tree size is not made of ASCII digits only.
    #[error("line {line}: tree size {value:?} is not a decimal number")]
    TreeSizeNotDecimal {
        /// Line of the tree size.
        line: usize,
        /// The line (cut short if long).
        value: String,
    },
    /// The tree size has a leading zero, which would give one tree head
    /// two encodings.
    #[error("line {line}: tree size {value:?} has a leading zero")]
    TreeSizeLeadingZero {
        /// Line of the tree size.
        line: usize,
        /// The line (cut short if long).
        value: String,
    },
    /// The tree size is larger than a `u64`.
    #[error("line {line}: tree size {value:?} does not fit in 64 bits")]
    TreeSizeOverflow {
        /// Line of the tree size.
        line: usize,
        /// The line (cut short if long).
        value: String,
    },
    /// The root hash is not canonical standard base64.
    #[error("line {line}: root hash is not valid base64")]
    RootHashBase64 {
        /// Line of the root hash.
        line: usize,
    },
    /// The root hash does not decode to 32 bytes.
    #[error("line {line}: root hash is {len} bytes, want 32")]
    RootHashLength {
        /// Line of the root hash.
        line: usize,
        /// Decoded length in bytes.
        len: usize,
    },
}

/// What is wrong with a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyNameError {
    /// The name is empty.
    #[error("key name is empty")]
    Empty,
    /// The name contains '+', which separates fields in key encodings.
    #[error("key name {name:?} contains '+' at byte {at}")]
    Plus {
        /// The name (cut short if long).
        name: String,
        /// Byte offset of the '+'.
        at: usize,
    },
    /// The name contains a Unicode space, which separates fields in
    /// signature lines.
    #[error("key name {name:?} contains a space character (U+{code:04X}) at byte {at}")]
    Space {
        /// The name (cut short if long).
        name: String,
        /// Byte offset of the space.
        at: usize,
        /// The space character.
        code: u32,
    },
    /// The name contains a control character.
    #[error("key name {name:?} contains a control character (U+{code:04X}) at byte {at}")]
    Control {
        /// The name (cut short if long).
        name: String,
        /// Byte offset of the character.
        at: usize,
        /// The character.
        code: u32,
    },
}

/// Which text encoding of a key was being read, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// `<name>+<key ID>+<base64 key>`, as [`VerifierKey`](super::VerifierKey).
    Verifier,
    /// `PRIVATE+KEY+<name>+<key ID>+<base64 key>`, as
    /// [`SignerKey`](super::SignerKey).
    Signer,
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Verifier => "verifier key",
            Self::Signer => "signer key",
        })
    }
}

/// What is wrong with a verifier or signer key string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A signer key must start with `PRIVATE+KEY+`; the marker keeps a
    /// secret from being mistaken for a public key.
    #[error("does not start with \"PRIVATE+KEY+\"")]
    MissingPrivatePrefix,
    /// The string does not have its three '+'-separated fields.
    #[error("needs three '+'-separated fields: key name, 8-hex-digit key ID, base64 key data")]
    Format,
    /// The key name field is not a valid key name.
    #[error("{0}")]
    Name(KeyNameError),
    /// The key ID field is not 8 lowercase hex digits.
    #[error("key ID {found:?} is not 8 lowercase hex digits")]
    KeyIdSyntax {
        /// The field (cut short if long).
        found: String,
    },
    /// The key data field is not canonical standard base64.
    #[error("key data is not valid base64")]
    Base64,
    /// The key data is empty: not even a type byte.
    #[error("key data is empty")]
    Empty,
    /// The type byte is not one this module supports.
    #[error(
        "signature type 0x{type_byte:02x} is not supported (only 0x01, Ed25519, and 0x04, Ed25519 cosignature)"
    )]
    UnknownType {
        /// The type byte.
        type_byte: u8,
    },
    /// The key after the type byte has the wrong length.
    #[error("key is {len} bytes after the type byte, want {want}")]
    Length {
        /// Its length.
        len: usize,
        /// The length Ed25519 needs.
        want: usize,
    },
    /// The public key is not the encoding of a point on Ed25519.
    #[error("public key is not a valid Ed25519 point")]
    NotAPoint,
    /// The public key is a small-order point, for which signatures prove
    /// nothing; no honest key generator produces one.
    #[error("public key is a weak (small-order) Ed25519 point")]
    WeakKey,
    /// The key ID field does not match the name, type and key.
    #[error("key ID {stated:08x} does not match the key (name, type and key give {computed:08x})")]
    KeyIdMismatch {
        /// The key ID the string states.
        stated: u32,
        /// The key ID computed from its name, type and key.
        computed: u32,
    },
}

/// Why the signature of a known key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    /// The signature is not a valid signature of the note by the key.
    #[error("does not verify")]
    DoesNotVerify,
    /// The signature has the wrong length for the key's kind.
    #[error("is {len} bytes after the key ID, but a {kind} signature is {want}")]
    WrongLength {
        /// Its length.
        len: usize,
        /// The kind of the key.
        kind: KeyKind,
        /// The length that kind of signature has.
        want: usize,
    },
    /// A cosignature timestamp above 2^63 - 1.
    #[error("cosignature timestamp {timestamp} is above 2^63-1")]
    TimestampOutOfRange {
        /// The timestamp.
        timestamp: u64,
    },
}

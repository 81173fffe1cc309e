//! Signed notes (c2sp.org/signed-note): parsing, writing, signing,
//! cosigning (c2sp.org/tlog-cosignature) and verifying.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signature;

use super::checkpoint::Checkpoint;
use super::error::{NoteError, SignatureProblem};
use super::key::{KeyKind, KeyName, SignerKey, VerifierKey, check_key_name};

/// Most signatures a note may carry. Signed-note requires accepting at
/// least 16; 100 is what Go's `sumdb/note` allows, which leaves room for
/// a log key, a rotation key and dozens of witnesses while bounding the
/// work a hostile note can cause.
pub const MAX_SIGNATURES: usize = 100;

/// Largest note, in bytes, that is parsed at all (1 MiB). Checkpoints are
/// a few hundred bytes; the cap only exists so that nobody can make us
/// hold or hash arbitrary amounts of data.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The first line of the message a cosigner signs, which keeps a
/// cosignature from ever being valid as any other kind of signature.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// One signature line of a note: `— <name> <base64(key ID || signature)>`.
///
/// Parsing a note does not check signatures, so a `NoteSignature` is only a
/// claim until [`Note::verify`] has matched it with a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The name of the key that (supposedly) made the signature.
    pub name: KeyName,
    /// The key ID of that key.
    pub key_id: u32,
    /// The signature proper: 64 bytes for a note signer, an 8-byte
    /// timestamp and 64 bytes for a cosigner, and other lengths for
    /// signature types this module does not know.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Whether this signature claims to be from `key` (same name and key
    /// ID). Only such signatures are checked against `key`.
    pub fn is_from(&self, key: &VerifierKey) -> bool {
        self.key_id == key.key_id() && self.name == *key.name()
    }

    /// The timestamp of this signature read as a cosignature, if it has
    /// the length of one. It is **unverified**: use it to show what a
    /// note claims, and [`VerifiedNote::timestamp`] to rely on it.
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        if self.signature.len() != KeyKind::Cosigner.signature_len() {
            return None;
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.signature[..8]);
        Some(u64::from_be_bytes(bytes))
    }

    /// The key as `name+keyid`, as error messages name keys.
    fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.key_id)
    }
}

impl fmt::Display for NoteSignature {
    /// Writes the signature line without its final newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        write!(f, "— {} {}", self.name, BASE64.encode(bytes))
    }
}

/// A signature that [`Note::verify`] checked with a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The known key that the signature verified with.
    pub key: VerifierKey,
    /// Index of the signature in [`Note::signatures`].
    pub index: usize,
    /// For a cosignature, the time (POSIX seconds) at which the cosigner
    /// says it saw the checkpoint as the latest. Signed-note leaves it to
    /// the verifier whether to accept times in the future; `None` for a
    /// plain note signature.
    pub timestamp: Option<u64>,
}

/// A signed note: text, then signatures over it.
///
/// `to_string()` writes the note in the wire format, and for a note that
/// came from [`Note::parse`] gives back exactly the parsed bytes. A note
/// built by hand is only well formed if its text is (see [`Note::new`]);
/// [`Note::sign`], [`Note::cosign`] and [`Note::verify`] check that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text: one or more lines, each ending in a newline.
    pub text: String,
    /// The signatures, in the order of their lines.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Makes an unsigned note of `text`, checking it can be signed: it
    /// must end in a newline, contain no control character but newline,
    /// and stay under [`MAX_NOTE_SIZE`].
    ///
    /// # Errors
    ///
    /// The first rule `text` breaks, with its line.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a note from bytes, which must be UTF-8. Notes arrive as
    /// bytes from files and the network; this reports invalid UTF-8 with
    /// its line rather than leaving the caller to convert first.
    ///
    /// # Errors
    ///
    /// As [`Note::parse`], and [`NoteError::InvalidUtf8`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, NoteError> {
        check_size(bytes.len())?;
        let text = std::str::from_utf8(bytes).map_err(|e| NoteError::InvalidUtf8 {
            line: line_of(&bytes[..e.valid_up_to()]),
        })?;
        Self::parse(text)
    }

    /// Parses a note, checking its syntax but no signature.
    ///
    /// The text is everything up to the *last* blank line, so that text
    /// may itself contain blank lines; everything after it must be
    /// signature lines. Each signature must be canonical base64 (the
    /// encoding that writing produces) of a key ID and at least one byte,
    /// which is what lets `to_string()` give back the input exactly.
    ///
    /// # Errors
    ///
    /// The first problem found, with its line.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        check_size(note.len())?;
        check_chars(note)?;
        if !note.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline { what: "note" });
        }
        let split = note.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let text = &note[..=split];
        let block = &note[split + 2..];
        let blank_line = text.matches('\n').count() + 1;
        if block.is_empty() {
            return Err(NoteError::NoSignatures { line: blank_line });
        }
        let count = block.matches('\n').count();
        if count > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                max: MAX_SIGNATURES,
            });
        }
        let signatures = block[..block.len() - 1]
            .split('\n')
            .enumerate()
            .map(|(i, line)| parse_signature_line(line, blank_line + 1 + i))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Signs the text with a note signer key (type 0x01) and adds the
    /// signature, replacing any earlier signature by the same key, as Go's
    /// `note.Sign` does: a key has one opinion about a text.
    ///
    /// # Errors
    ///
    /// [`NoteError::WrongKeyKind`] for a cosigner key, whose signatures
    /// mean something else (use [`Note::cosign`]); an error if the text is
    /// not well formed; [`NoteError::TooManySignatures`] if the note is full.
    pub fn sign(&mut self, key: &SignerKey) -> Result<(), NoteError> {
        check_kind(key, KeyKind::NoteSigner, "Note::sign")?;
        check_text(&self.text)?;
        let signature = key.sign_bytes(self.text.as_bytes()).to_vec();
        self.put_signature(key, signature)
    }

    /// Cosigns the text, a checkpoint, with a cosigner key (type 0x04) as
    /// having been seen at `timestamp` (POSIX seconds), and adds the
    /// cosignature, replacing any earlier one by the same key: a witness's
    /// newest statement supersedes the older one.
    ///
    /// # Errors
    ///
    /// [`NoteError::WrongKeyKind`] for a note signer key;
    /// [`NoteError::NotACheckpoint`] if the text is not a checkpoint;
    /// [`NoteError::TimestampOutOfRange`] above 2^63 - 1; an error if the
    /// text is not well formed; [`NoteError::TooManySignatures`] if the
    /// note is full.
    pub fn cosign(&mut self, key: &SignerKey, timestamp: u64) -> Result<(), NoteError> {
        check_kind(key, KeyKind::Cosigner, "Note::cosign")?;
        check_text(&self.text)?;
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::TimestampOutOfRange { timestamp });
        }
        Checkpoint::parse_text(&self.text).map_err(|e| NoteError::NotACheckpoint(Box::new(e)))?;
        let message = cosignature_message(timestamp, &self.text);
        let mut signature = timestamp.to_be_bytes().to_vec();
        signature.extend_from_slice(&key.sign_bytes(message.as_bytes()));
        self.put_signature(key, signature)
    }

    /// Verifies the note against the keys the caller trusts, and returns
    /// the signatures that verified, in note order.
    ///
    /// A signature is checked against a key when both its name and key ID
    /// match; signatures matching no key are ignored, as signed-note
    /// requires, so that unknown witnesses and rotated keys do no harm.
    /// Identical signature lines are checked and returned once. A key may
    /// still appear twice (a witness's cosignatures at two times), so a
    /// caller counting a quorum must count distinct keys.
    ///
    /// # Errors
    ///
    /// [`NoteError::BadSignature`] if a signature from a known key fails,
    /// which rejects the whole note; [`NoteError::NoVerifiedSignature`] if
    /// no signature is from a known key; [`NoteError::AmbiguousKey`] if
    /// two different known keys share a name and key ID; an error if the
    /// text is not well formed.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifiedNote>, NoteError> {
        check_text(&self.text)?;
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: self.signatures.len(),
                max: MAX_SIGNATURES,
            });
        }
        let mut verified = Vec::new();
        for (index, signature) in self.signatures.iter().enumerate() {
            let mut known = keys.iter().filter(|key| signature.is_from(key));
            let Some(key) = known.next() else { continue };
            if known.any(|other| other != key) {
                return Err(NoteError::AmbiguousKey {
                    key: signature.label(),
                });
            }
            if self.signatures[..index].contains(signature) {
                continue;
            }
            let timestamp = self.check_signature(index, signature, key)?;
            verified.push(VerifiedNote {
                key: key.clone(),
                index,
                timestamp,
            });
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature {
                signers: self.signatures.iter().map(NoteSignature::label).collect(),
            });
        }
        Ok(verified)
    }

    /// Checks one signature against its key; returns the timestamp of a
    /// cosignature.
    fn check_signature(
        &self,
        index: usize,
        signature: &NoteSignature,
        key: &VerifierKey,
    ) -> Result<Option<u64>, NoteError> {
        let fail = |problem| NoteError::BadSignature {
            number: index + 1,
            line: self.text.matches('\n').count() + 2 + index,
            key: signature.label(),
            problem,
        };
        let kind = key.kind();
        let bytes = &signature.signature;
        if bytes.len() != kind.signature_len() {
            return Err(fail(SignatureProblem::WrongLength {
                len: bytes.len(),
                kind,
                want: kind.signature_len(),
            }));
        }
        let (timestamp, ed25519) = match kind {
            KeyKind::NoteSigner => (None, bytes.as_slice()),
            KeyKind::Cosigner => {
                let (time, ed25519) = bytes.split_at(8);
                let mut time_bytes = [0u8; 8];
                time_bytes.copy_from_slice(time);
                let timestamp = u64::from_be_bytes(time_bytes);
                if timestamp > i64::MAX as u64 {
                    return Err(fail(SignatureProblem::TimestampOutOfRange { timestamp }));
                }
                (Some(timestamp), ed25519)
            }
        };
        let ed25519 =
            Signature::from_slice(ed25519).map_err(|_| fail(SignatureProblem::DoesNotVerify))?;
        let message = match timestamp {
            None => Cow::Borrowed(self.text.as_str()),
            Some(timestamp) => Cow::Owned(cosignature_message(timestamp, &self.text)),
        };
        // Strict verification also refuses signatures with small-order
        // components and non-canonical encodings, which no honest signer
        // makes; as a failed known signature rejects the note, strictness
        // can only turn away forgeries, never accept more.
        key.public_key()
            .verify_strict(message.as_bytes(), &ed25519)
            .map_err(|_| fail(SignatureProblem::DoesNotVerify))?;
        Ok(timestamp)
    }

    /// Adds the signature of `key`, replacing an earlier one by it.
    fn put_signature(&mut self, key: &SignerKey, signature: Vec<u8>) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| !(s.key_id == key.key_id() && s.name == *key.name()));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: self.signatures.len() + 1,
                max: MAX_SIGNATURES,
            });
        }
        self.signatures.push(NoteSignature {
            name: key.name().clone(),
            key_id: key.key_id(),
            signature,
        });
        Ok(())
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for signature in &self.signatures {
            writeln!(f, "{signature}")?;
        }
        Ok(())
    }
}

impl FromStr for Note {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The message an Ed25519 cosigner signs: the header line, the time line
/// and the whole checkpoint text, extension lines included.
fn cosignature_message(timestamp: u64, text: &str) -> String {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{text}")
}

/// Refuses a key of the wrong kind for `operation`.
fn check_kind(
    key: &SignerKey,
    expected: KeyKind,
    operation: &'static str,
) -> Result<(), NoteError> {
    if key.kind() == expected {
        Ok(())
    } else {
        Err(NoteError::WrongKeyKind {
            key: key.label(),
            actual: key.kind(),
            operation,
            expected,
        })
    }
}

/// Refuses input over [`MAX_NOTE_SIZE`].
pub(super) fn check_size(size: usize) -> Result<(), NoteError> {
    if size > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size,
            max: MAX_NOTE_SIZE,
        });
    }
    Ok(())
}

/// Checks that a note text can be signed: bounded, no control character
/// but newline, and ending in a newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    check_size(text.len())?;
    check_chars(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline { what: "note text" });
    }
    Ok(())
}

/// Refuses ASCII control characters other than newline, with their line
/// and column. DEL (0x7F) is allowed: signed-note forbids only those below
/// U+0020, and a stricter reader would reject notes Go accepts.
pub(super) fn check_chars(text: &str) -> Result<(), NoteError> {
    let mut line = 1;
    let mut line_start = 0;
    for (i, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            line += 1;
            line_start = i + 1;
        } else if byte < 0x20 {
            return Err(NoteError::ControlCharacter {
                line,
                column: text[line_start..i].chars().count() + 1,
                code: byte,
            });
        }
    }
    Ok(())
}

/// The line (from 1) at the end of `prefix`.
fn line_of(prefix: &[u8]) -> usize {
    prefix.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parses one signature line (without its newline), which is line `line`.
fn parse_signature_line(text: &str, line: usize) -> Result<NoteSignature, NoteError> {
    let rest = text
        .strip_prefix("— ")
        .ok_or(NoteError::SignaturePrefix { line })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(NoteError::SignatureMissingSpace { line })?;
    check_key_name(name).map_err(|problem| NoteError::SignatureKeyName { line, problem })?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| NoteError::SignatureBase64 { line })?;
    if bytes.len() < 5 {
        return Err(NoteError::SignatureTooShort {
            line,
            len: bytes.len(),
        });
    }
    Ok(NoteSignature {
        name: KeyName::new_unchecked(name),
        key_id: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        signature: bytes[4..].to_vec(),
    })
}

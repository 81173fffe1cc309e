//! Key names, key kinds, and Ed25519 verifier and signer keys in the text
//! encodings of Go's `sumdb/note`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::error::{KeyEncoding, KeyError, KeyNameError, NoteError, snippet};

/// The name of a key, as it appears in signature lines and key encodings.
///
/// Signed-note key names must be non-empty and contain neither Unicode
/// spaces (they end the name in a signature line) nor '+' (it separates the
/// fields of a key encoding). Control characters are refused too, since no
/// note may contain them. Holding names in this type means a name is
/// checked once, where it enters the program, and every signature line
/// written with it parses again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Checks `name` and makes it a key name.
    ///
    /// # Errors
    ///
    /// [`NoteError::KeyName`] saying what is wrong with it.
    pub fn new(name: impl Into<String>) -> Result<Self, NoteError> {
        let name = name.into();
        check_key_name(&name).map_err(NoteError::KeyName)?;
        Ok(Self(name))
    }

    /// Makes a key name of a string that [`check_key_name`] accepted.
    pub(super) fn new_unchecked(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyName {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for KeyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks the rules of [`KeyName`].
pub(super) fn check_key_name(name: &str) -> Result<(), KeyNameError> {
    if name.is_empty() {
        return Err(KeyNameError::Empty);
    }
    for (at, ch) in name.char_indices() {
        if ch == '+' {
            return Err(KeyNameError::Plus {
                name: snippet(name),
                at,
            });
        }
        // `char::is_whitespace` is the Unicode White_Space property, the
        // same set as Go's `unicode.IsSpace`, so both sides agree on
        // which names are valid.
        if ch.is_whitespace() {
            return Err(KeyNameError::Space {
                name: snippet(name),
                at,
                code: u32::from(ch),
            });
        }
        if ch.is_control() {
            return Err(KeyNameError::Control {
                name: snippet(name),
                at,
                code: u32::from(ch),
            });
        }
    }
    Ok(())
}

/// The kind of an Ed25519 key: which signature type it makes.
///
/// The type byte goes into the key ID, so the same Ed25519 key pair has a
/// different key ID as a note signer and as a cosigner, and a signature of
/// one kind can never be checked as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// Signature type 0x01: plain Ed25519 signatures over the note text,
    /// as a log signs its own checkpoints (c2sp.org/signed-note).
    NoteSigner,
    /// Signature type 0x04: timestamped Ed25519 cosignatures over
    /// `cosignature/v1`, a time line and the checkpoint, as witnesses sign
    /// (c2sp.org/tlog-cosignature).
    Cosigner,
}

impl KeyKind {
    /// The signature type byte of this kind.
    pub const fn type_byte(self) -> u8 {
        match self {
            Self::NoteSigner => 0x01,
            Self::Cosigner => 0x04,
        }
    }

    /// The kind with signature type byte `byte`, if it is supported.
    pub const fn from_type_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::NoteSigner),
            0x04 => Some(Self::Cosigner),
            _ => None,
        }
    }

    /// Length of a signature of this kind after the key ID: an Ed25519
    /// signature, preceded for cosignatures by an 8-byte timestamp.
    pub(super) const fn signature_len(self) -> usize {
        match self {
            Self::NoteSigner => 64,
            Self::Cosigner => 8 + 64,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoteSigner => "note signer (0x01)",
            Self::Cosigner => "cosigner (0x04)",
        })
    }
}

/// The key ID of signed-note: the first four bytes, big-endian, of
/// SHA-256(name || 0x0A || type byte || public key).
pub(super) fn compute_key_id(name: &str, kind: KeyKind, public: &[u8; 32]) -> u32 {
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update([b'\n', kind.type_byte()]);
    hash.update(public);
    let digest = hash.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A public key that checks signatures: a name, a kind and an Ed25519
/// public key.
///
/// Its text form is the verifier key of Go's `sumdb/note`,
/// `<name>+<8 hex digits of key ID>+<base64(type byte || public key)>`, for
/// example `PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW`.
/// Cosigner keys use type byte 0x04 in the same encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    kind: KeyKind,
    key: VerifyingKey,
    id: u32,
}

impl VerifierKey {
    /// Makes a verifier key of a name, a kind and a public key.
    pub fn new(name: KeyName, kind: KeyKind, key: VerifyingKey) -> Self {
        let id = compute_key_id(name.as_str(), kind, key.as_bytes());
        Self {
            name,
            kind,
            key,
            id,
        }
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key ID, which signature lines carry next to the name.
    pub fn key_id(&self) -> u32 {
        self.id
    }
}

impl Hash for VerifierKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.kind.hash(state);
        self.key.as_bytes().hash(state);
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; 33];
        data[0] = self.kind.type_byte();
        data[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, BASE64.encode(data))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifierKey")
            .field(&self.to_string())
            .finish()
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |problem| NoteError::Key {
            encoding: KeyEncoding::Verifier,
            problem,
        };
        let fields = split_key(s).map_err(error)?;
        let (kind, bytes) = decode_key_data(fields.data).map_err(error)?;
        let key = public_key(&bytes).map_err(error)?;
        let key = Self::new(KeyName::new_unchecked(fields.name), kind, key);
        check_key_id(fields.id, key.id).map_err(error)?;
        Ok(key)
    }
}

/// A private key that makes signatures: a name, a kind and an Ed25519
/// signing key.
///
/// Its text form is the signer key of Go's `sumdb/note`,
/// `PRIVATE+KEY+<name>+<8 hex digits of key ID>+<base64(type byte || 32-byte
/// seed)>`, where the key ID is that of the matching [`VerifierKey`].
/// **The text form contains the secret**: `to_string()` is for writing the
/// key to a protected file, never for logs. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct SignerKey {
    name: KeyName,
    kind: KeyKind,
    key: SigningKey,
    id: u32,
}

impl SignerKey {
    /// Generates a new key from the operating system's random source.
    ///
    /// # Errors
    ///
    /// [`NoteError::Entropy`] if the operating system has no randomness
    /// to give, which is rare enough that a caller can just report it.
    pub fn generate(name: KeyName, kind: KeyKind) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NoteError::Entropy(e.to_string()))?;
        let key = Self::from_seed(name, kind, &seed);
        wipe(&mut seed);
        Ok(key)
    }

    /// Makes the key of an Ed25519 seed (the 32-byte private key of RFC
    /// 8032). Ed25519 is deterministic, so the same seed always gives the
    /// same key and the same signatures, which is what tests need.
    pub fn from_seed(name: KeyName, kind: KeyKind, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let id = compute_key_id(name.as_str(), kind, key.verifying_key().as_bytes());
        Self {
            name,
            kind,
            key,
            id,
        }
    }

    /// The public half, to hand to whoever checks this key's signatures.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            kind: self.kind,
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// The key's name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key's kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The key ID, the same as that of [`SignerKey::verifier`].
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The key as `name+keyid`, as error messages name keys.
    pub(super) fn label(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// Signs `message` with the bare Ed25519 key.
    pub(super) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Display for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; 33];
        data[0] = self.kind.type_byte();
        data[1..].copy_from_slice(self.key.as_bytes());
        let encoded = BASE64.encode(data);
        wipe(&mut data);
        let result = write!(f, "PRIVATE+KEY+{}+{:08x}+{encoded}", self.name, self.id);
        let mut encoded = encoded.into_bytes();
        wipe(&mut encoded);
        result
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name.as_str())
            .field("kind", &self.kind)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl FromStr for SignerKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |problem| NoteError::Key {
            encoding: KeyEncoding::Signer,
            problem,
        };
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(error(KeyError::MissingPrivatePrefix))?;
        let fields = split_key(rest).map_err(error)?;
        let (kind, mut seed) = decode_key_data(fields.data).map_err(error)?;
        let key = Self::from_seed(KeyName::new_unchecked(fields.name), kind, &seed);
        wipe(&mut seed);
        check_key_id(fields.id, key.id).map_err(error)?;
        Ok(key)
    }
}

/// Overwrites secret bytes before they are dropped. `black_box` keeps the
/// compiler from removing the writes as dead stores; this is best effort,
/// as copies may exist elsewhere, but it keeps the obvious ones short-lived.
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// The three fields of a key encoding, after any `PRIVATE+KEY+` prefix.
struct KeyFields<'a> {
    name: &'a str,
    id: u32,
    data: &'a str,
}

/// Splits `<name>+<id>+<data>` and checks the name and the syntax of the
/// ID. Names cannot contain '+' but base64 key data can
/// (`sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9…` is real), so only the
/// first two '+' separate fields.
fn split_key(s: &str) -> Result<KeyFields<'_>, KeyError> {
    let (name, rest) = s.split_once('+').ok_or(KeyError::Format)?;
    let (id, data) = rest.split_once('+').ok_or(KeyError::Format)?;
    check_key_name(name).map_err(KeyError::Name)?;
    let id = parse_key_id(id)?;
    Ok(KeyFields { name, id, data })
}

/// Decodes `base64(type byte || 32 bytes)`.
fn decode_key_data(data: &str) -> Result<(KeyKind, [u8; 32]), KeyError> {
    let mut bytes = BASE64.decode(data).map_err(|_| KeyError::Base64)?;
    let result = match bytes.split_first() {
        None => Err(KeyError::Empty),
        Some((&type_byte, key)) => match KeyKind::from_type_byte(type_byte) {
            None => Err(KeyError::UnknownType { type_byte }),
            Some(kind) => match <[u8; 32]>::try_from(key) {
                Ok(key) => Ok((kind, key)),
                Err(_) => Err(KeyError::Length {
                    len: key.len(),
                    want: 32,
                }),
            },
        },
    };
    // The bytes may be a signer's seed.
    wipe(&mut bytes);
    result
}

/// Decodes an Ed25519 public key, refusing ones that cannot be honest.
fn public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPoint)?;
    if key.is_weak() {
        return Err(KeyError::WeakKey);
    }
    Ok(key)
}

/// Reads the key ID field. Only the 8 lowercase hex digits Go writes are
/// accepted, so that a key read and written again comes out byte for byte
/// the same.
fn parse_key_id(field: &str) -> Result<u32, KeyError> {
    let syntax = || KeyError::KeyIdSyntax {
        found: snippet(field),
    };
    if field.len() != 8
        || !field
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(syntax());
    }
    u32::from_str_radix(field, 16).map_err(|_| syntax())
}

/// Checks the stated key ID against the one computed from the key: a
/// mismatch means the string was mangled or pieced together from two keys.
fn check_key_id(stated: u32, computed: u32) -> Result<(), KeyError> {
    if stated != computed {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok(())
}

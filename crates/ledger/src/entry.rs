//! One ledger entry: a canonical JSON record of one state-changing action.
//!
//! The bytes of an entry are what the Merkle tree hashes, so an entry has
//! exactly one serialisation: JSON with no whitespace, object keys in
//! byte order, absent optional fields left out, and the timestamp as
//! RFC 3339 in UTC as `jiff` prints it. The struct's fields are declared in
//! key order so serde writes them that way; [`Entry::parse`] rejects a line
//! that does not re-serialise to itself, so two different byte strings can
//! never stand for the same record.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::note::{Note, NoteSignature, SignerKey, VerifierKey};

/// The current entry format; a reader refuses formats it does not know.
pub const FORMAT: u32 = 1;

/// What an action is called in the ledger, e.g. `apply`, `grant`,
/// `policy.approve`: lower-case ASCII letters, digits, `.` and `-`.
pub fn valid_action(action: &str) -> bool {
    !action.is_empty()
        && action.len() <= 64
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// A recorded action. Field order is the canonical key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What was done (`apply`, `rollback`, `grant`, …).
    pub action: String,
    /// Who did it: an identity name, or the login user.
    pub actor: String,
    /// Digest of the object after the action (`sha256:<hex>`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The approval this action rests on (a proposal number), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// The actor's signature over the action, when it acted as an identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
    /// Digest of the object before the action, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The host the action changed.
    pub host: String,
    /// Position in the ledger, from 0. Recorded so that a deleted or
    /// reordered entry names itself.
    pub index: u64,
    /// What was acted on, e.g. `generation 7`, `9229/tcp from 10.0.0.0/24`.
    pub object: String,
    /// Digest of the policy in effect that the action enforced or started
    /// from (`sha256:<hex>` of its text), for changes of the firewall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Why, in the actor's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the entry was appended.
    pub time: Timestamp,
    /// Entry format version ([`FORMAT`]).
    pub v: u32,
}

/// An identity's Ed25519 signature over what it did (see
/// [`Entry::attestation_message`]), so that an approval cannot be written
/// in someone else's name without their private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The identity's verifier key (C2SP vkey encoding).
    pub key: String,
    /// Base64 Ed25519 signature.
    pub signature: String,
}

/// What is wrong with an entry line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Not JSON, or not an entry.
    #[error("not a ledger entry: {0}")]
    Malformed(String),
    /// Valid, but not in canonical form.
    #[error("not in canonical form (the record would serialise differently)")]
    NotCanonical,
    /// A format this version does not know.
    #[error("entry format {0} is not supported (this portreeve reads format {FORMAT})")]
    Format(u32),
    /// An action name with characters outside the allowed set.
    #[error("action {0:?} is not a valid action name")]
    Action(String),
    /// The attestation does not verify.
    #[error("attestation by {key}: {why}")]
    Attestation {
        /// The key that claims to have signed.
        key: String,
        /// Why it fails.
        why: String,
    },
}

/// The fields of an entry a caller supplies; the ledger adds `host`,
/// `index`, `time` and `v` when it appends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// See [`Entry::action`].
    pub action: String,
    /// See [`Entry::actor`].
    pub actor: String,
    /// See [`Entry::object`].
    pub object: String,
    /// See [`Entry::before`].
    pub before: Option<String>,
    /// See [`Entry::after`].
    pub after: Option<String>,
    /// See [`Entry::reason`].
    pub reason: Option<String>,
    /// See [`Entry::approval`].
    pub approval: Option<String>,
    /// See [`Entry::policy`].
    pub policy: Option<String>,
    /// See [`Entry::attestation`].
    pub attestation: Option<Attestation>,
}

impl Draft {
    /// A draft of `action` on `object` by `actor`.
    pub fn new(action: &str, actor: &str, object: impl Into<String>) -> Draft {
        Draft {
            action: action.to_string(),
            actor: actor.to_string(),
            object: object.into(),
            ..Draft::default()
        }
    }

    /// Signs the draft as `key`'s identity (see [`Entry::attestation_message`]).
    pub fn attest(mut self, key: &SignerKey) -> Draft {
        let message = attestation_message(&self.action, &self.object, self.after.as_deref());
        let mut note = Note::new(message).expect("attestation messages are valid note text");
        note.sign(key).expect("identities are note-signing keys");
        self.attestation = Some(Attestation {
            key: key.verifier().to_string(),
            signature: BASE64.encode(&note.signatures[0].signature),
        });
        self
    }

    /// The entry this draft becomes at `index`.
    pub fn into_entry(self, index: u64, host: &str, time: Timestamp) -> Entry {
        Entry {
            action: self.action,
            actor: self.actor,
            after: self.after,
            approval: self.approval,
            attestation: self.attestation,
            before: self.before,
            host: host.to_string(),
            index,
            object: self.object,
            policy: self.policy,
            reason: self.reason,
            time,
            v: FORMAT,
        }
    }
}

/// What an attestation signs: a domain-separated statement of the action,
/// its object and the digest it leaves behind. The index and time are not
/// part of it because they are assigned when the entry is appended.
/// It is signed as the text of a C2SP signed note, so the signature is an
/// ordinary note signature; the object is quoted so that it stays one line.
fn attestation_message(action: &str, object: &str, after: Option<&str>) -> String {
    format!(
        "portreeve attestation v1\naction {action}\nobject {object:?}\nafter {}\n",
        after.unwrap_or("-")
    )
}

impl Entry {
    /// The canonical bytes of the entry (no trailing newline).
    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an entry always serialises")
    }

    /// Parses one canonical line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Entry, EntryError> {
        let entry: Entry =
            serde_json::from_slice(line).map_err(|e| EntryError::Malformed(e.to_string()))?;
        if entry.v != FORMAT {
            return Err(EntryError::Format(entry.v));
        }
        if !valid_action(&entry.action) {
            return Err(EntryError::Action(entry.action));
        }
        if entry.to_canonical() != line {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// The statement an attestation on this entry signs.
    pub fn attestation_message(&self) -> String {
        attestation_message(&self.action, &self.object, self.after.as_deref())
    }

    /// Checks the attestation, if there is one, and returns its verifier key.
    pub fn verify_attestation(&self) -> Result<Option<VerifierKey>, EntryError> {
        let Some(att) = &self.attestation else {
            return Ok(None);
        };
        let fail = |why: String| EntryError::Attestation {
            key: att.key.clone(),
            why,
        };
        let key: VerifierKey = att.key.parse().map_err(|e| fail(format!("{e}")))?;
        let signature = BASE64
            .decode(&att.signature)
            .map_err(|e| fail(format!("signature is not base64: {e}")))?;
        let note = Note {
            text: self.attestation_message(),
            signatures: vec![NoteSignature {
                name: key.name().clone(),
                key_id: key.key_id(),
                signature,
            }],
        };
        note.verify(std::slice::from_ref(&key))
            .map_err(|e| fail(format!("{e}")))?;
        Ok(Some(key))
    }
}

/// `sha256:<hex>` of `bytes`, the digest form entries use.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        let mut d = Draft::new("grant", "alice", "9229/tcp from 10.0.0.0/24");
        d.reason = Some("debugging \"prod\"\n".into());
        d.after = Some(digest(b"x"));
        d.into_entry(7, "web-1", "2026-11-29T08:00:00.123456Z".parse().unwrap())
    }

    #[test]
    fn entries_round_trip_through_their_canonical_bytes() {
        let e = sample();
        let bytes = e.to_canonical();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"action":"grant","actor":"alice","after":"sha256:"#));
        assert!(!text.contains("approval"), "absent fields are left out");
        assert!(text.ends_with(r#""time":"2026-11-29T08:00:00.123456Z","v":1}"#));
        assert_eq!(Entry::parse(&bytes).unwrap(), e);
        let mut with_policy = e.clone();
        with_policy.policy = Some(digest(b"[zones]"));
        let text = String::from_utf8(with_policy.to_canonical()).unwrap();
        assert!(
            text.contains(r#""object":"9229/tcp from 10.0.0.0/24","policy":"sha256:"#),
            "the policy digest sits in key order: {text}"
        );
        assert_eq!(Entry::parse(text.as_bytes()).unwrap(), with_policy);
    }

    #[test]
    fn non_canonical_and_foreign_lines_are_refused() {
        let text = String::from_utf8(sample().to_canonical()).unwrap();
        let spaced = text.replacen(":", ": ", 1);
        assert_eq!(
            Entry::parse(spaced.as_bytes()),
            Err(EntryError::NotCanonical)
        );
        let reordered = text.replacen(
            r#""action":"grant","actor":"alice""#,
            r#""actor":"alice","action":"grant""#,
            1,
        );
        assert_eq!(
            Entry::parse(reordered.as_bytes()),
            Err(EntryError::NotCanonical)
        );
        let extra = text.replacen("{", r#"{"zz":1,"#, 1);
        assert!(matches!(
            Entry::parse(extra.as_bytes()),
            Err(EntryError::Malformed(_))
        ));
        let v2 = text.replace(r#""v":1"#, r#""v":2"#);
        assert_eq!(Entry::parse(v2.as_bytes()), Err(EntryError::Format(2)));
        let bad_action = text.replace(r#""action":"grant""#, r#""action":"Grant!""#);
        assert!(matches!(
            Entry::parse(bad_action.as_bytes()),
            Err(EntryError::Action(_))
        ));
    }

    #[test]
    fn attestations_verify_and_bind_the_action() {
        let key = SignerKey::generate("alice".parse().unwrap(), crate::note::KeyKind::NoteSigner)
            .unwrap();
        let mut d = Draft::new("policy.approve", "alice", "proposal 3");
        d.after = Some(digest(b"policy"));
        let e = d.attest(&key).into_entry(0, "h", Timestamp::UNIX_EPOCH);
        assert_eq!(
            e.verify_attestation().unwrap().unwrap().to_string(),
            key.verifier().to_string()
        );
        let mut other = e.clone();
        other.object = "proposal 4".into();
        assert!(matches!(
            other.verify_attestation(),
            Err(EntryError::Attestation { .. })
        ));
        let mut unsigned = e.clone();
        unsigned.attestation = None;
        assert_eq!(unsigned.verify_attestation(), Ok(None));
    }
}

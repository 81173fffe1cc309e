//! The host's credential with the server: its Ed25519 key
//! (`<state>/fleet/host.key`, readable by root only) and what enrolling
//! gave it (`<state>/fleet/host.json`: the server and the host id).
//!
//! The key never leaves the host; the server keeps its public half from
//! the enrollment and checks every push's signature with it, so a push
//! cannot be forged by whoever learns the host id.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use portreeve_app::{write_atomically, write_new_private};
use serde::{Deserialize, Serialize};

use super::FleetError;

/// The host's signing key.
pub struct HostKey(SigningKey);

impl HostKey {
    /// The key at `path`, generated there (mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<HostKey, FleetError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    FleetError::State(format!(
                        "{}: not a host key (32 bytes expected, {} found); \
                         remove it and host.json to enroll again",
                        path.display(),
                        bytes.len()
                    ))
                })?;
                Ok(HostKey(SigningKey::from_bytes(&seed)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| FleetError::State(format!("cannot generate a host key: {e}")))?;
                write_new_private(path, &seed).map_err(|e| FleetError::State(e.to_string()))?;
                Ok(HostKey(SigningKey::from_bytes(&seed)))
            }
            Err(e) => Err(FleetError::State(format!("{}: {e}", path.display()))),
        }
    }

    /// The public key as enrollment sends it: base64 (standard) of its 32
    /// bytes.
    pub fn public_base64(&self) -> String {
        STANDARD.encode(self.0.verifying_key().as_bytes())
    }

    /// The signature of `body`, base64 (standard), for the signature
    /// header.
    pub fn sign_base64(&self, body: &[u8]) -> String {
        STANDARD.encode(self.0.sign(body).to_bytes())
    }
}

/// What enrolling gave the host, kept so later starts push without
/// enrolling again (and without the enroll token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The server enrolled with.
    pub server: String,
    /// The id the server gave this host.
    pub host_id: String,
    /// The server's policy-signing public key (base64 of 32 bytes) as it
    /// answered the enrollment: pinned, so a policy signed by any other key
    /// is refused. Absent when enrolled with a server that sent none (an
    /// older one): fleet policies are then refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

impl Enrollment {
    /// The enrollment stored at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Enrollment>, FleetError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| FleetError::State(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FleetError::State(format!("{}: {e}", path.display()))),
        }
    }

    /// Stores the enrollment at `path`, durably.
    pub fn write(&self, path: &Path) -> Result<(), FleetError> {
        let bytes = serde_json::to_vec_pretty(self).expect("an enrollment serializes");
        write_atomically(path, &bytes, 0o600).map_err(|e| FleetError::State(e.to_string()))
    }
}

/// Where the fleet's files live in a state directory.
#[derive(Debug, Clone)]
pub struct FleetDir(PathBuf);

impl FleetDir {
    /// `<state>/fleet`.
    pub fn new(state_root: &Path) -> FleetDir {
        FleetDir(state_root.join("fleet"))
    }

    /// The host key.
    pub fn key(&self) -> PathBuf {
        self.0.join("host.key")
    }

    /// The enrollment.
    pub fn enrollment(&self) -> PathBuf {
        self.0.join("host.json")
    }

    /// The outbox of pushes not yet delivered.
    pub fn outbox(&self) -> PathBuf {
        self.0.join("outbox")
    }

    /// The fleet policies pulled, by digest, and what became of the last.
    pub fn policy(&self) -> PathBuf {
        self.0.join("policy")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;

    #[test]
    fn the_key_is_private_kept_and_signs_what_its_public_half_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = FleetDir::new(dir.path());
        let key = HostKey::load_or_create(&fleet.key()).unwrap();
        let mode = std::fs::metadata(fleet.key()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = HostKey::load_or_create(&fleet.key()).unwrap();
        assert_eq!(key.public_base64(), again.public_base64());
        let public: [u8; 32] = STANDARD
            .decode(key.public_base64())
            .unwrap()
            .try_into()
            .unwrap();
        let signature: [u8; 64] = STANDARD
            .decode(key.sign_base64(b"body"))
            .unwrap()
            .try_into()
            .unwrap();
        let verifier = VerifyingKey::from_bytes(&public).unwrap();
        let signature = Signature::from_bytes(&signature);
        assert!(verifier.verify(b"body", &signature).is_ok());
        assert!(verifier.verify(b"bodY", &signature).is_err());
    }

    #[test]
    fn a_damaged_key_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.key");
        std::fs::write(&path, b"short").unwrap();
        let e = HostKey::load_or_create(&path).err().unwrap();
        assert!(e.to_string().contains("32 bytes expected"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn the_enrollment_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        assert_eq!(Enrollment::read(&path).unwrap(), None);
        let e = Enrollment {
            server: "http://127.0.0.1:8440".into(),
            host_id: "ab".repeat(16),
            server_key: Some("AAAA".into()),
        };
        e.write(&path).unwrap();
        assert_eq!(Enrollment::read(&path).unwrap(), Some(e));
    }

    #[test]
    fn an_enrollment_from_before_server_keys_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        std::fs::write(
            &path,
            r#"{"server": "http://127.0.0.1:8440", "host_id": "abab"}"#,
        )
        .unwrap();
        let e = Enrollment::read(&path).unwrap().unwrap();
        assert_eq!((e.host_id.as_str(), e.server_key), ("abab", None));
    }
}

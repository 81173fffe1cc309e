//! The server's policy signing key: Ed25519, at `<state>/server/signing.key`
//! (mode 0600, base64 of the 32-byte seed), made on first start. It signs
//! each fleet policy version when it is approved; agents pin its public
//! half at enrollment ([`portreeve_fleet_protocol::EnrollResponse::server_key`]).

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use portreeve_fleet_protocol::SignedPolicy;

use crate::ServerError;
use crate::ledger::server_dir;
use crate::token::random;

/// The key file's name in the server's directory.
const KEY_FILE: &str = "signing.key";

/// The server's signing key.
pub struct PolicySigner {
    key: SigningKey,
}

impl PolicySigner {
    /// Reads the key under state directory `state`, making it first when
    /// there is none. Two processes starting together agree on one key:
    /// each writes a file of its own and links it into place, and the
    /// second link fails, so that one reads the first's.
    pub fn open(state: &Path) -> Result<PolicySigner, ServerError> {
        let dir = server_dir(state);
        let path = dir.join(KEY_FILE);
        let failed = |why: String| ServerError::SigningKey {
            path: path.clone(),
            why,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| failed(format!("cannot create its directory: {e}")))?;
        if !path.exists() {
            create(&dir, &path).map_err(|e| failed(e.to_string()))?;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| failed(e.to_string()))?;
        let seed: [u8; 32] = STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| failed("is not base64 of a 32-byte Ed25519 seed".to_owned()))?;
        Ok(PolicySigner {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Base64 of the 32-byte public key, as enrollment answers it.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// Base64 of the signature over `policy`'s signed bytes.
    pub fn sign(&self, policy: &SignedPolicy) -> String {
        STANDARD.encode(self.key.sign(&policy.signed_bytes()).to_bytes())
    }
}

/// Writes a new key to a file of this process's own, fsynced, and links
/// it to `path` unless another process got there first.
fn create(dir: &Path, path: &Path) -> Result<(), ServerError> {
    let seed = random::<32>()?;
    let own = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&own)?;
    file.write_all(format!("{}\n", STANDARD.encode(seed)).as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&own, path);
    std::fs::remove_file(&own)?;
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e.into()),
        _ => Ok(std::fs::File::open(dir)?.sync_all()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, VerifyingKey};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_kept_private_and_signs_the_policy_bytes() {
        let state = tempfile::tempdir().unwrap();
        let first = PolicySigner::open(state.path()).unwrap();
        let again = PolicySigner::open(state.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key(), "read, not remade");
        let path = state.path().join("server/signing.key");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let policy = SignedPolicy {
            name: "web".into(),
            version: 1,
            sha256: "sha256:00".into(),
            text: String::new(),
            proposer: "alice".into(),
            approvers: vec!["bob".into()],
            approved_at: jiff::Timestamp::UNIX_EPOCH,
            signature: String::new(),
        };
        let signature = first.sign(&policy);
        let key: [u8; 32] = STANDARD
            .decode(first.public_key())
            .unwrap()
            .try_into()
            .unwrap();
        let signature: [u8; 64] = STANDARD.decode(signature).unwrap().try_into().unwrap();
        let key = VerifyingKey::from_bytes(&key).unwrap();
        let signature = Signature::from_bytes(&signature);
        assert!(
            key.verify_strict(&policy.signed_bytes(), &signature)
                .is_ok()
        );
        let other = SignedPolicy {
            version: 2,
            ..policy
        };
        assert!(
            key.verify_strict(&other.signed_bytes(), &signature)
                .is_err()
        );
        std::fs::write(&path, "short\n").unwrap();
        assert!(PolicySigner::open(state.path()).is_err());
    }
}

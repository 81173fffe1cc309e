//! Hosts' keys and the signatures on their pushes: Ed25519, each written
//! as base64 (standard alphabet), as the fleet protocol sends them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

/// The host key in `text`, or why it is not one.
pub(crate) fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("public_key is not base64: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("public_key has {} bytes, not 32", b.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "public_key is not an Ed25519 key".to_owned())
}

/// Whether `signature` (base64) is the host key `public_key`'s (base64)
/// signature over exactly `body`. Strict verification: a key of small
/// order or a malleated signature does not pass.
pub(crate) fn verifies(public_key: &str, body: &[u8], signature: &str) -> bool {
    let Ok(key) = parse_public_key(public_key) else {
        return false;
    };
    let Ok(signature) = STANDARD
        .decode(signature.trim())
        .map_err(drop)
        .and_then(|b| Signature::from_slice(&b).map_err(drop))
    else {
        return false;
    };
    key.verify_strict(body, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    fn key(seed: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = STANDARD.encode(signing.verifying_key().as_bytes());
        (signing, public)
    }

    #[test]
    fn only_the_hosts_own_signature_over_these_bytes_verifies() {
        let (signing, public) = key(1);
        let (other, _) = key(2);
        let body = br#"{"seq":1}"#;
        let good = STANDARD.encode(signing.sign(body).to_bytes());
        assert!(verifies(&public, body, &good));
        assert!(!verifies(&public, br#"{"seq":2}"#, &good), "other bytes");
        let foreign = STANDARD.encode(other.sign(body).to_bytes());
        assert!(!verifies(&public, body, &foreign), "another host's key");
        assert!(!verifies(&public, body, "not base64!"));
        assert!(
            !verifies(&public, body, &STANDARD.encode([0u8; 12])),
            "short"
        );
        assert!(!verifies("AAAA", body, &good), "a key that is no key");
    }

    #[test]
    fn public_keys_are_32_bytes_of_base64() {
        assert!(parse_public_key(&key(3).1).is_ok());
        assert!(
            parse_public_key(&STANDARD.encode([1u8; 31]))
                .unwrap_err()
                .contains("31 bytes")
        );
        assert!(parse_public_key("%%%").unwrap_err().contains("not base64"));
    }
}

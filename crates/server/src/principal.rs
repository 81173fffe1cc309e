//! Who a request acts for: the role that decides what it may do, and the
//! name the server's ledger and the two-person rule know it by.

use axum::http::HeaderMap;
use portreeve_fleet_protocol::{HOST_HEADER, SIGNATURE_HEADER};

use crate::api::ApiError;
use crate::role::Role;
use crate::signature::verifies;
use crate::{Database, push};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// What it may do.
    pub role: Role,
    /// Who it is: an API token's name (`token ID` for one made without a
    /// name), or an OIDC ID token's `email` (its `sub` when it has none). Two tokens of one name are one principal
    /// to the two-person rule.
    pub name: String,
}

impl Principal {
    /// Why this principal's name cannot stand in a signed policy's list of
    /// approvers, if it cannot: the signed bytes join names with `,` and
    /// end each field with a newline, so a name holding either could pass
    /// for two approvers.
    pub fn unsignable_name(&self) -> Option<String> {
        let bad = self.name.is_empty() || self.name.chars().any(|c| c == ',' || c.is_control());
        bad.then(|| {
            format!(
                "`{}` cannot propose or approve fleet policy: a principal's name must be \
                 non-empty, without commas or control characters",
                self.name.escape_debug()
            )
        })
    }
}

/// The id of the enrolled, unrevoked host that signed `body`: the host
/// named in [`HOST_HEADER`], whose key made the signature in
/// [`SIGNATURE_HEADER`] over exactly these bytes. Pushes and policy pulls
/// are authenticated by this alone; anything else is 401.
pub(crate) async fn signing_host<'h>(
    db: &Database,
    headers: &'h HeaderMap,
    body: &[u8],
) -> Result<&'h str, ApiError> {
    let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let host_id = header_text(HOST_HEADER).ok_or(ApiError::Unauthenticated(
        "send the host's id in x-portreeve-host",
    ))?;
    let key = push::live_host_key(db.pool(), host_id)
        .await?
        .ok_or(ApiError::Unauthenticated("the host is unknown or revoked"))?;
    let signature = header_text(SIGNATURE_HEADER).unwrap_or_default();
    if !verifies(&key, body, signature) {
        return Err(ApiError::Unauthenticated(
            "x-portreeve-signature is not the host's signature over this body",
        ));
    }
    Ok(host_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_commas_or_newlines_cannot_sign() {
        let named = |name: &str| Principal {
            role: Role::Approver,
            name: name.to_owned(),
        };
        assert_eq!(named("alice@example.org").unsignable_name(), None);
        assert!(named("alice,bob").unsignable_name().is_some());
        assert!(named("alice\nbob").unsignable_name().is_some());
        assert!(named("").unsignable_name().is_some());
    }
}

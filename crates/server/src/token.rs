//! API tokens: made here, shown once, stored only as their SHA-256.
//!
//! A token is 32 bytes from the operating system's random source, written
//! as `prt_` and 64 hex digits. With 256 bits of entropy nobody can guess
//! one, so a fast hash is enough: the slow, salted hashes passwords need
//! (argon2, bcrypt) defend low-entropy secrets against offline guessing,
//! and a random token has nothing to guess. For the same reason the lookup
//! by hash is safe from timing attacks: a caller who learns how much of a
//! hash matched learns nothing about any token.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool, Row};

use crate::ServerError;
use crate::clock::unix_now;
use crate::principal::Principal;
use crate::role::Role;

/// The prefix every token starts with: secret scanners and people can tell
/// a portreeve token from other secrets.
pub const TOKEN_PREFIX: &str = "prt_";

/// A token as the database keeps it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its id, for `token revoke` (not secret).
    pub id: String,
    /// What it is for, as its creator wrote.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made, in Unix seconds.
    pub created: i64,
    /// When it stops working, in Unix seconds; never when `None`.
    pub expires: Option<i64>,
    /// When it was revoked, in Unix seconds.
    pub revoked: Option<i64>,
    /// Enrollments an `enroll` token has left; `None` for other roles.
    pub uses_left: Option<i64>,
}

/// A newly created token: the secret, shown once, and its record.
#[derive(Debug)]
pub struct NewToken {
    /// `prt_` and 64 hex digits: what the holder sends as a bearer token.
    pub secret: String,
    /// What the database keeps.
    pub record: TokenRecord,
}

/// How many hosts an `enroll` token enrolls when its creator does not say.
pub const DEFAULT_ENROLL_USES: i64 = 1;

/// Makes a token with `role`, named `name`, that expires `ttl_seconds`
/// from now (never when `None`), and stores its hash on `db` (the caller's
/// transaction, which records it in the server's ledger; see
/// [`ServerLedger::recorded`](crate::ledger::ServerLedger::recorded)). An
/// `enroll` token enrolls `uses` hosts ([`DEFAULT_ENROLL_USES`] when
/// `None`); other roles have no use limit, and `uses` is ignored for them.
pub async fn create(
    db: &mut AnyConnection,
    role: Role,
    name: &str,
    ttl_seconds: Option<i64>,
    uses: Option<i64>,
) -> Result<NewToken, ServerError> {
    let secret = format!("{TOKEN_PREFIX}{}", hex(&random::<32>()?));
    let created = unix_now();
    let record = TokenRecord {
        id: hex(&random::<6>()?),
        name: name.to_owned(),
        role,
        created,
        expires: ttl_seconds.map(|ttl| created.saturating_add(ttl)),
        revoked: None,
        uses_left: (role == Role::Enroll).then(|| uses.unwrap_or(DEFAULT_ENROLL_USES)),
    };
    sqlx::query(
        "INSERT INTO api_tokens
             (id, name, role, token_hash, created_at, expires_at, revoked_at, uses_left)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(&record.id)
    .bind(&record.name)
    .bind(role.name())
    .bind(hash(&secret))
    .bind(record.created)
    .bind(record.expires)
    .bind(record.uses_left)
    .execute(&mut *db)
    .await?;
    Ok(NewToken { secret, record })
}

/// Every token's record, oldest first.
pub async fn list(pool: &AnyPool) -> Result<Vec<TokenRecord>, ServerError> {
    let rows = sqlx::query(
        "SELECT id, name, role, created_at, expires_at, revoked_at, uses_left
         FROM api_tokens ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(record).collect()
}

/// Revokes the token `id` on `db` (the caller's transaction, as for
/// [`create`]). Revoking a revoked token keeps its first revocation time;
/// an unknown id is an error.
pub async fn revoke(db: &mut AnyConnection, id: &str) -> Result<TokenRecord, ServerError> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(unix_now())
        .bind(id)
        .execute(&mut *db)
        .await?;
    let row = sqlx::query(
        "SELECT id, name, role, created_at, expires_at, revoked_at, uses_left
         FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    row.as_ref()
        .map(record)
        .transpose()?
        .ok_or_else(|| ServerError::NoSuchToken(id.to_owned()))
}

/// Takes one use of the `enroll` token `secret` inside `tx`, so that the
/// use and the enrollment it pays for commit or roll back together. False
/// when it has none left (or went stale since it was authenticated).
/// Tokens of other roles have no limit: true.
pub(crate) async fn take_enroll_use(
    tx: &mut sqlx::AnyConnection,
    secret: &str,
) -> Result<bool, ServerError> {
    let done = sqlx::query(
        "UPDATE api_tokens SET uses_left = uses_left - 1
         WHERE token_hash = $1 AND uses_left > 0 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(hash(secret))
    .bind(unix_now())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    let unlimited =
        sqlx::query("SELECT 1 FROM api_tokens WHERE token_hash = $1 AND uses_left IS NULL")
            .bind(hash(secret))
            .fetch_optional(&mut *tx)
            .await?;
    Ok(unlimited.is_some())
}

/// The role and name of the token whose secret is `secret`, if it is one
/// of ours, not revoked, not expired and (an `enroll` token) not used up.
pub async fn authenticate(pool: &AnyPool, secret: &str) -> Result<Option<Principal>, ServerError> {
    if !secret.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, name, role, created_at, expires_at, revoked_at, uses_left
         FROM api_tokens WHERE token_hash = $1",
    )
    .bind(hash(secret))
    .fetch_optional(pool)
    .await?;
    let Some(token) = row.as_ref().map(record).transpose()? else {
        return Ok(None);
    };
    let now = unix_now();
    let live = token.revoked.is_none()
        && token.expires.is_none_or(|at| now < at)
        && token.uses_left.is_none_or(|left| left > 0);
    // A token made without a name is known by its id.
    let name = match token.name.as_str() {
        "" => format!("token {}", token.id),
        _ => token.name,
    };
    Ok(live.then_some(Principal {
        role: token.role,
        name,
    }))
}

/// A row of `api_tokens` as a record.
fn record(row: &sqlx::any::AnyRow) -> Result<TokenRecord, ServerError> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role
            .parse()
            .map_err(|_| ServerError::Corrupt(format!("api_tokens has a role `{role}`")))?,
        created: row.try_get("created_at")?,
        expires: row.try_get("expires_at")?,
        revoked: row.try_get("revoked_at")?,
        uses_left: row.try_get("uses_left")?,
    })
}

/// What the database stores of a secret: its SHA-256, in hex.
fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_in_hex() {
        // The SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_draws_differ() {
        assert_ne!(random::<32>().unwrap(), random::<32>().unwrap());
    }
}

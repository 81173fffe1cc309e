//! Enrollment: an `enroll` token buys one host its own credential, the
//! Ed25519 key the agent generated; from then on the host signs its pushes
//! and the token is no longer involved.

use portreeve_fleet_protocol::EnrollRequest;
use portreeve_ledger::{Draft, digest};
use sqlx::AnyPool;

use crate::ServerError;
use crate::clock::unix_now;
use crate::ledger::ServerLedger;
use crate::principal::Principal;
use crate::signature::parse_public_key;
use crate::token::{self, hex, random};

/// The longest host name accepted, in bytes.
const MAX_HOST_NAME: usize = 253;

/// How an enrollment went.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Enrolled {
    /// Stored; the new host's id.
    Host(String),
    /// The token has no uses left (another enrollment took the last).
    UsedUp,
    /// A host of that name is enrolled already.
    NameTaken,
    /// The request is malformed: why.
    Invalid(String),
}

/// Enrolls `request`'s host, paying with one use of the token `secret`
/// (already authenticated as `by`): the use and the host row are one
/// transaction, so a refused enrollment costs no use; it is recorded in
/// `ledger` before it commits.
pub(crate) async fn enroll(
    pool: &AnyPool,
    secret: &str,
    request: &EnrollRequest,
    ledger: &ServerLedger,
    by: &Principal,
) -> Result<Enrolled, ServerError> {
    let name = request.host_name.trim();
    if name.is_empty() || name.len() > MAX_HOST_NAME || name.chars().any(char::is_control) {
        return Ok(Enrolled::Invalid(format!(
            "host_name must be 1 to {MAX_HOST_NAME} bytes without control characters"
        )));
    }
    if let Err(why) = parse_public_key(&request.public_key) {
        return Ok(Enrolled::Invalid(why));
    }
    let mut tx = pool.begin().await?;
    if !token::take_enroll_use(&mut tx, secret).await? {
        return Ok(Enrolled::UsedUp);
    }
    let taken = sqlx::query("SELECT 1 FROM hosts WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Ok(Enrolled::NameTaken);
    }
    let id = hex(&random::<16>()?);
    sqlx::query(
        "INSERT INTO hosts (id, name, enrolled_at, public_key, ledger_inconsistent)
         VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(&id)
    .bind(name)
    .bind(unix_now())
    .bind(&request.public_key)
    .execute(&mut *tx)
    .await?;
    let mut entry = Draft::new(
        "server.host.enroll",
        &by.name,
        format!("host {name} ({id})"),
    );
    entry.after = Some(digest(request.public_key.as_bytes()));
    ledger.record(entry).await?;
    tx.commit().await?;
    Ok(Enrolled::Host(id))
}

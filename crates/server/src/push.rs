//! Pushes: a host's signed state, stored once per seq, whole or not at all.
//!
//! The decisions are pure functions ([`is_new`], [`ledger_consistent`],
//! [`validate`]) so that they can be tested without a database; [`store`]
//! runs them inside one transaction with the writes they govern.

use portreeve_fleet_protocol::{LIFECYCLE_STATES, LedgerCheckpoint, Push, PushedPort};
use sqlx::{AnyConnection, AnyPool, Row};

use crate::ServerError;
use crate::clock::unix_now;
use crate::hosts::SEVERITIES;

/// The public key of the enrolled, unrevoked host `host_id`; `None` for an
/// unknown or revoked host (the caller cannot tell which: both are 401).
pub(crate) async fn live_host_key(
    pool: &AnyPool,
    host_id: &str,
) -> Result<Option<String>, ServerError> {
    let row = sqlx::query("SELECT public_key FROM hosts WHERE id = $1 AND revoked_at IS NULL")
        .bind(host_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.try_get("public_key")).transpose()?)
}

/// Whether a push numbered `seq` is new for a host whose last stored push
/// was `last` (`None`: none yet). A seq not above the last is a replay of
/// a push already stored (the agent resends until it sees a 200).
pub(crate) fn is_new(last: Option<i64>, seq: i64) -> bool {
    last.is_none_or(|last| seq > last)
}

/// Whether `next` may follow `last` in one host's ledger: a ledger only
/// grows, so an index lower than the last, or the same index with another
/// head, means it was rewritten or forked.
pub(crate) fn ledger_consistent(last: Option<(i64, &str)>, next: (i64, &str)) -> bool {
    match last {
        None => true,
        Some((index, head)) => next.0 > index || (next.0 == index && next.1 == head),
    }
}

/// Why `push` cannot be stored as it is (a 400), if it cannot.
pub(crate) fn validate(push: &Push) -> Result<(), String> {
    let protocols = push
        .listeners
        .iter()
        .map(|l| &l.protocol)
        .chain(push.drift.iter().map(|d| &d.protocol))
        .chain(push.lifecycle.iter().flatten().map(|p| &p.protocol));
    if let Some(bad) = protocols
        .into_iter()
        .find(|p| !["tcp", "udp"].contains(&p.as_str()))
    {
        return Err(format!("protocol `{bad}` is neither tcp nor udp"));
    }
    if let Some(bad) = push
        .findings
        .iter()
        .find(|f| !SEVERITIES.contains(&f.severity.as_str()))
    {
        return Err(format!(
            "severity `{}` is not one of {}",
            bad.severity,
            SEVERITIES.join(", ")
        ));
    }
    if let Some(bad) = push
        .lifecycle
        .iter()
        .flatten()
        .find(|p| !LIFECYCLE_STATES.contains(&p.state.as_str()))
    {
        return Err(format!(
            "lifecycle state `{}` is not one of {}",
            bad.state,
            LIFECYCLE_STATES.join(", ")
        ));
    }
    for (what, n) in [
        ("seq", push.seq),
        ("ledger.index", push.ledger.as_ref().map_or(0, |l| l.index)),
    ] {
        if i64::try_from(n).is_err() {
            return Err(format!("{what} {n} is above {}", i64::MAX));
        }
    }
    Ok(())
}

/// Stores `push` (validated, its signature checked) in one transaction:
/// false, and nothing written, when its seq is not new.
pub(crate) async fn store(pool: &AnyPool, push: &Push) -> Result<bool, ServerError> {
    let seq = as_i64(push.seq);
    let now = unix_now();
    let mut tx = pool.begin().await?;
    // Writing the host's row first locks it (PostgreSQL: the row; SQLite:
    // the database) until commit, so two copies of one push in flight
    // cannot both see their seq as new.
    sqlx::query("UPDATE hosts SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&push.host_id)
        .execute(&mut *tx)
        .await?;
    let last: Option<i64> = sqlx::query("SELECT last_seq FROM hosts WHERE id = $1")
        .bind(&push.host_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_seq")?;
    if !is_new(last, seq) {
        return Ok(false);
    }
    sqlx::query("UPDATE hosts SET last_seq = $1 WHERE id = $2")
        .bind(seq)
        .bind(&push.host_id)
        .execute(&mut *tx)
        .await?;
    replace_current(&mut tx, push).await?;
    if let Some(ports) = &push.lifecycle {
        replace_lifecycle(&mut tx, &push.host_id, ports).await?;
    }
    append_drift(&mut tx, push, seq).await?;
    if let Some(checkpoint) = &push.ledger {
        append_checkpoint(&mut tx, &push.host_id, seq, checkpoint, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The host's listeners and findings become the push's.
async fn replace_current(tx: &mut AnyConnection, push: &Push) -> Result<(), ServerError> {
    for clear in [
        "DELETE FROM host_listeners WHERE host_id = $1",
        "DELETE FROM host_findings WHERE host_id = $1",
    ] {
        sqlx::query(clear)
            .bind(&push.host_id)
            .execute(&mut *tx)
            .await?;
    }
    for l in &push.listeners {
        sqlx::query(
            "INSERT INTO host_listeners (host_id, protocol, address, port, process, pid)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&push.host_id)
        .bind(&l.protocol)
        .bind(&l.address)
        .bind(i64::from(l.port))
        .bind(&l.process)
        .bind(l.pid.map(i64::from))
        .execute(&mut *tx)
        .await?;
    }
    for f in &push.findings {
        sqlx::query(
            "INSERT INTO host_findings (host_id, code, severity, port, message)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&push.host_id)
        .bind(&f.code)
        .bind(&f.severity)
        .bind(f.port.map(i64::from))
        .bind(&f.message)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The host's ports' lifecycle states become `ports`.
async fn replace_lifecycle(
    tx: &mut AnyConnection,
    host_id: &str,
    ports: &[PushedPort],
) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM host_lifecycle WHERE host_id = $1")
        .bind(host_id)
        .execute(&mut *tx)
        .await?;
    for p in ports {
        sqlx::query(
            "INSERT INTO host_lifecycle (host_id, port, protocol, state, last_used)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(host_id)
        .bind(i64::from(p.port))
        .bind(&p.protocol)
        .bind(&p.state)
        .bind(p.last_used.map(|t| t.as_second()))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn append_drift(tx: &mut AnyConnection, push: &Push, seq: i64) -> Result<(), ServerError> {
    for (position, d) in (0_i64..).zip(&push.drift) {
        sqlx::query(
            "INSERT INTO drift_events
                 (host_id, seq, position, at, kind, protocol, address, port, process)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&push.host_id)
        .bind(seq)
        .bind(position)
        .bind(d.at.as_second())
        .bind(&d.kind)
        .bind(&d.protocol)
        .bind(&d.address)
        .bind(i64::from(d.port))
        .bind(&d.process)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Appends `checkpoint`, judged against the host's previous one; a
/// checkpoint that breaks the ledger's growth flags the host for good.
async fn append_checkpoint(
    tx: &mut AnyConnection,
    host_id: &str,
    seq: i64,
    checkpoint: &LedgerCheckpoint,
    now: i64,
) -> Result<(), ServerError> {
    let previous = sqlx::query(
        "SELECT ledger_index, head FROM ledger_checkpoints
         WHERE host_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(host_id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| Ok::<_, sqlx::Error>((row.try_get("ledger_index")?, row.try_get("head")?)))
    .transpose()?;
    let index = as_i64(checkpoint.index);
    let consistent = ledger_consistent(
        previous
            .as_ref()
            .map(|(i, h): &(i64, String)| (*i, h.as_str())),
        (index, &checkpoint.head),
    );
    sqlx::query(
        "INSERT INTO ledger_checkpoints
             (host_id, seq, ledger_index, head, received_at, consistent)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(host_id)
    .bind(seq)
    .bind(index)
    .bind(&checkpoint.head)
    .bind(now)
    .bind(i64::from(consistent))
    .execute(&mut *tx)
    .await?;
    if !consistent {
        sqlx::query("UPDATE hosts SET ledger_inconsistent = 1 WHERE id = $1")
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// A number [`validate`] has checked fits.
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_fleet_protocol::{PushedFinding, PushedListener};

    #[test]
    fn only_a_seq_above_the_last_is_new() {
        assert!(is_new(None, 0));
        assert!(is_new(Some(4), 5));
        assert!(!is_new(Some(5), 5), "the same push again");
        assert!(!is_new(Some(5), 3), "an older push resent");
    }

    #[test]
    fn a_ledger_may_grow_or_stand_still_but_not_shrink_or_fork() {
        assert!(ledger_consistent(None, (0, "aa")));
        assert!(ledger_consistent(Some((3, "aa")), (4, "bb")));
        assert!(
            ledger_consistent(Some((3, "aa")), (3, "aa")),
            "no new entries"
        );
        assert!(!ledger_consistent(Some((3, "aa")), (2, "cc")), "went back");
        assert!(!ledger_consistent(Some((3, "aa")), (3, "bb")), "forked");
    }

    #[test]
    fn unknown_protocols_severities_and_huge_numbers_are_refused() {
        let good = Push {
            host_id: "h".into(),
            seq: 1,
            sent_at: jiff::Timestamp::UNIX_EPOCH,
            listeners: vec![PushedListener {
                protocol: "tcp".into(),
                address: "::".into(),
                port: 22,
                process: None,
                pid: None,
            }],
            findings: vec![PushedFinding {
                code: "PR001".into(),
                severity: "high".into(),
                port: None,
                message: String::new(),
            }],
            drift: vec![],
            ledger: None,
            lifecycle: Some(vec![PushedPort {
                port: 22,
                protocol: "tcp".into(),
                state: "dormant".into(),
                last_used: None,
            }]),
        };
        assert_eq!(validate(&good), Ok(()));
        let mut bad = good.clone();
        bad.lifecycle.as_mut().unwrap()[0].state = "forgotten".into();
        assert!(validate(&bad).unwrap_err().contains("`forgotten`"));
        let mut bad = good.clone();
        bad.listeners[0].protocol = "sctp".into();
        assert!(validate(&bad).unwrap_err().contains("`sctp`"));
        let mut bad = good.clone();
        bad.findings[0].severity = "urgent".into();
        assert!(validate(&bad).unwrap_err().contains("`urgent`"));
        let mut bad = good;
        bad.seq = u64::MAX;
        assert!(validate(&bad).unwrap_err().starts_with("seq "));
    }
}

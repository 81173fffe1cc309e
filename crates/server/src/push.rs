//! Pushes: a host's signed state, stored once per seq, whole or not at all.
//!
//! The decisions are pure functions ([`ledger_consistent`], [`validate`],
//! [`state_digest`]) so that they can be tested without a database, but for
//! whether a seq is new, which is the condition of the statement that
//! records it (see [`store`]); [`store`] runs them inside one transaction
//! with the writes they govern.

use std::fmt::Write as _;

use portreeve_fleet_protocol::{
    LIFECYCLE_STATES, LedgerCheckpoint, MAX_CONTAINER_BYTES, MAX_REMEDIATION_BYTES, Push,
    PushedPort,
};
use sha2::{Digest as _, Sha256};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, Row};

use crate::ServerError;
use crate::clock::unix_now;
use crate::fleet::one_of;
use crate::hosts::SEVERITIES;
use crate::token::hex;

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
        .map(|l| l.protocol.as_str())
        .chain(push.drift.iter().map(|d| d.protocol.as_str()))
        .chain(push.lifecycle.iter().flatten().map(|p| p.protocol.as_str()));
    one_of("protocol", protocols, &["tcp", "udp"])?;
    let severities = push.findings.iter().map(|f| f.severity.as_str());
    one_of("severity", severities, &SEVERITIES)?;
    let states = push.lifecycle.iter().flatten().map(|p| p.state.as_str());
    one_of("lifecycle state", states, &LIFECYCLE_STATES)?;
    crate::nul::refuse_in_push(push)?;
    refuse_long(push)?;
    crate::grants_blocks::validate(push)?;
    crate::policy::validate_push(push)?;
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

/// Refuses a remediation or container longer than the protocol's limits
/// ([`MAX_REMEDIATION_BYTES`], [`MAX_CONTAINER_BYTES`]), naming it: text
/// of no bound would let one host fill the database row by row.
fn refuse_long(push: &Push) -> Result<(), String> {
    let remediations = push.findings.iter().enumerate().map(|(i, f)| {
        (
            format!("findings[{i}].remediation"),
            f.remediation.as_deref(),
            MAX_REMEDIATION_BYTES,
        )
    });
    let containers = push.listeners.iter().enumerate().map(|(i, l)| {
        (
            format!("listeners[{i}].container"),
            l.container.as_deref(),
            MAX_CONTAINER_BYTES,
        )
    });
    for (name, text, limit) in remediations.chain(containers) {
        if let Some(text) = text.filter(|t| t.len() > limit) {
            return Err(format!(
                "{name} is {} bytes, more than the {limit} the server stores",
                text.len()
            ));
        }
    }
    Ok(())
}

/// Stores `push` (validated, its signature checked) in one transaction:
/// false, and nothing written, when its seq is not new.
///
/// Most pushes repeat the host's state (the agent pushes at least every
/// interval, changed or not), so the host's row keeps the digest of the
/// state last stored ([`state_digest`]) and the listeners, findings,
/// lifecycle and ledger checkpoint are written only when the push's
/// differs, and its findings' counts only when they differ from the
/// host's last ([`append_counts`]). A push that repeats it costs one
/// `UPDATE` of the host's row.
pub(crate) async fn store(pool: &AnyPool, push: &Push) -> Result<bool, ServerError> {
    let seq = as_i64(push.seq);
    let now = unix_now();
    let digest = state_digest(push);
    let mut tx = pool.begin().await?;
    // A seq not above the host's last is a replay of a push stored before
    // (the agent resends until it sees a 200): no row, nothing written.
    // The row's write lock (PostgreSQL: the row; SQLite: the database)
    // lasts until commit, so of two copies of one push in flight the
    // second finds the first's seq and stores nothing. `state_digest` is
    // not set here, so RETURNING gives the one stored before.
    let stored = sqlx::query(
        "UPDATE hosts SET last_seen_at = $1, last_seq = $2
         WHERE id = $3 AND (last_seq IS NULL OR last_seq < $2)
         RETURNING state_digest",
    )
    .bind(now)
    .bind(seq)
    .bind(&push.host_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(stored) = stored else {
        return Ok(false);
    };
    let stored: Option<String> = stored.try_get("state_digest")?;
    if stored.as_deref() != Some(digest.as_str()) {
        sqlx::query("UPDATE hosts SET state_digest = $1 WHERE id = $2")
            .bind(&digest)
            .bind(&push.host_id)
            .execute(&mut *tx)
            .await?;
        replace_current(&mut tx, push).await?;
        append_counts(&mut tx, push, seq, now).await?;
        if let Some(ports) = &push.lifecycle {
            replace_lifecycle(&mut tx, &push.host_id, ports).await?;
        }
        if let Some(checkpoint) = &push.ledger {
            append_checkpoint(&mut tx, &push.host_id, seq, checkpoint, now).await?;
        }
    }
    append_drift(&mut tx, push, seq).await?;
    crate::grants_blocks::store(&mut tx, push).await?;
    crate::policy::store_applied(&mut tx, push).await?;
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
    let host = push.host_id.as_str();
    insert_rows(
        tx,
        "host_listeners (host_id, protocol, address, port, process, pid, container)",
        7,
        &push.listeners,
        |q, l| {
            q.bind(host)
                .bind(&l.protocol)
                .bind(&l.address)
                .bind(i64::from(l.port))
                .bind(&l.process)
                .bind(l.pid.map(i64::from))
                .bind(&l.container)
        },
    )
    .await?;
    insert_rows(
        tx,
        "host_findings (host_id, code, severity, port, message, remediation)",
        6,
        &push.findings,
        |q, f| {
            q.bind(host)
                .bind(&f.code)
                .bind(&f.severity)
                .bind(f.port.map(i64::from))
                .bind(&f.message)
                .bind(&f.remediation)
        },
    )
    .await
}

/// Appends the push's findings counted by severity to the host's history
/// (`finding_counts`), unless they equal the host's last counts there:
/// the history records changes, so a host whose findings stand still adds
/// no row however often it pushes.
async fn append_counts(
    tx: &mut AnyConnection,
    push: &Push,
    seq: i64,
    now: i64,
) -> Result<(), ServerError> {
    let counts = severity_counts(push);
    let last = sqlx::query(
        "SELECT critical, high, medium, low, info FROM finding_counts
         WHERE host_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(&push.host_id)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| {
        SEVERITIES
            .iter()
            .map(|s| row.try_get::<i64, _>(*s))
            .collect::<Result<Vec<_>, _>>()
    })
    .transpose()?;
    if last.as_deref() == Some(counts.as_slice()) {
        return Ok(());
    }
    let query = sqlx::query(
        "INSERT INTO finding_counts (host_id, at, seq, critical, high, medium, low, info)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&push.host_id)
    .bind(now)
    .bind(seq);
    counts
        .iter()
        .fold(query, |q, n| q.bind(*n))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The push's findings counted by severity, in [`SEVERITIES`]' order.
fn severity_counts(push: &Push) -> Vec<i64> {
    SEVERITIES
        .iter()
        .map(|s| {
            let n = push.findings.iter().filter(|f| f.severity == *s).count();
            i64::try_from(n).unwrap_or(i64::MAX)
        })
        .collect()
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
    insert_rows(
        tx,
        "host_lifecycle (host_id, port, protocol, state, last_used)",
        5,
        ports,
        |q, p| {
            q.bind(host_id)
                .bind(i64::from(p.port))
                .bind(&p.protocol)
                .bind(&p.state)
                .bind(p.last_used.map(|t| t.as_second()))
        },
    )
    .await
}

async fn append_drift(tx: &mut AnyConnection, push: &Push, seq: i64) -> Result<(), ServerError> {
    let events: Vec<_> = (0_i64..).zip(&push.drift).collect();
    insert_rows(
        tx,
        "drift_events (host_id, seq, position, at, kind, protocol, address, port, process)",
        9,
        &events,
        |q, (position, d)| {
            q.bind(&push.host_id)
                .bind(seq)
                .bind(*position)
                .bind(d.at.as_second())
                .bind(&d.kind)
                .bind(&d.protocol)
                .bind(&d.address)
                .bind(i64::from(d.port))
                .bind(&d.process)
        },
    )
    .await
}

/// Rows one INSERT carries at most: 100 rows of at most 9 values stay far
/// below SQLite's 32,766 bound values a statement and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 100;

/// A query of the `any` driver, its arguments being bound.
type AnyQuery = Query<'static, Any, AnyArguments>;

/// Inserts one row per item into `into` (a table and its `width`
/// columns), each row's values bound by `bind`: one statement (one round
/// trip) per [`ROWS_PER_INSERT`] rows rather than one per row.
async fn insert_rows<T>(
    tx: &mut AnyConnection,
    into: &str,
    width: usize,
    items: &[T],
    bind: impl Fn(AnyQuery, &T) -> AnyQuery,
) -> Result<(), ServerError> {
    for chunk in items.chunks(ROWS_PER_INSERT) {
        // Only placeholders and this module's constant table and column
        // names go into the text; every value is bound.
        let sql = AssertSqlSafe(insert_sql(into, width, chunk.len()));
        let query = chunk.iter().fold(sqlx::query(sql), &bind);
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// `INSERT INTO {into} VALUES ($1, …), (…)`: `rows` rows of `width`
/// placeholders, numbered on across rows.
fn insert_sql(into: &str, width: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {into} VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            let separator = if column == 0 { "" } else { ", " };
            let _ = write!(sql, "{separator}${}", row * width + column + 1);
        }
        sql.push(')');
    }
    sql
}

/// The digest of the state a push reports: its listeners, findings,
/// lifecycle and ledger checkpoint. Equal digests mean the push repeats the
/// last one stored, whose checkpoint is the host's latest (a checkpoint
/// equal to the latest is not stored again), so nothing of it needs
/// writing. An absent lifecycle or checkpoint digests differently from any
/// value, so a push without one never passes for a repeat of one with one.
fn state_digest(push: &Push) -> String {
    let state = (
        &push.listeners,
        &push.findings,
        &push.lifecycle,
        &push.ledger,
    );
    let state = serde_json::to_vec(&state).expect("a push's state serializes");
    format!("sha256:{}", hex(&Sha256::digest(&state)))
}

/// Appends `checkpoint`, judged against the host's previous one, unless it
/// is the same checkpoint again; a checkpoint that breaks the ledger's
/// growth flags the host for good.
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
    if previous
        .as_ref()
        .is_some_and(|(i, h): &(i64, String)| *i == index && *h == checkpoint.head)
    {
        // The ledger did not move: the checkpoint says nothing new.
        return Ok(());
    }
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
    fn inserts_number_their_placeholders_across_rows() {
        assert_eq!(
            insert_sql("t (a, b)", 2, 3),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"
        );
        assert_eq!(insert_sql("t (a)", 1, 1), "INSERT INTO t (a) VALUES ($1)");
    }

    #[test]
    fn the_state_digest_changes_with_what_a_push_replaces_and_nothing_else() {
        let push = Push {
            host_id: "h".into(),
            seq: 1,
            sent_at: jiff::Timestamp::UNIX_EPOCH,
            listeners: vec![PushedListener {
                protocol: "tcp".into(),
                address: "::".into(),
                port: 22,
                process: Some("sshd".into()),
                pid: Some(1),
                container: None,
            }],
            findings: vec![],
            drift: vec![],
            ledger: None,
            lifecycle: None,
            policy: None,
            grants: None,
            blocks: None,
        };
        let digest = state_digest(&push);
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
        let mut later = push.clone();
        later.seq = 2;
        later.sent_at = jiff::Timestamp::now();
        assert_eq!(state_digest(&later), digest, "seq and time are not state");
        let mut other = push.clone();
        other.listeners[0].pid = Some(2);
        assert_ne!(state_digest(&other), digest, "a restarted process");
        let mut other = push.clone();
        other.lifecycle = Some(vec![]);
        assert_ne!(
            state_digest(&other),
            digest,
            "an empty lifecycle is not none"
        );
        let mut other = push.clone();
        other.ledger = Some(LedgerCheckpoint {
            index: 0,
            head: String::new(),
        });
        assert_ne!(state_digest(&other), digest, "a checkpoint");
    }

    /// A database with the host `h1` (`web-1`) enrolled.
    async fn enrolled() -> (tempfile::TempDir, crate::Database) {
        let state = tempfile::tempdir().unwrap();
        let url = crate::sqlite_url(&state.path().join("s.db"));
        let database = crate::Database::open(&url).await.unwrap();
        sqlx::query("INSERT INTO hosts (id, name, enrolled_at) VALUES ('h1', 'web-1', 0)")
            .execute(database.pool())
            .await
            .unwrap();
        (state, database)
    }

    /// A push of `h1` at `seq` with `findings` (severity, remediation)
    /// and one listener on `port` in the container `web-1`.
    fn push_of(seq: u64, port: u16, findings: &[(&str, Option<&str>)]) -> Push {
        Push {
            host_id: "h1".into(),
            seq,
            sent_at: jiff::Timestamp::UNIX_EPOCH,
            listeners: vec![PushedListener {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port,
                process: Some("nginx".into()),
                pid: Some(7),
                container: Some("web-1".into()),
            }],
            findings: findings
                .iter()
                .map(|&(severity, remediation)| PushedFinding {
                    code: "PR001".into(),
                    severity: severity.into(),
                    port: Some(port),
                    message: format!("{severity} on {port}"),
                    remediation: remediation.map(Into::into),
                })
                .collect(),
            drift: vec![],
            ledger: None,
            lifecycle: None,
            policy: None,
            grants: None,
            blocks: None,
        }
    }

    async fn history_counts(
        pool: &AnyPool,
        query: Option<&str>,
    ) -> Vec<(String, crate::hosts::SeverityCounts)> {
        let query = crate::fleet::FleetQuery::parse(query).unwrap();
        let window = crate::fleet::Window::history(&query).unwrap();
        crate::fleet::finding_history(pool, &window)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.at, r.counts))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn counts_are_recorded_when_they_change_and_only_then() {
        let (_state, database) = enrolled().await;
        let pool = database.pool();
        let high = ("high", Some("Close it."));
        assert!(store(pool, &push_of(1, 80, &[high])).await.unwrap());
        // Another listener, the same counts: the state is stored, no count.
        assert!(store(pool, &push_of(2, 81, &[high])).await.unwrap());
        // A low finding more (from an older agent: no remediation).
        let both = [high, ("low", None)];
        assert!(store(pool, &push_of(3, 81, &both)).await.unwrap());
        // The same again, and a replay: nothing.
        assert!(store(pool, &push_of(4, 81, &both)).await.unwrap());
        assert!(!store(pool, &push_of(4, 81, &both)).await.unwrap());
        let history = history_counts(pool, None).await;
        let counts: Vec<(u64, u64)> = history.iter().map(|(_, c)| (c.high, c.low)).collect();
        assert_eq!(counts, [(1, 0), (1, 1)]);
        let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM finding_counts")
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(rows, 2);

        // What the reads show of the pushed remediation and container.
        let findings = crate::fleet::findings(pool, None).await.unwrap();
        let remediations: Vec<Option<&str>> =
            findings.iter().map(|f| f.remediation.as_deref()).collect();
        assert_eq!(remediations, [Some("Close it."), None]);
        let hosts = crate::hosts::list(pool).await.unwrap();
        assert_eq!(hosts[0].listeners[0].container.as_deref(), Some("web-1"));
        let detail = crate::hosts::detail(pool, "h1").await.unwrap().unwrap();
        assert_eq!(detail.findings[0].remediation.as_deref(), Some("Close it."));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_history_opens_with_each_hosts_standing_and_keeps_the_newest() {
        let (_state, database) = enrolled().await;
        let pool = database.pool();
        sqlx::query("INSERT INTO hosts (id, name, enrolled_at) VALUES ('h2', 'db-1', 0)")
            .execute(pool)
            .await
            .unwrap();
        // Changes (host, Unix seconds, seq, critical count).
        for (host, at, seq, critical) in [
            ("h1", 100, 1, 1),
            ("h1", 200, 2, 2),
            ("h2", 150, 1, 5),
            ("h1", 300, 3, 3),
            ("h2", 400, 2, 6),
        ] {
            sqlx::query(
                "INSERT INTO finding_counts (host_id, at, seq, critical, high, medium, low, info)
                 VALUES ($1, $2, $3, $4, 0, 0, 0, 0)",
            )
            .bind(host)
            .bind(at)
            .bind(seq)
            .bind(critical)
            .execute(pool)
            .await
            .unwrap();
        }
        let criticals = |rows: Vec<(String, crate::hosts::SeverityCounts)>| {
            rows.into_iter()
                .map(|(at, c)| {
                    let at: jiff::Timestamp = at.parse().unwrap();
                    (at.as_second(), c.critical)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            criticals(history_counts(pool, None).await),
            [(100, 1), (150, 5), (200, 2), (300, 3), (400, 6)]
        );
        // From 250: each host's last change before it, then the rest.
        let since = "since=1970-01-01T00%3A04%3A10Z";
        assert_eq!(
            criticals(history_counts(pool, Some(since)).await),
            [(150, 5), (200, 2), (300, 3), (400, 6)]
        );
        // At most the newest `limit` changes.
        assert_eq!(
            criticals(history_counts(pool, Some("limit=2")).await),
            [(300, 3), (400, 6)]
        );
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
                container: Some("web-1".into()),
            }],
            findings: vec![PushedFinding {
                code: "PR001".into(),
                severity: "high".into(),
                port: None,
                message: String::new(),
                remediation: Some("Close it.".into()),
            }],
            drift: vec![],
            ledger: None,
            lifecycle: Some(vec![PushedPort {
                port: 22,
                protocol: "tcp".into(),
                state: "dormant".into(),
                last_used: None,
            }]),
            policy: None,
            grants: None,
            blocks: None,
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
        let mut bad = good.clone();
        bad.findings[0].remediation = Some("x".repeat(MAX_REMEDIATION_BYTES + 1));
        assert!(
            validate(&bad)
                .unwrap_err()
                .starts_with("findings[0].remediation is 4097 bytes")
        );
        let mut bad = good.clone();
        bad.listeners[0].container = Some("c".repeat(MAX_CONTAINER_BYTES + 1));
        assert!(
            validate(&bad)
                .unwrap_err()
                .starts_with("listeners[0].container is ")
        );
        let mut bad = good.clone();
        bad.listeners[0].container = Some("web\0".into());
        assert!(
            validate(&bad)
                .unwrap_err()
                .contains("container holds a NUL")
        );
        let mut bad = good;
        bad.seq = u64::MAX;
        assert!(validate(&bad).unwrap_err().starts_with("seq "));
    }
}

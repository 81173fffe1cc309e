//! The fleet as the API and `portreeve server host` show it: each host's
//! standing, its listeners and its findings counted by severity; one
//! host's detail; and revoking a host.

use std::collections::HashMap;

use portreeve_fleet_protocol::{PushedDrift, PushedFinding};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::ServerError;
use crate::clock::{rfc3339, unix_now};

/// The severities a finding may have, gravest first.
pub(crate) const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// How many drift events and checkpoints a host's detail shows.
const DETAIL_HISTORY: i64 = 100;

/// A host as `GET /api/v1/hosts` and `server host list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSummary {
    /// Its id (32 hex digits).
    pub id: String,
    /// The name it enrolled with.
    pub name: String,
    /// RFC 3339; `None` before its first push.
    pub last_seen: Option<String>,
    /// RFC 3339.
    pub enrolled_at: String,
    /// Revoked hosts' pushes are refused.
    pub revoked: bool,
    /// A ledger checkpoint it pushed went backwards or forked.
    pub ledger_inconsistent: bool,
    /// Its listeners as of its last push, by port.
    pub listeners: Vec<Listener>,
    /// Its findings as of its last push, counted by severity.
    pub findings_by_severity: SeverityCounts,
    /// The fleet policy assigned to it and what it last did with one.
    pub policy: crate::policy::HostPolicy,
}

/// One listener of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// The bound port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The bound address.
    pub address: String,
    /// The owning process's name, when the agent knew it.
    pub process: Option<String>,
    /// Its container, as the agent named it; null from an older agent and
    /// for a process in no container.
    pub container: Option<String>,
}

/// Findings counted by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Informational findings.
    pub info: u64,
}

impl SeverityCounts {
    /// Every finding, of every severity.
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.info
    }

    fn add(&mut self, severity: &str, n: u64) {
        let slot = match severity {
            "critical" => &mut self.critical,
            "high" => &mut self.high,
            "medium" => &mut self.medium,
            "low" => &mut self.low,
            _ => &mut self.info,
        };
        *slot += n;
    }
}

/// One host in full, as `GET /api/v1/hosts/{id}` shows it.
#[derive(Debug, Serialize)]
pub struct HostDetail {
    /// What the list shows.
    #[serde(flatten)]
    pub summary: HostSummary,
    /// Its findings as of its last push, gravest first.
    pub findings: Vec<PushedFinding>,
    /// Its last drift events, newest first.
    pub drift: Vec<PushedDrift>,
    /// Its last ledger checkpoints, newest first.
    pub checkpoints: Vec<Checkpoint>,
}

/// A ledger checkpoint as received.
#[derive(Debug, Serialize)]
pub struct Checkpoint {
    /// The ledger's last index.
    pub index: u64,
    /// Its head digest.
    pub head: String,
    /// RFC 3339.
    pub received_at: String,
    /// False: it went backwards or forked from the one before.
    pub consistent: bool,
}

/// Every host, by name.
pub async fn list(pool: &AnyPool) -> Result<Vec<HostSummary>, ServerError> {
    summaries(pool, None).await
}

/// The host `id` in full, if there is one.
pub async fn detail(pool: &AnyPool, id: &str) -> Result<Option<HostDetail>, ServerError> {
    let Some(summary) = summaries(pool, Some(id)).await?.pop() else {
        return Ok(None);
    };
    let findings = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT code, severity, port, message, remediation FROM host_findings
         WHERE host_id = $1 ORDER BY {}, code, port",
        crate::fleet::severity_rank("severity")
    )))
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(PushedFinding {
            code: r.try_get("code")?,
            severity: r.try_get("severity")?,
            port: r
                .try_get::<Option<i64>, _>("port")?
                .map(|p| int(p, "port"))
                .transpose()?,
            message: r.try_get("message")?,
            remediation: r.try_get("remediation")?,
        })
    })
    .collect::<Result<_, ServerError>>()?;
    let drift = sqlx::query(
        "SELECT at, kind, protocol, address, port, process FROM drift_events
         WHERE host_id = $1 ORDER BY seq DESC, position DESC LIMIT $2",
    )
    .bind(id)
    .bind(DETAIL_HISTORY)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(PushedDrift {
            at: jiff::Timestamp::from_second(r.try_get("at")?)
                .map_err(|e| ServerError::Corrupt(format!("drift_events.at: {e}")))?,
            kind: r.try_get("kind")?,
            protocol: r.try_get("protocol")?,
            address: r.try_get("address")?,
            port: int(r.try_get("port")?, "port")?,
            process: r.try_get("process")?,
        })
    })
    .collect::<Result<_, ServerError>>()?;
    let checkpoints = sqlx::query(
        "SELECT ledger_index, head, received_at, consistent FROM ledger_checkpoints
         WHERE host_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(id)
    .bind(DETAIL_HISTORY)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Checkpoint {
            index: int(r.try_get("ledger_index")?, "ledger_index")?,
            head: r.try_get("head")?,
            received_at: rfc3339(r.try_get("received_at")?),
            consistent: r.try_get::<i64, _>("consistent")? != 0,
        })
    })
    .collect::<Result<_, ServerError>>()?;
    Ok(Some(HostDetail {
        summary,
        findings,
        drift,
        checkpoints,
    }))
}

/// Revokes the host whose id or name is `which` on `db` (the caller's
/// transaction, which records it in the server's ledger): its pushes get
/// 401 from now on. Revoking it again keeps the first time. Its id and
/// name.
pub async fn revoke(
    db: &mut sqlx::AnyConnection,
    which: &str,
) -> Result<(String, String), ServerError> {
    sqlx::query(
        "UPDATE hosts SET revoked_at = $1 WHERE (id = $2 OR name = $2) AND revoked_at IS NULL",
    )
    .bind(unix_now())
    .bind(which)
    .execute(&mut *db)
    .await?;
    let row = sqlx::query("SELECT id, name FROM hosts WHERE id = $1 OR name = $1")
        .bind(which)
        .fetch_optional(&mut *db)
        .await?
        .ok_or_else(|| ServerError::NoSuchHost(which.to_owned()))?;
    Ok((row.try_get("id")?, row.try_get("name")?))
}

/// The hosts' summaries: every host's, or only `one`'s. The three queries
/// are the same text for both with the filter appended.
async fn summaries(pool: &AnyPool, one: Option<&str>) -> Result<Vec<HostSummary>, ServerError> {
    let (host_filter, row_filter) = match one {
        Some(_) => (" WHERE id = $1", " WHERE host_id = $1"),
        None => ("", ""),
    };
    // Only the constant filters above are formatted into the text.
    let fetch = |sql: String| async move {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql));
        match one {
            Some(id) => query.bind(id).fetch_all(pool).await,
            None => query.fetch_all(pool).await,
        }
    };
    let mut listeners: HashMap<String, Vec<Listener>> = HashMap::new();
    for r in fetch(format!(
        "SELECT host_id, port, protocol, address, process, container
         FROM host_listeners{row_filter}
         ORDER BY host_id, port, protocol, address"
    ))
    .await?
    {
        listeners
            .entry(r.try_get("host_id")?)
            .or_default()
            .push(Listener {
                port: int(r.try_get("port")?, "port")?,
                protocol: r.try_get("protocol")?,
                address: r.try_get("address")?,
                process: r.try_get("process")?,
                container: r.try_get("container")?,
            });
    }
    let mut findings: HashMap<String, SeverityCounts> = HashMap::new();
    for r in fetch(format!(
        "SELECT host_id, severity, COUNT(*) AS n FROM host_findings{row_filter}
         GROUP BY host_id, severity"
    ))
    .await?
    {
        let severity: String = r.try_get("severity")?;
        findings
            .entry(r.try_get("host_id")?)
            .or_default()
            .add(&severity, int(r.try_get("n")?, "COUNT")?);
    }
    let mut hosts = fetch(format!(
        "SELECT id, name, enrolled_at, last_seen_at, revoked_at, ledger_inconsistent
         FROM hosts{host_filter} ORDER BY name"
    ))
    .await?
    .iter()
    .map(|r| summary(r, &mut listeners, &mut findings))
    .collect::<Result<Vec<_>, _>>()?;
    crate::policy::attach(pool, one, &mut hosts).await?;
    Ok(hosts)
}

fn summary(
    row: &AnyRow,
    listeners: &mut HashMap<String, Vec<Listener>>,
    findings: &mut HashMap<String, SeverityCounts>,
) -> Result<HostSummary, ServerError> {
    let id: String = row.try_get("id")?;
    Ok(HostSummary {
        name: row.try_get("name")?,
        last_seen: row.try_get::<Option<i64>, _>("last_seen_at")?.map(rfc3339),
        enrolled_at: rfc3339(row.try_get("enrolled_at")?),
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        ledger_inconsistent: row.try_get::<i64, _>("ledger_inconsistent")? != 0,
        listeners: listeners.remove(&id).unwrap_or_default(),
        findings_by_severity: findings.remove(&id).unwrap_or_default(),
        policy: Default::default(),
        id,
    })
}

/// A stored integer as the type the protocol gives it.
fn int<T: TryFrom<i64>>(n: i64, column: &str) -> Result<T, ServerError> {
    T::try_from(n).map_err(|_| ServerError::Corrupt(format!("{column} holds {n}")))
}

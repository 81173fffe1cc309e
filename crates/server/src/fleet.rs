//! Fleet-wide reads across hosts: every open finding, the drift events
//! newest first, and every port's lifecycle state, each row naming its
//! host. The filters are checked here, so that a bad one is the caller's
//! mistake (400) and never reaches the database.

use jiff::Timestamp;
use portreeve_fleet_protocol::LIFECYCLE_STATES;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::ServerError;
use crate::clock::rfc3339;
use crate::hosts::{SEVERITIES, SeverityCounts};

/// How many drift events `GET /api/v1/drift` answers without `limit`.
pub(crate) const DEFAULT_DRIFT_LIMIT: i64 = 100;
/// The most it answers, whatever `limit` says.
pub(crate) const MAX_DRIFT_LIMIT: i64 = 1000;
/// The most rows `GET /api/v1/findings/history` answers (and how many
/// without `limit`), besides each host's standing at `since`. A row is a
/// change in a host's counts, so this is years of a few hundred hosts
/// changing weekly; a reader that gets a full page asks from a later time.
pub(crate) const MAX_HISTORY_LIMIT: i64 = 10_000;

/// The host a fleet-wide row belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostRef {
    /// Its id.
    pub host_id: String,
    /// Its name.
    pub host_name: String,
}

/// One open finding of one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetFinding {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// The finding's code.
    pub code: String,
    /// Its severity.
    pub severity: String,
    /// The port it concerns, if one.
    pub port: Option<i64>,
    /// What it says.
    pub message: String,
    /// What to do about it, as the agent said; null from an older agent.
    pub remediation: Option<String>,
}

/// One drift event of one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetDrift {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// When the agent saw it, RFC 3339.
    pub at: String,
    /// What happened.
    pub kind: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The bound address.
    pub address: String,
    /// The bound port.
    pub port: i64,
    /// The owning process's name, when known.
    pub process: Option<String>,
}

/// One port of one host and its lifecycle state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetPort {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// The port.
    pub port: i64,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `active`, `dormant`, `abandoned` or `reclaimed`.
    pub state: String,
    /// When it was last used, RFC 3339; null if never seen used.
    pub last_used: Option<String>,
}

/// The query string of the fleet-wide reads, as sent: every value is
/// text until [`checked_severity`], [`checked_state`] or
/// [`DriftWindow::from_query`] says it means something.
#[derive(Debug, Default)]
pub(crate) struct FleetQuery {
    severity: Option<String>,
    state: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

impl FleetQuery {
    /// The query string `raw` (`a=b&c=d`, percent-encoded, `+` for a
    /// space) read; parameters it does not know are ignored, one given
    /// twice or not UTF-8 once decoded is refused.
    pub(crate) fn parse(raw: Option<&str>) -> Result<FleetQuery, String> {
        let mut query = FleetQuery::default();
        for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "severity" => &mut query.severity,
                "state" => &mut query.state,
                "since" => &mut query.since,
                "limit" => &mut query.limit,
                _ => continue,
            };
            if slot.is_some() {
                return Err(format!("{name} is given more than once"));
            }
            let value = value.replace('+', " ");
            let decoded = percent_encoding::percent_decode_str(&value)
                .decode_utf8()
                .map_err(|_| format!("{name} is not UTF-8 text"))?;
            *slot = Some(decoded.into_owned());
        }
        Ok(query)
    }
}

/// The `severity` filter, if one was given and it is a severity.
pub(crate) fn checked_severity(query: &FleetQuery) -> Result<Option<&str>, String> {
    let severity = query.severity.as_deref();
    one_of("severity", severity, &SEVERITIES).map(|()| severity)
}

/// The `state` filter, if one was given and it is a lifecycle state.
pub(crate) fn checked_state(query: &FleetQuery) -> Result<Option<&str>, String> {
    let state = query.state.as_deref();
    one_of("state", state, &LIFECYCLE_STATES).map(|()| state)
}

/// Refuses the first of `values` that `allowed` does not hold, naming it
/// as `name` (`state `x` is not one of a, b, c`; of two, `neither a nor
/// b`): the check behind every enumerated field the API takes.
pub(crate) fn one_of<'a>(
    name: &str,
    values: impl IntoIterator<Item = &'a str>,
    allowed: &[&str],
) -> Result<(), String> {
    match values.into_iter().find(|v| !allowed.contains(v)) {
        None => Ok(()),
        Some(bad) => Err(match allowed {
            [a, b] => format!("{name} `{bad}` is neither {a} nor {b}"),
            _ => format!("{name} `{bad}` is not one of {}", allowed.join(", ")),
        }),
    }
}

/// Which rows of a history (drift events, finding counts) to answer:
/// those at or after `since` (Unix seconds), at most `limit`, the newest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Window {
    since: Option<i64>,
    limit: i64,
}

impl Window {
    /// The drift's window: `limit` 1 to [`MAX_DRIFT_LIMIT`], by default
    /// [`DEFAULT_DRIFT_LIMIT`].
    pub(crate) fn drift(query: &FleetQuery) -> Result<Window, String> {
        Window::from_query(query, DEFAULT_DRIFT_LIMIT, MAX_DRIFT_LIMIT)
    }

    /// The finding counts' window: `limit` 1 to [`MAX_HISTORY_LIMIT`], by
    /// default all of it.
    pub(crate) fn history(query: &FleetQuery) -> Result<Window, String> {
        Window::from_query(query, MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT)
    }

    /// `since` (RFC 3339) and `limit` (1 to `max`, `default` when absent)
    /// checked.
    fn from_query(query: &FleetQuery, default: i64, max: i64) -> Result<Window, String> {
        let since = query
            .since
            .as_deref()
            .map(|s| {
                s.parse::<Timestamp>()
                    .map(|t| t.as_second())
                    .map_err(|e| format!("since `{s}` is not an RFC 3339 time: {e}"))
            })
            .transpose()?;
        let limit = match query.limit.as_deref() {
            None => default,
            Some(l) => l
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("limit `{l}` is not a whole number from 1 to {max}"))?,
        };
        Ok(Window { since, limit })
    }
}

/// An SQL expression ranking the severity in `column` gravest first (0
/// for critical, up to 4 for info), in [`SEVERITIES`]' order: ordering by
/// the column itself would put them in their spelling's order (critical,
/// high, info, low, medium). One `CASE` text for both databases.
pub(crate) fn severity_rank(column: &str) -> String {
    let whens: String = SEVERITIES
        .iter()
        .enumerate()
        .map(|(rank, s)| format!(" WHEN '{s}' THEN {rank}"))
        .collect();
    format!("CASE {column}{whens} END")
}

/// Every host's findings (only those of `severity` when given), by host
/// name, then gravest first.
pub async fn findings(
    pool: &AnyPool,
    severity: Option<&str>,
) -> Result<Vec<FleetFinding>, ServerError> {
    // Only the constant rank expression is formatted into the text.
    sqlx::query(AssertSqlSafe(format!(
        "SELECT h.id, h.name, f.code, f.severity, f.port, f.message, f.remediation
         FROM host_findings f JOIN hosts h ON h.id = f.host_id
         WHERE $1 IS NULL OR f.severity = $1
         ORDER BY h.name, {}, f.code, f.port",
        severity_rank("f.severity")
    )))
    .bind(severity)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FleetFinding {
            host: host_ref(r)?,
            code: r.try_get("code")?,
            severity: r.try_get("severity")?,
            port: r.try_get("port")?,
            message: r.try_get("message")?,
            remediation: r.try_get("remediation")?,
        })
    })
    .collect()
}

/// The fleet's drift events in `window`, newest first.
pub async fn drift(pool: &AnyPool, window: &Window) -> Result<Vec<FleetDrift>, ServerError> {
    sqlx::query(
        "SELECT h.id, h.name, d.at, d.kind, d.protocol, d.address, d.port, d.process
         FROM drift_events d JOIN hosts h ON h.id = d.host_id
         WHERE $1 IS NULL OR d.at >= $1
         ORDER BY d.at DESC, h.name, d.seq DESC, d.position DESC
         LIMIT $2",
    )
    .bind(window.since)
    .bind(window.limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FleetDrift {
            host: host_ref(r)?,
            at: rfc3339(r.try_get("at")?),
            kind: r.try_get("kind")?,
            protocol: r.try_get("protocol")?,
            address: r.try_get("address")?,
            port: r.try_get("port")?,
            process: r.try_get("process")?,
        })
    })
    .collect()
}

/// One change in one host's findings: its counts by severity from `at` on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetCounts {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// When the server stored the push that changed them, RFC 3339.
    pub at: String,
    /// The host's findings from then on, counted by severity.
    pub counts: SeverityCounts,
}

/// The history of the fleet's findings' counts in `window`, oldest
/// first: the newest `window.limit` changes at or after `since`, and
/// before them each host's last change before `since` (its counts as the
/// window opens), so that a reader knows every host's counts at every
/// time in the window without asking further back.
pub async fn finding_history(
    pool: &AnyPool,
    window: &Window,
) -> Result<Vec<FleetCounts>, ServerError> {
    const COLUMNS: &str = "SELECT h.id, h.name, c.at, c.seq, c.critical, c.high, c.medium, \
                           c.low, c.info FROM finding_counts c JOIN hosts h ON h.id = c.host_id";
    let mut rows = match window.since {
        Some(since) => {
            sqlx::query(AssertSqlSafe(format!(
                "{COLUMNS} WHERE c.at < $1 AND c.seq = (SELECT MAX(d.seq) FROM finding_counts d
                 WHERE d.host_id = c.host_id AND d.at < $1)"
            )))
            .bind(since)
            .fetch_all(pool)
            .await?
        }
        None => Vec::new(),
    };
    // Only the constant column list is formatted into the texts.
    rows.extend(
        sqlx::query(AssertSqlSafe(format!(
            "{COLUMNS} WHERE $1 IS NULL OR c.at >= $1 ORDER BY c.at DESC, c.seq DESC LIMIT $2"
        )))
        .bind(window.since)
        .bind(window.limit)
        .fetch_all(pool)
        .await?,
    );
    let mut history = rows
        .iter()
        .map(|r| {
            let at: i64 = r.try_get("at")?;
            let seq: i64 = r.try_get("seq")?;
            let count = |column: &str| {
                let n: i64 = r.try_get(column)?;
                u64::try_from(n)
                    .map_err(|_| ServerError::Corrupt(format!("finding_counts.{column} holds {n}")))
            };
            let counts = SeverityCounts {
                critical: count("critical")?,
                high: count("high")?,
                medium: count("medium")?,
                low: count("low")?,
                info: count("info")?,
            };
            Ok(((at, seq), host_ref(r)?, counts))
        })
        .collect::<Result<Vec<_>, ServerError>>()?;
    history.sort_by(|a, b| (a.0.0, &a.1.host_name, a.0.1).cmp(&(b.0.0, &b.1.host_name, b.0.1)));
    Ok(history
        .into_iter()
        .map(|((at, _), host, counts)| FleetCounts {
            host,
            at: rfc3339(at),
            counts,
        })
        .collect())
}

/// Every host's ports with their lifecycle states (only those in `state`
/// when given), by host name and port.
pub async fn lifecycle(pool: &AnyPool, state: Option<&str>) -> Result<Vec<FleetPort>, ServerError> {
    sqlx::query(
        "SELECT h.id, h.name, l.port, l.protocol, l.state, l.last_used
         FROM host_lifecycle l JOIN hosts h ON h.id = l.host_id
         WHERE $1 IS NULL OR l.state = $1
         ORDER BY h.name, l.port, l.protocol",
    )
    .bind(state)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FleetPort {
            host: host_ref(r)?,
            port: r.try_get("port")?,
            protocol: r.try_get("protocol")?,
            state: r.try_get("state")?,
            last_used: r.try_get::<Option<i64>, _>("last_used")?.map(rfc3339),
        })
    })
    .collect()
}

pub(crate) fn host_ref(row: &AnyRow) -> Result<HostRef, ServerError> {
    Ok(HostRef {
        host_id: row.try_get("id")?,
        host_name: row.try_get("name")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> FleetQuery {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        FleetQuery::parse(Some(&text)).unwrap()
    }

    #[test]
    fn the_query_string_is_decoded_and_a_repeat_refused() {
        let q =
            FleetQuery::parse(Some("since=2026-12-06T22%3A00%3A00%2B01%3A00&x=1&limit")).unwrap();
        assert_eq!(q.since.as_deref(), Some("2026-12-06T22:00:00+01:00"));
        assert_eq!(q.limit.as_deref(), Some(""));
        assert_eq!(
            FleetQuery::parse(Some("state=a+b"))
                .unwrap()
                .state
                .as_deref(),
            Some("a b")
        );
        assert!(FleetQuery::parse(Some("state=a&state=b")).is_err());
        assert!(FleetQuery::parse(Some("state=%FF")).is_err());
        assert!(FleetQuery::parse(None).unwrap().state.is_none());
    }

    #[test]
    fn filters_are_checked_against_their_lists() {
        assert_eq!(checked_severity(&query(&[])), Ok(None));
        assert_eq!(
            checked_severity(&query(&[("severity", "high")])),
            Ok(Some("high"))
        );
        assert!(
            checked_severity(&query(&[("severity", "urgent")]))
                .unwrap_err()
                .contains("`urgent`")
        );
        assert_eq!(
            checked_state(&query(&[("state", "abandoned")])),
            Ok(Some("abandoned"))
        );
        assert!(checked_state(&query(&[("state", "gone")])).is_err());
    }

    #[test]
    fn the_severity_rank_puts_the_gravest_first() {
        assert_eq!(
            severity_rank("f.severity"),
            "CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 \
             WHEN 'low' THEN 3 WHEN 'info' THEN 4 END"
        );
    }

    #[test]
    fn the_windows_are_bounded() {
        assert_eq!(
            Window::drift(&query(&[])),
            Ok(Window {
                since: None,
                limit: DEFAULT_DRIFT_LIMIT
            })
        );
        assert_eq!(
            Window::drift(&query(&[("since", "2026-12-06T22:00:00Z"), ("limit", "5")])),
            Ok(Window {
                since: Some(1_796_594_400),
                limit: 5
            })
        );
        for bad in [
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "x"),
            ("since", "yesterday"),
        ] {
            assert!(Window::drift(&query(&[bad])).is_err(), "{bad:?}");
        }
        assert_eq!(
            Window::history(&query(&[])),
            Ok(Window {
                since: None,
                limit: MAX_HISTORY_LIMIT
            })
        );
        assert!(Window::history(&query(&[("limit", "10000")])).is_ok());
        assert!(Window::history(&query(&[("limit", "10001")])).is_err());
    }
}

//! Grants and blocks: what each host's firewall lets in on demand and
//! what it drops, as of the last push that said. A push that carries them
//! replaces the host's; one without them (an older agent, or a firewall
//! the agent could not read) keeps what was held. The fleet-wide reads
//! leave out what has expired since: the host's kernel dropped it then.

use std::net::IpAddr;

use portreeve_fleet_protocol::{Push, PushedBlock, PushedGrant};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AnyPool, Row};

use crate::ServerError;
use crate::clock::{rfc3339, unix_now};
use crate::fleet::{HostRef, host_ref};
use crate::nul::refuse_nul;

/// One grant held by one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetGrant {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// The address or network let in.
    pub source: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The port it may reach.
    pub port: i64,
    /// When the host's kernel drops it, RFC 3339.
    pub expires: String,
    /// Who granted it, when known.
    pub actor: Option<String>,
    /// The rule that permitted it, when known.
    pub rule: Option<String>,
    /// Why, when known.
    pub reason: Option<String>,
}

/// One block held by one host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetBlock {
    /// Whose.
    #[serde(flatten)]
    pub host: HostRef,
    /// The blocked address or network.
    pub source: String,
    /// True for the kernel's scan detection, false for `portreeve block`.
    pub automatic: bool,
    /// When the host's kernel lifts it, RFC 3339.
    pub until: String,
    /// Who blocked it, when known.
    pub actor: Option<String>,
    /// Why, when known.
    pub reason: Option<String>,
}

/// Why the push's grants or blocks cannot be stored (a 400), if they
/// cannot: a source that is not an address or network, a protocol other
/// than tcp or udp, or text holding a NUL (which PostgreSQL refuses).
pub(crate) fn validate(push: &Push) -> Result<(), String> {
    for (i, g) in push.grants.iter().flatten().enumerate() {
        check_source(&g.source)?;
        crate::fleet::one_of("grant protocol", [g.protocol.as_str()], &["tcp", "udp"])?;
        refuse_nul(
            format_args!("grants[{i}]."),
            &[
                ("actor", g.actor.as_deref()),
                ("rule", g.rule.as_deref()),
                ("reason", g.reason.as_deref()),
            ],
        )?;
    }
    for (i, b) in push.blocks.iter().flatten().enumerate() {
        check_source(&b.source)?;
        refuse_nul(
            format_args!("blocks[{i}]."),
            &[
                ("actor", b.actor.as_deref()),
                ("reason", b.reason.as_deref()),
            ],
        )?;
    }
    Ok(())
}

/// `source` is an IP address, or one with a prefix length that fits it.
fn check_source(source: &str) -> Result<(), String> {
    let (address, prefix) = match source.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (source, None),
    };
    let bits = match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => 32,
        Ok(IpAddr::V6(_)) => 128,
        Err(_) => return Err(format!("source `{source}` is not an IP address or network")),
    };
    match prefix.map(str::parse::<u8>) {
        None => Ok(()),
        Some(Ok(len)) if len <= bits => Ok(()),
        Some(_) => Err(format!("source `{source}` has no valid prefix length")),
    }
}

/// Inside the push's transaction: the host's grants and blocks become the
/// push's, each list only when the push carries it.
pub(crate) async fn store(tx: &mut AnyConnection, push: &Push) -> Result<(), ServerError> {
    if let Some(grants) = &push.grants {
        replace_grants(tx, &push.host_id, grants).await?;
    }
    if let Some(blocks) = &push.blocks {
        replace_blocks(tx, &push.host_id, blocks).await?;
    }
    Ok(())
}

async fn replace_grants(
    tx: &mut AnyConnection,
    host_id: &str,
    grants: &[PushedGrant],
) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM host_grants WHERE host_id = $1")
        .bind(host_id)
        .execute(&mut *tx)
        .await?;
    for g in grants {
        sqlx::query(
            "INSERT INTO host_grants
                 (host_id, source, protocol, port, expires_at, actor, rule, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(host_id)
        .bind(&g.source)
        .bind(&g.protocol)
        .bind(i64::from(g.port))
        .bind(g.expires.as_second())
        .bind(&g.actor)
        .bind(&g.rule)
        .bind(&g.reason)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn replace_blocks(
    tx: &mut AnyConnection,
    host_id: &str,
    blocks: &[PushedBlock],
) -> Result<(), ServerError> {
    sqlx::query("DELETE FROM host_blocks WHERE host_id = $1")
        .bind(host_id)
        .execute(&mut *tx)
        .await?;
    for b in blocks {
        sqlx::query(
            "INSERT INTO host_blocks (host_id, source, automatic, until_at, actor, reason)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(host_id)
        .bind(&b.source)
        .bind(i64::from(b.automatic))
        .bind(b.until.as_second())
        .bind(&b.actor)
        .bind(&b.reason)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Every host's unexpired grants, by host name, source, protocol and port.
pub(crate) async fn grants(pool: &AnyPool) -> Result<Vec<FleetGrant>, ServerError> {
    sqlx::query(
        "SELECT h.id, h.name, g.source, g.protocol, g.port, g.expires_at, g.actor, g.rule, g.reason
         FROM host_grants g JOIN hosts h ON h.id = g.host_id
         WHERE g.expires_at > $1
         ORDER BY h.name, g.source, g.protocol, g.port",
    )
    .bind(unix_now())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FleetGrant {
            host: host_ref(r)?,
            source: r.try_get("source")?,
            protocol: r.try_get("protocol")?,
            port: r.try_get("port")?,
            expires: rfc3339(r.try_get("expires_at")?),
            actor: r.try_get("actor")?,
            rule: r.try_get("rule")?,
            reason: r.try_get("reason")?,
        })
    })
    .collect()
}

/// Every host's unlifted blocks, by host name and source.
pub(crate) async fn blocks(pool: &AnyPool) -> Result<Vec<FleetBlock>, ServerError> {
    sqlx::query(
        "SELECT h.id, h.name, b.source, b.automatic, b.until_at, b.actor, b.reason
         FROM host_blocks b JOIN hosts h ON h.id = b.host_id
         WHERE b.until_at > $1
         ORDER BY h.name, b.source",
    )
    .bind(unix_now())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(FleetBlock {
            host: host_ref(r)?,
            source: r.try_get("source")?,
            automatic: r.try_get::<i64, _>("automatic")? != 0,
            until: rfc3339(r.try_get("until_at")?),
            actor: r.try_get("actor")?,
            reason: r.try_get("reason")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_addresses_or_networks() {
        for good in [
            "192.0.2.7",
            "198.51.100.0/24",
            "2001:db8::/32",
            "::1",
            "10.0.0.0/0",
        ] {
            assert_eq!(check_source(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "host.example",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "1.2.3.4\0",
        ] {
            assert!(check_source(bad).is_err(), "{bad:?}");
        }
    }
}

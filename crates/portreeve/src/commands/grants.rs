//! `grant`, `revoke`, `grants` and `usage`: the run-time side of the
//! firewall, held in kernel sets with timeouts.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::Proto;
use portreeve_enforce::generations::{self, GrantRecord};
use portreeve_enforce::grants::{GrantRequest, authorize};
use portreeve_enforce::{EnforceError, Enforcer};
use serde::Serialize;

use portreeve_ledger::Draft;

use super::load_policy;
use super::record::{actor, record};
use crate::cli::{GrantArgs, ListArgs, ListFormat, RevokeArgs};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};

pub fn grant(args: &GrantArgs, state_dir: &Path) -> Result<u8, Failure> {
    let policy = load_policy(args.policy.policy.as_deref())?;
    let (port, proto) = args.port;
    let request = GrantRequest {
        port,
        proto,
        from: args.from,
        ttl: args.ttl,
    };
    let grant = authorize(&policy, &request).map_err(|e| Failure::Input(e.to_string()))?;
    let enforcer = Enforcer::new(state_dir);
    enforcer.grant(&grant)?;
    enforcer
        .store()
        .log_grant(&GrantRecord {
            at: Timestamp::now(),
            actor: generations::actor(),
            rule: grant.rule.clone(),
            keys: grant.keys(),
            ttl_s: grant.ttl.as_secs(),
            reason: args.reason.clone(),
        })
        .map_err(EnforceError::from)?;
    let mut draft = Draft::new(
        "grant",
        &actor(),
        format!(
            "{} for {:#} (rule {})",
            grant.keys().join(", "),
            grant.ttl,
            grant.rule
        ),
    );
    draft.reason = Some(args.reason.clone());
    record(state_dir, draft, "the grant is open")?;
    emit(&format!(
        "Granted {} for {:#} (rule {}); the kernel closes it by itself.\n",
        grant.keys().join(", "),
        grant.ttl,
        grant.rule
    ));
    Ok(EXIT_OK)
}

pub fn revoke(args: &RevokeArgs, state_dir: &Path) -> Result<u8, Failure> {
    let (port, proto) = args.port;
    let proto = proto.unwrap_or(Proto::Tcp);
    Enforcer::new(state_dir).revoke(args.from, proto, port)?;
    let mut draft = Draft::new("revoke", &actor(), format!("{} {port}/{proto}", args.from));
    draft.reason = args.reason.clone();
    record(state_dir, draft, "the grant was revoked")?;
    emit(&format!("Revoked {} {port}/{proto}.\n", args.from));
    Ok(EXIT_OK)
}

/// A grant as `portreeve grants` reports it.
#[derive(Serialize)]
struct GrantRow {
    key: String,
    seconds_left: u64,
    ttl_seconds: u64,
    rule: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
}

pub fn list_grants(args: &ListArgs, state_dir: &Path) -> Result<u8, Failure> {
    let enforcer = Enforcer::new(state_dir);
    let live = enforcer.grants()?;
    let log = enforcer.store().grant_log().map_err(EnforceError::from)?;
    let rows: Vec<GrantRow> = live
        .into_iter()
        .map(|g| {
            // The latest log entry for the same key explains it.
            let why = log.iter().rev().find(|r| r.keys.contains(&g.key));
            GrantRow {
                rule: why.map(|r| r.rule.clone()),
                actor: why.map(|r| r.actor.clone()),
                reason: why.map(|r| r.reason.clone()),
                key: g.key,
                seconds_left: g.expires_s,
                ttl_seconds: g.timeout_s,
            }
        })
        .collect();
    match args.format {
        ListFormat::Json => emit_listing("portreeve.grants", &[("grants", to_value(&rows))]),
        ListFormat::Table => {
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.key.clone(),
                        format!("{:#}", SignedDuration::from_secs(r.seconds_left as i64)),
                        r.rule.clone().unwrap_or_else(|| "-".into()),
                        r.actor.clone().unwrap_or_else(|| "-".into()),
                        r.reason.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["GRANT", "LEFT", "RULE", "BY", "REASON"],
                &text,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

/// A port's last access as `portreeve usage` reports it.
#[derive(Serialize)]
struct UsageRow {
    protocol: Proto,
    port: u16,
    last_access: Timestamp,
    idle_seconds: i64,
    connections: u64,
}

pub fn usage(args: &ListArgs, state_dir: &Path) -> Result<u8, Failure> {
    let now = Timestamp::now();
    let rows: Vec<UsageRow> = Enforcer::new(state_dir)
        .usage()?
        .into_iter()
        .map(|u| UsageRow {
            protocol: u.key.protocol,
            port: u.key.port,
            idle_seconds: u.last_access.duration_until(now).as_secs(),
            last_access: u.last_access,
            connections: u.connections,
        })
        .collect();
    match args.format {
        ListFormat::Json => emit_listing("portreeve.usage", &[("ports", to_value(&rows))]),
        ListFormat::Table => {
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format!("{}/{}", r.port, r.protocol),
                        r.last_access.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        format!("{:#} ago", SignedDuration::from_secs(r.idle_seconds)),
                        r.connections.to_string(),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["PORT", "LAST NEW CONNECTION", "IDLE", "CONNECTIONS"],
                &text,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

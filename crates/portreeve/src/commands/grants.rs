//! `grant`, `revoke`, `grants` and `usage`: the run-time side of the
//! firewall, held in kernel sets with timeouts.

use jiff::{SignedDuration, Timestamp};
use portreeve_app::grants;
use portreeve_core::{PortKey, Proto};
use portreeve_enforce::grants::GrantRequest;

use crate::cli::{GrantArgs, ListArgs, ListFormat, RevokeArgs};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{GRANT_KIND, REVOKE_KIND, emit_listing, to_value};
use crate::output::policy::in_effect_footer;
use crate::output::{emit, emit_hint, table};

pub fn grant(args: &GrantArgs, ctx: &Context) -> Result<u8, Failure> {
    let (port, protocol) = args.port;
    let request = GrantRequest {
        port,
        protocol,
        from: args.from,
        ttl: args.ttl,
    };
    let granted = grants::grant(&ctx.state, &request, &args.reason, &ctx.actor)?;
    let g = &granted.grant;
    match args.format {
        ListFormat::Table => emit(&format!(
            "Granted {} for {:#} (rule {}); the kernel closes it by itself.\n",
            g.keys().join(", "),
            g.ttl,
            g.rule
        )),
        ListFormat::Json => emit_listing(
            GRANT_KIND,
            &[
                ("keys", to_value(&g.keys())),
                ("rule", to_value(&g.rule)),
                ("ttl_seconds", to_value(&g.ttl.as_secs())),
                ("expires_at", to_value(&(Timestamp::now() + g.ttl))),
                ("policy_digest", to_value(&granted.policy)),
                ("ledger_index", to_value(&granted.ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn revoke(args: &RevokeArgs, ctx: &Context) -> Result<u8, Failure> {
    let (port, protocol) = args.port;
    let key = PortKey::new(protocol.unwrap_or(Proto::Tcp), port);
    let ledger_index = grants::revoke(&ctx.state, args.from, key, args.reason.clone(), &ctx.actor)?;
    match args.format {
        ListFormat::Table => emit(&format!("Revoked {} {key}.\n", args.from)),
        ListFormat::Json => emit_listing(
            REVOKE_KIND,
            &[
                (
                    "key",
                    to_value(&portreeve_enforce::grants::key(
                        args.from,
                        key.protocol,
                        key.port,
                    )),
                ),
                ("ledger_index", to_value(&ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let rows = grants::list(&ctx.state)?;
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
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

pub fn usage(format: ListFormat, ctx: &Context) -> Result<u8, Failure> {
    let rows = grants::usage(&ctx.state, Timestamp::now())?;
    match format {
        ListFormat::Json => emit_listing("portreeve.usage", &[("ports", to_value(&rows))]),
        ListFormat::Table => {
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format!("{}/{}", r.port, r.protocol),
                        r.last_access.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        format!("{:#} ago", r.idle()),
                        r.connections.to_string(),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["PORT", "LAST NEW CONNECTION", "IDLE", "CONNECTIONS"],
                &text,
                table::stdout_colour(),
            ));
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

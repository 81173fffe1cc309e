//! `block`, `unblock` and `blocks`: sources dropped for a limited time,
//! held in the kernel's blocklist sets with timeouts, and the blocks the
//! kernel's scan detection makes by itself.

use jiff::{SignedDuration, Timestamp};
use portreeve_app::blocks::{self, BlockRequest};

use crate::cli::{BlockArgs, ListArgs, ListFormat, UnblockArgs};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::in_effect_footer;
use crate::output::{emit, emit_hint, table};

/// `kind` of `block --format json`'s document.
const BLOCK_KIND: &str = "portreeve.block";
/// `kind` of `unblock --format json`'s document.
const UNBLOCK_KIND: &str = "portreeve.unblock";
/// `kind` of `blocks --format json`'s document.
const BLOCKS_KIND: &str = "portreeve.blocks";

pub fn block(args: &BlockArgs, ctx: &Context) -> Result<u8, Failure> {
    let request = BlockRequest {
        source: args.source,
        ttl: args.ttl,
        reason: args.reason.clone(),
        session: std::env::var("SSH_CONNECTION")
            .ok()
            .as_deref()
            .and_then(portreeve_enforce::guard::ssh_session),
    };
    let blocked = blocks::block(&ctx.state, &request, &ctx.actor)?;
    match args.format {
        ListFormat::Table => {
            emit(&format!(
                "Blocked {} for {:#}; the kernel ends the block by itself.\n",
                blocked.source, blocked.ttl
            ));
            emit_hint(&format!(
                "`portreeve unblock {}` ends it sooner; `portreeve blocks` lists blocks.\n",
                blocked.source
            ));
        }
        ListFormat::Json => emit_listing(
            BLOCK_KIND,
            &[
                ("source", to_value(&blocked.source)),
                ("ttl_seconds", to_value(&blocked.ttl.as_secs())),
                ("expires_at", to_value(&(Timestamp::now() + blocked.ttl))),
                ("policy_digest", to_value(&blocked.policy)),
                ("ledger_index", to_value(&blocked.ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn unblock(args: &UnblockArgs, ctx: &Context) -> Result<u8, Failure> {
    let source = args.source.trunc();
    let done = blocks::unblock(&ctx.state, source, args.reason.clone(), &ctx.actor)?;
    match args.format {
        ListFormat::Table => emit(&format!("Unblocked {source}.\n")),
        ListFormat::Json => emit_listing(
            UNBLOCK_KIND,
            &[
                ("source", to_value(&source)),
                ("block", to_value(&done.block)),
                ("ledger_index", to_value(&done.ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let rows = blocks::list(&ctx.state)?;
    match args.format {
        ListFormat::Json => emit_listing(BLOCKS_KIND, &[("blocks", to_value(&rows))]),
        ListFormat::Table => {
            let unknown = || "-".to_string();
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.source.to_string(),
                        r.kind.to_string(),
                        format!("{:#}", SignedDuration::from_secs(r.seconds_left as i64)),
                        r.reason.clone().unwrap_or_else(unknown),
                        r.actor.clone().unwrap_or_else(unknown),
                        r.blocked_at.map_or_else(unknown, |t| {
                            t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
                        }),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["SOURCE", "KIND", "LEFT", "REASON", "BY", "SINCE"],
                &text,
                table::stdout_colour(),
            ));
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

//! `portreeve lifecycle` and `portreeve reclaim`: every listening or
//! allowed port with its state (active, dormant, abandoned, reclaimed),
//! and closing the abandoned ones in the firewall — always from the policy
//! in effect, recorded in the ledger and undone by one command.

use jiff::Timestamp;
use portreeve_app::policy;
use portreeve_app::reclaim::{self, LifecyclePlan, Reclaimed, Reopened, idle_text};
use portreeve_core::PortKey;
use portreeve_lifecycle::{ForecastNote, Recommendation};
use serde::Serialize;

use crate::cli::{LifecycleArgs, ListFormat, ReclaimArgs};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::{PolicyInfo, describe};
use crate::output::{counted, emit, emit_hint, note, table};

/// This host's lifecycle plan, under the policy in effect (the default
/// policy before anything was applied).
fn plan_now(ctx: &Context) -> Result<LifecyclePlan, Failure> {
    let policy = policy::for_judging(&ctx.state, None)?;
    let sockets =
        portreeve_inventory::collect(portreeve_inventory::Options { all_netns: false })?.sockets;
    Ok(reclaim::lifecycle(
        &ctx.state,
        policy,
        &sockets,
        Timestamp::now(),
    )?)
}

/// A port as `lifecycle` reports it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    recommendation: &'a Recommendation,
    owner: Option<&'a String>,
}

fn show(plan: &LifecyclePlan, shown: &[&Recommendation], format: ListFormat) {
    match format {
        ListFormat::Json => {
            let rows: Vec<Row> = shown
                .iter()
                .map(|r| Row {
                    recommendation: r,
                    owner: plan.owners.get(&r.key),
                })
                .collect();
            emit_listing(
                "portreeve.lifecycle",
                &[
                    ("policy", to_value(&PolicyInfo::of(&plan.policy))),
                    ("ports", to_value(&rows)),
                ],
            );
        }
        ListFormat::Table => {
            emit(&table::rows(
                &[
                    "PORT",
                    "STATE",
                    "LISTENING",
                    "LAST ACCESS (UTC)",
                    "IDLE",
                    "OWNER",
                    "ACTION",
                    "WHY NOT CLOSED",
                    "FORECAST",
                ],
                &shown
                    .iter()
                    .map(|r| {
                        vec![
                            r.key.to_string(),
                            r.state.as_str().to_string(),
                            if r.listening { "yes" } else { "no" }.into(),
                            r.last_access
                                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                                .unwrap_or_else(|| "never seen".into()),
                            idle_text(r.idle),
                            plan.owners
                                .get(&r.key)
                                .cloned()
                                .unwrap_or_else(|| "-".into()),
                            r.action.to_string(),
                            r.hold
                                .map(|h| h.as_str().to_string())
                                .unwrap_or_else(|| "-".into()),
                            r.forecast
                                .as_ref()
                                .map_or_else(|| "-".into(), forecast_cell),
                        ]
                    })
                    .collect::<Vec<_>>(),
                table::stdout_colour(),
            ));
            emit_hint(&(describe(&plan.policy) + "\n"));
        }
    }
}

/// A port's forecast in a table cell: its pattern (with its cycle), the
/// chance of use in the next 24 hours, and what it changed, e.g.
/// `periodic 14d 80%, between-runs`. The sentence is in the JSON's `why`.
fn forecast_cell(f: &ForecastNote) -> String {
    let cycle = match (f.pattern, f.cycle_days) {
        ("periodic", Some(days)) => format!(" {days}d"),
        _ => String::new(),
    };
    let effect = f
        .effect
        .map(|e| format!(", {}", e.as_str()))
        .unwrap_or_default();
    format!("{}{cycle} {:.0}%{effect}", f.pattern, f.probability * 100.0)
}

pub fn lifecycle(args: &LifecycleArgs, ctx: &Context) -> Result<u8, Failure> {
    let plan = plan_now(ctx)?;
    show(&plan, &plan.ports.iter().collect::<Vec<_>>(), args.format);
    Ok(EXIT_OK)
}

/// `kind` of what `reclaim --apply --format json` writes.
const RECLAIM_KIND: &str = "portreeve.reclaim";
/// `kind` of what `reclaim --undo ID --format json` writes.
const RECLAIM_UNDO_KIND: &str = "portreeve.reclaim-undo";

/// A port a reclaim closed, as `portreeve.reclaim` lists it.
#[derive(Serialize)]
struct ClosedRow {
    key: PortKey,
    reclaim: i64,
    ledger_index: u64,
}

pub fn reclaim(args: &ReclaimArgs, ctx: &Context) -> Result<u8, Failure> {
    if let Some(id) = args.undo {
        let reopened = reclaim::undo(&ctx.state, id, args.reason.clone(), args.force, &ctx.actor)?;
        report_reopened(&reopened, args.format);
        return Ok(EXIT_OK);
    }
    let plan = plan_now(ctx)?;
    if !args.apply {
        let mut shown = plan.closing();
        shown.extend(plan.recommended());
        show(&plan, &shown, args.format);
        let closing = plan.closing().len();
        if closing > 0 {
            note(&format!(
                "{} would be closed: run `portreeve reclaim --apply`",
                counted(closing, "port")
            ));
        }
        return Ok(EXIT_OK);
    }
    let done = reclaim::close(&ctx.state, &plan, args.force, &ctx.actor)?;
    report_closed(done.as_ref(), args.format);
    Ok(EXIT_OK)
}

/// What `reclaim --apply` did (`None`: nothing to close): sentences on
/// standard output, or a `portreeve.reclaim` document with the same
/// sentences as hints on standard error.
fn report_closed(done: Option<&Reclaimed>, format: ListFormat) {
    let text = match done {
        None => "Nothing to reclaim: no abandoned port is set to `reclaim = \"close\"`.\n".into(),
        Some(done) => done
            .closed
            .iter()
            .map(|c| {
                format!(
                    "Closed {} (reclaim {}) in generation {}; `portreeve reclaim --undo {}` reopens it.\n",
                    c.port, c.reclaim, done.generation, c.reclaim
                )
            })
            .collect::<String>(),
    };
    match format {
        ListFormat::Table => emit(&text),
        ListFormat::Json => {
            let closed: Vec<ClosedRow> = done
                .iter()
                .flat_map(|d| &d.closed)
                .map(|c| ClosedRow {
                    key: c.port,
                    reclaim: c.reclaim,
                    ledger_index: c.ledger_index,
                })
                .collect();
            emit_listing(
                RECLAIM_KIND,
                &[
                    ("generation", to_value(&done.map(|d| d.generation))),
                    ("policy_digest", to_value(&done.map(|d| &d.policy))),
                    ("closed", to_value(&closed)),
                ],
            );
            emit_hint(&text);
        }
    }
}

/// What `reclaim --undo` did: a sentence, or a `portreeve.reclaim-undo`
/// document.
fn report_reopened(reopened: &Reopened, format: ListFormat) {
    match format {
        ListFormat::Table => emit(&format!(
            "Reopened {} (reclaim {}) in generation {}.\n",
            reopened.reclaim.key, reopened.reclaim.id, reopened.generation
        )),
        ListFormat::Json => emit_listing(
            RECLAIM_UNDO_KIND,
            &[
                ("reclaim", to_value(&reopened.reclaim.id)),
                ("key", to_value(&reopened.reclaim.key)),
                ("generation", to_value(&reopened.generation)),
                ("ledger_index", to_value(&reopened.ledger_index)),
            ],
        ),
    }
}

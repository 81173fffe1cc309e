//! `breakers`, `breaker trip` and `breaker reset`: the policy's port
//! circuit breakers, where each stands, and manual control of them.

use portreeve_app::breakers::{self, Cause, Changed, Command};

use crate::cli::{BreakerArgs, ListArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::in_effect_footer;
use crate::output::{emit, emit_hint, table};

/// `kind` of `breakers --format json`'s document.
const BREAKERS_KIND: &str = "portreeve.breakers";
/// `kind` of `breaker trip|reset --format json`'s document.
const BREAKER_KIND: &str = "portreeve.breaker";

pub fn trip(args: &BreakerArgs, ctx: &Context) -> Result<u8, Failure> {
    let done = breakers::command(
        &ctx.state,
        &args.name,
        Command::Trip,
        &args.reason,
        &ctx.actor,
    )?;
    report(
        args,
        "tripped",
        &done,
        "it stays tripped until `portreeve breaker reset`",
    )
}

pub fn reset(args: &BreakerArgs, ctx: &Context) -> Result<u8, Failure> {
    let done = breakers::command(
        &ctx.state,
        &args.name,
        Command::Reset,
        &args.reason,
        &ctx.actor,
    )?;
    report(args, "closed", &done, "the policy as written applies again")
}

fn report(args: &BreakerArgs, state: &str, done: &Changed, then: &str) -> Result<u8, Failure> {
    match args.format {
        ListFormat::Table => emit(&format!(
            "Breaker {} {state} in generation {}; {then}.\n",
            args.name, done.generation
        )),
        ListFormat::Json => emit_listing(
            BREAKER_KIND,
            &[
                ("breaker", to_value(&args.name)),
                ("state", to_value(&state)),
                ("generation", to_value(&done.generation)),
                ("ledger_index", to_value(&done.ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let rows = breakers::list(&ctx.state)?;
    match args.format {
        ListFormat::Json => emit_listing(BREAKERS_KIND, &[("breakers", to_value(&rows))]),
        ListFormat::Table => {
            let time = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
            let text: Vec<Vec<String>> = rows
                .iter()
                .map(|b| {
                    let state = match b.pool_down {
                        Some(true) => format!("{} (pool down)", b.state),
                        _ => b.state.to_string(),
                    };
                    let cause = match b.tripped.as_ref().map(|t| &t.cause) {
                        None => "-".to_string(),
                        Some(Cause::Manual { reason }) => format!("by hand: {reason}"),
                        Some(Cause::Measurement {
                            value,
                            held_for_seconds,
                        }) => format!("{value:.1} for {held_for_seconds:.0}s"),
                    };
                    vec![
                        b.name.clone(),
                        b.watches.clone(),
                        format!("{} / {}", b.above, b.recover_below),
                        state,
                        b.tripped.as_ref().map_or("-".into(), |t| time(t.since)),
                        cause,
                        b.last_trip.map_or("-".into(), time),
                        b.trips_last_hour.to_string(),
                        b.reading.map_or("-".into(), |r| format!("{:.1}", r.value)),
                    ]
                })
                .collect();
            emit(&table::rows(
                &[
                    "BREAKER",
                    "WATCHES",
                    "TRIP/RECOVER",
                    "STATE",
                    "SINCE",
                    "CAUSE",
                    "LAST TRIP",
                    "TRIPS/H",
                    "NOW",
                ],
                &text,
                table::stdout_colour(),
            ));
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

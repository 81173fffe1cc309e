//! `usage --by-source`: who uses which port, from the agent's per-source
//! record of new connections.

use portreeve_app::usage;

use crate::cli::{ListFormat, UsageArgs};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{USAGE_BY_SOURCE_KIND, emit_listing, to_value};
use crate::output::{emit, emit_hint, table};

pub fn by_source(args: &UsageArgs, ctx: &Context) -> Result<u8, Failure> {
    let recorded = usage::by_source_with_folded(&ctx.state, args.since)?;
    match args.format {
        ListFormat::Json => emit_listing(
            USAGE_BY_SOURCE_KIND,
            &[
                ("sources", to_value(&recorded.sources)),
                ("folded", to_value(&recorded.folded)),
            ],
        ),
        ListFormat::Table => {
            let time = |t: jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
            let text: Vec<Vec<String>> = recorded
                .sources
                .iter()
                .map(|u| {
                    vec![
                        format!("{}/{}", u.port, u.protocol),
                        u.source.to_string(),
                        u.connections.to_string(),
                        time(u.first_seen),
                        time(u.last_seen),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["PORT", "SOURCE", "CONNECTIONS", "FIRST SEEN", "LAST SEEN"],
                &text,
                table::stdout_colour(),
            ));
            if recorded.folded > 0 {
                emit_hint(&format!(
                    "{} new sources were counted in their /24 or /64: the record reached its bound ([usage] max_sources in agent.toml).\n",
                    recorded.folded
                ));
            }
        }
    }
    Ok(EXIT_OK)
}

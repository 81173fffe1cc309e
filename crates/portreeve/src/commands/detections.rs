//! `detections`: the port scans the agent detected on this host — by the
//! kernel's scan chain or by its own TRW over connection outcomes — what
//! it did about each, and what it learnt after.

use jiff::Timestamp;
use portreeve_app::detections::{self, DetectionRecord};

use crate::cli::{ListArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_hint, table};

/// `kind` of `detections --format json`'s document.
const KIND: &str = "portreeve.detection_log";

const HEADERS: [&str; 9] = [
    "SOURCE",
    "KIND",
    "TIER",
    "ACTION",
    "FIRST SEEN (UTC)",
    "LAST SEEN (UTC)",
    "PORTS",
    "ATTEMPTS",
    "EVIDENCE",
];

pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let rows = detections::list(&ctx.state)?;
    match args.format {
        ListFormat::Json => emit_listing(KIND, &[("detections", to_value(&rows))]),
        ListFormat::Table => {
            let text: Vec<Vec<String>> = rows.iter().map(cells).collect();
            emit(&table::rows(&HEADERS, &text, table::stdout_colour()));
            if rows.is_empty() {
                emit_hint(
                    "The agent records detections while the policy in effect says `[detection] scan = \"alert\"` or `\"block\"`.\n",
                );
            }
        }
    }
    Ok(EXIT_OK)
}

fn cells(d: &DetectionRecord) -> Vec<String> {
    let time = |t: Timestamp| t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    vec![
        d.source.to_string(),
        d.kind.name().to_owned(),
        d.tier.name().to_owned(),
        d.action.name().to_owned(),
        time(d.first_seen),
        time(d.last_seen),
        table::port_sample(&d.ports, d.port_count),
        d.attempts.to_string(),
        d.evidence.join("; "),
    ]
}

//! `portreeve captures`: the incident captures in `<state>/captures`, one
//! pcap file per detection the agent captured, to open in tshark,
//! Wireshark or Zeek.

use portreeve_capture::state_directory;

use crate::cli::{ListArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_hint, table};

/// `kind` of the JSON document.
const KIND: &str = "portreeve.captures";

/// Lists the captures, oldest first.
pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let dir = state_directory(ctx.state.root());
    let captures =
        portreeve_capture::list(&dir).map_err(|e| Failure::Operational(e.to_string()))?;
    match args.format {
        ListFormat::Json => emit_listing(
            KIND,
            &[
                ("directory", to_value(&dir)),
                ("captures", to_value(&captures)),
            ],
        ),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = captures
                .iter()
                .map(|c| {
                    vec![
                        c.file.display().to_string(),
                        c.source.to_string(),
                        c.label.clone(),
                        c.started.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        c.packets.to_string(),
                        c.bytes.to_string(),
                    ]
                })
                .collect();
            emit(&table::rows(
                &[
                    "FILE",
                    "SOURCE",
                    "LABEL",
                    "STARTED (UTC)",
                    "PACKETS",
                    "BYTES",
                ],
                &rows,
                table::stdout_colour(),
            ));
            emit_hint("`tshark -r FILE` or `zeek -r FILE` reads a capture.\n");
        }
    }
    Ok(EXIT_OK)
}

//! `portreeve catalogue`.

use portreeve_core::Proto;
use portreeve_policy::catalogue::{self, CatalogueEntry};

use crate::cli::{CatalogueArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};

pub fn run(args: &CatalogueArgs) -> Result<u8, Failure> {
    let entries: Vec<&CatalogueEntry> = match args.port {
        None => catalogue::entries().iter().collect(),
        Some(port) => {
            let mut found: Vec<&CatalogueEntry> = Proto::ALL
                .into_iter()
                .filter_map(|p| catalogue::lookup(p, port))
                .collect();
            found.dedup_by(|a, b| std::ptr::eq(*a, *b));
            if found.is_empty() {
                return Err(Failure::Input(format!(
                    "port {port} is not in the risk catalogue"
                )));
            }
            found
        }
    };
    match args.format {
        ListFormat::Table => emit(&table::catalogue(&entries, table::stdout_colour())),
        ListFormat::Json => emit_listing("portreeve.catalogue", &[("entries", to_value(&entries))]),
    }
    Ok(EXIT_OK)
}

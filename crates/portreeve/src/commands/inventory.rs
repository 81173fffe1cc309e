//! `portreeve inventory`.

use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::published;
use portreeve_inventory::Options;

use crate::cli::{InventoryArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{Envelope, INVENTORY_KIND, InventoryDocument};
use crate::output::{emit, emit_json, table};

pub fn run(args: &InventoryArgs) -> Result<u8, Failure> {
    let inventory = portreeve_inventory::collect(Options {
        all_netns: args.scope.all_netns,
    })?;
    let published = published::live_if_readable(&Nft::new());
    match args.format {
        ListFormat::Table => emit(
            &(table::inventory(
                &inventory.sockets,
                args.scope.all_netns,
                table::stdout_colour(),
            ) + &crate::output::published::section(&published, None)),
        ),
        ListFormat::Json => emit_json(&InventoryDocument {
            envelope: Envelope::new(INVENTORY_KIND, &inventory.host),
            namespaces: &inventory.namespaces,
            sockets: &inventory.sockets,
            published: &published,
        }),
    }
    Ok(EXIT_OK)
}

//! `portreeve inventory`.

use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::published;
use portreeve_inventory::{Inventory, Options};

use crate::cli::{InventoryArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{Envelope, INVENTORY_KIND, InventoryDocument};
use crate::output::{emit, emit_json, table};

pub fn run(args: &InventoryArgs) -> Result<u8, Failure> {
    let by_name = !args.netns.is_empty();
    let mut inventory = portreeve_inventory::collect(Options {
        all_netns: args.scope.all_netns || by_name,
    })?;
    if by_name {
        keep_named(&mut inventory, &args.netns)?;
    }
    let published = published::live_if_readable(&Nft::new());
    match args.format {
        ListFormat::Table => {
            emit(
                &(table::inventory(
                    &inventory.sockets,
                    args.scope.all_netns || by_name,
                    table::stdout_colour(),
                ) + &crate::output::published::section(&published, None)),
            );
            crate::output::emit_hint(&table::inventory_summary(&inventory.sockets));
        }
        ListFormat::Json => emit_json(&InventoryDocument {
            envelope: Envelope::new(INVENTORY_KIND, &inventory.host),
            namespaces: &inventory.namespaces,
            sockets: &inventory.sockets,
            published: &published,
        }),
    }
    Ok(EXIT_OK)
}

/// Narrows an inventory of every namespace to those named in `wanted`, so
/// `--netns NAME` lists one container or `ip netns` namespace. A name that
/// matches no namespace is a usage error naming the ones there are, since
/// an empty listing would look like a namespace with nothing listening.
fn keep_named(inventory: &mut Inventory, wanted: &[String]) -> Result<(), Failure> {
    let known: Vec<&str> = inventory
        .namespaces
        .iter()
        .filter_map(|n| n.name.as_deref())
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !known.contains(&w.as_str())) {
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(Failure::Input(format!(
            "no network namespace is named `{unknown}`; known names: {known}"
        )));
    }
    let named = |name: &Option<String>| name.as_ref().is_some_and(|n| wanted.contains(n));
    inventory.namespaces.retain(|n| named(&n.name));
    inventory.sockets.retain(|s| named(&s.netns.name));
    Ok(())
}

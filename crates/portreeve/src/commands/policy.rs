//! `portreeve policy init | validate | baseline`.

use std::io::Write;
use std::path::Path;

use portreeve_inventory::Options;

use super::{read_policy_file, today};
use crate::cli::PolicyInitArgs;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{counted, emit};

pub fn init(args: &PolicyInitArgs) -> Result<u8, Failure> {
    if let Some(path) = &args.output
        && path.exists()
        && !args.force
    {
        return Err(Failure::Input(format!(
            "{} exists; pass --force to overwrite it",
            path.display()
        )));
    }
    let inventory = portreeve_inventory::collect(Options {
        all_netns: args.scope.all_netns,
    })?;
    let text = portreeve_policy::starter_policy(&inventory.host, &inventory.sockets, today());
    match &args.output {
        None => emit(&text),
        Some(path) => {
            write_atomically(path, &text).map_err(|e| {
                Failure::Operational(format!("cannot write {}: {e}", path.display()))
            })?;
            eprintln!(
                "portreeve: wrote {} ({} seen); review it, then `portreeve policy validate {}`",
                path.display(),
                counted(inventory.sockets.len(), "listener"),
                path.display()
            );
        }
    }
    Ok(EXIT_OK)
}

/// Writes through a temporary file in the same directory and renames it into
/// place, so a crash never leaves half a file behind.
pub(super) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub fn validate(file: &Path) -> Result<u8, Failure> {
    let policy = read_policy_file(file)?;
    emit(&format!(
        "{}: valid: {}, {}, {}\n",
        file.display(),
        counted(policy.zones.len(), "zone"),
        counted(policy.rules.len(), "rule"),
        counted(policy.banned.len(), "ban")
    ));
    Ok(EXIT_OK)
}

pub fn baseline() -> Result<u8, Failure> {
    emit(portreeve_policy::BASELINE_TOML);
    Ok(EXIT_OK)
}

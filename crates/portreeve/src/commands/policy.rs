//! `portreeve policy init | validate | baseline`.

use std::path::Path;

use portreeve_app::lockout;
use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_inventory::Options;

use crate::cli::PolicyInitArgs;
use crate::commands::enforce::ssh_session;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{counted, emit, escape, note};

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
    let text = portreeve_policy::starter_policy(
        &inventory.host,
        &inventory.sockets,
        &lockout::seen_here(ssh_session())?,
        portreeve_app::check::today(),
    );
    match &args.output {
        None => emit(&text),
        Some(path) => {
            portreeve_app::write_atomically(path, text.as_bytes(), 0o644)?;
            note(&format!(
                "wrote {} ({} seen); review it, then `portreeve policy validate {}`",
                path.display(),
                counted(inventory.sockets.len(), "listener"),
                path.display()
            ));
        }
    }
    Ok(EXIT_OK)
}

pub fn validate(file: &Path) -> Result<u8, Failure> {
    let policy = LoadedPolicy::read(file, PolicySource::File(file.to_path_buf()))?.policy;
    emit(&format!(
        "{}: valid: {}, {}, {}\n",
        escape::one_line(&file.display().to_string()),
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

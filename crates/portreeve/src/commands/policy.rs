//! `portreeve policy init | validate | baseline`.

use std::path::Path;

use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_app::{AppError, lockout};
use portreeve_inventory::Options;
use portreeve_policy::PolicyErrors;

use crate::cli::{ListFormat, PolicyInitArgs};
use crate::commands::enforce::ssh_session;
use crate::failure::{EXIT_INPUT, EXIT_OK, Failure};
use crate::output::json::emit_listing;
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
        &portreeve_inventory::connected_networks()?,
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

/// `kind` of the `policy validate --format json` document.
const VALIDATION_KIND: &str = "portreeve.policy-validation";

/// Checks a policy file: a one-line summary if it is valid, else every
/// error in it (a failure on standard error, or with `--format json` a
/// document on standard output); exit 2 either way when it is invalid. A
/// file that cannot be read at all is a failure in both formats.
pub fn validate(file: &Path, format: ListFormat) -> Result<u8, Failure> {
    let loaded = LoadedPolicy::read(file, PolicySource::File(file.to_path_buf()));
    match format {
        ListFormat::Table => {
            let policy = loaded?.policy;
            emit(&format!(
                "{}: valid: {}, {}, {}\n",
                escape::one_line(&file.display().to_string()),
                counted(policy.zones.len(), "zone"),
                counted(policy.rules.len(), "rule"),
                counted(policy.banned.len(), "ban")
            ));
            Ok(EXIT_OK)
        }
        ListFormat::Json => {
            let errors = match loaded {
                Ok(_) => Vec::new(),
                Err(AppError::Policy(errors)) => errors_as_json(&errors),
                Err(e) => return Err(e.into()),
            };
            let valid = errors.is_empty();
            emit_listing(
                VALIDATION_KIND,
                &[
                    ("valid", valid.into()),
                    ("errors", serde_json::Value::Array(errors)),
                ],
            );
            Ok(if valid { EXIT_OK } else { EXIT_INPUT })
        }
    }
}

/// Each error as `{file, line, column, message, hint}`, in file order.
fn errors_as_json(errors: &PolicyErrors) -> Vec<serde_json::Value> {
    errors
        .errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "file": errors.file,
                "line": e.line,
                "column": e.column,
                "message": e.message,
                "hint": e.hint,
            })
        })
        .collect()
}

pub fn baseline() -> Result<u8, Failure> {
    emit(portreeve_policy::BASELINE_TOML);
    Ok(EXIT_OK)
}

//! `portreeve doctor`: what portreeve can see from here, and where it keeps
//! things. Every line is a fact an operator would otherwise dig out by hand
//! when an inventory looks incomplete.

use std::path::Path;

use portreeve_core::OwnerStatus;
use portreeve_inventory::Options;
use serde::Serialize;

use crate::cli::{DoctorArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{counted, emit, table};
use crate::paths::{self, PolicySource};

/// One diagnostic line.
#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub fn run(args: &DoctorArgs, state_dir: &Path) -> Result<u8, Failure> {
    let root = paths::running_as_root();
    let mut checks = vec![
        Check {
            name: "version",
            ok: true,
            detail: env!("CARGO_PKG_VERSION").to_string(),
        },
        Check {
            name: "privileges",
            ok: root,
            detail: if root {
                "root: may read other users' processes and enter every namespace".into()
            } else {
                format!(
                    "uid {}: owners of other users' sockets and --all-netns need root",
                    rustix::process::geteuid().as_raw()
                )
            },
        },
        Check {
            name: "state directory",
            ok: true,
            detail: format!(
                "{} ({})",
                state_dir.display(),
                if state_dir.is_dir() {
                    "exists"
                } else {
                    "created on first use"
                }
            ),
        },
    ];
    checks.push(match paths::policy_source(args.policy.as_deref()) {
        PolicySource::Baseline => Check {
            name: "policy",
            ok: true,
            detail: format!(
                "built-in baseline ({} not found)",
                paths::default_policy_path().display()
            ),
        },
        PolicySource::File(path) => match super::read_policy_file(&path) {
            Ok(p) => Check {
                name: "policy",
                ok: true,
                detail: format!("{}: {} rules", path.display(), p.rules.len()),
            },
            Err(f) => Check {
                name: "policy",
                ok: false,
                detail: f.summary(),
            },
        },
    });
    match portreeve_inventory::collect(Options::default()) {
        Ok(inv) => {
            let unknown = inv
                .sockets
                .iter()
                .filter(|s| s.owner_status != OwnerStatus::Known)
                .count();
            let denied = inv
                .sockets
                .iter()
                .any(|s| s.owner_status == OwnerStatus::PermissionDenied);
            checks.push(Check {
                name: "sock_diag",
                ok: true,
                detail: format!(
                    "{} in this namespace",
                    counted(inv.sockets.len(), "listening socket")
                ),
            });
            checks.push(Check {
                name: "owners",
                ok: !denied,
                detail: format!(
                    "{} of {} sockets have a known owner{}",
                    inv.sockets.len() - unknown,
                    inv.sockets.len(),
                    match (denied, root) {
                        (false, _) => "",
                        (true, false) => "; some processes' descriptors are unreadable (run as root)",
                        (true, true) => {
                            "; some processes' descriptors are unreadable even to root (a sandbox or LSM hides them)"
                        }
                    }
                ),
            });
        }
        Err(e) => checks.push(Check {
            name: "sock_diag",
            ok: false,
            detail: e.to_string(),
        }),
    }
    match args.format {
        ListFormat::Json => emit_listing("portreeve.doctor", &[("checks", to_value(&checks))]),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    let mark = if c.ok { "ok" } else { "PROBLEM" };
                    vec![c.name.to_string(), format!("{mark}: {}", c.detail)]
                })
                .collect();
            emit(&table::rows(
                &["CHECK", "RESULT"],
                &rows,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

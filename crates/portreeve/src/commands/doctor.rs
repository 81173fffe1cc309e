//! `portreeve doctor`: what portreeve can see from here, where it keeps
//! things, which policy is in effect, whether nftables and connection
//! tracking work, and which other firewalls decide traffic beside it. Every
//! line is a fact an operator would otherwise dig out by hand when an
//! inventory looks incomplete or an allowed port stays shut. It exits 1
//! when any line is a problem.

use portreeve_app::policy::{self, LoadedPolicy, PolicySource};
use portreeve_core::OwnerStatus;
use portreeve_enforce::conntrack_use::{Conntrack, conntrack_here};
use portreeve_enforce::foreign::{OtherFirewalls, foreign_chains};
use portreeve_enforce::nft_command::{Nft, NftError};
use portreeve_inventory::Options;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{DoctorArgs, ListFormat};
use crate::context::{self, Context};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::describe;
use crate::output::{counted, emit, table};

/// One diagnostic line.
#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// What doctor says about the policy in effect, and about the default
/// file when it differs (edited since, or never applied).
fn policy_checks(ctx: &Context, explicit: Option<&std::path::Path>) -> Vec<Check> {
    let mut checks = Vec::new();
    let in_effect = policy::in_effect(&ctx.state);
    checks.push(match &in_effect {
        Ok(Some(p)) => Check {
            name: "policy in effect",
            ok: true,
            detail: format!("{}: {} rules", describe(p), p.policy.rules.len()),
        },
        Ok(None) => Check {
            name: "policy in effect",
            ok: true,
            detail: "none: portreeve's ruleset is not applied; check judges by the default policy"
                .into(),
        },
        Err(e) => Check {
            name: "policy in effect",
            ok: false,
            detail: e.to_string(),
        },
    });
    let effect_digest = in_effect.ok().flatten().map(|p| p.digest);
    let default = policy::default_file();
    let (name, path) = match explicit {
        Some(path) => ("policy", path.to_path_buf()),
        None => ("default policy file", default.clone()),
    };
    if explicit.is_none() && !path.is_file() {
        checks.push(Check {
            name,
            ok: true,
            detail: format!(
                "{} not found{}",
                path.display(),
                if effect_digest.is_none() {
                    "; the built-in baseline stands in"
                } else {
                    ""
                }
            ),
        });
        return checks;
    }
    checks.push(
        match LoadedPolicy::read(&path, PolicySource::File(path.clone())) {
            Ok(p) => Check {
                name,
                ok: true,
                detail: format!(
                    "{}: valid, {} rules, {}",
                    path.display(),
                    p.policy.rules.len(),
                    match &effect_digest {
                        Some(d) if *d == p.digest => "the same text as the policy in effect".into(),
                        Some(_) => "differs from the policy in effect (not applied)".to_string(),
                        None => "not applied".to_string(),
                    }
                ),
            },
            Err(e) => Check {
                name,
                ok: false,
                detail: Failure::from(e).summary(),
            },
        },
    );
    checks
}

/// What doctor says about nftables, connection tracking and the other
/// firewalls here.
fn firewall_checks() -> Vec<Check> {
    let mut checks = Vec::new();
    let listed = Nft::new().list_ruleset_terse();
    if let Err(e @ NftError::Missing { .. }) = &listed {
        checks.push(Check {
            name: "nft",
            ok: false,
            detail: format!("{e}: portreeve cannot plan, apply or read its ruleset"),
        });
    } else {
        checks.push(Check {
            name: "nft",
            ok: true,
            detail: "found and runs".into(),
        });
        checks.push(match &listed {
            Ok(listing) => {
                let tables = listing["nftables"].as_array().map_or(0, |items| {
                    items.iter().filter(|i| i.get("table").is_some()).count()
                });
                Check {
                    name: "nf_tables",
                    ok: true,
                    detail: format!(
                        "the kernel's nftables answers: {}",
                        counted(tables, "table")
                    ),
                }
            }
            Err(e) => Check {
                name: "nf_tables",
                ok: false,
                detail: format!("the kernel's nftables cannot be listed: {e}"),
            },
        });
    }
    let listing = listed.ok();
    let other = OtherFirewalls::look(listing.as_ref());
    let conntrack = conntrack_here(listing.as_ref(), &other.legacy);
    // Inactive tracking is what a host without a stateful ruleset looks
    // like (applying portreeve's turns it on): said, not a problem. A kernel
    // without it cannot load portreeve's ruleset at all.
    checks.push(Check {
        name: "conntrack",
        ok: conntrack != Conntrack::Absent,
        detail: conntrack.to_string(),
    });
    checks.extend(other_firewall_checks(listing.as_ref(), &other));
    checks
}

/// One line per other firewall: a summary of other nftables tables (fine
/// in themselves; `plan` explains each), and a problem for every legacy
/// chain and active firewall manager, which decide traffic where
/// portreeve's own listings do not look.
fn other_firewall_checks(listing: Option<&Value>, other: &OtherFirewalls) -> Vec<Check> {
    let mut checks = Vec::new();
    let nft = listing.map(foreign_chains).unwrap_or_default();
    if !nft.is_empty() {
        checks.push(Check {
            name: "other nftables tables",
            ok: true,
            detail: format!(
                "{} of other tables (`portreeve plan` says what each does)",
                counted(nft.len(), "base chain")
            ),
        });
    }
    for c in &other.legacy {
        checks.push(Check {
            name: "legacy iptables",
            ok: false,
            detail: c.summary(),
        });
    }
    // What to run about them, once, after the last.
    if let (Some(last), Some(advice)) = (checks.last_mut(), other.legacy_advice())
        && last.name == "legacy iptables"
    {
        last.detail = format!("{}. {advice}", last.detail);
    }
    for m in &other.managers {
        checks.push(Check {
            name: "firewall manager",
            ok: false,
            detail: m.summary(),
        });
    }
    for why in &other.unreadable {
        checks.push(Check {
            name: "legacy iptables",
            ok: false,
            detail: why.clone(),
        });
    }
    if nft.is_empty() && other.is_empty() {
        checks.push(Check {
            name: "other firewalls",
            ok: true,
            detail: "none: no other nftables table, iptables-legacy rule, ufw or firewalld".into(),
        });
    }
    checks
}

pub fn run(args: &DoctorArgs, ctx: &Context) -> Result<u8, Failure> {
    let root = portreeve_app::running_as_root();
    let state_dir = ctx.state.root();
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
        match ctx.state.guard() {
            Ok(()) => Check {
                name: "state directory",
                ok: true,
                detail: format!(
                    "{} ({})",
                    state_dir.display(),
                    if state_dir.is_dir() {
                        "exists, writable by its owner only"
                    } else {
                        "created on first use"
                    }
                ),
            },
            Err(e) => Check {
                name: "state directory",
                ok: false,
                detail: e.to_string(),
            },
        },
        Check {
            name: "acting as",
            ok: true,
            detail: format!(
                "{} (recorded on every change; --as NAME to name another)",
                ctx.actor
            ),
        },
    ];
    let candidate = context::candidate(args.policy.as_deref());
    checks.extend(policy_checks(ctx, candidate.as_deref()));
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
    checks.extend(firewall_checks());
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
    Ok(if checks.iter().all(|c| c.ok) {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

//! `render`, `plan`, `apply`, `confirm`, `rollback`, `generations` and the
//! hidden `watchdog`: the firewall side of portreeve.

use std::path::Path;
use std::process::{Command, Stdio};

use portreeve_enforce::generations::{Generation, Status};
use portreeve_enforce::{ApplyOptions, EnforceError, Enforcer, Ruleset, guard, nft_text};
use portreeve_policy::Policy;

use portreeve_ledger::Draft;

use super::record::{actor, record};
use super::{change, lifecycle, load_policy};
use crate::cli::{
    ApplyArgs, ListArgs, ListFormat, PolicyArgs, RenderArgs, RenderTarget, RollbackArgs,
};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{counted, emit, table};
use crate::paths::{self, PolicySource};

/// The ruleset of the policy a command names, without the ports reclaims
/// closed.
pub(super) fn compile(policy: &PolicyArgs, state_dir: &Path) -> Result<(Policy, Ruleset), Failure> {
    let policy = load_policy(policy.policy.as_deref())?;
    let ruleset = enforced(&policy, state_dir)?;
    Ok((policy, ruleset))
}

/// What `apply` installs for `policy`: its ruleset, with the ports that
/// reclaims in force have closed taken out.
fn enforced(policy: &Policy, state_dir: &Path) -> Result<Ruleset, Failure> {
    let mut ruleset =
        Ruleset::compile(policy).map_err(|e| Failure::Input(format!("{}: {e}", policy.origin)))?;
    ruleset.close_ports(&lifecycle::closed_ports(state_dir)?);
    Ok(ruleset)
}

/// Applies `policy` again (after a reclaim or its undo changed which ports
/// are closed) and returns the new generation.
pub(super) fn reapply(policy: &Policy, state_dir: &Path, force: bool) -> Result<u64, Failure> {
    let ruleset = enforced(policy, state_dir)?;
    let opts = ApplyOptions {
        force,
        confirm_within: None,
        session: ssh_session(),
    };
    let applied = Enforcer::new(state_dir).apply(&ruleset, &opts, |_| Ok(()))?;
    Ok(applied.generation)
}

impl From<EnforceError> for Failure {
    fn from(e: EnforceError) -> Self {
        match e {
            EnforceError::Lockout(_)
            | EnforceError::NothingToConfirm(_)
            | EnforceError::NoPrevious(_)
            | EnforceError::NoSuchGrant(_)
            | EnforceError::NotApplied => Failure::Input(e.to_string()),
            EnforceError::Nft(_) | EnforceError::Store(_) => Failure::Operational(e.to_string()),
        }
    }
}

/// The SSH session this command runs in, for the lock-out guard.
fn ssh_session() -> Option<(std::net::IpAddr, u16)> {
    std::env::var("SSH_CONNECTION")
        .ok()
        .as_deref()
        .and_then(guard::ssh_session)
}

pub fn render(args: &RenderArgs, state_dir: &Path) -> Result<u8, Failure> {
    let (_, ruleset) = compile(&args.policy, state_dir)?;
    emit(&match args.target {
        RenderTarget::Nftables => nft_text::render(&ruleset),
        RenderTarget::Iptables => portreeve_enforce::iptables_text::render(&ruleset),
    });
    Ok(EXIT_OK)
}

pub fn plan(args: &PolicyArgs, state_dir: &Path) -> Result<u8, Failure> {
    let (_, ruleset) = compile(args, state_dir)?;
    let plan = Enforcer::new(state_dir).plan(&ruleset, ssh_session())?;
    let mut out = String::new();
    match (&plan.live, plan.diff.is_empty()) {
        (Some(g), true) => out.push_str(&format!(
            "No changes: generation {} is live and identical.\n",
            g.generation
        )),
        (_, false) => out.push_str(&plan.diff),
        (None, true) => out.push_str("No changes.\n"),
    }
    if let Some(g) = &plan.live
        && !plan.table_present
    {
        out.push_str(&format!(
            "\nNote: generation {} is recorded as live, but table inet {} is not in the kernel (removed outside portreeve?); apply installs it again.\n",
            g.generation,
            nft_text::TABLE
        ));
    }
    out.push_str(&foreign_report(&plan.foreign));
    if !plan.lockouts.is_empty() {
        out.push_str("\nApply would be refused (lock-out guard):\n");
        for l in &plan.lockouts {
            out.push_str(&format!(
                "  {} would lose tcp/{} ({:?}) — {}\n",
                l.source, l.port, l.verdict, l.why
            ));
        }
    }
    emit(&out);
    Ok(EXIT_OK)
}

/// Other tables' base chains, with why each matters.
fn foreign_report(foreign: &[portreeve_enforce::foreign::ForeignChain]) -> String {
    if foreign.is_empty() {
        return "\nNo other nftables tables hook into this host's traffic.\n".into();
    }
    let mut out = String::from(
        "\nOther tables also decide traffic here (portreeve leaves them untouched):\n",
    );
    for c in foreign {
        out.push_str(&format!("  {c}\n"));
    }
    out
}

/// The policy `apply` installs, its text, and the proposal approving it
/// when approval is required.
fn policy_to_apply(
    args: &ApplyArgs,
    state_dir: &Path,
) -> Result<(Policy, String, Option<u64>), Failure> {
    if args.proposal.is_some() || args.require_approval {
        let text = match args.proposal {
            Some(_) => None,
            None => Some(policy_text(args.policy.policy.as_deref())?),
        };
        let (proposal, text) = change::approved(state_dir, args.proposal, text.as_deref())?;
        let policy = change::parse_proposed(&proposal, &text)?;
        return Ok((policy, text, Some(proposal.id)));
    }
    let text = policy_text(args.policy.policy.as_deref())?;
    Ok((load_policy(args.policy.policy.as_deref())?, text, None))
}

/// The text of the policy a command names (the baseline's, by default).
fn policy_text(explicit: Option<&Path>) -> Result<String, Failure> {
    match paths::policy_source(explicit) {
        PolicySource::Baseline => Ok(portreeve_policy::BASELINE_TOML.to_string()),
        PolicySource::File(path) => std::fs::read_to_string(&path).map_err(|e| {
            Failure::Input(format!("cannot read policy file {}: {e}", path.display()))
        }),
    }
}

/// `sha256:<hex>` of generation `n`'s ruleset, as ledger entries name it.
fn ruleset_digest(enforcer: &Enforcer, n: u64) -> Option<String> {
    match n {
        0 => None,
        n => enforcer
            .store()
            .get(n)
            .ok()
            .map(|g| format!("sha256:{}", g.sha256)),
    }
}

pub fn apply(args: &ApplyArgs, state_dir: &Path) -> Result<u8, Failure> {
    let (policy, text, approval) = policy_to_apply(args, state_dir)?;
    let ruleset = enforced(&policy, state_dir)?;
    let enforcer = Enforcer::new(state_dir);
    let opts = ApplyOptions {
        force: args.force,
        confirm_within: args.confirm_within,
        session: ssh_session(),
    };
    let applied = enforcer.apply(&ruleset, &opts, |generation| {
        spawn_watchdog(state_dir, generation)
    })?;
    let mut draft = Draft::new(
        "apply",
        &actor(),
        format!("generation {} from {}", applied.generation, applied.policy),
    );
    draft.before = ruleset_digest(&enforcer, applied.previous);
    draft.after = Some(format!("sha256:{}", applied.sha256));
    draft.approval = approval.map(|id| format!("proposal {id}"));
    draft.reason = args.reason.clone();
    record(
        state_dir,
        draft,
        &format!("generation {} was applied", applied.generation),
    )?;
    change::set_active(state_dir, &text)?;
    let mut out = format!(
        "Applied generation {} from {}: {}, {}, {}.\n",
        applied.generation,
        applied.policy,
        counted(
            ruleset.allowed_v4.len() + ruleset.allowed_v6.len(),
            "allowance"
        ),
        counted(ruleset.banned.len(), "ban"),
        counted(ruleset.limits.len(), "limited rule"),
    );
    out.push_str(&foreign_report(&enforcer.foreign()?));
    if let Some(deadline) = applied.confirm_deadline {
        out.push_str(&format!(
            "\nRun `portreeve confirm` before {deadline} to keep it; otherwise generation {} is restored automatically.\n",
            applied.previous
        ));
    }
    emit(&out);
    if args.wait {
        return wait_for_outcome(&enforcer, applied.generation);
    }
    Ok(EXIT_OK)
}

/// Blocks until generation `n` is confirmed or rolled back.
fn wait_for_outcome(enforcer: &Enforcer, n: u64) -> Result<u8, Failure> {
    loop {
        let g = enforcer.store().get(n).map_err(EnforceError::from)?;
        match g.status {
            Status::Pending => std::thread::sleep(std::time::Duration::from_millis(200)),
            Status::Confirmed => {
                emit(&format!("Generation {n} confirmed.\n"));
                return Ok(EXIT_OK);
            }
            other => {
                emit(&format!(
                    "Generation {n} was not confirmed in time: {other:?}; the previous ruleset is back.\n"
                ));
                return Ok(EXIT_OK);
            }
        }
    }
}

/// Starts `portreeve watchdog` for `generation` in its own session, so that
/// neither the end of this process nor of the SSH session stops it.
fn spawn_watchdog(state_dir: &Path, generation: u64) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let log_path =
        portreeve_enforce::generations::GenerationStore::new(state_dir).log_path("watchdog.log");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let mut cmd = Command::new("setsid");
    cmd.arg("--fork").arg(&exe);
    cmd.arg("--state-dir")
        .arg(state_dir)
        .args([
            "--log-format",
            "json",
            "watchdog",
            "--generation",
            &generation.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // `setsid --fork` returns at once, leaving the watchdog detached.
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "setsid exited with {status}"
        )))
    }
}

pub fn watchdog(generation: u64, state_dir: &Path) -> Result<u8, Failure> {
    let enforcer = Enforcer::new(state_dir);
    match enforcer.watch(generation)? {
        Some(g) => {
            tracing::warn!(
                generation,
                restored = g.restores,
                new_generation = g.generation,
                "not confirmed in time: rolled back"
            );
            let mut draft = Draft::new(
                "rollback",
                "watchdog",
                format!(
                    "generation {} (restores {})",
                    g.generation,
                    g.restores.unwrap_or(0)
                ),
            );
            draft.before = ruleset_digest(&enforcer, generation);
            draft.after = Some(format!("sha256:{}", g.sha256));
            draft.reason = Some(format!(
                "generation {generation} was not confirmed before its deadline"
            ));
            record(
                state_dir,
                draft,
                &format!("generation {generation} was rolled back"),
            )?;
        }
        None => tracing::info!(generation, "confirmed or replaced: nothing to do"),
    }
    Ok(EXIT_OK)
}

pub fn confirm(state_dir: &Path) -> Result<u8, Failure> {
    let g = Enforcer::new(state_dir).confirm()?;
    let mut draft = Draft::new("confirm", &actor(), format!("generation {}", g.generation));
    draft.after = Some(format!("sha256:{}", g.sha256));
    record(
        state_dir,
        draft,
        &format!("generation {} was confirmed", g.generation),
    )?;
    emit(&format!("Confirmed generation {}.\n", g.generation));
    Ok(EXIT_OK)
}

pub fn rollback(args: &RollbackArgs, state_dir: &Path) -> Result<u8, Failure> {
    let enforcer = Enforcer::new(state_dir);
    let before = enforcer
        .store()
        .current()
        .ok()
        .and_then(|n| ruleset_digest(&enforcer, n));
    let g = enforcer.rollback(args.to)?;
    let mut draft = Draft::new(
        "rollback",
        &actor(),
        format!(
            "generation {} (restores {})",
            g.generation,
            g.restores.unwrap_or(0)
        ),
    );
    draft.before = before;
    draft.after = Some(format!("sha256:{}", g.sha256));
    draft.reason = args.reason.clone();
    record(
        state_dir,
        draft,
        &format!("generation {} was applied", g.generation),
    )?;
    emit(&match g.restores {
        Some(0) => format!(
            "Removed portreeve's table (generation {} records it).\n",
            g.generation
        ),
        Some(n) => format!("Restored generation {n} as generation {}.\n", g.generation),
        None => format!("Applied generation {}.\n", g.generation),
    });
    Ok(EXIT_OK)
}

pub fn generations(args: &ListArgs, state_dir: &Path) -> Result<u8, Failure> {
    let enforcer = Enforcer::new(state_dir);
    let list: Vec<Generation> = enforcer.store().list().map_err(EnforceError::from)?;
    let current = enforcer.store().current().map_err(EnforceError::from)?;
    match args.format {
        ListFormat::Json => emit_listing(
            "portreeve.generations",
            &[
                ("current", to_value(&current)),
                ("generations", to_value(&list)),
            ],
        ),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|g| {
                    vec![
                        format!(
                            "{}{}",
                            g.generation,
                            if g.generation == current { " *" } else { "" }
                        ),
                        g.created_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        format!("{:?}", g.status).to_lowercase(),
                        g.actor.clone(),
                        match g.restores {
                            Some(n) => format!("rollback to {n}"),
                            None => g.policy.clone(),
                        },
                        g.sha256[..12].to_string(),
                    ]
                })
                .collect();
            emit(&table::rows(
                &["GEN", "CREATED (UTC)", "STATUS", "BY", "FROM", "SHA256"],
                &rows,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

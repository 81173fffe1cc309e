//! `render`, `plan`, `apply`, `confirm`, `rollback`, `generations` and the
//! hidden `watchdog`: the firewall side of portreeve.

use std::path::Path;
use std::process::{Command, Stdio};

use portreeve_app::change::ApprovalNeed;
use portreeve_app::enforce::{self, ApplyRequest};
use portreeve_app::plan_summary::SummaryLine;
use portreeve_cloud::Target as CloudTarget;
use portreeve_enforce::generations::Status;
use portreeve_enforce::{guard, nft_text, published};

use crate::cli::{
    ApplyArgs, ListArgs, ListFormat, PlanArgs, RenderArgs, RenderTarget, RollbackArgs,
};
use crate::context::{self, Context};
use crate::failure::{EXIT_OK, Failure};
use crate::output::escape;
use crate::output::json::{
    APPLY_KIND, CONFIRM_KIND, Envelope, PLAN_KIND, PlanDiff, PlanDocument, PlanLockout,
    ROLLBACK_KIND, emit_listing, host_name, to_value,
};
use crate::output::policy::{PolicyInfo, describe, in_effect_footer};
use crate::output::{counted, emit, emit_hint, emit_json, table};

/// The SSH session this command runs in, for the lock-out guard.
pub(crate) fn ssh_session() -> Option<(std::net::IpAddr, u16)> {
    std::env::var("SSH_CONNECTION")
        .ok()
        .as_deref()
        .and_then(guard::ssh_session)
}

pub fn render(args: &RenderArgs, ctx: &Context) -> Result<u8, Failure> {
    let candidate = context::candidate(args.policy.policy.as_deref());
    let compiled = enforce::render(&ctx.state, candidate.as_deref())?;
    emit(&match args.target {
        RenderTarget::Nftables => nft_text::render(&compiled.ruleset),
        RenderTarget::Iptables => portreeve_enforce::iptables_text::render(&compiled.ruleset),
        RenderTarget::Aws => cloud_document(CloudTarget::Aws, &compiled.policy.policy),
        RenderTarget::AwsTerraform => {
            cloud_document(CloudTarget::AwsTerraform, &compiled.policy.policy)
        }
        RenderTarget::Gcp => cloud_document(CloudTarget::Gcp, &compiled.policy.policy),
        RenderTarget::Kubernetes => network_policies(&compiled.policy.policy),
    });
    Ok(EXIT_OK)
}

/// A cloud firewall document for `policy`; the rules a cloud firewall
/// cannot express (grant-only) are named on standard error.
fn cloud_document(target: CloudTarget, policy: &portreeve_policy::Policy) -> String {
    let rendered = portreeve_cloud::render(target, policy);
    if !rendered.grant_only.is_empty() {
        crate::output::note(&format!(
            "left out {} that only `portreeve grant` opens: {}",
            counted(rendered.grant_only.len(), "rule"),
            rendered.grant_only.join(", ")
        ));
    }
    rendered.text
}

/// NetworkPolicies for `policy`'s pod rules; how many host rules were left
/// out is said on standard error.
fn network_policies(policy: &portreeve_policy::Policy) -> String {
    let rendered = portreeve_k8s::render::render(policy);
    if rendered.host_rules > 0 {
        crate::output::note(&format!(
            "left out {} without `pods`: host rules are enforced on hosts",
            counted(rendered.host_rules, "rule")
        ));
    }
    portreeve_k8s::write::to_yaml(&rendered.policies)
}

/// `plan --exit-code`'s status when applying would change the firewall:
/// 1, as `git diff --exit-code` gives for a difference. It keeps 2 and 3
/// for errors, as every command does.
const EXIT_CHANGES_PENDING: u8 = 1;

pub fn plan(args: &PlanArgs, ctx: &Context) -> Result<u8, Failure> {
    let candidate = context::candidate(args.policy.policy.as_deref());
    let (compiled, plan) = enforce::preview(&ctx.state, candidate.as_deref(), ssh_session())?;
    let others = foreign_report(&plan.foreign);
    let published_ports = published::live_if_readable(&portreeve_enforce::nft_command::Nft::new());
    let published = crate::output::published::section(&published_ports, Some(&compiled.ruleset));
    let changes = enforce::changes_pending(&plan);
    let summary = enforce::summary(&ctx.state, &compiled, &plan)?;
    match args.format {
        ListFormat::Table => emit(&plan_text(
            &compiled, &plan, &summary, &others, &published, ctx,
        )),
        ListFormat::Json => {
            let host = host_name();
            emit_json(&PlanDocument {
                envelope: Envelope::new(PLAN_KIND, &host),
                policy: PolicyInfo::of(&compiled.policy),
                live_generation: plan.live.as_ref().map(|g| g.generation),
                changes,
                summary: &summary,
                diff: PlanDiff::of(&plan.diff),
                table_missing: plan.live.is_some() && !plan.table_present,
                drift: &plan.drift,
                lockouts: plan.lockouts.iter().map(PlanLockout::of).collect(),
                other_firewalls: report_lines(&others),
                // The section's items are indented under its heading.
                published: published
                    .lines()
                    .filter_map(|l| l.strip_prefix("  "))
                    .collect(),
            });
        }
    }
    Ok(if args.exit_code && changes {
        EXIT_CHANGES_PENDING
    } else {
        EXIT_OK
    })
}

/// `plan`'s report for people: the summary in words, then the ruleset
/// diff; `others` and `published` are the sections on other firewalls and
/// on ports published by DNAT.
fn plan_text(
    compiled: &enforce::Compiled,
    plan: &portreeve_enforce::ApplyPreview,
    summary: &[SummaryLine],
    others: &str,
    published: &str,
    ctx: &Context,
) -> String {
    let mut out = String::from("Applying this policy:\n");
    for line in summary {
        out.push_str(&format!("  {}\n", escape::one_line(&line.text)));
    }
    out.push('\n');
    match (&plan.live, plan.diff.is_empty()) {
        (Some(g), true) if plan.drift.is_empty() => out.push_str(&format!(
            "No changes: generation {} is live and identical.\n",
            g.generation
        )),
        (Some(g), true) => out.push_str(&format!(
            "No changes to the ruleset of generation {}, but the table in the kernel differs from it (below).\n",
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
    if let Some(g) = &plan.live
        && !plan.drift.is_empty()
    {
        out.push_str(&format!(
            "\nportreeve's table was changed outside portreeve since generation {} was applied (apply puts it back):\n",
            g.generation
        ));
        for d in &plan.drift {
            out.push_str(&format!("  {d}\n"));
        }
    }
    out.push_str(others);
    out.push_str(published);
    if !plan.lockouts.is_empty() {
        out.push_str("\nApply would be refused (lock-out guard):\n");
        for l in &plan.lockouts {
            out.push_str(&format!(
                "  {} would lose tcp/{} ({}) — {}\n",
                l.source, l.port, l.verdict, l.why
            ));
        }
    }
    out.push('\n');
    out.push_str(&in_effect_footer(&ctx.state));
    out.push_str(&format!("candidate {}\n", describe(&compiled.policy)));
    out
}

/// Every other firewall that decides traffic here, with why each matters:
/// other tables' base chains (`foreign`), legacy iptables rules and
/// firewall managers.
fn foreign_report(foreign: &[portreeve_enforce::foreign::ForeignChain]) -> String {
    use portreeve_enforce::foreign::{OtherFirewalls, report};
    report(foreign, &OtherFirewalls::look_here())
}

pub fn apply(args: &ApplyArgs, ctx: &Context) -> Result<u8, Failure> {
    let candidate = context::candidate(args.policy.policy.as_deref());
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Operational(format!("cannot find portreeve's executable: {e}")))?;
    let state_root = ctx.state.root().to_path_buf();
    let applied = enforce::apply(
        &ctx.state,
        &ApplyRequest {
            policy: candidate.as_deref(),
            approval: match (args.proposal, args.require_approval) {
                (Some(id), _) => ApprovalNeed::Proposal(id),
                (None, true) => ApprovalNeed::Always,
                (None, false) => ApprovalNeed::AsRequired,
            },
            confirm_within: args.confirm_within,
            force: args.force,
            reason: args.reason.clone(),
            session: ssh_session(),
            actor: &ctx.actor,
            watchdog: &|generation| {
                let log = ctx
                    .state
                    .open_watchdog_log()
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                spawn_watchdog(&exe, &state_root, log, generation)
            },
        },
    )?;
    let g = &applied.generation;
    let ruleset = &applied.compiled.ruleset;
    let allowances = ruleset.allowed_v4.len() + ruleset.allowed_v6.len();
    let others = foreign_report(&applied.foreign);
    if args.format == ListFormat::Table {
        emit(&format!(
            "Applied generation {} from {}: {}, {}, {}.\n{others}",
            g.generation,
            g.policy,
            counted(allowances, "allowance"),
            counted(ruleset.banned.len(), "ban"),
            counted(ruleset.limits.len(), "limited rule"),
        ));
    }
    if let Some(deadline) = g.confirm_deadline {
        // A blank line parts the hint from the report on a terminal.
        let gap = if args.format == ListFormat::Table {
            "\n"
        } else {
            ""
        };
        let otherwise = match g.previous {
            0 => "portreeve's table is removed".to_string(),
            n => format!("generation {n} is restored"),
        };
        emit_hint(&format!(
            "{gap}Run `portreeve confirm` before {deadline} to keep it; otherwise {otherwise} automatically.\n"
        ));
    }
    // With --wait, the outcome is part of the report: the JSON document
    // is written once it is known.
    let outcome = if args.wait {
        let n = g.generation;
        let status = enforce::wait_for_outcome(&ctx.state, n)?;
        if args.format == ListFormat::Table {
            emit(&match status {
                Status::Confirmed => format!("Generation {n} confirmed.\n"),
                other => format!(
                    "Generation {n} was not confirmed in time: {}; the previous ruleset is back.\n",
                    status_name(other)
                ),
            });
        }
        Some(status)
    } else {
        None
    };
    if args.format == ListFormat::Json {
        emit_apply_document(&applied, &others, outcome);
    }
    Ok(EXIT_OK)
}

/// `apply --format json`'s document: `applied`, with `others` (the report
/// on other firewalls) and, with `--wait`, the generation's `outcome`.
fn emit_apply_document(applied: &enforce::Applied, others: &str, outcome: Option<Status>) {
    let g = &applied.generation;
    let ruleset = &applied.compiled.ruleset;
    emit_listing(
        APPLY_KIND,
        &[
            ("generation", to_value(g)),
            ("ledger_index", to_value(&applied.ledger_index)),
            (
                "confirmation_pending",
                to_value(&(g.confirm_deadline.is_some() && outcome.is_none())),
            ),
            ("confirm_deadline", to_value(&g.confirm_deadline)),
            (
                "restores_if_unconfirmed",
                to_value(&g.confirm_deadline.map(|_| g.previous)),
            ),
            ("outcome", to_value(&outcome)),
            (
                "counts",
                serde_json::json!({
                    "allowances": ruleset.allowed_v4.len() + ruleset.allowed_v6.len(),
                    "bans": ruleset.banned.len(),
                    "limited_rules": ruleset.limits.len(),
                }),
            ),
            ("other_firewalls", to_value(&report_lines(others))),
        ],
    );
}

/// A generation's status as JSON and the tables write it (`reverted`).
fn status_name(status: Status) -> String {
    to_value(&status).as_str().unwrap_or_default().to_string()
}

/// The non-empty lines of a text report, trimmed, as JSON lists them.
fn report_lines(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::trim)
        .collect()
}

/// Starts `portreeve watchdog` for `generation` in its own session, so that
/// neither the end of this process nor of the SSH session stops it.
fn spawn_watchdog(
    exe: &Path,
    state_dir: &Path,
    log: std::fs::File,
    generation: u64,
) -> std::io::Result<()> {
    let mut cmd = Command::new("setsid");
    cmd.arg("--fork").arg(exe);
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
    let status = cmd
        .status()
        .map_err(|e| std::io::Error::new(e.kind(), format!("setsid: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "setsid exited with {status}"
        )))
    }
}

pub fn watchdog(generation: u64, ctx: &Context) -> Result<u8, Failure> {
    match enforce::watchdog(&ctx.state, generation)? {
        Some(g) => tracing::warn!(
            generation,
            restored = g.restores,
            new_generation = g.generation,
            "not confirmed in time: rolled back"
        ),
        None => tracing::info!(generation, "confirmed or replaced: nothing to do"),
    }
    Ok(EXIT_OK)
}

pub fn confirm(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let confirmed = enforce::confirm(&ctx.state, &ctx.actor)?;
    let g = &confirmed.generation;
    match args.format {
        ListFormat::Table => emit(&format!("Confirmed generation {}.\n", g.generation)),
        ListFormat::Json => emit_listing(
            CONFIRM_KIND,
            &[
                ("generation", to_value(g)),
                ("ledger_index", to_value(&confirmed.ledger_index)),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn rollback(args: &RollbackArgs, ctx: &Context) -> Result<u8, Failure> {
    let rolled = enforce::rollback(&ctx.state, args.to, args.reason.clone(), &ctx.actor)?;
    let g = &rolled.generation;
    match args.format {
        ListFormat::Table => emit(&match g.restores {
            Some(0) => format!(
                "Removed portreeve's table (generation {} records it).\n",
                g.generation
            ),
            Some(n) => format!("Restored generation {n} as generation {}.\n", g.generation),
            None => format!("Applied generation {}.\n", g.generation),
        }),
        ListFormat::Json => emit_listing(
            ROLLBACK_KIND,
            &[
                ("generation", to_value(g)),
                ("ledger_index", to_value(&rolled.ledger_index)),
                ("table_removed", to_value(&(g.restores == Some(0)))),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn generations(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let (current, list) = enforce::generations(&ctx.state)?;
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
                        status_name(g.status),
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
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

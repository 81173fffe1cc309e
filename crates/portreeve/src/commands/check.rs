//! `portreeve check`.

use std::path::Path;

use portreeve_core::ListeningSocket;
use portreeve_inventory::Options;

use portreeve_ledger::{Draft, digest};

use super::record::{actor, record};
use super::{load_policy, today};
use crate::cli::{CheckArgs, CheckFormat, FailOn};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{
    CHECK_KIND, CheckDocument, Envelope, INVENTORY_KIND, PolicySummary, SCHEMA_VERSION,
    SavedInventory, Summary,
};
use crate::output::{emit, emit_json, nagios, sarif, table};

pub fn run(args: &CheckArgs, state_dir: &Path) -> Result<u8, Failure> {
    let result = judge(args, state_dir);
    if args.format == CheckFormat::Nagios
        && let Err(failure) = &result
    {
        // A monitoring system reads standard output and the exit status only.
        emit(&nagios::unknown(&failure.summary()));
        failure.report();
        return Ok(nagios::PluginState::Unknown.exit_code());
    }
    result
}

fn judge(args: &CheckArgs, state_dir: &Path) -> Result<u8, Failure> {
    let policy = load_policy(args.policy.as_deref())?;
    let (host, sockets) = match &args.inventory {
        Some(file) => read_saved_inventory(file)?,
        None => {
            let inv = portreeve_inventory::collect(Options {
                all_netns: args.scope.all_netns,
            })?;
            (inv.host, inv.sockets)
        }
    };
    let mut findings = portreeve_policy::evaluate(&policy, &sockets, today());
    // This host's usage record says nothing about a saved inventory's host.
    if args.inventory.is_none() {
        findings.extend(super::lifecycle::abandoned(state_dir, &policy, &sockets));
    }
    let reachability = match &args.scan {
        Some(target) => {
            let view = super::scan::view_of(
                target,
                &sockets,
                &policy,
                args.scan_ports.as_deref(),
                args.scan_syn,
            )?;
            let joined = portreeve_policy::reconcile(&policy, &sockets, &view);
            findings.extend(joined.findings);
            Some(joined.ports)
        }
        None => None,
    };
    findings.retain(|f| f.severity >= policy.defaults.min_severity);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)));
    let summary = Summary::of(&sockets, &findings);
    if args.record {
        record_summary(state_dir, &summary, &findings, &policy.origin, &host)?;
    }

    match args.format {
        CheckFormat::Table => {
            if let Some(joined) = &reachability {
                emit(&table::reachability(joined, table::stdout_colour()));
            }
            emit(&table::check(
                &findings,
                &summary,
                &policy.origin,
                &host,
                args.details,
                table::stdout_colour(),
            ));
        }
        CheckFormat::Json => emit_json(&CheckDocument {
            envelope: Envelope::new(CHECK_KIND, &host),
            policy: PolicySummary {
                origin: &policy.origin,
                rules: policy.rules.len(),
                zones: policy.zones.len(),
            },
            summary: summary.clone(),
            findings: &findings,
            reachability: reachability.as_deref(),
        }),
        CheckFormat::Sarif => emit(&sarif::render(&findings, &host, &policy.origin)),
        CheckFormat::Nagios => {
            let (text, state) = nagios::render(&findings, &summary, &host);
            emit(&text);
            return Ok(state.exit_code());
        }
    }
    let failed = match args.fail_on {
        FailOn::Never => false,
        FailOn::AtLeast(threshold) => summary.highest.is_some_and(|h| h >= threshold),
    };
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}

/// Appends the check's outcome to the ledger: counts per severity in the
/// object, and the digest of the findings (as JSON) so that the full report
/// kept elsewhere can be matched to the entry.
fn record_summary(
    state_dir: &Path,
    summary: &Summary,
    findings: &[portreeve_core::Finding],
    policy: &str,
    host: &str,
) -> Result<(), Failure> {
    let mut draft = Draft::new(
        "check",
        &actor(),
        format!(
            "{} on {} ({} exposed) of {host} against {policy}{}",
            crate::output::counted(summary.findings, "finding"),
            crate::output::counted(summary.listeners, "listener"),
            summary.exposed,
            if summary.findings == 0 {
                String::new()
            } else {
                format!(": {}", summary.severity_breakdown())
            }
        ),
    );
    draft.after = Some(digest(
        &serde_json::to_vec(findings).expect("findings serialise"),
    ));
    record(state_dir, draft, "the check ran").map(|_| ())
}

/// Reads an `inventory --format json` document.
fn read_saved_inventory(path: &Path) -> Result<(String, Vec<ListeningSocket>), Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read inventory {shown}: {e}")))?;
    let saved: SavedInventory = serde_json::from_str(&text).map_err(|e| {
        Failure::Input(format!(
            "{shown}:{}:{}: not a portreeve inventory document: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if saved.kind != INVENTORY_KIND || saved.schema_version != SCHEMA_VERSION {
        return Err(Failure::Input(format!(
            "{shown}: expected kind `{INVENTORY_KIND}` schema_version {SCHEMA_VERSION}, found `{}` version {}",
            saved.kind, saved.schema_version
        )));
    }
    Ok((saved.host, saved.sockets))
}

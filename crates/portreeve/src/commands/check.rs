//! `portreeve check`.

use std::path::Path;

use portreeve_app::check::{self, CheckReport, CheckRequest, ScanRequest, Sockets};
use portreeve_app::{input, policy};
use portreeve_core::ListeningSocket;
use portreeve_enforce::Ruleset;
use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::published;

use crate::cli::{CheckArgs, CheckFormat};
use crate::context::{self, Context};
use crate::failure::{Failure, findings_status};
use crate::output::json::{
    CHECK_KIND, CheckDocument, Envelope, INVENTORY_KIND, JudgedPublished, SCHEMA_VERSION,
    SavedInventory,
};
use crate::output::monitoring::Alarms;
use crate::output::policy::{PolicyInfo, describe};
use crate::output::{checkmk, emit, emit_json, nagios, prtg, sarif, table};

pub fn run(args: &CheckArgs, ctx: &Context) -> Result<u8, Failure> {
    super::judged::run(args.shown.format, checkmk::CHECK, || judge(args, ctx))
}

fn judge(args: &CheckArgs, ctx: &Context) -> Result<u8, Failure> {
    let candidate = context::candidate(args.policy.as_deref());
    let request = CheckRequest {
        policy: policy::for_judging(&ctx.state, candidate.as_deref())?,
        sockets: match &args.inventory {
            Some(file) => {
                let (host, sockets) = read_saved_inventory(file)?;
                Sockets::Saved { host, sockets }
            }
            None => Sockets::Live {
                all_netns: args.scope.all_netns,
            },
        },
        scan: args.scan.as_ref().map(|target| ScanRequest {
            target: target.clone(),
            ports: args.scan_ports.clone(),
            syn: args.scan_syn,
        }),
        record: args.record,
    };
    let report = check::check(&ctx.state, request, &ctx.actor)?;
    show(args, &report)
}

fn show(args: &CheckArgs, report: &CheckReport) -> Result<u8, Failure> {
    let CheckReport {
        host,
        policy,
        findings,
        summary,
        reachability,
        ..
    } = report;
    // A saved inventory's host is not this one: its DNAT rules are unknown.
    let published = (args.inventory.is_none()
        && matches!(args.shown.format, CheckFormat::Table | CheckFormat::Json))
    .then(|| {
        (
            published::live_if_readable(&Nft::new()),
            Ruleset::compile(&policy.policy).ok(),
        )
    });
    match args.shown.format {
        CheckFormat::Table => {
            if let Some(joined) = reachability {
                emit(&table::reachability(joined, table::stdout_colour()));
            }
            emit(&table::check(
                findings,
                summary,
                host,
                args.shown.details,
                table::stdout_colour(),
            ));
            emit(&(describe(policy) + "\n"));
            if let Some(hint) = table::check_hint(findings, args.shown.details) {
                crate::output::emit_hint(hint);
            }
            if let Some((ports, ruleset)) = &published {
                emit(&crate::output::published::section(ports, ruleset.as_ref()));
            }
        }
        CheckFormat::Json => emit_json(&CheckDocument {
            envelope: Envelope::new(CHECK_KIND, host),
            policy: PolicyInfo::of(policy),
            summary: summary.clone(),
            findings,
            reachability: reachability.as_deref(),
            published: published.as_ref().map(|(ports, ruleset)| {
                ports
                    .iter()
                    .map(|port| JudgedPublished {
                        port,
                        policy: ruleset
                            .as_ref()
                            .map(|r| r.published_judgement(port.protocol, port.ports)),
                    })
                    .collect()
            }),
        }),
        CheckFormat::Sarif => emit(&sarif::render(findings, host, &policy.policy.origin)),
        CheckFormat::Nagios => {
            let (text, state) = nagios::render(findings, summary, host);
            emit(&text);
            return Ok(state.exit_code());
        }
        CheckFormat::Prtg => emit(&prtg::render(
            findings,
            summary,
            &judged_sockets(summary, host),
            host,
            &[
                ("Listeners".into(), summary.listeners),
                ("Exposed listeners".into(), summary.exposed),
            ],
            Alarms::of(args.shown.fail_on),
        )),
        CheckFormat::Checkmk => {
            let line = checkmk::render(
                checkmk::CHECK,
                findings,
                summary,
                &judged_sockets(summary, host),
                host,
                &[
                    ("listeners", summary.listeners),
                    ("exposed", summary.exposed),
                ],
                Alarms::of(args.shown.fail_on),
            );
            emit(&line);
        }
    }
    Ok(findings_status(args.shown.fail_on, summary.highest))
}

/// What `check` judged, in words, as Nagios says it: `3 listening sockets
/// on web1`.
fn judged_sockets(summary: &check::Summary, host: &str) -> String {
    format!(
        "{} on {host}",
        crate::output::counted(summary.listeners, "listening socket")
    )
}

/// Reads an `inventory --format json` document.
fn read_saved_inventory(path: &Path) -> Result<(String, Vec<ListeningSocket>), Failure> {
    let shown = input::origin(path);
    let text = input::read_text(path, "inventory").map_err(|e| Failure::Input(e.to_string()))?;
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

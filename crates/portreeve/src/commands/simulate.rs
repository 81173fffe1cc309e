//! `simulate`: the recorded use replayed against a candidate policy;
//! exits 1 when anything used would break.

use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_app::simulate::sandbox::SandboxReport;
use portreeve_app::simulate::{self, Evaluation, PairChange, Request, Simulation};
use portreeve_core::Finding;

use crate::cli::{ListFormat, SimulateArgs};
use crate::context::Context;
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::{PolicyInfo, describe};
use crate::output::{counted_as, emit, note, table};

pub fn run(args: &SimulateArgs, ctx: &Context) -> Result<u8, Failure> {
    let policy = LoadedPolicy::read(&args.policy, PolicySource::File(args.policy.clone()))?;
    let request = Request {
        policy,
        since: args.since,
        usage: args.usage.as_deref(),
        evaluation: if args.naive {
            Evaluation::Naive
        } else {
            Evaluation::Indexed
        },
    };
    let s = if args.sandbox {
        simulate::sandbox::simulate(&ctx.state, request, args.sandbox_max_pairs)?
    } else {
        simulate::simulate(&ctx.state, request)?
    };
    match args.format {
        ListFormat::Json => {
            let mut members = vec![
                ("policy", to_value(&PolicyInfo::of(&s.candidate.policy))),
                ("current", to_value(&PolicyInfo::of(&s.current))),
                ("enforced", to_value(&s.current.effect().is_some())),
                ("since", to_value(&args.since)),
                ("pairs", to_value(&s.replay.pairs)),
                ("replay_seconds", to_value(&s.replay_time.as_secs_f64())),
                ("blocked", to_value(&s.replay.blocked)),
                ("opened", to_value(&s.replay.opened)),
                ("findings", to_value(&s.findings)),
            ];
            if let Some(sandbox) = &s.sandbox {
                members.push(("sandbox", to_value(sandbox)));
            }
            emit_listing("portreeve.simulate", &members);
        }
        ListFormat::Table => emit(&report(&s)),
    }
    if let Some(sandbox) = &s.sandbox {
        warn_disagreements(sandbox);
    }
    Ok(if s.replay.blocked.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

/// The simulation for people: what breaks first.
fn report(s: &Simulation) -> String {
    let colour = table::stdout_colour();
    let mut out = format!(
        "candidate {}\nagainst {}{}\nreplayed {} in {:.3} s\n",
        describe(&s.candidate.policy),
        describe(&s.current),
        if s.current.effect().is_some() {
            ""
        } else {
            " (not enforced: every recorded pair reaches the host now)"
        },
        counted_as(s.replay.pairs, "recorded pair", "recorded pairs"),
        s.replay_time.as_secs_f64(),
    );
    let sections = [
        ("would break", &s.replay.blocked, "VERDICT"),
        ("would newly open", &s.replay.opened, "VERDICT NOW"),
    ];
    if let Some(sandbox) = &s.sandbox {
        out.push_str(&sandbox_summary(sandbox));
    }
    for (what, pairs, verdict) in sections {
        out.push_str(&format!(
            "\n{} {what}\n",
            counted_as(pairs.len(), "used pair", "used pairs")
        ));
        if !pairs.is_empty() {
            let headers = ["SOURCE", "PORT", "CONNECTIONS", "LAST SEEN", verdict];
            out.push_str(&table::rows(&headers, &pair_rows(pairs), colour));
        }
    }
    let findings = [
        ("cleared", &s.findings.cleared),
        ("raised", &s.findings.raised),
    ];
    for (what, list) in findings {
        out.push_str(&format!(
            "\n{} {what}\n",
            counted_as(list.len(), "finding", "findings")
        ));
        if !list.is_empty() {
            let headers = ["ID", "SEVERITY", "FINDING"];
            out.push_str(&table::rows(&headers, &finding_rows(list), colour));
        }
    }
    out
}

/// What the sandbox built and probed, in a few lines.
fn sandbox_summary(sandbox: &SandboxReport) -> String {
    let mut out = format!(
        "probed {} in a sandbox in {:.1} s ({} mirrored{})\n",
        counted_as(sandbox.probed, "pair", "pairs"),
        sandbox.seconds,
        counted_as(sandbox.mirrored_listeners, "listener", "listeners"),
        if sandbox.added_listeners.is_empty() {
            String::new()
        } else {
            format!(
                ", added for recorded ports nothing listens on now: {}",
                sandbox.added_listeners.join(", ")
            )
        },
    );
    for p in &sandbox.skipped {
        out.push_str(&format!(
            "not probed: {} to {}/{}: {}\n",
            p.source, p.port, p.protocol, p.why
        ));
    }
    out
}

/// Every pair the probes and the model judged differently, on standard
/// error: each is a defect of portreeve's model or enforcement.
fn warn_disagreements(sandbox: &SandboxReport) {
    let reached = |r: bool| if r { "reached" } else { "did not reach" };
    for d in &sandbox.disagreements {
        note(&format!(
            "warning: the sandbox disagrees with the model on {} to {}/{}: now the model says {} and the probe {}; under the candidate the model says {} and the probe {}",
            d.source,
            d.port,
            d.protocol,
            d.model_now,
            reached(d.reached_now),
            d.model_candidate,
            reached(d.reached_candidate),
        ));
    }
}

fn pair_rows(pairs: &[PairChange]) -> Vec<Vec<String>> {
    pairs
        .iter()
        .map(|p| {
            vec![
                p.source.to_string(),
                format!("{}/{}", p.port, p.protocol),
                p.connections.to_string(),
                p.last_seen.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                p.verdict.to_string(),
            ]
        })
        .collect()
}

fn finding_rows(findings: &[Finding]) -> Vec<Vec<String>> {
    findings
        .iter()
        .map(|f| {
            vec![
                f.kind.code().to_string(),
                f.severity.to_string(),
                f.message.clone(),
            ]
        })
        .collect()
}

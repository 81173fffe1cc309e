//! `simulate`: the recorded use replayed against a candidate policy;
//! exits 1 when anything used would break.

use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_app::simulate::{self, Evaluation, PairChange, Request, Simulation};
use portreeve_core::Finding;

use crate::cli::{ListFormat, SimulateArgs};
use crate::context::Context;
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::policy::{PolicyInfo, describe};
use crate::output::{counted_as, emit, table};

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
    let s = simulate::simulate(&ctx.state, request)?;
    match args.format {
        ListFormat::Json => emit_listing(
            "portreeve.simulate",
            &[
                ("policy", to_value(&PolicyInfo::of(&s.candidate.policy))),
                ("current", to_value(&PolicyInfo::of(&s.current))),
                ("enforced", to_value(&s.current.effect().is_some())),
                ("since", to_value(&args.since)),
                ("pairs", to_value(&s.replay.pairs)),
                ("replay_seconds", to_value(&s.replay_time.as_secs_f64())),
                ("blocked", to_value(&s.replay.blocked)),
                ("opened", to_value(&s.replay.opened)),
                ("findings", to_value(&s.findings)),
            ],
        ),
        ListFormat::Table => emit(&report(&s)),
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

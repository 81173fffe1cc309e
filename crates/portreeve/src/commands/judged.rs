//! The report of a check of something that is not this host — a cluster's
//! manifests (`k8s check`), a cloud account (`cloud check`) — in `check`'s
//! formats and with its exit statuses. Each command supplies what it read
//! and its own JSON document; the table, SARIF, Nagios, PRTG and Checkmk
//! forms and the exit status are the same for all of them.

use portreeve_app::check::Summary;
use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_core::Finding;
use serde::Serialize;

use crate::cli::{CheckFormat, JudgingArgs, ShownArgs};
use crate::failure::{Failure, findings_status};
use crate::output::escape::one_line;
use crate::output::monitoring::Alarms;
use crate::output::{checkmk, counted, emit, emit_hint, emit_json, nagios, prtg, sarif, table};

/// What a check judged and found.
pub struct Judged<'a> {
    /// The policy it judged against.
    pub policy: &'a LoadedPolicy,
    /// Its findings, accepted ones included.
    pub findings: &'a [Finding],
    /// Their counts.
    pub summary: &'a Summary,
    /// What was read, in words (`12 pods in 3 namespaces and 4
    /// NetworkPolicies`), for the table's summary and Nagios' headline
    /// when nothing was found.
    pub what: String,
    /// Where the findings are, for Nagios' headline when some were found
    /// (`12 pods in 3 namespaces`, a file).
    pub place: String,
    /// Counts for Nagios' performance data and Checkmk's metrics; PRTG's
    /// channels are named after them (`network_policies` → `Network
    /// policies`).
    pub perf: Vec<(&'static str, usize)>,
    /// The Checkmk service (one of [`checkmk`]'s constants).
    pub service: &'static str,
}

impl JudgingArgs {
    /// The policy given, or the built-in baseline: a cluster or a cloud
    /// account is not this host, so this host's policy in effect is not
    /// the default.
    pub fn policy(&self) -> Result<LoadedPolicy, Failure> {
        Ok(match &self.policy {
            Some(path) => LoadedPolicy::read(path, PolicySource::File(path.clone()))?,
            None => LoadedPolicy::baseline(),
        })
    }
}

/// Runs `judge` and, in a monitoring format, turns its failure into what
/// the monitoring system reads on standard output: Nagios' UNKNOWN line
/// (and its exit status 3), PRTG's error reading, or Checkmk's UNKNOWN line
/// for `service`. PRTG and Checkmk take the state from standard output, so
/// portreeve's own exit status (2 or 3) stays, as does the error on
/// standard error.
pub fn run(
    format: CheckFormat,
    service: &str,
    judge: impl FnOnce() -> Result<u8, Failure>,
) -> Result<u8, Failure> {
    match (format, judge()) {
        (CheckFormat::Nagios, result) => nagios::or_unknown(result),
        (CheckFormat::Prtg, Err(failure)) => {
            emit(&prtg::error(&failure.summary()));
            Err(failure)
        }
        (CheckFormat::Checkmk, Err(failure)) => {
            emit(&checkmk::unknown(service, &failure.summary()));
            Err(failure)
        }
        (_, result) => result,
    }
}

/// Prints `judged` as `shown` asks, with `document` as the JSON form and
/// `host` (this host, which ran the check) in SARIF, and returns the exit
/// status.
pub fn show(judged: &Judged<'_>, shown: &ShownArgs, host: &str, document: &impl Serialize) -> u8 {
    let Judged {
        policy,
        findings,
        summary,
        what,
        place,
        perf,
        service,
    } = judged;
    match shown.format {
        CheckFormat::Table => {
            let mut out = table::findings_table(findings, shown.details, table::stdout_colour());
            out.push_str(&format!(
                "{} ({}){} on {what} · policy {}\n",
                counted(summary.findings, "finding"),
                summary.severity_breakdown(),
                table::accepted_note(summary),
                one_line(&policy.policy.origin),
            ));
            emit(&out);
            if let Some(hint) = table::check_hint(findings, shown.details) {
                emit_hint(hint);
            }
        }
        CheckFormat::Json => emit_json(document),
        CheckFormat::Sarif => emit(&sarif::render(findings, host, &policy.policy.origin)),
        CheckFormat::Nagios => {
            let (text, state) = nagios::render_about(findings, summary, what, place, perf);
            emit(&text);
            return state.exit_code();
        }
        CheckFormat::Prtg => {
            let channels: Vec<(String, usize)> = perf
                .iter()
                .map(|(label, n)| (prtg::channel_name(label), *n))
                .collect();
            emit(&prtg::render(
                findings,
                summary,
                what,
                place,
                &channels,
                Alarms::of(shown.fail_on),
            ));
        }
        CheckFormat::Checkmk => {
            let line = checkmk::render(
                service,
                findings,
                summary,
                what,
                place,
                perf,
                Alarms::of(shown.fail_on),
            );
            emit(&line);
        }
    }
    findings_status(shown.fail_on, summary.highest)
}

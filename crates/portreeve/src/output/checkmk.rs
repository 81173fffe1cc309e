//! Checkmk local checks (docs/findings.md): one line per service,
//! `STATUS "SERVICE" METRICS TEXT`, for a script in the agent's `local`
//! directory. Each command is its own service — Checkmk names a service by
//! its line, so two commands on one host must not share a name — and its
//! status follows the [alarm rule](super::monitoring) PRTG's limits
//! follow. The metrics carry the same thresholds, so a `P` (computed)
//! status would come to the same state.

use portreeve_app::check::Summary;
use portreeve_core::Finding;

use super::escape::one_line;
use super::monitoring::{Alarms, Band, headline};
use super::nagios::detail_lines;

/// `check`'s service.
pub const CHECK: &str = "portreeve check";
/// `k8s check`'s service.
pub const K8S_CHECK: &str = "portreeve k8s check";
/// `cloud check`'s service.
pub const CLOUD_CHECK: &str = "portreeve cloud check";
/// `vulns`' service.
pub const VULNS: &str = "portreeve vulns";

/// The local-check line of a completed check: its status, metrics
/// `findings`, one per severity with warn and crit levels, `counts` (the
/// labels Nagios' performance data uses), then `accepted`; the text is the
/// [`headline`], then one detail line per finding (`\n` in the text starts
/// a detail line in Checkmk). `service` is one of this module's constants.
pub fn render(
    service: &str,
    findings: &[Finding],
    summary: &Summary,
    judged: &str,
    place: &str,
    counts: &[(&str, usize)],
    alarms: Alarms,
) -> String {
    let state = alarms.state(summary);
    let mut metrics = vec![format!("findings={};;;0", summary.findings)];
    for (severity, n) in summary.by_severity.iter().rev() {
        // Warn above 0, crit above 0: Checkmk keeps the better state when
        // a value equals a level, so 0 findings stay OK.
        let levels = match alarms.band(*severity) {
            Band::Error => "0;0",
            Band::Warning => "0;",
            Band::Quiet => ";",
        };
        metrics.push(format!("{severity}={n};{levels};0"));
    }
    for (label, n) in counts {
        metrics.push(format!("{label}={n};;;0"));
    }
    metrics.push(format!("accepted={};;;0", summary.accepted));
    let mut text = safe(&headline(findings, summary, judged, place));
    let (accepted, open): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.accepted.is_some());
    for line in detail_lines(&open, &accepted, safe) {
        text.push_str("\\n");
        text.push_str(&line);
    }
    format!(
        "{} \"{service}\" {} {text}\n",
        state.exit_code(),
        metrics.join("|")
    )
}

/// The line when the check could not run: status 3 (UNKNOWN) for the same
/// service, no metrics.
pub fn unknown(service: &str, reason: &str) -> String {
    format!("3 \"{service}\" - {}\n", safe(reason))
}

/// Text made safe for a local-check line: control characters escaped as
/// in tables, then every backslash written as `∖` (U+2216), because
/// Checkmk turns a backslash-n anywhere in the text into a new detail
/// line; and `|` written as `/`, as in Nagios output, since Checkmk hands
/// the text to a core that reads `|` as the start of performance data.
fn safe(s: &str) -> String {
    one_line(s).replace('\\', "\u{2216}").replace('|', "/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::FailOn;

    #[test]
    fn text_cannot_add_detail_lines_or_metrics() {
        assert_eq!(
            unknown(CHECK, "bad\npolicy \\n x | y"),
            "3 \"portreeve check\" - bad\u{2216}npolicy \u{2216}n x / y\n"
        );
    }

    #[test]
    fn nothing_found_is_ok_with_every_metric() {
        let summary = Summary::of(&[], &[]);
        let line = render(
            CHECK,
            &[],
            &summary,
            "0 listening sockets on web1",
            "web1",
            &[("listeners", 0)],
            Alarms::of(FailOn::Never),
        );
        assert_eq!(
            line,
            "0 \"portreeve check\" findings=0;;;0|critical=0;0;0;0|high=0;0;0;0|medium=0;0;;0|low=0;0;;0|info=0;;;0|listeners=0;;;0|accepted=0;;;0 no findings on 0 listening sockets on web1\n"
        );
    }
}

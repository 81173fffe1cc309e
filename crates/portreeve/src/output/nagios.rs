//! A monitoring-plugin result (Nagios, Icinga, Checkmk, Zabbix's Nagios
//! bridge): one status line with performance data, one line per finding as
//! long output, and the plugin state as exit status.
//!
//! State: CRITICAL when any finding is high or critical, WARNING when any is
//! medium or low, OK otherwise (none, or info only), UNKNOWN when the check
//! could not run. Findings the policy accepts count toward no state: they
//! are listed after the others, marked `accepted`.

use portreeve_core::{Finding, Severity};

use super::counted;
use portreeve_app::check::Summary;

/// A plugin state and its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginState {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 2.
    Critical,
    /// 3.
    Unknown,
}

impl PluginState {
    /// The exit status monitoring systems read.
    pub fn exit_code(self) -> u8 {
        match self {
            PluginState::Ok => 0,
            PluginState::Warning => 1,
            PluginState::Critical => 2,
            PluginState::Unknown => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            PluginState::Ok => "OK",
            PluginState::Warning => "WARNING",
            PluginState::Critical => "CRITICAL",
            PluginState::Unknown => "UNKNOWN",
        }
    }

    /// The state a set of findings calls for.
    pub fn of(highest: Option<Severity>) -> PluginState {
        match highest {
            Some(Severity::Critical | Severity::High) => PluginState::Critical,
            Some(Severity::Medium | Severity::Low) => PluginState::Warning,
            Some(Severity::Info) | None => PluginState::Ok,
        }
    }
}

/// The plugin output for a completed check of this host's sockets.
pub fn render(findings: &[Finding], summary: &Summary, host: &str) -> (String, PluginState) {
    render_about(
        findings,
        summary,
        &format!(
            "{} on {host}",
            counted(summary.listeners, "listening socket")
        ),
        host,
        &[
            ("listeners", summary.listeners),
            ("exposed", summary.exposed),
        ],
    )
}

/// The plugin output for a completed check of anything: `judged` names
/// what was judged when nothing was found (`3 listening sockets on web1`),
/// `place` where findings are (`web1`), and `counts` add performance data
/// before `accepted`.
pub fn render_about(
    findings: &[Finding],
    summary: &Summary,
    judged: &str,
    place: &str,
    counts: &[(&str, usize)],
) -> (String, PluginState) {
    let state = PluginState::of(summary.highest);
    let (accepted, open): (Vec<&Finding>, Vec<&Finding>) =
        findings.iter().partition(|f| f.accepted.is_some());
    let headline = match open.first() {
        None => format!("no findings on {judged}"),
        Some(worst) => format!(
            "{} ({}) on {place}; worst: {} {}",
            counted(summary.findings, "finding"),
            summary.severity_breakdown(),
            worst.kind.code(),
            worst.message
        ),
    };
    let mut perf = vec![format!("findings={};;;0", summary.findings)];
    for (severity, n) in summary.by_severity.iter().rev() {
        perf.push(format!("{severity}={n};;;0"));
    }
    for (name, n) in counts {
        perf.push(format!("{name}={n};;;0"));
    }
    perf.push(format!("accepted={};;;0", summary.accepted));
    let mut out = format!(
        "PORTREEVE {} - {} | {}\n",
        state.label(),
        sanitize(&headline),
        perf.join(" ")
    );
    for line in detail_lines(&open, &accepted, sanitize) {
        out.push_str(&line);
        out.push('\n');
    }
    (out, state)
}

/// One line per finding after a monitoring result's summary, open ones
/// first (`[high] PR001 …`), then accepted ones with who accepted them
/// until when; `clean` makes each text safe for the format.
pub fn detail_lines(
    open: &[&Finding],
    accepted: &[&Finding],
    clean: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut lines: Vec<String> = open
        .iter()
        .map(|f| format!("[{}] {} {}", f.severity, f.kind.code(), clean(&f.message)))
        .collect();
    for f in accepted {
        let a = f.accepted.as_ref().expect("partitioned on acceptance");
        lines.push(format!(
            "[accepted {}] {} {} (by {} until {})",
            f.severity,
            f.kind.code(),
            clean(&f.message),
            clean(&a.owner),
            a.expires
        ));
    }
    lines
}

/// The plugin output when the check could not run.
pub fn unknown(reason: &str) -> String {
    format!("PORTREEVE UNKNOWN - {}\n", sanitize(reason))
}

/// A check's outcome as a monitoring system must see it under `--format
/// nagios`: a check that could not run prints the UNKNOWN line on standard
/// output and exits with the UNKNOWN state, since a monitoring system reads
/// standard output and the exit status only; the error is still reported
/// on standard error.
pub fn or_unknown(
    result: Result<u8, crate::failure::Failure>,
) -> Result<u8, crate::failure::Failure> {
    match result {
        Err(failure) => {
            super::emit(&unknown(&failure.summary()));
            failure.report();
            Ok(PluginState::Unknown.exit_code())
        }
        other => other,
    }
}

/// `|` separates performance data in plugin output, and each line is one
/// item: keep pipes out of text and escape control characters (newlines
/// included) as tables do.
fn sanitize(s: &str) -> String {
    super::escape::one_line(s).replace('|', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_worst_severity() {
        assert_eq!(PluginState::of(None), PluginState::Ok);
        assert_eq!(PluginState::of(Some(Severity::Info)), PluginState::Ok);
        assert_eq!(PluginState::of(Some(Severity::Low)), PluginState::Warning);
        assert_eq!(PluginState::of(Some(Severity::High)), PluginState::Critical);
        assert_eq!(PluginState::Unknown.exit_code(), 3);
    }

    #[test]
    fn status_line_has_perfdata_and_no_stray_pipes() {
        let summary = Summary::of(&[], &[]);
        let (out, state) = render(&[], &summary, "web|1");
        assert_eq!(state, PluginState::Ok);
        let first = out.lines().next().unwrap();
        assert!(first.starts_with(
            "PORTREEVE OK - no findings on 0 listening sockets on web/1 | findings=0;;;0"
        ));
        assert_eq!(first.matches('|').count(), 1);
        assert!(first.contains("critical=0;;;0") && first.ends_with("accepted=0;;;0"));
    }

    #[test]
    fn text_stays_on_its_line() {
        assert_eq!(
            unknown("bad\n\u{1b}[2Jpolicy | x"),
            "PORTREEVE UNKNOWN - bad\\n\\e[2Jpolicy / x\n"
        );
    }
}

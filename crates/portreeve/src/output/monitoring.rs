//! What the PRTG and Checkmk formats share: when a monitoring system that
//! takes its state from portreeve's numbers (PRTG's channel limits,
//! Checkmk's local-check status) alarms, and how loudly — one rule for
//! both, so the two never disagree about the same findings — and the
//! one-line summary both show.
//!
//! Findings at or above the *error* severity put the sensor or service in
//! error (PRTG Down, Checkmk CRIT); `low` and above, below that, warn;
//! `info` never alarms unless it is the error severity itself. The error
//! severity is `--fail-on`'s when one is given, and `high` under the
//! default `never`: `never` is about portreeve's exit status, and a
//! monitoring format that could never alarm would be pointless, so the
//! default matches the Nagios states (critical and high CRITICAL, medium
//! and low WARNING). Accepted findings are not counted in the summary and
//! so never alarm.

use portreeve_app::check::Summary;
use portreeve_core::{Finding, Severity};

use super::counted;
use super::escape::one_line;
use super::nagios::PluginState;
use crate::cli::FailOn;

/// The summary a sensor message or service output starts with: what was
/// judged when nothing was found (`no findings on 3 listening sockets on
/// web1`), else the counts per severity, where (`place`), and the worst
/// open finding; control characters escaped.
pub fn headline(findings: &[Finding], summary: &Summary, judged: &str, place: &str) -> String {
    let text = match findings.iter().find(|f| f.accepted.is_none()) {
        None => format!("no findings on {judged}"),
        Some(worst) => format!(
            "{} ({}) on {place}; worst: {} {}",
            counted(summary.findings, "finding"),
            summary.severity_breakdown(),
            worst.kind.code(),
            worst.message
        ),
    };
    one_line(&text).into_owned()
}

/// How a severity's findings alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// Any finding is an error.
    Error,
    /// Any finding is a warning.
    Warning,
    /// Counted, never alarms.
    Quiet,
}

/// The alarm thresholds `--fail-on` calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alarms {
    /// The least severity whose findings are an error.
    error_from: Severity,
}

impl Alarms {
    /// The thresholds for `fail_on` (see the module documentation).
    pub fn of(fail_on: FailOn) -> Alarms {
        Alarms {
            error_from: match fail_on {
                FailOn::Never => Severity::High,
                FailOn::AtLeast(severity) => severity,
            },
        }
    }

    /// How findings of `severity` alarm.
    pub fn band(self, severity: Severity) -> Band {
        if severity >= self.error_from {
            Band::Error
        } else if severity >= Severity::Low {
            Band::Warning
        } else {
            Band::Quiet
        }
    }

    /// The state `summary`'s open findings call for: the worst band of any
    /// severity with findings.
    pub fn state(self, summary: &Summary) -> PluginState {
        let bands = summary
            .by_severity
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, _)| self.band(*s));
        let mut state = PluginState::Ok;
        for band in bands {
            match band {
                Band::Error => return PluginState::Critical,
                Band::Warning => state = PluginState::Warning,
                Band::Quiet => {}
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_matches_the_nagios_states() {
        let alarms = Alarms::of(FailOn::Never);
        for severity in Severity::ALL {
            let expected = match PluginState::of(Some(severity)) {
                PluginState::Critical => Band::Error,
                PluginState::Warning => Band::Warning,
                _ => Band::Quiet,
            };
            assert_eq!(alarms.band(severity), expected, "{severity}");
        }
    }

    #[test]
    fn fail_on_moves_the_error_threshold_and_lower_severities_warn() {
        let critical = Alarms::of(FailOn::AtLeast(Severity::Critical));
        assert_eq!(critical.band(Severity::Critical), Band::Error);
        assert_eq!(critical.band(Severity::High), Band::Warning);
        assert_eq!(critical.band(Severity::Info), Band::Quiet);
        let info = Alarms::of(FailOn::AtLeast(Severity::Info));
        assert!(Severity::ALL.iter().all(|s| info.band(*s) == Band::Error));
        let medium = Alarms::of(FailOn::AtLeast(Severity::Medium));
        assert_eq!(medium.band(Severity::Medium), Band::Error);
        assert_eq!(medium.band(Severity::Low), Band::Warning);
    }
}

//! How bad a finding is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Severity of a finding or of a catalogued service, from least to most
/// urgent. The order is meaningful: `--fail-on high` fails on `high` and
/// `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed.
    Info,
    /// Tidy up when convenient.
    Low,
    /// Fix in the normal course of work.
    Medium,
    /// Fix soon: a likely path to compromise or data exposure.
    High,
    /// Fix now: remote compromise is routine for this exposure.
    Critical,
}

impl Severity {
    /// All severities, least urgent first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lower-case name used in policies, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// `steps` levels less urgent, stopping at `info`.
    pub fn lowered(self, steps: usize) -> Severity {
        let at = Severity::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Severity::ALL[at.saturating_sub(steps)]
    }

    /// `steps` levels more urgent, stopping at `critical`.
    pub fn raised(self, steps: usize) -> Severity {
        let at = Severity::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Severity::ALL[(at + steps).min(Severity::ALL.len() - 1)]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not one of the five levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}`: expected one of info, low, medium, high, critical")]
pub struct SeverityParseError(pub String);

impl FromStr for Severity {
    type Err = SeverityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| SeverityParseError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_runs_from_info_to_critical() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::High < Severity::Critical);
        let mut v = vec![Severity::High, Severity::Info, Severity::Critical];
        v.sort();
        assert_eq!(v, [Severity::Info, Severity::High, Severity::Critical]);
    }

    #[test]
    fn parses_names() {
        assert_eq!("High".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn lowering_stops_at_info() {
        assert_eq!(Severity::Critical.lowered(2), Severity::Medium);
        assert_eq!(Severity::Low.lowered(3), Severity::Info);
    }

    #[test]
    fn raising_stops_at_critical() {
        assert_eq!(Severity::Medium.raised(1), Severity::High);
        assert_eq!(Severity::High.raised(3), Severity::Critical);
        assert_eq!(Severity::Info.raised(0), Severity::Info);
    }
}

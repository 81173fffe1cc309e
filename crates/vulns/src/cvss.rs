//! How severe an advisory is, as a [`Severity`] with what it was decided
//! from: a CVSS vector's base score where the advisory carries one, else
//! the distribution's own rating, else medium (and the rating says so).
//!
//! Scores come from the `cvss` crate: the CVSS v3.0/v3.1 base score and
//! the CVSS v4.0 score (its base metrics, and the threat and environmental
//! ones when the vector has them), and the v2 base score. Several vectors:
//! the newest CVSS version wins, since it supersedes the older rating of
//! the same flaw.

use std::str::FromStr;

use portreeve_core::Severity;

use crate::osv::{Advisory, Affected, Score};

/// An advisory's severity and what it rests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Rating {
    /// The severity.
    pub severity: Severity,
    /// Where it came from.
    pub basis: Basis,
}

/// What a [`Rating`] was decided from.
#[derive(Clone, Debug, PartialEq)]
pub enum Basis {
    /// A CVSS vector.
    Cvss(CvssScore),
    /// A distribution's or database's own word: Debian's `urgency`,
    /// Ubuntu's priority, a `database_specific.severity`.
    Rated {
        /// Which field said it (`ecosystem_specific.urgency`, …).
        field: &'static str,
        /// The word as written.
        value: String,
    },
    /// Nothing usable was given: medium by default.
    Default,
}

/// A CVSS vector and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct CvssScore {
    /// The vector as written.
    pub vector: String,
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: &'static str,
    /// The score, 0.0 to 10.0.
    pub score: f64,
}

/// Rates `advisory` for one of its `affected` entries (`None`: the
/// advisory as a whole). The entry's own scores come before the
/// advisory's; a CVSS vector before any word rating.
pub fn rate(advisory: &Advisory, affected: Option<&Affected>) -> Rating {
    let scores = affected
        .map(|a| a.severity.as_slice())
        .unwrap_or_default()
        .iter()
        .chain(&advisory.severity);
    if let Some(best) = scores
        .filter_map(cvss_score)
        .max_by(|a, b| version_rank(a.version).cmp(&version_rank(b.version)))
    {
        return Rating {
            severity: severity_of_score(best.score),
            basis: Basis::Cvss(best),
        };
    }
    let words = affected
        .and_then(|a| word(a.ecosystem_specific.as_ref(), "urgency"))
        .map(|w| ("ecosystem_specific.urgency", w))
        .or_else(|| {
            affected
                .and_then(|a| word(a.database_specific.as_ref(), "severity"))
                .map(|w| ("database_specific.severity", w))
        })
        .or_else(|| {
            word(advisory.database_specific.as_ref(), "severity")
                .map(|w| ("database_specific.severity", w))
        })
        .or_else(|| {
            affected
                .map(|a| a.severity.as_slice())
                .unwrap_or_default()
                .iter()
                .chain(&advisory.severity)
                .find(|s| s.kind == "Ubuntu")
                .map(|s| ("severity (Ubuntu)", s.score.clone()))
        });
    if let Some((field, value)) = words
        && let Some(severity) = severity_of_word(&value)
    {
        return Rating {
            severity,
            basis: Basis::Rated { field, value },
        };
    }
    Rating {
        severity: Severity::Medium,
        basis: Basis::Default,
    }
}

/// Reads a `CVSS_V2`/`CVSS_V3`/`CVSS_V4` score; `None` for other kinds and
/// for vectors the `cvss` crate refuses.
pub fn cvss_score(score: &Score) -> Option<CvssScore> {
    if !score.kind.starts_with("CVSS_") {
        return None;
    }
    let parsed = cvss::Cvss::from_str(score.score.trim()).ok()?;
    let version = match parsed {
        cvss::Cvss::CvssV20(_) => "2.0",
        cvss::Cvss::CvssV30(_) => "3.0",
        cvss::Cvss::CvssV31(_) => "3.1",
        cvss::Cvss::CvssV40(_) => "4.0",
        _ => return None,
    };
    Some(CvssScore {
        vector: score.score.trim().to_owned(),
        version,
        score: parsed.score(),
    })
}

/// The qualitative rating of a CVSS score: critical from 9.0, high from
/// 7.0, medium from 4.0, low above 0; 0.0 (no impact) is info.
pub fn severity_of_score(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

/// A word rating: Debian's urgencies (`unimportant`, `low`, `medium`,
/// `high`, with or without a trailing `*` or `**`), Ubuntu's priorities
/// (`negligible` … `critical`), GitHub's `moderate`. Others (`not yet
/// assigned`, `end-of-life`) say nothing about severity: `None`.
fn severity_of_word(word: &str) -> Option<Severity> {
    match word
        .trim()
        .trim_end_matches('*')
        .to_ascii_lowercase()
        .as_str()
    {
        "unimportant" | "negligible" => Some(Severity::Info),
        "low" => Some(Severity::Low),
        "medium" | "moderate" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        "critical" => Some(Severity::Critical),
        _ => None,
    }
}

fn word(value: Option<&serde_json::Value>, key: &str) -> Option<String> {
    value?.get(key)?.as_str().map(str::to_owned)
}

fn version_rank(version: &str) -> u8 {
    match version {
        "2.0" => 0,
        "3.0" => 1,
        "3.1" => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisory(json: &str) -> Advisory {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn cvss_v3_base_score_and_severity() {
        let a = advisory(
            r#"{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [
              {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
        );
        let r = rate(&a, None);
        assert_eq!(r.severity, Severity::High);
        let Basis::Cvss(s) = r.basis else {
            panic!("{r:?}")
        };
        assert_eq!(s.version, "3.1");
        assert_eq!(s.score, 8.1);
    }

    #[test]
    fn the_newest_cvss_version_wins() {
        let a = advisory(
            r#"{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [
              {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
              {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}"#,
        );
        let r = rate(&a, None);
        let Basis::Cvss(s) = &r.basis else {
            panic!("{r:?}")
        };
        assert_eq!(s.version, "4.0");
        assert_eq!(s.score, 9.3);
        assert_eq!(r.severity, Severity::Critical);
    }

    #[test]
    fn debian_urgency_when_no_vector() {
        let a = advisory(
            r#"{"id": "DSA-1", "modified": "2024-01-01T00:00:00Z", "severity": [
              {"type": "CVSS_V3", "score": "not a vector"}],
              "affected": [{"package": {"ecosystem": "Debian:12", "name": "p"},
              "ecosystem_specific": {"urgency": "low**"}}]}"#,
        );
        let r = rate(&a, Some(&a.affected[0]));
        assert_eq!(r.severity, Severity::Low);
        assert_eq!(
            r.basis,
            Basis::Rated {
                field: "ecosystem_specific.urgency",
                value: "low**".into()
            }
        );
    }

    #[test]
    fn ubuntu_priority_and_database_severity() {
        let a = advisory(
            r#"{"id": "U", "modified": "2024-01-01T00:00:00Z",
              "severity": [{"type": "Ubuntu", "score": "negligible"}]}"#,
        );
        assert_eq!(rate(&a, None).severity, Severity::Info);
        let g = advisory(
            r#"{"id": "G", "modified": "2024-01-01T00:00:00Z",
              "database_specific": {"severity": "MODERATE"}}"#,
        );
        assert_eq!(rate(&g, None).severity, Severity::Medium);
    }

    #[test]
    fn nothing_given_is_medium_and_says_so() {
        let a = advisory(
            r#"{"id": "X", "modified": "2024-01-01T00:00:00Z",
              "affected": [{"package": {"ecosystem": "Debian:12", "name": "p"},
              "ecosystem_specific": {"urgency": "not yet assigned"}}]}"#,
        );
        let r = rate(&a, Some(&a.affected[0]));
        assert_eq!(r.severity, Severity::Medium);
        assert_eq!(r.basis, Basis::Default);
    }

    #[test]
    fn score_thresholds() {
        assert_eq!(severity_of_score(9.0), Severity::Critical);
        assert_eq!(severity_of_score(8.9), Severity::High);
        assert_eq!(severity_of_score(7.0), Severity::High);
        assert_eq!(severity_of_score(4.0), Severity::Medium);
        assert_eq!(severity_of_score(3.9), Severity::Low);
        assert_eq!(severity_of_score(0.1), Severity::Low);
        assert_eq!(severity_of_score(0.0), Severity::Info);
    }
}

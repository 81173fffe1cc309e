//! PRTG's custom-sensor JSON, for the EXE/Script Advanced and SSH Script
//! Advanced sensors (docs/findings.md, schema docs/schema/prtg.v1.json):
//! one channel per count, with limits on the per-severity channels so that
//! PRTG itself sets the sensor Down or Warning — these sensors take their
//! state from the JSON on standard output, not from the exit status.
//!
//! Channel names are the contract: PRTG keys a channel by its name and
//! creates the channel, limits included, the first time it sees it, so
//! names never change once released.

use portreeve_app::check::Summary;
use portreeve_core::{Finding, Severity};
use serde::Serialize;

use super::escape::one_line;
use super::monitoring::{Alarms, Band, headline};

/// The longest sensor message PRTG shows, in characters.
const TEXT_LIMIT: usize = 2000;

/// `{"prtg": …}`: the document a sensor reads.
#[derive(Serialize)]
struct Sensor<B> {
    prtg: B,
}

/// A sensor reading: its channels and its message.
#[derive(Serialize)]
struct Reading {
    result: Vec<Channel>,
    text: String,
}

/// A reading that failed: PRTG shows the sensor in error with `text`.
#[derive(Serialize)]
struct Failed {
    error: u8,
    text: String,
}

/// One channel: a count, and for the per-severity ones the limit past
/// which PRTG alarms.
#[derive(Serialize)]
struct Channel {
    channel: String,
    value: usize,
    unit: &'static str,
    #[serde(rename = "LimitMode", skip_serializing_if = "Option::is_none")]
    limit_mode: Option<u8>,
    #[serde(rename = "LimitMaxError", skip_serializing_if = "Option::is_none")]
    limit_max_error: Option<u8>,
    #[serde(rename = "LimitErrorMsg", skip_serializing_if = "Option::is_none")]
    limit_error_msg: Option<String>,
    #[serde(rename = "LimitMaxWarning", skip_serializing_if = "Option::is_none")]
    limit_max_warning: Option<u8>,
    #[serde(rename = "LimitWarningMsg", skip_serializing_if = "Option::is_none")]
    limit_warning_msg: Option<String>,
}

impl Channel {
    /// A count that never alarms.
    fn count(name: impl Into<String>, value: usize) -> Channel {
        Channel {
            channel: name.into(),
            value,
            unit: "Count",
            limit_mode: None,
            limit_max_error: None,
            limit_error_msg: None,
            limit_max_warning: None,
            limit_warning_msg: None,
        }
    }

    /// The open findings of `severity`: any at all exceeds the limit of
    /// its band (PRTG alarms when a value is above the limit).
    fn severity(severity: Severity, value: usize, alarms: Alarms) -> Channel {
        let mut channel = Channel::count(severity_channel(severity), value);
        let message = format!("{severity} findings are open");
        match alarms.band(severity) {
            Band::Error => {
                channel.limit_mode = Some(1);
                channel.limit_max_error = Some(0);
                channel.limit_error_msg = Some(message);
            }
            Band::Warning => {
                channel.limit_mode = Some(1);
                channel.limit_max_warning = Some(0);
                channel.limit_warning_msg = Some(message);
            }
            Band::Quiet => {}
        }
        channel
    }
}

/// `Critical findings`, … `Info findings`.
fn severity_channel(severity: Severity) -> String {
    capitalised(&format!("{severity} findings"))
}

/// A channel name for a count's label: `network_policies` → `Network
/// policies`.
pub fn channel_name(label: &str) -> String {
    capitalised(&label.replace('_', " "))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The sensor reading for a completed check: `Findings` (open ones, the
/// primary channel), one channel per severity with its limit, `counts`
/// (channel names and values: `Listeners`, `Pods`, …), then `Accepted
/// findings`. `judged` and `place` are as for
/// [`headline`].
pub fn render(
    findings: &[Finding],
    summary: &Summary,
    judged: &str,
    place: &str,
    counts: &[(String, usize)],
    alarms: Alarms,
) -> String {
    let mut result = vec![Channel::count("Findings", summary.findings)];
    for (severity, n) in summary.by_severity.iter().rev() {
        result.push(Channel::severity(*severity, *n, alarms));
    }
    for (name, n) in counts {
        result.push(Channel::count(name.clone(), *n));
    }
    result.push(Channel::count("Accepted findings", summary.accepted));
    let text = limited(headline(findings, summary, judged, place));
    document(&Sensor {
        prtg: Reading { result, text },
    })
}

/// The reading when the check could not run: PRTG shows the sensor in
/// error with `reason` as its message.
pub fn error(reason: &str) -> String {
    document(&Sensor {
        prtg: Failed {
            error: 1,
            text: limited(one_line(reason).into_owned()),
        },
    })
}

/// `text` cut to what PRTG shows, marked with `…` where it was cut.
fn limited(text: String) -> String {
    if text.chars().count() <= TEXT_LIMIT {
        return text;
    }
    let mut cut: String = text.chars().take(TEXT_LIMIT - 1).collect();
    cut.push('…');
    cut
}

fn document(sensor: &impl Serialize) -> String {
    let mut out = serde_json::to_string_pretty(sensor).expect("a sensor reading serialises");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::FailOn;

    #[test]
    fn labels_become_channel_names() {
        assert_eq!(channel_name("network_policies"), "Network policies");
        assert_eq!(severity_channel(Severity::High), "High findings");
    }

    #[test]
    fn long_messages_are_cut_to_what_prtg_shows() {
        let text = limited("é".repeat(TEXT_LIMIT + 5));
        assert_eq!(text.chars().count(), TEXT_LIMIT);
        assert!(text.ends_with('…'));
        assert_eq!(limited("short".into()), "short");
    }

    #[test]
    fn only_severity_channels_carry_limits() {
        let summary = Summary::of(&[], &[]);
        let out: serde_json::Value = serde_json::from_str(&render(
            &[],
            &summary,
            "nothing",
            "here",
            &[("Listeners".into(), 0)],
            Alarms::of(FailOn::Never),
        ))
        .unwrap();
        let limited: Vec<&str> = out["prtg"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c.get("LimitMode").is_some())
            .map(|c| c["channel"].as_str().unwrap())
            .collect();
        assert_eq!(
            limited,
            [
                "Critical findings",
                "High findings",
                "Medium findings",
                "Low findings"
            ]
        );
    }
}

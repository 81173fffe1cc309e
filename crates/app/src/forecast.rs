//! `predict` and `anomalies` over an events file: JSON lines
//! `{"time": RFC 3339, "protocol": "tcp", "port": N, "count": K}`, each
//! saying K connections came to a port at that time. The counts are summed
//! per UTC hour and port, and portreeve-forecast judges each port's hours.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use portreeve_core::Proto;
use portreeve_forecast::{Anomaly, Hour, Prediction, Series};
use serde::Deserialize;

use crate::error::AppError;

/// Seconds in an hour.
const HOUR_SECONDS: i64 = 3600;

/// The longest stretch of time an events file may cover: each port's
/// history is kept as one count per hour, so a stray event decades away
/// would cost gigabytes.
const MAX_SPAN_DAYS: i64 = 3 * 366;

/// One line of an events file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    time: Timestamp,
    protocol: Proto,
    port: u16,
    count: u64,
}

/// The hourly history of one port.
#[derive(Debug, Clone)]
pub struct PortHistory {
    /// Its protocol.
    pub protocol: Proto,
    /// Its number.
    pub port: u16,
    /// Connections per hour.
    pub series: Series,
}

/// An events file, read.
#[derive(Debug, Clone)]
pub struct Events {
    /// Each port's history, by protocol and port.
    pub ports: Vec<PortHistory>,
    /// The hour after the last event's.
    pub end: Hour,
}

/// The hour `time` falls in.
pub fn hour_of(time: Timestamp) -> Hour {
    time.as_second().div_euclid(HOUR_SECONDS)
}

/// The start of `hour`.
pub fn start_of(hour: Hour) -> Timestamp {
    Timestamp::from_second(hour * HOUR_SECONDS).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Reads the events file `path` (`-`: standard input).
pub fn read_events(path: &Path) -> Result<Events, AppError> {
    let text = crate::input::read_text(path, "events file")
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    parse_events(&crate::input::origin(path), &text)
}

/// Parses JSON lines of events, blank lines skipped; `origin` names the
/// text in errors, which give the line that is not an event.
pub fn parse_events(origin: &str, text: &str) -> Result<Events, AppError> {
    let mut hours: BTreeMap<(Proto, u16), Vec<(Hour, u64)>> = BTreeMap::new();
    let mut span: Option<(Timestamp, Timestamp)> = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = serde_json::from_str(line).map_err(|e| {
            AppError::Invalid(format!(
                "{origin}:{}: not an event (a JSON object with time, protocol, port, count): {e}",
                index + 1
            ))
        })?;
        span = Some(span.map_or((event.time, event.time), |(first, last)| {
            (first.min(event.time), last.max(event.time))
        }));
        hours
            .entry((event.protocol, event.port))
            .or_default()
            .push((hour_of(event.time), event.count));
    }
    let (first, last) = span.ok_or_else(|| AppError::Invalid(format!("{origin}: no events")))?;
    if hour_of(last) - hour_of(first) > MAX_SPAN_DAYS * 24 {
        return Err(AppError::Invalid(format!(
            "{origin}: the events span {first} to {last}; at most {MAX_SPAN_DAYS} days can be judged"
        )));
    }
    let ports: Vec<PortHistory> = hours
        .into_iter()
        .filter_map(|((protocol, port), counts)| {
            Series::from_counts(counts).map(|series| PortHistory {
                protocol,
                port,
                series,
            })
        })
        .collect();
    Ok(Events {
        ports,
        end: hour_of(last) + 1,
    })
}

/// A port's prediction.
#[derive(Debug, Clone)]
pub struct PortPrediction {
    /// Its protocol.
    pub protocol: Proto,
    /// Its number.
    pub port: u16,
    /// What is expected of it.
    pub prediction: Prediction,
}

/// What each port's history before `at` (rounded down to the hour) says
/// of the 24 hours from then.
pub fn predict(events: &Events, at: Hour) -> Vec<PortPrediction> {
    events
        .ports
        .iter()
        .map(|p| PortPrediction {
            protocol: p.protocol,
            port: p.port,
            prediction: portreeve_forecast::predict(&p.series, at),
        })
        .collect()
}

/// An implausible hour of a port.
#[derive(Debug, Clone)]
pub struct PortAnomaly {
    /// Its protocol.
    pub protocol: Proto,
    /// Its number.
    pub port: u16,
    /// The hour and why.
    pub anomaly: Anomaly,
}

/// The implausible hours of every port starting at or after `since`, in
/// time order.
pub fn anomalies(events: &Events, since: Option<Hour>) -> Vec<PortAnomaly> {
    let mut found: Vec<PortAnomaly> = events
        .ports
        .iter()
        .flat_map(|p| {
            portreeve_forecast::anomalies(&p.series)
                .into_iter()
                .map(|anomaly| PortAnomaly {
                    protocol: p.protocol,
                    port: p.port,
                    anomaly,
                })
        })
        .filter(|a| since.is_none_or(|since| a.anomaly.hour >= since))
        .collect();
    found.sort_by_key(|a| (a.anomaly.hour, a.protocol, a.port));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_per_hour_and_port() {
        let text = r#"{"time": "2026-01-05T10:05:00Z", "protocol": "tcp", "port": 22, "count": 2}

{"time": "2026-01-05T10:55:00Z", "protocol": "tcp", "port": 22, "count": 3}
{"time": "2026-01-05T12:00:00Z", "protocol": "udp", "port": 53, "count": 1}
"#;
        let events = parse_events("e.jsonl", text).unwrap();
        let ten = hour_of("2026-01-05T10:00:00Z".parse().unwrap());
        assert_eq!(events.ports.len(), 2);
        assert_eq!(
            (events.ports[0].port, events.ports[0].series.count(ten)),
            (22, 5)
        );
        assert_eq!(events.end, ten + 3);
        assert_eq!(start_of(ten).to_string(), "2026-01-05T10:00:00Z");
    }

    #[test]
    fn a_bad_line_is_located() {
        let text = "{\"time\": \"2026-01-05T10:05:00Z\", \"protocol\": \"tcp\", \"port\": 22, \"count\": 2}\n{\"time\": \"yesterday\", \"protocol\": \"tcp\", \"port\": 22, \"count\": 1}\n";
        let e = parse_events("e.jsonl", text).unwrap_err().to_string();
        assert!(e.contains("e.jsonl:2: not an event"), "{e}");
        let e = parse_events("e.jsonl", "\n").unwrap_err().to_string();
        assert!(e.contains("e.jsonl: no events"), "{e}");
    }

    #[test]
    fn events_decades_apart_are_refused() {
        let text = r#"{"time": "2026-01-05T10:05:00Z", "protocol": "tcp", "port": 22, "count": 2}
{"time": "9999-01-05T10:05:00Z", "protocol": "tcp", "port": 22, "count": 2}
"#;
        let e = parse_events("e.jsonl", text).unwrap_err().to_string();
        assert!(e.contains("e.jsonl: the events span 2026-01-05T10:05:00Z to 9999-01-05T10:05:00Z; at most 1098 days"), "{e}");
    }
}

//! `predict` and `anomalies` over the agent's hourly history
//! ([`history`]) or over an events file ([`read_events`]): JSON lines
//! `{"time": RFC 3339, "protocol": "tcp", "port": N, "count": K}`, each
//! saying K connections came to a port at that time. The counts are summed
//! per UTC hour and port, and portreeve-forecast judges each port's hours.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;
use portreeve_core::Proto;
use portreeve_forecast::{Anomaly, Hour, Prediction, Series};
use portreeve_store::Store;
use serde::Deserialize;

use crate::error::AppError;
use crate::state_dir::StateDir;

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

/// The agent's hourly history in `state`: every port it has seen, each
/// series zero-filled from the port's first sighting to the hour under way
/// at `now`, that hour included (its connections so far count), and
/// [`Events::end`] the hour after it. Only the last
/// [`portreeve_store::DEFAULT_HOUR_RETENTION`] is read: the agent keeps no
/// more, and an older first sighting would pass for months of disuse.
///
/// Hours the agent did not run count as hours without connections: it
/// saw none. No store, or one without ports, is an error naming the
/// directory: there is nothing to judge.
pub fn history(state: &StateDir, now: Timestamp) -> Result<Events, AppError> {
    let no_history = || {
        AppError::Invalid(format!(
            "no agent history in {}: `portreeve agent` records each port's connections per hour there; \
             run it for a while, give --state-dir its directory, or judge an events file with --events FILE",
            state.root().display()
        ))
    };
    if !state.has_store() {
        return Err(no_history());
    }
    let end = hour_of(now) + 1;
    let horizon = now
        .checked_sub(portreeve_store::DEFAULT_HOUR_RETENTION)
        .map_or(Hour::MIN, hour_of);
    let recorded = state.with_store(|store| store.port_hours(Some(horizon)))?;
    if recorded.is_empty() {
        return Err(no_history());
    }
    let ports = recorded
        .into_iter()
        .map(|p| {
            // A connection read in the agent's first look may predate the
            // look itself by a moment, so its hour starts the series too.
            let first = p
                .counts
                .first()
                .map_or(hour_of(p.first_seen), |&(h, _)| {
                    h.min(hour_of(p.first_seen))
                })
                .clamp(horizon, end - 1);
            let mut counts = vec![0; usize::try_from(end - first).unwrap_or(0)];
            // Hours after `now` (a clock set back) are not history yet.
            for (hour, n) in p.counts {
                if let Some(slot) = usize::try_from(hour - first)
                    .ok()
                    .and_then(|i| counts.get_mut(i))
                {
                    *slot = n;
                }
            }
            PortHistory {
                protocol: p.key.protocol,
                port: p.key.port,
                series: Series::new(first, counts),
            }
        })
        .collect();
    Ok(Events { ports, end })
}

/// A port's prediction.
#[derive(Debug, Clone)]
pub struct PortPrediction {
    /// Its protocol.
    pub protocol: Proto,
    /// Its number.
    pub port: u16,
    /// Connections in the history it was judged from (before `at`).
    pub connections: u64,
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
            connections: (p.series.first()..at.min(p.series.end()))
                .fold(0, |sum: u64, h| sum.saturating_add(p.series.count(h))),
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
    fn the_agent_history_is_zero_filled_from_first_sighting_to_now() {
        use portreeve_core::PortKey;
        use portreeve_store::{Store, UsageUpdate, WriteBatch};
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        let e = history(&state, Timestamp::now()).unwrap_err().to_string();
        assert!(e.starts_with("no agent history in "), "{e}");
        assert!(!state.has_store(), "reading creates no store");

        let seen: Timestamp = "2026-12-01T08:20:00Z".parse().unwrap();
        let used: Timestamp = "2026-12-01T10:05:00Z".parse().unwrap();
        let now: Timestamp = "2026-12-01T12:30:00Z".parse().unwrap();
        let web = PortKey::new(Proto::Tcp, 443);
        let idle = PortKey::new(Proto::Udp, 514);
        state
            .with_store(|store| {
                store.write(&WriteBatch {
                    usage: vec![
                        UsageUpdate::seen(web, seen),
                        UsageUpdate::seen(idle, used),
                        UsageUpdate {
                            last_access: Some(used),
                            connections: 4,
                            ..UsageUpdate::seen(web, used)
                        },
                    ],
                    ..WriteBatch::default()
                })
            })
            .unwrap();
        let events = history(&state, now).unwrap();
        let eight = hour_of(seen);
        assert_eq!(events.end, eight + 5, "the hour after 12:00's");
        let web_series = &events.ports[0].series;
        assert_eq!(events.ports[0].port, 443);
        assert_eq!((web_series.first(), web_series.end()), (eight, eight + 5));
        let counts: Vec<u64> = (eight..eight + 5).map(|h| web_series.count(h)).collect();
        assert_eq!(counts, [0, 0, 4, 0, 0]);
        let idle_series = &events.ports[1].series;
        assert_eq!(
            (idle_series.first(), idle_series.last_used()),
            (eight + 2, None)
        );

        let predicted = predict(&events, events.end);
        assert_eq!(predicted[0].connections, 4);
        assert_eq!(predicted[0].prediction.last_used, Some(eight + 2));
        assert_eq!(
            predict(&events, eight + 2)[0].connections,
            0,
            "not before the hour"
        );
    }

    #[test]
    fn a_store_without_ports_is_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        state.open_store().unwrap();
        let e = history(&state, Timestamp::now()).unwrap_err().to_string();
        assert!(e.contains("--events FILE"), "{e}");
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

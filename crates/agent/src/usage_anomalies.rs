//! Usage anomalies as they happen: once an hour has closed, the agent
//! judges it for every port with history, as `portreeve anomalies` would
//! (`portreeve_forecast::anomalies` on the port's hourly series up to and
//! including that hour), and raises each implausible hour — a burst many
//! times the usual, use at an hour the port is never used, a quiet port
//! suddenly busy — three ways: `portreeve_usage_anomalies_total{protocol,
//! port,kind}`, a log line, and an alert of type `usage-anomaly` through
//! the agent's alert sinks (the detections' sinks). Each is also a
//! finding, PR024 `usage-anomaly`, among the agent's findings (those
//! `portreeve_findings` counts and the server receives) for
//! [`FINDING_HOURS`] hours after its hour.
//!
//! The hourly counts are the store's (`Store::port_hours`), written by
//! the listeners loop from the connections of each reading, so an hour is
//! judged only [`settle`] after it closed, once the loop has written its
//! last reading of it. The last hour judged is kept in
//! `<state>/usage-anomalies.hour`, so a restarted agent goes on from the
//! next one — nothing is alerted twice — and a first start judges the
//! hour that closed last. At most [`MAX_CATCH_UP`] hours are judged at once
//! (after a long stop, or a clock stepped forward): the later ones. A
//! restarted agent judges the hours of the last day it had judged again,
//! without raising them, so that their findings are back.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use portreeve_alerts::{AnomalyKind, UsageAnomalyAlert};
use portreeve_app::StateDir;
use portreeve_core::{Finding, FindingKind, PortKey, Severity};
use portreeve_forecast::{Anomaly, Hour, Series};
use portreeve_store::{PortHours, Store, hour_of};

use crate::metrics::Metrics;
use crate::respond::Responder;

/// The file keeping the last hour judged, in the state directory.
pub const LAST_JUDGED_FILE: &str = "usage-anomalies.hour";

/// The most hours judged in one go: a day.
pub const MAX_CATCH_UP: i64 = 24;

/// How many hours an anomaly stays among the agent's findings once its
/// hour has closed: a day, so that a look at the findings any time of the
/// day still sees the night's anomalies.
pub const FINDING_HOURS: Hour = 24;

/// How often the thread looks at the clock.
const TICK: Duration = Duration::from_secs(1);

/// One implausible hour of one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAnomaly {
    /// The port.
    pub key: PortKey,
    /// The hour, its count, what was expected and why it is implausible.
    pub anomaly: Anomaly,
}

/// The start of `hour`.
fn start_of(hour: Hour) -> Timestamp {
    Timestamp::from_second(hour.saturating_mul(3600)).unwrap_or(Timestamp::MAX)
}

/// `hours`' series from its first sighting's hour to `end` (exclusive),
/// the hours without a stored count being hours without a connection.
/// `None` for a port first seen at or after `end`.
pub fn series_until(hours: &PortHours, end: Hour) -> Option<Series> {
    let first = hours
        .counts
        .first()
        .map_or(hour_of(hours.first_seen), |&(h, _)| {
            h.min(hour_of(hours.first_seen))
        });
    if first >= end {
        return None;
    }
    let mut counts = vec![0; usize::try_from(end - first).ok()?];
    for &(hour, n) in hours.counts.iter().filter(|(h, _)| *h < end) {
        counts[(hour - first) as usize] += n;
    }
    Some(Series::new(first, counts))
}

/// The anomalies of hour `closed`, each port judged on its history up to
/// and including it: what the agent raises when `closed` has closed.
/// Sorted by port as `histories` is; a port with no connection ever has
/// none.
pub fn judge_hour(histories: &[PortHours], closed: Hour) -> Vec<PortAnomaly> {
    histories
        .iter()
        .filter(|h| h.counts.first().is_some_and(|&(first, _)| first <= closed))
        .filter_map(|h| Some((h.key, series_until(h, closed + 1)?)))
        .flat_map(|(key, series)| {
            portreeve_forecast::anomalies(&series)
                .into_iter()
                .filter(move |a| a.hour == closed)
                .map(move |anomaly| PortAnomaly { key, anomaly })
        })
        .collect()
}

/// The alert on `a`.
pub fn alert(a: &PortAnomaly) -> UsageAnomalyAlert {
    UsageAnomalyAlert {
        protocol: a.key.protocol,
        port: a.key.port,
        start: start_of(a.anomaly.hour),
        observed: a.anomaly.observed,
        expected_low: a.anomaly.expected.low,
        expected_high: a.anomaly.expected.high,
        kind: kind(a.anomaly.kind),
    }
}

/// The alert's kind for the forecast's.
fn kind(k: portreeve_forecast::AnomalyKind) -> AnomalyKind {
    match k {
        portreeve_forecast::AnomalyKind::Burst => AnomalyKind::Burst,
        portreeve_forecast::AnomalyKind::UnusedHour => AnomalyKind::UnusedHour,
        portreeve_forecast::AnomalyKind::QuietPortBusy => AnomalyKind::QuietPortBusy,
    }
}

/// The finding on `a`: PR024, one per port and hour, `low` for use at an
/// hour never used (a job run late, someone working at night: worth a
/// look, seldom harm) and `medium` for many times a port's usual traffic,
/// which is what a scan, a brute-force attempt or data leaving looks like.
/// It names no socket: the hour is over, and what listened then may not
/// listen now.
pub fn finding(a: &PortAnomaly) -> Finding {
    use portreeve_forecast::AnomalyKind::{Burst, QuietPortBusy, UnusedHour};
    let kind = FindingKind::UsageAnomaly;
    let Anomaly {
        hour,
        observed,
        expected,
        kind: why,
    } = a.anomaly;
    let start = rfc3339(start_of(hour));
    let (severity, meaning) = match why {
        Burst => (
            Severity::Medium,
            "many times the connections usual at this hour of the port's cycle",
        ),
        UnusedHour => (
            Severity::Low,
            "connections at an hour of the port's cycle that has never had any",
        ),
        QuietPortBusy => (
            Severity::Medium,
            "many times the connections of a port that has no regular cycle",
        ),
    };
    let connections = if observed == 1 {
        "1 connection".to_string()
    } else {
        format!("{observed} connections")
    };
    Finding {
        kind,
        fingerprint: Finding::fingerprint_of(
            kind,
            &format!("anomaly|{}|{}|{start}", a.key.protocol, a.key.port),
        ),
        severity,
        message: format!(
            "{}: {connections} in the hour from {start}, expected {}–{} ({})",
            a.key,
            expected.low,
            expected.high,
            why.tag()
        ),
        socket: None,
        service: None,
        pids: Vec::new(),
        rule: None,
        resource: None,
        evidence: vec![
            format!(
                "{connections} from {start} to {}",
                rfc3339(start_of(hour + 1))
            ),
            format!(
                "expected {}–{} from the port's hourly history",
                expected.low, expected.high
            ),
            format!("{}: {meaning}", why.tag()),
        ],
        rationale: "A port's traffic follows its users' habits; an hour far outside them is \
                    what a scan, a brute-force attempt, a runaway client or data leaving \
                    looks like, and is best looked at while it is fresh."
            .into(),
        remediation: "Find out who connected in that hour (the agent's flow records, the \
                      service's logs). If the traffic was expected nothing needs doing: the \
                      finding goes a day after the hour. Otherwise narrow who reaches the \
                      port."
            .into(),
        reach: None,
        accepted: None,
    }
}

/// `t` in RFC 3339, to the second, UTC.
fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The anomalies of the last [`FINDING_HOURS`] hours, which the judging
/// thread adds to and the listeners loop turns into findings.
#[derive(Debug, Default)]
pub(crate) struct Recent(Mutex<Vec<PortAnomaly>>);

impl Recent {
    /// Adds `found`; an anomaly already kept (the same port and hour) is
    /// not kept twice.
    fn keep(&self, found: Vec<PortAnomaly>) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for a in found {
            if !kept
                .iter()
                .any(|k| k.key == a.key && k.anomaly.hour == a.anomaly.hour)
            {
                kept.push(a);
            }
        }
    }

    /// The findings at `now`: those of hours that closed less than
    /// [`FINDING_HOURS`] hours before `now`'s hour began; older ones are
    /// forgotten.
    pub(crate) fn findings(&self, now: Timestamp) -> Vec<Finding> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|a| a.anomaly.hour >= hour_of(now) - FINDING_HOURS);
        kept.iter().map(finding).collect()
    }
}

/// How long after an hour closes it is judged: the listeners loop takes a
/// reading every `interval` and writes each reading's connections at once,
/// so after one interval and a margin for a slow write, every connection
/// of the hour is stored.
pub fn settle(interval: Duration) -> SignedDuration {
    SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX) + SignedDuration::from_secs(5)
}

/// The hours to judge at `now`: from `next` (the hour after the last one
/// judged) to the last hour that closed at least `settle` ago, at most
/// [`MAX_CATCH_UP`] of them — the latest.
pub fn due(next: Hour, now: Timestamp, settle: SignedDuration) -> Range<Hour> {
    let end = hour_of(now.checked_sub(settle).unwrap_or(Timestamp::MIN));
    next.max(end - MAX_CATCH_UP)..end
}

/// Which hours have been judged, kept in [`LAST_JUDGED_FILE`].
struct Judged {
    file: PathBuf,
    /// The next hour to judge.
    next: Hour,
}

impl Judged {
    /// From the file, or — first start, or an unreadable file — from the
    /// hour that closed last before `now`.
    fn load(state: &StateDir, now: Timestamp, settle: SignedDuration) -> Judged {
        let file = state.root().join(LAST_JUDGED_FILE);
        let last_closed = due(Hour::MIN, now, settle).end - 1;
        let next = match std::fs::read_to_string(&file) {
            Ok(text) => match text.trim().parse::<Hour>() {
                Ok(last) => last + 1,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "not an hour; judging usage anomalies from the last closed hour");
                    last_closed
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last_closed,
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot read; judging usage anomalies from the last closed hour");
                last_closed
            }
        };
        Judged { file, next }
    }
}

/// The thread: until `stop`, judges each hour once it has settled
/// (see [`settle`]) and raises its anomalies.
pub(crate) fn run(
    state: &StateDir,
    interval: Duration,
    responder: &Responder,
    recent: &Recent,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let settle = settle(interval);
    let now = Timestamp::now();
    let mut judged = Judged::load(state, now, settle);
    // The hours of the last day judged before a restart: judged again for
    // their findings, not raised again.
    let mut again = rejudge(judged.next, now, settle);
    while !stop.load(Ordering::Relaxed) {
        let hours = due(judged.next, Timestamp::now(), settle);
        if !hours.is_empty() || !again.is_empty() {
            let first = if again.is_empty() {
                hours.start
            } else {
                again.start
            };
            let since = first - history_hours();
            match state.with_store(|s| s.port_hours(Some(since))) {
                Ok(mut histories) => {
                    // Hours before `since` were not read: the series start there.
                    for h in &mut histories {
                        h.first_seen = h.first_seen.max(start_of(since));
                    }
                    metrics.usage_anomaly_ports(
                        histories
                            .iter()
                            .filter(|h| !h.counts.is_empty())
                            .map(|h| h.key),
                    );
                    for hour in again.clone() {
                        recent.keep(judge_hour(&histories, hour));
                    }
                    again = 0..0;
                    for hour in hours.clone() {
                        let found = judge_hour(&histories, hour);
                        for a in &found {
                            raise(a, responder, metrics);
                        }
                        recent.keep(found);
                    }
                    judged.next = hours.end;
                    let last = (hours.end - 1).to_string();
                    if let Err(e) = state.write_private(&judged.file, last.as_bytes()) {
                        tracing::warn!(error = %e, "cannot record the last hour judged for usage anomalies");
                        metrics.count_error("store");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the hourly history; usage anomalies judged later");
                    metrics.count_error("store");
                }
            }
        }
        let until = Instant::now() + TICK;
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The hours judged before `next` whose anomalies are still findings at
/// `now`: at most the last [`FINDING_HOURS`] that have closed and settled.
pub fn rejudge(next: Hour, now: Timestamp, settle: SignedDuration) -> Range<Hour> {
    let end = due(Hour::MIN, now, settle).end;
    (hour_of(now) - FINDING_HOURS).min(next)..next.min(end)
}

/// The hours of history read before the hours judged: what
/// `portreeve_forecast::anomalies` looks back over (two cycles of at most
/// four weeks, and four weeks of baseline) with a day to spare.
fn history_hours() -> Hour {
    (2 * portreeve_forecast::season::RECENT_DAYS as Hour + 1) * 24
}

/// Counts, logs and alerts on `a`.
fn raise(a: &PortAnomaly, responder: &Responder, metrics: &Metrics) {
    let alert = alert(a);
    tracing::warn!(
        port = %a.key,
        kind = alert.kind.as_str(),
        start = %alert.start,
        observed = alert.observed,
        expected_low = alert.expected_low,
        expected_high = alert.expected_high,
        "usage anomaly"
    );
    metrics.count_usage_anomaly(a.key, alert.kind);
    responder.usage_anomaly(alert);
}

#[cfg(test)]
mod tests {
    use portreeve_core::Proto;

    use super::*;

    /// 2026-01-05T00:00Z, a Monday.
    const MONDAY: Hour = 20458 * 24;

    fn tcp(port: u16) -> PortKey {
        PortKey::new(Proto::Tcp, port)
    }

    /// `weeks` of 10 connections an hour from 08:00 to 17:59 every day,
    /// then `extra`, as the store gives it.
    fn working_hours(key: PortKey, weeks: i64, extra: &[(Hour, u64)]) -> PortHours {
        let mut counts: Vec<(Hour, u64)> = (0..weeks * 168)
            .filter(|h| (8..18).contains(&(h % 24)))
            .map(|h| (MONDAY + h, 10))
            .collect();
        counts.extend_from_slice(extra);
        PortHours {
            key,
            first_seen: start_of(MONDAY),
            counts,
        }
    }

    #[test]
    fn a_closed_hour_with_a_burst_or_night_use_is_raised_the_usual_hours_are_not() {
        let end = MONDAY + 3 * 168;
        let burst = end + 12;
        let night = end + 3;
        let histories = [
            working_hours(tcp(8080), 3, &[(night, 2), (end + 8, 10), (burst, 240)]),
            working_hours(tcp(9090), 3, &[(end + 8, 10), (burst, 11)]),
        ];
        let at = |hour| -> Vec<(u16, Hour, portreeve_forecast::AnomalyKind, u64)> {
            judge_hour(&histories, hour)
                .iter()
                .map(|a| {
                    (
                        a.key.port,
                        a.anomaly.hour,
                        a.anomaly.kind,
                        a.anomaly.observed,
                    )
                })
                .collect()
        };
        use portreeve_forecast::AnomalyKind::{Burst, UnusedHour};
        assert_eq!(at(night), [(8080, night, UnusedHour, 2)]);
        assert_eq!(at(end + 8), []);
        assert_eq!(at(burst), [(8080, burst, Burst, 240)]);
        // An hour is judged on what came before it only: the burst to come
        // does not make the night hour before it plausible, nor the other
        // way round.
        let found = judge_hour(&histories, burst);
        assert_eq!(
            found[0].anomaly.expected,
            portreeve_forecast::Expected { low: 10, high: 25 }
        );
        // Before a week of history there is nothing to judge against.
        let young = [working_hours(tcp(7070), 0, &[(MONDAY + 30, 500)])];
        assert_eq!(judge_hour(&young, MONDAY + 30), []);
    }

    #[test]
    fn the_alert_names_port_protocol_hour_count_and_expected_range() {
        let a = PortAnomaly {
            key: PortKey::new(Proto::Udp, 5353),
            anomaly: Anomaly {
                hour: MONDAY + 3,
                observed: 7,
                expected: portreeve_forecast::Expected { low: 0, high: 0 },
                kind: portreeve_forecast::AnomalyKind::UnusedHour,
            },
        };
        assert_eq!(
            alert(&a),
            UsageAnomalyAlert {
                protocol: Proto::Udp,
                port: 5353,
                start: "2026-01-05T03:00:00Z".parse().unwrap(),
                observed: 7,
                expected_low: 0,
                expected_high: 0,
                kind: AnomalyKind::UnusedHour,
            }
        );
    }

    /// A burst on 7070/tcp in the hour from 2026-12-07T09:00Z.
    fn burst_at_nine() -> PortAnomaly {
        PortAnomaly {
            key: tcp(7070),
            anomaly: Anomaly {
                hour: hour_of("2026-12-07T09:00:00Z".parse().unwrap()),
                observed: 480,
                expected: portreeve_forecast::Expected { low: 0, high: 12 },
                kind: portreeve_forecast::AnomalyKind::Burst,
            },
        }
    }

    #[test]
    fn an_anomaly_is_a_pr024_finding_keyed_by_port_and_hour() {
        let burst = burst_at_nine();
        let f = finding(&burst);
        assert_eq!(f.kind.code(), "PR024");
        // printf 'PR024\0%s' 'anomaly|tcp|7070|2026-12-07T09:00:00Z' | sha256sum | cut -c1-16
        assert_eq!(f.fingerprint, "59870faa4d9d52bf");
        assert_eq!(f.severity, Severity::Medium);
        assert_eq!(
            f.message,
            "7070/tcp: 480 connections in the hour from 2026-12-07T09:00:00Z, expected 0–12 (burst)"
        );
        assert_eq!(
            f.evidence[..2],
            [
                "480 connections from 2026-12-07T09:00:00Z to 2026-12-07T10:00:00Z",
                "expected 0–12 from the port's hourly history",
            ]
        );
        assert!(f.evidence[2].starts_with("burst: "), "{:?}", f.evidence);
        assert!(f.socket.is_none() && f.resource.is_none() && f.rule.is_none());
        assert!(!f.rationale.is_empty() && !f.remediation.is_empty());

        // Another hour of the same port is another finding; a use at an
        // hour never used is a low one.
        let mut night = burst.clone();
        night.anomaly.hour -= 6;
        night.anomaly.observed = 1;
        night.anomaly.kind = portreeve_forecast::AnomalyKind::UnusedHour;
        let g = finding(&night);
        assert_ne!(g.fingerprint, f.fingerprint);
        assert_eq!(g.severity, Severity::Low);
        assert_eq!(
            g.message,
            "7070/tcp: 1 connection in the hour from 2026-12-07T03:00:00Z, expected 0–12 (unused-hour)"
        );
        let mut quiet = burst.clone();
        quiet.anomaly.kind = portreeve_forecast::AnomalyKind::QuietPortBusy;
        assert_eq!(finding(&quiet).severity, Severity::Medium);
    }

    #[test]
    fn anomalies_stay_findings_for_a_day_once_each() {
        let recent = Recent::default();
        let burst = burst_at_nine();
        recent.keep(vec![burst.clone()]);
        recent.keep(vec![burst.clone()]);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let fingerprints = |now| -> Vec<String> {
            recent
                .findings(at(now))
                .into_iter()
                .map(|f| f.fingerprint)
                .collect()
        };
        assert_eq!(fingerprints("2026-12-07T10:00:06Z"), ["59870faa4d9d52bf"]);
        // The hour closed at 10:00; it stays through the next day's 09:59.
        assert_eq!(fingerprints("2026-12-08T09:59:59Z"), ["59870faa4d9d52bf"]);
        assert!(fingerprints("2026-12-08T10:00:00Z").is_empty());
        // Forgotten, not hidden: an earlier `now` does not bring it back.
        assert!(fingerprints("2026-12-07T10:00:06Z").is_empty());
    }

    #[test]
    fn a_restart_judges_again_the_last_day_it_had_judged() {
        let settle = settle(Duration::from_secs(1));
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let now = at("2026-12-07T11:30:00Z");
        let eleven = hour_of(now);
        // Stopped after judging 10:00: the day up to it again.
        assert_eq!(rejudge(eleven, now, settle), eleven - 24..eleven);
        // Stopped two hours earlier: up to 08:00; 09:00 and 10:00 are due.
        assert_eq!(rejudge(eleven - 2, now, settle), eleven - 24..eleven - 2);
        assert_eq!(due(eleven - 2, now, settle), eleven - 2..eleven);
        // Stopped for more than a day: nothing again.
        assert!(rejudge(eleven - 30, now, settle).is_empty());
    }

    #[test]
    fn a_series_starts_at_the_first_sighting_and_ends_before_the_hour_given() {
        let hours = PortHours {
            key: tcp(22),
            first_seen: start_of(100) + SignedDuration::from_mins(30),
            counts: vec![(102, 3), (105, 1)],
        };
        let s = series_until(&hours, 105).unwrap();
        assert_eq!((s.first(), s.end()), (100, 105));
        assert_eq!((s.count(101), s.count(102), s.count(105)), (0, 3, 0));
        assert_eq!(series_until(&hours, 100), None);
    }

    #[test]
    fn hours_are_due_once_settled_at_most_a_day_at_once() {
        let settle = settle(Duration::from_secs(1));
        assert_eq!(settle, SignedDuration::from_secs(6));
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let ten = hour_of(at("2026-12-07T10:00:00Z"));
        // 11:00:05: hour 10 closed 5 s ago, not settled yet.
        assert_eq!(due(ten, at("2026-12-07T11:00:05Z"), settle), ten..ten);
        assert_eq!(due(ten, at("2026-12-07T11:00:06Z"), settle), ten..ten + 1);
        // Three days later: the last day only.
        let later = at("2026-12-10T11:00:06Z");
        assert_eq!(due(ten, later, settle), ten + 72 - 23..ten + 73);
        // A clock stepped back: nothing.
        assert!(due(ten, at("2026-12-07T09:00:00Z"), settle).is_empty());
    }
}

//! The fleet's report as one self-contained HTML page, made with the same
//! skeleton, escaping, tables and colours as a host's ([`super::page`]):
//! inline CSS and SVG, no script, no font, no URL, so it opens offline and
//! prints to PDF alike. Everything in it came from the server, which got
//! most of it from hosts' pushes — host names, process names, messages,
//! reasons are whatever a host or an operator sent — and goes through
//! [`escape`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use portreeve_core::Severity;
use portreeve_server::hosts::{HostSummary, SeverityCounts};
use portreeve_store::DriftKind;

use super::fleet::{DayFindings, FleetReport, KeySource};
use super::page::{
    self, STATES, close_document, escape, figure, open_document, severity_badge, severity_colour,
    state_colour, status_text, table,
};
use super::svg::{self, Bar, Row, Segment};

/// A host that has not pushed for longer than this is shown as stale:
/// agents push at least every `push_interval` (10 s by default), so
/// fifteen minutes of silence is an agent stopped, a host down or a
/// network cut, not a slow push.
const STALE_AFTER: SignedDuration = SignedDuration::from_mins(15);

/// The most hosts the findings chart draws (those with the gravest
/// findings); the hosts table lists them all.
const CHART_HOSTS: usize = 20;

/// The most days the new-listeners chart draws (the latest).
const CHART_DAYS: usize = 60;

/// The fleet's report as one self-contained HTML document.
pub fn fleet_html(report: &FleetReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    open_document(
        &mut out,
        &format!("portreeve fleet report: {}", report.server),
    );
    let _ = write!(
        out,
        "<h1>Fleet report: <span id=\"server\">{server}</span></h1>\
         <p class=\"meta\">Generated {at} by portreeve {version} from the server's read API; \
         period {period}.</p>",
        server = escape(&report.server),
        at = escape(&report.generated_at),
        version = escape(report.portreeve_version),
        period = page::period_text(&report.period),
    );
    summary(&mut out, report);
    charts(&mut out, report);
    hosts(&mut out, report);
    inventory(&mut out, report);
    findings(&mut out, report);
    lifecycle(&mut out, report);
    drift(&mut out, report);
    grants(&mut out, report);
    blocks(&mut out, report);
    policies(&mut out, report);
    ledger(&mut out, report);
    controls(&mut out, report);
    notes(&mut out, &report.notes);
    close_document(&mut out);
    out
}

/// A host's standing at `now`, in the words of the hosts table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Revoked,
    NeverPushed,
    Stale,
    Recent,
}

impl Standing {
    fn of(host: &HostSummary, now: Timestamp) -> Standing {
        if host.revoked {
            return Standing::Revoked;
        }
        match host.last_seen.as_deref().map(str::parse::<Timestamp>) {
            None => Standing::NeverPushed,
            // A time the server wrote that does not parse is no proof of life.
            Some(Err(_)) => Standing::Stale,
            Some(Ok(seen)) if now.duration_since(seen) > STALE_AFTER => Standing::Stale,
            Some(Ok(_)) => Standing::Recent,
        }
    }

    fn html(self) -> &'static str {
        match self {
            Standing::Revoked => "<span class=\"bad\">revoked</span>",
            Standing::NeverPushed => "<span class=\"bad\">never pushed</span>",
            Standing::Stale => "<span class=\"bad\">stale</span>",
            Standing::Recent => "<span class=\"ok\">seen recently</span>",
        }
    }
}

/// The count of `severity` in `counts`.
fn count_of(counts: &SeverityCounts, severity: Severity) -> u64 {
    match severity {
        Severity::Critical => counts.critical,
        Severity::High => counts.high,
        Severity::Medium => counts.medium,
        Severity::Low => counts.low,
        Severity::Info => counts.info,
    }
}

/// The severities, gravest first.
fn gravest_first() -> impl Iterator<Item = Severity> {
    Severity::ALL.into_iter().rev()
}

fn summary(out: &mut String, report: &FleetReport) {
    let now = report.period.until;
    let standings: Vec<Standing> = report.hosts.iter().map(|h| Standing::of(h, now)).collect();
    let with = |s: Standing| standings.iter().filter(|&&x| x == s).count();
    let mut totals = SeverityCounts::default();
    for h in &report.hosts {
        let c = &h.findings_by_severity;
        totals.critical += c.critical;
        totals.high += c.high;
        totals.medium += c.medium;
        totals.low += c.low;
        totals.info += c.info;
    }
    let assigned = report
        .hosts
        .iter()
        .filter(|h| h.policy.assigned.is_some())
        .count();
    let applied = report
        .hosts
        .iter()
        .filter(|h| {
            h.policy
                .applied
                .as_ref()
                .is_some_and(|a| a.state == "applied" || a.state == "confirmed")
        })
        .count();
    // One card for the findings, their severities as badges under the total.
    let by_severity: Vec<String> = gravest_first()
        .map(|s| format!("{} {}", count_of(&totals, s), severity_badge(s)))
        .collect();
    let _ = write!(
        out,
        "<h2>Summary</h2><div class=\"cards\" id=\"summary\">\
         <div class=\"card\"><b>{}</b>hosts enrolled</div>\
         <div class=\"card\"><b>{}</b>seen in the last {} min</div>\
         <div class=\"card\"><b>{}</b>stale or never pushed</div>\
         <div class=\"card\"><b>{}</b>revoked</div>\
         <div class=\"card\" id=\"summary-findings\"><b>{}</b>open findings<br>{}</div>\
         <div class=\"card\"><b>{assigned}</b>assigned a fleet policy, {applied} applied it</div>\
         <div class=\"card\"><b>{}</b>server ledger entries in the period</div>\
         <div class=\"card\">{}server ledger</div></div>",
        report.hosts.len(),
        with(Standing::Recent),
        STALE_AFTER.as_mins(),
        with(Standing::Stale) + with(Standing::NeverPushed),
        with(Standing::Revoked),
        totals.total(),
        by_severity.join(" "),
        report.ledger.entries.len(),
        page::verification_badge(Some(&report.ledger.verification)),
    );
}

fn charts(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Charts</h2><div class=\"charts\">");
    host_findings_chart(out, report);
    findings_over_time_chart(out, report);

    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &report.lifecycle {
        *counts.entry(p.state.as_str()).or_default() += 1;
    }
    let states: Vec<Bar> = STATES
        .into_iter()
        .map(|state| Bar {
            label: state,
            value: counts.get(state).copied().unwrap_or(0),
            colour: state_colour(state),
        })
        .collect();
    figure(
        out,
        "Ports by lifecycle state, across the fleet",
        &svg::bars(
            "chart-lifecycle",
            "Ports by lifecycle state across the fleet",
            &states,
        ),
    );

    new_listeners_chart(out, report);
    out.push_str("</div>");
}

/// Findings by severity per host, stacked, the gravest hosts first.
fn host_findings_chart(out: &mut String, report: &FleetReport) {
    let mut hosts: Vec<&HostSummary> = report
        .hosts
        .iter()
        .filter(|h| h.findings_by_severity.total() > 0)
        .collect();
    if hosts.is_empty() {
        out.push_str(
            "<figure><figcaption>Findings by severity per host</figcaption>\
             <p>No host has an open finding.</p></figure>",
        );
        return;
    }
    // Gravest first: by critical, then high, … then by name.
    hosts.sort_by(|a, b| {
        let key = |h: &HostSummary| {
            gravest_first()
                .map(|s| std::cmp::Reverse(count_of(&h.findings_by_severity, s)))
                .collect::<Vec<_>>()
        };
        key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
    let shown = hosts.len().min(CHART_HOSTS);
    let rows: Vec<Row> = hosts[..shown]
        .iter()
        .map(|h| Row {
            label: &h.name,
            segments: gravest_first()
                .filter_map(|s| {
                    let n = count_of(&h.findings_by_severity, s);
                    (n > 0).then(|| Segment {
                        value: n,
                        colour: severity_colour(s),
                        title: format!("{}: {n} {s}", h.name),
                    })
                })
                .collect(),
        })
        .collect();
    let names: Vec<String> = gravest_first().map(|s| s.to_string()).collect();
    let legend: Vec<(&str, &str)> = gravest_first()
        .zip(&names)
        .map(|(s, name)| (name.as_str(), severity_colour(s)))
        .collect();
    let caption = if shown < hosts.len() {
        format!(
            "Findings by severity per host (the {shown} gravest of {})",
            hosts.len()
        )
    } else {
        "Findings by severity per host".to_owned()
    };
    figure(
        out,
        &caption,
        &svg::stacked_bars(
            "chart-host-findings",
            "Open findings by severity per host",
            &rows,
            &legend,
        ),
    );
}

/// The fleet's open findings at the end of each day, stacked by severity
/// (the gravest at the bottom), the last [`CHART_DAYS`] days.
fn findings_over_time_chart(out: &mut String, report: &FleetReport) {
    let days = &report.findings_over_time;
    if days.is_empty() {
        out.push_str(
            "<figure><figcaption>Findings over time</figcaption>\
             <p>The server has no history of the fleet's findings.</p></figure>",
        );
        return;
    }
    let shown = &days[days.len().saturating_sub(CHART_DAYS)..];
    let stacks: Vec<Vec<Segment>> = shown
        .iter()
        .map(|d| {
            gravest_first()
                .filter_map(|s| {
                    let n = count_of(&d.counts, s);
                    (n > 0).then(|| Segment {
                        value: n,
                        colour: severity_colour(s),
                        title: format!("{}: {n} {s}", d.day),
                    })
                })
                .collect()
        })
        .collect();
    let day = |d: Option<&DayFindings>| d.map(|d| d.day.clone()).unwrap_or_default();
    figure(
        out,
        &if shown.len() < days.len() {
            format!("Findings over time (the last {CHART_DAYS} days)")
        } else {
            "Findings over time".to_owned()
        },
        &svg::columns(
            "chart-findings-over-time",
            "Open findings by severity at the end of each day across the fleet",
            &stacks,
            &day(shown.first()),
            &day(shown.last()),
        ),
    );
}

/// New listeners per day of the period (UTC): the drift events an agent
/// pushes when a socket starts listening.
fn new_listeners_chart(out: &mut String, report: &FleetReport) {
    let day = |t: Timestamp| TimeZone::UTC.to_datetime(t).date();
    let appeared = DriftKind::NewListener.as_str();
    let mut per_day: BTreeMap<Date, u64> = BTreeMap::new();
    for event in report.drift.iter().filter(|d| d.kind == appeared) {
        if let Ok(at) = event.at.parse::<Timestamp>() {
            *per_day.entry(day(at)).or_default() += 1;
        }
    }
    let Some((&first_event, _)) = per_day.first_key_value() else {
        out.push_str(
            "<figure><figcaption>New listeners per day</figcaption>\
             <p>No listener appeared on any host in the period.</p></figure>",
        );
        return;
    };
    let last = day(report.period.until).max(*per_day.keys().last().unwrap_or(&first_event));
    let first = report
        .period
        .since
        .map_or(first_event, day)
        .min(first_event);
    let mut days = Vec::new();
    let mut d = first;
    while d <= last {
        days.push(d);
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    let cut = days.len() > CHART_DAYS;
    let days = &days[days.len().saturating_sub(CHART_DAYS)..];
    let stacks: Vec<Vec<Segment>> = days
        .iter()
        .map(|d| {
            let n = per_day.get(d).copied().unwrap_or(0);
            if n == 0 {
                return Vec::new();
            }
            vec![Segment {
                value: n,
                colour: "#1565c0",
                title: format!("{d}: {n} new"),
            }]
        })
        .collect();
    let label = |d: Option<&Date>| d.map(Date::to_string).unwrap_or_default();
    figure(
        out,
        &if cut {
            format!("New listeners per day (the last {CHART_DAYS} days)")
        } else {
            "New listeners per day".to_owned()
        },
        &svg::columns(
            "chart-new-listeners",
            "New listeners per day across the fleet",
            &stacks,
            &label(days.first()),
            &label(days.last()),
        ),
    );
}

fn hosts(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Hosts</h2>");
    if report.hosts.is_empty() {
        out.push_str("<p id=\"hosts\">No host is enrolled.</p>");
        return;
    }
    let now = report.period.until;
    let rows: Vec<Vec<String>> = report
        .hosts
        .iter()
        .map(|h| {
            let mut standing = Standing::of(h, now).html().to_owned();
            if h.ledger_inconsistent {
                standing.push_str("<br><span class=\"bad\">ledger inconsistent</span>");
            }
            let findings: Vec<String> = gravest_first()
                .filter_map(|s| {
                    let n = count_of(&h.findings_by_severity, s);
                    (n > 0).then(|| format!("{n} {}", severity_badge(s)))
                })
                .collect();
            let assigned = h
                .policy
                .assigned
                .as_ref()
                .map(|a| escape(&format!("{} v{}", a.name, a.version)))
                .unwrap_or_else(|| "none".into());
            let applied = h
                .policy
                .applied
                .as_ref()
                .map(|a| {
                    let mut s = escape(&format!(
                        "{} v{}: {} {}",
                        a.name,
                        a.version,
                        a.state,
                        a.at.strftime("%Y-%m-%d %H:%M")
                    ));
                    if let Some(m) = &a.message {
                        let _ = write!(s, " ({})", escape(m));
                    }
                    s
                })
                .unwrap_or_else(|| "none reported".into());
            vec![
                escape(&h.name),
                format!("<code>{}</code>", escape(&h.id)),
                escape(h.last_seen.as_deref().unwrap_or("never")),
                standing,
                h.listeners.len().to_string(),
                if findings.is_empty() {
                    "none".into()
                } else {
                    findings.join(" ")
                },
                assigned,
                applied,
            ]
        })
        .collect();
    table(
        out,
        "hosts",
        &[
            "Host",
            "Id",
            "Last push",
            "Standing",
            "Listeners",
            "Findings",
            "Policy assigned",
            "Policy applied",
        ],
        &rows,
    );
}

fn inventory(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Inventory</h2>");
    let rows: Vec<Vec<String>> = report
        .hosts
        .iter()
        .flat_map(|h| {
            h.listeners.iter().map(|l| {
                vec![
                    escape(&h.name),
                    escape(&format!("{}/{}", l.port, l.protocol)),
                    escape(&l.address),
                    escape(l.process.as_deref().unwrap_or("unknown")),
                    escape(l.container.as_deref().unwrap_or("")),
                ]
            })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("<p id=\"listeners\">No host pushed a listener.</p>");
        return;
    }
    out.push_str("<p>Each host's listeners as of its last push.</p>");
    table(
        out,
        "listeners",
        &["Host", "Port", "Address", "Process", "Container"],
        &rows,
    );
}

fn findings(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<p id=\"findings\">No host has an open finding.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            let x = &f.finding;
            let severity = match x.severity.parse::<Severity>() {
                Ok(s) => severity_badge(s),
                Err(_) => escape(&x.severity),
            };
            let kind = match f.name {
                Some(name) => format!("{} <code>{}</code>", escape(&x.code), escape(name)),
                None => escape(&x.code),
            };
            let docs = match &f.docs {
                Some(d) => format!("<code>{}</code>", escape(d)),
                None => "a kind this portreeve does not know".into(),
            };
            // The agent's own words first, when it pushed them.
            let docs = match &x.remediation {
                Some(r) => format!("{}<br>{docs}", escape(r)),
                None => docs,
            };
            vec![
                severity,
                escape(&x.host.host_name),
                kind,
                x.port.map(|p| p.to_string()).unwrap_or_default(),
                escape(&x.message),
                docs,
            ]
        })
        .collect();
    table(
        out,
        "findings",
        &["Severity", "Host", "Kind", "Port", "Finding", "Remediation"],
        &rows,
    );
}

fn lifecycle(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Lifecycle</h2>");
    if report.lifecycle.is_empty() {
        out.push_str("<p id=\"lifecycle\">No host pushed its ports' lifecycle.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .lifecycle
        .iter()
        .map(|p| {
            vec![
                escape(&p.host.host_name),
                escape(&format!("{}/{}", p.port, p.protocol)),
                format!(
                    "<span style=\"color:{}\">{}</span>",
                    state_colour(&p.state),
                    escape(&p.state)
                ),
                escape(p.last_used.as_deref().unwrap_or("never seen")),
            ]
        })
        .collect();
    table(
        out,
        "lifecycle",
        &["Host", "Port", "State", "Last used"],
        &rows,
    );
}

fn drift(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Drift in the period</h2>");
    if report.drift.is_empty() {
        out.push_str("<p id=\"drift\">No listener appeared or went away in the period.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .drift
        .iter()
        .map(|d| {
            vec![
                escape(&d.at),
                escape(&d.host.host_name),
                escape(&d.kind),
                escape(&format!("{}/{}", d.port, d.protocol)),
                escape(&d.address),
                escape(d.process.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(
        out,
        "drift",
        &["Time", "Host", "Event", "Port", "Address", "Process"],
        &rows,
    );
}

fn grants(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Grants held</h2>");
    if report.grants.is_empty() {
        out.push_str("<p id=\"grants\">No host holds a grant.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .grants
        .iter()
        .map(|g| {
            vec![
                escape(&g.host.host_name),
                escape(&g.source),
                escape(&format!("{}/{}", g.port, g.protocol)),
                escape(&g.expires),
                escape(g.actor.as_deref().unwrap_or("")),
                escape(g.rule.as_deref().unwrap_or("")),
                escape(g.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(
        out,
        "grants",
        &["Host", "Source", "Port", "Expires", "By", "Rule", "Reason"],
        &rows,
    );
}

fn blocks(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Blocks held</h2>");
    if report.blocks.is_empty() {
        out.push_str("<p id=\"blocks\">No host holds a block.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .blocks
        .iter()
        .map(|b| {
            vec![
                escape(&b.host.host_name),
                escape(&b.source),
                if b.automatic {
                    "scan detection"
                } else {
                    "an operator"
                }
                .into(),
                escape(&b.until),
                escape(b.actor.as_deref().unwrap_or("")),
                escape(b.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    table(
        out,
        "blocks",
        &["Host", "Source", "Blocked by", "Until", "Actor", "Reason"],
        &rows,
    );
}

fn policies(out: &mut String, report: &FleetReport) {
    out.push_str("<h2>Fleet policies</h2>");
    let p = &report.policies;
    if p.versions.is_empty() {
        out.push_str("<p id=\"policies\">No fleet policy was proposed.</p>");
    } else {
        let rows: Vec<Vec<String>> = p
            .versions
            .iter()
            .map(|v| {
                let approvals: Vec<String> = v
                    .approvals
                    .iter()
                    .map(|a| escape(&format!("{} at {}: {}", a.by, a.at, a.reason)))
                    .collect();
                vec![
                    escape(&v.name),
                    v.version.to_string(),
                    format!("<code>{}</code>", escape(&v.sha256)),
                    escape(&format!("{} at {}: {}", v.proposer, v.created_at, v.reason)),
                    if approvals.is_empty() {
                        "none".into()
                    } else {
                        approvals.join("<br>")
                    },
                    match (v.approved, v.signature.is_some()) {
                        (true, true) => "<span class=\"ok\">approved, signed</span>",
                        (true, false) => "<span class=\"ok\">approved</span>",
                        (false, _) => "<span class=\"bad\">awaiting approval</span>",
                    }
                    .into(),
                ]
            })
            .collect();
        table(
            out,
            "policies",
            &[
                "Policy",
                "Version",
                "Digest",
                "Proposed",
                "Approvals",
                "Standing",
            ],
            &rows,
        );
    }
    out.push_str("<h3>Assignments</h3>");
    if p.assignments.is_empty() {
        out.push_str("<p id=\"assignments\">No policy is assigned to a host or group.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = p
        .assignments
        .iter()
        .map(|a| {
            vec![
                escape(&format!("{} {}", a.target_kind, a.target)),
                escape(&a.policy),
                a.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "latest approved".into()),
                escape(&a.assigned_at),
                escape(&a.assigned_by),
            ]
        })
        .collect();
    table(
        out,
        "assignments",
        &["Assigned to", "Policy", "Version", "At", "By"],
        &rows,
    );
}

fn ledger(out: &mut String, report: &FleetReport) {
    let l = &report.ledger;
    out.push_str("<h2>The server's ledger</h2><p id=\"ledger-status\">");
    page::verification(out, &l.verification);
    let _ = write!(
        out,
        "</p><p id=\"ledger-key\">Checked with the log key <code>{}</code>, {}.</p>",
        escape(&l.key),
        match l.key_source {
            KeySource::Operator => "given by the operator (<code>--log-key</code>)",
            KeySource::Server => {
                "as the server states it: this shows the ledger intact as served, not that \
                 it is the server's (give <code>--log-key</code> for that)"
            }
        }
    );
    let _ = write!(
        out,
        "<p>{} of {} entries fall in the period.</p>",
        l.entries.len(),
        l.total_entries
    );
    if !l.entries.is_empty() {
        table(
            out,
            "ledger",
            &page::ENTRY_HEAD,
            &page::entry_rows(&l.entries),
        );
    }
}

/// What the report could not cover, last: most are the standing caveats
/// of a report built from what hosts push, alike in every fleet report, and
/// at the top they would push the facts below the fold.
fn notes(out: &mut String, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    out.push_str("<h2>Notes</h2><div id=\"notes\">");
    page::notes(out, notes);
    out.push_str("</div>");
}

fn controls(out: &mut String, report: &FleetReport) {
    let (Some(framework), Some(controls)) = (report.framework, &report.controls) else {
        return;
    };
    let _ = write!(
        out,
        "<h2>Controls: {} ({})</h2>",
        escape(framework.as_str()),
        escape(framework.document())
    );
    if controls.is_empty() {
        out.push_str("<p id=\"controls\">No host could be judged: none has pushed its state.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = controls
        .iter()
        .map(|c| {
            let hosts: Vec<String> = c
                .hosts
                .iter()
                .map(|h| format!("{}: {}", escape(&h.host_name), status_text(h.status)))
                .collect();
            vec![
                escape(&c.id),
                escape(&c.title),
                status_text(c.status),
                escape(&c.evidence.join("\n")).replace('\n', "<br>"),
                hosts.join("<br>"),
                escape(&c.source),
            ]
        })
        .collect();
    table(
        out,
        "controls",
        &[
            "Control",
            "What it asks",
            "Fleet",
            "Evidence",
            "Each host",
            "Source",
        ],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use portreeve_server::hosts::Listener;
    use portreeve_server::policy::{Approval, Assignment, PolicyVersion};
    use portreeve_server::{FleetDrift, FleetFinding, FleetPort, HostRef};

    use super::*;
    use crate::report::fleet::{FleetLedger, FleetPolicies, ReportedFinding};
    use crate::report::{Period, Verification};

    const HOSTILE: &str = "<script>alert(1)</script>";
    const ATTRIBUTE: &str = "\"onload=\"alert(2)";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn host(name: &str, id: &str, last_seen: Option<&str>, counts: SeverityCounts) -> HostSummary {
        HostSummary {
            id: id.into(),
            name: name.into(),
            last_seen: last_seen.map(Into::into),
            enrolled_at: "2026-12-01T00:00:00Z".into(),
            revoked: false,
            ledger_inconsistent: false,
            listeners: vec![Listener {
                port: 8080,
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                process: Some(ATTRIBUTE.into()),
                container: Some(HOSTILE.into()),
            }],
            findings_by_severity: counts,
            policy: Default::default(),
        }
    }

    fn href(id: &str, name: &str) -> HostRef {
        HostRef {
            host_id: id.into(),
            host_name: name.into(),
        }
    }

    /// Two hosts, one of them named to break out of the page, both seen
    /// an hour ago (stale) and a minute ago (recent); a finding, a port,
    /// a drift event, a policy and an entry, each carrying hostile text.
    fn sample() -> FleetReport {
        let mut web = host(
            "web-1",
            "aa",
            Some("2026-12-07T11:59:00Z"),
            SeverityCounts {
                high: 2,
                low: 1,
                ..Default::default()
            },
        );
        // The protocol's type, as the server's answer carries it.
        web.policy = serde_json::from_value(serde_json::json!({
            "assigned": {"name": "base", "version": 2},
            "applied": {
                "name": "base", "version": 2, "sha256": "sha256:00", "generation": 3,
                "state": "applied", "message": null, "at": "2026-12-07T10:00:00Z"
            }
        }))
        .unwrap();
        let evil = host(
            HOSTILE,
            "bb",
            Some("2026-12-07T11:00:00Z"),
            SeverityCounts {
                critical: 1,
                ..Default::default()
            },
        );
        let entry = portreeve_ledger::Draft::new("policy-approve", HOSTILE, ATTRIBUTE).into_entry(
            0,
            "server",
            at("2026-12-07T09:00:00Z"),
        );
        FleetReport {
            kind: super::super::fleet::FLEET_KIND,
            schema_version: 1,
            portreeve_version: "0.0.0",
            host: "auditor-laptop".into(),
            server: "http://10.1.0.1:8443".into(),
            generated_at: "2026-12-07T12:00:00Z".into(),
            period: Period {
                since: Some(at("2026-12-05T00:00:00Z")),
                until: at("2026-12-07T12:00:00Z"),
            },
            hosts: vec![web, evil],
            findings_over_time: vec![
                DayFindings {
                    day: "2026-12-06".into(),
                    counts: SeverityCounts {
                        high: 2,
                        ..Default::default()
                    },
                },
                DayFindings {
                    day: "2026-12-07".into(),
                    counts: SeverityCounts {
                        critical: 1,
                        high: 2,
                        low: 1,
                        ..Default::default()
                    },
                },
            ],
            findings: vec![ReportedFinding {
                finding: FleetFinding {
                    host: href("bb", HOSTILE),
                    code: "PR001".into(),
                    severity: "critical".into(),
                    port: Some(8080),
                    message: ATTRIBUTE.into(),
                    remediation: Some(HOSTILE.into()),
                },
                name: Some("listener-not-allowed"),
                docs: Some("docs/findings.md#pr001-listener-not-allowed".into()),
            }],
            lifecycle: vec![FleetPort {
                host: href("bb", HOSTILE),
                port: 8080,
                protocol: "tcp".into(),
                state: "dormant".into(),
                last_used: None,
            }],
            drift: vec![
                FleetDrift {
                    host: href("bb", HOSTILE),
                    at: "2026-12-06T08:00:00Z".into(),
                    kind: "new_listener".into(),
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: 8080,
                    process: Some(HOSTILE.into()),
                },
                FleetDrift {
                    host: href("aa", "web-1"),
                    at: "2026-12-06T09:00:00Z".into(),
                    kind: "new_listener".into(),
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: 8080,
                    process: None,
                },
            ],
            grants: vec![],
            blocks: vec![],
            policies: FleetPolicies {
                versions: vec![PolicyVersion {
                    name: HOSTILE.into(),
                    version: 1,
                    sha256: "sha256:00".into(),
                    proposer: "alice".into(),
                    reason: ATTRIBUTE.into(),
                    created_at: "2026-12-07T08:00:00Z".into(),
                    approvals: vec![Approval {
                        by: "bob".into(),
                        at: "2026-12-07T08:30:00Z".into(),
                        reason: HOSTILE.into(),
                    }],
                    approved: true,
                    signature: Some("c2ln".into()),
                    text: None,
                }],
                assignments: vec![Assignment {
                    target_kind: "host".into(),
                    target: HOSTILE.into(),
                    policy: "base".into(),
                    version: None,
                    assigned_at: "2026-12-07T09:00:00Z".into(),
                    assigned_by: "alice".into(),
                }],
            },
            ledger: FleetLedger {
                verification: Verification {
                    verified: true,
                    entries: Some(1),
                    checkpoints: Some(1),
                    unsigned_tail: Some(0),
                    attested: Some(0),
                    problem: None,
                },
                key: "server+0+AAAA".into(),
                key_source: KeySource::Server,
                total_entries: 1,
                entries: vec![entry],
            },
            notes: vec![HOSTILE.into()],
            framework: None,
            controls: None,
        }
    }

    #[test]
    fn hostile_host_and_process_names_stay_text() {
        let page = fleet_html(&sample());
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("\"onload"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;onload=&quot;alert(2)"));
        // In the chart's labels too.
        let chart = &page[page.find("id=\"chart-host-findings\"").unwrap()..];
        assert!(chart.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn the_page_fetches_nothing() {
        let page = fleet_html(&sample());
        for needle in ["href=", "src=", "url(", "@import", "https://"] {
            assert!(!page.contains(needle), "{needle} in {page}");
        }
        // The server's address is text, in the title and the heading only.
        assert_eq!(page.matches("http://").count(), 2, "{page}");
        assert!(page.contains("<span id=\"server\">http://10.1.0.1:8443</span>"));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn the_summary_counts_hosts_findings_and_policies() {
        let page = fleet_html(&sample());
        let summary = &page[page.find("id=\"summary\"").unwrap()..page.find("<h2>Charts").unwrap()];
        // web-1 pushed a minute before the report, the other an hour.
        assert!(summary.contains("<b>2</b>hosts enrolled"), "{summary}");
        assert!(
            summary.contains("<b>1</b>seen in the last 15 min"),
            "{summary}"
        );
        assert!(
            summary.contains("<b>1</b>stale or never pushed"),
            "{summary}"
        );
        assert!(summary.contains("<b>4</b>open findings"), "{summary}");
        assert!(
            summary.contains("1 <span class=\"sev\" style=\"background:#7b1fa2\">critical</span>"),
            "{summary}"
        );
        assert!(
            summary.contains("<b>1</b>assigned a fleet policy, 1 applied it"),
            "{summary}"
        );
        assert!(summary.contains("<b class=\"ok\">verified</b>server ledger"));
    }

    #[test]
    fn the_charts_draw_each_host_state_and_day() {
        let page = fleet_html(&sample());
        for id in [
            "chart-host-findings",
            "chart-findings-over-time",
            "chart-lifecycle",
            "chart-new-listeners",
        ] {
            assert_eq!(
                page.matches(&format!("<svg id=\"{id}\"")).count(),
                1,
                "{id}"
            );
        }
        // The gravest host first: the one with a critical finding.
        let chart = &page[page.find("id=\"chart-host-findings\"").unwrap()..];
        assert!(chart.find("&lt;script&gt;").unwrap() < chart.find("web-1").unwrap());
        // Both appeared on the 6th; the period runs from the 5th to the 7th.
        let days = &page[page.find("id=\"chart-new-listeners\"").unwrap()..];
        assert!(days.contains("<title>2026-12-06: 2 new</title>"), "{days}");
        assert!(days.contains(">2026-12-05</text>") && days.contains(">2026-12-07</text>"));
        // Each day's findings stacked by severity, the days under them.
        let over_time = &page[page.find("id=\"chart-findings-over-time\"").unwrap()..];
        let over_time = &over_time[..over_time.find("</svg>").unwrap()];
        for title in [
            "2026-12-06: 2 high",
            "2026-12-07: 1 critical",
            "2026-12-07: 1 low",
        ] {
            assert!(
                over_time.contains(&format!("<title>{title}</title>")),
                "{over_time}"
            );
        }
        assert!(!over_time.contains("2026-12-06: 0"), "{over_time}");
        assert!(
            over_time.contains(">2026-12-06</text>") && over_time.contains(">2026-12-07</text>")
        );
    }

    #[test]
    fn the_pushed_remediation_and_container_are_shown_as_text() {
        let page = fleet_html(&sample());
        let findings = &page[page.find("id=\"findings\"").unwrap()..];
        assert!(
            findings
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;<br><code>docs/findings.md#pr001"),
            "{findings}"
        );
        let inventory = &page[page.find("id=\"listeners\"").unwrap()..];
        let inventory = &inventory[..inventory.find("</table>").unwrap()];
        assert!(inventory.contains("<th>Container</th>"), "{inventory}");
        assert_eq!(
            inventory.matches("&lt;script&gt;alert(1)").count(),
            3,
            "{inventory}"
        );
    }

    #[test]
    fn an_empty_fleet_says_so() {
        let mut report = sample();
        report.hosts.clear();
        report.findings.clear();
        report.findings_over_time.clear();
        report.lifecycle.clear();
        report.drift.clear();
        report.policies.versions.clear();
        report.policies.assignments.clear();
        report.ledger.entries.clear();
        report.ledger.verification.verified = false;
        report.ledger.verification.problem = Some(HOSTILE.into());
        let page = fleet_html(&report);
        for text in [
            "No host is enrolled.",
            "No host pushed a listener.",
            "No host has an open finding.",
            "The server has no history of the fleet's findings.",
            "No listener appeared or went away in the period.",
            "No fleet policy was proposed.",
            "<b class=\"bad\">Verification FAILED</b>: &lt;script&gt;",
        ] {
            assert!(page.contains(text), "no {text:?} in {page}");
        }
        assert!(!page.contains("<script"));
    }

    #[test]
    fn controls_show_the_fleets_status_and_each_hosts() {
        use crate::compliance::{Framework, Status};
        use crate::report::fleet::{FleetControl, HostControl};
        let mut report = sample();
        let judged = |name: &str, status| HostControl {
            host_id: name.into(),
            host_name: name.into(),
            status,
            evidence: vec![],
        };
        report.framework = Some(Framework::PciDss);
        report.controls = Some(vec![FleetControl {
            id: "1.2.5".into(),
            title: "Ports identified".into(),
            source: "PCI DSS v4.0".into(),
            status: Status::Fail,
            evidence: vec![format!("fails on 1 of 2 hosts: {HOSTILE}")],
            hosts: vec![judged("web-1", Status::Pass), judged(HOSTILE, Status::Fail)],
        }]);
        let page = fleet_html(&report);
        let controls = &page[page.find("<table id=\"controls\">").unwrap()..];
        let row = &controls[controls.find("<tbody>").unwrap()..controls.find("</tbody>").unwrap()];
        assert_eq!(row.matches("<tr>").count(), 1, "{row}");
        assert!(
            row.contains("<td><b style=\"color:#c62828\">fail</b></td>"),
            "{row}"
        );
        assert!(
            row.contains("web-1: <b style=\"color:#2e7d32\">pass</b>"),
            "{row}"
        );
        assert!(row.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;: <b style=\"color:#c62828\">fail</b>"
        ));
        assert!(!page.contains("<script"));
        // Without a framework, no controls section.
        assert!(!fleet_html(&sample()).contains("id=\"controls\""));
    }
}

//! The report as one self-contained HTML document: inline CSS and SVG,
//! no script, no font, no image file and no URL, so it opens offline,
//! prints, and fetches nothing when an auditor opens it. Every text from
//! the host (process names, file names, reasons, ledger objects) is
//! escaped by [`escape`]: a process called `<script>` is shown, never run.
//! The skeleton, the tables and the colours are shared with the fleet's
//! page, in [`super::page`].

use std::fmt::Write as _;

use portreeve_core::{Exposure, Severity};

use super::page::{
    self, ENTRY_HEAD, STATES, close_document, entries, entry_rows, escape, figure, open_document,
    severity_badge, severity_colour, state_colour, table,
};
use super::svg::{self, Bar};
use super::{Report, Source, ZoneReach};

/// The report as one self-contained HTML document.
pub fn html(report: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    open_document(&mut out, &format!("portreeve report: {}", report.host));
    let _ = write!(
        out,
        "<h1>Port report: <span id=\"host\">{host}</span></h1>\
         <p class=\"meta\">Generated {at} by portreeve {version}; period {period}.<br>\
         Policy: <code>{origin}</code> ({digest}) {effect}</p>",
        host = escape(&report.host),
        at = escape(&report.generated_at),
        version = escape(report.portreeve_version),
        period = page::period_text(&report.period),
        origin = escape(&report.policy.origin),
        digest = escape(&report.policy.digest),
        effect = policy_effect(report),
    );
    page::notes(&mut out, &report.notes);
    summary(&mut out, report);
    charts(&mut out, report);
    listeners(&mut out, report);
    sources(&mut out, &report.sources);
    findings(&mut out, report);
    exposure(&mut out, &report.exposure);
    lifecycle(&mut out, report);
    entries(
        &mut out,
        "grants",
        "Grants in the period",
        &report.grants,
        "No grant was opened, revoked or expired in the period.",
    );
    entries(
        &mut out,
        "blocks",
        "Blocks in the period",
        &report.blocks,
        "No source was blocked or unblocked in the period.",
    );
    ledger(&mut out, report);
    controls(&mut out, report);
    close_document(&mut out);
    out
}

fn policy_effect(report: &Report) -> String {
    let p = &report.policy;
    if !p.in_effect {
        return "— no policy is applied on this host; this one stands in.".into();
    }
    let mut s = format!(
        "— in effect in generation {}",
        p.generation.map(|g| g.to_string()).unwrap_or_default()
    );
    if let Some(status) = &p.status {
        let _ = write!(s, " ({})", escape(status));
    }
    if let (Some(at), Some(by)) = (p.applied_at, &p.applied_by) {
        let _ = write!(
            s,
            ", applied {} by {}",
            at.strftime("%Y-%m-%d %H:%M UTC"),
            escape(by)
        );
    }
    if let Some(a) = &p.approval {
        let _ = write!(s, ", approved in {}", escape(a));
    }
    s.push('.');
    s
}

fn summary(out: &mut String, report: &Report) {
    let s = &report.summary;
    let verified = page::verification_badge(report.ledger.verification.as_ref());
    let _ = write!(
        out,
        "<h2>Summary</h2><div class=\"cards\" id=\"summary\">\
         <div class=\"card\"><b>{}</b>listeners</div>\
         <div class=\"card\"><b>{}</b>exposed</div>\
         <div class=\"card\"><b>{}</b>findings</div>\
         <div class=\"card\"><b>{}</b>accepted risks</div>\
         <div class=\"card\"><b>{}</b>ledger entries in the period</div>\
         <div class=\"card\">{verified}ledger</div></div>",
        s.listeners,
        s.exposed,
        s.findings,
        s.accepted,
        report.ledger.entries.len(),
    );
}

fn charts(out: &mut String, report: &Report) {
    out.push_str("<h2>Charts</h2><div class=\"charts\">");
    let names: Vec<String> = Severity::ALL.iter().rev().map(|s| s.to_string()).collect();
    let severity: Vec<Bar> = Severity::ALL
        .iter()
        .rev()
        .zip(&names)
        .map(|(s, name)| Bar {
            label: name,
            value: report.summary.by_severity.get(s).copied().unwrap_or(0) as u64,
            colour: severity_colour(*s),
        })
        .collect();
    figure(
        out,
        "Findings by severity",
        &svg::bars("chart-severity", "Findings by severity", &severity),
    );
    if report.findings_over_time.is_empty() {
        out.push_str("<figure><figcaption>Findings over time</figcaption><p>No recorded check in the period (<code>portreeve check --record</code> records one).</p></figure>");
    } else {
        figure(
            out,
            "Findings over time (recorded checks)",
            &svg::over_time(
                "chart-over-time",
                "Findings per recorded check",
                &report.findings_over_time,
            ),
        );
    }
    // In the order a port goes through them.
    let states: Vec<Bar> = STATES
        .into_iter()
        .map(|state| Bar {
            label: state,
            value: report.lifecycle.counts.get(state).copied().unwrap_or(0) as u64,
            colour: state_colour(state),
        })
        .collect();
    figure(
        out,
        "Ports by lifecycle state",
        &svg::bars("chart-lifecycle", "Ports by lifecycle state", &states),
    );
    if report.connections.is_empty() {
        out.push_str("<figure><figcaption>New connections per port</figcaption><p>No connection history in the period (the agent records it hourly).</p></figure>");
    } else {
        figure(
            out,
            "New connections per port, hourly",
            &svg::connections(
                "chart-connections",
                "New connections per port per hour",
                &report.connections,
            ),
        );
    }
    out.push_str("</div>");
}

fn reach_text(reach: &Exposure) -> String {
    match reach {
        Exposure::Local => "this host only".into(),
        Exposure::Zones { from, .. } if from.is_empty() => {
            "nobody (the firewall admits no source)".into()
        }
        Exposure::Zones { from, wide } => {
            let zones: Vec<&str> = from.iter().map(|z| z.zone.as_str()).collect();
            format!(
                "zones {}{}",
                zones.join(", "),
                if *wide { " (internet-wide)" } else { "" }
            )
        }
        Exposure::Everywhere { why } => format!("everywhere: {why}"),
    }
}

fn listeners(out: &mut String, report: &Report) {
    out.push_str("<h2>Inventory</h2>");
    if report.listeners.is_empty() {
        out.push_str("<p id=\"listeners\">Nothing listens.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .listeners
        .iter()
        .map(|l| {
            let owners: Vec<String> = l
                .owners
                .iter()
                .map(|o| format!("{} ({})", o.name, o.pid))
                .collect();
            let units: Vec<&str> = l.owners.iter().filter_map(|o| o.unit.as_deref()).collect();
            let containers: Vec<&str> = l
                .owners
                .iter()
                .filter_map(|o| o.container.as_deref())
                .collect();
            vec![
                escape(&format!("{}/{}", l.port, l.protocol)),
                escape(&l.endpoint),
                escape(&l.netns),
                escape(&if owners.is_empty() {
                    "unknown".to_string()
                } else {
                    owners.join(", ")
                }),
                escape(&l.user),
                escape(&units.join(", ")),
                escape(&containers.join(", ")),
                escape(&reach_text(&l.reach)),
            ]
        })
        .collect();
    table(
        out,
        "listeners",
        &[
            "Port",
            "Address",
            "Namespace",
            "Process",
            "User",
            "Unit",
            "Container",
            "Reachable from",
        ],
        &rows,
    );
}

/// The sources of findings included besides this host's listeners, when
/// any was.
fn sources(out: &mut String, sources: &[Source]) {
    if sources.is_empty() {
        return;
    }
    out.push_str("<h2>Sources included</h2>");
    let rows: Vec<Vec<String>> = sources
        .iter()
        .map(|s| vec![escape(s.name), escape(&s.what), s.findings.to_string()])
        .collect();
    table(
        out,
        "sources",
        &["Source", "What was read", "Findings"],
        &rows,
    );
}

fn findings(out: &mut String, report: &Report) {
    out.push_str("<h2>Findings</h2>");
    if report.findings.is_empty() {
        out.push_str("<p id=\"findings\">No findings.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            // A finding about something off this host (a pod, a security
            // group) names that instead of a port.
            let port = match (&f.socket, &f.resource) {
                (Some(s), _) => format!("{}/{}", s.port, s.protocol),
                (None, Some(r)) => r.to_string(),
                (None, None) => String::new(),
            };
            let accepted = f
                .accepted
                .as_ref()
                .map(|a| {
                    format!(
                        "<br><i>accepted by {} until {}: {}</i>",
                        escape(&a.owner),
                        a.expires,
                        escape(&a.reason)
                    )
                })
                .unwrap_or_default();
            vec![
                severity_badge(f.severity),
                escape(f.kind.code()),
                escape(&port),
                escape(f.service.as_deref().unwrap_or("")),
                format!("{}{accepted}", escape(&f.message)),
                escape(&f.remediation),
            ]
        })
        .collect();
    table(
        out,
        "findings",
        &[
            "Severity",
            "Id",
            "Port or resource",
            "Service",
            "Finding",
            "Remediation",
        ],
        &rows,
    );
}

fn exposure(out: &mut String, zones: &[ZoneReach]) {
    out.push_str("<h2>Exposure by zone</h2>");
    if zones.is_empty() {
        out.push_str("<p id=\"exposure\">No socket is reachable from beyond this host.</p>");
        return;
    }
    let rows: Vec<Vec<String>> = zones
        .iter()
        .map(|z| {
            let who = match &z.zone {
                Some(name) => escape(name),
                None => "<b class=\"bad\">everywhere</b>".into(),
            };
            let networks = if z.zone.is_none() {
                escape(&z.why.join("; "))
            } else {
                escape(&format!(
                    "{}{}",
                    z.networks.join(", "),
                    if z.wide { " (internet-wide)" } else { "" }
                ))
            };
            vec![who, networks, escape(&z.ports.join(", "))]
        })
        .collect();
    table(
        out,
        "exposure",
        &["Zone", "Networks (or why unprotected)", "Ports it reaches"],
        &rows,
    );
}

fn lifecycle(out: &mut String, report: &Report) {
    out.push_str("<h2>Lifecycle</h2>");
    let rows: Vec<Vec<String>> = report
        .lifecycle
        .ports
        .iter()
        .map(|p| {
            vec![
                escape(&p.port),
                format!(
                    "<span style=\"color:{}\">{}</span>",
                    state_colour(p.state),
                    escape(p.state)
                ),
                if p.listening { "yes" } else { "no" }.into(),
                p.last_access
                    .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "never seen".into()),
                escape(p.owner.as_deref().unwrap_or("")),
                escape(&p.action),
            ]
        })
        .collect();
    table(
        out,
        "lifecycle",
        &[
            "Port",
            "State",
            "Listening",
            "Last access (UTC)",
            "Owner",
            "Action",
        ],
        &rows,
    );
    if report.lifecycle.reclaimed.is_empty() {
        out.push_str("<p id=\"reclaimed\">No port was reclaimed in the period.</p>");
    } else {
        let rows: Vec<Vec<String>> = report
            .lifecycle
            .reclaimed
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    escape(&r.port),
                    r.at.strftime("%Y-%m-%d %H:%M").to_string(),
                    r.undone_at
                        .map(|t| format!("reopened {}", t.strftime("%Y-%m-%d %H:%M")))
                        .unwrap_or_else(|| "closed".into()),
                ]
            })
            .collect();
        out.push_str("<h3>Reclaimed</h3>");
        table(
            out,
            "reclaimed",
            &["Reclaim", "Port", "Closed (UTC)", "Now"],
            &rows,
        );
    }
}

fn ledger(out: &mut String, report: &Report) {
    out.push_str("<h2>Ledger</h2><p id=\"ledger-status\">");
    let l = &report.ledger;
    match &l.verification {
        None => out.push_str("No ledger: nothing has been recorded on this host."),
        Some(v) => page::verification(out, v),
    }
    out.push_str("</p>");
    if l.present {
        let _ = write!(
            out,
            "<p>{} of {} entries fall in the period.</p>",
            l.entries.len(),
            l.total_entries
        );
        if !l.entries.is_empty() {
            table(out, "ledger", &ENTRY_HEAD, &entry_rows(&l.entries));
        }
    }
}

fn controls(out: &mut String, report: &Report) {
    let (Some(framework), Some(controls)) = (report.framework, &report.controls) else {
        return;
    };
    let _ = write!(
        out,
        "<h2>Controls: {} ({})</h2>",
        escape(framework.as_str()),
        escape(framework.document())
    );
    page::controls_table(out, "controls", controls);
}

//! The report as one self-contained HTML document: inline CSS and SVG,
//! no script, no font, no image file and no URL, so it opens offline,
//! prints, and fetches nothing when an auditor opens it. Every text from
//! the host (process names, file names, reasons, ledger objects) is
//! escaped by [`escape`]: a process called `<script>` is shown, never run.

use std::fmt::Write as _;

use portreeve_core::{Exposure, Severity};

use super::svg::{self, Bar, severity_colour, state_colour};
use super::{Report, ZoneReach};
use crate::compliance::Status;

/// `text` safe in HTML element content and in quoted attribute values:
/// `& < > " '` replaced by character references, and control characters
/// other than tab and newline by U+FFFD, which no markup can start with.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The styles, inline: the document must need no other file.
const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;padding:24px;color:#1d2330;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
.meta{color:#556;font-size:.9em}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:6px 0}
th,td{border-bottom:1px solid #e3e6ee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f9}
.sev{display:inline-block;color:#fff;border-radius:3px;padding:0 6px;font-size:.85em}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:1.5em}
.charts{display:flex;gap:20px;flex-wrap:wrap}
.charts figure{margin:0}
figcaption{font-weight:600;font-size:.9em;margin-bottom:4px}
svg.chart{max-width:100%;height:auto;font-size:12px}
svg.chart text{fill:#1d2330}
.note{background:#fff8e1;border-left:4px solid #f9a825;padding:6px 10px;margin:6px 0}
code{font-size:.95em}
@media print{body{padding:0}h2{break-after:avoid}table{break-inside:auto}}
";

/// The report as one self-contained HTML document.
pub fn html(report: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>portreeve report: {host}</title><style>{STYLE}</style></head><body>\
         <h1>Port report: <span id=\"host\">{host}</span></h1>\
         <p class=\"meta\">Generated {at} by portreeve {version}; period {period}.<br>\
         Policy: <code>{origin}</code> ({digest}) {effect}</p>",
        host = escape(&report.host),
        at = escape(&report.generated_at),
        version = escape(report.portreeve_version),
        period = match report.period.since {
            Some(s) => format!(
                "from {} to {}",
                s.strftime("%Y-%m-%d %H:%M UTC"),
                report.period.until.strftime("%Y-%m-%d %H:%M UTC")
            ),
            None => format!(
                "everything recorded up to {}",
                report.period.until.strftime("%Y-%m-%d %H:%M UTC")
            ),
        },
        origin = escape(&report.policy.origin),
        digest = escape(&report.policy.digest),
        effect = policy_effect(report),
    );
    for note in &report.notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(&capitalised(note)));
    }
    summary(&mut out, report);
    charts(&mut out, report);
    listeners(&mut out, report);
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
    out.push_str("</body></html>\n");
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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
    let verified = match &report.ledger.verification {
        Some(v) if v.verified => "<b class=\"ok\">verified</b>".to_string(),
        Some(_) => "<b class=\"bad\">FAILED</b>".to_string(),
        None => "<b>none</b>".to_string(),
    };
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
    let states: Vec<Bar> = ["active", "dormant", "abandoned", "reclaimed"]
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

fn figure(out: &mut String, caption: &str, chart: &str) {
    let _ = write!(
        out,
        "<figure><figcaption>{}</figcaption>{chart}</figure>",
        escape(caption)
    );
}

/// A table: `head` are the column names; each cell already escaped.
fn table(out: &mut String, id: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<table id=\"{}\"><thead><tr>", escape(id));
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
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
            let port = f
                .socket
                .as_ref()
                .map(|s| format!("{}/{}", s.port, s.protocol))
                .unwrap_or_default();
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
                format!(
                    "<span class=\"sev\" style=\"background:{}\">{}</span>",
                    severity_colour(f.severity),
                    f.severity
                ),
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
            "Port",
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

fn entry_rows(entries: &[portreeve_ledger::Entry]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|e| {
            vec![
                e.index.to_string(),
                e.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                escape(&e.actor),
                escape(&e.action),
                escape(&e.object),
                escape(e.approval.as_deref().unwrap_or("")),
                escape(e.reason.as_deref().unwrap_or("")),
            ]
        })
        .collect()
}

const ENTRY_HEAD: [&str; 7] = [
    "#",
    "Time (UTC)",
    "Actor",
    "Action",
    "Object",
    "Approval",
    "Reason",
];

fn entries(
    out: &mut String,
    id: &str,
    title: &str,
    entries: &[portreeve_ledger::Entry],
    none: &str,
) {
    let _ = write!(out, "<h2>{}</h2>", escape(title));
    if entries.is_empty() {
        let _ = write!(out, "<p id=\"{}\">{}</p>", escape(id), escape(none));
    } else {
        table(out, id, &ENTRY_HEAD, &entry_rows(entries));
    }
}

fn ledger(out: &mut String, report: &Report) {
    out.push_str("<h2>Ledger</h2><p id=\"ledger-status\">");
    let l = &report.ledger;
    match &l.verification {
        None => out.push_str("No ledger: nothing has been recorded on this host."),
        Some(v) if v.verified => {
            let _ = write!(
                out,
                "<b class=\"ok\">Verified</b>: {} entries and {} checkpoints, every checkpoint signature valid and consistent; {} attested by an identity; {} after the latest signed checkpoint.",
                v.entries.unwrap_or(0),
                v.checkpoints.unwrap_or(0),
                v.attested.unwrap_or(0),
                v.unsigned_tail.unwrap_or(0),
            );
        }
        Some(v) => {
            let _ = write!(
                out,
                "<b class=\"bad\">Verification FAILED</b>: {}",
                escape(v.problem.as_deref().unwrap_or("unknown"))
            );
        }
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

/// A status's colour in the controls table.
fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Pass => "#2e7d32",
        Status::Fail => "#c62828",
        Status::Manual => "#ef6c00",
        Status::NotApplicable => "#607d8b",
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
    let rows: Vec<Vec<String>> = controls
        .iter()
        .map(|c| {
            vec![
                escape(&c.id),
                escape(&c.title),
                format!(
                    "<b style=\"color:{}\">{}</b>",
                    status_colour(c.status),
                    c.status
                ),
                escape(&c.evidence.join("\n")).replace('\n', "<br>"),
                escape(&c.source),
            ]
        })
        .collect();
    table(
        out,
        "controls",
        &["Control", "What it asks", "Status", "Evidence", "Source"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a\"b&c"), "a&quot;b&amp;c");
        // An attribute cannot be closed, nor a control character smuggled.
        assert_eq!(escape("\" onload=\"x"), "&quot; onload=&quot;x");
        assert_eq!(escape("a\u{1b}[31mb\u{0}"), "a\u{fffd}[31mb\u{fffd}");
        assert_eq!(escape("tab\tnewline\n"), "tab\tnewline\n");
        assert_eq!(escape("日本 ok"), "日本 ok");
    }
}

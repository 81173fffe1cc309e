//! What the host's report page ([`super::html`]) and the fleet's
//! ([`super::fleet_html`]) share: the document's skeleton (one inline style
//! sheet and a Content-Security-Policy that lets the page load nothing),
//! [`escape`], figures and tables, the colours of severities, lifecycle
//! states and control statuses, the ledger's entry table, its verification
//! and the controls table. One definition each, so the two pages look and
//! protect alike: a fix to escaping or to the policy reaches both.

use std::fmt::Write as _;

use portreeve_core::Severity;

use super::{Period, Verification};
use crate::compliance::{ControlResult, Status};

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

/// Opens the document, titled `title`, up to and including `<body>`: the
/// policy forbids every fetch (`default-src 'none'`) and allows only the
/// inline style, so even a text that escaped escaping could load nothing.
pub fn open_document(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

/// Closes what [`open_document`] opened.
pub fn close_document(out: &mut String) {
    out.push_str("</body></html>\n");
}

/// The period as the pages' headers say it.
pub fn period_text(period: &Period) -> String {
    match period.since {
        Some(s) => format!(
            "from {} to {}",
            s.strftime("%Y-%m-%d %H:%M UTC"),
            period.until.strftime("%Y-%m-%d %H:%M UTC")
        ),
        None => format!(
            "everything recorded up to {}",
            period.until.strftime("%Y-%m-%d %H:%M UTC")
        ),
    }
}

/// Each note as a highlighted paragraph, starting with a capital.
pub fn notes(out: &mut String, notes: &[String]) {
    for note in notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(&capitalised(note)));
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A chart with its caption; `chart` is SVG made by [`super::svg`].
pub fn figure(out: &mut String, caption: &str, chart: &str) {
    let _ = write!(
        out,
        "<figure><figcaption>{}</figcaption>{chart}</figure>",
        escape(caption)
    );
}

/// A table: `head` are the column names; each cell already escaped.
pub fn table(out: &mut String, id: &str, head: &[&str], rows: &[Vec<String>]) {
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

/// A severity's colour, the same in every chart and table.
pub fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#7b1fa2",
        Severity::High => "#c62828",
        Severity::Medium => "#ef6c00",
        Severity::Low => "#f9a825",
        Severity::Info => "#1565c0",
    }
}

/// A severity as a coloured badge, for a table cell.
pub fn severity_badge(s: Severity) -> String {
    format!(
        "<span class=\"sev\" style=\"background:{}\">{s}</span>",
        severity_colour(s)
    )
}

/// A lifecycle state's colour.
pub fn state_colour(state: &str) -> &'static str {
    match state {
        "active" => "#2e7d32",
        "dormant" => "#f9a825",
        "abandoned" => "#c62828",
        _ => "#607d8b",
    }
}

/// The lifecycle states, in the order a port goes through them.
pub const STATES: [&str; 4] = ["active", "dormant", "abandoned", "reclaimed"];

/// A control status's colour in the controls tables.
fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Pass => "#2e7d32",
        Status::Fail => "#c62828",
        Status::Manual => "#ef6c00",
        Status::NotApplicable => "#607d8b",
    }
}

/// A control status, coloured.
pub fn status_text(status: Status) -> String {
    format!("<b style=\"color:{}\">{status}</b>", status_colour(status))
}

/// The controls of a framework, judged, as table `id`.
pub fn controls_table(out: &mut String, id: &str, controls: &[ControlResult]) {
    let rows: Vec<Vec<String>> = controls
        .iter()
        .map(|c| {
            vec![
                escape(&c.id),
                escape(&c.title),
                status_text(c.status),
                escape(&c.evidence.join("\n")).replace('\n', "<br>"),
                escape(&c.source),
            ]
        })
        .collect();
    table(
        out,
        id,
        &["Control", "What it asks", "Status", "Evidence", "Source"],
        &rows,
    );
}

/// The columns of a ledger entry table.
pub const ENTRY_HEAD: [&str; 7] = [
    "#",
    "Time (UTC)",
    "Actor",
    "Action",
    "Object",
    "Approval",
    "Reason",
];

/// Ledger entries as [`ENTRY_HEAD`]'s rows, escaped.
pub fn entry_rows(entries: &[portreeve_ledger::Entry]) -> Vec<Vec<String>> {
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

/// A section titled `title` listing `entries` as table `id`, or saying
/// `none` (in a paragraph of that id) when there are none.
pub fn entries(
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

/// The summary card's word for a ledger's verification: verified, FAILED,
/// or none (no ledger).
pub fn verification_badge(verification: Option<&Verification>) -> &'static str {
    match verification {
        Some(v) if v.verified => "<b class=\"ok\">verified</b>",
        Some(_) => "<b class=\"bad\">FAILED</b>",
        None => "<b>none</b>",
    }
}

/// What verifying a ledger found, as a sentence: its counts when it
/// verified, the problem when not.
pub fn verification(out: &mut String, v: &Verification) {
    if v.verified {
        let _ = write!(
            out,
            "<b class=\"ok\">Verified</b>: {} entries and {} checkpoints, every checkpoint signature valid and consistent; {} attested by an identity; {} after the latest signed checkpoint.",
            v.entries.unwrap_or(0),
            v.checkpoints.unwrap_or(0),
            v.attested.unwrap_or(0),
            v.unsigned_tail.unwrap_or(0),
        );
    } else {
        let _ = write!(
            out,
            "<b class=\"bad\">Verification FAILED</b>: {}",
            escape(v.problem.as_deref().unwrap_or("unknown"))
        );
    }
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

    #[test]
    fn the_skeleton_forbids_every_fetch_and_escapes_its_title() {
        let mut page = String::new();
        open_document(&mut page, "a <b> \"c\"");
        close_document(&mut page);
        assert!(
            page.contains(
                "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\""
            )
        );
        assert!(
            page.contains("<title>a &lt;b&gt; &quot;c&quot;</title>"),
            "{page}"
        );
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</body></html>\n"));
    }
}

//! Tables for people: aligned, borderless columns in the style of `ss` and
//! `kubectl`, coloured as `--color` says (by default only when standard
//! output is a terminal and `NO_COLOR` is unset), with a header line unless
//! `--no-headers`. Every cell goes through [`cell`], which escapes
//! control characters (see [`super::escape`]): a reason or a process name
//! can neither drive the terminal nor break a row in two.

use std::io::IsTerminal;

use comfy_table::presets::NOTHING;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};
use portreeve_core::{Finding, ListeningSocket, OwnerStatus, Severity};
use portreeve_policy::catalogue::CatalogueEntry;

use super::counted;
use super::escape::one_line;
use crate::cli::ColorChoice;
use portreeve_app::check::Summary;

/// Whether to colour standard output: as `--color always|never` says, else
/// (`auto`) a terminal, `NO_COLOR` unset, and `CLICOLOR_FORCE` forcing it on
/// (the conventions anstream implements).
pub fn stdout_colour() -> bool {
    match super::style().colour {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// At most this many ports are spelled out in a PORTS cell.
const PORTS_IN_CELL: usize = 8;

/// A PORTS cell: the first few of `ports` (sorted, a sample of `count`
/// distinct ports), then how many there were in all.
pub fn port_sample(ports: &[u16], count: usize) -> String {
    let mut shown: Vec<String> = ports
        .iter()
        .take(PORTS_IN_CELL)
        .map(u16::to_string)
        .collect();
    if count > shown.len() {
        shown.push(format!("… ({count} ports)"));
    }
    shown.join(",")
}

/// A table cell showing `text`, control characters escaped.
fn cell(text: impl AsRef<str>) -> Cell {
    Cell::new(one_line(text.as_ref()))
}

fn new_table(headers: &[&str], colour: bool) -> Table {
    let mut t = Table::new();
    t.load_style(NOTHING);
    if std::io::stdout().is_terminal() {
        t.set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        // Never wrap when piped: one record per line stays greppable.
        t.set_content_arrangement(ContentArrangement::Disabled);
    }
    if colour {
        t.enforce_styling();
    }
    if super::style().headers {
        t.set_header(headers.iter().map(|h| {
            let c = cell(h);
            if colour {
                c.add_attribute(Attribute::Bold)
            } else {
                c
            }
        }));
    }
    t
}

/// Renders without the preset's leading space and trailing padding, so
/// output starts at column 0 like `ss`.
fn render(mut t: Table) -> String {
    if t.is_empty() && t.header().is_none() {
        // `--no-headers` and no rows: nothing, not a blank line.
        return String::new();
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    let mut s = t.trim_fmt();
    s.push('\n');
    s
}

fn severity_cell(s: Severity, colour: bool) -> Cell {
    let c = cell(s.as_str());
    if !colour {
        return c;
    }
    match s {
        Severity::Critical => c.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::High => c.fg(Color::Red),
        Severity::Medium => c.fg(Color::Yellow),
        Severity::Low => c.fg(Color::Cyan),
        Severity::Info => c.add_attribute(Attribute::Dim),
    }
}

/// `123/sshd`, `123/nginx +3`, or why the owner is unknown.
fn owner_cell(s: &ListeningSocket) -> String {
    match (s.processes.as_slice(), s.owner_status) {
        ([first, rest @ ..], _) => {
            let more = if rest.is_empty() {
                String::new()
            } else {
                format!(" +{}", rest.len())
            };
            format!("{}/{}{more}", first.pid, first.name)
        }
        ([], OwnerStatus::PermissionDenied) => "? (permission denied)".into(),
        ([], _) => "- (no process)".into(),
    }
}

/// The inventory as a table. The NETNS column appears when several
/// namespaces were read.
pub fn inventory(sockets: &[ListeningSocket], show_netns: bool, colour: bool) -> String {
    let mut headers = vec![
        "PROTO",
        "LOCAL ADDRESS",
        "SCOPE",
        "USER",
        "PID/PROCESS",
        "SERVICE",
    ];
    if show_netns {
        headers.insert(0, "NETNS");
    }
    let mut t = new_table(&headers, colour);
    for s in sockets {
        let scope = if s.dual_stack {
            format!("{} (dual-stack)", s.scope)
        } else {
            s.scope.to_string()
        };
        let mut row = vec![
            s.protocol.to_string(),
            s.endpoint(),
            scope,
            s.user.clone().unwrap_or_else(|| s.uid.to_string()),
            owner_cell(s),
            s.service_label().unwrap_or_else(|| "-".into()),
        ];
        if show_netns {
            row.insert(0, s.netns.to_string());
        }
        t.add_row(row.into_iter().map(cell));
    }
    render(t)
}

/// The count under the inventory table, for standard error:
/// `6 listening sockets (2 on non-loopback addresses)`.
pub fn inventory_summary(sockets: &[ListeningSocket]) -> String {
    let exposed = sockets.iter().filter(|s| s.is_exposed()).count();
    format!(
        "{} ({exposed} on non-loopback addresses)\n",
        counted(sockets.len(), "listening socket")
    )
}

/// Findings as a table, optionally followed by the details of each, and a
/// one-line summary.
pub fn check(
    findings: &[Finding],
    summary: &Summary,
    host: &str,
    details: bool,
    colour: bool,
) -> String {
    let mut out = findings_table(findings, details, colour);
    out.push_str(&format!(
        "{} ({}){} on {} ({} exposed) · host {}\n",
        counted(summary.findings, "finding"),
        summary.severity_breakdown(),
        accepted_note(summary),
        counted(summary.listeners, "listening socket"),
        summary.exposed,
        one_line(host),
    ));
    out
}

/// ` and 2 accepted`, or nothing when no finding is accepted.
pub fn accepted_note(summary: &Summary) -> String {
    if summary.accepted == 0 {
        String::new()
    } else {
        format!(" and {} accepted", summary.accepted)
    }
}

/// Findings as a table (nothing when there are none), optionally followed
/// by the details of each: `check`'s report without its summary line.
pub fn findings_table(findings: &[Finding], details: bool, colour: bool) -> String {
    let mut out = String::new();
    if !findings.is_empty() {
        // Every message names its socket or rule, so no separate column.
        let mut t = new_table(&["SEVERITY", "ID", "SERVICE", "FINDING"], colour);
        for f in findings {
            t.add_row(vec![
                severity_cell(f.severity, colour),
                cell(f.kind.code()),
                cell(f.service.as_deref().unwrap_or("-")),
                cell(&match &f.accepted {
                    Some(a) => format!("ACCEPTED until {}: {}", a.expires, f.message),
                    None => f.message.clone(),
                }),
            ]);
        }
        out.push_str(&render(t));
    }
    if details {
        for f in findings {
            out.push_str(&format!(
                "\n{} {} [{}] {}\n",
                f.kind.code(),
                f.kind.name(),
                f.severity,
                one_line(&f.message)
            ));
            for e in &f.evidence {
                out.push_str(&format!("  evidence: {}\n", one_line(e)));
            }
            if let Some(a) = &f.accepted {
                out.push_str(&format!(
                    "  accepted: by {} until {} ({}): {}\n",
                    one_line(&a.owner),
                    a.expires,
                    one_line(&a.location.to_string()),
                    one_line(&a.reason)
                ));
            }
            if let Some(r) = &f.resource {
                out.push_str(&format!(
                    "  resource: {}{}\n",
                    one_line(&r.to_string()),
                    r.file
                        .as_deref()
                        .map(|file| format!(" ({})", one_line(file)))
                        .unwrap_or_default()
                ));
            }
            if let Some(r) = &f.rule {
                out.push_str(&format!(
                    "  rule:     {} ({})\n",
                    one_line(&r.name),
                    one_line(&r.location.to_string())
                ));
            }
            out.push_str(&format!(
                "  why:      {}\n  fix:      {}\n",
                one_line(&f.rationale),
                one_line(&f.remediation)
            ));
        }
        if !findings.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// The hint under `check`'s report without `--details`, for standard
/// error; `None` when there is nothing more to see.
pub fn check_hint(findings: &[Finding], details: bool) -> Option<&'static str> {
    (!details && !findings.is_empty())
        .then_some("Run with --details for evidence and remediation, or --format json.\n")
}

/// The risk catalogue as a table.
pub fn catalogue(entries: &[&CatalogueEntry], colour: bool) -> String {
    let mut t = new_table(
        &["PORTS", "PROTO", "SERVICE", "SEVERITY", "RATIONALE"],
        colour,
    );
    for e in entries {
        let ports: Vec<String> = e.port_ranges().map(|r| r.to_string()).collect();
        t.add_row(vec![
            cell(ports.join(",")),
            cell(e.transport.to_string()),
            cell(e.service),
            severity_cell(e.severity, colour),
            cell(e.rationale),
        ]);
    }
    render(t)
}

/// The joined inside-out and outside-in views of `check --scan`.
pub fn reachability(joined: &[portreeve_policy::JoinedPort], colour: bool) -> String {
    let label = |v: &str| v.replace('_', " ");
    let lines: Vec<Vec<String>> = joined
        .iter()
        .map(|j| {
            vec![
                format!("{}/{}", j.port, j.protocol),
                label(&to_snake(&j.listening)),
                label(&to_snake(&j.observed)),
                label(&to_snake(&j.reachability)),
                j.service.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    if lines.is_empty() {
        return "Scan: nothing listens on or answers at the scanned ports.\n\n".into();
    }
    let mut out = rows(
        &["PORT", "LISTENING", "SCAN", "REACHABILITY", "SERVICE"],
        &lines,
        colour,
    );
    out.push('\n');
    out
}

/// A value's serde name (`listening_but_filtered`).
fn to_snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Plain rows under `headers`.
pub fn rows(headers: &[&str], rows: &[Vec<String>], colour: bool) -> String {
    let mut t = new_table(headers, colour);
    for row in rows {
        t.add_row(row.iter().map(cell));
    }
    render(t)
}

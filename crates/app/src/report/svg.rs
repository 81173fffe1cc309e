//! The report's charts, as inline SVG written here: no script, no library,
//! nothing fetched, so the page shows them offline and in a PDF. Every
//! label goes through [`escape`].

use std::fmt::Write as _;

use portreeve_core::Severity;

use super::html::escape;
use super::{CheckRun, PortConnections};

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

/// A lifecycle state's colour.
pub fn state_colour(state: &str) -> &'static str {
    match state {
        "active" => "#2e7d32",
        "dormant" => "#f9a825",
        "abandoned" => "#c62828",
        _ => "#607d8b",
    }
}

/// One bar of a bar chart: its label, value and colour.
pub struct Bar<'a> {
    pub label: &'a str,
    pub value: u64,
    pub colour: &'a str,
}

/// Width of the charts' drawing area.
const WIDTH: u32 = 500;
/// Height of one horizontal bar's row.
const ROW: u32 = 26;
/// Where bars start, after their labels.
const LABEL_WIDTH: u32 = 110;

/// A horizontal bar chart, one row per bar with its value at the end;
/// `title` names it for screen readers.
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as u32 + 8;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let span = WIDTH - LABEL_WIDTH - 50;
    let mut out = open(id, title, WIDTH, height);
    for (i, b) in bars.iter().enumerate() {
        let y = 4 + ROW * i as u32;
        let w = (b.value as f64 / max as f64 * f64::from(span)).round() as u32;
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{w}\" height=\"{bh}\" fill=\"{colour}\"><title>{label}: {value}</title></rect>\
             <text x=\"{vx}\" y=\"{ty}\">{value}</text>",
            lx = LABEL_WIDTH - 8,
            ty = y + 14,
            label = escape(b.label),
            bh = ROW - 8,
            colour = escape(b.colour),
            value = b.value,
            vx = LABEL_WIDTH + w + 6,
        );
    }
    out.push_str("</svg>");
    out
}

/// Findings per recorded check, as columns stacked by severity (most
/// severe at the bottom), oldest on the left; the last 60 runs.
pub fn over_time(id: &str, title: &str, runs: &[CheckRun]) -> String {
    let runs = &runs[runs.len().saturating_sub(60)..];
    let (height, top, bottom) = (200u32, 10u32, 170u32);
    let max = runs.iter().map(|r| r.findings).max().unwrap_or(0).max(1);
    let left = 40u32;
    let step = (WIDTH - left - 10) / runs.len().max(1) as u32;
    let bar = step.saturating_sub(4).clamp(2, 40);
    let scale = f64::from(bottom - top) / max as f64;
    let mut out = open(id, title, WIDTH, height);
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{WIDTH}\" y2=\"{bottom}\" stroke=\"#999\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{bottom}\" text-anchor=\"end\">0</text>",
        tx = left - 4,
        ty = top + 10,
    );
    for (i, run) in runs.iter().enumerate() {
        let x = left + 4 + step * i as u32;
        let mut y = f64::from(bottom);
        for s in Severity::ALL.iter().rev() {
            let n = run.by_severity.get(s).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = n as f64 * scale;
            y -= h;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{c}\">\
                 <title>entry {index}, {time}: {n} {s}</title></rect>",
                c = severity_colour(*s),
                index = run.index,
                time = run.time.strftime("%Y-%m-%d %H:%M"),
            );
        }
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(
            out,
            "<text x=\"{left}\" y=\"{ly}\">{}</text><text x=\"{WIDTH}\" y=\"{ly}\" text-anchor=\"end\">{}</text>",
            first.time.strftime("%Y-%m-%d %H:%M"),
            last.time.strftime("%Y-%m-%d %H:%M"),
            ly = bottom + 18,
        );
    }
    out.push_str("</svg>");
    out
}

/// New connections per port per hour: one row per port (the busiest 12),
/// a column per hour of the period (its height the hour's count against
/// the port's busiest hour) and the total at the end.
pub fn connections(id: &str, title: &str, ports: &[PortConnections]) -> String {
    let ports = &ports[..ports.len().min(12)];
    let row = 34u32;
    let height = row * ports.len().max(1) as u32 + 8;
    let span = f64::from(WIDTH - LABEL_WIDTH - 70);
    let mut out = open(id, title, WIDTH, height);
    for (i, p) in ports.iter().enumerate() {
        let y0 = 4 + row * i as u32;
        let base = f64::from(y0 + row - 8);
        let max = p.hourly.iter().copied().max().unwrap_or(0).max(1) as f64;
        let slot = span / p.hourly.len().max(1) as f64;
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{port}</text>\
             <line x1=\"{LABEL_WIDTH}\" y1=\"{base}\" x2=\"{ex}\" y2=\"{base}\" stroke=\"#ccc\"/>",
            lx = LABEL_WIDTH - 8,
            ty = y0 + 18,
            port = escape(&p.port),
            ex = f64::from(LABEL_WIDTH) + span,
        );
        for (h, &n) in p.hourly.iter().enumerate().filter(|(_, n)| **n > 0) {
            let tall = n as f64 / max * f64::from(row - 12);
            let hour = p.first_hour + jiff::SignedDuration::from_hours(h as i64);
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{tall:.1}\" fill=\"#1565c0\">\
                 <title>{port} {at}: {n}</title></rect>",
                x = f64::from(LABEL_WIDTH) + h as f64 * slot,
                y = base - tall,
                w = (slot - 1.0).max(1.0),
                port = escape(&p.port),
                at = hour.strftime("%Y-%m-%d %H:00"),
            );
        }
        let _ = write!(
            out,
            "<text x=\"{tx}\" y=\"{ty}\">{total}</text>",
            tx = f64::from(LABEL_WIDTH) + span + 8.0,
            ty = y0 + 18,
            total = p.total,
        );
    }
    out.push_str("</svg>");
    out
}

/// The opening tag: sized by its view box, scaling to the page's width.
fn open(id: &str, title: &str, width: u32, height: u32) -> String {
    format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        id = escape(id),
        t = escape(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_charts() {
        let chart = bars(
            "c",
            "<t>",
            &[Bar {
                label: "<script>alert(1)</script>",
                value: 3,
                colour: "red\"/><script>",
            }],
        );
        assert!(!chart.contains("<script>"), "{chart}");
        assert!(chart.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
    }

    #[test]
    fn the_longest_bar_spans_the_chart_and_the_others_are_in_proportion() {
        let chart = bars(
            "c",
            "t",
            &[
                Bar {
                    label: "a",
                    value: 4,
                    colour: "#000",
                },
                Bar {
                    label: "b",
                    value: 2,
                    colour: "#000",
                },
            ],
        );
        let span = WIDTH - LABEL_WIDTH - 50;
        assert!(chart.contains(&format!("width=\"{span}\"")), "{chart}");
        assert!(
            chart.contains(&format!("width=\"{}\"", span / 2)),
            "{chart}"
        );
    }
}

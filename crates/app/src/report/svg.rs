//! The report's charts, as inline SVG written here: no script, no library,
//! nothing fetched, so the page shows them offline and in a PDF. Every
//! label goes through [`escape`].

use std::fmt::Write as _;

use portreeve_core::Severity;

use super::page::{escape, severity_colour};
use super::{CheckRun, PortConnections};

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
    let rows: Vec<Row> = bars
        .iter()
        .map(|b| Row {
            label: b.label,
            segments: vec![Segment {
                value: b.value,
                colour: b.colour,
                title: format!("{}: {}", b.label, b.value),
            }],
        })
        .collect();
    let mut out = open(id, title, WIDTH, ROW * rows.len().max(1) as u32 + 8);
    horizontal(&mut out, &rows);
    out.push_str("</svg>");
    out
}

/// One part of a stacked bar or column: its value, colour and tooltip.
pub struct Segment<'a> {
    pub value: u64,
    pub colour: &'a str,
    /// Shown on hover; escaped when drawn.
    pub title: String,
}

/// One row of a stacked horizontal bar chart: its label and its parts,
/// drawn left to right in their order.
pub struct Row<'a> {
    pub label: &'a str,
    pub segments: Vec<Segment<'a>>,
}

/// A horizontal chart of stacked bars, one row per entry with its total at
/// the end, the longest spanning the chart; a legend (name and colour per
/// kind of segment) under it when `legend` names any.
pub fn stacked_bars(id: &str, title: &str, rows: &[Row], legend: &[(&str, &str)]) -> String {
    let chart = ROW * rows.len().max(1) as u32 + 8;
    let height = if legend.is_empty() {
        chart
    } else {
        chart + ROW
    };
    let mut out = open(id, title, WIDTH, height);
    horizontal(&mut out, rows);
    let mut x = LABEL_WIDTH;
    for (name, colour) in legend {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{ry}\" width=\"12\" height=\"12\" fill=\"{c}\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{n}</text>",
            ry = chart + 4,
            c = escape(colour),
            tx = x + 16,
            ty = chart + 14,
            n = escape(name),
        );
        x += 16 + 8 * name.chars().count() as u32 + 14;
    }
    out.push_str("</svg>");
    out
}

/// Draws `rows` as horizontal stacked bars, a row of [`ROW`] each.
fn horizontal(out: &mut String, rows: &[Row]) {
    let total = |r: &Row| r.segments.iter().map(|s| s.value).sum::<u64>();
    let max = rows.iter().map(total).max().unwrap_or(0).max(1);
    let span = f64::from(WIDTH - LABEL_WIDTH - 50);
    // Each edge rounded from the running sum, so parts add up to the whole.
    let at = |sum: u64| (sum as f64 / max as f64 * span).round() as u32;
    for (i, row) in rows.iter().enumerate() {
        let y = 4 + ROW * i as u32;
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>",
            lx = LABEL_WIDTH - 8,
            ty = y + 14,
            label = escape(row.label),
        );
        let mut sum = 0;
        for s in &row.segments {
            let (from, to) = (at(sum), at(sum + s.value));
            sum += s.value;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{bh}\" fill=\"{colour}\"><title>{t}</title></rect>",
                x = LABEL_WIDTH + from,
                w = to - from,
                bh = ROW - 8,
                colour = escape(s.colour),
                t = escape(&s.title),
            );
        }
        let _ = write!(
            out,
            "<text x=\"{vx}\" y=\"{ty}\">{sum}</text>",
            vx = LABEL_WIDTH + at(sum) + 6,
            ty = y + 14,
        );
    }
}

/// Findings per recorded check, as columns stacked by severity (most
/// severe at the bottom), oldest on the left; the last 60 runs.
pub fn over_time(id: &str, title: &str, runs: &[CheckRun]) -> String {
    let runs = &runs[runs.len().saturating_sub(60)..];
    let stacks: Vec<Vec<Segment>> = runs
        .iter()
        .map(|run| {
            Severity::ALL
                .iter()
                .rev()
                .filter_map(|s| {
                    let n = run.by_severity.get(s).copied().unwrap_or(0);
                    (n > 0).then(|| Segment {
                        value: n as u64,
                        colour: severity_colour(*s),
                        title: format!(
                            "entry {}, {}: {n} {s}",
                            run.index,
                            run.time.strftime("%Y-%m-%d %H:%M")
                        ),
                    })
                })
                .collect()
        })
        .collect();
    let when = |r: Option<&CheckRun>| {
        r.map(|r| r.time.strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    columns(id, title, &stacks, &when(runs.first()), &when(runs.last()))
}

/// Columns on a common scale, each stacked from its segments upwards,
/// left to right in their order, with the axis's maximum and zero on the
/// left and `first` and `last` under the first and the last column. For a
/// time series: findings per check, new listeners per day.
pub fn columns(id: &str, title: &str, stacks: &[Vec<Segment>], first: &str, last: &str) -> String {
    let (height, top, bottom) = (200u32, 10u32, 170u32);
    let max = stacks
        .iter()
        .map(|c| c.iter().map(|s| s.value).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let left = 40u32;
    let step = (WIDTH - left - 10) / stacks.len().max(1) as u32;
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
    for (i, stack) in stacks.iter().enumerate() {
        let x = left + 4 + step * i as u32;
        let mut y = f64::from(bottom);
        for s in stack {
            let h = s.value as f64 * scale;
            y -= h;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{c}\">\
                 <title>{t}</title></rect>",
                c = escape(s.colour),
                t = escape(&s.title),
            );
        }
    }
    // The first label starts under the first column and the last ends
    // under the last, so each names the column above it.
    if !stacks.is_empty() {
        let ly = bottom + 18;
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{ly}\">{}</text>",
            escape(first),
            x = left + 4,
        );
        if stacks.len() > 1 {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{ly}\" text-anchor=\"end\">{}</text>",
                escape(last),
                x = left + 4 + step * (stacks.len() as u32 - 1) + bar,
            );
        }
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

    #[test]
    fn stacked_parts_add_up_to_the_longest_bar_and_columns_share_a_scale() {
        let part = |value, colour| Segment {
            value,
            colour,
            title: format!("{value}"),
        };
        // 1 + 1 + 1 of a 3-long bar: three thirds whose widths add up to
        // the whole span, though each third is rounded.
        let chart = stacked_bars(
            "s",
            "t",
            &[
                Row {
                    label: "a",
                    segments: vec![part(1, "#000"), part(1, "#111"), part(1, "#222")],
                },
                Row {
                    label: "b",
                    segments: vec![part(1, "#000")],
                },
            ],
            &[("high", "#111")],
        );
        let span = WIDTH - LABEL_WIDTH - 50;
        let widths: Vec<u32> = chart
            .split("width=\"")
            .skip(2)
            .map(|w| w[..w.find('"').unwrap()].parse().unwrap())
            .collect();
        assert_eq!(widths[..3].iter().sum::<u32>(), span, "{chart}");
        assert!(chart.contains(">high</text>"), "the legend: {chart}");
        let cols = columns(
            "c",
            "t",
            &[vec![part(2, "#000")], vec![], vec![part(4, "#000")]],
            "<first>",
            "last",
        );
        // The tallest column spans the axis (170 - 10); the other half of it.
        assert!(cols.contains("height=\"160.0\""), "{cols}");
        assert!(cols.contains("height=\"80.0\""), "{cols}");
        assert!(cols.contains("&lt;first&gt;") && !cols.contains("<first>"));
    }
}

//! The Prometheus text format, from prometheus-client's OpenMetrics: the
//! agent's and the server's `/metrics` serve it by default, since
//! `promtool check metrics` and older scrapers read only it.

/// The Prometheus text format (0.0.4) of `openmetrics`, prometheus-client's
/// OpenMetrics encoding (the crate has no encoder of the older format).
///
/// The two differ, for what portreeve exports, in counters and framing: an
/// OpenMetrics counter family `x` has samples `x_total` (and `x_created`),
/// while Prometheus text names the family `x_total` in its `# HELP` and
/// `# TYPE` lines, which promtool otherwise reports as a family without
/// help; `x_created` has no place in Prometheus text, nor have `# UNIT`
/// and `# EOF`. Samples and gauges are the same in both.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let is_counter = |name: &str| counters.contains(&name);
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        if let Some((prefix, rest)) = descriptor {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let total = if is_counter(name) { "_total" } else { "" };
            out.push_str(&format!("{prefix}{name}{total} {text}\n"));
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        if name.strip_suffix("_created").is_some_and(is_counter) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counters_by_their_samples_and_drops_openmetrics_only_lines() {
        let openmetrics = "# HELP x_events Events.\n# TYPE x_events counter\n\
                           # UNIT x_events events\nx_events_total{kind=\"a\"} 3\n\
                           x_events_created{kind=\"a\"} 1700000000.0\n\
                           # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n\
                           # HELP x_bytes_created When.\n# TYPE x_bytes_created gauge\n\
                           x_bytes_created 5\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP x_events_total Events.\n# TYPE x_events_total counter\n\
             x_events_total{kind=\"a\"} 3\n\
             # HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n\
             # HELP x_bytes_created When.\n# TYPE x_bytes_created gauge\nx_bytes_created 5\n"
        );
    }
}

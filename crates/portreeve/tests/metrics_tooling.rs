//! The agent's `/metrics` and the monitoring files shipped beside it pass
//! Prometheus's own checks: `promtool check metrics` (with its lints) on a
//! live agent's plain text, OpenMetrics only when asked for, `HEAD`
//! answered; `promtool check rules` and `promtool test rules` on
//! packaging/prometheus; and the Grafana dashboard parses and queries only
//! series docs/agent.md documents.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::{Netns, metrics_request, run, sample, start_agent, testkit, wait_for};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `promtool ARGS`, with `input` on its standard input.
fn promtool(args: &[&str], input: &str) -> Output {
    testkit::run_with_input(
        Command::new("promtool").args(args).current_dir(root()),
        input.as_bytes(),
    )
}

/// An HTTP reply split into its head and its body.
fn split(reply: &str) -> (&str, &str) {
    reply.split_once("\r\n\r\n").expect("a reply head")
}

/// The value of header `name` in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The names of the series docs/agent.md's metrics table documents
/// (counters with their `_total`).
fn documented_names() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/agent.md")).unwrap();
    let section = doc.split("## Metrics").nth(1).expect("a Metrics section");
    let table = section.split("\n## ").next().unwrap();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Every `portreeve_…` name `query` uses.
fn names_in(query: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = query;
    while let Some(at) = rest.find("portreeve_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Asserts every series `used` names is documented, and returns them.
fn assert_documented(what: &str, used: BTreeSet<String>) -> BTreeSet<String> {
    assert!(!used.is_empty(), "{what} names no portreeve series");
    let documented = documented_names();
    let unknown: Vec<&String> = used.difference(&documented).collect();
    assert!(unknown.is_empty(), "{what} uses undocumented {unknown:?}");
    used
}

#[test]
fn promtool_accepts_a_live_agents_metrics_openmetrics_is_served_on_request_and_head_answered() {
    let test =
        "promtool_accepts_a_live_agents_metrics_openmetrics_is_served_on_request_and_head_answered";
    if !support::privileged(test) || !testkit::require_programs(test, &["promtool"]) {
        return;
    }
    let srv = Netns::bare();
    let state = tempfile::tempdir().unwrap();
    let mut agent = start_agent(&srv, state.path(), &["--no-conntrack"]);
    wait_for(&srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_listeners")
    });

    // Plain: Prometheus text 0.0.4, which promtool checks and lints.
    let plain = metrics_request(&srv, "GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n").unwrap();
    let (head, body) = split(&plain);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(head, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let checked = promtool(&["check", "metrics"], body);
    let complaints = format!("{}{}", support::stdout(&checked), support::stderr(&checked));
    assert!(
        checked.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {complaints}\n{body}"
    );
    // Labelled series with known labels are there from the start, at 0:
    // no drift, no failure and no flow datagram has happened here.
    for series in [
        "portreeve_drift_events_total{kind=\"owner_changed\"}",
        "portreeve_agent_errors_total{source=\"reclaim\"}",
        "portreeve_flow_datagrams_total{result=\"decoded\"}",
        "portreeve_agent_queue_dropped_total{queue=\"conntrack\"}",
        "portreeve_ports{state=\"abandoned\"}",
        "portreeve_detections_total{kind=\"vertical\",tier=\"agent\"}",
        "portreeve_capture_bytes_total",
    ] {
        assert_eq!(sample(body, series), Some(0.0), "{series}\n{body}");
    }

    // OpenMetrics when the scraper asks for it, as Prometheus does.
    let open = metrics_request(
        &srv,
        "GET /metrics HTTP/1.1\r\nHost: agent\r\nAccept: application/openmetrics-text;version=1.0.0,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n",
    )
    .unwrap();
    let (head, body) = split(&open);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        header(head, "content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text; version=1.0.0")),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("# TYPE portreeve_drift_events counter\n"),
        "{body}"
    );

    // HEAD: the GET's status and headers, no body.
    let reply = metrics_request(&srv, "HEAD /metrics HTTP/1.1\r\nHost: agent\r\n\r\n").unwrap();
    let (head, body) = split(&reply);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(
        header(head, "content-length")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n > 0),
        "{head}"
    );
    assert_eq!(body, "", "HEAD has no body");
    agent.stop();
}

#[test]
fn the_shipped_alert_rules_pass_promtool_and_their_unit_tests_and_use_documented_series() {
    let test =
        "the_shipped_alert_rules_pass_promtool_and_their_unit_tests_and_use_documented_series";
    if !testkit::require_programs(test, &["promtool"]) {
        return;
    }
    let rules = "packaging/prometheus/portreeve.rules.yml";
    let checked = run(Command::new("promtool")
        .args(["check", "rules", "--lint-fatal", rules])
        .current_dir(root()));
    assert!(
        checked.status.success(),
        "{}{}",
        support::stdout(&checked),
        support::stderr(&checked)
    );
    assert!(
        support::stdout(&checked).contains("SUCCESS: 8 rules found"),
        "{}",
        support::stdout(&checked)
    );
    let tested = run(Command::new("promtool")
        .args([
            "test",
            "rules",
            "packaging/prometheus/portreeve.rules.test.yml",
        ])
        .current_dir(root()));
    assert!(
        tested.status.success(),
        "{}{}",
        support::stdout(&tested),
        support::stderr(&tested)
    );
    // Expressions and annotations alike name documented series only.
    let text = std::fs::read_to_string(root().join(rules)).unwrap();
    assert_documented(rules, names_in(&text));
}

#[test]
fn the_grafana_dashboard_parses_and_queries_only_documented_series() {
    let path = root().join("packaging/grafana/portreeve.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut used = BTreeSet::new();
    let graphs = dashboard["panels"].as_array().expect("panels");
    for panel in graphs.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{panel}");
        for target in targets {
            let expr = target["expr"].as_str().expect("each target has an expr");
            assert!(!names_in(expr).is_empty(), "{expr}");
            used.extend(names_in(expr));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        used.extend(names_in(&variable["definition"].to_string()));
    }
    // Only documented series, and every one of them on some panel.
    let used = assert_documented("the dashboard", used);
    assert_eq!(used, documented_names());
}

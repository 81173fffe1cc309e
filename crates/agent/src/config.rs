//! The agent's configuration file (`/etc/portreeve/agent.toml`): how often
//! to read the listeners, where to serve metrics, what to watch, and what to
//! do after a scan detection (`[alerts]`, `[trace]`).

use std::net::SocketAddr;

use ipnet::IpNet;
use std::path::Path;
use std::time::Duration;

use portreeve_alerts::AlertsConfig;
use portreeve_capture::{CaptureConfig, CaptureError};
use portreeve_trace::{Enricher, TraceConfig, TraceError};
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::collector::CollectorConfig;
use crate::fleet::{EnrollToken, ServerConfig};

/// The agent's settings. Every key has a default, so an empty file (or
/// none) is a working configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Time between readings of the listening sockets (default 1 s, so
    /// drift shows within 2 s).
    pub interval: Duration,
    /// Where `/metrics` is served; `None` serves nothing.
    pub metrics: Option<SocketAddr>,
    /// Count new connections from conntrack events.
    pub conntrack: bool,
    /// Read every network namespace, not only the agent's own.
    pub all_netns: bool,
    /// Receive NetFlow v5/v9 and IPFIX here.
    pub netflow: Vec<SocketAddr>,
    /// Receive sFlow v5 here.
    pub sflow: Vec<SocketAddr>,
    /// Server ports each flow socket aggregates at most between flushes;
    /// past it the least recently used are stored early and counted in
    /// `portreeve_flow_evictions_total`. Sizing: see the collector's
    /// module docs (about 1.3 KB per key with one socket, at worst).
    pub flow_max_keys: usize,
    /// Exporters flow datagrams are accepted from; empty accepts any.
    pub flow_exporters: Vec<IpNet>,
    /// Time between lifecycle plans (and the reclaims they ask for).
    pub lifecycle_interval: Duration,
    /// What follows a scan detection: alerts, source tracing, captures.
    pub response: DetectionResponse,
    /// The fleet server to enroll with and push to (`[server]`); `None`
    /// reports to none.
    pub server: Option<ServerConfig>,
    /// How the per-source record of use is kept (`[usage]`).
    pub usage: UsageConfig,
}

/// The `[usage]` table: how long and how much of who-uses-what the agent
/// keeps (`portreeve usage --by-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageConfig {
    /// How long a (source, port) is kept after its last new connection
    /// (default 90 days).
    pub source_retention: jiff::SignedDuration,
    /// Per-source rows kept before new sources are folded into their /24
    /// or /64 (default 50,000).
    pub max_sources: u64,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            source_retention: jiff::SignedDuration::from_hours(24 * 90),
            max_sources: portreeve_store::DEFAULT_MAX_SOURCES,
        }
    }
}

/// `[usage]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsage {
    source_retention: Option<Spanned<String>>,
    max_sources: Option<Spanned<u64>>,
}

/// What the agent does after a scan detection, besides recording it and
/// blocking: the `[alerts]`, `[trace]` and `[capture]` tables of
/// `agent.toml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionResponse {
    /// The alert sinks (`[[alerts.webhook]]`, `[[alerts.syslog]]`,
    /// `[[alerts.ecs]]`); none by default.
    pub alerts: AlertsConfig,
    /// Source tracing; `None` (no `[trace]` table) traces nothing. Off
    /// unless asked for because a reverse DNS query for a scanner's
    /// address goes to a name server the scanner may run, telling it that
    /// the host noticed, and RDAP needs a server named anyway.
    pub trace: Option<TraceConfig>,
    /// Packet captures of detected sources (on by default).
    pub capture: CaptureConfig,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: Duration::from_secs(1),
            metrics: Some(SocketAddr::from(([127, 0, 0, 1], 9465))),
            conntrack: true,
            all_netns: false,
            netflow: Vec::new(),
            sflow: Vec::new(),
            flow_max_keys: CollectorConfig::default().max_keys,
            flow_exporters: Vec::new(),
            lifecycle_interval: Duration::from_secs(10),
            response: DetectionResponse::default(),
            server: None,
            usage: UsageConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    interval: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    conntrack: Option<bool>,
    all_netns: Option<bool>,
    netflow: Option<Vec<Spanned<String>>>,
    sflow: Option<Vec<Spanned<String>>>,
    flow_max_keys: Option<Spanned<usize>>,
    flow_exporters: Option<Vec<Spanned<String>>>,
    lifecycle_interval: Option<Spanned<String>>,
    alerts: Option<AlertsConfig>,
    trace: Option<TraceConfig>,
    capture: Option<CaptureConfig>,
    server: Option<RawServer>,
    usage: Option<RawUsage>,
}

/// `[server]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    url: Spanned<String>,
    host_name: Option<Spanned<String>>,
    push_interval: Option<Spanned<String>>,
    enroll_token_file: Option<Spanned<String>>,
    policy_confirm_within: Option<Spanned<String>>,
}

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file, with line and column where known.
    pub file: String,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl AgentConfig {
    /// Parses a configuration file's text; `origin` names it in errors,
    /// which say the line and column of the value at fault.
    pub fn parse(origin: &str, text: &str) -> Result<AgentConfig, ConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, message: String| {
            let file = match span {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.chars().count()
                        - before
                            .rfind('\n')
                            .map_or(0, |i| before[..=i].chars().count())
                        + 1;
                    format!("{origin}:{line}:{column}")
                }
                None => origin.to_string(),
            };
            ConfigError { file, message }
        };
        let at = |v: &Spanned<String>, message: String| located(Some(v.span()), message);
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| located(e.span(), e.message().to_string()))?;
        let mut config = AgentConfig::default();
        for (key, given, into, example) in [
            ("interval", &raw.interval, &mut config.interval, "1s, 500ms"),
            (
                "lifecycle_interval",
                &raw.lifecycle_interval,
                &mut config.lifecycle_interval,
                "10s, 1m",
            ),
        ] {
            if let Some(i) = given {
                *into = parse_interval(i.get_ref()).ok_or_else(|| {
                    at(
                        i,
                        format!(
                            "{key} `{}` is not a duration from 100ms to 1h (e.g. {example})",
                            i.get_ref()
                        ),
                    )
                })?;
            }
        }
        if let Some(m) = &raw.metrics {
            config.metrics = match m.get_ref().as_str() {
                "" | "off" => None,
                addr => Some(addr.parse().map_err(|_| {
                    at(
                        m,
                        format!(
                            "metrics `{addr}` is not ADDRESS:PORT (e.g. 127.0.0.1:9465), or \"off\""
                        ),
                    )
                })?),
            };
        }
        if let Some(c) = raw.conntrack {
            config.conntrack = c;
        }
        if let Some(a) = raw.all_netns {
            config.all_netns = a;
        }
        for (list, what, into) in [
            (&raw.netflow, "netflow", &mut config.netflow),
            (&raw.sflow, "sflow", &mut config.sflow),
        ] {
            for a in list.iter().flatten() {
                into.push(a.get_ref().parse().map_err(|_| {
                    at(
                        a,
                        format!(
                            "{what} `{}` is not ADDRESS:PORT (e.g. 0.0.0.0:2055)",
                            a.get_ref()
                        ),
                    )
                })?);
            }
        }
        if let Some(n) = &raw.flow_max_keys {
            if *n.get_ref() == 0 {
                return Err(located(
                    Some(n.span()),
                    "flow_max_keys must be at least 1 (the default is 1000000)".into(),
                ));
            }
            config.flow_max_keys = *n.get_ref();
        }
        for e in raw.flow_exporters.iter().flatten() {
            let net = crate::collector::parse_exporter(e.get_ref())
                .map_err(|m| at(e, format!("flow_exporters: {m}")))?;
            config.flow_exporters.push(net);
        }
        // The tables' own checks know a key, not a place: find it.
        let at_key = |path: &str, message: String| located(span_at(text, path), message);
        if let Some(alerts) = raw.alerts {
            alerts
                .validate()
                .map_err(|e| at_key(&format!("alerts.{}", e.field), e.to_string()))?;
            config.response.alerts = alerts;
        }
        if let Some(trace) = raw.trace {
            Enricher::from_config(&trace)
                .map_err(|e| at_key(&format!("trace.{}", trace_key(&e)), e.to_string()))?;
            config.response.trace = Some(trace);
        }
        if let Some(capture) = raw.capture {
            capture.validate().map_err(|e| {
                // Its messages start with the key: `capture.bytes must …`.
                let key = match &e {
                    CaptureError::Config(m) => m.split_whitespace().next().unwrap_or("capture"),
                    _ => "capture",
                };
                at_key(key, e.to_string())
            })?;
            config.response.capture = capture;
        }
        if let Some(usage) = raw.usage {
            if let Some(r) = &usage.source_retention {
                config.usage.source_retention = portreeve_policy::parse_duration(r.get_ref())
                    .filter(|d| d.is_positive())
                    .ok_or_else(|| {
                        at(
                            r,
                            format!(
                                "usage.source_retention `{}` is not a duration (e.g. 90d, 12h)",
                                r.get_ref()
                            ),
                        )
                    })?;
            }
            if let Some(n) = &usage.max_sources {
                if *n.get_ref() == 0 {
                    return Err(located(
                        Some(n.span()),
                        "usage.max_sources must be at least 1 (the default is 50000)".into(),
                    ));
                }
                config.usage.max_sources = *n.get_ref();
            }
        }
        if let Some(server) = raw.server {
            config.server =
                Some(server_config(server).map_err(|(span, m)| located(Some(span), m))?);
        }
        Ok(config)
    }

    /// The flow collector's limits and exporters.
    pub fn collector(&self) -> CollectorConfig {
        CollectorConfig {
            max_keys: self.flow_max_keys,
            exporters: self.flow_exporters.clone(),
        }
    }

    /// Reads the configuration file at `path`.
    pub fn read(path: &Path) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        AgentConfig::parse(&path.display().to_string(), &text)
    }
}

/// `[server]`'s settings, or the place and text of what is wrong.
fn server_config(raw: RawServer) -> Result<ServerConfig, (std::ops::Range<usize>, String)> {
    let at = |v: &Spanned<String>, m: String| (v.span(), m);
    let url = raw.url.get_ref().trim();
    if !valid_server_url(url) {
        return Err(at(
            &raw.url,
            format!(
                "server.url `{url}` is not an http:// or https:// URL (e.g. http://10.0.0.5:8440)"
            ),
        ));
    }
    let mut config = ServerConfig::new(url);
    if let Some(name) = &raw.host_name {
        if name.get_ref().trim().is_empty() {
            return Err(at(name, "server.host_name must not be empty".into()));
        }
        config.host_name = Some(name.get_ref().trim().to_string());
    }
    if let Some(i) = &raw.push_interval {
        config.push_interval = parse_interval(i.get_ref()).ok_or_else(|| {
            at(
                i,
                format!(
                    "server.push_interval `{}` is not a duration from 100ms to 1h (e.g. 10s, 1m)",
                    i.get_ref()
                ),
            )
        })?;
    }
    if let Some(c) = &raw.policy_confirm_within {
        config.policy_confirm_within = parse_interval(c.get_ref())
            .filter(|d| *d >= Duration::from_secs(1))
            .ok_or_else(|| {
                at(
                    c,
                    format!(
                        "server.policy_confirm_within `{}` is not a duration from 1s to 1h (e.g. 60s, 5m)",
                        c.get_ref()
                    ),
                )
            })?;
    }
    if let Some(file) = &raw.enroll_token_file {
        if !Path::new(file.get_ref()).is_absolute() {
            return Err(at(
                file,
                format!(
                    "server.enroll_token_file `{}` must be an absolute path",
                    file.get_ref()
                ),
            ));
        }
        config.enroll_token = Some(EnrollToken::File(file.get_ref().into()));
    }
    Ok(config)
}

/// Whether `url` can name the fleet server: `http://` or `https://` and a
/// host.
pub fn valid_server_url(url: &str) -> bool {
    url.strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// The `[trace]` key a tracing configuration error is about, or `""` for
/// the table: the reader names `mmdb` files, and the other checks start
/// their message with the key (`budget must be longer than zero`).
fn trace_key(e: &TraceError) -> &str {
    match e {
        TraceError::GeoOpen { .. } => "mmdb",
        TraceError::Config(message) => message.split_whitespace().next().unwrap_or(""),
        _ => "",
    }
}

/// Where in `text` the value at `path` (`alerts.webhook[0].url`) is written:
/// its span, or that of the deepest table or array on the way that is
/// there; `None` when not even the first key is.
fn span_at(text: &str, path: &str) -> Option<std::ops::Range<usize>> {
    let document = DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found = None;
    for step in path.split('.') {
        let mut parts = step.split('[');
        let key = parts.next().unwrap_or(step);
        let Some((_, mut value)) = table.iter().find(|(k, _)| k.get_ref() == key) else {
            return found;
        };
        found = Some(value.span());
        for index in parts {
            let item = index.trim_end_matches(']').parse::<usize>().ok();
            let Some(item) = item.and_then(|i| match value.get_ref() {
                DeValue::Array(items) => items.get(i),
                _ => None,
            }) else {
                return found;
            };
            value = item;
            found = Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return found,
        }
    }
    found
}

/// A reading interval: a duration from 100 ms to an hour.
pub fn parse_interval(text: &str) -> Option<Duration> {
    let span: jiff::Span = text.trim().parse().ok()?;
    let d = jiff::SignedDuration::try_from(span).ok()?;
    let d = Duration::try_from(d).ok()?;
    (Duration::from_millis(100)..=Duration::from_secs(3600))
        .contains(&d)
        .then_some(d)
}

/// A duration as [`parse_interval`] reads it (`1s`, `500ms`, `1m 30s`),
/// for messages and logs.
pub fn show_interval(d: Duration) -> String {
    jiff::SignedDuration::try_from(d)
        .map_or_else(|_| format!("{}s", d.as_secs()), |d| format!("{d:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_show_as_they_are_written() {
        for text in ["1s", "500ms", "1m 30s", "1h"] {
            assert_eq!(show_interval(parse_interval(text).unwrap()), text);
        }
    }

    #[test]
    fn defaults_and_settings() {
        assert_eq!(
            AgentConfig::parse("a.toml", "").unwrap(),
            AgentConfig::default()
        );
        let c = AgentConfig::parse(
            "a.toml",
            "interval = \"500ms\"\nmetrics = \"0.0.0.0:9100\"\nconntrack = false\nall_netns = true\nnetflow = [\"0.0.0.0:2055\"]\nlifecycle_interval = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.lifecycle_interval, Duration::from_secs(2));
        assert_eq!(c.metrics, Some("0.0.0.0:9100".parse().unwrap()));
        assert!(!c.conntrack && c.all_netns);
        assert_eq!(c.netflow, ["0.0.0.0:2055".parse().unwrap()]);
        assert!(c.sflow.is_empty());
        let c = AgentConfig::parse(
            "a.toml",
            "flow_max_keys = 50000\nflow_exporters = [\"10.0.0.0/8\", \"2001:db8::1\"]\n",
        )
        .unwrap();
        let collector = c.collector();
        assert_eq!(collector.max_keys, 50_000);
        assert_eq!(
            collector.exporters,
            [
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "2001:db8::1/128".parse().unwrap()
            ]
        );
        assert_eq!(
            AgentConfig::parse("a.toml", "metrics = \"off\"\n")
                .unwrap()
                .metrics,
            None
        );
    }

    #[test]
    fn the_usage_table_sets_retention_and_bound() {
        let c = AgentConfig::parse(
            "a.toml",
            "[usage]\nsource_retention = \"30d\"\nmax_sources = 1000\n",
        )
        .unwrap();
        assert_eq!(
            c.usage,
            UsageConfig {
                source_retention: jiff::SignedDuration::from_hours(24 * 30),
                max_sources: 1000,
            }
        );
        for (text, key) in [
            (
                "[usage]\nsource_retention = \"soon\"\n",
                "usage.source_retention",
            ),
            ("[usage]\nmax_sources = 0\n", "usage.max_sources"),
        ] {
            let e = AgentConfig::parse("a.toml", text).unwrap_err().to_string();
            assert!(e.starts_with("a.toml:2:") && e.contains(key), "{e}");
        }
    }

    #[test]
    fn the_shipped_sample_is_valid_and_shows_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/agent.toml");
        let sample = AgentConfig::read(Path::new(path)).unwrap();
        assert_eq!(sample, AgentConfig::default());
    }

    #[test]
    fn alerts_trace_and_capture_tables_are_read() {
        let c = AgentConfig::parse(
            "a.toml",
            "[[alerts.webhook]]\nurl = \"http://127.0.0.1:8080/hook\"\n\
             [[alerts.ecs]]\npath = \"/tmp/alerts.json\"\n\
             [trace]\nreverse_dns = false\nrdap_base_url = \"http://127.0.0.1:8081\"\n",
        )
        .unwrap();
        let response = &c.response;
        assert_eq!(response.alerts.webhook[0].url, "http://127.0.0.1:8080/hook");
        assert_eq!(response.alerts.ecs[0].path, Path::new("/tmp/alerts.json"));
        assert!(response.alerts.syslog.is_empty());
        let trace = response.trace.as_ref().unwrap();
        assert!(!trace.reverse_dns);
        assert_eq!(
            trace.rdap_base_url.as_deref(),
            Some("http://127.0.0.1:8081")
        );
        // No [trace] table, no tracing.
        assert_eq!(
            AgentConfig::parse("a.toml", "").unwrap().response.trace,
            None
        );
    }

    #[test]
    fn bad_alerts_trace_and_capture_values_are_located() {
        let e = AgentConfig::parse(
            "a.toml",
            "[[alerts.webhook]]\nurl = \"http://x/\"\n[[alerts.webhook]]\nurl = \"ftp://x\"\n",
        )
        .unwrap_err();
        assert_eq!(e.file, "a.toml:4:7", "{e}");
        assert!(e.message.contains("alerts.webhook[1].url"), "{e}");
        let e = AgentConfig::parse(
            "a.toml",
            "[[alerts.syslog]]\naddress = \"udp://127.0.0.1:514\"\nfacility = \"mail\"\n",
        )
        .unwrap_err();
        assert_eq!(e.file, "a.toml:3:12", "{e}");
        let e = AgentConfig::parse("a.toml", "[alerts]\nwebhooks = []\n").unwrap_err();
        assert!(e.message.contains("unknown field `webhooks`"), "{e}");
        assert_eq!(e.file, "a.toml:2:1", "{e}");
        let e = AgentConfig::parse("a.toml", "[trace]\nbudget = \"0s\"\n").unwrap_err();
        assert!(e.message.contains("budget must be longer than zero"), "{e}");
        assert_eq!(e.file, "a.toml:2:10", "{e}");
        let e =
            AgentConfig::parse("a.toml", "[trace]\nmmdb = [\"/nonexistent.mmdb\"]\n").unwrap_err();
        assert!(e.message.contains("/nonexistent.mmdb"), "{e}");
        assert_eq!(e.file, "a.toml:2:8", "{e}");
        let e =
            AgentConfig::parse("a.toml", "[trace]\nrdap_base_url = \"ldap://x\"\n").unwrap_err();
        assert_eq!(e.file, "a.toml:2:17", "{e}");
    }

    #[test]
    fn the_shipped_samples_alert_sinks_are_valid_when_uncommented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/agent.toml");
        let sample = std::fs::read_to_string(path).unwrap();
        // Each commented `[[alerts.…]]` table and the `key = value` lines
        // under it.
        let mut text = String::new();
        let mut in_table = false;
        for line in sample.lines() {
            let Some(toml) = line.strip_prefix("# ") else {
                in_table = false;
                continue;
            };
            in_table = toml.starts_with("[[alerts.") || (in_table && toml.contains(" = "));
            if in_table {
                text.push_str(toml);
                text.push('\n');
            }
        }
        let alerts = AgentConfig::parse(path, &text).unwrap().response.alerts;
        let counts = (alerts.webhook.len(), alerts.syslog.len(), alerts.ecs.len());
        assert_eq!(counts, (1, 1, 1), "{text}");
    }

    #[test]
    fn the_server_table_is_read_and_its_errors_located() {
        let c = AgentConfig::parse(
            "a.toml",
            "[server]\nurl = \"http://10.0.0.5:8440\"\nhost_name = \"web-1\"\n\
             push_interval = \"30s\"\nenroll_token_file = \"/etc/portreeve/enroll-token\"\n\
             policy_confirm_within = \"2m\"\n",
        )
        .unwrap();
        let server = c.server.unwrap();
        assert_eq!(server.policy_confirm_within, Duration::from_secs(120));
        assert_eq!(server.url, "http://10.0.0.5:8440");
        assert_eq!(server.host_name.as_deref(), Some("web-1"));
        assert_eq!(server.push_interval, Duration::from_secs(30));
        assert_eq!(
            server.enroll_token,
            Some(EnrollToken::File("/etc/portreeve/enroll-token".into()))
        );
        let defaults = AgentConfig::parse("a.toml", "[server]\nurl = \"https://fleet\"\n")
            .unwrap()
            .server
            .unwrap();
        assert_eq!(defaults, ServerConfig::new("https://fleet"));
        for (text, file, says) in [
            (
                "[server]\nurl = \"fleet:8440\"\n",
                "a.toml:2:7",
                "http:// or https://",
            ),
            (
                "[server]\nurl = \"http://x\"\npush_interval = \"0s\"\n",
                "a.toml:3:17",
                "push_interval",
            ),
            (
                "[server]\nurl = \"http://x\"\npolicy_confirm_within = \"500ms\"\n",
                "a.toml:3:25",
                "policy_confirm_within",
            ),
            (
                "[server]\nurl = \"http://x\"\nenroll_token_file = \"token\"\n",
                "a.toml:3:21",
                "absolute path",
            ),
            (
                "[server]\nurl = \"http://x\"\nhost_name = \" \"\n",
                "a.toml:3:13",
                "must not be empty",
            ),
            (
                "[server]\nurl = \"http://x\"\ntoken = \"prt_\"\n",
                "a.toml:3:1",
                "unknown field `token`",
            ),
            (
                "[server]\nhost_name = \"x\"\n",
                "a.toml:1:1",
                "missing field `url`",
            ),
        ] {
            let e = AgentConfig::parse("a.toml", text).unwrap_err();
            assert_eq!(e.file, file, "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn the_shipped_samples_server_table_is_valid_when_uncommented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/agent.toml");
        let sample = std::fs::read_to_string(path).unwrap();
        let text: String = sample
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .skip_while(|l| *l != "[server]")
            .take_while(|l| *l == "[server]" || l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let server = AgentConfig::parse(path, &text).unwrap().server.unwrap();
        assert_eq!(server.host_name.as_deref(), Some("web-1"), "{text}");
        assert!(server.enroll_token.is_some(), "{text}");
        assert_eq!(
            server.policy_confirm_within,
            Duration::from_secs(60),
            "{text}"
        );
        assert!(text.contains("policy_confirm_within"), "{text}");
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = AgentConfig::parse("a.toml", "\nintervall = \"1s\"\n").unwrap_err();
        assert_eq!(e.file, "a.toml:2:1");
        assert!(e.message.contains("unknown field `intervall`"), "{e}");
        // Values that parse as TOML but mean nothing are located at the
        // value itself.
        let e =
            AgentConfig::parse("a.toml", "conntrack = true\ninterval = \"10ms\"\n").unwrap_err();
        assert!(e.message.contains("from 100ms to 1h"), "{e}");
        assert_eq!(e.file, "a.toml:2:12", "{e}");
        let e = AgentConfig::parse("a.toml", "metrics = \"localhost\"\n").unwrap_err();
        assert!(e.message.contains("ADDRESS:PORT"), "{e}");
        assert_eq!(e.file, "a.toml:1:11", "{e}");
        let e =
            AgentConfig::parse("a.toml", "netflow = [\"0.0.0.0:2055\", \"nope\"]\n").unwrap_err();
        assert_eq!(e.file, "a.toml:1:28", "{e}");
        let e = AgentConfig::parse("a.toml", "flow_max_keys = 0\n").unwrap_err();
        assert!(e.message.contains("at least 1"), "{e}");
        assert_eq!(e.file, "a.toml:1:17", "{e}");
        let e = AgentConfig::parse("a.toml", "flow_max_keys = -5\n").unwrap_err();
        assert_eq!(e.file, "a.toml:1:17", "{e}");
        let e = AgentConfig::parse("a.toml", "flow_exporters = [\"10.0.0.1/8\"]\n").unwrap_err();
        assert!(e.message.contains("did you mean `10.0.0.0/8`"), "{e}");
        assert_eq!(e.file, "a.toml:1:19", "{e}");
    }
}

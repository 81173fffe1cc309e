//! The agent's configuration file (`/etc/portreeve/agent.toml`): how often
//! to read the listeners, where to serve metrics, what to watch.

use std::net::SocketAddr;

use ipnet::IpNet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::collector::CollectorConfig;

/// The agent's settings. Every key has a default, so an empty file (or
/// none) is a working configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    fn the_shipped_sample_is_valid_and_shows_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/agent.toml");
        let sample = AgentConfig::read(Path::new(path)).unwrap();
        assert_eq!(sample, AgentConfig::default());
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

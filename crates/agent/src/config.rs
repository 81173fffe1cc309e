//! The agent's configuration file (`/etc/portreeve/agent.toml`): how often
//! to read the listeners, where to serve metrics, what to watch.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

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
            lifecycle_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    interval: Option<String>,
    metrics: Option<String>,
    conntrack: Option<bool>,
    all_netns: Option<bool>,
    netflow: Option<Vec<String>>,
    sflow: Option<Vec<String>>,
    lifecycle_interval: Option<String>,
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
    /// Parses a configuration file's text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<AgentConfig, ConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, message: String| {
            let file = match span {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("{origin}:{line}:{column}")
                }
                None => origin.to_string(),
            };
            ConfigError { file, message }
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| located(e.span(), e.message().to_string()))?;
        let mut config = AgentConfig::default();
        if let Some(i) = raw.interval {
            config.interval = parse_interval(&i).ok_or_else(|| {
                located(
                    None,
                    format!("interval `{i}` is not a duration from 100ms to 1h (e.g. 1s, 500ms)"),
                )
            })?;
        }
        if let Some(i) = raw.lifecycle_interval {
            config.lifecycle_interval = parse_interval(&i).ok_or_else(|| {
                located(
                    None,
                    format!(
                        "lifecycle_interval `{i}` is not a duration from 100ms to 1h (e.g. 10s, 1m)"
                    ),
                )
            })?;
        }
        if let Some(m) = raw.metrics {
            config.metrics = match m.as_str() {
                "" | "off" => None,
                addr => Some(addr.parse().map_err(|_| {
                    located(
                        None,
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
            (raw.netflow, "netflow", &mut config.netflow),
            (raw.sflow, "sflow", &mut config.sflow),
        ] {
            for a in list.unwrap_or_default() {
                into.push(a.parse().map_err(|_| {
                    located(
                        None,
                        format!("{what} `{a}` is not ADDRESS:PORT (e.g. 0.0.0.0:2055)"),
                    )
                })?);
            }
        }
        Ok(config)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = AgentConfig::parse("a.toml", "interval = \"10ms\"\n").unwrap_err();
        assert!(e.message.contains("from 100ms to 1h"), "{e}");
        let e = AgentConfig::parse("a.toml", "metrics = \"localhost\"\n").unwrap_err();
        assert!(e.message.contains("ADDRESS:PORT"), "{e}");
    }
}

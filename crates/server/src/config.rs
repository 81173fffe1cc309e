//! The server's configuration file (`/etc/portreeve/server.toml`): where it
//! listens, its database, where `/metrics` is served, and its request
//! limits. Every key has a default, so an empty file (or none) is a working
//! configuration; the command line's flags override the file.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::check_url;
use crate::oidc::OidcConfig;

/// Where the API listens by default: loopback, until there is TLS.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8440);

/// Where `/metrics` is served by default: loopback, next to the agent's
/// 9465, so a Prometheus on the same machine scrapes it without exposing
/// it further.
pub const DEFAULT_METRICS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9466);

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Where the API listens (`listen`).
    pub listen: SocketAddr,
    /// The database URL (`database`); `None` is SQLite in the state
    /// directory, which the binary resolves.
    pub database: Option<String>,
    /// Where `/metrics` is served (`metrics`); `None` (`"off"`) serves
    /// nothing.
    pub metrics: Option<SocketAddr>,
    /// How many requests are served at once and how long each may take.
    pub limits: Limits,
    /// OIDC sign-in for people (`[oidc]`); `None` accepts API tokens only.
    pub oidc: Option<OidcConfig>,
    /// Approvals a fleet policy version needs, by principals other than
    /// its proposer (`[change_control] approvals`, at least 1).
    pub approvals: u32,
}

/// What one server takes on at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A request not answered within this gets 503 (`request_timeout`),
    /// its work dropped: time spent waiting for a slot counts too.
    pub request_timeout: Duration,
    /// Requests served at once (`max_requests`); one more is answered 503
    /// at once (see limits.rs).
    pub max_requests: usize,
}

/// The default of `max_requests` (docs/server.md, "Capacity and scaling out").
pub const DEFAULT_MAX_REQUESTS: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A 4 MiB push over a slow link, with room to spare.
            request_timeout: Duration::from_secs(30),
            // Enough for 10,000 hosts pushing every 10 s (bench/server_load.sh):
            // a stall of a few tens of milliseconds puts more than a
            // hundred pushes in flight, and a lower cap turns them into
            // 503s. Bodies in memory stay bounded by this times 4 MiB.
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN,
            database: None,
            metrics: Some(DEFAULT_METRICS),
            limits: Limits::default(),
            oidc: None,
            approvals: 1,
        }
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
    max_requests: Option<Spanned<i64>>,
    oidc: Option<OidcConfig>,
    change_control: Option<RawChangeControl>,
}

/// `[change_control]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChangeControl {
    approvals: Option<Spanned<i64>>,
}

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file, with line and column where known (`FILE:LINE:COLUMN`).
    pub file: String,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl ServerConfig {
    /// Reads the configuration file at `path`.
    pub fn read(path: &Path) -> Result<ServerConfig, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        ServerConfig::parse(&origin, &text)
    }

    /// Parses a configuration file's text; `origin` names it in errors,
    /// which give the line and column of the value at fault.
    pub fn parse(origin: &str, text: &str) -> Result<ServerConfig, ConfigError> {
        let located = |span: Option<Range<usize>>, message: String| ConfigError {
            file: match span {
                Some(span) => {
                    let (line, column) = line_and_column(text, span.start);
                    format!("{origin}:{line}:{column}")
                }
                None => origin.to_owned(),
            },
            message,
        };
        let at = |v: &Spanned<String>, message: String| located(Some(v.span()), message);
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| located(e.span(), e.message().to_owned()))?;
        let mut config = ServerConfig::default();
        if let Some(l) = &raw.listen {
            config.listen = l.get_ref().parse().map_err(|_| {
                at(
                    l,
                    format!(
                        "listen `{}` is not ADDRESS:PORT (e.g. 127.0.0.1:8440)",
                        l.get_ref()
                    ),
                )
            })?;
        }
        if let Some(d) = &raw.database {
            check_url(d.get_ref()).map_err(|e| at(d, format!("database: {e}")))?;
            config.database = Some(d.get_ref().clone());
        }
        if let Some(m) = &raw.metrics {
            config.metrics = parse_metrics(m.get_ref()).map_err(|m2| at(m, m2))?;
        }
        if let Some(t) = &raw.request_timeout {
            config.limits.request_timeout = parse_timeout(t.get_ref()).map_err(|m| at(t, m))?;
        }
        if let Some(n) = &raw.max_requests {
            config.limits.max_requests = usize::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    located(
                        Some(n.span()),
                        format!("max_requests `{}` must be at least 1", n.get_ref()),
                    )
                })?;
        }
        config.oidc = raw.oidc;
        if let Some(n) = raw.change_control.and_then(|c| c.approvals) {
            config.approvals = u32::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    located(
                        Some(n.span()),
                        format!(
                            "change_control.approvals `{}` must be at least 1",
                            n.get_ref()
                        ),
                    )
                })?;
        }
        Ok(config)
    }
}

/// `metrics`/`--metrics`: ADDRESS:PORT, or `off` for none.
pub fn parse_metrics(text: &str) -> Result<Option<SocketAddr>, String> {
    match text {
        "off" => Ok(None),
        addr => addr.parse().map(Some).map_err(|_| {
            format!("metrics `{addr}` is not ADDRESS:PORT (e.g. 127.0.0.1:9466), or \"off\"")
        }),
    }
}

/// `request_timeout`: a duration from 1 s to 1 h (`30s`, `2m`).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
        .ok_or_else(|| {
            format!("request_timeout `{text}` is not a duration from 1s to 1h (e.g. 30s, 2m)")
        })
}

/// The 1-based line and column (in characters) of byte `offset`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/server.toml");

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = ServerConfig::parse("s.toml", "").unwrap();
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.metrics, Some("127.0.0.1:9466".parse().unwrap()));
        assert_eq!(config.limits.request_timeout, Duration::from_secs(30));
    }

    #[test]
    fn every_key_is_read() {
        let config = ServerConfig::parse(
            "s.toml",
            "listen = \"0.0.0.0:9000\"\ndatabase = \"postgres:///fleet?host=/run/postgresql\"\n\
             metrics = \"off\"\nrequest_timeout = \"2m\"\nmax_requests = 8\n",
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            config.database.as_deref(),
            Some("postgres:///fleet?host=/run/postgresql")
        );
        assert_eq!(config.metrics, None);
        assert_eq!(config.limits.request_timeout, Duration::from_secs(120));
        assert_eq!(config.limits.max_requests, 8);
        let config = ServerConfig::parse("s.toml", "[change_control]\napprovals = 2\n").unwrap();
        assert_eq!(config.approvals, 2);
        let config = ServerConfig::parse(
            "s.toml",
            "[oidc]\nissuer = \"https://id.example\"\naudience = \"portreeve\"\n",
        )
        .unwrap();
        let oidc = config.oidc.unwrap();
        assert_eq!(
            (oidc.issuer.as_str(), oidc.audience.as_str()),
            ("https://id.example", "portreeve")
        );
    }

    #[test]
    fn mistakes_are_located() {
        for (text, file, words) in [
            ("listn = \"x\"\n", "s.toml:1:1", "unknown field `listn`"),
            (
                "\nlisten = \"nowhere\"\n",
                "s.toml:2:10",
                "listen `nowhere`",
            ),
            (
                "database = \"mysql://x\"\n",
                "s.toml:1:12",
                "not a database URL",
            ),
            ("metrics = \"on\"\n", "s.toml:1:11", "metrics `on`"),
            ("request_timeout = \"0s\"\n", "s.toml:1:19", "from 1s to 1h"),
            ("max_requests = 0\n", "s.toml:1:16", "at least 1"),
            (
                "[change_control]\napprovals = 0\n",
                "s.toml:2:13",
                "approvals `0` must be at least 1",
            ),
            (
                "[oidc]\nissuer = \"x\"\naudience = \"y\"\nclient = 1\n",
                "s.toml:4:1",
                "unknown field `client`",
            ),
        ] {
            let e = ServerConfig::parse("s.toml", text).unwrap_err();
            assert_eq!(e.file, file, "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }

    /// The shipped sample comments every key out with its default: as it
    /// is, and with every `# key = value` line taken in, it is the
    /// defaults (its `database` names the file the default resolves to
    /// under the unit's state directory).
    #[test]
    fn the_shipped_sample_shows_the_defaults() {
        let text = std::fs::read_to_string(SAMPLE).unwrap();
        assert_eq!(
            ServerConfig::parse(SAMPLE, &text).unwrap(),
            ServerConfig::default()
        );
        let uncommented: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")))
            .map(|l| format!("{l}\n"))
            .collect();
        let keys = uncommented.lines().count();
        assert_eq!(keys, 5, "every key once:\n{uncommented}");
        let sample = ServerConfig::parse(SAMPLE, &uncommented).unwrap();
        let expected = ServerConfig {
            database: Some(crate::sqlite_url(Path::new("/var/lib/portreeve/server.db"))),
            ..ServerConfig::default()
        };
        assert_eq!(sample, expected);
        // The `#[change_control]` example, uncommented, is the default.
        let change_control: String = text
            .lines()
            .skip_while(|l| *l != "#[change_control]")
            .take(2)
            .filter_map(|l| l.strip_prefix('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(change_control.contains("approvals"), "{change_control}");
        assert_eq!(
            ServerConfig::parse(SAMPLE, &change_control).unwrap(),
            ServerConfig::default()
        );
        // The `#[oidc]` example, uncommented, is a table whose other keys
        // show their defaults.
        let oidc: String = text
            .lines()
            .skip_while(|l| *l != "#[oidc]")
            .filter_map(|l| l.strip_prefix('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let oidc = ServerConfig::parse(SAMPLE, &oidc).unwrap().oidc.unwrap();
        let defaults = OidcConfig::new(oidc.issuer.clone(), oidc.audience.clone());
        assert_eq!(oidc, defaults);
    }
}

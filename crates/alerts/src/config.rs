//! The `[alerts]` configuration: which sinks, where, and their bounds.
//!
//! ```toml
//! [[alerts.webhook]]
//! url = "https://hooks.example/portreeve"
//! bearer_token = "…"
//!
//! [[alerts.syslog]]
//! address = "udp://127.0.0.1:514"
//! facility = "auth"
//!
//! [[alerts.ecs]]
//! path = "/var/log/portreeve/alerts.ecs.json"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

/// Every configured sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// JSON POST receivers.
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
    /// Syslog receivers.
    #[serde(default)]
    pub syslog: Vec<SyslogConfig>,
    /// ECS JSON-lines files.
    #[serde(default)]
    pub ecs: Vec<EcsConfig>,
}

/// The default queue bound of every sink, in alerts.
pub const DEFAULT_QUEUE: usize = 1024;

fn default_queue() -> usize {
    DEFAULT_QUEUE
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL to POST to.
    pub url: String,
    /// The sink's name in logs and metrics (default `webhook[N]`).
    pub name: Option<String>,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub bearer_token: Option<String>,
    /// Further request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The bound on one attempt, connection to answer.
    #[serde(default = "default_timeout")]
    pub timeout: SignedDuration,
    /// Attempts after the first, on 5xx answers and transport failures.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The first retry's wait; doubled for each further retry.
    #[serde(default = "default_backoff")]
    pub backoff: SignedDuration,
    /// The longest wait between retries.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: SignedDuration,
    /// Alerts queued at most; the oldest is dropped past this.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_timeout() -> SignedDuration {
    SignedDuration::from_secs(5)
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> SignedDuration {
    SignedDuration::from_millis(500)
}
fn default_max_backoff() -> SignedDuration {
    SignedDuration::from_secs(30)
}

/// One syslog receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub address: String,
    /// The sink's name in logs and metrics (default `syslog[N]`).
    pub name: Option<String>,
    /// The facility name (`auth`, `daemon`, `local0`…).
    #[serde(default = "default_facility")]
    pub facility: String,
    /// The bound on connecting and on one write over TCP.
    #[serde(default = "default_timeout")]
    pub timeout: SignedDuration,
    /// Alerts queued at most; the oldest is dropped past this.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_facility() -> String {
    "auth".to_owned()
}

/// One ECS file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsConfig {
    /// The file to append to.
    pub path: PathBuf,
    /// The sink's name in logs and metrics (default `ecs[N]`).
    pub name: Option<String>,
    /// The file is rotated before it would grow past this many bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept (`PATH.1` … `PATH.KEEP`).
    #[serde(default = "default_keep")]
    pub keep: u32,
    /// Alerts queued at most; the oldest is dropped past this.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_max_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_keep() -> u32 {
    5
}

/// A syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One datagram a message.
    Udp,
    /// Octet-counted frames on one connection.
    Tcp,
}

/// The syslog facilities of RFC 5424, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// 0
    Kern,
    /// 1
    User,
    /// 3
    Daemon,
    /// 4
    Auth,
    /// 10
    Authpriv,
    /// 16 to 23: `local0` … `local7`.
    Local(u8),
}

impl Facility {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local(n) => 16 + n,
        }
    }

    /// The facility called `name`.
    pub fn from_name(name: &str) -> Option<Facility> {
        Some(match name {
            "kern" => Facility::Kern,
            "user" => Facility::User,
            "daemon" => Facility::Daemon,
            "auth" | "security" => Facility::Auth,
            "authpriv" => Facility::Authpriv,
            _ => {
                let n: u8 = name.strip_prefix("local")?.parse().ok()?;
                (n <= 7 && name.len() == 6).then_some(Facility::Local(n))?
            }
        })
    }
}

/// A configuration value that cannot work, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alerts.{field}: {problem}")]
pub struct ConfigError {
    /// `webhook[0].url` and the like.
    pub field: String,
    /// What is wrong, in words.
    pub problem: String,
}

fn error(kind: &str, index: usize, key: &str, problem: impl fmt::Display) -> ConfigError {
    ConfigError {
        field: format!("{kind}[{index}].{key}"),
        problem: problem.to_string(),
    }
}

/// A duration that must be positive, as a std duration.
fn positive(
    kind: &str,
    index: usize,
    key: &str,
    value: SignedDuration,
) -> Result<Duration, ConfigError> {
    Duration::try_from(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            error(
                kind,
                index,
                key,
                format!("must be longer than zero, not {value:#}"),
            )
        })
}

fn check_queue(kind: &str, index: usize, queue: usize) -> Result<(), ConfigError> {
    if queue == 0 {
        return Err(error(kind, index, "queue", "must hold at least one alert"));
    }
    Ok(())
}

/// A webhook's settings, checked.
pub(crate) struct WebhookPlan {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub retry: crate::webhook::RetryPolicy,
}

impl WebhookConfig {
    pub(crate) fn plan(&self, index: usize) -> Result<WebhookPlan, ConfigError> {
        let err = |key: &str, problem: String| error("webhook", index, key, problem);
        let scheme_ok = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !scheme_ok || self.url.parse::<ureq::http::Uri>().is_err() {
            return Err(err(
                "url",
                format!("{:?} is not an http:// or https:// URL", self.url),
            ));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.headers {
            if ureq::http::HeaderName::try_from(name.as_str()).is_err()
                || ureq::http::HeaderValue::try_from(value.as_str()).is_err()
            {
                return Err(err("headers", format!("{name:?} is not a valid header")));
            }
            headers.push((name.clone(), value.clone()));
        }
        if let Some(token) = &self.bearer_token {
            if token.is_empty() || token.contains(['\r', '\n']) {
                return Err(err("bearer_token", "must be one non-empty line".to_owned()));
            }
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        check_queue("webhook", index, self.queue)?;
        let retry = crate::webhook::RetryPolicy {
            retries: self.retries,
            backoff: positive("webhook", index, "backoff", self.backoff)?,
            max_backoff: positive("webhook", index, "max_backoff", self.max_backoff)?,
        };
        Ok(WebhookPlan {
            url: self.url.clone(),
            headers,
            timeout: positive("webhook", index, "timeout", self.timeout)?,
            retry,
        })
    }
}

/// A syslog receiver's settings, checked.
pub(crate) struct SyslogPlan {
    pub transport: SyslogTransport,
    pub address: String,
    pub facility: Facility,
    pub timeout: Duration,
}

impl SyslogConfig {
    pub(crate) fn plan(&self, index: usize) -> Result<SyslogPlan, ConfigError> {
        let (transport, address) = if let Some(rest) = self.address.strip_prefix("udp://") {
            (SyslogTransport::Udp, rest)
        } else if let Some(rest) = self.address.strip_prefix("tcp://") {
            (SyslogTransport::Tcp, rest)
        } else {
            return Err(error(
                "syslog",
                index,
                "address",
                format!("{:?} must start with udp:// or tcp://", self.address),
            ));
        };
        let port_ok = address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(error(
                "syslog",
                index,
                "address",
                format!("{:?} must be HOST:PORT after the scheme", self.address),
            ));
        }
        let facility = Facility::from_name(&self.facility).ok_or_else(|| {
            error(
                "syslog",
                index,
                "facility",
                format!(
                    "unknown facility {:?}; use kern, user, daemon, auth, authpriv or local0 to local7",
                    self.facility
                ),
            )
        })?;
        check_queue("syslog", index, self.queue)?;
        Ok(SyslogPlan {
            transport,
            address: address.to_owned(),
            facility,
            timeout: positive("syslog", index, "timeout", self.timeout)?,
        })
    }
}

impl EcsConfig {
    pub(crate) fn check(&self, index: usize) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() || self.path.file_name().is_none() {
            return Err(error("ecs", index, "path", "must name a file"));
        }
        if self.max_bytes < 1024 {
            return Err(error(
                "ecs",
                index,
                "max_bytes",
                format!(
                    "{} is too small to hold an alert; use at least 1024",
                    self.max_bytes
                ),
            ));
        }
        check_queue("ecs", index, self.queue)
    }
}

impl AlertsConfig {
    /// The first setting that cannot work, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, w) in self.webhook.iter().enumerate() {
            w.plan(i)?;
        }
        for (i, s) in self.syslog.iter().enumerate() {
            s.plan(i)?;
        }
        for (i, e) in self.ecs.iter().enumerate() {
            e.check(i)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AlertsConfig {
        #[derive(Deserialize)]
        struct File {
            alerts: AlertsConfig,
        }
        toml::from_str::<File>(text).expect("parses").alerts
    }

    #[test]
    fn the_documented_example_parses_with_defaults() {
        let config = parse(
            r#"
            [[alerts.webhook]]
            url = "https://hooks.example/portreeve"
            bearer_token = "s3cret"
            timeout = "2s"

            [[alerts.syslog]]
            address = "udp://127.0.0.1:514"
            facility = "auth"

            [[alerts.ecs]]
            path = "/var/log/portreeve/alerts.ecs.json"
            "#,
        );
        assert_eq!(config.validate(), Ok(()));
        let webhook = config.webhook[0].plan(0).unwrap();
        assert_eq!(webhook.timeout, Duration::from_secs(2));
        assert_eq!(webhook.retry.retries, 4);
        assert!(
            webhook
                .headers
                .contains(&("Authorization".to_owned(), "Bearer s3cret".to_owned()))
        );
        let syslog = config.syslog[0].plan(0).unwrap();
        assert_eq!(
            (syslog.transport, syslog.address.as_str(), syslog.facility),
            (SyslogTransport::Udp, "127.0.0.1:514", Facility::Auth)
        );
        assert_eq!((config.ecs[0].max_bytes, config.ecs[0].keep), (10 << 20, 5));
    }

    #[test]
    fn bad_values_are_named_and_explained() {
        let cases = [
            (
                "[[alerts.webhook]]\nurl = \"ftp://x\"",
                "alerts.webhook[0].url: \"ftp://x\" is not an http:// or https:// URL",
            ),
            (
                "[[alerts.webhook]]\nurl = \"http://x\"\nbackoff = \"0s\"",
                "alerts.webhook[0].backoff: must be longer than zero, not 0s",
            ),
            (
                "[[alerts.syslog]]\naddress = \"127.0.0.1:514\"",
                "alerts.syslog[0].address: \"127.0.0.1:514\" must start with udp:// or tcp://",
            ),
            (
                "[[alerts.syslog]]\naddress = \"tcp://host\"",
                "alerts.syslog[0].address: \"tcp://host\" must be HOST:PORT after the scheme",
            ),
            (
                "[[alerts.syslog]]\naddress = \"udp://h:514\"\nfacility = \"local8\"",
                "alerts.syslog[0].facility: unknown facility \"local8\"; use kern, user, daemon, auth, authpriv or local0 to local7",
            ),
            (
                "[[alerts.ecs]]\npath = \"/tmp/a\"\nmax_bytes = 10",
                "alerts.ecs[0].max_bytes: 10 is too small to hold an alert; use at least 1024",
            ),
            (
                "[[alerts.ecs]]\npath = \"/tmp/a\"\nqueue = 0",
                "alerts.ecs[0].queue: must hold at least one alert",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).validate().expect_err(text);
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn facilities_map_to_rfc5424_codes() {
        assert_eq!(Facility::from_name("auth").map(Facility::code), Some(4));
        assert_eq!(Facility::from_name("local7").map(Facility::code), Some(23));
        assert_eq!(Facility::from_name("local07"), None);
        assert_eq!(Facility::from_name("mail"), None);
    }
}

//! Alert sinks for portreeve's scan detection and usage anomalies:
//! detections, blocks and anomalous hours go to
//! a webhook (JSON POST with retries), to syslog (RFC 5424 over UDP or TCP
//! with a CEF body) and to ECS JSON lines in a file.
//!
//! Each sink sits behind its own bounded queue and thread
//! ([`sink::SinkHandle`]), so [`Alerts::send`] never waits for a receiver;
//! each counts what it delivered, failed and dropped ([`SinkStats`]) for the
//! agent's metrics.
//!
//! `portreeve export` uses the same formats for what it sends
//! ([`export::Record`]: findings, drift, changes, detections): the ECS
//! mapping, the syslog framing, and the webhook's retries behind its
//! Splunk HTTP Event Collector client ([`splunk_hec`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config: portreeve_alerts::AlertsConfig = toml::from_str(r#"
//!     [[syslog]]
//!     address = "udp://127.0.0.1:514"
//! "#)?;
//! let alerts = portreeve_alerts::Alerts::start(&config)?;
//! alerts.send(portreeve_alerts::examples::detection());
//! # Ok(()) }
//! ```

pub mod alert;
pub mod cef;
pub mod config;
pub mod ecs;
pub mod examples;
pub mod export;
pub mod sink;
pub mod splunk_hec;
pub mod syslog;
pub mod webhook;

use std::sync::Arc;

pub use alert::{
    Action, Alert, AnomalyKind, BlockAlert, BlockEvent, DetectionAlert, ScanKind, Severity, Tier,
    UsageAnomalyAlert,
};
pub use config::{AlertsConfig, ConfigError, EcsConfig, SyslogConfig, WebhookConfig};
pub use sink::{Sink, SinkError, SinkHandle, SinkStats};

/// Why the sinks could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A worker thread could not be started.
    #[error("cannot start the alert sink {name}: {source}")]
    Thread {
        /// The sink's name.
        name: String,
        /// The failure.
        source: std::io::Error,
    },
}

/// The running sinks.
pub struct Alerts {
    sinks: Vec<SinkHandle>,
}

impl Alerts {
    /// Starts every sink `config` names, after checking all of it.
    pub fn start(config: &AlertsConfig) -> Result<Alerts, StartError> {
        config.validate()?;
        let mut alerts = Alerts { sinks: Vec::new() };
        for (i, w) in config.webhook.iter().enumerate() {
            let plan = w.plan(i)?;
            let sink = webhook::WebhookSink::new(plan.url, plan.headers, plan.timeout, plan.retry);
            alerts.add(sink_name(&w.name, "webhook", i), w.queue, sink)?;
        }
        for (i, s) in config.syslog.iter().enumerate() {
            let plan = s.plan(i)?;
            let format = syslog::SyslogFormat::for_this_host(plan.facility);
            let sink = syslog::SyslogSink::new(format, plan.transport, plan.address, plan.timeout);
            alerts.add(sink_name(&s.name, "syslog", i), s.queue, sink)?;
        }
        for (i, e) in config.ecs.iter().enumerate() {
            let file = ecs::RotatingFile::new(e.path.clone(), e.max_bytes, e.keep);
            alerts.add(
                sink_name(&e.name, "ecs", i),
                e.queue,
                ecs::EcsSink::new(file),
            )?;
        }
        Ok(alerts)
    }

    fn add(&mut self, name: String, queue: usize, sink: impl Sink) -> Result<(), StartError> {
        let handle = SinkHandle::spawn(name.clone(), queue, sink)
            .map_err(|source| StartError::Thread { name, source })?;
        self.sinks.push(handle);
        Ok(())
    }

    /// Queues `alert` for every sink; returns at once.
    pub fn send(&self, alert: Alert) {
        let alert = Arc::new(alert);
        for sink in &self.sinks {
            sink.push(Arc::clone(&alert));
        }
    }

    /// Each sink's name and counters, in configuration order (webhooks,
    /// then syslog, then ECS files).
    pub fn stats(&self) -> Vec<(&str, SinkStats)> {
        self.sinks.iter().map(|s| (s.name(), s.stats())).collect()
    }
}

fn sink_name(configured: &Option<String>, kind: &str, index: usize) -> String {
    configured
        .clone()
        .unwrap_or_else(|| format!("{kind}[{index}]"))
}

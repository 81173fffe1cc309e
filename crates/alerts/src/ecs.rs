//! The ECS sink: one Elastic Common Schema JSON document a line, appended
//! to a file that is rotated at a size bound (Filebeat or Elastic Agent
//! reads such files as they are).
//!
//! ECS names are used wherever ECS has a field; what it has none for
//! (tier, attempts, evidence, a blocked network, the TTL) goes under the
//! custom `portreeve.` namespace, as ECS asks of custom fields.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::alert::{Action, Alert, BlockEvent, ScanKind};
use crate::sink::{Sink, SinkError};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// The ECS document for `alert`.
pub fn document(alert: &Alert) -> Value {
    let mut doc = json!({
        "@timestamp": alert.time().to_string(),
        "ecs": { "version": ECS_VERSION },
        "message": alert.message(),
        "rule": { "name": alert.signature_id() },
        "observer": { "vendor": "portreeve", "product": "portreeve", "type": "ids" },
    });
    let event = json!({
        "kind": "alert",
        "category": ["network", "intrusion_detection"],
        "module": "portreeve",
        "dataset": "portreeve.alerts",
        "severity": alert.severity().cef(),
    });
    doc["event"] = event;
    match alert {
        Alert::Detection(d) => {
            doc["event"]["type"] = match d.action {
                Action::Alert => json!(["info"]),
                Action::Block => json!(["info", "denied"]),
            };
            doc["event"]["action"] = json!("port-scan-detected");
            doc["event"]["start"] = json!(d.first_seen.to_string());
            doc["event"]["end"] = json!(d.last_seen.to_string());
            doc["event"]["reason"] = json!(d.evidence.join("; "));
            doc["rule"]["category"] = json!("port scan");
            doc["source"] = json!({ "ip": d.source.to_string() });
            // Every ECS field may hold several values: the probed ports.
            doc["destination"] = json!({ "port": d.ports });
            doc["network"] = json!({
                "transport": if d.kind == ScanKind::Udp { "udp" } else { "tcp" }
            });
            doc["portreeve"] = json!({
                "kind": d.kind.name(),
                "tier": d.tier.name(),
                "action": d.action.name(),
                "attempts": d.attempts,
                "evidence": d.evidence,
            });
        }
        Alert::Block(b) => {
            doc["event"]["type"] = match b.event {
                BlockEvent::Block => json!(["denied"]),
                BlockEvent::Unblock | BlockEvent::Expiry => json!(["allowed"]),
            };
            doc["event"]["action"] = json!(match b.event {
                BlockEvent::Block => "source-blocked",
                BlockEvent::Unblock => "source-unblocked",
                BlockEvent::Expiry => "block-expired",
            });
            doc["event"]["reason"] = json!(b.reason);
            if let Some(host) = b.host() {
                doc["source"] = json!({ "ip": host.to_string() });
            }
            doc["user"] = json!({ "name": b.actor });
            doc["portreeve"] = json!({
                "block": { "target": b.target.to_string(), "ttl_seconds": b.ttl_seconds }
            });
        }
        Alert::UsageAnomaly(u) => {
            doc["event"]["category"] = json!(["network"]);
            doc["event"]["type"] = json!(["info"]);
            doc["event"]["action"] = json!("usage-anomaly");
            doc["event"]["start"] = json!(u.start.to_string());
            doc["event"]["end"] = json!(u.end().to_string());
            doc["rule"]["category"] = json!("usage anomaly");
            doc["destination"] = json!({ "port": u.port });
            doc["network"] = json!({ "transport": u.protocol.as_str() });
            doc["portreeve"] = json!({
                "anomaly": {
                    "kind": u.kind.as_str(),
                    "observed": u.observed,
                    "expected": { "low": u.expected_low, "high": u.expected_high },
                }
            });
        }
    }
    doc
}

/// A file of lines that is rotated before it would pass `max_bytes`:
/// `path` becomes `path.1`, `path.1` becomes `path.2`, … and `path.KEEP`
/// is deleted, so at most `keep` old files remain.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    /// The open file and its size, once opened.
    file: Option<(File, u64)>,
}

impl RotatingFile {
    /// A writer for `path` (opened, and created if absent, on first write).
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> RotatingFile {
        RotatingFile {
            path,
            max_bytes,
            keep,
            file: None,
        }
    }

    /// Appends `line` and a newline, rotating first if the file would grow
    /// past the bound. A line longer than the bound gets a file of its own.
    /// After a failed write (a full disk) the next line reopens the file.
    pub fn append_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        let (file, size) = match self.file.take() {
            Some(open) => open,
            None => open_append(&self.path)?,
        };
        let (mut file, size) = if size > 0 && size + len > self.max_bytes {
            drop(file);
            self.rotate()?;
            open_append(&self.path)?
        } else {
            (file, size)
        };
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        file.write_all(&bytes)?;
        self.file = Some((file, size + len));
        Ok(())
    }

    fn rotate(&self) -> io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        remove_if_present(&numbered(self.keep))?;
        for n in (1..self.keep).rev() {
            rename_if_present(&numbered(n), &numbered(n + 1))?;
        }
        if self.keep == 0 {
            remove_if_present(&self.path)
        } else {
            rename_if_present(&self.path, &numbered(1))
        }
    }
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes each alert's ECS document as a line.
pub struct EcsSink {
    file: RotatingFile,
}

impl EcsSink {
    /// A sink appending to `file`.
    pub fn new(file: RotatingFile) -> EcsSink {
        EcsSink { file }
    }
}

impl Sink for EcsSink {
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError> {
        Ok(self.file.append_line(&document(alert).to_string())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    #[test]
    fn a_usage_anomaly_is_a_network_alert_on_its_port_with_the_expected_range() {
        let doc = document(&examples::usage_anomaly());
        assert_eq!(doc["@timestamp"], "2026-05-28T20:00:00Z");
        assert_eq!(doc["rule"]["name"], "usage-anomaly");
        assert_eq!(doc["event"]["action"], "usage-anomaly");
        assert_eq!(doc["event"]["category"], json!(["network"]));
        assert_eq!(doc["event"]["severity"], 5);
        assert_eq!(
            (&doc["event"]["start"], &doc["event"]["end"]),
            (
                &json!("2026-05-28T20:00:00Z"),
                &json!("2026-05-28T21:00:00Z")
            )
        );
        assert_eq!(doc["destination"], json!({ "port": 8080 }));
        assert_eq!(doc["network"], json!({ "transport": "tcp" }));
        assert_eq!(
            doc["portreeve"],
            json!({ "anomaly": {
                "kind": "burst", "observed": 240, "expected": { "low": 10, "high": 25 }
            }})
        );
        assert!(doc.get("source").is_none(), "{doc}");
    }
}

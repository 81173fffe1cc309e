//! The ECS sink: one Elastic Common Schema JSON document a line, appended
//! to a file that is rotated at a size bound (Filebeat or Elastic Agent
//! reads such files as they are).
//!
//! ECS names are used wherever ECS has a field; what it has none for
//! (tier, attempts, evidence, the probed ports, a blocked network, the TTL)
//! goes under the custom `portreeve.` namespace, as ECS asks of custom
//! fields. The tests of the binary check every document against the ECS
//! field reference of [`ECS_VERSION`] (`@elastic/ecs`'s `EcsFlat`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::alert::{Action, Alert, BlockEvent, ScanKind};
use crate::export::{Record, RecordEvent};
use crate::sink::{Sink, SinkError};

/// The ECS version the documents follow, and whose field reference the
/// tests check them against.
pub const ECS_VERSION: &str = "9.4.0";

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
            doc["network"] = json!({
                "transport": if d.kind == ScanKind::Udp { "udp" } else { "tcp" }
            });
            // ECS's `destination.port` holds one port (its reference does
            // not normalize it to an array); a scan probes many.
            doc["portreeve"] = json!({
                "ports": d.ports,
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

/// The ECS document `portreeve export` sends for `record`.
///
/// A detection is the alert sinks' own document (so a SIEM sees the same
/// fields from the agent's alerts and from an export) with its dataset
/// `portreeve.detection`. The rest: findings are `event.kind: alert` in
/// the `configuration` and `network` categories, with the finding's code
/// as `rule.id`, its fingerprint as `event.id` (stable across runs, for
/// deduplication) and its remediation in `portreeve.finding`; drift is an
/// `event` of the `network` category whose type is `start` (new listener),
/// `end` (gone) or `change` (owner); a ledger entry is an `event` of the
/// `configuration` category, type `change`, with its position as
/// `event.sequence` and its actor as `user.name`.
pub fn record_document(record: &Record) -> Value {
    let mut doc = match &record.event {
        RecordEvent::Detection(d) => document(&Alert::Detection(d.clone())),
        _ => json!({
            "@timestamp": record.time.to_string(),
            "ecs": { "version": ECS_VERSION },
            "message": record.message(),
            "observer": { "vendor": "portreeve", "product": "portreeve" },
            "event": {
                "module": "portreeve",
                "severity": record.severity().cef(),
                "action": record.signature(),
            },
        }),
    };
    doc["host"] = json!({ "name": record.host });
    doc["event"]["dataset"] = json!(format!("portreeve.{}", record.kind()));
    match &record.event {
        RecordEvent::Detection(_) => {}
        RecordEvent::Finding(f) => {
            doc["event"]["kind"] = json!("alert");
            doc["event"]["category"] = json!(["configuration", "network"]);
            doc["event"]["type"] = json!(["info"]);
            doc["event"]["id"] = json!(f.fingerprint);
            doc["event"]["reason"] = json!(f.rationale);
            doc["rule"] = json!({ "id": f.kind.code(), "name": f.kind.name() });
            if let Some(socket) = &f.socket {
                doc["destination"] = json!({
                    "ip": socket.address.to_string(),
                    "port": socket.port,
                });
                doc["network"] = json!({ "transport": socket.protocol.as_str() });
            }
            if let Some(service) = &f.service {
                doc["service"] = json!({ "name": service });
            }
            if !f.pids.is_empty() {
                doc["process"] = json!({ "pid": f.pids[0] });
            }
            doc["portreeve"] = json!({
                "finding": {
                    "severity": f.severity.as_str(),
                    "evidence": f.evidence,
                    "remediation": f.remediation,
                    "accepted": f.accepted.is_some(),
                }
            });
        }
        RecordEvent::Drift(d) => {
            doc["event"]["kind"] = json!("event");
            doc["event"]["category"] = json!(["network"]);
            doc["event"]["type"] = json!([match d.kind.as_str() {
                "new_listener" => "start",
                "listener_gone" => "end",
                _ => "change",
            }]);
            doc["destination"] = json!({ "ip": d.address.to_string(), "port": d.port });
            doc["network"] = json!({ "transport": d.protocol.as_str() });
            if let Some(owner) = d.new_owner.as_ref().or(d.old_owner.as_ref()) {
                doc["service"] = json!({ "name": owner });
            }
            doc["portreeve"] = json!({
                "drift": {
                    "kind": d.kind,
                    "netns": d.netns,
                    "old_owner": d.old_owner,
                    "new_owner": d.new_owner,
                }
            });
        }
        RecordEvent::Change(c) => {
            doc["event"]["kind"] = json!("event");
            doc["event"]["category"] = json!(["configuration"]);
            doc["event"]["type"] = json!(["change"]);
            doc["event"]["sequence"] = json!(c.index);
            if let Some(reason) = &c.reason {
                doc["event"]["reason"] = json!(reason);
            }
            doc["user"] = json!({ "name": c.actor });
            doc["portreeve"] = json!({
                "change": {
                    "action": c.action,
                    "object": c.object,
                    "approval": c.approval,
                }
            });
        }
    }
    drop_nulls(&mut doc);
    doc
}

/// Leaves out absent values (an owner or approval there is none of):
/// ECS has no use for `null`, and receivers index a field's absence better.
fn drop_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
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
    fn a_finding_record_is_an_alert_with_its_code_fingerprint_socket_and_remedy() {
        use crate::export::{Record, RecordEvent};
        use portreeve_core::{
            BindScope, Family, Finding, FindingKind, NetnsRef, Proto, Severity, SocketRef,
        };
        let finding = Finding {
            kind: FindingKind::ListenerNotAllowed,
            fingerprint: "bff1f1da619c8332".to_owned(),
            severity: Severity::Critical,
            message: "0.0.0.0:9229/tcp listens but no rule allows it".to_owned(),
            socket: Some(SocketRef {
                protocol: Proto::Tcp,
                family: Family::Ipv4,
                address: "0.0.0.0".parse().unwrap(),
                port: 9229,
                endpoint: "0.0.0.0:9229".to_owned(),
                scope: BindScope::Wildcard,
                dual_stack: false,
                netns: NetnsRef {
                    inode: 4026531840,
                    name: Some("host".to_owned()),
                },
                inode: 77,
            }),
            service: Some("node".to_owned()),
            pids: vec![4242],
            rule: None,
            resource: None,
            evidence: vec!["bound to every address".to_owned()],
            rationale: "attack surface".to_owned(),
            remediation: "bind to 127.0.0.1".to_owned(),
            reach: None,
            accepted: None,
        };
        let doc = record_document(&Record {
            host: "gate".to_owned(),
            time: "2026-05-28T20:00:00Z".parse().unwrap(),
            event: RecordEvent::Finding(Box::new(finding)),
        });
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["dataset"], "portreeve.finding");
        assert_eq!(doc["event"]["id"], "bff1f1da619c8332");
        assert_eq!(doc["event"]["severity"], 8, "critical is high");
        assert_eq!(doc["event"]["reason"], "attack surface");
        assert_eq!(doc["rule"]["id"], FindingKind::ListenerNotAllowed.code());
        assert_eq!(doc["rule"]["name"], FindingKind::ListenerNotAllowed.name());
        assert_eq!(doc["destination"], json!({ "ip": "0.0.0.0", "port": 9229 }));
        assert_eq!(doc["network"], json!({ "transport": "tcp" }));
        assert_eq!(doc["service"], json!({ "name": "node" }));
        assert_eq!(doc["process"], json!({ "pid": 4242 }));
        assert_eq!(
            doc["portreeve"]["finding"],
            json!({
                "severity": "critical",
                "evidence": ["bound to every address"],
                "remediation": "bind to 127.0.0.1",
                "accepted": false,
            })
        );
    }

    #[test]
    fn a_drift_record_is_a_network_event_without_absent_owners() {
        use crate::export::{DriftRecord, Record, RecordEvent};
        let record = Record {
            host: "gate".to_owned(),
            time: "2026-05-28T20:00:00Z".parse().unwrap(),
            event: RecordEvent::Drift(DriftRecord {
                kind: "new_listener".to_owned(),
                protocol: portreeve_core::Proto::Tcp,
                address: "0.0.0.0".parse().unwrap(),
                port: 9229,
                netns: "host".to_owned(),
                old_owner: None,
                new_owner: Some("node".to_owned()),
            }),
        };
        let doc = record_document(&record);
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["event"]["type"], json!(["start"]));
        assert_eq!(doc["event"]["dataset"], "portreeve.drift");
        assert_eq!(doc["event"]["action"], "new_listener");
        assert_eq!(doc["host"], json!({ "name": "gate" }));
        assert_eq!(doc["destination"], json!({ "ip": "0.0.0.0", "port": 9229 }));
        assert_eq!(doc["service"], json!({ "name": "node" }));
        assert_eq!(
            doc["portreeve"]["drift"],
            json!({ "kind": "new_listener", "netns": "host", "new_owner": "node" })
        );
        assert_eq!(doc["message"], "new listener 0.0.0.0:9229/tcp (node)");
    }

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

//! The fleet protocol: what an agent sends the server to enroll and to push
//! its state, and what the server answers (docs/server.md, "The protocol").
//!
//! Both sides depend on this crate so that a field renamed on one side is a
//! compile error on the other, not a silent `null`. It holds types and
//! constants only; signing, HTTP and storage live with each side.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The header naming the pushing host (its id from [`EnrollResponse`]).
pub const HOST_HEADER: &str = "x-portreeve-host";

/// The header carrying base64 (standard) of the Ed25519 signature over the
/// push body's bytes, by the host's key.
pub const SIGNATURE_HEADER: &str = "x-portreeve-signature";

/// The largest push body the server reads (4 MiB); a larger one gets 413.
pub const MAX_PUSH_BYTES: usize = 4 * 1024 * 1024;

/// `POST /api/v1/enroll`, with an `enroll` bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The name the host is listed under; unique in the fleet.
    pub host_name: String,
    /// Base64 (standard) of the host's 32-byte Ed25519 public key.
    pub public_key: String,
}

/// The answer to a successful enroll (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The host's id (32 hex digits), sent in [`HOST_HEADER`] with each push.
    pub host_id: String,
}

/// `POST /api/v1/push`: one host's state, signed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The sending host; must equal [`HOST_HEADER`].
    pub host_id: String,
    /// Increases by one per push; the server stores each seq once.
    pub seq: u64,
    /// When the agent built the push.
    pub sent_at: Timestamp,
    /// The host's listeners now; replaces what the server held.
    pub listeners: Vec<PushedListener>,
    /// The host's findings now; replaces what the server held.
    pub findings: Vec<PushedFinding>,
    /// Drift events since the previous push; appended.
    pub drift: Vec<PushedDrift>,
    /// The head of the host's ledger, when it has one; appended and checked.
    pub ledger: Option<LedgerCheckpoint>,
    /// Each port's lifecycle state as of the agent's latest plan; replaces
    /// what the server held. Absent (an older agent, or no plan yet):
    /// the server keeps what it held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Vec<PushedPort>>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedListener {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The bound address, as text.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// The owning process's name, when known.
    pub process: Option<String>,
    /// The owning process's id, when known.
    pub pid: Option<u32>,
}

/// One finding, as `portreeve check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedFinding {
    /// The finding's code.
    pub code: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    pub severity: String,
    /// The port it concerns, if one.
    pub port: Option<u16>,
    /// What it says, in words.
    pub message: String,
}

/// One drift event: a listener that appeared or went away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedDrift {
    /// When the agent saw it.
    pub at: Timestamp,
    /// What happened (the agent's drift kind).
    pub kind: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The bound address, as text.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// The owning process's name, when known.
    pub process: Option<String>,
}

/// The lifecycle states a port may be in.
pub const LIFECYCLE_STATES: [&str; 4] = ["active", "dormant", "abandoned", "reclaimed"];

/// One port's place in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedPort {
    /// The port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// One of [`LIFECYCLE_STATES`].
    pub state: String,
    /// When it was last used, if the agent ever saw it used.
    pub last_used: Option<Timestamp>,
}

/// The head of a host's ledger at push time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCheckpoint {
    /// The index of the last entry.
    pub index: u64,
    /// Its digest, hex.
    pub head: String,
}

/// The answer to a push (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// False: the seq was not above the host's last; it was stored before
    /// and nothing was stored again.
    pub accepted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn sample_push() -> Push {
        Push {
            host_id: "0123456789abcdef0123456789abcdef".into(),
            seq: 7,
            sent_at: "2026-12-06T22:00:00Z".parse().unwrap(),
            listeners: vec![PushedListener {
                protocol: "tcp".into(),
                address: "0.0.0.0".into(),
                port: 22,
                process: Some("sshd".into()),
                pid: Some(812),
            }],
            findings: vec![PushedFinding {
                code: "PRT-EXPOSED".into(),
                severity: "high".into(),
                port: Some(6379),
                message: "redis is reachable".into(),
            }],
            drift: vec![PushedDrift {
                at: "2026-12-06T21:59:00Z".parse().unwrap(),
                kind: "appeared".into(),
                protocol: "udp".into(),
                address: "::".into(),
                port: 53,
                process: None,
            }],
            ledger: Some(LedgerCheckpoint {
                index: 41,
                head: "ab".repeat(32),
            }),
            lifecycle: Some(vec![PushedPort {
                port: 8080,
                protocol: "tcp".into(),
                state: "abandoned".into(),
                last_used: Some("2026-10-01T08:00:00Z".parse().unwrap()),
            }]),
        }
    }

    #[test]
    fn a_push_survives_the_json_round_trip() {
        let push = sample_push();
        let text = serde_json::to_string(&push).unwrap();
        assert_eq!(serde_json::from_str::<Push>(&text).unwrap(), push);
    }

    #[test]
    fn a_push_has_the_documented_field_names() {
        let value = serde_json::to_value(sample_push()).unwrap();
        assert_eq!(
            value,
            json!({
                "host_id": "0123456789abcdef0123456789abcdef",
                "seq": 7,
                "sent_at": "2026-12-06T22:00:00Z",
                "listeners": [{"protocol": "tcp", "address": "0.0.0.0", "port": 22,
                               "process": "sshd", "pid": 812}],
                "findings": [{"code": "PRT-EXPOSED", "severity": "high", "port": 6379,
                              "message": "redis is reachable"}],
                "drift": [{"at": "2026-12-06T21:59:00Z", "kind": "appeared", "protocol": "udp",
                           "address": "::", "port": 53, "process": null}],
                "ledger": {"index": 41, "head": "ab".repeat(32)},
                "lifecycle": [{"port": 8080, "protocol": "tcp", "state": "abandoned",
                               "last_used": "2026-10-01T08:00:00Z"}],
            })
        );
    }

    #[test]
    fn a_push_without_lifecycle_is_still_read() {
        let mut value = serde_json::to_value(sample_push()).unwrap();
        value.as_object_mut().unwrap().remove("lifecycle");
        let read: Push = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(read.lifecycle, None);
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            value,
            "absent stays absent"
        );
    }

    #[test]
    fn enroll_and_push_answers_have_the_documented_field_names() {
        let request = EnrollRequest {
            host_name: "web-1".into(),
            public_key: "AAAA".into(),
        };
        let round: EnrollRequest =
            serde_json::from_value(json!({"host_name": "web-1", "public_key": "AAAA"})).unwrap();
        assert_eq!(round, request);
        assert_eq!(
            serde_json::to_value(EnrollResponse {
                host_id: "ab".into()
            })
            .unwrap(),
            json!({"host_id": "ab"})
        );
        let accepted: Value = serde_json::to_value(PushResponse { accepted: false }).unwrap();
        assert_eq!(accepted, json!({"accepted": false}));
    }

    #[test]
    fn the_constants_are_as_documented() {
        assert_eq!(HOST_HEADER, "x-portreeve-host");
        assert_eq!(SIGNATURE_HEADER, "x-portreeve-signature");
        assert_eq!(MAX_PUSH_BYTES, 4_194_304);
    }
}

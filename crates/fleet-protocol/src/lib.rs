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

/// The longest [`PushedFinding::remediation`] the server stores, in bytes;
/// a longer one makes the push a 400, so the agent leaves such a text out.
pub const MAX_REMEDIATION_BYTES: usize = 4096;

/// The longest [`PushedListener::container`] the server stores, in bytes;
/// the agent leaves a longer one out, as [`MAX_REMEDIATION_BYTES`].
pub const MAX_CONTAINER_BYTES: usize = 1024;

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
    /// Base64 (standard) of the server's 32-byte Ed25519 public key, which
    /// signs fleet policies ([`SignedPolicy`]); the agent pins it at
    /// enrollment. Absent from an older server.
    #[serde(default)]
    pub server_key: Option<String>,
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
    /// What became of the fleet policy the agent last pulled; the server
    /// keeps the latest per host. Absent: the server keeps what it held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<AppliedPolicy>,
    /// The grants the host's firewall holds now, as `portreeve grants`
    /// lists them; replaces what the server held. Absent (an older agent,
    /// or a firewall it could not read): the server keeps what it held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<PushedGrant>>,
    /// The blocks the host's firewall holds now, as `portreeve blocks`
    /// lists them; replaces what the server held. Absent: kept, as
    /// `grants`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<PushedBlock>>,
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
    /// The container of the owning processes, as the host's own report
    /// names it (the runtime's name, else the cgroup's container id); of
    /// several, their names joined by `,`. Absent from an older agent and
    /// for a process in no container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
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
    /// What to do about it, as `portreeve check` says. Absent from an older
    /// agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
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

/// One on-demand grant: a source let in to a port until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedGrant {
    /// The address or network let in, as text.
    pub source: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The port it may reach.
    pub port: u16,
    /// When the kernel drops it.
    pub expires: Timestamp,
    /// Who granted it, when the grant log says.
    pub actor: Option<String>,
    /// The on-demand rule that permitted it, when known.
    pub rule: Option<String>,
    /// Why, when known.
    pub reason: Option<String>,
}

/// One block: a source the host's firewall drops until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedBlock {
    /// The blocked address or network, as text.
    pub source: String,
    /// True for the kernel's own scan detection, false for `portreeve block`.
    pub automatic: bool,
    /// When the kernel lifts it.
    pub until: Timestamp,
    /// Who blocked it (`kernel` for an automatic block), when known.
    pub actor: Option<String>,
    /// Why, when known.
    pub reason: Option<String>,
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

/// `POST /api/v1/policy/pull`: a host asks for the policy assigned to it.
/// Signed like a [`Push`] (the same two headers over the body's bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPull {
    /// The asking host; must equal [`HOST_HEADER`].
    pub host_id: String,
    /// When the agent built the request; the server refuses one more than
    /// five minutes off its own clock, so a captured pull cannot be replayed
    /// for long.
    pub sent_at: Timestamp,
}

/// The answer to a [`PolicyPull`] (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAssignment {
    /// The approved policy version assigned to the host; `None` when
    /// nothing is assigned to it or its groups.
    pub policy: Option<SignedPolicy>,
}

/// One approved policy version, signed by the server's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPolicy {
    /// The policy's name in the fleet.
    pub name: String,
    /// Its version, counting from 1 per name.
    pub version: u64,
    /// `sha256:<hex>` of `text`'s bytes.
    pub sha256: String,
    /// The policy TOML.
    pub text: String,
    /// Who proposed this version.
    pub proposer: String,
    /// Who approved it, in the order they did; never the proposer.
    pub approvers: Vec<String>,
    /// When the last approval needed arrived.
    pub approved_at: Timestamp,
    /// Base64 (standard) of the server's Ed25519 signature over
    /// [`SignedPolicy::signed_bytes`].
    pub signature: String,
}

impl SignedPolicy {
    /// The exact bytes the server signs and the agent verifies: one
    /// definition for both sides. The text is bound through its digest (the
    /// agent checks `sha256` against `text` separately).
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "portreeve-fleet-policy v1\n{}\n{}\n{}\n{}\n{}\n",
            self.name,
            self.version,
            self.sha256,
            self.proposer,
            self.approvers.join(",")
        )
        .into_bytes()
    }
}

/// What an agent did with a pulled policy, reported in its next [`Push`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPolicy {
    /// The policy's name.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// `sha256:<hex>` of its text.
    pub sha256: String,
    /// The host's enforcement generation it became, when it was applied.
    pub generation: Option<u64>,
    /// `applied`, `confirmed`, `rolled-back` or `refused`.
    pub state: String,
    /// Why it was refused or rolled back, in words.
    pub message: Option<String>,
    /// When the state was reached.
    pub at: Timestamp,
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
                container: None,
            }],
            findings: vec![PushedFinding {
                code: "PRT-EXPOSED".into(),
                severity: "high".into(),
                port: Some(6379),
                message: "redis is reachable".into(),
                remediation: None,
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
            policy: None,
            grants: None,
            blocks: None,
        }
    }

    fn sample_signed_policy() -> SignedPolicy {
        SignedPolicy {
            name: "web".into(),
            version: 3,
            sha256: format!("sha256:{}", "0f".repeat(32)),
            text: "[[allow]]\nport = 443\n".into(),
            proposer: "alice".into(),
            approvers: vec!["bob".into(), "carol@example.org".into()],
            approved_at: "2026-12-06T22:00:00Z".parse().unwrap(),
            signature: "c2ln".into(),
        }
    }

    #[test]
    fn a_signed_policy_signs_the_documented_bytes() {
        let policy = sample_signed_policy();
        let expected = format!(
            "portreeve-fleet-policy v1\nweb\n3\nsha256:{}\nalice\nbob,carol@example.org\n",
            "0f".repeat(32)
        );
        assert_eq!(String::from_utf8(policy.signed_bytes()).unwrap(), expected);
        let unapproved = SignedPolicy {
            approvers: vec![],
            ..policy
        };
        assert!(unapproved.signed_bytes().ends_with(b"\nalice\n\n"));
    }

    #[test]
    fn policy_messages_survive_the_json_round_trip() {
        let assignment = PolicyAssignment {
            policy: Some(sample_signed_policy()),
        };
        let text = serde_json::to_string(&assignment).unwrap();
        assert_eq!(
            serde_json::from_str::<PolicyAssignment>(&text).unwrap(),
            assignment
        );
        assert_eq!(
            serde_json::to_value(PolicyAssignment { policy: None }).unwrap(),
            json!({"policy": null})
        );
        let pull: PolicyPull =
            serde_json::from_value(json!({"host_id": "ab", "sent_at": "2026-12-06T22:00:00Z"}))
                .unwrap();
        assert_eq!(pull.host_id, "ab");
        let mut push = sample_push();
        push.policy = Some(AppliedPolicy {
            name: "web".into(),
            version: 3,
            sha256: format!("sha256:{}", "0f".repeat(32)),
            generation: Some(12),
            state: "confirmed".into(),
            message: None,
            at: "2026-12-06T22:01:00Z".parse().unwrap(),
        });
        let value = serde_json::to_value(&push).unwrap();
        assert_eq!(value["policy"]["state"], "confirmed");
        assert_eq!(value["policy"]["generation"], 12);
        assert_eq!(serde_json::from_value::<Push>(value).unwrap(), push);
    }

    #[test]
    fn an_enroll_answer_without_a_server_key_is_still_read() {
        let read: EnrollResponse = serde_json::from_value(json!({"host_id": "ab"})).unwrap();
        assert_eq!(read.server_key, None);
    }

    #[test]
    fn grants_and_blocks_have_the_documented_field_names_and_may_be_absent() {
        let mut push = sample_push();
        push.grants = Some(vec![PushedGrant {
            source: "192.0.2.7".into(),
            protocol: "tcp".into(),
            port: 22,
            expires: "2026-12-06T23:00:00Z".parse().unwrap(),
            actor: Some("alice".into()),
            rule: Some("ssh-on-demand".into()),
            reason: None,
        }]);
        push.blocks = Some(vec![PushedBlock {
            source: "198.51.100.0/24".into(),
            automatic: true,
            until: "2026-12-07T00:00:00Z".parse().unwrap(),
            actor: Some("kernel".into()),
            reason: None,
        }]);
        let value = serde_json::to_value(&push).unwrap();
        assert_eq!(
            value["grants"],
            json!([{"source": "192.0.2.7", "protocol": "tcp", "port": 22,
                    "expires": "2026-12-06T23:00:00Z", "actor": "alice",
                    "rule": "ssh-on-demand", "reason": null}])
        );
        assert_eq!(
            value["blocks"],
            json!([{"source": "198.51.100.0/24", "automatic": true,
                    "until": "2026-12-07T00:00:00Z", "actor": "kernel", "reason": null}])
        );
        assert_eq!(serde_json::from_value::<Push>(value).unwrap(), push);
        let absent = serde_json::to_value(sample_push()).unwrap();
        assert!(absent.get("grants").is_none() && absent.get("blocks").is_none());
    }

    #[test]
    fn a_remediation_and_a_container_are_sent_when_known_and_may_be_absent() {
        let mut push = sample_push();
        push.listeners[0].container = Some("ssh-bastion".into());
        push.findings[0].remediation = Some("Bind it to 127.0.0.1.".into());
        let value = serde_json::to_value(&push).unwrap();
        assert_eq!(value["listeners"][0]["container"], "ssh-bastion");
        assert_eq!(value["findings"][0]["remediation"], "Bind it to 127.0.0.1.");
        assert_eq!(serde_json::from_value::<Push>(value).unwrap(), push);
        // An older agent's push, without either field, is read as none.
        let older = json!({"code": "PR001", "severity": "low", "port": null, "message": "m"});
        let read: PushedFinding = serde_json::from_value(older).unwrap();
        assert_eq!(read.remediation, None);
        let older = json!({"protocol": "tcp", "address": "::", "port": 22,
                           "process": null, "pid": null});
        let read: PushedListener = serde_json::from_value(older).unwrap();
        assert_eq!(read.container, None);
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
                host_id: "ab".into(),
                server_key: Some("AAAA".into()),
            })
            .unwrap(),
            json!({"host_id": "ab", "server_key": "AAAA"})
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

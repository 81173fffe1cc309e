//! One simulated host: its key, its id once enrolled, and a state that
//! looks like a real server's (10–30 listeners, a few findings, each
//! port's lifecycle, a ledger head), which mostly stays the same from push
//! to push and now and then drifts by one listener.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use jiff::Timestamp;
use portreeve_fleet_protocol::{
    LedgerCheckpoint, Push, PushedDrift, PushedFinding, PushedListener, PushedPort,
};

/// Well-known services a simulated host may run: port, protocol, process.
const SERVICES: [(u16, &str, &str); 16] = [
    (22, "tcp", "sshd"),
    (25, "tcp", "master"),
    (53, "udp", "systemd-resolve"),
    (80, "tcp", "nginx"),
    (111, "tcp", "rpcbind"),
    (123, "udp", "chronyd"),
    (443, "tcp", "nginx"),
    (631, "tcp", "cupsd"),
    (2049, "tcp", "nfsd"),
    (3306, "tcp", "mariadbd"),
    (5432, "tcp", "postgres"),
    (6379, "tcp", "redis-server"),
    (8080, "tcp", "java"),
    (9100, "tcp", "node_exporter"),
    (11211, "udp", "memcached"),
    (27017, "tcp", "mongod"),
];

/// Findings a simulated host may carry: code, severity, what it says.
const FINDINGS: [(&str, &str, &str); 5] = [
    (
        "PR001",
        "critical",
        "a database port is reachable from any address",
    ),
    (
        "PR002",
        "high",
        "a listener is bound to every address without a policy rule",
    ),
    ("PR004", "medium", "a port has not been used in 90 days"),
    (
        "PR007",
        "low",
        "a process listens on a port it does not own",
    ),
    (
        "PR010",
        "info",
        "an ephemeral port has a long-lived listener",
    ),
];

/// A simulated host.
pub struct SimulatedHost {
    /// Its name, unique in the fleet.
    pub name: String,
    key: SigningKey,
    /// The id the server gave it.
    pub id: String,
    seq: u64,
    listeners: Vec<PushedListener>,
    findings: Vec<PushedFinding>,
    lifecycle: Vec<PushedPort>,
    ledger: LedgerCheckpoint,
}

/// A push ready to send: the body and its signature.
pub struct SignedPush {
    /// The host's id, for the host header.
    pub host_id: String,
    /// The JSON body.
    pub body: bytes::Bytes,
    /// Base64 of the signature over `body`.
    pub signature: String,
    /// Whether the state changed since the host's previous push.
    pub changed: bool,
}

impl SimulatedHost {
    /// Host number `n` of the run, its state drawn from `rng`.
    pub fn new(n: usize, rng: &mut fastrand::Rng) -> SimulatedHost {
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        let mut listeners: Vec<PushedListener> = Vec::new();
        let wanted = rng.usize(10..=30);
        let mut services = SERVICES.to_vec();
        rng.shuffle(&mut services);
        for (port, protocol, process) in services.into_iter().take(wanted.min(12)) {
            listeners.push(listener(rng, protocol, port, process));
        }
        while listeners.len() < wanted {
            let port = rng.u16(30000..60000);
            listeners.push(listener(rng, "tcp", port, "app-worker"));
        }
        listeners.sort_by_key(|l| l.port);
        let mut findings = Vec::new();
        for (code, severity, message) in FINDINGS {
            if rng.u8(0..3) == 0 {
                findings.push(PushedFinding {
                    code: code.into(),
                    severity: severity.into(),
                    port: Some(listeners[rng.usize(0..listeners.len())].port),
                    message: message.into(),
                    remediation: None,
                });
            }
        }
        let mut host = SimulatedHost {
            name: format!("sim-{n:05}"),
            key: SigningKey::from_bytes(&seed),
            id: String::new(),
            seq: 0,
            listeners,
            findings,
            lifecycle: Vec::new(),
            ledger: LedgerCheckpoint {
                index: rng.u64(10..500),
                head: random_hex(rng),
            },
        };
        host.plan_lifecycle(rng);
        host
    }

    /// Base64 of the public key, as enrollment sends it.
    pub fn public_key(&self) -> String {
        STANDARD.encode(self.key.verifying_key().as_bytes())
    }

    /// The next push: with probability `change_share` one listener
    /// appeared or went away since the last (a drift event, a new ledger
    /// entry); otherwise the same state as before.
    pub fn next_push(&mut self, rng: &mut fastrand::Rng, change_share: f64) -> SignedPush {
        let now = Timestamp::now();
        let changed = self.seq == 0 || rng.f64() < change_share;
        let drift = if self.seq > 0 && changed {
            vec![self.drift_one(rng, now)]
        } else {
            Vec::new()
        };
        self.seq += 1;
        let push = Push {
            host_id: self.id.clone(),
            seq: self.seq,
            sent_at: now,
            listeners: self.listeners.clone(),
            findings: self.findings.clone(),
            drift,
            ledger: Some(self.ledger.clone()),
            lifecycle: Some(self.lifecycle.clone()),
            // Absent: the server keeps what it holds, as for an agent that
            // applies no fleet policy and reports no grants or blocks.
            policy: None,
            grants: None,
            blocks: None,
        };
        let body = serde_json::to_vec(&push).expect("a push serializes");
        SignedPush {
            host_id: self.id.clone(),
            signature: STANDARD.encode(self.key.sign(&body).to_bytes()),
            body: body.into(),
            changed,
        }
    }

    /// One listener appears (or, on a host with more than 10, goes away);
    /// the ledger records it.
    fn drift_one(&mut self, rng: &mut fastrand::Rng, at: Timestamp) -> PushedDrift {
        let (kind, l) = if self.listeners.len() > 10 && rng.bool() {
            let gone = self.listeners.remove(rng.usize(0..self.listeners.len()));
            ("listener_gone", gone)
        } else {
            let port = rng.u16(30000..60000);
            let new = listener(rng, "tcp", port, "app-worker");
            self.listeners.push(new.clone());
            self.listeners.sort_by_key(|l| l.port);
            ("new_listener", new)
        };
        self.plan_lifecycle(rng);
        self.ledger.index += 1;
        self.ledger.head = random_hex(rng);
        PushedDrift {
            at,
            kind: kind.into(),
            protocol: l.protocol,
            address: l.address,
            port: l.port,
            process: l.process,
        }
    }

    /// Each listener's port in a lifecycle state, most of them active.
    fn plan_lifecycle(&mut self, rng: &mut fastrand::Rng) {
        let states = ["active", "active", "active", "dormant", "abandoned"];
        self.lifecycle = self
            .listeners
            .iter()
            .map(|l| PushedPort {
                port: l.port,
                protocol: l.protocol.clone(),
                state: states[rng.usize(0..states.len())].into(),
                last_used: Timestamp::from_second(1_780_000_000 + rng.i64(0..5_000_000)).ok(),
            })
            .collect();
    }
}

fn listener(rng: &mut fastrand::Rng, protocol: &str, port: u16, process: &str) -> PushedListener {
    let addresses = ["0.0.0.0", "127.0.0.1", "::", "10.20.30.40"];
    PushedListener {
        protocol: protocol.into(),
        address: addresses[rng.usize(0..addresses.len())].into(),
        port,
        process: Some(process.into()),
        pid: Some(rng.u32(300..60000)),
        container: None,
    }
}

/// 32 random bytes in hex, a ledger head's shape.
fn random_hex(rng: &mut fastrand::Rng) -> String {
    (0..32).map(|_| format!("{:02x}", rng.u8(..))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_looks_real_and_mostly_repeats_itself() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut host = SimulatedHost::new(3, &mut rng);
        host.id = "ab".repeat(16);
        assert_eq!(host.name, "sim-00003");
        assert!((10..=30).contains(&host.listeners.len()));
        assert_eq!(host.lifecycle.len(), host.listeners.len());
        let first = host.next_push(&mut rng, 0.0);
        assert!(first.changed, "the first push is news");
        let second = host.next_push(&mut rng, 0.0);
        assert!(!second.changed);
        let a: Push = serde_json::from_slice(&first.body).unwrap();
        let b: Push = serde_json::from_slice(&second.body).unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_eq!(a.listeners, b.listeners);
        assert_eq!(a.ledger, b.ledger);
        let third = host.next_push(&mut rng, 1.0);
        let c: Push = serde_json::from_slice(&third.body).unwrap();
        assert!(third.changed);
        assert_eq!(c.drift.len(), 1);
        assert_ne!(c.listeners, b.listeners);
        assert_eq!(c.ledger.unwrap().index, b.ledger.unwrap().index + 1);
    }

    #[test]
    fn the_signature_is_the_hosts_over_the_body() {
        use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
        let mut rng = fastrand::Rng::with_seed(1);
        let mut host = SimulatedHost::new(0, &mut rng);
        let public: [u8; 32] = STANDARD
            .decode(host.public_key())
            .unwrap()
            .try_into()
            .unwrap();
        let push = host.next_push(&mut rng, 0.0);
        let signature: [u8; 64] = STANDARD
            .decode(&push.signature)
            .unwrap()
            .try_into()
            .unwrap();
        let key = VerifyingKey::from_bytes(&public).unwrap();
        assert!(
            key.verify(&push.body, &Signature::from_bytes(&signature))
                .is_ok()
        );
    }
}

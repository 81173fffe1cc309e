//! What a push says, from what the agent's threads observed: the
//! listeners of the latest reading, the findings of the latest check, the
//! ports' lifecycle states of the latest plan, the drift since the last
//! push, and the head of the ledger.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::grants::GrantRow;
use portreeve_app::{StateDir, blocks::BlockRow};
use portreeve_core::{Finding, ListeningSocket, Proto};
use portreeve_fleet_protocol::{
    LedgerCheckpoint, MAX_CONTAINER_BYTES, MAX_REMEDIATION_BYTES, PushedBlock, PushedDrift,
    PushedFinding, PushedGrant, PushedListener, PushedPort,
};
use portreeve_lifecycle::Recommendation;

use crate::drift::{Drift, Owner};

/// A listener's `(port, protocol, address)`, its processes' names, their
/// smallest id and their containers' names.
type Merged = BTreeMap<(u16, Proto, String), (Vec<String>, Option<u32>, Vec<String>)>;

/// The listeners as the server lists them: one per protocol, address and
/// port (sockets sharing one through `SO_REUSEPORT`, or the same address
/// in several namespaces, are one listener to an operator), with the
/// names of the processes holding it, the smallest of their ids and their
/// containers (as the host's report names them: the runtime's name, else
/// the cgroup's id), in port order.
pub fn listeners(sockets: &[ListeningSocket]) -> Vec<PushedListener> {
    let mut merged = Merged::new();
    for s in sockets {
        let (names, pid, containers) = merged
            .entry((s.port, s.protocol, s.address.to_string()))
            .or_default();
        for p in &s.processes {
            if !names.contains(&p.name) {
                names.push(p.name.clone());
            }
            *pid = Some(pid.map_or(p.pid, |old| old.min(p.pid)));
            let container = p.attribution.container.as_ref().map(|c| &c.name);
            if let Some(c) = container.or(p.container_id.as_ref())
                && !containers.contains(c)
            {
                containers.push(c.clone());
            }
        }
    }
    merged
        .into_iter()
        .map(
            |((port, protocol, address), (mut names, pid, mut containers))| {
                names.sort();
                containers.sort();
                PushedListener {
                    protocol: protocol.as_str().into(),
                    address,
                    port,
                    process: (!names.is_empty()).then(|| names.join(",")),
                    pid,
                    container: within(containers.join(","), MAX_CONTAINER_BYTES),
                }
            },
        )
        .collect()
}

/// `text`, unless it is empty or longer than the server stores (`limit`
/// bytes): the server refuses a push holding a longer one, and a push
/// without the text is worth more than none.
fn within(text: String, limit: usize) -> Option<String> {
    (!text.is_empty() && text.len() <= limit).then_some(text)
}

/// The findings, in a stable order.
pub fn findings(findings: &[Finding]) -> Vec<PushedFinding> {
    let mut out: Vec<PushedFinding> = findings
        .iter()
        .map(|f| PushedFinding {
            code: f.kind.code().into(),
            severity: f.severity.as_str().into(),
            port: f.socket.as_ref().map(|s| s.port),
            message: f.message.clone(),
            remediation: within(f.remediation.clone(), MAX_REMEDIATION_BYTES),
        })
        .collect();
    out.sort_by(|a, b| (a.port, &a.code, &a.message).cmp(&(b.port, &b.code, &b.message)));
    out
}

/// Each port of the latest lifecycle plan with its state and when it was
/// last used, in port order.
pub fn lifecycle(plan: &[Recommendation]) -> Vec<PushedPort> {
    let mut out: Vec<PushedPort> = plan
        .iter()
        .map(|r| PushedPort {
            port: r.key.port,
            protocol: r.key.protocol.as_str().into(),
            state: r.state.as_str().into(),
            last_used: r.last_access,
        })
        .collect();
    out.sort_by(|a, b| (a.port, &a.protocol).cmp(&(b.port, &b.protocol)));
    out
}

/// How often the firewall's grants and blocks are read for the server:
/// each read lists the kernel's sets (and records expiries in the ledger,
/// as `portreeve grants` does), too much for every tick.
pub const FIREWALL_READ_EVERY: Duration = Duration::from_secs(5);

/// The grants and blocks the firewall holds, as `portreeve grants` and
/// `portreeve blocks` list them, read at most every
/// [`FIREWALL_READ_EVERY`]. A list that cannot be read (no firewall
/// applied on this host) is `None`: the server keeps what it held.
#[derive(Default)]
pub struct Holdings {
    read_at: Option<Instant>,
    /// The grants, as last read.
    pub grants: Option<Vec<PushedGrant>>,
    /// The blocks, as last read.
    pub blocks: Option<Vec<PushedBlock>>,
}

/// What tells one [`Holdings`] from another: the grants' and blocks'
/// sources and ports, not their expiries, which move by a second from one
/// read to the next as the kernel counts down.
pub type HoldingsKey = (
    Option<Vec<(String, String, u16)>>,
    Option<Vec<(String, bool)>>,
);

impl Holdings {
    /// Reads the grants and blocks again if [`FIREWALL_READ_EVERY`] passed.
    pub fn refresh(&mut self, state: &StateDir) {
        if self
            .read_at
            .is_some_and(|at| at.elapsed() < FIREWALL_READ_EVERY)
        {
            return;
        }
        self.read_at = Some(Instant::now());
        let now = Timestamp::now();
        self.grants = portreeve_app::grants::list(state)
            .inspect_err(|e| tracing::debug!(error = %e, "no grants for the server"))
            .ok()
            .map(|rows| grants(&rows, now));
        self.blocks = portreeve_app::blocks::list(state)
            .inspect_err(|e| tracing::debug!(error = %e, "no blocks for the server"))
            .ok()
            .map(|rows| blocks(&rows, now));
    }

    /// See [`HoldingsKey`].
    pub fn key(&self) -> HoldingsKey {
        (
            self.grants.as_ref().map(|g| {
                g.iter()
                    .map(|g| (g.source.clone(), g.protocol.clone(), g.port))
                    .collect()
            }),
            self.blocks
                .as_ref()
                .map(|b| b.iter().map(|b| (b.source.clone(), b.automatic)).collect()),
        )
    }
}

/// The grants as pushed, `now` plus the seconds each has left, in the
/// order of their keys; a key not `SOURCE . PROTOCOL . PORT` is skipped.
pub fn grants(rows: &[GrantRow], now: Timestamp) -> Vec<PushedGrant> {
    let mut out: Vec<PushedGrant> = rows
        .iter()
        .filter_map(|r| {
            let mut parts = r.key.split(" . ");
            let (Some(source), Some(protocol), Some(port), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                tracing::warn!(key = %r.key, "a grant key portreeve cannot read; not pushed");
                return None;
            };
            Some(PushedGrant {
                source: source.into(),
                protocol: protocol.into(),
                port: port.parse().ok()?,
                expires: expiry(now, r.seconds_left),
                actor: r.actor.clone(),
                rule: r.rule.clone(),
                reason: r.reason.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.source, &a.protocol, a.port).cmp(&(&b.source, &b.protocol, b.port)));
    out
}

/// The blocks as pushed, `now` plus the seconds each has left, in source
/// order.
pub fn blocks(rows: &[BlockRow], now: Timestamp) -> Vec<PushedBlock> {
    let mut out: Vec<PushedBlock> = rows
        .iter()
        .map(|r| PushedBlock {
            source: r.source.to_string(),
            automatic: r.kind == "automatic",
            until: expiry(now, r.seconds_left),
            actor: r.actor.clone(),
            reason: r.reason.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out
}

/// `now` plus `seconds_left`, to the second.
fn expiry(now: Timestamp, seconds_left: u64) -> Timestamp {
    let at = now
        .saturating_add(Duration::from_secs(seconds_left))
        .unwrap_or(Timestamp::MAX);
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// Drift events waiting for the next push, filled by the listeners loop
/// as it records them. Once closed (the push thread stopped for good) it
/// takes nothing more, so it never grows without a reader.
#[derive(Default)]
pub struct DriftQueue {
    events: Mutex<Option<Vec<PushedDrift>>>,
}

impl DriftQueue {
    /// An open queue.
    pub fn open() -> DriftQueue {
        DriftQueue {
            events: Mutex::new(Some(Vec::new())),
        }
    }

    /// Adds the changes seen `at`.
    pub fn add(&self, at: Timestamp, changes: &[Drift]) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(events) = events.as_mut() {
            events.extend(changes.iter().map(|d| drift(at, d)));
        }
    }

    /// The events added since the last call.
    pub fn take(&self) -> Vec<PushedDrift> {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Puts `taken` back in front (a push that could not be queued).
    pub fn put_back(&self, mut taken: Vec<PushedDrift>) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(events) = events.as_mut() {
            taken.append(events);
            *events = taken;
        }
    }

    /// Takes nothing more.
    pub fn close(&self) {
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// One drift event as pushed: the process names of the owner after the
/// change (before it, for a listener gone).
fn drift(at: Timestamp, d: &Drift) -> PushedDrift {
    let owner = d.new_owner.as_ref().or(d.old_owner.as_ref());
    PushedDrift {
        at,
        kind: d.kind.as_str().into(),
        protocol: d.listener.protocol.as_str().into(),
        address: d.listener.address.to_string(),
        port: d.listener.port,
        process: owner.and_then(process_names),
    }
}

fn process_names(owner: &Owner) -> Option<String> {
    (!owner.processes.is_empty()).then(|| {
        owner
            .processes
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// The ledger's head: the index of its last entry and the Merkle root of
/// all its entries, hex. `None` without a ledger, or an empty one; a
/// ledger that cannot be read is logged and left out of this push.
pub fn ledger_checkpoint(state: &StateDir) -> Option<LedgerCheckpoint> {
    if !state.has_ledger() {
        return None;
    }
    let head = state.ledger().and_then(|ledger| {
        let size = ledger.size()?;
        Ok((size > 0).then_some((size, ledger.root_at(size)?)))
    });
    match head {
        Ok(head) => head.map(|(size, root)| LedgerCheckpoint {
            index: size - 1,
            head: root.iter().map(|b| format!("{b:02x}")).collect(),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the ledger's head for the server");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use portreeve_core::{Family, NetnsRef, PortKey, PortUsage, ProcessInfo};
    use portreeve_lifecycle::PortInput;
    use portreeve_store::DriftKind;

    use super::*;
    use crate::drift::ListenerKey;

    fn socket(port: u16, address: &str, processes: &[(&str, u32)]) -> ListeningSocket {
        let address: IpAddr = address.parse().unwrap();
        let mut s = portreeve_testkit::listening_socket(port);
        s.address = address;
        s.family = if address.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        s.processes = processes
            .iter()
            .map(|&(name, pid)| {
                Arc::new(ProcessInfo {
                    pid,
                    name: name.into(),
                    exe: None,
                    cmdline: Vec::new(),
                    systemd_unit: None,
                    container_id: None,
                    attribution: Default::default(),
                })
            })
            .collect();
        s
    }

    #[test]
    fn listeners_are_one_per_address_and_port_in_port_order() {
        // SO_REUSEPORT: a second socket, other workers; one in a container
        // its runtime named, one known only by its cgroup's container id.
        let mut workers = socket(8080, "0.0.0.0", &[("web", 12), ("web", 30)]);
        let mut named = (*workers.processes[0]).clone();
        named.container_id = Some("3f2a9c".into());
        named.attribution.container = Some(portreeve_core::ContainerInfo {
            runtime: "docker".into(),
            name: "web-1".into(),
            image: "nginx:1.25".into(),
            ..Default::default()
        });
        let mut unnamed = (*workers.processes[1]).clone();
        unnamed.container_id = Some("77b0e1".into());
        workers.processes = vec![Arc::new(named), Arc::new(unnamed)];
        let pushed = listeners(&[
            socket(8080, "0.0.0.0", &[("web", 20)]),
            socket(22, "0.0.0.0", &[("sshd", 7)]),
            workers,
            socket(8080, "::", &[]),
        ]);
        assert_eq!(
            pushed,
            [
                PushedListener {
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: 22,
                    process: Some("sshd".into()),
                    pid: Some(7),
                    container: None,
                },
                PushedListener {
                    protocol: "tcp".into(),
                    address: "0.0.0.0".into(),
                    port: 8080,
                    process: Some("web".into()),
                    pid: Some(12),
                    container: Some("77b0e1,web-1".into()),
                },
                PushedListener {
                    protocol: "tcp".into(),
                    address: "::".into(),
                    port: 8080,
                    process: None,
                    pid: None,
                    container: None,
                },
            ]
        );
    }

    #[test]
    fn a_text_the_server_would_refuse_is_left_out() {
        assert_eq!(within("close it".into(), 8), Some("close it".into()));
        assert_eq!(within("close it".into(), 7), None);
        assert_eq!(within(String::new(), 7), None, "nothing to say");
    }

    #[test]
    fn lifecycle_is_each_planned_port_with_its_state_and_last_use() {
        let policy = portreeve_policy::parse_policy(
            "policy.toml",
            "[zones]\npublic = [\"0.0.0.0/0\"]\n\n[lifecycle]\ndormant_after = \"3d\"\nabandoned_after = \"30d\"\n",
        )
        .unwrap();
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let used: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        let mut old = PortUsage::new(used);
        old.last_access = Some(used);
        let ports = [
            PortInput::new(PortKey::new(Proto::Udp, 9000), old, true),
            PortInput::new(PortKey::new(Proto::Tcp, 22), PortUsage::new(now), true),
        ];
        let pushed = lifecycle(&portreeve_lifecycle::plan(&policy, &ports, now));
        assert_eq!(
            pushed,
            [
                PushedPort {
                    port: 22,
                    protocol: "tcp".into(),
                    state: "active".into(),
                    last_used: None,
                },
                PushedPort {
                    port: 9000,
                    protocol: "udp".into(),
                    state: "abandoned".into(),
                    last_used: Some(used),
                },
            ]
        );
    }

    #[test]
    fn grants_and_blocks_are_pushed_with_their_expiry_in_order() {
        let now: Timestamp = "2026-12-06T22:00:00.700Z".parse().unwrap();
        let row = |key: &str, left| GrantRow {
            key: key.into(),
            seconds_left: left,
            ttl_seconds: 3600,
            rule: Some("ssh".into()),
            actor: Some("alice".into()),
            reason: None,
        };
        let pushed = grants(
            &[
                row("2001:db8::/64 . udp . 53", 60),
                row("192.0.2.7 . tcp . 22", 90),
                row("not a key", 5),
            ],
            now,
        );
        let expected = |source: &str, protocol: &str, port, at: &str| PushedGrant {
            source: source.into(),
            protocol: protocol.into(),
            port,
            expires: at.parse().unwrap(),
            actor: Some("alice".into()),
            rule: Some("ssh".into()),
            reason: None,
        };
        assert_eq!(
            pushed,
            [
                expected("192.0.2.7", "tcp", 22, "2026-12-06T22:01:30Z"),
                expected("2001:db8::/64", "udp", 53, "2026-12-06T22:01:00Z"),
            ]
        );
        let block = |source: &str, kind| BlockRow {
            source: source.parse().unwrap(),
            kind,
            seconds_left: 120,
            ttl_seconds: 600,
            actor: None,
            reason: None,
            blocked_at: None,
            ledger_index: None,
        };
        let pushed = blocks(
            &[
                block("198.51.100.9/32", "automatic"),
                block("10.0.0.0/8", "manual"),
            ],
            now,
        );
        let summary: Vec<_> = pushed
            .iter()
            .map(|b| (b.source.as_str(), b.automatic, b.until.to_string()))
            .collect();
        assert_eq!(
            summary,
            [
                ("10.0.0.0/8", false, "2026-12-06T22:02:00Z".to_string()),
                ("198.51.100.9/32", true, "2026-12-06T22:02:00Z".to_string()),
            ]
        );
    }

    #[test]
    fn holdings_differ_by_what_is_held_not_by_when_it_expires() {
        let now: Timestamp = "2026-12-06T22:00:00Z".parse().unwrap();
        let row = |left| GrantRow {
            key: "192.0.2.7 . tcp . 22".into(),
            seconds_left: left,
            ttl_seconds: 3600,
            rule: None,
            actor: None,
            reason: None,
        };
        let held = |left| Holdings {
            grants: Some(grants(&[row(left)], now)),
            ..Holdings::default()
        };
        assert_eq!(held(100).key(), held(99).key());
        assert_ne!(held(100).key(), Holdings::default().key());
    }

    #[test]
    fn drift_is_taken_once_and_not_kept_once_closed() {
        let queue = DriftQueue::open();
        let at: Timestamp = "2026-12-06T22:00:00Z".parse().unwrap();
        let owner = Owner {
            processes: ["nc".to_string()].into(),
            ..Owner::default()
        };
        let change = Drift {
            kind: DriftKind::ListenerGone,
            listener: ListenerKey {
                netns: NetnsRef {
                    inode: 1,
                    name: None,
                },
                protocol: Proto::Udp,
                address: "::1".parse().unwrap(),
                port: 53,
            },
            old_owner: Some(owner),
            new_owner: None,
        };
        queue.add(at, std::slice::from_ref(&change));
        let taken = queue.take();
        assert_eq!(
            taken,
            [PushedDrift {
                at,
                kind: "listener_gone".into(),
                protocol: "udp".into(),
                address: "::1".into(),
                port: 53,
                process: Some("nc".into()),
            }]
        );
        assert!(queue.take().is_empty());
        queue.add(at, std::slice::from_ref(&change));
        queue.put_back(taken.clone());
        assert_eq!(queue.take().len(), 2);
        queue.close();
        queue.add(at, &[change]);
        assert!(queue.take().is_empty());
    }

    #[test]
    fn the_ledger_head_is_its_last_index_and_root() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        assert_eq!(ledger_checkpoint(&state), None);
        let ledger = state.ledger().unwrap();
        for object in ["a", "b"] {
            ledger
                .append(portreeve_ledger::Draft::new("apply", "test", object))
                .unwrap();
        }
        let head = ledger_checkpoint(&state).unwrap();
        assert_eq!(head.index, 1);
        assert_eq!(head.head.len(), 64);
        let root = ledger.root_at(2).unwrap();
        assert_eq!(head.head, root.map(|b| format!("{b:02x}")).concat());
    }
}

//! The push thread: enrolls the host if it is not yet, then, every
//! [`TICK`], queues a push when something changed (or the push interval
//! passed) and delivers the outbox in order, backing off while the server
//! cannot be reached; it also pulls and applies the fleet policy
//! ([`super::policy_pull`]), whose report each push carries. The rest of
//! the agent never waits for the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::StateDir;
use portreeve_core::{Finding, ListeningSocket};
use portreeve_fleet_protocol::{
    EnrollRequest, EnrollResponse, LedgerCheckpoint, Push, PushedFinding, PushedListener,
    PushedPort,
};
use portreeve_lifecycle::Recommendation;

use super::assemble::{self, DriftQueue, Holdings, HoldingsKey};
use super::client::{Client, RequestError};
use super::identity::{Enrollment, FleetDir, HostKey};
use super::outbox::{Bound, Content, Outbox};
use super::policy_pull::PolicyFollower;
use super::{FleetError, ServerConfig};
use crate::metrics::Metrics;

/// How often the thread looks for something to push or deliver.
pub const TICK: Duration = Duration::from_millis(250);
/// The first wait after a failed request; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts while the server is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the push thread reads from the agent's other threads.
pub struct Sources<'a> {
    /// The listening sockets of the latest reading; `None` before the
    /// first.
    pub listeners: &'a (dyn Fn() -> Option<Arc<Vec<ListeningSocket>>> + Sync),
    /// The findings of the latest check (empty without a policy).
    pub findings: &'a (dyn Fn() -> Vec<Finding> + Sync),
    /// The ports of the latest lifecycle plan; `None` before the first.
    pub lifecycle: &'a (dyn Fn() -> Option<Vec<Recommendation>> + Sync),
    /// Drift events recorded since they were last taken.
    pub drift: &'a DriftQueue,
}

/// Runs the push thread until `stop` is set. A failure that ends it
/// (enrollment refused, the state unwritable) is logged; the agent goes
/// on without the server.
pub fn run(
    config: &ServerConfig,
    state: &StateDir,
    sources: &Sources<'_>,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    match Pusher::start(config, state, metrics, stop) {
        Ok(Some(mut pusher)) => pusher.run(sources, stop),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "not reporting to the server; the agent goes on without it");
        }
    }
    sources.drift.close();
}

/// The listeners, findings, ledger head, lifecycle, and grants' and
/// blocks' keys a push carried, to tell whether anything changed since.
type Sent = (
    Vec<PushedListener>,
    Vec<PushedFinding>,
    Option<LedgerCheckpoint>,
    Option<Vec<PushedPort>>,
    HoldingsKey,
);

struct Pusher<'a> {
    state: &'a StateDir,
    metrics: &'a Metrics,
    client: Client,
    key: HostKey,
    host_id: String,
    outbox: Outbox,
    push_interval: Duration,
    last: Option<(Sent, Instant)>,
    retry: Backoff,
    holdings: Holdings,
    policy: PolicyFollower,
}

impl<'a> Pusher<'a> {
    /// Loads the host's key and enrollment, enrolling first if there is
    /// none; `None` when stopped while enrolling.
    fn start(
        config: &ServerConfig,
        state: &'a StateDir,
        metrics: &'a Metrics,
        stop: &AtomicBool,
    ) -> Result<Option<Pusher<'a>>, FleetError> {
        let fleet = FleetDir::new(state.root());
        let key = HostKey::load_or_create(&fleet.key())?;
        let client = Client::new(&config.url);
        let enrollment = match Enrollment::read(&fleet.enrollment())? {
            Some(e) => {
                if e.server.trim_end_matches('/') != config.url.trim_end_matches('/') {
                    tracing::warn!(
                        enrolled_with = %e.server,
                        server = %config.url,
                        "this host was enrolled with another server; pushing to the one configured"
                    );
                }
                e
            }
            None => match enroll(config, &client, &key, stop)? {
                Some(answer) => {
                    let e = Enrollment {
                        server: config.url.clone(),
                        host_id: answer.host_id,
                        server_key: answer.server_key,
                    };
                    e.write(&fleet.enrollment())?;
                    tracing::info!(server = %config.url, host_id = %e.host_id, "enrolled");
                    e
                }
                None => return Ok(None),
            },
        };
        let outbox = Outbox::open(&fleet.outbox(), Bound::default())?;
        metrics.fleet_outbox_pushes.set(outbox.len() as i64);
        let policy = PolicyFollower::new(
            state,
            fleet.policy(),
            enrollment.server_key,
            config.policy_confirm_within,
            config.push_interval,
        );
        Ok(Some(Pusher {
            state,
            metrics,
            client,
            key,
            host_id: enrollment.host_id,
            outbox,
            push_interval: config.push_interval,
            last: None,
            retry: Backoff::default(),
            holdings: Holdings::default(),
            policy,
        }))
    }

    fn run(&mut self, sources: &Sources<'_>, stop: &AtomicBool) {
        tracing::info!(server = %self.client.base(), host_id = %self.host_id, queued = self.outbox.len(), "reporting to the server");
        while !stop.load(Ordering::Relaxed) {
            self.policy
                .tick(self.state, &self.client, &self.host_id, &self.key);
            self.queue_if_due(sources);
            self.deliver(stop);
            std::thread::sleep(TICK);
        }
        // Drift recorded since the last tick goes to the outbox, for the
        // next start to deliver.
        self.queue_if_due(sources);
    }

    /// Queues a push when the listeners, findings, ledger head or lifecycle changed,
    /// drift was recorded, or the push interval passed since the last.
    fn queue_if_due(&mut self, sources: &Sources<'_>) {
        let Some(sockets) = (sources.listeners)() else {
            return;
        };
        self.holdings.refresh(self.state);
        let content: Sent = (
            assemble::listeners(&sockets),
            assemble::findings(&(sources.findings)()),
            assemble::ledger_checkpoint(self.state),
            (sources.lifecycle)().map(|plan| assemble::lifecycle(&plan)),
            self.holdings.key(),
        );
        let drift = sources.drift.take();
        let due = self.policy.take_news()
            || !drift.is_empty()
            || match &self.last {
                None => true,
                Some((last, at)) => *last != content || at.elapsed() >= self.push_interval,
            };
        if !due {
            return;
        }
        let kind = if drift.is_empty() {
            Content::Snapshot
        } else {
            Content::Drift
        };
        let push = Push {
            host_id: self.host_id.clone(),
            seq: self.outbox.next_seq(),
            sent_at: Timestamp::now(),
            listeners: content.0.clone(),
            findings: content.1.clone(),
            drift,
            ledger: content.2.clone(),
            lifecycle: content.3.clone(),
            policy: self.policy.report().cloned(),
            grants: self.holdings.grants.clone(),
            blocks: self.holdings.blocks.clone(),
        };
        let body = serde_json::to_vec(&push).expect("a push serializes");
        match self.outbox.enqueue(kind, &body) {
            Ok(dropped) => {
                for d in dropped {
                    self.metrics
                        .fleet_outbox_dropped
                        .get_or_create(&[("content", d.content.as_str().into())])
                        .inc();
                    match d.content {
                        Content::Snapshot => tracing::debug!(
                            seq = d.seq,
                            "outbox full: dropped a snapshot a later one supersedes"
                        ),
                        Content::Drift => tracing::warn!(
                            seq = d.seq,
                            "outbox full: dropped a push with drift events the server will not see"
                        ),
                    }
                }
                self.last = Some((content, Instant::now()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot queue a push; trying again");
                sources.drift.put_back(push.drift);
            }
        }
        self.metrics
            .fleet_outbox_pushes
            .set(self.outbox.len() as i64);
    }

    /// Sends the queued pushes, oldest first, until the outbox is empty or
    /// a request fails.
    fn deliver(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) && self.retry.ready() {
            let (seq, body) = match self.outbox.oldest() {
                Ok(Some(oldest)) => oldest,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the outbox");
                    self.retry.failed();
                    return;
                }
            };
            let pushes = &self.metrics.fleet_pushes;
            let sent = self.client.push(&self.host_id, &self.key, &body);
            let remove = match &sent {
                Ok(accepted) => {
                    let result = if *accepted { "delivered" } else { "duplicate" };
                    pushes.get_or_create(&[("result", result.into())]).inc();
                    if self.retry.succeeded() {
                        tracing::info!(server = %self.client.base(), "the server answers again");
                    }
                    true
                }
                Err(e) => {
                    pushes.get_or_create(&[("result", "failed".into())]).inc();
                    self.failed(seq, e)
                }
            };
            if remove && let Err(e) = self.outbox.remove(seq) {
                tracing::warn!(error = %e, seq, "cannot delete a delivered push");
                self.retry.failed();
            }
            self.metrics
                .fleet_outbox_pushes
                .set(self.outbox.len() as i64);
            if sent.is_err() {
                return;
            }
        }
    }

    /// Handles a failed push: whether to give it up (the server refused
    /// its content, which sending again cannot change).
    fn failed(&mut self, seq: u64, e: &RequestError) -> bool {
        let first = self.retry.failed();
        match e {
            RequestError::Refused {
                status: 400 | 413 | 422,
                ..
            } => {
                tracing::error!(error = %e, seq, "the server refused a push; dropped");
                true
            }
            RequestError::Refused { .. } => {
                // Unknown or revoked host, bad signature: nothing this
                // agent can fix by itself; keep the pushes and try slowly.
                tracing::error!(error = %e, seq, "the server refuses this host's pushes");
                self.retry.slowest();
                false
            }
            RequestError::Unreachable(_) => {
                if first {
                    tracing::warn!(error = %e, server = %self.client.base(), "cannot reach the server; pushes wait in the outbox");
                } else {
                    tracing::debug!(error = %e, "the server is still unreachable");
                }
                false
            }
        }
    }
}

/// Enrolls with the enroll token, trying again while the server cannot be
/// reached; the server's answer, or `None` when stopped first.
fn enroll(
    config: &ServerConfig,
    client: &Client,
    key: &HostKey,
    stop: &AtomicBool,
) -> Result<Option<EnrollResponse>, FleetError> {
    let failed = |message: String| FleetError::Enroll {
        server: config.url.clone(),
        message,
    };
    let token = config
        .enroll_token
        .as_ref()
        .ok_or_else(|| {
            failed(
                "this host is not enrolled yet and has no enroll token \
                 (--enroll-token, or enroll_token_file in [server])"
                    .into(),
            )
        })?
        .read()?;
    let request = EnrollRequest {
        host_name: config
            .host_name
            .clone()
            .unwrap_or_else(portreeve_ledger::store::host_name),
        public_key: key.public_base64(),
    };
    let mut retry = Backoff::default();
    while !stop.load(Ordering::Relaxed) {
        if !retry.ready() {
            std::thread::sleep(TICK);
            continue;
        }
        match client.enroll(&token, &request) {
            Ok(answer) => return Ok(Some(answer)),
            Err(e) if e.is_transient() => {
                if retry.failed() {
                    tracing::warn!(error = %e, server = %config.url, "cannot enroll yet; trying again");
                }
            }
            Err(e) => return Err(failed(e.to_string())),
        }
    }
    Ok(None)
}

/// When to try again after failures: [`FIRST_BACKOFF`], doubling up to
/// [`MAX_BACKOFF`], back to none after a success.
#[derive(Default)]
struct Backoff {
    wait: Option<Duration>,
    until: Option<Instant>,
}

impl Backoff {
    fn ready(&self) -> bool {
        self.until.is_none_or(|t| Instant::now() >= t)
    }

    /// Records a failure; whether it is the first of a run.
    fn failed(&mut self) -> bool {
        let first = self.wait.is_none();
        let wait = self
            .wait
            .map_or(FIRST_BACKOFF, |w| (w * 2).min(MAX_BACKOFF));
        self.wait = Some(wait);
        self.until = Some(Instant::now() + wait);
        first
    }

    /// Waits the longest from now on.
    fn slowest(&mut self) {
        self.wait = Some(MAX_BACKOFF);
        self.until = Some(Instant::now() + MAX_BACKOFF);
    }

    /// Records a success; whether failures came before it.
    fn succeeded(&mut self) -> bool {
        self.until = None;
        self.wait.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use portreeve_store::DriftKind;

    use super::*;
    use crate::drift::{Drift, ListenerKey};

    /// The pushes queued in `pusher`'s outbox, oldest first, removed.
    fn queued(pusher: &mut Pusher<'_>) -> Vec<Push> {
        let mut out = Vec::new();
        while let Some((seq, body)) = pusher.outbox.oldest().unwrap() {
            out.push(serde_json::from_slice(&body).unwrap());
            pusher.outbox.remove(seq).unwrap();
        }
        out
    }

    #[test]
    fn a_push_is_queued_for_a_change_or_drift_and_not_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        let metrics = Metrics::new();
        let fleet = FleetDir::new(dir.path());
        let mut pusher = Pusher {
            state: &state,
            metrics: &metrics,
            // Never asked: this test queues, it does not deliver.
            client: Client::new("http://127.0.0.1:9"),
            key: HostKey::load_or_create(&fleet.key()).unwrap(),
            host_id: "ab".repeat(16),
            outbox: Outbox::open(&fleet.outbox(), Bound::default()).unwrap(),
            push_interval: Duration::from_secs(3600),
            last: None,
            retry: Backoff::default(),
            holdings: Holdings::default(),
            policy: PolicyFollower::new(
                &state,
                fleet.policy(),
                None,
                Duration::from_secs(60),
                Duration::from_secs(3600),
            ),
        };
        let latest: Mutex<Option<Arc<Vec<ListeningSocket>>>> = Mutex::new(None);
        let listeners = || latest.lock().unwrap().clone();
        let drift = DriftQueue::open();
        let plan: Mutex<Option<Vec<Recommendation>>> = Mutex::new(None);
        let lifecycle = || plan.lock().unwrap().clone();
        let sources = Sources {
            listeners: &listeners,
            findings: &Vec::new,
            lifecycle: &lifecycle,
            drift: &drift,
        };
        // Nothing read yet: nothing to say.
        pusher.queue_if_due(&sources);
        assert!(pusher.outbox.is_empty());

        *latest.lock().unwrap() = Some(Arc::new(vec![portreeve_testkit::listening_socket(22)]));
        pusher.queue_if_due(&sources);
        let first = queued(&mut pusher);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].seq, first[0].host_id.as_str()),
            (1, &*"ab".repeat(16))
        );
        assert_eq!(first[0].listeners[0].port, 22);
        assert!(first[0].drift.is_empty() && first[0].ledger.is_none());

        // The same again, within the push interval: nothing.
        pusher.queue_if_due(&sources);
        assert!(pusher.outbox.is_empty());

        // Drift alone is worth a push, kept as drift.
        let gone = Drift {
            kind: DriftKind::ListenerGone,
            listener: ListenerKey {
                netns: portreeve_testkit::listening_socket(80).netns,
                protocol: portreeve_core::Proto::Tcp,
                address: "0.0.0.0".parse().unwrap(),
                port: 80,
            },
            old_owner: None,
            new_owner: None,
        };
        drift.add(Timestamp::now(), &[gone]);
        pusher.queue_if_due(&sources);
        assert_eq!(pusher.outbox.len(), 1);
        let second = queued(&mut pusher);
        assert_eq!(second[0].seq, 2);
        assert_eq!(second[0].drift[0].kind, "listener_gone");
        assert_eq!(second[0].drift[0].port, 80);

        // Another listener: a push with both.
        *latest.lock().unwrap() = Some(Arc::new(vec![
            portreeve_testkit::listening_socket(22),
            portreeve_testkit::listening_socket(443),
        ]));
        pusher.queue_if_due(&sources);
        let third = queued(&mut pusher);
        let ports: Vec<u16> = third[0].listeners.iter().map(|l| l.port).collect();
        assert_eq!((third[0].seq, ports), (3, vec![22, 443]));
        assert_eq!(third[0].lifecycle, None, "no plan yet: not sent");
        assert_eq!(metrics.fleet_outbox_pushes.get(), 1);

        // The lifecycle thread's first plan: a push carrying it.
        let policy =
            portreeve_policy::parse_policy("policy.toml", "[zones]\npublic = [\"0.0.0.0/0\"]\n")
                .unwrap();
        let now = Timestamp::now();
        let port = portreeve_core::PortKey::new(portreeve_core::Proto::Tcp, 22);
        let input =
            portreeve_lifecycle::PortInput::new(port, portreeve_core::PortUsage::new(now), true);
        *plan.lock().unwrap() = Some(portreeve_lifecycle::plan(&policy, &[input], now));
        pusher.queue_if_due(&sources);
        let fourth = queued(&mut pusher);
        let ports = fourth[0].lifecycle.as_ref().expect("the plan is pushed");
        assert_eq!((ports[0].port, ports[0].state.as_str()), (22, "active"));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::default();
        assert!(b.ready());
        assert!(b.failed());
        assert!(!b.ready());
        assert!(!b.failed());
        assert_eq!(b.wait, Some(FIRST_BACKOFF * 2));
        for _ in 0..20 {
            b.failed();
        }
        assert_eq!(b.wait, Some(MAX_BACKOFF));
        assert!(b.succeeded());
        assert!(b.ready());
        assert!(!b.succeeded());
    }
}

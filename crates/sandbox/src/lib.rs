//! `simulate --sandbox`: a disposable replica of this host in network
//! namespaces of its own, where a ruleset is applied by the real enforcer
//! and every recorded (source, protocol, port) pair is probed for real.
//!
//! Each phase builds two fresh namespaces (`prv-sbx-<pid>-<n>`): the
//! replica, holding the host's current listeners on the same addresses,
//! ports and protocols (TCP accepts and closes, UDP echoes) and the host's
//! interface addresses; and a client, which takes each source's address
//! and connects from it. A veth pair joins them and each routes everything
//! over it, so any source reaches any address and is answered; nothing
//! else is reachable from either. Sources that are loopback or one of the
//! host's own addresses are probed from inside the replica, as such
//! traffic arrives. The phase "now" applies the ruleset in effect (none:
//! nothing filters), the phase "candidate" the candidate's, each in fresh
//! namespaces (fresh conntrack), with [`portreeve_enforce::Enforcer`] and
//! a generation store in a temporary directory: the host's live ruleset
//! and state directory are never touched. Everything is deleted when the
//! phase ends, and namespaces a killed run left behind are deleted at the
//! start of the next.
//!
//! The rulesets applied leave out what depends on the order and rate of
//! the probes rather than on the policy's allowances — per-rule rate
//! limits and scan detection — as the model (`simulate` without
//! `--sandbox`) leaves them out.

mod names;
mod namespace;
mod plan;
mod probe;
mod replica;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use portreeve_core::{ListeningSocket, PortKey, SourceUse};
use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::{ApplyOptions, EnforceError, Enforcer, Ruleset};

use crate::namespace::Pod;
use crate::plan::{Plan, Side};
use crate::replica::Replica;

/// Why the sandbox could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Root or a program the sandbox needs is missing.
    #[error("--sandbox needs {0}")]
    Unavailable(String),
    /// `ip` refused a command.
    #[error("sandbox: `ip {args}` failed: {stderr}")]
    Ip {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// Something else the sandbox does failed.
    #[error("sandbox: {what}: {source}")]
    Io {
        /// What it was doing.
        what: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The enforcer could not apply a ruleset in the replica.
    #[error("sandbox: applying the ruleset in the replica: {0}")]
    Enforce(#[from] EnforceError),
    /// Reading the host's listeners or addresses failed.
    #[error(transparent)]
    Inventory(#[from] portreeve_inventory::InventoryError),
}

impl SandboxError {
    fn io(what: String, source: std::io::Error) -> SandboxError {
        SandboxError::Io { what, source }
    }
}

/// What the replica mirrors: this host as it is now.
#[derive(Debug, Clone)]
pub struct Host {
    /// The listening sockets, in the caller's namespace.
    pub listeners: Vec<ListeningSocket>,
    /// Every address on its interfaces.
    pub addresses: Vec<IpAddr>,
}

impl Host {
    /// The caller's namespace's listeners and addresses.
    pub fn current() -> Result<Host, SandboxError> {
        let options = portreeve_inventory::Options { all_netns: false };
        Ok(Host {
            listeners: portreeve_inventory::collect(options)?.sockets,
            addresses: portreeve_inventory::host_addresses()?,
        })
    }
}

/// What probing one pair found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Probed in both phases.
    Reached {
        /// Whether it reached the replica under the ruleset now.
        now: bool,
        /// Whether it reached it under the candidate.
        candidate: bool,
    },
    /// Not probed, and why.
    Skipped(&'static str),
}

/// The probes of every pair, and what the replica was.
#[derive(Debug, Clone)]
pub struct Probes {
    /// One per pair, in the order given.
    pub pairs: Vec<Probe>,
    /// How many of the host's listeners the replica mirrored.
    pub mirrored_listeners: usize,
    /// Recorded ports nothing listens on now, given a listener of their
    /// own.
    pub added_listeners: Vec<PortKey>,
    /// How long building, probing and tearing down took.
    pub elapsed: Duration,
}

/// Whether the sandbox can run here: root, `ip` and `nft`.
pub fn available() -> Result<(), SandboxError> {
    if !rustix::process::geteuid().is_root() {
        return Err(SandboxError::Unavailable(
            "root (it creates network namespaces)".into(),
        ));
    }
    let ip = std::process::Command::new("ip")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if ip.is_err() {
        return Err(SandboxError::Unavailable("`ip` (install iproute2)".into()));
    }
    // Checking an empty ruleset changes nothing and needs what applying
    // one needs.
    Nft::new()
        .check("")
        .map_err(|e| SandboxError::Unavailable(format!("nft: {e}")))
}

/// Probes every pair of `pairs` against a replica of `host`, under `now`
/// (`None`: nothing filters) and under `candidate`.
pub fn probe(
    host: &Host,
    now: Option<&Ruleset>,
    candidate: &Ruleset,
    pairs: &[SourceUse],
) -> Result<Probes, SandboxError> {
    available()?;
    let started = Instant::now();
    names::remove_stale();
    let plan = Plan::new(&host.listeners, &host.addresses, pairs);
    let reached_now = phase(&plan, now)?;
    let reached_candidate = phase(&plan, Some(candidate))?;
    let mut reached = reached_now.into_iter().zip(reached_candidate);
    let pairs = plan
        .shots
        .iter()
        .map(|shot| match shot {
            Ok(_) => {
                let (now, candidate) = reached.next().unwrap_or_default();
                Probe::Reached { now, candidate }
            }
            Err(why) => Probe::Skipped(why),
        })
        .collect();
    Ok(Probes {
        pairs,
        mirrored_listeners: plan.mirrored,
        added_listeners: plan.added,
        elapsed: started.elapsed(),
    })
}

/// One phase in fresh namespaces: `ruleset` applied in the replica, then
/// every shot of `plan` fired. Whether each reached, in the order of the
/// plan's shots (those that exist).
fn phase(plan: &Plan, ruleset: Option<&Ruleset>) -> Result<Vec<bool>, SandboxError> {
    let pod = Pod::build(&plan.replica_addresses, &plan.client_addresses)?;
    if let Some(ruleset) = ruleset {
        apply(&pod, ruleset)?;
    }
    let _replica = Replica::start(&pod.replica, &plan.listeners)?;
    let shots: Vec<_> = plan.shots.iter().flatten().collect();
    let from =
        |side: Side| -> Vec<_> { shots.iter().copied().filter(|s| s.side == side).collect() };
    let (remote, local) = (from(Side::Client), from(Side::Replica));
    let probing = |e| SandboxError::io("probing".into(), e);
    let mut remote = pod
        .client
        .run(|| Ok(probe::all(&remote)))
        .map_err(probing)?
        .into_iter();
    let mut local = pod
        .replica
        .run(|| Ok(probe::all(&local)))
        .map_err(probing)?
        .into_iter();
    Ok(shots
        .iter()
        .map(|s| {
            match s.side {
                Side::Client => remote.next(),
                Side::Replica => local.next(),
            }
            .unwrap_or(false)
        })
        .collect())
}

/// Applies `ruleset` in the pod's replica with the real enforcer, its
/// generations kept in a temporary directory (dropped with it).
fn apply(pod: &Pod, ruleset: &Ruleset) -> Result<(), SandboxError> {
    let store =
        tempfile::tempdir().map_err(|e| SandboxError::io("a temporary directory".into(), e))?;
    let enforcer = Enforcer::new(store.path());
    let options = ApplyOptions {
        actor: "simulate --sandbox".into(),
        force: true,
        ..ApplyOptions::default()
    };
    let ruleset = for_probing(ruleset);
    pod.replica
        .run(|| Ok(enforcer.apply(&ruleset, &options, |_| Ok(()))))
        .map_err(|e| SandboxError::io("entering the replica".into(), e))??;
    Ok(())
}

/// `ruleset` without its rate limits and scan detection: what they do
/// depends on how fast and in which order the probes come, not on which
/// sources the policy allows, and the model leaves them out too.
fn for_probing(ruleset: &Ruleset) -> Ruleset {
    let mut ruleset = ruleset.clone();
    ruleset.limits.clear();
    ruleset.detection.scan = portreeve_policy::ScanAction::Off;
    ruleset
}

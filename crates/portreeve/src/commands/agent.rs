//! `portreeve agent`: the long-running watcher. Reads the configuration,
//! starts the metrics endpoint and the conntrack subscription, and runs the
//! loop of [`portreeve_agent::daemon`] until SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use portreeve_agent::collector::{Collector, Totals};
use portreeve_agent::config::{AgentConfig, parse_interval};
use portreeve_agent::conntrack::Events;
use portreeve_agent::daemon::{self, History, LoopConfig};
use portreeve_agent::metrics::{Endpoint, Metrics};
use portreeve_agent::persist::StoreHistory;
use portreeve_inventory::Options;
use portreeve_store::{SqliteStore, Store};

use std::time::{Duration, Instant};

use portreeve_core::{Finding, ListeningSocket, Severity};
use portreeve_lifecycle::{Action, Recommendation, State, abandoned_findings};
use portreeve_policy::Policy;

use super::{lifecycle, load_policy};
use crate::cli::{AgentArgs, DriftArgs, ListFormat};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};
use crate::paths;

/// The configuration file read when none is named.
const DEFAULT_CONFIG: &str = "/etc/portreeve/agent.toml";

/// The configuration: the file (named, or the default one if it exists),
/// then the command line on top.
fn config(args: &AgentArgs) -> Result<AgentConfig, Failure> {
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        (paths::running_as_root() && default.is_file()).then_some(default)
    });
    let mut config = match file {
        Some(path) => AgentConfig::read(&path).map_err(|e| Failure::Input(e.to_string()))?,
        None => AgentConfig::default(),
    };
    if let Some(i) = &args.interval {
        config.interval = parse_interval(i).ok_or_else(|| {
            Failure::Input(format!(
                "--interval `{i}` is not a duration from 100ms to 1h (e.g. 1s, 500ms)"
            ))
        })?;
    }
    if let Some(m) = &args.metrics {
        config.metrics = match m.as_str() {
            "off" => None,
            addr => Some(addr.parse().map_err(|_| {
                Failure::Input(format!(
                    "--metrics `{addr}` is not ADDRESS:PORT (e.g. 127.0.0.1:9465), or off"
                ))
            })?),
        };
    }
    config.conntrack &= !args.no_conntrack;
    config.all_netns |= args.all_netns;
    config.netflow.extend(&args.netflow);
    config.sflow.extend(&args.sflow);
    Ok(config)
}

/// Where the agent keeps its history: the store under the state directory.
fn open_history(state_dir: &Path) -> Result<Box<dyn History>, Failure> {
    let store = SqliteStore::open(state_dir).map_err(|e| Failure::Operational(e.to_string()))?;
    Ok(Box::new(StoreHistory::new(Box::new(store))))
}

/// `portreeve drift`: the agent's recent drift events, newest first.
pub fn drift(args: &DriftArgs, state_dir: &Path) -> Result<u8, Failure> {
    let path = state_dir.join(portreeve_store::DB_FILE);
    let events = if path.exists() {
        SqliteStore::open(state_dir)
            .and_then(|s| s.drift_events(args.since, args.limit))
            .map_err(|e| Failure::Operational(e.to_string()))?
    } else {
        Vec::new()
    };
    match args.format {
        ListFormat::Json => emit_listing("portreeve.drift", &[("events", to_value(&events))]),
        ListFormat::Table => emit(&table::rows(
            &[
                "TIME (UTC)",
                "KIND",
                "LISTENER",
                "NETNS",
                "OLD OWNER",
                "NEW OWNER",
            ],
            &events
                .iter()
                .map(|e| {
                    vec![
                        e.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        e.kind.to_string(),
                        format!(
                            "{}/{}",
                            std::net::SocketAddr::new(e.address, e.port),
                            e.protocol
                        ),
                        e.netns.to_string(),
                        e.old_owner.clone().unwrap_or_else(|| "-".into()),
                        e.new_owner.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
            table::stdout_colour(),
        )),
    }
    Ok(EXIT_OK)
}

/// How often the lifecycle is re-planned (and reclaims run).
const PLAN_EVERY: Duration = Duration::from_secs(10);

/// What the agent does with each reading beyond drift and usage: the
/// policy's findings per severity (abandoned ports, PR013, included), and
/// every [`PLAN_EVERY`] the lifecycle — ports per state, and closing the
/// ports the policy says to reclaim.
fn observer<'a>(
    policy: &'a Policy,
    state_dir: &'a Path,
    metrics: &'a Metrics,
) -> impl FnMut(&[ListeningSocket]) + 'a {
    let mut planned: Option<Instant> = None;
    // PR013 findings from the last plan.
    let mut abandoned: Vec<Finding> = Vec::new();
    move |sockets| {
        let mut findings = portreeve_policy::evaluate(policy, sockets, super::today());
        let plan_now = planned.is_none_or(|t| t.elapsed() >= PLAN_EVERY);
        let recs = if plan_now {
            planned = Some(Instant::now());
            match lifecycle::plan_for(state_dir, policy, sockets) {
                Ok((recs, _)) => {
                    abandoned = abandoned_findings(policy, &recs, sockets);
                    Some(recs)
                }
                Err(e) => {
                    tracing::warn!(error = e.summary(), "cannot plan the port lifecycle");
                    metrics.count_error("lifecycle");
                    None
                }
            }
        } else {
            None
        };
        findings.extend(abandoned.iter().cloned());
        for severity in Severity::ALL {
            let n = findings.iter().filter(|f| f.severity == severity).count();
            metrics
                .findings
                .get_or_create(&[("severity", severity.to_string())])
                .set(n as i64);
        }
        let Some(recs) = recs else {
            return;
        };
        for state in [
            State::Active,
            State::Dormant,
            State::Abandoned,
            State::Reclaimed,
        ] {
            let n = recs.iter().filter(|r| r.state == state).count();
            metrics
                .ports
                .get_or_create(&[("state", state.as_str().into())])
                .set(n as i64);
        }
        let closing: Vec<&Recommendation> =
            recs.iter().filter(|r| r.action == Action::Close).collect();
        if closing.is_empty() {
            return;
        }
        match lifecycle::close(state_dir, policy, &closing, false) {
            Ok(lines) => {
                for line in lines {
                    tracing::warn!(reclaim = line.trim_end(), "abandoned port closed by policy");
                }
            }
            Err(e) => {
                tracing::warn!(error = e.summary(), "cannot reclaim abandoned ports");
                metrics.count_error("reclaim");
            }
        }
    }
}

pub fn run(args: &AgentArgs, state_dir: &Path) -> Result<u8, Failure> {
    let config = config(args)?;
    let policy = load_policy(args.policy.policy.as_deref())?;
    let mut history = open_history(state_dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Failure::Operational(format!("cannot handle signals: {e}")))?;
    }
    let metrics = Arc::new(Metrics::new());
    let endpoint = match config.metrics {
        Some(address) => Some(Endpoint::start(address, metrics.clone()).map_err(|e| {
            Failure::Operational(format!("cannot serve metrics on {address}: {e}"))
        })?),
        None => None,
    };

    let (tx, rx) = mpsc::channel();
    let conntrack = config
        .conntrack
        .then(|| match Events::subscribe() {
            Ok(mut events) => {
                let stop = stop.clone();
                let metrics = metrics.clone();
                Some(std::thread::spawn(move || {
                    let mut overruns = 0;
                    while !stop.load(Ordering::Relaxed) {
                        match events.next_batch() {
                            Ok(batch) => {
                                for c in batch {
                                    if tx.send(c).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "conntrack events failed; usage counting stops");
                                metrics.count_error("conntrack");
                                return;
                            }
                        }
                        if events.overruns > overruns {
                            metrics.conntrack_overruns.inc_by(events.overruns - overruns);
                            overruns = events.overruns;
                        }
                    }
                }))
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "conntrack events unavailable (they need CAP_NET_ADMIN): new connections are not counted"
                );
                None
            }
        })
        .flatten();

    let mut flow_addresses = config.netflow.clone();
    flow_addresses.extend(&config.sflow);
    let flows = if flow_addresses.is_empty() {
        None
    } else {
        let collector = Collector::start(&flow_addresses, Duration::from_secs(5)).map_err(|e| {
            Failure::Operational(format!("cannot receive flows on {flow_addresses:?}: {e}"))
        })?;
        let (stop, state_dir, metrics) = (stop.clone(), state_dir.to_path_buf(), metrics.clone());
        Some(std::thread::spawn(move || {
            let mut totals = Totals::default();
            let mut sink = super::flows::FlowSink::new(&state_dir);
            while !stop.load(Ordering::Relaxed) {
                let usage = collector.next_flush(&mut totals, Some(&metrics));
                if let Err(e) = sink.store(&usage) {
                    tracing::warn!(error = e.summary(), "cannot store flow aggregates");
                }
            }
            let _ = sink.store(&collector.stop(&mut totals));
            tracing::info!(?totals, "flow collection stopped");
        }))
    };
    tracing::info!(
        flows = ?flow_addresses,
        interval = ?config.interval,
        metrics = ?endpoint.as_ref().map(|e| format!("http://{}/metrics", e.address)),
        conntrack = conntrack.is_some(),
        "agent started"
    );
    let all_netns = config.all_netns;
    let mut read = move || {
        portreeve_inventory::collect(Options { all_netns })
            .map(|i| i.sockets)
            .map_err(|e| e.to_string())
    };
    let mut observe = observer(&policy, state_dir, &metrics);
    daemon::run(
        &LoopConfig {
            interval: config.interval,
        },
        &mut read,
        conntrack.is_some().then_some(&rx),
        history.as_mut(),
        &mut observe,
        &metrics,
        &stop,
    );
    if let Some(t) = conntrack {
        let _ = t.join();
    }
    if let Some(t) = flows {
        let _ = t.join();
    }
    if let Some(e) = endpoint {
        e.stop();
    }
    tracing::info!("agent stopped");
    Ok(EXIT_OK)
}

//! The breakers thread: every interval, each breaker of the policy in
//! effect takes a reading of what it watches, and a trip or a recovery it
//! decides is applied through `portreeve_app::breakers` (a new generation
//! from the policy in effect, recorded). The breakers' state machines are
//! kept here between readings and follow `<state>/breakers.json`, which a
//! manual `portreeve breaker trip|reset` changes and a restart reads back.
//! The pools of tripped overflow breakers are checked every few seconds,
//! and a change of which members answer is installed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_app::breakers::{self, Change, Reading, Record, Remembered};
use portreeve_app::policy::{self, LoadedPolicy};
use portreeve_app::{Actor, AppError, StateDir};
use portreeve_breakers::host::{self, CpuTimes};
use portreeve_breakers::{Breaker, Measurement, State};
use portreeve_core::PortKey;
use portreeve_policy::{BreakerAction, Measure};

use crate::metrics::Metrics;

/// How often the agent checks which members of a tripped overflow
/// breaker's pool answer: each check is one connection to each member.
const POOL_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Runs the breakers every `every` until `stop` is set.
pub fn run(every: Duration, state: &StateDir, metrics: &Metrics, stop: &AtomicBool) {
    let mut watch = Watch::default();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        next = now + every;
        if let Err(e) = watch.round(state, metrics) {
            tracing::warn!(error = %e, "cannot evaluate the circuit breakers");
            metrics.count_error("breakers");
        }
    }
}

/// What the thread keeps between rounds.
#[derive(Default)]
struct Watch {
    /// The digest of the policy the machines were built from.
    policy: Option<String>,
    /// The policy in effect as last read, with the live generation it was
    /// read under: read and parsed again only when that changes, not
    /// every interval (a policy of 10,000 rules takes 0.1 s to parse).
    in_effect: Option<(u64, Option<LoadedPolicy>)>,
    /// Each breaker's state machine, by name.
    machines: BTreeMap<String, Breaker>,
    /// The previous round's counters, for rates.
    meter: Meter,
    /// Each breaker's last trip as the previous round's record said, for
    /// counting trips (by hand too) once each.
    last_trips: BTreeMap<String, Option<Timestamp>>,
    /// When the metrics were last brought up to date.
    counted_at: Option<Instant>,
    /// The members of each tripped overflow breaker's pool that answered
    /// at the last check, and when that was.
    pools: BTreeMap<String, Vec<SocketAddr>>,
    pools_checked: Option<Instant>,
}

impl Watch {
    /// One round: readings, transitions, the record written back.
    fn round(&mut self, state: &StateDir, metrics: &Metrics) -> Result<(), AppError> {
        // The lifecycle thread reports a policy in effect that cannot be
        // read; said here too, it would be said twice every interval.
        let in_effect = self.policy_in_effect(state).inspect_err(
            |e| tracing::debug!(error = %e, "no policy in effect to take breakers from"),
        );
        let Some(policy) = in_effect.ok().flatten() else {
            return Ok(());
        };
        if policy.policy.breakers.is_empty() {
            return Ok(());
        }
        let readings = self.meter.read(state, &policy);
        breakers::locked(state, || {
            let mut record = breakers::load(state)?;
            self.follow(&policy, &record);
            for b in &policy.policy.breakers {
                let Some((_, m)) = readings.iter().find(|(measure, _)| *measure == b.measure)
                else {
                    continue;
                };
                let machine = self.machines.get_mut(&b.name).expect("built in follow");
                let before = record.breakers.get(&b.name).cloned().unwrap_or_default();
                let transition = machine.observe(*m);
                let reading = Some(Reading {
                    value: m.value,
                    at: m.to,
                });
                let remembered = Remembered::of(machine, &before, reading);
                let Some(transition) = transition else {
                    record.breakers.insert(b.name.clone(), remembered);
                    continue;
                };
                let mut after = record.clone();
                after.breakers.insert(b.name.clone(), remembered);
                let change = Change {
                    name: &b.name,
                    transition: &transition,
                    after: after.clone(),
                };
                match breakers::apply(state, &record, change, &Actor::agent()) {
                    Ok(done) => {
                        tracing::warn!(breaker = %b.name, transition = ?transition, generation = done.generation, "circuit breaker");
                        record = after;
                    }
                    Err(e) => {
                        tracing::warn!(breaker = %b.name, error = %e, "cannot act on a circuit breaker");
                        metrics.count_error("breakers");
                        // As the record says: the transition is decided
                        // again from the next readings.
                        *machine = breakers::machine(b, Some(&before));
                    }
                }
            }
            self.count(&policy, &record, metrics);
            breakers::save(state, &record)?;
            self.check_pools(state, &policy, &record, metrics);
            Ok(())
        })
    }

    /// The policy in effect, parsed again only when the live generation
    /// changed since the last round (a trip installs a new one).
    fn policy_in_effect(&mut self, state: &StateDir) -> Result<Option<LoadedPolicy>, AppError> {
        let live = state.firewall().generations().current()?;
        if let Some((n, policy)) = &self.in_effect
            && *n == live
        {
            return Ok(policy.clone());
        }
        let policy = policy::in_effect(state)?;
        self.in_effect = Some((live, policy.clone()));
        Ok(policy)
    }

    /// Every [`POOL_CHECK_EVERY`], the members of each tripped overflow
    /// breaker's pool that answer; when they changed since the previous
    /// check, the policy in effect is installed again (the installation
    /// leaves out the members that do not answer).
    fn check_pools(
        &mut self,
        state: &StateDir,
        policy: &LoadedPolicy,
        record: &Record,
        metrics: &Metrics,
    ) {
        if self
            .pools_checked
            .is_some_and(|t| t.elapsed() < POOL_CHECK_EVERY)
        {
            return;
        }
        self.pools_checked = Some(Instant::now());
        let tripped = record.tripped();
        let mut now = BTreeMap::new();
        for b in &policy.policy.breakers {
            let BreakerAction::OverflowTo { pool, .. } = &b.action else {
                continue;
            };
            if !tripped.contains(&b.name.as_str()) {
                continue;
            }
            let healthy = portreeve_breakers::pool::healthy(pool, breakers::POOL_CHECK_TIMEOUT);
            // The first check after a trip is the one its installation made.
            let before = self.pools.get(&b.name);
            if let Some(before) = before.filter(|before| **before != healthy) {
                match breakers::pool_changed(state, &b.name, &healthy, &Actor::agent()) {
                    Ok(done) => {
                        tracing::warn!(breaker = %b.name, healthy = healthy.len(), generation = done.generation, "backup pool changed")
                    }
                    Err(e) => {
                        tracing::warn!(breaker = %b.name, error = %e, "cannot follow a backup pool's health");
                        metrics.count_error("breakers");
                        // Compared again, and tried again, at the next check.
                        now.insert(b.name.clone(), before.clone());
                        continue;
                    }
                }
            }
            now.insert(b.name.clone(), healthy);
        }
        self.pools = now;
    }

    /// Brings the breaker metrics up to date with `record`: state, trips
    /// new since the previous round (a trip already in the record when
    /// the agent started is not counted again), time tripped.
    fn count(&mut self, policy: &LoadedPolicy, record: &Record, metrics: &Metrics) {
        let now = Instant::now();
        let elapsed = self.counted_at.map_or(0.0, |t| (now - t).as_secs_f64());
        self.counted_at = Some(now);
        for b in &policy.policy.breakers {
            let label = [("breaker", b.name.clone())];
            let r = record.breakers.get(&b.name);
            let tripped = r.is_some_and(|r| r.tripped.is_some());
            let last_trip = r.and_then(|r| r.last_trip);
            metrics
                .breaker_tripped
                .get_or_create(&label)
                .set(tripped.into());
            let trips = metrics.breaker_trips.get_or_create(&label);
            let seconds = metrics.breaker_tripped_seconds.get_or_create(&label);
            match self.last_trips.insert(b.name.clone(), last_trip) {
                Some(before) if before != last_trip && last_trip.is_some() => {
                    trips.inc();
                }
                _ => {}
            }
            if tripped {
                seconds.inc_by(elapsed);
            }
        }
    }

    /// Builds the machines anew when the policy in effect changed, and a
    /// machine from the record where the record says otherwise than the
    /// machine (a manual trip or reset, a restart).
    fn follow(&mut self, policy: &LoadedPolicy, record: &Record) {
        if self.policy.as_deref() != Some(&policy.digest) {
            self.machines.clear();
            self.policy = Some(policy.digest.clone());
        }
        for b in &policy.policy.breakers {
            let remembered = record.breakers.get(&b.name);
            let since = remembered.and_then(|r| r.tripped.as_ref()).map(|t| t.since);
            let agrees = self.machines.get(&b.name).is_some_and(|m| match m.state() {
                State::Closed => since.is_none(),
                State::Tripped { since: s, .. } => since == Some(*s),
            });
            if !agrees {
                self.machines
                    .insert(b.name.clone(), breakers::machine(b, remembered));
            }
        }
    }
}

/// The counters behind the rates, as the previous round read them.
#[derive(Default)]
struct Meter {
    at: Option<Timestamp>,
    cpu: Option<CpuTimes>,
    overflows: Option<u64>,
    /// New connections per port, from the kernel's `seen` set.
    seen: BTreeMap<PortKey, u64>,
}

impl Meter {
    /// This round's reading of every measure `policy`'s breakers watch,
    /// each covering the time since the previous round; nothing on the
    /// first round (a rate needs two readings), and nothing for a measure
    /// that could not be read (said in the log).
    fn read(&mut self, state: &StateDir, policy: &LoadedPolicy) -> Vec<(Measure, Measurement)> {
        let now = Timestamp::now();
        let measures: Vec<Measure> = policy.policy.breakers.iter().map(|b| b.measure).collect();
        let wants = |f: fn(&Measure) -> bool| measures.iter().any(f);
        let cpu = wants(|m| *m == Measure::CpuPercent)
            .then(|| logged(host::read(Path::new("/proc/stat"), host::parse_cpu_times)))
            .flatten();
        let overflows = wants(|m| *m == Measure::SynBacklogOverflowsPerSecond)
            .then(|| {
                logged(host::read(
                    Path::new("/proc/net/netstat"),
                    host::parse_listen_overflows,
                ))
            })
            .flatten();
        let seen: BTreeMap<PortKey, u64> =
            if wants(|m| matches!(m, Measure::NewConnectionsPerSecond { .. })) {
                logged(state.firewall().seen())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| (s.key, s.connections))
                    .collect()
            } else {
                BTreeMap::new()
            };
        let mut out = Vec::new();
        if let Some(from) = self.at {
            let seconds = now.duration_since(from).as_secs_f64().max(1e-3);
            for m in &measures {
                let value = match m {
                    Measure::CpuPercent => cpu
                        .zip(self.cpu)
                        .and_then(|(now, then)| now.busy_percent_since(&then)),
                    Measure::MemoryPercent => logged(host::read(
                        Path::new("/proc/meminfo"),
                        host::parse_memory_percent,
                    )),
                    Measure::SynBacklogOverflowsPerSecond => overflows
                        .zip(self.overflows)
                        .map(|(now, then)| now.saturating_sub(then) as f64 / seconds),
                    Measure::NewConnectionsPerSecond { port, protocol } => {
                        let key = PortKey::new(*protocol, *port);
                        seen.get(&key).map(|now| {
                            // A counter that went back was created anew
                            // (a new generation): all of it is new.
                            let then = self.seen.get(&key).copied().unwrap_or(0);
                            let new = if *now >= then { now - then } else { *now };
                            new as f64 / seconds
                        })
                    }
                    Measure::EstablishedConnections { port } => {
                        logged(host::established(*port)).map(|n| n as f64)
                    }
                };
                if let Some(value) = value {
                    out.push((
                        *m,
                        Measurement {
                            value,
                            from,
                            to: now,
                        },
                    ));
                }
            }
        }
        self.at = Some(now);
        self.cpu = cpu;
        self.overflows = overflows;
        self.seen = seen;
        out
    }
}

/// `result`'s value, or `None` with the error in the log.
fn logged<T, E: std::fmt::Display>(result: Result<T, E>) -> Option<T> {
    result
        .inspect_err(|e| tracing::warn!(error = %e, "a circuit breaker's measure cannot be read"))
        .ok()
}

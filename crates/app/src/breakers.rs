//! Port circuit breakers as use cases: what each breaker of the policy in
//! effect stands at, tripping and resetting one by hand, and applying a
//! transition the agent's readings decided — each a new generation from
//! the policy in effect, through the same installation (lock-out guard on,
//! never forced) as every other change, and recorded in the ledger.
//!
//! A trip is not a new policy: the policy in effect stays the policy as
//! written, and every generation installed while breakers are tripped —
//! by a trip, an `apply`, a reclaim — carries their actions, because the
//! ruleset is compiled through `compile_in_force`. Which breakers are
//! tripped, and what the agent remembers of each, lives in
//! `<state>/breakers.json`, so a manual trip and a trip's hourly cap
//! survive a restart of the agent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portreeve_breakers::{Breaker, State, Thresholds, Transition, TripCause, pool, with_tripped};
use portreeve_core::{PortKey, Proto};
use portreeve_enforce::OverflowNat;
use portreeve_policy::{BreakerAction, Measure};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::enforce::{Compiled, change_draft, closed_ports, compile_without, reinstall};
use crate::error::{AppError, Refusal};
use crate::policy::{self, LoadedPolicy};
use crate::record::{preflight, record, record_or_undo};
use crate::state_dir::{StateDir, write_atomically};

/// The file under the state directory that remembers the breakers.
pub const STATE_FILE: &str = "breakers.json";

/// How long a backup pool member has to accept a connection to count as
/// healthy.
pub const POOL_CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// What is remembered of every breaker between readings and restarts,
/// by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Each breaker that has been measured, tripped or reset.
    pub breakers: BTreeMap<String, Remembered>,
}

/// What is remembered of one breaker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// Since when and why it is tripped; `None`: it is not.
    pub tripped: Option<Trip>,
    /// Its automatic trips in the last hour (for the hourly cap).
    #[serde(default)]
    pub trips: Vec<Timestamp>,
    /// When it last recovered (for the cooldown).
    pub last_recovery: Option<Timestamp>,
    /// When it last tripped, automatically or by hand.
    pub last_trip: Option<Timestamp>,
    /// The agent's latest reading of what it watches.
    pub reading: Option<Reading>,
}

/// A trip in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// Since when.
    pub since: Timestamp,
    /// Why.
    pub cause: Cause,
}

/// Why a breaker tripped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum Cause {
    /// The reading stayed above the threshold for the duration.
    Measurement {
        /// The reading that completed the duration.
        value: f64,
        /// How long it had been above, in seconds.
        held_for_seconds: f64,
    },
    /// Someone tripped it by hand; it stays until reset.
    Manual {
        /// Why, as they said.
        reason: String,
    },
}

/// One reading of what a breaker watches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The value.
    pub value: f64,
    /// When it was taken.
    pub at: Timestamp,
}

impl Record {
    /// The names of the breakers tripped now.
    pub fn tripped(&self) -> Vec<&str> {
        self.breakers
            .iter()
            .filter(|(_, r)| r.tripped.is_some())
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

impl From<&TripCause> for Cause {
    fn from(cause: &TripCause) -> Cause {
        match cause {
            TripCause::Measurement { value, held_for } => Cause::Measurement {
                value: *value,
                held_for_seconds: held_for.as_secs_f64(),
            },
            TripCause::Manual { reason } => Cause::Manual {
                reason: reason.clone(),
            },
        }
    }
}

impl Remembered {
    /// `machine`'s state and history, with `reading` (or the one
    /// remembered before) and the last trip kept.
    pub fn of(machine: &Breaker, before: &Remembered, reading: Option<Reading>) -> Remembered {
        let (trips, last_recovery) = machine.history();
        let tripped = match machine.state() {
            State::Closed => None,
            State::Tripped { since, cause } => Some(Trip {
                since: *since,
                cause: cause.into(),
            }),
        };
        let last_trip = match &tripped {
            Some(t) if before.tripped.as_ref().map(|b| b.since) != Some(t.since) => Some(t.since),
            _ => before.last_trip,
        };
        Remembered {
            tripped,
            trips,
            last_recovery,
            last_trip,
            reading: reading.or(before.reading),
        }
    }
}

/// What `<state>/breakers.json` remembers; empty if it does not exist.
pub fn load(state: &StateDir) -> Result<Record, AppError> {
    let path = state.root().join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            AppError::Integrity(format!(
                "{}: {e}; move it aside to forget every breaker's state",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(AppError::io(path)(e)),
    }
}

/// Writes `record` to `<state>/breakers.json`, atomically.
pub fn save(state: &StateDir, record: &Record) -> Result<(), AppError> {
    let path = state.root().join(STATE_FILE);
    let mut json = serde_json::to_vec_pretty(record).expect("a record serializes");
    json.push(b'\n');
    write_atomically(&path, &json, 0o644)
}

/// Runs `f` holding `<state>/breakers.lock`, so that the agent and a
/// manual command never both read the record, change it and write it
/// back, one overwriting the other.
pub fn locked<T>(state: &StateDir, f: impl FnOnce() -> Result<T, AppError>) -> Result<T, AppError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = state.root().join("breakers.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(AppError::io(&path))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| AppError::io(&path)(e.into()))?;
    f()
}

/// A policy breaker's thresholds, for its state machine.
pub fn thresholds(b: &portreeve_policy::Breaker) -> Thresholds {
    Thresholds {
        trip_above: b.above,
        trip_for: b.trip_for,
        recover_below: b.recover_below,
        recover_for: b.recover_for,
        cooldown: b.cooldown,
        max_trips_per_hour: b.max_trips_per_hour,
    }
}

/// `b`'s state machine as `remembered` left it.
pub fn machine(b: &portreeve_policy::Breaker, remembered: Option<&Remembered>) -> Breaker {
    let Some(r) = remembered else {
        return Breaker::new(thresholds(b));
    };
    let state = match &r.tripped {
        None => State::Closed,
        Some(t) => State::Tripped {
            since: t.since,
            cause: match &t.cause {
                Cause::Measurement {
                    value,
                    held_for_seconds,
                } => TripCause::Measurement {
                    value: *value,
                    held_for: SignedDuration::from_secs_f64(*held_for_seconds),
                },
                Cause::Manual { reason } => TripCause::Manual {
                    reason: reason.clone(),
                },
            },
        },
    };
    Breaker::restored(thresholds(b), state, r.trips.clone(), r.last_recovery)
}

/// `policy`'s ruleset as installed now: without the `closed` ports, with
/// the actions of the breakers `<state>/breakers.json` says are tripped,
/// and their overflows to the pool members that accept connections (none
/// healthy: no overflow). The compiled policy stays `policy` as written.
pub(crate) fn compile_in_force(
    state: &StateDir,
    policy: LoadedPolicy,
    closed: &[PortKey],
) -> Result<Compiled, AppError> {
    let record = load(state)?;
    let tripped = record.tripped();
    if tripped.is_empty() {
        return compile_without(policy, closed);
    }
    let (effective, overflows) = with_tripped(&policy.policy, &tripped);
    let written = policy.policy.clone();
    let mut compiled = compile_without(
        LoadedPolicy {
            policy: effective,
            ..policy
        },
        closed,
    )?;
    compiled.policy.policy = written;
    compiled.ruleset.overflows = overflows
        .into_iter()
        .filter_map(|o| {
            let pool = pool::healthy(&o.pool, POOL_CHECK_TIMEOUT);
            (!pool.is_empty()).then_some(OverflowNat {
                breaker: o.breaker,
                port: o.port,
                protocol: Proto::Tcp,
                pool,
            })
        })
        .collect();
    Ok(compiled)
}

/// What a trip, a recovery or a reset installed and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The generation that carries it (for a held trip, which installs
    /// nothing, the live one).
    pub generation: u64,
    /// The position of its ledger entry.
    pub ledger_index: u64,
}

/// A breaker's transition, for [`apply`].
pub struct Change<'a> {
    /// The breaker.
    pub name: &'a str,
    /// What happened to it.
    pub transition: &'a Transition,
    /// The record with the transition made.
    pub after: Record,
}

/// The policy in effect, which breakers belong to.
fn in_effect(state: &StateDir) -> Result<LoadedPolicy, AppError> {
    policy::in_effect(state)?.ok_or_else(|| {
        AppError::Refused(Refusal::NotApplied(
            "no policy is in effect here, so there are no breakers to act on; apply a policy first"
                .into(),
        ))
    })
}

/// Applies `change`: a trip or a recovery installs the policy in effect
/// again with the breakers `change.after` says are tripped, and records it
/// (`breaker.trip`, `breaker.recover`); a trip held back (cooldown, hourly
/// cap) only records `breaker.held`. The record is written before the
/// installation (which reads it) and written back as it was if the
/// installation fails or cannot be recorded: then nothing changed. Call
/// it inside [`locked`], with `before` read there.
pub fn apply(
    state: &StateDir,
    before: &Record,
    change: Change<'_>,
    actor: &Actor,
) -> Result<Changed, AppError> {
    let (action, reason) = ledger_words(change.transition);
    preflight(state)?;
    let previous = state.firewall().generations().current()?;
    if let Transition::Held { .. } = change.transition {
        save(state, &change.after)?;
        let mut draft = portreeve_ledger::Draft::new(action, actor.as_str(), change.name);
        draft.reason = Some(reason);
        let appended = record(state, draft, &format!("breaker {} was held", change.name))?;
        return Ok(Changed {
            generation: previous,
            ledger_index: appended.index,
        });
    }
    let in_effect = in_effect(state)?;
    if let Transition::Trip(_) = change.transition {
        forwarding_for(&in_effect, change.name)?;
    }
    save(state, &change.after)?;
    let generation = match reinstall(state, &in_effect, &closed_ports(state)?, false, actor) {
        Ok(g) => g,
        Err(e) => {
            save(state, before)?;
            return Err(e);
        }
    };
    let mut draft = change_draft(
        state,
        action,
        actor.as_str(),
        format!("{} (generation {})", change.name, generation.generation),
        previous,
        &generation,
    );
    draft.reason = Some(reason);
    let appended = record_or_undo(
        state,
        vec![draft],
        &format!(
            "breaker {} {} in generation {}",
            change.name,
            if action == "breaker.trip" {
                "tripped"
            } else {
                "recovered"
            },
            generation.generation
        ),
        || {
            state.firewall().undo(&generation)?;
            save(state, before)
        },
    )?;
    Ok(Changed {
        generation: generation.generation,
        ledger_index: appended[0].index,
    })
}

/// Refuses a trip of breaker `name` that overflows to a pool of a family
/// this host does not forward: the DNAT would send clients nowhere.
/// portreeve does not turn forwarding on (that makes the host a router,
/// the operator's decision); it says which setting is off.
fn forwarding_for(policy: &LoadedPolicy, name: &str) -> Result<(), AppError> {
    let (_, overflows) = with_tripped(&policy.policy, &[name]);
    let nat: Vec<OverflowNat> = overflows
        .into_iter()
        .map(|o| OverflowNat {
            breaker: o.breaker,
            port: o.port,
            protocol: Proto::Tcp,
            pool: o.pool,
        })
        .collect();
    portreeve_enforce::overflow::check_forwarding(&nat)
        .map_err(|e| AppError::Refused(Refusal::NotApplied(format!("breaker `{name}`: {e}"))))
}

/// Installs the policy in effect again because the members of tripped
/// overflow breaker `name`'s pool that answer are now `healthy` (none:
/// the breaker stops overflowing until one answers), and records it as
/// `breaker.pool`. The installation checks the pool itself, as every
/// installation does.
pub fn pool_changed(
    state: &StateDir,
    name: &str,
    healthy: &[SocketAddr],
    actor: &Actor,
) -> Result<Changed, AppError> {
    let in_effect = in_effect(state)?;
    preflight(state)?;
    let previous = state.firewall().generations().current()?;
    let generation = reinstall(state, &in_effect, &closed_ports(state)?, false, actor)?;
    let mut draft = change_draft(
        state,
        "breaker.pool",
        actor.as_str(),
        format!("{name} (generation {})", generation.generation),
        previous,
        &generation,
    );
    draft.reason = Some(if healthy.is_empty() {
        "no pool member answers: new connections stay here".into()
    } else {
        format!(
            "pool members answering: {}",
            portreeve_core::words::listed(healthy, "none")
        )
    });
    let appended = record_or_undo(
        state,
        vec![draft],
        &format!(
            "breaker {name}'s pool was updated in generation {}",
            generation.generation
        ),
        || Ok(state.firewall().undo(&generation)?),
    )?;
    Ok(Changed {
        generation: generation.generation,
        ledger_index: appended[0].index,
    })
}

/// The ledger action and reason of `transition`.
fn ledger_words(transition: &Transition) -> (&'static str, String) {
    match transition {
        Transition::Trip(TripCause::Measurement { value, held_for }) => (
            "breaker.trip",
            format!("measured {value:.1}, above the threshold for {held_for:#}"),
        ),
        Transition::Trip(TripCause::Manual { reason }) => {
            ("breaker.trip", format!("tripped by hand: {reason}"))
        }
        Transition::Recover { value: Some(v), .. } => (
            "breaker.recover",
            format!("measured {v:.1}, below the recovery threshold for its duration"),
        ),
        Transition::Recover { reason, .. } => (
            "breaker.recover",
            format!("reset by hand: {}", reason.as_deref().unwrap_or("")),
        ),
        Transition::Held { why } => (
            "breaker.held",
            format!(
                "a trip was due but held back: {}",
                match why {
                    portreeve_breakers::Suppression::Cooldown => "within the cooldown",
                    portreeve_breakers::Suppression::TripCap => "the hour's trips are used up",
                }
            ),
        ),
    }
}

/// Which command, for [`command`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Trip by hand; it stays until reset.
    Trip,
    /// Reset a tripped breaker.
    Reset,
}

/// Trips or resets breaker `name` of the policy in effect by hand, now:
/// an unknown name, a trip of a tripped breaker and a reset of one not
/// tripped are refused as invalid requests (nothing changes).
pub fn command(
    state: &StateDir,
    name: &str,
    which: Command,
    reason: &str,
    actor: &Actor,
) -> Result<Changed, AppError> {
    let policy = in_effect(state)?;
    let Some(b) = policy.policy.breakers.iter().find(|b| b.name == name) else {
        let known: Vec<&str> = policy
            .policy
            .breakers
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        return Err(AppError::Invalid(format!(
            "the policy in effect has no breaker `{name}` (its breakers: {})",
            portreeve_core::words::listed(&known, "none")
        )));
    };
    locked(state, || {
        let before = load(state)?;
        let remembered = before.breakers.get(name).cloned().unwrap_or_default();
        let mut m = machine(b, Some(&remembered));
        let now = Timestamp::now();
        let transition = match which {
            Command::Trip => m.trip_manually(now, reason),
            Command::Reset => m.reset(now, reason),
        }
        .map_err(|e| AppError::Invalid(format!("breaker `{name}`: {e}")))?;
        let mut after = before.clone();
        after
            .breakers
            .insert(name.to_owned(), Remembered::of(&m, &remembered, None));
        apply(
            state,
            &before,
            Change {
                name,
                transition: &transition,
                after,
            },
            actor,
        )
    })
}

/// One breaker as `portreeve breakers` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// Its name.
    pub name: String,
    /// What it watches, in words (`cpu_percent`, `new_connections_per_second 80/tcp`).
    pub watches: String,
    /// It trips above this.
    pub above: f64,
    /// It recovers below this.
    pub recover_below: f64,
    /// `closed` or `tripped`.
    pub state: &'static str,
    /// The trip in force.
    pub tripped: Option<Trip>,
    /// When it last tripped.
    pub last_trip: Option<Timestamp>,
    /// Its automatic trips in the last hour.
    pub trips_last_hour: usize,
    /// The agent's latest reading.
    pub reading: Option<Reading>,
    /// For a tripped overflow: `true` when no pool member accepts
    /// connections, so new connections are not moved ("pool down").
    pub pool_down: Option<bool>,
}

/// Every breaker of the policy in effect (none without one), with what
/// the record says of it; a tripped overflow's pool is checked now.
pub fn list(state: &StateDir) -> Result<Vec<Status>, AppError> {
    let Some(policy) = policy::in_effect(state)? else {
        return Ok(Vec::new());
    };
    let record = load(state)?;
    let now = Timestamp::now();
    Ok(policy
        .policy
        .breakers
        .iter()
        .map(|b| {
            let r = record.breakers.get(&b.name).cloned().unwrap_or_default();
            let pool_down = match (&b.action, &r.tripped) {
                (BreakerAction::OverflowTo { pool: members, .. }, Some(_)) => {
                    Some(pool::healthy(members, POOL_CHECK_TIMEOUT).is_empty())
                }
                _ => None,
            };
            Status {
                name: b.name.clone(),
                watches: watches(&b.measure),
                above: b.above,
                recover_below: b.recover_below,
                state: if r.tripped.is_some() {
                    "tripped"
                } else {
                    "closed"
                },
                trips_last_hour: machine(b, Some(&r)).trips_in_last_hour(now),
                tripped: r.tripped,
                last_trip: r.last_trip,
                reading: r.reading,
                pool_down,
            }
        })
        .collect())
}

/// What `measure` watches, in words.
pub fn watches(measure: &Measure) -> String {
    match measure {
        Measure::CpuPercent => "cpu_percent".into(),
        Measure::MemoryPercent => "memory_percent".into(),
        Measure::NewConnectionsPerSecond { port, protocol } => {
            format!("new_connections_per_second {port}/{protocol}")
        }
        Measure::EstablishedConnections { port } => format!("established_connections {port}"),
        Measure::SynBacklogOverflowsPerSecond => "syn_backlog_overflows_per_second".into(),
    }
}

#[cfg(test)]
mod tests {
    use portreeve_policy::parse_policy;

    use super::*;

    const POLICY: &str = r#"
[zones]
office = ["10.1.0.0/24"]

[[rule]]
name = "reports"
port = 8443
protocol = "tcp"
zones = ["office"]

[[breaker]]
name = "cpu"
when = { cpu_percent = 85, for = "2s" }
action = { close = ["reports"] }
recover = { below = 50, for = "2s" }
"#;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn a_machine_and_its_record_round_trip_through_the_file() {
        let policy = parse_policy("p.toml", POLICY).unwrap();
        let b = &policy.breakers[0];
        let mut m = machine(b, None);
        for s in 1..=2 {
            m.observe(portreeve_breakers::Measurement {
                value: 90.0,
                from: at(s - 1),
                to: at(s),
            });
        }
        let reading = Reading {
            value: 90.0,
            at: at(2),
        };
        let remembered = Remembered::of(&m, &Remembered::default(), Some(reading));
        assert_eq!(remembered.last_trip, Some(at(2)), "{remembered:?}");
        assert_eq!(remembered.trips, [at(2)]);
        let record = Record {
            breakers: [("cpu".to_string(), remembered.clone())].into(),
        };
        assert_eq!(record.tripped(), ["cpu"]);

        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path());
        assert_eq!(load(&state).unwrap(), Record::default(), "no file: nothing");
        save(&state, &record).unwrap();
        let back = load(&state).unwrap();
        assert_eq!(back, record);
        // The restored machine stands where the original did, and a later
        // reading keeps the trip's time as the last trip.
        let restored = machine(b, back.breakers.get("cpu"));
        assert_eq!(restored.state(), m.state());
        let again = Remembered::of(&restored, &remembered, None);
        assert_eq!(again, remembered, "nothing changed, nothing forgotten");

        std::fs::write(dir.path().join(STATE_FILE), "{").unwrap();
        assert!(
            matches!(load(&state), Err(AppError::Integrity(_))),
            "a damaged record is an error, not an empty one"
        );
    }
}

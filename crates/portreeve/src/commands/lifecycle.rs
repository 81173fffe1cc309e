//! `portreeve lifecycle` and `portreeve reclaim`: every listening or
//! allowed port with its state (active, dormant, abandoned, reclaimed),
//! and closing the abandoned ones in the firewall — recorded in the ledger
//! and undone by one command.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{Finding, ListeningSocket, PortKey, PortUsage, Proto};
use portreeve_enforce::Enforcer;
use portreeve_ledger::Draft;
use portreeve_lifecycle::{
    Action, PortInput, Recommendation, abandoned_findings, allowed_ports, plan,
};
use portreeve_policy::Policy;
use portreeve_store::{SqliteStore, Store};
use serde::Serialize;

use super::load_policy;
use super::record::{actor, record};
use crate::cli::{LifecycleArgs, ListFormat, ReclaimArgs};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};

fn store_failure(e: portreeve_store::StoreError) -> Failure {
    Failure::Operational(e.to_string())
}

/// Ports closed by reclaims still in force, for every ruleset `apply`
/// installs: a later apply keeps them closed until the reclaim is undone.
pub(super) fn closed_ports(state_dir: &Path) -> Result<Vec<(Proto, u16)>, Failure> {
    if !state_dir.join(portreeve_store::DB_FILE).exists() {
        return Ok(Vec::new());
    }
    let store = SqliteStore::open(state_dir).map_err(store_failure)?;
    Ok(store
        .reclaims()
        .map_err(store_failure)?
        .into_iter()
        .filter(|r| r.undone_at.is_none())
        .map(|r| (r.key.protocol, r.key.port))
        .collect())
}

/// Everything known about each port: listening now, allowed by the
/// policy, or with recorded usage.
fn inputs(
    policy: &Policy,
    store: &SqliteStore,
    sockets: &[ListeningSocket],
    kernel: &[portreeve_enforce::SeenPort],
    now: Timestamp,
) -> Result<Vec<PortInput>, Failure> {
    let listening: BTreeSet<PortKey> = sockets
        .iter()
        .map(|s| PortKey::new(s.protocol, s.port))
        .collect();
    let mut usage: BTreeMap<PortKey, PortUsage> = store
        .usage()
        .map_err(store_failure)?
        .into_iter()
        .map(|r| (r.key, r.usage))
        .collect();
    // The firewall's own record of last access and connections, where
    // portreeve's ruleset is applied.
    for k in kernel {
        let u = usage
            .entry(k.key)
            .or_insert_with(|| PortUsage::new(k.last_access));
        u.last_access = Some(
            u.last_access
                .map_or(k.last_access, |t| t.max(k.last_access)),
        );
        u.first_seen = u.first_seen.min(k.last_access);
        // Both count the same connections where both watch: the larger is
        // the better lower bound.
        u.connections = u.connections.max(k.connections);
    }
    let mut keys: BTreeSet<PortKey> = listening.clone();
    keys.extend(allowed_ports(policy));
    keys.extend(usage.keys().copied());
    let reclaims = store.reclaims().map_err(store_failure)?;
    Ok(keys
        .into_iter()
        .map(|key| {
            let mut input = PortInput::new(
                key,
                usage
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| PortUsage::new(now)),
                listening.contains(&key),
            );
            for r in reclaims.iter().filter(|r| r.key == key) {
                match r.undone_at {
                    None => input.reclaimed_at = Some(r.at),
                    Some(t) => input.reopened_at = Some(input.reopened_at.map_or(t, |o| o.max(t))),
                }
            }
            input
        })
        .collect())
}

/// The plan for this host now, with each port's owners.
fn current(
    state_dir: &Path,
    policy: &Policy,
) -> Result<(Vec<Recommendation>, BTreeMap<PortKey, String>), Failure> {
    let sockets =
        portreeve_inventory::collect(portreeve_inventory::Options { all_netns: false })?.sockets;
    plan_for(state_dir, policy, &sockets)
}

/// The plan for `sockets` (read by the caller), with each port's owners.
pub(super) fn plan_for(
    state_dir: &Path,
    policy: &Policy,
    sockets: &[ListeningSocket],
) -> Result<(Vec<Recommendation>, BTreeMap<PortKey, String>), Failure> {
    let store = SqliteStore::open(state_dir).map_err(store_failure)?;
    // Without portreeve's ruleset (or privileges) there is no kernel record.
    let kernel = Enforcer::new(state_dir).usage().unwrap_or_default();
    let now = Timestamp::now();
    let ports = inputs(policy, &store, sockets, &kernel, now)?;
    let mut owners: BTreeMap<PortKey, BTreeSet<String>> = BTreeMap::new();
    for s in sockets {
        owners
            .entry(PortKey::new(s.protocol, s.port))
            .or_default()
            .extend(s.processes.iter().map(|p| p.name.clone()));
    }
    let owners = owners
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect::<Vec<_>>().join(",")))
        .collect();
    Ok((plan(policy, &ports, now), owners))
}

/// PR013 findings for this host: the abandoned ports the policy would
/// close, judged from the agent's record (none where the agent never ran,
/// and none, with a warning, when that record cannot be read: `check`
/// must not fail for it).
pub(super) fn abandoned(
    state_dir: &Path,
    policy: &Policy,
    sockets: &[ListeningSocket],
) -> Vec<Finding> {
    if !state_dir.join(portreeve_store::DB_FILE).exists() {
        return Vec::new();
    }
    match plan_for(state_dir, policy, sockets) {
        Ok((recs, _)) => abandoned_findings(policy, &recs, sockets),
        Err(e) => {
            tracing::warn!(error = e.summary(), "cannot judge abandoned ports");
            Vec::new()
        }
    }
}

/// A port as `lifecycle` reports it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    recommendation: &'a Recommendation,
    owner: Option<&'a String>,
}

fn idle(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}m {}s", s / 60, s % 60),
    }
}

fn show(recs: &[Recommendation], owners: &BTreeMap<PortKey, String>, format: ListFormat) {
    match format {
        ListFormat::Json => {
            let rows: Vec<Row> = recs
                .iter()
                .map(|r| Row {
                    recommendation: r,
                    owner: owners.get(&r.key),
                })
                .collect();
            emit_listing("portreeve.lifecycle", &[("ports", to_value(&rows))]);
        }
        ListFormat::Table => emit(&table::rows(
            &[
                "PORT",
                "STATE",
                "LISTENING",
                "LAST ACCESS (UTC)",
                "IDLE",
                "OWNER",
                "ACTION",
                "WHY NOT CLOSED",
            ],
            &recs
                .iter()
                .map(|r| {
                    vec![
                        r.key.to_string(),
                        r.state.as_str().to_string(),
                        if r.listening { "yes" } else { "no" }.into(),
                        r.last_access
                            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_else(|| "never seen".into()),
                        idle(r.idle),
                        owners.get(&r.key).cloned().unwrap_or_else(|| "-".into()),
                        r.action.to_string(),
                        r.hold
                            .map(|h| {
                                serde_json::to_value(h)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default()
                            })
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
            table::stdout_colour(),
        )),
    }
}

pub fn lifecycle(args: &LifecycleArgs, state_dir: &Path) -> Result<u8, Failure> {
    let policy = load_policy(args.policy.policy.as_deref())?;
    let (recs, owners) = current(state_dir, &policy)?;
    show(&recs, &owners, args.format);
    Ok(EXIT_OK)
}

pub fn reclaim(args: &ReclaimArgs, state_dir: &Path) -> Result<u8, Failure> {
    if let Some(id) = args.undo {
        return undo(id, args, state_dir);
    }
    let policy = load_policy(args.policy.policy.as_deref())?;
    let (recs, owners) = current(state_dir, &policy)?;
    let closing: Vec<&Recommendation> = recs.iter().filter(|r| r.action == Action::Close).collect();
    let recommended: Vec<&Recommendation> = recs
        .iter()
        .filter(|r| r.action == Action::RecommendClose)
        .collect();
    if !args.apply {
        let shown: Vec<Recommendation> = closing
            .iter()
            .chain(&recommended)
            .map(|r| (*r).clone())
            .collect();
        show(&shown, &owners, args.format);
        if !closing.is_empty() {
            eprintln!(
                "portreeve: {} would be closed: run `portreeve reclaim --apply`",
                crate::output::counted(closing.len(), "port")
            );
        }
        return Ok(EXIT_OK);
    }
    if closing.is_empty() {
        emit("Nothing to reclaim: no abandoned port is set to `reclaim = \"close\"`.\n");
        return Ok(EXIT_OK);
    }
    for line in close(state_dir, &policy, &closing, args.force)? {
        emit(&line);
    }
    Ok(EXIT_OK)
}

/// Closes the `closing` ports: records each reclaim, applies the policy
/// without them as a new generation, and records each in the ledger.
/// Returns a line per port for the operator.
pub(super) fn close(
    state_dir: &Path,
    policy: &Policy,
    closing: &[&Recommendation],
    force: bool,
) -> Result<Vec<String>, Failure> {
    let enforcer = Enforcer::new(state_dir);
    if enforcer.store().current().unwrap_or(0) == 0 {
        return Err(Failure::Input(
            "portreeve's ruleset is not applied here, so there is no allowed set to remove ports from; apply the policy first (or use `reclaim = \"recommend\"`)".into(),
        ));
    }
    let now = Timestamp::now();
    let mut store = SqliteStore::open(state_dir).map_err(store_failure)?;
    let mut ids = Vec::new();
    for r in closing {
        ids.push(
            store
                .record_reclaim(now, r.key, "pending")
                .map_err(store_failure)?,
        );
    }
    let generation = super::enforce::reapply(policy, state_dir, force).inspect_err(|_| {
        // Nothing changed in the firewall: the reclaims are void.
        for &id in &ids {
            let _ = store.mark_undone(id, now);
        }
    })?;
    let mut lines = Vec::new();
    for (r, id) in closing.iter().zip(&ids) {
        let mut draft = Draft::new(
            "reclaim",
            &actor(),
            format!("{} (reclaim {id}, generation {generation})", r.key),
        );
        draft.reason = Some(format!(
            "{}: no new connection for {} (since {})",
            r.state.as_str(),
            idle(r.idle),
            r.idle_since.strftime("%Y-%m-%d %H:%M:%S UTC")
        ));
        record(state_dir, draft, &format!("{} was closed", r.key))?;
        lines.push(format!(
            "Closed {} (reclaim {id}) in generation {generation}; `portreeve reclaim --undo {id}` reopens it.\n",
            r.key
        ));
    }
    Ok(lines)
}

fn undo(id: i64, args: &ReclaimArgs, state_dir: &Path) -> Result<u8, Failure> {
    let policy = load_policy(args.policy.policy.as_deref())?;
    let mut store = SqliteStore::open(state_dir).map_err(store_failure)?;
    let Some(r) = store
        .reclaims()
        .map_err(store_failure)?
        .into_iter()
        .find(|r| r.id == id)
    else {
        return Err(Failure::Input(format!("there is no reclaim {id}")));
    };
    if r.undone_at.is_some() {
        return Err(Failure::Input(format!(
            "reclaim {id} ({}) was already undone",
            r.key
        )));
    }
    let now = Timestamp::now();
    store.mark_undone(id, now).map_err(store_failure)?;
    let generation = super::enforce::reapply(&policy, state_dir, args.force).inspect_err(|_| {
        // Still closed in the firewall: the reclaim stays in force.
        let _ = reinstate(&mut store, &r);
    })?;
    let mut draft = Draft::new(
        "reclaim.undo",
        &actor(),
        format!("{} (reclaim {id}, generation {generation})", r.key),
    );
    draft.reason = args.reason.clone();
    record(state_dir, draft, &format!("{} was reopened", r.key))?;
    emit(&format!(
        "Reopened {} (reclaim {id}) in generation {generation}.\n",
        r.key
    ));
    Ok(EXIT_OK)
}

/// Records `r` again as in force, after an undo that could not be applied.
fn reinstate(
    store: &mut SqliteStore,
    r: &portreeve_store::Reclaim,
) -> Result<i64, portreeve_store::StoreError> {
    store.record_reclaim(r.at, r.key, &r.reference)
}

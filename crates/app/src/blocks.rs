//! Blocks: sources dropped whatever the port, for a limited time, ended by
//! the kernel itself. A block is manual (`portreeve block`) or automatic
//! (the kernel's scan detection, module `kernel`). Every block, automatic or
//! manual, and every unblock and expiry is a ledger entry.
//!
//! A block never cuts the way in: sources in the management zone or a
//! `[detection] never_block` zone, the SSH sessions open now, loopback and
//! the host's own addresses are refused, as are networks wider than
//! [`guard::WIDEST_V4`]/[`guard::WIDEST_V6`] and TTLs above the policy's
//! `max_block_ttl`.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use portreeve_enforce::blocks::BlockKind;
use portreeve_ledger::Draft;
use serde::Serialize;

use crate::actor::Actor;
use crate::error::{AppError, Refusal};
use crate::policy;
use crate::record::{preflight, record, record_or_undo};
use crate::state_dir::StateDir;

pub mod changes;
mod expiry;
pub mod guard;
mod kernel;

use expiry::BlockLedger;
pub use expiry::{EXPIRED, SCAN_BLOCK};

/// Records what the kernel did to blocks by itself: a `scan-block` entry
/// for each automatic block not recorded yet, then a `block-expired` entry
/// for each block whose time ran out. Each is recorded once, whoever calls
/// this first; returns how many entries it recorded.
pub fn record_kernel_changes(state: &StateDir, now: Timestamp) -> Result<usize, AppError> {
    Ok(kernel::record_new(state)? + expiry::record_expiries(state, now)?)
}

/// A block someone asks for.
#[derive(Clone, Debug)]
pub struct BlockRequest {
    /// The source: an address or a network.
    pub source: IpNet,
    /// How long; `None` means the policy's `block_ttl`.
    pub ttl: Option<SignedDuration>,
    /// Why; recorded.
    pub reason: String,
    /// The SSH session the request comes from (`$SSH_CONNECTION`), never
    /// blocked, besides those the kernel shows.
    pub session: Option<(IpAddr, u16)>,
}

/// A block made.
#[derive(Clone, Debug)]
pub struct Blocked {
    /// The source blocked (host bits cleared).
    pub source: IpNet,
    /// For how long.
    pub ttl: SignedDuration,
    /// The index of its `block` ledger entry: the block's name.
    pub ledger_index: u64,
    /// The digest of the policy in effect.
    pub policy: String,
}

/// Blocks `request.source`, unless it must never be blocked; the kernel
/// ends the block after its TTL. Recorded.
pub fn block(state: &StateDir, request: &BlockRequest, actor: &Actor) -> Result<Blocked, AppError> {
    state.firewall().reconcile()?;
    let in_effect = policy::in_effect(state)?.ok_or_else(|| {
        AppError::Refused(Refusal::NotApplied(
            "no policy is in effect here (portreeve's ruleset is not applied): apply one before blocking".into(),
        ))
    })?;
    let detection = &in_effect.policy.detection;
    let ttl = request.ttl.unwrap_or(detection.block_ttl);
    let source = request.source.trunc();
    let access =
        crate::lockout::with_environment_session(state.firewall().ssh_access()?, request.session);
    let protected = guard::Protected {
        policy: &in_effect.policy,
        sessions: access.sessions.iter().map(|s| s.client).collect(),
        host: portreeve_inventory::host_addresses()?,
    };
    protected
        .check(source, ttl)
        .map_err(|why| AppError::Refused(Refusal::Block(why)))?;
    preflight(state)?;
    // A re-block comes after the record of the earlier block's expiry.
    record_kernel_changes(state, Timestamp::now())?;
    state.firewall().block(source, ttl)?;
    let mut draft = Draft::new("block", actor.as_str(), expiry::block_object(source, ttl));
    draft.policy = Some(in_effect.digest.clone());
    draft.reason = Some(request.reason.clone());
    let appended = record_or_undo(state, vec![draft], "the source was blocked", || {
        Ok(state.firewall().unblock(source)?)
    })?;
    Ok(Blocked {
        source,
        ttl,
        ledger_index: appended[0].index,
        policy: in_effect.digest,
    })
}

/// A block ended early.
#[derive(Clone, Debug)]
pub struct Unblocked {
    /// The index of the `unblock` ledger entry.
    pub ledger_index: u64,
    /// The block it ended (the index of its `block` entry, or its
    /// `scan-block` entry when only an automatic block was ended), when
    /// the ledger knows it.
    pub block: Option<u64>,
}

/// Ends the block of `source` before its time. Recorded.
pub fn unblock(
    state: &StateDir,
    source: IpNet,
    reason: Option<String>,
    actor: &Actor,
) -> Result<Unblocked, AppError> {
    let source = source.trunc();
    // An automatic block is recorded before its end is.
    record_kernel_changes(state, Timestamp::now())?;
    preflight(state)?;
    let now = Timestamp::now();
    let ledger = BlockLedger::read(state);
    let ended: Vec<(&str, u64)> = [
        ("block", ledger.held(BlockKind::Manual, source, now)),
        (SCAN_BLOCK, ledger.held(BlockKind::Automatic, source, now)),
    ]
    .into_iter()
    .filter_map(|(start, b)| Some((start, b?.id)))
    .collect();
    state.firewall().unblock(source)?;
    let mut draft = Draft::new(
        "unblock",
        actor.as_str(),
        expiry::unblock_object(source, &ended),
    );
    draft.reason = reason;
    let appended = record(state, draft, "the block was ended")?;
    Ok(Unblocked {
        ledger_index: appended.index,
        block: ended.first().map(|(_, id)| *id),
    })
}

/// A block the kernel holds, explained by the ledger.
#[derive(Clone, Debug, Serialize)]
pub struct BlockRow {
    /// The blocked address or network.
    pub source: IpNet,
    /// `manual` (`portreeve block`) or `automatic` (the kernel's scan
    /// detection).
    pub kind: &'static str,
    /// Seconds left, by the kernel.
    pub seconds_left: u64,
    /// Its full lifetime.
    pub ttl_seconds: u64,
    /// Who blocked it (`kernel` for an automatic block).
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub blocked_at: Option<Timestamp>,
    /// The index of its `block` or `scan-block` ledger entry.
    pub ledger_index: Option<u64>,
}

/// The blocks held now.
pub fn list(state: &StateDir) -> Result<Vec<BlockRow>, AppError> {
    // Listing changes nothing, so a ledger that cannot take the record of
    // an expiry now does not stop it; the next to notice records it.
    if let Err(e) = record_kernel_changes(state, Timestamp::now()) {
        tracing::warn!(error = %e, "cannot record automatic and expired blocks");
    }
    let now = Timestamp::now();
    let live = state.firewall().blocks()?;
    let ledger = BlockLedger::read(state);
    Ok(live
        .into_iter()
        .map(|b| {
            let kind = match b.kind {
                BlockKind::Manual => "manual",
                BlockKind::Automatic => "automatic",
            };
            let why = ledger.held(b.kind, b.source, now);
            BlockRow {
                source: b.source,
                kind,
                seconds_left: b.expires_s,
                ttl_seconds: b.timeout_s,
                actor: why.as_ref().map(|s| s.actor.clone()),
                reason: why.as_ref().map(|s| s.detail.clone()),
                blocked_at: why.as_ref().map(|s| s.at),
                ledger_index: why.map(|s| s.id),
            }
        })
        .collect())
}

//! Automatic blocks in the ledger. The kernel's scan detection blocks a
//! source by itself, in the packet path, and records nothing; whichever
//! portreeve process looks at the scan-blocked sets first (the agent's
//! lifecycle round, `blocks`, `block`, `unblock`) records one `scan-block`
//! entry for it, under the firewall's lock, so two processes looking
//! together record it once.
//!
//! The kernel keeps no history: what can be known of an automatic block is
//! its source, its lifetime and the seconds it has left, hence when it
//! began (to within [`START_PRECISION`]). A block that begins and ends
//! between two looks is never seen, so never recorded.

use jiff::{SignedDuration, Timestamp};
use portreeve_enforce::EnforceError;
use portreeve_enforce::blocks::{BlockKind, LiveBlock};
use portreeve_ledger::Draft;

use super::expiry::{BlockLedger, SCAN_BLOCK, START_PRECISION, scan_block_object};
use crate::error::AppError;
use crate::policy;
use crate::record::record;
use crate::state_dir::StateDir;

/// Who makes an automatic block.
const BLOCKED_BY: &str = "kernel";

/// Records a `scan-block` entry for each automatic block the kernel holds
/// that the ledger does not know yet; returns how many it recorded.
pub(super) fn record_new(state: &StateDir) -> Result<usize, AppError> {
    if !state.has_ledger() {
        return Ok(0);
    }
    let _lock = state
        .firewall()
        .generations()
        .lock()
        .map_err(EnforceError::from)?;
    let live = match state.firewall().blocks() {
        Ok(live) => live,
        Err(EnforceError::NotApplied) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let now = Timestamp::now();
    let ledger = BlockLedger::read(state);
    let new: Vec<(&LiveBlock, Timestamp)> = live
        .iter()
        .filter(|b| b.kind == BlockKind::Automatic)
        .map(|b| (b, start_of(b, now)))
        .filter(|&(b, start)| {
            ledger
                .held(BlockKind::Automatic, b.source, now)
                .is_none_or(|s| s.at.duration_since(start).abs() > START_PRECISION)
        })
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    let in_effect = policy::in_effect(state)?;
    let why = match &in_effect {
        Some(p) => format!(
            "scan detected in the kernel (more than {} closed ports within {:#})",
            p.policy.detection.ports, p.policy.detection.window
        ),
        None => "scan detected in the kernel".to_string(),
    };
    let digest = in_effect.map(|p| p.digest);
    for &(block, start) in &new {
        let ttl = SignedDuration::from_secs(i64::try_from(block.timeout_s).unwrap_or(i64::MAX));
        let mut draft = Draft::new(
            SCAN_BLOCK,
            BLOCKED_BY,
            scan_block_object(block.source, ttl, start, &why),
        );
        draft.policy = digest.clone();
        record(state, draft, "the kernel blocked a scanner")?;
    }
    Ok(new.len())
}

/// When the kernel made `block`, by its lifetime and time left seen at
/// `now`, to the second (rounded down). Kernel blocks of one source never
/// overlap — a blocked source's packets are dropped before they are
/// counted — so this start names the block.
fn start_of(block: &LiveBlock, now: Timestamp) -> Timestamp {
    let elapsed = block.timeout_s.saturating_sub(block.expires_s);
    let start = now
        .checked_sub(SignedDuration::from_secs(
            i64::try_from(elapsed).unwrap_or(0),
        ))
        .unwrap_or(now);
    Timestamp::from_second(start.as_second()).unwrap_or(start)
}

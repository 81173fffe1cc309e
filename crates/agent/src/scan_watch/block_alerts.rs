//! Alerts on every change to the blocklist, whoever made it: a manual
//! block (`portreeve block`), an unblock, an expiry. Each is a ledger
//! entry, so the scan watch follows the ledger: every round it reads the
//! entries appended since the last round (from where that read ended, not
//! from the start: `portreeve_app::blocks::changes`) and alerts once on
//! each. The blocks a detection made — the agent's own `block` entries and
//! the kernel's `scan-block` entries — were alerted on with their
//! detection (`Responder::respond`), so they are not alerted on again.
//!
//! The agent starts following at the ledger's end as it finds it, rather
//! than from a position kept across restarts: a restart sends nothing
//! again, and a change recorded while the agent was not running is in the
//! ledger (`portreeve ledger log`) but not alerted on. An expiry nobody
//! recorded meanwhile is recorded, and so alerted on, by the agent's
//! lifecycle round once it runs.

use portreeve_alerts::{BlockAlert, BlockEvent};
use portreeve_app::Actor;
use portreeve_app::StateDir;
use portreeve_app::blocks::changes::{BlockChange, ChangeKind, Changes};

use crate::metrics::Metrics;
use crate::respond::Responder;

/// The scan watch's place in the ledger.
pub(crate) struct BlockAlerts {
    /// `None` until the ledger could be looked at.
    changes: Option<Changes>,
}

impl BlockAlerts {
    /// Alerts on the changes recorded from now on in `state`'s ledger.
    pub(crate) fn from_now(state: &StateDir, metrics: &Metrics) -> BlockAlerts {
        let mut alerts = BlockAlerts { changes: None };
        alerts.start(state, metrics);
        alerts
    }

    fn start(&mut self, state: &StateDir, metrics: &Metrics) {
        match Changes::from_now(state) {
            Ok(changes) => self.changes = Some(changes),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the ledger: blocks are not alerted on");
                metrics.count_error("scan");
            }
        }
    }

    /// Alerts through `responder` on each block change recorded since the
    /// last call. A ledger that could not be looked at before is looked at
    /// now, from its end.
    pub(super) fn send_new(&mut self, state: &StateDir, responder: &Responder, metrics: &Metrics) {
        let Some(changes) = &mut self.changes else {
            self.start(state, metrics);
            return;
        };
        match changes.new_changes() {
            Ok(new) => new
                .iter()
                .filter_map(alert_for)
                .for_each(|a| responder.block_event(a)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the ledger's new entries");
                metrics.count_error("scan");
            }
        }
    }
}

/// The alert on `change`; `None` for a block a detection made, which was
/// alerted on with it.
pub(super) fn alert_for(change: &BlockChange) -> Option<BlockAlert> {
    let event = match change.kind {
        ChangeKind::Block if change.actor == Actor::agent().as_str() => return None,
        ChangeKind::ScanBlock => return None,
        ChangeKind::Block => BlockEvent::Block,
        ChangeKind::Unblock => BlockEvent::Unblock,
        ChangeKind::Expiry => BlockEvent::Expiry,
    };
    Some(BlockAlert {
        event,
        target: change.source,
        at: change.at,
        ttl_seconds: change.ttl.map(|t| u64::try_from(t.as_secs()).unwrap_or(0)),
        reason: change.reason.clone(),
        actor: change.actor.clone(),
    })
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::*;

    fn change(kind: ChangeKind, actor: &str, ttl: Option<u64>) -> BlockChange {
        BlockChange {
            kind,
            source: "192.0.2.7/32".parse().unwrap(),
            ttl: ttl.map(|s| SignedDuration::from_secs(s as i64)),
            at: Timestamp::from_second(1_780_000_000).unwrap(),
            actor: actor.to_owned(),
            reason: "probing".to_owned(),
            ledger_index: 12,
        }
    }

    #[test]
    fn manual_blocks_unblocks_and_expiries_become_alerts_once() {
        let block = alert_for(&change(ChangeKind::Block, "alice", Some(3))).unwrap();
        assert_eq!(
            block,
            BlockAlert {
                event: BlockEvent::Block,
                target: "192.0.2.7/32".parse().unwrap(),
                at: Timestamp::from_second(1_780_000_000).unwrap(),
                ttl_seconds: Some(3),
                reason: "probing".to_owned(),
                actor: "alice".to_owned(),
            }
        );
        let unblock = alert_for(&change(ChangeKind::Unblock, "bob", None)).unwrap();
        assert_eq!(
            (unblock.event, unblock.ttl_seconds, unblock.actor.as_str()),
            (BlockEvent::Unblock, None, "bob")
        );
        // Every expiry, the agent's and the kernel's blocks' included.
        let expiry = alert_for(&change(ChangeKind::Expiry, "kernel", None)).unwrap();
        assert_eq!(expiry.event, BlockEvent::Expiry);
        // Blocks made for a detection were alerted on with it.
        assert_eq!(
            alert_for(&change(ChangeKind::Block, "agent", Some(600))),
            None
        );
        assert_eq!(
            alert_for(&change(ChangeKind::ScanBlock, "kernel", Some(600))),
            None
        );
    }
}

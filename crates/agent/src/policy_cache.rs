//! The policy an agent thread works from, read again only when it may have
//! changed: when the live generation changes (an apply, a rollback, a
//! reclaim) and at least every [`POLICY_RECHECK`] (the default file may
//! change while nothing is applied). Each thread keeps its own cache, so
//! none waits on another's reading.

use std::time::{Duration, Instant};

use portreeve_app::policy::{self, LoadedPolicy};
use portreeve_app::{AppError, StateDir};

/// How often the policy files are looked at again when the live generation
/// has not changed.
const POLICY_RECHECK: Duration = Duration::from_secs(10);

/// How a cache finds its policy.
type Resolve = fn(&StateDir) -> Result<Option<LoadedPolicy>, AppError>;

/// A policy, resolved again when it may have changed.
pub(crate) struct PolicyCache {
    resolve: Resolve,
    generation: Option<u64>,
    resolved: Option<Instant>,
    policy: Option<LoadedPolicy>,
}

impl PolicyCache {
    /// The policy to judge findings by: the one in effect, else the
    /// default file, else the baseline.
    pub(crate) fn judging() -> PolicyCache {
        PolicyCache::new(|state| policy::for_judging(state, None).map(Some))
    }

    /// The policy in effect only: none while nothing is applied.
    pub(crate) fn in_effect() -> PolicyCache {
        PolicyCache::new(policy::in_effect)
    }

    fn new(resolve: Resolve) -> PolicyCache {
        PolicyCache {
            resolve,
            generation: None,
            resolved: None,
            policy: None,
        }
    }

    /// The policy, read again if it may have changed; on a failure to read
    /// it, the last one read (logged).
    pub(crate) fn get(&mut self, state: &StateDir) -> Option<&LoadedPolicy> {
        let generation = state.firewall().generations().current().ok();
        let stale = self.resolved.is_none_or(|t| t.elapsed() >= POLICY_RECHECK);
        if stale || generation != self.generation {
            self.generation = generation;
            self.resolved = Some(Instant::now());
            match (self.resolve)(state) {
                Ok(p) => self.policy = p,
                Err(e) => tracing::warn!(error = %e, "cannot read the policy in effect"),
            }
        }
        self.policy.as_ref()
    }
}

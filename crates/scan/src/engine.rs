//! What every probing engine shares: counters, and the file-descriptor
//! budget.

/// Counters of a finished scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Probes sent, retransmissions included.
    pub probes: u64,
    /// Retransmissions.
    pub retries: u64,
    /// Times the window halved on proven loss.
    pub loss_events: u64,
    /// The largest window reached.
    pub peak_window: usize,
}

/// Raises the soft file-descriptor limit to the hard limit and returns how
/// many sockets may be open at once (leaving room for everything else).
pub fn raise_fd_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::Nofile);
    if let Some(hard) = current.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(1 << 20);
    usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(64)
        .max(16)
}

impl ScanStats {
    /// The counters of several workers together.
    pub fn sum(all: impl IntoIterator<Item = ScanStats>) -> ScanStats {
        all.into_iter()
            .fold(ScanStats::default(), |a, s| ScanStats {
                probes: a.probes + s.probes,
                retries: a.retries + s.retries,
                loss_events: a.loss_events + s.loss_events,
                peak_window: a.peak_window + s.peak_window,
            })
    }
}

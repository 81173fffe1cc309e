//! The source tracing settings an operator writes.

use std::path::PathBuf;
use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;

use crate::TraceError;

/// Source tracing settings. Every key is optional; see
/// docs/detection.md for what each does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    /// MaxMind-format databases (GeoLite2-ASN, -Country, -City, …).
    pub mmdb: Vec<PathBuf>,
    /// Whether to ask the system resolver for PTR names.
    pub reverse_dns: bool,
    /// How long one PTR lookup may take.
    pub reverse_dns_timeout: SignedDuration,
    /// How many PTR lookups may still be running (given up on or not)
    /// before new ones are skipped.
    pub reverse_dns_max_outstanding: usize,
    /// The RDAP server's base URL; no RDAP lookups without one.
    pub rdap_base_url: Option<String>,
    /// How long connecting to the RDAP server may take.
    pub rdap_connect_timeout: SignedDuration,
    /// How long a whole RDAP request may take.
    pub rdap_timeout: SignedDuration,
    /// How long a fetched network answers for its addresses.
    pub rdap_cache_ttl: SignedDuration,
    /// How long one enrichment waits in total for its lookups.
    pub budget: SignedDuration,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            mmdb: Vec::new(),
            reverse_dns: true,
            reverse_dns_timeout: SignedDuration::from_secs(1),
            reverse_dns_max_outstanding: 16,
            rdap_base_url: None,
            rdap_connect_timeout: SignedDuration::from_secs(1),
            rdap_timeout: SignedDuration::from_secs(2),
            rdap_cache_ttl: SignedDuration::from_hours(6),
            budget: SignedDuration::from_secs(2),
        }
    }
}

/// `value` of the key `name` as a positive duration.
pub(crate) fn positive(name: &str, value: SignedDuration) -> Result<Duration, TraceError> {
    Duration::try_from(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| TraceError::Config(format!("{name} must be longer than zero")))
}

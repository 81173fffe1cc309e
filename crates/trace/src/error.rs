//! What can go wrong while tracing a source, in words an operator reads in a
//! detection's report.

use std::time::Duration;

/// A lookup that failed or gave no answer in time. Its `Display` is the
/// sentence that goes into [`crate::Enrichment::errors`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// The configuration cannot be used.
    #[error("source tracing configuration: {0}")]
    Config(String),
    /// A MaxMind database could not be opened or is not one.
    #[error("cannot read the MaxMind database {path}: {reason}")]
    GeoOpen {
        /// The file named in the configuration.
        path: String,
        /// Why, from the reader.
        reason: String,
    },
    /// A MaxMind database could not answer for an address.
    #[error("the MaxMind database {path} could not be searched: {reason}")]
    GeoLookup {
        /// The file named in the configuration.
        path: String,
        /// Why, from the reader.
        reason: String,
    },
    /// The resolver gave no answer before the time allowed ran out.
    #[error("reverse DNS gave no answer within {}", in_words(*.0))]
    DnsTimeout(Duration),
    /// The resolver answered with a failure other than "no such name".
    #[error("reverse DNS failed: {0}")]
    DnsFailed(String),
    /// Too many earlier lookups are still running to start another.
    #[error("{what} skipped: {running} earlier lookups are still waiting for an answer")]
    Busy {
        /// Which lookup was skipped.
        what: &'static str,
        /// How many are still running (the configured limit).
        running: usize,
    },
    /// A worker thread could not be started.
    #[error("{what} could not start: {reason}")]
    Thread {
        /// Which lookup.
        what: &'static str,
        /// The system's reason.
        reason: String,
    },
    /// The RDAP server knows no network holding the address (HTTP 404).
    #[error("the RDAP server has no network for this address ({url} answered 404 Not Found)")]
    RdapNotFound {
        /// The URL asked.
        url: String,
    },
    /// The RDAP server answered with another HTTP error.
    #[error("the RDAP server refused the query ({url} answered HTTP {status})")]
    RdapStatus {
        /// The URL asked.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The RDAP server did not answer within the timeout.
    #[error("the RDAP server did not answer within {} ({url})", in_words(*.after))]
    RdapTimeout {
        /// The URL asked.
        url: String,
        /// The time allowed.
        after: Duration,
    },
    /// The RDAP server could not be reached or the transfer broke.
    #[error("the RDAP server could not be reached ({url}): {reason}")]
    RdapUnreachable {
        /// The URL asked.
        url: String,
        /// Why, in words.
        reason: String,
    },
    /// The RDAP server's answer is not a usable IP network object.
    #[error("the RDAP server's answer is not a usable IP network object ({url}): {reason}")]
    RdapBadAnswer {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A lookup had not finished when the enrichment budget ran out.
    #[error("{what} gave no answer within the enrichment budget of {}", in_words(*.budget))]
    OverBudget {
        /// Which lookup.
        what: &'static str,
        /// The budget.
        budget: Duration,
    },
}

/// A duration as an operator writes it: `300 ms`, `2 s`, `1.5 s`.
pub(crate) fn in_words(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

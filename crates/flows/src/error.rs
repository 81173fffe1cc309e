//! Why datagrams are dropped, and the counters a collector exports as
//! metrics. Reasons are a closed set with stable snake_case labels so that
//! dashboards and alerts can rely on them.

use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap;

/// Why a datagram (or one set inside it) could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram ended before a structure it announced.
    #[error("truncated datagram: {0} is cut short")]
    Truncated(&'static str),
    /// A length field contradicts the datagram or the structure it frames.
    #[error("bad length: {0}")]
    BadLength(&'static str),
    /// A set (flowset) declared length 0, which would never advance.
    #[error("zero-length set")]
    ZeroLengthSet,
    /// A data set referenced a template this exporter has not sent (yet).
    #[error("data set {template_id} arrived before its template")]
    NoTemplate {
        /// The unknown template (set) id.
        template_id: u16,
    },
    /// A template declared more fields than the configured cap.
    #[error("template {template_id} declares {count} fields (limit {limit})")]
    TooManyFields {
        /// The template id.
        template_id: u16,
        /// The declared field count.
        count: u16,
        /// The configured limit.
        limit: usize,
    },
    /// A template that cannot describe any record (reserved id, empty record,
    /// inconsistent scope count).
    #[error("bad template: {0}")]
    BadTemplate(&'static str),
    /// A value outside what the specification allows (e.g. an unknown
    /// sFlow agent address type).
    #[error("invalid value: {0}")]
    Invalid(&'static str),
    /// Neither NetFlow v5/v9, IPFIX (v10) nor sFlow v5.
    #[error("unsupported export protocol version {0}")]
    UnsupportedVersion(u32),
}

impl DecodeError {
    /// The metric label of this error.
    pub fn reason(&self) -> DropReason {
        match self {
            DecodeError::Truncated(_) => DropReason::Truncated,
            DecodeError::BadLength(_) => DropReason::BadLength,
            DecodeError::ZeroLengthSet => DropReason::ZeroLengthSet,
            DecodeError::NoTemplate { .. } => DropReason::NoTemplate,
            DecodeError::TooManyFields { .. } => DropReason::TooManyFields,
            DecodeError::BadTemplate(_) => DropReason::BadTemplate,
            DecodeError::Invalid(_) => DropReason::Invalid,
            DecodeError::UnsupportedVersion(_) => DropReason::UnsupportedVersion,
        }
    }
}

/// The label under which a drop is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// See [`DecodeError::Truncated`].
    Truncated,
    /// See [`DecodeError::BadLength`].
    BadLength,
    /// See [`DecodeError::ZeroLengthSet`].
    ZeroLengthSet,
    /// See [`DecodeError::NoTemplate`].
    NoTemplate,
    /// See [`DecodeError::TooManyFields`].
    TooManyFields,
    /// See [`DecodeError::BadTemplate`].
    BadTemplate,
    /// See [`DecodeError::Invalid`].
    Invalid,
    /// See [`DecodeError::UnsupportedVersion`].
    UnsupportedVersion,
}

impl DropReason {
    /// Every reason, in label order of declaration.
    pub const ALL: [DropReason; 8] = [
        DropReason::Truncated,
        DropReason::BadLength,
        DropReason::ZeroLengthSet,
        DropReason::NoTemplate,
        DropReason::TooManyFields,
        DropReason::BadTemplate,
        DropReason::Invalid,
        DropReason::UnsupportedVersion,
    ];

    /// The stable snake_case metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadLength => "bad_length",
            DropReason::ZeroLengthSet => "zero_length_set",
            DropReason::NoTemplate => "no_template",
            DropReason::TooManyFields => "too_many_fields",
            DropReason::BadTemplate => "bad_template",
            DropReason::Invalid => "invalid",
            DropReason::UnsupportedVersion => "unsupported_version",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One counter per [`DropReason`]; serializes as a `{label: count}` map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonCounts([u64; DropReason::ALL.len()]);

impl ReasonCounts {
    /// The count for one reason.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every reason, zeros included (metrics want
    /// every label present from the start).
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    pub(crate) fn add(&mut self, reason: DropReason) {
        if let Some(slot) = self.0.get_mut(reason.index()) {
            *slot = slot.saturating_add(1);
        }
    }
}

impl Serialize for ReasonCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(DropReason::ALL.len()))?;
        for (reason, count) in self.iter() {
            map.serialize_entry(reason.label(), &count)?;
        }
        map.end()
    }
}

/// What a [`Decoder`](crate::Decoder) has seen since it was created. All
/// counters are monotonic except the two gauges, `exporters` and
/// `templates`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Datagrams decoded (possibly with some sets skipped).
    pub datagrams_ok: u64,
    /// Datagrams dropped whole, by reason.
    pub datagrams_dropped: ReasonCounts,
    /// Data sets skipped inside otherwise good datagrams, by reason (in
    /// practice `no_template`: data that arrived before its template).
    pub sets_dropped: ReasonCounts,
    /// Flow records produced.
    pub records: u64,
    /// Options data records consumed (sampling rates learned from them).
    pub options_records: u64,
    /// sFlow samples skipped because they are not flow samples (counter
    /// samples, other enterprises).
    pub samples_skipped: u64,
    /// Templates and options templates learned for the first time.
    pub templates_added: u64,
    /// Templates re-sent (refresh), whether or not the definition changed.
    pub templates_refreshed: u64,
    /// Templates removed by an IPFIX withdrawal.
    pub templates_withdrawn: u64,
    /// Templates dropped because an exporter reached the template cap.
    pub templates_evicted: u64,
    /// Exporters (with all their state) dropped because the exporter cap
    /// or the cap on templates over all exporters was reached.
    pub exporters_evicted: u64,
    /// Sampler entries dropped because an exporter reached the sampler cap.
    pub samplers_evicted: u64,
    /// Data records naming a sampler or selector id (48, 302) that the
    /// exporter's options data had not defined (yet): they get the
    /// exporter's id-less rate if it sent one, else 1.
    pub unknown_sampler_records: u64,
    /// Log lines suppressed by the rate limit.
    pub logs_suppressed: u64,
    /// Gauge: exporters with template state.
    pub exporters: u64,
    /// Gauge: templates currently held, over all exporters.
    pub templates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_stable_and_indexed() {
        let mut c = ReasonCounts::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            for _ in 0..=i {
                c.add(*r);
            }
        }
        assert_eq!(c.get(DropReason::NoTemplate), 4);
        assert_eq!(c.total(), 36);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["zero_length_set"], 3);
        assert_eq!(
            DecodeError::TooManyFields {
                template_id: 256,
                count: 65535,
                limit: 512
            }
            .reason()
            .label(),
            "too_many_fields"
        );
    }
}

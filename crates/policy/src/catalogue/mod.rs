//! The built-in risk catalogue: what a well-known port usually is, how risky
//! exposing it is, and what to do about it.
//!
//! `check` uses it to grade listeners no rule allows and to flag risky
//! services bound to wildcard or public addresses. The table itself lives in
//! `entries.rs`; each (protocol, port) appears in at most one entry, so a
//! lookup has one answer.

mod entries;

use portreeve_core::{PortRange, Proto, Severity};
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

/// Which transport protocols an entry covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both TCP and UDP.
    Both,
}

/// As JSON and the catalogue table write it: `tcp`, `udp`, `both`.
impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Both => "both",
        })
    }
}

impl Transport {
    /// Whether the entry applies to `proto`.
    pub fn includes(self, proto: Proto) -> bool {
        matches!(
            (self, proto),
            (Transport::Both, _) | (Transport::Tcp, Proto::Tcp) | (Transport::Udp, Proto::Udp)
        )
    }
}

/// One catalogued service.
#[derive(Debug, Serialize)]
pub struct CatalogueEntry {
    /// Service name as operators know it.
    pub service: &'static str,
    /// Protocols it uses.
    pub transport: Transport,
    /// Inclusive port ranges.
    #[serde(serialize_with = "serialize_ranges")]
    pub ports: &'static [(u16, u16)],
    /// How bad exposing it is.
    pub severity: Severity,
    /// Why exposure matters.
    pub rationale: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
}

impl CatalogueEntry {
    /// Whether the entry covers `port`/`proto`.
    pub fn covers(&self, proto: Proto, port: u16) -> bool {
        self.transport.includes(proto) && self.ports.iter().any(|&(a, b)| (a..=b).contains(&port))
    }

    /// The entry's ports as ranges.
    pub fn port_ranges(&self) -> impl Iterator<Item = PortRange> + '_ {
        self.ports.iter().map(|&(a, b)| {
            PortRange::new(a.into(), b.into()).expect("catalogue ranges are tested valid")
        })
    }
}

fn serialize_ranges<S: Serializer>(ports: &&'static [(u16, u16)], s: S) -> Result<S::Ok, S::Error> {
    let entry_ranges: Vec<PortRange> = ports
        .iter()
        .map(|&(a, b)| {
            PortRange::new(a.into(), b.into()).expect("catalogue ranges are tested valid")
        })
        .collect();
    let mut seq = s.serialize_seq(Some(entry_ranges.len()))?;
    for r in &entry_ranges {
        seq.serialize_element(r)?;
    }
    seq.end()
}

/// Every catalogued service, sorted by first port.
pub fn entries() -> &'static [CatalogueEntry] {
    entries::ENTRIES
}

/// The catalogued service on `port`/`proto`, if any.
pub fn lookup(proto: Proto, port: u16) -> Option<&'static CatalogueEntry> {
    // A linear scan over ~200 entries costs well under a microsecond per
    // socket; an index would be more code for no measurable gain.
    entries::ENTRIES.iter().find(|e| e.covers(proto, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_respects_transport() {
        let redis = lookup(Proto::Tcp, 6379).expect("redis is catalogued");
        assert!(redis.service.contains("Redis"));
        assert!(redis.severity >= Severity::High);
        assert!(lookup(Proto::Tcp, 69).is_none_or(|e| e.transport != Transport::Udp));
        assert!(lookup(Proto::Udp, 69).is_some());
    }

    #[test]
    fn serialises_ports_as_numbers_and_ranges() {
        let x11 = lookup(Proto::Tcp, 6010).unwrap();
        let v = serde_json::to_value(x11).unwrap();
        assert!(v["ports"][0].is_string(), "{v}");
        assert_eq!(
            serde_json::to_value(lookup(Proto::Tcp, 6379).unwrap()).unwrap()["ports"][0],
            6379
        );
    }
}

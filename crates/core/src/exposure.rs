//! Where a listening socket can be reached from, and how that changes a
//! finding's grade.
//!
//! A socket bound to a wildcard address is not reachable from everywhere
//! when portreeve's firewall stands in front of it: only the sources the
//! policy in effect admits to its port get through. `check` says so, and
//! grades a risky service reachable from a management network below one
//! reachable from the internet. It never claims protection the kernel does
//! not give: without portreeve's ruleset live and unchanged, a wildcard
//! socket is reachable from everywhere.

use std::fmt;

use serde::Serialize;

use crate::Severity;

/// A zone the firewall admits to a port, with its networks as written in
/// CIDR notation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceZone {
    /// The zone's name in the policy.
    pub zone: String,
    /// Its networks that the firewall admits (the port's address family
    /// only).
    pub networks: Vec<String>,
}

/// Where a socket is reachable from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Exposure {
    /// Bound to a loopback address: this host only.
    Local,
    /// portreeve's firewall admits only these zones' sources; an empty list
    /// means it admits nobody to the port.
    Zones {
        /// The admitted zones.
        from: Vec<SourceZone>,
        /// Whether some admitted network spans the internet (a `public`
        /// zone of `0.0.0.0/0`): then the port is graded as reachable from
        /// everywhere although a firewall is in front of it.
        wide: bool,
    },
    /// Nothing verifiable stands in front of the socket.
    Everywhere {
        /// Why no firewall protection is assumed, e.g. `no portreeve
        /// ruleset is live`.
        why: String,
    },
}

/// How far a port reaches, for grading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breadth {
    /// This host, or no source at all.
    Nobody,
    /// Named networks narrower than the internet.
    Restricted,
    /// The internet.
    Everywhere,
}

impl Exposure {
    /// How far the socket reaches.
    pub fn breadth(&self) -> Breadth {
        match self {
            Exposure::Local => Breadth::Nobody,
            Exposure::Zones { from, .. } if from.is_empty() => Breadth::Nobody,
            Exposure::Zones { wide: false, .. } => Breadth::Restricted,
            Exposure::Zones { wide: true, .. } | Exposure::Everywhere { .. } => Breadth::Everywhere,
        }
    }

    /// The grade of an exposure finding whose severity is `base` when the
    /// socket is reachable from everywhere: unchanged from everywhere; two
    /// levels lower, but not below `low`, from restricted networks (a
    /// management network is still a path for someone already inside);
    /// at most `low` when the firewall admits nobody (it listens for no
    /// reason, and one firewall change away from exposure).
    pub fn grade(&self, base: Severity) -> Severity {
        match self.breadth() {
            Breadth::Everywhere => base,
            Breadth::Restricted => base.lowered(2).max(Severity::Low.min(base)),
            Breadth::Nobody => base.min(Severity::Low),
        }
    }
}

impl fmt::Display for Exposure {
    /// `mgmt (10.0.0.0/24)`, `everywhere (no portreeve ruleset is live)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exposure::Local => f.write_str("this host only (loopback)"),
            Exposure::Zones { from, .. } if from.is_empty() => {
                f.write_str("nobody (portreeve's firewall admits no source)")
            }
            Exposure::Zones { from, .. } => {
                let zones: Vec<String> = from
                    .iter()
                    .map(|z| format!("{} ({})", z.zone, z.networks.join(", ")))
                    .collect();
                f.write_str(&zones.join(", "))
            }
            Exposure::Everywhere { why } => write!(f, "everywhere ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(wide: bool, names: &[&str]) -> Exposure {
        Exposure::Zones {
            from: names
                .iter()
                .map(|n| SourceZone {
                    zone: n.to_string(),
                    networks: vec!["10.0.0.0/24".into()],
                })
                .collect(),
            wide,
        }
    }

    #[test]
    fn grades_follow_breadth() {
        use Severity::*;
        let everywhere = Exposure::Everywhere { why: "x".into() };
        let mgmt = zones(false, &["mgmt"]);
        let public = zones(true, &["public"]);
        let nobody = zones(false, &[]);
        assert_eq!(everywhere.grade(Critical), Critical);
        assert_eq!(public.grade(Critical), Critical);
        assert_eq!(mgmt.grade(Critical), Medium);
        assert_eq!(mgmt.grade(High), Low);
        assert_eq!(mgmt.grade(Medium), Low);
        assert_eq!(mgmt.grade(Info), Info);
        assert_eq!(nobody.grade(Critical), Low);
        assert_eq!(nobody.grade(Info), Info);
    }

    #[test]
    fn says_where_from() {
        assert_eq!(zones(false, &["mgmt"]).to_string(), "mgmt (10.0.0.0/24)");
        assert_eq!(
            Exposure::Everywhere {
                why: "no portreeve ruleset is live".into()
            }
            .to_string(),
            "everywhere (no portreeve ruleset is live)"
        );
        let v = serde_json::to_value(zones(false, &["mgmt"])).unwrap();
        assert_eq!(v["scope"], "zones");
        assert_eq!(v["from"][0]["networks"][0], "10.0.0.0/24");
    }
}

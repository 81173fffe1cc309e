//! A policy as Google Compute Engine firewall rules: the request bodies of
//! `firewalls.insert` (`compute#firewall` resources), one per policy rule
//! and address family. The bodies leave out `kind`: the discovery document
//! marks it output-only, set by the server.
//!
//! A GCP firewall rule holds IPv4 or IPv6 source ranges, never both, so a
//! dual-stack rule becomes two. Field names and types are those of the
//! compute v1 discovery document's `Firewall` schema, against which the test
//! suite validates rendered bodies.

use portreeve_core::{PortRange, Proto};
use portreeve_policy::Policy;
use serde::Serialize;

use crate::openings::{self, Opening, Source};

/// The network rules go to, unless the caller edits it (docs/cloud.md).
pub const DEFAULT_NETWORK: &str = "global/networks/default";

/// GCP's default rule priority.
const PRIORITY: u32 = 1000;

/// Longest firewall name GCP accepts.
const NAME_MAX: usize = 63;

/// One `compute#firewall` insert body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Firewall {
    /// `portreeve-rN-SLUG-v4` or `-v6`, N the rule's 1-based position.
    pub name: String,
    /// Which rule it comes from.
    pub description: String,
    /// [`DEFAULT_NETWORK`].
    pub network: &'static str,
    /// Always `INGRESS`.
    pub direction: &'static str,
    /// Always 1000.
    pub priority: u32,
    /// The rule's networks of one family.
    pub source_ranges: Vec<String>,
    /// Protocols and ports.
    pub allowed: Vec<Allowed>,
}

/// One protocol and its ports.
#[derive(Debug, Serialize)]
pub struct Allowed {
    /// `tcp` or `udp`.
    #[serde(rename = "IPProtocol")]
    pub ip_protocol: &'static str,
    /// `22`, `8000-8100`.
    pub ports: Vec<String>,
}

/// The firewall bodies for `policy`, and the rules left out (grant-only).
pub fn firewalls(policy: &Policy) -> (Vec<Firewall>, Vec<String>) {
    let openings = openings::of(policy);
    let mut out = Vec::new();
    for (index, opening) in openings.openings.iter().enumerate() {
        for (family, sources) in [("v4", &opening.ipv4), ("v6", &opening.ipv6)] {
            if !sources.is_empty() {
                out.push(firewall(index + 1, opening, family, sources));
            }
        }
    }
    (out, openings.grant_only)
}

fn firewall(position: usize, opening: &Opening, family: &str, sources: &[Source]) -> Firewall {
    Firewall {
        name: name(position, &opening.rule, family),
        description: format!("portreeve rule {}", opening.rule),
        network: DEFAULT_NETWORK,
        direction: "INGRESS",
        priority: PRIORITY,
        source_ranges: sources.iter().map(|s| s.network.to_string()).collect(),
        allowed: opening
            .protocols
            .iter()
            .map(|&p| Allowed {
                ip_protocol: match p {
                    Proto::Tcp => "tcp",
                    Proto::Udp => "udp",
                },
                ports: opening.ports.iter().map(|r| port_text(*r)).collect(),
            })
            .collect(),
    }
}

/// `22` or `8000-8100`.
fn port_text(range: PortRange) -> String {
    if range.start() == range.end() {
        range.start().to_string()
    } else {
        format!("{}-{}", range.start(), range.end())
    }
}

/// A name GCP accepts (`[a-z]([-a-z0-9]{0,61}[a-z0-9])?`) that no other
/// rule of the policy gets: the rule's position keeps names apart, the
/// rule's name (lower-cased, other characters as `-`, cut to fit) keeps
/// them readable.
fn name(position: usize, rule: &str, family: &str) -> String {
    let prefix = format!("portreeve-r{position}-");
    let suffix = format!("-{family}");
    let room = NAME_MAX - prefix.len() - suffix.len();
    let mut slug = String::new();
    for c in rule.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
    }
    slug.truncate(room);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("portreeve-r{position}{suffix}")
    } else {
        format!("{prefix}{slug}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openings::tests::sample;

    #[test]
    fn one_firewall_per_rule_and_family() {
        let (bodies, left_out) = firewalls(&sample());
        assert_eq!(left_out, ["debug"]);
        let names: Vec<&str> = bodies.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "portreeve-r1-ssh-v4",
                "portreeve-r2-web-v4",
                "portreeve-r2-web-v6",
                "portreeve-r3-legacy-web-v4"
            ]
        );
        let web = serde_json::to_value(&bodies[1]).unwrap();
        assert_eq!(web["sourceRanges"][0], "0.0.0.0/0");
        assert_eq!(web["allowed"][1]["IPProtocol"], "udp");
        assert_eq!(web["allowed"][1]["ports"][1], "8000-8100");
    }

    #[test]
    fn names_fit_gcp_rules() {
        let long = name(12, &"Rule ".repeat(20), "v6");
        assert!(
            long.len() <= NAME_MAX && long.len() > NAME_MAX - 5,
            "{long}"
        );
        assert!(
            long.starts_with("portreeve-r12-rule-rule-")
                && long.ends_with("-v6")
                && !long.contains("--")
        );
        assert_eq!(name(1, "--", "v4"), "portreeve-r1-v4");
        assert_eq!(name(2, "DNS (udp)", "v4"), "portreeve-r2-dns-udp-v4");
    }
}

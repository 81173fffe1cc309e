//! Whether connection tracking runs in this network namespace.
//!
//! The kernel tracks connections in a namespace only while something there
//! needs it: a stateful firewall rule (`ct state`, `ct count`,
//! `-m conntrack`), or address translation. Until then no connection is
//! tracked, and what counts connections from conntrack — the agent's usage
//! counting — sees nothing. portreeve's own ruleset is stateful, so applying
//! it turns tracking on.

use std::fmt;

use serde_json::Value;

use crate::foreign::mentions;
use crate::legacy::LegacyChain;

/// Where the kernel says how many connections this namespace tracks.
const COUNT: &str = "/proc/sys/net/netfilter/nf_conntrack_count";

/// What nft's JSON calls the statements that need connection tracking.
const NFT_USERS: [&str; 6] = ["ct", "ct count", "dnat", "snat", "masquerade", "redirect"];

/// What iptables rules that need connection tracking say.
const LEGACY_USERS: [&str; 5] = [
    "-m conntrack",
    "-m state",
    "-j DNAT",
    "-j SNAT",
    "-j MASQUERADE",
];

/// Connection tracking in this namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conntrack {
    /// The kernel has no connection tracking (module `nf_conntrack` is not
    /// loaded).
    Absent,
    /// Loaded, but nothing here uses it: no connection is tracked.
    Inactive,
    /// Tracking connections, and why.
    Active(String),
}

impl fmt::Display for Conntrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conntrack::Absent => write!(
                f,
                "the kernel tracks no connections ({COUNT} is missing: nf_conntrack is not loaded); connection counting sees nothing"
            ),
            Conntrack::Inactive => write!(
                f,
                "inactive in this namespace: no rule here needs it, so no connection is tracked and connection counting sees nothing until a stateful ruleset (portreeve's is one) is loaded"
            ),
            Conntrack::Active(why) => write!(f, "active: {why}"),
        }
    }
}

/// How connection tracking stands here, from the kernel's count, nft's
/// ruleset listing `nft` and the legacy chains found.
pub fn conntrack_here(nft: Option<&Value>, legacy: &[LegacyChain]) -> Conntrack {
    judge(std::fs::read_to_string(COUNT).ok().as_deref(), nft, legacy)
}

/// [`conntrack_here`] given the text of the kernel's count (`None`: no
/// such file).
fn judge(count: Option<&str>, nft: Option<&Value>, legacy: &[LegacyChain]) -> Conntrack {
    let Some(count) = count else {
        return Conntrack::Absent;
    };
    let tracked: u64 = count.trim().parse().unwrap_or(0);
    if tracked > 0 {
        return Conntrack::Active(format!("{tracked} connections tracked now"));
    }
    let nft_user = nft.and_then(|listing| {
        listing["nftables"]
            .as_array()?
            .iter()
            .filter_map(|i| i.get("rule"))
            .find(|r| mentions(&r["expr"], &NFT_USERS))
    });
    if let Some(rule) = nft_user {
        return Conntrack::Active(format!(
            "a rule of table {} {} needs it",
            rule["family"].as_str().unwrap_or(""),
            rule["table"].as_str().unwrap_or("")
        ));
    }
    if let Some(c) = legacy.iter().find(|c| {
        c.table == "nat"
            || c.rules
                .iter()
                .any(|r| LEGACY_USERS.iter().any(|u| r.contains(u)))
    }) {
        return Conntrack::Active(format!(
            "a rule of {} {} {} needs it",
            c.family.tool(),
            c.table,
            c.chain
        ));
    }
    Conntrack::Inactive
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::{Family, legacy_chains, parse_save};
    use serde_json::json;

    #[test]
    fn tracked_connections_or_a_stateful_rule_mean_active() {
        assert_eq!(judge(None, None, &[]), Conntrack::Absent);
        assert_eq!(judge(Some("0\n"), None, &[]), Conntrack::Inactive);
        assert_eq!(
            judge(Some("3\n"), None, &[]),
            Conntrack::Active("3 connections tracked now".into())
        );
        let nft = json!({"nftables": [
            {"rule": {"family": "ip", "table": "plain", "chain": "c", "expr": [{"accept": null}]}},
            {"rule": {"family": "inet", "table": "keep", "chain": "c", "expr": [
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established"]}},
                {"accept": null}
            ]}},
        ]});
        assert_eq!(
            judge(Some("0"), Some(&nft), &[]).to_string(),
            "active: a rule of table inet keep needs it"
        );
        let legacy = legacy_chains(
            Family::V4,
            &parse_save("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n").unwrap(),
        );
        assert_eq!(
            judge(Some("0"), None, &legacy).to_string(),
            "active: a rule of iptables-legacy filter INPUT needs it"
        );
        assert!(
            judge(Some("0"), None, &[])
                .to_string()
                .contains("connection counting sees nothing")
        );
    }
}

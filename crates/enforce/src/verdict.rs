//! What the compiled ruleset does to a new connection, decided without the
//! kernel: the lock-out guard asks it before anything is applied.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portreeve_core::Proto;
use serde::{Deserialize, Serialize};

use crate::ruleset::{Allowance, Ruleset};

/// The fate of a new connection under a ruleset (ignoring grants, the
/// blocklist and rate limits, which change at run time). Serialised in
/// words, as [`Display`](std::fmt::Display) writes it, so that reports and
/// stored proposals read the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// An allowance accepts it.
    #[serde(rename = "accepted")]
    Accepted,
    /// The port is banned.
    #[serde(rename = "banned")]
    Banned,
    /// Nothing accepts it; the default action applies.
    #[serde(rename = "not allowed")]
    NotAllowed,
}

/// In words, as the lock-out guard's refusals say it (`not allowed`).
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Accepted => "accepted",
            Verdict::Banned => "banned",
            Verdict::NotAllowed => "not allowed",
        })
    }
}

/// Whether every address of `sources` is a loopback address (127.0.0.0/8,
/// ::1): such traffic only ever arrives on the loopback interface, which
/// the ruleset's input chain accepts before anything else (`iif "lo"
/// accept`, banned ports included), so it is accepted whatever the rules.
pub fn arrives_on_loopback(sources: IpNet) -> bool {
    match sources {
        IpNet::V4(n) => n.prefix_len() >= 8 && n.network().is_loopback(),
        IpNet::V6(n) => n.prefix_len() == 128 && n.network().is_loopback(),
    }
}

impl Ruleset {
    /// What happens to a new connection from `source` to `port`/`proto`.
    pub fn verdict(&self, source: IpAddr, proto: Proto, port: u16) -> Verdict {
        self.network_verdict(IpNet::from(source), proto, port)
    }

    /// What happens to new connections from every address of `sources`:
    /// `Accepted` only if all of them are accepted.
    pub fn network_verdict(&self, sources: IpNet, proto: Proto, port: u16) -> Verdict {
        if arrives_on_loopback(sources) {
            return Verdict::Accepted;
        }
        if self
            .banned
            .iter()
            .any(|b| b.protocol == proto && b.ports.contains(port))
        {
            return Verdict::Banned;
        }
        let accepted = match sources {
            IpNet::V4(n) => covered(&self.allowed_v4, n, proto, port, Ipv4Net::aggregate),
            IpNet::V6(n) => covered(&self.allowed_v6, n, proto, port, Ipv6Net::aggregate),
        };
        if accepted {
            Verdict::Accepted
        } else {
            Verdict::NotAllowed
        }
    }
}

/// Whether the allowances for `port`/`proto` together contain all of `net`.
fn covered<N: Copy + Ord + Contains>(
    allowed: &[Allowance<N>],
    net: N,
    proto: Proto,
    port: u16,
    aggregate: fn(&Vec<N>) -> Vec<N>,
) -> bool {
    let sources: Vec<N> = allowed
        .iter()
        .filter(|a| a.protocol == proto && a.ports.contains(port))
        .map(|a| a.source)
        .collect();
    // Aggregation merges sibling networks, so a network covered by several
    // allowances together is contained in one aggregate.
    aggregate(&sources).iter().any(|s| s.contains_net(&net))
}

/// Network containment, for both families.
trait Contains {
    fn contains_net(&self, other: &Self) -> bool;
}

impl Contains for Ipv4Net {
    fn contains_net(&self, other: &Self) -> bool {
        self.contains(other)
    }
}

impl Contains for Ipv6Net {
    fn contains_net(&self, other: &Self) -> bool {
        self.contains(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_policy::parse_policy;

    /// Stored proposals hold verdicts in words; they must read back, and
    /// read the same as reports print them.
    #[test]
    fn verdicts_serialise_in_words_and_read_back() {
        for v in [Verdict::Accepted, Verdict::Banned, Verdict::NotAllowed] {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), v);
        }
        assert!(serde_json::from_str::<Verdict>("\"refused\"").is_err());
    }

    fn ruleset(rules: &str) -> Ruleset {
        let src = format!(
            "[zones]\nall = [\"0.0.0.0/0\", \"::/0\"]\nlan = [\"10.0.0.0/9\", \"10.128.0.0/9\"]\nmgmt = [\"192.0.2.0/24\"]\n{rules}"
        );
        Ruleset::compile(&parse_policy("t.toml", &src).unwrap()).unwrap()
    }

    #[test]
    fn accepts_allowed_sources_only() {
        let r = ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n");
        assert_eq!(
            r.verdict("192.0.2.9".parse().unwrap(), Proto::Tcp, 22),
            Verdict::Accepted
        );
        assert_eq!(
            r.verdict("198.51.100.1".parse().unwrap(), Proto::Tcp, 22),
            Verdict::NotAllowed
        );
        assert_eq!(
            r.verdict("192.0.2.9".parse().unwrap(), Proto::Udp, 22),
            Verdict::NotAllowed
        );
        assert_eq!(
            r.verdict("2001:db8::1".parse().unwrap(), Proto::Tcp, 22),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn loopback_sources_are_accepted_as_the_input_chain_accepts_lo() {
        let r = ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n");
        for source in ["127.0.0.1/32", "127.0.0.0/8", "127.9.0.0/16", "::1/128"] {
            let source: IpNet = source.parse().unwrap();
            assert_eq!(
                r.network_verdict(source, Proto::Tcp, 9465),
                Verdict::Accepted,
                "{source}"
            );
            // Before the bans too (telnet is banned by default).
            assert_eq!(
                r.network_verdict(source, Proto::Tcp, 23),
                Verdict::Accepted,
                "{source}"
            );
        }
        // A network only partly loopback is judged by the rules.
        for source in ["126.0.0.0/7", "::/127"] {
            let source: IpNet = source.parse().unwrap();
            assert_eq!(
                r.network_verdict(source, Proto::Tcp, 9465),
                Verdict::NotAllowed,
                "{source}"
            );
        }
    }

    #[test]
    fn networks_covered_by_several_allowances_count_as_covered() {
        let r = ruleset("[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"lan\"]\n");
        assert_eq!(
            r.network_verdict("10.0.0.0/8".parse().unwrap(), Proto::Tcp, 22),
            Verdict::Accepted
        );
        assert_eq!(
            r.network_verdict("10.0.0.0/7".parse().unwrap(), Proto::Tcp, 22),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn grant_rules_stay_closed_and_bans_win() {
        let r = ruleset(
            "[[rule]]\nport = 9229\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\ngrant = { max_ttl = \"1h\" }\n",
        );
        assert_eq!(
            r.verdict("192.0.2.9".parse().unwrap(), Proto::Tcp, 9229),
            Verdict::NotAllowed
        );
        assert_eq!(
            r.verdict("192.0.2.9".parse().unwrap(), Proto::Tcp, 23),
            Verdict::Banned
        );
    }
}

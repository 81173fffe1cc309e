//! The NAT chains of overflows ([`OverflowNat`]): new connections to an
//! overflowed port of this host are sent on to the backup pool, and
//! masqueraded on their way there so the pool member answers the host,
//! which undoes both translations on the reply — whatever the member's
//! own routes are.
//!
//! Only the first packet of a connection passes through a NAT chain: the
//! kernel applies the translation chosen then to the rest of it. So a
//! connection established before an overflow was installed keeps its
//! server, and one sent to the pool stays there after the overflow is
//! removed, until it ends.
//!
//! The DNATed connections are forwarded, so portreeve's forward chain
//! judges them by the port the client asked for, as it judges any port
//! published by DNAT: a source the policy does not allow on the port is
//! refused there, exactly as the primary would have refused it.

use portreeve_core::Family;

use crate::overflow::OverflowNat;

use super::{chain, quoted};

/// How nft names `family` in a NAT statement, and its destination address.
fn nat_words(family: Family) -> (&'static str, &'static str) {
    match family {
        Family::Ipv4 => ("ip", "ip daddr"),
        Family::Ipv6 => ("ip6", "ip6 daddr"),
    }
}

/// Writes the `overflow_dnat` and `overflow_masquerade` chains; nothing
/// without overflows.
pub(super) fn chains(out: &mut String, overflows: &[OverflowNat]) {
    if overflows.is_empty() {
        return;
    }
    let mut dnat = vec!["type nat hook prerouting priority dstnat; policy accept;".to_string()];
    let mut masquerade =
        vec!["type nat hook postrouting priority srcnat; policy accept;".to_string()];
    for o in overflows {
        let (proto, port, comment) = (
            o.protocol,
            o.port,
            quoted(&format!("breaker {}", o.breaker)),
        );
        for family in [Family::Ipv4, Family::Ipv6] {
            let (nat_family, daddr) = nat_words(family);
            // A client is sent to a member of its own family; a family
            // without members keeps its connections on this host.
            let members: Vec<String> = o
                .members(family)
                .map(|m| format!("{} . {}", m.ip(), m.port()))
                .collect();
            if members.is_empty() {
                continue;
            }
            // Round robin: `numgen inc` counts the connections the rule
            // translates, the map turns the count into a member.
            let spread: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, m)| format!("{i} : {m}"))
                .collect();
            // `fib daddr type local`: only connections to this host are
            // overflowed, never traffic it routes to other hosts' ports.
            dnat.push(format!(
                "meta nfproto {family} fib daddr type local {proto} dport {port} ct state new \
                 dnat {nat_family} to numgen inc mod {} map {{ {} }} comment {comment}",
                members.len(),
                spread.join(", ")
            ));
            masquerade.push(format!(
                "meta l4proto {proto} ct status dnat ct original proto-dst {port} \
                 {daddr} . {proto} dport {{ {} }} masquerade comment {comment}",
                members.join(", ")
            ));
        }
    }
    out.push('\n');
    chain(out, "overflow_dnat", &dnat);
    out.push('\n');
    chain(out, "overflow_masquerade", &masquerade);
}

#[cfg(test)]
mod tests {
    use portreeve_core::Proto;

    use super::*;
    use crate::Ruleset;
    use crate::nft_text::render;

    fn ruleset(overflows: Vec<OverflowNat>) -> Ruleset {
        let mut r = Ruleset::compile(&portreeve_policy::baseline()).unwrap();
        r.overflows = overflows;
        r
    }

    fn web(pool: &[&str]) -> OverflowNat {
        OverflowNat {
            breaker: "web-overload".into(),
            port: 80,
            protocol: Proto::Tcp,
            pool: pool.iter().map(|m| m.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn overflows_only_add_their_chains_at_the_end_of_the_table() {
        let without = render(&ruleset(Vec::new()));
        let with = render(&ruleset(vec![web(&["10.0.5.20:8080"])]));
        assert!(!without.contains("type nat"), "{without}");
        let (without_body, with_body) = (
            without.strip_suffix("}\n").unwrap(),
            with.strip_suffix("}\n").unwrap(),
        );
        let added = with_body
            .strip_prefix(without_body)
            .unwrap_or_else(|| panic!("the rest of the table changed:\n{with}"));
        assert!(
            added.starts_with(
                "\n\tchain overflow_dnat {\n\t\ttype nat hook prerouting priority dstnat;"
            ) && added.contains(
                "\n\tchain overflow_masquerade {\n\t\ttype nat hook postrouting priority srcnat;"
            ),
            "{added}"
        );
    }

    #[test]
    fn each_family_is_spread_over_its_own_members_and_masqueraded_to_them() {
        let text = render(&ruleset(vec![web(&[
            "10.0.5.20:8080",
            "[fd00::5]:8080",
            "10.0.5.21:8081",
        ])]));
        let comment = "comment \"breaker web-overload\"";
        for line in [
            format!(
                "meta nfproto ipv4 fib daddr type local tcp dport 80 ct state new dnat ip to numgen inc mod 2 map {{ 0 : 10.0.5.20 . 8080, 1 : 10.0.5.21 . 8081 }} {comment}"
            ),
            format!(
                "meta nfproto ipv6 fib daddr type local tcp dport 80 ct state new dnat ip6 to numgen inc mod 1 map {{ 0 : fd00::5 . 8080 }} {comment}"
            ),
            format!(
                "meta l4proto tcp ct status dnat ct original proto-dst 80 ip daddr . tcp dport {{ 10.0.5.20 . 8080, 10.0.5.21 . 8081 }} masquerade {comment}"
            ),
            format!(
                "meta l4proto tcp ct status dnat ct original proto-dst 80 ip6 daddr . tcp dport {{ fd00::5 . 8080 }} masquerade {comment}"
            ),
        ] {
            assert!(
                text.contains(&format!("\t\t{line}\n")),
                "{line}\nmissing from\n{text}"
            );
        }
    }

    #[test]
    fn a_draining_overflow_keeps_its_chains_without_rules() {
        let text = render(&ruleset(vec![web(&[])]));
        for chain in ["overflow_dnat", "overflow_masquerade"] {
            let body = text.split(&format!("\tchain {chain} {{\n")).nth(1).unwrap();
            let rules: Vec<&str> = body[..body.find("\n\t}").unwrap()].lines().collect();
            assert_eq!(rules.len(), 1, "only the hook: {rules:?}");
            assert!(rules[0].contains("type nat hook"), "{rules:?}");
        }
    }

    #[test]
    fn a_family_without_members_is_not_translated() {
        let text = render(&ruleset(vec![web(&["10.0.5.20:8080"])]));
        assert!(text.contains("dnat ip to"), "{text}");
        assert!(
            !text.contains("ipv6 fib") && !text.contains("ip6 daddr"),
            "{text}"
        );
    }
}

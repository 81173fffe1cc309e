//! Other firewall tables that also decide traffic to this host.
//!
//! portreeve never modifies them, but an operator must know about them: a
//! drop there refuses what portreeve allows, and a DNAT in `prerouting`
//! (Docker's `-p`) sends packets past the input hook to be forwarded —
//! which portreeve's own forward chain then judges. This module reads `nft -j list ruleset`
//! and names every base chain of another table with what it may do
//! ([`foreign_chains`]), and gathers what nftables does not show
//! ([`OtherFirewalls`]): rules in the legacy xtables tables ([`legacy`]) and
//! active firewall managers ([`managers`]). [`report`] says all of it.

use std::fmt;
use std::fmt::Write as _;

use serde_json::Value;

/// What a chain that rewrites destinations means for portreeve, in the
/// nftables and the legacy iptables reports alike.
pub(crate) const DESTINATION_REWRITE_NOTE: &str = "rewrites destinations (DNAT/redirect): published ports (Docker `-p`, kube-proxy NodePorts) are forwarded before input filtering; portreeve's forward chain judges them by the port the client asked for, and a redirect by the port it leads to";

use crate::legacy::{self, Family, LegacyChain, Listing};
use crate::managers::{self, Manager, Signs};
use crate::nft_command::Nft;
use crate::nft_text::TABLE;

/// A base chain of a table that is not portreeve's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignChain {
    /// `ip nat`, `inet firewalld`, …
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Chain type (`filter`, `nat`, `route`).
    pub kind: String,
    /// Netfilter hook.
    pub hook: String,
    /// Priority; lower runs first.
    pub priority: i64,
    /// `accept` or `drop`.
    pub policy: Option<String>,
    /// Why this chain matters for portreeve's ruleset.
    pub notes: Vec<String>,
}

impl fmt::Display for ForeignChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table {}: chain {} ({}, hook {}, priority {}{})",
            self.table,
            self.chain,
            self.kind,
            self.hook,
            self.priority,
            self.policy
                .as_ref()
                .map(|p| format!(", policy {p}"))
                .unwrap_or_default()
        )?;
        for n in &self.notes {
            write!(f, "\n    {n}")?;
        }
        Ok(())
    }
}

/// The base chains of other tables in an `nft -j list ruleset` listing.
pub fn foreign_chains(listing: &Value) -> Vec<ForeignChain> {
    let items: Vec<&Value> = listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let is_ours = |family: &str, table: &str| family == "inet" && table == TABLE;

    let mut out = Vec::new();
    for chain in items.iter().filter_map(|i| i.get("chain")) {
        let (family, table) = (str_of(&chain["family"]), str_of(&chain["table"]));
        let Some(hook) = chain["hook"].as_str() else {
            continue;
        };
        if is_ours(family, table) {
            continue;
        }
        let rules_of_table = items
            .iter()
            .filter_map(|i| i.get("rule"))
            .filter(|r| str_of(&r["family"]) == family && str_of(&r["table"]) == table);
        let rules_of_chain: Vec<&Value> = rules_of_table
            .clone()
            .filter(|r| str_of(&r["chain"]) == str_of(&chain["name"]))
            .collect();
        let kind = str_of(&chain["type"]).to_string();
        let policy = chain["policy"].as_str().map(str::to_string);

        let mut notes = Vec::new();
        let translates = rules_of_table
            .clone()
            .any(|r| mentions(&r["expr"], &["dnat", "redirect"]));
        if kind == "nat" && matches!(hook, "prerouting" | "output") && translates {
            notes.push(DESTINATION_REWRITE_NOTE.to_string());
        }
        if hook == "input" && policy.as_deref() == Some("drop") {
            notes.push("policy drop: drops whatever it does not accept itself, including connections portreeve allows".into());
        } else if hook == "input"
            && rules_of_chain
                .iter()
                .any(|r| mentions(&r["expr"], &["drop", "reject"]))
        {
            notes.push("drops or rejects some input: a connection portreeve allows can still be refused here".into());
        }
        if hook == "forward" {
            notes.push("filters forwarded traffic (containers, VMs, routed networks), which portreeve's input chain never sees".into());
        }
        if family == "netdev" || (matches!(hook, "ingress" | "prerouting") && kind == "filter") {
            notes.push("sees packets before portreeve does and may drop them first".into());
        }
        out.push(ForeignChain {
            table: format!("{family} {table}"),
            chain: str_of(&chain["name"]).to_string(),
            kind,
            hook: hook.to_string(),
            priority: chain["prio"].as_i64().unwrap_or(0),
            policy,
            notes,
        });
    }
    out
}

/// The firewalls beside nftables' other tables: legacy rules and managers.
#[derive(Clone, Debug, Default)]
pub struct OtherFirewalls {
    /// Legacy chains that decide incoming or forwarded traffic.
    pub legacy: Vec<LegacyChain>,
    /// Active firewall managers.
    pub managers: Vec<Manager>,
    /// Legacy listings that could not be had (the tool failed).
    pub unreadable: Vec<String>,
}

impl OtherFirewalls {
    /// Looks at this namespace: the legacy tables (where
    /// `iptables-legacy-save` is installed), ufw's configuration and
    /// firewall-cmd. `nft` is nft's ruleset listing, in which managers
    /// leave tables and chains too.
    pub fn look(nft: Option<&Value>) -> OtherFirewalls {
        let mut found = OtherFirewalls::default();
        let mut listed = Vec::new();
        for family in Family::ALL {
            match legacy::read(family) {
                Listing::Absent => {}
                Listing::Unreadable(why) => found.unreadable.push(why),
                Listing::Tables(tables) => {
                    found.legacy.extend(legacy::legacy_chains(family, &tables));
                    listed.push((family.tool(), tables));
                }
            }
        }
        let ufw_conf = std::fs::read_to_string(managers::UFW_CONF).ok();
        found.managers = managers::detect(&Signs {
            ufw_conf: ufw_conf.as_deref(),
            nft,
            legacy: listed.iter().map(|(t, l)| (*t, l.as_slice())).collect(),
            firewalld_running: managers::firewalld_running(),
        });
        found
    }

    /// [`OtherFirewalls::look`] with nft's ruleset listed here (left out
    /// when it cannot be listed).
    pub fn look_here() -> OtherFirewalls {
        OtherFirewalls::look(Nft::new().list_ruleset_terse().ok().as_ref())
    }

    /// Whether nothing was found (nor failed to be read).
    pub fn is_empty(&self) -> bool {
        self.legacy.is_empty() && self.managers.is_empty() && self.unreadable.is_empty()
    }

    /// What to run about the legacy chains: how to see them and to remove
    /// them, for the tools that hold some.
    pub fn legacy_advice(&self) -> Option<String> {
        let tools: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|f| self.legacy.iter().any(|c| c.family == *f))
            .collect();
        if tools.is_empty() {
            return None;
        }
        let each = |f: fn(Family) -> String| tools.iter().map(|t| f(*t)).collect::<Vec<_>>();
        Some(format!(
            "See them all with {}. Where portreeve's policy should decide alone, move what is still needed into it, then remove them: {} for each chain above, and {} to flush a table's rules.",
            each(|t| format!("`{}`", t.save_tool())).join(" and "),
            each(|t| format!("`{} -t TABLE -P CHAIN ACCEPT`", t.tool())).join(" and "),
            each(|t| format!("`{} -t TABLE -F`", t.tool())).join(" and "),
        ))
    }
}

/// Everything besides portreeve's table that decides traffic here, for
/// `plan` and `apply`: other nftables tables' base chains (`nft`) and what
/// nftables does not show (`other`); one line saying so when there is
/// nothing.
pub fn report(nft: &[ForeignChain], other: &OtherFirewalls) -> String {
    if nft.is_empty() && other.is_empty() {
        return "\nNo other firewall decides traffic here: no other nftables table hooks into it, and no iptables-legacy rules, ufw or firewalld were found.\n".into();
    }
    let mut out = String::new();
    if !nft.is_empty() {
        out.push_str(
            "\nOther tables also decide traffic here (portreeve leaves them untouched):\n",
        );
        for c in nft {
            let _ = writeln!(out, "  {c}");
        }
    }
    if !other.legacy.is_empty() {
        out.push_str("\nLegacy iptables rules also decide traffic here (`nft list ruleset` does not show them; portreeve leaves them untouched):\n");
        for c in &other.legacy {
            let _ = writeln!(out, "  {c}");
        }
        if let Some(advice) = other.legacy_advice() {
            let _ = writeln!(out, "  {advice}");
        }
    }
    if !other.managers.is_empty() {
        out.push_str("\nFirewall managers also decide traffic here:\n");
        for m in &other.managers {
            let _ = writeln!(out, "  {m}");
        }
    }
    for why in &other.unreadable {
        let _ = writeln!(out, "\nCould not look at the legacy iptables rules: {why}");
    }
    out
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Whether any object in `v` has one of `keys` (nft's JSON names statements
/// by their key: `{"dnat": {...}}`, `{"drop": null}`).
pub(crate) fn mentions(v: &Value, keys: &[&str]) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| keys.contains(&k.as_str()) || mentions(v, keys)),
        Value::Array(a) => a.iter().any(|v| mentions(v, keys)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(items: Vec<Value>) -> Value {
        json!({ "nftables": items })
    }

    #[test]
    fn docker_style_dnat_is_named() {
        let l = listing(vec![
            json!({"table": {"family": "ip", "name": "nat"}}),
            json!({"chain": {"family": "ip", "table": "nat", "name": "PREROUTING", "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}}),
            json!({"chain": {"family": "ip", "table": "nat", "name": "DOCKER"}}),
            json!({"rule": {"family": "ip", "table": "nat", "chain": "PREROUTING", "expr": [{"jump": {"target": "DOCKER"}}]}}),
            json!({"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "expr": [{"dnat": {"addr": "172.17.0.2", "port": 80}}]}}),
        ]);
        let chains = foreign_chains(&l);
        assert_eq!(chains.len(), 1, "only base chains are listed");
        assert_eq!(chains[0].table, "ip nat");
        assert!(chains[0].notes[0].contains("DNAT"), "{:?}", chains[0].notes);
        assert!(chains[0].to_string().starts_with(
            "table ip nat: chain PREROUTING (nat, hook prerouting, priority -100, policy accept)"
        ));
    }

    #[test]
    fn the_report_says_nothing_else_only_when_nothing_else_was_found() {
        let none = OtherFirewalls::default();
        assert!(report(&[], &none).contains("No other firewall decides traffic here"));

        let tables = crate::legacy::parse_save("*filter\n:INPUT DROP [0:0]\nCOMMIT\n").unwrap();
        let legacy = OtherFirewalls {
            legacy: crate::legacy::legacy_chains(Family::V6, &tables),
            unreadable: vec!["`iptables-legacy-save` failed: Permission denied".into()],
            ..OtherFirewalls::default()
        };
        let said = report(&[], &legacy);
        assert!(!said.contains("No other firewall"), "{said}");
        assert!(
            said.contains("\n  ip6tables-legacy filter INPUT: policy DROP, 0 rules\n"),
            "{said}"
        );
        assert!(
            said.contains("  See them all with `ip6tables-legacy-save`. "),
            "only the tool that holds rules is named: {said}"
        );
        assert!(said.ends_with(
            "\nCould not look at the legacy iptables rules: `iptables-legacy-save` failed: Permission denied\n"
        ));
    }

    #[test]
    fn input_drops_and_forwarding_are_named_and_ours_is_not() {
        let l = listing(vec![
            json!({"chain": {"family": "inet", "table": "portreeve", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}),
            json!({"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT", "type": "filter", "hook": "input", "prio": 10, "policy": "drop"}}),
            json!({"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}),
            json!({"chain": {"family": "ip", "table": "filter", "name": "INPUT", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}),
            json!({"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [{"reject": null}]}}),
        ]);
        let chains = foreign_chains(&l);
        let names: Vec<&str> = chains.iter().map(|c| c.chain.as_str()).collect();
        assert_eq!(names, ["filter_INPUT", "FORWARD", "INPUT"]);
        assert!(chains[0].notes[0].starts_with("policy drop"));
        assert!(chains[1].notes[0].contains("forwarded"));
        assert!(chains[2].notes[0].contains("rejects"));
    }
}

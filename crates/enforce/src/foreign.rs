//! Other firewall tables that also decide traffic to this host.
//!
//! portreeve never modifies them, but an operator must know about them: a
//! port portreeve "closed" stays reachable when, say, Docker publishes it
//! with DNAT in `prerouting` — the packets are forwarded to the container and
//! never pass the input hook at all. This module reads `nft -j list ruleset`
//! and names every base chain of another table with what it may do.

use std::fmt;

use serde_json::Value;

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
            notes.push(
                "rewrites destinations (DNAT/redirect): published ports (Docker `-p`, kube-proxy NodePorts) are forwarded or redirected before input filtering, so they stay reachable whatever portreeve allows"
                    .to_string(),
            );
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

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Whether any object in `v` has one of `keys` (nft's JSON names statements
/// by their key: `{"dnat": {...}}`, `{"drop": null}`).
fn mentions(v: &Value, keys: &[&str]) -> bool {
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

//! Ports published by DNAT: where a connection to this host is sent on to
//! a container or another host instead of reaching a local socket.
//!
//! Docker, Podman and kube-proxy publish a port with a DNAT rule in a nat
//! table; the packets are then forwarded, so the port is open although no
//! socket of this host listens on it, and `ss` or `inventory`'s socket list
//! never shows it. This module reads the DNAT rules from `nft -j list
//! ruleset` (iptables-nft's rules, Docker's `DOCKER` chain among them, are
//! listed there too) and names, for each published port, where it leads:
//! the DNAT target, and the container behind it when a container runtime
//! can be asked ([`crate::containers`]).

use serde::Serialize;
use serde_json::Value;

use portreeve_core::{PortRange, Proto};

use crate::containers::Container;
use crate::nft_command::{Nft, NftError};

/// A port that a DNAT rule publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    /// The protocol the rule matches.
    pub protocol: Proto,
    /// The destination ports the rule matches: the ports clients connect to.
    pub ports: PortRange,
    /// The table holding the rule, e.g. `ip nat`.
    pub table: String,
    /// The chain holding the rule, e.g. `DOCKER`.
    pub chain: String,
    /// Where the rule sends the connection: `ADDRESS:PORT`, or `ADDRESS`
    /// when it keeps the port; `None` when nft cannot say (a target
    /// computed from a map).
    pub target: Option<String>,
    /// The container the port leads to, when a container runtime said so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

impl PublishedPort {
    /// `8080/tcp → 172.17.0.2:80 (container web, image nginx:1.25, compose project shop)`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}/{} → {}",
            self.ports,
            self.protocol,
            self.target.as_deref().unwrap_or("(target not known)")
        );
        if let Some(c) = &self.container {
            s.push_str(&format!(" ({c})"));
        }
        s.push_str(&format!(" [table {}, chain {}]", self.table, self.chain));
        s
    }
}

/// The published ports of the live ruleset, each with its container where
/// Docker or Podman answers on its socket.
pub fn live(nft: &Nft) -> Result<Vec<PublishedPort>, NftError> {
    let listing = nft.list_ruleset_terse()?;
    let mut ports = from_listing(&listing);
    // iptables-nft writes DNAT as an xtables target that nft's JSON lists
    // without its address; nft's text listing translates it.
    let mut annotated: Vec<((String, String), String)> = Vec::new();
    for p in ports.iter_mut().filter(|p| p.target.is_none()) {
        let Some((family, table)) = p.table.split_once(' ') else {
            continue;
        };
        let key = (family.to_string(), table.to_string());
        if !annotated.iter().any(|(k, _)| *k == key) {
            let text = nft.list_table_text(family, table)?.unwrap_or_default();
            annotated.push((key.clone(), text));
        }
        let text = &annotated.iter().find(|(k, _)| *k == key).expect("listed").1;
        p.target = target_in_text(text, &p.chain, p.protocol, p.ports);
    }
    crate::containers::attach(&mut ports);
    Ok(ports)
}

/// [`live`], or none when nft cannot be asked (not root, no nftables): an
/// inventory without the published ports rather than no inventory.
pub fn live_if_readable(nft: &Nft) -> Vec<PublishedPort> {
    live(nft).unwrap_or_else(|e| {
        tracing::debug!("published ports not read: {e}");
        Vec::new()
    })
}

/// The DNAT rules of an `nft -j list ruleset` listing that match a
/// destination port, one entry per port or range matched. portreeve's own
/// table holds none.
pub fn from_listing(listing: &Value) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    let rules = listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("rule"));
    for rule in rules {
        let exprs: Vec<&Value> = rule["expr"].as_array().into_iter().flatten().collect();
        let Some(target) = exprs.iter().find_map(|e| dnat_target(e)) else {
            continue;
        };
        for (protocol, ports) in exprs.iter().flat_map(|e| dport_match(e)) {
            out.push(PublishedPort {
                protocol,
                ports,
                table: format!("{} {}", str_of(&rule["family"]), str_of(&rule["table"])),
                chain: str_of(&rule["chain"]).to_string(),
                target: target.clone(),
                container: None,
            });
        }
    }
    out
}

/// `Some(target)` if `e` is a DNAT statement; the target is `None` when
/// the listing does not show it (an xtables `DNAT`, a map).
fn dnat_target(e: &Value) -> Option<Option<String>> {
    if let Some(d) = e.get("dnat") {
        let addr = d["addr"].as_str()?;
        let addr = if addr.contains(':') {
            format!("[{addr}]")
        } else {
            addr.to_string()
        };
        return Some(Some(match d["port"].as_u64() {
            Some(port) => format!("{addr}:{port}"),
            None => addr,
        }));
    }
    match e.get("xt") {
        Some(xt) if xt["type"] == "target" && xt["name"] == "DNAT" => Some(None),
        _ => None,
    }
}

/// The (protocol, ports) a `tcp dport …`/`udp dport …` match accepts.
fn dport_match(e: &Value) -> Vec<(Proto, PortRange)> {
    let m = &e["match"];
    let payload = &m["left"]["payload"];
    if m["op"] != "==" || payload["field"] != "dport" {
        return Vec::new();
    }
    let protocol = match payload["protocol"].as_str() {
        Some("tcp") => Proto::Tcp,
        Some("udp") => Proto::Udp,
        _ => return Vec::new(),
    };
    let right = &m["right"];
    let items: Vec<&Value> = match right.get("set").and_then(Value::as_array) {
        Some(set) => set.iter().collect(),
        None => vec![right],
    };
    items
        .into_iter()
        .filter_map(port_range)
        .map(|ports| (protocol, ports))
        .collect()
}

fn port_range(v: &Value) -> Option<PortRange> {
    if let Some(p) = v.as_i64() {
        return PortRange::single(p).ok();
    }
    let r = v.get("range")?.as_array()?;
    PortRange::new(r.first()?.as_i64()?, r.get(1)?.as_i64()?).ok()
}

/// The `dnat to …` target of the rule of `chain` matching `protocol` dport
/// `ports` in nft's text listing of its table.
fn target_in_text(text: &str, chain: &str, protocol: Proto, ports: PortRange) -> Option<String> {
    let body = text.split(&format!("\tchain {chain} {{\n")).nth(1)?;
    let body = &body[..body.find("\n\t}").unwrap_or(body.len())];
    let dport = format!("{protocol} dport {ports} ");
    body.lines()
        .filter(|l| l.contains(&dport))
        .find_map(|l| l.split("dnat to ").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .map(str::to_string)
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dnat_rules_become_published_ports_with_their_targets() {
        // As nft 1.0.6 lists these rules (`nft -j list ruleset`).
        let listing = json!({"nftables": [
            {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8081}},
                {"dnat": {"addr": "10.77.2.2", "port": 80}}]}},
            {"rule": {"family": "ip", "table": "nat", "chain": "prerouting", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [7000, {"range": [9000, 9010]}]}}},
                {"dnat": {"addr": "10.77.2.4"}}]}},
            {"rule": {"family": "ip6", "table": "nat", "chain": "prerouting", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 5353}},
                {"dnat": {"addr": "fd00::2", "port": 53}}]}},
            {"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "expr": [
                {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "docker0"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
                {"counter": {"packets": 0, "bytes": 0}},
                {"xt": {"type": "target", "name": "DNAT"}}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "pre", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 1234}},
                {"redirect": {"port": 22}}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "filter", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
                {"accept": null}]}}
        ]});
        let got: Vec<String> = from_listing(&listing)
            .iter()
            .map(PublishedPort::describe)
            .collect();
        assert_eq!(
            got,
            [
                "8081/tcp → 10.77.2.2:80 [table ip nat, chain prerouting]",
                "7000/tcp → 10.77.2.4 [table ip nat, chain prerouting]",
                "9000-9010/tcp → 10.77.2.4 [table ip nat, chain prerouting]",
                "5353/udp → [fd00::2]:53 [table ip6 nat, chain prerouting]",
                "8080/tcp → (target not known) [table ip nat, chain DOCKER]",
            ],
            "a redirect to this host and a filter rule publish nothing"
        );
    }

    #[test]
    fn an_xtables_dnat_target_is_read_from_the_text_listing() {
        // As nft 1.0.6 lists a rule Docker wrote with iptables-nft.
        let text = "table ip nat {\n\tchain DOCKER {\n\t\tiifname != \"docker0\" tcp dport 8080 counter packets 0 bytes 0 dnat to 172.17.0.2:80\n\t}\n\n\tchain PREROUTING {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n";
        let port = |p| PortRange::single(p).unwrap();
        assert_eq!(
            target_in_text(text, "DOCKER", Proto::Tcp, port(8080)).as_deref(),
            Some("172.17.0.2:80")
        );
        assert_eq!(target_in_text(text, "DOCKER", Proto::Tcp, port(8081)), None);
        assert_eq!(target_in_text(text, "DOCKER", Proto::Udp, port(8080)), None);
    }
}

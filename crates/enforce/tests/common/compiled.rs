//! A compiled ruleset in each of its forms, reduced to the boxes that
//! decide a new connection's fate.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use portreeve_core::Proto;
use portreeve_enforce::{Ruleset, Verdict, iptables_text};

use super::points::{boundary_addresses, boundary_ports};

/// A compiled ruleset reduced to what decides a new connection's fate: the
/// allowed (source, protocol, ports) boxes, and the banned ports of each
/// family. The firewall drops banned ports before it looks at allowances;
/// the constructors check that the rendered rulesets keep that order.
#[derive(Clone, Debug, Default)]
pub struct Compiled {
    pub allowed: Vec<(IpNet, Proto, u16, u16)>,
    /// (IPv4?, protocol, first port, last port).
    pub banned: Vec<(bool, Proto, u16, u16)>,
}

impl Compiled {
    /// What the ruleset does to a new connection: dropped if banned,
    /// accepted if a box holds it, else the default action.
    pub fn decide(&self, src: IpAddr, proto: Proto, port: u16) -> Verdict {
        let v4 = src.is_ipv4();
        if self
            .banned
            .iter()
            .any(|&(f, p, a, b)| f == v4 && p == proto && a <= port && port <= b)
        {
            Verdict::Banned
        } else if self
            .allowed
            .iter()
            .any(|&(n, p, a, b)| p == proto && a <= port && port <= b && n.contains(&src))
        {
            Verdict::Accepted
        } else {
            Verdict::NotAllowed
        }
    }

    /// Every boundary of the boxes, as ports.
    pub fn boundary_ports(&self) -> BTreeSet<u16> {
        boundary_ports(
            self.allowed
                .iter()
                .map(|&(_, _, a, b)| (a, b))
                .chain(self.banned.iter().map(|&(_, _, a, b)| (a, b))),
        )
    }

    /// Every boundary of the boxes, as addresses.
    pub fn boundary_addresses(&self) -> BTreeSet<IpAddr> {
        boundary_addresses(self.allowed.iter().map(|&(n, ..)| n))
    }

    /// The [`Ruleset`]'s own allowances and bans.
    pub fn of_ruleset(r: &Ruleset) -> Compiled {
        let v4 = r
            .allowed_v4
            .iter()
            .map(|a| (IpNet::V4(a.source), a.protocol, a.ports));
        let v6 = r
            .allowed_v6
            .iter()
            .map(|a| (IpNet::V6(a.source), a.protocol, a.ports));
        Compiled {
            allowed: v4
                .chain(v6)
                .map(|(n, p, ports)| (n, p, ports.start(), ports.end()))
                .collect(),
            banned: [true, false]
                .into_iter()
                .flat_map(|f| {
                    r.banned
                        .iter()
                        .map(move |b| (f, b.protocol, b.ports.start(), b.ports.end()))
                })
                .collect(),
        }
    }

    /// The sets of the nft text [`nft_text::render`] writes, read back from
    /// the text.
    pub fn of_nft_text(text: &str) -> Compiled {
        let input = text
            .split("\tchain input {")
            .nth(1)
            .expect("an input chain");
        let at = |needle: &str| {
            input
                .find(needle)
                .unwrap_or_else(|| panic!("no `{needle}` in the input chain:\n{input}"))
        };
        let banned_at = at("@banned drop");
        assert!(
            banned_at < at("@allowed_v4") && banned_at < at("@allowed_v6"),
            "banned ports must be dropped before allowances accept:\n{input}"
        );
        check_published_chain(text);
        let elements = |set: &str| -> Vec<Vec<String>> {
            let body = text
                .split(&format!("\tset {set} {{\n"))
                .nth(1)
                .unwrap_or_else(|| panic!("no set {set}"));
            let body = &body[..body.find("\n\t}").expect("the set ends")];
            body.split_once("elements = {")
                .map(|(_, e)| {
                    e.split(',')
                        .map(|item| item.trim().trim_end_matches('}').trim())
                        .filter(|item| !item.is_empty())
                        .map(|item| item.split(" . ").map(str::to_string).collect())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut c = Compiled::default();
        for set in ["allowed_v4", "allowed_v6"] {
            for e in elements(set) {
                let [net, proto, ports] = &e[..] else {
                    panic!("{set}: {e:?} is not `net . proto . ports`")
                };
                let (a, b) = nft_ports(ports);
                c.allowed.push((net_of(net), proto_of(proto), a, b));
            }
        }
        for e in elements("banned") {
            let [proto, ports] = &e[..] else {
                panic!("banned: {e:?} is not `proto . ports`")
            };
            let (a, b) = nft_ports(ports);
            for f in [true, false] {
                c.banned.push((f, proto_of(proto), a, b));
            }
        }
        c
    }

    /// The ipsets and banned-port rules of the script
    /// [`iptables_text::render`] writes, read back from the script.
    pub fn of_iptables_script(script: &str) -> Compiled {
        let mut c = Compiled::default();
        for (set, v4) in [
            (iptables_text::ALLOW_SET_V4, true),
            (iptables_text::ALLOW_SET_V6, false),
        ] {
            let prefix = format!("add {set}-next ");
            for line in script.lines().filter_map(|l| l.strip_prefix(&prefix)) {
                let (net, rest) = line.split_once(',').expect("net,proto:ports");
                let (proto, ports) = rest.split_once(':').expect("proto:ports");
                let net = net_of(net);
                assert_eq!(net.addr().is_ipv4(), v4, "{line} in {set}");
                let (a, b) = match ports.split_once('-') {
                    Some((a, b)) => (port_of(a), port_of(b)),
                    None => (port_of(ports), port_of(ports)),
                };
                c.allowed.push((net, proto_of(proto), a, b));
            }
        }
        for (tool, v4) in [
            ("iptables-restore --noflush", true),
            ("ip6tables-restore --noflush", false),
        ] {
            let body: Vec<&str> = script
                .lines()
                .skip_while(|l| !l.starts_with(tool))
                .skip(1)
                .take_while(|l| *l != "EOF")
                .collect();
            let allow_at = body
                .iter()
                .position(|l| l.contains("-m set --match-set portreeve-allow"))
                .expect("the allowance rule");
            for (i, line) in body.iter().enumerate() {
                if !line.starts_with("-A PORTREEVE-INPUT ")
                    || !line.contains("\"banned ports\" -j DROP")
                {
                    continue;
                }
                assert!(i < allow_at, "{tool}: a ban after the allowances");
                let mut words = line.split_whitespace();
                let proto = words
                    .by_ref()
                    .skip_while(|w| *w != "-p")
                    .nth(1)
                    .expect("-p PROTO");
                let list = words
                    .skip_while(|w| *w != "--dports")
                    .nth(1)
                    .expect("--dports LIST");
                for item in list.split(',') {
                    let (a, b) = item.split_once(':').unwrap_or((item, item));
                    c.banned.push((v4, proto_of(proto), port_of(a), port_of(b)));
                }
            }
        }
        c
    }

    /// The chain of the iptables script that judges ports published by
    /// DNAT, `PORTREEVE-PUBLISHED`, read back from the script: one rule per
    /// allowance and ban, matched on the original destination port.
    pub fn of_iptables_published(script: &str) -> Compiled {
        let mut c = Compiled::default();
        for (tool, v4) in [
            ("iptables-restore --noflush", true),
            ("ip6tables-restore --noflush", false),
        ] {
            let chain: Vec<&str> = script
                .lines()
                .skip_while(|l| !l.starts_with(tool))
                .take_while(|l| *l != "EOF")
                .filter_map(|l| l.strip_prefix("-A PORTREEVE-PUBLISHED "))
                .collect();
            let mut accepted = false;
            for rule in chain {
                let words: Vec<&str> = rule.split_whitespace().collect();
                let after =
                    |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1]);
                let Some(ports) = after("--ctorigdstport") else {
                    continue;
                };
                let (a, b) = ports.split_once(':').unwrap_or((ports, ports));
                let proto = proto_of(after("-p").expect("-p PROTO"));
                let (a, b) = (port_of(a), port_of(b));
                if rule.ends_with("\"banned ports\" -j DROP") {
                    assert!(!accepted, "{tool}: a published ban after an allowance");
                    c.banned.push((v4, proto, a, b));
                } else if rule.ends_with("-j ACCEPT") {
                    accepted = true;
                    let net = net_of(after("-s").expect("-s NET"));
                    assert_eq!(net.addr().is_ipv4(), v4, "{rule} in {tool}");
                    c.allowed.push((net, proto, a, b));
                }
            }
        }
        c
    }

    /// Sets as `nft -j list set` shows them (the kernel's view once loaded):
    /// `allowed_v4`, `allowed_v6` and `banned`.
    pub fn of_nft_json(sets: &[serde_json::Value]) -> Compiled {
        use serde_json::Value;
        let mut c = Compiled::default();
        for listing in sets {
            let set = listing["nftables"]
                .as_array()
                .expect("an nftables array")
                .iter()
                .find_map(|i| i.get("set"))
                .expect("a set");
            let name = set["name"].as_str().expect("a set name");
            for e in set["elem"].as_array().into_iter().flatten() {
                let e = e.get("elem").map_or(e, |inner| &inner["val"]);
                let parts = e["concat"].as_array().expect("a concatenation");
                let ports = |v: &Value| match v {
                    Value::Object(o) => {
                        let r = o["range"].as_array().expect("a port range");
                        (json_port(&r[0]), json_port(&r[1]))
                    }
                    v => (json_port(v), json_port(v)),
                };
                match (name, &parts[..]) {
                    ("banned", [proto, p]) => {
                        let (a, b) = ports(p);
                        for f in [true, false] {
                            c.banned
                                .push((f, proto_of(proto.as_str().expect("a protocol")), a, b));
                        }
                    }
                    ("allowed_v4" | "allowed_v6", [net, proto, p]) => {
                        let (a, b) = ports(p);
                        for n in json_nets(net) {
                            c.allowed.push((
                                n,
                                proto_of(proto.as_str().expect("a protocol")),
                                a,
                                b,
                            ));
                        }
                    }
                    _ => panic!("unexpected element of {name}: {e}"),
                }
            }
        }
        c
    }
}

/// Checks that the nft text judges ports published by DNAT as its input
/// chain judges the rest, with the same sets, so that what the sets decide
/// holds for both: the forward hook sends exactly the new, DNAT'd TCP and
/// UDP connections to the `published` chain, which drops banned ports
/// before any allowance accepts, keyed by the original destination port
/// for each protocol.
fn check_published_chain(text: &str) {
    let forward = text
        .split("\tchain forward {\n")
        .nth(1)
        .expect("a forward chain");
    let forward = &forward[..forward.find("\n\t}").expect("the chain ends")];
    let rules: Vec<&str> = forward.lines().map(str::trim).collect();
    assert_eq!(
        rules,
        [
            "type filter hook forward priority filter - 10; policy accept;",
            "ct state new ct status dnat meta l4proto { tcp, udp } jump published comment \"published ports\"",
        ],
        "the forward chain passes everything but new DNAT'd connections"
    );
    let published = text
        .split("\tchain published {\n")
        .nth(1)
        .expect("a published chain");
    let published = &published[..published.find("\n\t}").expect("the chain ends")];
    for proto in Proto::ALL {
        let key = format!("meta l4proto {proto} ");
        let at = |lookup: &str| {
            published
                .lines()
                .position(|l| l.trim().starts_with(&key) && l.contains(lookup))
                .unwrap_or_else(|| {
                    panic!("no {proto} `{lookup}` in the published chain:\n{published}")
                })
        };
        let banned = at("meta l4proto . ct original proto-dst @banned drop");
        for set in ["@allowed_v4", "@allowed_v6"] {
            let family = if set.ends_with("v4") { "ip" } else { "ip6" };
            let allowed = at(&format!(
                "{family} saddr . meta l4proto . ct original proto-dst {set} "
            ));
            assert!(banned < allowed, "{proto}: a ban after {set}:\n{published}");
        }
    }
}

/// A network as nft's JSON writes it: an address, a prefix, or a range
/// (which becomes the CIDRs covering it exactly).
fn json_nets(v: &serde_json::Value) -> Vec<IpNet> {
    if let Some(s) = v.as_str() {
        return vec![net_of(s)];
    }
    if let Some(p) = v.get("prefix") {
        let len = u8::try_from(p["len"].as_u64().expect("a prefix length")).expect("fits");
        let addr: IpAddr = p["addr"]
            .as_str()
            .expect("an address")
            .parse()
            .expect("an address");
        return vec![IpNet::new(addr, len).expect("a valid prefix")];
    }
    let r = v["range"].as_array().expect("an address range");
    let (from, to): (IpAddr, IpAddr) = (
        r[0].as_str().unwrap().parse().unwrap(),
        r[1].as_str().unwrap().parse().unwrap(),
    );
    match (from, to) {
        (IpAddr::V4(a), IpAddr::V4(b)) => ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => panic!("a range across families: {v}"),
    }
}

fn json_port(v: &serde_json::Value) -> u16 {
    u16::try_from(v.as_u64().expect("a port number")).expect("a port")
}

fn nft_ports(s: &str) -> (u16, u16) {
    match s.split_once('-') {
        Some((a, b)) => (port_of(a), port_of(b)),
        None => (port_of(s), port_of(s)),
    }
}

fn port_of(s: &str) -> u16 {
    s.parse().unwrap_or_else(|_| panic!("`{s}` is not a port"))
}

fn proto_of(s: &str) -> Proto {
    match s {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => panic!("`{s}` is not a protocol"),
    }
}

/// A CIDR, or a bare address as a host network.
fn net_of(s: &str) -> IpNet {
    s.parse()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .unwrap_or_else(|_| panic!("`{s}` is not a network"))
}

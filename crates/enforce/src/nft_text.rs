//! nftables text: the ruleset a [`Ruleset`] compiles to, the transactions
//! that install it, and the run-time state carried across installs.
//!
//! Everything lives in one `inet` table, `portreeve`, so IPv4 and IPv6 share
//! one ruleset and nothing else on the host is touched. The input chain's
//! policy is `accept` and it ends in an explicit default rule: were the chain
//! ever flushed by hand, the host would fall open, not lock its operator out.
//! A forward chain judges the one kind of forwarded traffic that is really
//! traffic to this host: new connections to a port published by DNAT, which
//! never reach the input hook. While a circuit breaker overflows a port,
//! two NAT chains at the end of the table send its new connections to a
//! backup pool ([`crate::overflow`]).
//!
//! Elements are written one per line so that `portreeve plan` diffs read
//! like a change to the policy.

use std::fmt::Write as _;

use ipnet::{Ipv4Net, Ipv6Net};
use portreeve_core::Proto;
use portreeve_policy::{DefaultAction, DropLog};

use crate::ruleset::{Allowance, PortLimits, PortSpan, Ruleset};

mod overflow;
pub(crate) mod scan;

/// portreeve's table: `table inet portreeve`.
pub const TABLE: &str = "portreeve";

/// Sets whose elements the kernel or `portreeve grant` changes at run time
/// and that every install carries over (where the new ruleset still has
/// them: the blocked scanners' sets exist only under `scan = "block"`).
pub const DYNAMIC_SETS: [&str; 7] = [
    "grants_v4",
    "grants_v6",
    "blocklist_v4",
    "blocklist_v6",
    "seen",
    scan::BLOCKED_SETS[0],
    scan::BLOCKED_SETS[1],
];

/// The set recording each port's last new connection.
pub const SEEN_SET: &str = "seen";

/// The set holding one element: the number of the generation this table
/// is. It is filled in the same transaction that installs the table, so
/// the kernel itself says which generation is live — also when the
/// process that applied it died before it could write that down.
pub const GENERATION_SET: &str = "generation";

/// Renders the ruleset as a self-contained `table inet portreeve { … }`.
pub fn render(r: &Ruleset) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# portreeve ruleset compiled from {}", r.origin);
    let _ = writeln!(
        out,
        "# Do not edit: `portreeve apply` replaces this table as a whole."
    );
    let _ = writeln!(out, "table inet {TABLE} {{");

    if !r.zones.is_empty() {
        let _ = writeln!(
            out,
            "\t# The policy's zones, for reference: allowed_v4/v6 are compiled from them."
        );
    }
    for z in &r.zones {
        set(
            &mut out,
            &format!("zone_{}_v4", z.name),
            "ipv4_addr",
            "interval",
            None,
            z.v4.iter().map(ToString::to_string),
        );
        set(
            &mut out,
            &format!("zone_{}_v6", z.name),
            "ipv6_addr",
            "interval",
            None,
            z.v6.iter().map(ToString::to_string),
        );
    }
    let _ = writeln!(
        out,
        "\t# Every (source, protocol, port) the rules allow, made disjoint."
    );
    set(
        &mut out,
        "allowed_v4",
        "ipv4_addr . inet_proto . inet_service",
        "interval",
        None,
        r.allowed_v4.iter().map(allowance::<Ipv4Net>),
    );
    set(
        &mut out,
        "allowed_v6",
        "ipv6_addr . inet_proto . inet_service",
        "interval",
        None,
        r.allowed_v6.iter().map(allowance::<Ipv6Net>),
    );
    set(
        &mut out,
        "banned",
        "inet_proto . inet_service",
        "interval",
        None,
        r.banned.iter().map(span),
    );
    let _ = writeln!(
        out,
        "\t# Run-time sets: grants and blocks expire in the kernel."
    );
    set(
        &mut out,
        "grants_v4",
        "ipv4_addr . inet_proto . inet_service",
        "interval,timeout",
        None,
        std::iter::empty(),
    );
    set(
        &mut out,
        "grants_v6",
        "ipv6_addr . inet_proto . inet_service",
        "interval,timeout",
        None,
        std::iter::empty(),
    );
    set(
        &mut out,
        "blocklist_v4",
        "ipv4_addr",
        "interval,timeout",
        None,
        std::iter::empty(),
    );
    set(
        &mut out,
        "blocklist_v6",
        "ipv6_addr",
        "interval,timeout",
        None,
        std::iter::empty(),
    );
    let _ = writeln!(
        out,
        "\t# Last new connection per port: last access = timeout - expires."
    );
    set(
        &mut out,
        SEEN_SET,
        "inet_proto . inet_service",
        "dynamic,timeout",
        // Each element counts the new connections accepted for its port.
        Some(format!(
            "timeout {}d; size 65536; counter;",
            r.enforcement.usage_retention_days
        )),
        std::iter::empty(),
    );
    scan::sets(&mut out, r);
    for (i, l) in r.limits.iter().enumerate() {
        limit_sets(&mut out, i, l);
    }
    if !r.limits.is_empty() {
        let _ = writeln!(out, "\tmap limits {{");
        let _ = writeln!(out, "\t\ttype inet_proto . inet_service : verdict");
        let _ = writeln!(out, "\t\tflags interval");
        let _ = writeln!(out, "\t\telements = {{");
        let entries: Vec<String> = r
            .limits
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.spans
                    .iter()
                    .map(move |s| format!("{} : jump limit_{i}", span(s)))
            })
            .collect();
        out.push_str(&element_lines(&entries));
        let _ = writeln!(out, "\t\t}}");
        let _ = writeln!(out, "\t}}\n");
    }
    for (i, l) in r.limits.iter().enumerate() {
        limit_chain(&mut out, i, l);
    }
    scan::chain(&mut out, r);
    input_chain(&mut out, r);
    let _ = writeln!(out);
    published_chain(&mut out, r);
    let _ = writeln!(out);
    forward_chain(&mut out);
    overflow::chains(&mut out, &r.overflows);
    let _ = writeln!(out, "}}");
    out
}

fn allowance<N: std::fmt::Display>(a: &Allowance<N>) -> String {
    format!("{} . {} . {}", a.source, a.protocol, a.ports)
}

fn span(s: &PortSpan) -> String {
    format!("{} . {}", s.protocol, s.ports)
}

/// Set or map elements, one per line, each with its own trailing comma: a
/// diff between two rulesets then shows only the elements added or
/// removed, not the neighbour whose separator moved.
fn element_lines(elements: &[String]) -> String {
    elements.iter().map(|e| format!("\t\t\t{e},\n")).collect()
}

/// Writes a named set; `extra` holds further declarations (`timeout 30d;`).
fn set(
    out: &mut String,
    name: &str,
    ty: &str,
    flags: &str,
    extra: Option<String>,
    elements: impl Iterator<Item = String>,
) {
    let _ = writeln!(out, "\tset {name} {{");
    let _ = writeln!(out, "\t\ttype {ty}");
    let _ = writeln!(out, "\t\tflags {flags}");
    if let Some(extra) = extra {
        for decl in extra.split(';').map(str::trim).filter(|d| !d.is_empty()) {
            let _ = writeln!(out, "\t\t{decl}");
        }
    }
    let elements: Vec<String> = elements.collect();
    if !elements.is_empty() {
        let _ = write!(
            out,
            "\t\telements = {{\n{}\t\t}}\n",
            element_lines(&elements)
        );
    }
    let _ = writeln!(out, "\t}}\n");
}

/// The per-source sets a rule's limits need.
fn limit_sets(out: &mut String, i: usize, l: &PortLimits) {
    if l.limits.new_per_second_per_source.is_some() {
        for (family, ty) in [("v4", "ipv4_addr"), ("v6", "ipv6_addr")] {
            set(
                out,
                &format!("limit_{i}_rate_{family}"),
                ty,
                "dynamic,timeout",
                Some("timeout 1m; size 65536;".into()),
                std::iter::empty(),
            );
        }
    }
    if l.limits.connections_per_source.is_some() {
        for (family, ty) in [("v4", "ipv4_addr"), ("v6", "ipv6_addr")] {
            set(
                out,
                &format!("limit_{i}_conn_{family}"),
                ty,
                "dynamic",
                Some("size 65536;".into()),
                std::iter::empty(),
            );
        }
    }
}

/// The chain new connections to a limited port jump to.
fn limit_chain(out: &mut String, i: usize, l: &PortLimits) {
    let burst = l.limits.burst;
    let _ = writeln!(out, "\tchain limit_{i} {{");
    let _ = writeln!(out, "\t\t# limits of rule {}", quoted(&l.rule));
    if let Some(rate) = l.limits.new_per_second {
        let _ = writeln!(
            out,
            "\t\tlimit rate over {rate}/second burst {burst} packets drop comment \"new connections per second\""
        );
    }
    if let Some(rate) = l.limits.new_per_second_per_source {
        for (family, addr) in [("v4", "ip saddr"), ("v6", "ip6 saddr")] {
            let _ = writeln!(
                out,
                "\t\tadd @limit_{i}_rate_{family} {{ {addr} limit rate over {rate}/second burst {burst} packets }} drop comment \"new connections per second per source\""
            );
        }
    }
    if let Some(max) = l.limits.connections_per_source {
        for (family, addr) in [("v4", "ip saddr"), ("v6", "ip6 saddr")] {
            for proto in l.protocols() {
                let _ = writeln!(
                    out,
                    "\t\tmeta l4proto {proto} add @limit_{i}_conn_{family} {{ {addr} ct count over {max} }} {} comment \"concurrent connections per source\"",
                    refusal(proto)
                );
            }
        }
    }
    // The total comes last, so connections refused above never count
    // towards it. One `ct count` without a set keeps one list of
    // connections, across sources, families and protocols: a connection
    // within the cap returns, anything reaching the refusals is over it.
    if let Some(max) = l.limits.connections {
        let _ = writeln!(
            out,
            "\t\tct count {max} return comment \"concurrent connections\""
        );
        for proto in l.protocols() {
            let _ = writeln!(
                out,
                "\t\tmeta l4proto {proto} {} comment \"concurrent connections\"",
                refusal(proto)
            );
        }
    }
    let _ = writeln!(out, "\t\treturn");
    let _ = writeln!(out, "\t}}\n");
}

/// How a connection over a connection cap is refused: a TCP reset, or
/// ICMP port unreachable for UDP.
fn refusal(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "reject with tcp reset",
        Proto::Udp => "reject",
    }
}

/// Where a chain reads the port a new connection is for, and the protocol
/// context that reading needs.
struct PortMatch {
    /// Written before every rule that reads the port: empty for `th dport`,
    /// `meta l4proto tcp ` for `ct original proto-dst`, which nft can only
    /// put in a concatenation once the protocol is fixed.
    context: String,
    /// The port expression.
    port: &'static str,
}

impl PortMatch {
    /// The packet's own destination port: what the input hook sees.
    fn packet() -> Vec<PortMatch> {
        vec![PortMatch {
            context: String::new(),
            port: "th dport",
        }]
    }

    /// The destination port the client asked for before a DNAT rewrote
    /// it, one key per protocol.
    fn original() -> Vec<PortMatch> {
        Proto::ALL
            .into_iter()
            .map(|proto| PortMatch {
                context: format!("meta l4proto {proto} "),
                port: "ct original proto-dst",
            })
            .collect()
    }
}

/// Blocked sources: dropped whatever the port.
fn blocklist_rules() -> Vec<String> {
    vec![
        "ip saddr @blocklist_v4 drop comment \"blocked sources\"".into(),
        "ip6 saddr @blocklist_v6 drop comment \"blocked sources\"".into(),
    ]
}

fn banned_rules(keys: &[PortMatch]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            format!(
                "{}meta l4proto . {} @banned drop comment \"banned ports\"",
                k.context, k.port
            )
        })
        .collect()
}

fn limit_rules(r: &Ruleset, keys: &[PortMatch]) -> Vec<String> {
    if r.limits.is_empty() {
        return Vec::new();
    }
    keys.iter()
        .map(|k| format!("{}meta l4proto . {} vmap @limits", k.context, k.port))
        .collect()
}

/// Allowances and grants: record the port in `seen`, accept.
fn admission_rules(keys: &[PortMatch]) -> Vec<String> {
    let mut rules = Vec::new();
    for (set, comment) in [("allowed", ""), ("grants", " comment \"grants\"")] {
        for (addr, family) in [("ip", "v4"), ("ip6", "v6")] {
            for k in keys {
                let (context, port) = (&k.context, k.port);
                rules.push(format!(
                    "{context}{addr} saddr . meta l4proto . {port} @{set}_{family} \
                     update @{SEEN_SET} {{ meta l4proto . {port} counter }} accept{comment}"
                ));
            }
        }
    }
    rules
}

/// Rate-limited logging, if wanted, and the default action.
fn closing_rules(r: &Ruleset) -> Vec<String> {
    let e = &r.enforcement;
    let mut rules = Vec::new();
    match e.log {
        DropLog::Off => {}
        DropLog::Nflog => rules.push(format!(
            "limit rate {}/second burst {} packets log prefix \"{}\" group {}",
            e.log_rate_per_second,
            e.log_rate_per_second.saturating_mul(2),
            DropLog::PREFIX,
            e.log_group
        )),
        // At level warn, nft's default (which it leaves out of listings).
        DropLog::Kernel => rules.push(format!(
            "limit rate {per_minute}/minute burst {per_minute} packets log prefix \"{}\"",
            DropLog::PREFIX,
            per_minute = DropLog::KERNEL_PER_MINUTE,
        )),
    }
    match e.default_action {
        DefaultAction::Drop => rules.push("drop comment \"default\"".into()),
        DefaultAction::Reject => {
            rules.push("meta l4proto tcp reject with tcp reset comment \"default\"".into());
            rules.push("reject with icmpx type port-unreachable comment \"default\"".into());
        }
    }
    rules
}

fn chain(out: &mut String, name: &str, rules: &[String]) {
    let _ = writeln!(out, "\tchain {name} {{");
    for rule in rules {
        let _ = writeln!(out, "\t\t{rule}");
    }
    let _ = writeln!(out, "\t}}");
}

fn input_chain(out: &mut String, r: &Ruleset) {
    let e = &r.enforcement;
    let keys = PortMatch::packet();
    let mut rules: Vec<String> = vec![
        "type filter hook input priority filter; policy accept;".into(),
        "iif \"lo\" accept".into(),
        "ct state established,related accept".into(),
    ];
    // Blocked sources are dropped before stealth probes are counted: a
    // blocked stealth scanner's packets never reach the scan chain (and
    // its log to the agent).
    rules.extend(blocklist_rules());
    rules.extend(scan::blocked_rules(r));
    rules.extend(scan::stealth_rules(r));
    rules.push("ct state invalid drop".into());
    rules.extend(scan::banned_probe_rules(r));
    rules.extend(banned_rules(&keys));
    rules.extend([
        "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept".into(),
        "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept".into(),
        "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"neighbour discovery\"".into(),
        "ip6 saddr fe80::/10 icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } accept".into(),
    ]);
    if e.allow_ping {
        rules.push("icmp type echo-request accept".into());
        rules.push("icmpv6 type echo-request accept".into());
    }
    if e.allow_dhcp_client {
        rules.push(
            "meta nfproto ipv4 udp sport 67 udp dport 68 accept comment \"DHCP client\"".into(),
        );
        rules.push(
            "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept comment \"DHCPv6 client\""
                .into(),
        );
    }
    rules.extend(limit_rules(r, &keys));
    rules.extend(admission_rules(&keys));
    rules.extend(scan::closed_port_rules(r));
    rules.extend(closing_rules(r));
    chain(out, "input", &rules);
}

/// The forward hook: new TCP and UDP connections that a DNAT in
/// `prerouting` sent on to a container or another host (Docker's `-p`,
/// Podman's, kube-proxy's hostPort and NodePort) go to [`published_chain`];
/// everything else forwarded — routing, container to container, replies —
/// passes untouched.
///
/// The priority, `filter - 10`, runs it before the `filter` chains of
/// other tables, Docker's and kube-proxy's `FORWARD` among them. The order
/// does not change the outcome — a drop in any base chain of the hook is
/// final, and an accept here ends only this chain — but a connection the
/// policy refuses is refused before other rulesets count or log it.
fn forward_chain(out: &mut String) {
    chain(
        out,
        "forward",
        &[
            "type filter hook forward priority filter - 10; policy accept;".into(),
            "ct state new ct status dnat meta l4proto { tcp, udp } jump published comment \"published ports\""
                .into(),
        ],
    );
}

/// The input chain's judgement, for connections to a port published by
/// DNAT: the same sets, the same order, keyed by the port the client asked
/// for (`ct original proto-dst`) rather than the container's port the
/// packet now carries. The source is untouched by DNAT.
fn published_chain(out: &mut String, r: &Ruleset) {
    let keys = PortMatch::original();
    let mut rules = blocklist_rules();
    rules.extend(scan::blocked_rules(r));
    rules.extend(banned_rules(&keys));
    rules.extend(limit_rules(r, &keys));
    rules.extend(admission_rules(&keys));
    rules.extend(closing_rules(r));
    chain(out, "published", &rules);
}

/// `s` as an nftables string literal. nft strings cannot escape quotes, so
/// quotes are replaced.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace(['"', '\n'], "'"))
}

/// A run-time set element as nft lists it, to be written back with its
/// remaining lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedElement {
    /// The key in nft syntax, e.g. `192.0.2.7 . tcp . 8080`.
    pub key: String,
    /// The element's timeout, in seconds.
    pub timeout_s: Option<u64>,
    /// Seconds until it expires.
    pub expires_s: Option<u64>,
    /// The element's counter (packets, bytes), in sets that keep one.
    pub counter: Option<(u64, u64)>,
}

/// The run-time contents of the [`DYNAMIC_SETS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicState {
    /// Set name → elements.
    pub sets: Vec<(String, Vec<TimedElement>)>,
}

/// The transaction that replaces portreeve's table with `static_ruleset`
/// (from [`render`]) and re-adds the run-time elements of `state`, atomically:
/// nft applies the whole file or nothing.
pub fn replace_transaction(static_ruleset: &str, state: &DynamicState, generation: u64) -> String {
    let mut out = format!("table inet {TABLE}\ndelete table inet {TABLE}\n{static_ruleset}");
    // Declared here rather than in the static ruleset, so rulesets stored
    // before the marker existed restore as they are. A generation number
    // past 32 bits cannot be a mark; it would take billions of applies.
    let _ = writeln!(
        out,
        "add set inet {TABLE} {GENERATION_SET} {{ type mark; }}\nadd element inet {TABLE} {GENERATION_SET} {{ {} }}",
        u32::try_from(generation).unwrap_or(u32::MAX)
    );
    // Blocked scanners go when the new ruleset turns blocking off.
    let kept = |set: &str| {
        !scan::BLOCKED_SETS.contains(&set) || static_ruleset.contains(&format!("\tset {set} {{\n"))
    };
    for (set, elements) in state.sets.iter().filter(|(set, _)| kept(set)) {
        let live: Vec<String> = elements
            .iter()
            .filter(|e| e.expires_s != Some(0))
            .map(|e| {
                let mut s = e.key.clone();
                // Counts carry over a re-apply as lifetimes do (nft wants
                // the counter before the timeout).
                if let Some((packets, bytes)) = e.counter {
                    let _ = write!(s, " counter packets {packets} bytes {bytes}");
                }
                if let Some(t) = e.timeout_s {
                    let _ = write!(s, " timeout {t}s");
                }
                if let Some(x) = e.expires_s {
                    let _ = write!(s, " expires {x}s");
                }
                s
            })
            .collect();
        if !live.is_empty() {
            let _ = writeln!(
                out,
                "add element inet {TABLE} {set} {{ {} }}",
                live.join(", ")
            );
        }
    }
    out
}

/// The transaction that removes portreeve's table (and only it), whether or
/// not it exists.
pub fn delete_transaction() -> String {
    format!("table inet {TABLE}\ndelete table inet {TABLE}\n")
}

/// The elements of a set as `nft -j list set` shows them. An element added
/// by the packet path carries the set's default timeout, which nft lists on
/// the set, not the element; it is filled in here.
pub fn timed_elements(set_listing: &serde_json::Value) -> Vec<TimedElement> {
    let sets = set_listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| &item["set"]);
    sets.flat_map(|set| {
        let default_timeout = set["timeout"].as_u64();
        set["elem"]
            .as_array()
            .into_iter()
            .flatten()
            .map(move |e| (e, default_timeout))
    })
    .map(|(e, default_timeout)| match e.get("elem") {
        Some(inner) => TimedElement {
            key: key_text(&inner["val"]),
            timeout_s: inner["timeout"].as_u64().or(default_timeout),
            expires_s: inner["expires"].as_u64(),
            counter: inner["counter"]["packets"]
                .as_u64()
                .zip(inner["counter"]["bytes"].as_u64()),
        },
        None => TimedElement {
            key: key_text(e),
            timeout_s: default_timeout,
            expires_s: None,
            counter: None,
        },
    })
    .collect()
}

/// An element key from nft's JSON back into nft syntax.
fn key_text(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => {
            if let Some(p) = o.get("prefix") {
                format!("{}/{}", key_text(&p["addr"]), p["len"])
            } else if let Some(Value::Array(r)) = o.get("range") {
                let ends: Vec<String> = r.iter().map(key_text).collect();
                ends.join("-")
            } else if let Some(Value::Array(c)) = o.get("concat") {
                let parts: Vec<String> = c.iter().map(key_text).collect();
                parts.join(" . ")
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input chain's last rules under `[enforce]` `settings`.
    fn input_tail(settings: &str) -> Vec<String> {
        let policy =
            portreeve_policy::parse_policy("t.toml", &format!("[enforce]\n{settings}")).unwrap();
        let text = render(&Ruleset::compile(&policy).unwrap());
        let body = text.split("\tchain input {\n").nth(1).unwrap();
        let rules: Vec<String> = body[..body.find("\n\t}").unwrap()]
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        rules[rules.len() - 2..].to_vec()
    }

    #[test]
    fn dropped_packets_are_logged_where_the_policy_says_just_before_the_drop() {
        let drop = "drop comment \"default\"";
        assert_eq!(
            input_tail("log = \"kernel\"\n"),
            [
                "limit rate 10/minute burst 10 packets log prefix \"portreeve drop: \"",
                drop
            ]
        );
        let nflog = [
            "limit rate 10/second burst 20 packets log prefix \"portreeve drop: \" group 0",
            drop,
        ];
        assert_eq!(input_tail("log = \"nflog\"\n"), nflog);
        assert_eq!(input_tail(""), nflog, "NFLOG is the default, as before");
        let off = input_tail("log = \"off\"\n");
        assert_eq!(off[1], drop);
        assert!(!off[0].contains(" log "), "{off:?}");
        assert_eq!(input_tail("log_dropped = false\n"), off);
    }

    #[test]
    fn published_ports_meet_the_input_chains_judgement_by_their_original_port() {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            "[zones]\nlan = [\"10.0.0.0/8\"]\n[enforce]\ndefault_action = \"reject\"\n\
             [[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
             limits = { new_per_second = 5 }\n",
        )
        .unwrap();
        let text = render(&Ruleset::compile(&policy).unwrap());
        let chain = |name: &str| -> Vec<String> {
            let body = text.split(&format!("\tchain {name} {{\n")).nth(1).unwrap();
            body[..body.find("\n\t}").unwrap()]
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        };
        let published = chain("published");
        let input = chain("input");
        // Every input decision but those about this host's own traffic
        // (loopback, replies, ICMP, DHCP) has its counterpart, per protocol.
        for rule in input
            .iter()
            .filter(|r| r.contains("@") || r.starts_with("limit rate") || r.contains("\"default\""))
        {
            let wanted: Vec<String> = if rule.contains("th dport") {
                Proto::ALL
                    .iter()
                    .map(|p| {
                        format!(
                            "meta l4proto {p} {}",
                            rule.replace("th dport", "ct original proto-dst")
                        )
                    })
                    .collect()
            } else {
                vec![rule.clone()]
            };
            for w in wanted {
                assert!(published.contains(&w), "{w} missing from\n{published:#?}");
            }
        }
        assert_eq!(published.len(), 17, "{published:#?}");
        assert!(!published.iter().any(|r| r.contains("th dport")));
    }

    #[test]
    fn set_listings_turn_back_into_nft_keys() {
        let listing: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {}}, {"set": {"name": "grants_v4", "timeout": 60, "elem": [
                {"elem": {"val": {"concat": ["192.0.2.1", "tcp", 8080]}, "timeout": 3600, "expires": 3599}},
                {"elem": {"val": {"concat": [{"prefix": {"addr": "10.0.0.0", "len": 8}}, "udp", {"range": [53, 54]}]}, "timeout": 60, "expires": 0}},
                {"prefix": {"addr": "198.51.100.0", "len": 24}}
            ]}}]}"#,
        )
        .unwrap();
        let got = timed_elements(&listing);
        assert_eq!(got[0].key, "192.0.2.1 . tcp . 8080");
        assert_eq!(
            (got[0].timeout_s, got[0].expires_s),
            (Some(3600), Some(3599))
        );
        assert_eq!(got[1].key, "10.0.0.0/8 . udp . 53-54");
        assert_eq!(got[2].key, "198.51.100.0/24");
        assert_eq!(got[2].timeout_s, Some(60), "the set's default timeout");
    }

    #[test]
    fn seen_elements_carry_their_connection_counts_across_a_reapply() {
        // As nft 1.0.6 lists the `seen` set after two connections to 22.
        let listing: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"set": {"name": "seen", "timeout": 2592000, "elem": [
                {"elem": {"val": {"concat": ["tcp", 22]}, "expires": 2591990, "counter": {"packets": 2, "bytes": 120}}}
            ], "stmt": [{"counter": null}]}}]}"#,
        )
        .unwrap();
        let got = timed_elements(&listing);
        assert_eq!(got[0].key, "tcp . 22");
        assert_eq!(got[0].counter, Some((2, 120)));
        let state = DynamicState {
            sets: vec![("seen".into(), got)],
        };
        let t = replace_transaction("table inet portreeve {\n}\n", &state, 1);
        assert!(
            t.contains(
                "{ tcp . 22 counter packets 2 bytes 120 timeout 2592000s expires 2591990s }"
            ),
            "{t}"
        );
    }

    #[test]
    fn replacing_carries_live_elements_and_drops_expired_ones() {
        let state = DynamicState {
            sets: vec![(
                "grants_v4".into(),
                vec![
                    TimedElement {
                        key: "192.0.2.1 . tcp . 8080".into(),
                        timeout_s: Some(3600),
                        expires_s: Some(10),
                        counter: None,
                    },
                    TimedElement {
                        key: "192.0.2.2 . tcp . 8080".into(),
                        timeout_s: Some(3600),
                        expires_s: Some(0),
                        counter: None,
                    },
                ],
            )],
        };
        let t = replace_transaction("table inet portreeve {\n}\n", &state, 7);
        assert!(t.starts_with("table inet portreeve\ndelete table inet portreeve\n"));
        assert!(
            t.contains("add element inet portreeve generation { 7 }"),
            "the table says which generation it is: {t}"
        );
        assert!(t.contains("add element inet portreeve grants_v4 { 192.0.2.1 . tcp . 8080 timeout 3600s expires 10s }"));
        assert!(!t.contains("192.0.2.2"));
    }
}

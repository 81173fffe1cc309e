//! iptables text: the ruleset a [`Ruleset`] compiles to, for hosts without
//! nftables, as one `sh` script an operator reviews and runs as root
//! (`portreeve render --target iptables`). portreeve only renders it; it never
//! runs it.
//!
//! The script makes the same decisions, in the same order, as the input chain
//! of [`crate::nft_text`]: loopback, established and related traffic, invalid
//! packets, blocked sources, banned ports, the ICMP and ICMPv6 essentials,
//! ping, DHCP client replies, per-rule limits, allowances, grants, rate-limited
//! logging, and the default drop or reject. What nftables holds in one `inet`
//! table is split here between three tools:
//!
//! - **ipset** holds the allowances (`hash:net,port`, one entry per port: a
//!   port range expands), the grants (`hash:net,port` with timeout support)
//!   and the blocked sources (`hash:net` with timeout support), one set per
//!   address family. ipset refuses `/0` networks, so "everywhere" is written
//!   as its two `/1` halves. Banned ports are plain `multiport` rules: they
//!   are few, and no set type holds a protocol and a port range without an
//!   address.
//! - **iptables** and **ip6tables** each get a chain `PORTREEVE-INPUT`, one
//!   `PORTREEVE-LIMIT-N` chain per rule with limits, and one jump at the top
//!   of `INPUT`; and a chain `PORTREEVE-PUBLISHED`, jumped to from the top of
//!   `FORWARD` by new TCP and UDP connections a DNAT rewrote (ports Docker,
//!   Podman or kube-proxy publish), which judges them as the input chain
//!   would, by their original destination port (`-m conntrack
//!   --ctorigdstport`). Nothing else in any table is touched.
//!
//! Re-running the script is safe and replaces the ruleset: declaring a chain
//! in `iptables-restore --noflush` empties it, the allowance sets are filled
//! under a temporary name and swapped in at once, and older jumps to the
//! chain are removed after the new one is in place, so the host is never left
//! without the ruleset in between. Grants and blocks are run-time state and
//! survive a re-run.
//!
//! Not emulated: the nftables ruleset also records each port's last new
//! connection in its `seen` set, from which portreeve learns when a port was
//! last used. iptables has nothing equivalent worth emulating, so hosts
//! running this script report no port usage to portreeve.
//!
//! Where iptables cannot say exactly what nftables says:
//!
//! - a rule's global `new_per_second` limit is one token bucket shared by
//!   IPv4 and IPv6 in nftables, but one bucket per family here (iptables and
//!   ip6tables keep separate state), so both families together may reach
//!   twice the rate; the same holds for the logging rate;
//! - a rule's `connections` cap is one count across both families in
//!   nftables, but one count per family here, so IPv4 and IPv6 together
//!   may hold twice the cap;
//! - `hashlimit` accepts at most 1,000,000 per second and a burst of at most
//!   1,000,000: larger policy values are lowered to that (and the script says
//!   so in a comment);
//! - when a per-source table is full (65,536 sources), `hashlimit` drops new
//!   sources where nftables would let them through unlimited.
//! - ipset cannot key an allowance by the original destination port, so
//!   `PORTREEVE-PUBLISHED` holds one rule per allowance (a linear cost paid
//!   only by new connections to published ports), and grants do not open
//!   published ports.

use std::fmt::Write as _;

use ipnet::{Ipv4Net, Ipv6Net};
use portreeve_core::{PortRange, Proto};
use portreeve_policy::{DefaultAction, DropLog, ScanAction};

use crate::ruleset::{PortLimits, PortSpan, Ruleset};

/// The chain holding the ruleset, in both iptables and ip6tables.
pub const CHAIN: &str = "PORTREEVE-INPUT";

/// The chain judging new connections to ports published by DNAT, jumped to
/// from `FORWARD`.
pub const PUBLISHED_CHAIN: &str = "PORTREEVE-PUBLISHED";

/// The jumps from `FORWARD`, one per protocol: new TCP and UDP connections
/// whose destination a DNAT rewrote, and nothing else forwarded. Written
/// as `iptables -S` lists them, which is how older copies are found.
const PUBLISHED_JUMPS: [&str; 2] = [
    "-p tcp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j PORTREEVE-PUBLISHED",
    "-p udp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j PORTREEVE-PUBLISHED",
];

/// Prefix of the per-rule limit chains: `PORTREEVE-LIMIT-0`, `-1`, …
pub const LIMIT_CHAIN_PREFIX: &str = "PORTREEVE-LIMIT-";

/// The IPv4 allowances: `hash:net,port`, e.g. `10.0.0.0/8,tcp:22`.
pub const ALLOW_SET_V4: &str = "portreeve-allow4";
/// The IPv6 allowances.
pub const ALLOW_SET_V6: &str = "portreeve-allow6";
/// IPv4 grants, added at run time with a timeout.
pub const GRANTS_SET_V4: &str = "portreeve-grants4";
/// IPv6 grants.
pub const GRANTS_SET_V6: &str = "portreeve-grants6";
/// Blocked IPv4 sources, added at run time with a timeout.
pub const BLOCK_SET_V4: &str = "portreeve-block4";
/// Blocked IPv6 sources.
pub const BLOCK_SET_V6: &str = "portreeve-block6";

/// Suffix of the temporary name the allowance sets are filled under.
const NEXT_SUFFIX: &str = "-next";

/// ipset's default `maxelem`; allowance sets get more when they need it.
const DEFAULT_MAXELEM: u64 = 65_536;

/// `multiport` matches at most 15 ports; a range counts as two.
const MULTIPORT_SLOTS: usize = 15;

/// The largest rate and burst `hashlimit` accepts.
const HASHLIMIT_MAX: u32 = 1_000_000;

/// The largest burst `-m limit` accepts.
const LIMIT_BURST_MAX: u32 = 10_000;

/// Per-source limiter state is forgotten after a minute, as the nftables
/// per-source sets time out after one.
const PER_SOURCE_EXPIRE_MS: u32 = 60_000;

/// At most this many sources are tracked per limit, as in nftables.
const PER_SOURCE_MAX: u32 = 65_536;

/// The NFLOG prefix of logged drops, as in nftables.
const LOG_PREFIX: &str = DropLog::PREFIX;

/// Renders the ruleset as a POSIX `sh` script that loads it with ipset,
/// iptables-restore and ip6tables-restore.
pub fn render(r: &Ruleset) -> String {
    let mut out = String::new();
    header(&mut out, r);
    ipsets(&mut out, r);
    for family in [Family::V4, Family::V6] {
        filter_table(&mut out, r, family);
    }
    line(&mut out, "");
    line(&mut out, "# Done.");
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    fn ipset_family(self) -> &'static str {
        match self {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        }
    }

    fn allow_set(self) -> &'static str {
        match self {
            Family::V4 => ALLOW_SET_V4,
            Family::V6 => ALLOW_SET_V6,
        }
    }

    fn grants_set(self) -> &'static str {
        match self {
            Family::V4 => GRANTS_SET_V4,
            Family::V6 => GRANTS_SET_V6,
        }
    }

    fn block_set(self) -> &'static str {
        match self {
            Family::V4 => BLOCK_SET_V4,
            Family::V6 => BLOCK_SET_V6,
        }
    }

    fn host_mask(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    fn port_unreachable(self) -> &'static str {
        match self {
            Family::V4 => "icmp-port-unreachable",
            Family::V6 => "icmp6-port-unreachable",
        }
    }

    /// The `--reject-with` a connection over a connection cap gets.
    fn refusal(self, proto: Proto) -> &'static str {
        match proto {
            Proto::Tcp => "tcp-reset",
            Proto::Udp => self.port_unreachable(),
        }
    }
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

/// Text safe inside a `#` comment: no line breaks or other control
/// characters that could end the comment.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Text safe inside `-m comment --comment "…"`: a conservative character
/// set, at most 200 characters (the kernel keeps 256 bytes).
fn rule_comment(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || " _.,:;/()+=@%-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn header(out: &mut String, r: &Ruleset) {
    let origin = comment_text(&r.origin);
    line(out, "#!/bin/sh");
    let _ = writeln!(out, "# portreeve ruleset compiled from {origin}");
    line(
        out,
        "# rendered for iptables and ipset, for hosts without nftables.",
    );
    line(out, "#");
    line(
        out,
        "# Review it, then run it as root. portreeve never runs it itself.",
    );
    line(
        out,
        "# It makes the same decisions, in the same order, as the nftables ruleset",
    );
    line(
        out,
        "# portreeve compiles from the same policy. Running it again replaces the",
    );
    line(
        out,
        "# ruleset and keeps grants and blocked sources. It touches only the ipsets",
    );
    let _ = writeln!(
        out,
        "# portreeve-*, the chains {CHAIN} and {LIMIT_CHAIN_PREFIX}N of the filter"
    );
    let _ = writeln!(
        out,
        "# table (IPv4 and IPv6), the jump to {CHAIN} at the top of INPUT, and the"
    );
    let _ = writeln!(
        out,
        "# jumps to {PUBLISHED_CHAIN} (ports published by DNAT) at the top of FORWARD."
    );
    line(out, "#");
    line(
        out,
        "# Not emulated: the nftables ruleset also records each port's last new",
    );
    line(
        out,
        "# connection (its `seen` set), from which portreeve learns when a port was",
    );
    line(
        out,
        "# last used. iptables has nothing equivalent worth emulating: hosts running",
    );
    line(out, "# this script report no port usage.");
    scan_detection_note(out, r);
    line(out, "set -e");
}

/// Says, when the policy detects scans, that this script does not: the
/// kernel tier's per-source bucket and its packet-path blocking are
/// nftables sets with stateful elements, which this script does not
/// emulate (docs/enforce.md, "Scan detection in the kernel").
fn scan_detection_note(out: &mut String, r: &Ruleset) {
    if r.detection.scan == ScanAction::Off {
        return;
    }
    line(out, "#");
    line(
        out,
        "# Not compiled: the policy's [detection] (scan detection in the kernel).",
    );
    line(
        out,
        "# This script neither counts nor blocks scanners: use nftables for that.",
    );
}

/// The nets ipset can hold for `n`: ipset refuses `/0`, so it becomes its
/// two halves.
fn v4_nets(n: &Ipv4Net) -> Vec<String> {
    if n.prefix_len() == 0 {
        n.subnets(1)
            .expect("/1 is a valid prefix")
            .map(|s| s.to_string())
            .collect()
    } else {
        vec![n.to_string()]
    }
}

fn v6_nets(n: &Ipv6Net) -> Vec<String> {
    if n.prefix_len() == 0 {
        n.subnets(1)
            .expect("/1 is a valid prefix")
            .map(|s| s.to_string())
            .collect()
    } else {
        vec![n.to_string()]
    }
}

/// `tcp:22`, `tcp:8000-8100`: a `hash:net,port` port part.
fn ipset_port(proto: Proto, ports: PortRange) -> String {
    if ports.start() == ports.end() {
        format!("{proto}:{}", ports.start())
    } else {
        format!("{proto}:{}-{}", ports.start(), ports.end())
    }
}

/// One family's allowances: the source networks in iptables notation,
/// the protocol and the ports of each.
fn allowances(r: &Ruleset, family: Family) -> Vec<(Vec<String>, Proto, PortRange)> {
    match family {
        Family::V4 => r
            .allowed_v4
            .iter()
            .map(|a| (v4_nets(&a.source), a.protocol, a.ports))
            .collect(),
        Family::V6 => r
            .allowed_v6
            .iter()
            .map(|a| (v6_nets(&a.source), a.protocol, a.ports))
            .collect(),
    }
}

/// The `add` elements of one family's allowance set and the number of
/// entries they expand to.
fn allow_elements(r: &Ruleset, family: Family) -> (Vec<String>, u64) {
    let items = allowances(r, family);
    let mut elements = Vec::new();
    let mut entries = 0u64;
    for (nets, proto, ports) in items {
        for net in nets {
            elements.push(format!("{net},{}", ipset_port(proto, ports)));
            entries += u64::from(ports.len());
        }
    }
    (elements, entries)
}

fn ipsets(out: &mut String, r: &Ruleset) {
    line(out, "");
    line(
        out,
        "# --- ipset ------------------------------------------------------------",
    );
    line(
        out,
        "# The sets the rules below match on; they must exist before those rules.",
    );
    line(
        out,
        "# Grants and blocked sources are run-time state: their sets are created",
    );
    line(
        out,
        "# when missing and their contents kept (add elements with a timeout, e.g.",
    );
    let _ = writeln!(
        out,
        "# `ipset add {GRANTS_SET_V4} 192.0.2.7,tcp:9229 timeout 1800`)."
    );
    line(
        out,
        "# The allowances come from the policy: they are filled under a temporary",
    );
    line(
        out,
        "# name and swapped in, so they change at once and are never empty between.",
    );
    for family in [Family::V4, Family::V6] {
        let _ = writeln!(
            out,
            "ipset destroy {}{NEXT_SUFFIX} 2>/dev/null || true",
            family.allow_set()
        );
    }
    line(out, "ipset restore -exist <<'EOF'");
    for family in [Family::V4, Family::V6] {
        let fam = family.ipset_family();
        let _ = writeln!(
            out,
            "create {} hash:net,port family {fam} timeout 0",
            family.grants_set()
        );
        let _ = writeln!(
            out,
            "create {} hash:net family {fam} timeout 0",
            family.block_set()
        );
    }
    for family in [Family::V4, Family::V6] {
        let (elements, entries) = allow_elements(r, family);
        let _ = writeln!(
            out,
            "# {} allowances: every (source, protocol, port) the rules allow, made",
            family.label()
        );
        let _ = writeln!(
            out,
            "# disjoint; {entries} entries, as a port range holds one entry per port."
        );
        let _ = writeln!(
            out,
            "create {}{NEXT_SUFFIX} hash:net,port family {} maxelem {}",
            family.allow_set(),
            family.ipset_family(),
            entries.max(DEFAULT_MAXELEM)
        );
        for e in elements {
            let _ = writeln!(out, "add {}{NEXT_SUFFIX} {e}", family.allow_set());
        }
    }
    line(out, "EOF");
    for family in [Family::V4, Family::V6] {
        let live = family.allow_set();
        let next = format!("{live}{NEXT_SUFFIX}");
        let _ = writeln!(out, "if ipset list -n {live} >/dev/null 2>&1; then");
        let _ = writeln!(out, "\tipset swap {next} {live}");
        let _ = writeln!(out, "\tipset destroy {next}");
        line(out, "else");
        let _ = writeln!(out, "\tipset rename {next} {live}");
        line(out, "fi");
    }
}

/// `-m multiport --dports` lists of at most 15 slots (a range takes two).
fn multiport_lists(ports: &[PortRange]) -> Vec<String> {
    let mut lists = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut slots = 0;
    for p in ports {
        let (item, width) = if p.start() == p.end() {
            (p.start().to_string(), 1)
        } else {
            (format!("{}:{}", p.start(), p.end()), 2)
        };
        if slots + width > MULTIPORT_SLOTS {
            lists.push(current.join(","));
            current.clear();
            slots = 0;
        }
        current.push(item);
        slots += width;
    }
    if !current.is_empty() {
        lists.push(current.join(","));
    }
    lists
}

/// Matches for `spans`: `-p tcp -m multiport --dports 21,23,512:514`, one
/// per protocol and group of 15 slots.
fn port_matches(spans: &[PortSpan]) -> Vec<String> {
    let mut matches = Vec::new();
    for proto in Proto::ALL {
        let ports: Vec<PortRange> = spans
            .iter()
            .filter(|s| s.protocol == proto)
            .map(|s| s.ports)
            .collect();
        for list in multiport_lists(&ports) {
            matches.push(format!("-p {proto} -m multiport --dports {list}"));
        }
    }
    matches
}

fn limit_chain_name(i: usize) -> String {
    format!("{LIMIT_CHAIN_PREFIX}{i}")
}

/// A rate or burst `hashlimit` accepts, and a note when it had to be lowered.
fn hashlimit_value(v: u32, what: &str, notes: &mut Vec<String>) -> u32 {
    if v > HASHLIMIT_MAX {
        notes.push(format!(
            "# The policy's {what} of {v} is above hashlimit's maximum: lowered to {HASHLIMIT_MAX}."
        ));
        HASHLIMIT_MAX
    } else {
        v
    }
}

/// The rules of the chain new connections to a limited port jump to.
fn limit_chain(i: usize, l: &PortLimits, family: Family) -> Vec<String> {
    let chain = limit_chain_name(i);
    let mut lines = vec![format!(
        "# Limits of rule \"{}\", on new connections to its ports.",
        rule_comment(&l.rule)
    )];
    let mut notes = Vec::new();
    let burst = hashlimit_value(l.limits.burst, "burst", &mut notes);
    // hashlimit shares a table between every rule of the same name, keeping
    // the first rule's settings: the name carries the settings, so a
    // changed policy gets a fresh table.
    if let Some(rate) = l.limits.new_per_second {
        let rate = hashlimit_value(rate, "new_per_second", &mut notes);
        lines.append(&mut notes);
        lines.push(format!(
            "-A {chain} -m hashlimit --hashlimit-above {rate}/sec --hashlimit-burst {burst} \
             --hashlimit-name portreeve-{i}-all-{rate}-{burst} \
             -m comment --comment \"new connections per second\" -j DROP"
        ));
    }
    if let Some(rate) = l.limits.new_per_second_per_source {
        let rate = hashlimit_value(rate, "new_per_second_per_source", &mut notes);
        lines.append(&mut notes);
        lines.push(format!(
            "-A {chain} -m hashlimit --hashlimit-above {rate}/sec --hashlimit-burst {burst} \
             --hashlimit-mode srcip --hashlimit-name portreeve-{i}-src-{rate}-{burst} \
             --hashlimit-htable-max {PER_SOURCE_MAX} --hashlimit-htable-expire {PER_SOURCE_EXPIRE_MS} \
             -m comment --comment \"new connections per second per source\" -j DROP"
        ));
    }
    lines.append(&mut notes);
    if let Some(max) = l.limits.connections_per_source {
        let mask = family.host_mask();
        for proto in l.protocols() {
            lines.push(format!(
                "-A {chain} -p {proto} -m connlimit --connlimit-above {max} --connlimit-mask {mask} \
                 -m comment --comment \"concurrent connections per source\" \
                 -j REJECT --reject-with {}",
                family.refusal(proto)
            ));
        }
    }
    // As in nftables, the total comes last and is one count (mask 0: all
    // sources as one) for every protocol: within it returns, past it the
    // connection reaches the refusals.
    if let Some(max) = l.limits.connections {
        lines.push(format!(
            "# The total of {max} concurrent connections is counted per family: \
             IPv4 and IPv6 together may hold twice as many."
        ));
        lines.push(format!(
            "-A {chain} -m connlimit --connlimit-upto {max} --connlimit-mask 0 \
             -m comment --comment \"concurrent connections\" -j RETURN"
        ));
        for proto in l.protocols() {
            lines.push(format!(
                "-A {chain} -p {proto} -m comment --comment \"concurrent connections\" \
                 -j REJECT --reject-with {}",
                family.refusal(proto)
            ));
        }
    }
    lines.push(format!(
        "-A {chain} -m comment --comment \"limits of rule {}\" -j RETURN",
        rule_comment(&l.rule)
    ));
    lines
}

/// The rules of [`CHAIN`] for one family, with `#` comments between them.
fn input_rules(r: &Ruleset, family: Family) -> Vec<String> {
    let e = &r.enforcement;
    let mut lines: Vec<String> = Vec::new();
    let mut rule = |text: &str| lines.push(format!("-A {CHAIN} {text}"));
    rule("-i lo -j ACCEPT");
    rule("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
    rule("-m conntrack --ctstate INVALID -j DROP");
    rule(&format!(
        "-m set --match-set {} src -m comment --comment \"blocked sources\" -j DROP",
        family.block_set()
    ));
    for m in port_matches(&r.banned) {
        rule(&format!(
            "{m} -m comment --comment \"banned ports\" -j DROP"
        ));
    }
    match family {
        Family::V4 => {
            for t in [
                "destination-unreachable",
                "time-exceeded",
                "parameter-problem",
            ] {
                rule(&format!("-p icmp -m icmp --icmp-type {t} -j ACCEPT"));
            }
        }
        Family::V6 => {
            for t in [
                "destination-unreachable",
                "packet-too-big",
                "time-exceeded",
                "parameter-problem",
            ] {
                rule(&format!(
                    "-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j ACCEPT"
                ));
            }
            // Neighbour discovery only from the link itself: hop limit 255.
            for t in [
                "router-advertisement",
                "neighbour-solicitation",
                "neighbour-advertisement",
            ] {
                rule(&format!(
                    "-p ipv6-icmp -m icmp6 --icmpv6-type {t} -m hl --hl-eq 255 \
                     -m comment --comment \"neighbour discovery\" -j ACCEPT"
                ));
            }
            // MLD query, report, done and MLDv2 report (ip6tables has no
            // names for them).
            for t in [130, 131, 132, 143] {
                rule(&format!(
                    "-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type {t} \
                     -m comment --comment \"multicast listener discovery\" -j ACCEPT"
                ));
            }
        }
    }
    if e.allow_ping {
        rule(match family {
            Family::V4 => "-p icmp -m icmp --icmp-type echo-request -j ACCEPT",
            Family::V6 => "-p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT",
        });
    }
    if e.allow_dhcp_client {
        match family {
            Family::V4 => rule(
                "-p udp -m udp --sport 67 --dport 68 -m comment --comment \"DHCP client\" -j ACCEPT",
            ),
            Family::V6 => rule(
                "-s fe80::/10 -p udp -m udp --sport 547 --dport 546 \
                 -m comment --comment \"DHCPv6 client\" -j ACCEPT",
            ),
        }
    }
    for (i, l) in r.limits.iter().enumerate() {
        for m in port_matches(&l.spans) {
            rule(&format!("{m} -j {}", limit_chain_name(i)));
        }
    }
    lines.push(
        "# (The nftables ruleset records each port's last new connection here, in its".into(),
    );
    lines.push("# `seen` set; iptables has nothing equivalent worth emulating.)".into());
    let mut rule = |text: &str| lines.push(format!("-A {CHAIN} {text}"));
    rule(&format!(
        "-m set --match-set {} src,dst -j ACCEPT",
        family.allow_set()
    ));
    rule(&format!(
        "-m set --match-set {} src,dst -m comment --comment \"grants\" -j ACCEPT",
        family.grants_set()
    ));
    lines.extend(
        closing_rules(r, family)
            .into_iter()
            .map(|text| format!("-A {CHAIN} {text}")),
    );
    lines
}

/// Rate-limited logging, if wanted, and the default action: the end of
/// [`CHAIN`] and of [`PUBLISHED_CHAIN`] (which share the logging budget, as
/// `hashlimit` tables of one name are one table).
fn closing_rules(r: &Ruleset, family: Family) -> Vec<String> {
    let e = &r.enforcement;
    let mut lines = Vec::new();
    let mut rule = |text: &str| lines.push(text.to_string());
    if e.log == DropLog::Kernel {
        let per_minute = DropLog::KERNEL_PER_MINUTE;
        rule(&format!(
            "-m limit --limit {per_minute}/min --limit-burst {per_minute} \
             -j LOG --log-prefix \"{LOG_PREFIX}\" --log-level warning"
        ));
    }
    if e.log == DropLog::Nflog {
        let rate = e.log_rate_per_second;
        let burst = rate.saturating_mul(2);
        let limit = if burst <= LIMIT_BURST_MAX {
            format!("-m limit --limit {rate}/sec --limit-burst {burst}")
        } else {
            let rate = rate.min(HASHLIMIT_MAX);
            let burst = burst.min(HASHLIMIT_MAX);
            format!(
                "-m hashlimit --hashlimit-upto {rate}/sec --hashlimit-burst {burst} \
                 --hashlimit-name portreeve-log-{rate}-{burst}"
            )
        };
        rule(&format!(
            "{limit} -j NFLOG --nflog-prefix \"{LOG_PREFIX}\" --nflog-group {}",
            e.log_group
        ));
    }
    match e.default_action {
        DefaultAction::Drop => rule("-m comment --comment \"default\" -j DROP"),
        DefaultAction::Reject => {
            rule("-p tcp -m comment --comment \"default\" -j REJECT --reject-with tcp-reset");
            rule(&format!(
                "-m comment --comment \"default\" -j REJECT --reject-with {}",
                family.port_unreachable()
            ));
        }
    }
    lines
}

/// `-p PROTO -m conntrack --ctorigdstport A[:B]`: the port the client asked
/// for, before a DNAT rewrote it.
fn original_port(proto: Proto, ports: PortRange) -> String {
    let range = if ports.start() == ports.end() {
        ports.start().to_string()
    } else {
        format!("{}:{}", ports.start(), ports.end())
    };
    format!("-p {proto} -m conntrack --ctorigdstport {range}")
}

/// The rules of [`PUBLISHED_CHAIN`] for one family: the input chain's
/// judgement of new connections, by the original destination port. No
/// ipset type matches a source with the original port, so each allowance is
/// one rule here, and grants (kept in an ipset keyed by the packet's port)
/// do not open published ports.
fn published_rules(r: &Ruleset, family: Family) -> Vec<String> {
    let mut bodies: Vec<String> = vec![format!(
        "-m set --match-set {} src -m comment --comment \"blocked sources\" -j DROP",
        family.block_set()
    )];
    for b in &r.banned {
        bodies.push(format!(
            "{} -m comment --comment \"banned ports\" -j DROP",
            original_port(b.protocol, b.ports)
        ));
    }
    for (i, l) in r.limits.iter().enumerate() {
        for s in &l.spans {
            bodies.push(format!(
                "{} -j {}",
                original_port(s.protocol, s.ports),
                limit_chain_name(i)
            ));
        }
    }
    let allowances = allowances(r, family);
    for (nets, proto, ports) in allowances {
        for net in nets {
            bodies.push(format!(
                "-s {net} {} -j ACCEPT",
                original_port(proto, ports)
            ));
        }
    }
    bodies.extend(closing_rules(r, family));
    bodies
        .into_iter()
        .map(|text| format!("-A {PUBLISHED_CHAIN} {text}"))
        .collect()
}

fn filter_table(out: &mut String, r: &Ruleset, family: Family) {
    let tool = family.tool();
    line(out, "");
    let _ = writeln!(
        out,
        "# --- {tool} ({}) {}",
        family.label(),
        "-".repeat(60 - tool.len())
    );
    let _ = writeln!(
        out,
        "# Loads the chains atomically; --noflush leaves every other chain alone."
    );
    let _ = writeln!(out, "{tool}-restore --noflush <<'EOF'");
    line(out, "*filter");
    line(
        out,
        "# Declaring a chain creates it, or empties it when it exists.",
    );
    let _ = writeln!(out, ":{CHAIN} - [0:0]");
    let _ = writeln!(out, ":{PUBLISHED_CHAIN} - [0:0]");
    for i in 0..r.limits.len() {
        let _ = writeln!(out, ":{} - [0:0]", limit_chain_name(i));
    }
    for (i, l) in r.limits.iter().enumerate() {
        for text in limit_chain(i, l, family) {
            line(out, &text);
        }
    }
    let _ = writeln!(
        out,
        "# The ruleset, in the order of the nftables input chain."
    );
    for text in input_rules(r, family) {
        line(out, &text);
    }
    let _ = writeln!(
        out,
        "# Hook it first into INPUT; older jumps are removed below."
    );
    let _ = writeln!(out, "-I INPUT 1 -j {CHAIN}");
    let _ = writeln!(
        out,
        "# New connections a DNAT sent on (published ports), judged by the port the"
    );
    let _ = writeln!(
        out,
        "# client asked for; all other forwarded traffic passes untouched."
    );
    for text in published_rules(r, family) {
        line(out, &text);
    }
    for jump in PUBLISHED_JUMPS.iter().rev() {
        let _ = writeln!(out, "-I FORWARD 1 {jump}");
    }
    line(out, "COMMIT");
    line(out, "EOF");
    let _ = writeln!(
        out,
        "# Keep exactly one jump to {CHAIN}: the one just inserted first in INPUT."
    );
    let _ = writeln!(
        out,
        "{tool} -S INPUT | awk '$0 == \"-A INPUT -j {CHAIN}\" && NR > 2 {{ print NR - 1 }}' | sort -rn |"
    );
    let _ = writeln!(out, "\twhile read -r n; do {tool} -D INPUT \"$n\"; done");
    let [tcp, udp] = PUBLISHED_JUMPS;
    let _ = writeln!(
        out,
        "# And exactly one of each jump to {PUBLISHED_CHAIN}, first in FORWARD."
    );
    let _ = writeln!(
        out,
        "{tool} -S FORWARD | awk '($0 == \"-A FORWARD {tcp}\" || $0 == \"-A FORWARD {udp}\") && NR > 3 {{ print NR - 1 }}' | sort -rn |"
    );
    let _ = writeln!(out, "\twhile read -r n; do {tool} -D FORWARD \"$n\"; done");
    let _ = writeln!(
        out,
        "# Remove limit chains of an earlier ruleset that this one does not have."
    );
    let _ = writeln!(
        out,
        "for chain in $({tool} -S | sed -n 's/^-N \\({LIMIT_CHAIN_PREFIX}[0-9][0-9]*\\)$/\\1/p'); do"
    );
    let body = [
        format!("{tool} -F \"$chain\""),
        format!("{tool} -X \"$chain\""),
    ];
    if r.limits.is_empty() {
        for b in &body {
            let _ = writeln!(out, "\t{b}");
        }
    } else {
        let keep: Vec<String> = (0..r.limits.len()).map(limit_chain_name).collect();
        line(out, "\tcase \"$chain\" in");
        let _ = writeln!(out, "\t{}) ;;", keep.join(" | "));
        line(out, "\t*)");
        for b in &body {
            let _ = writeln!(out, "\t\t{b}");
        }
        line(out, "\t\t;;");
        line(out, "\tesac");
    }
    line(out, "done");
}

#[cfg(test)]
mod tests {
    use super::*;
    use portreeve_policy::parse_policy;

    const ZONES: &str = "[zones]\nall = [\"0.0.0.0/0\", \"::/0\"]\nlan = [\"10.0.0.0/8\", \"fd00::/8\"]\nmgmt = [\"192.0.2.0/24\"]\nv6only = [\"2001:db8::/32\"]\n";

    fn ruleset(rest: &str) -> Ruleset {
        let src = format!("{ZONES}{rest}");
        let policy = parse_policy("t.toml", &src).unwrap_or_else(|e| panic!("{e}"));
        Ruleset::compile(&policy).unwrap()
    }

    /// The body of the heredoc fed to `command` (e.g. `iptables-restore`).
    fn heredoc<'a>(script: &'a str, command: &str) -> Vec<&'a str> {
        let mut lines = script.lines();
        lines
            .by_ref()
            .find(|l| l.starts_with(command) && l.ends_with("<<'EOF'"))
            .unwrap_or_else(|| panic!("no {command} heredoc in\n{script}"));
        lines.take_while(|l| *l != "EOF").collect()
    }

    fn v4(script: &str) -> Vec<&str> {
        heredoc(script, "iptables-restore --noflush")
    }

    fn v6(script: &str) -> Vec<&str> {
        heredoc(script, "ip6tables-restore --noflush")
    }

    fn sets(script: &str) -> Vec<&str> {
        heredoc(script, "ipset restore -exist")
    }

    fn position(lines: &[&str], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", lines.join("\n")))
    }

    fn has(lines: &[&str], needle: &str) -> bool {
        lines.iter().any(|l| l.contains(needle))
    }

    #[test]
    fn script_is_a_sh_script_that_stops_on_errors() {
        let s = render(&ruleset(""));
        assert!(s.starts_with("#!/bin/sh\n# portreeve ruleset compiled from t.toml\n"));
        assert!(s.contains("\nset -e\n"));
        // The seen set is named as not emulated, in the header and in place.
        assert!(s.contains("`seen`"));
        assert!(v4(&s).iter().any(|l| l.contains("`seen` set")));
    }

    #[test]
    fn every_allowance_is_an_element_of_its_familys_set() {
        let r = ruleset(
            "[[rule]]\nports = [22, \"8000-8100\"]\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
             [[rule]]\nport = 53\nprotocol = \"udp\"\nzones = [\"all\"]\n\
             [[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"v6only\"]\n",
        );
        let s = render(&r);
        let ipset = sets(&s);
        for a in &r.allowed_v4 {
            let want = format!("add portreeve-allow4-next {}", a.source);
            assert!(
                has(&ipset, &want) || a.source.prefix_len() == 0,
                "{want} missing"
            );
        }
        for a in &r.allowed_v6 {
            let want = format!("add portreeve-allow6-next {}", a.source);
            assert!(
                has(&ipset, &want) || a.source.prefix_len() == 0,
                "{want} missing"
            );
        }
        assert!(ipset.contains(&"add portreeve-allow4-next 10.0.0.0/8,tcp:22"));
        assert!(ipset.contains(&"add portreeve-allow4-next 10.0.0.0/8,tcp:8000-8100"));
        assert!(ipset.contains(&"add portreeve-allow6-next fd00::/8,tcp:8000-8100"));
        // ipset refuses /0: everywhere is its two halves.
        assert!(ipset.contains(&"add portreeve-allow4-next 0.0.0.0/1,udp:53"));
        assert!(ipset.contains(&"add portreeve-allow4-next 128.0.0.0/1,udp:53"));
        assert!(ipset.contains(&"add portreeve-allow6-next ::/1,udp:53"));
        assert!(ipset.contains(&"add portreeve-allow6-next 8000::/1,udp:53"));
        assert!(!ipset.iter().any(|l| l.contains("/0,")));
        // The v6-only zone stays out of the IPv4 set and the other way round.
        assert!(ipset.contains(&"add portreeve-allow6-next 2001:db8::/32,tcp:443"));
        assert!(!has(&ipset, "portreeve-allow4-next 2001:"));
        assert!(!has(&ipset, "portreeve-allow6-next 10."));
        // Run-time sets have timeout support; only the allowances are refilled.
        assert!(ipset.contains(&"create portreeve-grants4 hash:net,port family inet timeout 0"));
        assert!(ipset.contains(&"create portreeve-grants6 hash:net,port family inet6 timeout 0"));
        assert!(ipset.contains(&"create portreeve-block4 hash:net family inet timeout 0"));
        assert!(ipset.contains(&"create portreeve-block6 hash:net family inet6 timeout 0"));
        assert!(!has(&ipset, "add portreeve-grants"));
        assert!(!s.contains("flush portreeve-grants") && !s.contains("flush portreeve-block"));
        assert!(s.contains("ipset swap portreeve-allow4-next portreeve-allow4\n"));
        assert!(s.contains("ipset rename portreeve-allow6-next portreeve-allow6\n"));
    }

    #[test]
    fn sets_grow_beyond_the_default_size_for_wide_port_ranges() {
        let s = render(&ruleset(
            "[[rule]]\nports = [\"7000-65535\"]\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\n",
        ));
        let entries = 2 * (65535 - 7000 + 1);
        assert!(
            sets(&s).contains(
                &format!(
                    "create portreeve-allow4-next hash:net,port family inet maxelem {entries}"
                )
                .as_str()
            )
        );
        assert!(
            sets(&s).contains(
                &"create portreeve-allow6-next hash:net,port family inet6 maxelem 65536"
                    .replace("65536", &entries.to_string())
                    .as_str()
            )
        );
        let small = render(&ruleset(""));
        assert!(
            sets(&small)
                .contains(&"create portreeve-allow4-next hash:net,port family inet maxelem 65536")
        );
    }

    #[test]
    fn decisions_come_in_the_nftables_order() {
        let r = ruleset(
            "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"all\"]\nlimits = { new_per_second = 500 }\n",
        );
        let s = render(&r);
        for lines in [v4(&s), v6(&s)] {
            let order = [
                "-A PORTREEVE-INPUT -i lo -j ACCEPT",
                "--ctstate RELATED,ESTABLISHED -j ACCEPT",
                "--ctstate INVALID -j DROP",
                "\"blocked sources\" -j DROP",
                "\"banned ports\" -j DROP",
                "destination-unreachable -j ACCEPT",
                "echo-request -j ACCEPT",
                "--comment \"DHCP",
                "--dports 443 -j PORTREEVE-LIMIT-0",
                "src,dst -j ACCEPT",
                "\"grants\" -j ACCEPT",
                "-j NFLOG",
                "\"default\" -j DROP",
                "-I INPUT 1 -j PORTREEVE-INPUT",
            ];
            let at: Vec<usize> = order.iter().map(|n| position(&lines, n)).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{order:?} at {at:?}");
            assert_eq!(lines[0], "*filter");
            assert_eq!(lines.last(), Some(&"COMMIT"));
        }
    }

    #[test]
    fn banned_ports_are_dropped_before_anything_is_allowed() {
        let s = render(&ruleset(
            "[banned]\nports = [\"873/tcp\", 11211]\n\
             [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n",
        ));
        for lines in [v4(&s), v6(&s)] {
            let tcp = position(
                &lines,
                "-p tcp -m multiport --dports 21,23,111,512:514,873,2375,6000:6063,11211 -m comment --comment \"banned ports\" -j DROP",
            );
            let udp = position(
                &lines,
                "-p udp -m multiport --dports 69,111,11211 -m comment --comment \"banned ports\" -j DROP",
            );
            let allow = position(&lines, "src,dst -j ACCEPT");
            assert!(tcp < allow && udp < allow);
        }
    }

    #[test]
    fn multiport_lists_hold_at_most_fifteen_slots() {
        let ports: Vec<PortRange> = (1..=20)
            .map(|p| PortRange::single(p * 10).unwrap())
            .chain([PortRange::new(1000, 1010).unwrap()])
            .collect();
        let lists = multiport_lists(&ports);
        assert_eq!(
            lists,
            [
                "10,20,30,40,50,60,70,80,90,100,110,120,130,140,150",
                "160,170,180,190,200,1000:1010",
            ]
        );
        // A range that would take the 15th and 16th slot starts a new list.
        let mut ports: Vec<PortRange> = (1..=14).map(|p| PortRange::single(p).unwrap()).collect();
        ports.push(PortRange::new(100, 200).unwrap());
        assert_eq!(
            multiport_lists(&ports),
            ["1,2,3,4,5,6,7,8,9,10,11,12,13,14", "100:200"]
        );
    }

    #[test]
    fn limits_become_hashlimit_and_connlimit_rules() {
        let s = render(&ruleset(
            "[[rule]]\nname = \"web\"\nports = [80, 443]\nprotocol = \"tcp\"\nzones = [\"all\"]\n\
             limits = { new_per_second = 500, new_per_second_per_source = 20, connections_per_source = 100, burst = 50 }\n\
             [[rule]]\nname = \"dns\"\nport = 53\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\n\
             limits = { connections_per_source = 10 }\n",
        ));
        let lines = v4(&s);
        assert!(lines.contains(&":PORTREEVE-LIMIT-0 - [0:0]"));
        assert!(lines.contains(&":PORTREEVE-LIMIT-1 - [0:0]"));
        assert!(lines.contains(
            &"-A PORTREEVE-LIMIT-0 -m hashlimit --hashlimit-above 500/sec --hashlimit-burst 50 \
              --hashlimit-name portreeve-0-all-500-50 -m comment --comment \"new connections per second\" -j DROP"
        ));
        assert!(lines.contains(
            &"-A PORTREEVE-LIMIT-0 -m hashlimit --hashlimit-above 20/sec --hashlimit-burst 50 \
              --hashlimit-mode srcip --hashlimit-name portreeve-0-src-20-50 --hashlimit-htable-max 65536 \
              --hashlimit-htable-expire 60000 -m comment --comment \"new connections per second per source\" -j DROP"
        ));
        assert!(lines.contains(
            &"-A PORTREEVE-LIMIT-0 -p tcp -m connlimit --connlimit-above 100 --connlimit-mask 32 \
              -m comment --comment \"concurrent connections per source\" -j REJECT --reject-with tcp-reset"
        ));
        assert!(!has(&lines, "-A PORTREEVE-LIMIT-0 -p udp"));
        assert!(lines.contains(
            &"-A PORTREEVE-LIMIT-1 -p udp -m connlimit --connlimit-above 10 --connlimit-mask 32 \
              -m comment --comment \"concurrent connections per source\" -j REJECT --reject-with icmp-port-unreachable"
        ));
        assert!(lines.contains(
            &"-A PORTREEVE-LIMIT-0 -m comment --comment \"limits of rule web\" -j RETURN"
        ));
        assert!(lines.contains(
            &"-A PORTREEVE-INPUT -p tcp -m multiport --dports 80,443 -j PORTREEVE-LIMIT-0"
        ));
        assert!(
            lines.contains(
                &"-A PORTREEVE-INPUT -p tcp -m multiport --dports 53 -j PORTREEVE-LIMIT-1"
            )
        );
        assert!(
            lines.contains(
                &"-A PORTREEVE-INPUT -p udp -m multiport --dports 53 -j PORTREEVE-LIMIT-1"
            )
        );
        // Limits come before the allowances they protect.
        assert!(position(&lines, "-j PORTREEVE-LIMIT-1") < position(&lines, "src,dst -j ACCEPT"));

        let lines6 = v6(&s);
        assert!(has(&lines6, "--connlimit-above 100 --connlimit-mask 128"));
        assert!(has(
            &lines6,
            "--connlimit-above 10 --connlimit-mask 128 -m comment --comment \"concurrent connections per source\" -j REJECT --reject-with icmp6-port-unreachable"
        ));
        assert!(has(
            &lines6,
            "--hashlimit-mode srcip --hashlimit-name portreeve-0-src-20-50"
        ));
        // Stale limit chains are removed, the current ones kept.
        assert!(s.contains("\tPORTREEVE-LIMIT-0 | PORTREEVE-LIMIT-1) ;;\n"));
    }

    #[test]
    fn a_total_cap_is_one_count_of_all_sources_after_the_per_source_cap() {
        let s = render(&ruleset(
            "[[rule]]\nname = \"dns\"\nport = 53\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"all\"]\n\
             limits = { connections = 1000, connections_per_source = 10 }\n",
        ));
        for (lines, unreachable) in [
            (v4(&s), "icmp-port-unreachable"),
            (v6(&s), "icmp6-port-unreachable"),
        ] {
            let chain: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with("-A PORTREEVE-LIMIT-0 "))
                .collect();
            assert_eq!(
                chain[2..],
                [
                    "-A PORTREEVE-LIMIT-0 -m connlimit --connlimit-upto 1000 --connlimit-mask 0 \
                     -m comment --comment \"concurrent connections\" -j RETURN"
                        .to_string(),
                    "-A PORTREEVE-LIMIT-0 -p tcp -m comment --comment \"concurrent connections\" \
                     -j REJECT --reject-with tcp-reset"
                        .to_string(),
                    format!(
                        "-A PORTREEVE-LIMIT-0 -p udp -m comment --comment \"concurrent connections\" \
                         -j REJECT --reject-with {unreachable}"
                    ),
                    "-A PORTREEVE-LIMIT-0 -m comment --comment \"limits of rule dns\" -j RETURN"
                        .to_string(),
                ],
                "the per-source rules come first, then one total count: {chain:#?}"
            );
        }
    }

    #[test]
    fn limits_above_what_hashlimit_takes_are_lowered_and_said_so() {
        let s = render(&ruleset(
            "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"all\"]\n\
             limits = { new_per_second = 5000000, burst = 2000000 }\n",
        ));
        let lines = v4(&s);
        assert!(has(
            &lines,
            "--hashlimit-above 1000000/sec --hashlimit-burst 1000000 "
        ));
        assert!(has(&lines, "new_per_second of 5000000 is above"));
        assert!(has(&lines, "burst of 2000000 is above"));
    }

    #[test]
    fn the_default_action_drops_or_rejects() {
        let drop = render(&ruleset(""));
        let lines = v4(&drop);
        let hook = position(&lines, "-I INPUT 1 -j PORTREEVE-INPUT");
        assert_eq!(
            lines[hook - 3..=hook],
            [
                "-A PORTREEVE-INPUT -m limit --limit 10/sec --limit-burst 20 -j NFLOG --nflog-prefix \"portreeve drop: \" --nflog-group 0",
                "-A PORTREEVE-INPUT -m comment --comment \"default\" -j DROP",
                "# Hook it first into INPUT; older jumps are removed below.",
                "-I INPUT 1 -j PORTREEVE-INPUT",
            ]
        );
        let published: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("-A PORTREEVE-PUBLISHED "))
            .collect();
        assert_eq!(
            published[published.len() - 2..],
            [
                "-A PORTREEVE-PUBLISHED -m limit --limit 10/sec --limit-burst 20 -j NFLOG --nflog-prefix \"portreeve drop: \" --nflog-group 0",
                "-A PORTREEVE-PUBLISHED -m comment --comment \"default\" -j DROP",
            ],
            "published ports end as the input chain does"
        );
        assert_eq!(lines.last(), Some(&"COMMIT"));
        assert!(!drop.contains("REJECT"));

        let reject = render(&ruleset(
            "[enforce]\ndefault_action = \"reject\"\nlog_dropped = false\n",
        ));
        let (l4, l6) = (v4(&reject), v6(&reject));
        assert!(l4.contains(&"-A PORTREEVE-INPUT -p tcp -m comment --comment \"default\" -j REJECT --reject-with tcp-reset"));
        assert!(l4.contains(&"-A PORTREEVE-INPUT -m comment --comment \"default\" -j REJECT --reject-with icmp-port-unreachable"));
        assert!(l6.contains(&"-A PORTREEVE-INPUT -p tcp -m comment --comment \"default\" -j REJECT --reject-with tcp-reset"));
        assert!(l6.contains(&"-A PORTREEVE-INPUT -m comment --comment \"default\" -j REJECT --reject-with icmp6-port-unreachable"));
        assert!(!has(&l4, "\"default\" -j DROP") && !has(&l6, "\"default\" -j DROP"));
        assert!(!reject.contains("NFLOG"));
    }

    #[test]
    fn logging_follows_the_policy_group_and_rate() {
        let s = render(&ruleset(
            "[enforce]\nlog_group = 5\nlog_rate_per_second = 100\n",
        ));
        assert!(v6(&s).contains(
            &"-A PORTREEVE-INPUT -m limit --limit 100/sec --limit-burst 200 -j NFLOG --nflog-prefix \"portreeve drop: \" --nflog-group 5"
        ));
        let kernel = render(&ruleset("[enforce]\nlog = \"kernel\"\n"));
        assert!(v4(&kernel).contains(
            &"-A PORTREEVE-INPUT -m limit --limit 10/min --limit-burst 10 -j LOG --log-prefix \"portreeve drop: \" --log-level warning"
        ));
        assert!(!kernel.contains("NFLOG"));
        // Beyond what -m limit takes, hashlimit does it.
        let fast = render(&ruleset("[enforce]\nlog_rate_per_second = 50000\n"));
        assert!(v4(&fast).contains(
            &"-A PORTREEVE-INPUT -m hashlimit --hashlimit-upto 50000/sec --hashlimit-burst 100000 \
              --hashlimit-name portreeve-log-50000-100000 -j NFLOG --nflog-prefix \"portreeve drop: \" --nflog-group 0"
        ));
    }

    #[test]
    fn ping_and_dhcp_follow_their_toggles() {
        let on = render(&ruleset(""));
        assert!(has(
            &v4(&on),
            "-p icmp -m icmp --icmp-type echo-request -j ACCEPT"
        ));
        assert!(has(
            &v6(&on),
            "-p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT"
        ));
        assert!(has(&v4(&on), "-p udp -m udp --sport 67 --dport 68"));
        assert!(has(
            &v6(&on),
            "-s fe80::/10 -p udp -m udp --sport 547 --dport 546"
        ));
        assert!(!has(&v4(&on), "--sport 547"));

        let off = render(&ruleset(
            "[enforce]\nallow_ping = false\nallow_dhcp_client = false\n",
        ));
        for lines in [v4(&off), v6(&off)] {
            assert!(!has(&lines, "echo-request"));
            assert!(!has(&lines, "--sport 67") && !has(&lines, "--sport 547"));
            // The essentials stay.
            assert!(has(&lines, "destination-unreachable -j ACCEPT"));
        }
    }

    #[test]
    fn ipv6_rules_go_to_ip6tables_only() {
        let s = render(&ruleset(
            "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"v6only\"]\n",
        ));
        let (l4, l6) = (v4(&s), v6(&s));
        for needle in [
            "ipv6-icmp",
            "fe80::/10",
            "--hl-eq 255",
            "portreeve-allow6",
            "portreeve-grants6",
            "portreeve-block6",
            "icmp6-port-unreachable",
        ] {
            assert!(!has(&l4, needle), "{needle} in iptables");
        }
        for needle in [
            "-p icmp ",
            "portreeve-allow4",
            "portreeve-grants4",
            "portreeve-block4",
        ] {
            assert!(!has(&l6, needle), "{needle} in ip6tables");
        }
        // Neighbour discovery from the link only, MLD from link-local sources.
        assert!(has(
            &l6,
            "--icmpv6-type neighbour-solicitation -m hl --hl-eq 255"
        ));
        assert!(has(
            &l6,
            "--icmpv6-type router-advertisement -m hl --hl-eq 255"
        ));
        assert!(has(
            &l6,
            "--icmpv6-type neighbour-advertisement -m hl --hl-eq 255"
        ));
        for t in [130, 131, 132, 143] {
            assert!(has(
                &l6,
                &format!("-s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type {t} ")
            ));
        }
        assert!(has(&l6, "--icmpv6-type packet-too-big -j ACCEPT"));
        // The IPv6-only allowance is in the IPv6 set only.
        assert!(sets(&s).contains(&"add portreeve-allow6-next 2001:db8::/32,tcp:443"));
        assert!(!has(&sets(&s), "portreeve-allow4-next 2001"));
    }

    #[test]
    fn the_hook_is_replaced_not_duplicated() {
        let s = render(&ruleset(""));
        assert!(s.contains(
            "iptables -S INPUT | awk '$0 == \"-A INPUT -j PORTREEVE-INPUT\" && NR > 2 { print NR - 1 }' | sort -rn |\n\twhile read -r n; do iptables -D INPUT \"$n\"; done\n"
        ));
        assert!(s.contains("ip6tables -S INPUT | awk"));
        // Without limits every leftover limit chain goes.
        assert!(s.contains("do\n\tiptables -F \"$chain\"\n\tiptables -X \"$chain\"\ndone\n"));
        // Nothing but portreeve's chains is named.
        for l in s
            .lines()
            .filter(|l| l.starts_with("-A ") || l.starts_with(':'))
        {
            assert!(
                l.starts_with("-A PORTREEVE-") || l.starts_with(":PORTREEVE-"),
                "{l}"
            );
        }
        assert!(!s.contains("-P INPUT") && !s.contains("-F INPUT") && !s.contains("*nat"));
    }

    #[test]
    fn published_ports_are_judged_by_their_original_port_in_forward() {
        let s = render(&ruleset(
            "[[rule]]\nports = [8080, \"9000-9010\"]\nprotocol = \"tcp\"\nzones = [\"lan\", \"all\"]\n\
             [[rule]]\nname = \"dns\"\nport = 53\nprotocol = \"udp\"\nzones = [\"lan\"]\nlimits = { new_per_second = 50 }\n",
        ));
        for (lines, everywhere) in [
            (v4(&s), ["0.0.0.0/1", "128.0.0.0/1"]),
            (v6(&s), ["::/1", "8000::/1"]),
        ] {
            assert!(lines.contains(&":PORTREEVE-PUBLISHED - [0:0]"));
            for half in everywhere {
                assert!(lines.contains(
                    &format!("-A PORTREEVE-PUBLISHED -s {half} -p tcp -m conntrack --ctorigdstport 9000:9010 -j ACCEPT").as_str()
                ));
            }
            let order = [
                "-A PORTREEVE-PUBLISHED -m set --match-set portreeve-block",
                "-A PORTREEVE-PUBLISHED -p tcp -m conntrack --ctorigdstport 512:514 -m comment --comment \"banned ports\" -j DROP",
                "-A PORTREEVE-PUBLISHED -p udp -m conntrack --ctorigdstport 53 -j PORTREEVE-LIMIT-0",
                "-p tcp -m conntrack --ctorigdstport 8080 -j ACCEPT",
                "-A PORTREEVE-PUBLISHED -m comment --comment \"default\" -j DROP",
                "-I FORWARD 1 -p udp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j PORTREEVE-PUBLISHED",
                "-I FORWARD 1 -p tcp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j PORTREEVE-PUBLISHED",
            ];
            let at: Vec<usize> = order.iter().map(|n| position(&lines, n)).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{order:?} at {at:?}");
            // Grants live in an ipset keyed by the packet's port: not here.
            assert!(
                !lines
                    .iter()
                    .any(|l| l.starts_with("-A PORTREEVE-PUBLISHED") && l.contains("grants"))
            );
        }
        assert!(s.contains("iptables -S FORWARD | awk '($0 == \"-A FORWARD -p tcp -m conntrack --ctstate NEW -m conntrack --ctstate DNAT -j PORTREEVE-PUBLISHED\""));
        assert!(s.contains("\twhile read -r n; do ip6tables -D FORWARD \"$n\"; done\n"));
    }

    #[test]
    fn names_from_the_policy_cannot_break_out_of_comments() {
        let mut r = ruleset(
            "[[rule]]\nname = \"web\"\nport = 443\nprotocol = \"tcp\"\nzones = [\"all\"]\nlimits = { new_per_second = 5 }\n",
        );
        r.origin = "evil\nrm -rf /\n.toml".into();
        r.limits[0].rule = "a\"b\n-A INPUT -j ACCEPT".into();
        let s = render(&r);
        assert!(!s.lines().any(|l| l.starts_with("rm ")));
        assert!(!s.lines().any(|l| l == "-A INPUT -j ACCEPT"));
        assert!(s.contains("# portreeve ruleset compiled from evil?rm -rf /?.toml\n"));
        assert!(s.contains("--comment \"limits of rule a_b_-A INPUT -j ACCEPT\" -j RETURN"));
    }

    #[test]
    fn a_policy_that_detects_scans_is_told_the_script_does_not() {
        let note = "# Not compiled: the policy's [detection]";
        assert!(!render(&ruleset("")).contains(note));
        for scan in ["alert", "block"] {
            let script = render(&ruleset(&format!("[detection]\nscan = \"{scan}\"\n")));
            assert!(script.contains(note), "{script}");
        }
    }
}

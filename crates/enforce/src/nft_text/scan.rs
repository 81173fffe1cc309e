//! The kernel tier of scan detection (`[detection] scan = "alert"` or
//! `"block"`): the sets and rules that count, per source, the distinct
//! closed ports it tries, and block it past the threshold in the same
//! packet path.
//!
//! What counts is a new connection attempt that nothing accepted: a TCP
//! SYN or a UDP datagram that reaches the end of the input chain, one to a
//! banned port, or a stealth probe (a TCP packet with none of SYN, ACK and
//! RST — FIN, NULL, Xmas — that conntrack calls invalid as it belongs to no
//! connection). Allowed and granted traffic is accepted before any of this
//! runs, established and related traffic first of all, so a live session —
//! the operator's SSH included — never counts and is never cut: the
//! blocked-source drop comes after the `established,related` accept. The
//! management zone and the `never_block` zones are let out of the count
//! before anything is recorded, so none of their addresses can ever be
//! blocked by the kernel. Every packet that reaches the chain is first
//! logged to the `[detection] log_group` NFLOG group, exempt zones
//! included, so the agent's tier sees every probe (and alerts on sources
//! it may never block).
//!
//! Distinct ports: a (source, protocol, port) is counted once per window
//! (`scan_seen_*`). Per source, a leaky bucket in `scan_sources_*` holds
//! `ports` tokens and drains at `ports` per `window`; the probe that finds
//! it empty is the scanner's last: it is dropped and, under `block`, its
//! source goes into `scan_blocked_*` for `block_ttl`. Those are hash sets
//! of single addresses because the packet path cannot add to an interval
//! set such as `blocklist_*` (the kernel refuses with "Operation not
//! supported"); both are dropped at the same place.

use std::fmt::Write as _;

use portreeve_policy::{Detection, ScanAction};

use super::{Ruleset, set};

/// The sets the packet path fills with blocked scanners; carried across
/// applies like the other run-time sets.
pub const BLOCKED_SETS: [&str; 2] = ["scan_blocked_v4", "scan_blocked_v6"];

/// The chain every counted probe jumps to.
const CHAIN: &str = "scan";

/// The prefix of the scan chain's NFLOG messages.
const LOG_PREFIX: &str = "portreeve scan: ";

/// Most (source, port) pairs and sources the kernel remembers per family;
/// past it new pairs go uncounted rather than evicting old ones.
const SET_SIZE: u32 = 65536;

/// Whether the kernel tier is compiled in at all.
fn enabled(r: &Ruleset) -> bool {
    r.detection.scan != ScanAction::Off
}

/// The families: address expression, nft type, set suffix.
const FAMILIES: [(&str, &str, &str); 2] = [("ip", "ipv4_addr", "v4"), ("ip6", "ipv6_addr", "v6")];

/// The sets the kernel tier keeps, declared in the table.
pub(super) fn sets(out: &mut String, r: &Ruleset) {
    if !enabled(r) {
        return;
    }
    let d = &r.detection;
    let window = d.window.as_secs();
    let _ = writeln!(
        out,
        "\t# Scan detection: the closed ports each source tried, and its bucket."
    );
    for (_, ty, family) in FAMILIES {
        set(
            out,
            &format!("scan_seen_{family}"),
            &format!("{ty} . inet_proto . inet_service"),
            "dynamic,timeout",
            Some(format!("timeout {window}s; size {SET_SIZE};")),
            std::iter::empty(),
        );
        set(
            out,
            &format!("scan_sources_{family}"),
            ty,
            "dynamic,timeout",
            Some(format!("timeout {window}s; size {SET_SIZE};")),
            std::iter::empty(),
        );
    }
    if d.scan == ScanAction::Block {
        for ((_, ty, _), name) in FAMILIES.iter().zip(BLOCKED_SETS) {
            set(
                out,
                name,
                ty,
                "dynamic,timeout",
                Some(format!(
                    "timeout {}s; size {SET_SIZE};",
                    d.block_ttl.as_secs()
                )),
                std::iter::empty(),
            );
        }
    }
}

/// Drops blocked scanners: goes with the input chain's blocklist drop.
pub(super) fn blocked_rules(r: &Ruleset) -> Vec<String> {
    if r.detection.scan != ScanAction::Block {
        return Vec::new();
    }
    FAMILIES
        .iter()
        .zip(BLOCKED_SETS)
        .map(|((addr, _, _), set)| format!("{addr} saddr @{set} drop comment \"blocked scanners\""))
        .collect()
}

/// Before conntrack's invalid packets are dropped: stealth probes count.
pub(super) fn stealth_rules(r: &Ruleset) -> Vec<String> {
    if !enabled(r) {
        return Vec::new();
    }
    vec![format!(
        "ct state invalid meta l4proto tcp tcp flags & (syn | ack | rst) == 0x0 jump {CHAIN} comment \"stealth probes\""
    )]
}

/// Before banned ports are dropped: probes of them count.
pub(super) fn banned_probe_rules(r: &Ruleset) -> Vec<String> {
    if !enabled(r) {
        return Vec::new();
    }
    vec![format!("meta l4proto . th dport @banned jump {CHAIN}")]
}

/// After every accept, before the default action: what is left is a new
/// connection attempt to a port nothing allows.
pub(super) fn closed_port_rules(r: &Ruleset) -> Vec<String> {
    if !enabled(r) {
        return Vec::new();
    }
    vec![format!("meta l4proto {{ tcp, udp }} jump {CHAIN}")]
}

/// The counting chain.
pub(super) fn chain(out: &mut String, r: &Ruleset) {
    if !enabled(r) {
        return;
    }
    let d = &r.detection;
    // queue-threshold 1: each message goes to the agent at once, not in
    // the kernel's batches (flushed after up to a second otherwise).
    let mut rules = vec![format!(
        "log group {} prefix \"{LOG_PREFIX}\" queue-threshold 1",
        d.log_group
    )];
    for zone in exempt_zones(r) {
        for (addr, _, family) in FAMILIES {
            rules.push(format!(
                "{addr} saddr @zone_{zone}_{family} return comment \"never blocked\""
            ));
        }
    }
    let bucket = bucket(d);
    for (addr, _, family) in FAMILIES {
        let key = format!("{addr} saddr . meta l4proto . th dport");
        rules.push(format!("{key} @scan_seen_{family} return"));
        rules.push(format!(
            "meta nfproto ipv{} add @scan_seen_{family} {{ {key} }}",
            &family[1..]
        ));
        let over = format!("update @scan_sources_{family} {{ {addr} saddr {bucket} }}");
        rules.push(match d.scan {
            ScanAction::Block => format!(
                "meta nfproto ipv{} {over} add @scan_blocked_{family} {{ {addr} saddr }} drop comment \"scanner blocked\"",
                &family[1..]
            ),
            _ => format!(
                "meta nfproto ipv{} {over} counter comment \"scanner detected\"",
                &family[1..]
            ),
        });
    }
    let _ = writeln!(out, "\tchain {CHAIN} {{");
    for rule in rules {
        let _ = writeln!(out, "\t\t{rule}");
    }
    let _ = writeln!(out, "\t}}\n");
}

/// The management zone and the `never_block` zones, each once.
fn exempt_zones(r: &Ruleset) -> Vec<&str> {
    let mut zones: Vec<&str> = r
        .enforcement
        .management_zone
        .iter()
        .map(String::as_str)
        .collect();
    for z in &r.detection.never_block {
        if !zones.contains(&z.as_str()) {
            zones.push(z);
        }
    }
    zones
}

/// The per-source leaky bucket: `ports` tokens, refilled at `ports` per
/// `window`. The kernel's `limit` lets a new bucket pass `burst` packets
/// before it refills, so `burst` is the threshold; the rate is written in
/// the coarsest unit that states it exactly (a day's worth, rounded up,
/// when none does).
fn bucket(d: &Detection) -> String {
    let window = d.window.as_secs().max(1).unsigned_abs();
    let ports = u64::from(d.ports);
    let units = [
        (1, "second"),
        (60, "minute"),
        (3600, "hour"),
        (86400, "day"),
    ];
    let (rate, unit) = units
        .iter()
        .find(|(secs, _)| (ports * secs) % window == 0)
        .map(|(secs, unit)| (ports * secs / window, *unit))
        .unwrap_or(((ports * 86400).div_ceil(window), "day"));
    format!("limit rate over {rate}/{unit} burst {ports} packets")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of chain `name` in `text`, trimmed.
    fn chain_rules(text: &str, name: &str) -> Vec<String> {
        let body = text.split(&format!("\tchain {name} {{\n")).nth(1).unwrap();
        body[..body.find("\n\t}").unwrap()]
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    fn render(detection: &str) -> String {
        let policy = portreeve_policy::parse_policy(
            "t.toml",
            &format!(
                "[zones]\nmgmt = [\"10.9.0.0/24\"]\nops = [\"10.8.0.0/24\"]\n\
                 [enforce]\nmanagement_zone = \"mgmt\"\n\
                 [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"mgmt\"]\n{detection}"
            ),
        )
        .unwrap();
        super::super::render(&Ruleset::compile(&policy).unwrap())
    }

    #[test]
    fn off_compiles_nothing_of_the_kernel_tier() {
        let text = render("");
        assert!(!text.contains("scan"), "{text}");
    }

    #[test]
    fn probes_are_counted_only_after_every_accept_and_exempt_zones_never() {
        let text = render("[detection]\nscan = \"block\"\nnever_block = [\"ops\", \"mgmt\"]\n");
        let input = chain_rules(&text, "input");
        let at = |needle: &str| {
            input
                .iter()
                .position(|r| r.contains(needle))
                .unwrap_or_else(|| panic!("no {needle} in {input:#?}"))
        };
        assert!(at("established,related accept") < at("@scan_blocked_v4 drop"));
        assert!(at("stealth probes") < at("ct state invalid drop"));
        assert!(at("@scan_blocked_v4 drop") < at("stealth probes"));
        assert!(at("@blocklist_v6 drop") < at("stealth probes"));
        assert!(at("@banned jump scan") < at("@banned drop"));
        let closed = at("meta l4proto { tcp, udp } jump scan");
        assert!(at("@grants_v6") < closed, "{input:#?}");
        assert!(closed < at("comment \"default\""), "{input:#?}");
        let scan = chain_rules(&text, "scan");
        assert_eq!(
            scan[..5],
            [
                "log group 2 prefix \"portreeve scan: \" queue-threshold 1",
                "ip saddr @zone_mgmt_v4 return comment \"never blocked\"",
                "ip6 saddr @zone_mgmt_v6 return comment \"never blocked\"",
                "ip saddr @zone_ops_v4 return comment \"never blocked\"",
                "ip6 saddr @zone_ops_v6 return comment \"never blocked\"",
            ],
            "every probe logged, then the management zone once, then the never-block zones"
        );
        assert!(
            scan[7].contains("add @scan_blocked_v4 { ip saddr } drop"),
            "{scan:#?}"
        );
        let alert = render("[detection]\nscan = \"alert\"\n");
        assert!(
            !alert.contains("scan_blocked"),
            "alert never blocks: {alert}"
        );
        assert!(
            alert.contains("counter comment \"scanner detected\""),
            "{alert}"
        );
        let grouped = render("[detection]\nscan = \"alert\"\nlog_group = 9\n");
        assert_eq!(
            chain_rules(&grouped, "scan")[0],
            "log group 9 prefix \"portreeve scan: \" queue-threshold 1"
        );
    }

    #[test]
    fn the_bucket_drains_ports_per_window_in_an_exact_unit() {
        let with = |ports, secs| Detection {
            ports,
            window: jiff::SignedDuration::from_secs(secs),
            ..Detection::default()
        };
        assert_eq!(
            bucket(&Detection::default()),
            "limit rate over 4/minute burst 4 packets"
        );
        assert_eq!(
            bucket(&with(15, 90)),
            "limit rate over 10/minute burst 15 packets"
        );
        assert_eq!(
            bucket(&with(15, 300)),
            "limit rate over 3/minute burst 15 packets"
        );
        assert_eq!(
            bucket(&with(4, 7)),
            "limit rate over 49372/day burst 4 packets"
        );
        assert_eq!(
            bucket(&with(2, 2)),
            "limit rate over 1/second burst 2 packets"
        );
    }
}

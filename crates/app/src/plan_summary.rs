//! What a plan changes, in words: which ports open or close to which
//! zones, and which grants and blocks carry over. The nft diff says the same in
//! ruleset lines; this says it the way an operator reviews a change.
//!
//! The comparison is at the policy level: the rules of the policy in
//! effect (the live generation's) against the candidate's, each port
//! range with the zones its rules admit. On-demand rules (`grant`) open
//! nothing until a grant does, so they are left out, as are the ports
//! reclaims closed: neither ruleset opens those.
//!
//! Grants and manual blocks always carry over an apply; automatic blocks
//! (blocked scanners) only into a policy that still blocks scanners
//! (`[detection] scan = "block"`), so a candidate that stops blocking says
//! which blocks it ends.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use portreeve_core::{PortKey, PortRange, Proto};
use portreeve_enforce::blocks::{BlockKind, LiveBlock};
use portreeve_policy::{Policy, ScanAction};
use serde::Serialize;

use crate::grants::GrantRow;

/// What one line of the summary says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A port opens to zones it was not open to.
    Opens,
    /// A port closes to zones it was open to.
    Closes,
    /// No port opens or closes (the ruleset may still change otherwise).
    NoPortChange,
    /// Grants open now stay open across the apply.
    KeepsGrants,
    /// Blocks held now stay in place across the apply.
    KeepsBlocks,
    /// Automatic blocks held now end: the candidate does not block
    /// scanners.
    EndsBlocks,
}

/// One line of a plan's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryLine {
    /// What kind of change it is.
    pub change: Change,
    /// `tcp/443`, `udp/8000-8100`; `None` for the lines not about one port.
    pub port: Option<String>,
    /// For `opens` and `closes`: the zones concerned.
    pub zones: Vec<String>,
    /// For `closes`: the zones the port stays open to.
    pub still_open_to: Vec<String>,
    /// For `keeps_grants`: each grant's `SOURCE . PROTOCOL . PORT`.
    pub grants: Vec<String>,
    /// For `keeps_blocks` and `ends_blocks`: each blocked address or
    /// network.
    pub blocks: Vec<String>,
    /// The line in words.
    pub text: String,
}

impl SummaryLine {
    fn new(change: Change, port: Option<String>, text: String) -> SummaryLine {
        SummaryLine {
            change,
            port,
            zones: Vec::new(),
            still_open_to: Vec::new(),
            grants: Vec::new(),
            blocks: Vec::new(),
            text,
        }
    }
}

/// Each port range a policy opens, with the zones its rules admit.
type OpenPorts = BTreeMap<(Proto, PortRange), BTreeSet<String>>;

/// The ports `policy` opens without a grant, less the `closed` ones.
fn open_ports(policy: &Policy, closed: &[PortKey]) -> OpenPorts {
    let mut open = OpenPorts::new();
    for rule in policy.rules.iter().filter(|r| r.grant.is_none()) {
        for &proto in &rule.protocols {
            for &range in &rule.ports {
                let reclaimed = range.start() == range.end()
                    && closed.contains(&PortKey::new(proto, range.start()));
                if !reclaimed {
                    open.entry((proto, range))
                        .or_default()
                        .extend(rule.zones.iter().cloned());
                }
            }
        }
    }
    open
}

/// `everyone` for a zone that spans the internet, else `zone NAME
/// (NETWORKS)`, with the networks of whichever policy defines it.
fn zone_words(name: &str, policies: &[&Policy]) -> String {
    let Some(zone) = policies.iter().find_map(|p| p.zone(name)) else {
        return format!("zone {name}");
    };
    if zone.networks.iter().any(|n| n.prefix_len() == 0) {
        return "everyone".into();
    }
    let nets: Vec<String> = zone.networks.iter().map(ToString::to_string).collect();
    format!("zone {name} ({})", nets.join(", "))
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `tcp/22 for 203.0.113.9 until 2026-12-07 10:00 UTC`, from a grant's
/// `SOURCE . PROTOCOL . PORT` key and its time left.
fn grant_words(row: &GrantRow, now: Timestamp) -> String {
    let until = now + SignedDuration::from_secs(i64::try_from(row.seconds_left).unwrap_or(0));
    let until = until.strftime("%Y-%m-%d %H:%M UTC");
    match row.key.split(" . ").collect::<Vec<_>>()[..] {
        [source, proto, port] => format!("{proto}/{port} for {source} until {until}"),
        _ => format!("{} until {until}", row.key),
    }
}

/// `203.0.113.9 until 2026-12-07 10:00 UTC`, `… (automatic) until …`.
fn block_words(block: &LiveBlock, now: Timestamp) -> String {
    let until = now + SignedDuration::from_secs(i64::try_from(block.expires_s).unwrap_or(0));
    let until = until.strftime("%Y-%m-%d %H:%M UTC");
    match block.kind {
        BlockKind::Manual => format!("{} until {until}", block.source),
        BlockKind::Automatic => format!("{} (automatic) until {until}", block.source),
    }
}

/// The line saying which of `blocks` carry over (`change` `KeepsBlocks`)
/// or end (`EndsBlocks`), if any.
fn blocks_line(change: Change, blocks: &[&LiveBlock], now: Timestamp) -> Option<SummaryLine> {
    if blocks.is_empty() {
        return None;
    }
    let each: Vec<String> = blocks.iter().map(|b| block_words(b, now)).collect();
    let counted = crate::counted(blocks.len(), "block");
    let text = match change {
        Change::EndsBlocks => format!(
            "ends {counted} ({}): the policy does not block scanners",
            each.join(", ")
        ),
        _ => format!("keeps {counted} ({})", each.join(", ")),
    };
    let mut line = SummaryLine::new(change, None, text);
    line.blocks = blocks.iter().map(|b| b.source.to_string()).collect();
    Some(line)
}

/// What the firewall holds now that an apply carries over, or not: the
/// grants open and the blocks held, as of `now`.
#[derive(Debug, Clone, Copy)]
pub struct Carried<'a> {
    /// The grants open now.
    pub grants: &'a [GrantRow],
    /// The blocks held now, manual and automatic.
    pub blocks: &'a [LiveBlock],
    /// When they were read.
    pub now: Timestamp,
}

/// The summary of installing `candidate` where `in_effect` is live (`None`:
/// nothing is), with `closed` the ports reclaims closed and `carried` what
/// the firewall holds now: one line per port that opens or closes to a
/// zone, in protocol and port order, then the grants and blocks that carry
/// over, then the blocks that end.
pub fn summarize(
    in_effect: Option<&Policy>,
    candidate: &Policy,
    closed: &[PortKey],
    carried: Carried<'_>,
) -> Vec<SummaryLine> {
    let Carried {
        grants,
        blocks,
        now,
    } = carried;
    let before = in_effect.map(|p| open_ports(p, closed)).unwrap_or_default();
    let after = open_ports(candidate, closed);
    let policies: Vec<&Policy> = std::iter::once(candidate).chain(in_effect).collect();
    let words = |zones: &BTreeSet<String>| -> Vec<String> {
        zones.iter().map(|z| zone_words(z, &policies)).collect()
    };
    let none = BTreeSet::new();
    let keys: BTreeSet<&(Proto, PortRange)> = before.keys().chain(after.keys()).collect();
    let mut lines = Vec::new();
    for key @ (proto, range) in keys {
        let port = format!("{proto}/{range}", proto = proto.as_str());
        let was = before.get(key).unwrap_or(&none);
        let will = after.get(key).unwrap_or(&none);
        let opened: BTreeSet<String> = will.difference(was).cloned().collect();
        let closed_to: BTreeSet<String> = was.difference(will).cloned().collect();
        if !opened.is_empty() {
            let mut line = SummaryLine::new(
                Change::Opens,
                Some(port.clone()),
                format!("opens {port} to {}", listed(&words(&opened))),
            );
            line.zones = opened.into_iter().collect();
            lines.push(line);
        }
        if !closed_to.is_empty() {
            let text = if will.is_empty() {
                format!("closes {port} (was open to {})", listed(&words(was)))
            } else {
                format!(
                    "closes {port} to {} (still open to {})",
                    listed(&words(&closed_to)),
                    listed(&words(will))
                )
            };
            let mut line = SummaryLine::new(Change::Closes, Some(port), text);
            line.zones = closed_to.into_iter().collect();
            line.still_open_to = will.iter().cloned().collect();
            lines.push(line);
        }
    }
    if lines.is_empty() {
        lines.push(SummaryLine::new(
            Change::NoPortChange,
            None,
            "opens and closes no port".into(),
        ));
    }
    if !grants.is_empty() {
        let each: Vec<String> = grants.iter().map(|g| grant_words(g, now)).collect();
        let mut line = SummaryLine::new(
            Change::KeepsGrants,
            None,
            format!(
                "keeps {} ({})",
                crate::counted(grants.len(), "grant"),
                each.join(", ")
            ),
        );
        line.grants = grants.iter().map(|g| g.key.clone()).collect();
        lines.push(line);
    }
    let blocks_scanners = candidate.detection.scan == ScanAction::Block;
    let (kept, ended): (Vec<&LiveBlock>, Vec<&LiveBlock>) = blocks
        .iter()
        .partition(|b| b.kind == BlockKind::Manual || blocks_scanners);
    lines.extend(blocks_line(Change::KeepsBlocks, &kept, now));
    lines.extend(blocks_line(Change::EndsBlocks, &ended, now));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        portreeve_policy::parse_policy("p.toml", text).unwrap()
    }

    const ZONES: &str =
        "[zones]\nany = [\"0.0.0.0/0\"]\noffice = [\"10.1.0.0/16\"]\nmgmt = [\"10.9.0.0/24\"]\n";

    fn rule(name: &str, port: u16, zones: &str) -> String {
        format!(
            "[[rule]]\nname = \"{name}\"\nport = {port}\nprotocol = \"tcp\"\nzones = [{zones}]\n"
        )
    }

    fn texts(lines: &[SummaryLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn now() -> Timestamp {
        "2026-12-07T09:00:00Z".parse().unwrap()
    }

    /// No grant open, no block held.
    fn nothing() -> Carried<'static> {
        Carried {
            grants: &[],
            blocks: &[],
            now: now(),
        }
    }

    fn block(kind: BlockKind, source: &str, expires_s: u64) -> LiveBlock {
        LiveBlock {
            kind,
            source: source.parse().unwrap(),
            expires_s,
            timeout_s: 7200,
        }
    }

    #[test]
    fn blocks_carry_over_and_automatic_ones_end_where_scanners_are_not_blocked() {
        let blocks = [
            block(BlockKind::Manual, "198.51.100.0/24", 3600),
            block(BlockKind::Automatic, "203.0.113.9/32", 600),
        ];
        let carried = Carried {
            grants: &[],
            blocks: &blocks,
            now: now(),
        };
        let ssh = rule("ssh", 22, "\"mgmt\"");
        let blocking = policy(&format!("{ZONES}[detection]\nscan = \"block\"\n{ssh}"));
        let lines = summarize(Some(&blocking), &blocking, &[], carried);
        assert_eq!(
            texts(&lines),
            [
                "opens and closes no port",
                "keeps 2 blocks (198.51.100.0/24 until 2026-12-07 10:00 UTC, \
                 203.0.113.9/32 (automatic) until 2026-12-07 09:10 UTC)"
            ]
        );
        assert_eq!(lines[1].change, Change::KeepsBlocks);
        assert_eq!(lines[1].blocks, ["198.51.100.0/24", "203.0.113.9/32"]);

        let alerting = policy(&format!("{ZONES}[detection]\nscan = \"alert\"\n{ssh}"));
        let lines = summarize(Some(&blocking), &alerting, &[], carried);
        assert_eq!(
            texts(&lines)[1..],
            [
                "keeps 1 block (198.51.100.0/24 until 2026-12-07 10:00 UTC)",
                "ends 1 block (203.0.113.9/32 (automatic) until 2026-12-07 09:10 UTC): \
                 the policy does not block scanners"
            ]
        );
        assert_eq!(lines[2].change, Change::EndsBlocks);
        assert_eq!(lines[2].blocks, ["203.0.113.9/32"]);
    }

    #[test]
    fn a_first_plan_opens_every_port_to_its_zones() {
        let new = policy(&format!(
            "{ZONES}{}{}",
            rule("web", 443, "\"any\""),
            rule("db", 5432, "\"office\"")
        ));
        let lines = summarize(None, &new, &[], nothing());
        assert_eq!(
            texts(&lines),
            [
                "opens tcp/443 to everyone",
                "opens tcp/5432 to zone office (10.1.0.0/16)"
            ]
        );
        assert_eq!(lines[1].change, Change::Opens);
        assert_eq!(lines[1].port.as_deref(), Some("tcp/5432"));
        assert_eq!(lines[1].zones, ["office"]);
    }

    #[test]
    fn a_changed_policy_says_what_opens_closes_and_stays() {
        let old = policy(&format!(
            "{ZONES}{}{}",
            rule("admin", 8080, "\"mgmt\""),
            rule("ssh", 22, "\"mgmt\", \"office\"")
        ));
        let new = policy(&format!(
            "{ZONES}{}{}",
            rule("ssh", 22, "\"mgmt\""),
            rule("web", 443, "\"any\"")
        ));
        let lines = summarize(Some(&old), &new, &[], nothing());
        assert_eq!(
            texts(&lines),
            [
                "closes tcp/22 to zone office (10.1.0.0/16) (still open to zone mgmt (10.9.0.0/24))",
                "opens tcp/443 to everyone",
                "closes tcp/8080 (was open to zone mgmt (10.9.0.0/24))",
            ]
        );
        assert_eq!(lines[0].still_open_to, ["mgmt"]);
    }

    #[test]
    fn the_same_policy_changes_no_port_and_keeps_grants() {
        let same = policy(&format!("{ZONES}{}", rule("ssh", 22, "\"mgmt\"")));
        let grant = GrantRow {
            key: "203.0.113.9 . tcp . 22".into(),
            seconds_left: 3600,
            ttl_seconds: 7200,
            rule: None,
            actor: None,
            reason: None,
        };
        let carried = Carried {
            grants: &[grant],
            blocks: &[],
            now: now(),
        };
        let lines = summarize(Some(&same), &same, &[], carried);
        assert_eq!(
            texts(&lines),
            [
                "opens and closes no port",
                "keeps 1 grant (tcp/22 for 203.0.113.9 until 2026-12-07 10:00 UTC)"
            ]
        );
        assert_eq!(lines[1].grants, ["203.0.113.9 . tcp . 22"]);
    }

    #[test]
    fn on_demand_rules_and_reclaimed_ports_open_nothing() {
        let new = policy(&format!(
            "{ZONES}{}{}[[rule]]\nname = \"debug\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"office\"]\ngrant = {{ max_ttl = \"1h\" }}\n",
            rule("web", 443, "\"any\""),
            rule("old", 7070, "\"office\"")
        ));
        let lines = summarize(None, &new, &[PortKey::new(Proto::Tcp, 7070)], nothing());
        assert_eq!(texts(&lines), ["opens tcp/443 to everyone"]);
    }
}

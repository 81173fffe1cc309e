//! `portreeve policy init`: a starter policy written from what a host runs.
//!
//! The starter is deliberately not a rubber stamp: every exposed listener
//! becomes a *commented* rule with its evidence above it, so that adopting a
//! listener is a decision someone reviews, not a default. Uncommenting any
//! subset of the rules yields a valid policy.
//!
//! One exception keeps the unedited starter from locking its author out:
//! the rule of an SSH daemon's port is written active, from a `management`
//! zone holding the sources of the SSH sessions open when it was written
//! (the policy's management zone, so `apply` refuses to cut them).
//!
//! The `private` zone is the networks the host is connected to, not all of
//! RFC 1918, so a rule adopted from the starter admits the host's own
//! neighbours rather than every private network anywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;

use jiff::civil::Date;
use portreeve_core::{ListeningSocket, Proto};

use crate::catalogue;
use crate::parse::FORMAT_VERSION;

/// Listeners grouped by what a rule would say about them.
#[derive(Default)]
struct Group<'a> {
    protocols: Vec<Proto>,
    sockets: Vec<&'a ListeningSocket>,
}

/// What the starter knows of the host's SSH access.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshSeen {
    /// TCP ports an SSH daemon listens on.
    pub ports: Vec<u16>,
    /// Where the SSH sessions open now come from (loopback is left out).
    pub session_sources: Vec<IpAddr>,
}

impl SshSeen {
    /// The zone the SSH rule admits: `management` when sessions were seen,
    /// else `private` when the host is connected to `networks`. None when
    /// neither: no session and no network, so no one's way in to keep.
    fn zone(&self, networks: &[IpNet]) -> Option<&'static str> {
        if !self.management().is_empty() {
            Some("management")
        } else if !networks.is_empty() {
            Some("private")
        } else {
            None
        }
    }

    /// The management zone's networks, one per session source.
    fn management(&self) -> Vec<String> {
        let mut nets: Vec<String> = self
            .session_sources
            .iter()
            .filter(|a| !a.is_loopback())
            .map(|a| IpNet::from(a.to_canonical()).to_string())
            .collect();
        nets.sort();
        nets.dedup();
        nets
    }
}

/// The text of a starter policy for a host named `host` with `sockets`,
/// whose SSH access is `ssh`, connected to `networks` (its `private` zone).
pub fn starter_policy(
    host: &str,
    sockets: &[ListeningSocket],
    ssh: &SshSeen,
    networks: &[IpNet],
    today: Date,
) -> String {
    let mut out = String::new();
    header(&mut out, host, ssh, networks, today);

    // Group exposed listeners by port and owning service, so tcp+udp of one
    // service and its IPv4+IPv6 sockets become one rule.
    let mut groups: BTreeMap<(u16, String), Group> = BTreeMap::new();
    let mut loopback: Vec<&ListeningSocket> = Vec::new();
    for s in sockets {
        if !s.is_exposed() {
            loopback.push(s);
            continue;
        }
        let g = groups
            .entry((s.port, s.service_label().unwrap_or_default()))
            .or_default();
        if !g.protocols.contains(&s.protocol) {
            g.protocols.push(s.protocol);
            g.protocols.sort();
        }
        g.sockets.push(s);
    }

    if groups.is_empty() {
        out.push_str("# No listener on a non-loopback address was seen: nothing to allow yet.\n");
    }
    let mut used_names: Vec<String> = Vec::new();
    for ((port, _), g) in &groups {
        out.push('\n');
        let ssh_daemon = g.protocols == [Proto::Tcp] && ssh.ports.contains(port);
        let ssh_zone = ssh_daemon.then(|| ssh.zone(networks)).flatten();
        rule_block(&mut out, *port, g, ssh_zone, today, &mut used_names);
    }

    if !loopback.is_empty() {
        out.push_str(
            "\n# Loopback-only listeners (reachable from this host only; no rule needed):\n",
        );
        for s in loopback {
            let owner = s.service_label().unwrap_or_else(|| "owner unknown".into());
            let _ = writeln!(
                out,
                "#   {}/{} {} — {owner}",
                s.port,
                s.protocol,
                s.endpoint()
            );
        }
    }
    out
}

fn header(out: &mut String, host: &str, ssh: &SshSeen, networks: &[IpNet], today: Date) {
    let management = ssh.management();
    let management_zone = if management.is_empty() {
        "# management = [\"192.0.2.0/24\"]\n".to_string()
    } else {
        format!(
            "# Where the SSH sessions open when this was written came from.\nmanagement = {}\n",
            toml_list(&management)
        )
    };
    let private_zone = if networks.is_empty() {
        "# No network was seen on an interface that is up; name yours, e.g.:\n# private = [\"192.0.2.0/24\"]\n".to_string()
    } else {
        let nets: Vec<String> = networks.iter().map(|n| n.trunc().to_string()).collect();
        format!(
            "# The networks this host's interfaces were on when this was written.\nprivate = {}\n",
            toml_list(&nets)
        )
    };
    let _ = write!(
        out,
        r#"# portreeve policy — starter written by `portreeve policy init` on {host}, {today}.
#
# Every listener seen on a non-loopback address is below as a commented rule,
# with what was observed. Review each one: uncomment the rules that should
# stay, choose their zones, and fill in owner, reason and approved_by. Close
# the rest. Then run `portreeve policy validate FILE` and
# `portreeve check --policy FILE`. Reference: docs/policy.md.
version = {FORMAT_VERSION}

[defaults]
approval_validity_days = 365   # approvals without `expires` lapse after this
expiry_warning_days = 14       # warn this long before an approval lapses
min_severity = "info"          # findings below this are not reported
unknown_port_severity = "medium"
risky_severity = "high"
report_stale_rules = true

[zones]
# Source networks a rule can allow. Adjust to your networks.
public = ["0.0.0.0/0", "::/0"]
{private_zone}{management_zone}
"#
    );
    enforce_section(out, ssh, &management);
    out.push_str(
        r#"
[lifecycle]
# When an unused port counts as dormant or abandoned, and what happens to an
# abandoned one ("recommend", "close" or "off"). Defaults:
# dormant_after = "72h"
# abandoned_after = "30d"
# reclaim = "recommend"

[change_control]
# Whether installing a policy needs an approved proposal. Defaults:
# required = false
# approvals = 1
# self_approval = false
# approval_valid_for = "30d"

[detection]
# What is done about a source that scans this host ("off", "alert" or
# "block"), how long an automatic block lasts, zones never blocked, and the
# kernel's threshold: this many closed ports within the window; the agent
# reads every probe from NFLOG group log_group (not [enforce] log_group).
# Defaults:
# scan = "off"
# block_ttl = "10m"
# max_block_ttl = "1d"
# never_block = []
# ports = 4
# window = "60s"
# log_group = 2

[banned]
# Built-in bans: 21/tcp, 23/tcp, 69/udp, 111, 512-514/tcp, 2375/tcp, 6000-6063/tcp.
include_defaults = true
ports = []
"#,
    );
}

/// `[enforce]`: its defaults as comments, and the management zone `apply`
/// must keep SSH access for when SSH sessions were seen.
fn enforce_section(out: &mut String, ssh: &SshSeen, management: &[String]) {
    out.push_str(
        r#"[enforce]
# How `apply` turns this policy into a firewall. Defaults:
# default_action = "drop"
# log = "nflog"  # or "kernel" (journalctl -k), or "off"
# log_group = 0
# log_rate_per_second = 10
# allow_ping = true
# allow_dhcp_client = true
# usage_retention_days = 400
"#,
    );
    if management.is_empty() {
        out.push_str("# management_zone: none, as no SSH session was seen when this was written\n");
    } else {
        out.push_str(
            "# `apply` refuses a ruleset that would cut this zone's SSH access.\nmanagement_zone = \"management\"\n",
        );
    }
    match ssh.ports.as_slice() {
        [p, ..] if *p != 22 && !management.is_empty() => {
            let _ = writeln!(out, "ssh_port = {p}");
        }
        _ => out.push_str("# ssh_port = 22\n"),
    }
}

/// The rule for one group of listeners: commented, unless `ssh_zone` says
/// it is an SSH daemon's, written active from that zone.
fn rule_block(
    out: &mut String,
    port: u16,
    g: &Group,
    ssh_zone: Option<&str>,
    today: Date,
    used_names: &mut Vec<String>,
) {
    let protos: Vec<&str> = g.protocols.iter().map(|p| p.as_str()).collect();
    let mut endpoints: Vec<String> = g
        .sockets
        .iter()
        .map(|s| format!("{}/{}", s.endpoint(), s.protocol))
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let entry = g.protocols.iter().find_map(|p| catalogue::lookup(*p, port));
    let _ = writeln!(
        out,
        "# {port}/{} — {} — seen on {}",
        protos.join("+"),
        entry.map_or("not in the risk catalogue", |e| e.service),
        endpoints.join(", ")
    );
    let first = g.sockets[0];
    match first.processes.first() {
        Some(p) => {
            let _ = writeln!(
                out,
                "# held by {} (pid {}){}",
                p.name,
                p.pid,
                p.exe
                    .as_deref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "# {}", first.owner_status.explain());
        }
    }
    if let Some(e) = entry {
        let _ = writeln!(out, "# risk {}: {}", e.severity, e.rationale);
    }
    if let Some(dual) = g.sockets.iter().find(|s| s.dual_stack) {
        let _ = writeln!(
            out,
            "# note: {} is dual-stack and accepts IPv4 too",
            dual.endpoint()
        );
    }

    let banned = g.protocols.iter().any(|p| banned_by_default(*p, port));
    if banned {
        let _ = writeln!(
            out,
            "# BANNED: this port is on the built-in banned list; no rule can allow it. Close it or bind it to loopback."
        );
        return;
    }

    // Name rules after the service unit, else the process; a session or
    // container scope name says nothing about what the service is.
    let owner_name = first.processes.first().map(|p| match &p.systemd_unit {
        Some(unit) if unit.ends_with(".service") => unit.trim_end_matches(".service").to_string(),
        _ => p.name.clone(),
    });
    let base = match owner_name {
        None => format!("port-{port}"),
        Some(owner) => {
            let slug: String = owner
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            let words: Vec<&str> = slug.split('-').filter(|w| !w.is_empty()).collect();
            format!("{}-{port}", words.join("-"))
        }
    };
    let mut name = base.clone();
    let mut n = 2;
    while used_names.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    used_names.push(name.clone());

    let protocol = if protos.len() == 1 {
        toml_str(protos[0])
    } else {
        format!(
            "[{}]",
            protos
                .iter()
                .map(|p| toml_str(p))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let c = if ssh_zone.is_some() {
        let _ = writeln!(
            out,
            "# active: an SSH daemon listens here; closing it would cut the way in"
        );
        ""
    } else {
        "# "
    };
    let _ = writeln!(out, "{c}[[rule]]");
    let _ = writeln!(out, "{c}name = {}", toml_str(&name));
    let _ = writeln!(out, "{c}port = {port}");
    let _ = writeln!(out, "{c}protocol = {protocol}");
    let zone = ssh_zone.unwrap_or("private");
    let _ = writeln!(out, "{c}zones = [\"{zone}\"]");
    if let Some(p) = first.processes.first() {
        match (&p.container_id, &p.systemd_unit) {
            // What `docker ps` shows: a container is the service.
            (Some(id), _) => {
                let short = id.get(..12).filter(|_| id.len() == 64).unwrap_or(id);
                let _ = writeln!(out, "{c}service = {{ container = {} }}", toml_str(short));
            }
            (None, Some(unit)) if unit.ends_with(".service") => {
                let _ = writeln!(out, "{c}service = {{ unit = {} }}", toml_str(unit));
            }
            (None, _) => {
                let _ = writeln!(out, "{c}service = {{ process = {} }}", toml_str(&p.name));
            }
        }
    }
    let _ = writeln!(out, "{c}owner = \"\"");
    let _ = writeln!(out, "{c}reason = \"\"");
    let _ = writeln!(out, "{c}approved_by = \"\"");
    let _ = writeln!(out, "{c}approved_on = {today}");
}

fn banned_by_default(proto: Proto, port: u16) -> bool {
    crate::parse::DEFAULT_BANS
        .iter()
        .any(|&(a, b, protos)| protos.contains(&proto) && (a..=b).contains(&port))
}

/// `items` as a TOML array of strings.
fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| toml_str(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// `s` as a TOML basic string, escaped as TOML (not Rust) requires.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

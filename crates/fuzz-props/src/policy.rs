//! The policy parser, and what a parsed policy turns into: the ruleset the
//! firewall gets, its nftables and iptables renderings, and the findings of
//! `check`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portreeve_core::{
    BindScope, Family, FindingKind, ListeningSocket, NetnsRef, OwnerStatus, Proto, Severity,
};
use portreeve_enforce::{Ruleset, Verdict, iptables_text, nft_text};
use portreeve_policy::{Policy, evaluate, parse_policy, parse_policy_bytes};

/// The policy parser, from a file's bytes as `LoadedPolicy::read` gets
/// them. Any input — UTF-8 or not — must yield a policy or located errors,
/// never a panic, and every error must point inside the text it is shown
/// against. A policy that parses must be enforced as it reads: see
/// `enforced_as_written`.
pub fn policy_parse(data: &[u8]) {
    match parse_policy_bytes("fuzz.toml", data) {
        Ok(policy) => {
            // Bytes that parse are UTF-8, and parse the same as text.
            let text = std::str::from_utf8(data).expect("a parsed policy is UTF-8");
            assert_eq!(parse_policy("fuzz.toml", text).as_ref(), Ok(&policy));
            enforced_as_written(&policy);
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            if std::str::from_utf8(data).is_ok() {
                assert_eq!(errors.source.as_bytes(), data, "the source is the text");
            }
            for e in &errors.errors {
                assert!(e.span.start <= e.span.end, "span backwards");
                assert!(e.span.end <= errors.source.len(), "span outside the input");
                assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
}

/// Most sources and ports tried per policy, to bound the work per input.
const MAX_PROBES: usize = 48;

/// The day findings are judged on.
fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 29)
}

/// A parsed policy compiles (or is refused by the one compile check, rules
/// with overlapping limits); the compiled ruleset renders to nftables and
/// iptables text holding exactly its sets; and at every source and port
/// where the policy's own edges lie, the ruleset's verdict is what the
/// policy says when read directly, and `check` reports a listener there as
/// the firewall treats it: banned exactly where the ruleset bans, never
/// "not allowed" where the ruleset accepts.
fn enforced_as_written(policy: &Policy) {
    let ports = ports_at_edges(policy);
    let findings = findings_for_listeners(policy, &ports);
    let Ok(ruleset) = Ruleset::compile(policy) else {
        return;
    };
    renderings_hold(&ruleset);
    let sources = sources_at_edges(policy);
    for proto in [Proto::Tcp, Proto::Udp] {
        for &port in &ports {
            let mut accepted_somewhere = false;
            for &source in &sources {
                let verdict = ruleset.verdict(source, proto, port);
                assert_eq!(
                    verdict,
                    verdict_as_written(policy, source, proto, port),
                    "{source} to {port}/{proto}"
                );
                accepted_somewhere |= verdict == Verdict::Accepted;
            }
            let reported = |kind: FindingKind| {
                findings.iter().any(|f| {
                    f.kind == kind
                        && f.socket
                            .as_ref()
                            .is_some_and(|s| s.protocol == proto && s.port == port)
                })
            };
            let banned = ruleset.verdict(sources[0], proto, port) == Verdict::Banned;
            assert_eq!(
                reported(FindingKind::BannedPort),
                banned,
                "PR002 for {port}/{proto}"
            );
            if accepted_somewhere {
                assert!(
                    !reported(FindingKind::ListenerNotAllowed),
                    "PR001 for {port}/{proto}, which the ruleset accepts"
                );
            }
            let covered = policy.rules.iter().any(|r| r.covers(proto, port));
            assert_eq!(
                reported(FindingKind::ListenerNotAllowed),
                !banned && !covered,
                "PR001 for {port}/{proto}"
            );
        }
    }
}

/// What a new connection meets, read straight from the policy: banned
/// ports first, then any rule without a grant whose zones hold the source
/// and whose family, protocol and ports match.
fn verdict_as_written(policy: &Policy, source: IpAddr, proto: Proto, port: u16) -> Verdict {
    if policy.banned_entry(proto, port).is_some() {
        return Verdict::Banned;
    }
    let family = if source.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let accepted = policy.rules.iter().any(|rule| {
        rule.grant.is_none()
            && rule.covers(proto, port)
            && rule.families.contains(&family)
            && policy.zones.iter().any(|zone| {
                rule.zones.contains(&zone.name) && zone.networks.iter().any(|n| n.contains(&source))
            })
    });
    if accepted {
        Verdict::Accepted
    } else {
        Verdict::NotAllowed
    }
}

/// The findings of `check` (every severity) for a wildcard listener with no
/// known owner on each port, over both protocols.
fn findings_for_listeners(policy: &Policy, ports: &[u16]) -> Vec<portreeve_core::Finding> {
    let mut policy = policy.clone();
    policy.defaults.min_severity = Severity::Info;
    let sockets: Vec<ListeningSocket> = [Proto::Tcp, Proto::Udp]
        .into_iter()
        .flat_map(|proto| {
            ports
                .iter()
                .map(move |&port| wildcard_listener(proto, port))
        })
        .collect();
    evaluate(&policy, &sockets, today())
}

fn wildcard_listener(protocol: Proto, port: u16) -> ListeningSocket {
    let address = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    ListeningSocket {
        protocol,
        family: Family::Ipv4,
        address,
        port,
        interface: None,
        scope: BindScope::of(address),
        dual_stack: false,
        uid: 0,
        user: None,
        inode: u64::from(port),
        netns: NetnsRef {
            inode: 4026531840,
            name: Some("host".into()),
        },
        owner_status: OwnerStatus::NoProcess,
        processes: Vec::new(),
    }
}

/// Ports where the policy changes its mind: the first and last port of
/// every rule's and every ban's ranges and the ports just outside them, and
/// the ends of the port space.
fn ports_at_edges(policy: &Policy) -> Vec<u16> {
    let ranges = policy
        .rules
        .iter()
        .flat_map(|r| r.ports.iter())
        .chain(policy.banned.iter().map(|b| &b.ports));
    let mut ports = BTreeSet::from([1, u16::MAX]);
    for r in ranges {
        ports.extend([r.start(), r.end()]);
        ports.extend(r.start().checked_sub(1).filter(|&p| p > 0));
        ports.extend(r.end().checked_add(1));
    }
    ports.into_iter().take(MAX_PROBES).collect()
}

/// Sources where the policy changes its mind: the first and last address
/// of every zone's networks and the addresses just outside them, and one
/// address of each family in no zone of the documentation examples.
fn sources_at_edges(policy: &Policy) -> Vec<IpAddr> {
    let mut sources = vec![
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9)),
    ];
    for net in policy.zones.iter().flat_map(|z| &z.networks) {
        sources.extend(edges(*net));
    }
    let mut seen = BTreeSet::new();
    sources.retain(|s| seen.insert(*s));
    sources.truncate(MAX_PROBES);
    sources
}

/// A network's first and last address and its neighbours outside it.
fn edges(net: IpNet) -> Vec<IpAddr> {
    match net {
        IpNet::V4(n) => {
            let (first, last) = (u32::from(n.network()), u32::from(n.broadcast()));
            [
                first.checked_sub(1),
                Some(first),
                Some(last),
                last.checked_add(1),
            ]
            .into_iter()
            .flatten()
            .map(|a| IpAddr::V4(a.into()))
            .collect()
        }
        IpNet::V6(n) => {
            let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
            [
                first.checked_sub(1),
                Some(first),
                Some(last),
                last.checked_add(1),
            ]
            .into_iter()
            .flatten()
            .map(|a| IpAddr::V6(a.into()))
            .collect()
        }
    }
}

/// The nftables text holds exactly the ruleset's allowances and bans, and
/// the iptables script bans exactly its banned ports in both families.
fn renderings_hold(ruleset: &Ruleset) {
    let nft = nft_text::render(ruleset);
    let allowed_v4: Vec<String> = ruleset
        .allowed_v4
        .iter()
        .map(|a| format!("{} . {} . {}", a.source, a.protocol, a.ports))
        .collect();
    let allowed_v6: Vec<String> = ruleset
        .allowed_v6
        .iter()
        .map(|a| format!("{} . {} . {}", a.source, a.protocol, a.ports))
        .collect();
    let banned: Vec<String> = ruleset
        .banned
        .iter()
        .map(|s| format!("{} . {}", s.protocol, s.ports))
        .collect();
    assert_eq!(nft_set_elements(&nft, "allowed_v4"), allowed_v4, "{nft}");
    assert_eq!(nft_set_elements(&nft, "allowed_v6"), allowed_v6, "{nft}");
    assert_eq!(nft_set_elements(&nft, "banned"), banned, "{nft}");

    let script = iptables_text::render(ruleset);
    let expected: BTreeSet<(String, String)> = ruleset
        .banned
        .iter()
        .map(|s| {
            let ports = if s.ports.start() == s.ports.end() {
                s.ports.start().to_string()
            } else {
                format!("{}:{}", s.ports.start(), s.ports.end())
            };
            (s.protocol.to_string(), ports)
        })
        .collect();
    for tool in ["iptables", "ip6tables"] {
        // The input chain bans by the packet's port, the published-port
        // chain by the port the client asked for before DNAT: both the same.
        for (chain, port_flag) in [
            ("PORTREEVE-INPUT", "--dports"),
            ("PORTREEVE-PUBLISHED", "--ctorigdstport"),
        ] {
            assert_eq!(
                iptables_banned(&script, tool, chain, port_flag),
                expected,
                "{tool} {chain} bans in:\n{script}"
            );
        }
    }
}

/// The elements of the nftables set `name`, one per line as rendered.
fn nft_set_elements(nft: &str, name: &str) -> Vec<String> {
    let header = format!("\tset {name} {{");
    let mut lines = nft
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| *l != "\t}");
    if !lines.any(|l| l.trim() == "elements = {") {
        return Vec::new();
    }
    lines
        .take_while(|l| l.trim() != "}")
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .collect()
}

/// The (protocol, port or `first:last`) pairs the `banned ports` rules of
/// `chain` fed to `tool`-restore drop, their ports given after `port_flag`.
fn iptables_banned(
    script: &str,
    tool: &str,
    chain: &str,
    port_flag: &str,
) -> BTreeSet<(String, String)> {
    let append = format!("-A {chain} ");
    let mut banned = BTreeSet::new();
    let start = format!("{tool}-restore --noflush <<'EOF'");
    let heredoc = script
        .lines()
        .skip_while(|l| *l != start)
        .skip(1)
        .take_while(|l| *l != "EOF");
    for line in heredoc {
        if !line.starts_with(&append) || !line.contains("--comment \"banned ports\"") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .iter()
                .position(|w| *w == flag)
                .and_then(|i| words.get(i + 1))
                .copied()
        };
        let (Some(proto), Some(list)) = (after("-p"), after(port_flag)) else {
            panic!("a banned-ports rule without -p or {port_flag}: {line}");
        };
        banned.extend(list.split(',').map(|p| (proto.to_string(), p.to_string())));
    }
    banned
}

//! `starter_policy`: valid as written, valid with every rule uncommented, and
//! no rule for what the policy would reject anyway.

mod common;

use common::{owned_by, socket, without_owner};
use ipnet::IpNet;
use jiff::civil::date;
use portreeve_core::{ListeningSocket, OwnerStatus, Proto};
use portreeve_policy::{SshSeen, parse_policy, starter_policy};

/// A socket owned by `owner` (process name, unit), or by no visible process.
fn on(proto: Proto, addr: &str, port: u16, owner: Option<(&str, &str)>) -> ListeningSocket {
    match owner {
        Some((name, unit)) => owned_by(socket(proto, addr, port), name, unit),
        None => without_owner(socket(proto, addr, port), OwnerStatus::NoProcess),
    }
}

const CONTAINER: &str = "3f4e9a1c2b7d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

fn host_sockets() -> Vec<ListeningSocket> {
    let mut dual = on(
        Proto::Tcp,
        "::",
        8443,
        Some(("api \"v2\"", "session-3.scope")),
    );
    dual.dual_stack = true;
    let mut containerised = on(
        Proto::Tcp,
        "0.0.0.0",
        6380,
        Some(("redis-server", "docker-x.scope")),
    );
    std::sync::Arc::make_mut(&mut containerised.processes[0]).container_id = Some(CONTAINER.into());
    vec![
        containerised,
        on(Proto::Tcp, "0.0.0.0", 22, Some(("sshd", "ssh.service"))),
        on(Proto::Tcp, "::", 22, Some(("sshd", "ssh.service"))),
        on(Proto::Tcp, "0.0.0.0", 53, Some(("named", "named.service"))),
        on(Proto::Udp, "0.0.0.0", 53, Some(("named", "named.service"))),
        on(
            Proto::Tcp,
            "0.0.0.0",
            23,
            Some(("telnetd", "inetd.service")),
        ),
        on(
            Proto::Tcp,
            "127.0.0.1",
            5432,
            Some(("postgres", "postgresql.service")),
        ),
        on(Proto::Udp, "0.0.0.0", 4789, None),
        dual,
    ]
}

/// The networks the host is connected to, as its interfaces hold them
/// (host bits set).
fn office_networks() -> Vec<IpNet> {
    ["10.81.0.1/24", "fd81::1/64"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Uncomments every commented TOML line of the rule blocks.
fn uncomment_rules(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest == "[[rule]]"
                    || rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The starter for `web01` with [`host_sockets`] on the office networks,
/// with `ssh` the SSH access seen.
fn office_starter(ssh: &SshSeen) -> String {
    starter_policy(
        "web01",
        &host_sockets(),
        ssh,
        &office_networks(),
        date(2026, 11, 29),
    )
}

/// `text` parsed, or a panic showing the error and the text.
fn parsed(text: &str) -> portreeve_policy::Policy {
    parse_policy("starter.toml", text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn starter_is_valid_as_written_and_allows_nothing() {
    let text = office_starter(&SshSeen::default());
    let policy = parsed(&text);
    assert!(policy.rules.is_empty());
    assert!(text.contains("web01"));
}

#[test]
fn every_rule_uncommented_is_valid_and_covers_each_exposed_listener_once() {
    let text = office_starter(&SshSeen::default());
    let adopted = uncomment_rules(&text);
    let policy =
        parse_policy("starter.toml", &adopted).unwrap_or_else(|e| panic!("{e}\n{adopted}"));
    let mut labels: Vec<String> = policy
        .rules
        .iter()
        .map(|r| format!("{} {}", r.name, r.ports_label()))
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            "api-v2-8443 8443/tcp",
            "named-53 53/tcp+udp",
            "port-4789 4789/udp",
            "redis-server-6380 6380/tcp",
            "ssh-22 22/tcp",
        ],
        "{adopted}"
    );
    let ssh = policy.rules.iter().find(|r| r.name == "ssh-22").unwrap();
    assert_eq!(
        ssh.service.as_ref().unwrap().unit.as_deref(),
        Some("ssh.service")
    );
    assert_eq!(ssh.approved_on.unwrap().to_string(), "2026-11-29");
    let redis = policy
        .rules
        .iter()
        .find(|r| r.name == "redis-server-6380")
        .unwrap();
    assert_eq!(
        redis.service.as_ref().unwrap().container.as_deref(),
        Some("3f4e9a1c2b7d"),
        "bound by container"
    );
}

#[test]
fn banned_and_loopback_listeners_get_comments_not_rules() {
    let text = office_starter(&SshSeen::default());
    assert!(text.contains("BANNED"), "{text}");
    assert!(!text.contains("# port = 23"));
    assert!(text.contains("5432/tcp 127.0.0.1:5432 — postgresql.service"));
    assert!(text.contains("dual-stack"));
    assert!(text.contains("owner unknown"));
}

#[test]
fn the_ssh_rule_is_written_active_from_the_sessions_seen_which_are_the_management_zone() {
    let ssh = SshSeen {
        ports: vec![22],
        session_sources: ["198.51.100.7", "198.51.100.7", "2001:db8::5", "127.0.0.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect(),
    };
    let text = office_starter(&ssh);
    let policy = parsed(&text);
    let active: Vec<(&str, &[String])> = policy
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.zones.as_slice()))
        .collect();
    assert_eq!(
        active,
        [("ssh-22", &["management".to_string()][..])],
        "{text}"
    );
    let nets: Vec<String> = policy
        .zone("management")
        .unwrap()
        .networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        nets,
        ["198.51.100.7/32", "2001:db8::5/128"],
        "loopback left out"
    );
    assert_eq!(
        policy.enforce.management_zone.as_deref(),
        Some("management")
    );
    // The rest stays for review, and adopting it is still valid.
    let adopted = uncomment_rules(&text);
    let all = parse_policy("starter.toml", &adopted).unwrap_or_else(|e| panic!("{e}\n{adopted}"));
    assert_eq!(all.rules.len(), 5);

    // No session seen: the SSH rule is still active, from the private zone,
    // and there is no management zone.
    let unseen = SshSeen {
        ports: vec![22],
        session_sources: Vec::new(),
    };
    let text = office_starter(&unseen);
    let policy = parsed(&text);
    assert_eq!(policy.rules.len(), 1);
    assert_eq!(policy.rules[0].zones, ["private"]);
    assert_eq!(policy.enforce.management_zone, None);
}

#[test]
fn the_private_zone_is_the_connected_networks_said_so() {
    let text = office_starter(&SshSeen::default());
    let policy = parsed(&text);
    let nets: Vec<String> = policy
        .zone("private")
        .unwrap()
        .networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.81.0.0/24", "fd81::/64"], "{text}");
    assert!(
        text.contains("# The networks this host's interfaces were on"),
        "{text}"
    );
    assert!(!text.contains("192.168.0.0/16"), "{text}");
}

#[test]
fn with_no_network_and_no_session_the_private_zone_is_an_example_and_ssh_a_comment() {
    let unseen = SshSeen {
        ports: vec![22],
        session_sources: Vec::new(),
    };
    let text = starter_policy("web01", &host_sockets(), &unseen, &[], date(2026, 11, 29));
    let policy = parsed(&text);
    assert_eq!(policy.zone("private"), None, "{text}");
    assert!(policy.rules.is_empty(), "{text}");
    assert!(text.contains("# private = [\"192.0.2.0/24\"]"), "{text}");
    // Filling in the example makes every rule valid.
    let adopted = uncomment_rules(&text);
    let all = parse_policy("starter.toml", &adopted).unwrap_or_else(|e| panic!("{e}\n{adopted}"));
    assert_eq!(all.rules.len(), 5);
}

#[test]
fn enforce_lifecycle_change_control_and_detection_are_written_with_their_defaults_commented() {
    let text = starter_policy(
        "web01",
        &[],
        &SshSeen::default(),
        &office_networks(),
        date(2026, 11, 29),
    );
    for section in [
        "[enforce]",
        "[lifecycle]",
        "[change_control]",
        "[detection]",
    ] {
        assert!(text.lines().any(|l| l == section), "no {section}: {text}");
    }
    let written = parse_policy("starter.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let adopted = uncomment_rules(&text);
    assert!(adopted.contains("\nreclaim = \"recommend\""), "{adopted}");
    let uncommented =
        parse_policy("starter.toml", &adopted).unwrap_or_else(|e| panic!("{e}\n{adopted}"));
    let defaults = parse_policy("empty.toml", "").unwrap();
    // The commented values are the defaults: uncommenting them changes nothing.
    for policy in [&written, &uncommented] {
        assert_eq!(policy.enforce, defaults.enforce, "{adopted}");
        assert_eq!(policy.lifecycle, defaults.lifecycle, "{adopted}");
        assert_eq!(policy.change_control, defaults.change_control, "{adopted}");
        assert_eq!(policy.detection, defaults.detection, "{adopted}");
    }
}

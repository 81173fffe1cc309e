//! The fingerprints `evaluate` and `reconcile` give real findings, pinned to
//! the documented formula (docs/findings.md, "Fingerprints"): the first 8
//! bytes of SHA-256 over the code, a zero byte and the key, in hex. The core
//! crate pins the formula itself; these tests pin that each kind of finding
//! feeds it the key the documentation gives — socket, rule and scan keys —
//! so that renaming a field, reordering a key or adding the host to it
//! would fail here rather than re-key every dashboard's findings.
//!
//! Every expected value was computed once outside Rust, with the coreutils
//! command in its comment.

mod common;

use common::{dual_stack, socket, without_owner};
use jiff::civil::date;
use portreeve_core::{Observed, ObservedPort, OwnerStatus, Proto, ScanView};
use portreeve_policy::{evaluate, parse_policy, reconcile};

/// (code, fingerprint) of each finding, in report order.
fn pairs(findings: &[portreeve_core::Finding]) -> Vec<(&'static str, String)> {
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| (f.kind.code(), f.fingerprint.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn socket_and_rule_findings_use_the_documented_keys() {
    // Rule 3 is unnamed, so its key says `rule #3`; `dns` lists its
    // protocols udp first, and its key still reads `tcp+udp`.
    let policy = parse_policy(
        "fingerprints.toml",
        r#"
[zones]
public = ["0.0.0.0/0", "::/0"]
office = ["198.51.100.0/24"]

[banned]
ports = ["161/udp"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]
expires = 2026-11-01

[[rule]]
name = "web"
ports = [80, 443]
protocol = "tcp"
zones = ["public"]
expires = 2026-12-04

[[rule]]
ports = ["8000-8100"]
protocol = "udp"
zones = ["office"]

[[rule]]
name = "dns"
port = 53
protocol = ["udp", "tcp"]
zones = ["public"]

[[rule]]
name = "node-exporter"
port = 9100
protocol = "tcp"
zones = ["public"]
family = "ipv4"

[[rule]]
name = "overlay"
port = 4789
protocol = "udp"
zones = ["public"]
service = { unit = "flanneld.service" }
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let in_netns =
        |mut s: portreeve_core::ListeningSocket, iface: Option<&str>, netns: Option<&str>| {
            s.interface = iface.map(str::to_string);
            s.netns.name = netns.map(str::to_string);
            s
        };
    let sockets = [
        // Loopback listeners keep `ssh` and `web` from being stale.
        socket(Proto::Tcp, "127.0.0.1", 22),
        socket(Proto::Tcp, "127.0.0.1", 80),
        in_netns(socket(Proto::Tcp, "0.0.0.0", 6379), None, Some("host")),
        in_netns(
            socket(Proto::Udp, "192.0.2.10", 161),
            Some("eth0"),
            Some("blue"),
        ),
        in_netns(dual_stack(9100), None, Some("host")),
        in_netns(
            without_owner(socket(Proto::Udp, "fe80::1", 4789), OwnerStatus::NoProcess),
            Some("vxlan0"),
            None,
        ),
    ];
    let findings = evaluate(&policy, &sockets, date(2026, 11, 29));
    let expected = [
        // printf 'PR001\0%s' 'tcp|0.0.0.0|6379||host' | sha256sum | cut -c1-16
        ("PR001", "7658c21701a126d2"),
        // printf 'PR002\0%s' 'udp|192.0.2.10|161|eth0|blue' | sha256sum | cut -c1-16
        ("PR002", "4f87a8474f92b4c7"),
        // printf 'PR004\0%s' 'rule|ssh|22/tcp' | sha256sum | cut -c1-16
        ("PR004", "b3f32eb7c47fd342"),
        // printf 'PR005\0%s' 'rule|web|80/tcp, 443/tcp' | sha256sum | cut -c1-16
        ("PR005", "e286b5a2c9954bf4"),
        // printf 'PR006\0%s' 'rule|rule #3|8000-8100/udp' | sha256sum | cut -c1-16
        ("PR006", "2493857b4e0cb2cf"),
        // printf 'PR006\0%s' 'rule|dns|53/tcp+udp' | sha256sum | cut -c1-16
        ("PR006", "5ffb6f2652a6282c"),
        // printf 'PR007\0%s' 'tcp|::|9100||host' | sha256sum | cut -c1-16
        ("PR007", "09c7693909c7474c"),
        // printf 'PR008\0%s' 'udp|fe80::1|4789|vxlan0|' | sha256sum | cut -c1-16
        ("PR008", "fea2f1bd37466fcd"),
    ];
    let mut expected: Vec<(&str, String)> =
        expected.iter().map(|(c, f)| (*c, f.to_string())).collect();
    expected.sort();
    assert_eq!(pairs(&findings), expected, "{findings:#?}");
}

#[test]
fn scan_findings_use_the_documented_key() {
    let policy = parse_policy(
        "fingerprints.toml",
        "[zones]\noffice = [\"198.51.100.0/24\"]\n\
         [[rule]]\nname = \"db\"\nport = 5432\nprotocol = \"tcp\"\nzones = [\"office\"]\n",
    )
    .unwrap();
    let sockets = [
        socket(Proto::Tcp, "0.0.0.0", 5432),
        socket(Proto::Tcp, "0.0.0.0", 6379),
    ];
    let open = |protocol, port, unauthenticated| ObservedPort {
        protocol,
        port,
        observed: Observed::Open,
        service: None,
        product: None,
        unauthenticated,
    };
    let v4 = ScanView {
        target: "192.0.2.10".parse().unwrap(),
        source: Some("198.51.100.7".parse().unwrap()),
        ports: vec![
            open(Proto::Tcp, 5432, None),
            open(Proto::Tcp, 6379, Some(true)),
            open(Proto::Tcp, 8080, None),
        ],
    };
    let v6 = ScanView {
        target: "2001:db8::10".parse().unwrap(),
        source: Some("198.51.100.7".parse().unwrap()),
        ports: vec![open(Proto::Udp, 161, None)],
    };
    let mut findings = reconcile(&policy, &sockets, &v4).findings;
    findings.extend(reconcile(&policy, &sockets, &v6).findings);
    let expected = [
        // printf 'PR009\0%s' 'scan|192.0.2.10|tcp|5432' | sha256sum | cut -c1-16
        ("PR009", "bd85f6d89c7cd91b"),
        // printf 'PR010\0%s' 'scan|192.0.2.10|tcp|6379' | sha256sum | cut -c1-16
        ("PR010", "459939c5f152ddfd"),
        // printf 'PR011\0%s' 'scan|192.0.2.10|tcp|6379' | sha256sum | cut -c1-16
        ("PR011", "4328d80d868b5fbd"),
        // printf 'PR011\0%s' 'scan|192.0.2.10|tcp|8080' | sha256sum | cut -c1-16
        ("PR011", "6793686d14509fd9"),
        // printf 'PR012\0%s' 'scan|192.0.2.10|tcp|8080' | sha256sum | cut -c1-16
        ("PR012", "fe3bc952d58e9794"),
        // printf 'PR011\0%s' 'scan|2001:db8::10|udp|161' | sha256sum | cut -c1-16
        ("PR011", "195bfc2e6865dc74"),
        // printf 'PR012\0%s' 'scan|2001:db8::10|udp|161' | sha256sum | cut -c1-16
        ("PR012", "cb076041bd7a6f3f"),
    ];
    let mut expected: Vec<(&str, String)> =
        expected.iter().map(|(c, f)| (*c, f.to_string())).collect();
    expected.sort();
    assert_eq!(pairs(&findings), expected, "{findings:#?}");
}

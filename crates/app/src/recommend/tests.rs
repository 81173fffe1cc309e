use super::*;
use portreeve_enforce::{Ruleset, Verdict};
use portreeve_policy::parse_policy;

const POLICY: &str = r#"version = 1

[zones]
public = ["0.0.0.0/0", "::/0"]
private = ["10.0.0.0/8", "fd00::/8"]
office = ["10.1.0.0/16"]
admins = ["10.9.0.0/16"]

[enforce]
management_zone = "admins"

# SSH for the admins.
[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["admins"]

# The web site.
[[rule]]
name = "web"
ports = [80, 443]
protocol = "tcp"
zones = ["public"]

[[rule]]
name = "postgres"
port = 5432
protocol = "tcp"
zones = ["private"] # the app servers

[[rule]]
name = "backup"
port = 9102
protocol = "tcp"
zones = ["private"]
keep = true

[[rule]]
name = "legacy"
port = 8080
protocol = "tcp"
zones = ["private"]
"#;

fn now() -> Timestamp {
    "2026-12-06T12:00:00Z".parse().unwrap()
}

fn since() -> Timestamp {
    "2026-11-06T12:00:00Z".parse().unwrap()
}

fn used(source: &str, port: u16, connections: u64) -> SourceUse {
    let source: IpNet = match source.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => IpNet::from(source.parse::<std::net::IpAddr>().unwrap()),
    };
    SourceUse {
        source,
        protocol: Proto::Tcp,
        port,
        connections,
        first_seen: since(),
        last_seen: now(),
    }
}

fn run(usage: &[SourceUse], prefixes: Prefixes) -> (Recommendation, Policy) {
    let policy = parse_policy("policy.toml", POLICY).unwrap();
    let rec = recommend(POLICY, &policy, usage, since(), prefixes).unwrap();
    let parsed =
        parse_policy("recommended", &rec.text).unwrap_or_else(|e| panic!("{e}\n{}", rec.text));
    (rec, parsed)
}

fn rule<'p>(p: &'p Policy, name: &str) -> Option<&'p Rule> {
    p.rules.iter().find(|r| r.name == name)
}

fn typical() -> Vec<SourceUse> {
    vec![
        used("10.1.2.3", 5432, 100),
        used("10.1.2.4", 5432, 50),
        used("198.51.100.7", 443, 7),
        used("203.0.113.9", 443, 3),
    ]
}

#[test]
fn an_unused_rule_is_dropped_with_its_reason_in_the_header() {
    let (rec, p) = run(&typical(), Prefixes::default());
    assert!(rule(&p, "legacy").is_none(), "{}", rec.text);
    assert!(
        rec.text.contains(
            "# recommend: dropped rule `legacy`: no connection from its zones since 2026-11-06 12:00 UTC"
        ),
        "{}",
        rec.text
    );
    let legacy = rec.rules.iter().find(|a| a.rule == "legacy").unwrap();
    assert_eq!(legacy.action, Action::Dropped);
}

#[test]
fn keep_and_the_management_ssh_are_never_dropped_nor_narrowed() {
    // SSH used from one admin host: narrowing would make it a /24 of the
    // admins' /16, but the management SSH stays as written.
    let mut usage = typical();
    usage.push(used("10.9.4.4", 22, 12));
    let (rec, p) = run(&usage, Prefixes::default());
    assert_eq!(rule(&p, "ssh").unwrap().zones, ["admins"]);
    assert_eq!(rule(&p, "backup").unwrap().zones, ["private"]);
    assert!(rec.text.contains(
        "# recommend: kept as written (the management zone's SSH) — 12 connections from 1 source"
    ));
    assert!(rec.text.contains(
        "# recommend: kept as written (keep = true) — no connection from its zones since"
    ));
}

#[test]
fn sources_are_aggregated_at_the_prefix_into_a_new_zone() {
    let (rec, p) = run(&typical(), Prefixes::default());
    let postgres = rule(&p, "postgres").unwrap();
    assert_eq!(postgres.zones, ["seen-postgres"]);
    assert_eq!(
        p.zone("seen-postgres").unwrap().networks,
        ["10.1.2.0/24".parse::<IpNet>().unwrap()]
    );
    assert!(rec.text.contains(
        "# recommend: kept; sources narrowed to zone `seen-postgres` — 150 connections from 2 sources, last seen 2026-12-06 12:00 UTC"
    ), "{}", rec.text);
    // The comment after the value survives the edit.
    assert!(
        rec.text
            .contains(r#"zones = ["seen-postgres"] # the app servers"#),
        "{}",
        rec.text
    );
}

#[test]
fn the_smallest_existing_zone_covering_the_sources_is_chosen() {
    let usage = vec![used("10.1.2.3", 5432, 1), used("10.1.7.3", 5432, 1)];
    let (_, p) = run(&usage, Prefixes { v4: 16, v6: 64 });
    assert_eq!(rule(&p, "postgres").unwrap().zones, ["office"]);
    assert!(p.zone("seen-postgres").is_none());
}

#[test]
fn unused_ports_of_a_used_rule_are_removed_and_comments_survive() {
    let (rec, p) = run(&typical(), Prefixes::default());
    let web = rule(&p, "web").unwrap();
    assert_eq!(web.ports_label(), "443/tcp");
    assert!(rec.text.contains("unused ports removed: 80"));
    assert!(rec.text.contains("# SSH for the admins.\n"));
    assert!(rec.text.contains("# The web site.\n# recommend: kept"));
}

#[test]
fn no_recorded_use_at_all_is_refused() {
    let policy = parse_policy("policy.toml", POLICY).unwrap();
    let err = recommend(POLICY, &policy, &[], since(), Prefixes::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no use was recorded since 2026-11-06 12:00 UTC"),
        "{err}"
    );
}

#[test]
fn a_second_run_replaces_its_comments_instead_of_piling_them_up() {
    let (first, p) = run(&typical(), Prefixes::default());
    let second = recommend(&first.text, &p, &typical(), since(), Prefixes::default()).unwrap();
    assert_eq!(
        second.text.matches("made by `portreeve recommend`").count(),
        1
    );
    assert_eq!(
        second
            .text
            .matches("# recommend: kept as written (keep = true)")
            .count(),
        1
    );
    assert!(
        !second.text.contains("dropped rule `legacy`"),
        "{}",
        second.text
    );
}

/// A small deterministic generator: the property below needs variety, not
/// secrecy.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn every_recorded_use_the_policy_allowed_stays_allowed() {
    let ports = [22, 80, 443, 5432, 8080, 9102, 9999];
    let prefixes = [
        Prefixes::default(),
        Prefixes { v4: 16, v6: 48 },
        Prefixes { v4: 32, v6: 128 },
        Prefixes { v4: 8, v6: 32 },
    ];
    let mut rng = Lcg(7);
    for round in 0..60 {
        let usage: Vec<SourceUse> = (0..1 + rng.next(25))
            .map(|_| {
                let source = match rng.next(4) {
                    0 => format!("10.1.{}.{}", rng.next(8), rng.next(250) + 1),
                    1 => format!("10.{}.{}.{}", rng.next(12), rng.next(4), rng.next(250) + 1),
                    2 => format!("fd00::{:x}:{:x}", rng.next(6), rng.next(60000) + 1),
                    _ => format!("198.51.{}.{}", rng.next(50), rng.next(250) + 1),
                };
                used(&source, ports[rng.next(ports.len() as u64) as usize], 1)
            })
            .collect();
        let prefixes = prefixes[round % prefixes.len()];
        let (rec, after) = run(&usage, prefixes);
        let before = Ruleset::compile(&parse_policy("policy.toml", POLICY).unwrap()).unwrap();
        let after = Ruleset::compile(&after).unwrap();
        for u in &usage {
            if before.network_verdict(u.source, u.protocol, u.port) == Verdict::Accepted {
                assert_eq!(
                    after.network_verdict(u.source, u.protocol, u.port),
                    Verdict::Accepted,
                    "{} {}/{} broke under {prefixes:?}:\n{}",
                    u.source,
                    u.port,
                    u.protocol,
                    rec.text
                );
            }
        }
    }
}

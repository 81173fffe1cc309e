//! The iptables rendering works with the real tools: each script is run for
//! real — twice — inside a network namespace the test creates (and deletes),
//! and the chains and sets it leaves behind are read back with `iptables -S`,
//! `ip6tables -S` and `ipset list`. The script never runs anywhere else.

use std::io::Write as _;
use std::process::Output;

use portreeve_enforce::Ruleset;
use portreeve_enforce::iptables_text;
use portreeve_policy::parse_policy;
use portreeve_testkit::{Netns, run, stderr, stdout};

fn compile(src: &str) -> Ruleset {
    let policy = parse_policy("test.toml", src).unwrap_or_else(|e| panic!("{e}"));
    Ruleset::compile(&policy).unwrap()
}

fn privileged(test: &str) -> bool {
    portreeve_testkit::privileged(test, &["ip", "iptables", "ip6tables", "ipset"])
}

const ZONES: &str = "[zones]\npublic = [\"0.0.0.0/0\", \"::/0\"]\nlan = [\"10.0.0.0/8\", \"fd00::/8\"]\nv6only = [\"2001:db8::/32\"]\nhosts = [\"10.20.0.5\", \"10.20.0.6\", \"2001:db8:1::7\"]\n";

/// Runs `script` with `sh` inside `ns` (and only there).
fn run_script(ns: &Netns, script: &str) -> Output {
    let mut file = tempfile::NamedTempFile::new().expect("temporary script file");
    file.write_all(script.as_bytes()).expect("write script");
    file.flush().expect("flush script");
    run(ns.exec("sh").arg(file.path()))
}

/// Runs `program args…` inside `ns`, which must succeed, and returns its output.
fn query(ns: &Netns, program: &str, args: &[&str]) -> String {
    let out = run(ns.exec(program).args(args));
    assert!(
        out.status.success(),
        "{program} {args:?} failed in {}: {}",
        ns.name,
        stderr(&out)
    );
    stdout(&out)
}

/// Lines of the script's heredoc fed to `command`.
fn heredoc<'a>(script: &'a str, command: &str) -> Vec<&'a str> {
    let mut lines = script.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with(command) && l.ends_with("<<'EOF'"))
        .unwrap_or_else(|| panic!("no {command} heredoc"));
    lines.take_while(|l| *l != "EOF").collect()
}

/// Everything the script leaves behind that the test reads back.
#[derive(Debug, PartialEq, Eq)]
struct Loaded {
    chains_v4: String,
    chains_v6: String,
    input_v4: String,
    input_v6: String,
    allow_v4: Vec<String>,
    allow_v6: Vec<String>,
}

fn members(ns: &Netns, set: &str) -> Vec<String> {
    let listing = query(ns, "ipset", &["list", set]);
    let mut m: Vec<String> = listing
        .lines()
        .skip_while(|l| *l != "Members:")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    m.sort();
    m
}

fn read_back(ns: &Netns) -> Loaded {
    let portreeve_chains = |tool: &str| {
        query(ns, tool, &["-S"])
            .lines()
            .filter(|l| l.contains("PORTREEVE-"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Loaded {
        chains_v4: portreeve_chains("iptables"),
        chains_v6: portreeve_chains("ip6tables"),
        input_v4: query(ns, "iptables", &["-S", "INPUT"]),
        input_v6: query(ns, "ip6tables", &["-S", "INPUT"]),
        allow_v4: members(ns, "portreeve-allow4"),
        allow_v6: members(ns, "portreeve-allow6"),
    }
}

/// Rules and sets nobody but the test owns, which the script must leave alone.
fn add_foreign_state(ns: &Netns) {
    for (tool, source) in [
        ("iptables", "198.51.100.1"),
        ("ip6tables", "2001:db8:ff::1"),
    ] {
        query(ns, tool, &["-N", "OTHER"]);
        query(ns, tool, &["-A", "OTHER", "-j", "RETURN"]);
        query(ns, tool, &["-A", "INPUT", "-s", source, "-j", "OTHER"]);
    }
    query(ns, "ipset", &["create", "other", "hash:ip"]);
    query(ns, "ipset", &["add", "other", "198.51.100.1"]);
}

fn assert_foreign_state_intact(ns: &Netns) {
    for (tool, source) in [
        ("iptables", "198.51.100.1/32"),
        ("ip6tables", "2001:db8:ff::1/128"),
    ] {
        let all = query(ns, tool, &["-S"]);
        assert!(
            all.contains("-A OTHER -j RETURN"),
            "{tool}: OTHER lost\n{all}"
        );
        assert!(
            all.contains(&format!("-A INPUT -s {source} -j OTHER")),
            "{tool}: foreign INPUT rule lost\n{all}"
        );
    }
    assert_eq!(members(ns, "other"), ["198.51.100.1"]);
}

/// Runs `script` in `ns`, checks what every load must leave behind, and
/// returns it.
#[track_caller]
fn load(ns: &Netns, script: &str) -> Loaded {
    let out = run_script(ns, script);
    assert!(
        out.status.success(),
        "script failed in {}: {}\n--- script ---\n{script}",
        ns.name,
        stderr(&out)
    );
    let loaded = read_back(ns);
    for (input, chains, command) in [
        (
            &loaded.input_v4,
            &loaded.chains_v4,
            "iptables-restore --noflush",
        ),
        (
            &loaded.input_v6,
            &loaded.chains_v6,
            "ip6tables-restore --noflush",
        ),
    ] {
        // Exactly one jump, first in INPUT.
        let rules: Vec<&str> = input.lines().filter(|l| l.starts_with("-A ")).collect();
        assert_eq!(
            rules.iter().filter(|l| l.contains("PORTREEVE")).count(),
            1,
            "{input}"
        );
        assert_eq!(rules[0], "-A INPUT -j PORTREEVE-INPUT", "{input}");
        // Every rule of the script is loaded: as many rules per chain.
        let body = heredoc(script, command);
        for chain in body
            .iter()
            .filter_map(|l| l.strip_prefix(':'))
            .map(|l| l.split(' ').next().unwrap())
        {
            let prefix = format!("-A {chain} ");
            let want = body.iter().filter(|l| l.starts_with(&prefix)).count();
            let got = chains.lines().filter(|l| l.starts_with(&prefix)).count();
            assert_eq!(got, want, "{command}: rules of {chain}\n{chains}");
        }
    }
    assert_foreign_state_intact(ns);
    loaded
}

/// Loads `script` twice into a fresh namespace: both runs succeed and leave
/// the same state. Returns the namespace for further checks.
#[track_caller]
fn load_twice(script: &str) -> (Netns, Loaded) {
    let ns = Netns::bare();
    add_foreign_state(&ns);
    let first = load(&ns, script);
    let second = load(&ns, script);
    assert_eq!(first, second, "a second run changed the ruleset");
    (ns, first)
}

#[test]
fn the_baseline_loads_and_reloads() {
    if !privileged("the_baseline_loads_and_reloads") {
        return;
    }
    let r = Ruleset::compile(&portreeve_policy::baseline()).unwrap();
    let (_ns, loaded) = load_twice(&iptables_text::render(&r));
    for e in [
        "0.0.0.0/1,tcp:22",
        "128.0.0.0/1,tcp:443",
        "0.0.0.0/1,udp:53",
    ] {
        assert!(
            loaded.allow_v4.iter().any(|m| m == e),
            "{e} not in {:?}",
            loaded.allow_v4
        );
    }
    for e in ["::/1,tcp:22", "8000::/1,udp:443"] {
        assert!(
            loaded.allow_v6.iter().any(|m| m == e),
            "{e} not in {:?}",
            loaded.allow_v6
        );
    }
    assert_eq!(loaded.allow_v4.len(), 2 * 5);
    for (chains, rule) in [
        (
            &loaded.chains_v4,
            "-A PORTREEVE-INPUT -m set --match-set portreeve-allow4 src,dst -j ACCEPT",
        ),
        (
            &loaded.chains_v6,
            "-A PORTREEVE-INPUT -m set --match-set portreeve-allow6 src,dst -j ACCEPT",
        ),
        (
            &loaded.chains_v4,
            "-A PORTREEVE-INPUT -p tcp -m multiport --dports 21,23,111,512:514,2375,6000:6063 -m comment --comment \"banned ports\" -j DROP",
        ),
        (
            &loaded.chains_v4,
            "-A PORTREEVE-INPUT -m comment --comment default -j DROP",
        ),
        (
            &loaded.chains_v6,
            "-A PORTREEVE-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -m hl --hl-eq 255 -m comment --comment \"neighbour discovery\" -j ACCEPT",
        ),
    ] {
        assert!(
            chains.lines().any(|l| l == rule),
            "{rule}\nnot in\n{chains}"
        );
    }
}

#[test]
fn the_example_policy_loads_and_reloads() {
    if !privileged("the_example_policy_loads_and_reloads") {
        return;
    }
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/policy.toml"
    ))
    .unwrap();
    let (_ns, loaded) = load_twice(&iptables_text::render(&compile(&example)));
    for e in [
        "192.0.2.0/24,tcp:22",
        "10.20.0.5,tcp:9100",
        "10.0.0.0/8,tcp:5432",
        "128.0.0.0/1,udp:443",
    ] {
        assert!(
            loaded.allow_v4.iter().any(|m| m == e),
            "{e} not in {:?}",
            loaded.allow_v4
        );
    }
    // postgres is IPv4-only; the grant-only debugger port is closed.
    assert!(!loaded.allow_v6.iter().any(|m| m.ends_with(":5432")));
    assert!(!loaded.allow_v4.iter().any(|m| m.ends_with(":9229")));
    assert!(
        loaded
            .allow_v6
            .iter()
            .any(|m| m == "2001:db8:100::/48,tcp:22")
    );
    for chains in [&loaded.chains_v4, &loaded.chains_v6] {
        for needle in [
            "-A PORTREEVE-INPUT -p tcp -m multiport --dports 80,443 -j PORTREEVE-LIMIT-0",
            "-A PORTREEVE-LIMIT-0 -m hashlimit --hashlimit-above 500/sec --hashlimit-burst 5 --hashlimit-name portreeve-0-all-500-5",
            "--hashlimit-above 20/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name portreeve-0-src-20-5",
            "--connlimit-above 100",
            "-j NFLOG --nflog-prefix \"portreeve drop: \" --nflog-group 5",
            "873",
        ] {
            assert!(chains.contains(needle), "{needle}\nnot in\n{chains}");
        }
    }
    assert!(
        loaded
            .chains_v4
            .contains("--connlimit-mask 32 --connlimit-saddr")
    );
    assert!(
        loaded
            .chains_v6
            .contains("--connlimit-mask 128 --connlimit-saddr")
    );
}

#[test]
fn every_setting_and_limit_combination_loads() {
    if !privileged("every_setting_and_limit_combination_loads") {
        return;
    }
    for enforce in [
        "",
        "[enforce]\ndefault_action = \"reject\"\n",
        "[enforce]\nallow_ping = false\nallow_dhcp_client = false\nlog_dropped = false\n",
        "[enforce]\nlog_group = 65535\nlog_rate_per_second = 100000\n",
        "[enforce]\nlog = \"kernel\"\ndefault_action = \"reject\"\n",
    ] {
        for rules in [
            "",
            "[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"public\", \"lan\"]\n",
            "[[rule]]\nports = [53, \"8000-8100\"]\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\nlimits = { new_per_second = 100 }\n\
             [[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"hosts\"]\n",
            "[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"v6only\"]\n\
             limits = { new_per_second = 500, new_per_second_per_source = 20, connections_per_source = 100, burst = 50 }\n\
             [[rule]]\nport = 5353\nprotocol = \"udp\"\nzones = [\"lan\"]\nlimits = { connections_per_source = 10 }\n\
             [[rule]]\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lan\"]\ngrant = { max_ttl = \"1h\" }\n\
             [[rule]]\nports = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 25, 27, 29, 31, 33, \"40-50\", 51]\nprotocol = \"tcp\"\nzones = [\"lan\"]\n\
             limits = { new_per_second = 10000000, new_per_second_per_source = 10000000, burst = 10000000 }\n",
        ] {
            let src = format!("{ZONES}{enforce}{rules}");
            let script = iptables_text::render(&compile(&src));
            let (_ns, loaded) = load_twice(&script);
            let reject = enforce.contains("reject");
            for (chains, unreachable) in [
                (&loaded.chains_v4, "icmp-port-unreachable"),
                (&loaded.chains_v6, "icmp6-port-unreachable"),
            ] {
                let last = chains
                    .lines()
                    .rfind(|l| l.starts_with("-A PORTREEVE-INPUT "));
                let want = if reject {
                    format!(
                        "-A PORTREEVE-INPUT -m comment --comment default -j REJECT --reject-with {unreachable}"
                    )
                } else {
                    "-A PORTREEVE-INPUT -m comment --comment default -j DROP".to_string()
                };
                assert_eq!(last, Some(want.as_str()), "{src}\n{chains}");
            }
        }
    }
}

#[test]
fn an_ipv6_only_policy_leaves_the_ipv4_set_empty() {
    if !privileged("an_ipv6_only_policy_leaves_the_ipv4_set_empty") {
        return;
    }
    let src = "[zones]\nv6 = [\"2001:db8::/32\", \"fd00::/8\"]\n\
               [[rule]]\nports = [443, \"8000-8010\"]\nprotocol = \"tcp\"\nzones = [\"v6\"]\n\
               limits = { connections_per_source = 3 }\n";
    let (_ns, loaded) = load_twice(&iptables_text::render(&compile(src)));
    assert!(loaded.allow_v4.is_empty(), "{:?}", loaded.allow_v4);
    // A port range is one ipset entry per port.
    assert_eq!(loaded.allow_v6.len(), 2 * 12);
    assert!(
        loaded
            .allow_v6
            .iter()
            .any(|m| m == "2001:db8::/32,tcp:8005")
    );
    assert!(loaded.allow_v6.iter().any(|m| m == "fd00::/8,tcp:443"));
    assert!(loaded.chains_v6.contains(
        "-A PORTREEVE-LIMIT-0 -p tcp -m connlimit --connlimit-above 3 --connlimit-mask 128 --connlimit-saddr"
    ));
}

#[test]
fn reloading_another_policy_replaces_it_and_keeps_run_time_state() {
    if !privileged("reloading_another_policy_replaces_it_and_keeps_run_time_state") {
        return;
    }
    let first = compile(&format!(
        "{ZONES}[[rule]]\nports = [\"7000-65535\"]\nprotocol = [\"tcp\", \"udp\"]\nzones = [\"lan\"]\n\
         limits = {{ new_per_second = 100 }}\n\
         [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"hosts\"]\nlimits = {{ connections_per_source = 5 }}\n"
    ));
    let second = compile(&format!(
        "{ZONES}[[rule]]\nport = 443\nprotocol = \"tcp\"\nzones = [\"public\"]\n"
    ));
    let ns = Netns::bare();
    add_foreign_state(&ns);
    // More entries than ipset's default maximum: the set is sized to fit.
    let loaded = load(&ns, &iptables_text::render(&first));
    assert_eq!(loaded.allow_v4.len(), 2 * (65535 - 7000 + 1) + 2);
    assert!(loaded.chains_v4.contains("-N PORTREEVE-LIMIT-1"));

    // Run-time state: a grant and a block, as `portreeve grant` would add them.
    query(
        &ns,
        "ipset",
        &[
            "add",
            "portreeve-grants4",
            "192.0.2.7,tcp:9229",
            "timeout",
            "1800",
        ],
    );
    query(
        &ns,
        "ipset",
        &[
            "add",
            "portreeve-grants6",
            "2001:db8::7,tcp:9229",
            "timeout",
            "1800",
        ],
    );
    query(
        &ns,
        "ipset",
        &[
            "add",
            "portreeve-block4",
            "198.51.100.0/24",
            "timeout",
            "600",
        ],
    );

    let loaded = load(&ns, &iptables_text::render(&second));
    assert_eq!(
        loaded.allow_v4,
        ["0.0.0.0/1,tcp:443", "128.0.0.0/1,tcp:443"]
    );
    assert_eq!(loaded.allow_v6, ["8000::/1,tcp:443", "::/1,tcp:443"]);
    for chains in [&loaded.chains_v4, &loaded.chains_v6] {
        assert!(
            !chains.contains("PORTREEVE-LIMIT"),
            "stale limit chains:\n{chains}"
        );
    }
    let grants = query(&ns, "ipset", &["list", "portreeve-grants4"]);
    assert!(grants.contains("192.0.2.7,tcp:9229 timeout"), "{grants}");
    let grants = query(&ns, "ipset", &["list", "portreeve-grants6"]);
    assert!(grants.contains("2001:db8::7,tcp:9229 timeout"), "{grants}");
    let blocks = query(&ns, "ipset", &["list", "portreeve-block4"]);
    assert!(blocks.contains("198.51.100.0/24 timeout"), "{blocks}");
    // No temporary set is left behind.
    let names = query(&ns, "ipset", &["list", "-n"]);
    assert!(!names.contains("-next"), "{names}");

    // And back again: the limits return.
    let loaded = load(&ns, &iptables_text::render(&first));
    assert!(loaded.chains_v6.contains("-N PORTREEVE-LIMIT-1"));
}

/// How a TCP connection attempt from a client ends.
#[derive(Debug, PartialEq, Eq)]
enum Connect {
    Accepted,
    Refused,
    TimedOut,
}

/// Opens `count` connections at once from `client` to `addr:port` (holding
/// them until all are tried) and says how each ended.
fn connect(client: &Netns, addr: &str, port: u16, count: usize) -> Vec<Connect> {
    let target = std::net::SocketAddr::new(addr.parse().unwrap(), port);
    client.run(|| {
        let mut held = Vec::new();
        let mut outcomes = Vec::new();
        for _ in 0..count {
            match std::net::TcpStream::connect_timeout(
                &target,
                std::time::Duration::from_millis(700),
            ) {
                Ok(s) => {
                    held.push(s);
                    outcomes.push(Connect::Accepted);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    outcomes.push(Connect::Refused)
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    outcomes.push(Connect::TimedOut)
                }
                Err(e) => panic!("connect to {target}: {e}"),
            }
        }
        outcomes
    })
}

#[test]
fn the_loaded_ruleset_decides_like_the_policy_says() {
    if !privileged("the_loaded_ruleset_decides_like_the_policy_says") {
        return;
    }
    // Traffic only between two namespaces this test creates.
    let (srv, client) = (Netns::bare(), Netns::bare());
    srv.link(&client, "10.10.1.1/24", "10.10.1.2/24");
    srv.link(&client, "fd00:1::1/64", "fd00:1::2/64");
    let _listeners = srv.listen(
        &[
            "tcp6:[::]:22:v6only=0",
            "tcp4:0.0.0.0:8080",
            "tcp4:0.0.0.0:9229",
            "tcp4:0.0.0.0:2375",
        ],
        0,
    );
    let policy = "[zones]\nlan = [\"10.10.1.0/24\", \"fd00:1::/64\"]\nelsewhere = [\"10.99.0.0/24\"]\n\
                  [enforce]\ndefault_action = \"reject\"\n\
                  [[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"lan\"]\nlimits = { connections_per_source = 2 }\n\
                  [[rule]]\nport = 8080\nprotocol = \"tcp\"\nzones = [\"elsewhere\"]\n\
                  [[rule]]\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lan\"]\ngrant = { max_ttl = \"1h\" }\n";
    let out = run_script(&srv, &iptables_text::render(&compile(policy)));
    assert!(out.status.success(), "{}", stderr(&out));

    use Connect::*;
    // Allowed, up to two at once per source, over IPv4 and IPv6 (which
    // also needs neighbour discovery through).
    assert_eq!(
        connect(&client, "10.10.1.1", 22, 3),
        [Accepted, Accepted, Refused]
    );
    assert_eq!(
        connect(&client, "fd00:1::1", 22, 3),
        [Accepted, Accepted, Refused]
    );
    // Allowed for other sources only: the default rejects.
    assert_eq!(connect(&client, "10.10.1.1", 8080, 1), [Refused]);
    // Banned: dropped, whatever the default.
    assert_eq!(connect(&client, "10.10.1.1", 2375, 1), [TimedOut]);
    // Closed until granted.
    assert_eq!(connect(&client, "10.10.1.1", 9229, 1), [Refused]);
    query(
        &srv,
        "ipset",
        &[
            "add",
            "portreeve-grants4",
            "10.10.1.2,tcp:9229",
            "timeout",
            "60",
        ],
    );
    assert_eq!(connect(&client, "10.10.1.1", 9229, 1), [Accepted]);
    // Blocked sources lose even what they are allowed.
    query(
        &srv,
        "ipset",
        &["add", "portreeve-block4", "10.10.1.2", "timeout", "60"],
    );
    assert_eq!(connect(&client, "10.10.1.1", 22, 1), [TimedOut]);
    assert_eq!(connect(&client, "fd00:1::1", 22, 1), [Accepted]);
}

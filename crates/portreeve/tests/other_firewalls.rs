//! Other firewalls must all be seen: rules in the legacy xtables tables,
//! which `nft list ruleset` does not show, and firewall managers. Each test
//! builds them inside a namespace of its own with the real tools
//! (`iptables-legacy`, `ip6tables-legacy`, `nft`) and runs `portreeve plan`
//! or `portreeve doctor` there; nothing outside the namespace is touched.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{Home, Netns, assert_ok, run, stderr, stdout, testkit};

/// What a clean namespace's plan says about other firewalls.
const NOTHING_ELSE: &str = "No other firewall decides traffic here";

fn privileged(test: &str) -> bool {
    testkit::privileged(
        test,
        &["ip", "nft", "iptables-legacy", "ip6tables-legacy-save"],
    )
}

/// Runs `program args…` inside `ns`, which must succeed.
fn inside(ns: &Netns, program: &str, args: &[&str]) {
    let out = run(ns.exec(program).args(args));
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {}",
        ns.name,
        stderr(&out)
    );
}

/// `portreeve plan` (of the built-in baseline) inside `ns`; its output.
fn plan(home: &Home, ns: &Netns) -> String {
    let out = home.run_in(ns, &["plan"]);
    assert_ok(&out);
    stdout(&out)
}

/// `portreeve doctor --format json` inside `ns`: its exit status and checks.
fn doctor(home: &Home, ns: &Netns) -> (Option<i32>, Vec<Value>) {
    let out = home.run_in(ns, &["doctor", "--format", "json"]);
    checks_of(&out)
}

fn checks_of(out: &Output) -> (Option<i32>, Vec<Value>) {
    let doc: Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(out), stderr(out)));
    (out.status.code(), doc["checks"].as_array().unwrap().clone())
}

/// The checks called `name`.
fn named<'a>(checks: &'a [Value], name: &str) -> Vec<&'a Value> {
    checks.iter().filter(|c| c["name"] == name).collect()
}

#[test]
fn plan_names_an_iptables_legacy_drop_policy_and_its_rule() {
    if !privileged("plan_names_an_iptables_legacy_drop_policy_and_its_rule") {
        return;
    }
    let (home, ns) = (Home::new(), Netns::bare());
    assert!(plan(&home, &ns).contains(NOTHING_ELSE));

    inside(&ns, "iptables-legacy", &["-P", "INPUT", "DROP"]);
    inside(
        &ns,
        "iptables-legacy",
        &[
            "-A", "INPUT", "-p", "tcp", "--dport", "2222", "-j", "ACCEPT",
        ],
    );
    let said = plan(&home, &ns);
    assert!(!said.contains(NOTHING_ELSE), "{said}");
    for expected in [
        "Legacy iptables rules also decide traffic here (`nft list ruleset` does not show them",
        "  iptables-legacy filter INPUT: policy DROP, 1 rule\n",
        "policy DROP: drops whatever its rules do not accept, including connections portreeve allows",
        "    -A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT\n",
        "See them all with `iptables-legacy-save`.",
        "`iptables-legacy -t TABLE -P CHAIN ACCEPT`",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    assert!(!said.contains("ip6tables-legacy"), "{said}");
}

#[test]
fn plan_names_ip6tables_legacy_rules_that_reject() {
    if !privileged("plan_names_ip6tables_legacy_rules_that_reject") {
        return;
    }
    let (home, ns) = (Home::new(), Netns::bare());
    inside(
        &ns,
        "ip6tables-legacy",
        &["-A", "INPUT", "-p", "tcp", "--dport", "23", "-j", "REJECT"],
    );
    inside(&ns, "ip6tables-legacy", &["-P", "FORWARD", "DROP"]);
    let said = plan(&home, &ns);
    assert!(!said.contains(NOTHING_ELSE), "{said}");
    for expected in [
        "  ip6tables-legacy filter INPUT: policy ACCEPT, 1 rule\n",
        "drops or rejects some input: a connection portreeve allows can still be refused here",
        "-A INPUT -p tcp -m tcp --dport 23 -j REJECT --reject-with icmp6-port-unreachable",
        "  ip6tables-legacy filter FORWARD: policy DROP, 0 rules\n",
        "See them all with `ip6tables-legacy-save`.",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
    assert!(!said.contains("iptables-legacy filter"), "{said}");
}

#[test]
fn plan_names_ufw_and_firewalld_by_what_they_load() {
    if !privileged("plan_names_ufw_and_firewalld_by_what_they_load") {
        return;
    }
    let (home, ns) = (Home::new(), Netns::bare());
    // ufw's chains on the legacy backend, and firewalld's nftables table,
    // as each leaves them (without the daemons themselves).
    inside(&ns, "iptables-legacy", &["-N", "ufw-before-input"]);
    inside(
        &ns,
        "iptables-legacy",
        &["-A", "INPUT", "-j", "ufw-before-input"],
    );
    inside(
        &ns,
        "nft",
        &[
            "add table inet firewalld; add chain inet firewalld filter_INPUT { type filter hook input priority filter + 10; policy accept; }",
        ],
    );
    let said = plan(&home, &ns);
    for expected in [
        "Firewall managers also decide traffic here:",
        "  ufw is active (its chains are loaded in the iptables-legacy tables)\n",
        "`ufw disable`",
        "  firewalld is active (table inet firewalld is loaded)\n",
        "firewall-cmd --permanent --add-port=PORT/PROTO",
        "table inet firewalld: chain filter_INPUT",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
}

#[test]
fn doctor_names_legacy_rules_and_inactive_conntrack_and_exits_1_on_a_problem() {
    if !privileged("doctor_names_legacy_rules_and_inactive_conntrack_and_exits_1_on_a_problem") {
        return;
    }
    let (home, ns) = (Home::new(), Netns::bare());
    let (status, checks) = doctor(&home, &ns);
    assert_eq!(
        status,
        Some(0),
        "nothing wrong in a fresh namespace: {checks:#?}"
    );
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:#?}");
    assert_eq!(named(&checks, "nft")[0]["detail"], "found and runs");
    let conntrack = named(&checks, "conntrack")[0]["detail"].as_str().unwrap();
    assert!(
        conntrack.starts_with("inactive in this namespace") && conntrack.contains("sees nothing"),
        "{conntrack}"
    );
    assert_eq!(named(&checks, "other firewalls").len(), 1, "{checks:#?}");

    // A stateful rule turns tracking on; a chain without a hook is no
    // other firewall.
    inside(
        &ns,
        "nft",
        &["add table ip keep; add chain ip keep c; add rule ip keep c ct state established accept"],
    );
    let (status, checks) = doctor(&home, &ns);
    assert_eq!(status, Some(0), "{checks:#?}");
    assert_eq!(
        named(&checks, "conntrack")[0]["detail"],
        "active: a rule of table ip keep needs it"
    );

    inside(&ns, "iptables-legacy", &["-P", "INPUT", "DROP"]);
    inside(
        &ns,
        "ip6tables-legacy",
        &["-A", "PREROUTING", "-t", "raw", "-j", "DROP"],
    );
    let (status, checks) = doctor(&home, &ns);
    assert_eq!(status, Some(1), "a problem is exit 1: {checks:#?}");
    let legacy = named(&checks, "legacy iptables");
    assert_eq!(legacy.len(), 2, "{checks:#?}");
    assert!(legacy.iter().all(|c| c["ok"] == false));
    let details: Vec<&str> = legacy
        .iter()
        .map(|c| c["detail"].as_str().unwrap())
        .collect();
    assert!(
        details[0].starts_with(
            "iptables-legacy filter INPUT: policy DROP, 0 rules; policy DROP: drops whatever"
        ),
        "{details:?}"
    );
    assert!(
        details[1].starts_with("ip6tables-legacy raw PREROUTING: policy ACCEPT, 1 rule; sees packets before portreeve does and drops some of them first"),
        "{details:?}"
    );
    assert!(
        details[1].ends_with(
            "first. See them all with `iptables-legacy-save` and `ip6tables-legacy-save`. Where portreeve's policy should decide alone, move what is still needed into it, then remove them: `iptables-legacy -t TABLE -P CHAIN ACCEPT` and `ip6tables-legacy -t TABLE -P CHAIN ACCEPT` for each chain above, and `iptables-legacy -t TABLE -F` and `ip6tables-legacy -t TABLE -F` to flush a table's rules."
        ),
        "{details:?}"
    );
    assert!(named(&checks, "other firewalls").is_empty(), "{checks:#?}");

    // The table form says the same, with PROBLEM.
    let out = home.run_in(&ns, &["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("PROBLEM: iptables-legacy filter INPUT: policy DROP"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn doctor_without_nft_says_so_and_exits_1() {
    let home = Home::new();
    let empty = home.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let out = run(home
        .command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
        .args(["doctor", "--format", "json"])
        .env("PATH", &empty)
        .env_remove("PORTREEVE_NFT"));
    let (status, checks) = checks_of(&out);
    assert_eq!(status, Some(1), "{checks:#?}");
    let nft = named(&checks, "nft");
    assert_eq!(nft.len(), 1, "{checks:#?}");
    assert_eq!(nft[0]["ok"], false);
    let detail = nft[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("cannot run `nft`") && detail.contains("install the nftables package"),
        "{detail}"
    );
    // Without the kernel's answer there is no nf_tables line, and absent
    // legacy tools are no problem: nothing is said of them.
    assert!(named(&checks, "nf_tables").is_empty(), "{checks:#?}");
    assert!(named(&checks, "legacy iptables").is_empty(), "{checks:#?}");
}

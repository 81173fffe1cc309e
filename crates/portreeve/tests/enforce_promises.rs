//! What docs/enforce.md promises about the live ruleset and the
//! confirmation window, checked against the kernel in namespaces the tests
//! create: the input chain's decisions in their documented order (a blocked
//! source loses even on an allowed port, a ban beats a grant, `reject`
//! refuses, `allow_ping` answers), a flushed chain falls open, and while a
//! generation awaits confirmation nothing replaces it — neither `apply` nor
//! a reclaim — while a rollback in the window leaves grants alone and
//! brings the previous policy back into effect.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::{Lab, assert_exit, assert_ok, run, testkit};

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "setsid", "ping"])
}

/// How a TCP connection attempt from the lab's client ended.
#[derive(Debug, PartialEq)]
enum Attempt {
    Connected,
    /// A reset came back: `reject with tcp reset`, or nobody listening.
    Refused,
    /// Nothing came back within the timeout: dropped.
    TimedOut,
}

fn attempt(lab: &Lab, port: u16) -> Attempt {
    let to: SocketAddr = format!("10.44.0.1:{port}").parse().unwrap();
    lab.client.run(
        || match TcpStream::connect_timeout(&to, Duration::from_millis(400)) {
            Ok(_) => Attempt::Connected,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Attempt::Refused,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Attempt::TimedOut,
            Err(e) => panic!("connecting to {to}: {e}"),
        },
    )
}

/// Whether the client gets an echo reply from the server.
fn pings(lab: &Lab) -> bool {
    run(lab
        .client
        .exec("ping")
        .args(["-c", "1", "-W", "1", "10.44.0.1"]))
    .status
    .success()
}

/// `nft ARGS` in the server namespace, which must succeed.
fn nft(lab: &Lab, args: &[&str]) {
    assert_ok(&run(lab.srv.exec("nft").args(args)));
}

const ZONES: &str = "[zones]\nlab = [\"10.44.0.0/24\"]\n";

const RULES: &str = "[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
     [[rule]]\nname = \"dbg\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
     grant = { max_ttl = \"1h\" }\n";

#[test]
fn the_input_chain_decides_in_the_documented_order() {
    if !privileged("the_input_chain_decides_in_the_documented_order") {
        return;
    }
    let lab = Lab::new(
        44,
        &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229", "tcp4:0.0.0.0:23"],
    );
    // Drop and answer pings: the defaults.
    let dropping = lab.home.file("drop.toml", format!("{ZONES}{RULES}"));
    assert_ok(&lab.portreeve(&["apply", "--policy", dropping.to_str().unwrap()]));
    assert_eq!(attempt(&lab, 8080), Attempt::Connected, "allowed");
    assert_eq!(
        attempt(&lab, 9229),
        Attempt::TimedOut,
        "not granted: dropped"
    );
    assert!(pings(&lab), "allow_ping defaults to true");

    // A ban beats a grant: a grant element for banned 23/tcp, written past
    // portreeve's own refusal, still loses to the ban that comes first.
    nft(
        &lab,
        &[
            "add",
            "element",
            "inet",
            "portreeve",
            "grants_v4",
            "{ 10.44.0.2 . tcp . 23 timeout 1h }",
        ],
    );
    assert_eq!(attempt(&lab, 23), Attempt::TimedOut, "banned beats granted");
    // A blocked source loses even on the port a rule allows.
    nft(
        &lab,
        &[
            "add",
            "element",
            "inet",
            "portreeve",
            "blocklist_v4",
            "{ 10.44.0.2 timeout 1h }",
        ],
    );
    assert_eq!(
        attempt(&lab, 8080),
        Attempt::TimedOut,
        "blocked beats allowed"
    );

    // `reject` refuses what nothing allows, at once; `allow_ping = false`
    // stops answering pings. The apply keeps the kernel's run-time sets, so
    // the source stays blocked until the element goes.
    let rejecting = lab.home.file(
        "reject.toml",
        format!("{ZONES}[enforce]\ndefault_action = \"reject\"\nallow_ping = false\n{RULES}"),
    );
    assert_ok(&lab.portreeve(&["apply", "--policy", rejecting.to_str().unwrap()]));
    assert_eq!(attempt(&lab, 8080), Attempt::TimedOut, "still blocked");
    nft(
        &lab,
        &[
            "delete",
            "element",
            "inet",
            "portreeve",
            "blocklist_v4",
            "{ 10.44.0.2 }",
        ],
    );
    assert_eq!(attempt(&lab, 8080), Attempt::Connected, "still allowed");
    let started = Instant::now();
    assert_eq!(
        attempt(&lab, 9229),
        Attempt::Refused,
        "rejected with a reset"
    );
    assert!(started.elapsed() < Duration::from_millis(300), "at once");
    assert!(!pings(&lab), "allow_ping = false");
}

#[test]
fn a_flushed_input_chain_falls_open() {
    if !privileged("a_flushed_input_chain_falls_open") {
        return;
    }
    let lab = Lab::new(44, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    let policy = lab.home.file("p.toml", format!("{ZONES}{RULES}"));
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    assert_eq!(
        attempt(&lab, 9229),
        Attempt::TimedOut,
        "dropped while enforced"
    );
    nft(&lab, &["flush", "chain", "inet", "portreeve", "input"]);
    assert_eq!(attempt(&lab, 8080), Attempt::Connected);
    assert_eq!(
        attempt(&lab, 9229),
        Attempt::Connected,
        "nothing locks anyone out"
    );
}

#[test]
fn nothing_replaces_a_generation_awaiting_confirmation() {
    if !privileged("nothing_replaces_a_generation_awaiting_confirmation") {
        return;
    }
    let lab = Lab::new(44, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    // 8080 is abandoned two seconds after its last use and is reclaimed.
    // B, applied in the window, differs from A by a comment only.
    let a = format!(
        "{ZONES}[lifecycle]\ndormant_after = \"1s\"\nabandoned_after = \"2s\"\n\
         reclaim = \"close\"\n{RULES}"
    );
    let b = format!("# B\n{a}");
    let (a_file, b_file) = (lab.home.file("a.toml", &a), lab.home.file("b.toml", &b));
    let in_effect = || lab.json(&["check", "--format", "json"])["policy"]["digest"].clone();
    assert_ok(&lab.portreeve(&["apply", "--policy", a_file.to_str().unwrap()]));
    assert_eq!(attempt(&lab, 8080), Attempt::Connected);
    let p = b_file.to_str().unwrap();
    assert_ok(&lab.portreeve(&["apply", "--policy", p, "--confirm-within", "1h"]));
    assert_eq!(in_effect(), portreeve_ledger::digest(b.as_bytes()).as_str());
    assert_ok(&lab.portreeve(&[
        "grant",
        "9229/tcp",
        "--from",
        "10.44.0.2",
        "--ttl",
        "1h",
        "--reason",
        "in the window",
    ]));
    std::thread::sleep(Duration::from_millis(2500));
    let plan = lab.json(&["lifecycle", "--format", "json"]);
    let web = plan["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["port"] == 8080)
        .unwrap_or_else(|| panic!("8080 missing: {plan}"));
    assert_eq!(web["action"], "close", "a reclaim would close it: {web}");

    let table = lab.live_table();
    let generations = lab.ok(&["generations"]);
    let entries = lab.home.ledger().len();
    assert_exit(
        &lab.portreeve(&["apply", "--policy", p]),
        2,
        "awaits confirmation",
    );
    assert_exit(
        &lab.portreeve(&["reclaim", "--apply"]),
        2,
        "awaits confirmation",
    );
    assert_eq!(lab.live_table(), table, "the kernel holds the same ruleset");
    assert_eq!(lab.ok(&["generations"]), generations);
    assert_eq!(lab.home.ledger().len(), entries, "nothing recorded");
    assert_eq!(attempt(&lab, 8080), Attempt::Connected, "not reclaimed");

    // A rollback in the window marks it reverted; the grant stays open.
    assert_ok(&lab.portreeve(&["rollback"]));
    let listed = lab.json(&["generations", "--format", "json"]);
    let statuses: Vec<&str> = listed["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"reverted"), "{listed}");
    // The rollback brings back the policy A was applied from.
    assert_eq!(in_effect(), portreeve_ledger::digest(a.as_bytes()).as_str());
    assert_eq!(
        attempt(&lab, 9229),
        Attempt::Connected,
        "the grant survives"
    );
    let grants = lab.json(&["grants", "--format", "json"]);
    assert_eq!(
        grants["grants"][0]["key"], "10.44.0.2 . tcp . 9229",
        "{grants}"
    );
}

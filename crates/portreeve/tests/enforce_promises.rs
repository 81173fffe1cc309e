//! What docs/enforce.md promises about the live ruleset and the
//! confirmation window, checked against the kernel in namespaces the tests
//! create: the input chain's decisions in their documented order (a blocked
//! source loses even on an allowed port, a ban beats a grant, `reject`
//! refuses, `allow_ping` answers), a flushed chain falls open, and while a
//! generation awaits confirmation nothing replaces it — neither `apply` nor
//! a reclaim — while a rollback in the window leaves grants alone and
//! brings the previous policy back into effect. Then `render` against what
//! `apply` loads, `plan`'s diff, notes and reports, grants and last-access
//! times across a re-apply, grant defaults, re-grants and overlaps, an
//! `apply` killed before or after its transaction (through an `nft` that
//! kills its caller), and the policy-in-effect line of every table.

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

/// The `lab` zone: the lab's own network, 10.SUBNET.0.0/24.
fn zones(subnet: u8) -> String {
    format!("[zones]\nlab = [\"10.{subnet}.0.0/24\"]\n")
}

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
    let dropping = lab.home.file("drop.toml", format!("{}{RULES}", zones(44)));
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
        format!(
            "{}[enforce]\ndefault_action = \"reject\"\nallow_ping = false\n{RULES}",
            zones(44)
        ),
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
    let policy = lab.home.file("p.toml", format!("{}{RULES}", zones(44)));
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
        "{}[lifecycle]\ndormant_after = \"1s\"\nabandoned_after = \"2s\"\n\
         reclaim = \"close\"\n{RULES}",
        zones(44)
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

/// `path` as the `&str` the command line takes.
fn arg(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

/// The policy the lab tests below start from: [`RULES`] for the lab's
/// network, with `extra` appended.
fn lab_policy(lab: &Lab, subnet: u8, name: &str, extra: &str) -> std::path::PathBuf {
    lab.home
        .file(name, format!("{}{RULES}{extra}", zones(subnet)))
}

/// One more allowed port, for a one-rule change.
const TLS_RULE: &str =
    "[[rule]]\nname = \"tls\"\nport = 8443\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";

/// `portreeve grant PORT --from FROM --ttl TTL`.
fn grant(lab: &Lab, port: &str, from: &str, ttl: &str) -> std::process::Output {
    lab.portreeve(&[
        "grant", port, "--from", from, "--ttl", ttl, "--reason", "a test",
    ])
}

/// The open grants, as `grants --format json` lists them.
fn open_grants(lab: &Lab) -> Vec<serde_json::Value> {
    lab.json(&["grants", "--format", "json"])["grants"]
        .as_array()
        .unwrap()
        .clone()
}

/// The open grant of `key` (`SOURCE . PROTOCOL . PORT`).
#[track_caller]
fn open_grant(lab: &Lab, key: &str) -> serde_json::Value {
    let all = open_grants(lab);
    all.iter()
        .find(|g| g["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no grant {key}: {all:?}"))
}

/// The generations as `generations --format json` lists them, and the
/// live one's number.
fn generation_list(lab: &Lab) -> (u64, Vec<serde_json::Value>) {
    let doc = lab.json(&["generations", "--format", "json"]);
    (
        doc["current"].as_u64().unwrap(),
        doc["generations"].as_array().unwrap().clone(),
    )
}

/// `nft list table inet portreeve` in `ns`.
fn listed_table(ns: &support::Netns) -> String {
    let out = run(ns.exec("nft").args(["list", "table", "inet", "portreeve"]));
    assert_ok(&out);
    support::stdout(&out)
}

#[test]
fn render_prints_what_apply_installs() {
    if !privileged("render_prints_what_apply_installs") {
        return;
    }
    let lab = Lab::new(45, &["tcp4:0.0.0.0:8080"]);
    let policy = lab_policy(&lab, 45, "p.toml", "[banned]\nports = [\"2049\"]\n");
    let rendered = lab.ok(&["render", "--policy", arg(&policy)]);
    lab.ok(&["apply", "--policy", arg(&policy)]);

    // The rendered text, loaded into a namespace of its own, lists as the
    // table apply installed.
    let scratch = support::Netns::bare();
    let file = lab.home.file("rendered.nft", &rendered);
    assert_ok(&run(scratch.exec("nft").arg("-f").arg(&file)));
    // Beside it, apply marks the table with its generation (number 1).
    let marker = "\n\tset generation {\n\t\ttype mark\n\t\telements = { 0x00000001 }\n\t}\n";
    let live = listed_table(&lab.srv);
    assert!(live.contains(marker), "{live}");
    assert_eq!(live.replacen(marker, "", 1), listed_table(&scratch));
}

/// `plan`'s report after its summary in words (which the test in
/// change_reports.rs checks).
fn after_summary(plan: &str) -> &str {
    plan.split_once("\n\n").map_or(plan, |(_, rest)| rest)
}

#[test]
fn plan_shows_a_one_rule_change_as_a_diff_and_notes_a_vanished_table() {
    if !privileged("plan_shows_a_one_rule_change_as_a_diff_and_notes_a_vanished_table") {
        return;
    }
    let lab = Lab::new(46, &["tcp4:0.0.0.0:8080"]);
    let policy = lab_policy(&lab, 46, "p.toml", "");
    lab.ok(&["apply", "--policy", arg(&policy)]);
    let same = lab.ok(&["plan", "--policy", arg(&policy)]);
    assert!(
        after_summary(&same).starts_with("No changes: generation 1 is live and identical."),
        "{same}"
    );

    // One rule more: a unified diff whose changed lines are its element.
    lab_policy(&lab, 46, "p.toml", TLS_RULE);
    let plan = lab.ok(&["plan", "--policy", arg(&policy)]);
    assert!(
        after_summary(&plan).starts_with("--- generation 1 (live)\n+++ new ruleset\n"),
        "{plan}"
    );
    let changed: Vec<&str> = plan
        .lines()
        .filter(|l| (l.starts_with('+') && !l.starts_with("+++")) || l.starts_with('-'))
        .filter(|l| !l.starts_with("---"))
        .collect();
    assert!(!changed.is_empty(), "{plan}");
    assert!(
        changed
            .iter()
            .all(|l| l.starts_with('+') && l.contains("10.46.0.0/24 . tcp . 8443")),
        "{changed:#?}"
    );
    assert_eq!(generation_list(&lab).1.len(), 1, "plan changes nothing");

    // The live generation's table removed by hand: plan says so.
    nft(&lab, &["delete", "table", "inet", "portreeve"]);
    let plan = lab.ok(&["plan", "--policy", arg(&policy)]);
    assert!(
        plan.contains(
            "Note: generation 1 is recorded as live, but table inet portreeve is not in the kernel"
        ),
        "{plan}"
    );
}

/// The lines of a plan or apply report under `heading`, up to the next
/// blank line.
fn section<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn plan_reports_lockouts_and_other_tables_as_apply_does() {
    if !privileged("plan_reports_lockouts_and_other_tables_as_apply_does") {
        return;
    }
    let lab = Lab::new(47, &["tcp4:0.0.0.0:8080"]);
    // Another table with a base chain that refuses 9999.
    nft(&lab, &["add", "table", "inet", "other"]);
    nft(
        &lab,
        &[
            "add",
            "chain",
            "inet",
            "other",
            "input",
            "{ type filter hook input priority 10 ; policy accept ; }",
        ],
    );
    nft(
        &lab,
        &[
            "add", "rule", "inet", "other", "input", "tcp", "dport", "9999", "drop",
        ],
    );
    let managed = "[enforce]\nmanagement_zone = \"lab\"\n";
    let cutting = lab_policy(&lab, 47, "cutting.toml", managed);
    let plan = lab.ok(&["plan", "--policy", arg(&cutting)]);
    assert_eq!(
        section(&plan, "Apply would be refused (lock-out guard):"),
        [
            "Apply would be refused (lock-out guard):",
            "  10.47.0.0/24 would lose tcp/22 (not allowed) — management zone `lab`"
        ],
        "{plan}"
    );
    assert_exit(
        &lab.portreeve(&["apply", "--policy", arg(&cutting)]),
        2,
        "10.47.0.0/24 would lose tcp/22 (not allowed) — management zone `lab`",
    );

    let ssh = "[[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";
    let keeping = lab_policy(&lab, 47, "keeping.toml", &format!("{managed}{ssh}"));
    let plan = lab.ok(&["plan", "--policy", arg(&keeping)]);
    assert!(!plan.contains("lock-out"), "{plan}");
    let applied = lab.ok(&["apply", "--policy", arg(&keeping)]);
    let heading = "Other tables also decide traffic here";
    let others = section(&plan, heading);
    assert!(others.iter().any(|l| l.contains("inet other")), "{plan}");
    assert_eq!(section(&applied, heading), others, "{applied}");
}

/// `usage --format json`'s row for `port`/tcp: its last new connection
/// and how many there were.
#[track_caller]
fn usage_of(lab: &Lab, port: u16) -> (jiff::Timestamp, u64) {
    let doc = lab.json(&["usage", "--format", "json"]);
    let row = doc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["port"] == port && r["protocol"] == "tcp")
        .unwrap_or_else(|| panic!("{port}/tcp not in {doc}"))
        .clone();
    (
        row["last_access"].as_str().unwrap().parse().unwrap(),
        row["connections"].as_u64().unwrap(),
    )
}

#[test]
fn a_reapply_keeps_open_grants_and_last_access_times() {
    if !privileged("a_reapply_keeps_open_grants_and_last_access_times") {
        return;
    }
    let lab = Lab::new(48, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    let policy = lab_policy(&lab, 48, "p.toml", "");
    lab.ok(&["apply", "--policy", arg(&policy)]);
    assert_ok(&grant(&lab, "9229", "10.48.0.2", "1h"));
    assert!(lab.connects(8080) && lab.connects(8080));
    let (used, connections) = usage_of(&lab, 8080);
    assert_eq!(connections, 2);

    // Long enough that a last access reset by the apply would show.
    std::thread::sleep(Duration::from_millis(2500));
    lab_policy(&lab, 48, "p.toml", TLS_RULE);
    lab.ok(&["apply", "--policy", arg(&policy)]);
    assert_eq!(generation_list(&lab).0, 2);

    let (used_after, connections_after) = usage_of(&lab, 8080);
    assert_eq!(connections_after, 2, "the count survives");
    let drift = used_after.duration_since(used).abs();
    assert!(
        drift <= jiff::SignedDuration::from_secs(1),
        "last access {used} became {used_after}"
    );
    let open = open_grant(&lab, "10.48.0.2 . tcp . 9229");
    let left = open["seconds_left"].as_u64().unwrap();
    assert!(left <= 3598, "the grant keeps its remaining time: {open}");
    assert!(lab.connects(9229), "the granted source still connects");
}

#[test]
fn grant_and_revoke_default_protocols_on_a_tcp_and_udp_rule() {
    if !privileged("grant_and_revoke_default_protocols_on_a_tcp_and_udp_rule") {
        return;
    }
    let lab = Lab::new(49, &["tcp4:0.0.0.0:8080"]);
    let both = "[[rule]]\nname = \"mdns\"\nport = 5353\nprotocol = [\"tcp\", \"udp\"]\n\
                zones = [\"lab\"]\ngrant = { max_ttl = \"1h\" }\n";
    let policy = lab_policy(&lab, 49, "p.toml", both);
    lab.ok(&["apply", "--policy", arg(&policy)]);
    let keys = |lab: &Lab| -> Vec<String> {
        let mut k: Vec<String> = open_grants(lab)
            .iter()
            .map(|g| g["key"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_ok(&grant(&lab, "5353", "10.49.0.2", "10m"));
    assert_eq!(
        keys(&lab),
        ["10.49.0.2 . tcp . 5353", "10.49.0.2 . udp . 5353"],
        "PROTO defaults to all the rule's protocols"
    );
    assert_ok(&lab.portreeve(&["revoke", "5353", "--from", "10.49.0.2"]));
    assert_eq!(
        keys(&lab),
        ["10.49.0.2 . udp . 5353"],
        "revoke defaults to tcp"
    );
}

#[test]
fn granting_again_replaces_the_ttl() {
    if !privileged("granting_again_replaces_the_ttl") {
        return;
    }
    let lab = Lab::new(50, &["tcp4:0.0.0.0:8080"]);
    let policy = lab_policy(&lab, 50, "p.toml", "");
    lab.ok(&["apply", "--policy", arg(&policy)]);
    let key = "10.50.0.2 . tcp . 9229";
    let left = |lab: &Lab| open_grant(lab, key)["seconds_left"].as_u64().unwrap();
    assert_ok(&grant(&lab, "9229/tcp", "10.50.0.2", "1h"));
    assert!(left(&lab) > 3500);
    // Shorter: the new TTL counts, not the longer one still running.
    assert_ok(&grant(&lab, "9229/tcp", "10.50.0.2", "5m"));
    let shorter = open_grant(&lab, key);
    assert!(
        shorter["seconds_left"].as_u64().unwrap() <= 300,
        "{shorter}"
    );
    assert_eq!(shorter["ttl_seconds"], 300, "{shorter}");
    assert_ok(&grant(&lab, "9229/tcp", "10.50.0.2", "1h"));
    assert!(left(&lab) > 3500);
    assert_eq!(open_grants(&lab).len(), 1, "one element, replaced");
}

#[test]
fn a_network_around_an_open_host_grant_is_refused_with_its_time_left() {
    if !privileged("a_network_around_an_open_host_grant_is_refused_with_its_time_left") {
        return;
    }
    let lab = Lab::new(51, &["tcp4:0.0.0.0:8080"]);
    let policy = lab_policy(&lab, 51, "p.toml", "");
    lab.ok(&["apply", "--policy", arg(&policy)]);
    assert_ok(&grant(&lab, "9229/tcp", "10.51.0.2", "1h"));
    let around = grant(&lab, "9229/tcp", "10.51.0.0/25", "1h");
    assert_exit(
        &around,
        2,
        "overlaps the open grant 10.51.0.2 . tcp . 9229 (",
    );
    let said = support::stderr(&around);
    let left: u64 = said
        .split("10.51.0.2 . tcp . 9229 (")
        .nth(1)
        .and_then(|rest| rest.split(" s left)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time left in: {said}"));
    assert!((3500..=3600).contains(&left), "{said}");
    assert_eq!(open_grants(&lab).len(), 1, "nothing else opened");
}

/// An `nft` for `$PORTREEVE_NFT` that kills the portreeve calling it with
/// SIGKILL at its next transaction (`nft -f`), once: before the
/// transaction runs, or after it committed. Everything else goes to the
/// real `nft`.
struct KillingNft {
    script: std::path::PathBuf,
}

/// When [`KillingNft`] kills its caller.
#[derive(Clone, Copy)]
enum Kill {
    BeforeCommit,
    AfterCommit,
}

impl KillingNft {
    fn new(lab: &Lab) -> KillingNft {
        let script = support::nft_wrapper(
            &lab.home,
            "nft-killing",
            r#"    armed="$0.armed"
    if [ -f "$armed" ]; then
        when=$(cat "$armed")
        rm -f "$armed"
        if [ "$when" = after ]; then nft "$@" || exit 1; fi
        kill -9 "$PPID"
        exit 1
    fi"#,
        );
        KillingNft { script }
    }

    /// `portreeve ARGS` in the lab, killed at its first transaction.
    fn run_killed(&self, lab: &Lab, when: Kill, args: &[&str]) {
        let armed = format!("{}.armed", self.script.display());
        let when = match when {
            Kill::BeforeCommit => "before",
            Kill::AfterCommit => "after",
        };
        std::fs::write(&armed, when).unwrap();
        let mut cmd = lab
            .home
            .command(lab.srv.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.env("PORTREEVE_NFT", &self.script).args(args);
        let out = run(&mut cmd);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "killed: {out:?}"
        );
        assert!(!std::path::Path::new(&armed).exists(), "the kill came");
    }
}

/// The generation the kernel's `generation` set names.
fn kernel_generation(lab: &Lab) -> String {
    let out = run(lab
        .srv
        .exec("nft")
        .args(["list", "set", "inet", "portreeve", "generation"]));
    assert_ok(&out);
    support::stdout(&out)
}

#[test]
fn a_confirm_within_apply_killed_before_nft_is_marked_failed() {
    if !testkit::privileged(
        "a_confirm_within_apply_killed_before_nft_is_marked_failed",
        &["ip", "python3", "nft", "setsid", "sh"],
    ) {
        return;
    }
    let lab = Lab::new(52, &["tcp4:0.0.0.0:8080"]);
    let policy = lab_policy(&lab, 52, "p.toml", "");
    lab.ok(&["apply", "--policy", arg(&policy)]);
    lab_policy(&lab, 52, "p.toml", TLS_RULE);
    let nft = KillingNft::new(&lab);
    nft.run_killed(
        &lab,
        Kill::BeforeCommit,
        &["apply", "--policy", arg(&policy), "--confirm-within", "1s"],
    );
    let status = |lab: &Lab| generation_list(lab).1[1]["status"].clone();
    assert_eq!(status(&lab), "pending");
    // The watchdog wakes at the deadline and finds generation 2 never
    // reached the kernel.
    let by = Instant::now() + Duration::from_secs(6);
    while status(&lab) == "pending" {
        assert!(Instant::now() < by, "still pending");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (current, list) = generation_list(&lab);
    assert_eq!(list[1]["status"], "failed", "{list:#?}");
    assert_eq!((current, list.len()), (1, 2), "no rollback was needed");
    assert!(kernel_generation(&lab).contains("0x00000001"));
    assert!(lab.connects(8080));
}

#[test]
fn grant_and_rollback_after_a_killed_apply_start_from_the_kernel() {
    if !testkit::privileged(
        "grant_and_rollback_after_a_killed_apply_start_from_the_kernel",
        &["ip", "python3", "nft", "sh"],
    ) {
        return;
    }
    let lab = Lab::new(53, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    // Generation 1 has no on-demand rule; generation 2 adds 9229.
    let web = "[[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n";
    let policy = lab.home.file("p.toml", format!("{}{web}", zones(53)));
    lab.ok(&["apply", "--policy", arg(&policy)]);
    lab_policy(&lab, 53, "p.toml", "");
    // Killed after nft committed, before it wrote generation 2 down.
    KillingNft::new(&lab).run_killed(
        &lab,
        Kill::AfterCommit,
        &["apply", "--policy", arg(&policy)],
    );
    assert!(kernel_generation(&lab).contains("0x00000002"));

    // The grant is judged by generation 2's policy, the one in the kernel.
    assert_ok(&grant(&lab, "9229", "10.53.0.2", "1h"));
    assert!(lab.connects(9229), "granted");
    assert_eq!(
        generation_list(&lab).0,
        2,
        "the records agree with the kernel"
    );
    // The rollback goes back from generation 2 to 1.
    assert_eq!(
        lab.ok(&["rollback"]),
        "Restored generation 1 as generation 3.\n"
    );
    assert!(kernel_generation(&lab).contains("0x00000003"));
}

#[test]
fn every_table_that_depends_on_the_policy_in_effect_names_it() {
    if !privileged("every_table_that_depends_on_the_policy_in_effect_names_it") {
        return;
    }
    let lab = Lab::new(54, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    let policy = lab_policy(&lab, 54, "p.toml", "");
    lab.ok(&["--as", "alice", "apply", "--policy", arg(&policy)]);
    assert_ok(&grant(&lab, "9229", "10.54.0.2", "1h"));
    assert!(lab.connects(8080));

    let text = std::fs::read(&policy).unwrap();
    let digest = portreeve_ledger::digest(&text);
    let applied: jiff::Timestamp = generation_list(&lab).1[0]["created_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let in_effect = format!(
        "policy in effect: {} (sha256:{}, applied {} by alice in generation 1; live generation 1)",
        arg(&policy),
        &digest.as_str()["sha256:".len()..][..12],
        applied.strftime("%Y-%m-%d %H:%M:%S UTC"),
    );
    // Reports say it in the report; listings, whose standard output is
    // only rows, in a footer on standard error.
    for (table, footer) in [
        (&["check"][..], false),
        (&["grants"], true),
        (&["usage"], true),
        (&["generations"], true),
        (&["lifecycle"], true),
        (&["reclaim"], true),
        (&["plan"], false),
    ] {
        let out = lab.portreeve(table);
        let said = if footer {
            support::stderr(&out)
        } else {
            support::stdout(&out)
        };
        assert!(
            said.lines().any(|l| l == in_effect),
            "{table:?} does not say `{in_effect}`:\n{said}{}",
            support::stderr(&out)
        );
    }
}

#[test]
fn a_reclaim_after_a_killed_apply_keeps_the_policy_the_kernel_holds() {
    if !testkit::privileged(
        "a_reclaim_after_a_killed_apply_keeps_the_policy_the_kernel_holds",
        &["ip", "python3", "nft", "sh"],
    ) {
        return;
    }
    let lab = Lab::new(55, &["tcp4:0.0.0.0:8080"]);
    // 8080 is abandoned two seconds after its last use and is reclaimed.
    let lifecycle = "[lifecycle]\ndormant_after = \"1s\"\nabandoned_after = \"2s\"\n\
                     reclaim = \"close\"\n";
    let policy = lab
        .home
        .file("p.toml", format!("{}{lifecycle}{RULES}", zones(55)));
    lab.ok(&["apply", "--policy", arg(&policy)]);
    assert!(lab.connects(8080));
    // Generation 2 adds 8443; its applier dies before writing it down.
    lab.home.file(
        "p.toml",
        format!("{}{lifecycle}{RULES}{TLS_RULE}", zones(55)),
    );
    KillingNft::new(&lab).run_killed(
        &lab,
        Kill::AfterCommit,
        &["apply", "--policy", arg(&policy)],
    );
    std::thread::sleep(Duration::from_millis(2500));

    let reclaim = lab.portreeve(&["reclaim", "--apply"]);
    let allowed = || {
        let out = run(lab
            .srv
            .exec("nft")
            .args(["list", "set", "inet", "portreeve", "allowed_v4"]));
        support::stdout(&out)
    };
    assert!(
        allowed().contains("10.55.0.0/24 . tcp . 8443"),
        "the reclaim reverted generation 2's policy: {}{}\n{}",
        support::stdout(&reclaim),
        support::stderr(&reclaim),
        allowed()
    );
    // Refused on the stale view, it works when run again.
    assert_exit(&reclaim, 2, "run it again");
    lab.ok(&["reclaim", "--apply"]);
    let now = allowed();
    assert!(
        now.contains("8443") && !now.contains("8080"),
        "8080 closed, 8443 kept: {now}"
    );
}

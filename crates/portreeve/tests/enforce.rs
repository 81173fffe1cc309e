//! Enforcement end to end: a server namespace running portreeve's ruleset,
//! two client namespaces connecting to it over veth links, and the real
//! kernel deciding. Nothing here leaves the namespaces the tests create.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Home, Netns, assert_ok, run, stderr, stdout, testkit};

/// The server's addresses as seen from client `a` (zone office) and `b`
/// (zone lab).
const SRV_A: &str = "10.10.1.1";
const SRV_B: &str = "10.10.2.1";
const SRV_A6: &str = "fd00:1::1";

const ZONES: &str = r#"
[zones]
office = ["10.10.1.0/24", "fd00:1::/64"]
lab = ["10.10.2.0/24"]
"#;

/// The policy most tests apply.
const POLICY: &str = r#"
[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office", "lab"]

[[rule]]
name = "web"
port = 8080
protocol = "tcp"
zones = ["office", "lab"]

[[rule]]
name = "admin"
port = 9000
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "debugger"
port = 9229
protocol = "tcp"
zones = ["lab"]
grant = { max_ttl = "1h" }

[[rule]]
name = "api"
port = 7000
protocol = "tcp"
zones = ["office", "lab"]
limits = { new_per_second_per_source = 20, burst = 5 }

[[rule]]
name = "stream"
port = 7001
protocol = "tcp"
zones = ["office", "lab"]
limits = { connections_per_source = 3 }
"#;

/// A server namespace linked to two clients, listening on every test port.
struct Site {
    srv: Netns,
    a: Netns,
    b: Netns,
    _listeners: testkit::Listeners,
    home: Home,
}

impl Site {
    fn new() -> Site {
        let (srv, a, b) = (Netns::bare(), Netns::bare(), Netns::bare());
        srv.link(&a, "10.10.1.1/24", "10.10.1.2/24");
        srv.link(&b, "10.10.2.1/24", "10.10.2.2/24");
        // IPv6 on the office link: a second veth pair keeps it simple.
        srv.link(&a, "fd00:1::1/64", "fd00:1::2/64");
        let listeners = srv.listen(
            &[
                "tcp6:[::]:22:v6only=0",
                "tcp6:[::]:8080:v6only=0",
                "tcp4:0.0.0.0:9000",
                "tcp4:0.0.0.0:9229",
                "tcp4:0.0.0.0:7001",
                "tcp4:0.0.0.0:23",
            ],
            0,
        );
        Site {
            srv,
            a,
            b,
            _listeners: listeners,
            home: Home::new(),
        }
    }

    /// Writes a policy file (zones prepended) and returns its path.
    fn policy(&self, name: &str, rules: &str) -> PathBuf {
        self.home.file(name, format!("{ZONES}{rules}"))
    }

    /// Runs portreeve in the server namespace with this site's state dir.
    fn portreeve(&self, args: &[&str]) -> std::process::Output {
        self.home.run_in(&self.srv, args)
    }

    fn apply(&self, policy: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["apply", "--policy", policy.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.portreeve(&args)
    }

    fn nft_table(&self, family: &str, name: &str) -> String {
        stdout(&run(self
            .srv
            .exec("nft")
            .args(["list", "table", family, name])))
    }
}

/// Whether a TCP connection from `client` to `addr:port` completes.
fn connects(client: &Netns, addr: &str, port: u16) -> bool {
    client.connects(SocketAddr::new(addr.parse().unwrap(), port))
}

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "setsid"])
}

#[test]
fn allowed_zones_connect_banned_and_unlisted_ports_do_not() {
    if !privileged("allowed_zones_connect_banned_and_unlisted_ports_do_not") {
        return;
    }
    let site = Site::new();
    // Before apply, everything is open.
    assert!(connects(&site.b, SRV_B, 9000) && connects(&site.a, SRV_A, 23));

    // A policy that cannot compile is refused before anything is applied.
    let invalid = site.policy(
        "bad.toml",
        "[[rule]]\nport = 23\nprotocol = \"tcp\"\nzones = [\"lab\"]\n",
    );
    let refused = site.apply(&invalid, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("which is banned"),
        "{}",
        stderr(&refused)
    );
    assert!(
        site.nft_table("inet", "portreeve").is_empty(),
        "nothing was applied"
    );

    assert_ok(&site.apply(&site.policy("p.toml", POLICY), &[]));
    assert!(connects(&site.a, SRV_A, 8080), "office → web");
    assert!(connects(&site.b, SRV_B, 8080), "lab → web");
    assert!(connects(&site.a, SRV_A6, 8080), "office over IPv6 → web");
    assert!(connects(&site.a, SRV_A, 9000), "office → admin");
    assert!(
        !connects(&site.b, SRV_B, 9000),
        "lab → admin is not allowed"
    );
    assert!(
        !connects(&site.a, SRV_A, 23),
        "banned telnet never connects"
    );
    assert!(
        !connects(&site.b, SRV_B, 9229),
        "on-demand port stays closed"
    );
}

#[test]
fn grants_open_one_source_and_close_by_themselves() {
    if !privileged("grants_open_one_source_and_close_by_themselves") {
        return;
    }
    let site = Site::new();
    let policy = site.policy("p.toml", POLICY);
    // Granting before the ruleset is applied says so.
    let early = site.portreeve(&[
        "grant",
        "9229/tcp",
        "--from",
        "10.10.2.2",
        "--ttl",
        "3s",
        "--reason",
        "t",
    ]);
    assert_eq!(early.status.code(), Some(2), "{}", stderr(&early));
    assert!(stderr(&early).contains("not applied"));

    assert_ok(&site.apply(&policy, &[]));
    let granted = site.portreeve(&[
        "grant",
        "9229/tcp",
        "--from",
        "10.10.2.2",
        "--ttl",
        "3s",
        "--reason",
        "debugging #42",
    ]);
    assert_ok(&granted);
    let opened = Instant::now();
    assert!(
        connects(&site.b, SRV_B, 9229),
        "the granted source connects"
    );
    assert!(!connects(&site.a, SRV_A, 9229), "another source does not");

    let doc: Value =
        serde_json::from_slice(&site.portreeve(&["grants", "--format", "json"]).stdout).unwrap();
    assert_eq!(doc["kind"], "portreeve.grants");
    let list = &doc["grants"];
    assert_eq!(list[0]["key"], "10.10.2.2 . tcp . 9229");
    assert_eq!(list[0]["reason"], "debugging #42");
    assert!(list[0]["seconds_left"].as_u64().unwrap() <= 3);

    // Refusals: outside the rule's zones, a TTL above the cap, a port that
    // is not on demand.
    for (args, why) in [
        (
            vec!["9229", "--from", "10.10.1.2", "--ttl", "1m"],
            "outside the zones",
        ),
        (
            vec!["9229", "--from", "10.10.2.2", "--ttl", "2h"],
            "exceeds",
        ),
        (
            vec!["8080", "--from", "10.10.2.2", "--ttl", "1m"],
            "not grantable",
        ),
    ] {
        let mut all = vec!["grant"];
        all.extend(args);
        all.extend(["--reason", "x"]);
        let out = site.portreeve(&all);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }

    // The kernel closes it after its TTL, with nobody running anything.
    std::thread::sleep(Duration::from_secs(4).saturating_sub(opened.elapsed()));
    assert!(!connects(&site.b, SRV_B, 9229), "closed after the TTL");

    // Revoke closes one early.
    assert_ok(&site.portreeve(&[
        "grant",
        "9229",
        "--from",
        "10.10.2.0/24",
        "--ttl",
        "10m",
        "--reason",
        "r",
    ]));
    assert!(connects(&site.b, SRV_B, 9229));
    // A host inside the open network is covered already: said so, exit 2.
    let inside = site.portreeve(&[
        "grant",
        "9229",
        "--from",
        "10.10.2.2",
        "--ttl",
        "5m",
        "--reason",
        "r",
    ]);
    assert_eq!(inside.status.code(), Some(2), "{}", stderr(&inside));
    assert!(
        stderr(&inside).contains("overlaps the open grant 10.10.2.0/24 . tcp . 9229"),
        "{}",
        stderr(&inside)
    );
    assert_ok(&site.portreeve(&["revoke", "9229/tcp", "--from", "10.10.2.0/24"]));
    assert!(!connects(&site.b, SRV_B, 9229));
    let again = site.portreeve(&["revoke", "9229/tcp", "--from", "10.10.2.0/24"]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn concurrent_connection_cap_refuses_the_next_one() {
    if !privileged("concurrent_connection_cap_refuses_the_next_one") {
        return;
    }
    let site = Site::new();
    assert_ok(&site.apply(&site.policy("p.toml", POLICY), &[]));
    let target: SocketAddr = format!("{SRV_A}:7001").parse().unwrap();
    site.a.run(|| {
        let held: Vec<TcpStream> = (0..3)
            .map(|i| {
                TcpStream::connect_timeout(&target, Duration::from_secs(1))
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"))
            })
            .collect();
        let fourth = TcpStream::connect_timeout(&target, Duration::from_secs(1));
        let err = fourth.expect_err("connection 4 must be refused");
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "refused with a reset, not dropped"
        );
        drop(held);
    });
    // Another source is not affected by a's connections.
    assert!(connects(&site.b, SRV_B, 7001));
}

#[test]
fn unconfirmed_apply_rolls_back_even_when_the_applier_dies() {
    if !privileged("unconfirmed_apply_rolls_back_even_when_the_applier_dies") {
        return;
    }
    let site = Site::new();
    let open = site.policy("open.toml", POLICY);
    let closed = site.policy(
        "closed.toml",
        "[[rule]]\nname = \"ssh\"\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\", \"lab\"]\n",
    );
    assert_ok(&site.apply(&open, &[]));
    assert!(connects(&site.a, SRV_A, 8080));

    // Not confirmed: restored at the deadline.
    assert_ok(&site.apply(&closed, &["--confirm-within", "2s"]));
    assert!(!connects(&site.a, SRV_A, 8080), "the new ruleset is live");
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        connects(&site.a, SRV_A, 8080),
        "rolled back after the deadline"
    );

    // Confirmed: kept.
    assert_ok(&site.apply(&closed, &["--confirm-within", "2s"]));
    assert_ok(&site.portreeve(&["confirm"]));
    std::thread::sleep(Duration::from_millis(3000));
    assert!(!connects(&site.a, SRV_A, 8080), "confirmed rulesets stay");
    let late = site.portreeve(&["confirm"]);
    assert_eq!(late.status.code(), Some(2));

    // The applier killed while it waits: the watchdog is on its own.
    assert_ok(&site.apply(&open, &[]));
    let mut cmd = site.srv.exec(env!("CARGO_BIN_EXE_portreeve"));
    cmd.args([
        "--state-dir",
        site.home.state().to_str().unwrap(),
        "apply",
        "--policy",
        closed.to_str().unwrap(),
        "--confirm-within",
        "2s",
        "--wait",
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut applier = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while connects(&site.a, SRV_A, 8080) {
        assert!(Instant::now() < deadline, "the new ruleset never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    applier.kill().unwrap();
    let _ = applier.wait();
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        connects(&site.a, SRV_A, 8080),
        "rolled back although the applier was killed"
    );

    let gens: Value =
        serde_json::from_slice(&site.portreeve(&["generations", "--format", "json"]).stdout)
            .unwrap();
    let statuses: Vec<&str> = gens["generations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "reverted",
            "applied",
            "confirmed",
            "applied",
            "reverted",
            "applied"
        ],
        "{gens:#}"
    );
}

#[test]
fn foreign_tables_are_untouched_and_rollback_restores() {
    if !privileged("foreign_tables_are_untouched_and_rollback_restores") {
        return;
    }
    let site = Site::new();
    let foreign = "table ip foreign {\n\tset trusted {\n\t\ttype ipv4_addr\n\t\telements = { 192.0.2.1 }\n\t}\n\n\tchain keep {\n\t\ttype filter hook input priority 10; policy accept;\n\t\tip saddr @trusted accept\n\t}\n}\n";
    let file = site.home.path().join("foreign.nft");
    std::fs::write(&file, foreign).unwrap();
    let out = run(site.srv.exec("nft").arg("-f").arg(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    let before = site.nft_table("ip", "foreign");
    assert!(before.contains("192.0.2.1"));

    assert_ok(&site.apply(&site.policy("p.toml", POLICY), &[]));
    assert_eq!(
        site.nft_table("ip", "foreign"),
        before,
        "apply leaves foreign tables alone"
    );
    let plan = stdout(&site.portreeve(&[
        "plan",
        "--policy",
        site.policy("p2.toml", POLICY).to_str().unwrap(),
    ]));
    assert!(plan.contains("table ip foreign: chain keep"), "{plan}");

    assert_ok(&site.portreeve(&["rollback"]));
    assert_eq!(
        site.nft_table("ip", "foreign"),
        before,
        "rollback leaves foreign tables alone"
    );
    assert!(
        site.nft_table("inet", "portreeve").is_empty(),
        "rolling back the first generation removes portreeve's table"
    );
    assert!(connects(&site.b, SRV_B, 9000), "and opens what it closed");
}

#[test]
fn the_lockout_guard_refuses_to_cut_the_management_path() {
    if !privileged("the_lockout_guard_refuses_to_cut_the_management_path") {
        return;
    }
    let site = Site::new();
    let no_ssh_from_lab = site.policy(
        "p.toml",
        "[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\n",
    );
    let apply_as_session = |force: bool| {
        let mut cmd = site.srv.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args([
            "--state-dir",
            site.home.state().to_str().unwrap(),
            "apply",
            "--policy",
            no_ssh_from_lab.to_str().unwrap(),
        ])
        .env("SSH_CONNECTION", "10.10.2.2 50122 10.10.2.1 22");
        if force {
            cmd.arg("--force");
        }
        run(&mut cmd)
    };
    let refused = apply_as_session(false);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("lock you out") && stderr(&refused).contains("10.10.2.2/32"),
        "{}",
        stderr(&refused)
    );
    assert!(
        site.nft_table("inet", "portreeve").is_empty(),
        "nothing was applied"
    );
    assert!(connects(&site.b, SRV_B, 22));

    let management = site.policy(
        "m.toml",
        "[enforce]\nmanagement_zone = \"lab\"\n[[rule]]\nport = 22\nprotocol = \"tcp\"\nzones = [\"office\"]\n",
    );
    let refused = site.apply(&management, &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("management zone `lab`"),
        "{}",
        stderr(&refused)
    );

    assert_ok(&apply_as_session(true));
    assert!(!connects(&site.b, SRV_B, 22), "--force applies it anyway");
}

#[test]
fn usage_set_records_the_last_access() {
    if !privileged("usage_set_records_the_last_access") {
        return;
    }
    let site = Site::new();
    assert_ok(&site.apply(&site.policy("p.toml", POLICY), &[]));
    for _ in 0..3 {
        assert!(connects(&site.a, SRV_A, 8080));
    }
    let usage_now = || -> Value {
        serde_json::from_slice(&site.portreeve(&["usage", "--format", "json"]).stdout).unwrap()
    };
    let doc = usage_now();
    let usage = &doc["ports"];
    let web = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["port"] == 8080)
        .unwrap_or_else(|| panic!("{usage:#}"));
    assert_eq!(web["protocol"], "tcp");
    assert!(web["idle_seconds"].as_i64().unwrap() <= 5, "{web}");
    assert_eq!(web["connections"], 3, "one per new connection: {web}");
    // A re-apply carries the count over, as it carries the last access.
    assert_ok(&site.apply(&site.policy("p.toml", POLICY), &[]));
    let again = usage_now();
    let web = again["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["port"] == 8080)
        .unwrap_or_else(|| panic!("{again:#}"));
    assert_eq!(web["connections"], 3, "{web}");
    assert!(
        usage.as_array().unwrap().iter().all(|u| u["port"] != 9000),
        "unused ports have no entry"
    );
}

#[test]
fn without_root_apply_says_what_is_missing_and_changes_nothing() {
    if !privileged("without_root_apply_says_what_is_missing_and_changes_nothing") {
        return;
    }
    let site = Site::new();
    let policy = site.policy("p.toml", POLICY);
    let mut cmd = site.srv.exec("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_portreeve"),
    ])
    .args([
        "--state-dir",
        "/tmp/portreeve-nobody-state",
        "apply",
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("CAP_NET_ADMIN"), "{}", stderr(&out));
    assert!(site.nft_table("inet", "portreeve").is_empty());
}

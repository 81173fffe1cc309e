//! Fleet policy end to end: the real `portreeve server` in one network
//! namespace, a real agent in another, linked by a veth pair. A policy
//! proposed by one person and approved by another is assigned to the host;
//! the agent pulls it, checks the server's signature, applies it to its
//! namespace's firewall and confirms it once it has reached the server
//! under it, and the server shows it confirmed. A second policy is applied
//! and then the agent's new connections to the server are refused (those
//! open already, kept alive for pushes, go on, so a pull that reused one
//! would confirm it): its watchdog rolls the second ruleset back by
//! itself, the first is in force again, the agent does not try the same
//! policy again at once, and the server learns it was rolled back. Run on
//! SQLite, then on PostgreSQL where the local cluster answers.
//!
//! portreeve's rulesets judge traffic coming in only (replies of the
//! agent's own connections are always let in), so no policy can itself
//! cut the agent off from its server; the test cuts the path, in the
//! server's namespace, as soon as the second ruleset is in the kernel.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fleet_server::{RunningServer, TestDatabase, create_token, on_each_database};
use support::{Daemon, Home, Netns, agent_command, run, stdout, testkit};

/// The server's port in its namespace.
const SERVER_PORT: u16 = 8440;
/// The server's end of the link.
const SERVER_ADDR: &str = "10.72.1.1";
/// The agent's end of the link.
const AGENT_ADDR: &str = "10.72.1.2";
/// The host's name in the fleet.
const HOST: &str = "edge-1";
/// The agent's `policy_confirm_within`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(6);
/// The agent's `push_interval`, which is also how often it pulls.
const PUSH_INTERVAL: Duration = Duration::from_secs(2);
/// The ports the agent's namespace listens on: the first policy opens
/// the first, the second policy the second.
const PORTS: [u16; 2] = [7701, 7702];

/// A policy letting the server's network reach `port` only.
fn policy_opening(port: u16) -> String {
    format!(
        "[zones]\nfleet = [\"10.72.1.0/24\"]\n\n[[rule]]\nname = \"app\"\nport = {port}\nprotocol = \"tcp\"\nzones = [\"fleet\"]\n"
    )
}

/// Proposes `text` as the next version of `web` as the operator, has the
/// approver approve it, and assigns it to the host: its version and
/// digest.
fn roll_out(server: &RunningServer, operator: &str, approver: &str, text: &str) -> (u64, String) {
    let (status, proposed) = server.call(
        "POST",
        "/api/v1/policies",
        operator,
        &json!({"name": "web", "text": text, "reason": "open the app port"}),
    );
    assert_eq!(status, 201, "{proposed}");
    let version = proposed["version"].as_u64().unwrap();
    let digest = proposed["sha256"].as_str().unwrap().to_string();
    let (status, approved) = server.call(
        "POST",
        &format!("/api/v1/policies/web/{version}/approve"),
        approver,
        &json!({"reason": "looked at it"}),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["approved"], true, "{approved}");
    let (status, assigned) = server.call(
        "PUT",
        "/api/v1/assignments",
        operator,
        &json!({"policy": "web", "version": version, "hosts": [HOST]}),
    );
    assert!((200..300).contains(&status), "{status}: {assigned}");
    (version, digest)
}

/// Polls `f` every 100 ms until it finds what it needs, for at most
/// `limit`; returns it and how long it took.
fn until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(found) = f() {
            return (found, start.elapsed());
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// portreeve's table in the agent's namespace, set elements included;
/// empty while there is none.
fn agent_table(ns: &Netns) -> String {
    stdout(&run(ns.exec("nft").args([
        "list",
        "table",
        "inet",
        "portreeve",
    ])))
}

/// Which of [`PORTS`] portreeve's table in the agent's namespace allows
/// (its `allowed_v4` set; other sets, such as the ports seen in use,
/// name ports too).
fn ports_in_table(ns: &Netns) -> Vec<u16> {
    let table = stdout(&run(ns.exec("nft").args([
        "list",
        "set",
        "inet",
        "portreeve",
        "allowed_v4",
    ])));
    PORTS
        .into_iter()
        .filter(|port| table.contains(&port.to_string()))
        .collect()
}

/// Which of [`PORTS`] the server's namespace can open a connection to in
/// the agent's, as the agent's firewall decides.
fn open_ports(server: &RunningServer) -> Vec<u16> {
    server.netns().run(|| {
        PORTS
            .into_iter()
            .filter(|port| {
                let to = SocketAddr::new(AGENT_ADDR.parse().unwrap(), *port);
                TcpStream::connect_timeout(&to, Duration::from_millis(300)).is_ok()
            })
            .collect()
    })
}

/// The host's policy as the server's host detail shows it.
fn host_policy(server: &RunningServer, viewer: &str, id: &str) -> Value {
    let (status, _, detail) = server.get(&format!("/api/v1/hosts/{id}"), Some(viewer));
    assert_eq!(status, 200, "{detail}");
    detail["policy"].clone()
}

/// The agent's ledger entries of `action`.
fn entries(home: &Home, action: &str) -> Vec<Value> {
    home.ledger()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// The server namespace's own table, in which [`cut_off`] refuses the
/// agent's connections. Made before the agent connects, so that the
/// kernel tracks its connections from their start and the cut can tell
/// connections open before it from new ones.
fn track_connections(server: &RunningServer) {
    nft(
        server,
        "table inet prt_cut {\n\tchain input {\n\t\ttype filter hook input priority -10; policy accept;\n\t\tct state established,related accept\n\t}\n}\n",
    );
}

/// Makes the server's namespace refuse the agent's new connections to the
/// server (`cut = true`), or takes that away. Connections open before
/// stay, as on a firewall that lets established traffic through: a pull
/// that confirms a ruleset must not ride on one of those.
fn cut_off(server: &RunningServer, cut: bool) {
    let refuse = format!("ip saddr {AGENT_ADDR} tcp dport {SERVER_PORT} reject with tcp reset");
    if cut {
        nft(server, &format!("add rule inet prt_cut input {refuse}\n"));
    } else {
        nft(server, "flush chain inet prt_cut input\n");
        track_connections(server);
    }
}

/// Runs the nft script `script` in the server's namespace.
fn nft(server: &RunningServer, script: &str) {
    let out = testkit::run_with_input(
        server.netns().exec("nft").args(["-f", "-"]),
        script.as_bytes(),
    );
    assert!(out.status.success(), "nft: {}", testkit::stderr(&out));
}

#[test]
fn an_agent_follows_its_fleet_policy_and_rolls_back_one_that_cuts_it_off() {
    if !testkit::require_programs("an_agent_follows_its_fleet_policy", &["nft", "python3"]) {
        return;
    }
    on_each_database(
        "an_agent_follows_its_fleet_policy_and_rolls_back_one_that_cuts_it_off",
        follow_the_fleet_policy,
    );
}

fn follow_the_fleet_policy(home: &Home, db: &TestDatabase) {
    let enroll = create_token(home, db, &["--role", "enroll"]);
    let operator = create_token(home, db, &["--role", "operator", "--name", "alice"]);
    let approver = create_token(home, db, &["--role", "approver", "--name", "bob"]);
    let viewer = create_token(home, db, &["--role", "viewer"]);
    let (server_ns, agent_ns) = (Netns::bare(), Netns::bare());
    server_ns.link(
        &agent_ns,
        &format!("{SERVER_ADDR}/24"),
        &format!("{AGENT_ADDR}/24"),
    );
    let _listeners = agent_ns.listen(
        &PORTS
            .map(|p| format!("tcp4:0.0.0.0:{p}"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        0,
    );
    let server = RunningServer::start_in(home, db, server_ns, &format!("0.0.0.0:{SERVER_PORT}"));

    track_connections(&server);
    let agent_home = Home::new();
    let config = agent_home.file(
        "agent.toml",
        format!(
            "[server]\nurl = \"http://{SERVER_ADDR}:{SERVER_PORT}\"\nhost_name = \"{HOST}\"\n\
             push_interval = \"{}s\"\npolicy_confirm_within = \"{}s\"\n",
            PUSH_INTERVAL.as_secs(),
            CONFIRM_WITHIN.as_secs()
        ),
    );
    let mut agent = Daemon(
        agent_command(
            &agent_ns,
            &agent_home.state(),
            &[
                "--no-conntrack",
                "--config",
                config.to_str().unwrap(),
                "--enroll-token",
                &enroll,
            ],
        )
        .spawn()
        .unwrap(),
    );
    let (id, _) = until(Duration::from_secs(20), "the host enrolled", || {
        let (_, _, hosts) = server.get("/api/v1/hosts", Some(&viewer));
        let host = hosts.as_array()?.iter().find(|h| h["name"] == HOST)?;
        Some(host["id"].as_str()?.to_string())
    });
    assert!(
        agent_table(&agent_ns).is_empty(),
        "no firewall before a policy"
    );
    assert_eq!(
        open_ports(&server),
        PORTS,
        "without a firewall both ports answer"
    );

    // The first policy: applied, enforced, confirmed, reported, recorded.
    let (first, digest) = roll_out(&server, &operator, &approver, &policy_opening(PORTS[0]));
    let (_, took) = until(Duration::from_secs(20), "the first policy enforced", || {
        (open_ports(&server) == [PORTS[0]]).then_some(())
    });
    eprintln!("the first fleet policy was enforced {took:?} after its assignment");
    let (applied, took) = until(
        Duration::from_secs(20),
        "the first policy confirmed",
        || {
            let p = host_policy(&server, &viewer, &id);
            (p["applied"]["state"] == "confirmed").then_some(p)
        },
    );
    eprintln!("and reported confirmed {took:?} later");
    assert_eq!(
        applied["assigned"],
        json!({"name": "web", "version": first})
    );
    assert_eq!(applied["applied"]["name"], "web");
    assert_eq!(applied["applied"]["version"], first);
    let generation = applied["applied"]["generation"]
        .as_u64()
        .expect("a generation");
    assert_eq!(applied["applied"]["sha256"], digest.as_str());
    let approvals = entries(&agent_home, "policy.fleet-approval");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(
        approvals[0]["object"],
        format!("fleet policy web version {first}")
    );
    assert_eq!(approvals[0]["after"], digest.as_str());
    let evidence = approvals[0]["approval"].as_str().unwrap();
    assert!(
        evidence.contains("proposed by alice, approved by bob")
            && evidence.contains("server signature"),
        "{evidence}"
    );
    let confirmed = entries(&agent_home, "confirm");
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    assert_eq!(confirmed[0]["object"], format!("generation {generation}"));
    assert_eq!(confirmed[0]["actor"], "agent");
    assert_eq!(ports_in_table(&agent_ns), [PORTS[0]]);

    // The second policy, and the agent cut off from the server as soon as
    // its ruleset is in the kernel: rolled back by the watchdog.
    let (second, _) = roll_out(&server, &operator, &approver, &policy_opening(PORTS[1]));
    until(
        Duration::from_secs(20),
        "the second ruleset installed",
        || (ports_in_table(&agent_ns) == [PORTS[1]]).then_some(()),
    );
    cut_off(&server, true);
    let (_, took) = until(
        CONFIRM_WITHIN + Duration::from_secs(5),
        "the rollback",
        || (ports_in_table(&agent_ns) == [PORTS[0]]).then_some(()),
    );
    eprintln!("rolled back {took:?} after the agent was cut off");
    assert_eq!(
        open_ports(&server),
        [PORTS[0]],
        "the first policy is in force again"
    );
    let rollbacks = entries(&agent_home, "rollback");
    assert_eq!(rollbacks.len(), 1, "{rollbacks:?}");
    assert_eq!(rollbacks[0]["actor"], "watchdog");
    assert_eq!(
        entries(&agent_home, "confirm").len(),
        1,
        "the second was never confirmed"
    );

    // The path back: the server learns of the rollback, and the agent
    // leaves the policy alone rather than applying it again.
    cut_off(&server, false);
    let (reported, took) = until(Duration::from_secs(40), "the rollback reported", || {
        let p = host_policy(&server, &viewer, &id);
        (p["applied"]["state"] == "rolled-back").then_some(p)
    });
    eprintln!("the server saw the rollback {took:?} after the path was back");
    assert_eq!(reported["assigned"]["version"], second);
    assert_eq!(reported["applied"]["version"], second);
    let rolled_back = reported["applied"]["generation"].as_u64().unwrap();
    assert!(rolled_back > generation, "{reported}");
    assert!(
        reported["applied"]["message"]
            .as_str()
            .unwrap()
            .contains("not confirmed within"),
        "{reported}"
    );
    std::thread::sleep(PUSH_INTERVAL * 2);
    assert_eq!(
        ports_in_table(&agent_ns),
        [PORTS[0]],
        "applied again at once"
    );
    assert_eq!(entries(&agent_home, "apply").len(), 2);

    agent.stop();
    server.stop();
}

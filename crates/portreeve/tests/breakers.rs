//! Port circuit breakers, in namespaces the test creates: a manual trip
//! closes its rule's port until reset (probed from a client namespace),
//! survives an `apply` and an agent restart, and every trip and reset is
//! a ledger entry; misuse exits 2 and changes nothing. Under a real CPU
//! load, the agent trips a CPU breaker and recovers it when the load
//! stops, both recorded; a flood of new connections sends new ones to a
//! backup pool member while established ones stay, until it stops; an
//! overflow needs forwarding and a pool member that answers, and the agent
//! follows a member coming up.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{
    Home, Lab, Netns, assert_exit, assert_matches_schema, assert_ok, metrics, privileged, run,
    sample, start_agent, stdout,
};

/// A port the breaker leaves alone.
const WEB: u16 = 8080;
/// The port of the rule the breaker closes.
const REPORTS: u16 = 9090;

/// A server at 10.SUBNET.0.1 allowing [`WEB`] and [`REPORTS`] to its /24,
/// with one breaker, `cpu`, closing the `reports` rule: `when`, `recover`
/// and `cooldown` as given.
fn lab(subnet: u8, when: &str, recover: &str, cooldown: &str) -> Lab {
    let lab = Lab::new(
        subnet,
        &[
            &format!("tcp4:0.0.0.0:{WEB}"),
            &format!("tcp4:0.0.0.0:{REPORTS}"),
        ],
    );
    let policy = lab.home.file(
        "p.toml",
        format!(
            "[zones]\nlab = [\"10.{subnet}.0.0/24\"]\n\
             [[rule]]\nname = \"web\"\nport = {WEB}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             [[rule]]\nname = \"reports\"\nport = {REPORTS}\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             [[breaker]]\nname = \"cpu\"\nwhen = {when}\naction = {{ close = [\"reports\"] }}\n\
             recover = {recover}\ncooldown = \"{cooldown}\"\n"
        ),
    );
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    lab
}

/// The agent's metrics once `series` is `want`, polled for at most 5 s
/// (the gauges follow the breaker record at the agent's next update).
fn metrics_until(lab: &Lab, series: &str, want: f64) -> String {
    let start = Instant::now();
    loop {
        let text = metrics(&lab.srv).unwrap();
        if sample(&text, series) == Some(want) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{series} is not {want} within 5 s: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ledger entries with `action`.
fn entries_of(lab: &Lab, action: &str) -> Vec<serde_json::Value> {
    lab.home
        .ledger()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// The `cpu` breaker as `breakers --format json` lists it.
fn breaker(lab: &Lab) -> serde_json::Value {
    let doc = lab.json(&["breakers", "--format", "json"]);
    assert_matches_schema(&doc, "docs/schema/breakers.v1.json");
    let list = doc["breakers"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{doc}");
    list[0].clone()
}

/// Polls [`breaker`] until `f` holds, for at most `limit`; how long it took.
#[track_caller]
fn wait_until(lab: &Lab, limit: Duration, f: impl Fn(&serde_json::Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let b = breaker(lab);
        if f(&b) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {b}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_manual_trip_closes_the_rule_until_reset_and_misuse_exits_2() {
    if !privileged("a_manual_trip_closes_the_rule_until_reset_and_misuse_exits_2") {
        return;
    }
    // Never trips by itself: CPU use is never above 100 %.
    let lab = lab(
        121,
        "{ cpu_percent = 100, for = \"1h\" }",
        "{ below = 50, for = \"1s\" }",
        "0s",
    );
    let b = breaker(&lab);
    assert_eq!(b["state"], "closed");
    assert_eq!(b["watches"], "cpu_percent");
    assert!(lab.connects(REPORTS));
    let table = lab.live_table();
    let entries = lab.home.ledger().len();
    for (args, says) in [
        (
            &["breaker", "reset", "cpu", "--reason", "r"][..],
            "the breaker is not tripped",
        ),
        (
            &["breaker", "trip", "nope", "--reason", "r"],
            "no breaker `nope` (its breakers: cpu)",
        ),
    ] {
        assert_exit(&lab.portreeve(args), 2, says);
        assert_eq!(lab.live_table(), table, "{args:?} changed the ruleset");
        assert_eq!(lab.home.ledger().len(), entries, "{args:?} was recorded");
    }

    let tripped = lab.json(&[
        "breaker",
        "trip",
        "cpu",
        "--reason",
        "maintenance",
        "--format",
        "json",
    ]);
    assert_matches_schema(&tripped, "docs/schema/breaker.v1.json");
    assert_eq!(tripped["state"], "tripped");
    assert!(
        !lab.connects(REPORTS),
        "the closed rule's port still connects"
    );
    assert!(
        lab.connects(WEB),
        "a rule the breaker does not name was closed"
    );
    let b = breaker(&lab);
    assert_eq!(b["state"], "tripped");
    assert_eq!(
        b["tripped"]["cause"],
        serde_json::json!({"by": "manual", "reason": "maintenance"})
    );
    let trips = entries_of(&lab, "breaker.trip");
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0]["index"], tripped["ledger_index"]);
    assert!(
        trips[0]["reason"].as_str().unwrap().contains("maintenance"),
        "{}",
        trips[0]
    );
    assert_exit(
        &lab.portreeve(&["breaker", "trip", "cpu", "--reason", "again"]),
        2,
        "the breaker is already tripped",
    );
    // The policy in effect is still the policy as written: applying it
    // again keeps the trip in force.
    let policy = lab.home.path().join("p.toml");
    assert_ok(&lab.portreeve(&["apply", "--policy", policy.to_str().unwrap()]));
    assert!(!lab.connects(REPORTS), "an apply undid the trip");

    let reset = lab.json(&[
        "breaker", "reset", "cpu", "--reason", "done", "--format", "json",
    ]);
    assert_eq!(reset["state"], "closed");
    assert!(lab.connects(REPORTS), "the reset did not reopen the port");
    let b = breaker(&lab);
    assert_eq!(b["state"], "closed");
    assert!(b["last_trip"].is_string(), "{b}");
    let recoveries = entries_of(&lab, "breaker.recover");
    assert_eq!(recoveries.len(), 1);
    assert_eq!(recoveries[0]["index"], reset["ledger_index"]);
}

#[test]
fn a_manual_trip_survives_the_agent_and_its_restart() {
    if !privileged("a_manual_trip_survives_the_agent_and_its_restart") {
        return;
    }
    // Readings are always below the recovery threshold: a trip the
    // readings made would recover at once, a manual one must not.
    let lab = lab(
        123,
        "{ cpu_percent = 100, for = \"1h\" }",
        "{ below = 100, for = \"1s\" }",
        "0s",
    );
    assert_ok(&lab.portreeve(&["breaker", "trip", "cpu", "--reason", "hold"]));
    let mut agent = start_agent(&lab.srv, &lab.home.state(), &["--no-conntrack"]);
    let first = |b: &serde_json::Value| b["reading"].is_object();
    wait_until(&lab, Duration::from_secs(20), first);
    let read_at = breaker(&lab)["reading"]["at"].clone();
    // Several more readings (500 ms apart), each below the threshold.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(breaker(&lab)["state"], "tripped");
    assert!(!lab.connects(REPORTS));
    agent.stop();
    let mut again = start_agent(&lab.srv, &lab.home.state(), &["--no-conntrack"]);
    wait_until(&lab, Duration::from_secs(20), |b| {
        b["reading"]["at"] != read_at && b["reading"].is_object()
    });
    std::thread::sleep(Duration::from_secs(2));
    let b = breaker(&lab);
    assert_eq!(b["state"], "tripped", "{b}");
    assert!(
        !lab.connects(REPORTS),
        "the restarted agent reopened the port"
    );
    again.stop();
    assert_eq!(entries_of(&lab, "breaker.recover").len(), 0);
}

/// Busy loops, one per core, stopped when dropped.
struct Load(Vec<Child>);

impl Load {
    fn start() -> Load {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Load(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_cpu_breaker_trips_under_load_and_recovers_when_it_stops() {
    if !privileged("a_cpu_breaker_trips_under_load_and_recovers_when_it_stops") {
        return;
    }
    // A cooldown past the test's end: once recovered, other work on a
    // busy host cannot trip it again before the checks below.
    let lab = lab(
        122,
        "{ cpu_percent = 95, for = \"2s\" }",
        "{ below = 80, for = \"1s\" }",
        "10m",
    );
    let mut agent = start_agent(&lab.srv, &lab.home.state(), &["--no-conntrack"]);
    wait_until(&lab, Duration::from_secs(20), |b| b["reading"].is_object());
    assert_eq!(breaker(&lab)["state"], "closed", "tripped before any load");
    assert!(lab.connects(REPORTS));

    let load = Load::start();
    let took = wait_until(&lab, Duration::from_secs(20), |b| b["state"] == "tripped");
    eprintln!("tripped {took:?} after the load started (for = 2s, interval 500ms)");
    // The record says "tripped" as the generation is being installed;
    // the ledger entry follows it.
    let recorded = |action: &str| {
        let start = Instant::now();
        while entries_of(&lab, action).is_empty() {
            if start.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    };
    if !recorded("breaker.trip") {
        panic!("no breaker.trip entry; the agent said: {}", agent.stop());
    }
    assert!(
        !lab.connects(REPORTS),
        "tripped, but the port still connects"
    );
    assert!(lab.connects(WEB));
    // The gauges follow the record at the agent's next update.
    let text = metrics_until(&lab, "portreeve_breaker_tripped{breaker=\"cpu\"}", 1.0);
    assert_eq!(
        sample(&text, "portreeve_breaker_trips_total{breaker=\"cpu\"}"),
        Some(1.0)
    );
    let trip = entries_of(&lab, "breaker.trip");
    assert_eq!(trip.len(), 1);
    assert_eq!(trip[0]["actor"], "agent");
    assert!(
        trip[0]["reason"].as_str().unwrap().starts_with("measured "),
        "{}",
        trip[0]
    );

    drop(load);
    // Host-wide CPU: on a host other work keeps busy, it cannot recover.
    wait_until(&lab, Duration::from_secs(60), |b| b["state"] == "closed");
    if !recorded("breaker.recover") {
        panic!("no breaker.recover entry; the agent said: {}", agent.stop());
    }
    assert!(
        lab.connects(REPORTS),
        "recovered, but the port stays closed"
    );
    let text = metrics_until(&lab, "portreeve_breaker_tripped{breaker=\"cpu\"}", 0.0);
    assert!(
        sample(
            &text,
            "portreeve_breaker_tripped_seconds_total{breaker=\"cpu\"}"
        )
        .is_some_and(|s| s > 0.0),
        "{text}"
    );
    agent.stop();
    assert_eq!(entries_of(&lab, "breaker.recover").len(), 1);
}

/// Serves on `0.0.0.0:port` in `ns`: each connection is greeted with
/// `name`, and every line it sends is answered with `name` again. The
/// threads end with the test process.
fn serve(ns: &Netns, port: u16, name: &'static str) {
    let listener = ns.run(|| TcpListener::bind(("0.0.0.0", port))).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                let mut line = String::new();
                while writeln!(writer, "{name}").is_ok() {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                }
            });
        }
    });
}

/// Who answers a new connection from `client` to `to`, and the
/// connection, to ask again later.
fn greeted(client: &Netns, to: SocketAddr) -> (String, BufReader<TcpStream>) {
    let stream = client
        .run(|| TcpStream::connect_timeout(&to, Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("connect to {to}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    (answer(&mut reader), reader)
}

/// The next line the server sends on `conversation`.
fn answer(conversation: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    conversation.read_line(&mut line).unwrap();
    line.trim().to_string()
}

/// Stops a flood when dropped.
struct Flood<'a>(&'a AtomicBool);

impl Drop for Flood<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

#[test]
fn a_flood_of_new_connections_overflows_to_the_backup_and_recovers() {
    if !privileged("a_flood_of_new_connections_overflows_to_the_backup_and_recovers") {
        return;
    }
    let (srv, client, backup) = (Netns::bare(), Netns::bare(), Netns::bare());
    srv.link(&client, "10.124.0.1/24", "10.124.0.2/24");
    srv.link(&backup, "10.124.1.1/24", "10.124.1.2/24");
    assert_ok(&run(srv.exec("sysctl").args([
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
    ])));
    serve(&srv, 80, "primary");
    serve(&backup, 8080, "backup");
    let home = Home::new();
    let policy = home.file(
        "p.toml",
        "[zones]\nclients = [\"10.124.0.0/24\"]\n\
         [[rule]]\nname = \"web\"\nport = 80\nprotocol = \"tcp\"\nzones = [\"clients\"]\n\
         [[breaker]]\nname = \"flood\"\n\
         when = { new_connections_per_second = 20, port = 80, for = \"1s\" }\n\
         action = { overflow_to = [\"10.124.1.2:8080\"] }\n\
         recover = { below = 5, for = \"1s\" }\ncooldown = \"0s\"\n",
    );
    assert_ok(&home.run_in(&srv, &["apply", "--policy", policy.to_str().unwrap()]));
    let state = |home: &Home| -> serde_json::Value {
        let out = home.run_in(&srv, &["breakers", "--format", "json"]);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        doc["breakers"][0].clone()
    };
    let recorded = |action: &str, limit: Duration| {
        let start = Instant::now();
        while !home.ledger().iter().any(|e| e["action"] == action) {
            assert!(
                start.elapsed() < limit,
                "no {action} within {limit:?}: {}",
                state(&home)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        start.elapsed()
    };
    let mut agent = start_agent(&srv, &home.state(), &["--no-conntrack"]);
    let web: SocketAddr = "10.124.0.1:80".parse().unwrap();
    let (first, mut established) = greeted(&client, web);
    assert_eq!(first, "primary");

    // About 100 new connections a second, each closed at once, until
    // `flood` is dropped (a failed assertion too).
    let flooding = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            client.run(|| {
                while flooding.load(Ordering::Relaxed) {
                    let _ = TcpStream::connect_timeout(&web, Duration::from_millis(500));
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        });
        let flood = Flood(&flooding);
        let took = recorded("breaker.trip", Duration::from_secs(20));
        eprintln!(
            "tripped and recorded {took:?} after the flood started (for = 1s, interval 500ms)"
        );
        let (now, _) = greeted(&client, web);
        assert_eq!(now, "backup", "a new connection during the trip");
        writeln!(established.get_mut(), "still there?").unwrap();
        assert_eq!(
            answer(&mut established),
            "primary",
            "the connection made before the trip was moved"
        );
        let b = state(&home);
        assert_eq!(b["state"], "tripped", "{b}");
        assert_eq!(b["pool_down"], false, "{b}");
        drop(flood);
    });
    recorded("breaker.recover", Duration::from_secs(20));
    let (after, _) = greeted(&client, web);
    assert_eq!(after, "primary", "a new connection after the recovery");
    agent.stop();
}

#[test]
fn an_overflow_needs_forwarding_and_a_pool_member_that_answers() {
    if !privileged("an_overflow_needs_forwarding_and_a_pool_member_that_answers") {
        return;
    }
    let (srv, client, backup) = (Netns::bare(), Netns::bare(), Netns::bare());
    srv.link(&client, "10.125.0.1/24", "10.125.0.2/24");
    srv.link(&backup, "10.125.1.1/24", "10.125.1.2/24");
    serve(&srv, 80, "primary");
    // Nothing listens on the backup.
    let home = Home::new();
    let policy = home.file(
        "p.toml",
        "[zones]\nclients = [\"10.125.0.0/24\"]\n\
         [[rule]]\nname = \"web\"\nport = 80\nprotocol = \"tcp\"\nzones = [\"clients\"]\n\
         [[breaker]]\nname = \"flood\"\n\
         when = { new_connections_per_second = 1000, port = 80, for = \"1h\" }\n\
         action = { overflow_to = [\"10.125.1.2:8080\"] }\n\
         recover = { below = 5, for = \"1s\" }\n",
    );
    assert_ok(&home.run_in(&srv, &["apply", "--policy", policy.to_str().unwrap()]));
    let entries = home.ledger().len();
    let trip = ["breaker", "trip", "flood", "--reason", "drill"];
    assert_exit(
        &home.run_in(&srv, &trip),
        2,
        "overflow to a backup pool needs IP forwarding, which is off: net.ipv4.ip_forward",
    );
    assert_eq!(home.ledger().len(), entries, "a refused trip was recorded");

    assert_ok(&run(srv.exec("sysctl").args([
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
    ])));
    assert_ok(&home.run_in(&srv, &trip));
    let out = home.run_in(&srv, &["breakers"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("tripped (pool down)"),
        "{}",
        stdout(&out)
    );
    let web: SocketAddr = "10.125.0.1:80".parse().unwrap();
    let (answer, _) = greeted(&client, web);
    assert_eq!(answer, "primary", "overflowed to a pool with no member up");

    // The agent checks the pool: once the member answers, new
    // connections go to it.
    let mut agent = start_agent(&srv, &home.state(), &["--no-conntrack"]);
    let start = Instant::now();
    loop {
        let out = home.run_in(&srv, &["breakers", "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        if doc["breakers"][0]["reading"].is_object() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{doc}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve(&backup, 8080, "backup");
    let start = Instant::now();
    while greeted(&client, web).0 != "backup" {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the member that came up gets no connections: {:?}",
            home.ledger().last()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!(
        "the pool member took connections {:?} after it came up",
        start.elapsed()
    );
    let pool = home.ledger();
    let pool: Vec<_> = pool
        .iter()
        .filter(|e| e["action"] == "breaker.pool")
        .collect();
    assert_eq!(pool.len(), 1, "{pool:?}");
    assert_eq!(pool[0]["actor"], "agent");
    agent.stop();
}

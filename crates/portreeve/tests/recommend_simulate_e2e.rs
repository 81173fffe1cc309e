//! Issue 18's show, end to end in namespaces: a host namespace under an
//! over-broad policy with the agent running, two clients in zones of their
//! own using some ports and not others. `recommend` from what the agent
//! recorded keeps every used port reachable to its users when applied for
//! real and drops the port nobody used; `simulate` of a stricter policy
//! names exactly the (source, port) it would break, `simulate --sandbox`
//! names the same from probes in a disposable replica, in agreement with
//! the model on every recorded pair (the agent's own metrics scrapes on
//! loopback included), and the real kernel agrees pair for pair once the
//! stricter policy is applied; neither `simulate` changes a byte of the
//! live ruleset, counters included (only the kernel's countdowns to set
//! elements' expiry move). Nothing leaves the namespaces the test creates.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::usage::{by_source, connections, listing_until};
use support::wire::connect;
use support::{
    Home, Netns, assert_exit, assert_matches_schema, run, sample, start_agent, stdout, testkit,
    wait_for,
};

/// The zones: the whole site, and one /24 per client link.
const ZONES: &str = r#"[zones]
site = ["10.181.0.0/16"]
first = ["10.181.1.0/24"]
second = ["10.181.2.0/24"]
"#;

/// In effect at the start: three TCP ports and a UDP one, all open to the
/// whole site.
const OVER_BROAD: &str = r#"
[[rule]]
name = "alpha"
port = 7101
protocol = "tcp"
zones = ["site"]

[[rule]]
name = "beta"
port = 7102
protocol = "tcp"
zones = ["site"]

[[rule]]
name = "gamma"
port = 7103
protocol = "tcp"
zones = ["site"]

[[rule]]
name = "delta"
port = 7104
protocol = "udp"
zones = ["site"]
"#;

/// The candidate: `beta` for the first client's zone only, which takes it
/// away from the second client, its only user.
const STRICTER: &str = r#"
[[rule]]
name = "alpha"
port = 7101
protocol = "tcp"
zones = ["first"]

[[rule]]
name = "beta"
port = 7102
protocol = "tcp"
zones = ["first"]

[[rule]]
name = "delta"
port = 7104
protocol = "udp"
zones = ["second"]
"#;

/// The source of the agent's own metrics scrapes, which it records too.
const LOOPBACK: &str = "127.0.0.1/32";

/// One client namespace, linked to the host.
struct Client {
    ns: Netns,
    /// Its address as the agent records it.
    source: &'static str,
    /// The host's address on its link.
    host: &'static str,
}

/// A recorded (source, protocol, port), as simulate lists one.
type Pair = (String, String, u16);

/// The host namespace with the clients, the listeners and a state
/// directory shared by the agent and the commands.
struct Show {
    host: Netns,
    one: Client,
    two: Client,
    home: Home,
    _tcp: testkit::Listeners,
    _udp: UdpEcho,
}

impl Show {
    fn new() -> Show {
        let host = Netns::bare();
        let client = |n: u8, source, address| {
            let ns = Netns::bare();
            host.link(&ns, &format!("{address}/24"), &format!("10.181.{n}.2/24"));
            Client {
                ns,
                source,
                host: address,
            }
        };
        let one = client(1, "10.181.1.2/32", "10.181.1.1");
        let two = client(2, "10.181.2.2/32", "10.181.2.1");
        let tcp = host.listen(
            &[
                "tcp4:0.0.0.0:7101",
                "tcp4:0.0.0.0:7102",
                "tcp4:0.0.0.0:7103",
            ],
            0,
        );
        let udp = UdpEcho::start(&host, "0.0.0.0:7104");
        Show {
            host,
            one,
            two,
            home: Home::new(),
            _tcp: tcp,
            _udp: udp,
        }
    }

    /// Writes `rules` after the zones to `name`; returns the path.
    fn policy(&self, name: &str, rules: &str) -> String {
        let path = self.home.file(name, format!("{ZONES}{rules}"));
        path.to_str().unwrap().to_string()
    }

    /// `portreeve --state-dir STATE ARGS` in the host namespace.
    fn portreeve(&self, args: &[&str]) -> std::process::Output {
        self.home.run_in(&self.host, args)
    }

    /// [`Show::portreeve`] that must succeed; returns its standard output.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.portreeve(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            testkit::stderr(&out)
        );
        stdout(&out)
    }

    /// The host namespace's whole ruleset as nft lists it, counters
    /// included (traffic reaching the host would change them), less the
    /// time each element of the `seen` set has left before it expires,
    /// which the kernel counts down by itself.
    fn ruleset(&self) -> String {
        let out = run(self.host.exec("nft").args(["list", "ruleset"]));
        assert!(out.status.success(), "{}", testkit::stderr(&out));
        without_expiry(&stdout(&out))
    }

    /// Whether traffic from `source` (as the agent records it) reaches the
    /// host's `protocol` `port`: a completed TCP handshake, or a UDP
    /// datagram echoed. A client's from its namespace; loopback's from
    /// inside the host's.
    fn reaches(&self, source: &str, protocol: &str, port: u16) -> bool {
        let (from, to) = match [&self.one, &self.two]
            .into_iter()
            .find(|c| c.source == source)
        {
            Some(client) => (&client.ns, client.host),
            None if source == LOOPBACK => (&self.host, "127.0.0.1"),
            None => panic!("nothing sends from {source}"),
        };
        match protocol {
            "tcp" => connect(from, to, port) == Ok(true),
            "udp" => echoed(from, to, port),
            other => panic!("no probe for {other}"),
        }
    }

    /// `simulate --policy CANDIDATE --format json` with `extra`: exits 1
    /// (something used would break); returns the document, schema-checked.
    fn simulate(&self, candidate: &str, extra: &[&str]) -> Value {
        let mut args = vec!["simulate", "--policy", candidate, "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.portreeve(&args);
        assert_exit(&out, 1, "");
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_matches_schema(&doc, "docs/schema/simulate.v1.json");
        doc
    }
}

/// A UDP echo server on a thread, its socket bound in a namespace (the
/// listeners listen.py binds do not answer UDP); stopped when dropped.
struct UdpEcho {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpEcho {
    fn start(ns: &Netns, address: &str) -> UdpEcho {
        let socket = ns.run(|| UdpSocket::bind(address).unwrap());
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        UdpEcho {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a datagram from `from` to `addr:port` comes back within 500 ms.
fn echoed(from: &Netns, addr: &str, port: u16) -> bool {
    let to = SocketAddr::new(addr.parse().unwrap(), port);
    from.run(|| {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        socket.send_to(b"portreeve", to).unwrap();
        let mut buf = [0u8; 16];
        socket
            .recv_from(&mut buf)
            .is_ok_and(|(n, _)| &buf[..n] == b"portreeve")
    })
}

/// `listing` without its ` expires 399d23h59m57s932ms` countdowns.
fn without_expiry(listing: &str) -> String {
    let mut parts = listing.split(" expires ");
    let mut out = parts.next().unwrap_or_default().to_string();
    for rest in parts {
        out.push_str(rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric()));
    }
    out
}

/// The (source, protocol, port) of each pair in `doc[list]`.
fn pairs(doc: &Value, list: &str) -> Vec<Pair> {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {doc:#}"))
        .iter()
        .map(|p| {
            (
                p["source"].as_str().unwrap().to_string(),
                p["protocol"].as_str().unwrap().to_string(),
                p["port"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

fn pair(source: &str, protocol: &str, port: u16) -> Pair {
    (source.to_string(), protocol.to_string(), port)
}

#[test]
fn recommend_keeps_what_is_used_and_simulate_names_what_a_stricter_policy_breaks() {
    let test = "recommend_keeps_what_is_used_and_simulate_names_what_a_stricter_policy_breaks";
    if !testkit::privileged(test, &["ip", "python3", "nft"]) {
        return;
    }
    let show = Show::new();
    let (one, two) = (show.one.source, show.two.source);
    let over_broad = show.policy("over-broad.toml", OVER_BROAD);
    show.ok(&["apply", "--policy", &over_broad]);
    // Over-broad indeed: everything reaches from both clients (before the
    // agent runs, so none of it is recorded as use).
    for client in [one, two] {
        for (protocol, port) in [("tcp", 7101), ("tcp", 7102), ("tcp", 7103), ("udp", 7104)] {
            assert!(
                show.reaches(client, protocol, port),
                "{client} {port}/{protocol}"
            );
        }
    }

    let state = show.home.state();
    let mut agent = start_agent(&show.host, &state, &[]);
    wait_for(&show.host, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });
    // The first client uses alpha; the second beta and delta; nobody gamma.
    let used = [
        pair(one, "tcp", 7101),
        pair(two, "tcp", 7102),
        pair(two, "udp", 7104),
    ];
    for (source, protocol, port) in &used {
        assert!(
            show.reaches(source, protocol, *port),
            "{source} {port}/{protocol}"
        );
    }
    // Recorded: that, and the scrapes of the agent's metrics on loopback
    // (wait_for's), sorted as listed (by port, protocol, source).
    let recorded: Vec<Pair> = used
        .iter()
        .cloned()
        .chain([pair(LOOPBACK, "tcp", 9465)])
        .collect();
    let doc = listing_until(&state, |d| {
        recorded
            .iter()
            .all(|(s, proto, port)| connections(d, s, proto, *port).is_some())
    });
    assert_eq!(
        pairs(&doc, "sources"),
        recorded,
        "only the use made is recorded"
    );

    // recommend, from the policy in effect and the agent's record.
    let recommended = show.ok(&["recommend"]);
    assert!(
        recommended.contains("# recommend: dropped rule `gamma`"),
        "{recommended}"
    );
    let recommended_path = show.home.file("recommended.toml", &recommended);
    let recommended_path = recommended_path.to_str().unwrap();
    show.ok(&["policy", "validate", recommended_path]);
    show.ok(&["apply", "--policy", recommended_path]);
    for (source, protocol, port) in &recorded {
        assert!(
            show.reaches(source, protocol, *port),
            "{source} lost {port}/{protocol} under the recommended policy:\n{recommended}"
        );
    }
    for client in [&show.one, &show.two] {
        assert_eq!(
            connect(&client.ns, client.host, 7103),
            Ok(false),
            "{} still reaches the unused 7103:\n{recommended}",
            client.source
        );
    }
    // Each used rule narrowed to its users' zone.
    assert!(!show.reaches(two, "tcp", 7101), "{recommended}");
    assert!(!show.reaches(one, "tcp", 7102), "{recommended}");

    // simulate: exactly the second client's beta breaks, and nothing of the
    // live ruleset changes.
    let before = show.ruleset();
    assert!(before.contains("table inet portreeve"), "{before}");
    let stricter = show.policy("stricter.toml", STRICTER);
    let model = show.simulate(&stricter, &[]);
    assert_eq!(model["pairs"], recorded.len(), "{model:#}");
    let broken = vec![pair(two, "tcp", 7102)];
    assert_eq!(pairs(&model, "blocked"), broken, "{model:#}");
    assert_eq!(pairs(&model, "opened"), vec![], "{model:#}");
    assert_eq!(show.ruleset(), before, "simulate changed the live ruleset");

    // --sandbox: the same from real probes in a replica, in agreement with
    // the model, and the live ruleset still untouched.
    let sandboxed = show.simulate(&stricter, &["--sandbox"]);
    assert_eq!(pairs(&sandboxed, "blocked"), broken, "{sandboxed:#}");
    assert_eq!(pairs(&sandboxed, "opened"), vec![], "{sandboxed:#}");
    let sandbox = &sandboxed["sandbox"];
    assert_eq!(sandbox["probed"], recorded.len(), "{sandbox:#}");
    // Every recorded port had a listener to mirror.
    assert_eq!(
        sandbox["added_listeners"],
        serde_json::json!([]),
        "{sandbox:#}"
    );
    assert_eq!(
        sandbox["disagreements"],
        serde_json::json!([]),
        "the model and the probes disagree: {sandbox:#}"
    );
    assert_eq!(
        show.ruleset(),
        before,
        "simulate --sandbox changed the live ruleset"
    );

    // Applied for real, the stricter policy does what the sandbox said, pair
    // for pair. (Every recorded pair reaches now, so under the candidate a
    // pair reaches unless the sandbox found it blocked.)
    show.ok(&["apply", "--policy", &stricter]);
    let blocked = pairs(&sandboxed, "blocked");
    for pair in &recorded {
        let (source, protocol, port) = pair;
        assert_eq!(
            show.reaches(source, protocol, *port),
            !blocked.contains(pair),
            "{source} {port}/{protocol}: the kernel and the sandbox disagree"
        );
    }
    // The probes that failed were dropped, not recorded as use.
    assert_eq!(pairs(&by_source(&state, &[]), "sources"), recorded);
    agent.stop();
}

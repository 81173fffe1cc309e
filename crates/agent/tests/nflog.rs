//! The scan chain's NFLOG group, read from the real kernel: a server
//! namespace enforces a portreeve ruleset with `[detection] scan =
//! "alert"` (compiled and rendered by portreeve-enforce, loaded with nft),
//! a client namespace over a veth pair probes closed ports — a SYN over
//! IPv4 and IPv6, a UDP datagram, nmap FIN probes — and the subscription in
//! the server namespace reports each as an attempt with its source,
//! destination, port, transport and probe. Nothing leaves the namespaces.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use portreeve_agent::nflog::Nflog;
use portreeve_detect::{Attempt, Outcome, Probe, Transport};
use portreeve_testkit::{Netns, privileged, run, run_with_input, stderr};

const SERVER: &str = "10.41.1.1";
const CLIENT: &str = "10.41.1.2";
const SERVER6: &str = "fd00:41::1";
const CLIENT6: &str = "fd00:41::2";
/// Not the default, so the test shows the policy's group is the one used.
const GROUP: u16 = 7;

const POLICY: &str = r#"
[zones]
lab = ["10.41.0.0/16", "fd00:41::/32"]

[enforce]
default_action = "reject"

[detection]
scan = "alert"
log_group = 7

[[rule]]
port = 22
protocol = "tcp"
zones = ["lab"]
"#;

/// The server's ruleset, as `portreeve apply` renders it.
fn ruleset() -> String {
    let policy = portreeve_policy::parse_policy("nflog.toml", POLICY).unwrap();
    let ruleset = portreeve_enforce::Ruleset::compile(&policy).unwrap();
    portreeve_enforce::nft_text::render(&ruleset)
}

/// What a probe should come back as: source, destination, port,
/// transport, probe.
type Expected = (&'static str, &'static str, u16, Transport, Probe);

const EXPECTED: [Expected; 5] = [
    (CLIENT, SERVER, 9, Transport::Tcp, Probe::Syn),
    (CLIENT6, SERVER6, 9, Transport::Tcp, Probe::Syn),
    (CLIENT, SERVER, 5353, Transport::Udp, Probe::Udp),
    (CLIENT, SERVER, 1000, Transport::Tcp, Probe::Fin),
    (CLIENT, SERVER, 1001, Transport::Tcp, Probe::Fin),
];

fn matches(a: &Attempt, e: &Expected) -> bool {
    let (source, destination, port, transport, probe) = *e;
    a.source == source.parse::<IpAddr>().unwrap()
        && a.destination == destination.parse::<IpAddr>().unwrap()
        && (a.port, a.transport, a.probe) == (port, transport, probe)
}

/// The client's probes: each to a port no rule allows.
fn probe(client: &Netns) {
    client.run(|| {
        for server in [SERVER, SERVER6] {
            let to = SocketAddr::new(server.parse().unwrap(), 9);
            let refused = TcpStream::connect_timeout(&to, Duration::from_millis(500));
            assert!(refused.is_err(), "port 9 on {server} is closed");
        }
        let udp = UdpSocket::bind((CLIENT, 0)).unwrap();
        udp.send_to(b"probe", (SERVER, 5353)).unwrap();
    });
    let nmap = run(client.exec("nmap").args([
        "-sF",
        "-Pn",
        "-n",
        "-p",
        "1000,1001",
        "--max-retries",
        "0",
        SERVER,
    ]));
    assert!(nmap.status.success(), "nmap: {}", stderr(&nmap));
}

#[test]
fn every_probe_the_scan_chain_counts_arrives_as_an_attempt() {
    if !privileged(
        "every_probe_the_scan_chain_counts_arrives_as_an_attempt",
        &["ip", "nft", "nmap"],
    ) {
        return;
    }
    let (server, client) = (Netns::bare(), Netns::bare());
    server.link(&client, &format!("{SERVER}/24"), &format!("{CLIENT}/24"));
    server.link(&client, &format!("{SERVER6}/64"), &format!("{CLIENT6}/64"));
    let text = ruleset();
    assert!(
        text.contains(&format!("log group {GROUP} prefix")),
        "{text}"
    );
    let loaded = run_with_input(server.exec("nft").args(["-f", "-"]), text.as_bytes());
    assert!(loaded.status.success(), "nft: {}", stderr(&loaded));

    // The socket stays in the namespace it was opened in.
    let mut nflog = server.run(|| Nflog::subscribe(GROUP)).expect("subscribe");
    let second = server.run(|| Nflog::subscribe(GROUP).map(|_| ()));
    let refused = second.expect_err("a group has one reader per namespace");
    assert!(
        refused.to_string().contains("NFLOG group 7")
            && refused.to_string().contains("another process"),
        "{refused}"
    );

    let before = Timestamp::now();
    probe(&client);
    let mut seen: Vec<Attempt> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !EXPECTED.iter().all(|e| seen.iter().any(|a| matches(a, e))) && Instant::now() < deadline
    {
        seen.extend(nflog.next_batch().unwrap());
    }
    for e in &EXPECTED {
        assert!(
            seen.iter().any(|a| matches(a, e)),
            "no attempt {e:?} in {seen:#?}"
        );
    }
    let after = Timestamp::now();
    for a in &seen {
        assert_eq!(a.outcome, Outcome::Rejected, "{a:?}");
        assert!(
            before <= a.at && a.at <= after,
            "{a:?} outside {before}..{after}"
        );
    }
    assert_eq!(nflog.malformed, 0, "{seen:#?}");
}

//! Overflow to a backup pool, in the kernel: a host namespace between a
//! client namespace and a backup namespace, a primary server on the host's
//! port 80 and two backup servers on the backup, each answering with its
//! own name. New connections go to the pool while the overflow is in the
//! ruleset, and to the primary again while it drains and once it is gone;
//! a connection keeps the server it started with throughout. The backup
//! has no route to the client, so its answers come back only through the
//! host's masquerade. Nothing here leaves the namespaces the test creates.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use portreeve_core::Proto;
use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::overflow::{ForwardingOff, check_forwarding};
use portreeve_enforce::{ApplyOptions, Enforcer, OverflowNat, Ruleset, nft_text};
use portreeve_testkit::{Netns, run, stderr};

/// The host as the client sees it, per family.
const HOST_V4: &str = "10.78.1.1";
const HOST_V6: &str = "fd78:1::1";
/// The backup's addresses.
const BACKUP_V4: &str = "10.78.2.2";
const BACKUP_V6: &str = "fd78:2::2";
const PORT: u16 = 80;
/// The backup's two servers.
const BACKUP_PORTS: [u16; 2] = [8080, 8081];

const POLICY: &str = r#"
[zones]
clients = ["10.78.1.0/24", "fd78:1::/64"]

[enforce]
default_action = "reject"

[[rule]]
name = "web"
port = 80
protocol = "tcp"
zones = ["clients"]
"#;

/// The three namespaces, each linked to the host. No namespace has a
/// route beyond its links: the client talks to the host's address on its
/// link, and the backup can answer a connection only if it comes from the
/// host's address on its own.
struct Site {
    host: Netns,
    client: Netns,
    _backup: Netns,
    enforcer: Enforcer,
    _state: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let (host, client, backup) = (Netns::bare(), Netns::bare(), Netns::bare());
        host.link(&client, "10.78.1.1/24", "10.78.1.2/24");
        host.link(&client, "fd78:1::1/64", "fd78:1::2/64");
        host.link(&backup, "10.78.2.1/24", "10.78.2.2/24");
        host.link(&backup, "fd78:2::1/64", "fd78:2::2/64");
        serve(&host, PORT, "primary");
        for port in BACKUP_PORTS {
            serve(&backup, port, &format!("backup:{port}"));
        }
        let state = tempfile::tempdir().unwrap();
        let site = Site {
            enforcer: Enforcer::new(state.path()),
            _state: state,
            host,
            client,
            _backup: backup,
        };
        site.await_ipv6_neighbours();
        site
    }

    /// Waits until the host reaches the backup over IPv6: until the link's
    /// link-local addresses have passed duplicate address detection, the
    /// first forwarded connections stall on neighbour discovery.
    fn await_ipv6_neighbours(&self) {
        let backup = SocketAddr::new(BACKUP_V6.parse().unwrap(), BACKUP_PORTS[0]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self
            .host
            .run(|| TcpStream::connect_timeout(&backup, Duration::from_millis(500)))
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the host cannot reach the backup over IPv6"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn sysctl(&self, setting: &str) {
        let out = run(self.host.exec("sysctl").args(["-q", "-w", setting]));
        assert!(out.status.success(), "sysctl: {}", stderr(&out));
    }

    /// Applies the policy through the enforcer, with `overflows`.
    fn apply(&self, overflows: Vec<OverflowNat>) {
        let policy = portreeve_policy::parse_policy("overflow.toml", POLICY).unwrap();
        let mut ruleset = Ruleset::compile(&policy).unwrap();
        ruleset.overflows = overflows;
        let options = ApplyOptions {
            actor: "test".into(),
            ..ApplyOptions::default()
        };
        self.host
            .run(|| self.enforcer.apply(&ruleset, &options, |_| Ok(())))
            .unwrap_or_else(|e| panic!("apply: {e}"));
    }

    /// New connections to port 80 the kernel's `seen` set has counted.
    fn counted(&self) -> u64 {
        let usage = self.host.run(|| self.enforcer.usage()).unwrap();
        usage
            .iter()
            .find(|s| s.key.port == PORT && s.key.protocol == Proto::Tcp)
            .map_or(0, |s| s.connections)
    }

    /// A new connection from the client to the host's port 80.
    fn connect(&self, host: &str) -> Conversation {
        let target = SocketAddr::new(host.parse().unwrap(), PORT);
        let stream = self
            .client
            .run(|| TcpStream::connect_timeout(&target, Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("connect to {target}: {e}"));
        Conversation::new(stream)
    }
}

/// The overflow of port 80 to both backup servers (IPv4) and the first
/// (IPv6).
fn overflow() -> OverflowNat {
    let mut pool: Vec<SocketAddr> = BACKUP_PORTS
        .iter()
        .map(|&p| SocketAddr::new(BACKUP_V4.parse().unwrap(), p))
        .collect();
    pool.push(SocketAddr::new(BACKUP_V6.parse().unwrap(), BACKUP_PORTS[0]));
    OverflowNat {
        breaker: "web-overload".into(),
        port: PORT,
        protocol: Proto::Tcp,
        pool,
    }
}

/// Serves on `[::]:port` (both families) in `ns`: each connection is
/// greeted with `name`, and every line it sends is answered with `name`
/// again. The server's threads end with the test process.
fn serve(ns: &Netns, port: u16, name: &str) {
    let listener = ns.run(|| TcpListener::bind(("::", port))).unwrap();
    let name = name.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let name = name.clone();
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

/// A client's connection, and who answers on it.
struct Conversation {
    reader: BufReader<TcpStream>,
    /// Who greeted the connection.
    greeted_by: String,
}

impl Conversation {
    fn new(stream: TcpStream) -> Conversation {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut c = Conversation {
            reader: BufReader::new(stream),
            greeted_by: String::new(),
        };
        c.greeted_by = c.read();
        c
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("no answer: {e}"));
        line.trim().to_string()
    }

    /// Who answers a line sent now.
    fn ask(&mut self) -> String {
        writeln!(self.reader.get_mut(), "who?").unwrap();
        self.read()
    }
}

fn privileged(test: &str) -> bool {
    portreeve_testkit::privileged(test, &["ip", "nft", "sysctl"])
}

#[test]
fn new_connections_overflow_to_the_pool_and_established_ones_stay() {
    if !privileged("new_connections_overflow_to_the_pool_and_established_ones_stay") {
        return;
    }
    let site = Site::new();
    let forwarding_off = site.host.run(|| check_forwarding(&[overflow()]));
    assert_eq!(
        forwarding_off,
        Err(ForwardingOff {
            off: vec!["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]
        }),
        "a fresh namespace does not forward, and the check says so"
    );
    site.sysctl("net.ipv4.ip_forward=1");
    site.sysctl("net.ipv6.conf.all.forwarding=1");
    assert_eq!(site.host.run(|| check_forwarding(&[overflow()])), Ok(()));

    site.apply(Vec::new());
    let mut before = site.connect(HOST_V4);
    assert_eq!(before.greeted_by, "primary");

    site.apply(vec![overflow()]);
    let counted = site.counted();
    let answers: Vec<String> = (0..2).map(|_| site.connect(HOST_V4).greeted_by).collect();
    let mut spread = answers.clone();
    spread.sort();
    assert_eq!(
        spread,
        ["backup:8080", "backup:8081"],
        "new IPv4 connections go to the pool, in turn: {answers:?}"
    );
    let mut during = site.connect(HOST_V6);
    assert_eq!(
        during.greeted_by, "backup:8080",
        "a new IPv6 connection goes to the pool's IPv6 member"
    );
    assert_eq!(
        before.ask(),
        "primary",
        "the connection made before the overflow keeps its server"
    );
    assert_eq!(
        site.counted(),
        counted + 3,
        "overflowed connections still count as new connections to port 80 \
         (a breaker measuring them sees the load go on)"
    );

    // Recovery: the overflow with its pool emptied sends no new
    // connection anywhere, and keeps the kernel translating those it sent.
    let draining = OverflowNat {
        pool: Vec::new(),
        ..overflow()
    };
    site.apply(vec![draining]);
    assert_eq!(site.connect(HOST_V4).greeted_by, "primary");
    assert_eq!(site.connect(HOST_V6).greeted_by, "primary");
    assert_eq!(
        during.ask(),
        "backup:8080",
        "a connection sent to the pool stays there while the overflow drains"
    );
    assert_eq!(before.ask(), "primary");

    site.apply(Vec::new());
    assert_eq!(site.connect(HOST_V4).greeted_by, "primary");
    assert_eq!(site.connect(HOST_V6).greeted_by, "primary");
    assert_eq!(before.ask(), "primary");
}

#[test]
fn nft_accepts_overflows_of_both_families_and_protocols() {
    if !portreeve_testkit::privileged(
        "nft_accepts_overflows_of_both_families_and_protocols",
        &["ip", "nft"],
    ) {
        return;
    }
    let mut ruleset = Ruleset::compile(&portreeve_policy::baseline()).unwrap();
    let dns = OverflowNat {
        breaker: "dns \"busy\"".into(),
        port: 53,
        protocol: Proto::Udp,
        pool: vec![
            "192.0.2.53:53".parse().unwrap(),
            "[2001:db8::53]:5353".parse().unwrap(),
        ],
    };
    ruleset.overflows = vec![overflow(), dns];
    let text = nft_text::render(&ruleset);
    if let Err(e) = Netns::bare().run(|| Nft::new().check(&text)) {
        panic!("{e}\n--- ruleset ---\n{text}");
    }
}

//! Rate limits hold each source to its own rate, or all sources together to
//! one, as the policy says — in the kernel, through both renderings. Two
//! client namespaces hammer a server namespace at once (traffic stays
//! inside namespaces the test creates); what got through is read from
//! counters in the server's firewall, not from connect timings. A total
//! connection cap holds across both clients too, read from the connections
//! they hold and the ones refused.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use portreeve_enforce::nft_command::Nft;
use portreeve_enforce::nft_text::{self, DynamicState};
use portreeve_enforce::{Ruleset, iptables_text};
use portreeve_testkit::{Netns, run, stderr, stdout};

/// One rule limited per source, one limited for all sources together, at
/// the same rate and burst; one capped in concurrent connections from all
/// sources together.
const POLICY: &str = r#"
[zones]
clients = ["10.10.1.0/24", "10.10.2.0/24"]

[[rule]]
name = "per-source"
port = 7000
protocol = "tcp"
zones = ["clients"]
limits = { new_per_second_per_source = 20, burst = 5 }

[[rule]]
name = "global"
port = 7001
protocol = "tcp"
zones = ["clients"]
limits = { new_per_second = 20, burst = 5 }

[[rule]]
name = "capped"
port = 7002
protocol = "tcp"
zones = ["clients"]
limits = { connections = 4 }
"#;
const PER_SOURCE_PORT: u16 = 7000;
const GLOBAL_PORT: u16 = 7001;
const CAPPED_PORT: u16 = 7002;
/// The capped rule's `connections`.
const CAP: usize = 4;
const RATE: f64 = 20.0;
const BURST: f64 = 5.0;
/// How long the clients hammer.
const WINDOW: Duration = Duration::from_secs(3);

/// Each client's address and the server's address on its link.
const CLIENTS: [(&str, &str); 2] = [("10.10.1.2", "10.10.1.1"), ("10.10.2.2", "10.10.2.1")];

/// A server namespace linked to two clients, listening on every port.
struct Site {
    srv: Netns,
    clients: [Netns; 2],
    _listeners: portreeve_testkit::Listeners,
}

impl Site {
    fn new() -> Site {
        let (srv, clients) = (Netns::bare(), [Netns::bare(), Netns::bare()]);
        for (client, (addr, srv_addr)) in clients.iter().zip(CLIENTS) {
            srv.link(client, &format!("{srv_addr}/24"), &format!("{addr}/24"));
        }
        let listeners = srv.listen(
            &[
                &format!("tcp4:0.0.0.0:{PER_SOURCE_PORT}"),
                &format!("tcp4:0.0.0.0:{GLOBAL_PORT}"),
                &format!("tcp4:0.0.0.0:{CAPPED_PORT}"),
            ],
            0,
        );
        Site {
            srv,
            clients,
            _listeners: listeners,
        }
    }

    /// Loads the nftables rendering of [`ruleset`] in the server.
    fn enforce_nft(&self) {
        let nft = nft_text::render(&ruleset());
        self.srv
            .run(|| {
                Nft::new().apply(&nft_text::replace_transaction(
                    &nft,
                    &DynamicState::default(),
                    1,
                ))
            })
            .expect("the ruleset loads");
    }

    /// Runs the iptables rendering of [`ruleset`] in the server.
    fn enforce_iptables(&self) {
        let script = iptables_text::render(&ruleset());
        let out = run(self.srv.exec("sh").args(["-c", &script]));
        assert!(out.status.success(), "the script fails: {}", stderr(&out));
    }

    /// Client `i` opens `n` connections to the capped port and holds them;
    /// panics when one is not accepted.
    fn hold(&self, i: usize, n: usize) -> Vec<TcpStream> {
        (0..n)
            .map(|k| {
                self.connect_capped(i)
                    .unwrap_or_else(|e| panic!("client {i}, connection {k}: {e}"))
            })
            .collect()
    }

    /// Client `i`'s attempt at one more connection to the capped port.
    fn connect_capped(&self, i: usize) -> std::io::Result<TcpStream> {
        let target = SocketAddr::new(CLIENTS[i].1.parse().unwrap(), CAPPED_PORT);
        self.clients[i].run(|| TcpStream::connect_timeout(&target, Duration::from_secs(2)))
    }

    /// Adds counters of new connections per client and port: `tried_…`
    /// before any filter decides, `passed_…` after the filter accepted (a
    /// base chain of a later priority sees only what earlier ones let
    /// through, whatever wrote them: nft or iptables).
    fn count(&self) {
        let mut table = String::from("table inet probe {\n");
        let mut rules = (String::new(), String::new());
        for (i, (addr, _)) in CLIENTS.iter().enumerate() {
            for port in [PER_SOURCE_PORT, GLOBAL_PORT] {
                for (stage, chain) in [("tried", &mut rules.0), ("passed", &mut rules.1)] {
                    let name = format!("{stage}_{i}_{port}");
                    table.push_str(&format!("\tcounter {name} {{}}\n"));
                    chain.push_str(&format!(
                        "\t\tip saddr {addr} tcp dport {port} ct state new counter name \"{name}\"\n"
                    ));
                }
            }
        }
        table.push_str(&format!(
            "\tchain tried {{\n\t\ttype filter hook input priority filter - 10; policy accept;\n{}\t}}\n\
             \tchain passed {{\n\t\ttype filter hook input priority filter + 10; policy accept;\n{}\t}}\n}}\n",
            rules.0, rules.1
        ));
        self.srv
            .run(|| Nft::new().apply(&table))
            .expect("the probe table loads");
    }

    /// A counter of the probe table, in packets.
    fn counted(&self, name: &str) -> u64 {
        let out = run(self
            .srv
            .exec("nft")
            .args(["-j", "list", "counter", "inet", "probe", name]));
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("nft's JSON");
        v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|i| i["counter"]["packets"].as_u64())
            .unwrap_or_else(|| panic!("no counter {name}: {v}"))
    }

    /// Both clients open connections to both ports as fast as they can for
    /// [`WINDOW`], all at once; returns the connections each client tried
    /// and got through, by port, as the counters saw them.
    fn hammer(&self) -> Counts {
        // One site hammers at a time: the shares must not depend on how
        // another test loads the cores.
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        std::thread::scope(|s| {
            for ((client, (_, srv_addr)), port) in self
                .clients
                .iter()
                .zip(CLIENTS)
                .flat_map(|c| [(c, PER_SOURCE_PORT), (c, GLOBAL_PORT)])
            {
                let target = SocketAddr::new(srv_addr.parse().unwrap(), port);
                s.spawn(move || client.run(|| open_for(target, WINDOW)));
            }
        });
        let read = |port: u16| {
            [0, 1].map(|i| Outcome {
                tried: self.counted(&format!("tried_{i}_{port}")),
                passed: self.counted(&format!("passed_{i}_{port}")),
            })
        };
        Counts {
            per_source: read(PER_SOURCE_PORT),
            global: read(GLOBAL_PORT),
        }
    }
}

/// Opens connections to `target` one after another for `window`, closing
/// each at once. A dropped SYN is given up after a few milliseconds, so the
/// client outruns the limits many times over.
fn open_for(target: SocketAddr, window: Duration) {
    let start = Instant::now();
    while start.elapsed() < window {
        let _ = TcpStream::connect_timeout(&target, Duration::from_millis(5));
    }
}

/// New connections from one client to one port.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    tried: u64,
    passed: u64,
}

/// Per client: on the per-source port, and on the globally limited one.
#[derive(Debug)]
struct Counts {
    per_source: [Outcome; 2],
    global: [Outcome; 2],
}

/// What one rate lets through in [`WINDOW`]: the rate, plus the burst.
fn one_rate() -> f64 {
    RATE * WINDOW.as_secs_f64() + BURST
}

/// Whether `n` is within 25 % of `expected`.
fn about(n: u64, expected: f64) -> bool {
    (n as f64 - expected).abs() <= expected * 0.25
}

/// Each client held to its own rate on the per-source port; both together
/// held to one rate on the global port, each getting less than its own.
fn assert_limits_hold(c: &Counts, target: &str) {
    let expected = one_rate();
    eprintln!("{target}: {c:?}");
    for o in c.per_source.iter().chain(&c.global) {
        assert!(
            o.tried > 3 * o.passed,
            "{target}: the clients must outrun the limits: {c:?}"
        );
    }
    for (i, o) in c.per_source.iter().enumerate() {
        assert!(
            about(o.passed, expected),
            "{target}: client {i} got {} new connections through the per-source limit, \
             expected about {expected} each: {c:?}",
            o.passed
        );
    }
    let total: u64 = c.global.iter().map(|o| o.passed).sum();
    assert!(
        about(total, expected),
        "{target}: {total} new connections through the global limit from both clients, \
         expected about {expected} together: {c:?}"
    );
    for (i, o) in c.global.iter().enumerate() {
        assert!(
            o.passed > 0 && (o.passed as f64) < expected,
            "{target}: client {i} got {} through the global limit, expected a share of \
             {expected}, less than its own rate would give: {c:?}",
            o.passed
        );
    }
}

fn ruleset() -> Ruleset {
    Ruleset::compile(&portreeve_policy::parse_policy("limits.toml", POLICY).unwrap()).unwrap()
}

/// The cap holds across sources: three connections from one client and one
/// from the other fill it, and then neither gets another (refused with a
/// reset, as a per-source cap refuses), though neither alone is near it.
fn assert_total_cap_holds(site: &Site, target: &str) {
    let held = [site.hold(0, CAP - 1), site.hold(1, 1)];
    assert_eq!(held.iter().map(Vec::len).sum::<usize>(), CAP);
    for i in [0, 1] {
        let Err(err) = site.connect_capped(i) else {
            panic!("{target}: client {i} connected once more, over the total of {CAP}");
        };
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{target}: client {i} refused with a reset, not dropped: {err}"
        );
    }
}

#[test]
fn nft_total_connection_cap_holds_across_sources() {
    if !portreeve_testkit::privileged(
        "nft_total_connection_cap_holds_across_sources",
        &["ip", "nft", "python3"],
    ) {
        return;
    }
    let site = Site::new();
    site.enforce_nft();
    assert_total_cap_holds(&site, "nftables");
}

#[test]
fn iptables_total_connection_cap_holds_across_sources() {
    if !portreeve_testkit::privileged(
        "iptables_total_connection_cap_holds_across_sources",
        &["ip", "nft", "python3", "iptables", "ip6tables", "ipset"],
    ) {
        return;
    }
    let site = Site::new();
    site.enforce_iptables();
    assert_total_cap_holds(&site, "iptables");
}

#[test]
fn nft_limits_hold_each_source_or_all_together() {
    if !portreeve_testkit::privileged(
        "nft_limits_hold_each_source_or_all_together",
        &["ip", "nft", "python3"],
    ) {
        return;
    }
    let site = Site::new();
    site.enforce_nft();
    site.count();
    assert_limits_hold(&site.hammer(), "nftables");
}

#[test]
fn iptables_limits_hold_each_source_or_all_together() {
    if !portreeve_testkit::privileged(
        "iptables_limits_hold_each_source_or_all_together",
        &["ip", "nft", "python3", "iptables", "ip6tables", "ipset"],
    ) {
        return;
    }
    let site = Site::new();
    site.enforce_iptables();
    site.count();
    let counts = site.hammer();
    assert_limits_hold(&counts, "iptables");
    // iptables' own counters agree: the limit chains dropped the rest.
    let dropped = |chain: usize| -> u64 {
        let listing = stdout(&run(site.srv.exec("iptables").args([
            "-L",
            &format!("{}{chain}", iptables_text::LIMIT_CHAIN_PREFIX),
            "-v",
            "-x",
            "-n",
        ])));
        listing
            .lines()
            .filter(|l| l.contains("DROP"))
            .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    for (chain, outcomes) in [(0, counts.per_source), (1, counts.global)] {
        let refused: u64 = outcomes.iter().map(|o| o.tried - o.passed).sum();
        assert_eq!(
            dropped(chain),
            refused,
            "iptables -L -v counts the drops of limit chain {chain}: {counts:?}"
        );
    }
}

//! Ports published by DNAT, as Docker, Podman and kube-proxy publish
//! container ports: a host namespace forwards between a client namespace
//! and a "container" namespace, and a DNAT in the host's `prerouting` sends
//! host:8080 on to the container's port 80. Such connections never reach
//! the input hook; portreeve's forward chain must judge them by the port
//! the client asked for, and leave every other forwarded connection alone.
//! Nothing here leaves the namespaces the tests create.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{Home, Netns, assert_ok, run, stderr, stdout, testkit};

/// The addresses of one family: the host as the client sees it, the
/// client, and the container behind the host.
struct Addresses {
    host: &'static str,
    client: &'static str,
    container: &'static str,
}

const V4: Addresses = Addresses {
    host: "10.77.1.1",
    client: "10.77.1.2",
    container: "10.77.2.2",
};

const V6: Addresses = Addresses {
    host: "fd77:1::1",
    client: "fd77:1::2",
    container: "fd77:2::2",
};

/// The published port and the container port it leads to.
const PUBLISHED: u16 = 8080;
const CONTAINER_PORT: u16 = 80;
/// A port of the container reached by plain routing, which no policy here
/// allows: forwarding that is not DNAT is not portreeve's to judge.
const ROUTED: u16 = 9000;
/// A port of the client the container connects to.
const CLIENT_PORT: u16 = 7000;

/// A DNAT like Docker's `-p 8080:80`, for each family in a table of its own.
const DNAT: &str = "table ip prt_nat {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 10.77.1.1 tcp dport 8080 dnat to 10.77.2.2:80
    }
}
table ip6 prt_nat6 {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip6 daddr fd77:1::1 tcp dport 8080 dnat to [fd77:2::2]:80
    }
}
";

const ZONES: &str = r#"
[zones]
clients = ["10.77.0.0/16", "fd77::/16"]

[enforce]
default_action = "reject"
"#;

/// Allows the container's own port, but not the published one: a ruleset
/// that judged the rewritten port would let the client through.
const CLOSED: &str = r#"
[[rule]]
name = "container-port"
port = 80
protocol = "tcp"
zones = ["clients"]
"#;

const OPEN: &str = r#"
[[rule]]
name = "published"
port = 8080
protocol = "tcp"
zones = ["clients"]
"#;

/// Host, client and container namespaces, the DNAT, and listeners on the
/// container and the client.
struct Site {
    host: Netns,
    client: Netns,
    container: Netns,
    home: Home,
    _listeners: [testkit::Listeners; 2],
}

impl Site {
    fn new() -> Site {
        let (host, client, container) = (Netns::bare(), Netns::bare(), Netns::bare());
        host.link(&client, "10.77.1.1/24", "10.77.1.2/24");
        host.link(&client, "fd77:1::1/64", "fd77:1::2/64");
        host.link(&container, "10.77.2.1/24", "10.77.2.2/24");
        host.link(&container, "fd77:2::1/64", "fd77:2::2/64");
        client.ip(&["route", "add", "default", "via", "10.77.1.1"]);
        client.ip(&["-6", "route", "add", "default", "via", "fd77:1::1"]);
        container.ip(&["route", "add", "default", "via", "10.77.2.1"]);
        container.ip(&["-6", "route", "add", "default", "via", "fd77:2::1"]);
        for setting in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            let out = run(host.exec("sysctl").args(["-q", "-w", setting]));
            assert!(out.status.success(), "sysctl: {}", stderr(&out));
        }
        nft(&host, DNAT);
        let listeners = [
            container.listen(
                &[
                    &format!("tcp4:0.0.0.0:{CONTAINER_PORT}"),
                    &format!("tcp6:[::]:{CONTAINER_PORT}:v6only=1"),
                    &format!("tcp4:0.0.0.0:{ROUTED}"),
                    &format!("tcp6:[::]:{ROUTED}:v6only=1"),
                ],
                0,
            ),
            client.listen(
                &[
                    &format!("tcp4:0.0.0.0:{CLIENT_PORT}"),
                    &format!("tcp6:[::]:{CLIENT_PORT}:v6only=1"),
                ],
                0,
            ),
        ];
        let site = Site {
            host,
            client,
            container,
            home: Home::new(),
            _listeners: listeners,
        };
        site.await_ipv6_routing();
        site
    }

    /// Waits until IPv6 is routed both ways: until the host's link-local
    /// addresses have passed duplicate address detection, it cannot
    /// resolve its neighbours, and the first forwarded connections stall.
    fn await_ipv6_routing(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(connects(&self.client, V6.container, ROUTED)
            && connects(&self.container, V6.client, CLIENT_PORT))
        {
            assert!(
                Instant::now() < deadline,
                "IPv6 is not routed between the namespaces"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn policy(&self, name: &str, rules: &str) -> PathBuf {
        self.home.file(name, format!("{ZONES}{rules}"))
    }

    fn portreeve(&self, args: &[&str]) -> String {
        let out = self.home.run_in(&self.host, args);
        assert_ok(&out);
        stdout(&out)
    }

    fn apply(&self, policy: &Path) {
        self.portreeve(&["apply", "--policy", policy.to_str().unwrap()]);
    }

    /// Whether the client reaches the published port, the container
    /// directly, and the container the client, over IPv4 and over IPv6.
    fn reach(&self) -> [(bool, bool, bool); 2] {
        [V4, V6].map(|a| {
            (
                connects(&self.client, a.host, PUBLISHED),
                connects(&self.client, a.container, ROUTED),
                connects(&self.container, a.client, CLIENT_PORT),
            )
        })
    }
}

fn nft(ns: &Netns, ruleset: &str) {
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), ruleset).unwrap();
    let out = run(ns.exec("nft").arg("-f").arg(path.path()));
    assert!(out.status.success(), "nft -f: {}", stderr(&out));
}

/// Whether a TCP connection from `from` to `addr:port` completes.
fn connects(from: &Netns, addr: &str, port: u16) -> bool {
    from.connects(SocketAddr::new(addr.parse().unwrap(), port))
}

fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3", "nft", "sysctl"])
}

#[test]
fn a_published_port_is_judged_by_the_port_the_client_asked_for() {
    if !privileged("a_published_port_is_judged_by_the_port_the_client_asked_for") {
        return;
    }
    let site = Site::new();
    assert_eq!(
        site.reach(),
        [(true, true, true); 2],
        "before apply, the DNAT and routing work"
    );

    site.apply(&site.policy("closed.toml", CLOSED));
    assert_eq!(
        site.reach(),
        [(false, true, true); 2],
        "the published port is closed although the container's port 80 is allowed; \
         routed traffic both ways is untouched"
    );

    site.apply(&site.policy("open.toml", OPEN));
    assert_eq!(
        site.reach(),
        [(true, true, true); 2],
        "the policy allows 8080: the published port is open"
    );
    let usage = site.portreeve(&["usage"]);
    assert!(
        usage.lines().any(|l| l.starts_with("8080/tcp")),
        "the published port's use is recorded as the port asked for:\n{usage}"
    );
    assert!(
        !usage.lines().any(|l| l.starts_with("80/tcp")),
        "and not as the container's port:\n{usage}"
    );
}

#[test]
fn inventory_check_and_plan_name_each_published_port_and_its_target() {
    if !privileged("inventory_check_and_plan_name_each_published_port_and_its_target") {
        return;
    }
    let site = Site::new();
    let want = format!("{PUBLISHED}/tcp → {}:{CONTAINER_PORT}", V4.container);

    let table = site.portreeve(&["inventory"]);
    assert!(
        table.contains(&want),
        "inventory lists the published port:\n{table}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&site.portreeve(&["inventory", "--format", "json"])).unwrap();
    support::assert_matches_schema(&doc, "docs/schema/inventory.v1.json");
    assert_eq!(
        doc["published"],
        serde_json::json!([
            {
                "protocol": "tcp",
                "ports": 8080,
                "table": "ip prt_nat",
                "chain": "prerouting",
                "target": "10.77.2.2:80",
            },
            {
                "protocol": "tcp",
                "ports": 8080,
                "table": "ip6 prt_nat6",
                "chain": "prerouting",
                "target": "[fd77:2::2]:80",
            }
        ])
    );

    let policy = site.policy("closed.toml", CLOSED);
    let plan = site.portreeve(&["plan", "--policy", policy.to_str().unwrap()]);
    assert!(
        plan.lines()
            .any(|l| l.contains(&want) && l.contains("closed by the policy")),
        "plan lists the published port and what the policy does to it:\n{plan}"
    );
    let check = site
        .home
        .run_in(&site.host, &["check", "--policy", policy.to_str().unwrap()]);
    assert!(
        stdout(&check)
            .lines()
            .any(|l| l.contains(&want) && l.contains("closed by the policy")),
        "check lists it too:\n{}",
        stdout(&check)
    );
    let check = site.home.run_in(
        &site.host,
        &[
            "check",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    support::assert_matches_schema(&doc, "docs/schema/check.v1.json");
    let verdicts: Vec<(&serde_json::Value, &serde_json::Value)> = doc["published"]
        .as_array()
        .expect("check's JSON lists the published ports")
        .iter()
        .map(|p| (&p["target"], &p["policy"]))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                &serde_json::json!("10.77.2.2:80"),
                &serde_json::json!("closed")
            ),
            (
                &serde_json::json!("[fd77:2::2]:80"),
                &serde_json::json!("closed")
            ),
        ]
    );
    let policy = site.policy("open.toml", OPEN);
    let plan = site.portreeve(&["plan", "--policy", policy.to_str().unwrap()]);
    assert!(
        plan.lines()
            .any(|l| l.contains(&want) && l.contains("allowed by the policy")),
        "{plan}"
    );
}

#[test]
fn the_iptables_script_judges_published_ports_too() {
    if !testkit::privileged(
        "the_iptables_script_judges_published_ports_too",
        &[
            "ip",
            "python3",
            "nft",
            "sysctl",
            "iptables",
            "ip6tables",
            "ipset",
        ],
    ) {
        return;
    }
    let site = Site::new();
    let script = |name: &str, rules: &str| {
        let policy = site.policy(name, rules);
        site.portreeve(&[
            "render",
            "--target",
            "iptables",
            "--policy",
            policy.to_str().unwrap(),
        ])
    };
    let load = |text: String| {
        let out = run(site.host.exec("sh").args(["-c", &text]));
        assert!(out.status.success(), "the script failed: {}", stderr(&out));
    };
    load(script("closed.toml", CLOSED));
    assert_eq!(
        site.reach(),
        [(false, true, true); 2],
        "closed, routing untouched"
    );
    load(script("open.toml", OPEN));
    assert_eq!(site.reach(), [(true, true, true); 2], "open");
}

//! Reverse DNS through the system resolver, inside a namespace the test
//! creates. `ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf (and
//! hosts) over /etc's, so the resolver of a process started there asks
//! only the namespace's own loopback. The resolver reads those files per
//! process, so each test runs its lookups in a child: this test binary
//! again, started with `ip netns exec`, running one `#[ignore]`d test.
//! Nothing is ever sent outside the namespace.

mod support;

use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use portreeve_testkit::{Netns, privileged, run, stderr, stdout};
use portreeve_trace::{Enricher, GeoDatabases, RdapClient, ReverseDns, TraceError};

/// Set in a child started inside a test namespace: the `child_*` tests do
/// nothing without it, so that they never ask the host's resolver.
const IN_TEST_NAMESPACE: &str = "PORTREEVE_TRACE_IN_TEST_NAMESPACE";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A namespace with only loopback whose resolver configuration names
/// 127.0.0.1 and waits 5 s for an answer; removed with its files on drop.
struct ResolverNamespace {
    ns: Netns,
    etc: PathBuf,
}

impl ResolverNamespace {
    fn new() -> ResolverNamespace {
        let ns = Netns::bare();
        let etc = PathBuf::from("/etc/netns").join(&ns.name);
        std::fs::create_dir_all(&etc).expect("create /etc/netns/NAME");
        std::fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:5 attempts:1\n",
        )
        .expect("write resolv.conf");
        std::fs::write(etc.join("hosts"), "127.0.0.1 localhost\n").expect("write hosts");
        ResolverNamespace { ns, etc }
    }

    /// Runs the ignored test `name` of this binary inside the namespace
    /// and fails with its output if it fails.
    fn run_child(&self, name: &str) {
        let exe = std::env::current_exe().expect("test binary");
        let out = run(self
            .ns
            .exec(exe)
            .args([name, "--exact", "--ignored", "--nocapture"])
            .env(IN_TEST_NAMESPACE, "1"));
        let printed = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            out.status.success(),
            "{name} failed inside the namespace:\n{printed}"
        );
        assert!(
            printed.contains("1 passed"),
            "{name} did not run:\n{printed}"
        );
    }
}

impl Drop for ResolverNamespace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this process is the child a parent test started in its
/// namespace; says so when it is not.
fn in_test_namespace() -> bool {
    let inside = std::env::var_os(IN_TEST_NAMESPACE).is_some();
    if !inside {
        eprintln!("not inside a test namespace: run only by its parent test");
    }
    inside
}

#[test]
fn ptr_names_come_from_the_system_resolver() {
    if !privileged(
        "ptr_names_come_from_the_system_resolver",
        &["ip", "dnsmasq"],
    ) {
        return;
    }
    let resolver = ResolverNamespace::new();
    let dnsmasq = Killed(
        resolver
            .ns
            .exec("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--port=53",
                "--user=root",
                "--pid-file=",
                "--local=/2.0.192.in-addr.arpa/",
                "--local=/8.b.d.0.1.0.0.2.ip6.arpa/",
                "--ptr-record=1.2.0.192.in-addr.arpa,scanner.example.test",
                "--ptr-record=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa,scanner6.example.test",
            ])
            .spawn()
            .expect("start dnsmasq"),
    );
    // dnsmasq is ready once 127.0.0.1:53 is taken in the namespace.
    let ready = resolver.ns.run(|| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind("127.0.0.1:53").is_ok() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    });
    assert!(ready, "dnsmasq did not start listening in 10 s");
    resolver.run_child("child_ptr_names");
    drop(dnsmasq);
}

#[test]
#[ignore = "run inside a namespace by ptr_names_come_from_the_system_resolver"]
fn child_ptr_names() {
    if !in_test_namespace() {
        return;
    }
    let rdns = ReverseDns::new(Duration::from_secs(3), 4);
    assert_eq!(
        rdns.lookup(ip("192.0.2.1")),
        Ok(Some("scanner.example.test".into()))
    );
    assert_eq!(
        rdns.lookup(ip("2001:db8::1")),
        Ok(Some("scanner6.example.test".into()))
    );
    // No PTR record: an answer, not an error.
    assert_eq!(rdns.lookup(ip("192.0.2.2")), Ok(None));

    // All three sources together, as a detection gets them.
    let dir = tempfile::tempdir().expect("tempdir");
    let server = support::RdapServer::start();
    let enricher = Enricher::new(
        Some(GeoDatabases::open(&[support::asn_db(dir.path())]).expect("open")),
        Some(rdns),
        Some(
            RdapClient::new(
                &server.base_url,
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(60),
            )
            .expect("client"),
        ),
        Duration::from_secs(3),
    );
    let found = enricher.enrich(ip("192.0.2.1"));
    assert_eq!(found.reverse_dns.as_deref(), Some("scanner.example.test"));
    assert_eq!(found.asn, Some(64500));
    assert_eq!(
        found.rdap.as_ref().and_then(|n| n.handle.as_deref()),
        Some("NET-192-0-2-0-1")
    );
    assert!(found.errors.is_empty(), "{:?}", found.errors);
}

#[test]
fn a_resolver_that_never_answers_costs_only_the_timeout() {
    if !privileged(
        "a_resolver_that_never_answers_costs_only_the_timeout",
        &["ip"],
    ) {
        return;
    }
    ResolverNamespace::new().run_child("child_silent_resolver");
}

#[test]
#[ignore = "run inside a namespace by a_resolver_that_never_answers_costs_only_the_timeout"]
fn child_silent_resolver() {
    if !in_test_namespace() {
        return;
    }
    // The namespace's resolver: it takes queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:53").expect("bind the silent resolver");

    let rdns = ReverseDns::new(Duration::from_millis(300), 2);
    let start = Instant::now();
    let first = rdns.lookup(ip("192.0.2.1"));
    let took = start.elapsed();
    assert_eq!(
        first,
        Err(TraceError::DnsTimeout(Duration::from_millis(300)))
    );
    assert_eq!(
        first.unwrap_err().to_string(),
        "reverse DNS gave no answer within 300 ms"
    );
    assert!(took < Duration::from_millis(1000), "took {took:?}");

    // The query went to the namespace's resolver, nowhere else.
    silent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut query = [0_u8; 512];
    let (len, _) = silent.recv_from(&mut query).expect("a query arrived");
    assert!(len > 12, "a DNS query of {len} bytes");

    // Given-up lookups still hold their threads (the resolver waits 5 s):
    // with a limit of 2, the third lookup is skipped at once.
    assert!(matches!(
        rdns.lookup(ip("192.0.2.2")),
        Err(TraceError::DnsTimeout(_))
    ));
    let start = Instant::now();
    let third = rdns.lookup(ip("192.0.2.3"));
    assert!(start.elapsed() < Duration::from_millis(100));
    assert_eq!(
        third.map_err(|e| e.to_string()),
        Err("reverse DNS skipped: 2 earlier lookups are still waiting for an answer".into())
    );

    // Within an enricher the budget bounds the wait, below the lookup's
    // own timeout.
    let enricher = Enricher::new(
        None,
        Some(ReverseDns::new(Duration::from_secs(2), 2)),
        None,
        Duration::from_millis(200),
    );
    let start = Instant::now();
    let found = enricher.enrich(ip("198.51.100.1"));
    assert!(start.elapsed() < Duration::from_millis(700));
    assert_eq!(found.reverse_dns, None);
    assert_eq!(
        found.errors,
        vec!["reverse DNS gave no answer within the enrichment budget of 200 ms"]
    );
}

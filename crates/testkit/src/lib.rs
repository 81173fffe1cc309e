//! A small harness for portreeve's integration tests: network namespaces the
//! test owns, veth links between them, listeners owned by known processes,
//! and code run inside a namespace.
//!
//! The principal type in this crate is a [`Netns`]: a network namespace
//! created for one test (loopback up, and with [`Netns::new`] a veth pair
//! holding addresses that exist only inside it) and deleted when dropped.
//! [`Netns::link`] joins two of them, [`Netns::exec`] and [`Netns::run`] run
//! a program or a closure inside one, and [`Netns::listen`] starts
//! processes binding given sockets there, returned as [`Listeners`], which
//! stop when dropped.
//!
//! Tests that need root call [`privileged`] first: it skips with a printed
//! reason when they cannot run, and fails instead when
//! `PORTREEVE_REQUIRE_PRIVILEGED=1` (as in CI). Every other skip (a missing
//! program or data set) goes through [`skip_unless`] too, which also logs it
//! to the file `PORTREEVE_SKIP_LOG` names. Traffic never leaves the
//! namespaces the tests create: [`in_fresh_netns`] gives a test a loopback
//! of its own, and a [`DeadEnd`] namespace counts what a program sends, for
//! tests that it sends nothing. The harness needs `ip` (iproute2) and, for
//! listeners, `python3`; it mocks nothing.
//!
//! For clients of HTTP services, [`http::Server`] is a small server on
//! 127.0.0.1 that records what it gets and answers as the test says;
//! [`trace`] has what tests of source tracing share (MaxMind databases
//! written for the test and an RDAP server on that server); [`rsyslog`]
//! starts Debian's rsyslogd as a receiver of the test's own.
//!
//! # Example
//!
//! Not run as a doc test (`no_run`): creating a namespace needs root.
//!
//! ```no_run
//! use std::net::TcpStream;
//!
//! use portreeve_testkit::{Netns, privileged};
//!
//! if !privileged("example", &["ip", "python3"]) {
//!     return; // skipped, and said why
//! }
//! let ns = Netns::new(); // d0 holds 10.99.0.1/24, inside `ns` only
//! let listeners = ns.listen(&["tcp4:10.99.0.1:8080"], 1); // one process and a fork
//! assert_eq!(listeners.pids.len(), 2);
//! assert!(ns.run(|| TcpStream::connect("10.99.0.1:8080").is_ok()));
//! // Dropping `listeners` stops the processes; dropping `ns` deletes it.
//! ```

pub mod capture;
pub mod http;
pub mod k8s_schema;
pub mod netlink;
pub mod rsyslog;
pub mod trace;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the conformance data directory, for a checkout that
/// does not sit next to `shared/` (the default is `../shared/testdata`
/// beside the workspace, where the workplace keeps it).
pub const TESTDATA_ENV: &str = "PORTREEVE_TESTDATA";

/// `sub` inside the conformance data directory: `$PORTREEVE_TESTDATA/sub`,
/// else `../shared/testdata/sub` beside the workspace. Tests read the data
/// from there and never copy it into the repository.
pub fn testdata(sub: &str) -> PathBuf {
    std::env::var_os(TESTDATA_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"),
            PathBuf::from,
        )
        .join(sub)
}

/// Runs `cmd`, returning its output, and fails the test if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` with `input` on its standard input, returning its output.
/// The input is written whole before the output is collected, so it suits
/// inputs up to a pipe's buffer or commands that read all input first.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input)
        .unwrap_or_else(|e| panic!("cannot write to {cmd:?}: {e}"));
    child.wait_with_output().unwrap()
}

/// Standard output as UTF-8.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as UTF-8.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The environment variable that makes every skip a failure (CI sets it).
pub const REQUIRE_ENV: &str = "PORTREEVE_REQUIRE_PRIVILEGED";

/// The environment variable naming a file that every skip is appended to,
/// one `SKIPPED <test>: <why>` line each. `cargo test` hides what passing
/// tests print, so `.ci/run` reads this file after the run instead and fails
/// if anything was skipped.
pub const SKIP_LOG_ENV: &str = "PORTREEVE_SKIP_LOG";

/// Whether `test` (or the part of it that needs `condition`) can run. When
/// `condition` does not hold, the test is skipped: one line `SKIPPED <test>:
/// <why>` goes to standard error and to the file `PORTREEVE_SKIP_LOG` names,
/// if any, and this returns false — or, under
/// `PORTREEVE_REQUIRE_PRIVILEGED=1` (CI), panics instead, so that nothing
/// CI is meant to run can be skipped quietly. Every skip in the suite goes
/// through here; `why` says what is missing.
pub fn skip_unless(test: &str, condition: bool, why: impl std::fmt::Display) -> bool {
    if condition {
        return true;
    }
    let line = format!("SKIPPED {test}: {why}");
    if let Some(log) = std::env::var_os(SKIP_LOG_ENV) {
        // One short append per skip: lines from test binaries running at
        // the same time do not interleave.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open {SKIP_LOG_ENV}={log:?}: {e}"));
        std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
            .unwrap_or_else(|e| panic!("cannot write {SKIP_LOG_ENV}={log:?}: {e}"));
    }
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but {line}");
    }
    eprintln!("{line} (set {REQUIRE_ENV}=1 to make this a failure)");
    false
}

/// Whether `program` can be started (it is on `PATH`).
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Whether every program in `programs` is installed; skips `test` through
/// [`skip_unless`] naming the first one missing.
pub fn require_programs(test: &str, programs: &[&str]) -> bool {
    let missing = programs.iter().find(|p| !installed(p));
    skip_unless(
        test,
        missing.is_none(),
        format_args!("`{}` is not installed", missing.unwrap_or(&"")),
    )
}

/// Whether privileged tests can run here: root, and every program in
/// `programs` installed. Skips through [`skip_unless`] otherwise.
pub fn privileged(test: &str, programs: &[&str]) -> bool {
    skip_unless(
        test,
        rustix::process::geteuid().is_root(),
        "not running as root",
    ) && require_programs(test, programs)
}

/// Runs `body` on the loopback of a namespace of its own (see
/// [`Netns::bare`] and [`Netns::run`]): for tests whose sockets talk to each
/// other, kept off the host's loopback. Skips `test` without root.
pub fn in_fresh_netns(test: &str, body: impl FnOnce() + Send) {
    if privileged(test, &["ip"]) {
        Netns::bare().run(body);
    }
}

static NEXT_NS: AtomicU32 = AtomicU32::new(0);
static NEXT_LINK: AtomicU32 = AtomicU32::new(0);

/// A network namespace created for one test and deleted when dropped.
pub struct Netns {
    /// Its name under `/run/netns`.
    pub name: String,
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Netns {
    /// Creates `prt-<pid>-<n>` with loopback up and a veth pair `d0`/`d1`
    /// inside it, `d0` holding 10.99.0.1/24 and 2001:db8:99::1/64: addresses
    /// that exist only inside this namespace. (A veth pair, because not every
    /// kernel has the dummy driver.)
    pub fn new() -> Netns {
        let ns = Netns::bare();
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "d0"]);
        ns.ip(&["addr", "add", "2001:db8:99::1/64", "dev", "d0", "nodad"]);
        ns.ip(&["link", "set", "d1", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        ns
    }

    /// Creates a namespace with only loopback, up.
    pub fn bare() -> Netns {
        let name = format!(
            "prt-{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip netns add {name} failed");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Links this namespace to `peer` with a veth pair: `addr` (CIDR, e.g.
    /// `10.10.1.1/24`) here, `peer_addr` there. IPv6 addresses skip duplicate
    /// address detection so they work at once.
    pub fn link(&self, peer: &Netns, addr: &str, peer_addr: &str) {
        let n = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
        let (here, there) = (format!("pa{n}"), format!("pb{n}"));
        self.ip(&[
            "link", "add", &here, "type", "veth", "peer", "name", &there, "netns", &peer.name,
        ]);
        for (ns, dev, a) in [(self, &here, addr), (peer, &there, peer_addr)] {
            let mut args = vec!["addr", "add", a, "dev", dev.as_str()];
            if a.contains(':') {
                args.push("nodad");
            }
            ns.ip(&args);
            ns.ip(&["link", "set", dev, "up"]);
        }
    }

    /// `ip netns exec NAME program args…`.
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// `ip …` inside the namespace.
    pub fn ip(&self, args: &[&str]) {
        let out = run(self.exec("ip").args(args));
        assert!(
            out.status.success(),
            "ip {args:?} failed in {}: {}",
            self.name,
            stderr(&out)
        );
    }

    /// Runs `f` on a thread that has joined the namespace, and returns its
    /// result. Sockets it opens live there, and so do threads it starts. A
    /// panic in `f` (a failed assertion) fails the caller with its own
    /// message.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = PathBuf::from(format!("/run/netns/{}", self.name));
        let ns = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    rustix::thread::move_into_link_name_space(
                        std::os::fd::AsFd::as_fd(&ns),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .unwrap_or_else(|e| panic!("cannot enter {}: {e}", path.display()));
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Whether a TCP handshake from inside the namespace to `to` completes
    /// within half a second (a veth peer answers in well under a
    /// millisecond; a dropped SYN waits out the timeout).
    pub fn connects(&self, to: std::net::SocketAddr) -> bool {
        self.run(|| {
            std::net::TcpStream::connect_timeout(&to, std::time::Duration::from_millis(500)).is_ok()
        })
    }

    /// Starts a process binding `specs` (see `listen.py`) inside the
    /// namespace, with `forks` extra processes sharing its sockets. TCP
    /// listeners accept and hold connections.
    pub fn listen(&self, specs: &[&str], forks: u32) -> Listeners {
        let mut cmd = self.exec("python3");
        cmd.arg(listen_script());
        if forks > 0 {
            cmd.args(["--fork", &forks.to_string()]);
        }
        cmd.args(specs).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("start listen.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read listener pids");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("listen.py {specs:?} did not start ({e}): {line:?}"));
        let pids = v["pids"]
            .as_array()
            .expect("pids array")
            .iter()
            .map(|p| u32::try_from(p.as_u64().expect("pid")).expect("pid fits u32"))
            .collect();
        Listeners {
            stdin: child.stdin.take(),
            child,
            pids,
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A namespace where every address has a route, into a veth pair whose
/// both ends stay inside it, and where nft counts every packet sent (over
/// loopback too): a place to run code that must send nothing, where a
/// regression would be seen rather than fail for want of a route, and
/// could reach nothing beyond the namespace.
pub struct DeadEnd {
    /// The namespace: [`Netns::new`]'s, plus default routes into `d0`.
    pub ns: Netns,
}

/// The counting table. The kernel's own IPv6 neighbour discovery and
/// multicast-listener reports on the veth pair are not counted: they are
/// not the tested program's doing.
const SENT_COUNTER: &str = "table inet prt_sent {
    counter sent {}
    chain output {
        type filter hook output priority raw; policy accept;
        icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept
        counter name \"sent\"
    }
}
";

impl Default for DeadEnd {
    fn default() -> Self {
        DeadEnd::new()
    }
}

impl DeadEnd {
    /// Creates the namespace and its counter (needs `ip` and `nft`).
    pub fn new() -> DeadEnd {
        let ns = Netns::new();
        ns.ip(&["route", "add", "default", "dev", "d0"]);
        ns.ip(&["-6", "route", "add", "default", "dev", "d0"]);
        let mut nft = ns.exec("nft");
        nft.args(["-f", "-"]).stdin(Stdio::piped());
        let mut child = nft.spawn().expect("start nft");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("piped stdin"),
            SENT_COUNTER.as_bytes(),
        )
        .expect("write the counting table");
        let out = child.wait_with_output().expect("wait for nft");
        assert!(out.status.success(), "nft -f: {}", stderr(&out));
        DeadEnd { ns }
    }

    /// Packets sent from the namespace so far.
    pub fn packets_sent(&self) -> u64 {
        let out = run(self
            .ns
            .exec("nft")
            .args(["list", "counter", "inet", "prt_sent", "sent"]));
        assert!(out.status.success(), "nft list counter: {}", stderr(&out));
        let text = stdout(&out);
        text.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {text:?}"))
    }
}

fn listen_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("listen.py")
}

/// Processes holding test sockets; they exit when dropped.
pub struct Listeners {
    stdin: Option<ChildStdin>,
    child: Child,
    /// The main process first, then its forks.
    pub pids: Vec<u32>,
}

impl Drop for Listeners {
    fn drop(&mut self) {
        // Closing stdin asks listen.py to reap its forks and exit.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A TCP socket listening on `0.0.0.0:PORT` in the host's namespace, owned
/// by nobody in particular: a fixture for logic that takes sockets (the
/// agent's loop, the lifecycle) without reading a real inventory.
pub fn listening_socket(port: u16) -> portreeve_core::ListeningSocket {
    use portreeve_core::{BindScope, Family, ListeningSocket, NetnsRef, OwnerStatus, Proto};
    ListeningSocket {
        protocol: Proto::Tcp,
        family: Family::Ipv4,
        address: std::net::Ipv4Addr::UNSPECIFIED.into(),
        port,
        interface: None,
        scope: BindScope::Wildcard,
        dual_stack: false,
        uid: 0,
        user: None,
        inode: u64::from(port),
        netns: NetnsRef {
            inode: 1,
            name: Some("host".into()),
        },
        owner_status: OwnerStatus::Known,
        processes: Vec::new(),
    }
}

//! A small harness for end-to-end tests: network namespaces the test owns,
//! listeners owned by known processes inside them, and the `portreeve`
//! binary under test.
//!
//! Tests that need root skip with a printed reason when they cannot run, and
//! fail instead when `PORTREEVE_REQUIRE_PRIVILEGED=1` (as in CI). Traffic
//! never leaves the namespaces the tests create.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The binary under test.
pub fn portreeve() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portreeve"));
    cmd.env_remove("PORTREEVE_POLICY")
        .env_remove("PORTREEVE_STATE_DIR")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd`, returning its output, and fails the test if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Standard output as UTF-8.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as UTF-8.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether privileged tests can run here. Returns false (and says why) to
/// skip, or panics when CI demands privileged tests.
pub fn privileged(test: &str) -> bool {
    let required = std::env::var("PORTREEVE_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1");
    let reason = if !rustix::process::geteuid().is_root() {
        Some("not running as root")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("`ip` (iproute2) is not installed")
    } else if Command::new("python3").arg("-V").output().is_err() {
        Some("python3 is not installed")
    } else {
        None
    };
    match reason {
        None => true,
        Some(why) if required => panic!("{test}: PORTREEVE_REQUIRE_PRIVILEGED=1 but {why}"),
        Some(why) => {
            eprintln!(
                "SKIPPED {test}: {why} (set PORTREEVE_REQUIRE_PRIVILEGED=1 to make this a failure)"
            );
            false
        }
    }
}

static NEXT_NS: AtomicU32 = AtomicU32::new(0);

/// A network namespace created for one test and deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `prt-<pid>-<n>` with loopback up and a veth pair `d0`/`d1`
    /// inside it, `d0` holding 10.99.0.1/24 and 2001:db8:99::1/64: addresses
    /// that exist only inside this namespace. (A veth pair, because not every
    /// kernel has the dummy driver.)
    pub fn new() -> Netns {
        let name = format!(
            "prt-{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        ns.ip(&["addr", "add", "10.99.0.1/24", "dev", "d0"]);
        ns.ip(&["addr", "add", "2001:db8:99::1/64", "dev", "d0", "nodad"]);
        ns.ip(&["link", "set", "d1", "up"]);
        ns.ip(&["link", "set", "d0", "up"]);
        ns
    }

    /// `ip netns exec NAME program args…`.
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// `ip …` inside the namespace.
    pub fn ip(&self, args: &[&str]) {
        let status = self.exec("ip").args(args).status().expect("run ip");
        assert!(status.success(), "ip {args:?} failed in {}", self.name);
    }

    /// `portreeve ARGS` inside the namespace.
    pub fn portreeve(&self, args: &[&str]) -> Output {
        let mut cmd = self.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args(args)
            .env_remove("PORTREEVE_POLICY")
            .env_remove("PORTREEVE_STATE_DIR")
            .env("NO_COLOR", "1");
        run(&mut cmd)
    }

    /// Starts a process binding `specs` (see `support/listen.py`) inside the
    /// namespace, with `forks` extra processes sharing its sockets.
    pub fn listen(&self, specs: &[&str], forks: u32) -> Listeners {
        let mut cmd = self.exec("python3");
        cmd.arg(listen_script());
        if forks > 0 {
            cmd.args(["--fork", &forks.to_string()]);
        }
        cmd.args(specs).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("start listen.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read listener pids");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("listen.py {specs:?} did not start ({e}): {line:?}"));
        let pids = v["pids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap() as u32)
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

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

fn listen_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/listen.py")
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

/// Whether every process's descriptors can be read from here. Not always so
/// even for root: a sandbox or LSM may hide some processes (PID 1 of some
/// container runtimes), and then an unowned socket is reported as
/// `permission_denied` rather than `no_process`.
pub fn all_descriptors_readable() -> bool {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    std::fs::read_dir("/proc").unwrap().flatten().all(|entry| {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            return true;
        }
        match std::fs::read_dir(entry.path().join("fd")) {
            Err(e) => !denied(&e),
            Ok(fds) => fds
                .flatten()
                .all(|fd| std::fs::read_link(fd.path()).map_or_else(|e| !denied(&e), |_| true)),
        }
    })
}

/// One row of `ss -H -tulnp`, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsSocket {
    pub protocol: String,
    pub address: String,
    pub port: u16,
    pub interface: Option<String>,
    pub pids: Vec<u32>,
}

/// Parses `ss -H -tulnp` output. ss prints a dual-stack `::` socket as `*`.
pub fn parse_ss(text: &str) -> Vec<SsSocket> {
    let mut out: Vec<SsSocket> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (endpoint, port) = fields[4].rsplit_once(':').expect("addr:port");
            let endpoint = endpoint.trim_start_matches('[').trim_end_matches(']');
            let (address, interface) = match endpoint.split_once('%') {
                Some((a, dev)) => (a, Some(dev.to_string())),
                None => (endpoint, None),
            };
            let address = if address == "*" {
                "::".to_string()
            } else {
                address.to_string()
            };
            let mut pids: Vec<u32> = line
                .split("pid=")
                .skip(1)
                .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
                .collect();
            pids.sort_unstable();
            pids.dedup();
            SsSocket {
                protocol: fields[0].to_string(),
                address,
                port: port.parse().unwrap(),
                interface,
                pids,
            }
        })
        .collect();
    out.sort();
    out
}

/// The pids of a socket in an inventory document, sorted.
pub fn pids_of(socket: &serde_json::Value) -> Vec<u32> {
    let mut pids: Vec<u32> = socket["processes"]
        .as_array()
        .expect("processes array")
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    pids.sort_unstable();
    pids
}

/// The same view of a `portreeve inventory --format json` document.
pub fn normalise_inventory(doc: &serde_json::Value) -> Vec<SsSocket> {
    let mut out: Vec<SsSocket> = doc["sockets"]
        .as_array()
        .expect("sockets array")
        .iter()
        .map(|s| {
            let pids = pids_of(s);
            SsSocket {
                protocol: s["protocol"].as_str().unwrap().to_string(),
                address: s["address"].as_str().unwrap().to_string(),
                port: s["port"].as_u64().unwrap() as u16,
                interface: s["interface"].as_str().map(str::to_string),
                pids,
            }
        })
        .collect();
    out.sort();
    out
}

/// Validates `doc` against the JSON Schema at `schema_path` (relative to the
/// repository root), failing with every violation listed.
pub fn assert_matches_schema(doc: &serde_json::Value, schema_path: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(schema_path);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_valid(doc, &schema, schema_path);
}

/// Validates `doc` against `schema`, listing every violation on failure.
pub fn assert_valid(doc: &serde_json::Value, schema: &serde_json::Value, name: &str) {
    let validator = jsonschema::validator_for(schema)
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "document violates {name}:\n{}",
        errors.join("\n")
    );
}

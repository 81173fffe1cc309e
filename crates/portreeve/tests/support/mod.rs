//! What the binary's end-to-end tests share beyond `portreeve-testkit`: the
//! binary under test, a state directory per test ([`Home`]) and a server
//! namespace with a client beside it ([`Lab`]), exit-status assertions, `ss`
//! output parsing, JSON Schema and ECS ([`ecs`]) checks, and the agent's
//! record of who uses what ([`usage`]).

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use portreeve_testkit::{self as testkit, Netns, run, stderr, stdout};

pub mod browser;
pub mod capture;
pub mod ecs;
pub mod fleet_server;
pub mod k8s;
pub mod pack;
pub mod sarif;
pub mod saved;
pub mod sshd;
pub mod systemd;
pub mod usage;
pub mod wire;

/// The binary under test.
pub fn portreeve() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portreeve"));
    cmd.env_remove("PORTREEVE_POLICY")
        .env_remove("PORTREEVE_STATE_DIR")
        .env("NO_COLOR", "1");
    cmd
}

/// Asserts the command succeeded, showing everything it wrote if not.
#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Asserts the command exited with `code` and said `says` (on either stream).
#[track_caller]
pub fn assert_exit(out: &Output, code: i32, says: &str) {
    let all = format!("{}{}", stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(code), "{all}");
    assert!(all.contains(says), "expected {says:?} in: {all}");
}

/// One test's own state directory, identity directory and files, in a
/// temporary directory removed when the test ends.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The temporary directory everything else is in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn identities(&self) -> PathBuf {
        self.path().join("identities")
    }

    /// Writes `contents` to `name` beside the state directory.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// `cmd --state-dir STATE`, with this home's identities and no
    /// identity, policy or colour from the environment the tests run in.
    pub fn command(&self, mut cmd: Command) -> Command {
        cmd.arg("--state-dir")
            .arg(self.state())
            .env("PORTREEVE_IDENTITY_DIR", self.identities())
            .env_remove("PORTREEVE_IDENTITY")
            .env_remove("PORTREEVE_POLICY")
            .env_remove("PORTREEVE_STATE_DIR")
            .env("NO_COLOR", "1");
        cmd
    }

    /// `portreeve --state-dir STATE ARGS` on this host.
    pub fn run(&self, args: &[&str]) -> Output {
        run(self
            .command(Command::new(env!("CARGO_BIN_EXE_portreeve")))
            .args(args))
    }

    /// The same inside namespace `ns` (for commands that touch a firewall).
    pub fn run_in(&self, ns: &Netns, args: &[&str]) -> Output {
        run(self
            .command(ns.exec(env!("CARGO_BIN_EXE_portreeve")))
            .args(args))
    }

    /// The ledger's entries, as `ledger log --format json` lists them.
    pub fn ledger(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["ledger", "log", "--format", "json"]);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(doc["kind"], "portreeve.ledger");
        doc["entries"].as_array().unwrap().clone()
    }
}

/// A stand-in for `nft` that the binary under test runs through the
/// `PORTREEVE_NFT` override, written into `home` as `name`: before every
/// transaction (`nft -f`) it runs `on_load`, a POSIX shell fragment that
/// may call the real `nft "$@"` and must end the script (`exit N`) or fall
/// through to it; every other call goes straight to the real nft. Returns
/// the script's path.
pub fn nft_wrapper(home: &Home, name: &str, on_load: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = home.file(
        name,
        format!(
            "#!/bin/sh\ncase \" $* \" in\n*\" -f \"*)\n{on_load}\n    ;;\nesac\nexec nft \"$@\"\n"
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `redis-server` arguments for a Redis open to anyone on 6379 that keeps
/// nothing on disk: as shipped too often, and what the risk catalogue flags.
pub const OPEN_REDIS: [&str; 8] = [
    "--port",
    "6379",
    "--bind",
    "0.0.0.0",
    "--protected-mode",
    "no",
    "--save",
    "",
];

/// The policy the ledger tests apply: SSH from an office zone, and an
/// on-demand debugger port.
pub const OFFICE_POLICY: &str = r#"
[zones]
office = ["10.20.1.0/24"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "debugger"
port = 9229
protocol = "tcp"
zones = ["office"]
grant = { max_ttl = "1h" }
"#;

/// A server namespace at 10.SUBNET.0.1 with TCP listeners, a client
/// namespace at 10.SUBNET.0.2 beside it, and a [`Home`] whose commands run
/// in the server namespace.
pub struct Lab {
    pub srv: Netns,
    pub client: Netns,
    pub home: Home,
    subnet: u8,
    _listeners: testkit::Listeners,
}

impl Lab {
    /// `listen` names the listeners as `tcp4:ADDRESS:PORT`.
    pub fn new(subnet: u8, listen: &[&str]) -> Lab {
        let (srv, client) = (Netns::bare(), Netns::bare());
        srv.link(
            &client,
            &format!("10.{subnet}.0.1/24"),
            &format!("10.{subnet}.0.2/24"),
        );
        let listeners = srv.listen(listen, 0);
        Lab {
            srv,
            client,
            home: Home::new(),
            subnet,
            _listeners: listeners,
        }
    }

    /// `portreeve --state-dir STATE ARGS` in the server namespace.
    pub fn portreeve(&self, args: &[&str]) -> Output {
        self.home.run_in(&self.srv, args)
    }

    /// [`Lab::portreeve`] that must succeed; returns its standard output.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.portreeve(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// [`Lab::ok`] parsed as JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Whether the client completes a TCP handshake with the server's `port`.
    pub fn connects(&self, port: u16) -> bool {
        self.client.connects(SocketAddr::new(
            format!("10.{}.0.1", self.subnet).parse().unwrap(),
            port,
        ))
    }

    /// portreeve's nftables table as the kernel holds it now.
    pub fn live_table(&self) -> String {
        stdout(&run(self.srv.exec("nft").args([
            "-t",
            "list",
            "table",
            "inet",
            "portreeve",
        ])))
    }
}

/// A long-running `portreeve` (the agent), stopped by [`Daemon::stop`] and
/// killed if a test fails before that.
pub struct Daemon(pub Child);

impl Daemon {
    /// Sends SIGTERM, waits for a clean exit, and returns what the process
    /// wrote to standard error (which must be piped).
    pub fn stop(&mut self) -> String {
        self.stop_with(rustix::process::Signal::TERM)
    }

    /// [`Daemon::stop`] with another signal (SIGINT, as Ctrl-C sends).
    pub fn stop_with(&mut self, signal: rustix::process::Signal) -> String {
        let pid = rustix::process::Pid::from_raw(self.0.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "it did not stop on {signal:?}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut log = String::new();
        if let Some(mut err) = self.0.stderr.take() {
            err.read_to_string(&mut log).unwrap();
        }
        assert!(status.success(), "{status}: {log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the agent tests serve metrics, inside their namespace.
pub const METRICS: &str = "127.0.0.1:9465";

/// GET /metrics from inside `ns`, or `None` while nothing answers.
pub fn metrics(ns: &Netns) -> Option<String> {
    metrics_request(ns, "GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n")
}

/// Sends `request` to the metrics endpoint inside `ns` and reads the whole
/// reply, headers included, or `None` while nothing answers.
pub fn metrics_request(ns: &Netns, request: &str) -> Option<String> {
    ns.run(|| {
        let mut s =
            TcpStream::connect_timeout(&METRICS.parse().unwrap(), Duration::from_millis(200))
                .ok()?;
        s.write_all(request.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })
}

/// The value of the sample line starting with `series`, if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Polls the metrics until `f` finds what it wants; returns it and how long
/// it took.
pub fn wait_for<T>(
    ns: &Netns,
    limit: Duration,
    mut f: impl FnMut(&str) -> Option<T>,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(text) = metrics(ns)
            && let Some(v) = f(&text)
        {
            return (v, start.elapsed());
        }
        assert!(
            start.elapsed() < limit,
            "not seen within {limit:?}: {:?}",
            metrics(ns)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the agent in `ns` with state in `state`, reading every 500 ms
/// and serving metrics at [`METRICS`], and `extra` arguments.
pub fn start_agent(ns: &Netns, state: &Path, extra: &[&str]) -> Daemon {
    Daemon(agent_command(ns, state, extra).spawn().unwrap())
}

/// The command [`start_agent`] runs, for a test that adds to it (its
/// environment) before starting it.
pub fn agent_command(ns: &Netns, state: &Path, extra: &[&str]) -> Command {
    let mut cmd = ns.exec(env!("CARGO_BIN_EXE_portreeve"));
    cmd.args([
        "--state-dir",
        state.to_str().unwrap(),
        "--log-format",
        "json",
        "-v",
        "agent",
        "--interval",
        "500ms",
        "--metrics",
        METRICS,
    ])
    .args(extra)
    .env_remove("PORTREEVE_POLICY")
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// Whether the namespace tests can run here (root, iproute2, python3).
pub fn privileged(test: &str) -> bool {
    testkit::privileged(test, &["ip", "python3"])
}

/// `portreeve ARGS` inside a test namespace.
pub trait RunPortreeve {
    /// Runs the binary under test inside the namespace.
    fn portreeve(&self, args: &[&str]) -> Output;
}

impl RunPortreeve for Netns {
    fn portreeve(&self, args: &[&str]) -> Output {
        let mut cmd = self.exec(env!("CARGO_BIN_EXE_portreeve"));
        cmd.args(args)
            .env_remove("PORTREEVE_POLICY")
            .env_remove("PORTREEVE_STATE_DIR")
            .env("NO_COLOR", "1");
        run(&mut cmd)
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

/// One TCP flow of a NetFlow v5 record: source address and port,
/// destination address and port.
pub type V5Flow = ([u8; 4], u16, [u8; 4], u16);

/// A NetFlow v5 datagram carrying one TCP record per flow (3 packets, 180
/// bytes each; the header's clock a fixed instant in the past).
pub fn netflow_v5(flows: &[V5Flow]) -> Vec<u8> {
    let mut d = vec![0, 5];
    d.extend_from_slice(&(flows.len() as u16).to_be_bytes());
    d.extend_from_slice(&1_000u32.to_be_bytes()); // sys_uptime
    d.extend_from_slice(&1_765_000_000u32.to_be_bytes()); // unix_secs
    d.resize(24, 0);
    for &(src, sport, dst, dport) in flows {
        let mut r = vec![0u8; 48];
        r[0..4].copy_from_slice(&src);
        r[4..8].copy_from_slice(&dst);
        r[16..20].copy_from_slice(&3u32.to_be_bytes());
        r[20..24].copy_from_slice(&180u32.to_be_bytes());
        r[32..34].copy_from_slice(&sport.to_be_bytes());
        r[34..36].copy_from_slice(&dport.to_be_bytes());
        r[38] = 6;
        d.extend(r);
    }
    d
}

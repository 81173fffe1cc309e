//! Listeners whose holder is a go-between, traced to their real owner by
//! `portreeve inventory`: a process in a Docker container's cgroup, named
//! through the runtime's API; a `docker-proxy` publishing a container's
//! port; systemd holding a socket it passed to the service it started.
//!
//! The runtime is a real HTTP server on a unix socket, started by the test
//! and answering the Engine API requests with canned answers written for a
//! made-up container; the container is a real cgroup v2 directory named as
//! Docker's systemd driver names it; the proxy and systemd are real
//! processes that take those names (`comm`) from the file they were started
//! as, and hold real sockets in a test namespace.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Netns, assert_matches_schema, privileged, run, stderr, stdout};

/// The made-up container: its id, and what the runtime says about it.
const CONTAINER_ID: &str = "c0ffee5eed00000000000000000000000000000000000000000000000000b0a7";
const CONTAINER_IP: &str = "172.17.0.2";

/// `GET /containers/{id}/json`, as Docker answers it (the fields read and a
/// few around them).
fn inspect_answer() -> Value {
    json!({
        "Id": CONTAINER_ID,
        "Name": "/shop-web-1",
        "Image": "sha256:3b25b682ea82b2db3cc4fd48db818be788ee3f902ac7378090cf2624ec2442df",
        "State": {"Status": "running", "Pid": 4242},
        "Config": {
            "Image": "nginx:1.25",
            "Labels": {
                "com.docker.compose.project": "shop",
                "com.docker.compose.service": "web"
            }
        }
    })
}

/// `GET /containers/json`, as Docker answers it.
fn listing_answer() -> Value {
    json!([{
        "Id": CONTAINER_ID,
        "Names": ["/shop-web-1"],
        "Image": "nginx:1.25",
        "Labels": {"com.docker.compose.project": "shop"},
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
        "NetworkSettings": {"Networks": {"bridge": {
            "IPAddress": CONTAINER_IP, "GlobalIPv6Address": ""}}}
    }])
}

/// A Docker Engine API on a unix socket, answering inspect for
/// [`CONTAINER_ID`] and the container listing; 404 for anything else.
/// Records the request lines it was sent.
struct EngineApi {
    socket: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
}

impl EngineApi {
    fn start(dir: &Path) -> EngineApi {
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        // Serves until the test binary exits; the socket file goes with `dir`.
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                // The request line and headers, up to the blank line.
                let mut head = String::new();
                let mut reader = BufReader::new(&stream);
                while reader.read_line(&mut head).unwrap_or(0) > 2 {}
                let request = head.lines().next().unwrap_or_default().to_string();
                let path = request.split_whitespace().nth(1).unwrap_or_default();
                let (status, body) = if path == format!("/containers/{CONTAINER_ID}/json") {
                    ("200 OK", inspect_answer().to_string())
                } else if path == "/containers/json" {
                    ("200 OK", listing_answer().to_string())
                } else {
                    (
                        "404 Not Found",
                        r#"{"message":"No such container"}"#.to_string(),
                    )
                };
                seen.lock().unwrap().push(request);
                let _ = write!(
                    stream,
                    "HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        EngineApi { socket, requests }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A cgroup v2 directory `prt-test-PID/docker-ID.scope` (as Docker's
/// systemd cgroup driver names a container's), removed on drop once the
/// processes moved into it have exited.
struct ContainerCgroup {
    parent: PathBuf,
    scope: PathBuf,
}

impl ContainerCgroup {
    /// Under the host's cgroup v2 hierarchy (`/sys/fs/cgroup` on a unified
    /// host, `/sys/fs/cgroup/unified` on a hybrid one), if there is one.
    fn create() -> Option<ContainerCgroup> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let root = mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next() == Some("cgroup2")).then(|| PathBuf::from(mount_point))
        })?;
        let parent = root.join(format!("prt-test-{}", std::process::id()));
        let scope = parent.join(format!("docker-{CONTAINER_ID}.scope"));
        std::fs::create_dir_all(&scope).ok()?;
        Some(ContainerCgroup { parent, scope })
    }

    fn adopt(&self, pid: u32) {
        std::fs::write(self.scope.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        for dir in [&self.scope, &self.parent] {
            // An exited process leaves its cgroup a moment after wait().
            let deadline = Instant::now() + Duration::from_secs(2);
            while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A listener holder started as `NAME` (a symbolic link to a Python script,
/// so the kernel names the process `NAME`): `docker-proxy` listens on
/// `-host-ip`:`-host-port` as Docker's proxy does; `systemd` listens on
/// port 9090 and starts a `python3` server that inherits the socket as
/// descriptor 3, as systemd starts a socket-activated service.
const HOLDER: &str = r#"#!/usr/bin/python3
import json, os, socket, subprocess, sys
role = os.path.basename(sys.argv[0])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
pids = [os.getpid()]
if role == "docker-proxy":
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    s.bind((args["-host-ip"], int(args["-host-port"])))
    s.listen(16)
elif role == "systemd":
    s.bind(("0.0.0.0", 9090))
    s.listen(16)
    os.dup2(s.fileno(), 3)
    service = subprocess.Popen(
        ["python3", "-c", "import socket, sys; s = socket.socket(fileno=3); "
         "print('up', flush=True); sys.stdin.read()"],
        pass_fds=(3,), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={"LISTEN_FDS": "1"})
    service.stdout.readline()
    pids.append(service.pid)
print(json.dumps({"pids": pids}), flush=True)
sys.stdin.read()
"#;

/// A holder process; it and its service exit when dropped.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    pids: Vec<u32>,
}

impl Holder {
    fn start(ns: &Netns, dir: &Path, role: &str, args: &[&str]) -> Holder {
        let script = dir.join("holder.py");
        if !script.exists() {
            std::fs::write(&script, HOLDER).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let link = dir.join(role);
        std::os::unix::fs::symlink(&script, &link).unwrap();
        let mut child = ns
            .exec(&link)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{role} did not start ({e}): {line:?}"));
        let pids = v["pids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| u32::try_from(p.as_u64().unwrap()).unwrap())
            .collect();
        Holder {
            stdin: child.stdin.take(),
            child,
            pids,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // End of input ends the holder; its service's stdin closes with it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `portreeve inventory` in `ns` with `DOCKER_HOST=docker_host`: the JSON
/// document and the table.
fn inventory(ns: &Netns, docker_host: &str) -> (Value, String) {
    let bin = env!("CARGO_BIN_EXE_portreeve");
    let out = |format: &str| {
        let out = run(ns
            .exec(bin)
            .args(["inventory", "--format", format])
            .env("DOCKER_HOST", docker_host)
            .env("NO_COLOR", "1")
            .env_remove("PORTREEVE_POLICY")
            .env_remove("PORTREEVE_STATE_DIR"));
        assert!(out.status.success(), "inventory failed: {}", stderr(&out));
        stdout(&out)
    };
    let doc: Value = serde_json::from_str(&out("json")).unwrap();
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");
    (doc, out("table"))
}

/// The socket on `0.0.0.0:port`.
fn socket(doc: &Value, port: u16) -> &Value {
    doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == "0.0.0.0" && s["port"] == port)
        .unwrap_or_else(|| panic!("no 0.0.0.0:{port} in {doc:#}"))
}

/// The table row of `0.0.0.0:port`.
fn row(table: &str, port: u16) -> &str {
    let endpoint = format!(" 0.0.0.0:{port} ");
    table
        .lines()
        .find(|l| l.contains(&endpoint))
        .unwrap_or_else(|| panic!("no row for {endpoint:?} in:\n{table}"))
}

#[test]
fn a_listener_in_a_docker_container_is_named_by_the_runtime() {
    let test = "a_listener_in_a_docker_container_is_named_by_the_runtime";
    if !privileged(test) {
        return;
    }
    let cgroup = ContainerCgroup::create();
    if !support::testkit::skip_unless(test, cgroup.is_some(), "no writable cgroup v2 hierarchy") {
        return;
    }
    let cgroup = cgroup.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let api = EngineApi::start(dir.path());
    let ns = Netns::new();
    let server = ns.listen(&["tcp4:0.0.0.0:8080"], 0);
    cgroup.adopt(server.pids[0]);

    let (doc, table) = inventory(&ns, &api.docker_host());
    let p = &socket(&doc, 8080)["processes"][0];
    assert_eq!(p["container_id"], CONTAINER_ID, "{p:#}");
    assert_eq!(
        p["container"],
        json!({"runtime": "docker", "name": "shop-web-1", "image": "nginx:1.25",
               "project": "shop"})
    );
    assert!(
        row(&table, 8080).contains("container shop-web-1 (nginx:1.25, compose shop)"),
        "{table}"
    );
    assert!(
        api.requests()
            .contains(&format!("GET /containers/{CONTAINER_ID}/json HTTP/1.0")),
        "{:?}",
        api.requests()
    );

    // No runtime, or one that never answers: the id stays, nothing fails.
    let silent = UnixListener::bind(dir.path().join("silent.sock")).unwrap();
    for host in ["absent.sock", "silent.sock"] {
        let started = Instant::now();
        let (doc, table) = inventory(&ns, &format!("unix://{}", dir.path().join(host).display()));
        let p = &socket(&doc, 8080)["processes"][0];
        assert_eq!(p["container_id"], CONTAINER_ID);
        assert_eq!(p.get("container"), None, "{host}: {p:#}");
        assert!(
            row(&table, 8080).contains("container c0ffee5eed00"),
            "{table}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{host}: {:?}",
            started.elapsed()
        );
    }
    drop(silent);
    drop(server);
}

#[test]
fn a_docker_proxy_listener_belongs_to_the_container_it_publishes() {
    let test = "a_docker_proxy_listener_belongs_to_the_container_it_publishes";
    if !privileged(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    // The command line Docker's port mapper gives the proxy.
    let proxy = Holder::start(
        &ns,
        dir.path(),
        "docker-proxy",
        &[
            "-proto",
            "tcp",
            "-host-ip",
            "0.0.0.0",
            "-host-port",
            "8080",
            "-container-ip",
            CONTAINER_IP,
            "-container-port",
            "80",
        ],
    );

    // Without a runtime: its target, from its command line.
    let absent = format!("unix://{}", dir.path().join("absent.sock").display());
    let (doc, table) = inventory(&ns, &absent);
    let p = &socket(&doc, 8080)["processes"][0];
    assert_eq!(p["pid"], proxy.pids[0]);
    assert_eq!(p["name"], "docker-proxy");
    assert_eq!(
        p["proxy_for"],
        json!({"proxy": "docker-proxy", "address": CONTAINER_IP, "port": 80})
    );
    assert!(
        row(&table, 8080).contains("published by docker-proxy for 172.17.0.2:80"),
        "{table}"
    );

    // With Docker answering: the container at that address, and (from the
    // same API, at the socket DOCKER_HOST names) the container publishing
    // port 8080 by the DNAT rule Docker would add.
    let nft = run(ns.exec("nft").args([
        "add table ip nat; add chain ip nat DOCKER { type nat hook prerouting priority -100; }; \
         add rule ip nat DOCKER tcp dport 8080 dnat to 172.17.0.2:80",
    ]));
    assert!(nft.status.success(), "{}", stderr(&nft));
    let api = EngineApi::start(dir.path());
    let (doc, table) = inventory(&ns, &api.docker_host());
    assert_eq!(
        doc["published"][0]["container"],
        json!({"runtime": "docker", "name": "shop-web-1", "image": "nginx:1.25",
               "project": "shop"}),
        "{:#}",
        doc["published"]
    );
    let target = &socket(&doc, 8080)["processes"][0]["proxy_for"];
    assert_eq!(target["container_id"], CONTAINER_ID);
    assert_eq!(target["container"]["name"], "shop-web-1");
    assert!(
        row(&table, 8080)
            .contains("container shop-web-1 (nginx:1.25, compose shop), published by docker-proxy"),
        "{table}"
    );
    assert!(
        api.requests()
            .contains(&"GET /containers/json HTTP/1.0".to_string())
    );
}

#[test]
fn a_socket_activated_listener_names_the_service_before_systemd() {
    if !privileged("a_socket_activated_listener_names_the_service_before_systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new();
    let holder = Holder::start(&ns, dir.path(), "systemd", &[]);
    let [activator, service] = holder.pids[..] else {
        panic!("expected systemd and its service: {:?}", holder.pids)
    };

    let absent = format!("unix://{}", dir.path().join("absent.sock").display());
    let (doc, table) = inventory(&ns, &absent);
    let holders: Vec<(u64, &str, bool)> = socket(&doc, 9090)["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pid"].as_u64().unwrap(),
                p["name"].as_str().unwrap(),
                p.get("socket_activator") == Some(&json!(true)),
            )
        })
        .collect();
    assert_eq!(
        holders,
        [
            (u64::from(service), "python3", false),
            (u64::from(activator), "systemd", true)
        ]
    );
    assert!(
        row(&table, 9090).contains(&format!(" {service}/python3 +1 ")),
        "{table}"
    );
}

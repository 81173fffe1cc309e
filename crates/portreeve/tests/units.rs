//! The agent under systemd, without systemd running: the packaged unit
//! and its all-netns drop-in pass `systemd-analyze verify` without a word,
//! `systemd-analyze security --offline=yes` scores the unit at most 4.5
//! and sees CAP_SYS_ADMIN only with the drop-in, the unit's capabilities
//! are exactly what reading owners (and, with the drop-in, every
//! namespace) and nft need, and the agent speaks
//! `sd_notify` to a `$NOTIFY_SOCKET` as `Type=notify` with `WatchdogSec=`
//! expect: READY=1 once it serves a reading, WATCHDOG=1 after each
//! reading when asked for, STOPPING=1 on SIGTERM. The fleet server's
//! unit verifies as cleanly and scores at most 2.5 with no capability.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::systemd::{MAX_EXPOSURE, analyze, security};
use support::{Daemon, Netns, agent_command, metrics, run, sample, stderr, stdout, testkit};

/// The packaged unit, and its drop-in for `all_netns = true`.
const UNIT: &str = "portreeve-agent.service";
const DROP_IN: &str = "portreeve-agent.service.d/all-netns.conf";
/// The fleet server's unit.
const SERVER_UNIT: &str = "portreeve-server.service";

/// The highest exposure the server's unit may score: it needs no
/// capability, device or kernel interface, only IP and unix sockets.
const MAX_SERVER_EXPOSURE: f64 = 2.5;

/// Where the packaged unit expects the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/portreeve";

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

/// The agent's unit as installed in a directory of its own, with the
/// drop-in beside it if `all_netns`.
fn installed_units(all_netns: bool) -> tempfile::TempDir {
    let dir = installed(UNIT);
    if all_netns {
        let drop_in = dir.path().join(DROP_IN);
        std::fs::create_dir(drop_in.parent().unwrap()).unwrap();
        std::fs::copy(packaging().join(DROP_IN), drop_in).unwrap();
    }
    dir
}

/// The packaged unit `name` in a directory of its own. `ExecStart=` names
/// the binary under test instead of [`INSTALLED_BINARY`], which `verify`
/// requires to exist; nothing else changes.
fn installed(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(packaging().join(name)).unwrap();
    let exec = format!("ExecStart={INSTALLED_BINARY} ");
    assert!(
        unit.contains(&exec),
        "{name} does not start {INSTALLED_BINARY}"
    );
    let unit = unit.replace(
        &exec,
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_portreeve")),
    );
    std::fs::write(dir.path().join(name), unit).unwrap();
    dir
}

#[test]
fn the_server_unit_verifies_and_scores_at_most_2_5_without_capabilities() {
    let test = "the_server_unit_verifies_and_scores_at_most_2_5_without_capabilities";
    if !testkit::require_programs(test, &["systemd-analyze"]) {
        return;
    }
    let dir = installed(SERVER_UNIT);
    let unit = dir.path().join(SERVER_UNIT);
    let out = analyze(&["verify", "--man=no"], &unit);
    assert!(
        out.status.success() && stderr(&out).is_empty() && stdout(&out).is_empty(),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let (score, failed) = security(&unit);
    assert!(
        score <= MAX_SERVER_EXPOSURE,
        "exposure {score}: {failed:#?}"
    );
    let kept: Vec<&String> = failed
        .iter()
        .filter(|f| {
            f.starts_with("CapabilityBoundingSet=") || f.starts_with("AmbientCapabilities=")
        })
        .collect();
    assert!(kept.is_empty(), "capabilities kept: {kept:#?}");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\nExecStart=")
            && text.contains(" server --config /etc/portreeve/server.toml\n"),
        "{text}"
    );
}

#[test]
fn the_unit_and_its_drop_in_verify_without_warnings() {
    if !testkit::require_programs(
        "the_unit_and_its_drop_in_verify_without_warnings",
        &["systemd-analyze"],
    ) {
        return;
    }
    for all_netns in [false, true] {
        let units = installed_units(all_netns);
        // --man=no: the manual page is not looked up (man may be absent).
        let out = analyze(&["verify", "--man=no"], &units.path().join(UNIT));
        assert!(
            out.status.success() && stderr(&out).is_empty() && stdout(&out).is_empty(),
            "all_netns={all_netns}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn the_unit_is_hardened_and_admin_only_with_the_all_netns_drop_in() {
    if !testkit::require_programs(
        "the_unit_is_hardened_and_admin_only_with_the_all_netns_drop_in",
        &["systemd-analyze"],
    ) {
        return;
    }
    let admin = "CapabilityBoundingSet=~CAP_SYS_ADMIN".to_owned();
    let (score, failed) = security(&installed_units(false).path().join(UNIT));
    assert!(score <= MAX_EXPOSURE, "exposure {score}: {failed:#?}");
    assert!(!failed.contains(&admin), "{failed:#?}");
    for kept in [
        "CapabilityBoundingSet=~CAP_SYS_PTRACE",
        "CapabilityBoundingSet=~CAP_NET_ADMIN",
    ] {
        assert!(
            failed.iter().any(|f| f == kept),
            "{kept} dropped: {failed:#?}"
        );
    }
    let (score, failed) = security(&installed_units(true).path().join(UNIT));
    assert!(
        score <= MAX_EXPOSURE,
        "all_netns: exposure {score}: {failed:#?}"
    );
    assert!(failed.contains(&admin), "all_netns: {failed:#?}");
}

/// The notifications received on `socket` until `until` holds for them
/// (each datagram's lines, in order), or panics after `limit`.
fn receive_until(
    socket: &UnixDatagram,
    limit: Duration,
    mut until: impl FnMut(&[String]) -> bool,
) -> Vec<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while !until(&got) {
        assert!(start.elapsed() < limit, "within {limit:?} only {got:?}");
        if let Ok(n) = socket.recv(&mut buf) {
            let text = std::str::from_utf8(&buf[..n]).unwrap();
            got.extend(text.lines().map(str::to_owned));
        }
    }
    got
}

/// Starts the agent in `ns` reporting to `socket`, with
/// `WATCHDOG_USEC=watchdog_usec` if given.
fn start_notifying(ns: &Netns, state: &Path, socket: &Path, watchdog_usec: Option<&str>) -> Daemon {
    let mut cmd = agent_command(ns, state, &[]);
    cmd.env("NOTIFY_SOCKET", socket).env_remove("WATCHDOG_USEC");
    if let Some(usec) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", usec);
    }
    Daemon(cmd.spawn().unwrap())
}

#[test]
fn the_agent_notifies_ready_watchdog_and_stopping() {
    if !testkit::privileged(
        "the_agent_notifies_ready_watchdog_and_stopping",
        &["ip", "nft"],
    ) {
        return;
    }
    let ns = Netns::bare();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();

    // With a watchdog of 5 s (ten readings of 500 ms): ready once it
    // serves a reading, then a ping after every reading.
    let state = dir.path().join("state");
    let mut agent = start_notifying(&ns, &state, &path, Some("5000000"));
    let got = receive_until(&socket, Duration::from_secs(15), |g| {
        g.iter().any(|l| l == "READY=1")
    });
    let reading = metrics(&ns)
        .and_then(|t| sample(&t, "portreeve_agent_last_reading_timestamp_seconds"))
        .expect("ready before it serves metrics");
    assert!(reading > 0.0, "ready before the first reading");
    assert!(
        got.iter().all(|l| l == "WATCHDOG=1" || l == "READY=1"),
        "{got:?}"
    );
    let started = Instant::now();
    let pings = receive_until(&socket, Duration::from_secs(5), |g| {
        g.iter().filter(|l| *l == "WATCHDOG=1").count() >= 3
    });
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "three pings in {:?}: not one per 500 ms reading",
        started.elapsed()
    );
    assert!(pings.iter().all(|l| l == "WATCHDOG=1"), "{pings:?}");
    agent.stop();
    let last = receive_until(&socket, Duration::from_secs(2), |g| {
        g.iter().any(|l| l == "STOPPING=1")
    });
    assert!(!last.iter().any(|l| l == "READY=1"), "{last:?}");

    // Without WATCHDOG_USEC (WatchdogSec= unset) it never pings.
    let mut agent = start_notifying(&ns, &state, &path, None);
    receive_until(&socket, Duration::from_secs(15), |g| {
        g.iter().any(|l| l == "READY=1")
    });
    std::thread::sleep(Duration::from_millis(1200));
    agent.stop();
    let rest = receive_until(&socket, Duration::from_secs(2), |g| {
        g.iter().any(|l| l == "STOPPING=1")
    });
    assert_eq!(rest, ["STOPPING=1"], "pinged without a watchdog");
}

/// The capabilities a unit file and its drop-ins leave the agent, as
/// `setpriv` names them (`net_admin`).
fn capabilities(files: &[&str]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(packaging().join(f)).unwrap();
            text.lines()
                .filter_map(|l| l.strip_prefix("CapabilityBoundingSet="))
                .flat_map(|caps| caps.split_whitespace())
                .map(|c| c.strip_prefix("CAP_").unwrap().to_lowercase())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `program` in `ns` as root holding only `caps`, as the unit's
/// `CapabilityBoundingSet=` leaves it (and whatever it runs).
fn with_caps(ns: &Netns, caps: &[String], program: &str) -> Command {
    let bounding: String = caps.iter().map(|c| format!(",+{c}")).collect();
    let mut cmd = ns.exec("setpriv");
    cmd.arg(format!("--bounding-set=-all{bounding}"))
        .args(["--inh-caps=-all", program]);
    cmd
}

/// `portreeve inventory --format json ARGS` [`with_caps`].
fn inventory_with(ns: &Netns, caps: &[String], args: &[&str]) -> std::process::Output {
    run(with_caps(ns, caps, env!("CARGO_BIN_EXE_portreeve"))
        .args(["inventory", "--format", "json"])
        .args(args))
}

/// How `inventory` (with `caps`) tied the listener on `port` to its
/// process: `known`, or why not.
fn owner_status(ns: &Netns, caps: &[String], port: u16) -> String {
    let out = inventory_with(ns, caps, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let socket = doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["port"] == port)
        .unwrap_or_else(|| panic!("no listener on {port}: {doc}"));
    socket["owner_status"].as_str().unwrap().to_owned()
}

#[test]
fn the_units_capabilities_are_the_ones_reading_owners_and_namespaces_needs() {
    if !testkit::privileged(
        "the_units_capabilities_are_the_ones_reading_owners_and_namespaces_needs",
        &["ip", "setpriv", "nft"],
    ) {
        return;
    }
    let ns = Netns::bare();
    // A listener of another user (nobody), as most daemons run.
    let mut listener = ns.exec("setpriv");
    listener
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"])
        .arg("import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',7171))\ns.listen()\nprint('up',flush=True)\ntime.sleep(60)")
        .stdout(std::process::Stdio::piped());
    let mut listener = Daemon(listener.spawn().unwrap());
    let mut up = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(listener.0.stdout.take().unwrap()),
        &mut up,
    )
    .unwrap();
    assert_eq!(up, "up\n");

    let unit = capabilities(&[UNIT]);
    assert_eq!(owner_status(&ns, &unit, 7171), "known", "{unit:?}");
    // Each is needed: listing another user's /proc/PID/fd, and reading
    // its links (the kernel's ptrace read check).
    for needed in ["dac_read_search", "sys_ptrace"] {
        let fewer: Vec<String> = unit.iter().filter(|c| *c != needed).cloned().collect();
        assert_eq!(
            owner_status(&ns, &fewer, 7171),
            "permission_denied",
            "without {needed}"
        );
    }
    // nft, for portreeve's table and the usage sets (conntrack events
    // need the same).
    let nft = |caps: &[String]| run(with_caps(&ns, caps, "nft").args(["list", "ruleset"]));
    let out = nft(&unit);
    assert!(out.status.success(), "{}", stderr(&out));
    let fewer: Vec<String> = unit.iter().filter(|c| *c != "net_admin").cloned().collect();
    assert!(!nft(&fewer).status.success(), "nft without net_admin");

    // Joining other namespaces needs the drop-in's CAP_SYS_ADMIN.
    let out = inventory_with(&ns, &unit, &["--all-netns"]);
    assert!(
        !out.status.success(),
        "all namespaces read without CAP_SYS_ADMIN"
    );
    let out = inventory_with(&ns, &capabilities(&[UNIT, DROP_IN]), &["--all-netns"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

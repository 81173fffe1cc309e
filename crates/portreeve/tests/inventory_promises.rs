//! What docs/inventory.md promises beyond agreeing with `ss` (that is
//! inventory.rs): `--all-netns` finds a namespace that only a process holds
//! and names namespaces `host`, after `ip netns`, or `net:[INODE]`; the
//! table writes addresses and orders rows as documented.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;
use support::{Netns, RunPortreeve, assert_ok, run, stdout};

/// listen.py run by `unshare -n`: its sockets are in a namespace of its own
/// that no `/run/netns` entry names, as a container's would be. The
/// namespace lives as long as the process; dropping this ends both.
struct ProcessHeldNamespace {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The inode of the namespace's nsfs file.
    inode: u64,
    pid: u32,
}

impl ProcessHeldNamespace {
    fn new(spec: &str) -> ProcessHeldNamespace {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/listen.py");
        let mut child = Command::new("unshare")
            .args(["--net", "--", "python3"])
            .arg(script)
            .arg(spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start unshare");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let pid = ready["pids"][0].as_u64().unwrap() as u32;
        let inode = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .ino();
        ProcessHeldNamespace {
            stdin: child.stdin.take(),
            child,
            inode,
            pid,
        }
    }
}

impl Drop for ProcessHeldNamespace {
    fn drop(&mut self) {
        drop(self.stdin.take()); // listen.py exits when its input closes
        let _ = self.child.wait();
    }
}

/// From the test's own namespace, `--all-netns` finds a namespace held only
/// by a process, once, unnamed (`net:[INODE]` in the table); an `ip netns`
/// namespace under its name; and PID 1's namespace as `host`.
#[test]
fn all_netns_finds_process_held_namespaces_and_names_each_kind() {
    if !support::privileged("all_netns_finds_process_held_namespaces_and_names_each_kind")
        || !support::testkit::require_programs(
            "all_netns_finds_process_held_namespaces_and_names_each_kind",
            &["unshare"],
        )
    {
        return;
    }
    let named = Netns::bare();
    let _named_listener = named.listen(&["tcp4:0.0.0.0:7770"], 0);
    let held = ProcessHeldNamespace::new("tcp4:0.0.0.0:7771");
    assert!(
        std::fs::read_dir("/run/netns")
            .unwrap()
            .flatten()
            .all(|e| e.metadata().unwrap().ino() != held.inode),
        "the process-held namespace must have no /run/netns entry"
    );

    let out = run(support::portreeve().args(["inventory", "--all-netns", "--format", "json"]));
    assert_ok(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let namespaces = doc["namespaces"].as_array().unwrap();
    let entries =
        |inode: u64| -> Vec<&Value> { namespaces.iter().filter(|n| n["inode"] == inode).collect() };
    let sockets = doc["sockets"].as_array().unwrap();

    let held_entries = entries(held.inode);
    assert_eq!(held_entries.len(), 1, "found once: {namespaces:#?}");
    assert!(held_entries[0]["name"].is_null(), "{:#?}", held_entries[0]);
    let in_held: Vec<&Value> = sockets
        .iter()
        .filter(|s| s["netns"]["inode"] == held.inode)
        .collect();
    assert_eq!(in_held.len(), 1, "{in_held:#?}");
    assert_eq!(in_held[0]["port"], 7771);
    assert_eq!(in_held[0]["processes"][0]["pid"], held.pid);

    let named_inode = std::fs::metadata(format!("/run/netns/{}", named.name))
        .unwrap()
        .ino();
    assert_eq!(entries(named_inode)[0]["name"], named.name.as_str());
    // PID 1's namespace is `host` when its nsfs file is readable (in some
    // sandboxes it is not, even for root: then no namespace is `host`).
    match std::fs::metadata("/proc/1/ns/net") {
        Ok(pid1) => {
            let host = entries(pid1.ino());
            assert_eq!(host.len(), 1, "{namespaces:#?}");
            assert_eq!(host[0]["name"], "host");
        }
        Err(e) => assert!(
            namespaces.iter().all(|n| n["name"] != "host"),
            "/proc/1/ns/net is unreadable ({e}) yet a namespace is `host`: {namespaces:#?}"
        ),
    }

    let table = stdout(&run(support::portreeve().args(["inventory", "--all-netns"])));
    let row = |netns: &str, port: &str| {
        table
            .lines()
            .any(|l| l.split_whitespace().next() == Some(netns) && l.contains(port))
    };
    assert!(
        row(&format!("net:[{}]", held.inode), "0.0.0.0:7771"),
        "{table}"
    );
    assert!(row(&named.name, "0.0.0.0:7770"), "{table}");
}

/// The LOCAL ADDRESS column writes addresses as `ss` does, with an IPv6
/// device inside the brackets, and rows come TCP first, then by port, then
/// by address.
#[test]
fn table_writes_addresses_as_documented_in_the_documented_order() {
    if !support::privileged("table_writes_addresses_as_documented_in_the_documented_order") {
        return;
    }
    let ns = Netns::bare();
    let _listeners = ns.listen(
        &[
            "udp6:[::1]:53:dev=lo",
            "tcp6:[::]:8443:v6only=1",
            "tcp4:0.0.0.0:8080",
            "udp4:127.0.0.1:53:dev=lo",
            "tcp6:[::1]:80",
            "tcp4:127.0.0.1:80",
        ],
        0,
    );
    let out = ns.portreeve(&["inventory"]);
    assert_ok(&out);
    let table = stdout(&out);
    let rows: Vec<(&str, &str)> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            Some((fields.next()?, fields.next()?))
        })
        .filter(|(proto, _)| ["tcp", "udp"].contains(proto))
        .collect();
    assert_eq!(
        rows,
        [
            ("tcp", "127.0.0.1:80"),
            ("tcp", "[::1]:80"),
            ("tcp", "0.0.0.0:8080"),
            ("tcp", "[::]:8443"),
            ("udp", "127.0.0.1%lo:53"),
            ("udp", "[::1%lo]:53"),
        ],
        "{table}"
    );
    // The count is a footer, on standard error: standard output is rows.
    assert!(!table.contains("listening sockets"), "{table}");
    assert!(
        support::stderr(&out).contains("6 listening sockets (2 on non-loopback addresses)"),
        "{table}"
    );
}

//! `portreeve inventory` against `ss -tulnp` in namespaces built for the
//! test, with listeners owned by known processes.

mod support;

use serde_json::Value;
use support::{
    Netns, RunPortreeve, assert_matches_schema, normalise_inventory, parse_ss, privileged, run,
    stdout,
};

fn inventory_json(ns: &Netns, extra: &[&str]) -> Value {
    let mut args = vec!["inventory", "--format", "json"];
    args.extend_from_slice(extra);
    let out = ns.portreeve(&args);
    assert!(
        out.status.success(),
        "inventory failed: {}",
        support::stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("inventory JSON")
}

fn find<'a>(doc: &'a Value, proto: &str, address: &str, port: u16) -> &'a Value {
    doc["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == proto && s["address"] == address && s["port"] == port)
        .unwrap_or_else(|| panic!("no {proto} {address}:{port} in {doc:#}"))
}

#[test]
fn reports_exactly_what_ss_reports_with_the_same_owners() {
    if !privileged("reports_exactly_what_ss_reports_with_the_same_owners") {
        return;
    }
    let ns = Netns::new();
    let a = ns.listen(
        &[
            "tcp4:0.0.0.0:8080",
            "tcp4:127.0.0.1:8081",
            "tcp4:10.99.0.1:2222",
            "udp4:0.0.0.0:5353",
            "udp4:10.99.0.1:5000",
            "udp4:127.0.0.1:53:dev=lo",
        ],
        0,
    );
    let b = ns.listen(
        &[
            "tcp6:[::]:8443:v6only=0",
            "tcp6:[::]:8444:v6only=1",
            "tcp6:[::1]:9000",
            "tcp6:[2001:db8:99::1]:9443",
            "udp6:[::]:5355:v6only=1",
            "udp6:[::]:5356:v6only=0",
        ],
        2,
    );

    let doc = inventory_json(&ns, &[]);
    let ss = run(ns.exec("ss").args(["-H", "-tulnp"]));
    assert!(ss.status.success());
    let expected = parse_ss(&stdout(&ss));
    assert_eq!(
        expected.len(),
        12,
        "ss sees every test socket: {expected:#?}"
    );
    assert_eq!(
        normalise_inventory(&doc),
        expected,
        "portreeve and ss disagree"
    );

    // Owners: the right processes, all of them for shared sockets.
    assert_eq!(
        find(&doc, "tcp", "0.0.0.0", 8080)["processes"][0]["pid"],
        a.pids[0]
    );
    let shared = find(&doc, "tcp", "::", 8443);
    let pids = support::pids_of(shared);
    let mut want = b.pids.clone();
    want.sort_unstable();
    assert_eq!(pids, want, "every process sharing the socket is an owner");
    let p = &shared["processes"][0];
    assert_eq!(p["name"], "python3");
    assert!(p["exe"].as_str().unwrap().contains("python"), "{p}");
    assert!(
        p["cmdline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("listen.py"))
    );
    assert_eq!(shared["owner_status"], "known");
    assert_eq!(shared["user"], "root");
    assert_eq!(shared["uid"], 0);
    assert!(shared["inode"].as_u64().unwrap() > 0);

    // Scope and dual-stack.
    assert_eq!(shared["scope"], "wildcard");
    assert_eq!(shared["dual_stack"], true);
    assert_eq!(find(&doc, "tcp", "::", 8444)["dual_stack"], false);
    assert_eq!(find(&doc, "udp", "::", 5356)["dual_stack"], true);
    assert_eq!(find(&doc, "udp", "::", 5355)["dual_stack"], false);
    assert_eq!(find(&doc, "tcp", "127.0.0.1", 8081)["scope"], "loopback");
    assert_eq!(find(&doc, "tcp", "::1", 9000)["scope"], "loopback");
    assert_eq!(find(&doc, "tcp", "10.99.0.1", 2222)["scope"], "specific");
    assert_eq!(
        find(&doc, "tcp", "2001:db8:99::1", 9443)["scope"],
        "specific"
    );
    assert_eq!(find(&doc, "udp", "127.0.0.1", 53)["interface"], "lo");
    assert_eq!(find(&doc, "tcp", "0.0.0.0", 8080)["family"], "ipv4");
    assert_eq!(find(&doc, "tcp", "::", 8443)["family"], "ipv6");

    // The namespace is named as `ip netns` names it.
    assert!(
        doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["netns"]["name"] == ns.name.as_str())
    );
    assert_eq!(doc["kind"], "portreeve.inventory");
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");
}

#[test]
fn sockets_without_an_owner_are_kept_and_say_why() {
    if !privileged("sockets_without_an_owner_are_kept_and_say_why") {
        return;
    }
    let ns = Netns::new();
    // A VXLAN device makes the kernel itself bind a UDP socket: no process
    // holds it, as with NFS or WireGuard.
    ns.ip(&[
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        "10.99.0.1",
        "dev",
        "d0",
    ]);
    ns.ip(&["link", "set", "vx0", "up"]);
    let doc = inventory_json(&ns, &[]);
    let kernel = find(&doc, "udp", "0.0.0.0", 4789);
    let expected = if support::all_descriptors_readable() {
        "no_process"
    } else {
        "permission_denied"
    };
    assert_eq!(kernel["owner_status"], expected);
    assert_eq!(kernel["processes"].as_array().unwrap().len(), 0);
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");

    let table = stdout(&ns.portreeve(&["inventory"]));
    let line = table.lines().find(|l| l.contains(":4789")).unwrap();
    let shown = if expected == "no_process" {
        "- (no process)"
    } else {
        "? (permission denied)"
    };
    assert!(line.contains(shown), "{table}");
}

#[test]
fn unprivileged_runs_say_owners_are_hidden_and_refuse_all_netns() {
    if !privileged("unprivileged_runs_say_owners_are_hidden_and_refuse_all_netns") {
        return;
    }
    let ns = Netns::new();
    let _root_owned = ns.listen(&["tcp4:0.0.0.0:8080"], 0);
    let as_nobody = |args: &[&str]| {
        let mut cmd = ns.exec("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_portreeve"),
        ])
        .args(args)
        .env("NO_COLOR", "1")
        .env("HOME", "/nonexistent");
        run(&mut cmd)
    };
    let out = as_nobody(&["inventory", "--format", "json"]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let socket = find(&doc, "tcp", "0.0.0.0", 8080);
    assert_eq!(socket["owner_status"], "permission_denied", "{socket:#}");
    assert_eq!(socket["uid"], 0, "the kernel still tells the owning uid");
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");

    let out = as_nobody(&["inventory", "--all-netns"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        support::stderr(&out).contains("--all-netns needs root"),
        "{}",
        support::stderr(&out)
    );
}

#[test]
fn all_netns_reads_every_namespace_at_once() {
    if !privileged("all_netns_reads_every_namespace_at_once") {
        return;
    }
    let namespaces: Vec<Netns> = (0..3).map(|_| Netns::new()).collect();
    let listeners: Vec<_> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            ns.listen(
                &[
                    &format!("tcp4:0.0.0.0:{}", 7000 + i),
                    &format!("udp6:[::1]:{}", 7100 + i),
                ],
                0,
            )
        })
        .collect();

    // Run from the test's own namespace, not inside any of them.
    let out = run(support::portreeve().args(["inventory", "--all-netns", "--format", "json"]));
    assert!(out.status.success(), "{}", support::stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, (ns, l)) in namespaces.iter().zip(&listeners).enumerate() {
        let mine: Vec<&Value> = doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["netns"]["name"] == ns.name.as_str())
            .collect();
        let ports: Vec<u64> = mine.iter().map(|s| s["port"].as_u64().unwrap()).collect();
        assert_eq!(
            ports,
            [7000 + i as u64, 7100 + i as u64],
            "namespace {}: {mine:#?}",
            ns.name
        );
        assert!(mine.iter().all(|s| s["processes"][0]["pid"] == l.pids[0]));
        assert!(
            doc["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["name"] == ns.name.as_str())
        );
    }
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");

    // The table gains a NETNS column.
    let out = run(support::portreeve().args(["inventory", "--all-netns"]));
    assert!(out.status.success(), "{}", support::stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("NETNS"), "{table}");
    assert!(namespaces.iter().all(|ns| table.contains(&ns.name)));
}

/// `ip netns delete` unmounts a namespace before it unlinks its name, so a
/// walk can meet `/run/netns/NAME` as a plain file. That namespace is gone,
/// and the inventory of the others goes on.
#[test]
fn all_netns_skips_a_namespace_being_deleted() {
    if !privileged("all_netns_skips_a_namespace_being_deleted") {
        return;
    }
    let ns = Netns::new();
    let _listener = ns.listen(&["tcp4:0.0.0.0:7300"], 0);
    std::fs::create_dir_all("/run/netns").unwrap();
    let half_deleted =
        std::path::PathBuf::from(format!("/run/netns/prt-{}-deleting", std::process::id()));
    std::fs::write(&half_deleted, b"").unwrap();
    let out = support::portreeve()
        .args(["inventory", "--all-netns", "--format", "json"])
        .output()
        .unwrap();
    std::fs::remove_file(&half_deleted).unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["netns"]["name"] == ns.name.as_str() && s["port"] == 7300),
        "{doc:#}"
    );
}

//! A saved inventory of a made-up host and `check --inventory` of it: the
//! fixture of the tests that pin `check`'s output formats.

use std::process::Output;

use serde_json::{Value, json};

use super::{Home, assert_matches_schema};

/// A saved `portreeve.inventory` of host `web9` holding `sockets`, each
/// `(protocol, address, port, process name)`; an empty name means no
/// process is known (`no_process`).
pub fn inventory(sockets: &[(&str, &str, u16, &str)]) -> Value {
    let sockets: Vec<Value> = sockets
        .iter()
        .enumerate()
        .map(|(i, &(protocol, address, port, process))| {
            let v6 = address.contains(':');
            let scope = match address {
                "0.0.0.0" | "::" => "wildcard",
                a if a.starts_with("127.") || a == "::1" => "loopback",
                _ => "specific",
            };
            let processes = if process.is_empty() {
                json!([])
            } else {
                json!([{"pid": 1000 + i, "name": process, "exe": null, "cmdline": [],
                        "systemd_unit": null, "container_id": null}])
            };
            json!({
                "protocol": protocol, "family": if v6 { "ipv6" } else { "ipv4" },
                "address": address, "port": port, "interface": null, "scope": scope,
                "dual_stack": address == "::", "uid": 0, "user": "root", "inode": 5000 + i,
                "netns": {"inode": 4026531840u64, "name": "host"},
                "owner_status": if process.is_empty() { "no_process" } else { "known" },
                "processes": processes,
            })
        })
        .collect();
    let doc = json!({
        "kind": "portreeve.inventory", "schema_version": 1, "portreeve_version": "0.1.0",
        "host": "web9", "generated_at": "2026-11-29T05:13:33Z",
        "namespaces": [{"inode": 4026531840u64, "name": "host"}], "sockets": sockets,
    });
    assert_matches_schema(&doc, "docs/schema/inventory.v1.json");
    doc
}

/// `check --inventory` of `sockets` against `policy`, with `args`.
pub fn check_saved(
    home: &Home,
    policy: &str,
    sockets: &[(&str, &str, u16, &str)],
    args: &[&str],
) -> Output {
    let saved = home.file("inventory.json", inventory(sockets).to_string());
    let policy = home.file("policy.toml", policy);
    let mut all = vec![
        "check",
        "--inventory",
        saved.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    all.extend(args);
    home.run(&all)
}

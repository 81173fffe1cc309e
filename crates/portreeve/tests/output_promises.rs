//! What docs/json.md and docs/findings.md promise about the documents and
//! reports portreeve prints: the envelope of every `--format json` document,
//! no partial document from a failed run, the order of findings, how
//! `min_severity`, `--fail-on` and the Nagios state interact, colour, the
//! SARIF grading and the table of finding codes and names. Most of it runs
//! without privileges, judging saved inventories written here by hand.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::saved::{check_saved, inventory};
use support::{Home, Lab, assert_exit, assert_matches_schema, assert_ok, run, stderr, stdout};

const FINDINGS_MD: &str = include_str!("../../../docs/findings.md");
const JSON_MD: &str = include_str!("../../../docs/json.md");

/// The envelope fields docs/json.md gives every document.
const ENVELOPE: [&str; 5] = [
    "kind",
    "schema_version",
    "portreeve_version",
    "host",
    "generated_at",
];

/// The current UTC time as documents write it, to the second.
fn now_utc() -> String {
    stdout(&run(
        Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
    ))
    .trim()
    .to_string()
}

/// Whether `text` is an RFC 3339 UTC time to the second (`2026-11-29T05:13:33Z`).
fn is_utc_second(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Parses `out` as one JSON document and checks its envelope: `kind`, the
/// documented `schema_version`, this build's version, the host, and a
/// `generated_at` no earlier than `since`; and that `fields` are present.
#[track_caller]
fn assert_document(out: &Output, kind: &str, version: u64, fields: &[&str], since: &str) -> Value {
    // doctor exits 1 when a check is a problem (an owner a sandbox hides,
    // say); its document is whole either way.
    if !(kind == "portreeve.doctor" && out.status.code() == Some(1)) {
        assert_ok(out);
    }
    let doc: Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{kind}: not one JSON document: {e}\n{}", stdout(out)));
    for field in ENVELOPE.iter().chain(fields) {
        assert!(doc.get(field).is_some(), "{kind} lacks `{field}`: {doc:#}");
    }
    assert_eq!(doc["kind"], kind);
    assert_eq!(doc["schema_version"], version, "{kind}");
    assert_eq!(
        doc["portreeve_version"],
        env!("CARGO_PKG_VERSION"),
        "{kind}"
    );
    assert_eq!(
        doc["host"].as_str(),
        Some(stdout(&run(Command::new("uname").arg("-n"))).trim()),
        "{kind}"
    );
    let at = doc["generated_at"].as_str().unwrap();
    assert!(is_utc_second(at), "{kind}: generated_at {at:?}");
    assert!(
        at >= since,
        "{kind}: generated_at {at} before the run ({since})"
    );
    assert!(stdout(out).ends_with("}\n"), "{kind}: trailing newline");
    doc
}

/// A policy for the listing tests and the proposals.
const SMALL_POLICY: &str = r#"version = 1
[zones]
lan = ["10.0.0.0/8"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["lan"]
"#;

#[test]
fn every_json_document_without_a_firewall_carries_the_envelope() {
    let home = Home::new();
    let since = now_utc();
    // Something in each listing: two identities, a proposal (and so ledger
    // entries) and a one-line Zeek log. (The scan's document is checked
    // with the firewall listings, in namespaces.)
    assert_ok(&home.run(&["identity", "new", "ann"]));
    assert_ok(&home.run(&["identity", "new", "ben"]));
    let policy = home.file("small.toml", SMALL_POLICY);
    let policy = policy.to_str().unwrap();
    assert_ok(&home.run(&["propose", policy, "--reason", "r", "--identity", "ann"]));
    let zeek = home.file(
        "conn.log",
        "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n\
         1700000000.000\tC1\t198.51.100.7\t50000\t10.0.0.1\t443\ttcp\t2\t120\t1\t60\n",
    );

    // (arguments, kind, schema version, the fields docs/json.md lists)
    let documents: &[(&[&str], &str, u64, &[&str])] = &[
        (
            &["inventory"],
            "portreeve.inventory",
            1,
            &["namespaces", "sockets"],
        ),
        (
            &["check", "--policy", policy],
            "portreeve.check",
            1,
            &["policy", "summary", "findings"],
        ),
        (&["catalogue"], "portreeve.catalogue", 1, &["entries"]),
        (&["doctor"], "portreeve.doctor", 1, &["checks"]),
        (
            &["generations"],
            "portreeve.generations",
            1,
            &["current", "generations"],
        ),
        (&["ledger", "log"], "portreeve.ledger", 1, &["entries"]),
        (
            &["ledger", "verify"],
            "portreeve.ledger-verification",
            1,
            &["result"],
        ),
        (&["drift"], "portreeve.drift", 2, &["events"]),
        (
            &["lifecycle"],
            "portreeve.lifecycle",
            2,
            &["policy", "ports"],
        ),
        (&["reclaim"], "portreeve.lifecycle", 2, &["policy", "ports"]),
        (
            &["import", "zeek", zeek.to_str().unwrap(), "--no-store"],
            "portreeve.flows",
            1,
            &["aggregates", "totals"],
        ),
        (
            &["identity", "list"],
            "portreeve.identities",
            1,
            &["identities"],
        ),
        (&["proposals"], "portreeve.proposals", 1, &["proposals"]),
    ];
    let mut docs = BTreeMap::new();
    for (args, kind, version, fields) in documents {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let doc = assert_document(&home.run(&all), kind, *version, fields, &since);
        docs.insert(args.join(" "), doc);
    }

    assert_matches_schema(&docs["inventory"], "docs/schema/inventory.v1.json");
    assert_matches_schema(
        &docs[&format!("check --policy {policy}")],
        "docs/schema/check.v1.json",
    );
    // Version 2 of the lifecycle document: `key.protocol`, never `proto`.
    // (`reclaim` lists only the ports it would close or recommends closing:
    // none here.)
    let ports = docs["lifecycle"]["ports"].as_array().unwrap();
    assert!(!ports.is_empty(), "the baseline's ports are listed");
    for p in ports {
        assert!(
            p["key"]["protocol"].is_string() && p["key"].get("proto").is_none(),
            "{p}"
        );
    }
    // The small documents hold what they are about, with the documented fields.
    let first = |key: &str, list: &str| docs[key][list][0].clone();
    assert_eq!(
        docs["identity list"]["identities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let proposal = first("proposals", "proposals");
    for field in [
        "id",
        "proposer",
        "proposer_key",
        "created",
        "reason",
        "policy_origin",
        "policy_sha256",
        "base_sha256",
        "diff",
        "ledger_index",
        "approvals",
        "approved",
        "valid_approvals",
    ] {
        assert!(
            proposal.get(field).is_some(),
            "proposal lacks `{field}`: {proposal:#}"
        );
    }
    let verification = &docs["ledger verify"]["result"];
    assert_eq!(verification["verified"], true, "{verification}");
    for field in [
        "entries",
        "checkpoints",
        "latest_size",
        "latest_root",
        "unsigned_tail",
        "witnessed_size",
        "witnesses",
        "attested",
        "position",
        "checkpoint",
        "problem",
    ] {
        assert!(
            verification.get(field).is_some(),
            "result lacks `{field}`: {verification:#}"
        );
    }
    let entry = first("ledger log", "entries");
    for field in ["action", "actor", "host", "index", "object", "time", "v"] {
        assert!(
            entry.get(field).is_some(),
            "ledger entry lacks `{field}`: {entry:#}"
        );
    }
    let aggregate = first(
        &format!("import zeek {} --no-store", zeek.display()),
        "aggregates",
    );
    for field in [
        "server",
        "protocol",
        "port",
        "first_seen",
        "last_seen",
        "flows",
        "packets",
        "bytes",
        "clients",
        "clients_exact",
    ] {
        assert!(
            aggregate.get(field).is_some(),
            "aggregate lacks `{field}`: {aggregate:#}"
        );
    }
}

/// A policy with a grant rule, for the firewall listings.
const GRANT_POLICY: &str = r#"version = 1
[zones]
lab = ["10.61.0.0/24"]

[[rule]]
name = "web"
port = 8080
protocol = "tcp"
zones = ["lab"]

[[rule]]
name = "debugger"
port = 9229
protocol = "tcp"
zones = ["lab"]
grant = { max_ttl = "1h" }
"#;

#[test]
fn firewall_listings_carry_the_envelope() {
    if !support::privileged("firewall_listings_carry_the_envelope") {
        return;
    }
    let lab = Lab::new(61, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:9229"]);
    let since = now_utc();
    let policy = lab.home.file("grant.toml", GRANT_POLICY);
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    lab.ok(&[
        "grant",
        "9229/tcp",
        "--from",
        "10.61.0.2",
        "--ttl",
        "10m",
        "--reason",
        "debug",
    ]);
    assert!(lab.connects(8080), "the allowed port connects");
    let scan = assert_document(
        &lab.home.run_in(
            &lab.client,
            &["scan", "10.61.0.1", "--ports", "8080", "--format", "json"],
        ),
        "portreeve.scan",
        1,
        &["scanner_args", "started", "finished", "scans", "hosts"],
        &since,
    );
    assert_eq!(scan["hosts"][0]["ports"][0]["state"], "open", "{scan:#}");

    let listing = |command: &str| lab.portreeve(&[command, "--format", "json"]);
    let generations = assert_document(
        &listing("generations"),
        "portreeve.generations",
        1,
        &["current", "generations"],
        &since,
    );
    assert_eq!(generations["current"], 1, "{generations:#}");
    let generation = &generations["generations"][0];
    for field in [
        "generation",
        "created_at",
        "actor",
        "policy",
        "sha256",
        "status",
        "confirm_deadline",
        "previous",
        "restores",
        "policy_digest",
        "approval",
    ] {
        assert!(
            generation.get(field).is_some(),
            "generation lacks `{field}`: {generation:#}"
        );
    }
    let grants = assert_document(
        &listing("grants"),
        "portreeve.grants",
        1,
        &["grants"],
        &since,
    );
    let grant = &grants["grants"][0];
    for field in [
        "key",
        "seconds_left",
        "ttl_seconds",
        "rule",
        "actor",
        "reason",
    ] {
        assert!(
            grant.get(field).is_some(),
            "grant lacks `{field}`: {grant:#}"
        );
    }
    assert_eq!(grant["key"], "10.61.0.2 . tcp . 9229");
    let usage = assert_document(&listing("usage"), "portreeve.usage", 1, &["ports"], &since);
    let used = usage["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 8080)
        .unwrap_or_else(|| panic!("8080 was used: {usage:#}"));
    for field in [
        "protocol",
        "port",
        "last_access",
        "idle_seconds",
        "connections",
    ] {
        assert!(
            used.get(field).is_some(),
            "usage row lacks `{field}`: {used:#}"
        );
    }
}

/// Standard output of a run that must fail with exit status 3.
#[track_caller]
fn failed_run_output(out: &Output, says: &str) -> String {
    assert_exit(out, 3, says);
    stdout(out)
}

#[test]
fn a_failed_run_writes_no_partial_document() {
    // A store that is not a database: the listing fails after the envelope
    // could have been written.
    let home = Home::new();
    std::fs::create_dir_all(home.state()).unwrap();
    std::fs::write(home.state().join("agent.db"), "not a database\n").unwrap();
    for command in ["drift", "lifecycle"] {
        let out = home.run(&[command, "--format", "json"]);
        assert_eq!(failed_run_output(&out, "agent store"), "", "{command}");
    }
    // Namespaces that cannot be entered (without root): nothing on stdout.
    if support::testkit::privileged(
        "a_failed_run_writes_no_partial_document (as nobody)",
        &["setpriv"],
    ) {
        for command in ["inventory", "check"] {
            let out = run(Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_portreeve"))
                .args(["--state-dir", home.path().join("nobody").to_str().unwrap()])
                .args([command, "--all-netns", "--format", "json"])
                .env_remove("PORTREEVE_POLICY")
                .env("NO_COLOR", "1"));
            assert_eq!(
                failed_run_output(&out, "cannot enter network namespace"),
                "",
                "{command}"
            );
        }
    }
}

/// A document that could not be written is a failure (exit 3, said on
/// standard error), whatever the command: `> /dev/full` loses it. A reader
/// that closes the pipe early (`| head`) chose to, and is not one.
#[test]
fn a_document_that_cannot_be_written_is_exit_3_and_a_closed_pipe_is_not() {
    let home = Home::new();
    for args in [
        &["catalogue"][..],
        &["catalogue", "--format", "json"],
        &["inventory", "--format", "json"],
        &["generations"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = run(home.command(support::portreeve()).args(args).stdout(full));
        assert!(out.stdout.is_empty());
        assert_exit(
            &out,
            3,
            "portreeve: error: standard output: No space left on device",
        );
    }
    let mut child = home
        .command(support::portreeve())
        .args(["catalogue", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_saved_inventory_cannot_be_combined_with_all_netns() {
    let home = Home::new();
    let saved = home.file("inv.json", inventory(&[]).to_string());
    let out = home.run(&[
        "check",
        "--inventory",
        saved.to_str().unwrap(),
        "--all-netns",
    ]);
    assert_exit(&out, 2, "--all-netns");
    assert!(stderr(&out).contains("--inventory"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

/// The findings of a `check --format json` run, as (id, message) pairs.
fn findings(out: &Output) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)));
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().into(),
                f["message"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn findings_of_one_severity_come_by_code_then_port_and_address_or_rule_name() {
    let home = Home::new();
    // Three stale rules (PR006, low) listed out of name order, and four
    // unallowed listeners on unknown ports (PR001, medium) out of order.
    let policy = r#"version = 1
[zones]
lan = ["10.0.0.0/8"]

[[rule]]
name = "zeta"
port = 41000
protocol = "tcp"
zones = ["lan"]

[[rule]]
name = "alpha"
port = 41001
protocol = "tcp"
zones = ["lan"]

[[rule]]
name = "mid"
port = 41002
protocol = "tcp"
zones = ["lan"]
"#;
    let sockets = [
        ("tcp", "0.0.0.0", 40002, "d"),
        ("tcp", "10.0.0.9", 40001, "c"),
        ("tcp", "10.0.0.5", 40000, "a"),
        ("tcp", "10.0.0.1", 40001, "b"),
    ];
    let out = check_saved(&home, policy, &sockets, &["--format", "json"]);
    assert_ok(&out);
    let got: Vec<String> = findings(&out)
        .into_iter()
        .map(|(id, message)| format!("{id} {}", message.split(' ').next().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            "PR001 10.0.0.5:40000/tcp",
            "PR001 10.0.0.1:40001/tcp",
            "PR001 10.0.0.9:40001/tcp",
            "PR001 0.0.0.0:40002/tcp",
            "PR006 rule",
            "PR006 rule",
            "PR006 rule",
        ]
    );
    let rules: Vec<String> = findings(&out)
        .into_iter()
        .filter(|(id, _)| id == "PR006")
        .map(|(_, message)| message.split('`').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(rules, ["alpha", "mid", "zeta"]);
}

/// A medium finding (PR001 on an unknown port) and nothing else, with
/// `min_severity` set to `min`.
fn medium_only(min: &str) -> String {
    format!(
        "version = 1\n[defaults]\nmin_severity = \"{min}\"\nunknown_port_severity = \"medium\"\n"
    )
}

#[test]
fn min_severity_decides_fail_on_and_the_nagios_state_and_nagios_ignores_fail_on() {
    let home = Home::new();
    let medium = [("tcp", "0.0.0.0", 40000, "svc")];
    let exit = |policy: &str, sockets: &[(&str, &str, u16, &str)], args: &[&str]| {
        check_saved(&home, policy, sockets, args).status.code()
    };
    // Reported: --fail-on medium fails, Nagios warns.
    assert_eq!(
        exit(&medium_only("info"), &medium, &["--fail-on", "medium"]),
        Some(1)
    );
    let nagios = check_saved(
        &home,
        &medium_only("info"),
        &medium,
        &["--format", "nagios"],
    );
    assert_exit(&nagios, 1, "PORTREEVE WARNING - ");
    // Dropped by min_severity: in no output, no failure, Nagios OK.
    let dropped = check_saved(
        &home,
        &medium_only("high"),
        &medium,
        &["--format", "json", "--fail-on", "low"],
    );
    assert_eq!(dropped.status.code(), Some(0), "{}", stdout(&dropped));
    assert_eq!(findings(&dropped), []);
    let summary: Value =
        serde_json::from_str::<Value>(&stdout(&dropped)).unwrap()["summary"].clone();
    assert_eq!(summary["findings"], 0);
    assert_eq!(summary["by_severity"]["medium"], 0);
    assert_eq!(summary["highest"], Value::Null);
    let nagios = check_saved(
        &home,
        &medium_only("high"),
        &medium,
        &["--format", "nagios", "--fail-on", "low"],
    );
    assert_exit(&nagios, 0, "PORTREEVE OK - ");
    assert!(
        stdout(&nagios).contains("findings=0;"),
        "{}",
        stdout(&nagios)
    );
    // Nagios ignores --fail-on both ways: the state is the exit status.
    for fail_on in ["never", "critical", "info"] {
        let nagios = check_saved(
            &home,
            &medium_only("info"),
            &medium,
            &["--format", "nagios", "--fail-on", fail_on],
        );
        assert_exit(&nagios, 1, "PORTREEVE WARNING - ");
    }
    let telnet = [("tcp", "0.0.0.0", 23, "inetd")];
    let nagios = check_saved(
        &home,
        &medium_only("info"),
        &telnet,
        &["--format", "nagios", "--fail-on", "never"],
    );
    assert_exit(&nagios, 2, "PORTREEVE CRITICAL - ");
    assert_eq!(
        exit(&medium_only("info"), &telnet, &["--fail-on", "never"]),
        Some(0)
    );
}

#[test]
fn nagios_says_unknown_for_an_invalid_policy() {
    let home = Home::new();
    let policy = "version = 1\n[zones]\nlan = [\"192.0.2.10/24\"]\n";
    let out = check_saved(&home, policy, &[], &["--format", "nagios"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("PORTREEVE UNKNOWN - ")
            && line.contains("policy.toml:3:")
            && line.contains("host bits"),
        "{line}"
    );
    assert!(stderr(&out).contains("host bits"), "{}", stderr(&out));
}

#[test]
fn a_process_name_is_compared_as_the_kernel_cuts_it_to_15_bytes() {
    let home = Home::new();
    let policy = r#"version = 1
[zones]
lan = ["10.0.0.0/8"]

[[rule]]
name = "node-exporter"
ports = [9100, 9101]
protocol = "tcp"
zones = ["lan"]
service = { process = "prometheus-node-exporter" }
"#;
    // comm holds at most 15 bytes: `prometheus-node` is the exporter; one
    // byte fewer is another process.
    let sockets = [
        ("tcp", "10.0.0.1", 9100, "prometheus-node"),
        ("tcp", "10.0.0.1", 9101, "prometheus-nod"),
    ];
    let out = check_saved(&home, policy, &sockets, &["--format", "json"]);
    assert_ok(&out);
    let got = findings(&out);
    assert!(!got.iter().any(|(_, m)| m.contains(":9100/")), "{got:?}");
    assert!(
        got.iter().any(|(id, m)| id == "PR001"
            && m.starts_with("10.0.0.1:9101/tcp is held by a service its rule does not name")),
        "{got:?}"
    );
}

/// Table output of `check --inventory FILE` of a Redis nobody allowed, on a
/// 50-column pseudo-terminal (`script`), with `env` set and NO_COLOR unset
/// unless `env` sets it.
fn table_on_terminal(home: &Home, env: &[(&str, &str)]) -> String {
    let saved = home.file(
        "redis.json",
        inventory(&[("tcp", "0.0.0.0", 6379, "")]).to_string(),
    );
    let command = format!(
        "stty cols 50; exec {} --state-dir {} check --inventory {}",
        env!("CARGO_BIN_EXE_portreeve"),
        home.state().display(),
        saved.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm")
        .envs(env.iter().copied());
    let out = run(&mut cmd);
    assert_ok(&out);
    stdout(&out)
}

/// The same, piped.
fn table_piped(home: &Home, env: &[(&str, &str)]) -> String {
    let saved = home.file(
        "redis.json",
        inventory(&[("tcp", "0.0.0.0", 6379, "")]).to_string(),
    );
    let mut cmd = home.command(Command::new(env!("CARGO_BIN_EXE_portreeve")));
    cmd.args(["check", "--inventory", saved.to_str().unwrap()])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("COLUMNS", "50")
        .envs(env.iter().copied());
    let out = run(&mut cmd);
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn colour_follows_no_color_clicolor_and_clicolor_force_and_only_terminals_wrap() {
    let home = Home::new();
    let coloured = |text: &str| text.contains('\x1b');
    let finding_line = |text: &str| {
        text.lines()
            .any(|l| l.contains("PR001") && l.contains("listens but no rule allows it — Redis"))
    };
    // Piped: no colour unless forced, NO_COLOR beats the force, never wrapped.
    let piped = table_piped(&home, &[]);
    assert!(!coloured(&piped) && finding_line(&piped), "{piped}");
    assert!(coloured(&table_piped(&home, &[("CLICOLOR_FORCE", "1")])));
    assert!(!coloured(&table_piped(
        &home,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    if !support::testkit::require_programs(
        "colour_follows_no_color_clicolor_and_clicolor_force_and_only_terminals_wrap",
        &["script", "stty"],
    ) {
        return;
    }
    // On a terminal: colour unless NO_COLOR (non-empty) or CLICOLOR=0; rows
    // wrap to its 50 columns.
    let tty = table_on_terminal(&home, &[]);
    assert!(coloured(&tty), "{tty:?}");
    assert!(
        !finding_line(&tty),
        "the long row wraps on a terminal: {tty}"
    );
    assert!(!coloured(&table_on_terminal(&home, &[("NO_COLOR", "1")])));
    assert!(!coloured(&table_on_terminal(&home, &[("CLICOLOR", "0")])));
    assert!(
        coloured(&table_on_terminal(&home, &[("NO_COLOR", "")])),
        "an empty NO_COLOR is unset"
    );
}

/// The rows of the markdown table in `doc` whose first cell starts with
/// `first`, as trimmed cells without backticks or quotes.
fn doc_rows(doc: &str, first: &str) -> Vec<Vec<String>> {
    doc.lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&format!("| {first}")))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

/// The SARIF report of findings of every severity: telnet (critical),
/// PostgreSQL unallowed (high), an unknown port (medium), a stale rule
/// (low) and HTTPS unallowed (info).
fn sarif_of_every_severity(home: &Home) -> Value {
    let policy = "version = 1\n[zones]\nlan = [\"10.0.0.0/8\"]\n\n[[rule]]\nname = \"gone\"\nport = 41000\nprotocol = \"tcp\"\nzones = [\"lan\"]\n";
    let sockets = [
        ("tcp", "0.0.0.0", 23, "inetd"),
        ("tcp", "0.0.0.0", 5432, "postgres"),
        ("tcp", "0.0.0.0", 40000, "svc"),
        ("tcp", "0.0.0.0", 443, "nginx"),
    ];
    let out = check_saved(home, policy, &sockets, &["--format", "sarif"]);
    assert_ok(&out);
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn sarif_grades_each_kind_and_each_result_as_the_doc_tables_say() {
    let home = Home::new();
    let sarif = sarif_of_every_severity(&home);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    // Per kind: docs/findings.md's table of level and security-severity.
    let table = doc_rows(FINDINGS_MD, "PR0");
    let graded: BTreeMap<String, (String, String)> = table
        .iter()
        .filter(|row| row.len() == 4 && row[0].contains(','))
        .flat_map(|row| {
            row[0]
                .split(", ")
                .map(|kind| (kind.to_string(), (row[2].clone(), row[3].clone())))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(graded.len(), 24, "the table grades every kind: {graded:?}");
    assert_eq!(rules.len(), 24);
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let (level, security) = &graded[id];
        assert_eq!(
            rule["defaultConfiguration"]["level"],
            level.as_str(),
            "{rule}"
        );
        assert_eq!(
            rule["properties"]["security-severity"],
            security.as_str(),
            "{rule}"
        );
        assert_eq!(
            rule["properties"]["tags"],
            json!(["security", "network", "ports"]),
            "{rule}"
        );
    }
    // Per result: from the finding's own severity.
    assert!(FINDINGS_MD.contains(
        "`security-severity` (from the finding's own severity: `\"9.5\"`, `\"8.0\"`, `\"5.5\"`, `\"3.0\"`, `\"0.0\"` for critical to info)"
    ));
    let by_severity = BTreeMap::from([
        ("critical", ("9.5", "error")),
        ("high", ("8.0", "error")),
        ("medium", ("5.5", "warning")),
        ("low", ("3.0", "note")),
        ("info", ("0.0", "note")),
    ]);
    let mut seen = std::collections::BTreeSet::new();
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        let severity = result["properties"]["severity"].as_str().unwrap();
        let (security, level) = by_severity[severity];
        assert_eq!(
            result["properties"]["security-severity"], security,
            "{result}"
        );
        assert_eq!(result["level"], level, "{result}");
        seen.insert(severity.to_string());
    }
    assert_eq!(seen.len(), 5, "a result of every severity: {seen:?}");
}

#[test]
fn finding_codes_and_names_are_the_documented_pairs() {
    // docs/findings.md's table of kinds …
    let documented: Vec<(String, String)> = doc_rows(FINDINGS_MD, "PR0")
        .into_iter()
        .filter(|row| row.len() == 3)
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    assert_eq!(documented.len(), 24, "{documented:?}");
    // … is what portreeve reports: the SARIF rules list every kind.
    let sarif = sarif_of_every_severity(&Home::new());
    let reported: Vec<(String, String)> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(reported, documented);
    // docs/json.md names the same kinds.
    let json_names = doc_rows(JSON_MD, "`name`")
        .into_iter()
        .find(|row| row[2].contains("listener-not-allowed"))
        .expect("json.md's `name` row of a finding")[2]
        .clone();
    for (code, name) in &documented {
        assert!(
            json_names.contains(&format!("`{name}`")),
            "json.md lacks {name}"
        );
        let ids = doc_rows(JSON_MD, "`id`")
            .into_iter()
            .find(|row| row[2].contains("PR001"))
            .unwrap()[2]
            .clone();
        assert!(
            code.as_str() <= ids.split("` … `").nth(1).unwrap().get(..5).unwrap(),
            "json.md's id range stops before {code}: {ids}"
        );
    }
}

#[test]
fn policy_init_killed_while_writing_leaves_no_half_policy() {
    if !support::testkit::require_programs(
        "policy_init_killed_while_writing_leaves_no_half_policy",
        &["prlimit"],
    ) {
        return;
    }
    let home = Home::new();
    let old = home.file("kept.toml", "version = 1\n");
    let fresh = home.path().join("fresh.toml");
    for (target, force) in [(&old, true), (&fresh, false)] {
        // A file-size limit of 512 bytes: the kernel kills the process
        // (SIGXFSZ) part-way through writing the starter.
        // The state directory through the environment: `Home::command`
        // would put `--state-dir` before the program, for prlimit.
        let mut cmd = Command::new("prlimit");
        cmd.args(["--fsize=512", "--", env!("CARGO_BIN_EXE_portreeve")])
            .args(["policy", "init", "-o", target.to_str().unwrap()])
            .args(force.then_some("--force"))
            .env("PORTREEVE_STATE_DIR", home.state())
            .env("NO_COLOR", "1");
        let out = run(&mut cmd);
        assert!(
            !out.status.success(),
            "the write was cut short: {}",
            stderr(&out)
        );
        if force {
            assert_eq!(std::fs::read_to_string(target).unwrap(), "version = 1\n");
        } else {
            assert!(!target.exists(), "no half-written {}", target.display());
        }
    }
}

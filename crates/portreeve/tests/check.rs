//! `portreeve check` end to end: listeners in a namespace, a policy that
//! provokes every finding kind, and each output format checked against what
//! it promises (JSON and SARIF against their schemas).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::{
    Netns, RunPortreeve, assert_matches_schema, assert_valid, privileged, run, stderr, stdout,
};

/// A policy that, against the listeners of [`busy_namespace`], yields every
/// finding kind. `{soon}` is replaced by a date five days from now.
const POLICY: &str = r#"version = 1

[zones]
public = ["0.0.0.0/0", "::/0"]
private = ["10.0.0.0/8"]
v6 = ["2001:db8::/32"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["public"]
service = { process = "python3" }

[[rule]]
name = "api"
port = 8443
protocol = "tcp"
zones = ["v6"]

[[rule]]
name = "db"
port = 5432
protocol = "tcp"
zones = ["private"]
service = { process = "postgres" }

[[rule]]
name = "search"
port = 9200
protocol = "tcp"
zones = ["private"]

[[rule]]
name = "old"
port = 8001
protocol = "tcp"
zones = ["private"]
approved_by = "alice"
expires = 2020-01-01

[[rule]]
name = "soon"
port = 8002
protocol = "tcp"
zones = ["private"]
expires = {soon}

[[rule]]
name = "legacy"
port = 9999
protocol = "tcp"
zones = ["private"]

[[rule]]
name = "overlay"
port = 4789
protocol = "udp"
zones = ["private"]
service = { process = "vxlan-agent" }
"#;

/// What the policy must yield: (finding id, port, or rule name for rule-level
/// findings).
fn expected() -> BTreeSet<(String, String)> {
    [
        ("PR002", "23"),     // banned telnet
        ("PR001", "6379"),   // redis, no rule
        ("PR001", "5432"),   // rule names another service
        ("PR003", "9200"),   // allowed but risky on a wildcard
        ("PR003", "4789"),   // VXLAN on a wildcard
        ("PR004", "old"),    // expired approval
        ("PR005", "soon"),   // expiring approval
        ("PR006", "legacy"), // nothing listens
        ("PR007", "8443"),   // dual-stack under an IPv6-only rule
        ("PR008", "4789"),   // kernel socket, rule names a service
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

struct Fixture {
    ns: Netns,
    _listeners: support::testkit::Listeners,
    _dir: tempfile::TempDir,
    policy: PathBuf,
    policy_text: String,
}

fn busy_namespace() -> Fixture {
    let ns = Netns::new();
    let listeners = ns.listen(
        &[
            "tcp4:0.0.0.0:22",
            "tcp4:0.0.0.0:23",
            "tcp4:0.0.0.0:6379",
            "tcp6:[::]:8443:v6only=0",
            "tcp4:10.99.0.1:5432",
            "tcp4:0.0.0.0:9200",
            "tcp4:10.99.0.1:8001",
            "tcp4:10.99.0.1:8002",
            "tcp4:127.0.0.1:9100",
        ],
        0,
    );
    // The kernel's own VXLAN socket: a listener with no owning process.
    ns.ip(&[
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "7",
        "dstport",
        "4789",
        "local",
        "10.99.0.1",
        "dev",
        "d0",
    ]);
    ns.ip(&["link", "set", "vx0", "up"]);
    let soon = jiff::ZonedDateTime::now()
        .date()
        .checked_add(jiff::Span::new().days(5))
        .unwrap();
    let policy_text = POLICY.replace("{soon}", &soon.to_string());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, &policy_text).unwrap();
    Fixture {
        ns,
        _listeners: listeners,
        _dir: dir,
        policy,
        policy_text,
    }
}

impl Fixture {
    fn check(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["check", "--policy", self.policy.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ns.portreeve(&args)
    }

    /// 1-based line of the `[[rule]]` header of rule `name`.
    fn rule_line(&self, name: &str) -> u64 {
        let lines: Vec<&str> = self.policy_text.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == format!("name = \"{name}\""))
            .unwrap();
        assert_eq!(lines[at - 1], "[[rule]]");
        at as u64 // the header is the line before, and lines are 1-based
    }
}

fn finding_keys(findings: &[Value]) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .map(|f| {
            let id = f["id"].as_str().unwrap().to_string();
            let place = match f["socket"]["port"].as_u64() {
                Some(p) => p.to_string(),
                None => f["rule"]["name"].as_str().unwrap().to_string(),
            };
            (id, place)
        })
        .collect()
}

#[test]
fn every_finding_kind_in_every_format() {
    if !privileged("every_finding_kind_in_every_format") {
        return;
    }
    let fx = busy_namespace();

    // JSON: the documented schema, and exactly the expected findings.
    let out = fx.check(&["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no --fail-on means exit 0: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_matches_schema(&doc, "docs/schema/check.v1.json");
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(finding_keys(findings), expected(), "{doc:#}");
    assert_eq!(
        findings.len(),
        expected().len(),
        "one finding per expected key"
    );
    assert_eq!(doc["summary"]["findings"], findings.len());
    assert_eq!(doc["summary"]["highest"], "critical");
    assert_eq!(doc["summary"]["listeners"], 10);
    assert_eq!(doc["summary"]["exposed"], 9);
    let old = findings.iter().find(|f| f["id"] == "PR004").unwrap();
    assert_eq!(old["rule"]["location"]["line"], fx.rule_line("old"));

    // SARIF: valid 2.1.0, one result per finding, rule locations in the file.
    let out = fx.check(&["--format", "sarif"]);
    assert!(out.status.success());
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema = support::sarif::schema();
    assert_valid(&sarif, &schema, "the SARIF 2.1.0 schema");
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = "severe".into();
    assert!(
        !jsonschema::is_valid(&schema, &broken),
        "the schema check has teeth"
    );
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let mut rule_ids: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    rule_ids.sort_unstable();
    let mut want: Vec<String> = expected().into_iter().map(|(id, _)| id).collect();
    want.sort();
    assert_eq!(rule_ids, want);
    let expired = results.iter().find(|r| r["ruleId"] == "PR004").unwrap();
    let region = &expired["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], fx.rule_line("old"));
    assert_eq!(expired["level"], "error");
    let redis = results
        .iter()
        .find(|r| r["ruleId"] == "PR001" && r["message"]["text"].as_str().unwrap().contains("6379"))
        .unwrap();
    assert!(
        redis["locations"][0]["logicalLocations"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("0.0.0.0:6379")
    );
    assert_eq!(
        redis["partialFingerprints"]["portreeve/v1"]
            .as_str()
            .unwrap()
            .len(),
        16
    );
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        portreeve_core::FindingKind::ALL.len()
    );

    // Table: every finding id, and no colour when NO_COLOR is set or piped.
    let out = fx.check(&["--details"]);
    let table = stdout(&out);
    for (id, _) in expected() {
        assert!(table.contains(&id), "{id} missing from table:\n{table}");
    }
    assert!(table.contains("evidence:") && table.contains("fix:"));
    assert!(!table.contains('\x1b'), "colour escape in piped output");

    // Nagios: CRITICAL, exit 2, perfdata matching the JSON summary.
    let out = fx.check(&["--format", "nagios"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("PORTREEVE CRITICAL - 10 findings"),
        "{first}"
    );
    let perf = first.split_once(" | ").unwrap().1;
    for (label, value) in [("findings", 10), ("listeners", 10), ("exposed", 9)] {
        assert!(perf.contains(&format!("{label}={value};;;0")), "{perf}");
    }
    let critical = doc["summary"]["by_severity"]["critical"].as_u64().unwrap();
    assert!(perf.contains(&format!("critical={critical};;;0")));
    assert_eq!(
        text.lines().count(),
        11,
        "status line plus one line per finding"
    );

    // --fail-on turns findings into exit status 1, only at the threshold.
    assert_eq!(fx.check(&["--fail-on", "critical"]).status.code(), Some(1));
    assert_eq!(fx.check(&["--fail-on", "never"]).status.code(), Some(0));
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    if !privileged("colour_only_on_a_terminal_and_never_with_no_color") {
        return;
    }
    let script_available = Command::new("script").arg("--version").output().is_ok();
    if !script_available {
        panic!("`script` (util-linux) is needed to give portreeve a terminal");
    }
    let fx = busy_namespace();
    let command = format!(
        "ip netns exec {} {} check --policy {}",
        fx.ns.name,
        env!("CARGO_BIN_EXE_portreeve"),
        fx.policy.display()
    );
    // `script` runs the command on a pseudo-terminal.
    let on_tty = |no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        stdout(&run(&mut cmd))
    };
    assert!(on_tty(false).contains('\x1b'), "a terminal gets colour");
    assert!(!on_tty(true).contains('\x1b'), "NO_COLOR is honoured");
}

#[test]
fn a_clean_host_passes_the_baseline() {
    if !privileged("a_clean_host_passes_the_baseline") {
        return;
    }
    let ns = Netns::new();
    let _l = ns.listen(
        &[
            "tcp4:0.0.0.0:22",
            "tcp6:[::]:443:v6only=0",
            "udp4:0.0.0.0:53",
            "tcp4:127.0.0.1:5432",
        ],
        0,
    );
    let out = ns.portreeve(&["check", "--fail-on", "info", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
    assert_eq!(doc["policy"]["origin"], "<built-in baseline>");
    let nagios = ns.portreeve(&["check", "--format", "nagios"]);
    assert_eq!(nagios.status.code(), Some(0));
    assert!(stdout(&nagios).starts_with("PORTREEVE OK - no findings on 4 listening sockets"));

    // One more listener on a public port and the baseline objects.
    let _m = ns.listen(&["tcp4:0.0.0.0:3306"], 0);
    let out = ns.portreeve(&["check", "--fail-on", "high", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        finding_keys(doc["findings"].as_array().unwrap()),
        [("PR001".to_string(), "3306".to_string())].into()
    );
}

#[test]
fn saved_inventories_can_be_judged_elsewhere() {
    if !privileged("saved_inventories_can_be_judged_elsewhere") {
        return;
    }
    let fx = busy_namespace();
    let inv = fx.ns.portreeve(&["inventory", "--format", "json"]);
    let saved = fx._dir.path().join("inventory.json");
    std::fs::write(&saved, &inv.stdout).unwrap();
    // Judged outside the namespace, from the file: the same findings.
    let out = run(support::portreeve().args([
        "check",
        "--policy",
        fx.policy.to_str().unwrap(),
        "--inventory",
        saved.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        finding_keys(doc["findings"].as_array().unwrap()),
        expected()
    );
}

#[test]
fn policy_init_writes_a_reviewable_valid_starter() {
    if !privileged("policy_init_writes_a_reviewable_valid_starter") {
        return;
    }
    let fx = busy_namespace();
    let starter = fx._dir.path().join("starter.toml");
    let out = fx
        .ns
        .portreeve(&["policy", "init", "--output", starter.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&starter).unwrap();
    assert!(
        text.contains("# port = 6379") && text.contains("# port = 9200"),
        "{text}"
    );
    assert!(
        text.contains("BANNED"),
        "telnet is flagged, not offered as a rule"
    );
    let valid = run(support::portreeve().args(["policy", "validate", starter.to_str().unwrap()]));
    assert!(valid.status.success(), "{}", stderr(&valid));

    // A second init refuses to overwrite, and leaves the file alone.
    std::fs::write(&starter, "# edited by hand\n").unwrap();
    let again = fx
        .ns
        .portreeve(&["policy", "init", "--output", starter.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&starter).unwrap(),
        "# edited by hand\n"
    );
}

/// A live check reads the agent's store (for abandoned ports). A store that
/// cannot be read fails the check, naming the file and what is wrong: a
/// check that passed without it would vouch for what it never judged.
#[test]
fn a_corrupt_agent_store_fails_the_check_and_is_named() {
    if !privileged("a_corrupt_agent_store_fails_the_check_and_is_named") {
        return;
    }
    let ns = Netns::new();
    let home = support::Home::new();
    std::fs::create_dir_all(home.state()).unwrap();
    let store = home.state().join("agent.db");
    std::fs::write(&store, "not a database\n").unwrap();
    let out = home.run_in(&ns, &["check", "--format", "json"]);
    support::assert_exit(&out, 3, &store.display().to_string());
    let said = stderr(&out);
    assert!(said.contains("not a database"), "{said}");
    assert_eq!(stdout(&out), "", "no partial report");
}

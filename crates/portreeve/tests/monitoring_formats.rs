//! `--format prtg` and `--format checkmk` (docs/findings.md): a saved
//! inventory with known findings gives the exact PRTG reading, valid
//! against docs/schema/prtg.v1.json, and the exact Checkmk local-check
//! line, which matches the local-check grammar and whose metric levels
//! come to the status it states; `--fail-on` moves the alarms and keeps
//! portreeve's exit statuses; a check that cannot run gives PRTG's error
//! reading and Checkmk's UNKNOWN line; `k8s check` and `cloud check` speak
//! both too, each as its own Checkmk service; and the samples in
//! docs/findings.md are in the format.

mod support;

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use support::saved::{check_saved, inventory};
use support::{Home, assert_matches_schema, assert_valid, portreeve, stderr, stdout};

/// Telnet on every address (PR002, critical), Redis with no rule (PR001,
/// critical in the catalogue), an unknown port with no rule (PR001,
/// medium), a stale rule (PR006, low), and PostgreSQL exposed
/// (PR003, high) under an accepted risk; SSH on loopback is not judged.
const POLICY: &str = r#"version = 1
[defaults]
unknown_port_severity = "medium"

[zones]
lan = ["10.0.0.0/8"]

[[rule]]
name = "postgres"
port = 5432
protocol = "tcp"
zones = ["lan"]
owner = "data-team"

[[rule]]
name = "dns"
port = 53
protocol = "udp"
zones = ["lan"]
owner = "platform-team"

[[accepted_risk]]
finding = "PR003 5432/tcp"
owner = "data-team"
reason = "until the database moves behind the bastion (TICKET-7)"
expires = 2099-12-31
"#;

/// (protocol, address, port, process) of each socket on `web9`.
const SOCKETS: [(&str, &str, u16, &str); 5] = [
    ("tcp", "0.0.0.0", 23, "inetd"),
    ("tcp", "0.0.0.0", 6379, "redis-server"),
    ("tcp", "0.0.0.0", 40000, "svc"),
    ("tcp", "0.0.0.0", 5432, "postgres"),
    ("tcp", "127.0.0.1", 22, "sshd"),
];

/// `out`'s standard output as one PRTG reading, checked against the schema
/// and for unique channel names.
#[track_caller]
fn prtg(out: &Output) -> Value {
    let doc: Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)));
    assert_matches_schema(&doc, "docs/schema/prtg.v1.json");
    if let Some(channels) = doc["prtg"]["result"].as_array() {
        let mut names: Vec<&str> = channels
            .iter()
            .map(|c| c["channel"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        let all = names.len();
        names.dedup();
        assert_eq!(names.len(), all, "channel names repeat: {doc:#}");
    }
    doc
}

/// A channel that never alarms.
fn count(name: &str, value: u64) -> Value {
    json!({"channel": name, "value": value, "unit": "Count"})
}

/// A per-severity channel in the error band.
fn error(severity: &str, value: u64) -> Value {
    json!({"channel": format!("{}{} findings", severity[..1].to_uppercase(), &severity[1..]),
           "value": value, "unit": "Count", "LimitMode": 1, "LimitMaxError": 0,
           "LimitErrorMsg": format!("{severity} findings are open")})
}

/// A per-severity channel in the warning band.
fn warning(severity: &str, value: u64) -> Value {
    json!({"channel": format!("{}{} findings", severity[..1].to_uppercase(), &severity[1..]),
           "value": value, "unit": "Count", "LimitMode": 1, "LimitMaxWarning": 0,
           "LimitWarningMsg": format!("{severity} findings are open")})
}

/// Checkmk's local-check grammar (the agent's `<<<local>>>` section, one
/// line per service): status `0`–`3` or `P`; the service name, quoted
/// (anything but quotes) or a word; `-` or metrics joined by `|`, each
/// `NAME=VALUE[;WARN[;CRIT[;MIN[;MAX]]]]`, levels optionally `LOW:HIGH`;
/// then optional text on the same line. Checked through JSON Schema's
/// `pattern`, which is a regular expression.
fn local_check_grammar() -> Value {
    let number = r"-?[0-9]+(\.[0-9]+)?";
    let level = format!("(({number})?:)?({number})?");
    let metric = format!(
        "[A-Za-z_][A-Za-z0-9_]*={number}(;{level}(;{level}(;({number})?(;({number})?)?)?)?)?"
    );
    json!({
        "type": "string",
        "pattern": format!(
            r#"^[0123P] ("[^"']+"|[^ "']+) (-|{metric}(\|{metric})*)( [^\n]*)?$"#
        ),
    })
}

/// The state Checkmk would compute for `line`'s metrics under status `P`:
/// a value above its crit level is CRIT (2), above warn WARN (1); a value
/// equal to a level keeps the better state.
fn computed_state(line: &str) -> u8 {
    let (_status, rest) = line.split_once(' ').unwrap();
    let rest = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split_once('"').unwrap().1.trim_start(),
        None => rest.split_once(' ').unwrap().1,
    };
    let metrics = rest.split(' ').next();
    let mut state = 0;
    for metric in metrics.unwrap().split('|') {
        let (_, raw) = metric.split_once('=').unwrap();
        let fields: Vec<&str> = raw.split(';').collect();
        let value: f64 = fields[0].parse().unwrap();
        let level = |i: usize| fields.get(i).and_then(|l| l.parse::<f64>().ok());
        if level(2).is_some_and(|crit| value > crit) {
            state = state.max(2);
        } else if level(1).is_some_and(|warn| value > warn) {
            state = state.max(1);
        }
    }
    state
}

#[test]
fn the_schema_holds_prtg_s_limits() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/schema/prtg.v1.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schema = jsonschema::validator_for(&schema).unwrap();
    let reading = |channel: Value, text: &str| json!({"prtg": {"result": [channel], "text": text}});
    assert!(schema.is_valid(&reading(error("high", 1), "ok")));
    assert!(schema.is_valid(&json!({"prtg": {"error": 1, "text": "no"}})));
    for wrong in [
        // PRTG keeps 2000 characters of a message.
        reading(count("Findings", 0), &"x".repeat(2001)),
        // A count is an integer, not a string.
        reading(
            json!({"channel": "Findings", "value": "1", "unit": "Count"}),
            "",
        ),
        // A limit without its mode does nothing in PRTG.
        reading(
            json!({"channel": "High findings", "value": 1, "unit": "Count",
                   "LimitMaxError": 0, "LimitErrorMsg": "m"}),
            "",
        ),
        // An error reading carries no channels.
        json!({"prtg": {"error": 1, "text": "no", "result": []}}),
        json!({"prtg": {"result": [], "text": "no channels"}}),
    ] {
        assert!(!schema.is_valid(&wrong), "{wrong}");
    }
}

#[test]
fn the_grammar_and_the_levels_are_checkmk_s() {
    let grammar = local_check_grammar_validator();
    for line in [
        "0 \"My service\" myvalue=73 My output text",
        "P Environment temp=30;28;35|humidity=33;40:60;35:70;0;100",
        "1 Bar_Service - warning, no metrics",
        "2 \"a b\" a=5;;;0|b=1.5;0;0;0 text\\nmore",
    ] {
        assert!(grammar.is_valid(&json!(line)), "{line}");
    }
    for line in [
        "OK \"svc\" - text",
        "0 \"it's\" - text",
        "0 \"svc\" a=1|b text",
        "0 \"svc\" a=x text",
        "0 \"svc\" - one\ntwo",
        "0 \"svc\"",
    ] {
        assert!(!grammar.is_valid(&json!(line)), "{line}");
    }
    assert_eq!(
        computed_state("P Environment temp=30;28;35|humidity=33;40;50"),
        1
    );
    assert_eq!(computed_state("P \"x y\" a=36;28;35|b=0;0;0"), 2);
    assert_eq!(computed_state("P x a=28;28;35"), 0);
}

/// Checks `out`'s standard output line by line against the grammar and
/// returns it.
#[track_caller]
fn checkmk(out: &Output) -> String {
    let text = stdout(out);
    assert!(text.ends_with('\n'), "{text:?}");
    let grammar = local_check_grammar();
    for line in text.lines() {
        assert_valid(&json!(line), &grammar, "the local-check grammar");
    }
    text
}

/// The headline both formats start with for [`SOCKETS`] under [`POLICY`].
const HEADLINE: &str = "4 findings (2 critical, 1 medium, 1 low) on web9; worst: PR001 0.0.0.0:6379/tcp listens but no rule allows it — Redis (also Ray GCS)";

#[test]
fn prtg_reading_of_a_saved_inventory_is_exact_and_valid() {
    let home = Home::new();
    let out = check_saved(&home, POLICY, &SOCKETS, &["--format", "prtg"]);
    // Without --fail-on, findings do not fail the command: PRTG takes the
    // state from the limits.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("{\n  \"prtg\": {\n    \"result\": ["));
    assert_eq!(
        prtg(&out),
        json!({"prtg": {
            "result": [
                count("Findings", 4),
                error("critical", 2),
                error("high", 0),
                warning("medium", 1),
                warning("low", 1),
                count("Info findings", 0),
                count("Listeners", 5),
                count("Exposed listeners", 4),
                count("Accepted findings", 1),
            ],
            "text": HEADLINE,
        }})
    );
}

#[test]
fn fail_on_moves_prtg_limits_and_keeps_exit_statuses() {
    let home = Home::new();
    let severities = |args: &[&str]| -> (Option<i32>, Vec<Value>) {
        let mut all = vec!["--format", "prtg"];
        all.extend(args);
        let out = check_saved(&home, POLICY, &SOCKETS, &all);
        let doc = prtg(&out);
        let channels = doc["prtg"]["result"].as_array().unwrap()[1..6].to_vec();
        (out.status.code(), channels)
    };
    // The error band starts at --fail-on; below it, low and up warn.
    assert_eq!(
        severities(&["--fail-on", "medium"]),
        (
            Some(1),
            vec![
                error("critical", 2),
                error("high", 0),
                error("medium", 1),
                warning("low", 1),
                count("Info findings", 0)
            ]
        )
    );
    assert_eq!(
        severities(&["--fail-on", "critical"]),
        (
            Some(1),
            vec![
                error("critical", 2),
                warning("high", 0),
                warning("medium", 1),
                warning("low", 1),
                count("Info findings", 0)
            ]
        )
    );
    let (status, channels) = severities(&["--fail-on", "info"]);
    assert_eq!(status, Some(1));
    assert_eq!(channels[4], error("info", 0));
    // `never`, the default, keeps the Nagios bands and exit status 0.
    let (status, channels) = severities(&["--fail-on", "never"]);
    assert_eq!(status, Some(0));
    assert_eq!(channels[1], error("high", 0));
    assert_eq!(channels[2], warning("medium", 1));
}

#[test]
fn checkmk_line_of_a_saved_inventory_is_exact_and_grammatical() {
    let home = Home::new();
    let out = check_saved(&home, POLICY, &SOCKETS, &["--format", "checkmk"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = checkmk(&out);
    assert_eq!(
        line,
        format!(
            "2 \"portreeve check\" findings=4;;;0|critical=2;0;0;0|high=0;0;0;0|medium=1;0;;0|low=1;0;;0|info=0;;;0|listeners=5;;;0|exposed=4;;;0|accepted=1;;;0 {HEADLINE}\
             \\n[critical] PR001 0.0.0.0:6379/tcp listens but no rule allows it — Redis (also Ray GCS)\
             \\n[critical] PR002 0.0.0.0:23/tcp listens on a banned port — Telnet\
             \\n[medium] PR001 0.0.0.0:40000/tcp listens but no rule allows it\
             \\n[low] PR006 rule `dns` allows 53/udp but nothing listens there\
             \\n[accepted high] PR003 0.0.0.0:5432/tcp exposes a risky service on every address — PostgreSQL (by data-team until 2099-12-31)\n"
        )
    );
    assert_eq!(computed_state(&line), 2);
}

#[test]
fn checkmk_status_follows_the_worst_band_and_the_levels_agree() {
    let home = Home::new();
    let medium = [("tcp", "0.0.0.0", 40000, "svc")];
    let policy = "version = 1\n[defaults]\nunknown_port_severity = \"medium\"\n";
    for (args, status, exit) in [
        (&[][..], '1', 0),
        (&["--fail-on", "medium"][..], '2', 1),
        (&["--fail-on", "high"][..], '1', 0),
    ] {
        let mut all = vec!["--format", "checkmk"];
        all.extend(args);
        let out = check_saved(&home, policy, &medium, &all);
        assert_eq!(out.status.code(), Some(exit), "{args:?}: {}", stderr(&out));
        let line = checkmk(&out);
        assert!(
            line.starts_with(&format!("{status} \"portreeve check\" ")),
            "{line}"
        );
        assert_eq!(
            computed_state(&line),
            status.to_digit(10).unwrap() as u8,
            "{args:?}: {line}"
        );
    }
    // Nothing found: OK, and the text says what was judged.
    let out = check_saved(&home, policy, &[], &["--format", "checkmk"]);
    assert_eq!(
        checkmk(&out),
        "0 \"portreeve check\" findings=0;;;0|critical=0;0;0;0|high=0;0;0;0|medium=0;0;;0|low=0;0;;0|info=0;;;0|listeners=0;;;0|exposed=0;;;0|accepted=0;;;0 no findings on 0 listening sockets on web9\n"
    );
}

#[test]
fn a_check_that_cannot_run_reads_as_an_error_and_exits_as_ever() {
    let home = Home::new();
    // A policy file whose name carries a backslash-n and a pipe, and
    // whose zone has host bits set.
    let policy = "version = 1\n[zones]\nlan = [\"192.0.2.10/24\"]\n";
    let saved = home.file("inventory.json", inventory(&SOCKETS).to_string());
    let bad = home.file("bad\\n|x.toml", policy);
    let run = |format: &str| {
        home.run(&[
            "check",
            "--inventory",
            saved.to_str().unwrap(),
            "--policy",
            bad.to_str().unwrap(),
            "--format",
            format,
        ])
    };

    let out = run("prtg");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("host bits"), "{}", stderr(&out));
    let doc = prtg(&out);
    assert_eq!(doc["prtg"]["error"], 1);
    let text = doc["prtg"]["text"].as_str().unwrap();
    assert!(
        text.contains("bad\\n|x.toml:3:") && text.contains("host bits"),
        "{text}"
    );
    assert_eq!(doc["prtg"].as_object().unwrap().len(), 2, "{doc:#}");

    let out = run("checkmk");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("host bits"), "{}", stderr(&out));
    let line = checkmk(&out);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("3 \"portreeve check\" - "), "{line}");
    // The name can neither start a detail line nor add metrics.
    assert!(line.contains("bad\u{2216}n/x.toml:3:"), "{line}");
    assert!(!line.contains('\\') && !line.contains('|'), "{line}");
}

/// The k8s manifests of a namespace with Redis reachable from everywhere
/// and no NetworkPolicy.
fn cluster(home: &Home) -> PathBuf {
    home.file("deploy.yaml", support::k8s::SHOP_CACHE)
}

#[test]
fn k8s_check_speaks_prtg_and_checkmk() {
    let home = Home::new();
    let manifests = cluster(&home);
    let run = |format: &str| {
        portreeve()
            .args(["k8s", "check", "--format", format, "--manifests"])
            .arg(&manifests)
            .output()
            .unwrap()
    };
    let out = run("prtg");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = prtg(&out);
    let channels: Vec<(&str, u64)> = doc["prtg"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["channel"].as_str().unwrap(), c["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        channels,
        [
            ("Findings", 2),
            ("Critical findings", 1),
            ("High findings", 0),
            ("Medium findings", 1),
            ("Low findings", 0),
            ("Info findings", 0),
            ("Pods", 1),
            ("Namespaces", 1),
            ("Network policies", 0),
            ("Accepted findings", 0),
        ]
    );
    assert_eq!(doc["prtg"]["result"][1], error("critical", 1));
    assert!(
        doc["prtg"]["text"].as_str().unwrap().starts_with(
            "2 findings (1 critical, 1 medium) on 1 pod in 1 namespace; worst: PR016 "
        ),
        "{doc:#}"
    );

    let out = run("checkmk");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = checkmk(&out);
    assert!(
        line.starts_with(
            "2 \"portreeve k8s check\" findings=2;;;0|critical=1;0;0;0|high=0;0;0;0|medium=1;0;;0|low=0;0;;0|info=0;;;0|pods=1;;;0|namespaces=1;;;0|network_policies=0;;;0|accepted=0;;;0 2 findings "
        ),
        "{line}"
    );
    assert_eq!(computed_state(&line), 2);

    // Manifests that cannot be read: the error reading, and Checkmk's
    // UNKNOWN for the same service.
    let missing = home.path().join("missing.yaml");
    let failed = |format: &str| {
        portreeve()
            .args(["k8s", "check", "--format", format, "--manifests"])
            .arg(&missing)
            .output()
            .unwrap()
    };
    let out = failed("prtg");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(prtg(&out)["prtg"]["error"], 1);
    let out = failed("checkmk");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        checkmk(&out).starts_with("3 \"portreeve k8s check\" - "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn cloud_check_names_its_channels_and_service() {
    let home = Home::new();
    let groups = json!({"SecurityGroups": [{
        "GroupId": "sg-0123", "GroupName": "cache", "Description": "test group",
        "VpcId": "vpc-0abc", "OwnerId": "123456789012",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
                           "PrefixListIds": [], "UserIdGroupPairs": []}],
        "IpPermissionsEgress": [],
    }]});
    let file = home.file("sg.json", groups.to_string());
    let file = file.to_str().unwrap();
    let out = home.run(&["cloud", "check", "--aws", file, "--format", "prtg"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = prtg(&out);
    let names: Vec<&str> = doc["prtg"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[6..],
        ["Security groups", "Permissions", "Accepted findings"]
    );
    assert_eq!(doc["prtg"]["result"][6]["value"], 1);
    let out = home.run(&["cloud", "check", "--aws", file, "--format", "checkmk"]);
    let line = checkmk(&out);
    assert!(line.starts_with("2 \"portreeve cloud check\" "), "{line}");
    assert!(
        line.contains("|security_groups=1;;;0|permissions=1;;;0|"),
        "{line}"
    );
    assert_eq!(computed_state(&line), 2);
}

/// The first fenced block of `lang` after `heading` in docs/findings.md.
fn sample(heading: &str, lang: &str) -> String {
    let doc = include_str!("../../../docs/findings.md");
    let section = &doc[doc.find(heading).unwrap()..];
    let start = section.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
    let end = start + section[start..].find("\n```").unwrap();
    section[start..end].to_string()
}

#[test]
fn the_documented_samples_are_in_the_format() {
    let reading: Value = serde_json::from_str(&sample("### `prtg`", "json")).unwrap();
    assert_matches_schema(&reading, "docs/schema/prtg.v1.json");
    assert_eq!(reading["prtg"]["result"][1], error("critical", 2));
    let line = sample("### `checkmk`", "text");
    assert_eq!(line.lines().count(), 1);
    assert!(
        local_check_grammar_validator().is_valid(&json!(line)),
        "{line}"
    );
    assert_eq!(computed_state(&line), 2);
    // The same findings as the documented Nagios sample.
    let nagios = sample("### `nagios`", "text");
    let headline = nagios
        .lines()
        .next()
        .unwrap()
        .strip_prefix("PORTREEVE CRITICAL - ")
        .unwrap()
        .split(" | ")
        .next()
        .unwrap();
    assert_eq!(reading["prtg"]["text"], headline);
    let details: Vec<&str> = nagios.lines().skip(1).collect();
    assert!(line.ends_with(&format!("{headline}\\n{}", details.join("\\n"))));
}

/// [`local_check_grammar`], compiled.
fn local_check_grammar_validator() -> jsonschema::Validator {
    jsonschema::validator_for(&local_check_grammar()).unwrap()
}

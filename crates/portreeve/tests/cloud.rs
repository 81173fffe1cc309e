//! Cloud firewalls end to end: `render --target aws|aws-terraform|gcp`
//! opens exactly what the policy opens and validates against the providers'
//! published models (botocore's EC2 model, Google's compute discovery
//! document, via scripts/cloud_validate.py); `cloud check --aws` finds
//! each kind on a generated describe-security-groups document and nothing
//! on a clean one, in every output format, with `check`'s exit statuses;
//! bad input is located and exits 2.
//!
//! The model checks need the venv scripts/cloud_models.sh makes (under
//! ~/.cache, or `PORTREEVE_CLOUD_PYTHON`); without it they skip, and fail
//! under `PORTREEVE_REQUIRE_PRIVILEGED=1`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::{
    Home, assert_exit, assert_matches_schema, assert_ok, assert_valid, run, stderr, stdout,
};

/// An office zone (IPv4 and IPv6), the internet, a TCP rule, a dual-stack
/// TCP+UDP rule with a range, an IPv4-only rule over a dual-stack zone, and
/// a grant rule no cloud firewall can express.
const POLICY: &str = r#"
version = 1

[zones]
office = ["192.0.2.0/24", "2001:db8:1::/48"]
public = ["0.0.0.0/0", "::/0"]

[[rule]]
name = "ssh"
ports = [22]
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "game servers"
ports = [443, "27000-27100"]
protocol = ["tcp", "udp"]
zones = ["public"]

[[rule]]
name = "legacy"
ports = [8080]
protocol = "tcp"
zones = ["public"]
family = "ipv4"

[[rule]]
name = "debug"
ports = [9000]
protocol = "tcp"
zones = ["office"]
grant = { max_ttl = "1h" }
"#;

/// (protocol, first port, last port, source) the policy opens, written out
/// by hand from POLICY.
fn expected_openings() -> BTreeSet<(String, u16, u16, String)> {
    let mut out = BTreeSet::new();
    let mut add = |p: &str, a: u16, b: u16, cidr: &str| {
        out.insert((p.to_string(), a, b, cidr.to_string()));
    };
    for cidr in ["192.0.2.0/24", "2001:db8:1::/48"] {
        add("tcp", 22, 22, cidr);
    }
    for p in ["tcp", "udp"] {
        for cidr in ["0.0.0.0/0", "::/0"] {
            add(p, 443, 443, cidr);
            add(p, 27000, 27100, cidr);
        }
    }
    add("tcp", 8080, 8080, "0.0.0.0/0");
    out
}

/// The Python of the venv scripts/cloud_models.sh makes, unless
/// `PORTREEVE_CLOUD_PYTHON` names another.
fn models_python() -> PathBuf {
    std::env::var_os("PORTREEVE_CLOUD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portreeve/cloud/bin/python")
        })
}

/// Whether the models are installed; skips (or fails under
/// PORTREEVE_REQUIRE_PRIVILEGED=1) when not.
fn models_available(test: &str) -> bool {
    let python = models_python();
    portreeve_testkit::skip_unless(
        test,
        python.exists(),
        format_args!(
            "{} is missing (scripts/cloud_models.sh installs it; scripts/test.sh runs it as root)",
            python.display()
        ),
    )
}

/// scripts/cloud_validate.py's verdict on `doc` as a `kind` document:
/// Ok(its line) or Err(the problems it listed).
fn validate(home: &Home, kind: &str, doc: &Value) -> Result<String, String> {
    let file = home.file(&format!("{kind}.json"), doc.to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cloud_validate.py");
    let out = run(Command::new(models_python())
        .arg(script)
        .arg(kind)
        .arg(&file));
    match out.status.code() {
        Some(0) => Ok(stdout(&out)),
        Some(1) => Err(stdout(&out)),
        other => panic!(
            "cloud_validate.py {kind} exited {other:?}: {}",
            stderr(&out)
        ),
    }
}

fn render(home: &Home, policy: &Path, target: &str) -> Value {
    let out = home.run(&[
        "render",
        "--policy",
        policy.to_str().unwrap(),
        "--target",
        target,
    ]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("left out 1 rule that only `portreeve grant` opens: debug"),
        "{target}: {}",
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{target}: {e}"))
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn port(v: &Value) -> u16 {
    u16::try_from(v.as_u64().unwrap_or_else(|| panic!("not a port: {v}"))).unwrap()
}

/// What the AWS CLI inputs open.
fn aws_openings(doc: &Value) -> BTreeSet<(String, u16, u16, String)> {
    let mut out = BTreeSet::new();
    for p in doc["AuthorizeSecurityGroupIngress"]["IpPermissions"]
        .as_array()
        .unwrap()
    {
        let sources = p["IpRanges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| &r["CidrIp"])
            .chain(
                p["Ipv6Ranges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| &r["CidrIpv6"]),
            );
        for cidr in sources {
            out.insert((
                text(&p["IpProtocol"]),
                port(&p["FromPort"]),
                port(&p["ToPort"]),
                text(cidr),
            ));
        }
    }
    out
}

/// What the Terraform resource's ingress blocks open.
fn terraform_openings(doc: &Value) -> BTreeSet<(String, u16, u16, String)> {
    let mut out = BTreeSet::new();
    let group = &doc["resource"]["aws_security_group"]["portreeve"];
    for b in group["ingress"].as_array().unwrap() {
        for cidr in b["cidr_blocks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(b["ipv6_cidr_blocks"].as_array().unwrap())
        {
            out.insert((
                text(&b["protocol"]),
                port(&b["from_port"]),
                port(&b["to_port"]),
                text(cidr),
            ));
        }
    }
    out
}

/// What the GCP firewall bodies open; every body holds one family.
fn gcp_openings(doc: &Value) -> BTreeSet<(String, u16, u16, String)> {
    let mut out = BTreeSet::new();
    for fw in doc.as_array().unwrap() {
        let ranges: Vec<String> = fw["sourceRanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        let families: BTreeSet<bool> = ranges.iter().map(|r| r.contains(':')).collect();
        assert_eq!(families.len(), 1, "a GCP rule mixes families: {fw}");
        for allowed in fw["allowed"].as_array().unwrap() {
            for ports in allowed["ports"].as_array().unwrap() {
                let ports = text(ports);
                let (a, b) = ports.split_once('-').unwrap_or((&ports, &ports));
                for cidr in &ranges {
                    out.insert((
                        text(&allowed["IPProtocol"]),
                        a.parse().unwrap(),
                        b.parse().unwrap(),
                        cidr.clone(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn rendered_documents_open_what_the_policy_opens_and_validate_against_provider_models() {
    let home = Home::new();
    let policy = home.file("policy.toml", POLICY);
    let aws = render(&home, &policy, "aws");
    let terraform = render(&home, &policy, "aws-terraform");
    let gcp = render(&home, &policy, "gcp");
    assert_eq!(aws_openings(&aws), expected_openings(), "{aws:#}");
    assert_eq!(
        terraform_openings(&terraform),
        expected_openings(),
        "{terraform:#}"
    );
    assert_eq!(gcp_openings(&gcp), expected_openings(), "{gcp:#}");

    if !models_available("rendered_documents_validate_against_provider_models") {
        return;
    }
    for (kind, doc) in [("aws-cli", &aws), ("terraform", &terraform), ("gcp", &gcp)] {
        if let Err(problems) = validate(&home, kind, doc) {
            panic!("{kind} document refused by the provider model:\n{problems}\n{doc:#}");
        }
    }
    // The checks can fail: a port as a string, a misspelt member, a
    // direction GCP does not know, and an output-only field are refused.
    let mut bad = aws.clone();
    bad["AuthorizeSecurityGroupIngress"]["IpPermissions"][0]["FromPort"] = json!("22");
    let problems = validate(&home, "aws-cli", &bad).unwrap_err();
    assert!(problems.contains("IpPermissions[0].FromPort"), "{problems}");
    let mut bad = aws.clone();
    bad["CreateSecurityGroup"]["GroupNam"] = json!("x");
    assert!(
        validate(&home, "aws-cli", &bad)
            .unwrap_err()
            .contains("GroupNam")
    );
    let mut bad = gcp.clone();
    bad[0]["direction"] = json!("INWARD");
    bad[1]["id"] = json!("123");
    let problems = validate(&home, "gcp", &bad).unwrap_err();
    assert!(problems.contains("[0].direction: 'INWARD'"), "{problems}");
    assert!(problems.contains("[1].id: output only"), "{problems}");
    let mut bad = terraform.clone();
    bad["resource"]["aws_security_group"]["portreeve"]["ingress"][0]
        .as_object_mut()
        .unwrap()
        .remove("self");
    assert!(
        validate(&home, "terraform", &bad)
            .unwrap_err()
            .contains("ingress[0]")
    );
}

/// A describe-security-groups document as the AWS CLI prints it, with one
/// group per thing to find and groups that hold nothing to find.
fn describe_document() -> Value {
    let range = |cidr: &str| json!({"CidrIp": cidr, "Description": "generated"});
    let range6 = |cidr: &str| json!({"CidrIpv6": cidr});
    let perm = |proto: &str, from: i64, to: i64, v4: Vec<Value>, v6: Vec<Value>| {
        json!({"IpProtocol": proto, "FromPort": from, "ToPort": to, "IpRanges": v4,
               "Ipv6Ranges": v6, "PrefixListIds": [], "UserIdGroupPairs": []})
    };
    let group = |id: &str, name: &str, perms: Vec<Value>| {
        json!({"GroupId": id, "GroupName": name, "Description": "test group",
               "VpcId": "vpc-0abc", "OwnerId": "123456789012",
               "IpPermissions": perms, "IpPermissionsEgress": [],
               "SecurityGroupArn": format!("arn:aws:ec2:eu-west-1:123456789012:security-group/{id}")})
    };
    json!({"SecurityGroups": [
        // PR021: Redis to the whole IPv4 internet.
        group("sg-0123", "cache", vec![perm("tcp", 6379, 6379, vec![range("0.0.0.0/0")], vec![])]),
        // PR022: 1001 ports to a public network (not the internet: no PR021).
        group("sg-0456", "batch", vec![perm("tcp", 1000, 2000, vec![range("198.51.100.0/24")], vec![])]),
        // PR021 and PR022: every protocol to the whole IPv6 internet.
        group("sg-0789", "wide open", vec![json!({"IpProtocol": "-1", "IpRanges": [],
            "Ipv6Ranges": [range6("::/0")], "PrefixListIds": [], "UserIdGroupPairs": []})]),
        clean_group(),
    ]})
}

/// A group with nothing to find: HTTPS to everyone (not risky enough),
/// Redis and every port to private networks only, ICMP to everyone.
fn clean_group() -> Value {
    json!({"GroupId": "sg-0aaa", "GroupName": "web", "VpcId": "vpc-0abc",
    "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
         "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "172.16.0.0/12"}],
         "Ipv6Ranges": [{"CidrIpv6": "fd00::/8"}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]})
}

/// A fingerprint as docs/findings.md says to compute it with coreutils.
fn fingerprint(code: &str, key: &str) -> String {
    let out = run(Command::new("sh")
        .arg("-c")
        .arg("printf '%s\\0%s' \"$1\" \"$2\" | sha256sum | cut -c1-16")
        .arg("sh")
        .arg(code)
        .arg(key));
    assert_ok(&out);
    stdout(&out).trim().to_string()
}

#[test]
fn cloud_check_finds_each_kind_on_a_generated_account_and_nothing_on_a_clean_one() {
    let home = Home::new();
    let doc = describe_document();
    let file = home.file("sg.json", doc.to_string());
    let file = file.to_str().unwrap();

    let out = home.run(&[
        "cloud",
        "check",
        "--aws",
        file,
        "--format",
        "json",
        "--fail-on",
        "high",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&report, "docs/schema/cloud-check.v1.json");
    let found: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (text(&f["id"]), text(&f["fingerprint"])))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("PR021", "cloud|sg-0123|tcp|6379-6379|0.0.0.0/0"),
        ("PR022", "cloud|sg-0456|tcp|1000-2000|198.51.100.0/24"),
        ("PR021", "cloud|sg-0789|all|0-65535|::/0"),
        ("PR022", "cloud|sg-0789|all|0-65535|::/0"),
    ]
    .iter()
    .map(|(code, key)| (code.to_string(), fingerprint(code, key)))
    .collect();
    assert_eq!(found, expected, "{report:#}");
    assert_eq!(report["source"]["security_groups"], 4);
    assert_eq!(report["summary"]["highest"], "critical");
    let redis = &report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource"]["name"] == "sg-0123")
        .unwrap();
    assert_eq!(redis["resource"]["namespace"], "vpc-0abc");
    assert!(text(&redis["message"]).contains("6379/tcp"), "{redis}");

    let out = home.run(&["cloud", "check", "--aws", file, "--format", "sarif"]);
    assert_ok(&out);
    let sarif: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_valid(&sarif, &support::sarif::schema(), "the SARIF 2.1.0 schema");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 4);

    let out = home.run(&["cloud", "check", "--aws", file, "--format", "nagios"]);
    assert_exit(&out, 2, "CRITICAL");
    assert!(
        stdout(&out).contains("security_groups=4"),
        "{}",
        stdout(&out)
    );

    let out = home.run(&["cloud", "check", "--aws", file]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("4 findings (2 critical, 2 medium)"),
        "{}",
        stdout(&out)
    );

    // The clean group alone: nothing, whatever the threshold.
    let clean = home.file(
        "clean.json",
        json!({"SecurityGroups": [clean_group()]}).to_string(),
    );
    let out = home.run(&[
        "cloud",
        "check",
        "--aws",
        clean.to_str().unwrap(),
        "--format",
        "json",
        "--fail-on",
        "info",
    ]);
    assert_ok(&out);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["findings"], json!([]), "{report:#}");
    assert_eq!(report["source"]["permissions"], 4);

    // What the check reads is what the EC2 model says AWS writes.
    if models_available("cloud_check_input_matches_the_ec2_model") {
        let verdict = validate(&home, "aws-describe", &doc);
        assert!(verdict.is_ok(), "{verdict:?}");
        let mut bad = doc.clone();
        bad["SecurityGroups"][0]["IpPermissions"][0]["CidrIp"] = json!("0.0.0.0/0");
        assert!(validate(&home, "aws-describe", &bad).is_err());
    }
}

#[test]
fn policy_thresholds_and_accepted_risks_apply() {
    let home = Home::new();
    let file = home.file("sg.json", describe_document().to_string());
    let redis = fingerprint("PR021", "cloud|sg-0123|tcp|6379-6379|0.0.0.0/0");
    let policy = home.file(
        "policy.toml",
        format!(
            "version = 1\n\n[defaults]\nmin_severity = \"high\"\n\n\
             [[accepted_risk]]\nfinding = \"{redis}\"\nowner = \"data\"\n\
             reason = \"migration\"\nexpires = 2999-01-01\n"
        ),
    );
    let out = home.run(&[
        "cloud",
        "check",
        "--aws",
        file.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--format",
        "json",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let found: BTreeSet<(String, String, bool)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                text(&f["id"]),
                text(&f["resource"]["name"]),
                f.get("accepted").is_some(),
            )
        })
        .collect();
    // The medium PR022s are below min_severity; the Redis PR021 is accepted
    // and the all-protocols PR021 still counts.
    let expected: BTreeSet<(String, String, bool)> = [
        ("PR021".to_string(), "sg-0123".to_string(), true),
        ("PR021".to_string(), "sg-0789".to_string(), false),
    ]
    .into();
    assert_eq!(found, expected, "{report:#}");
    assert_eq!(report["summary"]["accepted"], 1);
    assert_eq!(report["summary"]["findings"], 1);
}

#[test]
fn bad_input_is_located_and_exits_2() {
    let home = Home::new();
    let bad = home.file(
        "bad.json",
        "{\"SecurityGroups\": [\n  {\"GroupId\": \"sg-1\", \"IpPermissions\": [\n    {\"IpProtocol\": \"tcp\", \"FromPort\": \"x\", \"ToPort\": 22}]}]}\n",
    );
    let shown = bad.to_str().unwrap();
    let out = home.run(&["cloud", "check", "--aws", shown]);
    assert_exit(
        &out,
        2,
        &format!("{shown}:3:41: SecurityGroups[0].IpPermissions[0].FromPort: invalid type"),
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    let reversed = home.file(
        "reversed.json",
        json!({"SecurityGroups": [{"GroupId": "sg-1", "IpPermissions": [
            {"IpProtocol": "udp", "FromPort": 60, "ToPort": 50}]}]})
        .to_string(),
    );
    let out = home.run(&["cloud", "check", "--aws", reversed.to_str().unwrap()]);
    assert_exit(
        &out,
        2,
        "SecurityGroups[0].IpPermissions[0]: FromPort 60 is above ToPort 50",
    );

    let out = home.run(&[
        "cloud",
        "check",
        "--aws",
        "/nonexistent/sg.json",
        "--format",
        "nagios",
    ]);
    assert_exit(&out, 3, "UNKNOWN");
}

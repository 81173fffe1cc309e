//! `portreeve report --framework F`: the controls of a framework judged
//! from a real host's facts. A namespace host whose policy was proposed,
//! approved and applied, with one listener no rule allows, gives the
//! expected pass, fail and manual per PCI DSS control; allowing that
//! listener turns its controls to pass; a hand-made change to portreeve's
//! table fails the controls that rest on an intact firewall. An unknown
//! framework is refused before anything is read.

mod support;

use serde_json::Value;
use support::{Home, Lab, assert_exit, assert_matches_schema, run, stderr, stdout, testkit};

const SUBNET: u8 = 193;

/// A policy admitting the lab zone to 7410, and to 7411 when `cache`.
fn policy(cache: bool) -> String {
    let mut text = format!(
        "[zones]\nlab = [\"10.{SUBNET}.0.0/24\"]\n\
         [[rule]]\nname = \"web\"\nport = 7410\nprotocol = \"tcp\"\nzones = [\"lab\"]\n"
    );
    if cache {
        text.push_str(
            "[[rule]]\nname = \"cache\"\nport = 7411\nprotocol = \"tcp\"\nzones = [\"lab\"]\n",
        );
    }
    text
}

/// Proposes `text` as ann, approves it as ben and applies it.
fn apply_approved(lab: &Lab, id: &str, text: &str) {
    let p = lab.home.file(&format!("p{id}.toml"), text);
    lab.ok(&[
        "propose",
        p.to_str().unwrap(),
        "--reason",
        "compliance test",
        "--identity",
        "ann",
    ]);
    lab.ok(&["approve", id, "--identity", "ben", "--reason", "needed"]);
    lab.ok(&["apply", "--proposal", id, "--reason", "go"]);
}

/// `report --framework F --format json`, checked against the report's
/// schema.
fn report(lab: &Lab, framework: &str) -> Value {
    let doc = lab.json(&["report", "--framework", framework, "--format", "json"]);
    assert_matches_schema(&doc, "docs/schema/report.v1.json");
    assert_eq!(doc["framework"], framework);
    doc
}

/// Each control's status, in the order of the mapping.
fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["controls"]
        .as_array()
        .unwrap_or_else(|| panic!("no controls in {doc:#}"))
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(id, s)| (id.to_string(), s.to_string()))
        .collect()
}

fn control<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id} in {doc:#}"))
}

fn evidence(doc: &Value, id: &str) -> String {
    control(doc, id)["evidence"].to_string()
}

#[test]
fn a_namespace_host_gives_the_expected_result_per_control() {
    const TEST: &str = "a_namespace_host_gives_the_expected_result_per_control";
    if !testkit::privileged(TEST, &["ip", "python3", "nft"]) {
        return;
    }
    let lab = Lab::new(SUBNET, &["tcp4:0.0.0.0:7410", "tcp4:0.0.0.0:7411"]);
    for name in ["ann", "ben"] {
        support::assert_ok(&lab.home.run(&["identity", "new", name]));
    }
    apply_approved(&lab, "1", &policy(false));

    // 7411 listens and no rule allows it.
    let doc = report(&lab, "pci-dss");
    assert_eq!(
        statuses(&doc),
        expect(&[
            ("1.2.2", "pass"),
            ("1.2.5", "fail"),
            ("1.2.6", "pass"),
            ("1.2.7", "pass"),
            ("1.2.8", "pass"),
            ("1.3.1", "fail"),
            ("1.3.2", "manual"),
            ("1.4.1", "pass"),
            ("1.4.2", "fail"),
            ("1.4.3", "manual"),
            ("1.4.4", "manual"),
        ]),
        "{:#}",
        doc["controls"]
    );
    let unallowed = evidence(&doc, "1.2.5");
    assert!(
        unallowed.contains("PR001 listener-not-allowed") && unallowed.contains(":7411"),
        "{unallowed}"
    );
    assert!(!unallowed.contains(":7410"), "{unallowed}");
    assert_eq!(
        control(&doc, "1.2.7")["source"],
        "PCI DSS v4.0, requirement 1.2.7"
    );
    assert!(
        evidence(&doc, "1.2.2").contains("installed on an approved proposal"),
        "{}",
        evidence(&doc, "1.2.2")
    );
    // The controls judge the report's own findings.
    let failing = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "PR001" && f["accepted"].is_null())
        .count();
    assert!(failing > 0, "{:#}", doc["findings"]);

    // Every framework is assessed; the fact-only controls agree with
    // PCI DSS's.
    let mlps = report(&lab, "mlps2");
    assert_eq!(control(&mlps, "8.1.3.2 a)")["status"], "fail");
    assert_eq!(control(&mlps, "8.1.3.2 d)")["status"], "pass");
    let cis = report(&lab, "cis");
    assert_eq!(control(&cis, "linux-firewall-open-ports")["status"], "fail");
    assert_eq!(
        control(&cis, "docker-needed-ports")["status"],
        "not-applicable"
    );
    let nist = report(&lab, "nist-800-53");
    assert_eq!(control(&nist, "SC-7(5)")["status"], "pass");
    assert_eq!(control(&nist, "CM-3")["status"], "pass");
    assert_eq!(control(&nist, "CM-7")["status"], "fail");

    // Allowing 7411, through change control again, passes its controls.
    apply_approved(&lab, "2", &policy(true));
    let doc = report(&lab, "pci-dss");
    for id in ["1.2.5", "1.3.1", "1.4.2"] {
        assert_eq!(
            control(&doc, id)["status"],
            "pass",
            "{:#}",
            control(&doc, id)
        );
    }

    // Someone opens SSH by hand: the firewall is no longer the approved
    // one, so nothing vouches for default deny.
    let nft = run(lab
        .srv
        .exec("nft")
        .args(["add element inet portreeve allowed_v4 { 203.0.113.9 . tcp . 22 }"]));
    assert!(nft.status.success(), "{}", stderr(&nft));
    let doc = report(&lab, "pci-dss");
    for id in ["1.2.2", "1.2.8", "1.3.1", "1.4.1", "1.4.2"] {
        assert_eq!(
            control(&doc, id)["status"],
            "fail",
            "{:#}",
            control(&doc, id)
        );
    }
    assert!(
        evidence(&doc, "1.2.8").contains("PR014 table-drift"),
        "{}",
        evidence(&doc, "1.2.8")
    );
    let nist = report(&lab, "nist-800-53");
    assert_eq!(control(&nist, "SC-7(5)")["status"], "fail");
}

#[test]
fn an_unknown_framework_is_refused_and_a_fresh_host_fails_what_needs_a_policy() {
    let home = Home::new();
    let out = home.run(&["report", "--framework", "pci", "--format", "json"]);
    assert_exit(&out, 2, "unknown framework `pci`");
    assert!(
        stderr(&out).contains("expected pci-dss, mlps2, cis or nist-800-53"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(!home.state().exists(), "a refused report created state");

    // Nothing applied: the controls that need a firewall fail whatever
    // listens on the machine running the test, and vulnerability
    // monitoring, never examined, is left to a person.
    let out = home.run(&["report", "--framework", "nist-800-53", "--format", "json"]);
    support::assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/report.v1.json");
    for (id, status) in [
        ("SC-7", "fail"),
        ("SC-7(5)", "fail"),
        ("CM-3", "fail"),
        ("CM-7(1)", "fail"),
        ("RA-5", "manual"),
    ] {
        assert_eq!(
            control(&doc, id)["status"],
            status,
            "{:#}",
            control(&doc, id)
        );
    }
    assert!(
        evidence(&doc, "CM-7(1)").contains("no policy was ever applied"),
        "{}",
        evidence(&doc, "CM-7(1)")
    );
    assert!(
        evidence(&doc, "RA-5").contains("not examined: PR023 known-vulnerability"),
        "{}",
        evidence(&doc, "RA-5")
    );
    assert!(!home.state().exists(), "a report created state");
}

//! `portreeve report`: a namespace host with listeners (one of them a
//! process named `<script>`), a policy applied, a grant, a block and a
//! recorded check gives a JSON report that matches its schema and names
//! them, and an HTML report that Debian's Chromium (driven by
//! playwright-core, tests/report/report.mjs) shows with its charts while
//! requesting nothing but the file itself; a PDF printed by headless
//! Chromium; a state directory without ledger or agent store still gives a
//! report that says so, and creates nothing.
//!
//! The browser test needs root (the namespace), node, chromium and
//! playwright-core, installed as for tests/console.rs. With
//! `PORTREEVE_REPORT_SCREENSHOT=FILE` it also saves a screenshot there
//! (docs/images/report.png is made this way).

mod support;

use std::path::PathBuf;
use std::process::{Child, Stdio};

use std::time::{Duration, Instant};

use support::{
    Home, Lab, assert_exit, assert_matches_schema, assert_ok, browser, run, sample, start_agent,
    stderr, stdout, testkit, wait_for,
};

const SUBNET: u8 = 187;

/// A TCP listener on `port` in the lab's server namespace whose process is
/// named `<script>` (Python started through a link of that name), killed
/// when dropped.
struct Hostile(Child);

impl Hostile {
    fn start(lab: &Lab, port: u16) -> Hostile {
        let link = lab.home.path().join("<script>");
        std::os::unix::fs::symlink("/usr/bin/python3", &link).unwrap();
        let mut child = lab
            .srv
            .exec(&link)
            .args([
                "-c",
                &format!(
                    "import socket,sys\ns=socket.socket()\ns.bind(('0.0.0.0',{port}))\ns.listen()\n\
                     print('up',flush=True)\nsys.stdin.read()"
                ),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "up", "the hostile listener did not start");
        Hostile(child)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lab: 8080 allowed from the lab zone, 9229 on demand, 6000 and the
/// hostile 7000 listening without a rule; applied, one grant, one block,
/// one recorded check; then the agent counts three connections to 8080.
fn lab() -> (Lab, Hostile) {
    let lab = Lab::new(SUBNET, &["tcp4:0.0.0.0:8080", "tcp4:0.0.0.0:6000"]);
    let hostile = Hostile::start(&lab, 7000);
    let policy = lab.home.file(
        "p.toml",
        format!(
            "[zones]\nlab = [\"10.{SUBNET}.0.0/24\"]\n\
             [[rule]]\nname = \"web\"\nport = 8080\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             [[rule]]\nname = \"dbg\"\nport = 9229\nprotocol = \"tcp\"\nzones = [\"lab\"]\n\
             grant = {{ max_ttl = \"1h\" }}\n"
        ),
    );
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);
    lab.ok(&[
        "grant",
        "9229/tcp",
        "--from",
        &format!("10.{SUBNET}.0.2"),
        "--ttl",
        "1h",
        "--reason",
        "debugging",
    ]);
    lab.ok(&[
        "block",
        &format!("10.{SUBNET}.0.99"),
        "--ttl",
        "10m",
        "--reason",
        "probing",
    ]);
    lab.ok(&["check", "--record"]);
    let mut agent = start_agent(&lab.srv, &lab.home.state(), &[]);
    wait_for(&lab.srv, Duration::from_secs(10), |t| {
        sample(t, "portreeve_agent_last_reading_timestamp_seconds").filter(|&s| s > 0.0)
    });
    for _ in 0..3 {
        assert!(lab.connects(8080), "the lab zone reaches 8080");
    }
    // The agent stores what it counted once per reading.
    let started = Instant::now();
    loop {
        let doc = lab.json(&["report", "--format", "json"]);
        let counted = doc["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["port"] == "8080/tcp" && p["total"] == 3);
        if counted {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the agent's connections never reached the report: {:#}",
            doc["connections"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    agent.stop();
    (lab, hostile)
}

#[test]
fn the_report_of_a_namespace_host_names_its_listeners_findings_and_changes() {
    const TEST: &str = "the_report_of_a_namespace_host_names_its_listeners_findings_and_changes";
    let Some(playwright) = browser::ready(TEST, &["ip", "python3", "nft"]) else {
        return;
    };
    let (lab, _hostile) = lab();

    let doc = lab.json(&["report", "--format", "json"]);
    assert_matches_schema(&doc, "docs/schema/report.v1.json");
    assert_eq!(doc["kind"], "portreeve.report");
    assert_eq!(doc["policy"]["in_effect"], true);
    let listeners = doc["listeners"].as_array().unwrap();
    for port in [8080, 6000, 7000] {
        assert!(
            listeners.iter().any(|l| l["port"] == port),
            "{port} is not in the inventory: {doc:#}"
        );
    }
    let hostile = listeners.iter().find(|l| l["port"] == 7000).unwrap();
    assert_eq!(hostile["owners"][0]["name"], "<script>", "{hostile:#}");
    // The firewall admits the lab zone to 8080 and nobody to 6000.
    let web = listeners.iter().find(|l| l["port"] == 8080).unwrap();
    assert_eq!(web["reach"]["scope"], "zones", "{web:#}");
    assert_eq!(web["reach"]["from"][0]["zone"], "lab");
    let lab_zone = doc["exposure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "lab")
        .unwrap_or_else(|| panic!("no lab zone in {:#}", doc["exposure"]));
    assert_eq!(lab_zone["ports"], serde_json::json!(["8080/tcp"]));
    // The findings are check's: the same ids on the same ports.
    let check = lab.json(&["check", "--format", "json"]);
    let ids = |d: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        d["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["socket"]["port"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&doc), ids(&check));
    assert!(
        ids(&doc).iter().any(|(_, port)| port == 6000),
        "no finding about 6000, which no rule allows: {doc:#}"
    );
    assert_eq!(doc["summary"], check["summary"]);
    // The changes, from the ledger, which verifies.
    assert_eq!(doc["ledger"]["present"], true);
    assert_eq!(doc["ledger"]["verification"]["verified"], true);
    let actions: Vec<&str> = doc["ledger"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["apply", "grant", "block", "check"] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    assert_eq!(doc["grants"][0]["action"], "grant");
    assert_eq!(doc["grants"][0]["reason"], "debugging");
    assert_eq!(
        doc["blocks"][0]["object"],
        format!("10.{SUBNET}.0.99/32 for 10m")
    );
    let runs = doc["findings_over_time"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["findings"], doc["summary"]["findings"]);
    let web_hours = doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == "8080/tcp")
        .unwrap();
    assert_eq!(
        web_hours["hourly"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    assert_eq!(
        doc["lifecycle"]["counts"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>() as usize,
        doc["lifecycle"]["ports"].as_array().unwrap().len()
    );

    // A period after everything: no entry falls in it, the ledger is whole.
    let later = lab.json(&["report", "--format", "json", "--since", "2099-01-01"]);
    assert_eq!(later["ledger"]["entries"], serde_json::json!([]));
    assert_eq!(later["grants"], serde_json::json!([]));
    assert_eq!(
        later["ledger"]["total_entries"],
        doc["ledger"]["total_entries"]
    );
    assert_exit(
        &lab.portreeve(&["report", "--since", "last tuesday"]),
        2,
        "is not a time",
    );

    // With a framework, its controls, judged from the same facts.
    let assessed = lab.json(&["report", "--format", "json", "--framework", "pci-dss"]);
    assert_matches_schema(&assessed, "docs/schema/report.v1.json");
    assert_eq!(assessed["framework"], "pci-dss");
    let controls = assessed["controls"].as_array().unwrap().len();
    assert!(controls > 0, "{assessed:#}");
    assert!(
        doc.get("controls").is_none(),
        "controls without --framework"
    );

    // The page, in Chromium.
    let page = lab.home.path().join("report.html");
    lab.ok(&[
        "report",
        "--framework",
        "pci-dss",
        "--output",
        page.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script"));
    let expect = serde_json::json!({
        "ports": ["8080/tcp", "6000/tcp", "7000/tcp"],
        "findings": ids(&doc).into_iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "hostile": "<script>",
        "zone": "lab",
        "busy_port": "8080/tcp",
        "controls": controls,
        "grant": "debugging",
        "block": format!("10.{SUBNET}.0.99/32"),
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/report/report.mjs");
    let mut node = lab.srv.exec("node");
    node.arg(&script)
        .env("REPORT_FILE", &page)
        .env("REPORT_EXPECT", expect.to_string())
        .env("PORTREEVE_PLAYWRIGHT", &playwright)
        .env("HOME", lab.home.path());
    if let Some(shot) = std::env::var_os("PORTREEVE_REPORT_SCREENSHOT") {
        node.env("REPORT_SCREENSHOT", shot);
    }
    let out = run(&mut node);
    let said = stdout(&out);
    assert!(
        out.status.success() && !said.contains("FAIL"),
        "the report script failed ({}):\n{said}\n{}",
        out.status,
        stderr(&out)
    );
    for step in [
        "ok: the report opens",
        "ok: the inventory lists the listeners, a hostile process name as text",
        "ok: the findings are listed with their remediation",
        "ok: the charts are drawn",
        "ok: exposure, grants, blocks and the verified ledger are shown",
        "ok: the framework's controls are listed",
        "ok: no request but the file itself",
    ] {
        assert!(said.contains(step), "missing `{step}`:\n{said}");
    }
}

#[test]
fn a_state_directory_without_ledger_or_store_gives_a_report_saying_so() {
    let home = Home::new();
    let out = home.run(&["report", "--format", "json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/report.v1.json");
    assert_eq!(doc["ledger"]["present"], false);
    assert_eq!(doc["ledger"]["verification"], serde_json::Value::Null);
    let notes: Vec<&str> = doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("no ledger")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("no agent store")),
        "{notes:?}"
    );
    let page = home.run(&["report"]);
    assert_ok(&page);
    assert!(stdout(&page).contains("No ledger"), "{}", stdout(&page));
    assert!(
        !home.state().exists(),
        "a report created the state directory"
    );
}

#[test]
fn a_pdf_is_printed_by_chromium_and_its_absence_is_a_clear_error() {
    let home = Home::new();
    let pdf = home.path().join("report.pdf");
    let missing = run(home
        .command(support::portreeve())
        .env("PORTREEVE_CHROMIUM", home.path().join("no-chromium"))
        .args([
            "report",
            "--format",
            "pdf",
            "--output",
            pdf.to_str().unwrap(),
        ]));
    assert_exit(&missing, 3, "a PDF report is printed by headless Chromium");
    assert!(!pdf.exists(), "a failed print wrote a file");
    assert_exit(&home.run(&["report", "--format", "pdf"]), 2, "--output");

    if !testkit::require_programs(
        "a_pdf_is_printed_by_chromium_and_its_absence_is_a_clear_error",
        &["chromium"],
    ) {
        return;
    }
    assert_ok(&home.run(&[
        "report",
        "--format",
        "pdf",
        "--output",
        pdf.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(
        bytes.starts_with(b"%PDF-"),
        "not a PDF: {:?}",
        &bytes[..bytes.len().min(16)]
    );
}

#[test]
fn manifests_security_groups_and_advisories_are_judged_into_the_report_and_count_as_examined() {
    let home = Home::new();
    let manifests = home.file("shop.yaml", support::k8s::shop_cache_and_web());
    let groups = serde_json::json!({"SecurityGroups": [{
        "GroupId": "sg-0123", "GroupName": "cache", "Description": "test group",
        "VpcId": "vpc-0abc", "OwnerId": "123456789012",
        "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
                           "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
                           "PrefixListIds": [], "UserIdGroupPairs": []}],
        "IpPermissionsEgress": [],
    }]});
    let aws = home.file("sg.json", groups.to_string());
    // One advisory about a package no listener here belongs to: examined,
    // nothing found.
    let osv = home.path().join("osv");
    std::fs::create_dir(&osv).unwrap();
    std::fs::write(
        osv.join("TEST-unrelated.json"),
        serde_json::json!({
            "id": "TEST-unrelated", "modified": "2026-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                          "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]}],
        })
        .to_string(),
    )
    .unwrap();
    let report = |extra: &[&str]| {
        let mut args = vec!["report", "--format", "json", "--framework", "cis"];
        args.extend_from_slice(extra);
        let out = home.run(&args);
        assert_ok(&out);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_matches_schema(&doc, "docs/schema/report.v1.json");
        doc
    };
    let control = |doc: &serde_json::Value, id: &str| {
        doc["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no control {id}"))
            .clone()
    };

    let alone = report(&[]);
    assert_eq!(alone["sources"], serde_json::json!([]));
    assert_ne!(
        control(&alone, "kubernetes-5.3.2")["status"],
        "fail",
        "judged without manifests"
    );

    let doc = report(&[
        "--k8s-manifests",
        manifests.to_str().unwrap(),
        "--aws",
        aws.to_str().unwrap(),
        "--osv",
        osv.to_str().unwrap(),
    ]);
    let sources: Vec<(&str, u64)> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["findings"].as_u64().unwrap()))
        .collect();
    assert_eq!(sources[0].0, "kubernetes");
    assert!(sources[0].1 >= 2, "{sources:?}");
    assert_eq!(sources[1], ("aws", 1));
    assert_eq!(sources[2], ("vulnerabilities", 0));
    let codes: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for code in ["PR015", "PR016", "PR021"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    let isolation = control(&doc, "kubernetes-5.3.2");
    assert_eq!(isolation["status"], "fail", "{isolation}");
    assert!(isolation.to_string().contains("PR015"), "{isolation}");
    assert_eq!(
        doc["summary"]["findings"].as_u64().unwrap(),
        alone["summary"]["findings"].as_u64().unwrap() + sources[0].1 + 1,
        "the summary counts the included findings"
    );
    let page = home.run(&["report", "--k8s-manifests", manifests.to_str().unwrap()]);
    assert_ok(&page);
    assert!(
        stdout(&page).contains("Deployment shop/cache"),
        "the page names the pod"
    );

    // Bad input is refused, located, and nothing is written.
    let broken = home.file("broken.yaml", "kind: Deployment\nmetadata: [\n");
    let out = home.run(&["report", "--k8s-manifests", broken.to_str().unwrap()]);
    assert_exit(&out, 2, "broken.yaml");
    let out = home.run(&[
        "report",
        "--server",
        "http://127.0.0.1:9",
        "--aws",
        aws.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "cannot be used with");
    assert!(
        !home.state().exists(),
        "a report created the state directory"
    );
}

//! `simulate` end to end in a namespace: with a policy in effect, a
//! stricter candidate names exactly the recorded (source, port) pairs it
//! would break and the ones it newly opens, the findings it clears and
//! raises, and exits 1; a candidate that keeps every used pair exits 0; the
//! live ruleset is byte-for-byte what it was.

mod support;

use serde_json::Value;
use support::{Lab, assert_exit, assert_matches_schema, run, stdout, testkit};

/// In effect: 7070 for the lab and the partners, 7071 for the lab.
const NOW: &str = r#"[zones]
lab = ["10.173.0.0/24"]
partners = ["198.51.100.0/24", "2001:db8::/64"]

[[rule]]
name = "app"
port = 7070
protocol = "tcp"
zones = ["lab", "partners"]

[[rule]]
name = "admin"
port = 7071
protocol = "tcp"
zones = ["lab"]
"#;

/// The candidate: 7070 for the lab only, 7071 gone, 7072 opened.
const STRICTER: &str = r#"[zones]
lab = ["10.173.0.0/24"]
partners = ["198.51.100.0/24", "2001:db8::/64"]

[[rule]]
name = "app"
port = 7070
protocol = "tcp"
zones = ["lab"]

[[rule]]
name = "reports"
port = 7072
protocol = "tcp"
zones = ["lab"]
"#;

/// One recorded use as a JSON line.
fn used(source: &str, port: u16, connections: u64, last_seen: &str) -> String {
    format!(
        r#"{{"source":"{source}","protocol":"tcp","port":{port},"connections":{connections},"first_seen":"2025-01-01T00:00:00Z","last_seen":"{last_seen}"}}"#
    ) + "\n"
}

/// The whole ruleset of the server namespace, as nft lists it.
fn live_ruleset(lab: &Lab) -> String {
    stdout(&run(lab.srv.exec("nft").args(["list", "ruleset"])))
}

#[test]
fn simulate_names_what_a_candidate_breaks_and_changes_nothing() {
    if !testkit::privileged(
        "simulate_names_what_a_candidate_breaks_and_changes_nothing",
        &["ip", "python3", "nft"],
    ) {
        return;
    }
    let lab = Lab::new(
        173,
        &[
            "tcp4:0.0.0.0:7070",
            "tcp4:0.0.0.0:7071",
            "tcp4:0.0.0.0:7072",
        ],
    );
    let now = lab.home.file("now.toml", NOW);
    lab.ok(&["apply", "--policy", now.to_str().unwrap()]);
    let stricter = lab.home.file("stricter.toml", STRICTER);
    let usage = lab.home.file(
        "usage.jsonl",
        [
            used("10.173.0.2/32", 7070, 40, "2026-06-01T10:00:00Z"),
            used("198.51.100.7/32", 7070, 12, "2026-06-02T11:00:00Z"),
            used("2001:db8::/64", 7070, 3, "2026-06-03T12:00:00Z"),
            used("10.173.0.2/32", 7071, 5, "2026-06-04T13:00:00Z"),
            used("10.173.0.2/32", 7072, 1, "2026-06-05T14:00:00Z"),
            // Before --since: not replayed, though the candidate closes it.
            used("10.173.0.9/32", 7071, 9, "2025-06-01T00:00:00Z"),
        ]
        .concat(),
    );
    let before = live_ruleset(&lab);
    assert!(before.contains("table inet portreeve"), "{before}");

    let out = lab.portreeve(&[
        "simulate",
        "--policy",
        stricter.to_str().unwrap(),
        "--usage",
        usage.to_str().unwrap(),
        "--since",
        "2026-01-01",
        "--format",
        "json",
    ]);
    assert_exit(&out, 1, "");
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/simulate.v1.json");
    assert_eq!(doc["enforced"], true);
    assert_eq!(doc["current"]["source"], "in-effect");
    assert_eq!(doc["pairs"], 5);
    let pairs = |name: &str| -> Vec<(String, u64, u64, String, String)> {
        doc[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["source"].as_str().unwrap().to_string(),
                    p["port"].as_u64().unwrap(),
                    p["connections"].as_u64().unwrap(),
                    p["last_seen"].as_str().unwrap().to_string(),
                    p["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |s: &str, port, n, seen: &str, v: &str| {
        (s.to_string(), port, n, seen.to_string(), v.to_string())
    };
    assert_eq!(
        pairs("blocked"),
        vec![
            pair(
                "198.51.100.7/32",
                7070,
                12,
                "2026-06-02T11:00:00Z",
                "not allowed"
            ),
            pair(
                "2001:db8::/64",
                7070,
                3,
                "2026-06-03T12:00:00Z",
                "not allowed"
            ),
            pair(
                "10.173.0.2/32",
                7071,
                5,
                "2026-06-04T13:00:00Z",
                "not allowed"
            ),
        ]
    );
    assert_eq!(
        pairs("opened"),
        vec![pair(
            "10.173.0.2/32",
            7072,
            1,
            "2026-06-05T14:00:00Z",
            "not allowed"
        )]
    );
    // The listener on 7072 stops being unallowed; the one on 7071 starts.
    let ports = |list: &str| -> Vec<u64> {
        doc["findings"][list]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["socket"]["port"].as_u64())
            .collect()
    };
    assert!(ports("cleared").contains(&7072), "{}", doc["findings"]);
    assert!(ports("raised").contains(&7071), "{}", doc["findings"]);
    assert!(!ports("raised").contains(&7070), "{}", doc["findings"]);

    // A candidate that keeps every used pair breaks nothing.
    let keeps = lab.home.file(
        "keeps.toml",
        format!(
            "{NOW}{}",
            &STRICTER[STRICTER.find("[[rule]]\nname = \"reports\"").unwrap()..]
        ),
    );
    let out = lab.portreeve(&[
        "simulate",
        "--policy",
        keeps.to_str().unwrap(),
        "--usage",
        usage.to_str().unwrap(),
        "--since",
        "2026-01-01",
    ]);
    assert_exit(&out, 0, "0 used pairs would break");

    // Without --usage: the agent's record, empty here.
    let doc = lab.json(&[
        "simulate",
        "--policy",
        stricter.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(doc["pairs"], 0);

    assert_eq!(
        live_ruleset(&lab),
        before,
        "simulate changed the live ruleset"
    );
}

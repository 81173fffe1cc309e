//! The ECS sink: JSON lines with Elastic Common Schema fields, rotated at
//! the size bound.

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use portreeve_alerts::{Alert, Alerts, AlertsConfig, EcsConfig, ecs, examples};
use serde_json::{Value, json};
use support::{stats, wait_until};

fn start(path: &Path, max_bytes: u64, keep: u32) -> Alerts {
    Alerts::start(&AlertsConfig {
        ecs: vec![EcsConfig {
            path: path.to_owned(),
            name: Some("ecs-test".to_owned()),
            max_bytes,
            keep,
            queue: 64,
        }],
        ..AlertsConfig::default()
    })
    .unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn each_alert_is_a_json_line_with_ecs_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.ecs.json");
    let alerts = start(&path, 1 << 20, 2);
    alerts.send(examples::detection());
    alerts.send(Alert::Block(examples::block()));
    wait_until(Duration::from_secs(5), "two lines", || {
        stats(&alerts, 0).delivered == 2
    });
    assert_eq!(alerts.stats()[0].0, "ecs-test");

    let docs = lines(&path);
    assert_eq!(docs.len(), 2);
    for doc in &docs {
        assert_eq!(doc["ecs"]["version"], ecs::ECS_VERSION);
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(
            doc["event"]["category"],
            json!(["network", "intrusion_detection"])
        );
        assert_eq!(doc["event"]["module"], "portreeve");
        assert_eq!(doc["source"]["ip"], "192.0.2.7");
        assert!(
            doc["message"]
                .as_str()
                .is_some_and(|m| m.contains("192.0.2.7"))
        );
    }
    let detection = &docs[0];
    assert_eq!(detection["@timestamp"], "2026-05-28T20:26:45Z");
    assert_eq!(detection["event"]["type"], json!(["info", "denied"]));
    assert_eq!(detection["event"]["action"], "port-scan-detected");
    assert_eq!(detection["event"]["start"], "2026-05-28T20:26:40Z");
    // ECS's destination.port holds one value; the probed ports are ours.
    assert!(detection.get("destination").is_none(), "{detection}");
    assert_eq!(
        detection["portreeve"]["ports"],
        json!([22, 23, 80, 443, 8080])
    );
    assert_eq!(detection["rule"]["name"], "portscan.vertical");
    assert_eq!(detection["network"]["transport"], "tcp");
    assert_eq!(detection["portreeve"]["tier"], "kernel");
    assert_eq!(detection["portreeve"]["attempts"], 5);
    let block = &docs[1];
    assert_eq!(block["event"]["type"], json!(["denied"]));
    assert_eq!(block["event"]["action"], "source-blocked");
    assert_eq!(block["event"]["reason"], "vertical port scan");
    assert_eq!(block["user"]["name"], "agent");
    assert_eq!(block["portreeve"]["block"]["ttl_seconds"], 600);
    assert_eq!(block["portreeve"]["block"]["target"], "192.0.2.7/32");
}

#[test]
fn the_file_rotates_before_passing_its_bound_and_keeps_n_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.ecs.json");
    let line_len = ecs::document(&examples::detection()).to_string().len() as u64 + 1;
    // Room for two lines and a half: each file takes two.
    let max_bytes = (2 * line_len + line_len / 2).max(1024);
    assert!(max_bytes < 3 * line_len, "lines of {line_len} bytes");
    let alerts = start(&path, max_bytes, 2);
    for _ in 0..7 {
        alerts.send(examples::detection());
    }
    wait_until(Duration::from_secs(5), "seven lines", || {
        stats(&alerts, 0).delivered == 7
    });

    // 7 lines: 2, 2 and 2 rotated out (the oldest of them deleted), 1 current.
    let old = |n: u32| dir.path().join(format!("alerts.ecs.json.{n}"));
    assert_eq!(lines(&path).len(), 1);
    assert_eq!(lines(&old(1)).len(), 2);
    assert_eq!(lines(&old(2)).len(), 2);
    assert!(!old(3).exists(), "only two old files are kept");
    for file in [path.clone(), old(1), old(2)] {
        assert!(fs::metadata(&file).unwrap().len() <= max_bytes);
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
}

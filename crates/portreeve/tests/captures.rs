//! `portreeve captures` lists the incident captures in `<state>/captures`:
//! the files the agent wrote (made here byte by byte, as the capture crate
//! writes them: classic pcap, link type RAW), with what their names and
//! contents say.

mod support;

use support::{Home, assert_matches_schema, assert_ok, stdout};

/// Link type RAW: IPv4 and IPv6 packets without a link header.
const RAW: u32 = 101;

/// A TCP SYN from 198.51.100.7:40000 to 10.0.0.1:22, as it travels.
fn syn() -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 7, 10, 0, 0, 1,
    ];
    p.extend_from_slice(&40000u16.to_be_bytes());
    p.extend_from_slice(&22u16.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    p
}

/// Writes `<state>/captures/name` holding `packets` SYNs, plus `tail`
/// bytes of one more (a record still being written).
fn capture(home: &Home, name: &str, packets: usize, tail: usize) -> Vec<u8> {
    let dir = home.state().join("captures");
    std::fs::create_dir_all(&dir).unwrap();
    let frames: Vec<(u64, Vec<u8>)> = (0..packets as u64)
        .map(|i| (1_765_000_000_000_000 + i, syn()))
        .collect();
    let mut bytes = portreeve_testkit::capture::pcap(RAW, &frames);
    bytes.extend(std::iter::repeat_n(0, tail));
    std::fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

#[test]
fn the_listing_reads_source_label_start_and_packets_from_each_capture() {
    let home = Home::new();
    // No captures directory yet: an empty listing, not an error.
    let out = home.run(&["captures", "--format", "json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/captures.v1.json");
    assert_eq!(doc["captures"], serde_json::json!([]));

    let newer = capture(
        &home,
        "20261206T213001.250Z-2001:db8::7-detection-9.pcap",
        2,
        5,
    );
    let older = capture(
        &home,
        "20261206T100000.000Z-198.51.100.7-detection-8.pcap",
        3,
        0,
    );
    std::fs::write(home.state().join("captures/notes.txt"), "not a capture").unwrap();

    let out = home.run(&["captures", "--format", "json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/captures.v1.json");
    assert_eq!(doc["kind"], "portreeve.captures");
    let dir = home.state().join("captures");
    assert_eq!(doc["directory"], dir.to_str().unwrap());
    let listed: Vec<serde_json::Value> = doc["captures"].as_array().unwrap().clone();
    assert_eq!(
        listed,
        vec![
            serde_json::json!({
                "file": dir.join("20261206T100000.000Z-198.51.100.7-detection-8.pcap"),
                "source": "198.51.100.7", "label": "detection-8",
                "started": "2026-12-06T10:00:00Z", "packets": 3, "bytes": older.len(),
            }),
            serde_json::json!({
                "file": dir.join("20261206T213001.250Z-2001:db8::7-detection-9.pcap"),
                "source": "2001:db8::7", "label": "detection-9",
                "started": "2026-12-06T21:30:01.25Z", "packets": 2, "bytes": newer.len(),
            }),
        ],
        "oldest first, the other file left out, a half-written record not counted"
    );

    let out = home.run(&["captures", "--no-headers"]);
    assert_ok(&out);
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0][1..],
        [
            "198.51.100.7",
            "detection-8",
            "2026-12-06",
            "10:00:00",
            "3",
            &older.len().to_string()
        ]
    );
    assert!(
        lines[1][0].ends_with("-2001:db8::7-detection-9.pcap"),
        "{lines:?}"
    );
}

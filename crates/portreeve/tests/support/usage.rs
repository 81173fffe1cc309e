//! What the agent recorded of who uses what, as `usage --by-source --format
//! json` lists it: the listing, polling it until the agent has caught up,
//! and one (source, protocol, port)'s count.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{assert_matches_schema, portreeve, run, stderr, stdout};

/// `usage --by-source --format json` against `state`, checked against its
/// schema.
pub fn by_source(state: &Path, extra: &[&str]) -> Value {
    let out = run(portreeve()
        .args(["--state-dir", state.to_str().unwrap()])
        .args(["usage", "--by-source", "--format", "json"])
        .args(extra));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/usage-by-source.v1.json");
    doc
}

/// The connections recorded from `source` (as listed: `10.0.0.2/32`) to
/// `protocol` `port`, if any.
pub fn connections(doc: &Value, source: &str, protocol: &str, port: u16) -> Option<u64> {
    doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["source"] == source && u["protocol"] == protocol && u["port"] == port)
        .map(|u| u["connections"].as_u64().unwrap())
}

/// Polls the listing until `ready` says yes, for up to 10 s (the agent
/// stores what it counted once per reading).
pub fn listing_until(state: &Path, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let doc = by_source(state, &[]);
        if ready(&doc) {
            return doc;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{doc:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

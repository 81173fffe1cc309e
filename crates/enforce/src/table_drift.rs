//! Whether portreeve's table in the kernel is still the ruleset portreeve
//! installed: someone may have added an element to an allowed set by hand,
//! deleted a rule, or changed a chain's policy.
//!
//! Both sides are nft's own JSON listing of the table — the live one, and
//! the recorded ruleset loaded into a throw-away network namespace (so nft
//! itself normalises it the way it lists tables) — compared after taking
//! out what changes at run time by design: object handles, counters'
//! values, the elements of sets the kernel fills (flags `timeout` or
//! `dynamic`: grants, blocks, the usage record, per-source limits), and the
//! generation marker.

use serde_json::Value;

use crate::nft_text::GENERATION_SET;

/// What differs between the table as installed (`expected`) and as the
/// kernel holds it (`live`), one line per difference; empty when they
/// agree. Both are `nft -j list table` documents.
pub fn differences(expected: &Value, live: &Value) -> Vec<String> {
    let (expected, live) = (objects(expected), objects(live));
    let mut out = Vec::new();
    for l in &live {
        match expected.iter().find(|e| same_object(e, l)) {
            None => out.push(format!("added: {}", describe(l))),
            Some(e) if e != l => out.extend(changed(e, l)),
            Some(_) => {}
        }
    }
    for e in &expected {
        if !live.iter().any(|l| same_object(e, l)) {
            out.push(format!("removed: {}", describe(e)))
        }
    }
    out
}

/// The table's objects, normalised: without handles, counter values, the
/// elements of run-time sets, or the generation marker.
fn objects(listing: &Value) -> Vec<Value> {
    listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item.get("metainfo").is_none())
        .filter(|item| item["set"]["name"] != GENERATION_SET)
        .map(|item| {
            let mut item = item.clone();
            normalise(&mut item);
            if let Some(set) = item.get_mut("set").and_then(Value::as_object_mut) {
                let runtime = set
                    .get("flags")
                    .and_then(Value::as_array)
                    .is_some_and(|flags| flags.iter().any(|f| f == "timeout" || f == "dynamic"));
                if runtime {
                    set.remove("elem");
                }
            }
            item
        })
        .collect()
}

/// Drops handles and counters' values, everywhere in `v`.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("handle");
            if let Some(counter) = map.get_mut("counter")
                && counter.is_object()
            {
                *counter = Value::Null;
            }
            map.values_mut().for_each(normalise);
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// Whether two listed objects are the same object (which may have
/// changed): a set, chain or table by kind and name; a rule only by equal
/// content, since rules have no names.
fn same_object(a: &Value, b: &Value) -> bool {
    for kind in ["table", "chain", "set", "map", "counter", "quota", "limit"] {
        if let (Some(x), Some(y)) = (a.get(kind), b.get(kind)) {
            return x["name"] == y["name"];
        }
    }
    a == b
}

/// Lines saying how object `was` became `now`: elements added and removed
/// for a set, or the whole object otherwise.
fn changed(was: &Value, now: &Value) -> Vec<String> {
    let elements = |v: &Value| -> Vec<Value> {
        v["set"]["elem"]
            .as_array()
            .or_else(|| v["map"]["elem"].as_array())
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (elements(was), elements(now));
    let without_elements = |v: &Value| {
        let mut v = v.clone();
        for kind in ["set", "map"] {
            if let Some(o) = v.get_mut(kind).and_then(Value::as_object_mut) {
                o.remove("elem");
            }
        }
        v
    };
    if without_elements(was) != without_elements(now) {
        return vec![format!("changed: {} (was {})", describe(now), compact(was))];
    }
    let name = describe(now);
    let mut out: Vec<String> = after
        .iter()
        .filter(|e| !before.contains(e))
        .map(|e| format!("{name}: element added: {}", compact(e)))
        .collect();
    out.extend(
        before
            .iter()
            .filter(|e| !after.contains(e))
            .map(|e| format!("{name}: element removed: {}", compact(e))),
    );
    out
}

/// `set allowed_v4`, `chain input`, `rule in chain input: {…}`.
fn describe(v: &Value) -> String {
    for kind in ["table", "chain", "set", "map", "counter", "quota", "limit"] {
        if let Some(o) = v.get(kind) {
            return format!("{kind} {}", o["name"].as_str().unwrap_or("?"));
        }
    }
    match v.get("rule") {
        Some(r) => format!(
            "rule in chain {}: {}",
            r["chain"].as_str().unwrap_or("?"),
            compact(&r["expr"])
        ),
        None => compact(v),
    }
}

/// One-line JSON, cut to a readable length.
fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 160 {
        text.chars().take(157).collect::<String>() + "..."
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn table(allowed: Value, seen: Value, rule_policy: &str, counter: u64) -> Value {
        json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "portreeve", "handle": 1}},
            {"set": {"family": "inet", "name": "allowed_v4", "table": "portreeve", "handle": 2,
                     "type": ["ipv4_addr", "inet_proto", "inet_service"], "flags": ["interval"],
                     "elem": allowed}},
            {"set": {"family": "inet", "name": "seen", "table": "portreeve", "handle": 3,
                     "type": ["inet_proto", "inet_service"], "flags": ["timeout"], "elem": seen}},
            {"set": {"family": "inet", "name": "generation", "table": "portreeve", "handle": 4,
                     "type": "mark", "elem": [counter]}},
            {"set": {"family": "inet", "name": "plain", "table": "portreeve", "handle": 6,
                     "type": "ipv4_addr", "elem": ["192.0.2.1"]}},
            {"chain": {"family": "inet", "table": "portreeve", "name": "input", "handle": 1,
                       "hook": "input", "policy": rule_policy}},
            {"rule": {"family": "inet", "table": "portreeve", "chain": "input", "handle": 5,
                      "expr": [{"counter": {"packets": counter, "bytes": counter * 60}}, {"drop": null}]}}
        ]})
    }

    #[test]
    fn what_changes_at_run_time_is_no_drift() {
        let installed = table(json!(["10.0.0.0/24"]), json!([]), "drop", 0);
        let running = table(json!(["10.0.0.0/24"]), json!(["tcp . 22"]), "drop", 7);
        assert!(differences(&installed, &running).is_empty());
    }

    #[test]
    fn hand_made_changes_are_named() {
        let installed = table(json!(["10.0.0.0/24"]), json!([]), "drop", 0);
        let added = table(json!(["10.0.0.0/24", "10.9.9.9"]), json!([]), "drop", 0);
        assert_eq!(
            differences(&installed, &added),
            ["set allowed_v4: element added: \"10.9.9.9\""]
        );
        assert_eq!(
            differences(&added, &installed),
            ["set allowed_v4: element removed: \"10.9.9.9\""]
        );
        let accepting = table(json!(["10.0.0.0/24"]), json!([]), "accept", 0);
        let found = differences(&installed, &accepting);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("changed: chain input"), "{found:?}");
        let mut no_rule = installed.clone();
        no_rule["nftables"].as_array_mut().unwrap().pop();
        let found = differences(&installed, &no_rule);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("removed: rule in chain input"),
            "{found:?}"
        );
    }
}

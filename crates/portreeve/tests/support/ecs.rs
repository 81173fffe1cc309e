//! Elastic Common Schema documents checked against the published field
//! reference: `EcsFlat` of the npm package `@elastic/ecs` (9.4.0), which is
//! generated from ECS's `generated/ecs/ecs_flat.yml`. scripts/test.sh
//! installs the package as root under `~/.cache/portreeve/ecs`
//! (`PORTREEVE_ECS` names another directory); node reads it and hands the
//! fields over as JSON. Without it the tests that check ECS skip, and fail
//! under `PORTREEVE_REQUIRE_PRIVILEGED=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use serde_json::Value;

use super::testkit;

/// What the reference says of one field.
#[derive(Debug, Deserialize)]
pub struct Field {
    /// The Elasticsearch type (`keyword`, `long`, `date`, `ip`, …).
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether ECS lets the field hold an array (`normalize: [array]`).
    pub array: bool,
    /// The values ECS allows, for the fields that restrict them.
    pub allowed: Option<Vec<String>>,
}

/// The reference: its ECS version and every field by dotted name.
#[derive(Debug, Deserialize)]
pub struct Reference {
    pub version: String,
    pub fields: BTreeMap<String, Field>,
}

/// The namespace portreeve's own fields go under. ECS has no field set of
/// that name (checked by [`reference`]), so nothing there can clash.
pub const CUSTOM: &str = "portreeve";

/// Where scripts/test.sh installs `@elastic/ecs`.
pub fn ecs_dir() -> PathBuf {
    std::env::var_os("PORTREEVE_ECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/portreeve/ecs")
        })
}

/// Prints the reference as `{version, fields: {name: {type, array,
/// allowed}}}`, resolving the package from the directory in argv[1].
const DUMP: &str = r#"
const { createRequire } = require('module');
const dir = process.argv[1];
const ecs = createRequire(require('path').join(dir, 'package.json'))('@elastic/ecs');
const fields = {};
for (const [name, f] of Object.entries(ecs.EcsFlat)) {
  fields[name] = {
    type: f.type,
    array: (f.normalize || []).includes('array'),
    allowed: f.allowed_values ? f.allowed_values.map(v => v.name) : null,
  };
}
process.stdout.write(JSON.stringify({ version: ecs.EcsVersion, fields }));
"#;

/// The reference, read once per test binary; `None` when node or the
/// package is missing, after one skip line per test (a panic under
/// `PORTREEVE_REQUIRE_PRIVILEGED=1`). The test is named after its thread,
/// which the test harness names after the test.
pub fn reference() -> Option<&'static Reference> {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    static TOLD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if let Some(found) = REFERENCE.get() {
        return Some(found);
    }
    let dir = ecs_dir();
    let missing = if !testkit::installed("node") {
        Some("node is not installed".to_owned())
    } else if !dir.join("node_modules/@elastic/ecs").is_dir() {
        Some(format!(
            "@elastic/ecs is not in {} (scripts/test.sh installs it as root)",
            dir.display()
        ))
    } else {
        None
    };
    if let Some(why) = missing {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("ecs").to_owned();
        // The lock is let go before skip_unless, which may panic.
        let first = TOLD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(test.clone());
        if first {
            testkit::skip_unless(&test, false, why);
        }
        return None;
    }
    let out = Command::new("node")
        .args(["-e", DUMP])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    assert!(
        out.status.success(),
        "node could not read @elastic/ecs in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded: Reference = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("@elastic/ecs's EcsFlat as JSON: {e}"));
    assert!(
        loaded.fields.len() > 1000 && loaded.fields.contains_key("event.kind"),
        "EcsFlat from {} has {} fields",
        dir.display(),
        loaded.fields.len()
    );
    let prefix = format!("{CUSTOM}.");
    assert!(
        !loaded.fields.keys().any(|k| k.starts_with(&prefix)),
        "ECS {} now has a {CUSTOM} field set",
        loaded.version
    );
    Some(REFERENCE.get_or_init(|| loaded))
}

/// Every field of `doc` by dotted name: objects are recursed into, any
/// other value (an array too) is a field's value.
pub fn flatten(doc: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(prefix: &str, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    let name = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&name, inner, out);
                }
            }
            other => out.push((prefix.to_owned(), other)),
        }
    }
    let mut out = Vec::new();
    walk("", doc, &mut out);
    out
}

/// Whether the scalar `value` fits ECS type `ty`; panics on a type this
/// check does not know, so a new type in the reference is noticed.
fn fits(ty: &str, value: &Value) -> bool {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
            value.is_string()
        }
        "long" | "integer" | "short" | "byte" | "unsigned_long" => value.is_i64() || value.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => value.is_number(),
        "boolean" => value.is_boolean(),
        "date" => value
            .as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
        "ip" => value.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "geo_point" | "object" | "flattened" | "nested" => value.is_object(),
        other => panic!("no check for ECS type {other}"),
    }
}

/// What is wrong with `doc` as an ECS document by `reference`: fields ECS
/// does not have (outside [`CUSTOM`]), values not of the field's type,
/// arrays where ECS expects one value, values outside a field's allowed
/// values, and a missing `@timestamp` or `ecs.version`.
pub fn violations(reference: &Reference, doc: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let fields = flatten(doc);
    for required in ["@timestamp", "ecs.version"] {
        if !fields.iter().any(|(name, _)| name == required) {
            wrong.push(format!("{required} is missing"));
        }
    }
    for (name, value) in &fields {
        if name.split('.').next() == Some(CUSTOM) {
            continue;
        }
        let Some(field) = reference.fields.get(name) else {
            wrong.push(format!("{name} is not an ECS {} field", reference.version));
            continue;
        };
        let values: Vec<&Value> = match value {
            Value::Array(items) if field.array => items.iter().collect(),
            Value::Array(_) => {
                wrong.push(format!(
                    "{name} = {value}: ECS expects one value, not an array"
                ));
                continue;
            }
            one => vec![one],
        };
        for one in values {
            if !fits(&field.ty, one) {
                wrong.push(format!("{name} = {one} is not an ECS {}", field.ty));
            } else if let Some(allowed) = &field.allowed
                && !one.as_str().is_some_and(|s| allowed.iter().any(|a| a == s))
            {
                wrong.push(format!("{name} = {one} is not one of ECS's {allowed:?}"));
            }
        }
    }
    wrong
}

/// Asserts `doc` is an ECS document by the reference (see [`violations`]),
/// unless the running test skips for want of the reference.
#[track_caller]
pub fn assert_ecs(doc: &Value) {
    let Some(reference) = reference() else {
        return;
    };
    let wrong = violations(reference, doc);
    assert!(
        wrong.is_empty(),
        "not ECS {}:\n  {}\nin {doc}",
        reference.version,
        wrong.join("\n  ")
    );
}

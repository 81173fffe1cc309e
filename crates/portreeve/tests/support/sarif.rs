//! The official SARIF 2.1.0 JSON Schema, for tests of `--format sarif`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{run, stderr, stdout};

/// The official SARIF 2.1.0 schema, as shipped inside the `serde-sarif`
/// crate this project already depends on (found through `cargo metadata`).
pub fn schema() -> Value {
    let rustc = stdout(&run(Command::new("rustc").arg("-vV")));
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc host triple");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", stderr(&out));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif in the dependency graph");
    let schema = Path::new(manifest)
        .parent()
        .unwrap()
        .join("src/schema.json");
    let text = std::fs::read_to_string(&schema).unwrap();
    // The official schema's `language` pattern has a stray `]`, a literal in
    // ECMAScript regexes but an error in Rust's; escaping it keeps the
    // meaning the schema has for ECMAScript validators.
    let typo = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(
        text.contains(typo),
        "the schema changed: revisit this workaround"
    );
    let text = text.replace(typo, r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#);
    let schema: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["title"],
        "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    );
    schema
}

//! `systemd-analyze` on a unit file, offline: systemd itself is not
//! running in the test environment (nor needed).

use std::path::Path;
use std::process::{Command, Output};

use super::{run, stderr, stdout};

/// The highest overall exposure `systemd-analyze security` may give a
/// unit portreeve ships.
pub const MAX_EXPOSURE: f64 = 4.5;

/// `systemd-analyze ARGS UNIT`.
pub fn analyze(args: &[&str], unit: &Path) -> Output {
    run(Command::new("systemd-analyze").args(args).arg(unit))
}

/// The overall exposure `systemd-analyze security --offline=yes` reports
/// for `unit`, and the checks that failed (their names, such as
/// `CapabilityBoundingSet=~CAP_SYS_ADMIN`).
pub fn security(unit: &Path) -> (f64, Vec<String>) {
    let name = unit.file_name().unwrap().to_str().unwrap();
    let out = analyze(&["security", "--offline=yes"], unit);
    let text = stdout(&out);
    let overall = format!("→ Overall exposure level for {name}: ");
    let score = text
        .lines()
        .find_map(|l| l.strip_prefix(overall.as_str()))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in: {text}{}", stderr(&out)));
    let json = analyze(&["security", "--offline=yes", "--json=short"], unit);
    let checks: Vec<serde_json::Value> = serde_json::from_str(&stdout(&json)).unwrap();
    let failed = checks
        .iter()
        .filter(|c| c["set"] == false && c["exposure"].is_string())
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    (score, failed)
}

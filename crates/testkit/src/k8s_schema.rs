//! Kubernetes objects checked against the Kubernetes OpenAPI schema:
//! `kubernetes-validate --strict` (unknown fields refused) from the venv
//! scripts/k8s_schema.sh makes (scripts/test.sh runs it as root).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's Python, unless `PORTREEVE_K8S_SCHEMA_PYTHON` names another.
pub fn python() -> PathBuf {
    std::env::var_os("PORTREEVE_K8S_SCHEMA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portreeve/k8s-schema/bin/python")
        })
}

/// Whether the validator is installed; when not, `test` is skipped (or
/// fails under `PORTREEVE_REQUIRE_PRIVILEGED=1`, see
/// [`crate::skip_unless`]).
pub fn available(test: &str) -> bool {
    let python = python();
    crate::skip_unless(
        test,
        python.exists(),
        format_args!(
            "{} is missing (scripts/k8s_schema.sh installs it; scripts/test.sh runs it as root)",
            python.display()
        ),
    )
}

/// Validates every object in `file` (YAML or JSON): whether all passed, and
/// what the validator said (one ` passed for resource KIND/NAME` line per
/// object that passed).
pub fn validate(file: &Path) -> (bool, String) {
    let python = python();
    let output = Command::new(&python)
        .args(["-m", "kubernetes_validate", "--strict"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

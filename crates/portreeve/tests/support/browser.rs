//! What the browser tests (console.rs, report.rs) need before they open
//! Chromium: root and the programs named, and playwright-core where
//! scripts/test.sh installs it. Their scripts share support/chromium.mjs.

use std::path::PathBuf;

use super::testkit;

/// Where scripts/test.sh installs playwright-core, unless
/// `PORTREEVE_PLAYWRIGHT` names another directory.
pub fn playwright_dir() -> PathBuf {
    std::env::var_os("PORTREEVE_PLAYWRIGHT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/portreeve/playwright")
        })
}

/// The playwright-core directory when `test` can run (root, `programs`,
/// node, chromium and playwright-core present); `None` when it skips,
/// which [`testkit::privileged`] turns into a failure under
/// `PORTREEVE_REQUIRE_PRIVILEGED=1`.
pub fn ready(test: &str, programs: &[&str]) -> Option<PathBuf> {
    let playwright = playwright_dir();
    let mut needed = programs.to_vec();
    needed.extend(["node", "chromium"]);
    let ready = testkit::privileged(test, &needed)
        && testkit::skip_unless(
            test,
            playwright.join("node_modules/playwright-core").is_dir(),
            format_args!(
                "playwright-core is not in {} (scripts/test.sh installs it as root)",
                playwright.display()
            ),
        );
    ready.then_some(playwright)
}

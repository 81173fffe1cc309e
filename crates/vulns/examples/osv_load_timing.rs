//! Times the OSV loader in one process, for bench/vulns.sh: `load` of an
//! archive for the source packages of a package list (best of 5), one
//! `import` into a scratch directory, and `load_imported` (best of 5).
//!
//! Usage: osv_load_timing ARCHIVE PACKAGES
//! PACKAGES: lines of `dpkg-query -W -f
//! '${Package}\t${Version}\t${source:Package}\t${source:Version}\n'`; the
//! source package (third field, else the first) is what Debian's
//! advisories name.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [archive, packages] = args.as_slice() else {
        eprintln!("usage: osv_load_timing ARCHIVE PACKAGES");
        std::process::exit(2);
    };
    let list = std::fs::read_to_string(packages).unwrap_or_else(|e| {
        eprintln!("{packages}: {e}");
        std::process::exit(2);
    });
    let mut names: Vec<&str> = list
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            fields
                .get(2)
                .filter(|s| !s.is_empty())
                .or(fields.first())
                .copied()
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    let archive = PathBuf::from(archive);

    let (loaded, direct) = best_of(5, || portreeve_vulns::load(&archive, &names));
    println!(
        "load: {:.3} s (best of 5) for {} packages: {} of {} entries kept, {} withdrawn dropped",
        direct.as_secs_f64(),
        names.len(),
        loaded.advisories.len(),
        loaded.entries,
        loaded.withdrawn
    );

    let state = tempfile::tempdir().expect("a scratch directory");
    let start = Instant::now();
    let summary = portreeve_vulns::import(&archive, state.path()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    println!(
        "import: {:.3} s: {} advisories, {} packages",
        start.elapsed().as_secs_f64(),
        summary.advisories,
        summary.packages
    );
    let (imported, time) = best_of(5, || portreeve_vulns::load_imported(state.path(), &names));
    assert_eq!(imported, loaded, "the imported copy reads the same");
    println!("load_imported: {:.3} s (best of 5)", time.as_secs_f64());
}

/// Runs `f` `runs` times; its last result and the shortest time.
fn best_of<T>(
    runs: usize,
    mut f: impl FnMut() -> Result<T, portreeve_vulns::OsvError>,
) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let result = f().unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1);
        });
        best = best.min(start.elapsed());
        last = Some(result);
    }
    (last.expect("at least one run"), best)
}

//! `PackageDb` against this machine's own dpkg database, checked by dpkg
//! itself: every installed package as `dpkg-query` lists it, and the owners
//! of real files as `dpkg -S` names them.

use std::path::Path;
use std::process::Command;

use portreeve_vulns::{InstalledPackage, PackageDb, dpkg};

/// Whether this host has dpkg and its database; skips otherwise.
fn dpkg_here(test: &str) -> bool {
    portreeve_testkit::require_programs(test, &["dpkg-query", "dpkg"])
        && portreeve_testkit::skip_unless(
            test,
            PackageDb::exists(Path::new("/")),
            "no dpkg database at /var/lib/dpkg",
        )
}

#[test]
fn every_installed_package_agrees_with_dpkg_query() {
    if !dpkg_here("every_installed_package_agrees_with_dpkg_query") {
        return;
    }
    // Other work on this machine may install packages while the test runs:
    // a disagreement counts only if the status file stayed the same.
    let modified = || {
        std::fs::metadata("/var/lib/dpkg/status")
            .and_then(|m| m.modified())
            .ok()
    };
    for attempt in 1.. {
        let before = modified();
        let (got, expected) = both_reads();
        if got == expected || modified() == before || attempt == 3 {
            assert!(
                expected.len() > 10,
                "only {} packages installed?",
                expected.len()
            );
            assert_eq!(got, expected);
            return;
        }
    }
}

/// The installed packages as `PackageDb` and as `dpkg-query` read them,
/// without architectures (the packages-file format has none), sorted.
fn both_reads() -> (Vec<InstalledPackage>, Vec<InstalledPackage>) {
    // The packages-file format, prefixed with the state to keep the
    // packages whose files are on disk.
    let output = portreeve_testkit::run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${db:Status-Status}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n",
    ]));
    assert!(
        output.status.success(),
        "{}",
        portreeve_testkit::stderr(&output)
    );
    let on_disk = [
        "installed",
        "triggers-pending",
        "triggers-awaited",
        "half-configured",
        "unpacked",
    ];
    let lines: String = portreeve_testkit::stdout(&output)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(state, _)| on_disk.contains(state))
        .map(|(_, rest)| format!("{rest}\n"))
        .collect();
    // What dpkg-query writes is a packages file: read it with that parser.
    let mut expected = dpkg::parse_packages(&lines, Path::new("dpkg-query")).unwrap();
    let db = PackageDb::open(Path::new("/")).unwrap();
    let mut got: Vec<InstalledPackage> = db
        .packages()
        .iter()
        .cloned()
        .map(|mut p| {
            p.architecture = None;
            p
        })
        .collect();
    let key = |p: &InstalledPackage| {
        (
            p.name.clone(),
            p.version.clone(),
            p.source.clone(),
            p.source_version.clone(),
        )
    };
    expected.sort_by_key(key);
    got.sort_by_key(key);
    (got, expected)
}

/// The packages `dpkg -S PATH` names (without architecture qualifiers),
/// sorted; empty when it finds none.
fn dpkg_search(path: &str) -> Vec<String> {
    let output = portreeve_testkit::run(Command::new("dpkg").args(["-S", path]));
    if !output.status.success() {
        return Vec::new();
    }
    let stdout = portreeve_testkit::stdout(&output);
    let line = stdout
        .lines()
        .find(|l| !l.starts_with("diversion "))
        .expect("dpkg -S printed an owner");
    let (owners, _) = line.rsplit_once(": ").expect("`OWNERS: PATH`");
    let mut owners: Vec<String> = owners
        .split(", ")
        .map(|o| o.split(':').next().unwrap().to_owned())
        .collect();
    owners.sort();
    owners
}

#[test]
fn owners_agree_with_dpkg_search() {
    if !dpkg_here("owners_agree_with_dpkg_search") {
        return;
    }
    let db = PackageDb::open(Path::new("/")).unwrap();
    let owners = |path: &str| -> Vec<String> {
        db.owners(Path::new(path))
            .iter()
            .map(|p| p.name.clone())
            .collect()
    };
    // (path as the kernel reports an executable, path as dpkg lists it)
    let mut cases = vec![
        ("/usr/bin/dpkg", "/usr/bin/dpkg"),
        ("/usr/bin", "/usr/bin"),
        ("/etc/hostname", "/etc/hostname"),
    ];
    // On a usr-merged Debian 12, coreutils still lists /bin/ls while the
    // kernel says /usr/bin/ls; `dpkg -S /usr/bin/ls` finds nothing there.
    let ls = std::fs::canonicalize("/bin/ls").unwrap();
    let ls = ls.to_str().unwrap();
    if dpkg_search(ls).is_empty() {
        cases.push((ls, "/bin/ls"));
    } else {
        cases.push((ls, ls));
    }
    for daemon in [
        "/usr/sbin/sshd",
        "/usr/bin/redis-server",
        "/usr/bin/memcached",
    ] {
        if Path::new(daemon).exists() {
            cases.push((daemon, daemon));
        }
    }
    for (asked, listed) in cases {
        let expected = dpkg_search(listed);
        assert_eq!(owners(asked), expected, "{asked} (dpkg -S {listed})");
        if asked == "/usr/bin/dpkg" || asked == ls {
            assert_eq!(expected.len(), 1, "{asked} has one owner");
        }
    }
    assert!(owners("/usr/bin").len() > 1);
}

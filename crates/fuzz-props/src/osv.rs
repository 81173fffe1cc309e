//! The OSV advisory reader, and what is done with what it reads: judging
//! versions against its ranges, rating its severity, and the loader's
//! raw-byte prefilter.

use portreeve_vulns::archive::read_entry;
use portreeve_vulns::{Advisory, Ecosystem, Judgement, OsvError, judge, load, rate};

/// Most (package, version) pairs judged per input, to bound the work.
const MAX_JUDGED: usize = 64;

/// The OSV reader, on one archive entry's bytes as the loader gets them.
/// Any input must yield an advisory or an error located inside the input
/// (line and column from 1, the line at most one past the last), never a
/// panic. An advisory read must judge and rate without panicking, be
/// affected at every version its `versions` lists name, rate a CVSS score
/// within 0 to 10, and be found by the loader for each package it names:
/// the prefilter that skips entries before parsing must never skip one
/// that names a wanted package.
pub fn osv_read(data: &[u8]) {
    let advisory = match read_entry("fuzz.json", data) {
        Ok(advisory) => advisory,
        Err(OsvError::Entry {
            location,
            line,
            column,
            ..
        }) => {
            assert_eq!(location, "fuzz.json");
            let lines = data.iter().filter(|b| **b == b'\n').count() + 1;
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
            assert!(column >= 1);
            return;
        }
        Err(other) => panic!("reading bytes failed otherwise than located: {other}"),
    };
    judged_and_rated(&advisory);
    found_by_the_loader(data, &advisory);
}

fn judged_and_rated(advisory: &Advisory) {
    let mut judged = 0;
    for affected in &advisory.affected {
        let ecosystem = Ecosystem::parse(&affected.package.ecosystem);
        let name = &affected.package.name;
        let events = affected.ranges.iter().flat_map(|r| &r.events);
        let versions = events
            .map(|e| e.version())
            .chain(affected.versions.iter().map(String::as_str))
            .chain(["0", "1.0-1", "1:1.0", "v1.2"]);
        for version in versions {
            if judged == MAX_JUDGED {
                break;
            }
            judged += 1;
            let got = judge(advisory, &ecosystem, name, version);
            if advisory.withdrawn.is_none() && affected.versions.iter().any(|v| v == version) {
                assert!(
                    matches!(got, Judgement::Affected(_)),
                    "{name} {version} is listed but judged {got:?}"
                );
            }
        }
        let rating = rate(advisory, Some(affected));
        if let portreeve_vulns::Basis::Cvss(score) = &rating.basis {
            assert!((0.0..=10.0).contains(&score.score), "{score:?}");
        }
    }
    let _ = rate(advisory, None);
}

fn found_by_the_loader(data: &[u8], advisory: &Advisory) {
    let Some(first) = advisory.affected.first() else {
        return;
    };
    let name = first.package.name.as_str();
    let dir = tempfile::tempdir().expect("a scratch directory");
    std::fs::write(dir.path().join("entry.json"), data).expect("writable scratch directory");
    let loaded = load(dir.path(), &[name]).expect("an entry that reads alone loads");
    let found = loaded.advisories.len() + loaded.withdrawn;
    assert_eq!(found, 1, "the loader skipped an entry naming {name:?}");
}

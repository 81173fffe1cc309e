//! Loading OSV advisories from real files: zip archives written with the
//! zip crate as OSV's exports are laid out (one `ID.json` per entry at the
//! top), directories, single `.json` files, and what `import` stores in a
//! state directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use portreeve_vulns::archive::IMPORTED_FILE;
use portreeve_vulns::{Ecosystem, Judgement, OsvError, import, judge, load, load_imported};
use zip::write::{SimpleFileOptions, ZipWriter};

fn entry(id: &str, ecosystem: &str, package: &str, fixed: &str, extra: &str) -> String {
    format!(
        r#"{{
  "id": "{id}",
  "modified": "2024-07-01T12:00:00Z",
  "details": "A flaw in {package}.",{extra}
  "affected": [{{
    "package": {{"ecosystem": "{ecosystem}", "name": "{package}"}},
    "ranges": [{{"type": "ECOSYSTEM", "events": [{{"introduced": "0"}}, {{"fixed": "{fixed}"}}]}}]
  }}]
}}
"#
    )
}

/// The entries of a small Debian-like archive, by entry name.
fn entries() -> Vec<(String, String)> {
    vec![
        (
            "DSA-5724-1.json".into(),
            entry(
                "DSA-5724-1",
                "Debian:12",
                "openssh",
                "1:9.2p1-2+deb12u3",
                "",
            ),
        ),
        (
            "DEBIAN-CVE-2023-38408.json".into(),
            entry(
                "DEBIAN-CVE-2023-38408",
                "Debian",
                "openssh",
                "1:9.2p1-2+deb12u1",
                "",
            ),
        ),
        (
            "DSA-5000-1.json".into(),
            entry(
                "DSA-5000-1",
                "Debian:12",
                "openssh",
                "1:8.0p1-1",
                r#" "withdrawn": "2024-08-01T00:00:00Z","#,
            ),
        ),
        (
            "DSA-5500-1.json".into(),
            entry("DSA-5500-1", "Debian:12", "nginx", "1.22.1-9+deb12u1", ""),
        ),
        (
            "DLA-3000-1.json".into(),
            entry("DLA-3000-1", "Debian:11", "redis", "5:6.0.16-1+deb11u3", ""),
        ),
    ]
}

fn write_zip(path: &Path, entries: &[(String, String)]) {
    let mut zip = ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("docs/", options).unwrap();
    zip.start_file("docs/README", options).unwrap();
    zip.write_all(b"not an advisory").unwrap();
    for (name, text) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn ids(advisories: &portreeve_vulns::Advisories) -> Vec<&str> {
    advisories
        .advisories
        .iter()
        .map(|a| a.id.as_str())
        .collect()
}

#[test]
fn loads_the_wanted_packages_from_a_zip_archive() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("all.zip");
    write_zip(&archive, &entries());

    let got = load(&archive, &["openssh", "absent"]).unwrap();
    assert_eq!(ids(&got), ["DEBIAN-CVE-2023-38408", "DSA-5724-1"]);
    assert_eq!(got.entries, 5, "the README is not an entry");
    assert_eq!(got.withdrawn, 1);

    let got = load(&archive, &["nginx", "redis"]).unwrap();
    assert_eq!(ids(&got), ["DLA-3000-1", "DSA-5500-1"]);
    assert_eq!(got.withdrawn, 0);

    assert!(load(&archive, &[]).unwrap().advisories.is_empty());

    // More names than one packed searcher takes: the same answer.
    let fillers: Vec<String> = (0..150).map(|i| format!("filler{i}")).collect();
    let mut many: Vec<&str> = fillers.iter().map(String::as_str).collect();
    many.push("redis");
    assert_eq!(ids(&load(&archive, &many).unwrap()), ["DLA-3000-1"]);

    // And what was loaded judges as expected.
    let got = load(&archive, &["openssh"]).unwrap();
    let debian12 = Ecosystem::parse("Debian:12");
    let verdicts: Vec<bool> = got
        .advisories
        .iter()
        .map(|a| {
            matches!(
                judge(a, &debian12, "openssh", "1:9.2p1-2+deb12u2"),
                Judgement::Affected(_)
            )
        })
        .collect();
    assert_eq!(verdicts, [false, true]);
}

#[test]
fn loads_a_directory_recursively() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, text)) in entries().iter().enumerate() {
        let sub = dir.path().join(format!("part{}", i % 2)).join("deeper");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("README.md"), "not json").unwrap();
    let got = load(dir.path(), &["openssh"]).unwrap();
    assert_eq!(ids(&got), ["DEBIAN-CVE-2023-38408", "DSA-5724-1"]);
    assert_eq!((got.entries, got.withdrawn), (5, 1));
}

#[test]
fn loads_one_json_file_and_reports_its_mistakes_whatever_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let list = entries();
    let file = dir.path().join("DSA-5724-1.json");
    std::fs::write(&file, &list[0].1).unwrap();
    let got = load(&file, &["openssh"]).unwrap();
    assert_eq!(ids(&got), ["DSA-5724-1"]);
    assert_eq!((got.entries, got.withdrawn), (1, 0));
    assert!(load(&file, &["nginx"]).unwrap().advisories.is_empty());
    let withdrawn = dir.path().join("DSA-5000-1.json");
    std::fs::write(&withdrawn, &list[2].1).unwrap();
    let got = load(&withdrawn, &["openssh"]).unwrap();
    assert_eq!((ids(&got).len(), got.withdrawn), (0, 1));

    // Line 3 gives `modified` as a number: located in the file, even when
    // the packages asked about are others (the file is parsed whole).
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        list[0].1.replace(
            r#""modified": "2024-07-01T12:00:00Z","#,
            r#""modified": 2024,"#,
        ),
    )
    .unwrap();
    for wanted in ["openssh", "nginx"] {
        let err = load(&broken, &[wanted]).unwrap_err();
        assert!(
            matches!(&err, OsvError::Entry { location, line: 3, column: 18, .. }
                if location == &broken.display().to_string()),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}:3:18: invalid type", broken.display())),
            "{err}"
        );
    }
    // Not JSON at all: the first place it stops being JSON.
    let text = dir.path().join("notes.json");
    std::fs::write(&text, "{\n  \"id\": \"X-1\",\n  oops\n}\n").unwrap();
    let err = load(&text, &["openssh"]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3:3: key must be a string", text.display())),
        "{err}"
    );

    // It imports as a one-entry archive.
    let state = dir.path().join("state");
    let summary = import(&file, &state).unwrap();
    assert_eq!((summary.advisories, summary.packages), (1, 1));
    assert_eq!(
        load_imported(&state, &["openssh"]).unwrap(),
        load(&file, &["openssh"]).unwrap()
    );
    assert!(import(&broken, &dir.path().join("refused")).is_err());
    assert!(!dir.path().join("refused").exists());
}

#[test]
fn names_written_with_json_escapes_are_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("all.zip");
    // `/` escaped as `\/`, and a letter as a `\u` escape.
    let escaped = entry("GO-1", "Go", "example.org\\/m", "1.2.0", "");
    let plain = entry("DSA-1", "Debian:12", "open\\u0073sh", "1.0-1", "");
    write_zip(
        &archive,
        &[("GO-1.json".into(), escaped), ("DSA-1.json".into(), plain)],
    );
    assert_eq!(ids(&load(&archive, &["example.org/m"]).unwrap()), ["GO-1"]);
    assert_eq!(ids(&load(&archive, &["openssh"]).unwrap()), ["DSA-1"]);
    // Each slash may be written either way (found by the fuzz target).
    let mixed = entry("GO-2", "Go", "example.org/\\/m", "1.2.0", "");
    let other = dir.path().join("mixed.zip");
    write_zip(&other, &[("GO-2.json".into(), mixed)]);
    assert_eq!(ids(&load(&other, &["example.org//m"]).unwrap()), ["GO-2"]);
}

#[test]
fn a_broken_entry_is_reported_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("all.zip");
    let mut list = entries();
    // Line 3 gives `modified` as a number; the entry still names openssh.
    list[0].1 = list[0].1.replace(
        r#""modified": "2024-07-01T12:00:00Z","#,
        r#""modified": 2024,"#,
    );
    write_zip(&archive, &list);
    let err = load(&archive, &["openssh"]).unwrap_err();
    let OsvError::Entry {
        location,
        line,
        column,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(location, &format!("{}!DSA-5724-1.json", archive.display()));
    assert_eq!((*line, *column), (3, 18));
    assert!(
        err.to_string().starts_with(&format!(
            "{}!DSA-5724-1.json:3:18: invalid type",
            archive.display()
        )),
        "{err}"
    );
    // The same file in a directory is located by its path.
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("DSA-5724-1.json"), &list[0].1).unwrap();
    let err = load(&tree, &["openssh"]).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:3:18: ",
            tree.join("DSA-5724-1.json").display()
        )),
        "{err}"
    );
    // A loader looking for other packages does not parse it.
    assert_eq!(ids(&load(&archive, &["nginx"]).unwrap()), ["DSA-5500-1"]);
}

#[test]
fn what_is_not_an_archive_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("all.zip");
    std::fs::write(&text, "{}").unwrap();
    let err = load(&text, &["openssh"]).unwrap_err();
    assert!(matches!(err, OsvError::Zip { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("all.zip: not a readable OSV zip archive"),
        "{err}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        load(&empty, &["openssh"]),
        Err(OsvError::Empty { .. })
    ));
    assert!(matches!(
        load(&dir.path().join("missing"), &["openssh"]),
        Err(OsvError::Io { .. })
    ));
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn import_stores_an_index_and_loads_only_what_is_wanted() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("all.zip");
    write_zip(&archive, &entries());
    let state = dir.path().join("state");

    assert!(matches!(
        load_imported(&state, &["openssh"]),
        Err(OsvError::NotImported { .. })
    ));

    let summary = import(&archive, &state).unwrap();
    assert_eq!(summary.advisories, 5);
    assert_eq!(summary.withdrawn, 1);
    assert_eq!(summary.packages, 3);
    assert_eq!(
        summary.ecosystems,
        BTreeMap::from([
            ("Debian".to_owned(), 1),
            ("Debian:11".to_owned(), 1),
            ("Debian:12".to_owned(), 3),
        ])
    );
    assert_eq!(
        snapshot(&state).keys().collect::<Vec<_>>(),
        [&state.join(IMPORTED_FILE)],
        "one file, no leftovers"
    );
    for wanted in [&["openssh"][..], &["nginx", "redis"], &["absent"]] {
        assert_eq!(
            load_imported(&state, wanted).unwrap(),
            load(&archive, wanted).unwrap()
        );
    }

    // The imported copy reads, and imports again, as the archive it came
    // from: its index entry is not taken for an advisory.
    let copy = state.join(IMPORTED_FILE);
    assert_eq!(
        load(&copy, &["openssh"]).unwrap(),
        load(&archive, &["openssh"]).unwrap()
    );
    assert_eq!(import(&copy, &dir.path().join("again")).unwrap(), summary);

    // A directory imports the same way.
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for (name, text) in entries() {
        std::fs::write(tree.join(name), text).unwrap();
    }
    let from_tree = dir.path().join("state2");
    assert_eq!(import(&tree, &from_tree).unwrap(), summary);
    assert_eq!(
        load_imported(&from_tree, &["openssh"]).unwrap(),
        load(&archive, &["openssh"]).unwrap()
    );
}

#[test]
fn import_refuses_a_broken_archive_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.zip");
    write_zip(&good, &entries());
    let state = dir.path().join("state");
    import(&good, &state).unwrap();
    let before = snapshot(&state);

    // An entry no one asks about is broken: loading for openssh skips it,
    // importing refuses the whole archive.
    let mut list = entries();
    list[4].1 = list[4].1.replace(r#""modified""#, r#""modfied""#);
    let broken = dir.path().join("broken.zip");
    write_zip(&broken, &list);
    assert_eq!(load(&broken, &["openssh"]).unwrap().advisories.len(), 2);
    let err = import(&broken, &state).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}!DLA-3000-1.json:", broken.display())),
        "{err}"
    );
    assert!(
        err.to_string().contains("missing field `modified`"),
        "{err}"
    );
    assert_eq!(snapshot(&state), before, "the earlier import is untouched");

    // Nor is a state directory created for a refused first import.
    let fresh = dir.path().join("fresh");
    assert!(import(&broken, &fresh).is_err());
    assert!(!fresh.exists());
}

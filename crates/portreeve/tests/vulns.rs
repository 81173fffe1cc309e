//! `vulns` end to end with real daemons from Debian's packages — sshd,
//! nginx, Redis and memcached — listening in a namespace behind a policy
//! applied there, judged against OSV advisories the test writes from the
//! versions dpkg reports as installed. Every case of the version order and
//! of OSV's range semantics is an advisory that must or must not be
//! reported: epochs, `~`, numeric revision parts, `introduced`, `fixed`,
//! `last_affected`, two ranges, an exact versions list, a withdrawn entry,
//! another release's ecosystem. The severity is raised for the listener the
//! public zone reaches and for no other. The same advisories as an OSV zip
//! archive give the same answer, read directly or imported; a broken
//! archive is refused with its entry named, and changes nothing. One
//! advisory file is read alone, and a broken one is located.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Home, Lab, assert_exit, assert_matches_schema, assert_ok, run, stdout};

/// The packages whose daemons the test runs: binary package, source
/// package, and the daemon's port.
const DAEMONS: [(&str, &str, u16); 4] = [
    ("openssh-server", "openssh", 22),
    ("nginx", "nginx", 80),
    ("redis-server", "redis", 6379),
    ("memcached", "memcached", 11211),
];

/// nginx is open to the public zone; sshd and memcached only to the
/// office; Redis listens on loopback.
const POLICY: &str = r#"version = 1

[zones]
public = ["0.0.0.0/0"]
office = ["10.41.0.0/24"]

[[rule]]
name = "web"
port = 80
protocol = "tcp"
zones = ["public"]

[[rule]]
name = "ssh"
port = 22
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "cache"
port = 11211
protocol = "tcp"
zones = ["office"]

[[rule]]
name = "probe"
port = 7000
protocol = "tcp"
zones = ["office"]
"#;

/// A medium CVSS 3.1 vector (base score 5.3).
const MEDIUM: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N";

/// `(source package, source version)` of an installed binary package, as
/// dpkg says.
fn installed(package: &str) -> (String, String) {
    let out = run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${source:Package}\t${source:Version}",
        package,
    ]));
    assert_ok(&out);
    let text = stdout(&out);
    let (name, version) = text.split_once('\t').expect("two fields");
    (name.to_string(), version.to_string())
}

/// `version` with its last run of digits changed by `delta`, or `None`
/// when that would go below zero.
fn with_last_number(version: &str, delta: i64) -> Option<String> {
    let end = version.rfind(|c: char| c.is_ascii_digit())? + 1;
    let start = version[..end]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let n: i64 = version[start..end].parse().ok()?;
    let changed = n.checked_add(delta).filter(|m| *m >= 0)?;
    Some(format!("{}{changed}{}", &version[..start], &version[end..]))
}

/// One advisory of the test's set, and whether it must be reported.
struct Case {
    id: String,
    affected: bool,
    advisory: Value,
}

/// The advisories about `source` at `version`: one per case of the order
/// and of the range semantics, each saying whether `vulns` must report it.
fn cases(source: &str, version: &str) -> Vec<Case> {
    let ecosystem = "Debian:12";
    let mut cases = Vec::new();
    let mut add = |case: &str, affected: bool, affected_entry: Value, extra: Value| {
        let id = format!("TEST-{source}-{case}");
        let mut advisory = json!({
            "schema_version": "1.6.0",
            "id": id,
            "modified": "2026-11-30T00:00:00Z",
            "aliases": [format!("CVE-2099-{}", 1000 + cases.len())],
            "summary": format!("{source}: the {case} case"),
            "severity": [{"type": "CVSS_V3", "score": MEDIUM}],
            "affected": [affected_entry],
        });
        if let (Some(a), Some(e)) = (advisory.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        cases.push(Case {
            id,
            affected,
            advisory,
        });
    };
    let entry = |ranges: Value| json!({"package": {"ecosystem": ecosystem, "name": source}, "ranges": ranges});
    let fixed_at = |fixed: &str| json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]);
    let none = json!({});

    // `fixed` just above the installed version (a later revision): affected.
    let later = format!("{version}+1");
    add("fixed-later", true, entry(fixed_at(&later)), none.clone());
    // `fixed` equal to it: already fixed.
    add("fixed-equal", false, entry(fixed_at(version)), none.clone());
    // `~` sorts before the end of the string: VERSION~1 is older.
    add(
        "fixed-tilde-older",
        false,
        entry(fixed_at(&format!("{version}~1"))),
        none.clone(),
    );
    // The last number one higher (…deb12u11 against …deb12u10): numbers
    // compare as numbers, so the fix is later.
    if let Some(up) = with_last_number(version, 1) {
        add("fixed-number-up", true, entry(fixed_at(&up)), none.clone());
    }
    // … and one lower, which a comparison of text would take for later
    // (`9` > `1`): already fixed.
    if let Some(down) = with_last_number(version, -1) {
        add(
            "fixed-number-down",
            false,
            entry(fixed_at(&down)),
            none.clone(),
        );
    }
    if let Some((epoch, rest)) = version.split_once(':') {
        // A far later upstream version under a lower epoch is still older.
        let lower: u32 = epoch.parse::<u32>().unwrap() - 1;
        let prefix = if lower == 0 {
            String::new()
        } else {
            format!("{lower}:")
        };
        add(
            "fixed-lower-epoch",
            false,
            entry(fixed_at(&format!("{prefix}999{rest}"))),
            none.clone(),
        );
    }
    if let Some((head, _)) = version.split_once('~') {
        // VERSION without its `~…` tail is the release after it.
        add("fixed-untilded", true, entry(fixed_at(head)), none.clone());
    }
    // `last_affected` is inclusive.
    add(
        "last-affected-equal",
        true,
        entry(
            json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": version}]}]),
        ),
        none.clone(),
    );
    add(
        "last-affected-older",
        false,
        entry(
            json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": format!("{version}~1")}]}]),
        ),
        none.clone(),
    );
    // Introduced after the installed version: not yet affected.
    add(
        "introduced-later",
        false,
        entry(json!([{"type": "ECOSYSTEM", "events": [{"introduced": later}]}])),
        none.clone(),
    );
    // Two ranges: the first ended before it, the second holds it.
    add(
        "second-range",
        true,
        entry(json!([
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("{version}~1")}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": version}, {"fixed": later}]},
        ])),
        none.clone(),
    );
    // An exact list of versions, no range.
    add(
        "versions-listed",
        true,
        json!({"package": {"ecosystem": ecosystem, "name": source}, "versions": [version]}),
        none.clone(),
    );
    // Withdrawn: never reported.
    add(
        "withdrawn",
        false,
        entry(fixed_at(&later)),
        json!({"withdrawn": "2026-12-01T00:00:00Z"}),
    );
    // Another release's advisory says nothing about Debian 12.
    add(
        "other-release",
        false,
        json!({"package": {"ecosystem": "Debian:11", "name": source},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": later}]}]}),
        none.clone(),
    );
    cases
}

/// A daemon of the test, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `script` (sh) in the lab's server namespace.
fn start(lab: &Lab, script: &str) -> Daemon {
    Daemon(
        lab.srv
            .exec("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a daemon"),
    )
}

/// sshd on 10.41.0.1:22, nginx on every address's port 80, Redis on
/// loopback and memcached on 10.41.0.1:11211, with their files in `dir`.
fn start_daemons(lab: &Lab, dir: &Path) -> Vec<Daemon> {
    let d = dir.display();
    let key = dir.join("ssh_host_ed25519_key");
    assert_ok(&run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)));
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "ListenAddress 10.41.0.1:22\nHostKey {}\nPidFile none\nUsePAM no\n",
            key.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; \
             fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d}; \
             server {{ listen 80; return 204; }} }}\n"
        ),
    )
    .unwrap();
    vec![
        // sshd wants /run/sshd; `ip netns exec` gives the daemon its own
        // mount namespace, so a tmpfs there leaves the host's /run alone.
        start(
            lab,
            &format!(
                "mount -t tmpfs portreeve-sshd /run && mkdir -m 755 /run/sshd && \
                 exec /usr/sbin/sshd -D -e -f {d}/sshd_config"
            ),
        ),
        start(lab, &format!("exec /usr/sbin/nginx -c {d}/nginx.conf")),
        start(
            lab,
            &format!(
                "exec /usr/bin/redis-server --bind 127.0.0.1 --port 6379 --save '' \
                 --appendonly no --dir {d} --daemonize no"
            ),
        ),
        start(
            lab,
            "exec /usr/bin/memcached -u nobody -l 10.41.0.1 -p 11211 -U 0",
        ),
    ]
}

/// Waits until every daemon's port listens in the namespace.
fn wait_listening(lab: &Lab) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(lab.srv.exec("ss").args(["-Hltn"]));
        let text = stdout(&out);
        let missing: Vec<u16> = DAEMONS
            .iter()
            .map(|d| d.2)
            .filter(|port| !text.contains(&format!(":{port} ")))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "daemons not listening on {missing:?}: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes each advisory as `ID.json` in `dir`.
fn write_advisories(dir: &Path, cases: &[Case]) {
    std::fs::create_dir_all(dir).unwrap();
    for case in cases {
        std::fs::write(
            dir.join(format!("{}.json", case.id)),
            serde_json::to_vec_pretty(&case.advisory).unwrap(),
        )
        .unwrap();
    }
}

/// Zips `dir`'s JSON files flat, as osv.dev's per-ecosystem archives are,
/// with Python's zipfile (independent of the reader under test).
fn zip_dir(dir: &Path, archive: &Path) {
    let script = "import sys, zipfile, pathlib\n\
                  with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z:\n\
                  \x20   for p in sorted(pathlib.Path(sys.argv[1]).glob('*.json')):\n\
                  \x20       z.write(p, p.name)\n";
    assert_ok(&run(Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(archive)));
}

/// The advisory ids and severities a `vulns --format json` document
/// reports.
fn reported(doc: &Value) -> BTreeMap<String, String> {
    doc["vulnerabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("no vulnerabilities in {doc}"))
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn vulns_judges_real_daemons_by_dpkg_order_and_raises_what_the_public_reaches() {
    if !portreeve_testkit::privileged(
        "vulns_judges_real_daemons",
        &[
            "ip",
            "nft",
            "dpkg-query",
            "ssh-keygen",
            "/usr/sbin/sshd",
            "/usr/sbin/nginx",
            "/usr/bin/redis-server",
            "/usr/bin/memcached",
        ],
    ) {
        return;
    }
    let lab = Lab::new(41, &["tcp4:10.41.0.1:7000"]);
    let files = tempfile::tempdir().unwrap();
    let _daemons = start_daemons(&lab, files.path());
    wait_listening(&lab);
    let policy = lab.home.file("policy.toml", POLICY);
    lab.ok(&["apply", "--policy", policy.to_str().unwrap()]);

    let mut all = Vec::new();
    let mut expected = BTreeSet::new();
    for (binary, source, _) in DAEMONS {
        let (name, version) = installed(binary);
        assert_eq!(name, source, "{binary}'s source package");
        for case in cases(source, &version) {
            if case.affected {
                expected.insert(case.id.clone());
            }
            all.push(case);
        }
    }
    let dir = lab.home.path().join("osv");
    write_advisories(&dir, &all);
    let doc = lab.json(&["vulns", "--osv", dir.to_str().unwrap(), "--format", "json"]);
    assert_matches_schema(&doc, "docs/schema/vulns.v1.json");
    let found = reported(&doc);
    assert_eq!(
        found.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "reported against expected"
    );
    // nginx answers the public zone: its medium advisories are raised to
    // high; sshd and memcached answer the office only, Redis loopback.
    for (id, severity) in &found {
        let want = if id.starts_with("TEST-nginx-") {
            "high"
        } else {
            "medium"
        };
        assert_eq!(severity, want, "{id}");
    }
    // Each names its package, both versions and its listeners.
    let redis = doc["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "TEST-redis-fixed-later")
        .expect("redis fixed-later");
    assert_eq!(redis["source_package"], "redis");
    assert_eq!(redis["installed"], installed("redis-server").1);
    assert_eq!(redis["fixed"], format!("{}+1", installed("redis-server").1));
    assert_eq!(redis["cvss"]["score"], 5.3);
    assert_eq!(redis["listeners"][0]["port"], 6379);
    assert_eq!(redis["listeners"][0]["reach"]["scope"], "local");
    // One finding per vulnerability, with the documented fingerprint.
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), expected.len());
    assert!(findings.iter().all(|f| f["id"] == "PR023"));

    // The same advisories as an OSV archive: read directly …
    let archive = lab.home.path().join("all.zip");
    zip_dir(&dir, &archive);
    let direct = lab.json(&[
        "vulns",
        "--osv",
        archive.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(reported(&direct), found);
    // … and imported into the state directory.
    lab.ok(&["vulns", "update", "--from", archive.to_str().unwrap()]);
    let imported = lab.json(&["vulns", "--format", "json"]);
    assert_eq!(reported(&imported), found);

    // SARIF: one result per vulnerability, rule PR023.
    let sarif: Value = serde_json::from_str(&lab.ok(&["vulns", "--format", "sarif"])).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    assert!(results.iter().all(|r| r["ruleId"] == "PR023"));
    // The table names each advisory; --fail-on high fails for nginx's.
    let out = lab.portreeve(&["vulns", "--fail-on", "high"]);
    assert_exit(&out, 1, "TEST-nginx-fixed-later");

    // What a scan read from banners: OpenSSH's Debian revision is judged
    // in Debian 12 with the epoch the advisories' own events give; nginx's
    // bare upstream version only against SEMVER ranges; Redis and
    // memcached have no OSV package, and the report says so.
    let scan = lab.ok(&[
        "scan",
        "10.41.0.1",
        "-p",
        "22,80,11211",
        "--service",
        "--format",
        "json",
    ]);
    let scan_file = lab.home.file("scan.json", scan);
    let semver = json!({
        "id": "TEST-nginx-semver", "modified": "2026-11-30T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": "nginx"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0.0"}, {"fixed": "99.0.0"}]}]}]
    });
    std::fs::write(dir.join("TEST-nginx-semver.json"), semver.to_string()).unwrap();
    let scanned = lab.json(&[
        "vulns",
        "--osv",
        dir.to_str().unwrap(),
        "--scan",
        scan_file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_matches_schema(&scanned, "docs/schema/vulns.v1.json");
    let found_by_scan: BTreeSet<String> = reported(&scanned).into_keys().collect();
    for case in [
        "fixed-later",
        "fixed-number-up",
        "last-affected-equal",
        "second-range",
    ] {
        assert!(
            found_by_scan.contains(&format!("TEST-openssh-{case}")),
            "{case}: {found_by_scan:?}"
        );
    }
    for case in [
        "fixed-equal",
        "fixed-number-down",
        "fixed-tilde-older",
        "withdrawn",
        "other-release",
    ] {
        assert!(
            !found_by_scan.contains(&format!("TEST-openssh-{case}")),
            "{case}: {found_by_scan:?}"
        );
    }
    assert!(
        found_by_scan.contains("TEST-nginx-semver"),
        "{found_by_scan:?}"
    );
    assert!(
        found_by_scan
            .iter()
            .all(|id| id.starts_with("TEST-openssh-") || id == "TEST-nginx-semver"),
        "{found_by_scan:?}"
    );
    let ssh = scanned["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "TEST-openssh-fixed-later")
        .unwrap();
    assert_eq!(
        ssh["installed"],
        installed("openssh-server").1,
        "the epoch comes from the advisory"
    );
    assert_eq!(ssh["scanned"]["port"], 22);
    let unjudged = scanned["unjudged"].to_string();
    assert!(
        unjudged.contains("10.41.0.1:11211/tcp") && unjudged.contains("no distribution revision"),
        "{unjudged}"
    );
    std::fs::remove_file(dir.join("TEST-nginx-semver.json")).unwrap();

    // A broken entry: refused with the entry named, the import unchanged.
    let broken_dir = lab.home.path().join("broken");
    write_advisories(&broken_dir, &all[..1]);
    std::fs::write(
        broken_dir.join("TEST-bad.json"),
        "{\"id\": \"TEST-bad\",\n  \"affected\": [}",
    )
    .unwrap();
    let broken = lab.home.path().join("broken.zip");
    zip_dir(&broken_dir, &broken);
    let out = lab.portreeve(&["vulns", "update", "--from", broken.to_str().unwrap()]);
    assert_exit(&out, 2, "TEST-bad.json:2:");
    assert_eq!(reported(&lab.json(&["vulns", "--format", "json"])), found);
}

#[test]
fn vulns_judges_a_package_list_and_refuses_bad_input_with_its_line() {
    let home = Home::new();
    let dir = home.path().join("osv");
    let cases = cases("openssl", "3.0.15-1~deb12u1");
    write_advisories(&dir, &cases);
    let list = home.file(
        "packages.txt",
        "libssl3\t3.0.15-1~deb12u1\topenssl\t3.0.15-1~deb12u1\n\
         openssl\t3.0.15-1~deb12u1\topenssl\t3.0.15-1~deb12u1\n",
    );
    let out = home.run(&[
        "vulns",
        "--osv",
        dir.to_str().unwrap(),
        "--packages",
        list.to_str().unwrap(),
        "--ecosystem",
        "Debian:12",
        "--format",
        "json",
    ]);
    assert_ok(&out);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_matches_schema(&doc, "docs/schema/vulns.v1.json");
    let expected: BTreeSet<String> = cases
        .iter()
        .filter(|c| c.affected)
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(
        reported(&doc).into_keys().collect::<BTreeSet<_>>(),
        expected
    );

    let bad = home.file(
        "bad.txt",
        "openssl\t3.0.15-1\topenssl\t3.0.15-1\nnot a line\n",
    );
    let out = home.run(&[
        "vulns",
        "--osv",
        dir.to_str().unwrap(),
        "--packages",
        bad.to_str().unwrap(),
        "--ecosystem",
        "Debian:12",
    ]);
    assert_exit(&out, 2, "bad.txt:2");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    let missing = home.run(&["vulns", "--packages", list.to_str().unwrap()]);
    assert_exit(&missing, 2, "vulns update --from");

    // One advisory file: judged alone; a broken one is refused, located.
    let one = |file: &Path| {
        home.run(&[
            "vulns",
            "--osv",
            file.to_str().unwrap(),
            "--packages",
            list.to_str().unwrap(),
            "--ecosystem",
            "Debian:12",
            "--format",
            "json",
        ])
    };
    for case in [
        cases.iter().find(|c| c.affected).unwrap(),
        cases.iter().find(|c| !c.affected).unwrap(),
    ] {
        let out = one(&dir.join(format!("{}.json", case.id)));
        assert_ok(&out);
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let expected: Vec<&str> = if case.affected {
            vec![&case.id]
        } else {
            vec![]
        };
        assert_eq!(reported(&doc).keys().collect::<Vec<_>>(), expected, "{doc}");
    }
    let broken = home.file(
        "broken.json",
        "{\n  \"id\": \"TEST-1\",\n  \"modified\": 7\n}\n",
    );
    let out = one(&broken);
    assert_exit(&out, 2, &format!("{}:3:15: invalid type", broken.display()));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

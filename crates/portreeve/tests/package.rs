//! The Debian package: scripts/package.sh packages the binary under test,
//! and the package is listed and unpacked. The binary in it is stripped and
//! runs as the workspace's version, Depends names the libraries it really
//! links, the man pages and completions are where Debian's man-db and
//! shells look and are well-formed, the conffiles are the /etc files it
//! ships (and no policy file that would replace the built-in baseline), and
//! the agent's and the server's units start the packaged binary, pass
//! `systemd-analyze verify` and stay hardened. A package.sh that cannot package fails
//! clearly and leaves nothing behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::systemd::{MAX_EXPOSURE, analyze, security};
use support::{assert_ok, run, stderr, stdout, testkit};

/// What package.sh and these checks run.
const TOOLS: &[&str] = &["dpkg-deb", "strip", "objdump", "readelf", "gzip"];

/// Where the package puts the agent's unit.
const UNIT: &str = "lib/systemd/system/portreeve-agent.service";
/// Where the package puts the fleet server's unit.
const SERVER_UNIT: &str = "lib/systemd/system/portreeve-server.service";

fn package_sh() -> Command {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/package.sh"))
}

/// The package built from the binary under test, and its files unpacked.
struct Package {
    dir: tempfile::TempDir,
    deb: PathBuf,
}

impl Package {
    /// Builds it; `None` (the test skipped) without the tools.
    fn build(test: &str, more_tools: &[&str]) -> Option<Package> {
        let tools: Vec<&str> = TOOLS.iter().chain(more_tools).copied().collect();
        if !testkit::require_programs(test, &tools) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let built = run(package_sh()
            .env("DPKG_DEB_COMPRESSOR_TYPE", "none")
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_portreeve"))
            .arg("--out")
            .arg(&out));
        assert_ok(&built);
        let deb = PathBuf::from(stdout(&built).trim());
        assert_eq!(deb.parent(), Some(out.as_path()), "{}", stdout(&built));
        assert_ok(&run(Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(dir.path().join("root"))));
        Some(Package { dir, deb })
    }

    /// A file of the unpacked package, by its path without the leading `/`.
    fn file(&self, path: &str) -> PathBuf {
        self.dir.path().join("root").join(path)
    }

    /// `dpkg-deb ARGS PACKAGE`'s output.
    fn dpkg_deb(&self, args: &[&str]) -> String {
        let out = run(Command::new("dpkg-deb").args(args).arg(&self.deb));
        assert_ok(&out);
        stdout(&out)
    }

    /// A control field, from `dpkg-deb --field`.
    fn field(&self, name: &str) -> String {
        self.dpkg_deb(&["--field"])
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {name} field"))
    }

    /// The paths `dpkg-deb --contents` lists, without the leading `.`.
    fn contents(&self) -> Vec<String> {
        self.dpkg_deb(&["--contents"])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .map(|p| p.trim_start_matches('.').to_owned())
            .collect()
    }
}

/// A gzipped file's text.
fn gunzip(path: &Path) -> String {
    let out = run(Command::new("gzip").arg("-dc").arg(path));
    assert_ok(&out);
    stdout(&out)
}

#[test]
fn the_package_holds_a_stripped_binary_of_this_version_and_says_what_it_needs() {
    let Some(package) = Package::build(
        "the_package_holds_a_stripped_binary_of_this_version_and_says_what_it_needs",
        &[],
    ) else {
        return;
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(package.field("Package"), "portreeve");
    assert_eq!(package.field("Version"), format!("{version}-1"));
    let arch = stdout(&run(Command::new("dpkg").arg("--print-architecture")));
    assert_eq!(package.field("Architecture"), arch.trim());
    assert_eq!(package.field("Recommends"), "nftables");
    // Linked with libc and libgcc_s only (rusqlite's SQLite is built in),
    // libc at least at the newest symbol version the binary uses.
    let binary = package.file("usr/bin/portreeve");
    let depends = package.field("Depends");
    let mut depends: Vec<&str> = depends.split(", ").collect();
    depends.sort_unstable();
    let libc = format!("libc6 (>= {})", newest_glibc_version(&binary));
    assert_eq!(depends, [libc.as_str(), "libgcc-s1"]);

    let ran = run(Command::new(&binary).arg("--version"));
    assert_ok(&ran);
    assert_eq!(stdout(&ran).trim(), format!("portreeve {version}"));
    let sections = run(Command::new("readelf").arg("-SW").arg(&binary));
    assert_ok(&sections);
    for section in [".symtab", ".debug_info", ".debug_line"] {
        assert!(
            !stdout(&sections).contains(&format!(" {section} ")),
            "{section} left in the packaged binary"
        );
    }
    assert!(
        package
            .contents()
            .contains(&"/usr/bin/portreeve".to_owned())
    );
}

/// The newest `GLIBC_` symbol version `binary` needs, as `2.34`.
fn newest_glibc_version(binary: &Path) -> String {
    let symbols = run(Command::new("objdump").arg("-T").arg(binary));
    assert_ok(&symbols);
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    stdout(&symbols)
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v = rest
                .split(|c: char| !c.is_ascii_digit() && c != '.')
                .next()?;
            (!v.is_empty()).then(|| v.trim_end_matches('.').to_owned())
        })
        .max_by_key(|v| version(v))
        .expect("no GLIBC_ symbol versions")
}

/// The sections every section-1 page has.
const COMMAND_SECTIONS: &[&str] = &[
    "NAME",
    "SYNOPSIS",
    "DESCRIPTION",
    "EXIT STATUS",
    "ENVIRONMENT",
    "FILES",
    "EXAMPLES",
    "SEE ALSO",
];

/// The sections of portreeve-policy(5): one per part of the policy.
const POLICY_SECTIONS: &[&str] = &[
    "NAME",
    "DESCRIPTION",
    "[defaults]",
    "[zones]",
    "[[rule]]",
    "[banned]",
    "[enforce]",
    "[change_control]",
    "[lifecycle]",
    "[detection]",
    "[[accepted_risk]]",
    "EXAMPLE",
    "SEE ALSO",
];

/// The names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn man_pages_and_completions_are_where_debian_looks_and_well_formed() {
    let Some(package) = Package::build(
        "man_pages_and_completions_are_where_debian_looks_and_well_formed",
        &["groff", "bash"],
    ) else {
        return;
    };
    // Every page the binary writes is packaged, compressed, in its section.
    let written = tempfile::tempdir().unwrap();
    assert_ok(&run(Command::new(env!("CARGO_BIN_EXE_portreeve"))
        .args(["man", "--output"])
        .arg(written.path())));
    let written = file_names(written.path());
    assert!(written.len() > 40, "{written:?}");
    for section in ["1", "5"] {
        let dir = format!("usr/share/man/man{section}");
        let expected: Vec<String> = written
            .iter()
            .filter(|p| p.ends_with(&format!(".{section}")))
            .map(|p| format!("{p}.gz"))
            .collect();
        assert_eq!(file_names(&package.file(&dir)), expected, "{dir}");
        for page in &expected {
            let roff = gunzip(&package.file(&format!("{dir}/{page}")));
            let sections = if section == "1" {
                COMMAND_SECTIONS
            } else {
                POLICY_SECTIONS
            };
            for heading in sections {
                assert!(
                    roff.contains(&format!(".SH {heading}\n"))
                        || roff.contains(&format!(".SH \"{heading}\"\n")),
                    "{page} has no {heading} section"
                );
            }
            let rendered = render(&roff);
            assert!(rendered.contains("portreeve"), "{page}: {rendered}");
        }
    }
    assert!(written.contains(&"portreeve-policy.5".to_owned()));

    for completion in [
        "usr/share/bash-completion/completions/portreeve",
        "usr/share/zsh/vendor-completions/_portreeve",
        "usr/share/fish/vendor_completions.d/portreeve.fish",
    ] {
        let text = std::fs::read_to_string(package.file(completion)).unwrap();
        assert!(text.contains("portreeve"), "{completion}");
    }
    let parsed = run(Command::new("bash")
        .arg("-n")
        .arg(package.file("usr/share/bash-completion/completions/portreeve")));
    assert_ok(&parsed);
}

/// A page rendered by groff with every warning on; panics on any warning.
fn render(roff: &str) -> String {
    let out = testkit::run_with_input(
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww"])
            .env("LC_ALL", "C.UTF-8"),
        roff.as_bytes(),
    );
    assert_ok(&out);
    assert!(stderr(&out).is_empty(), "groff warns: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_conffiles_are_the_shipped_configuration_and_no_policy_replaces_the_baseline() {
    let Some(package) = Package::build(
        "the_conffiles_are_the_shipped_configuration_and_no_policy_replaces_the_baseline",
        &[],
    ) else {
        return;
    };
    let control = package.dir.path().join("control");
    assert_ok(&run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&package.deb)
        .arg(&control)));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    let conffiles: Vec<&str> = conffiles.lines().collect();
    assert_eq!(
        conffiles,
        ["/etc/portreeve/agent.toml", "/etc/portreeve/server.toml"]
    );
    let etc: Vec<String> = package
        .contents()
        .into_iter()
        .filter(|p| p.starts_with("/etc/") && !p.ends_with('/'))
        .collect();
    assert_eq!(etc, conffiles, "every file in /etc is a conffile");
    // The example policy is documentation: /etc/portreeve/policy.toml would
    // take over from the built-in baseline on installation.
    assert!(!package.file("etc/portreeve/policy.toml").exists());
    assert!(
        package
            .file("usr/share/doc/portreeve/examples/policy.toml")
            .is_file()
    );
    let copyright =
        std::fs::read_to_string(package.file("usr/share/doc/portreeve/copyright")).unwrap();
    assert!(copyright.starts_with(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
    ));
    assert!(copyright.contains("License: Apache-2.0\n"));
    let changelog = gunzip(&package.file("usr/share/doc/portreeve/changelog.Debian.gz"));
    assert!(
        changelog.starts_with(&format!("portreeve ({}-1) ", env!("CARGO_PKG_VERSION"))),
        "{changelog}"
    );
}

#[test]
fn the_packaged_units_start_the_packaged_binary_verify_and_are_hardened() {
    let Some(package) = Package::build(
        "the_packaged_units_start_the_packaged_binary_verify_and_are_hardened",
        &["systemd-analyze"],
    ) else {
        return;
    };
    // The all-netns drop-in is an example, not in force.
    assert!(
        !package
            .contents()
            .iter()
            .any(|p| p.contains("portreeve-agent.service.d")),
        "the all-netns drop-in is active"
    );
    assert!(
        package
            .file("usr/share/doc/portreeve/examples/all-netns.conf")
            .is_file()
    );
    let binary = package.file("usr/bin/portreeve");
    for name in [UNIT, SERVER_UNIT] {
        let unit = package.file(name);
        let text = std::fs::read_to_string(&unit).unwrap();
        assert!(
            text.contains("\nExecStart=/usr/bin/portreeve "),
            "{name} does not start /usr/bin/portreeve"
        );
        // verify wants ExecStart's binary to exist: the unit as installed,
        // starting the unpacked binary instead.
        let installed = package.dir.path().join(unit.file_name().unwrap());
        std::fs::write(
            &installed,
            text.replace(
                "\nExecStart=/usr/bin/portreeve ",
                &format!("\nExecStart={} ", binary.display()),
            ),
        )
        .unwrap();
        let out = analyze(&["verify", "--man=no"], &installed);
        assert!(
            out.status.success() && stderr(&out).is_empty() && stdout(&out).is_empty(),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let (score, failed) = security(&unit);
        assert!(
            score <= MAX_EXPOSURE,
            "{name}: exposure {score}: {failed:#?}"
        );
    }
}

#[test]
fn without_a_binary_package_sh_fails_clearly_and_writes_nothing() {
    if !testkit::require_programs(
        "without_a_binary_package_sh_fails_clearly_and_writes_nothing",
        TOOLS,
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-portreeve");
    let out = dir.path().join("out");
    let failed = run(package_sh()
        .arg("--binary")
        .arg(&missing)
        .arg("--out")
        .arg(&out));
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert_eq!(
        stderr(&failed),
        format!(
            "package.sh: no executable binary at {}\n",
            missing.display()
        )
    );
    assert!(!out.exists(), "package.sh created {}", out.display());
}

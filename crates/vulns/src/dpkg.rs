//! What dpkg says is installed: `var/lib/dpkg/status` for packages and
//! versions, `var/lib/dpkg/info/*.list` for which package owns a file.
//!
//! Debian's and Ubuntu's OSV data name *source* packages (`openssh`, not
//! `openssh-server`), so every package carries its source name and version
//! as the status file's `Source:` field gives them (`Source: util-linux
//! (2.38.1-5+deb12u3)`), defaulting to the package's own name and version
//! as dpkg does.
//!
//! Read directly rather than through `dpkg-query`, because the database read
//! may be a container's (`/proc/PID/root/var/lib/dpkg`) where the host's
//! `dpkg-query` cannot be pointed safely, and because the file is simple:
//! RFC 822-like stanzas separated by blank lines.
//!
//! Not handled: `dpkg-divert` (a diverted file is reported as owned by the
//! package whose list names the path, not by the diverting one) and
//! `dpkg-statoverride` (irrelevant to ownership).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::DebianVersion;
use crate::installed::InstalledPackage;
use crate::rooted::Root;

/// Where the database lives below a root.
const STATUS: &str = "var/lib/dpkg/status";
const INFO: &str = "var/lib/dpkg/info";
/// dpkg's journal: stanzas written since the status file was, in files
/// named by number, each superseding the status file's stanza for its
/// package until dpkg folds them in. `dpkg-query` reads them; so does this.
const UPDATES: &str = "var/lib/dpkg/updates";

/// The top-level directories that usr-merge turns into symlinks into `/usr`.
const MERGEABLE: [&str; 7] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// The dpkg states in which a package's files are all on disk, so it
/// counts as installed whatever is wanted of it (`hold`, `deinstall`):
/// `installed`, awaiting or pending triggers, unpacked or half-configured
/// (the new version's files are there). Not `config-files`,
/// `half-installed` (files partly there) or `not-installed`.
const ON_DISK: [&str; 5] = [
    "installed",
    "triggers-pending",
    "triggers-awaited",
    "half-configured",
    "unpacked",
];

/// Every state dpkg writes; anything else is a malformed status.
const STATES: [&str; 8] = [
    "not-installed",
    "config-files",
    "half-installed",
    "unpacked",
    "half-configured",
    "triggers-awaited",
    "triggers-pending",
    "installed",
];

/// Why the dpkg database (or a packages file) could not be read. Each names
/// the file, and for bad content the line.
#[derive(Debug, thiserror::Error)]
pub enum DpkgError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The content is not what dpkg writes.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Which packages own a path: almost always one; directories and the
/// identical files of `Multi-Arch: same` packages have several.
#[derive(Debug)]
enum Owners {
    One(u32),
    Many(Vec<u32>),
}

/// The installed packages of one root and the files each owns.
#[derive(Debug)]
pub struct PackageDb {
    /// Sorted by name, then architecture.
    packages: Vec<InstalledPackage>,
    /// Path as the `.list` files write it → indexes into `packages`.
    files: foldhash::HashMap<Box<str>, Owners>,
    /// Which of [`MERGEABLE`] are symlinks into `usr` in this root.
    merged: Vec<&'static str>,
}

impl PackageDb {
    /// Whether `root` has a dpkg database (`var/lib/dpkg/status`).
    pub fn exists(root: &Path) -> bool {
        Root::open(root).is_ok_and(|r| r.exists(STATUS))
    }

    /// Reads the database below `root` (`/`, or `/proc/PID/root` for a
    /// process in another mount namespace): every installed package (see
    /// [`InstalledPackage`]) and the files their `.list` files name.
    pub fn open(root: &Path) -> Result<PackageDb, DpkgError> {
        let dir = Root::open(root).map_err(|source| DpkgError::Read {
            path: root.to_owned(),
            source,
        })?;
        let read_error = |relative: &str| {
            let path = dir.display(relative);
            move |source| DpkgError::Read { path, source }
        };
        let status = dir.read_to_string(STATUS).map_err(read_error(STATUS))?;
        let mut records: BTreeMap<(String, Option<String>), Option<InstalledPackage>> =
            BTreeMap::new();
        records.extend(parse_status(&status, &dir.display(STATUS))?);
        let mut updates = match dir.read_dir(UPDATES) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_error(UPDATES)(e)),
        };
        // Only `NNNN` files count (dpkg's temporary file is `tmp.i`), in order.
        updates.retain(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        updates.sort_by_key(|n| (n.len(), n.clone()));
        for name in updates {
            let relative = format!("{UPDATES}/{name}");
            let text = dir
                .read_to_string(&relative)
                .map_err(read_error(&relative))?;
            records.extend(parse_status(&text, &dir.display(&relative))?);
        }
        // Sorted by name, then architecture, as the map is.
        let packages: Vec<InstalledPackage> = records.into_values().flatten().collect();

        let mut by_name: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, p) in packages.iter().enumerate() {
            by_name.entry(&p.name).or_default().push(i as u32);
        }
        let mut names = dir.read_dir(INFO).map_err(read_error(INFO))?;
        names.sort();
        let mut files = foldhash::HashMap::<Box<str>, Owners>::default();
        for name in &names {
            let Some(stem) = name.strip_suffix(".list") else {
                continue;
            };
            // `PKG.list`, or `PKG:ARCH.list` for `Multi-Arch: same`.
            let (package, arch) = match stem.split_once(':') {
                Some((p, a)) => (p, Some(a)),
                None => (stem, None),
            };
            let Some(index) = by_name.get(package).and_then(|candidates| {
                candidates.iter().copied().find(|&i| {
                    arch.is_none_or(|a| packages[i as usize].architecture.as_deref() == Some(a))
                })
            }) else {
                // A list left by a package not installed (`config-files`).
                continue;
            };
            let relative = format!("{INFO}/{name}");
            let list = dir
                .read_to_string(&relative)
                .map_err(read_error(&relative))?;
            for path in list.lines().filter(|l| !l.is_empty()) {
                match files.get_mut(path) {
                    None => {
                        files.insert(path.into(), Owners::One(index));
                    }
                    Some(Owners::One(first)) => {
                        let first = *first;
                        if first != index {
                            files.insert(path.into(), Owners::Many(vec![first, index]));
                        }
                    }
                    Some(Owners::Many(all)) => {
                        if !all.contains(&index) {
                            all.push(index);
                        }
                    }
                }
            }
        }
        let merged = MERGEABLE
            .into_iter()
            .filter(|d| dir.merged_into_usr(d))
            .collect();
        Ok(PackageDb {
            packages,
            files,
            merged,
        })
    }

    /// Every installed package, sorted by name, then architecture.
    pub fn packages(&self) -> &[InstalledPackage] {
        &self.packages
    }

    /// The package owning `path` (absolute, as seen inside the root: what
    /// `/proc/PID/exe` says), or `None` when no installed package lists it.
    /// When several do (a directory), the first by name. On a usr-merged
    /// root, `/usr/bin/ls` is found as `/bin/ls` and the other way round,
    /// which `dpkg -S` itself does not do.
    pub fn owner(&self, path: &Path) -> Option<&InstalledPackage> {
        self.owners(path).into_iter().next()
    }

    /// Every package owning `path` (see [`PackageDb::owner`]), sorted by
    /// name: what `dpkg -S` lists.
    pub fn owners(&self, path: &Path) -> Vec<&InstalledPackage> {
        let Some(path) = path.to_str() else {
            return Vec::new();
        };
        let found = self.files.get(path).or_else(|| {
            self.usr_alias(path)
                .and_then(|a| self.files.get(a.as_str()))
        });
        let mut owners: Vec<&InstalledPackage> = match found {
            None => Vec::new(),
            Some(Owners::One(i)) => vec![&self.packages[*i as usize]],
            Some(Owners::Many(all)) => all.iter().map(|i| &self.packages[*i as usize]).collect(),
        };
        owners.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
        owners
    }

    /// The other name of `path` on this root's usr-merged directories:
    /// `/usr/bin/ls` ↔ `/bin/ls`.
    fn usr_alias(&self, path: &str) -> Option<String> {
        self.merged.iter().find_map(|dir| {
            let top = path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(dir))
                .filter(|rest| rest.starts_with('/'));
            let under_usr = path
                .strip_prefix("/usr/")
                .and_then(|p| p.strip_prefix(dir))
                .filter(|rest| rest.starts_with('/'));
            match (top, under_usr) {
                (Some(rest), _) => Some(format!("/usr/{dir}{rest}")),
                (_, Some(rest)) => Some(format!("/{dir}{rest}")),
                _ => None,
            }
        })
    }
}

/// One stanza's fields as they are collected, each with its line.
#[derive(Default)]
struct Stanza<'a> {
    start: usize,
    package: Option<(&'a str, usize)>,
    status: Option<(&'a str, usize)>,
    version: Option<(&'a str, usize)>,
    architecture: Option<(&'a str, usize)>,
    source: Option<(&'a str, usize)>,
}

/// A status stanza's package, by name and architecture, with what is
/// installed of it (`None`: its files are not on disk).
type Record = ((String, Option<String>), Option<InstalledPackage>);

/// Every stanza of a status file's `text` (or of an update's); `path` names
/// the file in errors.
fn parse_status(text: &str, path: &Path) -> Result<Vec<Record>, DpkgError> {
    let malformed = |line: usize, message: String| DpkgError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let mut packages = Vec::new();
    let mut stanza: Option<Stanza> = None;
    let mut in_field = false;
    for (n, line) in text.lines().enumerate() {
        let number = n + 1;
        if line.trim().is_empty() {
            if let Some(done) = stanza.take() {
                packages.push(finish(done, &malformed)?);
            }
            in_field = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line (descriptions, conffiles): only its
            // existence matters, after a field.
            if !in_field {
                return Err(malformed(
                    number,
                    "continuation line outside any field".into(),
                ));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(malformed(
                number,
                format!("`{line}` is neither `Field: value` nor a continuation line"),
            ));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(malformed(number, format!("`{name}` is not a field name")));
        }
        let current = stanza.get_or_insert_with(|| Stanza {
            start: number,
            ..Stanza::default()
        });
        in_field = true;
        let slot = match name.to_ascii_lowercase().as_str() {
            "package" => &mut current.package,
            "status" => &mut current.status,
            "version" => &mut current.version,
            "architecture" => &mut current.architecture,
            "source" => &mut current.source,
            _ => continue,
        };
        if slot.is_some() {
            return Err(malformed(number, format!("duplicate field `{name}`")));
        }
        *slot = Some((value.trim(), number));
    }
    if let Some(done) = stanza.take() {
        packages.push(finish(done, &malformed)?);
    }
    Ok(packages)
}

/// The package a complete stanza describes, with nothing installed when its
/// files are not on disk.
fn finish(
    stanza: Stanza,
    malformed: &impl Fn(usize, String) -> DpkgError,
) -> Result<Record, DpkgError> {
    let Some((name, _)) = stanza.package.filter(|(p, _)| !p.is_empty()) else {
        return Err(malformed(
            stanza.start,
            "stanza without a `Package` field".into(),
        ));
    };
    let Some((status, status_line)) = stanza.status else {
        return Err(malformed(
            stanza.start,
            format!("package `{name}` has no `Status` field"),
        ));
    };
    let words: Vec<&str> = status.split_whitespace().collect();
    let [_, _, state] = words[..] else {
        return Err(malformed(
            status_line,
            format!("`Status: {status}` is not `WANT FLAG STATE`"),
        ));
    };
    if !STATES.contains(&state) {
        return Err(malformed(
            status_line,
            format!("`{state}` is not a dpkg package state"),
        ));
    }
    let architecture = stanza.architecture.map(|(a, _)| a.to_owned());
    let key = (name.to_owned(), architecture.clone());
    if !ON_DISK.contains(&state) {
        return Ok((key, None));
    }
    let Some((version, version_line)) = stanza.version else {
        return Err(malformed(
            stanza.start,
            format!("installed package `{name}` has no `Version` field"),
        ));
    };
    DebianVersion::parse(version).map_err(|e| malformed(version_line, e.to_string()))?;
    let (source, source_version) = match stanza.source {
        None => (name, version),
        Some((source, line)) => {
            parse_source(source, version).map_err(|message| malformed(line, message))?
        }
    };
    Ok((
        key,
        Some(InstalledPackage {
            name: name.to_owned(),
            architecture,
            version: version.to_owned(),
            source: source.to_owned(),
            source_version: source_version.to_owned(),
        }),
    ))
}

/// `Source: NAME` or `Source: NAME (VERSION)`; the version defaults to the
/// binary package's.
fn parse_source<'a>(value: &'a str, version: &'a str) -> Result<(&'a str, &'a str), String> {
    let (name, own) = match value.split_once('(') {
        None => (value.trim(), None),
        Some((name, rest)) => {
            let Some(own) = rest.trim_end().strip_suffix(')') else {
                return Err(format!("`Source: {value}` has no closing parenthesis"));
            };
            (name.trim(), Some(own.trim()))
        }
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!(
            "`Source: {value}` does not start with a package name"
        ));
    }
    match own {
        None => Ok((name, version)),
        Some(own) => {
            DebianVersion::parse(own).map_err(|e| format!("source version: {e}"))?;
            Ok((name, own))
        }
    }
}

/// Reads a packages file: what is installed on a host portreeve cannot read
/// directly, one package a line as
/// `dpkg-query -W -f '${Package}\t${Version}\t${source:Package}\t${source:Version}\n'`
/// writes it. Blank lines are skipped. Every line must have those four
/// tab-separated fields, with Debian versions.
pub fn read_packages_file(path: &Path) -> Result<Vec<InstalledPackage>, DpkgError> {
    let text = std::fs::read_to_string(path).map_err(|source| DpkgError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_packages(&text, path)
}

/// The packages of a packages file's `text` (see [`read_packages_file`]);
/// `path` names it in errors.
pub fn parse_packages(text: &str, path: &Path) -> Result<Vec<InstalledPackage>, DpkgError> {
    let mut packages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let malformed = |message: String| DpkgError::Malformed {
            path: path.to_owned(),
            line: n + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, version, source, source_version] = fields[..] else {
            return Err(malformed(format!(
                "{} tab-separated fields, expected 4: package, version, source package, source version",
                fields.len()
            )));
        };
        for (what, value) in [("package", name), ("source package", source)] {
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(malformed(format!("`{value}` is not a {what} name")));
            }
        }
        for (what, value) in [("version", version), ("source version", source_version)] {
            DebianVersion::parse(value).map_err(|e| malformed(format!("{what}: {e}")))?;
        }
        packages.push(InstalledPackage {
            name: name.to_owned(),
            architecture: None,
            version: version.to_owned(),
            source: source.to_owned(),
            source_version: source_version.to_owned(),
        });
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const STATUS_TEXT: &str = "\
Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2+deb12u3
Description: secure shell (SSH) server
 A longer description,
 .
 over lines.
Conffiles:
 /etc/ssh/moduli 1234

Package: libssl3
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: openssl (3.0.15-1~deb12u1)
Version: 3.0.15-1~deb12u1

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b7

Package: coreutils
Status: hold ok installed
Architecture: amd64
Version: 9.1-1

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0-1
";

    /// A root with the status above, its lists, and `/bin` and `/lib`
    /// (not `/sbin`) merged into `/usr`.
    fn fixture(status: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let info = root.path().join(INFO);
        fs::create_dir_all(&info).unwrap();
        fs::write(root.path().join(STATUS), status).unwrap();
        for (list, paths) in [
            (
                "openssh-server.list",
                "/.\n/usr\n/usr/sbin\n/usr/sbin/sshd\n",
            ),
            (
                "libssl3:amd64.list",
                "/usr\n/usr/lib/x86_64-linux-gnu/libssl.so.3\n",
            ),
            ("coreutils.list", "/.\n/bin\n/bin/ls\n/usr\n"),
            ("oldpkg.list", "/etc/oldpkg.conf\n"),
            ("half.list", "/usr/bin/half\n"),
        ] {
            fs::write(info.join(list), paths).unwrap();
        }
        fs::write(info.join("coreutils.md5sums"), "not a list\n").unwrap();
        fs::create_dir_all(root.path().join("usr/bin")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", root.path().join("lib")).unwrap();
        fs::create_dir_all(root.path().join("sbin")).unwrap();
        root
    }

    fn names(packages: &[&InstalledPackage]) -> Vec<String> {
        packages.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn installed_packages_carry_their_source() {
        let root = fixture(STATUS_TEXT);
        let db = PackageDb::open(root.path()).unwrap();
        let got: Vec<(&str, &str, &str, &str)> = db
            .packages()
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.source.as_str(),
                    p.source_version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("bash", "5.2.15-2+b7", "bash", "5.2.15-2"),
                ("coreutils", "9.1-1", "coreutils", "9.1-1"),
                ("libssl3", "3.0.15-1~deb12u1", "openssl", "3.0.15-1~deb12u1"),
                (
                    "openssh-server",
                    "1:9.2p1-2+deb12u3",
                    "openssh",
                    "1:9.2p1-2+deb12u3"
                ),
            ]
        );
        assert_eq!(db.packages()[0].architecture.as_deref(), Some("amd64"));
    }

    #[test]
    fn files_map_to_installed_owners_through_usr_merge() {
        let root = fixture(STATUS_TEXT);
        let db = PackageDb::open(root.path()).unwrap();
        let owner = |p: &str| db.owner(Path::new(p)).map(|p| p.name.as_str());
        assert_eq!(owner("/usr/sbin/sshd"), Some("openssh-server"));
        assert_eq!(
            owner("/usr/lib/x86_64-linux-gnu/libssl.so.3"),
            Some("libssl3")
        );
        assert_eq!(owner("/lib/x86_64-linux-gnu/libssl.so.3"), Some("libssl3"));
        // /bin is merged: the kernel's /usr/bin/ls is dpkg's /bin/ls.
        assert_eq!(owner("/bin/ls"), Some("coreutils"));
        assert_eq!(owner("/usr/bin/ls"), Some("coreutils"));
        // /sbin is not merged in this root: /sbin/sshd is another file.
        assert_eq!(owner("/sbin/sshd"), None);
        // Neither a package with only configuration files left nor one
        // half-installed owns anything.
        assert_eq!(owner("/etc/oldpkg.conf"), None);
        assert_eq!(owner("/usr/bin/half"), None);
        assert_eq!(owner("/usr/bin/nothing"), None);
        assert_eq!(
            names(&db.owners(Path::new("/usr"))),
            ["coreutils", "libssl3", "openssh-server"]
        );
    }

    #[test]
    fn malformed_status_is_located() {
        let cases: [(&str, usize, &str); 9] = [
            (
                "Package: a\nStatus: install ok installed\nVersion: 1\nno colon here\n",
                4,
                "neither",
            ),
            (" leading continuation\n", 1, "continuation"),
            (
                "Package: a\nStatus: install ok installed\nVersion: 1\n\nVersion: 1\n",
                5,
                "without a `Package`",
            ),
            ("Package: a\nVersion: 1\n", 1, "no `Status`"),
            (
                "Package: a\nStatus: install ok\nVersion: 1\n",
                2,
                "WANT FLAG STATE",
            ),
            (
                "Package: a\nStatus: install ok sideways\nVersion: 1\n",
                2,
                "not a dpkg package state",
            ),
            (
                "Package: a\nStatus: install ok installed\n",
                1,
                "no `Version`",
            ),
            (
                "Package: a\nStatus: install ok installed\nVersion: 1:\n",
                3,
                "epoch",
            ),
            (
                "Package: a\nStatus: install ok installed\nSource: b (1.0\nVersion: 1\n",
                3,
                "parenthesis",
            ),
        ];
        for (text, line, what) in cases {
            let root = fixture(&format!("{STATUS_TEXT}\n{text}"));
            let offset = STATUS_TEXT.lines().count() + 1;
            let err = PackageDb::open(root.path()).unwrap_err();
            let message = err.to_string();
            match err {
                DpkgError::Malformed {
                    path, line: got, ..
                } => {
                    assert_eq!(path, root.path().join(STATUS), "{text:?}");
                    assert_eq!(got, offset + line, "{text:?}: {message}");
                    assert!(message.contains(what), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other}"),
            }
        }
        let duplicate = "Package: a\nPackage: b\nStatus: install ok installed\nVersion: 1\n";
        let err = parse_status(duplicate, Path::new("s")).unwrap_err();
        assert_eq!(err.to_string(), "s:2: duplicate field `Package`");
    }

    #[test]
    fn the_update_journal_supersedes_the_status_file() {
        let root = fixture(STATUS_TEXT);
        let updates = root.path().join(UPDATES);
        fs::create_dir_all(&updates).unwrap();
        let bash = |version: &str| {
            format!(
                "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n\
                 Source: bash (5.2.15-2)\nVersion: {version}\n"
            )
        };
        fs::write(updates.join("0009"), bash("5.2.15-2+b8")).unwrap();
        fs::write(updates.join("0010"), bash("5.2.15-2+b9")).unwrap();
        fs::write(
            updates.join("0002"),
            "Package: coreutils\nStatus: purge ok config-files\nArchitecture: amd64\nVersion: 9.1-1\n",
        )
        .unwrap();
        // dpkg's file being written is not part of the journal yet.
        fs::write(updates.join("tmp.i"), "half a stanza").unwrap();
        let db = PackageDb::open(root.path()).unwrap();
        let got: Vec<(&str, &str)> = db
            .packages()
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("bash", "5.2.15-2+b9"),
                ("libssl3", "3.0.15-1~deb12u1"),
                ("openssh-server", "1:9.2p1-2+deb12u3"),
            ]
        );
        assert_eq!(db.owner(Path::new("/bin/ls")), None);
        fs::write(updates.join("0011"), "Package: bash\nStatus: install ok\n").unwrap();
        let err = PackageDb::open(root.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:2: `Status: install ok` is not `WANT FLAG STATE`",
                updates.join("0011").display()
            )
        );
    }

    #[test]
    fn a_missing_database_names_the_file() {
        let root = tempfile::tempdir().unwrap();
        let err = PackageDb::open(root.path()).unwrap_err();
        assert!(matches!(&err, DpkgError::Read { path, .. } if *path == root.path().join(STATUS)));
        assert!(!PackageDb::exists(root.path()));
        assert!(PackageDb::exists(fixture(STATUS_TEXT).path()));
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        // The status file is an absolute symlink: read in the root, as the
        // container would, not in the host's /var/lib/dpkg.
        let root = fixture(STATUS_TEXT);
        let status = root.path().join(STATUS);
        fs::rename(&status, root.path().join("var/lib/dpkg/status.real")).unwrap();
        std::os::unix::fs::symlink("/var/lib/dpkg/status.real", &status).unwrap();
        let db = PackageDb::open(root.path()).unwrap();
        assert_eq!(db.packages().len(), 4);
    }

    #[test]
    fn packages_files_are_dpkg_query_lines() {
        let text = "openssh-server\t1:9.2p1-2+deb12u3\topenssh\t1:9.2p1-2+deb12u3\n\
                    \n\
                    bash\t5.2.15-2+b7\tbash\t5.2.15-2\n";
        let got = parse_packages(text, Path::new("p")).unwrap();
        assert_eq!(
            got[1],
            InstalledPackage {
                name: "bash".into(),
                architecture: None,
                version: "5.2.15-2+b7".into(),
                source: "bash".into(),
                source_version: "5.2.15-2".into(),
            }
        );
        assert_eq!(got.len(), 2);
        for (bad, what) in [
            ("a\t1\ta\n", "3 tab-separated fields"),
            ("a 1 a 1\n", "1 tab-separated fields"),
            ("a\t1\t\t1\n", "source package name"),
            ("a\t1.0-\ta\t1\n", "version: version `1.0-`"),
            ("a\t1\ta\t:1\n", "source version"),
        ] {
            let err = parse_packages(&format!("x\t1\tx\t1\n\n{bad}"), Path::new("/p.txt"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("/p.txt:3: "), "{bad:?}: {err}");
            assert!(err.contains(what), "{bad:?}: {err}");
        }
        let missing = read_packages_file(Path::new("/nonexistent/packages")).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/packages: "));
    }
}

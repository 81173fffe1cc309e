//! Which distribution release a root runs, from its `os-release`, and the
//! OSV ecosystem its packages' advisories are filed under.
//!
//! OSV files distribution advisories per release (`Debian:12`,
//! `Ubuntu:22.04:LTS`): judging an installed version against another
//! release's fixed version would be wrong, so the release matters as much
//! as the package.

use std::path::{Path, PathBuf};

use crate::rooted::Root;

/// Where os-release lives below a root, in the order the specification
/// says to look.
const LOCATIONS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// Why os-release could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Neither location could be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The first location tried.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line is not `NAME=value`.
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

/// The fields of os-release that name the release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID`: `debian`, `ubuntu`, `almalinux` (`linux` when not given, as
    /// the specification says).
    pub id: String,
    /// `VERSION_ID`: `12`, `22.04`; absent on rolling releases.
    pub version_id: Option<String>,
    /// `VERSION`: `22.04.4 LTS (Jammy Jellyfish)`.
    pub version: Option<String>,
    /// `PRETTY_NAME`, for messages.
    pub pretty_name: Option<String>,
}

impl OsRelease {
    /// Reads `ROOT/etc/os-release`, else `ROOT/usr/lib/os-release`,
    /// resolving symlinks inside `root` (a container's absolute symlink
    /// stays in the container).
    pub fn read(root: &Path) -> Result<OsRelease, ReleaseError> {
        let dir = Root::open(root).map_err(|source| ReleaseError::Read {
            path: root.to_owned(),
            source,
        })?;
        let mut first_error = None;
        for location in LOCATIONS {
            match dir.read_to_string(location) {
                Ok(text) => return OsRelease::parse(&text, &dir.display(location)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(ReleaseError::Read {
            path: dir.display(LOCATIONS[0]),
            source: first_error.expect("two locations were tried"),
        })
    }

    /// Parses os-release `text` (shell-style `NAME=value` lines, values
    /// optionally quoted, `#` comments); `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<OsRelease, ReleaseError> {
        let mut release = OsRelease {
            id: "linux".into(),
            ..OsRelease::default()
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = |message: String| ReleaseError::Malformed {
                path: path.to_owned(),
                line: n + 1,
                message,
            };
            let Some((name, raw)) = line.split_once('=') else {
                return Err(malformed(format!("`{line}` is not NAME=value")));
            };
            let value = unquote(raw).map_err(malformed)?;
            match name {
                "ID" => release.id = value,
                "VERSION_ID" => release.version_id = Some(value),
                "VERSION" => release.version = Some(value),
                "PRETTY_NAME" => release.pretty_name = Some(value),
                _ => {}
            }
        }
        Ok(release)
    }

    /// The OSV ecosystem of this release's packages (`Debian:12`,
    /// `Ubuntu:22.04:LTS`, `AlmaLinux:9`, `Rocky Linux:9`, `Alpine:v3.19`),
    /// or why there is none: advisories cannot be matched to its packages.
    pub fn ecosystem(&self) -> Result<String, String> {
        let name = self.pretty_name.as_deref().unwrap_or(&self.id);
        let Some(version) = self.version_id.as_deref().filter(|v| !v.is_empty()) else {
            return Err(format!(
                "{name} has no VERSION_ID (a rolling or development release): OSV files distribution advisories per release"
            ));
        };
        let major = version.split('.').next().unwrap_or(version);
        match self.id.as_str() {
            "debian" => Ok(format!("Debian:{major}")),
            "ubuntu" => {
                let lts = self.version.as_deref().is_some_and(|v| v.contains("LTS"));
                Ok(format!("Ubuntu:{version}{}", if lts { ":LTS" } else { "" }))
            }
            "almalinux" => Ok(format!("AlmaLinux:{major}")),
            "rocky" => Ok(format!("Rocky Linux:{major}")),
            "alpine" => {
                let minor: Vec<&str> = version.split('.').take(2).collect();
                Ok(format!("Alpine:v{}", minor.join(".")))
            }
            _ => Err(format!(
                "no OSV ecosystem is known for {name} (ID={}, VERSION_ID={version})",
                self.id
            )),
        }
    }
}

/// A shell-style value: bare, or in double quotes (where `\` escapes
/// `$ " \ ``), or in single quotes.
fn unquote(raw: &str) -> Result<String, String> {
    let Some(quote) = raw.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        if raw.contains(char::is_whitespace) {
            return Err(format!("`{raw}` has blanks but no quotes"));
        }
        return Ok(raw.to_owned());
    };
    let mut value = String::new();
    let mut chars = raw[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => {
                let rest: String = chars.collect();
                if !rest.trim().is_empty() {
                    return Err(format!("text after the closing quote: `{rest}`"));
                }
                return Ok(value);
            }
            '\\' if quote == '"' => match chars.next() {
                Some(e @ ('$' | '"' | '\\' | '`')) => value.push(e),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(format!("`{raw}` has no closing {quote}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> OsRelease {
        OsRelease::parse(text, Path::new("os-release")).unwrap()
    }

    #[test]
    fn releases_map_to_osv_ecosystems() {
        let debian = parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n",
        );
        assert_eq!(debian.ecosystem().unwrap(), "Debian:12");
        let jammy =
            parse("ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\n");
        assert_eq!(jammy.ecosystem().unwrap(), "Ubuntu:22.04:LTS");
        let oracular =
            parse("ID=ubuntu\nVERSION_ID=\"24.10\"\nVERSION=\"24.10 (Oracular Oriole)\"\n");
        assert_eq!(oracular.ecosystem().unwrap(), "Ubuntu:24.10");
        assert_eq!(
            parse("ID=\"almalinux\"\nVERSION_ID=\"9.4\"\n")
                .ecosystem()
                .unwrap(),
            "AlmaLinux:9"
        );
        assert_eq!(
            parse("ID=\"rocky\"\nVERSION_ID=\"8.10\"\n")
                .ecosystem()
                .unwrap(),
            "Rocky Linux:8"
        );
        assert_eq!(
            parse("ID=alpine\nVERSION_ID=3.19.1\n").ecosystem().unwrap(),
            "Alpine:v3.19"
        );
    }

    #[test]
    fn unknown_and_rolling_releases_say_why() {
        let sid = parse("PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n");
        assert!(sid.ecosystem().unwrap_err().contains("no VERSION_ID"));
        let arch = parse("ID=arch\nVERSION_ID=20240101\nPRETTY_NAME='Arch Linux'\n");
        let why = arch.ecosystem().unwrap_err();
        assert!(
            why.contains("Arch Linux") && why.contains("ID=arch"),
            "{why}"
        );
        assert_eq!(parse("# nothing\n\n").id, "linux");
    }

    #[test]
    fn quotes_and_escapes_follow_the_shell() {
        let r = parse("PRETTY_NAME=\"a \\\"b\\\" \\$c\"\nVERSION='x y'\n");
        assert_eq!(r.pretty_name.as_deref(), Some("a \"b\" $c"));
        assert_eq!(r.version.as_deref(), Some("x y"));
    }

    #[test]
    fn bad_lines_are_located() {
        for (text, line) in [
            ("ID=debian\nno equals\n", 2),
            ("\n\nID=\"debian\n", 3),
            ("X=a b\n", 1),
        ] {
            match OsRelease::parse(text, Path::new("/r/etc/os-release")) {
                Err(ReleaseError::Malformed {
                    path, line: got, ..
                }) => {
                    assert_eq!(
                        (path.as_path(), got),
                        (Path::new("/r/etc/os-release"), line)
                    )
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn read_resolves_inside_the_root_and_falls_back() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let missing = OsRelease::read(r).unwrap_err();
        assert!(
            matches!(&missing, ReleaseError::Read { path, .. } if *path == r.join("etc/os-release")),
            "{missing}"
        );
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::write(r.join("usr/lib/os-release"), "ID=testos\nVERSION_ID=1\n").unwrap();
        assert_eq!(OsRelease::read(r).unwrap().id, "testos");
        // An absolute symlink, as some images ship it, must name the
        // root's own file and not this host's /usr/lib/os-release.
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", r.join("etc/os-release")).unwrap();
        assert_eq!(OsRelease::read(r).unwrap().id, "testos");
        std::fs::write(r.join("usr/lib/os-release"), "ID=testos\nbroken\n").unwrap();
        let err = OsRelease::read(r).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:2: `broken` is not NAME=value",
                r.join("etc/os-release").display()
            )
        );
    }
}

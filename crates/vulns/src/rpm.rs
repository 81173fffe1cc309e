//! What rpm says owns a file, on hosts without dpkg (Red Hat, AlmaLinux,
//! Rocky Linux, SUSE…).
//!
//! rpm's database is a Berkeley DB, NDB or SQLite file depending on the
//! distribution and its age, so rather than read it, `rpm -qf` is asked,
//! one file at a time, with a query format this module parses.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::installed::InstalledPackage;

/// The query format `rpm -qf --qf` is given: one line per owning package.
pub const QUERY_FORMAT: &str = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{SOURCERPM}\\n";

/// Why rpm's answer could not be had or understood.
#[derive(Debug, thiserror::Error)]
pub enum RpmError {
    /// `rpm` could not be run.
    #[error("cannot run rpm: {0}")]
    Run(std::io::Error),
    /// `rpm` failed for another reason than the file having no owner.
    #[error("rpm -qf {}: {message}", path.display())]
    Failed {
        /// The file asked about.
        path: PathBuf,
        /// What rpm wrote to standard error.
        message: String,
    },
    /// A line of rpm's output is not in [`QUERY_FORMAT`].
    #[error("rpm output line {line}: {message}: `{text}`")]
    Malformed {
        /// The line, from 1.
        line: usize,
        /// The line's text.
        text: String,
        /// What is wrong.
        message: String,
    },
}

/// Whether an `rpm` program can be run here.
pub fn available() -> bool {
    Command::new("rpm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The package owning `path` in the rpm database below `root`, `None` when
/// no package owns it. When several do, the first rpm names.
pub fn owner(root: &Path, path: &Path) -> Result<Option<InstalledPackage>, RpmError> {
    let output = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["-qf", "--qf", QUERY_FORMAT, "--"])
        .arg(path)
        .output()
        .map_err(RpmError::Run)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.contains("is not owned by any package") {
            return Ok(None);
        }
        return Err(RpmError::Failed {
            path: path.to_owned(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(parse_query(&stdout)?.into_iter().next())
}

/// The packages in `rpm -qf --qf QUERY_FORMAT` output.
pub fn parse_query(output: &str) -> Result<Vec<InstalledPackage>, RpmError> {
    let mut packages = Vec::new();
    for (n, line) in output.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |message: &str| RpmError::Malformed {
            line: n + 1,
            text: line.to_owned(),
            message: message.to_owned(),
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, epoch, version, release, source_rpm] = fields[..] else {
            return Err(malformed(
                "expected 5 tab-separated fields: name, epoch, version, release, source rpm",
            ));
        };
        if [name, version, release].iter().any(|f| f.is_empty()) {
            return Err(malformed("empty name, version or release"));
        }
        // `(none)` is how rpm prints an absent tag.
        let epoch = match epoch {
            "(none)" | "" => None,
            e if e.bytes().all(|b| b.is_ascii_digit()) => Some(e),
            _ => return Err(malformed("the epoch is not a number")),
        };
        let with_epoch = |v: &str, r: &str| match epoch {
            Some(e) => format!("{e}:{v}-{r}"),
            None => format!("{v}-{r}"),
        };
        let (source, source_version) = match source_rpm {
            "(none)" | "" => (name.to_owned(), with_epoch(version, release)),
            file => {
                let (source, v, r) = split_source_rpm(file).ok_or_else(|| {
                    malformed("the source rpm is not NAME-VERSION-RELEASE.src.rpm")
                })?;
                (source.to_owned(), with_epoch(v, r))
            }
        };
        packages.push(InstalledPackage {
            name: name.to_owned(),
            architecture: None,
            version: with_epoch(version, release),
            source,
            source_version,
        });
    }
    Ok(packages)
}

/// `openssh-8.7p1-34.el9.src.rpm` → (`openssh`, `8.7p1`, `34.el9`): the name
/// may hold hyphens, version and release may not.
fn split_source_rpm(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then_some((name, version, release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_binary_and_source_with_the_epoch() {
        let out = "openssh-server\t(none)\t8.7p1\t38.el9\topenssh-8.7p1-38.el9.src.rpm\n\
                   \n\
                   bind-libs\t32\t9.16.23\t14.el9\tbind-9.16.23-14.el9.src.rpm\n\
                   gpg-pubkey\t(none)\tfd431d51\t4ae0493b\t(none)\n";
        let p = parse_query(out).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            InstalledPackage {
                name: "openssh-server".into(),
                architecture: None,
                version: "8.7p1-38.el9".into(),
                source: "openssh".into(),
                source_version: "8.7p1-38.el9".into(),
            }
        );
        assert_eq!(
            (p[1].version.as_str(), p[1].source.as_str()),
            ("32:9.16.23-14.el9", "bind")
        );
        assert_eq!(p[1].source_version, "32:9.16.23-14.el9");
        assert_eq!(
            (p[2].source.as_str(), p[2].source_version.as_str()),
            ("gpg-pubkey", "fd431d51-4ae0493b")
        );
    }

    #[test]
    fn hyphenated_source_names_keep_their_hyphens() {
        assert_eq!(
            split_source_rpm("python-urllib3-1.26.5-5.el9.src.rpm"),
            Some(("python-urllib3", "1.26.5", "5.el9"))
        );
        assert_eq!(split_source_rpm("weird.src.rpm"), None);
        assert_eq!(split_source_rpm("a-1-2.rpm"), None);
    }

    #[test]
    fn bad_lines_are_located() {
        let e = parse_query("ok\t(none)\t1\t2\tok-1-2.src.rpm\nbroken line\n").unwrap_err();
        assert!(matches!(e, RpmError::Malformed { line: 2, .. }), "{e}");
        let e = parse_query("x\tnine\t1\t2\t(none)\n").unwrap_err();
        assert!(e.to_string().contains("epoch"), "{e}");
        let e = parse_query("x\t(none)\t1\t2\tx.src.rpm\n").unwrap_err();
        assert!(e.to_string().contains("source rpm"), "{e}");
    }
}

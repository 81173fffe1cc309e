//! Debian package versions and their order, as `dpkg --compare-versions`
//! decides it: what Debian's and Ubuntu's OSV ranges are judged by.
//!
//! A version is `[epoch:]upstream[-revision]`. The epoch compares as a
//! number; the upstream part and then the revision compare piece by piece,
//! alternating runs of non-digits (letters sort before other characters,
//! and `~` before everything, even the end of the string) with runs of
//! digits (compared as numbers). A missing revision compares as `0`.
//!
//! Written here rather than taken from a crate: the comparison is a page
//! of code whose exact agreement with dpkg is the point, and the property
//! test in `tests/dpkg_order.rs` holds it to dpkg itself.

use std::cmp::Ordering;
use std::fmt;

/// A Debian package version, parsed as dpkg parses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DebianVersion {
    /// The epoch (`0` when not written).
    pub epoch: u32,
    /// The upstream version.
    pub upstream: String,
    /// The Debian revision (empty when not written).
    pub revision: String,
}

/// Why a string is not a version dpkg would compare: the cases dpkg
/// refuses outright (it only warns about the others, such as an upstream
/// part not starting with a digit, and compares them anyway; so does this).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Nothing, or only blanks.
    #[error("the version is empty")]
    Empty,
    /// Blanks inside.
    #[error("version `{0}` has embedded spaces")]
    Spaces(String),
    /// `1:` and the like.
    #[error("version `{0}` has nothing after its epoch's colon")]
    NothingAfterColon(String),
    /// An epoch that is not a number dpkg accepts.
    #[error("version `{0}`: the epoch is not a number from 0 to 2147483647")]
    BadEpoch(String),
    /// `1.0-`.
    #[error("version `{0}` has an empty revision after its last hyphen")]
    EmptyRevision(String),
}

impl DebianVersion {
    /// Parses `text` (surrounding blanks ignored, as dpkg ignores them).
    pub fn parse(text: &str) -> Result<DebianVersion, VersionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(VersionError::Spaces(text.to_owned()));
        }
        let (epoch, rest) = match text.split_once(':') {
            None => (0, text),
            Some((epoch, rest)) => {
                let epoch = epoch
                    .parse::<u32>()
                    .ok()
                    .filter(|e| *e <= i32::MAX as u32)
                    .ok_or_else(|| VersionError::BadEpoch(text.to_owned()))?;
                if rest.is_empty() {
                    return Err(VersionError::NothingAfterColon(text.to_owned()));
                }
                (epoch, rest)
            }
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            None => (rest, ""),
            Some((_, "")) => return Err(VersionError::EmptyRevision(text.to_owned())),
            Some((upstream, revision)) => (upstream, revision),
        };
        Ok(DebianVersion {
            epoch,
            upstream: upstream.to_owned(),
            revision: revision.to_owned(),
        })
    }
}

impl fmt::Display for DebianVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.upstream)?;
        if !self.revision.is_empty() {
            write!(f, "-{}", self.revision)?;
        }
        Ok(())
    }
}

impl Ord for DebianVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

impl PartialOrd for DebianVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a character sorts in a non-digit run; `None` is the end of the
/// string. `~` sorts before the end, letters before everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// One upstream part or revision against another, run by run.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // A run of non-digits, character by character.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        // A run of digits, as a number: leading zeros aside, the longer
        // run is larger, else the first digit that differs decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> DebianVersion {
        DebianVersion::parse(text).unwrap()
    }

    #[test]
    fn the_orderings_debian_policy_names() {
        for (low, high) in [
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("1.9", "1.10"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("2.0", "1:0.1"),
            ("1:9.9", "2:0"),
            ("7.4p1-10", "7.4p1-10+deb9u7"),
            ("9.2p1-2+deb12u2", "9.2p1-2+deb12u3"),
            ("1.22.1-9", "1.22.1-9+deb12u1"),
            ("5:7.0.15-1~deb12u1", "5:7.0.15-1"),
        ] {
            assert!(v(low) < v(high), "{low} < {high}");
            assert!(v(high) > v(low), "{high} > {low}");
        }
    }

    #[test]
    fn equal_spellings_are_equal() {
        for (a, b) in [
            ("1.0", "1.0-0"),
            ("0:1.0", "1.0"),
            ("1.001", "1.1"),
            ("1.0-00", "1.0"),
        ] {
            assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "{a} = {b}");
        }
    }

    #[test]
    fn the_last_hyphen_starts_the_revision_and_the_first_colon_ends_the_epoch() {
        let x = v("2:1.2-beta-3");
        assert_eq!((x.epoch, x.upstream.as_str()), (2, "1.2-beta"));
        assert_eq!(x.revision, "3");
        assert_eq!(x.to_string(), "2:1.2-beta-3");
        assert_eq!(v(" 1.0 ").to_string(), "1.0");
    }

    #[test]
    fn what_dpkg_refuses_is_refused() {
        for (text, error) in [
            ("", VersionError::Empty),
            ("  ", VersionError::Empty),
            ("1 0", VersionError::Spaces("1 0".into())),
            ("1:", VersionError::NothingAfterColon("1:".into())),
            ("a:1", VersionError::BadEpoch("a:1".into())),
            ("-1:1", VersionError::BadEpoch("-1:1".into())),
            (
                "99999999999:1",
                VersionError::BadEpoch("99999999999:1".into()),
            ),
            ("1.0-", VersionError::EmptyRevision("1.0-".into())),
        ] {
            assert_eq!(DebianVersion::parse(text), Err(error), "{text:?}");
        }
    }
}

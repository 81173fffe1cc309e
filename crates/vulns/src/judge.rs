//! Whether an advisory affects one installed version of a package, by OSV's
//! range semantics and the ecosystem's own version order.
//!
//! A range's events are sorted by version and walked from the lowest: an
//! `introduced` at or below the version makes it affected, a `fixed` at or
//! below it (or a `last_affected` strictly below it, or a `limit` at or
//! below it) makes it not affected again; the state after the last event
//! the version reaches is the answer. `introduced: "0"` is below every
//! version. Every range of every `affected` entry naming the package in the
//! ecosystem counts, and so does the exact `versions` list: affected by any
//! of them is affected.
//!
//! Judging is refused, never guessed, where the order is unknown: `GIT`
//! ranges (they need the repository's commit graph), ecosystems whose order
//! this crate does not implement (PyPI, Maven, Alpine, …), and versions the
//! order cannot read. A refusal is a [`Judgement::CannotJudge`] with the
//! reason, so that a report can say what it did not check.

use std::fmt;

use crate::debian_version::DebianVersion;
use crate::osv::{Advisory, Event, Range, RangeKind};

/// An OSV ecosystem: a name and, for distributions, a release.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ecosystem {
    /// `Debian`, `Ubuntu`, `PyPI`, `crates.io`, …
    pub name: String,
    /// What follows the first `:` (`12`, `22.04:LTS`), if anything.
    pub release: Option<String>,
}

impl Ecosystem {
    /// Reads an OSV ecosystem string (`Debian:12`, `Ubuntu:22.04:LTS`,
    /// `PyPI`). Any string is an ecosystem; whether its order is known is
    /// [`Ecosystem::order`]'s question.
    pub fn parse(text: &str) -> Ecosystem {
        match text.split_once(':') {
            Some((name, release)) if !release.is_empty() => Ecosystem {
                name: name.to_owned(),
                release: Some(release.to_owned()),
            },
            Some((name, _)) => Ecosystem {
                name: name.to_owned(),
                release: None,
            },
            None => Ecosystem {
                name: text.to_owned(),
                release: None,
            },
        }
    }

    /// Whether an advisory's `affected` entry for `advisory_ecosystem`
    /// speaks about packages of this (the installed) ecosystem: the same
    /// name and release, or the same name with no release in the advisory
    /// (an advisory for plain `Debian` is about every Debian release).
    pub fn is_covered_by(&self, advisory_ecosystem: &Ecosystem) -> bool {
        self.name == advisory_ecosystem.name
            && (advisory_ecosystem.release.is_none() || self.release == advisory_ecosystem.release)
    }

    /// The order `ECOSYSTEM` ranges of this ecosystem are in, if this crate
    /// implements it: dpkg's for Debian and Ubuntu; semantic versioning
    /// for the ecosystems whose versions are semantic versions by their
    /// own rules (crates.io, npm, Go, Hex).
    pub fn order(&self) -> Option<Order> {
        match self.name.as_str() {
            "Debian" | "Ubuntu" => Some(Order::Dpkg),
            "crates.io" | "npm" | "Go" | "Hex" => Some(Order::Semver),
            _ => None,
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.release {
            Some(release) => write!(f, "{}:{release}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A version order ranges can be judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// `dpkg --compare-versions` ([`DebianVersion`]).
    Dpkg,
    /// Semantic versioning, read leniently (see [`lenient_semver`]).
    Semver,
}

/// What judging found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// The installed version is affected.
    Affected(Hit),
    /// The advisory does not affect it (or does not name the package in
    /// this ecosystem at all).
    NotAffected,
    /// It could not be decided; why, in words.
    CannotJudge(String),
}

/// Why a version is affected: the range (or list) that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hit {
    /// Which of the advisory's `affected` entries matched (an index into
    /// [`Advisory::affected`]): the one to [`crate::cvss::rate`] with, for
    /// its own severity or Debian urgency.
    pub affected: usize,
    /// The `introduced` event the version is at or above (`"0"`: every
    /// version); `None` when the exact `versions` list matched.
    pub introduced: Option<String>,
    /// The first `fixed` version above it in that range: what to upgrade
    /// to. `None`: no fix in this range.
    pub fixed: Option<String>,
    /// The range's `last_affected` version at or above it, if the range
    /// ends that way.
    pub last_affected: Option<String>,
}

/// Judges `advisory` for `package` at `version` installed in `ecosystem`.
///
/// A withdrawn advisory affects nothing. Affected by any range or listed version of any matching `affected`
/// entry is [`Judgement::Affected`] (the first hit found); otherwise, if
/// some range could not be judged, [`Judgement::CannotJudge`] with the
/// first reason; otherwise [`Judgement::NotAffected`].
pub fn judge(
    advisory: &Advisory,
    ecosystem: &Ecosystem,
    package: &str,
    version: &str,
) -> Judgement {
    if advisory.withdrawn.is_some() {
        return Judgement::NotAffected;
    }
    let mut cannot = None;
    for (index, affected) in advisory.affected.iter().enumerate() {
        if affected.package.name != package
            || !ecosystem.is_covered_by(&Ecosystem::parse(&affected.package.ecosystem))
        {
            continue;
        }
        if affected.versions.iter().any(|v| v == version) {
            return Judgement::Affected(Hit {
                affected: index,
                ..Hit::default()
            });
        }
        for range in &affected.ranges {
            match judge_range(range, ecosystem, version) {
                Ok(Some(hit)) => {
                    return Judgement::Affected(Hit {
                        affected: index,
                        ..hit
                    });
                }
                Ok(None) => {}
                Err(reason) => {
                    cannot.get_or_insert(reason);
                }
            }
        }
    }
    match cannot {
        Some(reason) => Judgement::CannotJudge(reason),
        None => Judgement::NotAffected,
    }
}

/// The epoch the advisory's `ECOSYSTEM` events for `package` carry, for
/// a Debian version known without its epoch (a service banner shows
/// `9.2p1-2+deb12u3`, the package is `1:9.2p1-2+deb12u3`): the largest
/// epoch of any event version other than `"0"` in the matching entries.
/// `None` when no event can be read by dpkg's rules.
pub fn advisory_epoch(advisory: &Advisory, ecosystem: &Ecosystem, package: &str) -> Option<u32> {
    advisory
        .affected
        .iter()
        .filter(|a| {
            a.package.name == package
                && ecosystem.is_covered_by(&Ecosystem::parse(&a.package.ecosystem))
        })
        .flat_map(|a| &a.ranges)
        .filter(|r| r.kind == RangeKind::Ecosystem)
        .flat_map(|r| &r.events)
        .filter(|e| e.version() != "0")
        .filter_map(|e| DebianVersion::parse(e.version()).ok())
        .map(|v| v.epoch)
        .max()
}

/// A version in one of the implemented orders.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Dpkg(DebianVersion),
    Semver(semver::Version),
}

impl Order {
    fn read(self, text: &str) -> Result<Version, String> {
        match self {
            Order::Dpkg => DebianVersion::parse(text)
                .map(Version::Dpkg)
                .map_err(|e| e.to_string()),
            Order::Semver => lenient_semver(text)
                .map(Version::Semver)
                .ok_or_else(|| format!("`{text}` is not a semantic version")),
        }
    }
}

/// Reads a semantic version the way advisories and banners write them:
/// a leading `v` or `=` and missing minor or patch numbers (`v1.2` is
/// `1.2.0`) are accepted; anything else must be semver.
pub fn lenient_semver(text: &str) -> Option<semver::Version> {
    let text = text.trim();
    let text = text.strip_prefix('=').unwrap_or(text).trim_start();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    if let Ok(v) = semver::Version::parse(text) {
        return Some(v);
    }
    // Pad a core of one or two numbers, keeping any pre-release or build.
    let split = text.find(['-', '+']).unwrap_or(text.len());
    let (core, rest) = text.split_at(split);
    let numbers = core.split('.').count();
    if !(1..=2).contains(&numbers) || !core.split('.').all(|n| !n.is_empty()) {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(3 - numbers));
    semver::Version::parse(&padded).ok()
}

/// One range: `Ok(Some(hit))` affected, `Ok(None)` not, `Err` why it
/// cannot be judged.
fn judge_range(range: &Range, ecosystem: &Ecosystem, version: &str) -> Result<Option<Hit>, String> {
    let order = match range.kind {
        RangeKind::Git => {
            return Err("a GIT range needs the repository's commits to judge".to_owned());
        }
        RangeKind::Semver => Order::Semver,
        RangeKind::Ecosystem => ecosystem
            .order()
            .ok_or_else(|| format!("no version order is known for ecosystem {}", ecosystem.name))?,
    };
    let installed = order
        .read(version)
        .map_err(|e| format!("installed version: {e}"))?;
    // Each event with its version read (`None` for introduced "0").
    let mut events: Vec<(Option<Version>, &Event)> = Vec::with_capacity(range.events.len());
    for event in &range.events {
        let at = match event {
            Event::Introduced(v) if v == "0" => None,
            _ => Some(
                order
                    .read(event.version())
                    .map_err(|e| format!("advisory event: {e}"))?,
            ),
        };
        events.push((at, event));
    }
    // `None` (introduced "0") sorts before every version.
    events.sort_by(|a, b| a.0.cmp(&b.0));

    let mut hit: Option<Hit> = None;
    for (index, (at, event)) in events.iter().enumerate() {
        // At or above the event's version; strictly above it.
        let reached = at.as_ref().is_none_or(|at| &installed >= at);
        let passed = at.as_ref().is_some_and(|at| &installed > at);
        match event {
            Event::Introduced(v) if reached => {
                // What ends this stretch: the next fixed or last_affected.
                let end = events[index + 1..].iter().find_map(|(_, e)| match e {
                    Event::Introduced(_) => None,
                    _ => Some(*e),
                });
                hit = Some(Hit {
                    affected: 0,
                    introduced: Some(v.clone()),
                    fixed: match end {
                        Some(Event::Fixed(v)) => Some(v.clone()),
                        _ => None,
                    },
                    last_affected: match end {
                        Some(Event::LastAffected(v)) => Some(v.clone()),
                        _ => None,
                    },
                });
            }
            Event::Fixed(_) | Event::Limit(_) if reached => hit = None,
            Event::LastAffected(_) if passed => hit = None,
            _ => {}
        }
    }
    Ok(hit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::{Affected, Package};

    fn advisory(affected: Vec<Affected>) -> Advisory {
        Advisory {
            id: "TEST-1".into(),
            aliases: vec![],
            related: vec![],
            summary: None,
            details: None,
            modified: "2024-01-01T00:00:00Z".into(),
            published: None,
            withdrawn: None,
            severity: vec![],
            affected,
            references: vec![],
            database_specific: None,
        }
    }

    fn affected(ecosystem: &str, name: &str, ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            package: Package {
                ecosystem: ecosystem.into(),
                name: name.into(),
                purl: None,
            },
            ranges,
            versions: versions.iter().map(|v| v.to_string()).collect(),
            severity: vec![],
            ecosystem_specific: None,
            database_specific: None,
        }
    }

    fn range(kind: RangeKind, events: &[(&str, &str)]) -> Range {
        Range {
            kind,
            repo: None,
            events: events
                .iter()
                .map(|(k, v)| match *k {
                    "introduced" => Event::Introduced(v.to_string()),
                    "fixed" => Event::Fixed(v.to_string()),
                    "last_affected" => Event::LastAffected(v.to_string()),
                    "limit" => Event::Limit(v.to_string()),
                    _ => unreachable!("{k}"),
                })
                .collect(),
        }
    }

    fn debian(events: &[(&str, &str)]) -> Advisory {
        advisory(vec![affected(
            "Debian:12",
            "openssh",
            vec![range(RangeKind::Ecosystem, events)],
            &[],
        )])
    }

    fn on_debian12(a: &Advisory, version: &str) -> Judgement {
        judge(a, &Ecosystem::parse("Debian:12"), "openssh", version)
    }

    fn hit_of(judgement: Judgement) -> Hit {
        match judgement {
            Judgement::Affected(hit) => hit,
            other => panic!("{other:?}"),
        }
    }

    fn fixed_in(v: &str) -> Judgement {
        Judgement::Affected(Hit {
            affected: 0,
            introduced: Some("0".into()),
            fixed: Some(v.into()),
            last_affected: None,
        })
    }

    #[test]
    fn parses_ecosystems() {
        let u = Ecosystem::parse("Ubuntu:22.04:LTS");
        assert_eq!(u.name, "Ubuntu");
        assert_eq!(u.release.as_deref(), Some("22.04:LTS"));
        assert_eq!(u.to_string(), "Ubuntu:22.04:LTS");
        assert_eq!(Ecosystem::parse("PyPI").release, None);
        assert_eq!(Ecosystem::parse("Debian:12").order(), Some(Order::Dpkg));
        assert_eq!(Ecosystem::parse("crates.io").order(), Some(Order::Semver));
        assert_eq!(Ecosystem::parse("PyPI").order(), None);
    }

    #[test]
    fn introduced_zero_and_fixed_with_epochs() {
        let a = debian(&[("introduced", "0"), ("fixed", "1:9.2p1-2+deb12u3")]);
        assert_eq!(
            on_debian12(&a, "1:9.2p1-2+deb12u2"),
            fixed_in("1:9.2p1-2+deb12u3")
        );
        assert_eq!(on_debian12(&a, "1:9.2p1-2+deb12u3"), Judgement::NotAffected);
        assert_eq!(on_debian12(&a, "1:9.2p1-2+deb12u4"), Judgement::NotAffected);
        // Without the epoch the version is older than every epoch-1 one.
        assert_eq!(on_debian12(&a, "9.9p1-1"), fixed_in("1:9.2p1-2+deb12u3"));
        assert_eq!(on_debian12(&a, "2:1.0-1"), Judgement::NotAffected);
    }

    #[test]
    fn tilde_sorts_before_the_release() {
        let a = debian(&[("introduced", "0"), ("fixed", "2.0-1")]);
        assert_eq!(on_debian12(&a, "2.0~rc1-1"), fixed_in("2.0-1"));
        let a = debian(&[("introduced", "0"), ("fixed", "2.0~rc2-1")]);
        assert_eq!(on_debian12(&a, "2.0~rc1-1"), fixed_in("2.0~rc2-1"));
        assert_eq!(on_debian12(&a, "2.0-1"), Judgement::NotAffected);
    }

    #[test]
    fn revisions_count() {
        let a = debian(&[("introduced", "0"), ("fixed", "1.2-3")]);
        assert_eq!(on_debian12(&a, "1.2-2"), fixed_in("1.2-3"));
        assert_eq!(on_debian12(&a, "1.2-2+deb12u9"), fixed_in("1.2-3"));
        assert_eq!(on_debian12(&a, "1.2-3+b1"), Judgement::NotAffected);
        assert_eq!(on_debian12(&a, "1.2-10"), Judgement::NotAffected);
        // A missing revision is revision 0.
        assert_eq!(on_debian12(&a, "1.2"), fixed_in("1.2-3"));
    }

    #[test]
    fn introduced_later_than_zero() {
        let a = debian(&[("introduced", "1.5-1"), ("fixed", "1.7-1")]);
        assert_eq!(on_debian12(&a, "1.4-9"), Judgement::NotAffected);
        assert_eq!(
            on_debian12(&a, "1.5-1"),
            Judgement::Affected(Hit {
                affected: 0,
                introduced: Some("1.5-1".into()),
                fixed: Some("1.7-1".into()),
                last_affected: None,
            })
        );
        assert_eq!(on_debian12(&a, "1.7-1"), Judgement::NotAffected);
    }

    #[test]
    fn last_affected_is_inclusive() {
        let a = debian(&[("introduced", "0"), ("last_affected", "1.2-3")]);
        let hit = Judgement::Affected(Hit {
            affected: 0,
            introduced: Some("0".into()),
            fixed: None,
            last_affected: Some("1.2-3".into()),
        });
        assert_eq!(on_debian12(&a, "1.2-3"), hit);
        assert_eq!(on_debian12(&a, "1.0-1"), hit);
        assert_eq!(on_debian12(&a, "1.2-3+b1"), Judgement::NotAffected);
    }

    #[test]
    fn no_fix_yet_is_affected_everywhere_above_introduced() {
        let a = debian(&[("introduced", "0")]);
        assert_eq!(
            on_debian12(&a, "99:1-1"),
            Judgement::Affected(Hit {
                affected: 0,
                introduced: Some("0".into()),
                ..Hit::default()
            })
        );
    }

    #[test]
    fn two_ranges_and_events_out_of_order() {
        // Two stretches in one range, written out of order, and a second
        // range: affected in [1.0, 1.2) and [2.0, 2.3), and 3.x up to 3.1.
        let a = advisory(vec![affected(
            "Debian:12",
            "openssh",
            vec![
                range(
                    RangeKind::Ecosystem,
                    &[
                        ("fixed", "2.3-1"),
                        ("introduced", "1.0-1"),
                        ("introduced", "2.0-1"),
                        ("fixed", "1.2-1"),
                    ],
                ),
                range(
                    RangeKind::Ecosystem,
                    &[("introduced", "3.0-1"), ("last_affected", "3.1-1")],
                ),
            ],
            &[],
        )]);
        let affected = |v: &str| matches!(on_debian12(&a, v), Judgement::Affected(_));
        assert!(!affected("0.9-1"));
        assert!(affected("1.1-1"));
        assert!(!affected("1.5-1"));
        assert!(affected("2.2-1"));
        assert_eq!(
            on_debian12(&a, "2.2-1"),
            Judgement::Affected(Hit {
                affected: 0,
                introduced: Some("2.0-1".into()),
                fixed: Some("2.3-1".into()),
                last_affected: None,
            })
        );
        assert!(!affected("2.3-1"));
        assert!(affected("3.1-1"));
        assert!(!affected("3.2-1"));
    }

    #[test]
    fn several_affected_entries_and_plain_debian() {
        let a = advisory(vec![
            affected(
                "Debian:11",
                "openssh",
                vec![range(
                    RangeKind::Ecosystem,
                    &[("introduced", "0"), ("fixed", "1:8.4p1-5+deb11u3")],
                )],
                &[],
            ),
            affected(
                "Debian",
                "openssh",
                vec![range(
                    RangeKind::Ecosystem,
                    &[("introduced", "0"), ("fixed", "1:9.2p1-2+deb12u3")],
                )],
                &[],
            ),
        ]);
        // Debian:12 is covered by the plain `Debian` entry only, the second.
        assert_eq!(
            on_debian12(&a, "1:9.2p1-2+deb12u2"),
            Judgement::Affected(Hit {
                affected: 1,
                ..hit_of(fixed_in("1:9.2p1-2+deb12u3"))
            })
        );
        assert_eq!(on_debian12(&a, "1:9.2p1-2+deb12u3"), Judgement::NotAffected);
        // Debian:11 is covered by both: the first entry decides first.
        assert_eq!(
            judge(
                &a,
                &Ecosystem::parse("Debian:11"),
                "openssh",
                "1:8.4p1-5+deb11u2"
            ),
            fixed_in("1:8.4p1-5+deb11u3")
        );
        // Another release's entry does not cover Debian:12, nor Ubuntu.
        let only11 = advisory(vec![a.affected[0].clone()]);
        assert_eq!(on_debian12(&only11, "1:1.0-1"), Judgement::NotAffected);
        assert_eq!(
            judge(
                &a,
                &Ecosystem::parse("Ubuntu:22.04:LTS"),
                "openssh",
                "1:1.0-1"
            ),
            Judgement::NotAffected
        );
        // Another package is not affected.
        assert_eq!(
            judge(&a, &Ecosystem::parse("Debian:12"), "openssl", "1.0-1"),
            Judgement::NotAffected
        );
    }

    #[test]
    fn exact_versions_list() {
        let a = advisory(vec![affected(
            "PyPI",
            "jinja2",
            vec![],
            &["2.10", "2.10.1"],
        )]);
        let pypi = Ecosystem::parse("PyPI");
        assert_eq!(
            judge(&a, &pypi, "jinja2", "2.10.1"),
            Judgement::Affected(Hit::default())
        );
        assert_eq!(judge(&a, &pypi, "jinja2", "2.11"), Judgement::NotAffected);
    }

    #[test]
    fn unknown_ecosystem_order_cannot_be_judged() {
        let a = advisory(vec![affected(
            "PyPI",
            "jinja2",
            vec![range(
                RangeKind::Ecosystem,
                &[("introduced", "0"), ("fixed", "3.1.3")],
            )],
            &[],
        )]);
        let got = judge(&a, &Ecosystem::parse("PyPI"), "jinja2", "3.1.2");
        assert!(
            matches!(&got, Judgement::CannotJudge(r) if r.contains("PyPI")),
            "{got:?}"
        );
    }

    #[test]
    fn git_ranges_cannot_be_judged_but_other_ranges_still_can() {
        let git = range(RangeKind::Git, &[("introduced", "0"), ("fixed", "abc123")]);
        let a = advisory(vec![affected(
            "Debian:12",
            "openssh",
            vec![git.clone()],
            &[],
        )]);
        assert!(matches!(on_debian12(&a, "1.0-1"), Judgement::CannotJudge(r) if r.contains("GIT")));
        let b = advisory(vec![affected(
            "Debian:12",
            "openssh",
            vec![
                git,
                range(
                    RangeKind::Ecosystem,
                    &[("introduced", "0"), ("fixed", "2.0-1")],
                ),
            ],
            &[],
        )]);
        assert_eq!(on_debian12(&b, "1.0-1"), fixed_in("2.0-1"));
    }

    #[test]
    fn semver_ranges_leniently() {
        let a = advisory(vec![affected(
            "Go",
            "example.org/m",
            vec![range(
                RangeKind::Semver,
                &[("introduced", "0"), ("fixed", "v1.4")],
            )],
            &[],
        )]);
        let go = Ecosystem::parse("Go");
        let is = |v: &str| judge(&a, &go, "example.org/m", v);
        assert!(matches!(is("v1.3.9"), Judgement::Affected(_)));
        assert!(matches!(is("1.4.0-rc.1"), Judgement::Affected(_)));
        assert_eq!(is("1.4"), Judgement::NotAffected);
        assert_eq!(is("v1.10.0"), Judgement::NotAffected);
        assert!(matches!(is("9.2p1"), Judgement::CannotJudge(r) if r.contains("9.2p1")));
        assert_eq!(
            lenient_semver("=v2").unwrap(),
            semver::Version::new(2, 0, 0)
        );
        assert_eq!(
            lenient_semver("1.2-beta").unwrap().to_string(),
            "1.2.0-beta"
        );
        assert!(lenient_semver("1..2").is_none());
        assert!(lenient_semver("1.2.3.4").is_none());
    }

    #[test]
    fn a_withdrawn_advisory_affects_nothing() {
        let mut a = debian(&[("introduced", "0")]);
        assert!(matches!(on_debian12(&a, "1.0-1"), Judgement::Affected(_)));
        a.withdrawn = Some("2024-02-01T00:00:00Z".into());
        assert_eq!(on_debian12(&a, "1.0-1"), Judgement::NotAffected);
    }

    #[test]
    fn an_unreadable_installed_version_cannot_be_judged() {
        let a = debian(&[("introduced", "0"), ("fixed", "1.0-1")]);
        assert!(
            matches!(on_debian12(&a, "1.0 beta"), Judgement::CannotJudge(r) if r.contains("installed"))
        );
    }

    #[test]
    fn epoch_from_the_advisory() {
        let a = debian(&[("introduced", "0"), ("fixed", "1:9.2p1-2+deb12u3")]);
        assert_eq!(
            advisory_epoch(&a, &Ecosystem::parse("Debian:12"), "openssh"),
            Some(1)
        );
        assert_eq!(
            advisory_epoch(&a, &Ecosystem::parse("Debian:12"), "nginx"),
            None
        );
        let only_zero = debian(&[("introduced", "0")]);
        assert_eq!(
            advisory_epoch(&only_zero, &Ecosystem::parse("Debian:12"), "openssh"),
            None
        );
    }
}

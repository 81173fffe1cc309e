//! The part of the OSV schema (<https://ossf.github.io/osv-schema/>) that
//! judging an installed package needs.
//!
//! Fields this model does not name are ignored, not refused: OSV adds
//! fields over time, and an archive written by a newer exporter must still
//! load. What the schema requires (`id`, `modified`, a range's `type` and
//! `events`, each event being exactly one of `introduced`, `fixed`,
//! `last_affected` or `limit`) is required here too, so that an entry
//! missing them is reported where it is rather than judged wrongly.

use serde::{Deserialize, Serialize};

/// One OSV advisory (one JSON file or archive entry).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Advisory {
    /// Its identifier: `DSA-5586-1`, `DEBIAN-CVE-2024-6387`, `GHSA-…`.
    pub id: String,
    /// Other identifiers of the same vulnerability (CVE names).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Identifiers of related but different vulnerabilities.
    #[serde(default)]
    pub related: Vec<String>,
    /// A one-line summary, when the source gives one.
    #[serde(default)]
    pub summary: Option<String>,
    /// The long description, when the source gives one.
    #[serde(default)]
    pub details: Option<String>,
    /// When the advisory last changed (RFC 3339, as written).
    pub modified: String,
    /// When it was first published, if said.
    #[serde(default)]
    pub published: Option<String>,
    /// When it was withdrawn: a withdrawn advisory no longer applies, and
    /// the loader drops it.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Severity scores of the whole advisory (CVSS vectors and the like).
    #[serde(default)]
    pub severity: Vec<Score>,
    /// The packages affected and the versions of each.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Links to the source's pages, fixes, reports.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// The database's own fields, kept as written (read for a severity
    /// when there is no CVSS vector; see [`crate::cvss`]).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// A severity score as OSV carries it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Score {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (`CVSS:3.1/AV:N/…`) or, for `Ubuntu`, a priority word.
    pub score: String,
}

/// One package the advisory affects, and which of its versions.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Affected {
    /// The package.
    pub package: Package,
    /// Version ranges, each judged by its own kind of order.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Affected versions listed one by one (in addition to the ranges).
    #[serde(default)]
    pub versions: Vec<String>,
    /// Severity scores of this package alone, when they differ.
    #[serde(default)]
    pub severity: Vec<Score>,
    /// Ecosystem fields (Debian's `urgency`), kept as written.
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database fields, kept as written.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// A package in an ecosystem.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Package {
    /// `Debian:12`, `Ubuntu:22.04:LTS`, `PyPI`, `crates.io`, …
    pub ecosystem: String,
    /// The name in that ecosystem; for Debian and Ubuntu, the source
    /// package.
    pub name: String,
    /// A package URL, when given.
    #[serde(default)]
    pub purl: Option<String>,
}

/// A range of versions, as a list of events in the range's own order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Range {
    /// Which order the events' versions are in.
    #[serde(rename = "type")]
    pub kind: RangeKind,
    /// The repository, for `GIT` ranges.
    #[serde(default)]
    pub repo: Option<String>,
    /// The events; at least one.
    pub events: Vec<Event>,
}

/// The order a range's versions are compared in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum RangeKind {
    /// Semantic versions (<https://semver.org>), whatever the ecosystem.
    #[serde(rename = "SEMVER")]
    Semver,
    /// The ecosystem's own order (dpkg's for Debian and Ubuntu).
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    /// Commits of a git repository: judging needs the commit graph.
    #[serde(rename = "GIT")]
    Git,
}

/// A point where a range starts or stops.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Affected from this version on (`"0"`: from the first version).
    Introduced(String),
    /// Not affected from this version on.
    Fixed(String),
    /// Affected up to and including this version, not after.
    LastAffected(String),
    /// No version from this one on is in the range (used with `GIT`).
    Limit(String),
}

impl Event {
    /// The version the event names.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// A link from an advisory.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Reference {
    /// `ADVISORY`, `FIX`, `WEB`, `REPORT`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The address.
    pub url: String,
}

impl Advisory {
    /// Whether some `affected` entry names `package` (in any ecosystem).
    pub fn names_package(&self, package: &str) -> bool {
        self.affected.iter().any(|a| a.package.name == package)
    }

    /// The distinct package names its `affected` entries give (in any
    /// ecosystem), sorted: what the import index and the judging index key on.
    pub fn package_names(&self) -> std::collections::BTreeSet<&str> {
        self.affected
            .iter()
            .map(|a| a.package.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_debian_entry_and_ignores_unknown_fields() {
        let text = r#"{
          "id": "DSA-5724-1", "modified": "2024-07-01T12:00:00Z",
          "aliases": ["CVE-2024-6387"], "schema_version": "1.6.0",
          "future_field": {"anything": [1, 2]},
          "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "openssh"},
            "ranges": [{"type": "ECOSYSTEM", "events": [
              {"introduced": "0"}, {"fixed": "1:9.2p1-2+deb12u3"}]}],
            "ecosystem_specific": {"urgency": "high"}
          }]
        }"#;
        let a: Advisory = serde_json::from_str(text).unwrap();
        assert_eq!(a.id, "DSA-5724-1");
        assert_eq!(a.aliases, ["CVE-2024-6387"]);
        assert!(a.withdrawn.is_none());
        let range = &a.affected[0].ranges[0];
        assert_eq!(range.kind, RangeKind::Ecosystem);
        assert_eq!(
            range.events,
            [
                Event::Introduced("0".into()),
                Event::Fixed("1:9.2p1-2+deb12u3".into())
            ]
        );
        assert!(a.names_package("openssh"));
        assert!(!a.names_package("openssl"));
    }

    #[test]
    fn refuses_what_the_schema_requires() {
        // No `modified`.
        assert!(serde_json::from_str::<Advisory>(r#"{"id": "X"}"#).is_err());
        // An event with two keys, and one with an unknown kind.
        for events in [
            r#"[{"introduced": "0", "fixed": "1"}]"#,
            r#"[{"patched": "1"}]"#,
        ] {
            let text = format!(
                r#"{{"id": "X", "modified": "2024-01-01T00:00:00Z", "affected": [{{
                  "package": {{"ecosystem": "npm", "name": "p"}},
                  "ranges": [{{"type": "SEMVER", "events": {events}}}]}}]}}"#
            );
            assert!(serde_json::from_str::<Advisory>(&text).is_err(), "{events}");
        }
    }
}

//! Known vulnerabilities of what listens on a host (issue 21, begun):
//! the version orders OSV ranges are judged by.
//!
//! [`DebianVersion`] orders Debian and Ubuntu package versions exactly as
//! `dpkg --compare-versions` does, which Debian's and Ubuntu's OSV data
//! (ecosystems `Debian:12`, `Ubuntu:22.04:LTS`, …) rely on.

pub mod debian_version;

pub use debian_version::{DebianVersion, VersionError};

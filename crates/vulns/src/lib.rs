//! Known vulnerabilities of what listens: OSV advisories, what is
//! installed, and the version orders OSV ranges are judged by.
//!
//! [`DebianVersion`] orders Debian and Ubuntu package versions exactly as
//! `dpkg --compare-versions` does, which Debian's and Ubuntu's OSV data
//! (ecosystems `Debian:12`, `Ubuntu:22.04:LTS`, …) rely on.
//!
//! OSV advisories: [`load`] reads the ones naming wanted packages from an
//! OSV zip archive or a directory, [`import`] stores an archive with a
//! package index in a state directory for [`load_imported`], [`judge()`]
//! decides by OSV's range semantics whether an installed version is
//! affected, and [`rate`] says how severe an advisory is and why.
//!
//! What is installed: [`PackageDb`] reads a root's dpkg database (the
//! package owning an executable, its source package and version),
//! [`Installed`] falls back to rpm, [`process_files`] says which root a
//! process's files are in (a container's own), [`OsRelease`] gives the
//! root's OSV ecosystem, and [`product::candidate`] maps what a scan saw on
//! another host to a package and version to judge.

pub mod archive;
pub mod cvss;
pub mod debian_version;
pub mod judge;
pub mod osv;

pub use archive::{Advisories, ImportSummary, OsvError, import, load, load_imported};
pub use cvss::{Basis, CvssScore, Rating, rate};
pub use debian_version::{DebianVersion, VersionError};
pub use judge::{Ecosystem, Hit, Judgement, advisory_epoch, judge};
pub use osv::Advisory;

// What is installed: dpkg, rpm, os-release, scanned products.
pub mod dpkg;
pub mod installed;
pub mod product;
pub mod release;
mod rooted;
pub mod rpm;

pub use dpkg::{DpkgError, PackageDb};
pub use installed::{Installed, InstalledError, InstalledPackage, ProcessFiles, process_files};
pub use product::{Candidate, NoCandidate};
pub use release::{OsRelease, ReleaseError};
pub use rpm::RpmError;

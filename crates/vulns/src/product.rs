//! From what a scanner learned of a service on another host (product,
//! version, CPE, free text; see `portreeve_scan::ServiceInfo`) to the OSV
//! package and version to judge, or the plain reason there is none.
//!
//! Two cases can be judged:
//!
//! - The banner names a distribution revision (`SSH-2.0-OpenSSH_9.2p1
//!   Debian-2+deb12u3`): the distribution's source package (`openssh`) at
//!   `9.2p1-2+deb12u3`, in ecosystem `Debian:12` when the revision says the
//!   release (`+deb12u3`), else any Debian release. The banner never shows
//!   the package's epoch (`1:` for openssh), which dpkg compares first: the
//!   epoch is taken from the advisory's own range events at judge time,
//!   which always write it ([`Candidate::version_with_epoch`] with
//!   `judge::advisory_epoch`).
//! - Otherwise the upstream version, only against SEMVER ranges: an
//!   upstream version judged against a distribution's ranges would compare
//!   unrelated numbering (a backported fix keeps the old upstream version).

use crate::DebianVersion;

/// A package and version to judge advisories against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The OSV package name: a distribution's source package (`openssh`)
    /// when [`Candidate::ecosystem`] is set, else the upstream name.
    pub package: String,
    /// The version to judge, without epoch when
    /// [`Candidate::epoch_from_advisory`].
    pub version: String,
    /// `Some("Debian:12")`: that release's advisories, by its version order;
    /// `Some("Debian")` or `Some("Ubuntu")`: the release is unknown, any
    /// release of that distribution; `None`: SEMVER ranges of any ecosystem.
    pub ecosystem: Option<String>,
    /// The version lacks the epoch the package may have: judge
    /// [`Candidate::version_with_epoch`] of the advisory's epoch instead.
    pub epoch_from_advisory: bool,
}

impl Candidate {
    /// The version to judge, given the epoch the advisory's own range
    /// events give the package (`judge::advisory_epoch`): that epoch put in
    /// front of ours when [`Candidate::epoch_from_advisory`], else our
    /// version as it is. Debian writes the epoch in every version of a
    /// package that has one, so the advisory's events carry it.
    pub fn version_with_epoch(&self, epoch: Option<u32>) -> String {
        match epoch {
            Some(e) if self.epoch_from_advisory && e > 0 => format!("{e}:{}", self.version),
            _ => self.version.clone(),
        }
    }
}

/// Why a scanned service cannot be matched to advisories.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoCandidate {
    /// Neither a product nor a CPE was identified.
    #[error("the service's product was not identified")]
    NoProduct,
    /// No version was identified.
    #[error("{product}: no version was identified")]
    NoVersion {
        /// The product.
        product: String,
    },
    /// The product maps to no OSV package.
    #[error("{product}: no OSV package is known for this product")]
    UnknownProduct {
        /// The product.
        product: String,
    },
    /// The upstream version cannot be judged against SEMVER ranges and no
    /// distribution revision was given.
    #[error(
        "{product} {version}: not a SEMVER version, and no distribution revision is known to judge it by"
    )]
    NotSemver {
        /// The product.
        product: String,
        /// Its version.
        version: String,
    },
}

/// A product as the scanner names it, and the packages it is.
struct Product {
    /// `ServiceInfo::product` values, compared ignoring ASCII case.
    names: &'static [&'static str],
    /// The CPE product part.
    cpe: &'static str,
    /// The Debian (and Ubuntu) source package.
    debian: Option<&'static str>,
    /// The upstream name OSV packages of other ecosystems use.
    upstream: &'static str,
}

const fn product(
    names: &'static [&'static str],
    cpe: &'static str,
    debian: Option<&'static str>,
    upstream: &'static str,
) -> Product {
    Product {
        names,
        cpe,
        debian,
        upstream,
    }
}

/// The products `portreeve scan --service` names that have packages.
const PRODUCTS: &[Product] = &[
    product(&["OpenSSH"], "openssh", Some("openssh"), "openssh"),
    product(
        &["Dropbear sshd"],
        "dropbear_ssh",
        Some("dropbear"),
        "dropbear",
    ),
    product(&["nginx"], "nginx", Some("nginx"), "nginx"),
    product(&["Apache httpd"], "http_server", Some("apache2"), "httpd"),
    product(&["lighttpd"], "lighttpd", Some("lighttpd"), "lighttpd"),
    product(&["Caddy httpd"], "caddy", Some("caddy"), "caddy"),
    product(&["Redis key-value store"], "redis", Some("redis"), "redis"),
    product(&["Valkey"], "valkey", Some("valkey"), "valkey"),
    product(&["Memcached"], "memcached", Some("memcached"), "memcached"),
    product(&["MariaDB"], "mariadb", Some("mariadb"), "mariadb"),
    product(&["MySQL"], "mysql", None, "mysql"),
    product(&["PostgreSQL"], "postgresql", None, "postgresql"),
    product(&["MongoDB"], "mongodb", None, "mongodb"),
    product(&["Postfix smtpd"], "postfix", Some("postfix"), "postfix"),
    product(&["Exim smtpd"], "exim", Some("exim4"), "exim"),
    product(&["OpenSMTPD"], "opensmtpd", Some("opensmtpd"), "opensmtpd"),
    product(
        &["Dovecot pop3d", "Dovecot imapd"],
        "dovecot",
        Some("dovecot"),
        "dovecot",
    ),
    product(&["vsftpd"], "vsftpd", Some("vsftpd"), "vsftpd"),
    product(&["ProFTPD"], "proftpd", Some("proftpd-dfsg"), "proftpd"),
    product(&["Pure-FTPd"], "pure-ftpd", Some("pure-ftpd"), "pure-ftpd"),
    product(&["etcd"], "etcd", Some("etcd"), "etcd"),
    product(
        &["Apache ZooKeeper"],
        "zookeeper",
        Some("zookeeper"),
        "zookeeper",
    ),
];

/// The package and version to judge for a scanned service: its `product`,
/// `version`, `cpe` and `extra` as `ServiceInfo` has them. A missing product
/// or version is taken from the CPE.
pub fn candidate(
    product: Option<&str>,
    version: Option<&str>,
    cpe: Option<&str>,
    extra: Option<&str>,
) -> Result<Candidate, NoCandidate> {
    let (cpe_product, cpe_version) = cpe.map(cpe_parts).unwrap_or((None, None));
    let known = PRODUCTS.iter().find(|p| {
        product.is_some_and(|name| p.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            || cpe_product == Some(p.cpe)
    });
    let Some(shown) = product.or(cpe_product).filter(|p| !p.is_empty()) else {
        return Err(NoCandidate::NoProduct);
    };
    let Some(known) = known else {
        return Err(NoCandidate::UnknownProduct {
            product: shown.to_owned(),
        });
    };
    let Some(version) = version.or(cpe_version).filter(|v| !v.is_empty()) else {
        return Err(NoCandidate::NoVersion {
            product: shown.to_owned(),
        });
    };
    if let Some(candidate) = known
        .debian
        .and_then(|source| distribution_candidate(source, version, extra?))
    {
        return Ok(candidate);
    }
    if !is_semver(version) {
        return Err(NoCandidate::NotSemver {
            product: shown.to_owned(),
            version: version.to_owned(),
        });
    }
    Ok(Candidate {
        package: known.upstream.to_owned(),
        version: version.to_owned(),
        ecosystem: None,
        epoch_from_advisory: false,
    })
}

/// The Debian or Ubuntu candidate when `extra` names a revision
/// (`Debian-2+deb12u3`, `Ubuntu-3ubuntu0.6`).
fn distribution_candidate(source: &str, upstream: &str, extra: &str) -> Option<Candidate> {
    let (distribution, revision) = extra.split_whitespace().find_map(|word| {
        word.strip_prefix("Debian-")
            .map(|r| ("Debian", r))
            .or_else(|| word.strip_prefix("Ubuntu-").map(|r| ("Ubuntu", r)))
    })?;
    let version = format!("{upstream}-{revision}");
    // What the banner shows must be a version dpkg would order (no epoch:
    // it comes from the advisory).
    DebianVersion::parse(&version)
        .ok()
        .filter(|v| v.epoch == 0 && !upstream.contains(':'))?;
    let ecosystem = match (distribution, debian_release(revision)) {
        ("Debian", Some(release)) => format!("Debian:{release}"),
        (distribution, _) => distribution.to_owned(),
    };
    Some(Candidate {
        package: source.to_owned(),
        version,
        ecosystem: Some(ecosystem),
        epoch_from_advisory: true,
    })
}

/// The Debian release a revision was built for: `2+deb12u3` (a stable
/// update), `1~deb12u1` or `1~bpo12+1` (a backport) → `12`.
fn debian_release(revision: &str) -> Option<&str> {
    ["+deb", "~deb", "~bpo"].iter().find_map(|marker| {
        let after = &revision[revision.find(marker)? + marker.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        (digits > 0).then(|| &after[..digits])
    })
}

/// A CPE's product and version: `cpe:2.3:a:openbsd:openssh:9.2p1:*:…` or
/// `cpe:/a:openbsd:openssh:9.2p1`; `*` and `-` mean none.
fn cpe_parts(cpe: &str) -> (Option<&str>, Option<&str>) {
    let rest = cpe
        .strip_prefix("cpe:2.3:")
        .or_else(|| cpe.strip_prefix("cpe:/"));
    let mut parts = rest
        .into_iter()
        .flat_map(|r| r.split(':'))
        .skip(2)
        .map(|p| Some(p).filter(|v| !v.is_empty() && *v != "*" && *v != "-"));
    (parts.next().flatten(), parts.next().flatten())
}

/// Whether `version` is one SEMVER ranges can order: `1.22.1`, leniently
/// `v1.22` or `7`, with an optional `-pre` or `+build` suffix.
fn is_semver(version: &str) -> bool {
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next().unwrap_or(core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian(package: &str, version: &str, ecosystem: &str) -> Candidate {
        Candidate {
            package: package.into(),
            version: version.into(),
            ecosystem: Some(ecosystem.into()),
            epoch_from_advisory: true,
        }
    }

    fn upstream(package: &str, version: &str) -> Candidate {
        Candidate {
            package: package.into(),
            version: version.into(),
            ecosystem: None,
            epoch_from_advisory: false,
        }
    }

    #[test]
    fn a_debian_banner_names_the_source_package_and_release() {
        let c = candidate(
            Some("OpenSSH"),
            Some("9.2p1"),
            Some("cpe:2.3:a:openbsd:openssh:9.2p1:*:*:*:*:*:*:*"),
            Some("Debian-2+deb12u3"),
        );
        assert_eq!(c, Ok(debian("openssh", "9.2p1-2+deb12u3", "Debian:12")));
        let c = c.unwrap();
        assert_eq!(c.version_with_epoch(Some(1)), "1:9.2p1-2+deb12u3");
        assert_eq!(c.version_with_epoch(Some(0)), "9.2p1-2+deb12u3");
        assert_eq!(c.version_with_epoch(None), "9.2p1-2+deb12u3");
        // Without a release marker the Debian release is unknown.
        assert_eq!(
            candidate(Some("OpenSSH"), Some("9.2p1"), None, Some("Debian-2")),
            Ok(debian("openssh", "9.2p1-2", "Debian"))
        );
        assert_eq!(
            candidate(
                Some("OpenSSH"),
                Some("8.4p1"),
                None,
                Some("Debian-5~bpo11+1")
            ),
            Ok(debian("openssh", "8.4p1-5~bpo11+1", "Debian:11"))
        );
        assert_eq!(
            candidate(
                Some("OpenSSH"),
                Some("8.9p1"),
                None,
                Some("Ubuntu-3ubuntu0.6")
            ),
            Ok(debian("openssh", "8.9p1-3ubuntu0.6", "Ubuntu"))
        );
    }

    #[test]
    fn upstream_versions_are_judged_as_semver_only() {
        assert_eq!(
            candidate(Some("nginx"), Some("1.22.1"), None, None),
            Ok(upstream("nginx", "1.22.1"))
        );
        assert_eq!(
            candidate(Some("Redis key-value store"), Some("7.0.15"), None, None),
            Ok(upstream("redis", "7.0.15"))
        );
        assert_eq!(
            candidate(Some("Memcached"), Some("1.6.18"), None, None),
            Ok(upstream("memcached", "1.6.18"))
        );
        assert_eq!(
            upstream("nginx", "1.22.1").version_with_epoch(Some(1)),
            "1.22.1"
        );
        // OpenSSH's own numbering is not SEMVER: without a Debian revision
        // there is nothing honest to judge.
        let e = candidate(Some("OpenSSH"), Some("9.2p1"), None, None).unwrap_err();
        assert!(e.to_string().contains("not a SEMVER version"), "{e}");
    }

    #[test]
    fn the_cpe_fills_in_product_and_version() {
        assert_eq!(
            candidate(
                None,
                None,
                Some("cpe:2.3:a:f5:nginx:1.24.0:*:*:*:*:*:*:*"),
                None
            ),
            Ok(upstream("nginx", "1.24.0"))
        );
        assert_eq!(
            candidate(
                Some("Apache"),
                None,
                Some("cpe:/a:apache:http_server:2.4.57"),
                None
            ),
            Ok(upstream("httpd", "2.4.57"))
        );
        assert_eq!(
            candidate(None, None, Some("cpe:2.3:a:f5:nginx:*:*:*:*:*:*:*:*"), None),
            Err(NoCandidate::NoVersion {
                product: "nginx".into()
            })
        );
    }

    #[test]
    fn no_match_says_why() {
        assert_eq!(
            candidate(None, Some("1.0"), None, None),
            Err(NoCandidate::NoProduct)
        );
        assert_eq!(
            candidate(Some("Microsoft IIS httpd"), Some("10.0"), None, None),
            Err(NoCandidate::UnknownProduct {
                product: "Microsoft IIS httpd".into()
            })
        );
        assert_eq!(
            candidate(Some("Memcached"), None, None, None),
            Err(NoCandidate::NoVersion {
                product: "Memcached".into()
            })
        );
        // A revision dpkg would not accept is no Debian version.
        assert_eq!(
            candidate(Some("OpenSSH"), Some("9.2p1"), None, Some("Debian-")),
            Err(NoCandidate::NotSemver {
                product: "OpenSSH".into(),
                version: "9.2p1".into()
            })
        );
    }
}

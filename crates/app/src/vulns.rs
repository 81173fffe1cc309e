//! Known vulnerabilities of what listens: OSV advisories judged against the
//! packages that own this host's listening sockets, against a package list
//! of another host, or against the products a scan read from banners.
//!
//! portreeve-vulns reads advisories, installed packages and versions and
//! judges one advisory against one version; this module joins that with
//! the inventory (which process holds which socket), the policy (where each
//! socket is reachable from) and the findings machinery: one PR023 finding
//! per advisory and source package (or scanned service), graded by the
//! advisory's CVSS score and raised one level when a listener is reachable
//! from everywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use portreeve_core::{
    Breadth, Exposure, Finding, FindingKind, ListeningSocket, Proto, ResourceRef, SocketRef,
};
use portreeve_policy::Protection;
use portreeve_scan::PortResult;
use portreeve_vulns::dpkg;
use portreeve_vulns::{
    Advisory, Basis, Ecosystem, Hit, Installed, InstalledPackage, Judgement, OsRelease, Rating,
    advisory_epoch, judge, process_files, product, rate,
};
use serde::Serialize;

use crate::check::{self, Summary};
use crate::error::AppError;
use crate::policy::LoadedPolicy;
use crate::state_dir::StateDir;

pub use portreeve_vulns::ImportSummary;

/// Where `vulns update` keeps the advisories it imported, under the state
/// directory.
pub const OSV_DIR: &str = "osv";

/// What to judge.
#[derive(Debug, Clone)]
pub enum Subject {
    /// This host's listeners (`all_netns`: in every network namespace).
    Host {
        /// Read every namespace.
        all_netns: bool,
    },
    /// A package list (`dpkg-query` lines) of some host.
    Packages(PathBuf),
    /// The services a scan identified (`scan --format json` or `jsonl`).
    Scan(PathBuf),
}

/// What `vulns` is asked.
#[derive(Debug, Clone)]
pub struct VulnsRequest {
    /// The policy whose zones say where listeners are reachable from, and
    /// whose `min_severity` and accepted risks apply.
    pub policy: LoadedPolicy,
    /// What to judge.
    pub subject: Subject,
    /// Advisories: a directory or OSV zip archive; `None`: those imported.
    pub osv: Option<PathBuf>,
    /// The ecosystem of a package list, or of this host's packages when
    /// os-release does not tell; `None`: os-release's.
    pub ecosystem: Option<String>,
}

/// A listener of a vulnerable package, and where it is reachable from.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// The socket.
    #[serde(flatten)]
    pub socket: SocketRef,
    /// Its owning service, when known.
    pub service: Option<String>,
    /// The executable holding it (inside its root).
    pub executable: String,
    /// The executable was replaced since the process started (upgraded and
    /// not restarted): the running version may be older than the installed.
    pub replaced: bool,
    /// Where it is reachable from (this host's live sockets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reach: Option<Exposure>,
}

/// A service a scan identified.
#[derive(Debug, Clone, Serialize)]
pub struct ScannedService {
    /// The scanned address.
    pub target: String,
    /// Its protocol.
    pub protocol: Proto,
    /// Its port.
    pub port: u16,
    /// Product and version as the scan read them.
    pub product: String,
}

/// One package judged: what is installed and what holds its sockets.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedPackage {
    /// The OSV ecosystem it was judged in.
    pub ecosystem: String,
    /// The source package (what Debian's and Ubuntu's advisories name).
    pub source_package: String,
    /// Its version.
    pub source_version: String,
    /// The binary packages of it that are installed (and own listeners,
    /// for a host).
    pub packages: Vec<String>,
    /// Its listeners (none for a package list).
    pub listeners: Vec<Listener>,
    /// The advisories that affect it, by id.
    pub advisories: Vec<String>,
}

/// An advisory that affects a package (or a scanned service).
#[derive(Debug, Clone, Serialize)]
pub struct Vulnerability {
    /// The advisory's id.
    pub id: String,
    /// Its other ids (CVE names).
    pub aliases: Vec<String>,
    /// Its summary.
    pub summary: Option<String>,
    /// The ecosystem judged.
    pub ecosystem: String,
    /// The binary packages concerned (empty for a scanned service).
    pub packages: Vec<String>,
    /// The package the advisory names (the source package).
    pub source_package: String,
    /// The version judged.
    pub installed: String,
    /// The first fixed version above it, if the advisory names one.
    pub fixed: Option<String>,
    /// The last affected version, when the range ends that way.
    pub last_affected: Option<String>,
    /// The CVSS vector and score the severity comes from, if any.
    pub cvss: Option<CvssRecord>,
    /// What else the severity came from, when not CVSS (`ecosystem_specific.urgency: high`).
    pub rated_by: Option<String>,
    /// The severity, raised one level when a listener is reachable from everywhere.
    pub severity: portreeve_core::Severity,
    /// Whether it was raised.
    pub raised: bool,
    /// The PR023 finding's fingerprint.
    pub fingerprint: String,
    /// The listeners of the package.
    pub listeners: Vec<Listener>,
    /// The scanned service, for a scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<ScannedService>,
}

/// A CVSS vector and its base score.
#[derive(Debug, Clone, Serialize)]
pub struct CvssRecord {
    /// `3.1`, `4.0`, …
    pub version: &'static str,
    /// The vector as written.
    pub vector: String,
    /// The score.
    pub score: f64,
}

/// Something that could not be judged, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unjudged {
    /// The listener, package or service (`tcp 0.0.0.0:8080 (python3)`).
    pub subject: String,
    /// Why, in words.
    pub why: String,
}

/// Where the advisories came from.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisorySource {
    /// The path given, or the imported file.
    pub path: String,
    /// Whether they were imported by `vulns update`.
    pub imported: bool,
    /// Entries the source holds.
    pub entries: usize,
    /// Advisories read for the packages judged (withdrawn ones left out).
    pub read: usize,
    /// Withdrawn advisories about them, ignored.
    pub withdrawn: usize,
}

/// What `vulns` found.
#[derive(Debug, Clone)]
pub struct VulnsReport {
    /// The policy applied.
    pub policy: LoadedPolicy,
    /// The advisories read.
    pub source: AdvisorySource,
    /// The packages judged, by ecosystem and source package.
    pub packages: Vec<JudgedPackage>,
    /// The affecting advisories, most severe first.
    pub vulnerabilities: Vec<Vulnerability>,
    /// Listeners, services and advisories that could not be judged.
    pub unjudged: Vec<Unjudged>,
    /// One PR023 finding per vulnerability, settled as `check` settles
    /// (min_severity dropped, accepted risks marked).
    pub findings: Vec<Finding>,
    /// Their counts.
    pub summary: Summary,
}

/// Judges the request's subject against its advisories.
pub fn vulns(state: &StateDir, request: VulnsRequest) -> Result<VulnsReport, AppError> {
    let mut unjudged = Vec::new();
    let (groups, scanned, sockets) = match &request.subject {
        Subject::Host { all_netns } => {
            let inv = portreeve_inventory::collect(portreeve_inventory::Options {
                all_netns: *all_netns,
            })?;
            let drift = state.firewall().table_drift();
            let protection = check::protection(state, &request.policy, &drift);
            let groups = host_groups(
                &inv.sockets,
                &request.policy.policy,
                &protection,
                request.ecosystem.as_deref(),
                &mut unjudged,
            );
            (groups, Vec::new(), inv.sockets)
        }
        Subject::Packages(path) => {
            let ecosystem = match &request.ecosystem {
                Some(e) => e.clone(),
                None => host_ecosystem(Path::new("/")).map_err(AppError::Invalid)?,
            };
            let packages =
                dpkg::read_packages_file(path).map_err(|e| AppError::Invalid(e.to_string()))?;
            (list_groups(&ecosystem, packages), Vec::new(), Vec::new())
        }
        Subject::Scan(path) => {
            let services = read_scan(path)?;
            (Vec::new(), services, Vec::new())
        }
    };
    let candidates = scan_candidates(&scanned, &mut unjudged);
    let mut wanted: BTreeSet<&str> = groups.iter().map(|g| g.source_package.as_str()).collect();
    wanted.extend(candidates.iter().map(|(_, c)| c.package.as_str()));
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let (advisories, source) = read_advisories(state, request.osv.as_deref(), &wanted)?;
    let index = by_package(&advisories);

    let mut vulnerabilities = Vec::new();
    let mut packages = Vec::new();
    for mut group in groups {
        let ecosystem = Ecosystem::parse(&group.ecosystem);
        for advisory in index
            .get(group.source_package.as_str())
            .into_iter()
            .flatten()
        {
            match judge(
                advisory,
                &ecosystem,
                &group.source_package,
                &group.source_version,
            ) {
                Judgement::Affected(hit) => {
                    group.advisories.push(advisory.id.clone());
                    vulnerabilities.push(package_vulnerability(advisory, &ecosystem, hit, &group));
                }
                Judgement::NotAffected => {}
                Judgement::CannotJudge(why) => unjudged.push(Unjudged {
                    subject: format!(
                        "{} for {} {}",
                        advisory.id, group.source_package, group.source_version
                    ),
                    why,
                }),
            }
        }
        packages.push(group);
    }
    for (service, candidate) in &candidates {
        let naming = index
            .get(candidate.package.as_str())
            .map_or(&[][..], Vec::as_slice);
        if let Some(why) = upstream_only(candidate, naming) {
            unjudged.push(Unjudged {
                subject: format!(
                    "{}:{}/{} ({})",
                    service.target, service.port, service.protocol, service.product
                ),
                why,
            });
        }
        for advisory in naming {
            match judge_candidate(advisory, candidate) {
                Ok(Some((ecosystem, version, hit))) => vulnerabilities.push(scan_vulnerability(
                    advisory, &ecosystem, &version, hit, service, candidate,
                )),
                Ok(None) => {}
                Err(why) => unjudged.push(Unjudged {
                    subject: format!(
                        "{} for {} on {}:{}/{}",
                        advisory.id,
                        service.product,
                        service.target,
                        service.port,
                        service.protocol
                    ),
                    why,
                }),
            }
        }
    }
    vulnerabilities.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.source_package.cmp(&b.source_package))
            .then_with(|| a.id.cmp(&b.id))
    });
    let file = match &request.subject {
        Subject::Host { .. } => None,
        Subject::Packages(p) | Subject::Scan(p) => Some(crate::input::origin(p)),
    };
    let mut findings: Vec<Finding> = vulnerabilities
        .iter()
        .map(|v| finding(v, file.as_deref()))
        .collect();
    check::settle(&request.policy.policy, &mut findings, check::today());
    let summary = Summary::of(&sockets, &findings);
    Ok(VulnsReport {
        policy: request.policy,
        source,
        packages,
        vulnerabilities,
        unjudged,
        findings,
        summary,
    })
}

/// Imports the advisories at `from` into the state directory, replacing
/// any earlier import; nothing changes when any entry is not an advisory.
pub fn update(state: &StateDir, from: &Path) -> Result<ImportSummary, AppError> {
    // `import` creates the directory only once every entry has passed, so
    // a refused import leaves the state directory as it was.
    portreeve_vulns::import(from, &state.root().join(OSV_DIR))
        .map_err(|e| AppError::Invalid(e.to_string()))
}

/// Reads the advisories naming `wanted` from `osv`, or from the import.
fn read_advisories(
    state: &StateDir,
    osv: Option<&Path>,
    wanted: &[&str],
) -> Result<(Vec<Advisory>, AdvisorySource), AppError> {
    let (read, path, imported) = match osv {
        Some(path) => (
            portreeve_vulns::load(path, wanted),
            path.display().to_string(),
            false,
        ),
        None => {
            let dir = state.root().join(OSV_DIR);
            let read = portreeve_vulns::load_imported(&dir, wanted).map_err(|e| match e {
                portreeve_vulns::OsvError::NotImported { .. } => AppError::Invalid(format!(
                    "no OSV advisories: give --osv PATH (a directory of OSV JSON files, one such file or an OSV zip archive), \
                     or import one first with `portreeve vulns update --from FILE` ({e})"
                )),
                other => AppError::Invalid(other.to_string()),
            })?;
            (
                Ok(read),
                dir.join(portreeve_vulns::archive::IMPORTED_FILE)
                    .display()
                    .to_string(),
                true,
            )
        }
    };
    let read = read.map_err(|e| AppError::Invalid(e.to_string()))?;
    let source = AdvisorySource {
        path,
        imported,
        entries: read.entries,
        read: read.advisories.len(),
        withdrawn: read.withdrawn,
    };
    Ok((read.advisories, source))
}

/// Advisories by the package names their `affected` entries give.
fn by_package(advisories: &[Advisory]) -> HashMap<&str, Vec<&Advisory>> {
    let mut index: HashMap<&str, Vec<&Advisory>> = HashMap::new();
    for advisory in advisories {
        for name in advisory.package_names() {
            index.entry(name).or_default().push(advisory);
        }
    }
    index
}

/// The OSV ecosystem of the packages below `root`, or why there is none.
fn host_ecosystem(root: &Path) -> Result<String, String> {
    OsRelease::read(root)
        .map_err(|e| format!("cannot tell the distribution release ({e}); give --ecosystem"))?
        .ecosystem()
}

/// The package database and ecosystem of one root, opened once.
struct RootPackages {
    installed: Result<Installed, String>,
    ecosystem: Result<String, String>,
}

/// Groups this host's listeners by the source package owning their
/// executables; what cannot be placed goes to `unjudged`.
fn host_groups(
    sockets: &[ListeningSocket],
    policy: &portreeve_policy::Policy,
    protection: &Protection,
    ecosystem: Option<&str>,
    unjudged: &mut Vec<Unjudged>,
) -> Vec<JudgedPackage> {
    let mut roots: HashMap<PathBuf, RootPackages> = HashMap::new();
    let mut groups: BTreeMap<(String, String, String), JudgedPackage> = BTreeMap::new();
    for socket in sockets {
        let shown = || {
            format!(
                "{} {}{}",
                socket.protocol,
                socket.endpoint(),
                socket
                    .service_label()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            )
        };
        let Some((process, exe)) = socket
            .processes
            .iter()
            .find_map(|p| p.exe.as_deref().map(|exe| (p, exe)))
        else {
            unjudged.push(Unjudged {
                subject: shown(),
                why: "no process holding it is visible here (it runs in another PID namespace, \
                      or portreeve is not root), so its executable is not known"
                    .into(),
            });
            continue;
        };
        let files = match process_files(process.pid, Path::new(exe)) {
            Ok(files) => files,
            Err(e) => {
                unjudged.push(Unjudged {
                    subject: shown(),
                    why: e.to_string(),
                });
                continue;
            }
        };
        let root = roots
            .entry(files.root.clone())
            .or_insert_with(|| RootPackages {
                installed: Installed::open(&files.root).map_err(|e| e.to_string()),
                ecosystem: match ecosystem {
                    Some(e) if files.root == Path::new("/") => Ok(e.to_string()),
                    _ => host_ecosystem(&files.root),
                },
            });
        let owner = match &root.installed {
            Ok(installed) => installed.owner(&files.exe).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        let package = match owner {
            Ok(Some(package)) => package,
            Ok(None) => {
                unjudged.push(Unjudged {
                    subject: shown(),
                    why: format!("{} belongs to no installed package", files.exe.display()),
                });
                continue;
            }
            Err(why) => {
                unjudged.push(Unjudged {
                    subject: shown(),
                    why,
                });
                continue;
            }
        };
        let ecosystem = match &root.ecosystem {
            Ok(e) => e.clone(),
            Err(why) => {
                unjudged.push(Unjudged {
                    subject: shown(),
                    why: why.clone(),
                });
                continue;
            }
        };
        let reach = if socket.address.is_loopback() {
            Exposure::Local
        } else {
            portreeve_policy::exposure(policy, socket, protection)
        };
        let group = groups
            .entry((
                ecosystem.clone(),
                package.source.clone(),
                package.source_version.clone(),
            ))
            .or_insert_with(|| JudgedPackage {
                ecosystem,
                source_package: package.source.clone(),
                source_version: package.source_version.clone(),
                packages: Vec::new(),
                listeners: Vec::new(),
                advisories: Vec::new(),
            });
        if !group.packages.contains(&package.name) {
            group.packages.push(package.name.clone());
        }
        group.listeners.push(Listener {
            socket: SocketRef::from(socket),
            service: socket.service_label(),
            executable: files.exe.display().to_string(),
            replaced: files.replaced,
            reach: Some(reach),
        });
    }
    groups.into_values().collect()
}

/// Groups a package list by source package.
fn list_groups(ecosystem: &str, packages: Vec<InstalledPackage>) -> Vec<JudgedPackage> {
    let mut groups: BTreeMap<(String, String), JudgedPackage> = BTreeMap::new();
    for package in packages {
        let group = groups
            .entry((package.source.clone(), package.source_version.clone()))
            .or_insert_with(|| JudgedPackage {
                ecosystem: ecosystem.to_string(),
                source_package: package.source.clone(),
                source_version: package.source_version.clone(),
                packages: Vec::new(),
                listeners: Vec::new(),
                advisories: Vec::new(),
            });
        group.packages.push(package.name);
    }
    groups.into_values().collect()
}

/// The services of a scan document (`scan --format json`) or of its JSON
/// lines (`--format jsonl`) that identified a product.
fn read_scan(path: &Path) -> Result<Vec<PortResult>, AppError> {
    let origin = crate::input::origin(path);
    let text = crate::input::read_text(path, "scan results")
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let results: Vec<PortResult> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(doc) if doc.get("kind").and_then(|k| k.as_str()) == Some("portreeve.scan") => {
            let mut results = Vec::new();
            for host in doc["hosts"].as_array().into_iter().flatten() {
                for port in host["ports"].as_array().into_iter().flatten() {
                    results.push(serde_json::from_value(port.clone()).map_err(|e| {
                        AppError::Invalid(format!("{origin}: a port of the scan document: {e}"))
                    })?);
                }
            }
            results
        }
        Ok(_) => {
            return Err(AppError::Invalid(format!(
                "{origin}: not a `portreeve scan --format json` document (kind portreeve.scan)"
            )));
        }
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    AppError::Invalid(format!(
                        "{origin}:{}: not a scan result (`scan --format json` or `jsonl`): {e}",
                        n + 1
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(results
        .into_iter()
        .filter(|r| r.service.is_some())
        .collect())
}

/// The package and version to judge for each scanned service, or why
/// there is none (into `unjudged`).
fn scan_candidates(
    results: &[PortResult],
    unjudged: &mut Vec<Unjudged>,
) -> Vec<(ScannedService, product::Candidate)> {
    let mut candidates = Vec::new();
    for r in results {
        let Some(service) = &r.service else { continue };
        let scanned = ScannedService {
            target: r.address.to_string(),
            protocol: r.protocol,
            port: r.port,
            product: [service.product.as_deref(), service.version.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        };
        match product::candidate(
            service.product.as_deref(),
            service.version.as_deref(),
            service.cpe.as_deref(),
            service.extra.as_deref(),
        ) {
            Ok(candidate) => candidates.push((scanned, candidate)),
            Err(why) => unjudged.push(Unjudged {
                subject: format!(
                    "{}:{}/{} ({})",
                    scanned.target, scanned.port, scanned.protocol, service.name
                ),
                why: why.to_string(),
            }),
        }
    }
    candidates
}

/// Judges a scanned service's candidate: in its distribution release with
/// the epoch the advisory gives the package, or, without a distribution,
/// against the SEMVER ranges of every ecosystem the advisory names the
/// package in. `Ok(None)`: not affected.
fn judge_candidate(
    advisory: &Advisory,
    candidate: &product::Candidate,
) -> Result<Option<(Ecosystem, String, Hit)>, String> {
    let ecosystems: Vec<Ecosystem> = match &candidate.ecosystem {
        Some(e) => {
            let ecosystem = Ecosystem::parse(e);
            if ecosystem.release.is_none() {
                let named = advisory
                    .affected
                    .iter()
                    .any(|a| Ecosystem::parse(&a.package.ecosystem).name == ecosystem.name);
                return if named {
                    Err(format!(
                        "the banner names {} but not which release: its advisories are per release",
                        ecosystem.name
                    ))
                } else {
                    Ok(None)
                };
            }
            vec![ecosystem]
        }
        None => advisory
            .affected
            .iter()
            .filter(|a| a.package.name == candidate.package)
            .filter(|a| {
                a.ranges
                    .iter()
                    .any(|r| r.kind == portreeve_vulns::osv::RangeKind::Semver)
            })
            .map(|a| Ecosystem::parse(&a.package.ecosystem))
            .collect(),
    };
    let mut cannot = None;
    for ecosystem in ecosystems {
        let version =
            candidate.version_with_epoch(advisory_epoch(advisory, &ecosystem, &candidate.package));
        match judge(advisory, &ecosystem, &candidate.package, &version) {
            Judgement::Affected(hit) => return Ok(Some((ecosystem, version, hit))),
            Judgement::NotAffected => {}
            Judgement::CannotJudge(why) => cannot = cannot.or(Some(why)),
        }
    }
    cannot.map_or(Ok(None), Err)
}

/// Why a scanned service known only by its upstream version cannot be
/// judged against the advisories `naming` its package, when none of them
/// has a SEMVER range for it: distribution ranges number backported fixes
/// in their own revisions, which a banner's upstream version does not show.
fn upstream_only(candidate: &product::Candidate, naming: &[&Advisory]) -> Option<String> {
    if candidate.ecosystem.is_some() || naming.is_empty() {
        return None;
    }
    let semver = naming.iter().any(|a| {
        a.affected.iter().any(|e| {
            e.package.name == candidate.package
                && e.ranges
                    .iter()
                    .any(|r| r.kind == portreeve_vulns::osv::RangeKind::Semver)
        })
    });
    (!semver).then(|| {
        let ecosystems: BTreeSet<&str> = naming
            .iter()
            .flat_map(|a| &a.affected)
            .filter(|e| e.package.name == candidate.package)
            .map(|e| e.package.ecosystem.as_str())
            .collect();
        format!(
            "{} {}: the {} about {} give only {} ranges, and the banner shows no distribution revision to compare with them",
            candidate.package,
            candidate.version,
            match naming.len() {
                1 => "1 advisory".to_string(),
                n => format!("{n} advisories"),
            },
            candidate.package,
            ecosystems.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// The advisory's rating for the `affected` entry `hit` fell in, as the
/// vulnerability records it.
fn rating(advisory: &Advisory, hit: &Hit) -> (Rating, Option<CvssRecord>, Option<String>) {
    let rating = rate(advisory, advisory.affected.get(hit.affected));
    let (cvss, rated_by) = match &rating.basis {
        Basis::Cvss(c) => (
            Some(CvssRecord {
                version: c.version,
                vector: c.vector.clone(),
                score: c.score,
            }),
            None,
        ),
        Basis::Rated { field, value } => (None, Some(format!("{field}: {value}"))),
        Basis::Default => (None, None),
    };
    (rating, cvss, rated_by)
}

/// A vulnerability of a package of this host or of a package list.
fn package_vulnerability(
    advisory: &Advisory,
    ecosystem: &Ecosystem,
    hit: Hit,
    group: &JudgedPackage,
) -> Vulnerability {
    let (rating, cvss, rated_by) = rating(advisory, &hit);
    let everywhere = group.listeners.iter().any(|l| {
        l.reach
            .as_ref()
            .is_some_and(|r| r.breadth() == Breadth::Everywhere)
    });
    let severity = if everywhere {
        rating.severity.raised(1)
    } else {
        rating.severity
    };
    Vulnerability {
        id: advisory.id.clone(),
        aliases: advisory.aliases.clone(),
        summary: advisory.summary.clone(),
        ecosystem: ecosystem.to_string(),
        packages: group.packages.clone(),
        source_package: group.source_package.clone(),
        installed: group.source_version.clone(),
        fixed: hit.fixed,
        last_affected: hit.last_affected,
        cvss,
        rated_by,
        raised: severity != rating.severity,
        severity,
        fingerprint: Finding::fingerprint_of(
            FindingKind::KnownVulnerability,
            &format!("vuln|{}|{}", group.source_package, advisory.id),
        ),
        listeners: group.listeners.clone(),
        scanned: None,
    }
}

/// A vulnerability of a scanned service.
fn scan_vulnerability(
    advisory: &Advisory,
    ecosystem: &Ecosystem,
    version: &str,
    hit: Hit,
    service: &ScannedService,
    candidate: &product::Candidate,
) -> Vulnerability {
    let (rating, cvss, rated_by) = rating(advisory, &hit);
    Vulnerability {
        id: advisory.id.clone(),
        aliases: advisory.aliases.clone(),
        summary: advisory.summary.clone(),
        ecosystem: ecosystem.to_string(),
        packages: Vec::new(),
        source_package: candidate.package.clone(),
        installed: version.to_string(),
        fixed: hit.fixed,
        last_affected: hit.last_affected,
        cvss,
        rated_by,
        raised: false,
        severity: rating.severity,
        fingerprint: Finding::fingerprint_of(
            FindingKind::KnownVulnerability,
            &format!(
                "scan|{}|{}|{}|{}",
                service.target, service.protocol, service.port, advisory.id
            ),
        ),
        listeners: Vec::new(),
        scanned: Some(service.clone()),
    }
}

/// The PR023 finding of a vulnerability; `file` is the package list or
/// scan it came from.
fn finding(v: &Vulnerability, file: Option<&str>) -> Finding {
    let named = match v.aliases.first() {
        Some(alias) => format!("{} ({alias})", v.id),
        None => v.id.clone(),
    };
    let fix = match (&v.fixed, &v.last_affected) {
        (Some(fixed), _) => format!("fixed in {fixed}"),
        (None, Some(last)) => format!("no fix: {last} is the last affected version"),
        (None, None) => "no fixed version is published".to_string(),
    };
    let what = match &v.scanned {
        Some(s) => format!("{} on {}:{}/{}", s.product, s.target, s.port, s.protocol),
        None => format!("{} {}", v.source_package, v.installed),
    };
    let mut evidence = vec![format!(
        "{} {} is affected in {} ({fix})",
        v.source_package, v.installed, v.ecosystem
    )];
    if let Some(summary) = &v.summary {
        evidence.push(format!("{}: {summary}", v.id));
    }
    if !v.aliases.is_empty() {
        evidence.push(format!("also known as {}", v.aliases.join(", ")));
    }
    match (&v.cvss, &v.rated_by) {
        (Some(c), _) => evidence.push(format!("CVSS {} {:.1} {}", c.version, c.score, c.vector)),
        (None, Some(word)) => evidence.push(format!("rated by {word}")),
        (None, None) => evidence.push("no CVSS score or rating given: medium".to_string()),
    }
    for l in &v.listeners {
        evidence.push(format!(
            "{} {} held by {}{}, reachable from {}",
            l.socket.protocol,
            l.socket.endpoint,
            l.executable,
            if l.replaced {
                " (replaced on disk since it started: restart it)"
            } else {
                ""
            },
            l.reach.as_ref().map_or_else(
                || "an unknown set of sources".to_string(),
                ToString::to_string
            )
        ));
    }
    if v.raised {
        evidence.push("raised one level: a listener is reachable from everywhere".to_string());
    }
    let upgrade = if v.packages.is_empty() {
        format!("Upgrade {} on that host", v.source_package)
    } else {
        format!(
            "Upgrade with `apt-get install --only-upgrade {}`",
            v.packages.join(" ")
        )
    };
    let remediation = match &v.fixed {
        Some(fixed) => format!(
            "{upgrade} (to {fixed} or later) and restart what holds the port; until then, narrow who reaches it."
        ),
        None => format!(
            "No fixed version is published: narrow who reaches the port, or stop the service until {} is fixed.",
            v.source_package
        ),
    };
    let first = v.listeners.first();
    let reach = v
        .listeners
        .iter()
        .filter_map(|l| l.reach.clone())
        .max_by_key(|r| match r.breadth() {
            Breadth::Nobody => 0,
            Breadth::Restricted => 1,
            Breadth::Everywhere => 2,
        });
    Finding {
        kind: FindingKind::KnownVulnerability,
        fingerprint: v.fingerprint.clone(),
        severity: v.severity,
        message: format!("{what} is affected by {named}: {fix}"),
        socket: first.map(|l| l.socket.clone()),
        service: first.and_then(|l| l.service.clone()),
        pids: Vec::new(),
        rule: None,
        resource: match (&v.scanned, file) {
            (Some(s), _) => Some(ResourceRef {
                kind: "ScannedService".into(),
                namespace: Some(s.target.clone()),
                name: format!("{}/{}", s.port, s.protocol),
                file: file.map(str::to_string),
            }),
            (None, Some(file)) => Some(ResourceRef {
                kind: "Package".into(),
                namespace: None,
                name: v.source_package.clone(),
                file: Some(file.to_string()),
            }),
            (None, None) => None,
        },
        evidence,
        rationale: "A published vulnerability in what answers on a port is the most direct \
                    path in: exploits for advisories with a fix are routinely automated."
            .into(),
        remediation,
        reach,
        accepted: None,
    }
}

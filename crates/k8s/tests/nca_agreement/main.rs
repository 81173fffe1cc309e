//! `k8s reach` against an independent analyzer: IBM's
//! network-config-analyzer ("NCA", from PyPI; scripts/nca.sh installs it)
//! analyses every case of tests/corpus (one directory of manifests per
//! NetworkPolicy semantic), and both answers must agree on every (source,
//! destination, protocol, port) of an exact universe (see [`compare`]),
//! pods and outside address classes alike.
//!
//! Where NCA is wrong, [`errata`] holds the documented answer.
//! NCA is given local files only (see [`nca::connectivity`]). Without its
//! venv the test skips, and fails under `PORTREEVE_REQUIRE_PRIVILEGED=1`.

#[path = "../analyzers/mod.rs"]
mod analyzers;
mod errata;

use analyzers::{compare, facts, nca, portreeve};

use std::path::{Path, PathBuf};

use facts::{FIRST_PORT, Fact, PROTOCOLS, Party};

const TEST: &str = "k8s_reach_agrees_with_network_config_analyzer";

/// The corpus: one directory per case.
fn cases() -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn k8s_reach_agrees_with_network_config_analyzer() {
    let python = nca::python();
    if !portreeve_testkit::skip_unless(
        TEST,
        python.exists(),
        format_args!(
            "{} is missing (scripts/nca.sh installs it; scripts/test.sh runs it as root)",
            python.display()
        ),
    ) {
        return;
    }
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let cases = cases();
    assert!(cases.len() >= 20, "the corpus lost cases: {cases:?}");
    for erratum in errata::ERRATA {
        assert!(
            cases.iter().any(|c| c.ends_with(erratum.case)),
            "erratum for a case not in the corpus: {}",
            erratum.case
        );
    }

    let mut tuples = 0;
    let mut report = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("a case name").to_string_lossy();
        let mut nca_facts = nca::connectivity(&python, case, scratch.path());
        errata::correct(&name, &mut nca_facts);
        let (pods, portreeve_facts) = portreeve::reach(case);
        assert!(!pods.is_empty(), "{name}: portreeve read no pods");
        report.extend(
            self_reach(&pods, &portreeve_facts)
                .into_iter()
                .map(|why| format!("{name}: {why}")),
        );

        let outcome = compare::compare(&pods, &nca_facts, &portreeve_facts);
        tuples += outcome.tuples;
        for d in outcome.differences {
            report.push(format!(
                "{name}: {} -> {} {}: NCA alone allows {:?}, portreeve alone allows {:?}",
                d.from, d.to, d.protocol, d.only_first, d.only_second
            ));
        }
    }
    eprintln!(
        "{TEST}: {} cases, {tuples} (source, destination, protocol, port) tuples compared",
        cases.len()
    );
    assert!(
        report.is_empty(),
        "k8s reach and NCA disagree ({} findings):\n{}",
        report.len(),
        report.join("\n")
    );
}

/// Where the two cannot be compared because NCA is silent: a pod's
/// connections to itself, which its `txt_no_fw_rules` output leaves out.
/// The Kubernetes documentation (Concepts → Services, Load Balancing, and
/// Networking → Network Policies, "other pods that are allowed (exception:
/// a pod cannot block access to itself)") says they are always allowed, so
/// `k8s reach` must list every port of every protocol from each pod to
/// itself, whatever the policies.
fn self_reach(pods: &[String], facts: &[Fact]) -> Vec<String> {
    let mut missing = Vec::new();
    for pod in pods {
        let party = Party::Pod(pod.clone());
        for protocol in PROTOCOLS {
            for port in [FIRST_PORT, 80, 65535] {
                if !facts
                    .iter()
                    .any(|f| f.allows(&party, &party, protocol, port))
                {
                    missing.push(format!(
                        "{pod} -> itself {protocol}/{port} is not allowed, but a pod cannot block access to itself"
                    ));
                }
            }
        }
    }
    missing
}

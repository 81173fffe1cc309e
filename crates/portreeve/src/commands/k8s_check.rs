//! `k8s check`: findings about a cluster's manifests, in `check`'s
//! formats and with its exit statuses.

use std::path::PathBuf;

use portreeve_app::k8s::{self, K8sCheckReport};
use portreeve_core::Finding;
use serde::Serialize;

use super::judged::{self, Judged};
use crate::cli::K8sCheckArgs;
use crate::failure::Failure;
use crate::output::json::{Envelope, FindingCounts, host_name};
use crate::output::policy::PolicyInfo;
use crate::output::{checkmk, counted, counted_as};

/// `kind` of `k8s check --format json`'s document.
const K8S_CHECK_KIND: &str = "portreeve.k8s-check";

pub fn run(args: &K8sCheckArgs) -> Result<u8, Failure> {
    judged::run(args.judging.shown.format, checkmk::K8S_CHECK, || {
        judge(args)
    })
}

fn judge(args: &K8sCheckArgs) -> Result<u8, Failure> {
    let policy = args.judging.policy()?;
    let report = k8s::check(policy, &args.manifests)?;
    show(args, &report)
}

fn show(args: &K8sCheckArgs, report: &K8sCheckReport) -> Result<u8, Failure> {
    let K8sCheckReport {
        policy,
        cluster,
        findings,
        summary,
    } = report;
    let what = format!(
        "{} in {}",
        counted(cluster.pods.len(), "pod"),
        counted(cluster.namespaces.len(), "namespace")
    );
    let judged = Judged {
        policy,
        findings,
        summary,
        what: format!(
            "{what} and {}",
            counted_as(cluster.policies.len(), "NetworkPolicy", "NetworkPolicies")
        ),
        place: what,
        perf: vec![
            ("pods", cluster.pods.len()),
            ("namespaces", cluster.namespaces.len()),
            ("network_policies", cluster.policies.len()),
        ],
        service: checkmk::K8S_CHECK,
    };
    let host = host_name();
    let document = K8sCheckDocument {
        envelope: Envelope::new(K8S_CHECK_KIND, &host),
        policy: PolicyInfo::of(policy),
        manifests: &args.manifests,
        cluster: ClusterCounts {
            namespaces: cluster.namespaces.len(),
            pods: cluster.pods.len(),
            services: cluster.services.len(),
            network_policies: cluster.policies.len(),
            ignored: cluster.ignored,
        },
        summary: FindingCounts::of(summary),
        findings,
    };
    Ok(judged::show(&judged, &args.judging.shown, &host, &document))
}

/// `portreeve k8s check --format json` (docs/schema/k8s-check.v1.json):
/// `check`'s report, with the cluster's counts where `check` has the
/// host's sockets.
#[derive(Serialize)]
struct K8sCheckDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    policy: PolicyInfo<'a>,
    manifests: &'a [PathBuf],
    cluster: ClusterCounts,
    summary: FindingCounts<'a>,
    findings: &'a [Finding],
}

/// What the manifests held.
#[derive(Serialize)]
struct ClusterCounts {
    namespaces: usize,
    pods: usize,
    services: usize,
    network_policies: usize,
    ignored: usize,
}

//! `cloud check`: findings about AWS security groups read from
//! `aws ec2 describe-security-groups` output, in `check`'s formats and with
//! its exit statuses.

use portreeve_app::cloud::{self, CloudReport};
use portreeve_app::input;
use portreeve_core::Finding;
use serde::Serialize;

use super::judged::{self, Judged};
use crate::cli::CloudCheckArgs;
use crate::failure::Failure;
use crate::output::json::{Envelope, FindingCounts, host_name};
use crate::output::policy::PolicyInfo;
use crate::output::{checkmk, counted};

/// `kind` of `cloud check --format json`'s document.
const CLOUD_CHECK_KIND: &str = "portreeve.cloud-check";

pub fn check(args: &CloudCheckArgs) -> Result<u8, Failure> {
    judged::run(args.judging.shown.format, checkmk::CLOUD_CHECK, || {
        judge(args)
    })
}

fn judge(args: &CloudCheckArgs) -> Result<u8, Failure> {
    let policy = args.judging.policy()?;
    let report = cloud::check_aws_file(policy, &args.aws)?;
    show(args, &input::origin(&args.aws), &report)
}

fn show(args: &CloudCheckArgs, file: &str, report: &CloudReport) -> Result<u8, Failure> {
    let CloudReport {
        policy,
        groups,
        permissions,
        findings,
        summary,
    } = report;
    let judged = Judged {
        policy,
        findings,
        summary,
        what: format!(
            "{} and {} in {file}",
            counted(*groups, "security group"),
            counted(*permissions, "ingress permission")
        ),
        place: file.to_string(),
        perf: vec![("security_groups", *groups), ("permissions", *permissions)],
        service: checkmk::CLOUD_CHECK,
    };
    let host = host_name();
    let document = CloudCheckDocument {
        envelope: Envelope::new(CLOUD_CHECK_KIND, &host),
        policy: PolicyInfo::of(policy),
        source: Source {
            provider: "aws",
            file,
            security_groups: *groups,
            permissions: *permissions,
        },
        summary: FindingCounts::of(summary),
        findings,
    };
    Ok(judged::show(&judged, &args.judging.shown, &host, &document))
}

/// `portreeve cloud check --format json` (docs/schema/cloud-check.v1.json):
/// `check`'s report, with what was read where `check` has the host's
/// sockets.
#[derive(Serialize)]
struct CloudCheckDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    policy: PolicyInfo<'a>,
    source: Source<'a>,
    summary: FindingCounts<'a>,
    findings: &'a [Finding],
}

/// What was judged.
#[derive(Serialize)]
struct Source<'a> {
    /// `aws`.
    provider: &'static str,
    /// The file as given (`<stdin>` for standard input).
    file: &'a str,
    /// Security groups read.
    security_groups: usize,
    /// Their ingress permissions.
    permissions: usize,
}

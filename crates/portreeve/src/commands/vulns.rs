//! `vulns`: known vulnerabilities of what listens, in `check`'s formats
//! and with its exit statuses; `vulns update`: import advisories.

use portreeve_app::policy;
use portreeve_app::vulns::{self, Subject, VulnsReport, VulnsRequest};
use portreeve_core::Finding;
use serde::Serialize;

use super::judged::{self, Judged};
use crate::cli::{
    CheckFormat, ListFormat, VulnsArgs, VulnsCommand, VulnsJudgeArgs, VulnsUpdateArgs,
};
use crate::context::{self, Context};
use crate::failure::{EXIT_OK, Failure, findings_status};
use crate::output::json::{Envelope, FindingCounts, host_name};
use crate::output::policy::PolicyInfo;
use crate::output::{checkmk, counted, counted_as, emit, emit_hint, emit_json, table};

/// `kind` of `vulns --format json`'s document.
const VULNS_KIND: &str = "portreeve.vulns";
/// `kind` of `vulns update --format json`'s document.
const UPDATE_KIND: &str = "portreeve.vulns-update";

pub fn run(args: &VulnsArgs, ctx: &Context) -> Result<u8, Failure> {
    match &args.command {
        Some(VulnsCommand::Update(update)) => import(update, ctx),
        None => judged::run(args.judge.shown.format, checkmk::VULNS, || {
            judge(&args.judge, ctx)
        }),
    }
}

fn judge(args: &VulnsJudgeArgs, ctx: &Context) -> Result<u8, Failure> {
    let candidate = context::candidate(args.policy.as_deref());
    let request = VulnsRequest {
        policy: policy::for_judging(&ctx.state, candidate.as_deref())?,
        subject: match (&args.packages, &args.scan) {
            (Some(list), _) => Subject::Packages(list.clone()),
            (None, Some(scan)) => Subject::Scan(scan.clone()),
            (None, None) => Subject::Host {
                all_netns: args.scope.all_netns,
            },
        },
        osv: args.osv.clone(),
        ecosystem: args.ecosystem.clone(),
    };
    let report = vulns::vulns(&ctx.state, request)?;
    show(args, &report)
}

fn show(args: &VulnsJudgeArgs, report: &VulnsReport) -> Result<u8, Failure> {
    let host = host_name();
    let judged_packages = report.packages.len();
    let judged = Judged {
        policy: &report.policy,
        findings: &report.findings,
        summary: &report.summary,
        what: format!(
            "{} against {} advisories",
            counted(judged_packages, "package"),
            report.source.read
        ),
        place: report.source.path.clone(),
        perf: vec![
            ("packages", judged_packages),
            ("vulnerabilities", report.vulnerabilities.len()),
            ("unjudged", report.unjudged.len()),
        ],
        service: checkmk::VULNS,
    };
    let shown = &args.shown;
    if shown.format == CheckFormat::Table && !shown.details {
        let mut out = vulnerability_table(report);
        out.push_str(&format!(
            "{} ({}){} in {} · advisories {} · policy {}\n",
            counted(report.findings.len(), "finding"),
            report.summary.severity_breakdown(),
            table::accepted_note(&report.summary),
            counted(judged_packages, "package"),
            report.source.path,
            report.policy.policy.origin,
        ));
        emit(&out);
        if !report.unjudged.is_empty() {
            emit_hint(&format!(
                "{} could not be judged: see --format json (`unjudged`)\n",
                counted(report.unjudged.len(), "listener, service or advisory")
            ));
        }
        return Ok(findings_status(shown.fail_on, report.summary.highest));
    }
    let document = VulnsDocument {
        envelope: Envelope::new(VULNS_KIND, &host),
        policy: PolicyInfo::of(&report.policy),
        advisories: &report.source,
        packages: &report.packages,
        vulnerabilities: &report.vulnerabilities,
        unjudged: &report.unjudged,
        summary: FindingCounts::of(&report.summary),
        findings: &report.findings,
    };
    Ok(judged::show(&judged, shown, &host, &document))
}

/// One row per vulnerability: what an operator patches from.
fn vulnerability_table(report: &VulnsReport) -> String {
    let rows: Vec<Vec<String>> = report
        .vulnerabilities
        .iter()
        .map(|v| {
            let listeners: Vec<String> = match &v.scanned {
                Some(s) => vec![format!("{}:{}/{}", s.target, s.port, s.protocol)],
                None => v
                    .listeners
                    .iter()
                    .map(|l| {
                        let reach = l.reach.as_ref().map_or("", |r| match r.breadth() {
                            portreeve_core::Breadth::Everywhere => " everywhere",
                            portreeve_core::Breadth::Restricted => " zones",
                            portreeve_core::Breadth::Nobody => " local",
                        });
                        format!("{}/{}{reach}", l.socket.port, l.socket.protocol)
                    })
                    .collect(),
            };
            vec![
                v.severity.to_string(),
                v.id.clone(),
                v.aliases.join(" "),
                v.source_package.clone(),
                v.installed.clone(),
                v.fixed.clone().unwrap_or_else(|| "-".into()),
                v.cvss
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| format!("{:.1}", c.score)),
                listeners.join(", "),
            ]
        })
        .collect();
    table::rows(
        &[
            "SEVERITY",
            "ADVISORY",
            "ALIASES",
            "PACKAGE",
            "INSTALLED",
            "FIXED",
            "CVSS",
            "LISTENERS",
        ],
        &rows,
        table::stdout_colour(),
    )
}

fn import(args: &VulnsUpdateArgs, ctx: &Context) -> Result<u8, Failure> {
    let summary = vulns::update(&ctx.state, &args.from)?;
    match args.format {
        ListFormat::Table => {
            let ecosystems: Vec<String> = summary
                .ecosystems
                .iter()
                .map(|(e, n)| format!("{e} {n}"))
                .collect();
            emit(&format!(
                "imported {} ({} withdrawn) about {} from {}\n",
                counted_as(summary.advisories, "advisory", "advisories"),
                summary.withdrawn,
                counted(summary.packages, "package"),
                args.from.display()
            ));
            if !ecosystems.is_empty() {
                emit_hint(&format!("ecosystems: {}\n", ecosystems.join(", ")));
            }
        }
        ListFormat::Json => emit_json(&UpdateDocument {
            envelope: Envelope::new(UPDATE_KIND, &host_name()),
            from: args.from.display().to_string(),
            summary: &summary,
        }),
    }
    Ok(EXIT_OK)
}

/// `portreeve vulns --format json` (docs/schema/vulns.v1.json).
#[derive(Serialize)]
struct VulnsDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    policy: PolicyInfo<'a>,
    advisories: &'a vulns::AdvisorySource,
    packages: &'a [vulns::JudgedPackage],
    vulnerabilities: &'a [vulns::Vulnerability],
    unjudged: &'a [vulns::Unjudged],
    summary: FindingCounts<'a>,
    findings: &'a [Finding],
}

/// `portreeve vulns update --format json`.
#[derive(Serialize)]
struct UpdateDocument<'a> {
    #[serde(flatten)]
    envelope: Envelope<'a>,
    /// The archive or directory imported.
    from: String,
    #[serde(flatten)]
    summary: &'a vulns::ImportSummary,
}

//! `portreeve report`: this host's report — or with `--server`, the
//! fleet's, read from the fleet server — as one self-contained HTML page,
//! a PDF printed from that page by headless Chromium, or JSON.

use std::path::{Path, PathBuf};

use portreeve_app::report::pdf::{self, CHROMIUM_ENV};
use portreeve_app::report::{self, Include, ReportRequest};
use serde::Serialize;

use crate::cli::{ReportArgs, ReportFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{emit, emit_json};

pub fn run(args: &ReportArgs, ctx: &Context) -> Result<u8, Failure> {
    // Before gathering anything: a PDF needs a browser to print it.
    let chromium = match args.format {
        ReportFormat::Pdf => Some(chromium()?),
        _ => None,
    };
    let request = ReportRequest {
        since: args.since,
        framework: args.framework,
        include: Include {
            kubernetes: args.k8s_manifests.clone(),
            aws: args.aws.clone(),
            vulnerabilities: args.vulns,
            osv: args.osv.clone(),
        },
    };
    match crate::context::fleet_server(&args.fleet)? {
        Some(client) => {
            let fleet = match &args.log_key {
                Some(key) => {
                    let key = crate::context::verifier_key(key)?;
                    report::build_fleet_trusting(&client, &request, &key)?
                }
                None => report::build_fleet(&client, &request)?,
            };
            deliver(args, chromium.as_deref(), &fleet, report::fleet_html)
        }
        None => {
            let built = report::build(&ctx.state, &request)?;
            deliver(args, chromium.as_deref(), &built, report::html)
        }
    }
}

/// Writes `document` in the format asked for, to `--output` or standard
/// output: as JSON, as the page `html` renders, or as that page printed
/// to PDF by `chromium`.
fn deliver<T: Serialize>(
    args: &ReportArgs,
    chromium: Option<&Path>,
    document: &T,
    html: fn(&T) -> String,
) -> Result<u8, Failure> {
    match (args.format, &args.output) {
        (ReportFormat::Json, None) => emit_json(document),
        (ReportFormat::Json, Some(path)) => {
            let mut text = serde_json::to_vec_pretty(document).expect("reports serialise");
            text.push(b'\n');
            write(path, &text)?;
        }
        (ReportFormat::Html, None) => emit(&html(document)),
        (ReportFormat::Html, Some(path)) => write(path, html(document).as_bytes())?,
        (ReportFormat::Pdf, output) => {
            let output = output.as_deref().expect("clap requires --output for pdf");
            let chromium = chromium.expect("found before the report was built");
            write(output, &pdf::print_pdf(chromium, &html(document))?)?;
        }
    }
    Ok(EXIT_OK)
}

/// Writes the report to `path` through a temporary file renamed into
/// place, readable by its owner only: it lists what listens, what is
/// exposed and who changed what.
fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    Ok(portreeve_app::write_atomically(path, bytes, 0o600)?)
}

/// The Chromium to print with: `$PORTREEVE_CHROMIUM`, which must name a
/// file, else the one installed on this host ([`pdf::find_chromium`]).
/// None is an operational failure (exit 3).
fn chromium() -> Result<PathBuf, Failure> {
    let Some(named) = std::env::var_os(CHROMIUM_ENV) else {
        return Ok(pdf::find_chromium()?);
    };
    let named = PathBuf::from(named);
    if named.is_file() {
        Ok(named)
    } else {
        Err(Failure::Operational(format!(
            "${CHROMIUM_ENV} names {}, which is not a file: a PDF report is printed by headless Chromium",
            named.display()
        )))
    }
}

//! `portreeve report`: this host's report as one self-contained HTML page,
//! a PDF printed from that page by headless Chromium, or JSON.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portreeve_app::report::{self, ReportRequest};

use crate::cli::{ReportArgs, ReportFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::{emit, emit_json};

/// Environment variable naming the Chromium to print PDFs with.
const CHROMIUM_ENV: &str = "PORTREEVE_CHROMIUM";
/// How long Chromium may take to print one report.
const PRINT_TIMEOUT: Duration = Duration::from_secs(90);

pub fn run(args: &ReportArgs, ctx: &Context) -> Result<u8, Failure> {
    // Before gathering anything: a PDF needs a browser to print it.
    let chromium = match args.format {
        ReportFormat::Pdf => Some(chromium()?),
        _ => None,
    };
    let built = report::build(
        &ctx.state,
        &ReportRequest {
            since: args.since,
            framework: args.framework,
        },
    )?;
    match (args.format, &args.output) {
        (ReportFormat::Json, None) => emit_json(&built),
        (ReportFormat::Json, Some(path)) => {
            let mut text = serde_json::to_vec_pretty(&built).expect("reports serialise");
            text.push(b'\n');
            write(path, &text)?;
        }
        (ReportFormat::Html, None) => emit(&report::html(&built)),
        (ReportFormat::Html, Some(path)) => write(path, report::html(&built).as_bytes())?,
        (ReportFormat::Pdf, output) => {
            let output = output.as_deref().expect("clap requires --output for pdf");
            let chromium = chromium.expect("found above");
            write(output, &print_pdf(&chromium, &report::html(&built))?)?;
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

/// The Chromium to print with: `$PORTREEVE_CHROMIUM`, else Debian's
/// `/usr/bin/chromium`, else `chromium` or `chromium-browser` on `PATH`.
/// None is an operational failure (exit 3).
fn chromium() -> Result<PathBuf, Failure> {
    if let Some(named) = std::env::var_os(CHROMIUM_ENV) {
        let named = PathBuf::from(named);
        return if named.is_file() {
            Ok(named)
        } else {
            Err(Failure::Operational(format!(
                "${CHROMIUM_ENV} names {}, which is not a file: a PDF report is printed by headless Chromium",
                named.display()
            )))
        };
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.is_file() {
        return Ok(debian);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Failure::Operational(format!(
                "cannot print a PDF: Chromium is not installed (no /usr/bin/chromium, none on PATH, \
                 ${CHROMIUM_ENV} not set); install it (`apt install chromium`) or use --format html"
            ))
        })
}

/// Prints `html` to PDF with headless Chromium: the page is written to a
/// private temporary directory with the browser's profile beside it, and
/// Chromium is kept off the network (no background fetches, updates or
/// sync; the page itself forbids every load by its Content-Security-Policy).
fn print_pdf(chromium: &Path, html: &str) -> Result<Vec<u8>, Failure> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Failure::Operational(format!("{what}: {e}"))
    };
    let dir = tempfile::Builder::new()
        .prefix("portreeve-report-")
        .tempdir()
        .map_err(io("a temporary directory for printing"))?;
    let page = dir.path().join("report.html");
    let pdf = dir.path().join("report.pdf");
    std::fs::write(&page, html).map_err(io(&page.display().to_string()))?;
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(&format!("cannot start {}", chromium.display())))?;
    let mut stderr = child.stderr.take().expect("piped");
    // Read while it runs, so a chatty browser never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(io("waiting for Chromium"))? {
            Some(status) => break status,
            None if started.elapsed() > PRINT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Operational(format!(
                    "{} did not print the report within {} s",
                    chromium.display(),
                    PRINT_TIMEOUT.as_secs()
                )));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let said = reader.join().unwrap_or_default();
    let bytes = std::fs::read(&pdf).unwrap_or_default();
    if !status.success() || !bytes.starts_with(b"%PDF-") {
        let tail: Vec<&str> = said.lines().rev().take(5).collect();
        return Err(Failure::Operational(format!(
            "{} did not print the report ({status}): {}",
            chromium.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(bytes)
}

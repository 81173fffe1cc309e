//! Printing a report's HTML page to PDF with headless Chromium: finding the
//! browser on this host, and running it on a private copy of the page.
//!
//! The operator's own choice of browser, `$PORTREEVE_CHROMIUM`, is read by
//! the command (a front end's input, like its arguments); it is named here
//! because the error for a host without Chromium tells the operator about it.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::AppError;

/// Environment variable naming the Chromium to print PDFs with; when it is
/// set, the command uses it instead of [`find_chromium`].
pub const CHROMIUM_ENV: &str = "PORTREEVE_CHROMIUM";
/// How long Chromium may take to print one report.
const PRINT_TIMEOUT: Duration = Duration::from_secs(90);

/// Why no PDF was printed. Each is a failure of the host (exit 3), not of
/// the request: the same report prints as HTML.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// Neither Debian's Chromium nor one on `PATH`.
    #[error(
        "cannot print a PDF: Chromium is not installed (no /usr/bin/chromium, none on PATH, \
         ${CHROMIUM_ENV} not set); install it (`apt install chromium`) or use --format html"
    )]
    NotInstalled,
    /// The page could not be handed to the browser, or the browser not run.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The browser ran longer than `PRINT_TIMEOUT` and was killed.
    #[error("{} did not print the report within {} s", chromium.display(), PRINT_TIMEOUT.as_secs())]
    TimedOut {
        /// The browser.
        chromium: PathBuf,
    },
    /// The browser failed, or wrote no PDF.
    #[error("{} did not print the report ({status}): {said}", chromium.display())]
    Failed {
        /// The browser.
        chromium: PathBuf,
        /// How it exited.
        status: std::process::ExitStatus,
        /// The last lines it wrote to stderr.
        said: String,
    },
}

/// The Chromium installed on this host: Debian's `/usr/bin/chromium`, else
/// `chromium` or `chromium-browser` on `PATH`. Looked for before a report
/// is gathered, so a host without one fails at once.
pub fn find_chromium() -> Result<PathBuf, AppError> {
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.is_file() {
        return Ok(debian);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
        .ok_or(AppError::Pdf(PdfError::NotInstalled))
}

/// Prints `html` to PDF with headless Chromium: the page is written to a
/// private temporary directory with the browser's profile beside it, and
/// Chromium is kept off the network (no background fetches, updates or
/// sync; the page itself forbids every load by its Content-Security-Policy).
pub fn print_pdf(chromium: &Path, html: &str) -> Result<Vec<u8>, AppError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| AppError::Pdf(PdfError::Io { what, source })
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
                return Err(AppError::Pdf(PdfError::TimedOut {
                    chromium: chromium.to_path_buf(),
                }));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let said = reader.join().unwrap_or_default();
    let bytes = std::fs::read(&pdf).unwrap_or_default();
    if !status.success() || !bytes.starts_with(b"%PDF-") {
        let tail: Vec<&str> = said.lines().rev().take(5).collect();
        return Err(AppError::Pdf(PdfError::Failed {
            chromium: chromium.to_path_buf(),
            status,
            said: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "browser" that exits without printing: the error says which
    /// program failed and how, and is the host's failure, not the request's.
    #[test]
    fn a_browser_that_prints_nothing_is_a_failure_naming_it() {
        let error = print_pdf(Path::new("/bin/false"), "<p>report</p>").unwrap_err();
        assert!(!error.is_input(), "{error}");
        let text = error.to_string();
        assert!(
            text.starts_with("/bin/false did not print the report (exit status: 1)"),
            "{text}"
        );
    }

    /// A host without Chromium is told the three places looked at and
    /// the two ways out.
    #[test]
    fn no_chromium_names_where_it_looked() {
        let text = AppError::from(PdfError::NotInstalled).to_string();
        assert_eq!(
            text,
            "cannot print a PDF: Chromium is not installed (no /usr/bin/chromium, none on PATH, \
             $PORTREEVE_CHROMIUM not set); install it (`apt install chromium`) or use --format html"
        );
    }
}

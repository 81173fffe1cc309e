//! Diagnostics on standard error through `tracing`: human-readable on a
//! terminal, `<N>`-prefixed lines for the systemd journal, JSON lines for
//! log shippers.

mod journal;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

/// Whether standard error carries journal lines; set once by [`init`].
static TO_JOURNAL: AtomicBool = AtomicBool::new(false);

/// Installs the global subscriber. `RUST_LOG` overrides `-v`/`-q`.
/// `auto` writes for the journal when standard error is systemd's journal
/// stream, else human-readable text on a terminal and JSON lines
/// otherwise.
pub fn init(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let format = match args.log_format {
        LogFormat::Auto if journal::stderr_is_journal() => LogFormat::Journal,
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Human,
        LogFormat::Auto => LogFormat::Json,
        chosen => chosen,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    match format {
        LogFormat::Journal => {
            TO_JOURNAL.store(true, Ordering::Relaxed);
            builder
                .with_ansi(false)
                .event_format(journal::JournalFormat)
                .init();
        }
        LogFormat::Json => builder.json().init(),
        LogFormat::Human | LogFormat::Auto => builder.init(),
    }
}

/// `report`, a failure written to standard error outside tracing, marked
/// as an error line by line when standard error is the journal; as it is
/// otherwise.
pub fn error_report(report: String) -> String {
    if TO_JOURNAL.load(Ordering::Relaxed) {
        journal::error_lines(&report)
    } else {
        report
    }
}

//! Output formats. Each renders to a `String`; [`emit`] writes it.

pub mod checkmk;
pub mod escape;
pub mod json;
pub mod k8s_reach;
pub mod monitoring;
pub mod nagios;
pub mod policy;
pub mod prtg;
pub mod published;
pub mod sarif;
pub mod table;

use std::io::{ErrorKind, Write};
use std::sync::{Mutex, OnceLock};

pub use portreeve_app::counted;

use crate::cli::{ColorChoice, GlobalArgs};

/// How tables look, from the global options: set once by `main` before any
/// command runs, so every table obeys `--color` and `--no-headers` without
/// each command passing them along.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// `--color`.
    pub colour: ColorChoice,
    /// Whether tables print their header line (not `--no-headers`).
    pub headers: bool,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Sets the [`Style`] the global options ask for.
pub fn configure(global: &GlobalArgs) {
    let _ = STYLE.set(Style {
        colour: global.color,
        headers: !global.no_headers,
    });
}

/// The [`Style`] `main` configured (defaults when it did not: `auto`
/// colour, headers shown).
pub fn style() -> Style {
    STYLE.get().copied().unwrap_or(Style {
        colour: ColorChoice::Auto,
        headers: true,
    })
}

/// The first failure to write standard output other than a closed pipe,
/// kept for [`stdout_failure`] so that `main` can exit 3 instead of 0.
static STDOUT_FAILURE: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Records a failed write to standard output. A closed pipe (`portreeve …
/// | head`) is the reader's choice, not an error; anything else (a full
/// disk behind a redirect, `/dev/full`) means the document was lost, and
/// the command must not report success.
fn record(result: std::io::Result<()>) {
    if let Err(e) = result
        && e.kind() != ErrorKind::BrokenPipe
    {
        let mut first = STDOUT_FAILURE.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(e);
    }
}

/// The first failure to write standard output, if any (see [`record`]).
pub fn stdout_failure() -> Option<std::io::Error> {
    STDOUT_FAILURE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// Like [`counted`], for nouns whose plural is not the singular plus `s`.
pub fn counted_as(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// Writes `text` to standard output; a failure is [`record`]ed, not a panic.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    record(out.write_all(text.as_bytes()).and_then(|()| out.flush()));
}

/// Writes a note for the operator to standard error: `portreeve: TEXT`,
/// control characters escaped. A failed write (a full disk behind a
/// redirect, a closed pipe) is ignored rather than a panic.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "portreeve: {}", escape::lines(text));
}

/// Writes a hint or footer for people to standard error, as is (callers
/// escape what they did not write themselves): standard output carries
/// only the data — table rows, the report, or one JSON document — so that
/// scripts never have to strip "run `portreeve confirm` …" or "policy in
/// effect: …" lines from it.
pub fn emit_hint(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes to standard output through a buffer whatever `write` writes, for
/// documents too large to build first; a failure is [`record`]ed.
pub fn emit_stream(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) {
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    record(write(&mut out).and_then(|()| out.flush()));
}

/// Writes `value` to standard output as pretty JSON with a trailing
/// newline, streaming rather than building the document in memory first (an
/// inventory of 20,000 sockets is megabytes of JSON).
pub fn emit_json<T: serde::Serialize>(value: &T) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    record(
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    );
}

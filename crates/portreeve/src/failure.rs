//! How commands fail, and what each failure means for the exit status.

use std::io::{IsTerminal, Write};

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
};
use portreeve_app::AppError;
use portreeve_policy::PolicyErrors;

use crate::output::escape::{lines, lines_with_offsets, one_line};

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status when findings reach `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status for bad usage or input; nothing was changed.
pub const EXIT_INPUT: u8 = 2;
/// Exit status for an operational error.
pub const EXIT_OPERATIONAL: u8 = 3;

/// The exit status of a check that ran: [`EXIT_FINDINGS`] when the most
/// severe finding counted reaches `--fail-on`, else [`EXIT_OK`].
pub fn findings_status(
    fail_on: crate::cli::FailOn,
    highest: Option<portreeve_core::Severity>,
) -> u8 {
    let failed = match fail_on {
        crate::cli::FailOn::Never => false,
        crate::cli::FailOn::AtLeast(threshold) => highest.is_some_and(|h| h >= threshold),
    };
    if failed { EXIT_FINDINGS } else { EXIT_OK }
}

/// A command that could not do its job.
#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong (a file, an argument), or a rule refused
    /// it: exit 2.
    Input(String),
    /// A policy file is invalid: exit 2, rendered with source snippets.
    Policy(PolicyErrors),
    /// The environment failed us (kernel, permissions, I/O): exit 3.
    Operational(String),
}

impl Failure {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Input(_) | Failure::Policy(_) => EXIT_INPUT,
            Failure::Operational(_) => EXIT_OPERATIONAL,
        }
    }

    /// A one-line summary, for formats that must stay one line (Nagios),
    /// control characters escaped.
    pub fn summary(&self) -> String {
        let text = match self {
            Failure::Input(m) | Failure::Operational(m) => m.clone(),
            Failure::Policy(errors) => errors.to_string(),
        };
        one_line(text.lines().next().unwrap_or_default()).into_owned()
    }

    /// Writes the failure to standard error, control characters escaped
    /// (a message may quote a file name, an argument, or a tool's output
    /// of several lines; those lines are kept). A standard error that
    /// cannot be written (a full disk, a closed pipe) loses the message but
    /// not the exit status: this never panics.
    pub fn report(&self) {
        let text = match self {
            Failure::Input(m) | Failure::Operational(m) => {
                format!("portreeve: error: {}\n", lines(m))
            }
            Failure::Policy(errors) => render_policy_errors(errors),
        };
        let text = crate::logging::error_report(text);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Policy(errors) => Failure::Policy(errors),
            e if e.is_input() => Failure::Input(e.to_string()),
            e => Failure::Operational(e.to_string()),
        }
    }
}

impl From<portreeve_inventory::InventoryError> for Failure {
    fn from(e: portreeve_inventory::InventoryError) -> Self {
        Failure::Operational(e.to_string())
    }
}

/// Renders each error as `file:line:column: message` followed by the
/// offending source lines and the hint, coloured only on a terminal. File
/// name, message, hint and source are shown with control characters
/// escaped (a policy line can hold a terminal escape); spans are moved onto
/// the escaped source so the underline stays under the offending text, and
/// the snippet's header gives the same line and column as the first line.
pub fn render_policy_errors(errors: &PolicyErrors) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme);
    let file = one_line(&errors.file);
    let (shown, offsets) = lines_with_offsets(&errors.source);
    let shown = std::sync::Arc::new(shown);
    let moved = |offset: usize| offsets[offset.min(errors.source.len())];
    let mut out = String::new();
    for e in &errors.errors {
        let message = one_line(&e.message);
        out.push_str(&format!(
            "portreeve: error: {file}:{}:{}: {message}\n",
            e.line, e.column
        ));
        let start = moved(e.span.start);
        let span = start..moved(e.span.end).max(start);
        let mut diagnostic = MietteDiagnostic::new(message.clone())
            .with_label(LabeledSpan::at(span.clone(), "here"));
        if let Some(hint) = &e.hint {
            diagnostic = diagnostic.with_help(one_line(hint));
        }
        let report = miette::Report::new(diagnostic).with_source_code(Snippet {
            name: file.to_string(),
            text: shown.clone(),
            primary: span.into(),
            line: (e.line as usize).saturating_sub(1),
            column: (e.column as usize).saturating_sub(1),
        });
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    out.push_str(&format!(
        "portreeve: {} in {file}; nothing was changed\n",
        crate::output::counted(errors.errors.len(), "error"),
    ));
    out
}

/// The escaped policy text as miette's source, naming the file. The
/// snippet's header reports the error's own line and column (1-based
/// characters of the original text) instead of miette's count of bytes in
/// the escaped text.
struct Snippet {
    name: String,
    text: std::sync::Arc<String>,
    /// The error's span in `text`.
    primary: SourceSpan,
    /// 0-based line and character column of the error in the original.
    line: usize,
    column: usize,
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        let (line, column) =
            if *span == self.primary && context_lines_before == 0 && context_lines_after == 0 {
                (self.line, self.column)
            } else {
                (inner.line(), inner.column())
            };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

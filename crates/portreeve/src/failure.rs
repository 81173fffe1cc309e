//! How commands fail, and what each failure means for the exit status.

use std::io::IsTerminal;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use portreeve_app::AppError;
use portreeve_policy::PolicyErrors;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status when findings reach `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status for bad usage or input; nothing was changed.
pub const EXIT_INPUT: u8 = 2;
/// Exit status for an operational error.
pub const EXIT_OPERATIONAL: u8 = 3;

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

    /// A one-line summary, for formats that must stay one line (Nagios).
    pub fn summary(&self) -> String {
        match self {
            Failure::Input(m) | Failure::Operational(m) => {
                m.lines().next().unwrap_or_default().to_string()
            }
            Failure::Policy(errors) => errors
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Writes the failure to standard error.
    pub fn report(&self) {
        match self {
            Failure::Input(m) | Failure::Operational(m) => eprintln!("portreeve: error: {m}"),
            Failure::Policy(errors) => eprint!("{}", render_policy_errors(errors)),
        }
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
/// offending source lines and the hint, coloured only on a terminal.
pub fn render_policy_errors(errors: &PolicyErrors) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme);
    let mut out = String::new();
    for e in &errors.errors {
        out.push_str(&format!(
            "portreeve: error: {}:{}:{}: {}\n",
            errors.file, e.line, e.column, e.message
        ));
        let mut diagnostic = MietteDiagnostic::new(e.message.clone())
            .with_label(LabeledSpan::at(e.span.clone(), "here"));
        if let Some(hint) = &e.hint {
            diagnostic = diagnostic.with_help(hint.clone());
        }
        let report = miette::Report::new(diagnostic)
            .with_source_code(NamedSource::new(&errors.file, errors.source.clone()));
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    out.push_str(&format!(
        "portreeve: {} in {}; nothing was changed\n",
        crate::output::counted(errors.errors.len(), "error"),
        errors.file
    ));
    out
}

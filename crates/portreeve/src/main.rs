//! The `portreeve` command: parses arguments, sets up logging, runs one
//! command and turns its outcome into an exit status. The workflows live
//! in `portreeve-app` (and the agent's runtime in `portreeve-agent`); this
//! crate turns arguments into their requests and their outcomes into
//! tables, JSON and exit statuses.

mod cli;
mod commands;
mod context;
mod failure;
mod logging;
mod output;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.global);
    output::configure(&cli.global);
    match commands::run(&cli) {
        Ok(code) => match output::stdout_failure() {
            None => ExitCode::from(code),
            // As coreutils do: what the command changed stays changed (and
            // recorded), and the lost report is an error.
            Some(e) => fail(failure::Failure::Operational(format!(
                "standard output: {e}: the report was lost; anything the command changed is done and recorded"
            ))),
        },
        Err(failure) => fail(failure),
    }
}

/// Reports `failure` on standard error and returns its exit status.
fn fail(failure: failure::Failure) -> ExitCode {
    failure.report();
    ExitCode::from(failure.exit_code())
}

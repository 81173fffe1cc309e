//! The `portreeve` command: parses arguments, sets up logging, runs one
//! command and turns its outcome into an exit status. Business logic lives
//! in the library crates; this crate only wires them to a terminal.

mod cli;
mod commands;
mod failure;
mod logging;
mod output;
mod paths;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.global);
    match commands::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.report();
            ExitCode::from(failure.exit_code())
        }
    }
}

//! One module per command; each returns the exit status or a [`Failure`].

mod agent;
mod catalogue;
mod change;
mod check;
mod doctor;
mod enforce;
mod flows;
mod generate;
mod grants;
mod inventory;
mod ledger;
mod lifecycle;
mod policy;
mod record;
mod scan;

use std::path::Path;

use portreeve_policy::Policy;

use crate::cli::{Cli, Command, FlowsCommand, ImportCommand, PolicyCommand};
use crate::failure::Failure;
use crate::paths::{self, PolicySource};

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<u8, Failure> {
    let state_dir = paths::state_dir(cli.global.state_dir.as_deref());
    match &cli.command {
        Command::Inventory(args) => inventory::run(args),
        Command::Check(args) => check::run(args, &state_dir),
        Command::Policy(PolicyCommand::Init(args)) => policy::init(args),
        Command::Policy(PolicyCommand::Validate { file }) => policy::validate(file),
        Command::Policy(PolicyCommand::Baseline) => policy::baseline(),
        Command::Render(args) => enforce::render(args, &state_dir),
        Command::Plan(args) => enforce::plan(args, &state_dir),
        Command::Apply(args) => enforce::apply(args, &state_dir),
        Command::Confirm => enforce::confirm(&state_dir),
        Command::Rollback(args) => enforce::rollback(args, &state_dir),
        Command::Generations(args) => enforce::generations(args, &state_dir),
        Command::Watchdog { generation } => enforce::watchdog(*generation, &state_dir),
        Command::Grant(args) => grants::grant(args, &state_dir),
        Command::Revoke(args) => grants::revoke(args, &state_dir),
        Command::Grants(args) => grants::list_grants(args, &state_dir),
        Command::Usage(args) => grants::usage(args, &state_dir),
        Command::Scan(args) => scan::run(args),
        Command::Agent(args) => agent::run(args, &state_dir),
        Command::Drift(args) => agent::drift(args, &state_dir),
        Command::Lifecycle(args) => lifecycle::lifecycle(args, &state_dir),
        Command::Collect(args) => flows::collect(args, &state_dir),
        Command::Flows(FlowsCommand::Decode(args)) => flows::decode(args),
        Command::Import(ImportCommand::Zeek(args)) => flows::import_zeek(args, &state_dir),
        Command::Reclaim(args) => lifecycle::reclaim(args, &state_dir),
        Command::Ledger(command) => ledger::run(command, &state_dir),
        Command::Identity(command) => change::identity(command, &state_dir),
        Command::Propose(args) => change::propose(args, &state_dir),
        Command::Approve(args) => change::approve(args, &state_dir),
        Command::Proposals(args) => change::list(args, &state_dir),
        Command::Catalogue(args) => catalogue::run(args),
        Command::Doctor(args) => doctor::run(args, &state_dir),
        Command::Completions { shell } => generate::completions(*shell),
        Command::Man { output } => generate::man(output.as_deref()),
    }
}

pub use flows::parse_span;

/// Loads the policy a command should use (see [`paths::policy_source`]).
fn load_policy(explicit: Option<&Path>) -> Result<Policy, Failure> {
    match paths::policy_source(explicit) {
        PolicySource::Baseline => Ok(portreeve_policy::baseline()),
        PolicySource::File(path) => read_policy_file(&path),
    }
}

/// Reads and validates a policy file.
fn read_policy_file(path: &Path) -> Result<Policy, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read policy file {}: {e}", path.display())))?;
    portreeve_policy::parse_policy(&path.display().to_string(), &text).map_err(Failure::Policy)
}

/// Today's date in the local time zone, for approval expiry.
fn today() -> jiff::civil::Date {
    jiff::ZonedDateTime::now().date()
}

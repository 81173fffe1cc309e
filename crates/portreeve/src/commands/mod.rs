//! One module per command group; each turns its arguments into a request,
//! calls the use case in `portreeve-app` (or an adapter, for plain reads)
//! and writes the outcome. No command module imports another: what they
//! share lives in `context`, `output` and `failure`.

mod agent;
mod blocks;
mod breakers;
mod captures;
mod catalogue;
mod change;
mod check;
mod cloud;
mod detect;
mod detections;
mod doctor;
mod enforce;
mod evidence;
mod export;
mod flows;
mod forecast;
mod generate;
mod grants;
mod inventory;
mod judged;
mod k8s;
mod k8s_check;
mod ledger;
mod lifecycle;
mod policy;
mod recommend;
mod report;
mod scan;
mod server;
mod simulate;
mod usage;
mod vulns;

use crate::cli::{
    BreakerCommand, Cli, CloudCommand, Command, FlowsCommand, ImportCommand, K8sCommand,
    PolicyCommand,
};
use crate::context::Context;
use crate::failure::Failure;

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<u8, Failure> {
    let ctx = Context::new(&cli.global);
    match &cli.command {
        Command::Inventory(args) => inventory::run(args),
        Command::Check(args) => check::run(args, &ctx),
        Command::Policy(PolicyCommand::Init(args)) => policy::init(args),
        Command::Policy(PolicyCommand::Validate { file, format }) => {
            policy::validate(file, *format)
        }
        Command::Policy(PolicyCommand::Baseline) => policy::baseline(),
        Command::Render(args) => enforce::render(args, &ctx),
        Command::Plan(args) => enforce::plan(args, &ctx),
        Command::Apply(args) => enforce::apply(args, &ctx),
        Command::Simulate(args) => simulate::run(args, &ctx),
        Command::Recommend(args) => recommend::run(args, &ctx),
        Command::Confirm(args) => enforce::confirm(args, &ctx),
        Command::Rollback(args) => enforce::rollback(args, &ctx),
        Command::Generations(args) => enforce::generations(args, &ctx),
        Command::Watchdog { generation } => enforce::watchdog(*generation, &ctx),
        Command::Grant(args) => grants::grant(args, &ctx),
        Command::Revoke(args) => grants::revoke(args, &ctx),
        Command::Grants(args) => grants::list(args, &ctx),
        Command::Usage(args) if args.by_source => usage::by_source(args, &ctx),
        Command::Usage(args) => grants::usage(args.format, &ctx),
        Command::Block(args) => blocks::block(args, &ctx),
        Command::Unblock(args) => blocks::unblock(args, &ctx),
        Command::Blocks(args) => blocks::list(args, &ctx),
        Command::Breaker(BreakerCommand::Trip(args)) => breakers::trip(args, &ctx),
        Command::Breaker(BreakerCommand::Reset(args)) => breakers::reset(args, &ctx),
        Command::Breakers(args) => breakers::list(args, &ctx),
        Command::Detections(args) => detections::list(args, &ctx),
        Command::Captures(args) => captures::list(args, &ctx),
        Command::Scan(args) => scan::run(args),
        Command::Agent(args) => agent::run(args, &ctx),
        Command::Drift(args) => agent::drift(args, &ctx),
        Command::Lifecycle(args) => lifecycle::lifecycle(args, &ctx),
        Command::Collect(args) => flows::collect(args, &ctx),
        Command::Flows(FlowsCommand::Decode(args)) => flows::decode(args),
        Command::Import(ImportCommand::Zeek(args)) => flows::import_zeek(args, &ctx),
        Command::Detect(args) => detect::run(args),
        Command::Reclaim(args) => lifecycle::reclaim(args, &ctx),
        Command::Ledger(command) => ledger::run(command, &ctx),
        Command::Evidence(command) => evidence::run(command, &ctx),
        Command::Report(args) => report::run(args, &ctx),
        Command::Export(args) => export::run(args, &ctx),
        Command::Identity(command) => change::identity(command, &ctx),
        Command::Propose(args) => change::propose(args, &ctx),
        Command::Approve(args) => change::approve(args, &ctx),
        Command::Proposals(args) => change::list(args, &ctx),
        Command::Catalogue(args) => catalogue::run(args),
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Server(args) => server::run(args, &ctx),
        Command::K8s(K8sCommand::Reach(args)) => k8s::reach(args),
        Command::K8s(K8sCommand::Check(args)) => k8s_check::run(args),
        Command::Cloud(CloudCommand::Check(args)) => cloud::check(args),
        Command::Predict(args) => forecast::predict(args, &ctx),
        Command::Anomalies(args) => forecast::anomalies(args, &ctx),
        Command::Vulns(args) => vulns::run(args, &ctx),
        Command::Completions { shell } => generate::completions(*shell),
        Command::Man { output } => generate::man(output.as_deref()),
    }
}

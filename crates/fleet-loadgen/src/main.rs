//! `portreeve-fleet-loadgen`: many simulated hosts against one fleet
//! server, speaking the agent protocol (enroll, then signed pushes), for
//! bench/server_load.sh. It enrolls `--hosts` hosts with one enroll token
//! and stores each one's first, full state; then has each push every
//! `--interval` for `--duration`, open loop, and prints the sustained rate,
//! latency percentiles and errors.

mod client;
mod drive;
mod host;
mod prepare;
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::client::Client;
use crate::drive::Plan;
use crate::host::SimulatedHost;
use crate::report::{Report, Settings};

/// Load generator for the portreeve fleet server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server, http://HOST:PORT.
    #[arg(long)]
    server: String,
    /// An enroll token with at least --hosts uses.
    #[arg(long, env = "PORTREEVE_ENROLL_TOKEN")]
    enroll_token: String,
    /// Simulated hosts.
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// Seconds between one host's pushes.
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Seconds to push for.
    #[arg(long, default_value_t = 90.0)]
    duration: f64,
    /// Seconds at the start of the timed run left out of the figures
    /// (default: one interval).
    #[arg(long)]
    warmup: Option<f64>,
    /// The share of pushes that carry a change (a listener appeared or
    /// went away).
    #[arg(long, default_value_t = 0.02)]
    change_share: f64,
    /// Enrollments and first pushes in flight at once, before the timed
    /// run.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// Seed of the hosts' contents and changes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How to print the figures.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            match args.format {
                Format::Text => print!("{}", report.text()),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serializes")
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portreeve-fleet-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<Report, String> {
    let seconds = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("--{what} {s} is not a positive number of seconds"))
    };
    let interval = seconds("interval", args.interval)?;
    let duration = seconds("duration", args.duration)?;
    let warmup = args.warmup.map_or(Ok(interval), |w| seconds("warmup", w))?;
    if warmup >= duration {
        return Err("--warmup must be shorter than --duration".into());
    }
    if !(0.0..=1.0).contains(&args.change_share) {
        return Err("--change-share must be from 0 to 1".into());
    }
    let client = Arc::new(Client::new(&args.server)?);
    let mut rng = fastrand::Rng::with_seed(args.seed);
    let hosts: Vec<_> = (0..args.hosts)
        .map(|n| SimulatedHost::new(n, &mut rng))
        .collect();
    eprintln!("enrolling {} hosts", args.hosts);
    let started = Instant::now();
    let mut hosts =
        prepare::enroll_all(&client, &args.enroll_token, hosts, args.setup_concurrency).await?;
    let enroll = started.elapsed();
    eprintln!(
        "enrolled in {:.1} s; storing each host's first state",
        enroll.as_secs_f64()
    );
    let started = Instant::now();
    prepare::seed_all(&client, &mut hosts, &mut rng, args.setup_concurrency).await?;
    let seed = started.elapsed();
    eprintln!(
        "stored in {:.1} s; pushing for {:.0} s",
        seed.as_secs_f64(),
        duration.as_secs_f64()
    );
    let plan = Plan {
        interval,
        duration,
        warmup,
        change_share: args.change_share,
        grace: Duration::from_secs(30),
    };
    let run = drive::drive(client, hosts, plan, &mut rng).await;
    Ok(Report::new(
        Settings {
            hosts: args.hosts,
            interval,
            duration,
            warmup,
            enroll,
            seed,
        },
        &run,
    ))
}

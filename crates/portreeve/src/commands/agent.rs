//! `portreeve agent` and `portreeve drift`: the agent's configuration from
//! its file and the command line, run until SIGTERM or SIGINT; and the
//! listener drift it recorded.

use std::path::PathBuf;

use portreeve_agent::Agent;
use portreeve_agent::config::{AgentConfig, parse_interval, valid_server_url};
use portreeve_agent::fleet::identity::FleetDir;
use portreeve_agent::fleet::{EnrollToken, ServerConfig};
use portreeve_store::Store;

use crate::cli::{AgentArgs, DriftArgs, ListFormat};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};

/// The configuration file read when none is named.
const DEFAULT_CONFIG: &str = "/etc/portreeve/agent.toml";

/// The configuration: the file (named, or the default one if it exists),
/// then the command line on top.
fn config(args: &AgentArgs) -> Result<AgentConfig, Failure> {
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        (portreeve_app::running_as_root() && default.is_file()).then_some(default)
    });
    let mut config = match file {
        Some(path) => AgentConfig::read(&path).map_err(|e| Failure::Input(e.to_string()))?,
        None => AgentConfig::default(),
    };
    for (flag, given, into) in [
        ("--interval", &args.interval, &mut config.interval),
        (
            "--lifecycle-interval",
            &args.lifecycle_interval,
            &mut config.lifecycle_interval,
        ),
    ] {
        if let Some(i) = given {
            *into = parse_interval(i).ok_or_else(|| {
                Failure::Input(format!(
                    "{flag} `{i}` is not a duration from 100ms to 1h (e.g. 1s, 500ms)"
                ))
            })?;
        }
    }
    if let Some(m) = &args.metrics {
        config.metrics = match m.as_str() {
            "off" => None,
            addr => Some(addr.parse().map_err(|_| {
                Failure::Input(format!(
                    "--metrics `{addr}` is not ADDRESS:PORT (e.g. 127.0.0.1:9465), or off"
                ))
            })?),
        };
    }
    config.conntrack &= !args.no_conntrack;
    config.all_netns |= args.all_netns;
    config.netflow.extend(&args.netflow);
    config.sflow.extend(&args.sflow);
    server(args, &mut config)?;
    Ok(config)
}

/// `--server`, `--enroll-token` and `--host-name` over `[server]`: a
/// `--server` naming another server than the file's starts from the
/// defaults, not from the other server's settings.
fn server(args: &AgentArgs, config: &mut AgentConfig) -> Result<(), Failure> {
    if let Some(url) = &args.server {
        if !valid_server_url(url) {
            return Err(Failure::Input(format!(
                "--server `{url}` is not an http:// or https:// URL (e.g. http://10.0.0.5:8440)"
            )));
        }
        if config.server.as_ref().is_none_or(|s| s.url != *url) {
            config.server = Some(ServerConfig::new(url));
        }
    }
    let Some(server) = config.server.as_mut() else {
        if args.enroll_token.is_some() || args.host_name.is_some() {
            return Err(Failure::Input(
                "--enroll-token and --host-name need a server: --server URL, or [server] in agent.toml"
                    .into(),
            ));
        }
        return Ok(());
    };
    if let Some(token) = &args.enroll_token {
        server.enroll_token = Some(EnrollToken::Given(token.clone()));
    }
    if let Some(name) = &args.host_name {
        if name.trim().is_empty() {
            return Err(Failure::Input("--host-name must not be empty".into()));
        }
        server.host_name = Some(name.trim().to_string());
    }
    Ok(())
}

pub fn run(args: &AgentArgs, ctx: &Context) -> Result<u8, Failure> {
    let config = config(args)?;
    if let Some(server) = &config.server
        && server.enroll_token.is_none()
        && !FleetDir::new(ctx.state.root()).enrollment().exists()
    {
        return Err(Failure::Input(format!(
            "this host is not enrolled with {} yet: give --enroll-token TOKEN \
             (or enroll_token_file in [server]) for its first start",
            server.url
        )));
    }
    Agent::run(&config, &ctx.state, crate::shutdown::terminated())
        .map_err(|e| Failure::Operational(e.to_string()))?;
    Ok(EXIT_OK)
}

/// `portreeve drift`: the agent's recent drift events, newest first.
pub fn drift(args: &DriftArgs, ctx: &Context) -> Result<u8, Failure> {
    let events = if ctx.state.has_store() {
        ctx.state
            .with_store(|s| s.drift_events(args.since, args.limit))?
    } else {
        Vec::new()
    };
    match args.format {
        ListFormat::Json => emit_listing("portreeve.drift", &[("events", to_value(&events))]),
        ListFormat::Table => emit(&table::rows(
            &[
                "TIME (UTC)",
                "KIND",
                "LISTENER",
                "NETNS",
                "OLD OWNER",
                "NEW OWNER",
            ],
            &events
                .iter()
                .map(|e| {
                    vec![
                        e.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        e.kind.to_string(),
                        format!(
                            "{}/{}",
                            std::net::SocketAddr::new(e.address, e.port),
                            e.protocol
                        ),
                        e.netns.to_string(),
                        e.old_owner.clone().unwrap_or_else(|| "-".into()),
                        e.new_owner.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect::<Vec<_>>(),
            table::stdout_colour(),
        )),
    }
    Ok(EXIT_OK)
}

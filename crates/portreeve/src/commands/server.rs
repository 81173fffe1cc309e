//! `portreeve server`: the fleet API until SIGTERM or Ctrl-C, and
//! `server token create|list|revoke` and `server host list|revoke` on its
//! database (docs/server.md).

use std::future::Future;
use std::path::{Path, PathBuf};

use portreeve_ledger::Draft;
use portreeve_server::config::{ServerConfig, parse_metrics};
use portreeve_server::hosts::{self, HostSummary};
use portreeve_server::ledger::ServerLedger;
use portreeve_server::policy::Governance;
use portreeve_server::token::{self, TokenRecord};
use portreeve_server::{Database, OidcConfig, OidcVerifier, Role, Server, ServerError, rfc3339};

use crate::cli::{
    DatabaseArg, HostCommand, ListFormat, ServerArgs, ServerCommand, TokenCommand, TokenCreateArgs,
};
use crate::context::Context;
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_hint, table};

/// `kind` of `token list --format json`.
const TOKENS_KIND: &str = "portreeve.server-tokens";

/// `kind` of `host list --format json`.
const HOSTS_KIND: &str = "portreeve.server-hosts";

/// The SQLite database's file name in the state directory.
const DEFAULT_DATABASE_FILE: &str = "server.db";

pub fn run(args: &ServerArgs, ctx: &Context) -> Result<u8, Failure> {
    match &args.command {
        None => serve(args, ctx),
        Some(ServerCommand::Token(TokenCommand::Create(create))) => create_token(create, ctx),
        Some(ServerCommand::Token(TokenCommand::List { database, format })) => {
            list_tokens(database, *format, ctx)
        }
        Some(ServerCommand::Token(TokenCommand::Revoke { id, database })) => {
            revoke_token(id, database, ctx)
        }
        Some(ServerCommand::Host(HostCommand::List { database, format })) => {
            list_hosts(database, *format, ctx)
        }
        Some(ServerCommand::Host(HostCommand::Revoke { host, database })) => {
            revoke_host(host, database, ctx)
        }
    }
}

/// The configuration file read when none is named.
const DEFAULT_CONFIG: &str = "/etc/portreeve/server.toml";

/// Serves until SIGTERM or SIGINT. The one line on standard output says
/// where (with `--listen 127.0.0.1:0`, the port the kernel picked); where
/// metrics are served goes to standard error.
fn serve(args: &ServerArgs, ctx: &Context) -> Result<u8, Failure> {
    let config = config(args)?;
    let database = DatabaseArg {
        database: config.database.clone(),
    };
    let url = database_url(&database, ctx)?;
    let state = state_root(ctx)?;
    block_on(async {
        let database = Database::open(&url).await?;
        let governance = Governance::open(&state, config.approvals)?;
        let mut server = Server::bind(config.listen, database, governance)
            .await?
            .with_limits(config.limits);
        if let Some(address) = config.metrics {
            server = server.serve_metrics(address).await?;
        }
        if let Some(oidc) = config.oidc {
            server = server.with_oidc(OidcVerifier::discover(oidc).await?);
        }
        emit(&format!("listening on http://{}\n", server.local_addr()?));
        if let Some(metrics) = server.metrics_addr()? {
            emit_hint(&format!("portreeve: metrics on http://{metrics}/metrics\n"));
        }
        server.run(crate::shutdown::terminated()).await
    })?;
    Ok(EXIT_OK)
}

/// The configuration: the file (named, or the default one if it exists),
/// then the command line's flags over it.
fn config(args: &ServerArgs) -> Result<ServerConfig, Failure> {
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        (portreeve_app::running_as_root() && default.is_file()).then_some(default)
    });
    let mut config = match file {
        Some(path) => ServerConfig::read(&path).map_err(|e| Failure::Input(e.to_string()))?,
        None => ServerConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(url) = &args.database.database {
        config.database = Some(url.clone());
    }
    if let Some(metrics) = &args.metrics {
        config.metrics = parse_metrics(metrics).map_err(|e| Failure::Input(format!("--{e}")))?;
    }
    if let (Some(issuer), Some(audience)) = (&args.oidc_issuer, &args.oidc_audience) {
        config.oidc = Some(OidcConfig::new(issuer, audience));
    }
    Ok(config)
}

/// Prints a new token on standard output, and nothing else there.
fn create_token(args: &TokenCreateArgs, ctx: &Context) -> Result<u8, Failure> {
    let ttl = match args.ttl {
        Some(ttl) if ttl.as_secs() < 1 => {
            return Err(Failure::Input(format!(
                "--ttl {ttl:#}: a token lives at least 1s"
            )));
        }
        ttl => ttl.map(|t| t.as_secs()),
    };
    if args.uses.is_some() && args.role != Role::Enroll {
        return Err(Failure::Input(format!(
            "--uses limits enroll tokens; a token with the role `{}` has no use limit",
            args.role
        )));
    }
    let url = database_url(&args.database, ctx)?;
    let ledger = server_ledger(ctx)?;
    let new = block_on(async {
        let database = Database::open(&url).await?;
        let new = ledger
            .recorded(
                database.pool(),
                async |db| token::create(db, args.role, &args.name, ttl, args.uses).await,
                |new| {
                    let object = match new.record.name.as_str() {
                        "" => format!("token {} (role {})", new.record.id, new.record.role),
                        name => {
                            format!("token {} ({name}, role {})", new.record.id, new.record.role)
                        }
                    };
                    Draft::new("server.token.create", ctx.actor.as_str(), object)
                },
            )
            .await;
        database.close().await;
        new
    })?;
    emit(&format!("{}\n", new.secret));
    let expires = new.record.expires.map_or("never".to_owned(), rfc3339);
    let uses = new
        .record
        .uses_left
        .map_or(String::new(), |n| format!(", enrolls {n} host(s)"));
    emit_hint(&format!(
        "portreeve: token {} (role {}, expires {expires}{uses}); it is not shown again\n",
        new.record.id, new.record.role
    ));
    Ok(EXIT_OK)
}

fn list_tokens(database: &DatabaseArg, format: ListFormat, ctx: &Context) -> Result<u8, Failure> {
    let url = database_url(database, ctx)?;
    let tokens = block_on(async {
        let database = Database::open(&url).await?;
        let tokens = token::list(database.pool()).await;
        database.close().await;
        tokens
    })?;
    match format {
        ListFormat::Json => {
            emit_listing(TOKENS_KIND, &[("tokens", to_value(&tokens_json(&tokens)))])
        }
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        t.role.to_string(),
                        rfc3339(t.created),
                        t.expires.map_or("never".to_owned(), rfc3339),
                        t.revoked.map_or(String::new(), rfc3339),
                        t.uses_left.map_or(String::new(), |n| n.to_string()),
                    ]
                })
                .collect();
            emit(&table::rows(
                &[
                    "ID",
                    "NAME",
                    "ROLE",
                    "CREATED",
                    "EXPIRES",
                    "REVOKED",
                    "USES LEFT",
                ],
                &rows,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

/// The tokens as docs/schema/server-tokens.v1.json describes them: times
/// in RFC 3339, `null` for never.
fn tokens_json(tokens: &[TokenRecord]) -> Vec<serde_json::Value> {
    tokens
        .iter()
        .map(|t| {
            serde_json::json!({
                "id": t.id,
                "name": t.name,
                "role": t.role.name(),
                "created": rfc3339(t.created),
                "expires": t.expires.map(rfc3339),
                "revoked": t.revoked.map(rfc3339),
                "uses_left": t.uses_left,
            })
        })
        .collect()
}

fn revoke_token(id: &str, database: &DatabaseArg, ctx: &Context) -> Result<u8, Failure> {
    let url = database_url(database, ctx)?;
    let ledger = server_ledger(ctx)?;
    let revoked = block_on(async {
        let database = Database::open(&url).await?;
        let revoked = ledger
            .recorded(
                database.pool(),
                async |db| token::revoke(db, id).await,
                |revoked| {
                    let object = format!("token {} ({})", revoked.id, revoked.name);
                    Draft::new("server.token.revoke", ctx.actor.as_str(), object)
                },
            )
            .await;
        database.close().await;
        revoked
    })?;
    emit_hint(&format!(
        "portreeve: token {} revoked at {}\n",
        revoked.id,
        revoked.revoked.map_or(String::new(), rfc3339)
    ));
    Ok(EXIT_OK)
}

/// The hosts as `GET /api/v1/hosts` lists them; as a table, one line a
/// host with its listeners and findings counted.
fn list_hosts(database: &DatabaseArg, format: ListFormat, ctx: &Context) -> Result<u8, Failure> {
    let url = database_url(database, ctx)?;
    let hosts = block_on(async {
        let database = Database::open(&url).await?;
        let hosts = hosts::list(database.pool()).await;
        database.close().await;
        hosts
    })?;
    match format {
        ListFormat::Json => emit_listing(HOSTS_KIND, &[("hosts", to_value(&hosts))]),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = hosts.iter().map(host_row).collect();
            emit(&table::rows(
                &[
                    "ID",
                    "NAME",
                    "ENROLLED",
                    "LAST SEEN",
                    "LISTENERS",
                    "FINDINGS",
                    "STATE",
                ],
                &rows,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

fn host_row(host: &HostSummary) -> Vec<String> {
    let state = match (host.revoked, host.ledger_inconsistent) {
        (true, true) => "revoked, ledger inconsistent",
        (true, false) => "revoked",
        (false, true) => "ledger inconsistent",
        (false, false) => "",
    };
    vec![
        host.id.clone(),
        host.name.clone(),
        host.enrolled_at.clone(),
        host.last_seen.clone().unwrap_or_else(|| "never".to_owned()),
        host.listeners.len().to_string(),
        host.findings_by_severity.total().to_string(),
        state.to_owned(),
    ]
}

fn revoke_host(which: &str, database: &DatabaseArg, ctx: &Context) -> Result<u8, Failure> {
    let url = database_url(database, ctx)?;
    let ledger = server_ledger(ctx)?;
    let (id, name) = block_on(async {
        let database = Database::open(&url).await?;
        let revoked = ledger
            .recorded(
                database.pool(),
                async |db| hosts::revoke(db, which).await,
                |(id, name)| {
                    let object = format!("host {name} ({id})");
                    Draft::new("server.host.revoke", ctx.actor.as_str(), object)
                },
            )
            .await;
        database.close().await;
        revoked
    })?;
    emit_hint(&format!(
        "portreeve: host {name} ({id}) revoked; its pushes are refused from now on\n"
    ));
    Ok(EXIT_OK)
}

/// `--database`, checked before anything is created; without it, the
/// SQLite file in the state directory.
fn database_url(arg: &DatabaseArg, ctx: &Context) -> Result<String, Failure> {
    if let Some(url) = &arg.database {
        portreeve_server::check_url(url).map_err(failure)?;
        return Ok(url.clone());
    }
    Ok(portreeve_server::sqlite_url(
        &state_root(ctx)?.join(DEFAULT_DATABASE_FILE),
    ))
}

/// The state directory: the default database's, and the server's ledger
/// and signing key's (under `server/`), whatever the database. Made 0700
/// if missing, and refused if others could write to it: whoever can
/// replace the database can plant a token of their own, and whoever can
/// replace the key can sign policy.
fn state_root(ctx: &Context) -> Result<PathBuf, Failure> {
    use std::os::unix::fs::DirBuilderExt;
    ctx.state.guard()?;
    let root: &Path = ctx.state.root();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| {
            Failure::Operational(format!(
                "cannot create the state directory {}: {e}",
                root.display()
            ))
        })?;
    Ok(root.to_path_buf())
}

/// The server's ledger, opened before a command changes anything, so that
/// a ledger that cannot be written stops the change rather than leaving it
/// unrecorded.
fn server_ledger(ctx: &Context) -> Result<ServerLedger, Failure> {
    ServerLedger::open(&state_root(ctx)?).map_err(failure)
}

/// Runs `work` on a runtime of its own: only `server` needs one.
fn block_on<T>(work: impl Future<Output = Result<T, ServerError>>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Operational(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(work).map_err(failure)
}

fn failure(e: ServerError) -> Failure {
    if e.is_input() {
        Failure::Input(e.to_string())
    } else {
        Failure::Operational(e.to_string())
    }
}

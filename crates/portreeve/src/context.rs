//! What every command starts from: the state directory, who acts, and the
//! locations the environment may override. Resolved once, here, from the
//! global options and the environment; the use cases never read either.

use std::path::{Path, PathBuf};

use portreeve_app::change::KeyDir;
use portreeve_app::{Actor, StateDir};

use portreeve_app::input;
use portreeve_app::server_client::ServerClient;
use portreeve_ledger::note::VerifierKey;

use crate::cli::{FleetServerArgs, GlobalArgs};
use crate::failure::Failure;

/// Environment variable naming the state directory.
const STATE_DIR_ENV: &str = "PORTREEVE_STATE_DIR";
/// Environment variable naming a candidate policy file.
const POLICY_ENV: &str = "PORTREEVE_POLICY";
/// Environment variable naming the directory of identities' private keys.
const IDENTITY_DIR_ENV: &str = "PORTREEVE_IDENTITY_DIR";
/// Environment variable holding the fleet server's token.
const TOKEN_ENV: &str = "PORTREEVE_TOKEN";

/// A command's surroundings.
pub struct Context {
    /// The state directory.
    pub state: StateDir,
    /// Who acts: `--as`, else the person behind this process.
    pub actor: Actor,
}

impl Context {
    /// The context the global options describe.
    pub fn new(global: &GlobalArgs) -> Context {
        let root = global
            .state_dir
            .clone()
            .or_else(|| env_path(STATE_DIR_ENV))
            .unwrap_or_else(StateDir::default_root);
        Context {
            state: StateDir::open(root),
            actor: global
                .actor
                .as_deref()
                .map_or_else(Actor::of_this_process, Actor::named),
        }
    }
}

/// A path from the environment. Set but empty counts as unset, so
/// `PORTREEVE_POLICY= portreeve check` means "no policy file" rather than an
/// error. (clap's own `env` support rejects empty values.)
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The candidate policy a command was given: `--policy FILE`, else
/// `$PORTREEVE_POLICY`.
pub fn candidate(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| env_path(POLICY_ENV))
}

/// Where this person's identities' private keys are:
/// `$PORTREEVE_IDENTITY_DIR`, else the default.
pub fn key_dir() -> KeyDir {
    KeyDir(env_path(IDENTITY_DIR_ENV).unwrap_or_else(KeyDir::default_path))
}

/// The fleet server `args` name, with its token: `--token-file FILE`, else
/// `$PORTREEVE_TOKEN`; `None` when no `--server` was given. The token is
/// never taken on the command line, where `ps` would show it to everyone.
pub fn fleet_server(args: &FleetServerArgs) -> Result<Option<ServerClient>, Failure> {
    let Some(url) = args.server.as_deref() else {
        return Ok(None);
    };
    let token = match &args.token_file {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| Failure::Input(format!("--token-file {}: {e}", file.display())))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            Failure::Input(format!(
                "--server needs a token: --token-file FILE, or ${TOKEN_ENV}"
            ))
        })?,
    };
    Ok(Some(ServerClient::new(url, &token)?))
}

/// A log or witness key given on the command line: the key text itself, or
/// a file holding it (`-`: standard input).
pub fn verifier_key(text_or_path: &str) -> Result<VerifierKey, Failure> {
    let path = Path::new(text_or_path);
    let text = if input::is_stdin(path) || path.is_file() {
        input::read_text(path, "key file").map_err(|e| Failure::Input(e.to_string()))?
    } else {
        text_or_path.to_string()
    };
    text.trim()
        .parse()
        .map_err(|e| Failure::Input(format!("`{text_or_path}` is not a verifier key: {e}")))
}

//! Where portreeve finds its policy and keeps its state.

use std::path::{Path, PathBuf};

/// Whether portreeve runs with root's privileges, which decides system-wide
/// versus per-user locations.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Environment variable naming the state directory.
const STATE_DIR_ENV: &str = "PORTREEVE_STATE_DIR";
/// Environment variable naming the policy file.
const POLICY_ENV: &str = "PORTREEVE_POLICY";

/// A path from the environment. Set but empty counts as unset, so
/// `PORTREEVE_POLICY= portreeve check` means "no policy file" rather than an
/// error. (clap's own `env` support rejects empty values.)
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The state directory: `--state-dir`, else `$PORTREEVE_STATE_DIR`, else
/// `/var/lib/portreeve` as root, else the XDG data directory
/// (`$XDG_DATA_HOME/portreeve`, usually `~/.local/share/portreeve`). It is
/// created only when something is stored.
pub fn state_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit
        .map(Path::to_path_buf)
        .or_else(|| env_path(STATE_DIR_ENV))
    {
        return dir;
    }
    if running_as_root() {
        return PathBuf::from("/var/lib/portreeve");
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from(".local/share"))
        .join("portreeve")
}

/// The policy file used when none is given: `/etc/portreeve/policy.toml` as
/// root, else `$XDG_CONFIG_HOME/portreeve/policy.toml`.
pub fn default_policy_path() -> PathBuf {
    if running_as_root() {
        PathBuf::from("/etc/portreeve/policy.toml")
    } else {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from(".config"))
            .join("portreeve/policy.toml")
    }
}

/// Which policy a command judges against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A policy file.
    File(PathBuf),
    /// The built-in baseline.
    Baseline,
}

/// The policy to use: the explicit one, else `$PORTREEVE_POLICY`, else the
/// default file if it exists, else the built-in baseline.
pub fn policy_source(explicit: Option<&Path>) -> PolicySource {
    if let Some(p) = explicit
        .map(Path::to_path_buf)
        .or_else(|| env_path(POLICY_ENV))
    {
        return PolicySource::File(p);
    }
    let default = default_policy_path();
    if default.is_file() {
        PolicySource::File(default)
    } else {
        PolicySource::Baseline
    }
}

/// Environment variable naming the directory of identities' private keys.
const IDENTITY_DIR_ENV: &str = "PORTREEVE_IDENTITY_DIR";

/// Where identities' private keys are kept: `$PORTREEVE_IDENTITY_DIR`, else
/// `/etc/portreeve/identities` as root, else
/// `$XDG_CONFIG_HOME/portreeve/identities`. A key is a person's, so it
/// lives with their configuration, not in the shared state directory.
pub fn identity_dir() -> PathBuf {
    if let Some(dir) = env_path(IDENTITY_DIR_ENV) {
        return dir;
    }
    if running_as_root() {
        PathBuf::from("/etc/portreeve/identities")
    } else {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from(".config"))
            .join("portreeve/identities")
    }
}

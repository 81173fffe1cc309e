//! Which policy a use case works from: the policy in effect, or a
//! candidate.
//!
//! The **policy in effect** is the exact text of the policy whose ruleset is
//! live: `apply` stores every policy text it installs under
//! `policies/` by digest, and each generation records the digest of the
//! policy it was compiled from (a rollback keeps the restored generation's).
//! Everything that acts on the firewall on its own — a reclaim, its undo, a
//! grant, the agent — starts from it, never from a file someone may have
//! edited since, so nothing silently reverts an applied policy.
//!
//! A **candidate** is a policy someone names (`--policy FILE`,
//! `$PORTREEVE_POLICY`) to judge or to install. Before anything was applied,
//! the default file (`/etc/portreeve/policy.toml` as root) or else the
//! built-in baseline stands in.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use portreeve_enforce::generations::Status;
use portreeve_ledger::digest;
use portreeve_policy::Policy;

use crate::error::AppError;
use crate::state_dir::StateDir;

/// A policy, parsed, with the text it was parsed from.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Its exact text.
    pub text: String,
    /// `sha256:<hex>` of the text.
    pub digest: String,
    /// Where it came from.
    pub source: PolicySource,
}

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// A file named on the command line or in `$PORTREEVE_POLICY`.
    File(PathBuf),
    /// The default file, used before any policy was applied.
    DefaultFile(PathBuf),
    /// The built-in baseline.
    Baseline,
    /// The policy in effect.
    InEffect(Effect),
    /// An approved proposal's text.
    Proposal(u64),
}

/// How the policy in effect came to be in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The live generation.
    pub generation: u64,
    /// Its status (pending while it awaits confirmation).
    pub status: Status,
    /// Where the text came from when it was applied (a path, `<built-in
    /// baseline>`).
    pub origin: String,
    /// The generation that installed this policy; later ones (reclaims,
    /// their undoing) only changed which of its ports are closed.
    pub applied_in: u64,
    /// When that generation was applied.
    pub applied_at: Timestamp,
    /// Who applied it.
    pub applied_by: String,
    /// The approval it was installed on, if any (`proposal N`).
    pub approval: Option<String>,
}

impl LoadedPolicy {
    /// Parses `text`, naming it `origin` in errors and findings.
    pub fn parse(
        origin: &str,
        text: String,
        source: PolicySource,
    ) -> Result<LoadedPolicy, AppError> {
        let policy = portreeve_policy::parse_policy(origin, &text)?;
        Ok(LoadedPolicy {
            digest: digest(text.as_bytes()),
            policy,
            text,
            source,
        })
    }

    /// The built-in baseline.
    pub fn baseline() -> LoadedPolicy {
        let text = portreeve_policy::BASELINE_TOML.to_string();
        LoadedPolicy {
            policy: portreeve_policy::baseline(),
            digest: digest(text.as_bytes()),
            text,
            source: PolicySource::Baseline,
        }
    }

    /// Reads and parses the policy file at `path` (`-`: standard input,
    /// named `<stdin>`). A file that is not UTF-8 is a located policy error
    /// like any other mistake in it.
    pub fn read(path: &Path, source: PolicySource) -> Result<LoadedPolicy, AppError> {
        let bytes = crate::input::read(path, "policy file")
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let origin = crate::input::origin(path);
        let text = String::from_utf8(bytes).map_err(|e| {
            portreeve_policy::PolicyErrors::not_utf8(&origin, e.as_bytes(), e.utf8_error())
        })?;
        LoadedPolicy::parse(&origin, text, source)
    }

    /// Whether this is the policy in effect.
    pub fn effect(&self) -> Option<&Effect> {
        match &self.source {
            PolicySource::InEffect(e) => Some(e),
            _ => None,
        }
    }
}

/// The policy file read when none is named and nothing is applied:
/// `/etc/portreeve/policy.toml` as root, else
/// `$XDG_CONFIG_HOME/portreeve/policy.toml`.
pub fn default_file() -> PathBuf {
    crate::state_dir::config_path("policy.toml")
}

/// The default file if it exists, else the baseline.
fn default_policy() -> Result<LoadedPolicy, AppError> {
    let file = default_file();
    if file.is_file() {
        LoadedPolicy::read(&file, PolicySource::DefaultFile(file.clone()))
    } else {
        Ok(LoadedPolicy::baseline())
    }
}

/// The policy in effect on this host, if portreeve's ruleset is live and
/// the generation says which policy it came from.
pub fn in_effect(state: &StateDir) -> Result<Option<LoadedPolicy>, AppError> {
    state.guard()?;
    let generations = state.firewall().generations();
    let current = generations.current()?;
    if current == 0 {
        return Ok(None);
    }
    let g = generations.get(current)?;
    // Back along the generations that kept this policy, to the one that
    // installed it.
    let mut installed = g.clone();
    while installed.restores.is_none() && installed.previous != 0 {
        match generations.get(installed.previous) {
            Ok(p) if p.policy_digest.is_some() && p.policy_digest == g.policy_digest => {
                installed = p
            }
            _ => break,
        }
    }
    let effect = Effect {
        generation: g.generation,
        status: g.status,
        origin: g.policy.clone(),
        applied_in: installed.generation,
        applied_at: installed.created_at,
        applied_by: installed.actor,
        approval: g.approval.clone(),
    };
    let text = match (&g.policy_digest, g.restores) {
        (Some(d), _) => texts::read(state, d)?,
        // Removed by `rollback --to 0`: nothing is in effect.
        (None, Some(0)) => return Ok(None),
        // Applied by a portreeve that did not keep texts by digest: the
        // one it remembered as active, if any.
        (None, _) => match std::fs::read_to_string(state.legacy_active_policy()) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AppError::io(state.legacy_active_policy())(e)),
        },
    };
    let origin = g.policy.clone();
    LoadedPolicy::parse(&origin, text, PolicySource::InEffect(effect)).map(Some)
}

/// The policy to judge with (`check`, `lifecycle`, `doctor`, the agent):
/// `explicit` if named, else the policy in effect, else the default file,
/// else the baseline.
pub fn for_judging(state: &StateDir, explicit: Option<&Path>) -> Result<LoadedPolicy, AppError> {
    if let Some(path) = explicit {
        return LoadedPolicy::read(path, PolicySource::File(path.to_path_buf()));
    }
    match in_effect(state)? {
        Some(p) => Ok(p),
        None => default_policy(),
    }
}

/// The policy to install (`apply`, `plan`, `render`): `explicit` if named,
/// else the default file if it exists (the file an operator edits), else
/// the policy in effect (applying it again), else the baseline.
pub fn for_installing(state: &StateDir, explicit: Option<&Path>) -> Result<LoadedPolicy, AppError> {
    if let Some(path) = explicit {
        return LoadedPolicy::read(path, PolicySource::File(path.to_path_buf()));
    }
    let file = default_file();
    if file.is_file() {
        return LoadedPolicy::read(&file, PolicySource::DefaultFile(file.clone()));
    }
    match in_effect(state)? {
        Some(p) => Ok(p),
        None => Ok(LoadedPolicy::baseline()),
    }
}

/// The texts of applied policies, kept by digest so a generation can name
/// its policy and the text can never change under that name.
pub(crate) mod texts {
    use std::path::PathBuf;

    use portreeve_ledger::digest;

    use crate::error::AppError;
    use crate::state_dir::StateDir;

    fn path(state: &StateDir, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        state.policies_dir().join(format!("sha256-{hex}.toml"))
    }

    /// Keeps `text`; returns its digest.
    pub(crate) fn store(state: &StateDir, text: &str) -> Result<String, AppError> {
        let d = digest(text.as_bytes());
        let path = path(state, &d);
        if !path.exists() {
            state.write_private(&path, text.as_bytes())?;
        }
        Ok(d)
    }

    /// The text stored as `digest`, checked against it.
    pub(crate) fn read(state: &StateDir, wanted: &str) -> Result<String, AppError> {
        let path = path(state, wanted);
        let text = std::fs::read_to_string(&path).map_err(AppError::io(&path))?;
        if digest(text.as_bytes()) != wanted {
            return Err(AppError::Integrity(format!(
                "{}: the policy text no longer matches its digest {wanted}: it was changed",
                path.display()
            )));
        }
        Ok(text)
    }
}

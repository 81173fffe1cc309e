//! How outputs name the policy they were made with, so nobody has to guess
//! which one judged or would be installed.

use portreeve_app::policy::{LoadedPolicy, PolicySource};
use portreeve_app::{StateDir, policy};
use serde::Serialize;

/// The first 12 hex digits of a `sha256:` digest, as tables show it.
fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// One line saying which policy `p` is: the policy in effect with its
/// generation, when and by whom it was applied, or a candidate and where
/// it came from. Control characters (in a file name) are escaped.
pub fn describe(p: &LoadedPolicy) -> String {
    let line = match &p.source {
        PolicySource::InEffect(e) => format!(
            "policy in effect: {} (sha256:{}, applied {} by {} in generation {}{}; live generation {}{})",
            e.origin,
            short(&p.digest),
            e.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            e.applied_by,
            e.applied_in,
            e.approval
                .as_deref()
                .map(|a| format!(", approved in {a}"))
                .unwrap_or_default(),
            e.generation,
            if e.status == portreeve_enforce::generations::Status::Pending {
                ", awaiting confirmation"
            } else {
                ""
            },
        ),
        PolicySource::File(path) => format!(
            "policy: {} (sha256:{}, a candidate, not the policy in effect)",
            portreeve_app::input::origin(path),
            short(&p.digest)
        ),
        PolicySource::DefaultFile(path) => format!(
            "policy: {} (sha256:{}; no policy applied yet)",
            path.display(),
            short(&p.digest)
        ),
        PolicySource::Baseline => "policy: <built-in baseline> (no policy applied yet)".into(),
        PolicySource::Proposal(id) => {
            format!("policy: proposal {id} (sha256:{})", short(&p.digest))
        }
    };
    super::escape::one_line(&line).into_owned()
}

/// The footer line of tables that depend on the policy in effect; it says
/// so when nothing is applied (or the state cannot be read).
pub fn in_effect_footer(state: &StateDir) -> String {
    match policy::in_effect(state) {
        Ok(Some(p)) => describe(&p) + "\n",
        Ok(None) => "policy in effect: none (portreeve's ruleset is not applied)\n".into(),
        Err(e) => format!(
            "policy in effect: unknown ({})\n",
            super::escape::one_line(&e.to_string())
        ),
    }
}

/// A policy as JSON documents describe it.
#[derive(Debug, Serialize)]
pub struct PolicyInfo<'a> {
    /// File name, `<built-in baseline>`, or `proposal N`.
    pub origin: &'a str,
    /// `sha256:<hex>` of the exact text.
    pub digest: &'a str,
    /// `in-effect`, `file`, `default-file`, `baseline` or `proposal`.
    pub source: &'static str,
    /// Number of rules.
    pub rules: usize,
    /// Number of zones.
    pub zones: usize,
    /// For the policy in effect: the live generation.
    pub generation: Option<u64>,
    /// For the policy in effect: the generation that installed it.
    pub applied_in: Option<u64>,
    /// For the policy in effect: when it was applied (RFC 3339).
    pub applied_at: Option<String>,
    /// For the policy in effect: who applied it.
    pub applied_by: Option<&'a str>,
    /// For the policy in effect: the approval it was installed on.
    pub approval: Option<&'a str>,
}

impl<'a> PolicyInfo<'a> {
    /// The JSON form of `p`.
    pub fn of(p: &'a LoadedPolicy) -> PolicyInfo<'a> {
        let effect = p.effect();
        PolicyInfo {
            origin: &p.policy.origin,
            digest: &p.digest,
            source: match p.source {
                PolicySource::InEffect(_) => "in-effect",
                PolicySource::File(_) => "file",
                PolicySource::DefaultFile(_) => "default-file",
                PolicySource::Baseline => "baseline",
                PolicySource::Proposal(_) => "proposal",
            },
            rules: p.policy.rules.len(),
            zones: p.policy.zones.len(),
            generation: effect.map(|e| e.generation),
            applied_in: effect.map(|e| e.applied_in),
            applied_at: effect.map(|e| e.applied_at.to_string()),
            applied_by: effect.map(|e| e.applied_by.as_str()),
            approval: effect.and_then(|e| e.approval.as_deref()),
        }
    }
}

//! Two-person change control: identities, proposals, approvals, and the
//! gate every policy change passes.
//!
//! An identity is an Ed25519 key pair: the private key in a person's
//! [`KeyDir`], the public key registered in the state directory and in the
//! ledger. Proposals and approvals are signed by their identity and
//! recorded in the ledger, so an approval cannot be claimed in someone
//! else's name without their private key. On one host root can read every
//! key: the ledger then still shows who registered which identity and when,
//! but cannot stop root from approving with a key it holds. Keep approvers'
//! keys with the approvers.
//!
//! The policy **in effect** judges a proposal (how many approvals, whether
//! the proposer's own counts, how long an approval lasts), never the
//! proposal itself, so a change cannot lower the bar for itself. With
//! `[change_control] required = true` in effect, [`gate`] refuses every
//! installation of a policy that no approved proposal holds, whichever path
//! asks: `apply`, `apply --require-approval`, or the agent.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use portreeve_ledger::note::{KeyKind, KeyName, SignerKey, VerifierKey};
use portreeve_ledger::{Draft, Entry, digest};
use portreeve_policy::ChangeControl;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::error::{AppError, Refusal};
use crate::policy::{self, LoadedPolicy, PolicySource};
use crate::record::record;
use crate::state_dir::{StateDir, write_new_private};

pub mod key_dir;
pub mod simulation;

use simulation::{ProposalSimulation, RecordedUse};

/// Where a person's identities' private keys are kept. A key is a person's,
/// so it lives with their configuration, not in the host's state (see
/// [`key_dir`]).
#[derive(Debug, Clone)]
pub struct KeyDir(pub PathBuf);

impl KeyDir {
    /// Under sudo, the sudo user's `~/.config/portreeve/identities`; else
    /// `$XDG_CONFIG_HOME/portreeve/identities` (usually under `~/.config`),
    /// root's too.
    pub fn default_path() -> PathBuf {
        key_dir::Invoker::of_this_process().default_key_dir(key_dir::passwd)
    }

    fn key_file(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.key"))
    }

    /// Where the private key of `name` is: here, else (with a warning) in
    /// [`key_dir::LEGACY_DIR`], where root's keys were once kept.
    fn find(&self, name: &str) -> Option<PathBuf> {
        self.find_or_in(name, Path::new(key_dir::LEGACY_DIR))
    }

    /// [`Self::find`] with the old directory `legacy`.
    fn find_or_in(&self, name: &str, legacy: &Path) -> Option<PathBuf> {
        let here = self.key_file(name);
        if here.exists() {
            return Some(here);
        }
        let old = legacy.join(format!("{name}.key"));
        if self.0 == legacy || !old.exists() {
            return None;
        }
        tracing::warn!(
            "the private key of {name} is in {}, where keys are no longer kept: \
             move it to {} (readable by its owner only)",
            old.display(),
            here.display()
        );
        Some(old)
    }

    /// Writes the new private key of `name`: as the sudo user when this
    /// directory is in their home (see [`key_dir::Invoker::owner_of`]), so
    /// that the key and the directories made for it are theirs.
    fn write_new(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
        let path = self.key_file(name);
        match key_dir::Invoker::of_this_process().owner_of(&self.0, key_dir::passwd) {
            Some(owner) => key_dir::as_user(owner, || write_new_private(&path, bytes))
                .map_err(AppError::io(&path))??,
            None => write_new_private(&path, bytes)?,
        }
        Ok(path)
    }
}

/// A policy proposal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its number, from 1.
    pub id: u64,
    /// The identity that proposed it.
    pub proposer: String,
    /// The proposer's verifier key.
    pub proposer_key: String,
    /// When.
    pub created: Timestamp,
    /// Why.
    pub reason: String,
    /// The file the text came from.
    pub policy_origin: String,
    /// `sha256:<hex>` of the proposed text.
    pub policy_sha256: String,
    /// Digest of the policy in effect it was proposed against.
    pub base_sha256: Option<String>,
    /// A unified diff from that policy.
    pub diff: String,
    /// The public key of the ledger it was recorded in: it counts on that
    /// host only.
    #[serde(default)]
    pub log_key: Option<String>,
    /// The ledger entry recording it.
    pub ledger_index: u64,
    /// Approvals given so far.
    pub approvals: Vec<Approval>,
    /// What the proposed policy would do to the use recorded when it was
    /// proposed (see [`simulation`]; not signed). `None` when the
    /// simulation could not run, or for a proposal made before proposals
    /// carried one.
    #[serde(default)]
    pub simulation: Option<ProposalSimulation>,
    /// Why the simulation could not run, when it could not.
    #[serde(default)]
    pub simulation_error: Option<String>,
}

/// One approval of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The approving identity.
    pub identity: String,
    /// Its verifier key.
    pub key: String,
    /// Its signature over the approval's attestation.
    pub signature: String,
    /// When it was given (the ledger entry's time).
    pub time: Timestamp,
    /// Why.
    pub reason: Option<String>,
    /// The ledger entry recording it.
    pub ledger_index: u64,
}

/// A registered identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Its name.
    pub name: String,
    /// Its verifier key.
    pub public_key: String,
    /// Whether its private key is in the key directory looked at.
    pub private_key_here: bool,
}

/// A new identity.
#[derive(Debug, Clone)]
pub struct CreatedIdentity {
    /// Where its private key was written.
    pub private_key: PathBuf,
    /// Its verifier key.
    pub public_key: String,
}

/// A proposal with what it takes to install it.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalStatus {
    /// The proposal.
    #[serde(flatten)]
    pub proposal: Proposal,
    /// Whether enough approvals count now.
    pub approved: bool,
    /// The identities whose approvals count now.
    pub valid_approvals: Vec<String>,
}

/// The settings that judge proposals now: the policy in effect's, or the
/// defaults before anything was applied.
pub fn rules_in_effect(state: &StateDir) -> Result<ChangeControl, AppError> {
    Ok(policy::in_effect(state)?
        .map(|p| p.policy.change_control)
        .unwrap_or_default())
}

fn registered_path(state: &StateDir, name: &str) -> PathBuf {
    state.identities_dir().join(format!("{name}.pub"))
}

/// Creates identity `name`: its private key in `keys`, its public key
/// registered here and in the ledger (signed by the new key itself, proof
/// that its owner holds it).
pub fn create_identity(
    state: &StateDir,
    keys: &KeyDir,
    name: &str,
    actor: &Actor,
) -> Result<CreatedIdentity, AppError> {
    let key_name: KeyName = name
        .parse()
        .map_err(|e| AppError::Invalid(format!("identity name `{name}`: {e}")))?;
    if name.contains('/') || name.starts_with('.') {
        return Err(AppError::Invalid(format!(
            "identity name `{name}`: use letters, digits, `-`, `_`, `.` and `@` (no `/`)"
        )));
    }
    let public = registered_path(state, name);
    if public.exists() {
        return Err(AppError::Invalid(format!(
            "identity {name} is already registered ({})",
            public.display()
        )));
    }
    let key = SignerKey::generate(key_name, KeyKind::NoteSigner)
        .map_err(|e| AppError::Invalid(e.to_string()))?;
    let private_key = keys.write_new(name, format!("{key}\n").as_bytes())?;
    let verifier = key.verifier().to_string();
    let mut draft = Draft::new("identity.add", actor.as_str(), format!("identity {name}"));
    draft.after = Some(digest(verifier.as_bytes()));
    let draft = draft.attest(&key);
    state.write_private(&public, format!("{verifier}\n").as_bytes())?;
    record(state, draft, &format!("identity {name} was created"))?;
    Ok(CreatedIdentity {
        private_key,
        public_key: verifier,
    })
}

/// The registered public key of identity `name`.
fn registered(state: &StateDir, name: &str) -> Result<VerifierKey, AppError> {
    let path = registered_path(state, name);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        AppError::Invalid(format!(
            "no identity {name} is registered here; create it with `portreeve identity new {name}`"
        ))
    })?;
    text.trim().parse().map_err(|e| AppError::Io {
        path,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e}")),
    })
}

/// The private key of identity `name` from `keys`, checked against its
/// registration.
fn signer(state: &StateDir, keys: &KeyDir, name: &str) -> Result<SignerKey, AppError> {
    let public = registered(state, name)?;
    let path = keys.find(name).unwrap_or_else(|| keys.key_file(name));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        AppError::Invalid(format!(
            "cannot read the private key of {name} ({}): {e}",
            path.display()
        ))
    })?;
    let key: SignerKey = text
        .trim()
        .parse()
        .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))?;
    if key.verifier() != public {
        return Err(AppError::Refused(Refusal::WrongKey {
            identity: name.to_string(),
            path: path.display().to_string(),
        }));
    }
    Ok(key)
}

/// Every registered identity, by name.
pub fn identities(state: &StateDir, keys: &KeyDir) -> Vec<Identity> {
    let mut rows: Vec<Identity> = std::fs::read_dir(state.identities_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".pub")?
                .to_string();
            Some(Identity {
                public_key: std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                private_key_here: keys.find(&name).is_some(),
                name,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

fn proposal_paths(state: &StateDir, id: u64) -> (PathBuf, PathBuf) {
    let dir = state.proposals_dir();
    (
        dir.join(format!("{id}.json")),
        dir.join(format!("{id}.toml")),
    )
}

/// Proposal `id` and the policy text it proposes, checked against the
/// digest it recorded.
pub fn proposal(state: &StateDir, id: u64) -> Result<(Proposal, String), AppError> {
    let (meta, text) = proposal_paths(state, id);
    let bytes = std::fs::read(&meta)
        .map_err(|_| AppError::Invalid(format!("there is no proposal {id}")))?;
    let proposal: Proposal = serde_json::from_slice(&bytes).map_err(|e| AppError::Io {
        path: meta.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let policy = std::fs::read_to_string(&text).map_err(AppError::io(&text))?;
    if digest(policy.as_bytes()) != proposal.policy_sha256 {
        return Err(AppError::Integrity(format!(
            "{} no longer matches the digest proposal {id} recorded: it was changed",
            text.display()
        )));
    }
    Ok((proposal, policy))
}

fn save_proposal(
    state: &StateDir,
    proposal: &Proposal,
    policy: Option<&str>,
) -> Result<(), AppError> {
    let (meta, text) = proposal_paths(state, proposal.id);
    if let Some(policy) = policy {
        state.write_private(&text, policy.as_bytes())?;
    }
    let json = serde_json::to_string_pretty(proposal).expect("a proposal serialises");
    state.write_private(&meta, json.as_bytes())
}

fn all_proposals(state: &StateDir) -> Result<Vec<Proposal>, AppError> {
    let mut ids: Vec<u64> = std::fs::read_dir(state.proposals_dir())
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| proposal(state, id).map(|(p, _)| p))
        .collect()
}

/// A recorded proposal.
#[derive(Debug, Clone)]
pub struct Proposed {
    /// The proposal.
    pub proposal: Proposal,
    /// The settings that will judge it.
    pub rules: ChangeControl,
}

/// Proposes the policy in the file `path` as identity `name`, with
/// `reason`: checks it, signs it, replays `recorded` against it, stores it
/// with that simulation and records it in the ledger. A simulation that
/// cannot run does not stop the proposal: it carries the reason instead.
pub fn propose(
    state: &StateDir,
    keys: &KeyDir,
    name: &str,
    path: &Path,
    reason: &str,
    recorded: RecordedUse<'_>,
) -> Result<Proposed, AppError> {
    let candidate = LoadedPolicy::read(path, PolicySource::File(path.to_path_buf()))?;
    let key = signer(state, keys, name)?;
    let (simulation, simulation_error) = match simulation::run(state, candidate.clone(), recorded) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let base = policy::in_effect(state)?;
    let rules = base
        .as_ref()
        .map(|p| p.policy.change_control.clone())
        .unwrap_or_default();
    let origin = crate::input::origin(path);
    let diff = similar::TextDiff::from_lines(
        base.as_ref().map_or("", |b| b.text.as_str()),
        &candidate.text,
    )
    .unified_diff()
    .header("policy in effect", &origin)
    .to_string();
    let id = all_proposals(state)?.last().map_or(1, |p| p.id + 1);
    let mut draft = Draft::new("policy.propose", name, format!("proposal {id}"));
    draft.before = base.as_ref().map(|b| b.digest.clone());
    draft.after = Some(candidate.digest.clone());
    draft.reason = Some(reason.to_string());
    let draft = draft.attest(&key);
    let mut proposal = Proposal {
        id,
        proposer: name.to_string(),
        proposer_key: key.verifier().to_string(),
        created: Timestamp::now(),
        reason: reason.to_string(),
        policy_origin: origin,
        policy_sha256: candidate.digest,
        base_sha256: draft.before.clone(),
        diff,
        log_key: Some(state.ledger()?.verifier().to_string()),
        ledger_index: 0,
        approvals: Vec::new(),
        simulation,
        simulation_error,
    };
    save_proposal(state, &proposal, Some(&candidate.text))?;
    let appended = record(state, draft, &format!("proposal {id} was stored"))?;
    proposal.ledger_index = appended.index;
    save_proposal(state, &proposal, None)?;
    Ok(Proposed { proposal, rules })
}

/// An approval given.
#[derive(Debug, Clone)]
pub struct Approved {
    /// The proposal, with the new approval.
    pub proposal: Proposal,
    /// The identities whose approvals count now.
    pub valid: Vec<String>,
    /// The settings that judge it.
    pub rules: ChangeControl,
}

/// Approves proposal `id` as identity `name`.
pub fn approve(
    state: &StateDir,
    keys: &KeyDir,
    name: &str,
    id: u64,
    reason: Option<&str>,
) -> Result<Approved, AppError> {
    let (mut proposal, _) = proposal(state, id)?;
    let key = signer(state, keys, name)?;
    let rules = rules_in_effect(state)?;
    if name == proposal.proposer && !rules.self_approval {
        return Err(AppError::Refused(Refusal::SelfApproval {
            identity: name.to_string(),
            proposal: id,
        }));
    }
    if proposal.approvals.iter().any(|a| a.identity == name) {
        return Err(AppError::Refused(Refusal::AlreadyApproved {
            identity: name.to_string(),
            proposal: id,
        }));
    }
    let mut draft = Draft::new("policy.approve", name, format!("proposal {id}"));
    draft.after = Some(proposal.policy_sha256.clone());
    draft.reason = reason.map(str::to_string);
    let draft = draft.attest(&key);
    let attestation = draft.attestation.clone().expect("attested above");
    let appended = record(
        state,
        draft,
        &format!("{name} approved proposal {}", proposal.id),
    )?;
    proposal.approvals.push(Approval {
        identity: name.to_string(),
        key: attestation.key,
        signature: attestation.signature,
        time: appended.entry.time,
        reason: reason.map(str::to_string),
        ledger_index: appended.index,
    });
    save_proposal(state, &proposal, None)?;
    let valid = valid_approvals(
        &Record::read(state)?,
        &proposal,
        &rules,
        Some(Timestamp::now()),
    );
    Ok(Approved {
        proposal,
        valid,
        rules,
    })
}

/// This host's ledger as change control reads it: proposals and approvals
/// count only where the ledger holds them, so copying proposal files (and
/// identities' public keys) into another state directory proves nothing
/// there.
struct Record {
    entries: Vec<Entry>,
    /// The log's public key, which proposals name.
    log_key: Option<String>,
}

impl Record {
    fn read(state: &StateDir) -> Result<Record, AppError> {
        if !state.has_ledger() {
            return Ok(Record {
                entries: Vec::new(),
                log_key: None,
            });
        }
        let dir = state.ledger_dir();
        let bytes = portreeve_ledger::store::entries_bytes(&dir)?;
        Ok(Record {
            entries: bytes
                .split(|&b| b == b'\n')
                .filter_map(|line| Entry::parse(line).ok())
                .collect(),
            log_key: portreeve_ledger::store::stored_verifier(&dir)
                .ok()
                .map(|k| k.to_string()),
        })
    }

    /// Entry `index`, if the ledger holds it at its place.
    fn entry(&self, index: u64) -> Option<&Entry> {
        self.entries
            .get(usize::try_from(index).ok()?)
            .filter(|e| e.index == index)
    }

    /// Whether `identity` was registered in this ledger with `key`.
    fn registered(&self, identity: &str, key: &VerifierKey) -> bool {
        let object = format!("identity {identity}");
        let after = digest(key.to_string().as_bytes());
        self.entries.iter().any(|e| {
            e.action == "identity.add" && e.object == object && e.after.as_deref() == Some(&after)
        })
    }
}

/// The identities whose approvals of `proposal` count under `rules`, read
/// from this host's ledger: the proposal must be this ledger's (its log
/// key) and recorded in it, and each approval must be a ledger entry
/// approving this proposal's exact policy digest, signed by a key that
/// identity registered in this ledger, one per identity, the proposer's
/// only if self-approval is allowed, and — when `now` is given — no older
/// than `rules.approval_valid_for`.
fn valid_approvals(
    record: &Record,
    proposal: &Proposal,
    rules: &ChangeControl,
    now: Option<Timestamp>,
) -> Vec<String> {
    let object = format!("proposal {}", proposal.id);
    let digest = Some(proposal.policy_sha256.as_str());
    let proposed = record.entry(proposal.ledger_index).filter(|e| {
        e.action == "policy.propose" && e.object == object && e.after.as_deref() == digest
    });
    let Some(proposed) =
        proposed.filter(|_| proposal.log_key.is_some() && proposal.log_key == record.log_key)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for a in &proposal.approvals {
        let Some(e) = record.entry(a.ledger_index) else {
            continue;
        };
        if e.action != "policy.approve" || e.object != object || e.after.as_deref() != digest {
            continue;
        }
        if names.contains(&e.actor) || (e.actor == proposed.actor && !rules.self_approval) {
            continue;
        }
        if now.is_some_and(|now| now.duration_since(e.time) > rules.approval_valid_for) {
            continue;
        }
        if let Ok(Some(key)) = e.verify_attestation()
            && record.registered(&e.actor, &key)
        {
            names.push(e.actor.clone());
        }
    }
    names
}

/// Every proposal with its approval status now.
pub fn proposals(state: &StateDir) -> Result<(Vec<ProposalStatus>, ChangeControl), AppError> {
    let rules = rules_in_effect(state)?;
    let now = Timestamp::now();
    let record = Record::read(state)?;
    let rows = all_proposals(state)?
        .into_iter()
        .map(|proposal| {
            let valid = valid_approvals(&record, &proposal, &rules, Some(now));
            ProposalStatus {
                approved: valid.len() >= rules.approvals as usize,
                valid_approvals: valid,
                proposal,
            }
        })
        .collect();
    Ok((rows, rules))
}

/// What the gate asks of a policy about to be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalNeed {
    /// Whatever the rules say: an approved proposal only if the policy in
    /// effect requires one.
    AsRequired,
    /// An approved proposal in any case (`apply --require-approval`).
    Always,
    /// This approved proposal (`apply --proposal N`).
    Proposal(u64),
    /// A policy the fleet server approved (the agent applying the policy
    /// assigned to the host): where the policy in effect requires
    /// approval, it counts as approved when it carries the policy in
    /// effect's number of approvals from people other than its proposer.
    Fleet(FleetApproval),
}

/// The fleet server's approval of a policy, as the agent received it. The
/// agent has checked the server's signature over it with the key pinned at
/// enrollment before asking the gate; the gate counts its approvers and
/// records it, signature included, as the evidence the host holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetApproval {
    /// The policy's name in the fleet.
    pub name: String,
    /// Its version.
    pub version: u64,
    /// `sha256:<hex>` of the text the approval is of.
    pub sha256: String,
    /// Who proposed it.
    pub proposer: String,
    /// Who approved it.
    pub approvers: Vec<String>,
    /// The server's public key (base64), pinned at enrollment.
    pub server_key: String,
    /// The server's signature (base64) over the approval.
    pub signature: String,
}

impl FleetApproval {
    /// The distinct approvers other than the proposer: those who count.
    fn counted(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for a in &self.approvers {
            if *a != self.proposer && !names.contains(&a.as_str()) {
                names.push(a);
            }
        }
        names
    }

    /// The ledger entry that keeps the approval on this host.
    fn draft(&self) -> Draft {
        let mut draft = Draft::new(
            "policy.fleet-approval",
            "fleet",
            format!("fleet policy {} version {}", self.name, self.version),
        );
        draft.after = Some(self.sha256.clone());
        draft.approval = Some(format!(
            "proposed by {}, approved by {} on the fleet server; server signature {} by key {}",
            self.proposer,
            self.approvers.join(", "),
            self.signature,
            self.server_key
        ));
        draft
    }
}

/// The gate's decision on a fleet-approved `candidate` under `rules`.
fn fleet_gate(
    rules: &ChangeControl,
    candidate: &LoadedPolicy,
    fleet: &FleetApproval,
) -> Result<(), AppError> {
    if candidate.digest != fleet.sha256 {
        return Err(AppError::Refused(Refusal::NotApproved(format!(
            "the fleet approval of {} version {} is of {}, not of this text ({})",
            fleet.name, fleet.version, fleet.sha256, candidate.digest
        ))));
    }
    let counted = fleet.counted().len();
    if rules.required && counted < rules.approvals as usize {
        return Err(AppError::Refused(Refusal::NotApproved(format!(
            "fleet policy {} version {} carries {counted} approvals from people other than its proposer; \
             the policy in effect requires {} ([change_control] required = true)",
            fleet.name, fleet.version, rules.approvals
        ))));
    }
    Ok(())
}

/// [`gate`] for a policy the fleet server approved: installed on the
/// server's approval when it satisfies the local rules, which is recorded
/// in this host's ledger with the server's signature.
fn fleet_install(
    state: &StateDir,
    rules: &ChangeControl,
    candidate: Option<LoadedPolicy>,
    fleet: &FleetApproval,
) -> Result<(LoadedPolicy, Option<u64>), AppError> {
    let candidate =
        candidate.ok_or_else(|| AppError::Invalid("no policy to install was named".into()))?;
    fleet_gate(rules, &candidate, fleet)?;
    record(
        state,
        fleet.draft(),
        &format!(
            "the fleet approval of {} version {} was accepted",
            fleet.name, fleet.version
        ),
    )?;
    Ok((candidate, None))
}

/// The gate between a policy and the firewall: returns the text to install
/// and the approved proposal it rests on, or refuses.
///
/// With `candidate` the policy someone asks to install: under
/// [`ApprovalNeed::AsRequired`] it passes unless the policy in effect has
/// `required = true`; otherwise an approved proposal must hold exactly its
/// text. With [`ApprovalNeed::Proposal`], the proposal's own text is installed.
/// Approvals older than `approval_valid_for` at `now` do not count.
pub fn gate(
    state: &StateDir,
    candidate: Option<LoadedPolicy>,
    ask: ApprovalNeed,
    now: Timestamp,
) -> Result<(LoadedPolicy, Option<u64>), AppError> {
    let in_effect = policy::in_effect(state)?;
    let rules = in_effect
        .as_ref()
        .map(|p| p.policy.change_control.clone())
        .unwrap_or_default();
    let needed = match &ask {
        ApprovalNeed::Fleet(fleet) => return fleet_install(state, &rules, candidate, fleet),
        ApprovalNeed::AsRequired => rules.required,
        ApprovalNeed::Always | ApprovalNeed::Proposal(_) => true,
    };
    if !needed {
        let candidate =
            candidate.ok_or_else(|| AppError::Invalid("no policy to install was named".into()))?;
        return Ok((candidate, None));
    }
    let candidates: Vec<(Proposal, String)> = match (&ask, &candidate) {
        (ApprovalNeed::Proposal(id), _) => vec![proposal(state, *id)?],
        (_, Some(c)) => all_proposals(state)?
            .into_iter()
            .filter(|p| p.policy_sha256 == c.digest)
            .map(|p| proposal(state, p.id))
            .collect::<Result<_, _>>()?,
        (_, None) => Vec::new(),
    };
    let record = Record::read(state)?;
    let base = in_effect.as_ref().map(|p| p.digest.clone());
    let mut best: Option<(usize, u64)> = None;
    let mut stale: Option<u64> = None;
    for (proposal, text) in candidates.iter().rev() {
        // An approval is of a change from one policy to another: once the
        // policy in effect is no longer the one it was proposed against,
        // it no longer says anything (unless it is the policy in effect
        // itself, installed again).
        if proposal.base_sha256 != base && Some(&proposal.policy_sha256) != base.as_ref() {
            stale.get_or_insert(proposal.id);
            continue;
        }
        let valid = valid_approvals(&record, proposal, &rules, Some(now));
        if valid.len() >= rules.approvals as usize {
            // Named as the file it was proposed from, which findings and
            // generations then show.
            let loaded = LoadedPolicy::parse(
                &proposal.policy_origin,
                text.clone(),
                PolicySource::Proposal(proposal.id),
            )?;
            // A candidate named by file keeps its name in findings and
            // generations; its text is the proposal's, byte for byte.
            let loaded = match candidate {
                Some(c) if c.digest == loaded.digest => c,
                _ => loaded,
            };
            return Ok((loaded, Some(proposal.id)));
        }
        if best.is_none_or(|(n, _)| valid.len() > n) {
            best = Some((valid.len(), proposal.id));
        }
    }
    let why = if rules.required && ask == ApprovalNeed::AsRequired {
        " ([change_control] required = true in the policy in effect)"
    } else {
        ""
    };
    Err(AppError::Refused(Refusal::NotApproved(
        match (best, stale) {
            (None, Some(id)) => format!(
                "proposal {id} was proposed against another policy than the one in effect ({}); propose it again{why}",
                base.as_deref().unwrap_or("none")
            ),
            (None, None) => match &candidate {
                Some(c) => format!(
                    "no proposal holds this policy ({}){why}; propose it first: portreeve propose FILE --reason TEXT --identity NAME",
                    c.digest
                ),
                None => "no policy to check for approval".into(),
            },
            (Some((n, id)), _) => format!(
                "proposal {id} has {n} of the {} approvals the policy in effect requires (approvals count for {:#}{}){why}",
                rules.approvals,
                rules.approval_valid_for,
                if rules.self_approval {
                    ""
                } else {
                    ", from identities other than the proposer"
                }
            ),
        },
    )))
}

/// Whether the policy in effect may be installed again by an automatic
/// change (a reclaim, its undo): always, unless it requires approval —
/// then the approval it was installed on must hold its exact text with
/// signatures that verify. (Approvals that expired since still count: they
/// were valid when the policy was installed, and the change only takes
/// ports away from it.)
pub fn check_in_effect(state: &StateDir, in_effect: &LoadedPolicy) -> Result<(), AppError> {
    let rules = &in_effect.policy.change_control;
    if !rules.required {
        return Ok(());
    }
    let refuse = |why: String| {
        Err(AppError::Refused(Refusal::NotApproved(format!(
            "the policy in effect ({}) requires approval, and {why}; automatic changes are refused until an approved policy is applied",
            in_effect.digest
        ))))
    };
    let Some(id) = in_effect
        .effect()
        .and_then(|e| e.approval.as_deref())
        .and_then(|a| a.strip_prefix("proposal "))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return refuse("it was installed without an approved proposal".into());
    };
    let (proposal, _) = match proposal(state, id) {
        Ok(p) => p,
        Err(e) => return refuse(format!("its proposal {id} cannot be read: {e}")),
    };
    if proposal.policy_sha256 != in_effect.digest {
        return refuse(format!(
            "proposal {id} holds another text ({})",
            proposal.policy_sha256
        ));
    }
    let valid = valid_approvals(&Record::read(state)?, &proposal, rules, None);
    if valid.len() < rules.approvals as usize {
        return refuse(format!(
            "proposal {id} has {} of {} valid approvals",
            valid.len(),
            rules.approvals
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_left_in_the_old_directory_are_still_found_but_new_ones_win() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new) = (tmp.path().join("etc"), tmp.path().join("home"));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("alice.key"), "old").unwrap();
        let keys = KeyDir(new.clone());
        assert_eq!(keys.find_or_in("alice", &old), Some(old.join("alice.key")));
        assert_eq!(keys.find_or_in("bob", &old), None);
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("alice.key"), "new").unwrap();
        assert_eq!(keys.find_or_in("alice", &old), Some(new.join("alice.key")));
    }
}

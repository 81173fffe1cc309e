//! Two-person change control: identities, `propose`, `approve`,
//! `proposals`, and what `apply --require-approval` asks of a policy.
//!
//! An identity is an Ed25519 key pair: the private key in the identity
//! directory (see [`paths::identity_dir`]), the public key registered in
//! the state directory and in the ledger. Proposals and approvals are
//! signed by their identity and recorded in the ledger, so an approval
//! cannot be claimed in someone else's name without their private key. On
//! one host, root can read every key: the ledger then still shows who
//! registered which identity and when, but it cannot stop root from
//! approving with a key it holds. Keep approvers' keys with the approvers.

use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use portreeve_ledger::note::{KeyKind, KeyName, SignerKey, VerifierKey};
use portreeve_ledger::{Draft, digest};
use portreeve_policy::{ChangeControl, Policy};
use serde::{Deserialize, Serialize};

use super::ledger::write_private;
use super::policy::write_atomically;
use super::record::record;
use crate::cli::{ApproveArgs, IdentityCommand, ListArgs, ListFormat, ProposeArgs};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, table};
use crate::paths;

/// Where registered identities' public keys are kept.
fn registry_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("identities")
}

fn change_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("change")
}

/// The text of the policy that `apply` last installed.
fn active_policy_path(state_dir: &Path) -> PathBuf {
    change_dir(state_dir).join("active-policy.toml")
}

/// A policy proposal as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Proposal {
    pub(super) id: u64,
    proposer: String,
    proposer_key: String,
    created: Timestamp,
    reason: String,
    policy_origin: String,
    pub(super) policy_sha256: String,
    base_sha256: Option<String>,
    diff: String,
    ledger_index: u64,
    approvals: Vec<Approval>,
}

/// One approval of a proposal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Approval {
    identity: String,
    key: String,
    signature: String,
    time: Timestamp,
    reason: Option<String>,
    ledger_index: u64,
}

pub fn identity(command: &IdentityCommand, state_dir: &Path) -> Result<u8, Failure> {
    match command {
        IdentityCommand::New { name } => new_identity(name, state_dir),
        IdentityCommand::List(args) => list_identities(args, state_dir),
    }
}

fn new_identity(name: &str, state_dir: &Path) -> Result<u8, Failure> {
    let key_name: KeyName = name
        .parse()
        .map_err(|e| Failure::Input(format!("identity name `{name}`: {e}")))?;
    if name.contains('/') || name.starts_with('.') {
        return Err(Failure::Input(format!(
            "identity name `{name}`: use letters, digits, `-`, `_`, `.` and `@` (no `/`)"
        )));
    }
    let public = registry_dir(state_dir).join(format!("{name}.pub"));
    if public.exists() {
        return Err(Failure::Input(format!(
            "identity {name} is already registered ({})",
            public.display()
        )));
    }
    let key = SignerKey::generate(key_name, KeyKind::NoteSigner)
        .map_err(|e| Failure::Operational(e.to_string()))?;
    let private = paths::identity_dir().join(format!("{name}.key"));
    write_private(&private, &format!("{key}\n"))?;
    let verifier = key.verifier().to_string();
    let mut draft = Draft::new(
        "identity.add",
        &super::record::actor(),
        format!("identity {name}"),
    );
    draft.after = Some(digest(verifier.as_bytes()));
    // Signed by the new key itself: proof that its owner holds it.
    let draft = draft.attest(&key);
    write_public(&public, &verifier)?;
    record(state_dir, draft, &format!("identity {name} was created"))?;
    emit(&format!(
        "Created identity {name}.\nPrivate key: {} (keep it with {name} only)\nPublic key:  {verifier}\n",
        private.display()
    ));
    Ok(EXIT_OK)
}

fn write_public(path: &Path, verifier: &str) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| Failure::Operational(format!("cannot create {}: {e}", dir.display())))?;
    }
    fs::write(path, format!("{verifier}\n"))
        .map_err(|e| Failure::Operational(format!("cannot write {}: {e}", path.display())))
}

/// The registered public key of identity `name`.
fn registered(state_dir: &Path, name: &str) -> Result<VerifierKey, Failure> {
    let path = registry_dir(state_dir).join(format!("{name}.pub"));
    let text = fs::read_to_string(&path).map_err(|_| {
        Failure::Input(format!(
            "no identity {name} is registered here; create it with `portreeve identity new {name}`"
        ))
    })?;
    text.trim()
        .parse()
        .map_err(|e| Failure::Operational(format!("{}: {e}", path.display())))
}

/// The private key of identity `name`, checked against its registration.
fn signer(state_dir: &Path, name: &str) -> Result<SignerKey, Failure> {
    let public = registered(state_dir, name)?;
    let path = paths::identity_dir().join(format!("{name}.key"));
    let text = fs::read_to_string(&path).map_err(|e| {
        Failure::Input(format!(
            "cannot read the private key of {name} ({}): {e}",
            path.display()
        ))
    })?;
    let key: SignerKey = text
        .trim()
        .parse()
        .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
    if key.verifier() != public {
        return Err(Failure::Input(format!(
            "{} is not the key registered for {name}",
            path.display()
        )));
    }
    Ok(key)
}

#[derive(Serialize)]
struct IdentityRow {
    name: String,
    public_key: String,
    private_key_here: bool,
}

fn list_identities(args: &ListArgs, state_dir: &Path) -> Result<u8, Failure> {
    let mut rows = Vec::new();
    if let Ok(dir) = fs::read_dir(registry_dir(state_dir)) {
        for entry in dir.flatten() {
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pub"))
            else {
                continue;
            };
            rows.push(IdentityRow {
                name: name.to_string(),
                public_key: fs::read_to_string(&path)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                private_key_here: paths::identity_dir().join(format!("{name}.key")).exists(),
            });
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    match args.format {
        ListFormat::Json => {
            emit_listing("portreeve.identities", &[("identities", to_value(&rows))])
        }
        ListFormat::Table => emit(&table::rows(
            &["NAME", "PRIVATE KEY HERE", "PUBLIC KEY"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        if r.private_key_here { "yes" } else { "no" }.into(),
                        r.public_key.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
            table::stdout_colour(),
        )),
    }
    Ok(EXIT_OK)
}

/// The active policy's text and change-control settings (the defaults
/// when nothing was applied yet).
fn active(state_dir: &Path) -> Result<(Option<String>, ChangeControl), Failure> {
    let path = active_policy_path(state_dir);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let policy = portreeve_policy::parse_policy(&path.display().to_string(), &text)
                .map_err(Failure::Policy)?;
            Ok((Some(text), policy.change_control))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, ChangeControl::default())),
        Err(e) => Err(Failure::Operational(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Remembers `text` as the active policy, after `apply` installed it.
pub(super) fn set_active(state_dir: &Path, text: &str) -> Result<(), Failure> {
    let path = active_policy_path(state_dir);
    fs::create_dir_all(change_dir(state_dir))
        .and_then(|()| write_atomically(&path, text))
        .map_err(|e| Failure::Operational(format!("cannot write {}: {e}", path.display())))
}

fn proposal_paths(state_dir: &Path, id: u64) -> (PathBuf, PathBuf) {
    let dir = change_dir(state_dir).join("proposals");
    (
        dir.join(format!("{id}.json")),
        dir.join(format!("{id}.toml")),
    )
}

/// Proposal `id` and the policy text it proposes.
pub(super) fn load_proposal(state_dir: &Path, id: u64) -> Result<(Proposal, String), Failure> {
    let (meta, text) = proposal_paths(state_dir, id);
    let bytes =
        fs::read(&meta).map_err(|_| Failure::Input(format!("there is no proposal {id}")))?;
    let proposal: Proposal = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::Operational(format!("{}: {e}", meta.display())))?;
    let policy = fs::read_to_string(&text)
        .map_err(|e| Failure::Operational(format!("{}: {e}", text.display())))?;
    if digest(policy.as_bytes()) != proposal.policy_sha256 {
        return Err(Failure::Operational(format!(
            "{} no longer matches the digest proposal {id} recorded: it was changed",
            text.display()
        )));
    }
    Ok((proposal, policy))
}

fn save_proposal(
    state_dir: &Path,
    proposal: &Proposal,
    policy: Option<&str>,
) -> Result<(), Failure> {
    let (meta, text) = proposal_paths(state_dir, proposal.id);
    let write = || -> std::io::Result<()> {
        fs::create_dir_all(meta.parent().expect("proposal paths have a parent"))?;
        if let Some(policy) = policy {
            write_atomically(&text, policy)?;
        }
        let json = serde_json::to_string_pretty(proposal).expect("a proposal serialises");
        write_atomically(&meta, &json)
    };
    write().map_err(|e| Failure::Operational(format!("cannot store proposal {}: {e}", proposal.id)))
}

fn all_proposals(state_dir: &Path) -> Result<Vec<Proposal>, Failure> {
    let mut ids: Vec<u64> = fs::read_dir(change_dir(state_dir).join("proposals"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| load_proposal(state_dir, id).map(|(p, _)| p))
        .collect()
}

pub fn propose(args: &ProposeArgs, state_dir: &Path) -> Result<u8, Failure> {
    let text = fs::read_to_string(&args.policy).map_err(|e| {
        Failure::Input(format!(
            "cannot read policy file {}: {e}",
            args.policy.display()
        ))
    })?;
    let origin = args.policy.display().to_string();
    portreeve_policy::parse_policy(&origin, &text).map_err(Failure::Policy)?;
    let name = &args.identity.identity;
    let key = signer(state_dir, name)?;
    let (base, rules) = active(state_dir)?;
    let diff = similar::TextDiff::from_lines(base.as_deref().unwrap_or(""), &text)
        .unified_diff()
        .header("active policy", &origin)
        .to_string();
    let id = all_proposals(state_dir)?.last().map_or(1, |p| p.id + 1);
    let policy_sha256 = digest(text.as_bytes());
    let mut draft = Draft::new("policy.propose", name, format!("proposal {id}"));
    draft.before = base.as_deref().map(|b| digest(b.as_bytes()));
    draft.after = Some(policy_sha256.clone());
    draft.reason = Some(args.reason.clone());
    let draft = draft.attest(&key);
    let mut proposal = Proposal {
        id,
        proposer: name.clone(),
        proposer_key: key.verifier().to_string(),
        created: Timestamp::now(),
        reason: args.reason.clone(),
        policy_origin: origin,
        policy_sha256,
        base_sha256: draft.before.clone(),
        diff: diff.clone(),
        ledger_index: 0,
        approvals: Vec::new(),
    };
    save_proposal(state_dir, &proposal, Some(&text))?;
    let appended = record(state_dir, draft, &format!("proposal {id} was stored"))?;
    proposal.ledger_index = appended.index;
    save_proposal(state_dir, &proposal, None)?;
    emit(&format!(
        "{diff}\nProposal {id} recorded ({}, ledger entry {}).\nIt needs {} from {} before `portreeve apply --proposal {id}`: portreeve approve {id} --identity NAME\n",
        proposal.policy_sha256,
        appended.index,
        crate::output::counted(rules.approvals as usize, "approval"),
        if rules.self_approval {
            "any identity".to_string()
        } else {
            format!("identities other than {name}")
        },
    ));
    Ok(EXIT_OK)
}

pub fn approve(args: &ApproveArgs, state_dir: &Path) -> Result<u8, Failure> {
    let (mut proposal, _) = load_proposal(state_dir, args.id)?;
    let name = &args.identity.identity;
    let key = signer(state_dir, name)?;
    let (_, rules) = active(state_dir)?;
    if name == &proposal.proposer && !rules.self_approval {
        return Err(Failure::Input(format!(
            "two-person rule: {name} proposed proposal {} and cannot approve it; another identity must",
            proposal.id
        )));
    }
    if proposal.approvals.iter().any(|a| &a.identity == name) {
        return Err(Failure::Input(format!(
            "{name} has already approved proposal {}",
            proposal.id
        )));
    }
    let mut draft = Draft::new("policy.approve", name, format!("proposal {}", proposal.id));
    draft.after = Some(proposal.policy_sha256.clone());
    draft.reason = args.reason.clone();
    let draft = draft.attest(&key);
    let attestation = draft.attestation.clone().expect("attested above");
    let appended = record(
        state_dir,
        draft,
        &format!("{name} approved proposal {}", proposal.id),
    )?;
    proposal.approvals.push(Approval {
        identity: name.clone(),
        key: attestation.key,
        signature: attestation.signature,
        time: appended.entry.time,
        reason: args.reason.clone(),
        ledger_index: appended.index,
    });
    save_proposal(state_dir, &proposal, None)?;
    let valid = valid_approvals(state_dir, &proposal, &rules);
    emit(&format!(
        "{name} approved proposal {} (ledger entry {}): {} of {} needed.\n",
        proposal.id,
        appended.index,
        valid.len(),
        rules.approvals
    ));
    Ok(EXIT_OK)
}

/// The identities whose approvals of `proposal` count under `rules`: a
/// valid signature by the identity's registered key over this proposal's
/// policy digest, one per identity, the proposer only if self-approval is
/// allowed.
fn valid_approvals(state_dir: &Path, proposal: &Proposal, rules: &ChangeControl) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for a in &proposal.approvals {
        if names.contains(&a.identity) || (a.identity == proposal.proposer && !rules.self_approval)
        {
            continue;
        }
        let Ok(key) = registered(state_dir, &a.identity) else {
            continue;
        };
        if key.to_string() != a.key {
            continue;
        }
        let mut draft = Draft::new(
            "policy.approve",
            &a.identity,
            format!("proposal {}", proposal.id),
        );
        draft.after = Some(proposal.policy_sha256.clone());
        draft.attestation = Some(portreeve_ledger::entry::Attestation {
            key: a.key.clone(),
            signature: a.signature.clone(),
        });
        if draft
            .into_entry(0, "", a.time)
            .verify_attestation()
            .is_ok_and(|k| k.is_some())
        {
            names.push(a.identity.clone());
        }
    }
    names
}

/// The policy `apply --require-approval` may install: proposal `id`'s, or
/// else the approved proposal holding exactly `text`. Returns the proposal
/// and its policy text.
pub(super) fn approved(
    state_dir: &Path,
    id: Option<u64>,
    text: Option<&str>,
) -> Result<(Proposal, String), Failure> {
    let (_, rules) = active(state_dir)?;
    let candidates: Vec<(Proposal, String)> = match (id, text) {
        (Some(id), _) => vec![load_proposal(state_dir, id)?],
        (None, Some(text)) => {
            let wanted = digest(text.as_bytes());
            all_proposals(state_dir)?
                .into_iter()
                .filter(|p| p.policy_sha256 == wanted)
                .map(|p| load_proposal(state_dir, p.id))
                .collect::<Result<_, _>>()?
        }
        (None, None) => Vec::new(),
    };
    let mut best: Option<(usize, u64)> = None;
    for (proposal, policy) in candidates.iter().rev() {
        let valid = valid_approvals(state_dir, proposal, &rules);
        if valid.len() >= rules.approvals as usize {
            return Ok((proposal.clone(), policy.clone()));
        }
        if best.is_none_or(|(n, _)| valid.len() > n) {
            best = Some((valid.len(), proposal.id));
        }
    }
    Err(Failure::Input(match best {
        None => match text {
            Some(t) => format!(
                "no proposal holds this policy ({}); propose it first: portreeve propose FILE --reason TEXT --identity NAME",
                digest(t.as_bytes())
            ),
            None => "no policy to check for approval".into(),
        },
        Some((n, id)) => format!(
            "proposal {id} has {n} of the {} approvals the active policy requires{}",
            rules.approvals,
            if rules.self_approval {
                ""
            } else {
                " (from identities other than its proposer)"
            }
        ),
    }))
}

#[derive(Serialize)]
struct ProposalRow<'a> {
    #[serde(flatten)]
    proposal: &'a Proposal,
    approved: bool,
    valid_approvals: Vec<String>,
}

pub fn list(args: &ListArgs, state_dir: &Path) -> Result<u8, Failure> {
    let proposals = all_proposals(state_dir)?;
    let (_, rules) = active(state_dir)?;
    let rows: Vec<ProposalRow> = proposals
        .iter()
        .map(|p| {
            let valid = valid_approvals(state_dir, p, &rules);
            ProposalRow {
                proposal: p,
                approved: valid.len() >= rules.approvals as usize,
                valid_approvals: valid,
            }
        })
        .collect();
    match args.format {
        ListFormat::Json => emit_listing("portreeve.proposals", &[("proposals", to_value(&rows))]),
        ListFormat::Table => emit(&table::rows(
            &[
                "ID",
                "CREATED (UTC)",
                "BY",
                "STATUS",
                "APPROVED BY",
                "POLICY",
                "REASON",
            ],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.proposal.id.to_string(),
                        r.proposal.created.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        r.proposal.proposer.clone(),
                        if r.approved {
                            "approved".into()
                        } else {
                            format!("{}/{} approvals", r.valid_approvals.len(), rules.approvals)
                        },
                        if r.valid_approvals.is_empty() {
                            "-".into()
                        } else {
                            r.valid_approvals.join(", ")
                        },
                        r.proposal.policy_origin.clone(),
                        r.proposal.reason.clone(),
                    ]
                })
                .collect::<Vec<_>>(),
            table::stdout_colour(),
        )),
    }
    Ok(EXIT_OK)
}

/// The policy an approved proposal holds, parsed.
pub(super) fn parse_proposed(proposal: &Proposal, text: &str) -> Result<Policy, Failure> {
    portreeve_policy::parse_policy(&format!("proposal {}", proposal.id), text)
        .map_err(Failure::Policy)
}

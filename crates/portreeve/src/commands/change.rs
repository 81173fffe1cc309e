//! Two-person change control: `identity new|list`, `propose`, `approve`
//! and `proposals`.

use std::path::Path;

use portreeve_app::change::simulation::{ProposalSimulation, RecordedUse};
use portreeve_app::change::{self, Proposal};
use portreeve_app::simulate::PairChange;

use crate::cli::{ApproveArgs, IdentityCommand, ListArgs, ListFormat, ProposeArgs};
use crate::context::{self, Context};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{APPROVAL_KIND, IDENTITY_KIND, PROPOSAL_KIND, emit_listing, to_value};
use crate::output::policy::in_effect_footer;
use crate::output::{counted, counted_as, emit, emit_hint, note, table};

pub fn identity(command: &IdentityCommand, ctx: &Context) -> Result<u8, Failure> {
    let keys = context::key_dir();
    match command {
        IdentityCommand::New { name, format } => {
            let created = change::create_identity(&ctx.state, &keys, name, &ctx.actor)?;
            match format {
                ListFormat::Table => emit(&format!(
                    "Created identity {name}.\nPrivate key: {} (keep it with {name} only)\nPublic key:  {}\n",
                    created.private_key.display(),
                    created.public_key
                )),
                ListFormat::Json => emit_listing(
                    IDENTITY_KIND,
                    &[
                        ("name", to_value(name)),
                        ("public_key", to_value(&created.public_key)),
                        ("private_key", to_value(&created.private_key)),
                    ],
                ),
            }
        }
        IdentityCommand::List(args) => {
            let rows = change::identities(&ctx.state, &keys);
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
        }
    }
    Ok(EXIT_OK)
}

pub fn propose(args: &ProposeArgs, ctx: &Context) -> Result<u8, Failure> {
    let stdin = Path::new("-");
    if args.policy == stdin && args.usage.as_deref() == Some(stdin) {
        // The policy would take all of it, leaving no use to replay.
        return Err(Failure::Input(
            "the policy and --usage cannot both be read from standard input".into(),
        ));
    }
    let name = &args.identity.identity;
    let proposed = change::propose(
        &ctx.state,
        &context::key_dir(),
        name,
        &args.policy,
        &args.reason,
        RecordedUse {
            since: args.since,
            usage: args.usage.as_deref(),
        },
    )?;
    let p = &proposed.proposal;
    let rules = &proposed.rules;
    if args.format == ListFormat::Json {
        emit_listing(
            PROPOSAL_KIND,
            &[
                ("proposal", to_value(p)),
                ("approvals_needed", to_value(&rules.approvals)),
                ("self_approval", to_value(&rules.self_approval)),
            ],
        );
    } else {
        emit(&format!(
            "{}\nProposal {} recorded ({}, ledger entry {}).\n{}\n",
            crate::output::escape::lines(&p.diff),
            p.id,
            p.policy_sha256,
            p.ledger_index,
            crate::output::escape::lines(&simulated(p)),
        ));
    }
    emit_hint(&format!(
        "It needs {} from {} before `portreeve apply --proposal {}`: portreeve approve {} --identity NAME\n",
        counted(rules.approvals as usize, "approval"),
        if rules.self_approval {
            "any identity".to_string()
        } else {
            format!("identities other than {name}")
        },
        p.id,
        p.id,
    ));
    Ok(EXIT_OK)
}

pub fn approve(args: &ApproveArgs, ctx: &Context) -> Result<u8, Failure> {
    let name = &args.identity.identity;
    // What the change would break, before the approval is given.
    let (proposal, _) = change::proposal(&ctx.state, args.id)?;
    note(&breakage(&proposal));
    let approved = change::approve(
        &ctx.state,
        &context::key_dir(),
        name,
        args.id,
        args.reason.as_deref(),
    )?;
    let last = approved
        .proposal
        .approvals
        .last()
        .expect("an approval was just added");
    match args.format {
        ListFormat::Table => emit(&format!(
            "{name} approved proposal {} (ledger entry {}): {} of {} needed.\n",
            approved.proposal.id,
            last.ledger_index,
            approved.valid.len(),
            approved.rules.approvals
        )),
        ListFormat::Json => emit_listing(
            APPROVAL_KIND,
            &[
                ("proposal", to_value(&approved.proposal)),
                ("ledger_index", to_value(&last.ledger_index)),
                ("valid_approvals", to_value(&approved.valid)),
                ("approvals_needed", to_value(&approved.rules.approvals)),
                (
                    "approved",
                    to_value(&(approved.valid.len() >= approved.rules.approvals as usize)),
                ),
            ],
        ),
    }
    Ok(EXIT_OK)
}

pub fn list(args: &ListArgs, ctx: &Context) -> Result<u8, Failure> {
    let (rows, rules) = change::proposals(&ctx.state)?;
    match args.format {
        ListFormat::Json => emit_listing("portreeve.proposals", &[("proposals", to_value(&rows))]),
        ListFormat::Table => {
            emit(&table::rows(
                &[
                    "ID",
                    "CREATED (UTC)",
                    "BY",
                    "STATUS",
                    "APPROVED BY",
                    "WOULD BREAK",
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
                            match &r.proposal.simulation {
                                Some(s) => counted_as(s.blocked_total(), "used pair", "used pairs"),
                                None => "not simulated".into(),
                            },
                            r.proposal.policy_origin.clone(),
                            r.proposal.reason.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
                table::stdout_colour(),
            ));
            let breaking = rows.iter().filter(|r| {
                r.proposal
                    .simulation
                    .as_ref()
                    .is_some_and(|s| s.blocked_total() > 0)
            });
            for r in breaking {
                let line = breakage(&r.proposal);
                emit(&format!("{}\n", crate::output::escape::one_line(&line)));
            }
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

/// How many listed pairs a line about a proposal names before "and N more".
const NAMED: usize = 3;

/// One line on what proposal `p` would break: the used pairs it blocks,
/// the first few named; or why it was not simulated.
fn breakage(p: &Proposal) -> String {
    let Some(s) = &p.simulation else {
        return format!("proposal {} was not simulated: {}", p.id, unsimulated(p));
    };
    let total = s.blocked_total();
    if total == 0 {
        return format!("proposal {} would break no used pair{}", p.id, window(s));
    }
    let named: Vec<String> = s.blocked.iter().take(NAMED).map(pair).collect();
    let more = total - named.len();
    format!(
        "proposal {} would break {}{}: {}{}",
        p.id,
        counted_as(total, "used pair", "used pairs"),
        window(s),
        named.join(", "),
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    )
}

/// What `propose` says of its simulation: what breaks, and the rest counted.
fn simulated(p: &Proposal) -> String {
    let Some(s) = &p.simulation else {
        return breakage(p);
    };
    format!(
        "{}\nIt would newly open {}, clear {} and raise {}.",
        breakage(p),
        counted_as(s.opened_total(), "used pair", "used pairs"),
        counted(s.findings_cleared.len(), "finding"),
        counted(s.findings_raised.len(), "finding"),
    )
}

/// Why a proposal carries no simulation.
fn unsimulated(p: &Proposal) -> String {
    match &p.simulation_error {
        Some(e) => e.clone(),
        None => "it was proposed before proposals carried a simulation".into(),
    }
}

/// ` (of N recorded pairs used since T)`.
fn window(s: &ProposalSimulation) -> String {
    format!(
        " (of {} used since {})",
        counted_as(s.pairs, "recorded pair", "recorded pairs"),
        s.since.strftime("%Y-%m-%d %H:%M UTC")
    )
}

/// `SOURCE -> PORT/PROTO (N connections, VERDICT)`.
fn pair(u: &PairChange) -> String {
    format!(
        "{} -> {}/{} ({}, {})",
        u.source,
        u.port,
        u.protocol,
        counted(
            usize::try_from(u.connections).unwrap_or(usize::MAX),
            "connection"
        ),
        u.verdict
    )
}

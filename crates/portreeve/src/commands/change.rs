//! Two-person change control: `identity new|list`, `propose`, `approve`
//! and `proposals`.

use portreeve_app::change;

use crate::cli::{ApproveArgs, IdentityCommand, ListArgs, ListFormat, ProposeArgs};
use crate::context::{self, Context};
use crate::failure::{EXIT_OK, Failure};
use crate::output::json::{APPROVAL_KIND, IDENTITY_KIND, PROPOSAL_KIND, emit_listing, to_value};
use crate::output::policy::in_effect_footer;
use crate::output::{counted, emit, emit_hint, table};

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
    let name = &args.identity.identity;
    let proposed = change::propose(
        &ctx.state,
        &context::key_dir(),
        name,
        &args.policy,
        &args.reason,
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
            "{}\nProposal {} recorded ({}, ledger entry {}).\n",
            crate::output::escape::lines(&p.diff),
            p.id,
            p.policy_sha256,
            p.ledger_index,
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
            ));
            emit_hint(&in_effect_footer(&ctx.state));
        }
    }
    Ok(EXIT_OK)
}

//! `portreeve evidence …`: write the pack an auditor verifies offline, and
//! verify one.

use std::path::Path;

use portreeve_app::evidence::{self, Exported, Scope, Verification};
use serde::Serialize;

use crate::cli::{EvidenceCommand, EvidenceExportArgs, EvidenceVerifyArgs, ListFormat};
use crate::context::{Context, fleet_server, verifier_key};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::escape::{lines, one_line};
use crate::output::json::{emit_listing, to_value};
use crate::output::{counted, counted_as, emit};

/// Runs an `evidence` subcommand.
pub fn run(command: &EvidenceCommand, ctx: &Context) -> Result<u8, Failure> {
    match command {
        EvidenceCommand::Export(args) => export(args, ctx),
        EvidenceCommand::Verify(args) => verify(args),
    }
}

fn export(args: &EvidenceExportArgs, ctx: &Context) -> Result<u8, Failure> {
    let exported = match fleet_server(&args.fleet)? {
        Some(client) => {
            let key = args.key.as_deref().map(verifier_key).transpose()?;
            evidence::export_fleet(&client, &args.output, key.as_ref())?
        }
        None => evidence::export(&ctx.state, &args.output)?,
    };
    match args.format {
        ListFormat::Json => emit_listing(
            "portreeve.evidence-export",
            &[
                ("dir", to_value(&exported.dir)),
                ("files", to_value(&exported.files)),
                ("pack", to_value(&exported.description)),
            ],
        ),
        ListFormat::Table => emit(&export_summary(&exported)),
    }
    Ok(EXIT_OK)
}

fn export_summary(e: &Exported) -> String {
    let d = &e.description;
    let dir = lines(&e.dir.display().to_string()).into_owned();
    let mut out = match &d.fleet {
        Some(f) => format!(
            "Evidence pack of the fleet at {} written to {dir} ({}):\n",
            one_line(&f.server),
            counted(e.files.len(), "file")
        ),
        None => format!(
            "Evidence pack written to {dir} ({}):\n",
            counted(e.files.len(), "file")
        ),
    };
    out.push_str(&format!(
        "  {:<16}{}, signed checkpoint at size {} (root {})\n",
        d.ledger.bundle,
        counted_as(d.ledger.entries as usize, "entry", "entries"),
        d.ledger.checkpoint_size,
        d.ledger.checkpoint_root
    ));
    out.push_str(&format!(
        "  {:<16}{}{}\n",
        d.ledger.key,
        e.log_key,
        match &d.fleet {
            Some(f) if f.key_matched_operator => " (the server's, matching --key)",
            Some(_) => " (as the server states it: give --key to check it)",
            None => "",
        }
    ));
    out.push_str(&format!(
        "  {:<16}{}, one per entry, against that checkpoint\n",
        "proofs/",
        counted(d.proofs.len(), "inclusion proof")
    ));
    if let Some(f) = &d.fleet {
        if f.policies.is_empty() {
            out.push_str(&format!(
                "  {:<16}none assigned to any host or group\n",
                "policy/"
            ));
        }
        for p in &f.policies {
            out.push_str(&format!(
                "  {:<16}{} ({}), assigned to {}\n",
                "policy/",
                p.text,
                p.sha256,
                one_line(&p.assigned_to.join(", "))
            ));
        }
    } else {
        match &d.policy {
            Some(p) => {
                out.push_str(&format!(
                    "  {:<16}{} ({}), generation {}, applied by {} at {}{}\n",
                    "policy/",
                    p.file,
                    p.sha256,
                    p.generation,
                    one_line(&p.applied_by),
                    p.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    match &p.proposal {
                        Some(pr) => format!(", approved as proposal {} ({})", pr.id, pr.record),
                        None => String::new(),
                    }
                ));
            }
            None => out.push_str(&format!("  {:<16}none in effect\n", "policy/")),
        }
    }
    out.push_str(&format!(
        "  {:<16}{}, {}\n",
        "report", d.report.html, d.report.json
    ));
    out.push_str(&format!(
        "Verify it offline with `portreeve evidence verify {dir} --key '{}'`, or the ledger alone with `portreeve ledger verify --bundle {dir}/{} --key {dir}/{}`; compare the key with one obtained independently.\n",
        e.log_key, d.ledger.bundle, d.ledger.key
    ));
    out
}

/// The outcome of `evidence verify`, as JSON reports it.
#[derive(Serialize)]
struct VerifyReport {
    verified: bool,
    scope: Scope,
    server: Option<String>,
    key_from_pack: bool,
    files: usize,
    entries: Option<u64>,
    checkpoint_size: Option<u64>,
    proofs: usize,
    policy: Option<String>,
    policies: Vec<String>,
    problems: Vec<String>,
}

fn verify(args: &EvidenceVerifyArgs) -> Result<u8, Failure> {
    let key = args.key.as_deref().map(verifier_key).transpose()?;
    let v = evidence::verify(&args.dir, key.as_ref())?;
    match args.format {
        ListFormat::Json => {
            let report = VerifyReport {
                verified: v.is_ok(),
                scope: v.scope,
                server: v.server.clone(),
                key_from_pack: key.is_none(),
                files: v.files,
                entries: v.ledger.as_ref().map(|l| l.entries),
                checkpoint_size: v
                    .ledger
                    .as_ref()
                    .and_then(|l| l.latest.as_ref().map(|c| c.size)),
                proofs: v.proofs,
                policy: v.policy.clone(),
                policies: v.policies.clone(),
                problems: v.problems.clone(),
            };
            emit_listing(
                "portreeve.evidence-verification",
                &[("result", to_value(&report))],
            );
        }
        ListFormat::Table => emit(&verify_summary(&args.dir, &v, key.is_none())),
    }
    Ok(if v.is_ok() { EXIT_OK } else { EXIT_FINDINGS })
}

fn verify_summary(dir: &Path, v: &Verification, key_from_pack: bool) -> String {
    let dir = one_line(&dir.display().to_string()).into_owned();
    let whose = match (v.scope, &v.server) {
        (Scope::Fleet, Some(server)) => {
            format!("Fleet evidence pack {dir} (from {})", one_line(server))
        }
        (Scope::Fleet, None) => format!("Fleet evidence pack {dir}"),
        (Scope::Host, _) => format!("Host evidence pack {dir}"),
    };
    if !v.is_ok() {
        let mut out = format!(
            "{whose} FAILED verification ({}):\n",
            counted(v.problems.len(), "problem")
        );
        for p in &v.problems {
            out.push_str(&format!("  - {}\n", one_line(p)));
        }
        return out;
    }
    let mut out = format!(
        "{whose} verified: {} match the MANIFEST.\n",
        counted(v.files, "file")
    );
    if let Some(l) = &v.ledger {
        out.push_str(&format!(
            "Ledger: {}, every checkpoint signature valid; inclusion proofs up to the signed checkpoint{}: {} verified.\n",
            counted_as(l.entries as usize, "entry", "entries"),
            l.latest
                .as_ref()
                .map(|c| format!(" (size {})", c.size))
                .unwrap_or_default(),
            v.proofs
        ));
    }
    match (v.scope, &v.policy) {
        (Scope::Fleet, _) if v.policies.is_empty() => {
            out.push_str("No policy was assigned in the fleet when the pack was written.\n")
        }
        (Scope::Fleet, _) => {
            out.push_str("Fleet policies, each proposed and approved in the ledger:\n");
            for p in &v.policies {
                out.push_str(&format!("  {}\n", one_line(p)));
            }
        }
        (Scope::Host, Some(p)) => out.push_str(&format!("Policy in effect: {p}.\n")),
        (Scope::Host, None) => out.push_str("No policy was in effect when the pack was written.\n"),
    }
    if key_from_pack {
        out.push_str(
            "The log key was the pack's own log.pub: this proves the pack is whole, not whose it is; pass --key with a copy obtained independently.\n",
        );
    }
    out
}

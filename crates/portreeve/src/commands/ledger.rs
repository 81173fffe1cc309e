//! `portreeve ledger …`: read, verify, prove, export and witness the
//! signed record of every change.

use std::path::{Path, PathBuf};

use portreeve_app::{AppError, StateDir, input, witness};
use portreeve_ledger::bundle::verify_dir;
use portreeve_ledger::note::{Checkpoint, KeyKind, KeyName, SignerKey};
use portreeve_ledger::store;
use portreeve_ledger::{Bundle, Entry, Ledger, LedgerError, Tamper, Trust, Verified};
use serde::Serialize;

use crate::cli::{
    LedgerCommand, LedgerLogArgs, LedgerVerifyArgs, ListFormat, ProveArgs, WitnessKeyArgs,
};
use crate::context::{Context, verifier_key};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_json, table};

/// Runs a `ledger` subcommand.
pub fn run(command: &LedgerCommand, ctx: &Context) -> Result<u8, Failure> {
    let state = &ctx.state;
    match command {
        LedgerCommand::Log(args) => log(args, state),
        LedgerCommand::Verify(args) => verify(args, state),
        LedgerCommand::Prove(args) => prove(args, state),
        LedgerCommand::Export { output } => export(output.as_deref(), state),
        LedgerCommand::Checkpoint => {
            let note = state
                .existing_ledger()?
                .checkpoint()
                .map_err(ledger_failure)?;
            emit(&note.to_string());
            Ok(EXIT_OK)
        }
        LedgerCommand::Cosign(args) => {
            let memory = args.state.clone().unwrap_or_else(|| {
                let mut p = args.key.clone().into_os_string();
                p.push(".state.json");
                PathBuf::from(p)
            });
            emit(&witness::cosign(state, &args.key, &memory)?.to_string());
            Ok(EXIT_OK)
        }
        LedgerCommand::Key => {
            emit(&format!(
                "{}\n",
                state.ledger().map_err(ledger_failure)?.verifier()
            ));
            Ok(EXIT_OK)
        }
        LedgerCommand::WitnessKey(args) => witness_key(args),
    }
}

/// A ledger that cannot be read or written is an operational failure.
fn ledger_failure(e: LedgerError) -> Failure {
    Failure::from(AppError::from(e))
}

/// Every entry, in order, read without opening the ledger for appending
/// (so a damaged ledger can still be read). Lines that do not parse are
/// left to `verify`.
fn entries(dir: &Path) -> Result<Vec<Entry>, Failure> {
    let bytes = store::entries_bytes(dir).map_err(ledger_failure)?;
    Ok(bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| Entry::parse(line).ok())
        .collect())
}

fn log(args: &LedgerLogArgs, state: &StateDir) -> Result<u8, Failure> {
    let all = entries(&state.ledger_dir())?;
    let shown: Vec<&Entry> = all
        .iter()
        .filter(|e| args.action.is_empty() || args.action.iter().any(|a| a == &e.action))
        .filter(|e| args.actor.as_ref().is_none_or(|a| a == &e.actor))
        .filter(|e| args.since.is_none_or(|t| e.time >= t))
        .filter(|e| args.until.is_none_or(|t| e.time < t))
        .collect();
    match args.format {
        ListFormat::Json => emit_listing("portreeve.ledger", &[("entries", to_value(&shown))]),
        ListFormat::Table => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|e| {
                    vec![
                        e.index.to_string(),
                        e.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.object.clone(),
                        e.approval.clone().unwrap_or_else(|| "-".into()),
                        e.reason.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            emit(&table::rows(
                &[
                    "#",
                    "TIME (UTC)",
                    "ACTOR",
                    "ACTION",
                    "OBJECT",
                    "APPROVAL",
                    "REASON",
                ],
                &rows,
                table::stdout_colour(),
            ));
        }
    }
    Ok(EXIT_OK)
}

/// The outcome of `verify`, as JSON reports it.
#[derive(Serialize)]
struct VerifyReport {
    verified: bool,
    entries: Option<u64>,
    checkpoints: Option<usize>,
    latest_size: Option<u64>,
    latest_root: Option<String>,
    unsigned_tail: Option<u64>,
    witnessed_size: Option<u64>,
    witnesses: Vec<String>,
    attested: Option<u64>,
    position: Option<u64>,
    checkpoint: Option<usize>,
    problem: Option<String>,
}

fn verify(args: &LedgerVerifyArgs, state: &StateDir) -> Result<u8, Failure> {
    let witnesses = args
        .witness
        .iter()
        .map(|w| verifier_key(w))
        .collect::<Result<Vec<_>, _>>()?;
    if args.min_witnesses > witnesses.len() {
        return Err(Failure::Input(format!(
            "--min-witnesses {} but only {} --witness keys given",
            args.min_witnesses,
            witnesses.len()
        )));
    }
    let outcome = match &args.bundle {
        Some(path) => {
            let text =
                input::read_text(path, "bundle").map_err(|e| Failure::Input(e.to_string()))?;
            let bundle: Bundle = serde_json::from_str(&text).map_err(|e| {
                Failure::Input(format!("{}: not a ledger bundle: {e}", input::origin(path)))
            })?;
            let log = verifier_key(args.key.as_deref().expect("clap requires --key"))?;
            bundle.verify(&Trust {
                log,
                witnesses,
                min_witnesses: args.min_witnesses,
            })
        }
        None => {
            let dir = state.existing_ledger_dir()?;
            let log = match &args.key {
                Some(k) => verifier_key(k)?,
                None => store::stored_verifier(&dir).map_err(ledger_failure)?,
            };
            let trust = Trust {
                log,
                witnesses,
                min_witnesses: args.min_witnesses,
            };
            verify_dir(&dir, &trust).map_err(ledger_failure)?
        }
    };
    report_verification(&outcome, args.format);
    Ok(if outcome.is_ok() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}

fn report_verification(outcome: &Result<Verified, Tamper>, format: ListFormat) {
    let report = match outcome {
        Ok(v) => VerifyReport {
            verified: true,
            entries: Some(v.entries),
            checkpoints: Some(v.checkpoints),
            latest_size: v.latest.as_ref().map(|c| c.size),
            latest_root: v.latest.as_ref().map(|c| base64(&c.root)),
            unsigned_tail: Some(v.unsigned_tail),
            witnessed_size: v.witnessed.as_ref().map(|(s, _)| *s),
            witnesses: v.witnessed.clone().map(|(_, w)| w).unwrap_or_default(),
            attested: Some(v.attested),
            position: None,
            checkpoint: None,
            problem: None,
        },
        Err(t) => VerifyReport {
            verified: false,
            entries: None,
            checkpoints: None,
            latest_size: None,
            latest_root: None,
            unsigned_tail: None,
            witnessed_size: None,
            witnesses: Vec::new(),
            attested: None,
            position: t.position,
            checkpoint: t.checkpoint,
            problem: Some(t.message.clone()),
        },
    };
    if format == ListFormat::Json {
        emit_listing(
            "portreeve.ledger-verification",
            &[("result", to_value(&report))],
        );
        return;
    }
    match outcome {
        Ok(v) => {
            let mut out = format!(
                "Ledger verified: {} and {}, every checkpoint signature valid and consistent.\n",
                entries_count(v.entries),
                crate::output::counted(v.checkpoints, "checkpoint"),
            );
            if let Some(c) = &v.latest {
                out.push_str(&format!(
                    "Latest checkpoint: size {}, root {}.\n",
                    c.size,
                    base64(&c.root)
                ));
            }
            if v.unsigned_tail > 0 {
                out.push_str(&format!(
                    "{} after it are not yet covered by a checkpoint (`portreeve ledger checkpoint` signs one).\n",
                    entries_count(v.unsigned_tail)
                ));
            }
            if let Some((size, names)) = &v.witnessed {
                out.push_str(&format!(
                    "Witnessed up to size {size} by {}.\n",
                    names.join(", ")
                ));
            }
            if v.attested > 0 {
                out.push_str(&format!(
                    "{} signed by an identity, every signature valid.\n",
                    entries_count(v.attested)
                ));
            }
            emit(&out);
        }
        // Located at an entry or a stored checkpoint, or about the ledger
        // as a whole (a missing checkpoint, a copy of the latest one).
        Err(t) if t.position.is_none() && t.checkpoint.is_none() => {
            emit(&format!("Ledger verification FAILED: {t}\n"));
        }
        Err(t) => {
            emit(&format!("Ledger verification FAILED at {t}\n"));
        }
    }
}

fn entries_count(n: u64) -> String {
    crate::output::counted_as(usize::try_from(n).unwrap_or(usize::MAX), "entry", "entries")
}

fn base64(hash: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hash)
}

fn prove(args: &ProveArgs, state: &StateDir) -> Result<u8, Failure> {
    let ledger = state.existing_ledger()?;
    if let Some(index) = args.index {
        let size = match args.size {
            Some(s) => s,
            None => latest_checkpoint(ledger)?
                .map(|c| c.size)
                .filter(|&s| s > index)
                .unwrap_or(ledger.size().map_err(ledger_failure)?),
        };
        if index >= size {
            return Err(Failure::Input(format!(
                "entry {index} is not in a tree of {size} entries"
            )));
        }
        emit_json(
            &ledger
                .prove_inclusion(index, Some(size))
                .map_err(ledger_failure)?,
        );
    } else {
        let (from, to) = (
            args.from.expect("clap requires --from"),
            args.to.expect("clap requires --to"),
        );
        if from > to {
            return Err(Failure::Input(format!(
                "--from {from} is larger than --to {to}: a consistency proof goes from the smaller tree to the larger"
            )));
        }
        emit_json(&ledger.prove_consistency(from, to).map_err(ledger_failure)?);
    }
    Ok(EXIT_OK)
}

/// The largest checkpoint stored, if any.
fn latest_checkpoint(ledger: &Ledger) -> Result<Option<Checkpoint>, Failure> {
    Ok(ledger
        .stored_checkpoints()
        .map_err(ledger_failure)?
        .iter()
        .filter_map(|n| Checkpoint::parse_text(&n.text).ok())
        .max_by_key(|c| c.size))
}

fn export(output: Option<&Path>, state: &StateDir) -> Result<u8, Failure> {
    let ledger = state.existing_ledger()?;
    let bundle = Bundle::export(ledger).map_err(ledger_failure)?;
    match output {
        None => emit_json(&bundle),
        Some(path) => {
            let text = serde_json::to_vec(&bundle).expect("a bundle serialises");
            std::fs::write(path, text).map_err(|e| {
                Failure::Operational(format!("cannot write {}: {e}", path.display()))
            })?;
            crate::output::note(&format!(
                "wrote {} ({} entries, {} checkpoints); verify it with `portreeve ledger verify --bundle {} --key '{}'`",
                path.display(),
                bundle.entries.len(),
                bundle.checkpoints.len(),
                path.display(),
                ledger.verifier()
            ));
        }
    }
    Ok(EXIT_OK)
}

fn witness_key(args: &WitnessKeyArgs) -> Result<u8, Failure> {
    let name: KeyName = args
        .name
        .parse()
        .map_err(|e| Failure::Input(format!("witness name `{}`: {e}", args.name)))?;
    let key = SignerKey::generate(name, KeyKind::Cosigner)
        .map_err(|e| Failure::Operational(e.to_string()))?;
    portreeve_app::write_new_private(&args.output, format!("{key}\n").as_bytes())?;
    emit(&format!("{}\n", key.verifier()));
    Ok(EXIT_OK)
}

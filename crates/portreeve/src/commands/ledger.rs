//! `portreeve ledger …`: read, verify, prove, export and witness the
//! signed record of every change.

use std::path::{Path, PathBuf};

use portreeve_ledger::bundle::verify_dir;
use portreeve_ledger::merkle;
use portreeve_ledger::note::{Checkpoint, KeyKind, KeyName, Note, SignerKey, VerifierKey};
use portreeve_ledger::store;
use portreeve_ledger::{Bundle, Entry, Ledger, Tamper, Trust, Verified};
use serde::{Deserialize, Serialize};

use super::record::{ledger_dir, ledger_failure, open};
use crate::cli::{
    CosignArgs, LedgerCommand, LedgerLogArgs, LedgerVerifyArgs, ListFormat, ProveArgs,
    WitnessKeyArgs,
};
use crate::failure::{EXIT_FINDINGS, EXIT_OK, Failure};
use crate::output::json::{emit_listing, to_value};
use crate::output::{emit, emit_json, table};

/// Runs a `ledger` subcommand.
pub fn run(command: &LedgerCommand, state_dir: &Path) -> Result<u8, Failure> {
    match command {
        LedgerCommand::Log(args) => log(args, state_dir),
        LedgerCommand::Verify(args) => verify(args, state_dir),
        LedgerCommand::Prove(args) => prove(args, state_dir),
        LedgerCommand::Export { output } => export(output.as_deref(), state_dir),
        LedgerCommand::Checkpoint => {
            let note = existing(state_dir)?.checkpoint().map_err(ledger_failure)?;
            emit(&note.to_string());
            Ok(EXIT_OK)
        }
        LedgerCommand::Cosign(args) => cosign(args, state_dir),
        LedgerCommand::Key => {
            emit(&format!("{}\n", open(state_dir)?.verifier()));
            Ok(EXIT_OK)
        }
        LedgerCommand::WitnessKey(args) => witness_key(args),
    }
}

/// The ledger directory of `state_dir`, which must already hold a
/// ledger: reading commands do not create one.
fn existing_dir(state_dir: &Path) -> Result<PathBuf, Failure> {
    let dir = ledger_dir(state_dir);
    if !dir.join("log.key").exists() {
        return Err(Failure::Input(format!(
            "no ledger in {}: nothing has been recorded on this host yet",
            dir.display()
        )));
    }
    Ok(dir)
}

/// The ledger of `state_dir`, opened for appending; it must exist.
fn existing(state_dir: &Path) -> Result<Ledger, Failure> {
    existing_dir(state_dir)?;
    open(state_dir)
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

fn log(args: &LedgerLogArgs, state_dir: &Path) -> Result<u8, Failure> {
    let all = entries(&ledger_dir(state_dir))?;
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

/// A key given on the command line: the key text itself, or a file
/// holding it.
fn read_key(text_or_path: &str) -> Result<VerifierKey, Failure> {
    let text = if Path::new(text_or_path).is_file() {
        std::fs::read_to_string(text_or_path)
            .map_err(|e| Failure::Input(format!("cannot read key file {text_or_path}: {e}")))?
    } else {
        text_or_path.to_string()
    };
    text.trim()
        .parse()
        .map_err(|e| Failure::Input(format!("`{text_or_path}` is not a verifier key: {e}")))
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

fn verify(args: &LedgerVerifyArgs, state_dir: &Path) -> Result<u8, Failure> {
    let witnesses = args
        .witness
        .iter()
        .map(|w| read_key(w))
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
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Input(format!("cannot read bundle {}: {e}", path.display()))
            })?;
            let bundle: Bundle = serde_json::from_str(&text).map_err(|e| {
                Failure::Input(format!("{}: not a ledger bundle: {e}", path.display()))
            })?;
            let log = read_key(args.key.as_deref().expect("clap requires --key"))?;
            bundle.verify(&Trust {
                log,
                witnesses,
                min_witnesses: args.min_witnesses,
            })
        }
        None => {
            let dir = existing_dir(state_dir)?;
            let log = match &args.key {
                Some(k) => read_key(k)?,
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

fn prove(args: &ProveArgs, state_dir: &Path) -> Result<u8, Failure> {
    let ledger = existing(state_dir)?;
    if let Some(index) = args.index {
        let size = match args.size {
            Some(s) => s,
            None => latest_checkpoint(&ledger)?
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

fn export(output: Option<&Path>, state_dir: &Path) -> Result<u8, Failure> {
    let ledger = existing(state_dir)?;
    let bundle = Bundle::export(&ledger).map_err(ledger_failure)?;
    match output {
        None => emit_json(&bundle),
        Some(path) => {
            let text = serde_json::to_vec(&bundle).expect("a bundle serialises");
            std::fs::write(path, text).map_err(|e| {
                Failure::Operational(format!("cannot write {}: {e}", path.display()))
            })?;
            eprintln!(
                "portreeve: wrote {} ({} entries, {} checkpoints); verify it with `portreeve ledger verify --bundle {} --key '{}'`",
                path.display(),
                bundle.entries.len(),
                bundle.checkpoints.len(),
                path.display(),
                ledger.verifier()
            );
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
    write_private(&args.output, &format!("{key}\n"))?;
    emit(&format!("{}\n", key.verifier()));
    Ok(EXIT_OK)
}

/// Writes a private key file, readable by its owner only, never over an
/// existing file.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Operational(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                Failure::Input(format!("{} exists; not overwriting a key", path.display()))
            }
            _ => Failure::Operational(format!("cannot write {}: {e}", path.display())),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::Operational(format!("cannot write {}: {e}", path.display())))
}

/// What a witness remembers per log: the last checkpoint it signed, and
/// the log key it first saw (pinned, so a swapped key is noticed).
#[derive(Serialize, Deserialize, Default)]
struct WitnessState {
    logs: std::collections::BTreeMap<String, Witnessed>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Witnessed {
    log_key: String,
    size: u64,
    root: String,
}

fn cosign(args: &CosignArgs, state_dir: &Path) -> Result<u8, Failure> {
    let key_text = std::fs::read_to_string(&args.key).map_err(|e| {
        Failure::Input(format!(
            "cannot read witness key {}: {e}",
            args.key.display()
        ))
    })?;
    let key: SignerKey = key_text
        .trim()
        .parse()
        .map_err(|e| Failure::Input(format!("{}: not a private key: {e}", args.key.display())))?;
    if key.kind() != KeyKind::Cosigner {
        return Err(Failure::Input(format!(
            "{} is not a witness (cosigner) key; create one with `portreeve ledger witness-key`",
            args.key.display()
        )));
    }
    let state_path = args.state.clone().unwrap_or_else(|| {
        let mut p = args.key.clone().into_os_string();
        p.push(".state.json");
        PathBuf::from(p)
    });
    let mut state: WitnessState = match std::fs::read(&state_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Failure::Input(format!(
                "{}: not a witness state: {e}",
                state_path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => WitnessState::default(),
        Err(e) => {
            return Err(Failure::Operational(format!(
                "cannot read {}: {e}",
                state_path.display()
            )));
        }
    };

    let ledger = existing(state_dir)?;
    let log_key = ledger.verifier();
    let note = ledger.checkpoint().map_err(ledger_failure)?;
    note.verify(std::slice::from_ref(&log_key))
        .map_err(|e| Failure::Operational(format!("the log's own checkpoint: {e}")))?;
    let checkpoint = Checkpoint::parse_text(&note.text)
        .map_err(|e| Failure::Operational(format!("the log's own checkpoint: {e}")))?;
    let refuse = |why: String| {
        Failure::Operational(format!(
            "refusing to cosign {} at size {}: {why}",
            checkpoint.origin, checkpoint.size
        ))
    };
    if let Some(last) = state.logs.get(&checkpoint.origin) {
        if last.log_key != log_key.to_string() {
            return Err(refuse(format!(
                "the log's key changed from {} to {log_key}",
                last.log_key
            )));
        }
        if checkpoint.size < last.size {
            return Err(refuse(format!(
                "this witness already signed size {}: the log went backwards",
                last.size
            )));
        }
        let proof = ledger
            .prove_consistency(last.size, checkpoint.size)
            .map_err(ledger_failure)?;
        let root1 = merkle_root_from_b64(&last.root).map_err(refuse)?;
        merkle::verify_consistency(
            last.size,
            checkpoint.size,
            &proof.proof,
            &root1,
            &checkpoint.root,
        )
        .map_err(|e| {
            refuse(format!(
                "not consistent with size {} signed before: {e}",
                last.size
            ))
        })?;
    }
    let mut cosigned = Note {
        text: note.text.clone(),
        signatures: Vec::new(),
    };
    let now = jiff::Timestamp::now().as_second().max(0) as u64;
    cosigned
        .cosign(&key, now)
        .map_err(|e| Failure::Operational(e.to_string()))?;
    ledger.store_note(&cosigned).map_err(ledger_failure)?;
    state.logs.insert(
        checkpoint.origin.clone(),
        Witnessed {
            log_key: log_key.to_string(),
            size: checkpoint.size,
            root: base64(&checkpoint.root),
        },
    );
    let bytes = serde_json::to_vec_pretty(&state).expect("a witness state serialises");
    std::fs::write(&state_path, bytes)
        .map_err(|e| Failure::Operational(format!("cannot write {}: {e}", state_path.display())))?;
    let mut all = note.clone();
    all.signatures
        .retain(|s| !cosigned.signatures[0].name.eq(&s.name));
    all.signatures.extend(cosigned.signatures);
    emit(&all.to_string());
    Ok(EXIT_OK)
}

fn merkle_root_from_b64(text: &str) -> Result<merkle::Hash, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("the witness state's root {text:?} is not a base64 SHA-256 hash"))
}

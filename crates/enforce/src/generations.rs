//! Every ruleset portreeve has applied, numbered and kept under the state
//! directory, so any of them can be inspected, diffed or restored.
//!
//! Layout under `STATE_DIR/enforce/`:
//!
//! - `generations/NNNNNN.nft` — the static ruleset as rendered;
//! - `generations/NNNNNN.json` — who, when, from which policy, and its fate;
//! - `current` — the generation now live (0: portreeve's table is absent);
//! - `lock` — held by every command that changes the firewall.
//!
//! Files are written through a temporary file and renamed into place, so a
//! crash never leaves half a record.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rustix::fs::FlockOperation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What became of a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Applied with `--confirm-within`, awaiting `portreeve confirm`.
    Pending,
    /// Applied without a confirmation deadline.
    Applied,
    /// Applied and confirmed in time.
    Confirmed,
    /// Applied, not confirmed in time, and rolled back by the watchdog.
    Reverted,
    /// nft refused it; nothing changed.
    Failed,
}

/// As JSON writes it (`pending`, `reverted`, …).
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Applied => "applied",
            Status::Confirmed => "confirmed",
            Status::Reverted => "reverted",
            Status::Failed => "failed",
        })
    }
}

/// The record of one generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// Its number, from 1.
    pub generation: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// Who created it (a person, or `watchdog` for an automatic rollback).
    pub actor: String,
    /// The policy it was compiled from.
    pub policy: String,
    /// SHA-256 of the static ruleset text.
    pub sha256: String,
    /// What became of it.
    pub status: Status,
    /// For `Pending`: when the watchdog rolls it back.
    pub confirm_deadline: Option<Timestamp>,
    /// The generation that was live before it (0: no table).
    pub previous: u64,
    /// For a rollback: the generation whose ruleset it re-applied (0: the
    /// table was removed).
    pub restores: Option<u64>,
    /// `sha256:<hex>` of the policy text the ruleset was compiled from (a
    /// rollback keeps the restored generation's): with the ruleset live,
    /// that policy is the one in effect. `None` in generations recorded
    /// before portreeve kept the policy in effect.
    #[serde(default)]
    pub policy_digest: Option<String>,
    /// The approval the policy was installed on (`proposal N`), if any; a
    /// rollback keeps the restored generation's.
    #[serde(default)]
    pub approval: Option<String>,
}

/// Errors reading or writing the generation store.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct GenerationStoreError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> GenerationStoreError + '_ {
    move |source| GenerationStoreError {
        path: path.to_path_buf(),
        source,
    }
}

/// The generation store of one state directory.
#[derive(Clone, Debug)]
pub struct GenerationStore {
    root: PathBuf,
}

/// An exclusive lock on the store, released when dropped (with the file).
pub struct GenerationLock {
    _file: File,
}

impl GenerationStore {
    /// The store kept in `dir` (the state directory's `enforce/`).
    pub fn new(dir: &Path) -> GenerationStore {
        GenerationStore {
            root: dir.to_path_buf(),
        }
    }

    /// Opens the store's log file `name` for appending (created private,
    /// never through a link), for a detached process's output.
    pub fn open_log(&self, name: &str) -> Result<File, GenerationStoreError> {
        create_private_dir(&self.root).map_err(at(&self.root))?;
        private_file(&self.root.join(name), true)
    }

    fn generations_dir(&self) -> PathBuf {
        self.root.join("generations")
    }

    /// Takes the store's lock, waiting for other portreeve commands.
    pub fn lock(&self) -> Result<GenerationLock, GenerationStoreError> {
        create_private_dir(&self.root).map_err(at(&self.root))?;
        let path = self.root.join("lock");
        // Private, and never through a link: `flock` needs only read
        // access, so a lock others can open is a lock others can hold.
        let file = private_file(&path, false)?;
        rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(0o600)).map_err(|e| {
            GenerationStoreError {
                path: path.clone(),
                source: e.into(),
            }
        })?;
        rustix::fs::flock(&file, FlockOperation::LockExclusive).map_err(|e| {
            GenerationStoreError {
                path: path.clone(),
                source: e.into(),
            }
        })?;
        Ok(GenerationLock { _file: file })
    }

    /// The generation now live; 0 when portreeve's table is absent (no
    /// `current` file). A `current` that holds no number is an error, not
    /// 0: taking it for "nothing applied" would let a rollback or a reclaim
    /// start from the wrong ruleset.
    pub fn current(&self) -> Result<u64, GenerationStoreError> {
        let path = self.root.join("current");
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                at(&path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "damaged: not a generation number (remove it: the next apply, confirm or \
                     rollback reads the live generation from the mark on portreeve's table in \
                     the kernel)",
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(at(&path)(e)),
        }
    }

    /// Records `generation` as live.
    pub fn set_current(&self, generation: u64) -> Result<(), GenerationStoreError> {
        write_atomically(
            &self.root.join("current"),
            format!("{generation}\n").as_bytes(),
        )
    }

    /// The record of generation `n`.
    pub fn get(&self, n: u64) -> Result<Generation, GenerationStoreError> {
        let path = self.generations_dir().join(format!("{n:06}.json"));
        let text = fs::read_to_string(&path).map_err(at(&path))?;
        serde_json::from_str(&text)
            .map_err(|e| at(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// Whether generation `n` was ever recorded.
    pub fn exists(&self, n: u64) -> bool {
        self.generations_dir().join(format!("{n:06}.json")).exists()
    }

    /// The static ruleset of generation `n`.
    pub fn ruleset(&self, n: u64) -> Result<String, GenerationStoreError> {
        let path = self.generations_dir().join(format!("{n:06}.nft"));
        fs::read_to_string(&path).map_err(at(&path))
    }

    /// Every generation, oldest first.
    pub fn list(&self) -> Result<Vec<Generation>, GenerationStoreError> {
        let dir = self.generations_dir();
        let mut numbers: Vec<u64> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(at(&dir)(e)),
        };
        numbers.sort_unstable();
        numbers.into_iter().map(|n| self.get(n)).collect()
    }

    /// Stores a new generation with `ruleset` as its static text; its
    /// number is one more than the highest so far.
    pub fn create(
        &self,
        ruleset: &str,
        mut record: Generation,
    ) -> Result<Generation, GenerationStoreError> {
        let dir = self.generations_dir();
        create_private_dir(&dir).map_err(at(&dir))?;
        record.generation = self.list()?.last().map_or(1, |g| g.generation + 1);
        record.sha256 = sha256_hex(ruleset);
        write_atomically(
            &dir.join(format!("{:06}.nft", record.generation)),
            ruleset.as_bytes(),
        )?;
        self.update(&record)?;
        Ok(record)
    }

    /// Rewrites the record of an existing generation.
    pub fn update(&self, record: &Generation) -> Result<(), GenerationStoreError> {
        let text = serde_json::to_string_pretty(record).expect("generation records serialise");
        write_atomically(
            &self
                .generations_dir()
                .join(format!("{:06}.json", record.generation)),
            text.as_bytes(),
        )
    }
}

/// One `portreeve grant`, as the grant log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// When it was granted.
    pub at: Timestamp,
    /// Who granted it.
    pub actor: String,
    /// The on-demand rule that permits it.
    pub rule: String,
    /// The set keys it added.
    pub keys: Vec<String>,
    /// Its time to live, in seconds.
    pub ttl_s: i64,
    /// Why.
    pub reason: String,
}

impl GenerationStore {
    /// Appends to the grant log (`grants.jsonl`), one JSON object per line.
    pub fn log_grant(&self, record: &GrantRecord) -> Result<(), GenerationStoreError> {
        create_private_dir(&self.root).map_err(at(&self.root))?;
        let path = self.root.join("grants.jsonl");
        let mut file = private_file(&path, true)?;
        let line = serde_json::to_string(record).expect("grant records serialise");
        writeln!(file, "{line}").map_err(at(&path))
    }

    /// The grant log, oldest first; unreadable lines are skipped.
    pub fn grant_log(&self) -> Result<Vec<GrantRecord>, GenerationStoreError> {
        let path = self.root.join("grants.jsonl");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(at(&path)(e)),
        }
    }
}

/// Hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates `dir` and its missing parents readable by their owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens (creating, mode 0600) a file of the store for writing or
/// appending, refusing to follow a link planted in its place.
fn private_file(path: &Path, append: bool) -> Result<File, GenerationStoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .append(append)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(at(path))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), GenerationStoreError> {
    let dir = path.parent().expect("store paths have a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(at(dir))?;
    tmp.write_all(bytes).map_err(at(path))?;
    tmp.as_file().sync_all().map_err(at(path))?;
    tmp.persist(path).map_err(|e| at(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_json_writes_it() {
        for status in [
            Status::Pending,
            Status::Applied,
            Status::Confirmed,
            Status::Reverted,
            Status::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                status.to_string().as_str()
            );
        }
    }

    fn record() -> Generation {
        Generation {
            generation: 0,
            created_at: Timestamp::UNIX_EPOCH,
            actor: "alice".into(),
            policy: "p.toml".into(),
            sha256: String::new(),
            status: Status::Applied,
            confirm_deadline: None,
            previous: 0,
            restores: None,
            policy_digest: None,
            approval: None,
        }
    }

    #[test]
    fn generations_are_numbered_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = GenerationStore::new(dir.path());
        assert_eq!(store.current().unwrap(), 0);
        assert!(store.list().unwrap().is_empty());
        let _lock = store.lock().unwrap();
        let one = store.create("table inet portreeve {}\n", record()).unwrap();
        let two = store
            .create(
                "table inet portreeve { }\n",
                Generation {
                    previous: 1,
                    ..record()
                },
            )
            .unwrap();
        assert_eq!((one.generation, two.generation), (1, 2));
        store.set_current(2).unwrap();
        assert_eq!(store.current().unwrap(), 2);
        assert_eq!(store.ruleset(1).unwrap(), "table inet portreeve {}\n");
        assert_eq!(store.get(2).unwrap(), two);
        assert_eq!(two.sha256, sha256_hex("table inet portreeve { }\n"));
        let mut reverted = two.clone();
        reverted.status = Status::Reverted;
        store.update(&reverted).unwrap();
        assert_eq!(store.list().unwrap()[1].status, Status::Reverted);
    }
}

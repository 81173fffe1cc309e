//! A state directory whose firewall keeps generations in files only — no
//! kernel, no root — and can be told to refuse the next applies, so the
//! use cases' bookkeeping and failure paths run in plain unit tests.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::IpNet;
use jiff::Timestamp;
use portreeve_app::change::KeyDir;
use portreeve_app::change::simulation::RecordedUse;
use portreeve_app::{Actor, Firewall, StateDir};
use portreeve_core::Proto;
use portreeve_enforce::foreign::ForeignChain;
use portreeve_enforce::generations::{Generation, GenerationStore};
use portreeve_enforce::grants::Grant;
use portreeve_enforce::guard::SshAccess;
use portreeve_enforce::nft_command::NftError;
use portreeve_enforce::{
    ApplyOptions, ApplyPreview, EnforceError, LiveGrant, Ruleset, SeenPort, nft_text,
};

/// A firewall that records generations like the real one but touches no
/// kernel; `refuse` makes every apply fail as nft would.
pub struct FileFirewall {
    store: GenerationStore,
    pub refuse: Arc<AtomicBool>,
}

impl FileFirewall {
    fn rejected() -> EnforceError {
        EnforceError::Nft(NftError::Rejected("refused on purpose by the test".into()))
    }
}

impl Firewall for FileFirewall {
    fn generations(&self) -> &GenerationStore {
        &self.store
    }
    fn preview(&self, _: &Ruleset, _: &SshAccess) -> Result<ApplyPreview, EnforceError> {
        Err(EnforceError::NotApplied)
    }
    fn foreign(&self) -> Result<Vec<ForeignChain>, EnforceError> {
        Ok(Vec::new())
    }
    fn apply(
        &self,
        ruleset: &Ruleset,
        opts: &ApplyOptions,
        _: &dyn Fn(u64) -> std::io::Result<()>,
    ) -> Result<Generation, EnforceError> {
        if self.refuse.load(Ordering::Relaxed) {
            return Err(FileFirewall::rejected());
        }
        let g = self.store.create(
            &nft_text::render(ruleset),
            opts.generation(ruleset, self.store.current()?, Timestamp::now()),
        )?;
        self.store.set_current(g.generation)?;
        Ok(g)
    }
    fn undo(&self, g: &Generation) -> Result<(), EnforceError> {
        self.store.set_current(g.previous)?;
        let mut failed = g.clone();
        failed.status = portreeve_enforce::generations::Status::Failed;
        self.store.update(&failed)?;
        Ok(())
    }
    fn confirm(&self) -> Result<Generation, EnforceError> {
        Err(EnforceError::NothingToConfirm(String::new()))
    }
    fn rollback(&self, _: Option<u64>, _: &str) -> Result<Generation, EnforceError> {
        Err(FileFirewall::rejected())
    }
    fn watch(&self, _: u64) -> Result<Option<Generation>, EnforceError> {
        Ok(None)
    }
    fn grant(&self, _: &Grant) -> Result<(), EnforceError> {
        Err(EnforceError::NotApplied)
    }
    fn revoke(&self, _: IpNet, _: Proto, _: u16) -> Result<(), EnforceError> {
        Err(EnforceError::NotApplied)
    }
    fn grants(&self) -> Result<Vec<LiveGrant>, EnforceError> {
        Err(EnforceError::NotApplied)
    }
    fn seen(&self) -> Result<Vec<SeenPort>, EnforceError> {
        Ok(Vec::new())
    }
    fn table_drift(&self) -> Result<Option<Vec<String>>, EnforceError> {
        Ok(None)
    }
}

/// A host: its state directory on a file-only firewall, and a key
/// directory for its people's identities.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub state: StateDir,
    pub keys: KeyDir,
    pub refuse: Arc<AtomicBool>,
}

impl Host {
    pub fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let refuse = Arc::new(AtomicBool::new(false));
        let root = dir.path().join("state");
        let firewall = FileFirewall {
            store: GenerationStore::new(&root.join("enforce")),
            refuse: refuse.clone(),
        };
        let state = StateDir::with_firewall(&root, Box::new(firewall));
        let keys = KeyDir(dir.path().join("keys"));
        Host {
            dir,
            state,
            keys,
            refuse,
        }
    }

    /// Writes `text` as a policy file called `name`.
    pub fn policy_file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates identities.
    pub fn people(&self, names: &[&str]) {
        for name in names {
            portreeve_app::change::create_identity(
                &self.state,
                &self.keys,
                name,
                &Actor::named("admin"),
            )
            .unwrap();
        }
    }

    /// Proposes the policy in `path` as `name`, simulated against the
    /// agent's record (empty here).
    pub fn propose(
        &self,
        name: &str,
        path: &Path,
        reason: &str,
    ) -> Result<portreeve_app::change::Proposed, portreeve_app::AppError> {
        self.propose_against(name, path, reason, None)
    }

    /// Proposes the policy in `path` as `name`, simulated against the use
    /// in the JSON lines file `usage` (`None`: the agent's record).
    pub fn propose_against(
        &self,
        name: &str,
        path: &Path,
        reason: &str,
        usage: Option<&Path>,
    ) -> Result<portreeve_app::change::Proposed, portreeve_app::AppError> {
        portreeve_app::change::propose(
            &self.state,
            &self.keys,
            name,
            path,
            reason,
            RecordedUse {
                since: Timestamp::UNIX_EPOCH,
                usage,
            },
        )
    }

    /// The ledger's entries, as JSON values.
    pub fn ledger(&self) -> Vec<serde_json::Value> {
        let path = self.state.ledger_dir().join("entries.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Applies the policy in `path` as `actor` the plain way.
    pub fn apply(
        &self,
        path: &Path,
    ) -> Result<portreeve_app::enforce::Applied, portreeve_app::AppError> {
        self.apply_with(path, portreeve_app::change::ApprovalNeed::AsRequired)
    }

    pub fn apply_with(
        &self,
        path: &Path,
        approval: portreeve_app::change::ApprovalNeed,
    ) -> Result<portreeve_app::enforce::Applied, portreeve_app::AppError> {
        portreeve_app::enforce::apply(
            &self.state,
            &portreeve_app::enforce::ApplyRequest {
                policy: Some(path),
                approval,
                confirm_within: None,
                force: false,
                reason: None,
                session: None,
                actor: &Actor::named("operator"),
                watchdog: &|_| Ok(()),
            },
        )
    }

    /// The number of generations recorded.
    pub fn generations(&self) -> usize {
        portreeve_app::enforce::generations(&self.state)
            .unwrap()
            .1
            .len()
    }
}

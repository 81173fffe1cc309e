//! The state directory: everything portreeve keeps on a host, its layout
//! written down here and nowhere else.
//!
//! ```text
//! STATE_DIR/                       (--state-dir; /var/lib/portreeve as root)
//!   enforce/                       the firewall's generations (portreeve-enforce)
//!     generations/NNNNNN.nft       every ruleset applied, as rendered
//!     generations/NNNNNN.json      who, when, from which policy (digest), its fate
//!     current                      the generation now live (0: none)
//!     lock                         held by every change of the firewall
//!     grants.jsonl                 every grant, with who and why
//!     watchdog.log                 the confirmation watchdogs' logs
//!   policies/sha256-HEX.toml       the exact text of every policy applied, by digest
//!   ledger/                        the signed record of every change (portreeve-ledger)
//!   agent.db                       the agent's history: drift, usage, flows, reclaims
//!   identities/NAME.pub            registered identities' public keys
//!   change/proposals/N.json|.toml  policy proposals, their approvals, their text
//! ```
//!
//! The policy in effect is not a file of its own: it is the policy whose
//! digest the live generation records, so a rollback (by hand or by the
//! watchdog) brings back its policy with its ruleset.
//!
//! A [`StateDir`] opens the firewall, the ledger and the agent's store once,
//! the first time a use case needs each, and hands the same handle to every
//! later use. The private keys of identities are a person's, not the
//! host's, and live outside (see [`crate::change::KeyDir`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ipnet::IpNet;
use portreeve_core::Proto;
use portreeve_enforce::blocks::LiveBlock;
use portreeve_enforce::foreign::ForeignChain;
use portreeve_enforce::generations::{Generation, GenerationStore};
use portreeve_enforce::grants::Grant;
use portreeve_enforce::guard::SshAccess;
use portreeve_enforce::{
    ApplyOptions, ApplyPreview, EnforceError, Enforcer, LiveGrant, Ruleset, SeenPort,
};
use portreeve_ledger::{Ledger, LedgerError};
use portreeve_store::{SqliteStore, StoreError};

use crate::error::AppError;

/// The firewall as the use cases drive it. [`Enforcer`] is the real one
/// (nftables); tests hand [`StateDir::with_firewall`] a stand-in that fails
/// on cue, to exercise what a use case does when the kernel says no.
pub trait Firewall: Send + Sync {
    /// The record of every generation.
    fn generations(&self) -> &GenerationStore;
    /// What applying `ruleset` would change; changes nothing.
    fn preview(&self, ruleset: &Ruleset, ssh: &SshAccess) -> Result<ApplyPreview, EnforceError>;
    /// Other tables' base chains that also decide traffic.
    fn foreign(&self) -> Result<Vec<ForeignChain>, EnforceError>;
    /// Applies `ruleset` as a new generation; `spawn_watchdog` arms the
    /// rollback of a generation that must be confirmed.
    fn apply(
        &self,
        ruleset: &Ruleset,
        opts: &ApplyOptions,
        spawn_watchdog: &dyn Fn(u64) -> std::io::Result<()>,
    ) -> Result<Generation, EnforceError>;
    /// Takes generation `g` back out of the kernel, restoring the one it
    /// replaced as it was: for a change whose record could not be written.
    fn undo(&self, g: &Generation) -> Result<(), EnforceError>;
    /// Confirms the pending generation.
    fn confirm(&self) -> Result<Generation, EnforceError>;
    /// Restores the previous generation, or `to`.
    fn rollback(&self, to: Option<u64>, actor: &str) -> Result<Generation, EnforceError>;
    /// Waits for generation `n`'s deadline and rolls it back unless it was
    /// confirmed.
    fn watch(&self, n: u64) -> Result<Option<Generation>, EnforceError>;
    /// Makes the records agree with the kernel (an applier killed after
    /// or before `nft` committed) and returns the live generation. A
    /// stand-in without a kernel has nothing to reconcile.
    fn reconcile(&self) -> Result<u64, EnforceError> {
        Ok(self.generations().current()?)
    }
    /// The live SSH sessions and listening SSH ports of the namespace this
    /// firewall guards, for the lock-out guard. A stand-in without a
    /// kernel guards none.
    fn ssh_access(&self) -> Result<SshAccess, AppError> {
        Ok(SshAccess::default())
    }
    /// Opens a grant in the kernel.
    fn grant(&self, grant: &Grant) -> Result<(), EnforceError>;
    /// Closes a grant.
    fn revoke(&self, from: IpNet, protocol: Proto, port: u16) -> Result<(), EnforceError>;
    /// The grants the kernel holds.
    fn grants(&self) -> Result<Vec<LiveGrant>, EnforceError>;
    /// Blocks `source` in the kernel for `ttl`. A stand-in without a
    /// kernel holds no blocklist.
    fn block(&self, _source: IpNet, _ttl: jiff::SignedDuration) -> Result<(), EnforceError> {
        Err(EnforceError::NotApplied)
    }
    /// Ends the block of `source`.
    fn unblock(&self, _source: IpNet) -> Result<(), EnforceError> {
        Err(EnforceError::NotApplied)
    }
    /// The blocks the kernel holds.
    fn blocks(&self) -> Result<Vec<LiveBlock>, EnforceError> {
        Err(EnforceError::NotApplied)
    }
    /// Each port's last new connection, as the kernel recorded it.
    fn seen(&self) -> Result<Vec<SeenPort>, EnforceError>;
    /// How portreeve's table in the kernel differs from the live
    /// generation's ruleset; `None` when nothing is applied.
    fn table_drift(&self) -> Result<Option<Vec<String>>, EnforceError>;
}

impl Firewall for Enforcer {
    fn generations(&self) -> &GenerationStore {
        self.store()
    }
    fn preview(&self, ruleset: &Ruleset, ssh: &SshAccess) -> Result<ApplyPreview, EnforceError> {
        Enforcer::plan(self, ruleset, ssh)
    }
    fn foreign(&self) -> Result<Vec<ForeignChain>, EnforceError> {
        Enforcer::foreign(self)
    }
    fn apply(
        &self,
        ruleset: &Ruleset,
        opts: &ApplyOptions,
        spawn_watchdog: &dyn Fn(u64) -> std::io::Result<()>,
    ) -> Result<Generation, EnforceError> {
        Enforcer::apply(self, ruleset, opts, spawn_watchdog)
    }
    fn undo(&self, g: &Generation) -> Result<(), EnforceError> {
        Enforcer::undo(self, g)
    }
    fn confirm(&self) -> Result<Generation, EnforceError> {
        Enforcer::confirm(self)
    }
    fn rollback(&self, to: Option<u64>, actor: &str) -> Result<Generation, EnforceError> {
        Enforcer::rollback(self, to, actor)
    }
    fn watch(&self, n: u64) -> Result<Option<Generation>, EnforceError> {
        Enforcer::watch(self, n)
    }
    fn reconcile(&self) -> Result<u64, EnforceError> {
        Enforcer::reconcile(self)
    }
    fn ssh_access(&self) -> Result<SshAccess, AppError> {
        crate::lockout::ssh_access_here()
    }
    fn grant(&self, grant: &Grant) -> Result<(), EnforceError> {
        Enforcer::grant(self, grant)
    }
    fn revoke(&self, from: IpNet, protocol: Proto, port: u16) -> Result<(), EnforceError> {
        Enforcer::revoke(self, from, protocol, port)
    }
    fn grants(&self) -> Result<Vec<LiveGrant>, EnforceError> {
        Enforcer::grants(self)
    }
    fn block(&self, source: IpNet, ttl: jiff::SignedDuration) -> Result<(), EnforceError> {
        Enforcer::block(self, source, ttl)
    }
    fn unblock(&self, source: IpNet) -> Result<(), EnforceError> {
        Enforcer::unblock(self, source)
    }
    fn blocks(&self) -> Result<Vec<LiveBlock>, EnforceError> {
        Enforcer::blocks(self)
    }
    fn seen(&self) -> Result<Vec<SeenPort>, EnforceError> {
        Enforcer::usage(self)
    }
    fn table_drift(&self) -> Result<Option<Vec<String>>, EnforceError> {
        Enforcer::table_drift(self)
    }
}

/// One host's state directory, with the firewall, ledger and store behind
/// it opened once each. `Sync`: the agent's threads share one.
pub struct StateDir {
    root: PathBuf,
    firewall: Box<dyn Firewall>,
    ledger: OnceLock<Ledger>,
    /// The agent's store; SQLite connections are not `Sync`, so uses take
    /// turns (they are short: one batch or one query).
    store: Mutex<Option<SqliteStore>>,
}

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDir")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl StateDir {
    /// The state directory at `root`, enforcing with nftables. Nothing is
    /// created until something is stored.
    pub fn open(root: impl Into<PathBuf>) -> StateDir {
        let root = root.into();
        let firewall = Box::new(Enforcer::new(&root.join("enforce")));
        StateDir::with_firewall(root, firewall)
    }

    /// The state directory at `root`, enforcing through `firewall`.
    pub fn with_firewall(root: impl Into<PathBuf>, firewall: Box<dyn Firewall>) -> StateDir {
        StateDir {
            root: root.into(),
            firewall,
            ledger: OnceLock::new(),
            store: Mutex::new(None),
        }
    }

    /// Where the state lives when none is named: `/var/lib/portreeve` for
    /// root, else the XDG data directory (`~/.local/share/portreeve`).
    pub fn default_root() -> PathBuf {
        if running_as_root() {
            PathBuf::from("/var/lib/portreeve")
        } else {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from(".local/share"))
                .join("portreeve")
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The firewall's generations (`enforce/`).
    pub fn enforce_dir(&self) -> PathBuf {
        self.root.join("enforce")
    }

    /// The log confirmation watchdogs write to (`enforce/watchdog.log`),
    /// opened for appending: private, never through a link.
    pub fn open_watchdog_log(&self) -> Result<std::fs::File, AppError> {
        Ok(self.firewall().generations().open_log("watchdog.log")?)
    }

    /// The texts of applied policies, by digest (`policies/`).
    pub fn policies_dir(&self) -> PathBuf {
        self.root.join("policies")
    }

    /// The ledger (`ledger/`).
    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// The agent's store (`agent.db`).
    pub fn store_file(&self) -> PathBuf {
        self.root.join(portreeve_store::DB_FILE)
    }

    /// Registered identities' public keys (`identities/`).
    pub fn identities_dir(&self) -> PathBuf {
        self.root.join("identities")
    }

    /// Policy proposals (`change/proposals/`).
    pub fn proposals_dir(&self) -> PathBuf {
        self.root.join("change/proposals")
    }

    /// Where portreeve 0.1 kept the text of the last applied policy, read
    /// when the live generation predates [`Self::policies_dir`].
    pub fn legacy_active_policy(&self) -> PathBuf {
        self.root.join("change/active-policy.toml")
    }

    /// The firewall.
    pub fn firewall(&self) -> &dyn Firewall {
        self.firewall.as_ref()
    }

    /// Whether a ledger exists here.
    pub fn has_ledger(&self) -> bool {
        self.ledger_dir().join("log.key").exists()
    }

    /// Checks that nobody but its owner (this process's user) can change
    /// the state directory: the directory and each of its subdirectories
    /// that exist are real directories (not links), owned by this user,
    /// and not writable by group or others. Otherwise anyone who can write
    /// there could plant a policy, a proposal or a link for portreeve to
    /// follow as root. Every use case that trusts what is stored checks it.
    pub fn guard(&self) -> Result<(), AppError> {
        use rustix::fs::{FileType, Mode};
        let me = rustix::process::geteuid();
        for dir in [
            self.root.clone(),
            self.enforce_dir(),
            self.ledger_dir(),
            self.policies_dir(),
            self.identities_dir(),
            self.root.join("change"),
            self.proposals_dir(),
        ] {
            let stat = match rustix::fs::lstat(&dir) {
                Ok(stat) => stat,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(AppError::io(&dir)(e.into())),
            };
            let mode = Mode::from_raw_mode(stat.st_mode);
            let unsafe_because = if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                Some("it is not a directory (a link?)".to_string())
            } else if stat.st_uid != me.as_raw() {
                Some(format!(
                    "it is owned by uid {}, not by uid {} running portreeve",
                    stat.st_uid,
                    me.as_raw()
                ))
            } else if mode.intersects(Mode::WGRP | Mode::WOTH) {
                Some(format!(
                    "its mode {:o} lets others write to it",
                    stat.st_mode & 0o7777
                ))
            } else {
                None
            };
            if let Some(why) = unsafe_because {
                return Err(AppError::Unsafe(format!(
                    "{}: {why}; fix it (e.g. `chown root: {0}; chmod 700 {0}` as root) or use another --state-dir",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// The ledger, opened (and created) the first time.
    pub fn ledger(&self) -> Result<&Ledger, LedgerError> {
        if let Some(l) = self.ledger.get() {
            return Ok(l);
        }
        self.guard()
            .and_then(|()| create_private_dir(&self.ledger_dir()))
            .map_err(|e| LedgerError::Io {
                path: self.ledger_dir(),
                message: e.to_string(),
            })?;
        let opened = Ledger::open(&self.ledger_dir())?;
        // Another thread may have opened it meanwhile: keep the first.
        let _ = self.ledger.set(opened);
        Ok(self.ledger.get().expect("set above"))
    }

    /// The ledger's directory, which must hold a ledger already (checked
    /// without opening it, so a damaged ledger can still be read and
    /// verified).
    pub fn existing_ledger_dir(&self) -> Result<PathBuf, AppError> {
        if !self.has_ledger() {
            return Err(AppError::Invalid(format!(
                "no ledger in {}: nothing has been recorded on this host yet",
                self.ledger_dir().display()
            )));
        }
        Ok(self.ledger_dir())
    }

    /// The ledger, which must exist already: reading commands do not create
    /// one.
    pub fn existing_ledger(&self) -> Result<&Ledger, AppError> {
        self.existing_ledger_dir()?;
        Ok(self.ledger()?)
    }

    /// Whether the agent's store exists here.
    pub fn has_store(&self) -> bool {
        self.store_file().exists()
    }

    /// A connection of its own to the agent's store (created if need be),
    /// for a thread that writes to it for a long time: the agent's loop,
    /// a flow sink.
    pub fn open_store(&self) -> Result<SqliteStore, AppError> {
        self.guard()?;
        create_private_dir(&self.root)?;
        let path = self.store_file();
        SqliteStore::open_path(&path).map_err(AppError::store(path))
    }

    /// Runs `f` on the agent's store, opening (and creating) it the first
    /// time.
    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&mut SqliteStore) -> Result<T, StoreError>,
    ) -> Result<T, AppError> {
        let mut guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let store = match &mut *guard {
            Some(store) => store,
            None => guard.insert(self.open_store()?),
        };
        f(store).map_err(AppError::store(self.store_file()))
    }

    /// Writes `bytes` to `path` (inside the state directory) readable by
    /// its owner only, through a temporary file renamed into place, so a
    /// crash never leaves half a file; directories are created private.
    pub fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<(), AppError> {
        write_private(path, bytes)
    }
}

/// Creates `dir` and its missing parents readable by their owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), AppError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(AppError::io(dir))
}

/// See [`StateDir::write_private`].
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    write_atomically(path, bytes, 0o600)
}

/// Writes `bytes` to `path` with permissions `mode` through a temporary
/// file in the same directory renamed into place, so a crash never leaves
/// half a file behind. The directory must exist.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AppError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(AppError::io(path))
}

/// Writes a new file readable by its owner only (a private key), never
/// over an existing one.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                AppError::Invalid(format!("{} exists; not overwriting a key", path.display()))
            }
            _ => AppError::io(path)(e),
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(AppError::io(path))
}

/// Where portreeve's configuration file or directory `relative` lives:
/// under `/etc/portreeve` as root, else under
/// `$XDG_CONFIG_HOME/portreeve` (usually `~/.config/portreeve`).
pub(crate) fn config_path(relative: &str) -> PathBuf {
    if running_as_root() {
        Path::new("/etc/portreeve").join(relative)
    } else {
        dirs::config_dir()
            .unwrap_or_else(|| PathBuf::from(".config"))
            .join("portreeve")
            .join(relative)
    }
}

/// Whether this process has root's privileges, which decides system-wide
/// versus per-user locations.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

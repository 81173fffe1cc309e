//! Where a person's private keys live. A key is a person's, not the
//! host's: `sudo portreeve identity new alice` puts alice's key in the home
//! of the user who ran sudo (from their passwd entry — sudo may keep
//! root's `$HOME` or the caller's), owned by them, so they can read it
//! later without sudo; root logged in directly has root's own
//! `~/.config`. Keys made before this, in the shared
//! `/etc/portreeve/identities`, are still read, with a warning saying
//! where to move them.

use std::path::{Path, PathBuf};

/// Where keys were kept as root before they followed the person.
pub const LEGACY_DIR: &str = "/etc/portreeve/identities";

/// A passwd entry, as far as placing a key needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The home directory.
    pub home: PathBuf,
    /// The primary group.
    pub gid: u32,
}

/// Who runs this process, as far as placing a key needs it.
#[derive(Debug, Clone, Default)]
pub struct Invoker {
    /// The effective user.
    pub euid: u32,
    /// `$SUDO_UID`, when sudo started this process.
    pub sudo_uid: Option<u32>,
    /// `$SUDO_GID`.
    pub sudo_gid: Option<u32>,
    /// `$XDG_CONFIG_HOME`, if set to an absolute path.
    pub xdg_config_home: Option<PathBuf>,
    /// `$HOME`, if set.
    pub home: Option<PathBuf>,
}

impl Invoker {
    /// This process.
    pub fn of_this_process() -> Invoker {
        let number = |name: &str| std::env::var(name).ok()?.parse().ok();
        let path = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        Invoker {
            euid: rustix::process::geteuid().as_raw(),
            sudo_uid: number("SUDO_UID"),
            sudo_gid: number("SUDO_GID"),
            xdg_config_home: path("XDG_CONFIG_HOME"),
            home: path("HOME"),
        }
    }

    /// The non-root user who ran `sudo` to become root, if that is how
    /// this process came to be: their uid, and their group (`$SUDO_GID`,
    /// else their passwd entry's).
    pub fn sudo_user(&self, account: impl Fn(u32) -> Option<Account>) -> Option<(u32, Account)> {
        let uid = self.sudo_uid.filter(|&u| u != 0 && self.euid == 0)?;
        let mut found = account(uid)?;
        found.gid = self.sudo_gid.unwrap_or(found.gid);
        Some((uid, found))
    }

    /// The default key directory: under sudo, the sudo user's
    /// `~/.config/portreeve/identities`; else
    /// `$XDG_CONFIG_HOME/portreeve/identities`, or under `~/.config`
    /// (`$HOME`, else the passwd entry's home).
    pub fn default_key_dir(&self, account: impl Fn(u32) -> Option<Account>) -> PathBuf {
        let config = match self.sudo_user(&account) {
            Some((_, sudoer)) => sudoer.home.join(".config"),
            None => self.xdg_config_home.clone().unwrap_or_else(|| {
                self.home
                    .clone()
                    .or_else(|| account(self.euid).map(|a| a.home))
                    .unwrap_or_else(|| PathBuf::from("/"))
                    .join(".config")
            }),
        };
        config.join("portreeve").join("identities")
    }

    /// Who must make `dir` and the keys in it: the sudo user, when `dir`
    /// is in their home; else whoever runs this (`None`).
    pub fn owner_of(
        &self,
        dir: &Path,
        account: impl Fn(u32) -> Option<Account>,
    ) -> Option<(u32, u32)> {
        let (uid, sudoer) = self.sudo_user(account)?;
        dir.starts_with(&sudoer.home).then_some((uid, sudoer.gid))
    }
}

/// The passwd entry of `uid`.
pub fn passwd(uid: u32) -> Option<Account> {
    let user = uzers::get_user_by_uid(uid)?;
    Some(Account {
        home: uzers::os::unix::UserExt::home_dir(&user).to_path_buf(),
        gid: user.primary_group_id(),
    })
}

/// Runs `f` in a thread of its own with the credentials of user `uid` and
/// group `gid` (no other groups), so that what it creates is theirs and it
/// can reach nothing they could not: a link they planted in their home
/// leads nowhere they could not write themselves. The thread ends with
/// `f`, and its credentials with it; the rest of the process keeps root's.
pub fn as_user<T: Send>(
    (uid, gid): (u32, u32),
    f: impl FnOnce() -> T + Send,
) -> std::io::Result<T> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    std::thread::scope(|s| {
        s.spawn(|| {
            let gid = Gid::from_raw(gid);
            let uid = Uid::from_raw(uid);
            set_thread_groups(&[gid])?;
            set_thread_res_gid(gid, gid, gid)?;
            set_thread_res_uid(uid, uid, uid)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(uid: u32) -> Option<Account> {
        match uid {
            0 => Some(Account {
                home: "/root".into(),
                gid: 0,
            }),
            1000 => Some(Account {
                home: "/home/alice".into(),
                gid: 1000,
            }),
            _ => None,
        }
    }

    fn sudo(uid: u32, gid: Option<u32>) -> Invoker {
        Invoker {
            euid: 0,
            sudo_uid: Some(uid),
            sudo_gid: gid,
            // What sudo may keep from root's or the caller's environment.
            home: Some("/root".into()),
            xdg_config_home: None,
        }
    }

    #[test]
    fn under_sudo_keys_go_to_the_sudo_users_home_and_are_theirs() {
        let inv = sudo(1000, Some(1001));
        let dir = inv.default_key_dir(accounts);
        assert_eq!(dir, Path::new("/home/alice/.config/portreeve/identities"));
        assert_eq!(inv.owner_of(&dir, accounts), Some((1000, 1001)));
        assert_eq!(inv.owner_of(Path::new("/srv/keys"), accounts), None);
        assert_eq!(
            sudo(1000, None).owner_of(&dir, accounts),
            Some((1000, 1000)),
            "the passwd group without $SUDO_GID"
        );
    }

    #[test]
    fn without_sudo_keys_go_to_the_invokers_own_config() {
        let root = Invoker {
            euid: 0,
            home: Some("/root".into()),
            ..Invoker::default()
        };
        assert_eq!(
            root.default_key_dir(accounts),
            Path::new("/root/.config/portreeve/identities")
        );
        assert_eq!(root.owner_of(Path::new("/root/.config"), accounts), None);
        let user = Invoker {
            euid: 1000,
            xdg_config_home: Some("/home/alice/xdg".into()),
            home: Some("/home/alice".into()),
            ..Invoker::default()
        };
        assert_eq!(
            user.default_key_dir(accounts),
            Path::new("/home/alice/xdg/portreeve/identities")
        );
        let homeless = Invoker {
            euid: 1000,
            ..Invoker::default()
        };
        assert_eq!(
            homeless.default_key_dir(accounts),
            Path::new("/home/alice/.config/portreeve/identities"),
            "the passwd home without $HOME"
        );
        // sudo to root from root, a non-root SUDO_UID left in a user's
        // environment, or a sudo user without a passwd entry: no sudo user.
        assert_eq!(
            sudo(0, None).default_key_dir(accounts),
            root.default_key_dir(accounts)
        );
        let leftover = Invoker {
            sudo_uid: Some(1000),
            ..user.clone()
        };
        assert_eq!(
            leftover.default_key_dir(accounts),
            user.default_key_dir(accounts)
        );
        assert_eq!(
            sudo(4242, None).default_key_dir(accounts),
            root.default_key_dir(accounts)
        );
    }
}

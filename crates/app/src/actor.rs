//! Who acts: the name recorded on every ledger entry and generation.

use std::fmt;

/// The person or component on whose behalf a use case runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// An actor named explicitly (`--as NAME`).
    pub fn named(name: impl Into<String>) -> Actor {
        Actor(name.into())
    }

    /// The agent's automatic changes (reclaims) are made by `agent`.
    pub fn agent() -> Actor {
        Actor("agent".into())
    }

    /// The person behind this process: the user who ran `sudo`
    /// (`$SUDO_USER`), else the user who logged in (the kernel's audit
    /// login uid, which `su` and `sudo -i` keep), else the effective user —
    /// by name, never a bare "uid 0" when the name is known.
    pub fn of_this_process() -> Actor {
        if let Some(user) = std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()) {
            return Actor(user);
        }
        let uid = login_uid().unwrap_or_else(|| rustix::process::geteuid().as_raw());
        Actor(
            uzers::get_user_by_uid(uid)
                .map(|u| u.name().to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("uid {uid}")),
        )
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The audit login uid of this process, if the kernel keeps one and a login
/// set it (services and early boot have none: `4294967295`).
fn login_uid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/loginuid")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&uid| uid != u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_name_not_a_number() {
        // Whoever runs the tests has an entry in the user database.
        let actor = Actor::of_this_process();
        assert!(!actor.as_str().is_empty());
        assert!(!actor.as_str().starts_with("uid "), "{actor}");
    }
}

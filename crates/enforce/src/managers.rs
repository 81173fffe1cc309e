//! Firewall managers beside portreeve: ufw and firewalld.
//!
//! Each keeps a ruleset of its own and loads it again at boot and on reload,
//! so removing their rules by hand does not last. Their input chains drop
//! what they do not allow whatever portreeve allows (a packet must be
//! accepted by every table on the hook), and an operator needs to know that
//! before wondering why an allowed port stays shut. They are recognised by
//! what they leave behind, without asking a service manager: ufw by
//! `ENABLED=yes` in its configuration and by its `ufw-…` chains (in the
//! legacy tables or, through iptables-nft, in nftables), firewalld by its
//! `firewalld` table in nftables and by `firewall-cmd --state`.

use std::fmt;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::legacy::SavedTable;

/// Where ufw says whether it is enabled at boot.
pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";

/// An active firewall manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    /// `ufw` or `firewalld`.
    pub name: &'static str,
    /// What shows it is active.
    pub evidence: Vec<String>,
    /// What it does next to portreeve, and what to run.
    pub next: String,
}

impl Manager {
    /// Everything on one line.
    pub fn summary(&self) -> String {
        format!(
            "{} is active ({}): {}",
            self.name,
            self.evidence.join("; "),
            self.next
        )
    }
}

impl fmt::Display for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is active ({})\n    {}",
            self.name,
            self.evidence.join("; "),
            self.next
        )
    }
}

/// What the host shows of its firewall managers.
#[derive(Clone, Debug, Default)]
pub struct Signs<'a> {
    /// The text of [`UFW_CONF`], if readable.
    pub ufw_conf: Option<&'a str>,
    /// `nft -j list ruleset`, if it could be listed.
    pub nft: Option<&'a Value>,
    /// The legacy tables, by tool (`iptables-legacy`), as listed.
    pub legacy: Vec<(&'static str, &'a [SavedTable])>,
    /// Whether `firewall-cmd --state` says `running` (`None`: not installed).
    pub firewalld_running: Option<bool>,
}

/// Whether ufw's configuration enables it (`ENABLED=yes`).
fn ufw_enabled(conf: &str) -> bool {
    conf.lines().any(|l| {
        l.trim()
            .strip_prefix("ENABLED")
            .and_then(|rest| rest.trim_start().strip_prefix('='))
            .is_some_and(|v| {
                v.trim()
                    .trim_matches(['"', '\''])
                    .eq_ignore_ascii_case("yes")
            })
    })
}

/// `(family, table, chain)` of every chain in an nft listing.
fn nft_chains(listing: &Value) -> impl Iterator<Item = (&str, &str, &str)> {
    listing["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.get("chain"))
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("");
            (s("family"), s("table"), s("name"))
        })
}

fn is_ufw_chain(name: &str) -> bool {
    name.starts_with("ufw-") || name.starts_with("ufw6-")
}

/// The managers `signs` show to be active.
pub fn detect(signs: &Signs<'_>) -> Vec<Manager> {
    let mut out = Vec::new();

    let mut ufw = Vec::new();
    if signs.ufw_conf.is_some_and(ufw_enabled) {
        ufw.push(format!("ENABLED=yes in {UFW_CONF}"));
    }
    for (tool, tables) in &signs.legacy {
        if tables
            .iter()
            .flat_map(|t| &t.chains)
            .any(|c| is_ufw_chain(&c.name))
        {
            ufw.push(format!("its chains are loaded in the {tool} tables"));
        }
    }
    if signs
        .nft
        .is_some_and(|l| nft_chains(l).any(|(_, _, name)| is_ufw_chain(name)))
    {
        ufw.push("its chains are loaded in nftables (through iptables-nft)".into());
    }
    if !ufw.is_empty() {
        let loaded = ufw.iter().any(|e| e.starts_with("its chains"));
        out.push(Manager {
            name: "ufw",
            evidence: ufw,
            next: if loaded {
                "its input chain drops what ufw does not allow, whatever portreeve allows: a port must be allowed by both (`ufw allow PORT/PROTO`), or let portreeve decide alone with `ufw disable`. ufw loads its rules again at boot and on `ufw reload`; it never touches portreeve's table."
            } else {
                "its rules are not loaded now, but ufw loads them at the next boot (or `ufw enable`), and then drops what ufw does not allow, whatever portreeve allows; `ufw disable` keeps it off."
            }
            .into(),
        });
    }

    let mut firewalld = Vec::new();
    if signs.firewalld_running == Some(true) {
        firewalld.push("`firewall-cmd --state`: running".to_string());
    }
    if let Some(listing) = signs.nft {
        let mut tables: Vec<String> = nft_chains(listing)
            .filter(|(_, table, _)| *table == "firewalld")
            .map(|(family, table, _)| format!("table {family} {table} is loaded"))
            .collect();
        tables.dedup();
        firewalld.extend(tables);
    }
    if !firewalld.is_empty() {
        out.push(Manager {
            name: "firewalld",
            evidence: firewalld,
            next: "its zones reject what they do not allow, whatever portreeve allows: open a port in both (`firewall-cmd --permanent --add-port=PORT/PROTO` then `firewall-cmd --reload`), or let portreeve decide alone by stopping firewalld and disabling it at boot. On reload firewalld rebuilds only its own table and leaves portreeve's alone.".into(),
        });
    }
    out
}

/// Whether `firewall-cmd --state` says firewalld runs; `None` when
/// firewall-cmd is not installed.
pub fn firewalld_running() -> Option<bool> {
    let out = Command::new("firewall-cmd")
        .arg("--state")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "running")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::parse_save;
    use serde_json::json;

    #[test]
    fn ufw_is_enabled_by_its_configuration_only_when_it_says_yes() {
        assert!(ufw_enabled("# comment\nENABLED=yes\nLOGLEVEL=low\n"));
        assert!(ufw_enabled("ENABLED = \"yes\"\n"));
        assert!(!ufw_enabled("ENABLED=no\n"));
        assert!(!ufw_enabled("# ENABLED=yes\n"));
        assert!(!ufw_enabled("NOT_ENABLED=yes\n"));
    }

    #[test]
    fn ufw_enabled_but_not_loaded_says_what_happens_at_boot() {
        let found = detect(&Signs {
            ufw_conf: Some("ENABLED=yes\n"),
            ..Signs::default()
        });
        assert_eq!(found.len(), 1);
        assert!(found[0].next.contains("next boot"), "{}", found[0]);
    }

    #[test]
    fn ufw_chains_in_either_backend_and_firewalld_tables_are_named() {
        let legacy = parse_save(
            "*filter\n:INPUT DROP [0:0]\n:ufw-before-input - [0:0]\n-A INPUT -j ufw-before-input\nCOMMIT\n",
        )
        .unwrap();
        let nft = json!({"nftables": [
            {"chain": {"family": "ip", "table": "filter", "name": "ufw-user-input"}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT", "hook": "input"}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_FORWARD", "hook": "forward"}},
        ]});
        let found = detect(&Signs {
            ufw_conf: Some("ENABLED=no\n"),
            nft: Some(&nft),
            legacy: vec![("iptables-legacy", &legacy)],
            firewalld_running: Some(false),
        });
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(found.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("ufw is active (its chains are loaded in the iptables-legacy tables; its chains are loaded in nftables (through iptables-nft))"),
            "{}",
            shown[0]
        );
        assert!(shown[0].contains("`ufw disable`"));
        assert!(
            shown[1].starts_with("firewalld is active (table inet firewalld is loaded)"),
            "{}",
            shown[1]
        );
    }

    #[test]
    fn nothing_is_named_without_signs() {
        let nft =
            json!({"nftables": [{"chain": {"family": "ip", "table": "filter", "name": "INPUT"}}]});
        assert!(
            detect(&Signs {
                ufw_conf: Some("ENABLED=no\n"),
                nft: Some(&nft),
                firewalld_running: Some(false),
                ..Signs::default()
            })
            .is_empty()
        );
    }
}

//! Enforcement: a policy compiled into a firewall, and put into the kernel
//! safely.
//!
//! The principal type in this crate is a [`Ruleset`], which
//! [`Ruleset::compile`] builds from a [`Policy`](portreeve_policy::Policy):
//! the policy resolved into disjoint [`Allowance`]s, banned [`PortSpan`]s and
//! per-rule [`PortLimits`], independent of firewall syntax.
//! [`nft_text::render`] writes it as one nftables `inet` table
//! ([`iptables_text::render`] as a script for hosts without nftables, which
//! portreeve renders but never runs), and
//! [`Ruleset::verdict`] answers what a new connection would meet, which the
//! lock-out [`guard`] asks before anything is applied; a [`verdict_index`]
//! answers the same for a million sources at once (`simulate`). All of that
//! is pure.
//!
//! The effects live in an [`Enforcer`]: it previews an apply
//! ([`ApplyPreview`]), applies, confirms and rolls back rulesets, grants and
//! revokes time-limited openings ([`grants`]), and reads back the kernel's
//! record of each port's last use ([`SeenPort`]). Every change is one atomic
//! `nft -f` transaction ([`nft_command`]), and every ruleset applied is
//! recorded as a numbered generation in a
//! [`GenerationStore`](generations::GenerationStore) under the state
//! directory, so it can be diffed and restored. The crate drives the `nft`
//! program rather than netlink, only ever replaces its own table, and never
//! touches other tables: it reports them ([`foreign`]) instead, and the
//! firewalls nftables does not show: legacy iptables rules ([`legacy`]) and
//! firewall managers ([`managers`]). It names the ports other tables' DNAT
//! rules publish ([`published`]), with their containers ([`containers`]),
//! and its forward chain judges those by the same policy. A ruleset's
//! [`OverflowNat`]s, set by the caller for tripped circuit breakers, send a
//! port's new connections to a backup pool ([`overflow`]).
//!
//! # Example
//!
//! ```
//! use std::net::IpAddr;
//!
//! use portreeve_core::Proto;
//! use portreeve_enforce::{Ruleset, Verdict, nft_text};
//! use portreeve_policy::parse_policy;
//!
//! let policy = parse_policy(
//!     "p.toml",
//!     r#"
//! [zones]
//! office = ["192.0.2.0/24"]
//!
//! [[rule]]
//! name = "ssh"
//! port = 22
//! protocol = "tcp"
//! zones = ["office"]
//! "#,
//! )?;
//! let ruleset = Ruleset::compile(&policy)?;
//!
//! let nft = nft_text::render(&ruleset);
//! assert!(nft.contains("table inet portreeve"));
//! assert!(nft.contains("192.0.2.0/24 . tcp . 22"));
//!
//! let office: IpAddr = "192.0.2.7".parse()?;
//! let elsewhere: IpAddr = "198.51.100.1".parse()?;
//! assert_eq!(ruleset.verdict(office, Proto::Tcp, 22), Verdict::Accepted);
//! assert_eq!(ruleset.verdict(elsewhere, Proto::Tcp, 22), Verdict::NotAllowed);
//! assert_eq!(ruleset.verdict(office, Proto::Tcp, 23), Verdict::Banned); // telnet
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Installing it takes an [`Enforcer`] (not run here: it needs root and the
//! kernel's nftables):
//!
//! ```no_run
//! use std::path::Path;
//!
//! use portreeve_enforce::{ApplyOptions, Enforcer, Ruleset};
//!
//! let ruleset = Ruleset::compile(&portreeve_policy::baseline())?;
//! let enforcer = Enforcer::new(Path::new("/var/lib/portreeve/enforce"));
//! let preview = enforcer.plan(&ruleset, &Default::default())?;
//! print!("{}", preview.diff);
//! if preview.lockouts.is_empty() {
//!     let options = ApplyOptions { actor: "alice".into(), ..ApplyOptions::default() };
//!     // No confirmation deadline, so no watchdog to spawn.
//!     let generation = enforcer.apply(&ruleset, &options, |_| Ok(()))?;
//!     println!("generation {} is live", generation.generation);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod blocks;
pub mod conntrack_use;
pub mod containers;
mod enforcer;
pub mod foreign;
pub mod generations;
pub mod grants;
pub mod guard;
pub mod iptables_text;
pub mod legacy;
pub mod managers;
pub mod nft_command;
pub mod nft_text;
pub mod overflow;
pub mod published;
mod ruleset;
pub mod table_drift;
mod verdict;
pub mod verdict_index;

pub use enforcer::{
    ApplyOptions, ApplyPreview, EnforceError, Enforcer, LiveGrant, SeenPort, WATCHDOG,
};
pub use overflow::OverflowNat;
pub use ruleset::{
    Allowance, CompileError, PortLimits, PortSpan, PublishedVerdict, Ruleset, ZoneNets,
};
pub use verdict::Verdict;

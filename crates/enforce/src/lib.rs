//! Enforcement: a policy compiled into a firewall.
//!
//! [`Ruleset::compile`] resolves a policy into disjoint allowances, bans and
//! limits (pure); [`nft_text`] renders that as an nftables table and as the
//! atomic transactions that install it; [`Ruleset::verdict`] answers what a
//! new connection would meet, which the lock-out guard asks before anything
//! is applied.

mod enforcer;
pub mod foreign;
pub mod generations;
pub mod grants;
pub mod guard;
pub mod iptables_text;
pub mod nft_command;
pub mod nft_text;
mod ruleset;
mod verdict;

pub use enforcer::{ApplyOptions, ApplyPreview, EnforceError, Enforcer, LiveGrant, SeenPort};
pub use ruleset::{Allowance, CompileError, PortLimits, PortSpan, Ruleset, ZoneNets};
pub use verdict::Verdict;
